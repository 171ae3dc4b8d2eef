import Foundation
import Testing
@testable import Tensors

/// The vectorized exp/erf are a few float ulps from exact: nmse < 1e-12 against Double references.
@Suite("Kernel: activations")
struct KernelActivationTests {
    typealias RNG = KernelTesting.SplitMix64
    static let counts = [1, 3, 8, 15, 16, 17, 100, 3072, 3077]

    /// Runs an in-place kernel on a copy.
    static func applied(_ x: [Float], _ kernel: (UnsafeMutablePointer<Float>, Int) -> Void) -> [Float] {
        var copy = x
        copy.withUnsafeMutableBufferPointer { kernel($0.baseAddress!, $0.count) }
        return copy
    }

    @Test("softmax matches the scalar reference, including masked (-inf) entries", arguments: counts)
    func softmaxMatchesReference(count: Int) {
        var rng = RNG(seed: UInt64(count))
        for scale: Float in [1, 10, 60] {
            var x = rng.normal(count, scale: scale)
            if count > 2 { for i in stride(from: 1, to: count, by: 3) { x[i] = -.infinity } }
            let fast = Self.applied(x) { Kernels.softmax($0, count: $1) }
            let reference = Self.applied(x) { Kernels.Reference.softmax($0, count: $1) }
            KernelTesting.expectClose(fast, reference, nmse: 1e-12, maxAbs: 1e-6, "softmax n \(count) scale \(scale)")
            if count > 2 { #expect(fast[1] == 0, "a masked entry must be exactly 0") }
            let total = fast.reduce(0.0) { $0 + Double($1) }
            #expect(abs(total - 1) < 1e-5, "softmax sums to \(total)")
        }
    }

    @Test("softmax of equal values is uniform; an all -inf row becomes zeros; rows are independent")
    func softmaxKnownValues() {
        let uniform = Self.applied([Float](repeating: 3.5, count: 11)) { Kernels.softmax($0, count: $1) }
        #expect(uniform.allSatisfy { abs($0 - 1 / 11) < 1e-7 }, "\(uniform)")
        let masked = Self.applied([Float](repeating: -.infinity, count: 9)) { Kernels.softmax($0, count: $1) }
        #expect(masked == [Float](repeating: 0, count: 9))
        let pair = Self.applied([0, Float(log(3.0))]) { Kernels.softmax($0, count: $1) }
        #expect(abs(pair[0] - 0.25) < 1e-7 && abs(pair[1] - 0.75) < 1e-7, "\(pair)")
        let rows = Self.applied([1, 2, 3, -.infinity, -.infinity, -.infinity, 5, 5, 5]) {
            Kernels.softmax($0, rows: 3, cols: $1 / 3)
        }
        let expected = Self.applied([1, 2, 3, -.infinity, -.infinity, -.infinity, 5, 5, 5]) {
            Kernels.Reference.softmax($0, rows: 3, cols: $1 / 3)
        }
        KernelTesting.expectClose(rows, expected, nmse: 1e-12, maxAbs: 1e-6, "softmax rows")
        #expect(Array(rows[3..<6]) == [0, 0, 0])
    }

    @Test("silu matches the scalar reference", arguments: counts)
    func siluMatchesReference(count: Int) {
        var rng = RNG(seed: UInt64(100 + count))
        var x = rng.normal(count, scale: 4)
        if count >= 8 { x[0] = 100; x[1] = -100; x[2] = 0; x[3] = 90; x[4] = -90 }
        let fast = Self.applied(x) { Kernels.silu($0, count: $1) }
        let reference = Self.applied(x) { Kernels.Reference.silu($0, count: $1) }
        KernelTesting.expectClose(fast, reference, nmse: 1e-12, maxAbs: 1e-5, "silu n \(count)")
    }

    @Test("siluMul matches the scalar reference", arguments: counts)
    func siluMulMatchesReference(count: Int) {
        var rng = RNG(seed: UInt64(200 + count))
        let gate = rng.normal(count, scale: 3), up = rng.normal(count)
        var fast = gate, reference = gate
        Kernels.siluMul(gate: &fast, up: up, count: count)
        Kernels.Reference.siluMul(gate: &reference, up: up, count: count)
        KernelTesting.expectClose(fast, reference, nmse: 1e-12, maxAbs: 1e-5, "siluMul n \(count)")
    }

    @Test("siluMul in every instruction set matches the scalar reference", arguments: counts)
    func siluMulPerISAMatchesReference(count: Int) {
        var rng = RNG(seed: UInt64(300 + count))
        var gate = rng.normal(count, scale: 3), up = rng.normal(count)
        if count > 2 { gate[0] = -100; gate[1] = 100 }  // e^-g past both ends of exp's range
        var reference = gate
        Kernels.Reference.siluMul(gate: &reference, up: up, count: count)
        for isa in KernelISA.available {
            var fast = gate
            Kernels.siluMul(gate: &fast, up: up, count: count, isa: isa)
            KernelTesting.expectClose(fast, reference, nmse: 1e-12, maxAbs: 1e-5, "siluMul \(isa) n \(count)")
        }
    }

    @Test("float16 KV writes in every instruction set round to nearest and saturate, bit for bit alike")
    func halfKVWritesMatch() {
        var rng = RNG(seed: 42)
        let dim = 64, positions = 40
        var key = rng.normal(dim * positions, scale: 5), value = rng.normal(dim * positions, scale: 5)
        key[3] = 70_000; key[4] = -1e9; value[5] = 65_519; value[6] = 65_520; value[7] = 1e-8
        func written(_ isa: KernelISA) -> [Float16] {
            var keys = [Float16](repeating: 0, count: 48 * dim), values = [Float16](repeating: 0, count: 48 * dim)
            for t in 0..<positions {
                Kernels.storeHalfKV(key: Array(key[(t * dim)..<((t + 1) * dim)]),
                                    value: Array(value[(t * dim)..<((t + 1) * dim)]),
                                    keys: &keys, values: &values, position: t, dim: dim, isa: isa)
            }
            return keys + values
        }
        let baseline = written(.baseline)
        #expect(baseline[Kernels.keyTileOffset(position: 0, dimension: 3, dim: dim)] == 65504)
        #expect(baseline[Kernels.keyTileOffset(position: 0, dimension: 4, dim: dim)] == -65504)
        #expect(baseline[48 * dim + 5] == Float16(Float(65_519)) && baseline[48 * dim + 6] == 65504)
        for t in 0..<positions {
            for d in 0..<dim {
                #expect(baseline[48 * dim + t * dim + d] == Float16(max(-65504, min(65504, value[t * dim + d]))))
            }
        }
        for isa in KernelISA.available where isa != .baseline {
            let other = written(isa)
            #expect(other.map(\.bitPattern) == baseline.map(\.bitPattern), "\(isa)")
        }
    }

    @Test("gelu matches the scalar reference", arguments: counts)
    func geluMatchesReference(count: Int) {
        var rng = RNG(seed: UInt64(300 + count))
        let x = rng.normal(count, scale: 3)
        let fast = Self.applied(x) { Kernels.gelu($0, count: $1) }
        let reference = Self.applied(x) { Kernels.Reference.gelu($0, count: $1) }
        // The negative tail is 0.5 x (1 + erf) with cancellation in float32 (in PyTorch too), so its error is
        // absolute, not relative to the tiny output: bound each element by 1e-6 * max(1, |x|), and the nmse only
        // where enough inputs are positive to give the output its energy.
        for i in 0..<count {
            #expect(abs(fast[i] - reference[i]) <= 1e-6 * max(1, abs(x[i])),
                    "gelu(\(x[i])) = \(fast[i]), not \(reference[i])")
        }
        if count >= 100 {
            KernelTesting.expectClose(fast, reference, nmse: 1e-12, maxAbs: 5e-6, "gelu n \(count)")
        }
    }

