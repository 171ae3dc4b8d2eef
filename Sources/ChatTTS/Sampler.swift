import Foundation

/// A small, fast, seedable generator (xoshiro256**, seeded through SplitMix64): a seed reproduces its audio, and
/// each sequence owns its generator so its result never depends on what else shares the batch.
public struct SeededRNG: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// Uniform in [0, 1) with 24 bits, the resolution of a float32.
    public mutating func uniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Standard normal (Box-Muller).
    public mutating func gaussian() -> Float {
        let u1 = max(Double(next() >> 11) * 0x1p-53, 1e-300)
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}

/// The logits pipeline of one step, in the reference's order: temperature, repetition penalty over the recent
/// history, top-P then top-K (each keeping at least `minKeep` tokens), EOS masked before `min_new_token`, softmax,
/// one multinomial draw.
public struct Sampler: Sendable {
    public var temperature: Float
    public var topP: Float?
    public var topK: Int?
    public var repetitionPenalty: Float
    /// Only the last `penaltyWindow` generated tokens count for the repetition penalty.
    public var penaltyWindow: Int = 16
    public var minKeep: Int = 3

    public init(temperature: Float, topP: Float?, topK: Int?, repetitionPenalty: Float) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.repetitionPenalty = repetitionPenalty
    }

    /// Transforms `logits` in place into the final scores (before softmax). `history` holds this row's previously
    /// generated tokens, oldest first; `maskedToken` (EOS before the minimum length) gets -inf.
    public func process(_ logits: UnsafeMutableBufferPointer<Float>, history: ArraySlice<Int>, maskedToken: Int? = nil) {
        let n = logits.count
        for i in 0..<n { logits[i] /= temperature }
        if repetitionPenalty != 1 {
            Self.applyRepetitionPenalty(logits, history: history.suffix(penaltyWindow), penalty: repetitionPenalty)
        }
        if let topP { Self.applyTopP(logits, topP: topP, minKeep: minKeep) }
        if let topK { Self.applyTopK(logits, topK: topK, minKeep: minKeep) }
        if let maskedToken, maskedToken >= 0, maskedToken < n { logits[maskedToken] = -.infinity }
    }

    /// Tokens seen `n` times in the window are divided by penalty^n when positive, multiplied when negative.
    static func applyRepetitionPenalty(_ logits: UnsafeMutableBufferPointer<Float>, history: ArraySlice<Int>, penalty: Float) {
        var counts: [Int: Int] = [:]
        for token in history where token >= 0 && token < logits.count { counts[token, default: 0] += 1 }
        for (token, count) in counts {
            let alpha = Foundation.pow(penalty, Float(count))
            let x = logits[token]
            logits[token] = x < 0 ? x * alpha : x / alpha
        }
    }

    /// Removes the least likely tokens whose cumulative probability (ascending order) stays within 1 - topP.
    static func applyTopP(_ logits: UnsafeMutableBufferPointer<Float>, topP: Float, minKeep: Int) {
        let n = logits.count
        let order = ascendingOrder(logits)
        let maxValue = logits[order[n - 1]]
        guard maxValue > -.infinity else { return }
        var probabilities = order.map { Foundation.exp(logits[$0] - maxValue) }
        let total = probabilities.reduce(0, +)
        var cumulative: Float = 0
        for i in 0..<n {
            cumulative += probabilities[i] / total
            probabilities[i] = cumulative
        }
        for i in 0..<max(0, n - minKeep) where probabilities[i] <= 1 - topP {
            logits[order[i]] = -.infinity
        }
    }

    /// Keeps tokens whose score is at least the k-th largest (ties kept).
    static func applyTopK(_ logits: UnsafeMutableBufferPointer<Float>, topK: Int, minKeep: Int) {
        let k = min(max(topK, minKeep), logits.count)
        guard k < logits.count else { return }
        // The k-th largest value (duplicates counted), what `logits.sorted(by: >)[k - 1]` gives, from the k largest
        // kept in a small descending buffer: after top-P most logits are -inf and never enter it.
        var largest = [Float](repeating: -.infinity, count: k)
        for x in logits where x > largest[k - 1] {
            var j = k - 1
            while j > 0 && largest[j - 1] < x {
                largest[j] = largest[j - 1]
                j -= 1
            }
            largest[j] = x
        }
        let threshold = largest[k - 1]
        for i in 0..<logits.count where logits[i] < threshold { logits[i] = -.infinity }
    }

    /// Indices of `logits` by ascending value, equal values by ascending index: the order of sorting the pairs
    /// (value, index), computed as one sort of integer keys (the value's bits made order-preserving, the index
    /// below them), several times faster than sorting with a closure. -0.0 counts as 0.0, as it compares; NaN as
    /// -inf.
    static func ascendingOrder(_ logits: UnsafeMutableBufferPointer<Float>) -> [Int] {
        precondition(logits.count <= Int(UInt32.max), "too many logits")
        var keys = [UInt64](repeating: 0, count: logits.count)
        for i in 0..<logits.count {
            let x = logits[i]
            // NaN (a broken model) sorts with -inf instead of trapping.
            let bits = (x.isNaN ? -Float.infinity : x == 0 ? Float(0) : x).bitPattern
            // Positive floats order like their bits; negative ones in reverse: flip all bits of negatives, the sign
            // bit of positives.
            let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
            keys[i] = UInt64(ordered) << 32 | UInt64(i)
        }
        keys.sort()
        return keys.map { Int($0 & 0xFFFF_FFFF) }
    }

    /// Softmax and one draw. With no finite score, returns the argmax of the raw input (never happens in practice).
    public static func draw(_ scores: UnsafeMutableBufferPointer<Float>, rng: inout SeededRNG) -> Int {
        var best = 0
        for i in 1..<scores.count where scores[i] > scores[best] { best = i }
        let maxValue = scores[best]
        guard maxValue > -.infinity else { return best }
        var total: Float = 0
        for i in 0..<scores.count {
            let p = scores[i] == -.infinity ? 0 : Foundation.exp(scores[i] - maxValue)
            scores[i] = p
            total += p
        }
        let target = rng.uniform() * total
        var cumulative: Float = 0
        for i in 0..<scores.count where scores[i] > 0 {
            cumulative += scores[i]
            if target < cumulative { return i }
        }
        return best
    }
}
