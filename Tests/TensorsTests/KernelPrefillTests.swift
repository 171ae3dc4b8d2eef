import Foundation
import Testing
import Tensors

/// The prefill products (`Kernels.prefillProduct`: bfloat16 in C, `CKernels/prefill.c`; int8 through the VNNI decode
/// kernel with the rows quantized in parallel) against the scalar reference and against the decode kernels, on shapes
/// that are not multiples of the tiles (rows not a multiple of 16 or of the 2-panel pairs, batches 16 to 300 that
/// leave every remainder of the 8-row tiles, several groups, odd columns, strides wider than the rows).
///
/// Tolerances: int8 sums are exact in int32, so the result equals the reference over the same rounded inputs to
/// float32 rounding (nmse < 1e-10) and is bit-identical to the decode kernel on one thread. bfloat16 rounds the input rows to
/// bfloat16: against the reference over the rounded rows nmse < 1e-10; against the decode kernel (float32 rows)
/// nmse < 1e-4 (measured about 1e-6).
@Suite("Kernel: prefill products (int8 VNNI, bfloat16, sgemm over unpacked blocks)")
struct KernelPrefillTests {
    typealias RNG = KernelTesting.SplitMix64

    /// (rows, cols, batch, ldx extra columns)
    static let shapes = [(17, 64, 17, 0), (100, 96, 31, 5), (300, 160, 100, 0), (33, 128, 300, 3), (16, 32, 16, 0),
                         (130, 224, 47, 0)]

    static func pack(_ format: WeightFormat, rows: Int, cols: Int, rng: inout RNG) throws -> PackedMatrix {
        let w = rng.normal(rows * cols, scale: 0.05)
        return try w.withUnsafeBufferPointer { b in
            try PackedMatrix(rows: rows, cols: cols, format: format, groupSize: 32) { b.baseAddress! + $0 * cols }
        }
    }

    @Test("int8 prefill products equal the scalar reference and, bit for bit, the decode kernel")
    func int8MatchesReferenceAndDecode() throws {
        for (rows, cols, batch, extra) in Self.shapes {
            var rng = RNG(seed: UInt64(rows * 131 + cols * 7 + batch))
            let packed = try Self.pack(.int8, rows: rows, cols: cols, rng: &rng)
            guard Kernels.hasPrefillKernel(packed) else { return }   // needs AVX-512 VNNI
            let ldx = cols + extra
            let x = rng.normal(batch * ldx)
            let start = rng.normal(batch * rows)
            for accumulate in [false, true] {
                var reference = start
                Kernels.Reference.packedProduct(packed, x: x, ldx: ldx, batch: batch, y: &reference,
                                                accumulate: accumulate)
                var decode = start
                Kernels.packedProduct(packed, panels: 0..<packed.panels, x: x, ldx: ldx, batch: batch, y: &decode,
                                      ldy: rows, accumulate: accumulate, isa: .avx512)
                for pool in [nil, WorkerPool(threads: 3)] {
                    var fast = accumulate ? start : [Float](repeating: .nan, count: batch * rows)
                    Kernels.prefillProduct(packed, x: x, ldx: ldx, batch: batch, y: &fast, accumulate: accumulate,
                                           pool: pool)
                    let what = "\(rows)x\(cols) batch \(batch) accumulate \(accumulate) pool \(pool != nil)"
                    KernelTesting.expectClose(fast, reference, nmse: 1e-10, maxAbs: 1e-4, what)
                    #expect(fast == decode, "\(what): differs from the decode kernel")
                }
            }
        }
    }

    @Test("bfloat16 prefill products equal the reference over bfloat16-rounded rows, and the decode kernel closely")
    func bf16MatchesReference() throws {
        // Odd column counts too: the last column pair is padded.
        for (rows, cols, batch, extra) in Self.shapes + [(40, 33, 19, 0), (70, 131, 24, 2)] {
            var rng = RNG(seed: UInt64(rows * 17 + cols * 5 + batch))
            let packed = try Self.pack(.bf16, rows: rows, cols: cols, rng: &rng)
            guard Kernels.hasPrefillKernel(packed) else { return }   // needs AVX-512 BF16
            let ldx = cols + extra
            let x = rng.normal(batch * ldx)
            let rounded = x.map { bf16ToFloat(floatToBF16($0)) }
            let start = rng.normal(batch * rows)
            for accumulate in [false, true] {
                var reference = start
                Kernels.Reference.packedProduct(packed, x: rounded, ldx: ldx, batch: batch, y: &reference,
                                                accumulate: accumulate)
                var decode = start
                Kernels.packedProduct(packed, panels: 0..<packed.panels, x: x, ldx: ldx, batch: batch, y: &decode,
                                      ldy: rows, accumulate: accumulate, isa: .avx512)
                for pool in [nil, WorkerPool(threads: 3)] {
                    var fast = accumulate ? start : [Float](repeating: .nan, count: batch * rows)
                    Kernels.prefillProduct(packed, x: x, ldx: ldx, batch: batch, y: &fast, accumulate: accumulate,
                                           pool: pool)
                    let what = "\(rows)x\(cols) batch \(batch) accumulate \(accumulate) pool \(pool != nil)"
                    KernelTesting.expectClose(fast, reference, nmse: 1e-10, maxAbs: 1e-4, what)
                    KernelTesting.expectClose(fast, decode, nmse: 1e-4, maxAbs: 0.05, what + " vs decode")
                }
            }
        }
    }

