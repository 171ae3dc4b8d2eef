import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

public struct SchedulerConfig: Sendable {
    /// Sequences stepped together; each weight is read once per step for all of them.
    public var maxBatch = 8
    /// Requests waiting for a batch slot; more are refused (503) instead of piling up.
    public var maxQueue = 64
    /// The longest time from submission to first audio (a request's own deadline may be shorter): a request whose
    /// estimated wait is longer is refused at once (`overloaded`), a queued one past it fails (`queueTimeout`), a
    /// running one without audio by then is cancelled (`deadlineExceeded`).
    public var requestTimeout: Duration = .seconds(60)
    /// A request is taken only when its estimated wait fits in this share of its deadline: the rest is headroom
    /// for what no estimate foresees (a burst of arrivals, a slow step), so that a request refused is refused at
    /// once rather than cut at its deadline. Under overload the queue still holds enough to keep the batch full.
    public var admissionShare = 0.75
    /// After SIGTERM, in-flight jobs get this long to finish before they are cancelled.
    public var drainTimeout: Duration = .seconds(60)
    /// Bytes the running sequences' state (KV caches) may take together. A request whose state would not fit next
    /// to the running ones waits in the queue; one that could never fit is refused.
    public var memoryBudget = Int.max
    /// First audio first: while some running requests have no audio yet and every other one has delivered at least
    /// this much audio beyond the time since its first chunk (its client's playback stays that far ahead), a step
    /// runs the newcomers alone, so their first audio comes at the speed of a small batch. The others resume as soon
    /// as one of them is less far ahead. nil (the default): newcomers always step with the whole batch.
    public var firstAudioLead: Duration? = nil

    public init() {}
}

/// What the scheduler has done so far, for `/metrics`, tests and benchmarks.
public struct SchedulerStats: Sendable, Equatable {
    public var queueDepth = 0
    public var activeBatch = 0
    /// Bytes the running sequences may hold at most (the sum of their `memoryBytes`).
    public var memoryReserved = 0
    /// Of `steps`, those that ran only requests still waiting for their first audio (`firstAudioLead`).
    public var firstAudioSteps = 0
    /// Batched model steps (one GPT pass each, whatever the batch size).
    public var steps = 0
    /// Sum over steps of the batch size: sequence-steps served.
    public var sequenceSteps = 0
    public var audioSeconds = 0.0
    public var completed = 0
    public var cancelled = 0
    /// Refused at submission, by reason (`invalid_request`, `queue_full`, `draining`).
    public var rejected: [String: Int] = [:]
    /// Accepted, then ended without their audio, by reason (`queue_timeout`, `engine_failure`, `out_of_memory`,
    /// `draining`, `invalid_request` when a later phase finds the request cannot be served).
    public var failed: [String: Int] = [:]
    /// Model steps per second over the last busy second (0 when idle).
    public var stepsPerSecond = 0.0
    /// Seconds of computation per second of audio over the last busy period.
    public var realTimeFactor = 0.0
    /// Seconds one batched step takes at the batch size of the last step, averaged over recent steps (nil: none yet).
    public var stepSeconds: Double?
    /// Steps a request takes, and steps until its first audio, averaged over recent requests (nil: none yet).
    public var meanSteps: Double?
    public var meanStepsToFirstAudio: Double?
    /// Steps the running requests still have to go, by `meanSteps` (at least one each): in all, and each, shortest
    /// first.
    public var runningRemaining = 0.0
    public var remainingSteps: [Double] = []
    /// The wait for a new request's first audio the scheduler would estimate now, in seconds (0 with no measurement),
    /// calibrated.
    public var estimatedWait = 0.0
    /// Real first-audio waits over their estimates at admission, averaged over recent requests (0.5...5; 1 until
    /// measured): the estimate's model leaves out what it cannot see (prefill, the vocoder, the machine's load).
    public var waitCalibration = 1.0
}

