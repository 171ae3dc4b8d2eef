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
    var knobs: KnobValues
    var format: AudioFormat
    var stream: StreamMode?
    /// The client's own deadline for the first audio (`X-Request-Timeout`); nil: the server's `requestTimeout`.
    var deadline: Duration?
}

/// The models `/v1/models` lists and `/v1/audio/speech` accepts: the engine's, and OpenAI's names so existing
/// clients work.
enum Models {
    static func all(engine: String) -> [String] {
        [engine, "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15"]
    }
}

/// Reads request bodies. Fields that are the server's (text, voice, formats) are read here; every other field of
/// `/v1/tts` is one of the engine's knobs, read by its declared kind and checked by the engine's table.
struct SpeechInputParser: Sendable {
    let knobs: KnobTable
    let engineName: String
    let config: ServerConfiguration
    /// OpenAI's `speed` as the engine's knobs.
    let speed: @Sendable (Double) -> [String: KnobValue]

    static let serverFields = ["text", "voice", "response_format", "stream_format"]

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

    /// The text field, held to its length and to `TextPolicy` (markup, control characters, prompt tags).
    func text(_ fields: JSONFields, key: String, limit: Int) throws(APIError) -> String {
        try TextPolicy.check(try Self.text(fields, key: key, limit: limit), field: key, markup: config.markup)
    }

    static func text(_ fields: JSONFields, key: String, limit: Int) throws(APIError) -> String {
        guard let text = try fields.string(key) else {
            throw APIError.invalid(key, "'\(key)' is required: the text to speak (at most \(limit) characters)",
                                   code: "missing_field")
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError.invalid(key, "'\(key)' must not be empty")
        }
        // Characters are Unicode code points, as JSON Schema's maxLength counts them.
        guard text.unicodeScalars.count <= limit else {
            throw APIError.invalid(key, "'\(key)' is \(text.unicodeScalars.count) characters; the limit is \(limit)", code: "string_above_max_length")
        }
        return text
    }

    /// A knob's JSON value as the knob's kind; a value of the wrong type names the field and the kind.
    static func value(_ fields: JSONFields, _ knob: Knob) throws(APIError) -> KnobValue? {
        switch knob.kind {
        case .number: try fields.double(knob.name).map(KnobValue.number)
        case .integer: try fields.int(knob.name).map(KnobValue.integer)
        case .unsigned: try fields.uint64(knob.name).map(KnobValue.unsigned)
        case .boolean: try fields.bool(knob.name).map(KnobValue.boolean)
        case .text, .choice: try fields.string(knob.name).map(KnobValue.text)
        }
    }

    /// The knob values of a request: `given` checked by the engine's table, the defaults for the rest.
    func resolve(_ given: [String: KnobValue]) throws(APIError) -> KnobValues {
        do { return try knobs.resolve(given) } catch { throw APIError(error, textField: "text") }
    }

    /// `POST /v1/audio/speech`: OpenAI's fields; unknown ones are ignored, as OpenAI's clients send new ones over time.
    /// `seed` is accepted as an extension (`extra_body` in the Python client) when the engine has that knob.
    func openAI(_ fields: JSONFields) throws(APIError) -> SpeechInput {
        let models = Models.all(engine: engineName)
        guard let model = try fields.string("model") else {
            throw APIError.invalid("model", "'model' is required; one of \(models.joined(separator: ", "))",
                                   code: "missing_field")
        }
        guard models.contains(model) else {
            throw APIError.invalid("model", "Model '\(model)' does not exist here; use one of \(models.joined(separator: ", "))",
                                   code: "model_not_found")
        }
        let text = try self.text(fields, key: "input", limit: config.maxInputCharacters)
        guard let voice = try fields.voice("voice") else {
            throw APIError.invalid("voice", "'voice' is required: a configured voice name, an OpenAI voice name, seed:N or a voice string",
                                   code: "missing_field")
        }
        var given = speed(try fields.double("speed", in: 0.25...4.0) ?? 1.0)
        // The server's choices for this route, where the engine has the knob.
        if knobs["refine"] != nil { given["refine"] = .boolean(config.refine) }
        if knobs["max_new_token"] != nil { given["max_new_token"] = .integer(config.maxNewTokens) }
        if let seed = knobs["seed"], let v = try Self.value(fields, seed) { given[seed.name] = v }
        _ = try fields.string("instructions")  // gpt-4o-mini-tts steering text: accepted, not used.
        let values: KnobValues
        do { values = try knobs.resolve(given) } catch { throw APIError(error, textField: "input") }
        return SpeechInput(text: text, voice: voice, knobs: values, format: try Self.format(fields, default: .mp3),
                           stream: try Self.stream(fields))
    }

    /// `POST /v1/tts`: the server's fields and every knob of the engine; unknown fields are refused (naming the field)
    /// so typos do not pass unnoticed.
    func native(_ fields: JSONFields) throws(APIError) -> SpeechInput {
        try fields.rejectUnknown(allowed: Set(Self.serverFields + knobs.names))
        let text = try self.text(fields, key: "text", limit: config.maxTextCharacters)
        var given: [String: KnobValue] = [:]
        for knob in knobs.knobs {
            guard var v = try Self.value(fields, knob) else { continue }
            // Every text knob (a sample's transcript, a prompt) is held to the text's rules; prompt tags are what a
            // prompt knob (`prompt`, `refine_prompt`) holds.
            if case .text(let s) = v, case .text = knob.kind {
                v = .text(try TextPolicy.check(s, field: knob.name, markup: config.markup,
                                               promptTags: knob.name.hasSuffix("prompt")))
            }
            given[knob.name] = v
        }
        return SpeechInput(text: text, voice: try fields.voice("voice") ?? config.defaultVoice, knobs: try resolve(given),
                           format: try Self.format(fields, default: .wav), stream: try Self.stream(fields))
    }
}
