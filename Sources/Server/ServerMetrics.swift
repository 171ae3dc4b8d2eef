import Foundation
import Prometheus
import Synchronization
import Synthesis

/// Every metric the service exports, created once per application on its own registry (no global metrics system,
/// so two applications in one test process never mix their numbers). `/metrics` renders the registry as
/// Prometheus text after copying the scheduler's counters in.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    // Requests.
    private let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
    ]
    private let routes = Mutex<[String: RouteMetrics]>([:])
    private struct RouteMetrics: Sendable {
        let duration: DurationHistogram
        var counters: [String: Counter]
    }
    let timeToFirstAudio: DurationHistogram
    let realTimeFactor: ValueHistogram
    let queueWait: DurationHistogram
    private let rejected: CountersByReason
    private let failed: CountersByReason
    let clientDisconnects: Counter
    let cancelledJobs: Counter

    // Engine and scheduler, copied from SchedulerStats at scrape time.
    let queueDepth: Gauge
    let activeBatch: Gauge
    let stepsPerSecond: Gauge
    let engineRealTimeFactor: Gauge
    private let stepsTotal: Counter
    private let firstAudioStepsTotal: Counter
    private let audioSecondsTotal: Counter
    private let copied = Mutex<(steps: Int, audio: Double, firstAudioSteps: Int)>((0, 0, 0))

    // Process and start-up.
    let residentMemory: Gauge
    let modelLoadSeconds: Gauge
    let warmUpSeconds: Gauge
    let ready: Gauge
    let draining: Gauge

    public init() {
        timeToFirstAudio = registry.durationHistogram(
            name: "chattts_time_to_first_audio_seconds", labels: [], buckets: latencyBuckets,
            help: "Time from accepting a synthesis request to its first audio chunk.")
        realTimeFactor = registry.valueHistogram(
            name: "chattts_request_real_time_factor", labels: [],
            buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
            help: "Synthesis time divided by audio duration, per request (below 1 is faster than real time).")
        queueWait = registry.durationHistogram(
            name: "chattts_queue_wait_seconds", labels: [], buckets: latencyBuckets,
            help: "Time a request waited for a batch slot.")
        clientDisconnects = registry.counter(
            name: "chattts_client_disconnects_total", labels: [],
            help: "Synthesis requests whose client went away before the audio was complete (their job is cancelled).")
        cancelledJobs = registry.counter(
            name: "chattts_cancelled_jobs_total", labels: [],
            help: "Jobs cancelled before they finished (client gone, or drain time over), freeing their batch slot.")
        queueDepth = registry.gauge(name: "chattts_queue_depth", labels: [],
                                        help: "Requests waiting for a batch slot.")
        activeBatch = registry.gauge(name: "chattts_active_batch_size", labels: [],
                                         help: "Sequences in the running batch.")
        stepsPerSecond = registry.gauge(name: "chattts_engine_steps_per_second", labels: [],
                                            help: "Engine steps per second (recent).")
        engineRealTimeFactor = registry.gauge(
            name: "chattts_real_time_factor", labels: [],
            help: "Seconds of computation per second of audio produced, over the last busy period (below 1 is faster than real time).")
        stepsTotal = registry.counter(name: "chattts_engine_steps_total", labels: [],
                                          help: "Engine steps run (one step advances every sequence in the batch).")
        firstAudioStepsTotal = registry.counter(
            name: "chattts_first_audio_steps_total", labels: [],
            help: "Engine steps that ran only requests still waiting for their first audio while the others were ahead of real time (firstAudioLead).")
        audioSecondsTotal = registry.counter(name: "chattts_audio_seconds_total", labels: [],
                                                 help: "Seconds of audio produced.")
        residentMemory = registry.gauge(name: "process_resident_memory_bytes", labels: [],
                                            help: "Resident memory of this process.")
        modelLoadSeconds = registry.gauge(name: "chattts_model_load_seconds", labels: [],
                                              help: "Time taken to load the model at start.")
        warmUpSeconds = registry.gauge(name: "chattts_warmup_seconds", labels: [],
                                           help: "Time taken by the warm-up synthesis at start.")
        ready = registry.gauge(name: "chattts_ready", labels: [], help: "1 when /ready answers 200.")
        draining = registry.gauge(name: "chattts_draining", labels: [], help: "1 once a graceful shutdown began.")
        // The usual reasons exist from the start at 0, so rate() and alerts work before the first one.
        rejected = CountersByReason(registry: registry, name: "chattts_rejected_requests_total",
                                    help: "Synthesis requests refused before they ran, by reason.",
                                    initial: ["invalid_request", "queue_full", "queue_timeout", "draining", "not_ready"])
        failed = CountersByReason(registry: registry, name: "chattts_failed_requests_total",
                                  help: "Synthesis requests that failed after joining the batch, by reason.",
                                  initial: ["engine_failure", "out_of_memory", "invalid_request", "draining"])
    }

    /// Counts one finished request and its latency; the route label is the matched route pattern, never the raw path.
    func recordRequest(route: String, method: String, status: Int, duration: Duration) {
        let (histogram, counter) = routes.withLock { table in
            let key = "\(method) \(route)"
            var entry = table[key] ?? RouteMetrics(
                duration: registry.durationHistogram(
                    name: "chattts_http_request_duration_seconds", labels: [("route", route), ("method", method)],
                    buckets: latencyBuckets, help: "Time from request head to the last response byte."),
                counters: [:])
            let counter = entry.counters[String(status)] ?? registry.counter(
                name: "chattts_http_requests_total", labels: [("route", route), ("method", method), ("status", String(status))],
                help: "HTTP requests by route, method and status.")
            entry.counters[String(status)] = counter
            table[key] = entry
            return (entry.duration, counter)
        }
        counter.increment()
        histogram.record(duration)
    }

    /// Counts a synthesis request that was refused before it ran.
    func recordRejected(reason: String) { rejected.increment(reason) }

    /// Counts a synthesis request that failed after it joined the batch.
    func recordFailed(reason: String) { failed.increment(reason) }

    /// Copies the scheduler's numbers in and renders the registry.
    func render(stats: SchedulerStats, ready isReady: Bool, draining isDraining: Bool) -> [UInt8] {
        queueDepth.set(Double(stats.queueDepth))
        activeBatch.set(Double(stats.activeBatch))
        stepsPerSecond.set(stats.stepsPerSecond)
        engineRealTimeFactor.set(stats.realTimeFactor)
        copied.withLock { last in
            if stats.steps > last.steps { stepsTotal.increment(by: Int64(stats.steps - last.steps)) }
            if stats.audioSeconds > last.audio { audioSecondsTotal.increment(by: stats.audioSeconds - last.audio) }
            if stats.firstAudioSteps > last.firstAudioSteps {
                firstAudioStepsTotal.increment(by: Int64(stats.firstAudioSteps - last.firstAudioSteps))
            }
            last = (max(last.steps, stats.steps), max(last.audio, stats.audioSeconds),
                    max(last.firstAudioSteps, stats.firstAudioSteps))
        }
        residentMemory.set(Double(Self.residentMemoryBytes()))
        ready.set(isReady ? 1.0 : 0.0)
        draining.set(isDraining ? 1.0 : 0.0)
        return registry.emitToBuffer()
    }

    /// Resident set size from /proc/self/statm (Linux); 0 where that file does not exist.
    static func residentMemoryBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// One counter per reason label, made on first use (and for the usual reasons at start).
