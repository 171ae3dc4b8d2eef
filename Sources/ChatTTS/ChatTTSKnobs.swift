import Synthesis

/// ChatTTS's synthesis parameters, named as in the official package, with its defaults: the one declaration the
/// `/v1/tts` parser, validation, the OpenAPI document, `chattts say`'s flags and the README derive from.
///
/// A new knob is one more `Knob(...)` here plus the line that reads it (`InferCodeParams`/`RefineTextParams` or the
/// engine); nothing in the server or the CLI changes.
public enum ChatTTSKnobs {
    public static let prompt = Knob("prompt", .text(maxLength: 256), default: .text("[speed_5]"),
                                    doc: "prompt tags in front of the text, e.g. `[oral_2][laugh_0][break_6]`")
    public static let temperature = Knob("temperature", .number(0...5, lowerOpen: true), default: .number(0.3),
                                         doc: "sampling temperature of the speech stage")
    public static let topP = Knob("top_P", .number(0...1, lowerOpen: true), default: .number(0.7),
                                  doc: "top-P of the speech stage")
    public static let topK = Knob("top_K", .integer(1...1000), default: .integer(20), doc: "top-K of the speech stage")
    public static let repetitionPenalty = Knob("repetition_penalty", .number(0...10, lowerOpen: true),
                                               default: .number(1.05), doc: "repetition penalty over the last 16 steps")
    public static let minNewToken = Knob("min_new_token", .integer(0...4096), default: .integer(0), unit: "steps",
                                         doc: "EOS is masked before this many steps", notAbove: "max_new_token")
    /// The upper bound is the model's positions (`table(positions:)`); servers cap it further (`maxNewTokens`).
    public static let maxNewToken = Knob("max_new_token", .integer(1...4096), default: .integer(2048), unit: "steps",
                                         doc: "most steps of the speech stage (46.875 per second of audio)")
    public static let refine = Knob("refine", .boolean, default: .boolean(true),
                                    doc: "the refinement stage: the GPT rewrites the text with prosody tokens first")
    public static let refinePrompt = Knob("refine_prompt", .text(maxLength: 256), default: .text(""),
                                          doc: "prompt tags of the refinement stage")
    public static let refineTemperature = Knob("refine_temperature", .number(0...5, lowerOpen: true),
                                               default: .number(0.7), doc: "sampling temperature of the refinement")
    public static let refineTopP = Knob("refine_top_P", .number(0...1, lowerOpen: true), default: .number(0.7),
                                        doc: "top-P of the refinement")
    public static let refineTopK = Knob("refine_top_K", .integer(1...1000), default: .integer(20),
                                        doc: "top-K of the refinement")
    public static let refineRepetitionPenalty = Knob("refine_repetition_penalty", .number(0...10, lowerOpen: true),
                                                     default: .number(1.0), doc: "repetition penalty of the refinement")
    public static let refineMaxNewToken = Knob("refine_max_new_token", .integer(1...2048), default: .integer(384),
                                               unit: "tokens", doc: "most tokens the refinement writes")
    public static let normalize = Knob("normalize", .boolean, default: .boolean(true),
                                       doc: "text normalization before speaking")
    public static let splitText = Knob("split_text", .boolean, default: .boolean(true),
                                       doc: "split a long text into utterances (at newlines, after `。` and `. `, then at commas or spaces past \(TextSegmenter.boundDescription)) that keep one voice; off: one utterance, cut at `max_new_token`")
    public static let maxSplitBatch = Knob("max_split_batch", .integer(1...16), default: .integer(4),
                                           doc: "utterances of one request generated at once")
    public static let speakerSample = Knob("spk_smp", .text(maxLength: 1 << 20), default: nil,
                                           doc: "a voice sample as its DVAE codes (the official sample prompt string, `chattts voices make --sample`); needs `txt_smp`",
                                           absent: "none", needs: ["txt_smp"], notWith: ["sample_audio", "sample_text"],
                                           format: "chattts-sample")
    public static let sampleTranscript = Knob("txt_smp", .text(maxLength: 4096), default: nil,
                                              doc: "what the `spk_smp` sample says", absent: "none", needs: ["spk_smp"])
    public static let sampleAudio = Knob("sample_audio", .text(maxLength: 1 << 24), default: nil,
                                         doc: "a voice sample as a base64 WAV (16-bit or float, any rate, mono or stereo, at most \(ChatTTSModel.maxSampleSeconds) s); needs `sample_text`; not with `spk_smp`",
                                         absent: "none", needs: ["sample_text"], notWith: ["spk_smp", "txt_smp"],
                                         format: "chattts-wav-base64")
    public static let sampleText = Knob("sample_text", .text(maxLength: 4096), default: nil,
                                        doc: "what the `sample_audio` sample says", absent: "none", needs: ["sample_audio"])
    public static let streamMode = Knob("stream_mode", .choice(StreamMode.allCases.map(\.rawValue)),
                                        default: .text(StreamMode.exact.rawValue),
                                        doc: "streamed audio: `exact` (every sample as the one-shot waveform; first audio after the vocoder's look-ahead, about 53 steps) or `fast` (look-ahead bounded to 8 steps, chunk edges cross-faded: first audio after about 10 steps, a small error against one-shot); the server's `streamMode` sets the default")
    public static let seed = Knob("seed", .unsigned, default: nil,
                                  doc: "the same seed, text, voice and knobs give the same audio, whatever shares the batch",
                                  absent: "random")

