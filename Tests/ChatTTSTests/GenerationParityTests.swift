import Foundation
import Testing
import Tensors
@testable import ChatTTS

/// End to end against the official `infer` path (fixtures: text_path / generation.safetensors): near-greedy sampling
/// (temperature 0.0001), a fixed number of steps (min_new_token = max_new_token), no refinement, no normalization.
/// Codes must be identical. The tiny model loads as float32 (`EngineOptions.resolvedFormat`), so the bounds are
/// float32 rounding with a margin, and a glue error (a gain, a padding, a frame off) fails them by orders of
/// magnitude. Measured 2026-12-02 (AVX2 and baseline kernels alike): hidden states normalized MSE 3.6e-14 at most,
/// bound 1e-11; waveforms max abs 2.1e-7 (peaks 0.13), bound 1e-5, normalized MSE 1.6e-12, bound 1e-10.
@Suite("End-to-end generation parity with the reference")
struct GenerationParityTests {
    let model = Fixtures.model
    let meta = try! Fixtures.json("meta.json")

    var texts: [String] { (meta["text_path"] as! [String: Any])["texts"] as! [String] }
    var voice: Voice { try! Voice(string: (meta["text_path"] as! [String: Any])["voice"] as! String) }

    var options: SynthesisOptions {
        let n = ((meta["generation"] as! [String: Any])["N"] as! NSNumber).intValue
        var o = SynthesisOptions()
        o.voice = voice
        o.normalize = false
        o.refine = nil
        o.code.temperature = 0.0001
        o.code.minNewTokens = n
        o.code.maxNewTokens = n
        o.code.seed = 1
        return o
    }

    func codes(_ f: SafetensorsFile, _ name: String, item b: Int) throws -> [[Int]] {
        let c = try f.integers(name)
        let (n, q) = (c.shape[1], c.shape[2])
        return (0..<n).map { s in (0..<q).map { c.values[(b * n + s) * q + $0] } }
    }

    @Test("decorated texts tokenize to the reference ids and embed to the reference embeddings")
    func textPath() throws {
        let f = try Fixtures.reference("text_path.safetensors")
        let ids = try f.integers("input_ids")
        let mask = try f.integers("attention_mask")
        let emb = try f.tensor("emb")
        let l = ids.shape[1]
        let decorated = (meta["text_path"] as! [String: Any])["decorated"] as! [String]
        for (b, text) in texts.enumerated() {
            let string = model.decorateForCode(text, prompt: "[speed_5]", hasVoice: true)
            #expect(string == decorated[b])
            let real = (0..<l).filter { mask.values[b * l + $0] == 1 }
            let expected = real.map { ids.values[(b * l + $0) * 4] }
            let got = model.tokenizer.encode(string)
            #expect(got == expected, "text \(b)")
            let e = try model.promptEmbeddings(got, voice: voice)
            #expect(Fixtures.nmse(e.scalars, Fixtures.slice(emb, item: b, rows: real.first!..<l)) < 1e-12)
        }
    }

    @Test("a batch of three texts gives the reference codes, hidden states and waveforms")
    func batch() throws {
        #expect(model.options.format == .f32, "the bounds are float32's")
        let f = try Fixtures.reference("generation.safetensors")
        let sequences = try model.codeSequences(texts, options: options)
        model.generate(sequences)
        let hiddens = try f.tensor("batch.hiddens")
        let wav = try f.tensor("batch.wav")
        for (b, s) in sequences.enumerated() {
            #expect(s.tokens == (try codes(f, "batch.codes", item: b)), "text \(b) codes")
            let hidden = Fixtures.slice(hiddens, item: b, rows: 0..<s.steps)
            #expect(Fixtures.nmse(s.hiddenStates().scalars, hidden) < 1e-11, "text \(b) hidden states")
            let wave = model.waveform(s)
            let want = Array(UnsafeBufferPointer(start: wav.pointer + b * wav.shape[1], count: wav.shape[1]))
            #expect(wave.count == want.count)
            #expect(Fixtures.maxAbs(wave, want) < 1e-5, "text \(b) waveform")
            #expect(Fixtures.nmse(wave, want) < 1e-10, "text \(b) waveform")
        }
    }

