/// What the scheduler needs from a speech engine: per-request state that advances in lock-step batches.
///
/// The scheduler never touches model internals, so another engine (a small formant synthesizer for a first run
/// without model files, or a GPU backend) plugs in without changes to batching or the server.
public protocol SpeechEngine: Sendable {
    associatedtype Sequence: AnyObject

    var sampleRate: Int { get }
    /// Validates and prepares a request (text normalization, tokenization); cheap, no model steps.
    func start(_ request: SpeechRequest) throws -> Sequence
    /// One step for every sequence in the batch; sequences may join or leave between calls.
    func step(_ batch: [Sequence])
    func isFinished(_ sequence: Sequence) -> Bool
    /// Stops a sequence at the next step boundary.
    func cancel(_ sequence: Sequence)
    /// Audio produced since the last call (possibly empty); after `isFinished`, the rest of it.
    func takeAudio(_ sequence: Sequence) -> [Float]
    /// Model steps taken by this sequence so far.
    func steps(_ sequence: Sequence) -> Int
}
