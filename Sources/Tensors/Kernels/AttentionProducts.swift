import TensorsAVX2
import TensorsAVX512
import TensorsSIMD

/// The two products of attention over a KV cache, for one query row and one head (the softmax in between is
/// `Kernels.softmax`). Keys are tiles of 16 positions, dimension-major inside a tile (`keyTileOffset` in
/// `TensorsSIMD/AttentionKernels.swift`); values are rows with `stride` floats between positions.
/// How a KV cache stores its keys and values.
public enum KVPrecision: String, Sendable, CaseIterable {
    /// Exact.
    case f32
    /// Half the bytes; widened on load, float32 arithmetic.
    case f16

    public var bytes: Int { self == .f32 ? 4 : 2 }
}

extension Kernels {
    /// out[t] = scale * dot(q, key t) over `dim` floats, t in 0..<count, keys tiled (`keyTileOffset`) and stored in
    /// `precision`.
    public static func attentionScores(
        q: UnsafePointer<Float>, keyTiles: UnsafeRawPointer, precision: KVPrecision, count: Int, dim: Int,
        scale: Float, out: UnsafeMutablePointer<Float>, isa: KernelISA = .best
    ) {
        switch (isa.swiftCopy, precision) {
        case (.avx512, .f32):
            avx512AttentionScores(q: q, keyTiles: keyTiles.assumingMemoryBound(to: Float.self), count: count,
                                  dim: dim, scale: scale, out: out)
        case (.avx512, .f16):
            avx512AttentionScores(q: q, keyTiles: keyTiles.assumingMemoryBound(to: Float16.self), count: count,
                                  dim: dim, scale: scale, out: out)
        case (.avx2, .f32):
            avx2AttentionScores(q: q, keyTiles: keyTiles.assumingMemoryBound(to: Float.self), count: count,
                                dim: dim, scale: scale, out: out)
        case (.avx2, .f16):
            avx2AttentionScores(q: q, keyTiles: keyTiles.assumingMemoryBound(to: Float16.self), count: count,
                                dim: dim, scale: scale, out: out)
        case (_, .f32):
            TensorsSIMD.attentionScores(q: q, keyTiles: keyTiles, KVFloat32.self, count: count, dim: dim,
                                        scale: scale, out: out, fused: false)
        case (_, .f16):
            TensorsSIMD.attentionScores(q: q, keyTiles: keyTiles, KVFloat16.self, count: count, dim: dim,
                                        scale: scale, out: out, fused: false)
        }
    }

    /// Index in values of dimension d of position t in tiled keys.
    @inline(__always)
    public static func keyTileOffset(position t: Int, dimension d: Int, dim: Int) -> Int {
        TensorsSIMD.keyTileOffset(position: t, dimension: d, dim: dim)
    }

    /// One head's key and value at `position` into a float16 cache (keys tiled, values in rows of `dim`), rounded
    /// to nearest and saturated at +-65504, in the instruction set of `isa`: F16C converts where AVX2 or AVX-512
    /// is there, the baseline code calls a library function per element (2-3 % of a long prefill).
    public static func storeHalfKV(key: UnsafePointer<Float>, value: UnsafePointer<Float>,
                                   keys: UnsafeMutablePointer<Float16>, values: UnsafeMutablePointer<Float16>,
                                   position: Int, dim: Int, isa: KernelISA) {
        switch isa.swiftCopy {
        case .avx512: avx512StoreHalfKV(key: key, value: value, keys: keys, values: values, position: position, dim: dim)
        case .avx2: avx2StoreHalfKV(key: key, value: value, keys: keys, values: values, position: position, dim: dim)
        default:
            TensorsSIMD.storeHalfKV(key: key, value: value, keys: keys, values: values, position: position, dim: dim)
        }
    }

    /// out[d] = sum_t weights[t] * values[t * stride + d], d in 0..<dim (out is overwritten), values stored in
    /// `precision`.
    public static func attentionMix(
        weights: UnsafePointer<Float>, values: UnsafeRawPointer, precision: KVPrecision, stride: Int, count: Int,
        dim: Int, out: UnsafeMutablePointer<Float>, isa: KernelISA = .best
    ) {
        switch (isa.swiftCopy, precision) {
        case (.avx512, .f32):
            avx512AttentionMix(weights: weights, values: values.assumingMemoryBound(to: Float.self), stride: stride,
                               count: count, dim: dim, out: out)
        case (.avx512, .f16):
            avx512AttentionMix(weights: weights, values: values.assumingMemoryBound(to: Float16.self), stride: stride,
                               count: count, dim: dim, out: out)
        case (.avx2, .f32):
            avx2AttentionMix(weights: weights, values: values.assumingMemoryBound(to: Float.self), stride: stride,
                             count: count, dim: dim, out: out)
        case (.avx2, .f16):
            avx2AttentionMix(weights: weights, values: values.assumingMemoryBound(to: Float16.self), stride: stride,
                             count: count, dim: dim, out: out)
        case (_, .f32):
            TensorsSIMD.attentionMix(weights: weights, values: values, KVFloat32.self, stride: stride, count: count,
                                     dim: dim, out: out, fused: false)
        case (_, .f16):
            TensorsSIMD.attentionMix(weights: weights, values: values, KVFloat16.self, stride: stride, count: count,
                                     dim: dim, out: out, fused: false)
        }
    }
}

extension Kernels.Reference {
    /// Scalar twin of `Kernels.attentionScores`, in Double, over keys as rows (`stride` floats apart).
    public static func attentionScores(
        q: UnsafePointer<Float>, keys: UnsafePointer<Float>, stride: Int, count: Int, dim: Int, scale: Float,
        out: UnsafeMutablePointer<Float>
    ) {
        for t in 0..<count {
            var sum = 0.0
            for d in 0..<dim { sum += Double(q[d]) * Double(keys[t * stride + d]) }
            out[t] = Float(sum * Double(scale))
        }
    }

    /// Scalar twin of `Kernels.attentionMix`, in Double.
    public static func attentionMix(
        weights: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, count: Int, dim: Int,
        out: UnsafeMutablePointer<Float>
    ) {
        for d in 0..<dim {
            var sum = 0.0
            for t in 0..<count { sum += Double(weights[t]) * Double(values[t * stride + d]) }
            out[d] = Float(sum)
        }
    }
}
