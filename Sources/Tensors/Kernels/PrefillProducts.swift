import CKernels
import TensorsSIMD
import Synchronization

/// Products of a `PackedMatrix` with many input rows: a prompt's prefill, where every projection sees hundreds or
/// thousands of rows at once.
///
/// bfloat16: a matrix-matrix kernel (C, `CKernels/prefill.c`, VDPBF16PS) that multiplies bfloat16 pairs where the
/// decode kernel widens every weight to float32; it rounds the input rows to bfloat16 first, which the decode kernel
/// does not, so a row differs from its decode result by that rounding, nmse about 1e-6 (`KernelPrefillTests` holds
/// it under 1e-4, and exactly to the reference over the rounded rows).
///
/// int8 (VNNI layout): the decode kernel (`vnniProduct`) already reuses each weight block across tiles of 8 input
/// rows and runs near VPDPBUSD's peak on large batches (a separate register-blocked kernel measured the same and
/// was dropped, see `prefill.h`); what this path adds is the input rows quantized in parallel from 512 rows on
/// (`QuantizedRows` does it on the calling thread: 20 x 2,000 x 6,144 values for a 2,000-row prompt). Results are
/// bit-identical.
extension Kernels {
    /// Batches from this size on take the prefill path where `hasPrefillKernel`: more rows than the decode kernels'
    /// tiles of 8, so a decode step (batch <= 8 by default) keeps the kernels it was tuned with, bit for bit. Not
    /// tuned further: the bfloat16 kernel was not timed against the Swift one between 16 and 100 rows; at a 100-row
    /// prompt the prompt paths were 1.0-1.8x the decode paths (Benchmarks/prefill-2026-12-03.txt).
    public static let prefillMinimumBatch = 16

    /// Input rows from which their conversion (`prefillProduct`) is split across the pool.
    static let parallelConversionMinimum = 512

    /// Whether the prompt paths (these products, `causalAttention` in the GPT) run where they apply: on, except
    /// while `chattts bench engine` measures the decode paths on the same prompt (before/after in one process).
    /// Process-wide like `KernelISA.select`; results of int8 products are the same either way.
    public static var prefillPathsEnabled: Bool {
        get { prefillSwitch.load(ordering: .relaxed) }
        set { prefillSwitch.store(newValue, ordering: .relaxed) }
    }

    private static let prefillSwitch = Atomic<Bool>(true)

    /// Whether `prefillProduct` has a kernel for `w` on `isa`: int8 in the VNNI layout, or bfloat16 where the CPU
    /// has AVX-512 BF16; both need the AVX-512 kernels chosen.
    public static func hasPrefillKernel(_ w: PackedMatrix, isa: KernelISA = .best) -> Bool {
        guard isa == .avx512, isa.isSupported else { return false }
        switch w.format {
        case .int8: return w.layout == .vnni && CPUFeatures.detected.contains(.avx512VNNI) && w.groupSize % 16 == 0
        case .bf16: return CPUFeatures.detected.contains(.avx512BF16)
        case .f32: return false
        }
    }

