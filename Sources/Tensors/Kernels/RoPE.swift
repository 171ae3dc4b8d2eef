import Foundation

/// Rotary position embedding, Hugging Face Llama convention ("rotate_half"), as the GPT's LlamaModel applies
/// it to queries and keys.
///
/// Within each head of `headDim` floats, element i pairs with element i + headDim/2 (not 2i with 2i + 1, the
/// GPT-J / Meta convention):
///
///     out[i]        = x[i] * cos(f_i) - x[i + half] * sin(f_i)
///     out[i + half] = x[i + half] * cos(f_i) + x[i] * sin(f_i)        for i in 0..<half
///
/// with f_i = position * inv_freq[i] and inv_freq[i] = 1 / theta^(2i / headDim). The angles are computed in
/// float32 exactly as transformers 4.57 does (`inv_freq` is a float32 tensor, freqs = float(position) *
/// inv_freq rounded to float32, then float32 cos/sin), because at large positions the float32 rounding of the
/// angle is visible in the output and parity with PyTorch means reproducing it, not computing it better.
extension Kernels {
    /// inv_freq[i] = 1 / theta^(float(2i) / float(headDim)), all in float32 like transformers'
    /// `_compute_default_rope_parameters`.
    static func ropeInverseFrequencies(headDim: Int, theta: Float, into invFreq: UnsafeMutablePointer<Float>) {
        for i in 0..<(headDim / 2) {
            invFreq[i] = 1 / Foundation.pow(theta, Float(2 * i) / Float(headDim))
        }
    }

    /// Rotates the pairs of every head of one token by the angles whose cos/sin are given ([half] each).
    @inline(__always)
    static func ropeRotate(
        _ token: UnsafeMutablePointer<Float>, heads: Int, headDim: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        let half = headDim / 2
        for h in 0..<heads {
            let x1 = token + h * headDim
            let x2 = x1 + half
            var i = 0
            while i + lanes <= half {
                let a = load(x1 + i), b = load(x2 + i)
                let c = load(cos + i), s = load(sin + i)
                store(a * c - b * s, x1 + i)
                store(b * c + a * s, x2 + i)
                i += lanes
            }
            while i < half {
                let a = x1[i], b = x2[i]
                x1[i] = a * cos[i] - b * sin[i]
                x2[i] = b * cos[i] + a * sin[i]
                i += 1
            }
        }
    }

    /// Applies RoPE in place to x [tokens, heads, headDim], token t at position `positions[t]`.
    ///
    /// `tokenStride` (default heads * headDim) is the distance in floats between tokens, so q or k can be rotated
    /// inside a wider row. Computes the angles per call (half cos/sin per token, no heap allocation); a model
    /// that runs many steps should build a `RopeTable` once and use it instead (identical results).
    public static func rope(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, headDim: Int,
        positions: UnsafePointer<Int32>, theta: Float, tokenStride: Int? = nil
    ) {
        precondition(headDim > 0 && headDim % 2 == 0, "rope: headDim \(headDim) must be even")
        let stride = tokenStride ?? heads * headDim
        let half = headDim / 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * half) { scratch in
            let invFreq = scratch.baseAddress!, cos = invFreq + half, sin = cos + half
            ropeInverseFrequencies(headDim: headDim, theta: theta, into: invFreq)
            for t in 0..<tokens {
                let position = Float(positions[t])
                for i in 0..<half {
                    let angle = position * invFreq[i]
                    cos[i] = Foundation.cos(angle)
                    sin[i] = Foundation.sin(angle)
                }
                ropeRotate(x + t * stride, heads: heads, headDim: headDim, cos: cos, sin: sin)
            }
        }
    }

    /// `rope` with positions as an array.
    public static func rope(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, headDim: Int,
        positions: [Int], theta: Float, tokenStride: Int? = nil
    ) {
        precondition(positions.count >= tokens, "rope: \(positions.count) positions for \(tokens) tokens")
        let narrow = positions.map { Int32(clamping: $0) }
        rope(x, tokens: tokens, heads: heads, headDim: headDim, positions: narrow, theta: theta,
             tokenStride: tokenStride)
    }
}

