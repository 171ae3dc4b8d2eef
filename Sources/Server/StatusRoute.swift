import Foundation
import Hummingbird
import Synthesis

/// `GET /v1/status`: the server's state in one small JSON object, for the web page's live panel and for people
/// (`curl`), where `/metrics` is for Prometheus. It is open like `/health` (no key, no rate limit: see
/// `ProtectionMiddleware.openPaths`), so it says nothing about clients, keys, texts or the operator's warnings
/// (those are in `/v1/models`, behind the key): only readiness, load and the limits a client must respect anyway.
///
/// The numbers are the scheduler's `SchedulerStats`, the same ones `/metrics` copies in, read under its lock at the
/// time of the request.
struct StatusRoute: Sendable {
    static let path = "/v1/status"

    let speech: SpeechResponder
    let readiness: Readiness
    let config: ServerConfiguration
    let engineName: String
    /// When the routes were built (the model is loaded by then): the origin of `uptime_seconds`.
    let started: ContinuousClock.Instant

    func add(to router: Router<SpeechRequestContext>) {
        router.get(RouterPath(stringLiteral: Self.path)) { _, _ in
            try Routes.json(snapshot(now: .now))
        }
    }

    /// The answer's fields; `OpenAPIDocument`'s `ServerStatus` schema lists the same, and a test holds them together.
    func snapshot(now: ContinuousClock.Instant) -> [String: Any] {
        let stats = speech.scheduler.stats
        let state = readiness.state
        return [
            "status": state.rawValue,
            "ready": state == .ready,
            "draining": state == .draining || speech.scheduler.isDraining,
            "engine": engineName,
            "model": engineName,
            "version": ProductInfo.version,
            "sample_rate": speech.scheduler.sampleRate,
            "uptime_seconds": Self.rounded((now - started).seconds),
            "queue_depth": stats.queueDepth,
            "active_batch": stats.activeBatch,
            "running_requests": speech.inFlight.current,
            "max_batch": config.maxBatch,
            "max_queue": config.maxQueue,
            "steps_per_second": Self.rounded(stats.stepsPerSecond),
            "real_time_factor": Self.rounded(stats.realTimeFactor),
            "estimated_wait_seconds": Self.rounded(stats.estimatedWait),
            "steps_total": stats.steps,
            "audio_seconds_total": Self.rounded(stats.audioSeconds),
            "completed_requests": stats.completed,
            "max_text_characters": config.maxTextCharacters,
            "max_input_characters": config.maxInputCharacters,
            "keys_required": config.keysFile != nil,
        ]
    }

    /// Three decimals: enough for a panel, and no `0.30000000000000004` in the JSON.
    static func rounded(_ value: Double) -> Double {
        value.isFinite ? (value * 1000).rounded() / 1000 : 0
    }
}
