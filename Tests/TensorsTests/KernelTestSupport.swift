import Foundation
import Testing

/// Helpers shared by the Kernel* tests, in a namespace so they cannot collide with other test files.
enum KernelTesting {
    /// SplitMix64 (Steele, Lea, Flood 2014): a tiny, seeded, deterministic generator, so every run of the
    /// kernel tests sees the same inputs and a failure can be replayed.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64

        init(seed: UInt64) { state = seed }

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        /// Uniform floats in `range`.
        mutating func uniform(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
            (0..<count).map { _ in Float.random(in: range, using: &self) }
        }

        /// Standard normal floats (Box-Muller) times `scale`.
        mutating func normal(_ count: Int, scale: Float = 1) -> [Float] {
            (0..<count).map { _ in
                let u1 = Double.random(in: Double.ulpOfOne...1, using: &self)
                let u2 = Double.random(in: 0..<1, using: &self)
                return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)) * scale
            }
        }
    }

    /// Normalized mean squared error sum((a - b)^2) / sum(b^2), b the reference (ggml's test-backend-ops measure).
    /// 0 when both are all zeros.
    static func nmse(_ actual: [Float], _ expected: [Float]) -> Double {
        precondition(actual.count == expected.count, "nmse: \(actual.count) vs \(expected.count) values")
        var error = 0.0, energy = 0.0
        for (a, b) in zip(actual, expected) {
            error += (Double(a) - Double(b)) * (Double(a) - Double(b))
            energy += Double(b) * Double(b)
        }
        if energy == 0 { return error == 0 ? 0 : .infinity }
        return error / energy
    }

    static func maxAbsError(_ actual: [Float], _ expected: [Float]) -> Float {
        precondition(actual.count == expected.count, "maxAbsError: \(actual.count) vs \(expected.count) values")
        return zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
    }

    /// Records an issue unless `actual` is within `nmse` (normalized MSE) and `maxAbs` of `expected`.
    static func expectClose(_ actual: [Float], _ expected: [Float], nmse limit: Double, maxAbs: Float,
                            _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = nmse(actual, expected)
        let worst = maxAbsError(actual, expected)
        #expect(error < limit && worst <= maxAbs,
                "\(what()): nmse \(error) (limit \(limit)), max abs error \(worst) (limit \(maxAbs))",
                sourceLocation: sourceLocation)
    }
}
