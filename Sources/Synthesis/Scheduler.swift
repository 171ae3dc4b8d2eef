import Dispatch
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

public struct SchedulerConfig: Sendable {
    /// Sequences stepped together; each weight is read once per step for all of them.
    public var maxBatch = 8
    /// Requests waiting for a batch slot; more are refused (503) instead of piling up.
    public var maxQueue = 64
    /// A request that waited this long for a slot fails with `queueTimeout` instead of starting late.
    public var maxQueueWait: Duration = .seconds(30)
    /// After SIGTERM, in-flight jobs get this long to finish before they are cancelled.
    public var drainTimeout: Duration = .seconds(60)

    public init() {}
}

/// What the scheduler has done so far, for `/metrics`, tests and benchmarks.
public struct SchedulerStats: Sendable, Equatable {
    public var queueDepth = 0
    public var activeBatch = 0
    /// Batched model steps (one GPT pass each, whatever the batch size).
    public var steps = 0
    /// Sum over steps of the batch size: sequence-steps served.
    public var sequenceSteps = 0
    public var audioSeconds = 0.0
    public var completed = 0
    public var cancelled = 0
    public var rejected = 0
    public var failed = 0
    /// Model steps per second over the last busy second (0 when idle).
    public var stepsPerSecond = 0.0
    /// Seconds of computation per second of audio over the last busy period.
    public var realTimeFactor = 0.0
}

/// Continuous batching: requests join the running batch at step boundaries and leave when done or cancelled.
///
/// Inference runs on the scheduler's own thread, never on the event loops; `submit` only validates and enqueues.
/// It is a `Service`: on graceful shutdown it refuses new work, lets in-flight jobs finish (bounded by
/// `drainTimeout`), then returns.
public final class Scheduler<Engine: SpeechEngine>: Service, Sendable {
    public let engine: Engine
    public let config: SchedulerConfig
    let logger: Logger
    private let state: Mutex<State>
    private let wakeup = DispatchSemaphore(value: 0)
    private let metrics = SchedulerMetrics()

    struct Pending: @unchecked Sendable {
        let job: SpeechJob
        let sequence: Engine.Sequence
    }

    struct State: @unchecked Sendable {
        var queue: [Pending] = []
        var draining = false
        var drainDeadline: ContinuousClock.Instant?
        var stopped = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var stats = SchedulerStats()
    }

    public init(engine: Engine, config: SchedulerConfig = SchedulerConfig(), logger: Logger = Logger(label: "chattts.scheduler")) {
        self.engine = engine
        self.config = config
        self.logger = logger
        state = Mutex(State())
    }

    public var sampleRate: Int { engine.sampleRate }
    public var stats: SchedulerStats { state.withLock { $0.stats } }
    public var isDraining: Bool { state.withLock { $0.draining } }

    /// Validates and queues a request. Throws `invalidRequest` (with the field), `draining` or `queueFull`.
    public func submit(_ request: SpeechRequest) throws(SchedulerError) -> SpeechJob {
        if isDraining { throw reject(SchedulerError(.draining, "the server is shutting down", retryAfter: 1), reason: "draining") }
        let sequence: Engine.Sequence
        do {
            sequence = try engine.start(request)
        } catch let error as SchedulerError {
            throw reject(error, reason: "invalid")
        } catch {
            throw reject(SchedulerError(.invalidRequest, "\(error)"), reason: "invalid")
        }
        let job = SpeechJob(id: request.id)
        let refusal: SchedulerError? = state.withLock { s in
            if s.draining { return SchedulerError(.draining, "the server is shutting down", retryAfter: 1) }
            if s.queue.count >= config.maxQueue {
                return SchedulerError(.queueFull, "the queue is full (\(config.maxQueue) requests waiting); try again later",
                                      retryAfter: max(1, Int(config.maxQueueWait.components.seconds / 4)))
            }
            s.queue.append(Pending(job: job, sequence: sequence))
            s.stats.queueDepth = s.queue.count
            return nil
        }
        if let refusal { throw reject(refusal, reason: refusal.code == .draining ? "draining" : "queue_full") }
        metrics.queueDepth.record(stats.queueDepth)
        wakeup.signal()
        return job
    }

    private func reject(_ error: SchedulerError, reason: String) -> SchedulerError {
        state.withLock { $0.stats.rejected += 1 }
        Counter(label: "chattts_rejected_requests_total", dimensions: [("reason", reason)]).increment()
        return error
    }

    /// Refuses new work from now on; in-flight and queued jobs still finish (until `drainTimeout`).
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