/// Precomputed RoPE angles, cos and sin [maxPositions, headDim/2], for the Hugging Face Llama convention
/// described on `Kernels.rope`. Built once per model (64 x 2048 positions = 512 KiB), immutable and shared by
/// every request; applying it is then two multiplies and an add per element.
///
/// The table holds exactly the float32 values `Kernels.rope` computes on the fly, so both give identical results.
public struct RopeTable: Sendable {
    public let headDim: Int
    public let theta: Float
    public let maxPositions: Int
    /// [maxPositions, headDim/2]
    private let cosines: [Float]
    /// [maxPositions, headDim/2]
    private let sines: [Float]

    public init(headDim: Int, theta: Float, maxPositions: Int) {
        precondition(headDim > 0 && headDim % 2 == 0, "RopeTable: headDim \(headDim) must be even")
        precondition(maxPositions >= 0, "RopeTable: negative maxPositions")
        self.headDim = headDim
        self.theta = theta
        self.maxPositions = maxPositions
        let half = headDim / 2
        var invFreq = [Float](repeating: 0, count: half)
        invFreq.withUnsafeMutableBufferPointer { Kernels.ropeInverseFrequencies(headDim: headDim, theta: theta,
                                                                                into: $0.baseAddress!) }
        var cosines = [Float](repeating: 0, count: maxPositions * half)
        var sines = [Float](repeating: 0, count: maxPositions * half)
        for p in 0..<maxPositions {
            for i in 0..<half {
                let angle = Float(p) * invFreq[i]
                cosines[p * half + i] = Foundation.cos(angle)
                sines[p * half + i] = Foundation.sin(angle)
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// Applies RoPE in place to x [tokens, heads, headDim]; every position must be in 0..<maxPositions.
    /// `tokenStride` as in `Kernels.rope`.
    public func apply(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int,
        positions: UnsafePointer<Int32>, tokenStride: Int? = nil
    ) {
        let stride = tokenStride ?? heads * headDim
        let half = headDim / 2
        cosines.withUnsafeBufferPointer { cosines in
            sines.withUnsafeBufferPointer { sines in
                for t in 0..<tokens {
                    let p = Int(positions[t])
                    precondition(p >= 0 && p < maxPositions, "RopeTable: position \(p) outside 0..<\(maxPositions)")
                    Kernels.ropeRotate(x + t * stride, heads: heads, headDim: headDim,
                                       cos: cosines.baseAddress! + p * half, sin: sines.baseAddress! + p * half)
                }
            }
        }
    }

    /// `apply` with positions as an array.
    public func apply(_ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, positions: [Int],
                      tokenStride: Int? = nil) {
        precondition(positions.count >= tokens, "RopeTable: \(positions.count) positions for \(tokens) tokens")
        let narrow = positions.map { Int32(clamping: $0) }
        apply(x, tokens: tokens, heads: heads, positions: narrow, tokenStride: tokenStride)
    }
}

extension Kernels.Reference {
    /// Scalar twin of `Kernels.rope`: the same float32 angles (that is the convention, see `Kernels.rope`), then
    /// cos, sin and the rotation in Double.
    public static func rope(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, headDim: Int,
        positions: UnsafePointer<Int32>, theta: Float, tokenStride: Int? = nil
    ) {
        let stride = tokenStride ?? heads * headDim
        let half = headDim / 2
        for t in 0..<tokens {
            for i in 0..<half {
                let invFreq: Float = 1 / Foundation.pow(theta, Float(2 * i) / Float(headDim))
                let angle = Double(Float(positions[t]) * invFreq)
                let (c, s) = (Foundation.cos(angle), Foundation.sin(angle))
                for h in 0..<heads {
                    let base = t * stride + h * headDim
                    let a = Double(x[base + i]), b = Double(x[base + i + half])
                    x[base + i] = Float(a * c - b * s)
                    x[base + i + half] = Float(b * c + a * s)
                }
            }
        }
    }
}
