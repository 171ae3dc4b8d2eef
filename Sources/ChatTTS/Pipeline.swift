import Foundation
import Tensors

/// Parameters of the code (speech) stage, with the official names and defaults.
public struct InferCodeParams: Sendable {
    public var prompt = "[speed_5]"
    public var temperature: Float = 0.3
    public var topP: Float? = 0.7
    public var topK: Int? = 20
    public var repetitionPenalty: Float = 1.05
    public var maxNewTokens = 2048
    public var minNewTokens = 0
    /// Seeds the sampler; the same seed, text and voice give the same audio.
    public var seed: UInt64 = 0
    public init() {}
}

/// Parameters of the optional refinement stage (the GPT rewrites the text with prosody tokens).
public struct RefineTextParams: Sendable {
    public var prompt = ""
    public var temperature: Float = 0.7
    public var topP: Float? = 0.7
    public var topK: Int? = 20
    public var repetitionPenalty: Float = 1.0
    public var maxNewTokens = 384
    public var minNewTokens = 0
    public var seed: UInt64 = 0
    public init() {}
}

public struct SynthesisOptions: Sendable {
    public var voice: Voice?
    public var code = InferCodeParams()
    /// nil skips refinement.
    public var refine: RefineTextParams? = RefineTextParams()
    public var normalize = true
    public init() {}
}

extension ChatTTSModel {
    /// The text the code stage reads: `[Stts][spk_emb]{prompt}{text}[Ptts]` (or `[empty_spk]` without a voice),
    /// after removing any of those control tokens the user typed.
    public func decorateForCode(_ text: String, prompt: String, hasVoice: Bool) -> String {
        let cleaned = ["[Stts]", "[spk_emb]", "[empty_spk]"].reduce(text) { $0.replacingOccurrences(of: $1, with: "") }
            .trimmingCharacters(in: .whitespaces)
        return "[Stts]" + (hasVoice ? "[spk_emb]" : "[empty_spk]") + prompt + cleaned + "[Ptts]"
    }

    /// The text the refinement stage reads.
    public func decorateForRefine(_ text: String, prompt: String) -> String {
        "[Sbreak]" + text + "[Pbreak]" + prompt
    }

    /// Input embeddings [tokens, hidden] for text ids, with the voice written over every `[spk_emb]` position.
    public func promptEmbeddings(_ ids: [Int], voice: Voice?) throws -> Tensor {
        let h = hiddenSize
        let out = Tensor(zeros: [ids.count, h])
        let speakerToken = tokenizer.id(of: "[spk_emb]")
        let speaker = voice?.normalized
        if let speaker, speaker.count != h {
            throw VoiceError(message: "voice has \(speaker.count) values, the model needs \(h)")
        }
        for (i, id) in ids.enumerated() {
            guard id >= 0 && id < embed.numTextTokens else {
                throw ModelError(folder.path, "token id \(id) is outside the text embedding (\(embed.numTextTokens))")
            }
            if let speaker, id == speakerToken {
                speaker.withUnsafeBufferPointer { (out.pointer + i * h).update(from: $0.baseAddress!, count: h) }
            } else {
                embed.embedText(id, into: out.pointer + i * h)
            }
        }
        return out
    }

    public func refineParams(_ p: RefineTextParams) -> GenerationParams {
        GenerationParams(temperature: [p.temperature], topP: p.topP, topK: p.topK, repetitionPenalty: p.repetitionPenalty,
                         minNewTokens: p.minNewTokens, maxNewTokens: p.maxNewTokens, seed: p.seed)
    }

    public func codeParams(_ p: InferCodeParams) -> GenerationParams {
        GenerationParams(temperature: [Float](repeating: p.temperature, count: config.numVQ), topP: p.topP, topK: p.topK,
                         repetitionPenalty: p.repetitionPenalty, minNewTokens: p.minNewTokens,
                         maxNewTokens: p.maxNewTokens, seed: p.seed)
    }

    /// Runs sequences to completion, stepping them together.
    public func generate(_ sequences: [GenerationSequence], debug: DebugSink? = nil) {
        while sequences.contains(where: { !$0.finished }) { step(sequences, debug: debug) }
    }

    /// Refinement: the GPT rewrites each text with prosody tokens; ids at or above `[break_0]` are dropped and the
    /// rest decoded back to text, as the reference does.
    public func refine(_ texts: [String], params: RefineTextParams) throws -> [String] {
        let gp = refineParams(params)
        let sequences = try texts.map { text in
            let ids = tokenizer.encode(decorateForRefine(text, prompt: params.prompt))
            return try makeSequence(mode: .text, prompt: promptEmbeddings(ids, voice: nil), params: gp)
        }
        generate(sequences)
        return sequences.map(refinedText)
    }

    /// The text a finished refinement sequence wrote: ids at or above `[break_0]` dropped, the rest decoded.
    public func refinedText(_ sequence: GenerationSequence) -> String {
        let limit = tokenizer.id(of: "[break_0]") ?? Int.max
        return tokenizer.decode(sequence.tokens.map { $0[0] }.filter { $0 < limit })
    }

    /// Normalizes, refines and decorates texts, then makes one code sequence per text (not yet stepped).
    public func codeSequences(_ texts: [String], options: SynthesisOptions, debug: DebugSink? = nil) throws
        -> [GenerationSequence]
    {
        var prepared = texts
        if options.normalize { prepared = prepared.map { Normalizer().normalize($0) } }
        if let refine = options.refine { prepared = try self.refine(prepared, params: refine) }
        return try prepared.map { text in
            let ids = tokenizer.encode(decorateForCode(text, prompt: options.code.prompt, hasVoice: options.voice != nil))
            let prompt = try promptEmbeddings(ids, voice: options.voice)
            debug?.record("embed", prompt)
            return try makeSequence(mode: .code, prompt: prompt, params: codeParams(options.code))
        }
    }

    /// The whole waveform of a sequence's steps so far (decoder, then Vocos), 24 kHz float32.
    public func waveform(_ sequence: GenerationSequence, debug: DebugSink? = nil) -> [Float] {
        sequence.steps == 0 ? [] : vocos(decoder(sequence.hiddenStates(), debug: debug), debug: debug)
    }

    /// Text to waveforms (24 kHz float32), one per input text, generated as one batch.
    public func synthesize(_ texts: [String], options: SynthesisOptions, debug: DebugSink? = nil) throws -> [[Float]] {
        let sequences = try codeSequences(texts, options: options, debug: debug)
        generate(sequences, debug: debug)
        if let debug {
            for s in sequences {
                debug.record("codes", Tensor(shape: [s.steps, s.tokens.first?.count ?? config.numVQ],
                                             values: s.tokens.flatMap { $0.map(Float.init) }))
            }
        }
        return sequences.map { waveform($0, debug: debug) }
    }
}
