import Foundation
import TensorsSIMD

/// How the large matrices of the GPT and its heads are stored in memory, chosen at load time.
///
/// A decode step at batch 1 reads every GPT weight once, so its speed is memory bandwidth over weight bytes:
/// float32 is the exact reference, bfloat16 halves the bytes (8 bits of mantissa), int8 quarters them (one float
/// scale per row and group of columns).
public enum WeightFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32
    case bf16
    case int8

    /// Bytes per weight, scales not counted.
    public var bytesPerWeight: Int {
        switch self {
        case .f32: 4
        case .bf16: 2
        case .int8: 1
        }
    }

    public var description: String { rawValue }
}

/// A [rows, cols] matrix stored for fast products with a few input rows: rows in panels of 16, and inside a panel
/// the 16 values of each column next to each other, columns of 8 panels interleaved (see
/// `TensorsSIMD/PanelKernels.swift`). Converted once at load,
/// immutable after, shared by every request.
///
/// Memory: panels * cols * 16 weights (the last panel padded with zero rows), 64-byte aligned, plus for int8 one
/// float per row and group of `groupSize` columns (and for the VNNI layout one sum), placed as `sideIndex` says; all
/// in one huge-page block (`WeightArena`).
///
/// `@unchecked Sendable`: packed once in `init`, read-only afterwards by every request.
public final class PackedMatrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let format: WeightFormat
    /// Columns sharing one int8 scale (cols for the other formats).
    public let groupSize: Int
    public let panels: Int
    public let groups: Int
    public let layout: Layout
    let data: UnsafeMutableRawPointer
    let scales: UnsafeMutablePointer<Float>?
    /// VNNI layout only: 128 * the sum of each row's int8 weights per group, placed like the scales.
    let sums128: UnsafeMutablePointer<Int32>?
    /// What holds data, scales and sums: a huge-page region (`WeightArena`) or a read-only cache file mapping
    /// (`PackedWeightCache`).
    private let region: AnyObject
    /// Bytes of the block at `data` that holds weights, scales and sums (with their alignment padding).
    let blockBytes: Int

    /// Where the weights of a panel sit.
    public enum Layout: Sendable {
        /// Column by column: column k of a panel is 16 values (`TensorsSIMD/PanelKernels.swift`).
        case panels
        /// int8 by quads of columns: 16 rows x 4 columns per 64 bytes, for VPDPBUSD (`CKernels`); the input rows are
        /// quantized to int8 per group as well.
        case vnni
        /// The VNNI layout's weights and scales without its sums: for VPMADDUBSW (`CKernels/avx2_int8.c`), which
        /// multiplies |x| by the weight with x's sign and so needs no correction.
        case quads

        /// The layout the kernels of the path taken (`KernelISA.best`, so select a path before loading) read.
        public static func best(format: WeightFormat, cols: Int, groupSize: Int) -> Layout {
            format == .int8 && cols % groupSize == 0 && groupSize % 4 == 0 ? KernelISA.best.int8Layout : .panels
        }

        /// Whether weights are stored by quads of columns (`vnni`, `quads`); the input rows are then quantized too.
        public var byQuads: Bool { self != .panels }
    }

    /// The default int8 group: 128 columns, scales add 1/32 to the weight bytes.
    public static let defaultGroupSize = 128

    /// Packs rows given by `row(r)` (each `cols` floats): the rows of one checkpoint matrix, or of several stacked
    /// (the GPT's q, k, v projections become one matrix, one pass over the input).
    /// `arena`: where the memory comes from (a model packs all its matrices into one); nil gives the matrix a
    /// region of its own. Throws when that memory cannot be mapped (a load error: the model does not fit).
    public init(rows: Int, cols: Int, format: WeightFormat, groupSize: Int = PackedMatrix.defaultGroupSize,
                layout: Layout? = nil, arena: WeightArena? = nil,
                row: (Int) -> UnsafePointer<Float>) throws(AllocationError) {
        precondition(rows > 0 && cols > 0, "PackedMatrix: empty \(rows)x\(cols)")
        self.rows = rows
        self.cols = cols
        self.format = format
        self.groupSize = format == .int8 ? max(1, min(groupSize, cols)) : cols
        let layout = layout ?? Layout.best(format: format, cols: cols, groupSize: self.groupSize)
        precondition(!layout.byQuads || (format == .int8 && cols % self.groupSize == 0 && self.groupSize % 4 == 0),
                     "PackedMatrix: the \(layout) layout needs int8 and groups of a multiple of 4 that divide \(cols)")
        self.layout = layout
        panels = (rows + 15) / 16
        groups = (cols + self.groupSize - 1) / self.groupSize
        // One zeroed block: weights, then scales (int8), then sums (VNNI), each 64-byte aligned.
        let count = panels * cols * 16
        let dataBytes = (count * format.bytesPerWeight + 63) & ~63
        let sideBytes = (panels * groups * 16 * 4 + 63) & ~63
        let total = dataBytes + (format == .int8 ? sideBytes : 0) + (layout == .vnni ? sideBytes : 0)
        let block: (pointer: UnsafeMutableRawPointer, owner: HugePageRegion)
        if let arena {
            block = try arena.allocate(byteCount: total)
        } else {
            let own = try HugePageRegion(byteCount: total)
            block = (own.base, own)
        }
        region = block.owner
        blockBytes = total
        data = block.pointer
        scales = format == .int8 ? (block.pointer + dataBytes).bindMemory(to: Float.self, capacity: sideBytes / 4) : nil
        sums128 = layout == .vnni
            ? (block.pointer + dataBytes + sideBytes).bindMemory(to: Int32.self, capacity: sideBytes / 4) : nil
        for r in 0..<rows {
            let src = row(r)
            let (p, lane) = (r / 16, r % 16)
            switch format {
            case .f32:
                let dst = data.assumingMemoryBound(to: Float.self)
                for k in 0..<cols { dst[index(r, k)] = src[k] }
            case .bf16:
                let dst = data.assumingMemoryBound(to: UInt16.self)
                for k in 0..<cols { dst[index(r, k)] = floatToBF16(src[k]) }
            case .int8:
                let dst = data.assumingMemoryBound(to: Int8.self)
                for g in 0..<groups {
                    let k0 = g * self.groupSize, k1 = min(cols, k0 + self.groupSize)
                    var largest: Float = 0
                    for k in k0..<k1 { largest = max(largest, abs(src[k])) }
                    let scale = largest / 127
                    scales![sideIndex(panel: p, group: g) + lane] = scale
                    let inverse = scale > 0 ? 1 / scale : 0
                    var sum: Int32 = 0
                    for k in k0..<k1 {
                        let q = Int8(max(-127, min(127, (src[k] * inverse).rounded(.toNearestOrEven))))
                        dst[index(r, k)] = q
                        sum += Int32(q)
                    }
                    sums128?[sideIndex(panel: p, group: g) + lane] = 128 * sum
                }
            }
        }
    }

    /// A matrix packed before (by the init above, in this or another process), whose block lies at `block` and
    /// belongs to `owner`: a cache file mapped read-only, or a region it was copied into. Nothing is converted; the
    /// caller (`PackedWeightCache`) has checked the block's length and checksum, and that its shape and layout are
    /// the ones this process would pack. Kernels only ever read `data`, so a read-only mapping is safe here.
    init(packed block: UnsafeRawPointer, blockBytes: Int, rows: Int, cols: Int, format: WeightFormat, groupSize: Int,
         layout: Layout, scalesOffset: Int?, sumsOffset: Int?, owner: AnyObject) {
        self.rows = rows
        self.cols = cols
        self.format = format
        self.groupSize = groupSize
        self.layout = layout
        panels = (rows + 15) / 16
        groups = (cols + groupSize - 1) / groupSize
        self.blockBytes = blockBytes
        region = owner
        let base = UnsafeMutableRawPointer(mutating: block)
        data = base
        let sideCount = (rows + 15) / 16 * ((cols + groupSize - 1) / groupSize) * 16
        scales = scalesOffset.map { (base + $0).bindMemory(to: Float.self, capacity: sideCount) }
        sums128 = sumsOffset.map { (base + $0).bindMemory(to: Int32.self, capacity: sideCount) }
    }

    /// Packs a [rows, cols] float32 tensor.
    public convenience init(_ tensor: Tensor, format: WeightFormat, groupSize: Int = PackedMatrix.defaultGroupSize,
                            arena: WeightArena? = nil) throws(AllocationError) {
        precondition(tensor.rank == 2, "PackedMatrix: need a matrix, got \(tensor.shape)")
        let cols = tensor.shape[1], base = tensor.pointer
        try self.init(rows: tensor.shape[0], cols: cols, format: format, groupSize: groupSize, arena: arena) {
            UnsafePointer(base + $0 * cols)
        }
    }

    /// Index in weights of W[r, k]: `TensorsSIMD.panelOffset` (blocks of 8 panels, columns interleaved), or for the
    /// quad layouts the same with quads of columns in place of columns (`CKernels/include/ckernels.h`).
    func index(_ r: Int, _ k: Int) -> Int {
        let (p, lane) = (r / 16, r % 16)
        switch layout {
        case .panels:
            return panelOffset(panel: p, column: k, cols: cols, panels: panels) + lane
        case .vnni, .quads:
            let first = p & ~7, inBlock = min(8, panels - first)
            let vector = first * (cols / 4) + (k / 4) * inBlock + (p - first)
            return vector * 64 + lane * 4 + k % 4
        }
    }

    /// Index in floats of the 16 scales (or VNNI sums) of `panel` and `group`: [panels, groups, 16] for the panel
    /// layout; for the quad layouts by blocks of 8 panels, group by group, so that they stream in order beside the
    /// weights (`CKernels` `side_offset`).
    func sideIndex(panel p: Int, group g: Int) -> Int {
        switch layout {
        case .panels:
            return (p * groups + g) * 16
        case .vnni, .quads:
            let first = p & ~7, inBlock = min(8, panels - first)
            return (first * groups + g * inBlock + (p - first)) * 16
        }
    }

    /// Bytes one pass over the matrix reads (weights, padding and scales).
    public var bytes: Int {
        panels * cols * 16 * format.bytesPerWeight + (format == .int8 ? panels * groups * 16 * 4 : 0)
            + (layout == .vnni ? panels * groups * 16 * 4 : 0)
    }

    /// Row r as the kernels see it (after rounding to the format), for references and tests.
    public func dequantizedRow(_ r: Int) -> [Float] {
        precondition(r >= 0 && r < rows, "row \(r) out of \(rows)")
        let (p, lane) = (r / 16, r % 16)
        return (0..<cols).map { k in
            let i = index(r, k)
            switch format {
            case .f32: return data.assumingMemoryBound(to: Float.self)[i]
            case .bf16: return bf16ToFloat(data.assumingMemoryBound(to: UInt16.self)[i])
            case .int8:
                let scale = scales![sideIndex(panel: p, group: k / groupSize) + lane]
                return Float(data.assumingMemoryBound(to: Int8.self)[i]) * scale
            }
        }
    }
}
