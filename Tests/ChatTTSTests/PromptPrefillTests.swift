import Foundation
import Testing
import Tensors
@testable import ChatTTS

/// A long prompt in one forward pass (the prompt paths: prefill products from `Kernels.prefillMinimumBatch` rows,
/// attention in query tiles from `Attention.blockedMinimumRows`) against the same prompt fed one row per pass (the
/// decode paths: products for one row, attention row by row), in every weight format, on the tiny model.
///
/// Tolerances on the final hidden states, nmse: float32 1e-10 (only the order of attention's float32 sums differs;
/// measured 1.3e-14); int8 1e-8 (products bit-identical, the attention sums' order can move an input row's int8
/// rounding by one step in the next layer; measured 5.4e-14); bfloat16 1e-4 (the prompt path rounds the products'
/// input rows to bfloat16, the decode path does not; measured 6.5e-6).
@Suite("GPT: a prompt in one pass equals the prompt row by row")
struct PromptPrefillTests {
    static let bounds: [WeightFormat: Double] = [.f32: 1e-10, .int8: 1e-8, .bf16: 1e-4]

    @Test("100 prompt rows in one pass give the hidden states and caches of 100 single-row passes",
          arguments: [WeightFormat.f32, .int8, .bf16])
    func onePassEqualsRowByRow(format: WeightFormat) throws {
        let gptFolder = Fixtures.tinyAssets.appendingPathComponent("gpt").path
        let gpt = try GPT(folder: gptFolder, options: EngineOptions(format: format, threads: 2, groupSize: 32))
        let (n, h) = (100, gpt.config.hiddenSize)
        var rng = SeededRNG(seed: 7)
        let values = (0..<(n * h)).map { _ in rng.gaussian() }
        let whole = try gpt.makeCache(capacity: n)
        let once = gpt.forward(Tensor(shape: [n, h], values: values), counts: [n], caches: [whole])
        let single = try gpt.makeCache(capacity: n)
        var rows: [Float] = []
        for j in 0..<n {
            let out = gpt.forward(Tensor(shape: [1, h], values: Array(values[(j * h)..<((j + 1) * h)])), counts: [1],
                                  caches: [single])
            rows += Array(UnsafeBufferPointer(start: out.pointer, count: h))
        }
        let got = Array(UnsafeBufferPointer(start: once.pointer, count: n * h))
        let error = Fixtures.nmse(got, rows)
        #expect(error < Self.bounds[format]!, "\(format): nmse \(error)")
        #expect(whole.length == n && single.length == n)
    }
}
