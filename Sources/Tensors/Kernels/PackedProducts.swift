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
    /// The rows of panels `panels` (16 rows each) on one thread, with the kernels of `isa` (which must be
    /// supported: `KernelISA.isSupported`).
    public static func packedProduct(
        _ w: PackedMatrix, panels: Range<Int>, x: UnsafePointer<Float>, ldx: Int, batch: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false, isa: KernelISA = .best
    ) {
        precondition(panels.lowerBound >= 0 && panels.upperBound <= w.panels, "panels \(panels) out of \(w.panels)")
        precondition(ldx >= w.cols && ldy >= w.rows, "packedProduct: strides \(ldx), \(ldy) too small")
        precondition(isa.isSupported, "kernels for \(isa) need a CPU this one is not")
        if batch == 0 || panels.isEmpty { return }
        if w.layout == .vnni {
            let input = QuantizedRows(x, ldx: ldx, batch: batch, cols: w.cols, groupSize: w.groupSize)
            vnniProduct(w, panels: panels, input: input, y: y, ldy: ldy, accumulate: accumulate)
            return
        }
        let (rows, cols) = (w.rows, w.cols)
        switch (w.format, isa) {
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
        case (.f32, .baseline):
            let loader = F32PanelLoader(base: w.data.assumingMemoryBound(to: Float.self), cols: cols, panels: w.panels)
            panelProduct(loader, rows: rows,
                         cols: cols, groupSize: cols, panels: panels, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy,
                         accumulate: accumulate, fused: false, maxTile: 4, scaleWeights: true)
        case (.bf16, .baseline):
            let loader = BF16PanelLoader(base: w.data.assumingMemoryBound(to: UInt16.self), cols: cols, panels: w.panels)
            panelProduct(loader, rows: rows,
                         cols: cols, groupSize: cols, panels: panels, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy,
                         accumulate: accumulate, fused: false, maxTile: 4, scaleWeights: true)
        case (.int8, .baseline):
            panelProduct(Int8PanelLoader(base: w.data.assumingMemoryBound(to: Int8.self), scales: w.scales!,
                                         cols: cols, groups: w.groups, panels: w.panels),
                         rows: rows, cols: cols, groupSize: w.groupSize, panels: panels, x: x, ldx: ldx, batch: batch,
                         y: y, ldy: ldy, accumulate: accumulate, fused: false, maxTile: 4, scaleWeights: true)
        }
    }

    /// The whole product, split by panels across `pool` (small products run on the calling thread).
    public static func packedProduct(
        _ w: PackedMatrix, x: UnsafePointer<Float>, ldx: Int? = nil, batch: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false,
        pool: WorkerPool? = nil, isa: KernelISA = .best
    ) {
        let ldx = ldx ?? w.cols, ldy = ldy ?? w.rows
        // Many rows (a prompt): matrix-matrix kernels (`PrefillProducts.swift`).
        if batch >= prefillMinimumBatch && prefillPathsEnabled && hasPrefillKernel(w, isa: isa) {
            prefillProduct(w, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy, accumulate: accumulate, pool: pool)
            return
        }
        let work = w.panels * w.cols * 16 * max(batch, 1)
        guard let pool, pool.threads > 1, work >= 1 << 16, w.panels > PanelLayout.block else {
            packedProduct(w, panels: 0..<w.panels, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy,
                          accumulate: accumulate, isa: isa)
            return
        }
        // One task per block (at most 64), so threads finish together and one the OS pauses leaves its share to
        // the others; never split inside a block (`PanelLayout.block` panels share their cache lines).
        let input = w.layout == .vnni
            ? QuantizedRows(x, ldx: ldx, batch: batch, cols: w.cols, groupSize: w.groupSize) : nil
        let blocks = (w.panels + PanelLayout.block - 1) / PanelLayout.block
        // Several input rows: contiguous halves, so each thread's prefetch of its next block (CKernels) is its own.
        let tasks = batch > 1 && w.layout == .vnni ? min(blocks, pool.threads) : min(blocks, 64)
        let (per, extra) = blocks.quotientAndRemainder(dividingBy: tasks)
        pool.run(tasks: tasks) { t in
            let start = (t * per + min(t, extra)) * PanelLayout.block
            let end = min(w.panels, start + (per + (t < extra ? 1 : 0)) * PanelLayout.block)
            if let input {
                vnniProduct(w, panels: start..<end, input: input, y: y, ldy: ldy, accumulate: accumulate)
            } else {
                packedProduct(w, panels: start..<end, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy,
                              accumulate: accumulate, isa: isa)
            }
        }
    }
}

extension Kernels {
    /// The VNNI layout's product (C, `CKernels`) over input rows already quantized.
    static func vnniProduct(_ w: PackedMatrix, panels: Range<Int>, input: QuantizedRows, y: UnsafeMutablePointer<Float>,
                            ldy: Int, accumulate: Bool) {
        precondition(KernelISA.vnniSupported, "the VNNI layout needs AVX-512 VNNI")
        chattts_vnni_int8_product(w.data.assumingMemoryBound(to: Int8.self), w.scales!, w.sums128!, Int32(w.rows),
                                  Int32(w.cols), Int32(w.groupSize), Int32(panels.lowerBound), Int32(panels.upperBound),
                                  input.values, Int32(input.stride), input.scales, Int32(input.batch), y, Int32(ldy),
                                  accumulate ? 1 : 0)
    }
}

/// Input rows quantized for the VNNI kernels: per row and group of columns, scale = max |x| / 127 and
/// q = round(x / scale) in -127...127, stored plus 128 as unsigned bytes (VPDPBUSD multiplies unsigned by signed; the
/// kernels subtract 128 * the weights' sum). Freed with the value: the class owns its buffers.
public final class QuantizedRows: @unchecked Sendable {
    public let values: UnsafeMutablePointer<UInt8>      // [batch, stride]
    public let scales: UnsafeMutablePointer<Float>      // [batch, groups]
    public let stride: Int
    public let batch: Int
    public let groups: Int

    /// `reference`: the scalar Swift loops, which the C version (`chattts_vnni_quantize_rows`, used when the CPU runs
    /// the VNNI kernels and groups are whole vectors) reproduces exactly.
    public init(_ x: UnsafePointer<Float>, ldx: Int, batch: Int, cols: Int, groupSize: Int, reference: Bool = false) {
        self.batch = batch
        stride = (cols + 63) & ~63
        groups = cols / groupSize
        values = .allocate(capacity: max(1, batch * stride))
        scales = .allocate(capacity: max(1, batch * groups))
        if !reference && KernelISA.vnniSupported && groupSize % 16 == 0 {
            chattts_vnni_quantize_rows(x, Int32(ldx), Int32(batch), Int32(cols), Int32(groupSize), values,
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
    public static func packedProduct(
        _ w: PackedMatrix, x: UnsafePointer<Float>, ldx: Int? = nil, batch: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false
    ) {
        let ldx = ldx ?? w.cols, ldy = ldy ?? w.rows
        if w.layout == .vnni {
            // The VNNI kernels also round the input rows to int8 per group: do the same, then sum exactly.
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
                for k in 0..<w.cols { sum += Double(row[k]) * Double(x[b * ldx + k]) }
                let previous = accumulate ? Double(y[b * ldy + r]) : 0
                y[b * ldy + r] = Float(previous + sum)
            }
        }
    }
}