    @Test("gelu stays within 1e-6 of PyTorch's formula with erff, relative to max(1, |x|), on a dense grid")
    func geluAgainstErff() {
        // Every float step of 1/4096 in [-12, 12] plus the extremes: the approximation's whole range and tails.
        var x = stride(from: Float(-12), through: 12, by: 1.0 / 4096).map { $0 }
        x += [-1e30, -1e5, -50, -5.5, 1e-30, -1e-30, 50, 1e5, 1e30, .greatestFiniteMagnitude]
        let fast = Self.applied(x) { Kernels.gelu($0, count: $1) }
        var worst: Float = 0, worstAt: Float = 0
        for (i, v) in x.enumerated() {
            let torch = v * 0.5 * (1 + erff(v * Float(0.5).squareRoot()))
            let error = abs(fast[i] - torch) / max(1, abs(v))
            if error > worst { (worst, worstAt) = (error, v) }
        }
        #expect(worst < 1e-6, "worst relative error \(worst) at x = \(worstAt)")
    }

    @Test("gelu known values: GELU(0) = 0, GELU(1) = 0.8413447, GELU(-1) = -0.1586553")
    func geluKnownValues() {
        let y = Self.applied([0, 1, -1, 3, -3]) { Kernels.gelu($0, count: $1) }
        #expect(y[0] == 0)
        #expect(abs(y[1] - 0.841_344_7) < 1e-6, "\(y[1])")
        #expect(abs(y[2] + 0.158_655_3) < 1e-6, "\(y[2])")
        #expect(abs(y[3] - 2.995_950_3) < 1e-6, "\(y[3])")
        #expect(abs(y[4] + 0.004_049_7) < 1e-6, "\(y[4])")
    }