    @Test("one text alone gives the codes, hidden states and waveform of the reference run alone")
    func single() throws {
        let f = try Fixtures.reference("generation.safetensors")
        let index = ((meta["generation"] as! [String: Any])["single_text_index"] as! NSNumber).intValue
        let sequences = try model.codeSequences([texts[index]], options: options)
        model.generate(sequences)
        #expect(sequences[0].tokens == (try codes(f, "single.codes", item: 0)))
        #expect(Fixtures.nmse(sequences[0].hiddenStates().scalars, try f.tensor("single.hiddens").scalars) < 1e-11)
        let wave = model.waveform(sequences[0])
        let want = try f.tensor("single.wav").scalars
        #expect(wave.count == want.count)
        #expect(Fixtures.maxAbs(wave, want) < 1e-5)  // measured 1.8e-7
        #expect(Fixtures.nmse(wave, want) < 1e-10)  // measured 1.6e-12
    }

    @Test("streamed audio concatenates to the one-shot waveform")
    func streamingEqualsOneShot() throws {
        var o = options
        o.code.minNewTokens = 160
        o.code.maxNewTokens = 160
        o.code.temperature = 0.3
        let sequence = try model.codeSequences([texts[1]], options: o)[0]
        var streamer = StreamingVocoder(model: model)
        var streamed: [Float] = []
        var chunks = 0
        while !sequence.finished {
            model.step([sequence])
            if sequence.steps % 24 == 0 {
                let chunk = streamer.advance(sequence, final: false)
                if !chunk.isEmpty { chunks += 1 }
                streamed += chunk
            }
        }
        streamed += streamer.advance(sequence, final: true)
        let oneShot = model.waveform(sequence)
        #expect(chunks >= 3, "audio should arrive before the end")
        #expect(streamed.count == oneShot.count)
        #expect(Fixtures.maxAbs(streamed, oneShot) < 1e-5)
    }
}

/// Refinement against the official `_refine_text` (fixtures: refine_text.safetensors), near-greedy, fixed length.
@Suite("Refinement parity with the reference")
struct RefineParityTests {
    @Test("refinement generates the reference text ids and decodes the kept ones to the reference text")
    func refine() throws {
        let model = Fixtures.model
        let meta = try Fixtures.json("meta.json")["refine_text"] as! [String: Any]
        let texts = meta["texts"] as! [String]
        let m = (meta["M"] as! NSNumber).intValue
        let f = try Fixtures.reference("refine_text.safetensors")
        let ids = try f.integers("ids")
        var params = RefineTextParams()
        params.prompt = (meta["params"] as! [String: Any])["prompt"] as! String
        params.temperature = 0.0001
        params.minNewTokens = m
        params.maxNewTokens = m
        let gp = GenerationParams(temperature: [params.temperature], topP: params.topP, topK: params.topK,
                                  repetitionPenalty: params.repetitionPenalty, minNewTokens: m, maxNewTokens: m, seed: 3)
        let decorated = meta["decorated"] as! [String]
        let sequences = try texts.enumerated().map { i, text in
            let string = model.decorateForRefine(text, prompt: params.prompt)
            #expect(string == decorated[i])
            return try model.makeSequence(mode: .text, prompt: model.promptEmbeddings(model.tokenizer.encode(string), voice: nil), params: gp)
        }
        model.generate(sequences)
        for (b, s) in sequences.enumerated() {
            #expect(s.tokens.map { $0[0] } == Array(ids.values[(b * m)..<((b + 1) * m)]), "text \(b)")
        }
        let refined = try model.refine(texts, params: params)
        #expect(refined == meta["decoded_kept"] as! [String])
    }
}
