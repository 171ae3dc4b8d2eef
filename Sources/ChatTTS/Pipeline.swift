import Foundation
import Tensors

/// Parameters of the code (speech) stage. Their defaults are the knob table's (`ChatTTSKnobs`), not repeated here.
public struct InferCodeParams: Sendable {
    public var prompt: String
    public var temperature: Float
    public var topP: Float?
    public var topK: Int?
    public var repetitionPenalty: Float
    public var maxNewTokens: Int
    public var minNewTokens: Int
    /// Seeds the sampler; the same seed, text and voice give the same audio.
    public var seed: UInt64
    public init() { self.init(ChatTTSKnobs.defaults, seed: 0) }
}

/// Parameters of the optional refinement stage (the GPT rewrites the text with prosody tokens).
public struct RefineTextParams: Sendable {
    public var prompt: String
    public var temperature: Float
    public var topP: Float?
    public var topK: Int?
    public var repetitionPenalty: Float
    public var maxNewTokens: Int
    public var minNewTokens: Int
    public var seed: UInt64
    public init() { self.init(ChatTTSKnobs.defaults, seed: 0) }
}

public struct SynthesisOptions: Sendable {
    public var voice: Voice?
    /// A voice sample for the speech prompt (official `spk_smp` and `txt_smp`), with or without `voice`.
    public var sample: SpeakerSample?
    public var code = InferCodeParams()
    /// nil skips refinement.
    public var refine: RefineTextParams? = RefineTextParams()
    public var normalize = true
    public init() {}
}

/// Which stage a prompt is for, with the stage's parameters. A speech prompt may carry a speaker embedding
/// (`voice`, over `[spk_emb]`), a voice sample (its transcript in the text, its codes after it), both or neither.
public enum PromptStage: Sendable {
    case speech(InferCodeParams, voice: Voice?, sample: SpeakerSample? = nil)
    case refine(RefineTextParams)
}

/// Why a text, or a recording meant as a voice sample (official ChatTTS calls the sample's codes the prompt too),
/// cannot become a speech prompt. The sample reasons are declared beside `sample(waveform:transcript:)`.
public struct PromptError: Error, CustomStringConvertible, Sendable {
    public struct Reason: Hashable, Sendable {
        let name: String
        public static let nothingToSpeak = Reason(name: "nothing_to_speak")
        public static let tooLong = Reason(name: "too_long")
    }

    public let reason: Reason
    public let message: String

    init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { message }
}

extension ChatTTSModel {
    /// The text the code stage reads: `[Stts][spk_emb]{transcript}{prompt}{text}[Ptts]` (or `[empty_spk]` without a
    /// voice; the transcript is a voice sample's, empty without one), after removing any of those control tokens
    /// the user typed into the text (the transcript is taken as it is, like the official `txt_smp`).
    public func decorateForCode(_ text: String, prompt: String, hasVoice: Bool, sampleTranscript: String = "")
        -> String
    {
        let cleaned = ["[Stts]", "[spk_emb]", "[empty_spk]"].reduce(text) { $0.replacingOccurrences(of: $1, with: "") }
            .trimmingCharacters(in: .whitespaces)
        return "[Stts]" + (hasVoice ? "[spk_emb]" : "[empty_spk]") + sampleTranscript + prompt + cleaned + "[Ptts]"
    }

    /// The text the refinement stage reads.
    public func decorateForRefine(_ text: String, prompt: String) -> String {
        "[Sbreak]" + text + "[Pbreak]" + prompt
    }

    /// Input embeddings [tokens + sample frames, hidden]: the text ids, with the voice written over every
    /// `[spk_emb]` position, then one row per frame of the sample's codes, the sum of its numVQ code embeddings
    /// (the official tokenizer appends the sample as code frames with text_mask 0).
    public func promptEmbeddings(_ ids: [Int], voice: Voice?, sample: SpeakerSample? = nil) throws -> Tensor {
        let h = hiddenSize
        let frames = try sample.map(checkedFrames) ?? []
        let out = Tensor(zeros: [ids.count + frames.count, h])
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
        for (t, codes) in frames.enumerated() { embed.embedCodes(codes[...], into: out.pointer + (ids.count + t) * h) }
        return out
    }

    /// The sample's codes as frames [frames][numVQ], refused unless they are numVQ rows of equal length with every
    /// code inside the code embeddings (a shared `spk_smp` string may hold anything).
    func checkedFrames(_ sample: SpeakerSample) throws -> [[Int]] {
        let rows = sample.codes, n = config.numVQ, limit = embed.numAudioTokens
        guard rows.count == n, rows.allSatisfy({ $0.count == sample.frames }) else {
            throw VoiceError(message: "a voice sample needs \(n) code rows of equal length, got "
                                 + "\(rows.map(\.count)) codes per row")
        }
        if let bad = rows.joined().first(where: { !(0..<limit).contains($0) }) {
            throw VoiceError(message: "voice sample code \(bad) is outside the model's \(limit) audio codes")
        }
        return (0..<sample.frames).map { t in rows.map { $0[t] } }
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
        let sequences = try texts.map { try promptSequence($0, stage: .refine(params), normalize: false) }
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
        return try prepared.map {
            try promptSequence($0, stage: .speech(options.code, voice: options.voice, sample: options.sample),
                               normalize: false, allowEmpty: true, debug: debug)
        }
    }

    /// The one path from a text to a sequence ready to step, for the engine, `say` and the benchmark alike:
    /// normalize (when asked), decorate for the stage, tokenize, embed (the voice over `[spk_emb]`, a voice sample's
    /// code frames after the text), check that the prompt and every step fit the model's positions, and make the
    /// sequence with its KV cache.
    ///
    /// `allowEmpty` lets an empty text through (a refinement may write nothing the speech stage can read; the
    /// speech prompt is then the decoration alone, as in the reference); a user's text that is empty after
    /// normalization is refused.
    public func promptSequence(_ text: String, stage: PromptStage, normalize: Bool, allowEmpty: Bool = false,
                               debug: DebugSink? = nil) throws -> GenerationSequence {
        let prepared = normalize ? Normalizer().normalize(text) : text
        guard allowEmpty || !prepared.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw PromptError(.nothingToSpeak, "nothing is left to speak after normalization")
        }
        let decorated: String, params: GenerationParams, mode: GenerationMode, voice: Voice?, sample: SpeakerSample?
        switch stage {
        case .speech(let p, let v, let s):
            decorated = decorateForCode(prepared, prompt: p.prompt, hasVoice: v != nil,
                                        sampleTranscript: s?.transcript ?? "")
            (params, mode, voice, sample) = (codeParams(p), .code, v, s)
        case .refine(let p):
            (decorated, params, mode, voice, sample) = (decorateForRefine(prepared, prompt: p.prompt), refineParams(p),
                                                        .text, nil, nil)
        }
        let ids = tokenizer.encode(decorated)
        let positions = config.maxPositions, length = ids.count + (sample?.frames ?? 0)
        guard length + params.maxNewTokens <= positions else {
            let frames = sample.map { " and \($0.frames) voice sample frames" } ?? ""
            throw PromptError(.tooLong, "the prompt is \(ids.count) tokens\(frames); with \(params.maxNewTokens) new "
                                  + "\(mode == .code ? "steps" : "tokens") it exceeds the model's \(positions) positions")
        }
        let prompt = try promptEmbeddings(ids, voice: voice, sample: sample)
        if mode == .code { debug?.record("embed", prompt) }
        return try makeSequence(mode: mode, prompt: prompt, params: params)
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
