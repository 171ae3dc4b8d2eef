import CKernels
import TensorsAVX2
import TensorsAVX512
import TensorsSIMD

/// Products of a `PackedMatrix` with a few input rows: the GPT's projections and heads at decode time.
///
/// y[b, r] (+)= sum_k W[r, k] * x[b, k], for b in 0..<batch. One pass over the weights serves every input row,
/// so a batch of 8 costs little more memory traffic than one row. Each output row's arithmetic is the same
/// whatever the batch size or thread split (one accumulator per input row, same order), so a sequence gets
/// bit-identical results alone or in a batch.
extension Kernels {
    /// Input rows from this batch size on take VDPBF16PS for bf16 on the avx512 path (where the CPU has it).
    /// 1, every batch: a row's result then stays the same alone or in a batch (above), and in
    /// Benchmarks/kernels-2026-12-03.txt it read as fast as the Swift AVX-512 kernel at batch 1 and faster at 8
    /// (within that loaded machine's noise at batch 1). The bf16 quality bounds (ChatTTSTests/QuantQualityTests)
    /// hold with the rounded inputs.
    public static let bf16DotMinimumBatch = 1

    /// The kernel a product of `w` with `batch` input rows takes on path `isa`.
    public static func packedKernel(_ w: PackedMatrix, batch: Int, isa: KernelISA) -> PackedKernel {
        let cpu = CPUFeatures.detected
        if w.layout.byQuads {
            if w.layout == .vnni && isa == .avx512 && cpu.contains(.avx512VNNI) { return .avx512VNNIInt8 }
            if w.layout == .vnni && isa >= .avx2VNNI && cpu.contains(.avxVNNI) { return .avxVNNIInt8 }
            return isa >= .avx2 ? .avx2Int8 : .reference
        }
        if w.format == .bf16 {
            if isa == .avx512 && cpu.contains(.avx512BF16) && batch >= bf16DotMinimumBatch { return .avx512BF16 }
            if isa == .avx2 || isa == .avx2VNNI { return .avx2BF16 }
        }
        return .swift
    }

    /// The rows of panels `panels` (16 rows each) on one thread, with the kernels of `isa` (which must be
    /// supported: `KernelISA.isSupported`), or `kernel` when given (which must run `w`: `PackedKernel.runs`).
    public static func packedProduct(
        _ w: PackedMatrix, panels: Range<Int>, x: UnsafePointer<Float>, ldx: Int, batch: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false, isa: KernelISA = .best,
        kernel: PackedKernel? = nil
    ) {
        precondition(panels.lowerBound >= 0 && panels.upperBound <= w.panels, "panels \(panels) out of \(w.panels)")
        precondition(ldx >= w.cols && ldy >= w.rows, "packedProduct: strides \(ldx), \(ldy) too small")
        precondition(isa.isSupported, "kernels for \(isa) need a CPU this one is not")
        if batch == 0 || panels.isEmpty { return }
        let kernel = kernel ?? packedKernel(w, batch: batch, isa: isa)
        precondition(kernel.runs(w), "kernel \(kernel) cannot run a \(w.format) \(w.layout) matrix on this CPU")
        let input = PackedInput(kernel, x: x, ldx: ldx, batch: batch, cols: w.cols, groupSize: w.groupSize)
        product(w, panels: panels, x: x, ldx: ldx, batch: batch, input: input, y: y, ldy: ldy,
                accumulate: accumulate, isa: isa, kernel: kernel)
    }

