import AudioCodecs
import Foundation
import Synthesis

/// How the audio leaves: whole (one body with Content-Length), streamed bytes, or server-sent events.
enum StreamMode: String, Sendable {
    /// The encoded bytes as they are made (chunked transfer).
    case audio
    /// `speech.audio.delta` events with base64 audio, then `speech.audio.done`.
    case sse
}

/// One validated synthesis request, whichever endpoint it came through.
struct SpeechInput: Sendable {
    var text: String
    /// Voice as the client named it (configured name, OpenAI name, `seed:N`, voice string); nil: the default.
    var voice: String?
    var parameters: SpeechParameters
    var format: AudioFormat
    var stream: StreamMode?
}

/// The models `/v1/models` lists and `/v1/audio/speech` accepts: ours, and OpenAI's names so existing clients work.
enum Models {
    static let native = "chattts"
    static let all = [native, "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15"]
}

enum SpeechInputParser {
    /// OpenAI's `speed` (0.25...4.0, 1 = normal) as ChatTTS's `[speed_N]` prompt, N in 0...9: each doubling of speed
    /// adds 2, so 0.25 -> 1, 0.5 -> 3, 1 -> 5, 2 -> 7, 4 -> 9 (rounded to the nearest N).
    static func speedPrompt(_ speed: Double) -> String {
        let n = Int((5 + 2 * log2(speed)).rounded())
        return "[speed_\(min(9, max(0, n)))]"
    }

    static func format(_ fields: JSONFields, default fallback: AudioFormat) throws(APIError) -> AudioFormat {
        guard let name = try fields.string("response_format") else { return fallback }
        guard let format = AudioFormat(rawValue: name) else {
            let all = AudioFormat.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError.invalid("response_format", "'response_format' must be one of \(all), got '\(name)'")
        }
        guard format.isSupported else {
            let supported = AudioFormat.allCases.filter(\.isSupported).map(\.rawValue).joined(separator: ", ")
            throw APIError.invalid("response_format",
                                   "'response_format' \(name) is unsupported by this server; use one of \(supported)",
                                   code: "unsupported_format")
        }
        return format
    }

    static func stream(_ fields: JSONFields) throws(APIError) -> StreamMode? {
        guard let name = try fields.string("stream_format") else { return nil }
        guard let mode = StreamMode(rawValue: name) else {
            throw APIError.invalid("stream_format", "'stream_format' must be 'audio' or 'sse', got '\(name)'")
        }
        return mode
    }

    static func text(_ fields: JSONFields, key: String, limit: Int) throws(APIError) -> String {
        guard let text = try fields.string(key) else {
            throw APIError.invalid(key, "'\(key)' is required: the text to speak (at most \(limit) characters)",
                                   code: "missing_field")
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError.invalid(key, "'\(key)' must not be empty")
        }
        guard text.count <= limit else {
            throw APIError.invalid(key, "'\(key)' is \(text.count) characters; the limit is \(limit)", code: "string_above_max_length")
        }
        return text
    }

    /// `POST /v1/audio/speech`: OpenAI's fields; unknown ones are ignored, as OpenAI's clients send new ones over time.
    /// `seed` is accepted as an extension (`extra_body` in the Python client) for repeatable audio.
    static func openAI(_ fields: JSONFields, config: ServerConfiguration) throws(APIError) -> SpeechInput {
        guard let model = try fields.string("model") else {
            throw APIError.invalid("model", "'model' is required; one of \(Models.all.joined(separator: ", "))",
                                   code: "missing_field")
        }
        guard Models.all.contains(model) else {
            throw APIError.invalid("model", "Model '\(model)' does not exist here; use one of \(Models.all.joined(separator: ", "))",
                                   code: "model_not_found")
        }
        let text = try text(fields, key: "input", limit: config.maxInputCharacters)
        guard let voice = try fields.voice("voice") else {
            throw APIError.invalid("voice", "'voice' is required: a configured voice name, an OpenAI voice name, seed:N or a voice string",
                                   code: "missing_field")
        }
        var p = SpeechParameters()
        p.prompt = speedPrompt(try fields.double("speed", in: 0.25...4.0) ?? 1.0)
        p.refine = config.refine
        p.maxNewTokens = config.maxNewTokens
        p.seed = try fields.uint64("seed")
        _ = try fields.string("instructions")  // gpt-4o-mini-tts steering text: accepted, not used by ChatTTS.
        return SpeechInput(text: text, voice: voice, parameters: p, format: try format(fields, default: .mp3),
                           stream: try stream(fields))
    }

    /// Fields of `POST /v1/tts`, named as in the official `chattts` package (`top_P`, `max_new_token`, ...).
    static let nativeFields: Set<String> = [
        "text", "voice", "prompt", "temperature", "top_P", "top_K", "repetition_penalty", "min_new_token", "max_new_token",
        "refine", "refine_prompt", "refine_temperature", "refine_top_P", "refine_top_K", "refine_repetition_penalty",
        "refine_max_new_token", "normalize", "seed", "response_format", "stream_format",
    ]

    /// `POST /v1/tts`: every ChatTTS knob; unknown fields are refused so typos do not pass unnoticed.
    static func native(_ fields: JSONFields, config: ServerConfiguration) throws(APIError) -> SpeechInput {
        try fields.rejectUnknown(allowed: nativeFields)
        let text = try text(fields, key: "text", limit: config.maxInputCharacters)
        var p = SpeechParameters()
        p.maxNewTokens = min(p.maxNewTokens, config.maxNewTokens)
        if let v = try fields.string("prompt") {
            guard v.count <= 256 else { throw APIError.invalid("prompt", "'prompt' is \(v.count) characters; the limit is 256") }
            p.prompt = v
        }
        if let v = try fields.double("temperature", in: 0...5, lowerOpen: true) { p.temperature = Float(v) }
        if let v = try fields.double("top_P", in: 0...1, lowerOpen: true) { p.topP = Float(v) }
        if let v = try fields.int("top_K", in: 1...1000) { p.topK = v }
        if let v = try fields.double("repetition_penalty", in: 0...10, lowerOpen: true) { p.repetitionPenalty = Float(v) }
        if let v = try fields.int("max_new_token", in: 1...config.maxNewTokens) { p.maxNewTokens = v }
        if let v = try fields.int("min_new_token", in: 0...p.maxNewTokens) { p.minNewTokens = v }
        if let v = try fields.bool("refine") { p.refine = v }
        if let v = try fields.string("refine_prompt") {
            guard v.count <= 256 else {
                throw APIError.invalid("refine_prompt", "'refine_prompt' is \(v.count) characters; the limit is 256")
            }
            p.refinePrompt = v
        }
        if let v = try fields.double("refine_temperature", in: 0...5, lowerOpen: true) { p.refineTemperature = Float(v) }
        if let v = try fields.double("refine_top_P", in: 0...1, lowerOpen: true) { p.refineTopP = Float(v) }
        if let v = try fields.int("refine_top_K", in: 1...1000) { p.refineTopK = v }
        if let v = try fields.double("refine_repetition_penalty", in: 0...10, lowerOpen: true) {
            p.refineRepetitionPenalty = Float(v)
        }
        if let v = try fields.int("refine_max_new_token", in: 1...2048) { p.refineMaxNewTokens = v }
        if let v = try fields.bool("normalize") { p.normalize = v }
        p.seed = try fields.uint64("seed")
        return SpeechInput(text: text, voice: try fields.voice("voice"), parameters: p,
                           format: try format(fields, default: .wav), stream: try stream(fields))
    }
}
