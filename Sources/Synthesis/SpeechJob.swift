import Foundation
import Synchronization

/// The caller's handle on one submitted request: its audio as it is produced, and a way to stop it.
public final class SpeechJob: Sendable {
    public let id: String
    /// What the engine made of the request at start.
    public let details: SpeechDetails
    /// Mono float32 chunks at the engine's sample rate, in order; the stream ends when the utterance is complete,
    /// or throws a `SynthesisError` (queue timeout, drain, cancellation).
    public let audio: AsyncThrowingStream<[Float], Error>
    let continuation: AsyncThrowingStream<[Float], Error>.Continuation
    private let cancelled = Atomic<Bool>(false)
    private let reason = Mutex<SynthesisError?>(nil)
    private let times = Mutex<Times>(Times())
    let submitted = ContinuousClock.now
    /// When the first audio must have come (see `SpeechRequest.deadline`).
    public let deadline: ContinuousClock.Instant

    struct Times {
        var admitted: ContinuousClock.Instant?
        var firstAudio: ContinuousClock.Instant?
        /// Engine steps the job had taken when its first audio left.
        var stepsToFirstAudio: Int?
        var finished: ContinuousClock.Instant?
        var samples = 0
        var steps = 0
    }

    init(id: String, details: SpeechDetails = SpeechDetails(), deadline: Duration = .seconds(60)) {
        self.id = id
        self.details = details
        self.deadline = submitted + deadline
        (audio, continuation) = AsyncThrowingStream<[Float], Error>.makeStream(bufferingPolicy: .unbounded)
        continuation.onTermination = { [weak self] termination in
            // The consumer went away (client disconnected): free the batch slot at the next step.
            if case .cancelled = termination { self?.cancel() }
        }
    }

    /// Stops the job at the next step boundary; its stream ends with `reason`, or a `cancelled` error (the first
    /// reason given wins).
    public func cancel(_ reason: SynthesisError? = nil) {
        if let reason { self.reason.withLock { if $0 == nil { $0 = reason } } }
        cancelled.store(true, ordering: .relaxed)
    }

    /// Why the job was cancelled, when the canceller said.
    public var cancelReason: SynthesisError? { reason.withLock { $0 } }

    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Time between submission and joining the batch (nil while queued).
    public var queueWait: Duration? {
        times.withLock { t in t.admitted.map { $0 - submitted } }
    }

    /// Time between submission and the first audio chunk.
    public var timeToFirstAudio: Duration? {
        times.withLock { t in t.firstAudio.map { $0 - submitted } }
    }

    /// Engine steps the job had taken when its first audio left (nil before).
    public var stepsToFirstAudio: Int? { times.withLock { $0.stepsToFirstAudio } }

    /// Engine steps this job took (refinement and speech).
    public var steps: Int { times.withLock { $0.steps } }

    public var samplesProduced: Int { times.withLock { $0.samples } }

    /// Seconds of audio delivered beyond the time since the first chunk left: how far a client that plays it as it
    /// arrives is ahead of its playback (nil before any audio).
    public func lead(at now: ContinuousClock.Instant, sampleRate: Int) -> Double? {
        times.withLock { t in
            t.firstAudio.map { Double(t.samples) / Double(sampleRate) - (now - $0).seconds }
        }
    }

    /// True once some audio has been delivered.
    public var hasAudio: Bool { times.withLock { $0.firstAudio != nil } }

    func markAdmitted() {
        times.withLock { $0.admitted = .now }
    }

    func deliver(_ samples: [Float], steps: Int) {
        times.withLock { t in
            if t.firstAudio == nil, !samples.isEmpty {
                t.firstAudio = .now
                t.stepsToFirstAudio = steps
            }
            t.samples += samples.count
            t.steps = steps
        }
        if !samples.isEmpty { continuation.yield(samples) }
    }

    func finish(steps: Int) {
        times.withLock { $0.finished = .now; $0.steps = steps }
        continuation.finish()
    }

    func fail(_ error: SynthesisError) {
        times.withLock { $0.finished = .now }
        continuation.finish(throwing: error)
    }
}
