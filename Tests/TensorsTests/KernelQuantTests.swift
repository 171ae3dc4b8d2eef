import Foundation
import Testing
import Tensors

/// Packed products (`Kernels.packedProduct`) in every weight format and layout, on every kernel path this CPU runs,
/// against the scalar reference over the same (rounded) weights. float32 sums in a different order than the Double
/// reference: nmse < 1e-10 for k <= 3072. Formats lose precision only in the weights (and, for the quad layouts, in
/// the int8 input rows, for VDPBF16PS in the bf16 input rows), which the reference rounds the same way.
@Suite("Kernel: packed products (f32, bf16, int8)")
struct KernelQuantTests {
    typealias RNG = KernelTesting.SplitMix64

    /// Every (format, layout): int8 in the Swift panel layout and in the quad layouts (C kernels with AVX2, the scalar
    /// reference without).
    static let variants: [(WeightFormat, PackedMatrix.Layout)] =
        [(.f32, .panels), (.bf16, .panels), (.int8, .panels), (.int8, .quads), (.int8, .vnni)]

    static let shapes = [(1, 1, 1), (17, 33, 1), (16, 64, 3), (40, 130, 5), (70, 128, 6), (130, 96, 8), (33, 768, 9),
                         (260, 200, 13)]

    @Test("every format, layout and kernel path matches the scalar reference, plain and accumulating",
          arguments: 0..<5)
    func matchesReference(variant: Int) throws {
        guard variant < Self.variants.count else { return }
        let (format, layout) = Self.variants[variant]
        for (rows, cols, batch) in Self.shapes {
            var rng = RNG(seed: UInt64(rows * 7919 + cols * 31 + batch))
            let w = rng.normal(rows * cols, scale: 0.05)
            let x = rng.normal(batch * cols)
            let start = rng.normal(batch * rows)
            guard !layout.byQuads || cols % 32 == 0 else { continue }
            let packed = try w.withUnsafeBufferPointer { b in
                try PackedMatrix(rows: rows, cols: cols, format: format, groupSize: 32, layout: layout) {
                    b.baseAddress! + $0 * cols
                }
            }
            for accumulate in [false, true] {
                for isa in KernelISA.available {
                    // VDPBF16PS rounds the input rows to bf16: so does the reference then.
                    let rounded = Kernels.packedKernel(packed, batch: batch, isa: isa) == .avx512BF16
                    var reference = start
                    Kernels.Reference.packedProduct(packed, x: x, batch: batch, y: &reference, accumulate: accumulate,
                                                    inputsInBF16: rounded)
                    var fast = accumulate ? start : [Float](repeating: .nan, count: batch * rows)
                    Kernels.packedProduct(packed, panels: 0..<packed.panels, x: x, ldx: cols, batch: batch, y: &fast,
                                          ldy: rows, accumulate: accumulate, isa: isa)
                    KernelTesting.expectClose(fast, reference, nmse: 1e-10, maxAbs: 1e-4,
                                              "\(format) \(layout) \(isa) \(rows)x\(cols) batch \(batch) "
                                                + "accumulate \(accumulate)")
                }
            }
        }
    }