    /// A short synthesis through the whole path, so the first real request does not pay for cold caches.
    public func warmUp(text: String = "warm up", steps: Int = 8) async throws -> Duration {
        let started = ContinuousClock.now
        var p = SpeechParameters()
        p.refine = false
        p.normalize = false
        p.seed = 0
        p.minNewTokens = steps
        p.maxNewTokens = steps
        let job = try submit(SpeechRequest(id: "warm-up", text: text, voice: nil, parameters: p))
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

    struct Active {
        let job: SpeechJob
        let sequence: Engine.Sequence
    }

    /// The compute thread: admit, step, deliver audio, retire; sleep only when there is nothing to do.
    private func computeLoop() {
        var active: [Active] = []
        var window: (start: ContinuousClock.Instant, steps: Int, samples: Int) = (.now, 0, 0)
        while true {
            // Admit queued requests into free slots; fail those that waited too long.
            let now = ContinuousClock.now
            let (admitted, expired, draining, deadline) = state.withLock { s -> ([Pending], [Pending], Bool, ContinuousClock.Instant?) in
                var expired: [Pending] = []
                s.queue.removeAll { p in
                    let late = now - p.job.submitted > config.maxQueueWait || p.job.isCancelled
                    if late { expired.append(p) }
                    return late
                }
                let n = min(max(0, config.maxBatch - active.count), s.queue.count)
                let admitted = Array(s.queue.prefix(n))
                s.queue.removeFirst(n)
                s.stats.queueDepth = s.queue.count
                return (admitted, expired, s.draining, s.drainDeadline)
            }
            for p in expired {
                if p.job.isCancelled {
                    finishCancelled(p.job, steps: 0)
                } else {
                    state.withLock { $0.stats.failed += 1 }
                    p.job.fail(SchedulerError(.queueTimeout, "waited longer than \(config.maxQueueWait) for a batch slot", retryAfter: 1))
                }
            }
            for p in admitted {
                p.job.markAdmitted()
                active.append(Active(job: p.job, sequence: p.sequence))
            }
            // Past the drain deadline, whatever is left is cancelled so the process can exit.
            if draining, let deadline, now >= deadline {
                for a in active {
                    engine.cancel(a.sequence)
                    state.withLock { $0.stats.failed += 1 }
                    a.job.fail(SchedulerError(.draining, "cancelled: the server shut down before this request finished"))
                }
                active.removeAll()
            }
            // Client gone: leave the batch now.
            active.removeAll { a in
                guard a.job.isCancelled else { return false }
                engine.cancel(a.sequence)
                finishCancelled(a.job, steps: engine.steps(a.sequence))
                return true
            }
            publish(activeBatch: active.count)
            if active.isEmpty {
                let finished = state.withLock { s -> Bool in
                    guard s.draining, s.queue.isEmpty else { return false }
                    s.stopped = true
                    return true
                }
                if finished {
                    let waiters = state.withLock { s in
                        defer { s.stopWaiters.removeAll() }
                        return s.stopWaiters
                    }
                    for w in waiters { w.resume() }
                    logger.info("scheduler stopped")
                    return
                }
                state.withLock { s in
                    s.stats.stepsPerSecond = 0
                }
                _ = wakeup.wait(timeout: .now() + .milliseconds(200))
                window = (.now, 0, 0)
                continue
            }

            engine.step(active.map(\.sequence))
            // Count the step before any job of it finishes, so a finished job always sees its steps counted.
            let batch = active.count
            state.withLock { $0.stats.steps += 1 }
            var samples = 0
            active.removeAll { a in
                let audio = engine.takeAudio(a.sequence)
                samples += audio.count
                a.job.deliver(audio, steps: engine.steps(a.sequence))
                guard engine.isFinished(a.sequence) else { return false }
                let steps = engine.steps(a.sequence)
                a.job.finish(steps: steps)
                state.withLock { $0.stats.completed += 1 }
                return true
            }
            window.steps += 1
            window.samples += samples
            let elapsed = ContinuousClock.now - window.start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
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
            if seconds >= 1 {
                metrics.stepsPerSecond.record(Double(window.steps) / seconds)
                window = (.now, 0, 0)
            }
            metrics.steps.increment()
            if audioSeconds > 0 { metrics.audioSeconds.increment(by: audioSeconds) }
        }
    }

    private func finishCancelled(_ job: SpeechJob, steps: Int) {
        state.withLock { $0.stats.cancelled += 1 }
        metrics.cancelled.increment()
        job.fail(SchedulerError(.cancelled, "cancelled after \(steps) steps"))
    }

    private func publish(activeBatch: Int) {
        let depth = state.withLock { s in
            s.stats.activeBatch = activeBatch
            return s.stats.queueDepth
        }
        metrics.activeBatch.record(activeBatch)
        metrics.queueDepth.record(depth)
    }
}

/// Metric objects are made once, not per step.
struct SchedulerMetrics: Sendable {
    let steps = Counter(label: "chattts_engine_steps_total")
    let audioSeconds = FloatingPointCounter(label: "chattts_audio_seconds_total")
    let cancelled = Counter(label: "chattts_cancelled_requests_total")
    let queueDepth = Gauge(label: "chattts_queue_depth")
    let activeBatch = Gauge(label: "chattts_active_batch_size")
    let stepsPerSecond = Gauge(label: "chattts_engine_steps_per_second")
}

public typealias ChatTTSScheduler = Scheduler<ChatTTSEngine>
