import Foundation
import Testing
import Tensors

/// Blocked causal attention (`Kernels.causalAttention`) against the row-by-row kernels decoding uses
/// (`attentionScores`, `softmax`, `attentionMix`) over the same cache contents, on every kernel path, in float32 and
/// float16 storage. Both sum in float32, in different orders: nmse < 1e-10, max abs error < 1e-5.
@Suite("Kernel: blocked causal attention")
struct KernelBlockedAttentionTests {
    typealias RNG = KernelTesting.SplitMix64

    /// Keys tiled and values as rows for `count` positions, in `precision`, capacity rounded to 16.
    static func cache(_ keys: [Float], _ values: [Float], count: Int, dim: Int, precision: KVPrecision)
        -> (keys: UnsafeMutableRawPointer, values: UnsafeMutableRawPointer)
    {
        let capacity = (count + 15) & ~15
        let k = UnsafeMutableRawPointer.allocate(byteCount: capacity * dim * 4, alignment: 64)
        let v = UnsafeMutableRawPointer.allocate(byteCount: capacity * dim * 4, alignment: 64)
        k.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * dim * 4)
        for t in 0..<count {
            for d in 0..<dim {
                let at = Kernels.keyTileOffset(position: t, dimension: d, dim: dim)
                switch precision {
                case .f32:
                    k.assumingMemoryBound(to: Float.self)[at] = keys[t * dim + d]
                    v.assumingMemoryBound(to: Float.self)[t * dim + d] = values[t * dim + d]
                case .f16:
                    k.assumingMemoryBound(to: Float16.self)[at] = Float16(keys[t * dim + d])
                    v.assumingMemoryBound(to: Float16.self)[t * dim + d] = Float16(values[t * dim + d])
                }
            }
        }
        return (k, v)
    }

    @Test("query tiles give the row-by-row results, any past length, partial tiles, both storages",
          arguments: KVPrecision.allCases)
    func matchesRowByRow(precision: KVPrecision) {
        for (past, n, dim) in [(0, 1, 16), (0, 16, 64), (5, 7, 16), (37, 40, 64), (0, 45, 32), (16, 33, 64)] {
            var rng = RNG(seed: UInt64(past * 1000 + n * 10 + dim))
            let total = past + n
            let (keys, values) = Self.cache(rng.normal(total * dim), rng.normal(total * dim), count: total, dim: dim,
                                            precision: precision)
            defer { keys.deallocate(); values.deallocate() }
            let qStride = dim + 3, outStride = dim + 5
            let q = rng.normal(n * qStride, scale: 0.5)
            let scale = 1 / Float(dim).squareRoot()
            for isa in KernelISA.available {
                var expected = [Float](repeating: 0, count: n * outStride)
                var scores = [Float](repeating: 0, count: total)
                for j in 0..<n {
                    let context = past + j + 1
                    q.withUnsafeBufferPointer { qb in
                        Kernels.attentionScores(q: qb.baseAddress! + j * qStride, keyTiles: keys, precision: precision,
                                                count: context, dim: dim, scale: scale, out: &scores, isa: isa)
                    }
                    Kernels.softmax(&scores, count: context)
                    expected.withUnsafeMutableBufferPointer { out in
                        Kernels.attentionMix(weights: scores, values: values, precision: precision, stride: dim,
                                             count: context, dim: dim, out: out.baseAddress! + j * outStride, isa: isa)
                    }
                }
                var blocked = [Float](repeating: 0, count: n * outStride)
                var scratch = [Float](repeating: .nan, count: Kernels.causalAttentionScratch(context: total))
                var start = 0
                while start < n {
                    let rows = start..<min(n, start + Kernels.attentionQueryTile)
                    q.withUnsafeBufferPointer { qb in
                        Kernels.causalAttention(q: qb.baseAddress!, qStride: qStride, rows: rows, past: past,
                                                keyTiles: keys, values: values, precision: precision, dim: dim,
                                                scale: scale, out: &blocked, outStride: outStride, scratch: &scratch,
                                                isa: isa)
                    }
                    start = rows.upperBound
                }
                KernelTesting.expectClose(blocked, expected, nmse: 1e-10, maxAbs: 1e-5,
                                          "\(precision) \(isa) past \(past) rows \(n) dim \(dim)")
            }
        }
    }
}
