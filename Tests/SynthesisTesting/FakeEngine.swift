import Synchronization
import Synthesis

/// An engine for tests of the scheduler and the server: no model, deterministic audio, and failures on demand.
///
/// Each step makes `samplesPerStep` samples whose value is the step number / 1000, so a test can tell which steps
/// arrived. Knobs: `steps` (how many), `fail_at` (fail at that step, with `fail_code`), `memory` (bytes the
/// sequence claims, for admission), `step_delay_ms` (to keep a batch busy) and `silent_steps` (audio held back until
/// that many steps are done, then released at once, like the vocoder's look-ahead).
public final class FakeEngine: SpeechEngine {
    public let name = "fake"
    public let sampleRate = 24000
    public let samplesPerStep = 100
    public let knobs = KnobTable([
        Knob("steps", .integer(1...10_000), default: .integer(10), unit: "steps", doc: "steps to run"),
        Knob("fail_at", .integer(0...10_000), default: nil, doc: "fail at this step", absent: "never"),
        Knob("fail_code", .text(maxLength: 32), default: .text("engine_failure"), doc: "the failure's code"),
        Knob("memory", .integer(0...Int.max), default: .integer(1 << 20), unit: "bytes", doc: "memory claimed"),
        Knob("step_delay_ms", .integer(0...1000), default: .integer(0), doc: "sleep per step"),
        Knob("silent_steps", .integer(0...10_000), default: .integer(0), unit: "steps", doc: "steps before the first audio"),
    ])
    public let voices = [VoiceListing(id: "fake-voice", source: "configured")]

    /// The largest batch `step` was given so far, for tests of admission.
    public var largestBatch: Int { largest.withLock { $0 } }
    private let largest = Mutex(0)

    /// The request ids of every step's batch, in order (the first 100,000 steps), for tests of who steps when.
    public var stepLog: [[String]] { log.withLock { $0 } }
    private let log = Mutex<[[String]]>([])

    /// While held, steps make no progress (each sleeps 5 ms): the warm-up or a batch stays where it is until the
    /// test calls `release()`, however slow the machine.
    private let held: Mutex<Bool>

    public init(held: Bool = false) { self.held = Mutex(held) }

    public func hold() { held.withLock { $0 = true } }
    public func release() { held.withLock { $0 = false } }

    /// Invariant: touched by the scheduler's compute thread only, once `start` returned it.
    public final class Sequence: @unchecked Sendable {
        let id: String
        let total: Int
        let silent: Int
        let failAt: Int?
        let failCode: String
        let memory: Int
        let delay: Int
        var steps = 0
        var pending: [Float] = []
        var cancelled = false
        var failure: SynthesisError?

        init(id: String, knobs: KnobValues, table: KnobTable) {
            self.id = id
            total = knobs.integer(table["steps"]!)
            silent = knobs.integer(table["silent_steps"]!)
            if case .integer(let n)? = knobs["fail_at"] { failAt = n } else { failAt = nil }
            failCode = knobs.text(table["fail_code"]!)
            memory = knobs.integer(table["memory"]!)
            delay = knobs.integer(table["step_delay_ms"]!)
        }
    }

    public func checkVoice(_ spec: String) throws(SynthesisError) {
        guard spec == "fake-voice" else {
            throw SynthesisError(.invalidRequest, "'\(spec)' is not a voice of the fake engine", field: "voice",
                                 code: "invalid_voice")
        }
    }

    public func knobs(forSpeed speed: Double) -> [String: KnobValue] { [:] }

    public func warmUpRequest() -> SpeechRequest {
        SpeechRequest(id: "warm-up", text: "warm up", voice: nil, knobs: knobs.defaults)
    }

    public func start(_ request: SpeechRequest) throws(SynthesisError) -> Sequence {
        if let voice = request.voice { try checkVoice(voice) }
        guard !request.text.isEmpty else {
            throw SynthesisError(.invalidRequest, "must not be empty", field: SpeechRequest.textField)
        }
        return Sequence(id: request.id, knobs: request.knobs, table: knobs)
    }

    public func memoryBytes(_ s: Sequence) -> Int { s.memory }

    public func step(_ batch: [Sequence]) {
        largest.withLock { $0 = max($0, batch.count) }
        log.withLock { if $0.count < 100_000 { $0.append(batch.map(\.id)) } }
        if held.withLock({ $0 }) {
            usleep(5000)
            return
        }
        if let delay = batch.map(\.delay).max(), delay > 0 { usleep(UInt32(delay * 1000)) }
        for s in batch where !s.cancelled && s.failure == nil && s.steps < s.total {
            if s.steps == s.failAt {
                let code = SynthesisError.Code(name: s.failCode)
                s.failure = code == .invalidRequest
                    ? SynthesisError(code, "failed on demand at step \(s.steps)", field: SpeechRequest.textField,
                                     code: "text_too_long")
                    : SynthesisError(code, "failed on demand at step \(s.steps)", retryAfter: code == .outOfMemory ? 1 : nil)
                continue
            }
            s.steps += 1
            s.pending += [Float](repeating: Float(s.steps) / 1000, count: samplesPerStep)
        }
    }

    public func state(_ s: Sequence) -> SequenceState {
        if let failure = s.failure { return .failed(failure) }
        return s.cancelled || s.steps >= s.total ? .finished : .running
    }

    public func cancel(_ s: Sequence) { s.cancelled = true }

    public func takeAudio(_ s: Sequence) -> [Float] {
        guard s.steps >= min(s.silent, s.total) || s.cancelled || s.failure != nil else { return [] }
        defer { s.pending = [] }
        return s.pending
    }

    public func steps(_ s: Sequence) -> Int { s.steps }
}

#if canImport(Glibc)
import Glibc
#endif
