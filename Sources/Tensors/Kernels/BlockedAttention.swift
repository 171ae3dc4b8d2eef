import TensorsAVX2
import TensorsAVX512
import TensorsSIMD

/// Causal attention of a tile of consecutive query rows of one head over a KV cache: the prompt's prefill, where
/// every row of a long prompt attends to all the rows before it.
///
/// Row by row (`attentionScores`, `softmax`, `attentionMix`), each query reads every key and value once: a 2,000-row
/// prompt reads each of them 2,000 times per head and layer. Here a tile of up to 16 rows reads each key once per 8
/// rows (`attentionTileScores`, two key tiles by 8 queries per pass) and each value once per 4 rows
/// (`attentionTileMix`), with the scores of the whole tile in scratch between the two (two passes, an exact softmax
/// per row in between, so no online rescaling: `attentionSoftmax`, `Kernels.softmax`'s steps and exp compiled for
/// the instruction set). Results differ from the row-by-row path only in the order of float32 sums
/// (`KernelBlockedAttentionTests` holds them within nmse 1e-10).
extension Kernels {
    /// Query rows per tile (`causalAttention`); a task of the GPT's attention takes one or more tiles.
    public static let attentionQueryTile = 16

    /// Scratch floats `causalAttention` needs for a tile whose last row sees `context` positions.
    public static func causalAttentionScratch(context: Int) -> Int {
        attentionQueryTile * ((context + 15) & ~15)
    }

    /// Attention of query rows `rows` (at most `attentionQueryTile`) of one head: row j is position past + j and
    /// attends to positions 0...past + j, whose keys (tiled, `keyTileOffset`) and value rows (`dim` apart) are in
    /// the cache already. q: row j at q + j * qStride; out: row j at out + j * outStride, `dim` floats (a multiple
    /// of 16). scratch: `causalAttentionScratch(context: past + rows.upperBound)` floats.
    public static func causalAttention(
        q: UnsafePointer<Float>, qStride: Int, rows: Range<Int>, past: Int, keyTiles: UnsafeRawPointer,
        values: UnsafeRawPointer, precision: KVPrecision, dim: Int, scale: Float, out: UnsafeMutablePointer<Float>,
        outStride: Int, scratch: UnsafeMutablePointer<Float>, isa: KernelISA = .best
    ) {
        precondition(rows.count <= attentionQueryTile && dim % 16 == 0, "causalAttention: \(rows) rows, dim \(dim)")
        guard !rows.isEmpty else { return }
        let stride = (past + rows.upperBound + 15) & ~15
        let half = precision == .f16
        // Scores, 8 rows per pass, each pass only as far as its last row sees.
        var j = rows.lowerBound
        while j < rows.upperBound {
            let n = min(8, rows.upperBound - j), keys = past + j + n
            let s = scratch + (j - rows.lowerBound) * stride
            switch isa {
            case .avx512:
                avx512AttentionTileScores(q: q + j * qStride, qStride: qStride, queries: n, keyTiles: keyTiles,
                                          half: half, keys: keys, dim: dim, scale: scale, scores: s, scoreStride: stride)
            case .avx2, .avx2VNNI:
                avx2AttentionTileScores(q: q + j * qStride, qStride: qStride, queries: n, keyTiles: keyTiles,
                                        half: half, keys: keys, dim: dim, scale: scale, scores: s, scoreStride: stride)
            case .baseline:
                if half {
                    attentionTileScores(q: q + j * qStride, qStride: qStride, queries: n, keyTiles: keyTiles,
                                        KVFloat16.self, keys: keys, dim: dim, scale: scale, scores: s,
                                        scoreStride: stride, fused: false)
                } else {
                    attentionTileScores(q: q + j * qStride, qStride: qStride, queries: n, keyTiles: keyTiles,
                                        KVFloat32.self, keys: keys, dim: dim, scale: scale, scores: s,
                                        scoreStride: stride, fused: false)
                }
            }
            j += n
        }
        // Softmax over each row's own context; zeros after it, as far as its group of 4 in the mix reads.
        for j in rows {
            let s = scratch + (j - rows.lowerBound) * stride
            let context = past + j + 1
            let groupEnd = min(rows.upperBound, rows.lowerBound + ((j - rows.lowerBound) / 4 + 1) * 4)
            switch isa {
            case .avx512: avx512AttentionSoftmax(s, count: context)
            case .avx2, .avx2VNNI: avx2AttentionSoftmax(s, count: context)
            case .baseline: attentionSoftmax(s, count: context, fused: false)
            }
            // Here, not in the ISA modules: a zero fill compiles to a memset call, which they must not make
            // (`KernelDispatchTests`).
            (s + context).update(repeating: 0, count: past + groupEnd - context)
        }
        j = rows.lowerBound
        while j < rows.upperBound {
            let n = min(4, rows.upperBound - j), keys = past + j + n
            let w = scratch + (j - rows.lowerBound) * stride
            switch isa {
            case .avx512:
                avx512AttentionTileMix(weights: w, weightStride: stride, queries: n, values: values, half: half,
                                       keys: keys, dim: dim, out: out + j * outStride, outStride: outStride)
            case .avx2, .avx2VNNI:
                avx2AttentionTileMix(weights: w, weightStride: stride, queries: n, values: values, half: half,
                                     keys: keys, dim: dim, out: out + j * outStride, outStride: outStride)
            case .baseline:
                if half {
                    attentionTileMix(weights: w, weightStride: stride, queries: n, values: values, KVFloat16.self,
                                     keys: keys, dim: dim, out: out + j * outStride, outStride: outStride, fused: false)
                } else {
                    attentionTileMix(weights: w, weightStride: stride, queries: n, values: values, KVFloat32.self,
                                     keys: keys, dim: dim, out: out + j * outStride, outStride: outStride, fused: false)
                }
            }
            j += n
        }
    }
}
