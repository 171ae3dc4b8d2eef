import Tensors

/// Attention of a sequence with many new rows (its prompt) in tiles of queries (`Kernels.causalAttention`) instead of
/// row by row: each key and value is read once per 8 or 4 query rows rather than once per row.
///
/// Tasks are (sequence, head, stripe), stripe k taking query tiles k, k + stripes, ..., so every task holds early
/// (short) and late (long) rows alike and the threads finish together; each task has its own scratch for one tile's
/// scores.
extension Attention {
    /// New rows of one sequence from which its attention runs in tiles. Below, a decode step's one row (or a short
    /// prompt) keeps the row-by-row kernels; 32 rows already fill two query tiles.
    static let blockedMinimumRows = 32

    /// Stripes per (sequence, head): with 12 heads, 24 tasks share 2 threads evenly even when one is paused a while.
    static let stripes = 2

    /// Whether sequence `s` attends in tiles: enough rows, a head size of whole vectors, the AVX-512 kernels (the
    /// tiles keep 16 vectors of 16 floats live, which AVX2's and the baseline's registers do not hold).
    func blocked(_ s: Int) -> Bool {
        counts[s] >= Self.blockedMinimumRows && headDim % 16 == 0 && KernelISA.best == .avx512
            && Kernels.prefillPathsEnabled
    }

    /// The sequences `blocked` picks, for layer `layer` (their caches hold this layer's new keys and values).
    func runBlocked(layer: Int, qkv: UnsafeMutablePointer<Float>, qkvStride: Int, out: UnsafeMutablePointer<Float>,
                    pool: WorkerPool, isa: KernelISA = .best) {
        let long = caches.indices.filter(blocked)
        guard !long.isEmpty else { return }
        let tile = Kernels.attentionQueryTile
        var tasks: [(sequence: Int, head: Int, stripe: Int, stripes: Int)] = []
        for s in long {
            let stripes = min(Self.stripes, (counts[s] + tile - 1) / tile)
            for head in 0..<heads { for k in 0..<stripes { tasks.append((s, head, k, stripes)) } }
        }
        let per = Kernels.causalAttentionScratch(context: maxContext)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: tasks.count * per)
        defer { scratch.deallocate() }
        let shared = AttentionBuffers(qkv: qkv, out: out, scratch: scratch)
        let qDim = heads * headDim, group = heads / kvHeads
        let scale = 1 / Float(headDim).squareRoot()
        pool.run(tasks: tasks.count) { t in
            let task = tasks[t]
            let cache = caches[task.sequence], n = counts[task.sequence], first = firstRows[task.sequence]
            let kvHead = task.head / group
            let q = shared.qkv + first * qkvStride + task.head * headDim
            let o = shared.out + first * qDim + task.head * headDim
            var start = task.stripe * tile
            while start < n {
                Kernels.causalAttention(q: q, qStride: qkvStride, rows: start..<min(n, start + tile), past: cache.length,
                                        keyTiles: cache.keys(layer: layer, head: kvHead),
                                        values: cache.values(layer: layer, head: kvHead), precision: cache.precision,
                                        dim: headDim, scale: scale, out: o, outStride: qDim,
                                        scratch: shared.scratch + t * per, isa: isa)
                start += task.stripes * tile
            }
        }
    }
}