    /// y[b, r] (+)= sum_k W[r, k] * x[b, k] for b in 0..<batch with the prefill kernels (`hasPrefillKernel` must
    /// hold): the input rows are converted once (quantized to int8 per group, or rounded to bfloat16), split by rows
    /// across `pool`, then the weight blocks are split across it in contiguous runs, one per thread (each run
    /// prefetches its own next block, `vnni.c`; the bfloat16 kernel allocates one repacking buffer per run).
    public static func prefillProduct(
        _ w: PackedMatrix, x: UnsafePointer<Float>, ldx: Int? = nil, batch: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false, pool: WorkerPool? = nil
    ) {
        precondition(hasPrefillKernel(w), "prefillProduct: no prefill kernel for \(w.format) \(w.layout)")
        let ldx = ldx ?? w.cols, ldy = ldy ?? w.rows
        precondition(ldx >= w.cols && ldy >= w.rows, "prefillProduct: strides \(ldx), \(ldy) too small")
        if batch == 0 { return }
        let threads = pool?.threads ?? 1
        func parallel(_ tasks: Int, _ body: (Int) -> Void) {
            if let pool, tasks > 1 { pool.run(tasks: tasks, body) } else { for t in 0..<tasks { body(t) } }
        }
        // Input rows in contiguous slices per thread, for many rows only: the conversion is ~1% of the product, and
        // for a few hundred rows a second dispatch to the pool cost more than it saved (100-row prompt, int8: 20-25%
        // slower products with it, 2 loaded cores).
        let slices = batch >= Self.parallelConversionMinimum ? min(threads, batch) : 1
        let (perSlice, extraRows) = batch.quotientAndRemainder(dividingBy: slices)
        func rowRange(_ t: Int) -> Range<Int> {
            let start = t * perSlice + min(t, extraRows)
            return start..<(start + perSlice + (t < extraRows ? 1 : 0))
        }
        // Weight blocks (8 panels, `PanelLayout.block`) in contiguous runs, one per thread.
        let blocks = (w.panels + PanelLayout.block - 1) / PanelLayout.block
        let runs = min(threads, blocks)
        let (perRun, extraBlocks) = blocks.quotientAndRemainder(dividingBy: runs)
        func panelRange(_ t: Int) -> Range<Int> {
            let start = (t * perRun + min(t, extraBlocks)) * PanelLayout.block
            return start..<min(w.panels, start + (perRun + (t < extraBlocks ? 1 : 0)) * PanelLayout.block)
        }
        switch w.format {
        case .int8:
            let input = PrefillRows<UInt8>(batch: batch, stride: (w.cols + 63) & ~63, groups: w.groups)
            parallel(slices) { t in
                let r = rowRange(t)
                chattts_vnni_quantize_rows(x + r.lowerBound * ldx, Int32(ldx), Int32(r.count), Int32(w.cols),
                                           Int32(w.groupSize), input.values + r.lowerBound * input.stride,
                                           Int32(input.stride), input.scales + r.lowerBound * w.groups)
            }
            parallel(runs) { t in
                let p = panelRange(t)
                chattts_vnni_int8_product(w.data.assumingMemoryBound(to: Int8.self), w.scales!, w.sums128!,
                                          Int32(w.rows), Int32(w.cols), Int32(w.groupSize), Int32(p.lowerBound),
                                          Int32(p.upperBound), input.values, Int32(input.stride), input.scales,
                                          Int32(batch), y, Int32(ldy), accumulate ? 1 : 0)
            }
        case .bf16:
            let input = PrefillRows<UInt16>(batch: batch, stride: (w.cols + 31) & ~31, groups: 0)
            parallel(slices) { t in
                let r = rowRange(t)
                chattts_bf16_round_rows(x + r.lowerBound * ldx, Int32(ldx), Int32(r.count), Int32(w.cols),
                                        input.values + r.lowerBound * input.stride, Int32(input.stride))
            }
            parallel(runs) { t in
                let p = panelRange(t)
                chattts_bf16_gemm(w.data.assumingMemoryBound(to: UInt16.self), Int32(w.rows), Int32(w.cols),
                                  Int32(p.lowerBound), Int32(p.upperBound), input.values, Int32(input.stride),
                                  Int32(batch), y, Int32(ldy), accumulate ? 1 : 0)
            }
        case .f32:
            preconditionFailure("no float32 prefill kernel")
        }
    }
}

extension Kernels {
    /// Batches from this size on take `unpackedProduct` where no prefill kernel runs the matrix (`hasPrefillKernel`):
    /// float32 on every path, bfloat16 without AVX-512 BF16. int8 keeps its decode kernels (on AVX2 they ran a
    /// 1,000-token prompt faster than sgemm over the weights widened to float32: 2.7 against 3.3 s).
    public static let unpackedMinimumBatch = 128