    /// Every knob, in the order the docs list them; `max_new_token` and `min_new_token` bounded by the model's
    /// positions.
    public static func table(positions: Int = 4096) -> KnobTable {
        let all = [prompt, temperature, topP, topK, repetitionPenalty, minNewToken, maxNewToken, refine, refinePrompt,
                   refineTemperature, refineTopP, refineTopK, refineRepetitionPenalty, refineMaxNewToken, normalize,
                   splitText, maxSplitBatch, speakerSample, sampleTranscript, sampleAudio, sampleText, streamMode, seed]
        // The model's positions bound both step counts (a small model may have fewer than the official 4096).
        let limit = max(1, min(4096, positions))
        do {
            return try KnobTable(all).capping(maxNewToken.name, at: limit).capping(minNewToken.name, at: limit)
        } catch {
            preconditionFailure("positions \(positions) break the step knobs: \(error)")
        }
    }

    /// The official defaults.
    public static let defaults = table().defaults
}

extension InferCodeParams {
    /// The speech stage's parameters from a request's knob values.
    public init(_ knobs: KnobValues, seed: UInt64) {
        prompt = knobs.text(ChatTTSKnobs.prompt)
        temperature = Float(knobs.number(ChatTTSKnobs.temperature))
        topP = Float(knobs.number(ChatTTSKnobs.topP))
        topK = knobs.integer(ChatTTSKnobs.topK)
        repetitionPenalty = Float(knobs.number(ChatTTSKnobs.repetitionPenalty))
        minNewTokens = knobs.integer(ChatTTSKnobs.minNewToken)
        maxNewTokens = knobs.integer(ChatTTSKnobs.maxNewToken)
        self.seed = seed
    }
}

extension RefineTextParams {
    /// The refinement stage's parameters from a request's knob values.
    public init(_ knobs: KnobValues, seed: UInt64) {
        prompt = knobs.text(ChatTTSKnobs.refinePrompt)
        temperature = Float(knobs.number(ChatTTSKnobs.refineTemperature))
        topP = Float(knobs.number(ChatTTSKnobs.refineTopP))
        topK = knobs.integer(ChatTTSKnobs.refineTopK)
        repetitionPenalty = Float(knobs.number(ChatTTSKnobs.refineRepetitionPenalty))
        minNewTokens = 0
        maxNewTokens = knobs.integer(ChatTTSKnobs.refineMaxNewToken)
        self.seed = seed
    }
}
