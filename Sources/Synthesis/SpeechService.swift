import ServiceLifecycle

/// What the server needs from the synthesis side: the engine's description, and a queue that takes requests and
/// hands back jobs. `Scheduler` is the implementation; the server holds `any SpeechService`, so it compiles and is
/// tested against any engine (its tests use a fake one).
public protocol SpeechService: Service, Sendable {
    /// The engine's short name (`chattts`).
    var engineName: String { get }
    var sampleRate: Int { get }
    /// The knobs requests may set, with the limits requests may use (server settings applied).
    var knobs: KnobTable { get }
    var voices: [VoiceListing] { get }
    func checkVoice(_ spec: String) throws(SynthesisError)
    /// OpenAI's `speed` as the engine's knob values.
    func knobs(forSpeed speed: Double) -> [String: KnobValue]

    var stats: SchedulerStats { get }
    var isDraining: Bool { get }
    /// Validates and queues a request. Throws `invalidRequest` (with the field), `draining` or `queueFull`.
    func submit(_ request: SpeechRequest) throws(SynthesisError) -> SpeechJob
    /// Refuses new work from now on; accepted work still finishes (bounded by the drain timeout).
    func beginDraining()
    /// One short synthesis through the whole path; returns how long it took.
    func warmUp() async throws -> Duration
}
