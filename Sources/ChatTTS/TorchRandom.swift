import Foundation

/// PyTorch's CPU generator (`torch.manual_seed`, then `torch.randn(n, dtype=torch.float16)`), reproduced bit for bit
/// so that `seed:N` is the official ChatTTS voice of seed N.
///
/// The generator is MT19937. `torch.manual_seed` accepts any 64-bit seed but seeds the 32-bit Mersenne Twister state
/// with its low 32 bits only, so seeds 5, 2^32 + 5 and 2^63 + 5 draw the same numbers. Measured against torch 2.11.0
/// (`Tests/Fixtures/reference/seed_voices.json`).
struct TorchGenerator {
    private var state: [UInt32]
    private var index: Int

    private static let size = 624, shift = 397

    init(seed: UInt64) {
        state = [UInt32](repeating: 0, count: Self.size)
        state[0] = UInt32(truncatingIfNeeded: seed)
        for i in 1..<Self.size {
            state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i)
        }
        index = Self.size
    }

    /// The next 32-bit output (`random()` of torch's CPU generator).
    mutating func next() -> UInt32 {
        if index == Self.size { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        return y ^ (y >> 18)
    }

    private mutating func twist() {
        for i in 0..<Self.size {
            let y = (state[i] & 0x8000_0000) | (state[(i + 1) % Self.size] & 0x7FFF_FFFF)
            state[i] = state[(i + Self.shift) % Self.size] ^ (y >> 1) ^ (y & 1 == 0 ? 0 : 0x9908_B0DF)
        }
        index = 0
    }

    /// A uniform float16 in [0, 1): the low 11 bits of one output (float16's significand digits) over 2048, exact.
    private mutating func uniformHalf() -> Float16 {
        Float16(Float(next() & 0x7FF) / 2048)
    }

    /// `torch.randn(count, dtype=torch.float16)` on the CPU for a contiguous tensor of at least 16 values (torch
    /// draws smaller ones another way; no ChatTTS model is that small).
    ///
    /// ATen's kernel fills the tensor with uniform float16 values first, then runs Box-Muller in blocks of 16: value
    /// j < 8 of a block pairs with value j + 8, u1 = 1 - u[j], u2 = u[j + 8], radius = sqrt(-2 log u1),
    /// theta = 2 pi u2, out[j] = radius cos theta, out[j + 8] = radius sin theta. When 16 does not divide the count it
    /// draws 16 fresh uniforms for the last 16 values and recomputes them. Every step is float16: each function is
    /// evaluated in float and rounded to float16, and so is each product (measured: rounding only the end result
    /// differs from torch in about a third of the values). The kernel's final `* std + mean` with std 1 and mean 0
    /// leaves the value unchanged except that adding +0 turns -0 (from u1 = 1) into +0.
    mutating func standardNormalHalf(count: Int) -> [Float16] {
        precondition(count >= 16, "torch draws fewer than 16 normal values another way")
        var values = (0..<count).map { _ in uniformHalf() }
        for start in stride(from: 0, through: count - 16, by: 16) { Self.boxMuller(&values, at: start) }
        if count % 16 != 0 {
            for i in (count - 16)..<count { values[i] = uniformHalf() }
            Self.boxMuller(&values, at: count - 16)
        }
        return values
    }

    private static func boxMuller(_ values: inout [Float16], at start: Int) {
        func half(_ x: Float) -> Float { Float(Float16(x)) }
        for j in start..<(start + 8) {
            let u1 = half(1 - Float(values[j])), u2 = Float(values[j + 8])
            let radius = half(sqrt(half(-2 * half(log(u1)))))
            let theta = half(Float(2 * Double.pi * Double(u2)))
            values[j] = Float16(half(radius * half(cos(theta))) + 0)
            values[j + 8] = Float16(half(radius * half(sin(theta))) + 0)
        }
    }
}
