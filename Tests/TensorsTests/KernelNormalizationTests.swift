import Testing
import Tensors

/// float32 row reductions against Double: relative errors ~1e-7, so nmse < 1e-12 and max abs < 1e-5 on
/// outputs of order 1-5.
@Suite("Kernel: normalization")
struct KernelNormalizationTests {
    typealias RNG = KernelTesting.SplitMix64
    static let shapes = [(1, 1), (1, 7), (3, 8), (2, 17), (4, 64), (3, 768), (2, 1000), (1, 3071)]

    @Test("rmsNorm matches the scalar reference", arguments: shapes)
    func rmsNormMatchesReference(rows: Int, dim: Int) {
        var rng = RNG(seed: UInt64(rows * 10_007 + dim))
        let x = rng.normal(rows * dim, scale: 3)
        let weight = rng.uniform(dim, in: 0.5...1.5)
        var fast = [Float](repeating: .nan, count: x.count), reference = fast
        Kernels.rmsNorm(x, weight: weight, eps: 1e-6, rows: rows, dim: dim, out: &fast)
        Kernels.Reference.rmsNorm(x, weight: weight, eps: 1e-6, rows: rows, dim: dim, out: &reference)
        KernelTesting.expectClose(fast, reference, nmse: 1e-12, maxAbs: 1e-5, "rmsNorm \(rows)x\(dim)")
    }

    @Test("rmsNorm works in place and normalizes to unit root mean square")
    func rmsNormInPlace() {
        var rng = RNG(seed: 42)
        let dim = 37
        var x = rng.normal(2 * dim, scale: 10)
        let ones = [Float](repeating: 1, count: dim)
        x.withUnsafeMutableBufferPointer { p in
            Kernels.rmsNorm(p.baseAddress!, weight: ones, eps: 0, rows: 2, dim: dim, out: p.baseAddress!)
        }
        for r in 0..<2 {
            let meanSquare = x[(r * dim)..<((r + 1) * dim)].reduce(0) { $0 + Double($1) * Double($1) } / Double(dim)
            #expect(abs(meanSquare - 1) < 1e-5, "row \(r) mean square \(meanSquare)")
        }
    }

    @Test("layerNorm matches the scalar reference, with and without affine parameters", arguments: shapes)
    func layerNormMatchesReference(rows: Int, dim: Int) {
        var rng = RNG(seed: UInt64(rows * 20_011 + dim))
        // An offset mean checks the two-pass variance.
        let x = rng.normal(rows * dim, scale: 2).map { $0 + 5 }
        let weight = rng.normal(dim), bias = rng.normal(dim)
        for affine in [true, false] {
            var fast = [Float](repeating: .nan, count: x.count), reference = fast
            weight.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    let (wp, bp) = affine ? (w.baseAddress, b.baseAddress) : (nil, nil)
                    Kernels.layerNorm(x, weight: wp, bias: bp, eps: 1e-6, rows: rows, dim: dim, out: &fast)
                    Kernels.Reference.layerNorm(x, weight: wp, bias: bp, eps: 1e-6, rows: rows, dim: dim,
                                                out: &reference)
                }
            }
            KernelTesting.expectClose(fast, reference, nmse: 1e-12, maxAbs: 1e-5,
                                      "layerNorm \(rows)x\(dim) affine \(affine)")
        }
    }

    @Test("layerNorm uses the biased variance, like torch.nn.LayerNorm")
    func layerNormByHand() {
        // mean 2.5, biased variance 1.25: (x - 2.5) / sqrt(1.25)
        var out = [Float](repeating: 0, count: 4)
        Kernels.layerNorm([1, 2, 3, 4], weight: nil, bias: nil, eps: 0, rows: 1, dim: 4, out: &out)
        let s = Float(1.25).squareRoot()
        let expected: [Float] = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]
        #expect(KernelTesting.maxAbsError(out, expected) < 1e-6, "\(out)")
        // A constant row normalizes to zeros (eps keeps it finite), then takes the bias.
        Kernels.layerNorm([7, 7, 7], weight: [2, 2, 2], bias: [1, 2, 3], eps: 1e-5, rows: 1, dim: 3, out: &out)
        #expect(Array(out[0..<3]) == [1, 2, 3])
    }
}