    /// The whole product, split by panels across `pool` (small products run on the calling thread).
    public static func packedProduct(
        _ w: PackedMatrix, x: UnsafePointer<Float>, ldx: Int? = nil, batch: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false,
        pool: WorkerPool? = nil, isa: KernelISA = .best, kernel: PackedKernel? = nil
    ) {
        let ldx = ldx ?? w.cols, ldy = ldy ?? w.rows
        // Many rows (a prompt): matrix-matrix kernels (`PrefillProducts.swift`), unless a kernel is asked for.
        if kernel == nil && batch >= prefillMinimumBatch && prefillPathsEnabled && hasPrefillKernel(w, isa: isa) {
            prefillProduct(w, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy, accumulate: accumulate, pool: pool)
            return
        }
        if kernel == nil && takesUnpackedProduct(w, batch: batch, isa: isa) {
            unpackedProduct(w, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy, accumulate: accumulate, pool: pool)
            return
        }
        let work = w.panels * w.cols * 16 * max(batch, 1)
        guard let pool, pool.threads > 1, work >= 1 << 16, w.panels > PanelLayout.block else {
            packedProduct(w, panels: 0..<w.panels, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy,
                          accumulate: accumulate, isa: isa, kernel: kernel)
            return
        }
        precondition(isa.isSupported, "kernels for \(isa) need a CPU this one is not")
        let kernel = kernel ?? packedKernel(w, batch: batch, isa: isa)
        precondition(kernel.runs(w), "kernel \(kernel) cannot run a \(w.format) \(w.layout) matrix on this CPU")
        // The input rows are quantized or rounded once, for every thread.
        let input = PackedInput(kernel, x: x, ldx: ldx, batch: batch, cols: w.cols, groupSize: w.groupSize)
        // One task per block (at most 64), so threads finish together and one the OS pauses leaves its share to
        // the others; never split inside a block (`PanelLayout.block` panels share their cache lines).
        let blocks = (w.panels + PanelLayout.block - 1) / PanelLayout.block
        // Several input rows: contiguous halves, so each thread's prefetch of its next block (vnni.c) is its own.
        let tasks = batch > 1 && kernel == .avx512VNNIInt8 ? min(blocks, pool.threads) : min(blocks, 64)
        let (per, extra) = blocks.quotientAndRemainder(dividingBy: tasks)
        pool.run(tasks: tasks) { t in
            let start = (t * per + min(t, extra)) * PanelLayout.block
            let end = min(w.panels, start + (per + (t < extra ? 1 : 0)) * PanelLayout.block)
            product(w, panels: start..<end, x: x, ldx: ldx, batch: batch, input: input, y: y, ldy: ldy,
                    accumulate: accumulate, isa: isa, kernel: kernel)
        }
    }

    /// One thread's share: `kernel` over `panels`, its input prepared (`PackedInput`).
    static func product(
        _ w: PackedMatrix, panels: Range<Int>, x: UnsafePointer<Float>, ldx: Int, batch: Int, input: PackedInput,
        y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, isa: KernelISA, kernel: PackedKernel
    ) {
        let (rows, cols) = (w.rows, w.cols)
        let (begin, end) = (Int32(panels.lowerBound), Int32(panels.upperBound))
        switch (kernel, input) {
        case (.swift, _):
            break
        case (.avx2BF16, _):
            chattts_avx2_bf16_product(w.data.assumingMemoryBound(to: UInt16.self), Int32(rows), Int32(cols), begin,
                                      end, x, Int32(ldx), Int32(batch), y, Int32(ldy), accumulate ? 1 : 0)
            return
        case (.avx512BF16, .bf16(let rounded)):
            chattts_avx512bf16_product(w.data.assumingMemoryBound(to: UInt16.self), Int32(rows), Int32(cols), begin,
                                       end, rounded.values, Int32(rounded.stride), Int32(batch), y, Int32(ldy),
                                       accumulate ? 1 : 0)
            return
        case (.reference, .quantized(let q)):
            Reference.quadProduct(w, panels: panels, input: q, y: y, ldy: ldy, accumulate: accumulate)
            return
        case (_, .quantized(let q)):
            let run = switch kernel {
            case .avx512VNNIInt8: chattts_vnni_int8_product
            case .avxVNNIInt8: chattts_avxvnni_int8_product
            default: chattts_avx2_int8_product
            }
            run(w.data.assumingMemoryBound(to: Int8.self), w.scales!, w.sums128, Int32(rows), Int32(cols),
                Int32(w.groupSize), begin, end, q.values, Int32(q.stride), q.scales, Int32(batch), y, Int32(ldy),
                accumulate ? 1 : 0)
            return
        default:
            preconditionFailure("kernel \(kernel) without its input")
        }
        switch (w.format, isa.swiftCopy) {
        case (.f32, .avx512):
            avx512PanelF32(w.data.assumingMemoryBound(to: Float.self), rows: rows, cols: cols, panels: panels,
                           x: x, ldx: ldx, batch: batch, y: y, ldy: ldy, accumulate: accumulate)
        case (.bf16, .avx512):
            avx512PanelBF16(w.data.assumingMemoryBound(to: UInt16.self), rows: rows, cols: cols, panels: panels,
                            x: x, ldx: ldx, batch: batch, y: y, ldy: ldy, accumulate: accumulate)
        case (.int8, .avx512):
            avx512PanelInt8(w.data.assumingMemoryBound(to: Int8.self), scales: w.scales!, groupSize: w.groupSize,
                            rows: rows, cols: cols, panels: panels, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy,
                            accumulate: accumulate)
        case (.f32, .avx2):
            avx2PanelF32(w.data.assumingMemoryBound(to: Float.self), rows: rows, cols: cols, panels: panels,
                         x: x, ldx: ldx, batch: batch, y: y, ldy: ldy, accumulate: accumulate)
        case (.bf16, .avx2):
            avx2PanelBF16(w.data.assumingMemoryBound(to: UInt16.self), rows: rows, cols: cols, panels: panels,
                          x: x, ldx: ldx, batch: batch, y: y, ldy: ldy, accumulate: accumulate)
        case (.int8, .avx2):
            avx2PanelInt8(w.data.assumingMemoryBound(to: Int8.self), scales: w.scales!, groupSize: w.groupSize,
                          rows: rows, cols: cols, panels: panels, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy,
                          accumulate: accumulate)
        case (.f32, _):
            let loader = F32PanelLoader(base: w.data.assumingMemoryBound(to: Float.self), cols: cols, panels: w.panels)
            panelProduct(loader, rows: rows,
                         cols: cols, groupSize: cols, panels: panels, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy,
                         accumulate: accumulate, fused: false, maxTile: 4, scaleWeights: true)
        case (.bf16, _):
            let loader = BF16PanelLoader(base: w.data.assumingMemoryBound(to: UInt16.self), cols: cols, panels: w.panels)
            panelProduct(loader, rows: rows,
                         cols: cols, groupSize: cols, panels: panels, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy,
                         accumulate: accumulate, fused: false, maxTile: 4, scaleWeights: true)
        case (.int8, _):
            panelProduct(Int8PanelLoader(base: w.data.assumingMemoryBound(to: Int8.self), scales: w.scales!,
                                         cols: cols, groups: w.groups, panels: w.panels),
                         rows: rows, cols: cols, groupSize: w.groupSize, panels: panels, x: x, ldx: ldx, batch: batch,
                         y: y, ldy: ldy, accumulate: accumulate, fused: false, maxTile: 4, scaleWeights: true)
        }
    }
}