/// Continuous batching: requests join the running batch at step boundaries and leave when done, failed or
/// cancelled.
///
/// Inference runs on the scheduler's own thread, never on the event loops; `submit` only validates and enqueues.
/// It is a `Service`: on graceful shutdown it refuses new work, lets in-flight jobs finish (bounded by
/// `drainTimeout`), then returns.
public final class Scheduler<Engine: SpeechEngine>: SpeechService, Sendable {
    public let engine: Engine
    public let config: SchedulerConfig
    /// The engine's knobs with the limits this deployment allows.
    public let knobs: KnobTable
    let logger: Logger
    private let state: Mutex<State>
    private let wakeup = DispatchSemaphore(value: 0)

    /// Invariant: a sequence is touched by the compute thread only, after `submit` handed it over.
    struct Pending: @unchecked Sendable {
        let job: SpeechJob
        let sequence: Engine.Sequence
        let memory: Int
        /// The uncalibrated wait estimate when it was admitted, to compare with its real first audio.
        var estimate = 0.0
    }

    struct State: Sendable {
        var queue: [Pending] = []
        var draining = false
        var drainDeadline: ContinuousClock.Instant?
        var stopped = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var stats = SchedulerStats()
        /// Seconds per batched step, averaged, by batch size.
        var stepSeconds: [Int: Double] = [:]

        /// The step time at this batch size, or at the nearest size measured (the larger one on a tie).
        func stepSeconds(atBatch batch: Int) -> Double? {
            if let t = stepSeconds[batch] { return t }
            return stepSeconds.min { a, b in
                let da = abs(a.key - batch), db = abs(b.key - batch)
                return da != db ? da < db : a.key > b.key
            }?.value
        }
    }

    /// `knobs` narrows the engine's own table (e.g. a lower `max_new_token` cap); default: the engine's.
    public init(engine: Engine, config: SchedulerConfig = SchedulerConfig(), knobs: KnobTable? = nil,
                logger: Logger = Logger(label: "chattts.scheduler")) {
        self.engine = engine
        self.config = config
        self.knobs = knobs ?? engine.knobs
        self.logger = logger
        state = Mutex(State())
    }

    public var engineName: String { engine.name }
    public var sampleRate: Int { engine.sampleRate }
    public var voices: [VoiceListing] { engine.voices }
    public func checkVoice(_ spec: String) throws(SynthesisError) { try engine.checkVoice(spec) }
    public func knobs(forSpeed speed: Double) -> [String: KnobValue] { engine.knobs(forSpeed: speed) }
    public var stats: SchedulerStats { state.withLock { $0.stats } }
    public var isDraining: Bool { state.withLock { $0.draining } }

    public func submit(_ request: SpeechRequest) throws(SynthesisError) -> SpeechJob {
        if isDraining { throw reject(SynthesisError(.draining, "the server is shutting down", retryAfter: 1)) }
        let deadline = min(request.deadline ?? config.requestTimeout, config.requestTimeout)
        // Refusals that need no engine work come first, so an overloaded server answers in microseconds.
        if let early = state.withLock({ s in self.refusal(s, deadline: deadline) }) { throw reject(early) }
        let sequence: Engine.Sequence
        do {
            sequence = try engine.start(request)
        } catch {
            throw reject(error)
        }
        let memory = engine.memoryBytes(sequence)
        guard memory <= config.memoryBudget else {
            engine.cancel(sequence)
            throw reject(SynthesisError(
                .invalidRequest,
                "needs \(memory >> 20) MiB of memory for its state, more than this server's memoryBudget of "
                    + "\(config.memoryBudget >> 20) MiB; ask for fewer steps or send a shorter text",
                code: "request_too_large"))
        }
        let job = SpeechJob(id: request.id, details: engine.details(sequence), deadline: deadline)
        let refusal: SynthesisError? = state.withLock { s in
            if let early = self.refusal(s, deadline: deadline) { return early }
            s.queue.append(Pending(job: job, sequence: sequence, memory: memory,
                                   estimate: Self.estimatedWait(s, maxBatch: config.maxBatch)))
            s.stats.queueDepth = s.queue.count
            return nil
        }
        if let refusal {
            engine.cancel(sequence)
            throw reject(refusal)
        }
        wakeup.signal()
        return job
    }

