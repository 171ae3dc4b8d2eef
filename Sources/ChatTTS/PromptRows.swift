import Tensors

/// Row-wise work of `GPT.forward` (the MLP's activation, the KV cache writes) split across the pool when a pass has
/// many rows: a 2,000-row prompt has 20 x 2,000 x 3,072 activations and 20 x 2,000 x 1,536 cache values to write,
/// which on the calling thread alone took a tenth of its prefill. A decode step's few rows stay on the caller.
extension GPT {
    /// Rows from which `forEachRows` splits the work.
    static let parallelRowsMinimum = 64

    /// body(range) over contiguous ranges covering 0..<rows, on the pool's threads when rows are many (4 ranges per
    /// thread, so one the OS pauses leaves its share to the others). Ranges must touch disjoint memory.
    func forEachRows(_ rows: Int, _ body: (Range<Int>) -> Void) {
        guard rows >= Self.parallelRowsMinimum, pool.threads > 1 else {
            body(0..<rows)
            return
        }
        let chunks = min(rows, pool.threads * 4)
        pool.run(tasks: chunks) { t in body((rows * t / chunks)..<(rows * (t + 1) / chunks)) }
    }
}
