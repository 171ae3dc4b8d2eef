/// One synthesis: a text, a voice as the client named it, and the engine's knob values (already resolved against
/// the engine's table).
public struct SpeechRequest: Sendable {
    /// The field name engines use for the text in errors; each endpoint answers it under its own name.
    public static let textField = "text"
    public static let voiceField = "voice"

    public var id: String
    public var text: String
    /// A voice the engine resolves (a configured name, `seed:N`, a voice string...); nil: the engine's default.
    public var voice: String?
    public var knobs: KnobValues

    public init(id: String, text: String, voice: String?, knobs: KnobValues) {
        self.id = id
        self.text = text
        self.voice = voice
        self.knobs = knobs
    }
}