    /// Why a request with this deadline cannot be taken now, if it cannot: draining, the queue full, or a first
    /// audio that would come after the deadline.
    ///
    /// The wait is estimated batching-aware (`estimatedWait`: the slot it will get, the steps to its first audio,
    /// the measured seconds per step at this batch size), then scaled by `waitCalibration`, what real waits were
    /// over their estimates. Before anything was measured, only the queue bound applies.
    private func refusal(_ s: State, deadline: Duration) -> SynthesisError? {
        if s.draining { return SynthesisError(.draining, "the server is shutting down", retryAfter: 1) }
        let wait = Self.estimatedWait(s, maxBatch: config.maxBatch) * s.stats.waitCalibration
        if s.queue.count >= config.maxQueue {
            return SynthesisError(.queueFull, "the queue is full (\(config.maxQueue) requests waiting); try again later",
                                  retryAfter: Self.retryAfter(wait))
        }
        if wait > deadline.seconds * config.admissionShare {
            return SynthesisError(.overloaded, String(format: "the estimated wait for the first audio is %.1f s, more than %.0f %% of the request's deadline of %g s (requestTimeout, X-Request-Timeout); try again later or on another replica", wait, config.admissionShare * 100, deadline.seconds),
                                  retryAfter: Self.retryAfter(wait - deadline.seconds * config.admissionShare))
        }
        return nil
    }

    /// Continuous batching frees a slot whenever a running request ends, and queued requests take the slots in
    /// order. A new request behind `k` others that need a slot gets the (k+1)-th to free: after the
    /// (k mod B + 1)-th shortest remaining run of the B running ones, plus k / B whole requests (`meanSteps`) after
    /// it. Then its first audio takes `meanStepsToFirstAudio` more steps, all at the measured seconds per step.
    static func estimatedWait(_ s: State, maxBatch: Int) -> Double {
        let busy = s.stats.activeBatch + s.queue.count
        guard let step = s.stepSeconds(atBatch: min(maxBatch, busy + 1)) else { return 0 }
        let mean = s.stats.meanSteps ?? 0
        let toFirstAudio = s.stats.meanStepsToFirstAudio ?? 0
        let ahead = busy - maxBatch
        guard ahead >= 0 else { return toFirstAudio * step }
        let remaining = s.stats.remainingSteps
        let start: Double
        if remaining.isEmpty {
            start = Double(ahead / maxBatch + 1) * mean
        } else {
            start = remaining[ahead % remaining.count] + Double(ahead / remaining.count) * mean
        }
        return (start + toFirstAudio) * step
    }

    /// Seconds for `Retry-After`: the estimate rounded up, 1 to 60.
    static func retryAfter(_ seconds: Double) -> Int { min(60, max(1, Int(seconds.rounded(.up)))) }

    private func reject(_ error: SynthesisError) -> SynthesisError {
        state.withLock { $0.stats.rejected[error.code.name, default: 0] += 1 }
        return error
    }

    public func beginDraining() {
        let first = state.withLock { s -> Bool in
            guard !s.draining else { return false }
            s.draining = true
            s.drainDeadline = .now + config.drainTimeout
            return true
        }
        if first { logger.info("draining: no new requests, finishing in-flight ones") }
        wakeup.signal()
    }

    public func warmUp() async throws -> Duration {
        let started = ContinuousClock.now
        let job = try submit(engine.warmUpRequest())
        for try await _ in job.audio {}
        return .now - started
    }