    @Test("unpacked prompt products (sgemm over float32 and widened bfloat16 blocks) equal the scalar reference and the decode kernels closely")
    func unpackedMatchesReference() throws {
        // Also more than one block of 8 panels with a short last one (300 rows: 19 panels).
        for format in [WeightFormat.f32, .bf16] {
            for (rows, cols, batch, extra) in Self.shapes + [(40, 33, 19, 0)] {
                var rng = RNG(seed: UInt64(rows * 29 + cols * 3 + batch))
                let packed = try Self.pack(format, rows: rows, cols: cols, rng: &rng)
                let ldx = cols + extra
                let x = rng.normal(batch * ldx)
                let start = rng.normal(batch * rows)
                for accumulate in [false, true] {
                    var reference = start
                    Kernels.Reference.packedProduct(packed, x: x, ldx: ldx, batch: batch, y: &reference,
                                                    accumulate: accumulate)
                    // The decode kernels of the path this one serves (AVX2: float rows, where AVX-512 BF16 would
                    // round them to bfloat16).
                    var decode = start
                    Kernels.packedProduct(packed, panels: 0..<packed.panels, x: x, ldx: ldx, batch: batch, y: &decode,
                                          ldy: rows, accumulate: accumulate,
                                          isa: KernelISA.avx2.isSupported ? .avx2 : .baseline)
                    for pool in [nil, WorkerPool(threads: 3)] {
                        var fast = accumulate ? start : [Float](repeating: .nan, count: batch * rows)
                        Kernels.unpackedProduct(packed, x: x, ldx: ldx, batch: batch, y: &fast, accumulate: accumulate,
                                                pool: pool)
                        let what = "\(format) \(rows)x\(cols) batch \(batch) accumulate \(accumulate) pool \(pool != nil)"
                        KernelTesting.expectClose(fast, reference, nmse: 1e-10, maxAbs: 1e-4, what)
                        KernelTesting.expectClose(fast, decode, nmse: 1e-10, maxAbs: 1e-4, what + " vs decode")
                    }
                }
            }
        }
    }

    @Test("float32 products take the unpacked prompt path from its threshold on, int8 never does")
    func unpackedDispatch() throws {
        var rng = RNG(seed: 9)
        let (rows, cols) = (48, 64)
        let packed = try Self.pack(.f32, rows: rows, cols: cols, rng: &rng)
        let int8 = try Self.pack(.int8, rows: rows, cols: cols, rng: &rng)
        let batch = Kernels.unpackedMinimumBatch
        #expect(Kernels.takesUnpackedProduct(packed, batch: batch))
        #expect(!Kernels.takesUnpackedProduct(packed, batch: batch - 1))
        #expect(!Kernels.takesUnpackedProduct(int8, batch: batch))
        let x = rng.normal(batch * cols)
        var viaDispatch = [Float](repeating: 0, count: batch * rows)
        Kernels.packedProduct(packed, x: x, batch: batch, y: &viaDispatch, pool: WorkerPool(threads: 2))
        var direct = [Float](repeating: 0, count: batch * rows)
        Kernels.unpackedProduct(packed, x: x, batch: batch, y: &direct)
        #expect(viaDispatch == direct)
    }

    @Test("the pooled product takes the prefill kernels from the threshold on, with the same results")
    func dispatchFromThreshold() throws {
        var rng = RNG(seed: 5)
        let (rows, cols) = (80, 64)
        let packed = try Self.pack(.int8, rows: rows, cols: cols, rng: &rng)
        guard Kernels.hasPrefillKernel(packed) else { return }
        let batch = Kernels.prefillMinimumBatch + 3
        let x = rng.normal(batch * cols)
        var viaDispatch = [Float](repeating: 0, count: batch * rows)
        Kernels.packedProduct(packed, x: x, batch: batch, y: &viaDispatch, pool: WorkerPool(threads: 2))
        var direct = [Float](repeating: 0, count: batch * rows)
        Kernels.prefillProduct(packed, x: x, batch: batch, y: &direct)
        #expect(viaDispatch == direct)
    }
}