    /// Evaluates a vector function over `x`, 8 lanes at a time.
    static func vectorMap(_ x: [Float], _ f: (SIMD8<Float>) -> SIMD8<Float>) -> [Float] {
        var out = [Float]()
        var i = 0
        while i < x.count {
            var v = SIMD8<Float>()
            for lane in 0..<8 where i + lane < x.count { v[lane] = x[i + lane] }
            let y = f(v)
            for lane in 0..<8 where i + lane < x.count { out.append(y[lane]) }
            i += 8
        }
        return out
    }

    @Test("the vectorized exp is within 2 ulp of exp on [-87, 88] and exactly 0 below")
    func vectorExp() {
        let x = stride(from: Float(-87), through: 88, by: 1.0 / 512).map { $0 } + [0, -0.0, 1e-20, -1e-20]
        let y = Self.vectorMap(x) { Kernels.exp($0) }
        var worst = 0.0, worstAt: Float = 0
        for (v, e) in zip(x, y) {
            let exact = Foundation.exp(Double(v))
            let ulps = abs(Double(e) - exact) / Double(Float(exact).ulp)
            if ulps > worst { (worst, worstAt) = (ulps, v) }
        }
        #expect(worst <= 2, "worst error \(worst) ulp at x = \(worstAt)")
        let low = Self.vectorMap([-87.5, -100, -1e30, -.infinity]) { Kernels.exp($0) }
        #expect(low == [0, 0, 0, 0])
        #expect(Self.vectorMap([0]) { Kernels.exp($0) } == [1])
    }

    @Test("the vectorized erf is within 4e-7 of erf everywhere, odd, and never leaves [-1, 1]")
    func vectorErf() {
        let x = stride(from: Float(-8), through: 8, by: 1.0 / 2048).map { $0 } + [1e-30, -1e-30, 1e30, -1e30]
        let y = Self.vectorMap(x) { Kernels.erf($0) }
        var worst = 0.0, worstAt: Float = 0
        for (v, e) in zip(x, y) {
            let error = abs(Double(e) - Foundation.erf(Double(v)))
            if error > worst { (worst, worstAt) = (error, v) }
        }
        #expect(worst < 4e-7, "worst error \(worst) at x = \(worstAt)")
        #expect(y.allSatisfy { abs($0) <= 1 })
        // Odd, and erf(0) == 0.
        #expect(Self.vectorMap(x.map { -$0 }) { Kernels.erf($0) } == y.map { -$0 })
        #expect(Self.vectorMap([0]) { Kernels.erf($0) } == [0])
    }
}