    public func run() async throws {
        let thread = Thread { [self] in computeLoop() }
        thread.name = "chattts-compute"
        thread.stackSize = 8 << 20
        thread.start()
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await waitUntilStopped()
            } onCancel: {
                self.beginDraining()
                self.state.withLock { $0.drainDeadline = .now }
                self.wakeup.signal()
            }
        } onGracefulShutdown: {
            self.beginDraining()
        }
    }

    private func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.stopped { return true }
                s.stopWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// The compute thread: admit, step, deliver audio, retire; sleep only when there is nothing to do.
    private func computeLoop() {
        var active: [Pending] = []
        var window: (start: ContinuousClock.Instant, steps: Int, samples: Int) = (.now, 0, 0)
        while true {
            admit(into: &active)
            // Past the drain deadline, whatever is left is cancelled so the process can exit.
            let (draining, deadline) = state.withLock { ($0.draining, $0.drainDeadline) }
            if draining, let deadline, ContinuousClock.now >= deadline {
                for a in active {
                    engine.cancel(a.sequence)
                    fail(a.job, SynthesisError(.draining, "cancelled: the server shut down before this request finished"))
                }
                active.removeAll()
            }
            // Client gone: leave the batch now. No audio by the deadline: the client will not wait for it.
            let now = ContinuousClock.now
            active.removeAll { a in
                if a.job.isCancelled {
                    engine.cancel(a.sequence)
                    finishCancelled(a.job, steps: engine.steps(a.sequence))
                    return true
                }
                guard now > a.job.deadline, !a.job.hasAudio else { return false }
                engine.cancel(a.sequence)
                fail(a.job, SynthesisError(.deadlineExceeded, String(format: "no audio within the request's deadline of %g s; cancelled after %d steps", (a.job.deadline - a.job.submitted).seconds, engine.steps(a.sequence)), retryAfter: 1))
                return true
            }
            publish(active)
            if active.isEmpty {
                if stopIfDrained() { return }
                state.withLock { $0.stats.stepsPerSecond = 0 }
                _ = wakeup.wait(timeout: .now() + .milliseconds(200))
                window = (.now, 0, 0)
                continue
            }

            let stepping = Self.firstAudioFirst(active, lead: config.firstAudioLead, now: now,
                                                sampleRate: engine.sampleRate)
            let stepStarted = ContinuousClock.now
            engine.step(stepping.map { active[$0].sequence })
            let stepTime = (ContinuousClock.now - stepStarted).seconds
            // Count the step before any job of it finishes, so a finished job always sees its steps counted.
            let batch = stepping.count
            state.withLock { s in
                s.stats.steps += 1
                if batch < active.count { s.stats.firstAudioSteps += 1 }
                s.stepSeconds[batch] = Self.average(s.stepSeconds[batch], stepTime, weight: 0.05)
                s.stats.stepSeconds = s.stepSeconds[batch]
            }
            var samples = 0
            active.removeAll { a in
                let after = engine.state(a.sequence)
                if case .failed(let error) = after {
                    fail(a.job, error)
                    return true
                }
                let audio = engine.takeAudio(a.sequence)
                samples += audio.count
                let steps = engine.steps(a.sequence)
                if !audio.isEmpty, !a.job.hasAudio {
                    let waited = (ContinuousClock.now - a.job.submitted).seconds
                    state.withLock { s in
                        s.stats.meanStepsToFirstAudio = Self.average(s.stats.meanStepsToFirstAudio, Double(steps), weight: 0.1)
                        // How far the model of the wait is off on this machine and load, learned from real waits.
                        if a.estimate > 0.05 {
                            let ratio = min(5, max(0.5, waited / a.estimate))
                            s.stats.waitCalibration = Self.average(s.stats.waitCalibration, ratio, weight: 0.1)
                        }
                    }
                }
                a.job.deliver(audio, steps: steps)
                guard after == .finished else { return false }
                a.job.finish(steps: steps)
                state.withLock { s in
                    s.stats.completed += 1
                    s.stats.meanSteps = Self.average(s.stats.meanSteps, Double(steps), weight: 0.1)
                }
                return true
            }
            window.steps += 1
            window.samples += samples
            let seconds = (ContinuousClock.now - window.start).seconds
            let audioSeconds = Double(samples) / Double(engine.sampleRate)
            state.withLock { s in
                s.stats.sequenceSteps += batch
                s.stats.audioSeconds += audioSeconds
                if seconds >= 1 {
                    s.stats.stepsPerSecond = Double(window.steps) / seconds
                    let windowAudio = Double(window.samples) / Double(engine.sampleRate)
                    s.stats.realTimeFactor = windowAudio > 0 ? seconds / windowAudio : 0
                }
            }
            if seconds >= 1 { window = (.now, 0, 0) }
        }
    }

    /// The indices of `active` the next step runs: all of them, or only those without audio yet while every other
    /// one is at least `lead` ahead of its playback (`SchedulerConfig.firstAudioLead`).
    static func firstAudioFirst(_ active: [Pending], lead: Duration?, now: ContinuousClock.Instant, sampleRate: Int)
        -> [Int] {
        let all = Array(active.indices)
        guard let lead else { return all }
        let newcomers = all.filter { !active[$0].job.hasAudio }
        guard !newcomers.isEmpty, newcomers.count < active.count else { return all }
        let ahead = all.allSatisfy { i in
            !active[i].job.hasAudio || (active[i].job.lead(at: now, sampleRate: sampleRate) ?? 0) >= lead.seconds
        }
        return ahead ? newcomers : all
    }

    /// Moves queued requests into free slots, in order, while their memory fits next to the running ones; fails
    /// those that waited too long or whose client left.
    private func admit(into active: inout [Pending]) {
        let now = ContinuousClock.now
        let reserved = active.reduce(0) { $0 + $1.memory }
        let (admitted, expired) = state.withLock { s -> ([Pending], [Pending]) in
            var expired: [Pending] = []
            s.queue.removeAll { p in
                let late = now > p.job.deadline || p.job.isCancelled
                if late { expired.append(p) }
                return late
            }
            var admitted: [Pending] = []
            var memory = reserved
            // First come, first served: a request that does not fit yet holds the ones behind it, so a large one
            // is never starved by a stream of small ones.
            while let next = s.queue.first, active.count + admitted.count < config.maxBatch,
                  memory + next.memory <= config.memoryBudget {
                memory += next.memory
                admitted.append(s.queue.removeFirst())
            }
            s.stats.queueDepth = s.queue.count
            return (admitted, expired)
        }
        for p in expired {
            engine.cancel(p.sequence)
            if p.job.isCancelled {
                finishCancelled(p.job, steps: 0)
            } else {
                fail(p.job, SynthesisError(.queueTimeout, String(format: "waited in the queue past the request's deadline of %g s (requestTimeout, X-Request-Timeout)", (p.job.deadline - p.job.submitted).seconds),
                                           retryAfter: 1))
            }
        }
        for p in admitted {
            p.job.markAdmitted()
            active.append(p)
        }
    }

    private func stopIfDrained() -> Bool {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>]? in
            guard s.draining, s.queue.isEmpty else { return nil }
            s.stopped = true
            defer { s.stopWaiters.removeAll() }
            return s.stopWaiters
        }
        guard let waiters else { return false }
        for w in waiters { w.resume() }
        logger.info("scheduler stopped")
        return true
    }

    private func fail(_ job: SpeechJob, _ error: SynthesisError) {
        state.withLock { $0.stats.failed[error.code.name, default: 0] += 1 }
        job.fail(error)
    }

    private func finishCancelled(_ job: SpeechJob, steps: Int) {
        if let reason = job.cancelReason {
            fail(job, reason)
            return
        }
        state.withLock { $0.stats.cancelled += 1 }
        job.fail(SynthesisError(.cancelled, "cancelled after \(steps) steps"))
    }

    private func publish(_ active: [Pending]) {
        let memory = active.reduce(0) { $0 + $1.memory }
        let steps = active.map { Double(engine.steps($0.sequence)) }
        state.withLock { s in
            s.stats.activeBatch = active.count
            s.stats.memoryReserved = memory
            let mean = s.stats.meanSteps ?? 0
            s.stats.remainingSteps = steps.map { max(1, mean - $0) }.sorted()
            s.stats.runningRemaining = s.stats.remainingSteps.reduce(0, +)
            s.stats.estimatedWait = Self.estimatedWait(s, maxBatch: config.maxBatch) * s.stats.waitCalibration
        }
    }

    /// An exponential moving average; the first sample is taken as it is.
    static func average(_ old: Double?, _ sample: Double, weight: Double) -> Double {
        old.map { $0 + weight * (sample - $0) } ?? sample
    }
}

extension Duration {
    /// Seconds as a Double, for logs, metrics and headers.
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
