import TensorsSIMD

// `TensorsSIMD/BlockedAttentionKernels.swift` compiled for this module's instruction set (see AVX2Kernels.swift):
// attention of many query rows at once, keys and values in float32 or float16.

public func avx2AttentionTileScores(
    q: UnsafePointer<Float>, qStride: Int, queries: Int, keyTiles: UnsafeRawPointer, half: Bool, keys: Int, dim: Int,
    scale: Float, scores: UnsafeMutablePointer<Float>, scoreStride: Int
) {
    if half {
        attentionTileScores(q: q, qStride: qStride, queries: queries, keyTiles: keyTiles, KVFloat16.self, keys: keys,
                            dim: dim, scale: scale, scores: scores, scoreStride: scoreStride, fused: true)
    } else {
        attentionTileScores(q: q, qStride: qStride, queries: queries, keyTiles: keyTiles, KVFloat32.self, keys: keys,
                            dim: dim, scale: scale, scores: scores, scoreStride: scoreStride, fused: true)
    }
}

public func avx2AttentionTileMix(
    weights: UnsafePointer<Float>, weightStride: Int, queries: Int, values: UnsafeRawPointer, half: Bool, keys: Int,
    dim: Int, out: UnsafeMutablePointer<Float>, outStride: Int
) {
    if half {
        attentionTileMix(weights: weights, weightStride: weightStride, queries: queries, values: values,
                         KVFloat16.self, keys: keys, dim: dim, out: out, outStride: outStride, fused: true)
    } else {
        attentionTileMix(weights: weights, weightStride: weightStride, queries: queries, values: values,
                         KVFloat32.self, keys: keys, dim: dim, out: out, outStride: outStride, fused: true)
    }
}

public func avx2AttentionSoftmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
    attentionSoftmax(x, count: count, fused: true)
}