/// Which kernel runs a product. Each product picks one from the matrix and the path (`Kernels.packedKernel`); the
/// benchmark's kernel table and the tests name one to measure or check it alone.
public enum PackedKernel: String, Sendable, CaseIterable {
    /// The Swift panel kernels (`TensorsSIMD`), in the copy of the path's instruction set.
    case swift
    /// bf16, C, AVX2 + FMA (`CKernels/bf16.c`).
    case avx2BF16 = "bf16 avx2"
    /// bf16, C, VDPBF16PS (AVX-512 BF16): rounds the input rows to bf16.
    case avx512BF16 = "bf16 avx512-bf16"
    /// int8 quad layouts, C, VPMADDUBSW (AVX2).
    case avx2Int8 = "int8 avx2"
    /// int8 VNNI layout, C, VPDPBUSD on 256-bit registers (AVX-VNNI).
    case avxVNNIInt8 = "int8 avx2-vnni"
    /// int8 VNNI layout, C, VPDPBUSD on 512-bit registers (AVX-512 VNNI).
    case avx512VNNIInt8 = "int8 avx512-vnni"
    /// int8 quad layouts on a path without AVX2: the scalar reference (`Kernels.Reference.quadProduct`), slow.
    case reference

    /// Whether this CPU runs the kernel on `w` (its format, its layout, the instructions).
    public func runs(_ w: PackedMatrix) -> Bool {
        let cpu = CPUFeatures.detected
        switch self {
        case .swift: return !w.layout.byQuads
        case .avx2BF16: return w.format == .bf16 && cpu.contains(.avx2FMA)
        case .avx512BF16: return w.format == .bf16 && cpu.contains([.avx512, .avx512BF16])
        case .avx2Int8: return w.layout.byQuads && cpu.contains(.avx2FMA)
        case .avxVNNIInt8: return w.layout == .vnni && cpu.contains([.avx2FMA, .avxVNNI])
        case .avx512VNNIInt8: return w.layout == .vnni && cpu.contains([.avx512, .avx512VNNI])
        case .reference: return w.layout.byQuads
        }
    }
}

