import Foundation
import Testing
import Tensors
@testable import ChatTTS

/// The speech prompt with a voice sample (official `spk_smp` + `txt_smp`, with a speaker embedding too) against the
/// reference's `decorate_code_prompts`, `Tokenizer.encode(prompt=codes)`, `Embed` and `_infer_code` (fixtures:
/// text_path.safetensors smp.*, generation.safetensors smp.*; near-greedy, 8 steps). Codes identical; bounds as in
/// GenerationParityTests (float32 rounding with a margin). Measured 2026-12-02: embeddings exact (nmse 0), hidden
/// states nmse 2.9e-14.
@Suite("Voice sample prompt parity with the reference")
struct SamplePromptParityTests {
    let model = Fixtures.model
    let smp = (try! Fixtures.json("meta.json")["text_path"] as! [String: Any])["smp"] as! [String: Any]
    var voice: Voice {
        try! Voice(string: (try! Fixtures.json("meta.json")["text_path"] as! [String: Any])["voice"] as! String)
    }
    var sample: SpeakerSample {
        try! SpeakerSample(string: smp["spk_smp"] as! String, transcript: smp["txt_smp"] as! String)
    }

    var params: InferCodeParams {
        let n = ((try! Fixtures.json("meta.json")["generation"] as! [String: Any])["n_smp"] as! NSNumber).intValue
        var p = InferCodeParams()
        p.temperature = 0.0001
        p.minNewTokens = n
        p.maxNewTokens = n
        p.seed = 1
        return p
    }

    @Test("the transcript goes between the speaker and the prompt, the codes after the text, embedded as the reference")
    func promptPath() throws {
        let f = try Fixtures.reference("text_path.safetensors")
        let ids = try f.integers("smp.input_ids")              // [1, L + P, 4]
        let mask = try f.integers("smp.text_mask")             // [1, L + P]
        let string = model.decorateForCode(smp["text"] as! String, prompt: params.prompt, hasVoice: true,
                                           sampleTranscript: sample.transcript)
        #expect(string == (smp["decorated"] as! [String])[0])
        let text = model.tokenizer.encode(string)
        let total = ids.shape[1]
        #expect(text.count + sample.frames == total)
        #expect(mask.values == [Int](repeating: 1, count: text.count) + [Int](repeating: 0, count: sample.frames))
        #expect(text == (0..<text.count).map { ids.values[$0 * 4] })
        let frames = (text.count..<total).map { Array(ids.values[($0 * 4)..<($0 * 4 + 4)]) }
        #expect(frames == (0..<sample.frames).map { t in sample.codes.map { $0[t] } })
        let emb = try model.promptEmbeddings(text, voice: voice, sample: sample)
        #expect(emb.shape == [total, model.hiddenSize])
        let error = Fixtures.nmse(emb.scalars, try f.tensor("smp.emb").scalars)
        #expect(error < 1e-12, "embeddings nmse \(error)")
    }

    @Test("generating with a voice sample gives the reference codes and hidden states")
    func generation() throws {
        let f = try Fixtures.reference("generation.safetensors")
        let sequence = try model.promptSequence(smp["text"] as! String,
                                                stage: .speech(params, voice: voice, sample: sample), normalize: false)
        let promptRows = try Fixtures.reference("text_path.safetensors").integers("smp.text_mask").shape[1]
        #expect(sequence.promptLength == promptRows)
        model.generate([sequence])
        let codes = try f.integers("smp.codes")                 // [1, N, 4]
        #expect(sequence.tokens == (0..<codes.shape[1]).map { Array(codes.values[($0 * 4)..<($0 * 4 + 4)]) })
        let error = Fixtures.nmse(sequence.hiddenStates().scalars, try f.tensor("smp.hiddens").scalars)
        #expect(error < 1e-11, "hidden states nmse \(error)")
    }

    @Test("the positions check counts the sample's frames")
    func positions() throws {
        let text = smp["text"] as! String
        let decorated = model.decorateForCode(text, prompt: params.prompt, hasVoice: true,
                                              sampleTranscript: sample.transcript)
        let tokens = model.tokenizer.encode(decorated).count
        var p = params
        p.minNewTokens = 1
        p.maxNewTokens = model.config.maxPositions - tokens - sample.frames
        let fits = try model.promptSequence(text, stage: .speech(p, voice: voice, sample: sample), normalize: false)
        #expect(fits.promptLength == tokens + sample.frames)
        p.maxNewTokens += 1
        let error = try #require(throws: PromptError.self) {
            try model.promptSequence(text, stage: .speech(p, voice: voice, sample: sample), normalize: false)
        }
        #expect(error.reason == .tooLong)
        #expect(error.message.contains("\(tokens) tokens and \(sample.frames) voice sample frames"))
    }

    @Test("a sample whose codes do not fit the model is refused with the reason")
    func refusals() throws {
        let text = smp["text"] as! String
        var threeRows = sample
        threeRows.codes.removeLast()
        var outOfRange = sample
        outOfRange.codes[1][2] = model.config.numAudioTokens
        for bad in [threeRows, outOfRange] {
            #expect(throws: VoiceError.self) {
                try model.promptSequence(text, stage: .speech(params, voice: nil, sample: bad), normalize: false)
            }
        }
    }
}
