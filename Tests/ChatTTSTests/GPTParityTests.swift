import Testing
import Tensors
@testable import ChatTTS

/// The GPT against the official implementation under teacher forcing (fixtures: gpt_teacher_forcing.safetensors).
/// Tolerance: normalized MSE below 1e-8 for hidden states and logits (float32 both sides).
@Suite("GPT parity with the reference")
struct GPTParityTests {
    let model = Fixtures.model
    let tolerance = 1e-8

    func realRows(_ mask: (shape: [Int], values: [Int]), item b: Int) -> Range<Int> {
        let l = mask.shape[1]
        let first = (0..<l).first { mask.values[b * l + $0] == 1 } ?? l
        return first..<l
    }

    func logits(_ hidden: UnsafePointer<Float>, _ weight: Tensor) -> [Float] {
        var out = [Float](repeating: 0, count: weight.shape[0])
        out.withUnsafeMutableBufferPointer {
            Kernels.linear(input: hidden, rows: 1, inFeatures: weight.shape[1], weight: weight.pointer,
                           outFeatures: weight.shape[0], bias: nil, output: $0.baseAddress!)
        }
        return out
    }

    @Test("prefill of a left-padded batch matches layer by layer, and cached steps match after it")
    func teacherForcing() throws {
        let f = try Fixtures.reference("gpt_teacher_forcing.safetensors")
        let inputs = try f.tensor("inputs_embeds")
        let mask = try f.integers("attention_mask")
        let (batch, h) = (inputs.shape[0], inputs.shape[2])
        let stepCodes = try f.integers("steps.codes")
        let k = stepCodes.shape[1]
        for b in 0..<batch {
            let rows = realRows(mask, item: b)
            let recorder = Recorder()
            let cache = try model.gpt.makeCache(capacity: 4)
            let x = Tensor(shape: [rows.count, h], values: Fixtures.slice(inputs, item: b, rows: rows))
            let hidden = try model.gpt.reserveAndForward(x, counts: [rows.count], caches: [cache], debug: recorder)
            for layer in 0..<model.config.numLayers {
                let expected = Fixtures.slice(try f.tensor("prefill.layer_out.\(layer)"), item: b, rows: rows)
                #expect(Fixtures.nmse(recorder["gpt.layer.\(layer)"][0].scalars, expected) < tolerance, "item \(b) layer \(layer)")
            }
            #expect(Fixtures.nmse(hidden.scalars, Fixtures.slice(try f.tensor("prefill.final_hidden"), item: b, rows: rows)) < tolerance)
            let last = hidden.pointer + (rows.count - 1) * h
            let codeLogits = try f.tensor("prefill.logits_code")   // [B, 4, 626]
            for q in 0..<model.config.numVQ {
                let expected = Array(UnsafeBufferPointer(start: codeLogits.pointer + (b * 4 + q) * 626, count: 626))
                #expect(Fixtures.nmse(logits(last, model.embed.headCode[q]), expected) < tolerance, "item \(b) head \(q)")
            }
            let textLogits = try f.tensor("prefill.logits_text")
            let v = textLogits.shape[1]
            #expect(Fixtures.nmse(logits(last, model.embed.headText),
                                  Array(UnsafeBufferPointer(start: textLogits.pointer + b * v, count: v))) < tolerance)

            // Then K steps, one code frame each, through the KV cache.
            let stepInputs = try f.tensor("steps.inputs_embeds")
            let stepHidden = try f.tensor("steps.final_hidden")
            let stepLogits = try f.tensor("steps.logits_code")    // [B, K, 4, 626]
            for s in 0..<k {
                let codes = (0..<4).map { stepCodes.values[(b * k + s) * 4 + $0] }
                let row = Tensor(zeros: [1, h])
                model.embed.embedCodes(codes[...], into: row.pointer)
                #expect(Fixtures.nmse(row.scalars, Fixtures.slice(stepInputs, item: b, rows: s..<(s + 1))) < 1e-12)
                let out = try model.gpt.reserveAndForward(row, counts: [1], caches: [cache])
                #expect(Fixtures.nmse(out.scalars, Fixtures.slice(stepHidden, item: b, rows: s..<(s + 1))) < tolerance,
                        "item \(b) step \(s)")
                for q in 0..<4 {
                    let expected = Array(UnsafeBufferPointer(start: stepLogits.pointer + ((b * k + s) * 4 + q) * 626, count: 626))
                    #expect(Fixtures.nmse(logits(out.pointer, model.embed.headCode[q]), expected) < tolerance)
                }
            }
        }
    }

    @Test("sequences of different lengths batched in one pass give the same hidden states as alone")
    func batchedEqualsAlone() throws {
        let f = try Fixtures.reference("gpt_teacher_forcing.safetensors")
        let inputs = try f.tensor("inputs_embeds")
        let mask = try f.integers("attention_mask")
        let (batch, h) = (inputs.shape[0], inputs.shape[2])
        let ranges = (0..<batch).map { realRows(mask, item: $0) }
        #expect(Set(ranges.map(\.count)).count > 1, "fixture texts should differ in length")
        let all = ranges.enumerated().flatMap { Fixtures.slice(inputs, item: $0.offset, rows: $0.element) }
        let caches = try ranges.map { _ in try model.gpt.makeCache(capacity: 8) }
        let hidden = try model.gpt.reserveAndForward(Tensor(shape: [all.count / h, h], values: all), counts: ranges.map(\.count), caches: caches)
        let expected = try f.tensor("prefill.final_hidden")
        var row = 0
        for (b, r) in ranges.enumerated() {
            let got = Array(UnsafeBufferPointer(start: hidden.pointer + row * h, count: r.count * h))
            #expect(Fixtures.nmse(got, Fixtures.slice(expected, item: b, rows: r)) < tolerance)
            #expect(caches[b].length == r.count)
            row += r.count
        }
    }
}