/// What a kernel reads besides the weights, made once per product and shared by its threads: the float rows
/// themselves, or the rows quantized to int8 (quad layouts) or rounded to bf16 (VDPBF16PS).
enum PackedInput: @unchecked Sendable {
    case floats
    case quantized(QuantizedRows)
    case bf16(BF16Rows)

    init(_ kernel: PackedKernel, x: UnsafePointer<Float>, ldx: Int, batch: Int, cols: Int, groupSize: Int) {
        switch kernel {
        case .avx2Int8, .avxVNNIInt8, .avx512VNNIInt8, .reference:
            self = .quantized(QuantizedRows(x, ldx: ldx, batch: batch, cols: cols, groupSize: groupSize))
        case .avx512BF16:
            self = .bf16(BF16Rows(x, ldx: ldx, batch: batch, cols: cols))
        case .swift, .avx2BF16:
            self = .floats
        }
    }
}

/// Input rows rounded to bf16 for VDPBF16PS (`floatToBF16`: nearest, ties to even), [batch][stride], stride even
/// and >= cols, an odd last column padded with 0. Freed with the value.
final class BF16Rows: @unchecked Sendable {
    let values: UnsafeMutablePointer<UInt16>
    let stride: Int

    init(_ x: UnsafePointer<Float>, ldx: Int, batch: Int, cols: Int) {
        stride = (cols + 31) & ~31
        values = .allocate(capacity: max(1, batch * stride))
        chattts_bf16_round_rows(x, Int32(ldx), Int32(batch), Int32(cols), values, Int32(stride))
    }

    deinit { values.deallocate() }
}

/// Input rows quantized for the int8 kernels of the quad layouts: per row and group of columns, scale = max |x| / 127
/// and q = round(x / scale) in -127...127, stored plus 128 as unsigned bytes (VPDPBUSD multiplies unsigned by signed;
/// its kernels subtract 128 * the weights' sum, the VPMADDUBSW one flips the top bit back). Freed with the value: the
/// class owns its buffers.
public final class QuantizedRows: @unchecked Sendable {
    public let values: UnsafeMutablePointer<UInt8>      // [batch, stride]
    public let scales: UnsafeMutablePointer<Float>      // [batch, groups]
    public let stride: Int
    public let batch: Int
    public let groups: Int

    /// `reference`: the scalar Swift loops, which the C versions (`chattts_vnni_quantize_rows` on the avx512 path with
    /// VNNI, `chattts_avx2_quantize_rows` on the AVX2 ones, where groups are whole vectors) reproduce exactly.
    /// `isa`: the path whose C version runs (the tests hold each to the reference).
    public init(_ x: UnsafePointer<Float>, ldx: Int, batch: Int, cols: Int, groupSize: Int, reference: Bool = false,
                isa: KernelISA = .best) {
        self.batch = batch
        stride = (cols + 63) & ~63
        groups = cols / groupSize
        values = .allocate(capacity: max(1, batch * stride))
        scales = .allocate(capacity: max(1, batch * groups))
        if !reference && isa == .avx512 && CPUFeatures.detected.contains(.avx512VNNI) && groupSize % 16 == 0 {
            chattts_vnni_quantize_rows(x, Int32(ldx), Int32(batch), Int32(cols), Int32(groupSize), values,
                                       Int32(stride), scales)
            return
        }
        if !reference && isa >= .avx2 && isa.isSupported && groupSize % 8 == 0 {
            chattts_avx2_quantize_rows(x, Int32(ldx), Int32(batch), Int32(cols), Int32(groupSize), values,
                                       Int32(stride), scales)
            return
        }
        for b in 0..<batch {
            for g in 0..<groups {
                let row = x + b * ldx + g * groupSize
                var largest: Float = 0
                for k in 0..<groupSize { largest = max(largest, abs(row[k])) }
                let scale = largest / 127
                let inverse = scale > 0 ? 1 / scale : 0
                scales[b * groups + g] = scale
                let out = values + b * stride + g * groupSize
                for k in 0..<groupSize {
                    let q = max(-127, min(127, (row[k] * inverse).rounded(.toNearestOrEven)))
                    out[k] = UInt8(Int(q) + 128)
                }
            }
        }
    }

