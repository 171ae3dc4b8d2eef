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
    /// Time from submission to the first audio: a request whose estimated wait is longer is refused at once, a queued
    /// one past it fails, a running one without audio by then is cancelled. nil: the scheduler's `requestTimeout`
    /// (a longer one is cut to that).
    public var deadline: Duration?

    public init(id: String, text: String, voice: String?, knobs: KnobValues, deadline: Duration? = nil) {
        self.id = id
        self.text = text
        self.voice = voice
        self.knobs = knobs
        self.deadline = deadline
    }
}
