/// What the scheduler needs from a speech engine: per-request state that advances in lock-step batches and can fail
/// one sequence at a time.
///
/// The scheduler and the server never touch model internals: voices and knobs are the engine's, published through
/// `knobs` and `voices`, so another engine (a small formant synthesizer for a first run without model files, or a
/// GPU backend) plugs in without changes to batching or the server.
public protocol SpeechEngine: Sendable {
    associatedtype Sequence: AnyObject

    /// A short name for logs and `/v1/models` (`chattts`).
    var name: String { get }
    var sampleRate: Int { get }
    /// The synthesis parameters this engine takes, with their defaults and limits.
    var knobs: KnobTable { get }
    /// The voices a request may name, for `/v1/voices`.
    var voices: [VoiceListing] { get }

    /// Checks that a voice name can be used (at start, for the server's default voice).
    func checkVoice(_ spec: String) throws(SynthesisError)
    /// OpenAI's `speed` (0.25...4, 1 = normal) as this engine's knob values.
    func knobs(forSpeed speed: Double) -> [String: KnobValue]
    /// A short request through the whole path, run before the service reports ready.
    func warmUpRequest() -> SpeechRequest

    /// Validates and prepares a request (text normalization, tokenization, voice); cheap, no model steps.
    func start(_ request: SpeechRequest) throws(SynthesisError) -> Sequence
    /// The most bytes of memory the sequence may hold at once over its life (its KV caches), for admission.
    func memoryBytes(_ sequence: Sequence) -> Int
    /// One step for every sequence in the batch; sequences may join or leave between calls.
    func step(_ batch: [Sequence])
    /// Running, finished (all audio made) or failed (with the reason the client gets).
    func state(_ sequence: Sequence) -> SequenceState
    /// Stops a sequence at the next step boundary.
    func cancel(_ sequence: Sequence)
    /// Audio produced since the last call (possibly empty); after it finished, the rest of it.
    func takeAudio(_ sequence: Sequence) -> [Float]
    /// Model steps taken by this sequence so far.
    func steps(_ sequence: Sequence) -> Int
    /// What the engine made of the request at start (text segments, characters it could not say), for the
    /// response's headers.
    func details(_ sequence: Sequence) -> SpeechDetails
}

extension SpeechEngine {
    public func details(_ sequence: Sequence) -> SpeechDetails { SpeechDetails() }
}

/// What an engine made of a request's text, known once it started: the client gets it in response headers
/// (`X-Text-Segments`, `X-Removed-Characters`), before any audio.
public struct SpeechDetails: Sendable, Equatable {
    /// Utterances the text was split into (1 for a short text).
    public var textSegments: Int
    /// Characters the engine cannot say and left out, each once, in order of first appearance.
    public var removedCharacters: [Character]

    public init(textSegments: Int = 1, removedCharacters: [Character] = []) {
        self.textSegments = textSegments
        self.removedCharacters = removedCharacters
    }
}

/// Where one sequence stands after a step.
public enum SequenceState: Sendable, Equatable {
    case running
    case finished
    case failed(SynthesisError)
}

/// One voice as `/v1/voices` lists it.
public struct VoiceListing: Sendable, Equatable {
    public var id: String
    /// Where it comes from: `configured`, `configured sample`, `seed:1001` (an OpenAI name)...
    public var source: String

    public init(id: String, source: String) {
        self.id = id
        self.source = source
    }
}