    deinit {
        values.deallocate()
        scales.deallocate()
    }
}

extension Kernels.Reference {
    /// Scalar twin of `Kernels.packedProduct`: the matrix as the kernels see it (`dequantizedRow`), Double sums.
    /// The quad layouts' kernels also round the input rows to int8 per group (`QuantizedRows`), and VDPBF16PS
    /// (`PackedKernel.avx512BF16`) rounds them to bf16: `inputsInBF16` does that here too.
    public static func packedProduct(
        _ w: PackedMatrix, x: UnsafePointer<Float>, ldx: Int? = nil, batch: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false, inputsInBF16: Bool = false
    ) {
        let ldx = ldx ?? w.cols, ldy = ldy ?? w.rows
        if w.layout.byQuads {
            // Round the input rows to int8 per group as the kernels do, then sum exactly.
            let input = QuantizedRows(x, ldx: ldx, batch: batch, cols: w.cols, groupSize: w.groupSize, reference: true)
            for r in 0..<w.rows {
                let row = w.dequantizedRow(r)
                for b in 0..<batch {
                    var sum = 0.0
                    for k in 0..<w.cols {
                        let xq = Double(Int(input.values[b * input.stride + k]) - 128)
                            * Double(input.scales[b * input.groups + k / w.groupSize])
                        sum += Double(row[k]) * xq
                    }
                    y[b * ldy + r] = Float((accumulate ? Double(y[b * ldy + r]) : 0) + sum)
                }
            }
            return
        }
        for r in 0..<w.rows {
            let row = w.dequantizedRow(r)
            for b in 0..<batch {
                var sum = 0.0
                for k in 0..<w.cols {
                    let xk = inputsInBF16 ? bf16ToFloat(floatToBF16(x[b * ldx + k])) : x[b * ldx + k]
                    sum += Double(row[k]) * Double(xk)
                }
                let previous = accumulate ? Double(y[b * ldy + r]) : 0
                y[b * ldy + r] = Float(previous + sum)
            }
        }
    }

    /// The int8 kernels of the quad layouts (`CKernels`: AVX2, AVX-VNNI, AVX-512 VNNI) step for step, so they equal
    /// it bit for bit: per row, input row and group, the exact integer sum of weight times quantized input, then
    /// total = Float(sum) * (weight scale * input scale) + total in one fused multiply-add, group by group from 0;
    /// accumulating adds the old y last. Rows of `panels` only.
    public static func quadProduct(_ w: PackedMatrix, panels: Range<Int>, input: QuantizedRows,
                                   y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool) {
        precondition(w.layout.byQuads, "quadProduct: a \(w.layout) matrix")
        let weights = w.data.assumingMemoryBound(to: Int8.self)
        for r in (panels.lowerBound * 16)..<min(w.rows, panels.upperBound * 16) {
            for b in 0..<input.batch {
                var total: Float = 0
                for g in 0..<w.groups {
                    var sum: Int32 = 0
                    for k in (g * w.groupSize)..<((g + 1) * w.groupSize) {
                        sum += Int32(weights[w.index(r, k)]) * (Int32(input.values[b * input.stride + k]) - 128)
                    }
                    let scale = w.scales![w.sideIndex(panel: r / 16, group: g) + r % 16]
                    total = total.addingProduct(Float(sum), scale * input.scales[b * input.groups + g])
                }
                y[b * ldy + r] = accumulate ? total + y[b * ldy + r] : total
            }
        }
    }

    /// The fused kernels of the float formats (the Swift AVX2 / AVX-512 panel kernels, `chattts_avx2_bf16_product`)
    /// step for step, so they equal it bit for bit: per row and input row one chain of float32 fused multiply-adds
    /// from 0 in column order over the weights as stored; accumulating adds the old y last.
    public static func fusedPanelProduct(_ w: PackedMatrix, x: UnsafePointer<Float>, ldx: Int, batch: Int,
                                         y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool) {
        precondition(w.format != .int8, "fusedPanelProduct: an int8 matrix")
        for r in 0..<w.rows {
            let row = w.dequantizedRow(r)
            for b in 0..<batch {
                var total: Float = 0
                for k in 0..<w.cols { total = total.addingProduct(row[k], x[b * ldx + k]) }
                y[b * ldy + r] = accumulate ? total + y[b * ldy + r] : total
            }
        }
    }
}