    /// Whether a product of `w` with `batch` rows takes `unpackedProduct`.
    public static func takesUnpackedProduct(_ w: PackedMatrix, batch: Int, isa: KernelISA = .best) -> Bool {
        batch >= unpackedMinimumBatch && prefillPathsEnabled && w.format != .int8 && w.layout == .panels
            && !hasPrefillKernel(w, isa: isa)
    }

    /// y[b, r] (+)= sum_k W[r, k] * x[b, k] for a prompt's many rows where no prefill kernel runs `w` (float32 on
    /// every path, bfloat16 without AVX-512 BF16): OpenBLAS's sgemm, near the FMA units' peak at these sizes, where
    /// the decode kernels re-read every weight per tile of 4 or 8 rows. A block of 8 panels (`PanelLayout.block`) is
    /// already a row-major [cols, 128] matrix, the block's rows transposed (column k's 16 values per panel side by
    /// side), so sgemm reads float32 blocks as they lie and bfloat16 ones widened into one buffer per thread; blocks
    /// are split across `pool` in contiguous runs. Results equal the decode kernels' to float32 rounding (both sum
    /// the exact products of the same values; `KernelPrefillTests`).
    public static func unpackedProduct(
        _ w: PackedMatrix, x: UnsafePointer<Float>, ldx: Int? = nil, batch: Int,
        y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false, pool: WorkerPool? = nil
    ) {
        precondition(w.layout == .panels && w.format != .int8, "unpackedProduct: \(w.format) \(w.layout)")
        let ldx = ldx ?? w.cols, ldy = ldy ?? w.rows
        precondition(ldx >= w.cols && ldy >= w.rows, "unpackedProduct: strides \(ldx), \(ldy) too small")
        if batch == 0 { return }
        let cols = w.cols, block = PanelLayout.block
        let blocks = (w.panels + block - 1) / block
        let tasks = min(pool?.threads ?? 1, blocks)
        let (per, extra) = blocks.quotientAndRemainder(dividingBy: tasks)
        let body = { (t: Int) in
            let start = t * per + min(t, extra)
            let widened = w.format == .bf16 ? UnsafeMutablePointer<Float>.allocate(capacity: cols * block * 16) : nil
            defer { widened?.deallocate() }
            for b in start..<(start + per + (t < extra ? 1 : 0)) {
                let first = b * block, width = min(block, w.panels - first) * 16
                let offset = first * cols * 16
                let weights: UnsafePointer<Float>
                if let widened {
                    let bits = w.data.assumingMemoryBound(to: UInt16.self) + offset
                    for i in 0..<(cols * width) { widened[i] = Float(bitPattern: UInt32(bits[i]) << 16) }
                    weights = UnsafePointer(widened)
                } else {
                    weights = UnsafePointer(w.data.assumingMemoryBound(to: Float.self) + offset)
                }
                gemm(m: batch, n: min(width, w.rows - first * 16), k: cols, a: x, lda: ldx, b: weights, ldb: width,
                     beta: accumulate ? 1 : 0, c: y + first * 16, ldc: ldy, rowKernel: false)
            }
        }
        if let pool, tasks > 1 { pool.run(tasks: tasks, body) } else { for t in 0..<tasks { body(t) } }
    }
}

/// Input rows converted for the prefill kernels: [batch, stride] values (int8 + 128, or bfloat16 bits) and, for
/// int8, [batch, groups] scales. `@unchecked Sendable`: each conversion task writes only its own rows, and the
/// product tasks that follow only read.
final class PrefillRows<Value>: @unchecked Sendable {
    let values: UnsafeMutablePointer<Value>
    let scales: UnsafeMutablePointer<Float>
    let stride: Int

    init(batch: Int, stride: Int, groups: Int) {
        self.stride = stride
        values = .allocate(capacity: max(1, batch * stride))
        scales = .allocate(capacity: max(1, batch * groups))
    }

    deinit {
        values.deallocate()
        scales.deallocate()
    }
}