private final class CountersByReason: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let name: String
    private let help: String
    private let counters = Mutex<[String: Counter]>([:])

    init(registry: PrometheusCollectorRegistry, name: String, help: String, initial: [String]) {
        self.registry = registry
        self.name = name
        self.help = help
        for reason in initial { _ = counter(reason) }
    }

    func increment(_ reason: String) { counter(reason).increment() }

    private func counter(_ reason: String) -> Counter {
        counters.withLock { table in
            if let c = table[reason] { return c }
            let c = registry.counter(name: name, labels: [("reason", reason)], help: help)
            table[reason] = c
            return c
        }
    }
}

/// Metric constructors by plain name and help text (the registry's own name-based ones are deprecated in favour of
/// descriptors that split the name into parts we do not use).
extension PrometheusCollectorRegistry {
    private func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    func counter(name: String, labels: [(String, String)], help: String) -> Counter {
        makeCounter(descriptor: descriptor(name, help), labels: labels)
    }

    func gauge(name: String, labels: [(String, String)], help: String) -> Gauge {
        makeGauge(descriptor: descriptor(name, help), labels: labels)
    }

    func durationHistogram(name: String, labels: [(String, String)], buckets: [Duration], help: String) -> DurationHistogram {
        makeDurationHistogram(descriptor: descriptor(name, help), labels: labels, buckets: buckets)
    }

    func valueHistogram(name: String, labels: [(String, String)], buckets: [Double], help: String) -> ValueHistogram {
        makeValueHistogram(descriptor: descriptor(name, help), labels: labels, buckets: buckets)
    }
}