    @Test("a row's result is bit-identical alone, in any batch, and on any number of threads", arguments: 0..<5)
    func batchAndThreadInvariant(variant: Int) throws {
        guard variant < Self.variants.count else { return }
        let (format, layout) = Self.variants[variant]
        let (rows, cols) = (300, 256)
        var rng = RNG(seed: 42)
        let w = rng.normal(rows * cols, scale: 0.05)
        let packed = try w.withUnsafeBufferPointer { b in
            try PackedMatrix(rows: rows, cols: cols, format: format, layout: layout) { b.baseAddress! + $0 * cols }
        }
        let x = rng.normal(11 * cols)
        let pool = WorkerPool(threads: 3)
        for isa in KernelISA.available {
            var alone = [[Float]]()
            for b in 0..<11 {
                var y = [Float](repeating: 0, count: rows)
                Array(x[(b * cols)..<((b + 1) * cols)]).withUnsafeBufferPointer { xb in
                    Kernels.packedProduct(packed, x: xb.baseAddress!, batch: 1, y: &y, isa: isa)
                }
                alone.append(y)
            }
            for batch in [2, 3, 4, 5, 8, 11] {
                for p in [nil, pool] {
                    var y = [Float](repeating: 0, count: batch * rows)
                    Kernels.packedProduct(packed, x: x, batch: batch, y: &y, pool: p, isa: isa)
                    for b in 0..<batch {
                        #expect(Array(y[(b * rows)..<((b + 1) * rows)]) == alone[b],
                                "\(format) \(layout) \(isa) batch \(batch) row \(b) pool \(p != nil)")
                    }
                }
            }
        }
    }

    @Test("packing rounds like the format says: bf16 to nearest even, int8 within half a step of its group scale")
    func roundingBounds() throws {
        let (rows, cols) = (37, 300)
        var rng = RNG(seed: 7)
        var w = rng.normal(rows * cols, scale: 0.1)
        w[5] = 3                                            // an outlier only affects its own group
        for (format, layout) in Self.variants where !layout.byQuads || cols % 64 == 0 {
            let packed = try w.withUnsafeBufferPointer { b in
                try PackedMatrix(rows: rows, cols: cols, format: format, groupSize: 64, layout: layout) {
                    b.baseAddress! + $0 * cols
                }
            }
            for r in 0..<rows {
                let row = packed.dequantizedRow(r)
                for g in stride(from: 0, to: cols, by: 64) {
                    let original = Array(w[(r * cols + g)..<(r * cols + min(cols, g + 64))])
                    let got = Array(row[g..<min(cols, g + 64)])
                    let largest = original.map(abs).max() ?? 0
                    for (a, b) in zip(got, original) {
                        switch format {
                        case .f32: #expect(a == b)
                        case .bf16: #expect(a == bf16ToFloat(floatToBF16(b)))
                        case .int8: #expect(abs(a - b) <= largest / 127 * 0.5001, "row \(r) group \(g / 64)")
                        }
                    }
                }
            }
        }
    }

    @Test("memory: int8 is a quarter of float32 plus its scales (and sums for the VNNI layout), bf16 half")
    func sizes() throws {
        let zeros = [Float](repeating: 0, count: 768)
        func size(_ format: WeightFormat, _ layout: PackedMatrix.Layout) throws -> Int {
            try zeros.withUnsafeBufferPointer { b in
                try PackedMatrix(rows: 3072, cols: 768, format: format, layout: layout) { _ in b.baseAddress! }.bytes
            }
        }
        #expect(try size(.f32, .panels) == 3072 * 768 * 4)
        #expect(try size(.bf16, .panels) == 3072 * 768 * 2)
        #expect(try size(.int8, .panels) == 3072 * 768 + 3072 * 6 * 4)
        #expect(try size(.int8, .vnni) == 3072 * 768 + 3072 * 6 * 8)
        #expect(try size(.int8, .quads) == 3072 * 768 + 3072 * 6 * 4)
    }

    @Test("the VNNI kernels' input rounding (C) equals the Swift reference bit for bit")
    func vnniInputQuantization() {
        guard CPUFeatures.detected.contains([.avx512, .avx512VNNI]) else { return }
        var rng = RNG(seed: 11)
        var x = rng.normal(5 * 384, scale: 2)
        for i in 0..<128 { x[128 + i] = 0 }                 // an all-zero group
        x[7] = 1e-30
        let fast = QuantizedRows(x, ldx: 384, batch: 5, cols: 384, groupSize: 128, isa: .avx512)
        let reference = QuantizedRows(x, ldx: 384, batch: 5, cols: 384, groupSize: 128, reference: true)
        for b in 0..<5 {
            for k in 0..<384 { #expect(fast.values[b * fast.stride + k] == reference.values[b * reference.stride + k]) }
            for g in 0..<3 { #expect(fast.scales[b * 3 + g] == reference.scales[b * 3 + g]) }
        }
    }
}
