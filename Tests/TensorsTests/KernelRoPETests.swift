import Foundation
import Testing
import Tensors

/// RoPE is a rotation per pair; fast (float32) and reference (Double) agree to a few ulps: nmse < 1e-12.
@Suite("Kernel: rotary position embedding")
struct KernelRoPETests {
    typealias RNG = KernelTesting.SplitMix64

    @Test("rope matches the scalar reference, and RopeTable gives the identical result",
          arguments: [(1, 1, 2), (3, 2, 8), (5, 3, 10), (7, 12, 64), (4, 2, 34), (2, 1, 128)])
    func ropeMatchesReference(tokens: Int, heads: Int, headDim: Int) {
        var rng = RNG(seed: UInt64(tokens * 1000 + heads * 10 + headDim))
        let x = rng.normal(tokens * heads * headDim)
        // Positions up to 4000, where float32 rounding of the angle matters, plus 0 and 1.
        let positions: [Int32] = (0..<tokens).map { t in
            t == 0 ? 0 : t == 1 ? 1 : Int32.random(in: 0..<4000, using: &rng)
        }
        var fast = x, reference = x, tabled = x
        Kernels.rope(&fast, tokens: tokens, heads: heads, headDim: headDim, positions: positions, theta: 10_000)
        Kernels.Reference.rope(&reference, tokens: tokens, heads: heads, headDim: headDim, positions: positions,
                               theta: 10_000)
        KernelTesting.expectClose(fast, reference, nmse: 1e-12, maxAbs: 1e-5, "rope \(tokens)x\(heads)x\(headDim)")
        let table = RopeTable(headDim: headDim, theta: 10_000, maxPositions: 4096)
        table.apply(&tabled, tokens: tokens, heads: heads, positions: positions)
        #expect(tabled == fast, "RopeTable differs from rope")
        var fromArray = x
        Kernels.rope(&fromArray, tokens: tokens, heads: heads, headDim: headDim,
                     positions: positions.map { Int($0) }, theta: 10_000)
        #expect(fromArray == fast)
    }

    @Test("rope pairs element i with i + headDim/2 (rotate_half) and leaves position 0 unchanged")
    func ropeConvention() {
        // One head of 4: pairs (0, 2) and (1, 3); inv_freq = [1, 1/100] for theta 10000.
        var x: [Float] = [1, 0, 0, 0]
        Kernels.rope(&x, tokens: 1, heads: 1, headDim: 4, positions: [1], theta: 10_000)
        let expected: [Float] = [Float(cos(1.0)), 0, Float(sin(1.0)), 0]
        #expect(KernelTesting.maxAbsError(x, expected) < 1e-7, "\(x)")
        var y: [Float] = [0, 1, 0, 0]
        Kernels.rope(&y, tokens: 1, heads: 1, headDim: 4, positions: [100], theta: 10_000)
        let expectedY: [Float] = [0, Float(cos(1.0)), 0, Float(sin(1.0))]
        #expect(KernelTesting.maxAbsError(y, expectedY) < 1e-6, "\(y)")
        let original: [Float] = [0.3, -1, 2, 5, 7, -8]
        var z = original
        Kernels.rope(&z, tokens: 1, heads: 1, headDim: 6, positions: [0], theta: 10_000)
        #expect(z == original)
    }

    @Test("rope respects tokenStride and rotates only the heads it is given")
    func ropeTokenStride() {
        var rng = RNG(seed: 9)
        let (tokens, heads, headDim, stride) = (3, 2, 8, 40)
        let x = rng.normal(tokens * stride)
        var strided = x
        Kernels.rope(&strided, tokens: tokens, heads: heads, headDim: headDim, positions: [5, 9, 77],
                     theta: 10_000, tokenStride: stride)
        var packed = (0..<tokens).flatMap { t in x[(t * stride)..<(t * stride + heads * headDim)] }
        Kernels.rope(&packed, tokens: tokens, heads: heads, headDim: headDim, positions: [5, 9, 77], theta: 10_000)
        for t in 0..<tokens {
            #expect(Array(strided[(t * stride)..<(t * stride + heads * headDim)]) ==
                    Array(packed[(t * heads * headDim)..<((t + 1) * heads * headDim)]))
            #expect(Array(strided[(t * stride + heads * headDim)..<((t + 1) * stride)]) ==
                    Array(x[(t * stride + heads * headDim)..<((t + 1) * stride)]))
        }
    }
}
