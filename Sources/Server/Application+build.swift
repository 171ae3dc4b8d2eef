import AudioCodecs
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Synthesis

/// Loads the model once and wires the service: scheduler, warm-up, HTTP server and drain, all `Service`s.
/// The `serve` command and the tests call this same function.
public func buildApplication(_ config: ServerConfiguration, logger: Logger? = nil) async throws -> SpeechApplication {
    try config.validate()
    let logger = logger ?? JSONLogHandler.logger(label: "chattts", level: config.logLevel, format: config.logFormat)
    let metrics = ServerMetrics()
    let voices = try VoiceCatalog(config: config)

    let loadStarted = ContinuousClock.now
    let engine = try ChatTTSEngine(assets: URL(fileURLWithPath: config.assets), chunkSteps: config.streamChunkSteps)
    let loadTime = ContinuousClock.now - loadStarted
    metrics.modelLoadSeconds.set(loadTime.seconds)
    logger.info("model loaded", metadata: [
        "assets": .string(config.assets), "load_ms": .stringConvertible(RequestMiddleware.milliseconds(loadTime)),
        "sample_rate": .stringConvertible(engine.sampleRate), "voices": .stringConvertible(voices.library.names.count),
    ])

    var schedulerConfig = SchedulerConfig()
    schedulerConfig.maxBatch = config.maxBatch
    schedulerConfig.maxQueue = config.maxQueue
    schedulerConfig.maxQueueWait = config.queueWait
    schedulerConfig.drainTimeout = config.drainTimeout
    let scheduler = ChatTTSScheduler(engine: engine, config: schedulerConfig, logger: logger)

    let readiness = Readiness()
    let inFlight = InFlightRequests()
    let router = Router(context: SpeechRequestContext.self)
    router.add(middleware: RequestMiddleware(metrics: metrics, logger: logger))
    Routes(config: config,
           speech: SpeechResponder(scheduler: scheduler, voices: voices, metrics: metrics, inFlight: inFlight,
                                   readiness: readiness),
           readiness: readiness, metrics: metrics).add(to: router)

    return SpeechApplication(
        responder: router.buildResponder(),
        configuration: ApplicationConfiguration(address: .hostname(config.host, port: config.port), serverName: "chattts"),
        logger: logger, settings: config, scheduler: scheduler, metrics: metrics, readiness: readiness, inFlight: inFlight)
}

/// The whole service as one Hummingbird application.
///
/// `run()` runs one `ServiceGroup` in this order: scheduler, warm-up, HTTP server, drain. A group shuts down in
/// reverse order, so on SIGTERM the drain service goes first (`/ready` 503, new work refused, in-flight requests
/// finish while the listener stays open), then the HTTP server closes, then the warm-up and the scheduler stop.
/// `services` lists the scheduler and warm-up too, so Hummingbird's own runners (`runService()` through the default
/// group, or HummingbirdTesting) also get a working application, only without the ordered drain.
public struct SpeechApplication: ApplicationProtocol {
    public typealias Responder = RouterResponder<SpeechRequestContext>

    public let responder: Responder
    public let configuration: ApplicationConfiguration
    public let logger: Logger
    /// The configuration the application was built from.
    public let settings: ServerConfiguration
    public let scheduler: ChatTTSScheduler
    public let metrics: ServerMetrics
    public let readiness: Readiness
    public let inFlight: InFlightRequests
    /// The bound address, once the server listens (port 0 in the configuration picks a free port).
    public let listening = ListeningAddress()

    /// Every connection gets a `ConnectionWatch`, so a client that leaves cancels its job at once.
    public var server: HTTPServerBuilder {
        .http1(configuration: .init(additionalChannelHandlers: [ConnectionWatch()]))
    }

    public var services: [any Service] { [scheduler, warmUp] }

    var warmUp: WarmUpService {
        WarmUpService(scheduler: scheduler, readiness: readiness, metrics: metrics, enabled: settings.warmUp, logger: logger)
    }

    public func onServerRunning(_ channel: any Channel) async {
        let port = channel.localAddress?.port ?? settings.port
        listening.set(port: port)
        logger.info("listening", metadata: ["host": .string(settings.host), "port": .stringConvertible(port)])
    }

    public func run() async throws {
        let http = Application(
            responder: responder, server: server, configuration: configuration,
            onServerRunning: { channel in await self.onServerRunning(channel) }, logger: logger)
        let drain = DrainService(readiness: readiness, inFlight: inFlight,
                                 drainTimeout: settings.drainTimeout, logger: logger)
        var group = ServiceGroupConfiguration(services: [
            .init(service: scheduler), .init(service: warmUp), .init(service: http), .init(service: drain),
        ], logger: logger)
        group.maximumGracefulShutdownDuration = settings.drainTimeout + .seconds(15)
        try await ServiceGroup(configuration: group).run()
    }

    /// Runs the application until SIGTERM or SIGINT, then shuts down gracefully (exit code 0).
    public func runUntilSignalled() async throws {
        var group = ServiceGroupConfiguration(services: [.init(service: self)], logger: logger)
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        try await ServiceGroup(configuration: group).run()
    }
}

/// The port the server bound, for tests and for callers that asked for port 0.
public final class ListeningAddress: Sendable {
    private let state = Mutex<(port: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    public init() {}

    func set(port: Int) {
        let waiters = state.withLock { s in
            s.port = port
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: port) }
    }

    /// Waits until the server listens.
    public func port() async -> Int {
        await withCheckedContinuation { continuation in
            let port = state.withLock { s -> Int? in
                if let port = s.port { return port }
                s.waiters.append(continuation)
                return nil
            }
            if let port { continuation.resume(returning: port) }
        }
    }
}
