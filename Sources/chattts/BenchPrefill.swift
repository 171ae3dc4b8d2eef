import ChatTTS
import Foundation
import Tensors

/// The prefill part of `chattts bench engine`: how long a prompt of n tokens takes to go through the GPT (what a user
/// waits before the first step, so before the first audio), beside the same format's batch-1 decode rate.
///
/// Each length runs one GPT forward pass of n rows over an empty cache (random normal embeddings), as
/// `ChatTTSModel.step` does for a new sequence's prompt, then the four projections of every layer alone on the same
/// rows, so the table splits the pass into matrix products and the rest (attention, norms, RoPE, the MLP's
/// activation, the cache writes). Both with the prompt paths off (`Kernels.prefillPathsEnabled`: what decoding
/// uses) and on, in the same process. Times are the best of `--prefill-runs`.
extension BenchEngine {
    /// Prefill figures of one format, in the child: "prefill" maps a length to seconds, "prefill_products" to the
    /// seconds of its projections alone.
    func measurePrefill(_ model: ChatTTSModel) throws -> [String: Any] {
        let gpt = model.gpt
        let h = gpt.config.hiddenSize
        var rng = SeededRNG(seed: 11)
        var figures: [String: [String: Double]] = [:]
        defer { Kernels.prefillPathsEnabled = true }
        for n in prefillList {
            let input = Tensor(zeros: [n, h])
            for i in 0..<(n * h) { input.pointer[i] = rng.gaussian() }
            // "before": the decode-time kernels on the same rows (products for a few rows, attention row by row).
            for (key, enabled) in [("prefill_before", false), ("prefill", true)] {
                Kernels.prefillPathsEnabled = enabled
                var best = Double.infinity, bestProducts = Double.infinity
                for _ in 0..<prefillRuns {
                    let cache = try gpt.makeCache(capacity: n)
                    let t0 = Self.now()
                    _ = gpt.forward(input, counts: [n], caches: [cache])
                    best = min(best, Self.now() - t0)
                    bestProducts = min(bestProducts, Self.projectionsAlone(gpt, rows: n, input: input))
                }
                figures[key, default: [:]][String(n)] = best
                figures[key + "_products", default: [:]][String(n)] = bestProducts
            }
        }
        return figures
    }

    /// Seconds of every layer's four projections on `rows` input rows, as `GPT.forward` calls them.
    static func projectionsAlone(_ gpt: GPT, rows: Int, input: Tensor) -> Double {
        let c = gpt.config
        let widest = max(c.intermediateSize * 2, (c.numHeads + 2 * c.numKVHeads) * c.headDim)
        let x = Tensor(zeros: [rows, c.intermediateSize])
        for r in 0..<rows {
            for k in 0..<c.intermediateSize {
                x.pointer[r * c.intermediateSize + k] = input.pointer[r * c.hiddenSize + k % c.hiddenSize]
            }
        }
        let y = Tensor(zeros: [rows, widest])
        let t0 = now()
        for layer in gpt.layers {
            for m in [layer.qkv, layer.o, layer.gateUp, layer.down] {
                Kernels.packedProduct(m, x: x.pointer, ldx: c.intermediateSize, batch: rows, y: y.pointer,
                                      ldy: widest, pool: gpt.pool)
            }
        }
        return now() - t0
    }

    /// The parent's table: per format and length, seconds and tokens/s with the decode-time paths (before) and the
    /// prompt paths (after), the projections' share of each, and tokens/s over that format's batch-1 decode steps/s
    /// from the same child.
    static func printPrefill(_ rows: [[String: Any]], lengths: [Int]) {
        guard !lengths.isEmpty else { return }
        print("GPT prefill of one prompt (empty cache): seconds (what the first audio waits for) and tokens/s with the "
              + "decode-time paths (before) and the prompt paths (after); prod: the projections' share; ratio: "
              + "tokens/s over the same run's batch-1 decode steps/s")
        print(pad("dtype", 6) + ["tokens", "before s", "tok/s", "prod", "after s", "tok/s", "prod", "speed-up",
                                 "decode/s", "ratio"].map { pad($0, 9, left: true) }.joined())
        for r in rows {
            guard let after = r["prefill"] as? [String: Double], let before = r["prefill_before"] as? [String: Double]
            else { continue }
            let afterProducts = r["prefill_products"] as? [String: Double] ?? [:]
            let beforeProducts = r["prefill_before_products"] as? [String: Double] ?? [:]
            let decode = (r["batches"] as? [String: Double])?["1"] ?? 0
            for n in lengths {
                let key = String(n)
                let a = after[key] ?? 0, b = before[key] ?? 0
                let rate = a > 0 ? Double(n) / a : 0
                let cells = [
                    String(n), String(format: "%.3f", b), String(format: "%.0f", b > 0 ? Double(n) / b : 0),
                    String(format: "%.0f%%", b > 0 ? 100 * (beforeProducts[key] ?? 0) / b : 0),
                    String(format: "%.3f", a), String(format: "%.0f", rate),
                    String(format: "%.0f%%", a > 0 ? 100 * (afterProducts[key] ?? 0) / a : 0),
                    String(format: "%.1fx", a > 0 ? b / a : 0), String(format: "%.1f", decode),
                    String(format: "%.1fx", decode > 0 ? rate / decode : 0),
                ]
                print(pad(r["dtype"] as! String, 6) + cells.map { pad($0, 9, left: true) }.joined())
            }
        }
        print("")
    }
}
