import AudioCodecs
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Synthesis

/// Wires the service around an engine: scheduler, warm-up, HTTP server and drain, all `Service`s. The executable
/// loads the engine and calls this; the tests call it with the tiny model or a fake engine.
///
/// Settings that bound what requests may ask for are checked against the engine's own limits here, at start:
/// `maxNewTokens` above the engine's `max_new_token` range is refused with a message that names both.
///
/// `warnings` are what an operator must know about this process (asset verification off): logged, and listed by
/// `/v1/models`.
public func buildApplication<Engine: SpeechEngine>(_ config: ServerConfiguration, engine: Engine,
                                                   loadTime: Duration? = nil, logger: Logger? = nil,
                                                   warnings: [String] = []) throws
    -> SpeechApplication
{
    try config.validate()
    let logger = logger ?? JSONLogHandler.logger(label: "chattts", level: config.logLevel, format: config.logFormat)
    let metrics = ServerMetrics()
    if let loadTime { metrics.modelLoadSeconds.set(loadTime.seconds) }

    var knobs = engine.knobs
    if let knob = knobs["max_new_token"], case .integer(let range) = knob.kind {
        do { knobs = try knobs.capping(knob.name, at: config.maxNewTokens) } catch {
            throw ConfigurationError(
                key: "maxNewTokens",
                message: "is \(config.maxNewTokens), outside what requests may use: max_new_token is \(range.lowerBound)...\(range.upperBound) for this model (its positions)")
        }
    }
    if let spec = config.defaultVoice {
        do { try engine.checkVoice(spec) } catch {
            throw ConfigurationError(key: "defaultVoice", message: "cannot be used: \(error.message)")
        }
    }
    var schedulerConfig = SchedulerConfig()
    schedulerConfig.maxBatch = config.maxBatch
    schedulerConfig.maxQueue = config.maxQueue
    schedulerConfig.requestTimeout = config.requestTimeout
    schedulerConfig.drainTimeout = config.drainTimeout
    schedulerConfig.firstAudioLead = config.firstAudioLead > .zero ? config.firstAudioLead : nil
    schedulerConfig.memoryBudget = config.memoryBudget ?? MemoryBudget.defaultBytes()
    let scheduler = Scheduler(engine: engine, config: schedulerConfig, knobs: knobs, logger: logger)
    logger.info("engine ready", metadata: [
        "engine": .string(engine.name), "sample_rate": .stringConvertible(engine.sampleRate),
        "voices": .stringConvertible(engine.voices.count),
        "memory_budget_mib": .stringConvertible(schedulerConfig.memoryBudget >> 20),
    ])
    for warning in warnings { logger.warning("\(warning)") }
    return try buildApplication(config, service: scheduler, metrics: metrics, logger: logger, warnings: warnings)
}

/// The same over any `SpeechService` (already configured).
public func buildApplication(_ config: ServerConfiguration, service: any SpeechService, metrics: ServerMetrics = ServerMetrics(),
                             logger: Logger, warnings: [String] = []) throws -> SpeechApplication {
    let readiness = Readiness()
    let inFlight = InFlightRequests()
    let keys: KeyStore?
    do { keys = try config.keysFile.map { path throws(KeyFileError) in try KeyStore(path: path) } } catch {
        throw ConfigurationError(key: "keysFile", message: error.description)
    }
    let limits = ClientLimits()
    let router = Router(context: SpeechRequestContext.self)
    router.add(middleware: RequestMiddleware(metrics: metrics, logger: logger))
    router.add(middleware: ProtectionMiddleware(
        keys: keys, limits: limits,
        defaults: .init(rate: config.rateLimit, burst: config.rateBurst, maxConcurrent: config.maxConcurrentPerClient),
        trustedProxies: try config.proxies(), metricsRequireKey: config.metricsRequireKey, metrics: metrics))
    let parser = SpeechInputParser(knobs: service.knobs, engineName: service.engineName, config: config,
                                   speed: { service.knobs(forSpeed: $0) })
    let openAPI = try OpenAPIDocument.json(knobs: service.knobs, engineName: service.engineName,
                                           maxInputCharacters: config.maxInputCharacters,
                                           maxTextCharacters: config.maxTextCharacters, keysRequired: keys != nil,
                                           metricsRequireKey: config.metricsRequireKey,
                                           rateLimited: config.rateLimit > 0 || config.maxConcurrentPerClient > 0,
                                           voices: service.voices.map(\.id), markup: config.markup)
    Routes(parser: parser, openAPI: openAPI,
           speech: SpeechResponder(scheduler: service, metrics: metrics, inFlight: inFlight, readiness: readiness,
                                   limits: limits, maxDuration: config.maxRequestDuration),
           readiness: readiness, metrics: metrics, warnings: warnings).add(to: router)

    return SpeechApplication(
        responder: router.buildResponder(),
        configuration: ApplicationConfiguration(address: .hostname(config.host, port: config.port), serverName: "chattts"),
        logger: logger, settings: config, scheduler: service, metrics: metrics, readiness: readiness, inFlight: inFlight,
        keys: keys, limits: limits)
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
    public let scheduler: any SpeechService
    public let metrics: ServerMetrics
    public let readiness: Readiness
    public let inFlight: InFlightRequests
    /// The API keys, when `keysFile` is set.
    public let keys: KeyStore?
    public let limits: ClientLimits
    /// Open connections, and those the connection guard closed.
    let connections = ConnectionGuard.Counter()
    /// The bound address, once the server listens (port 0 in the configuration picks a free port).
    public let listening = ListeningAddress()

    /// Every connection gets a `ConnectionWatch`, so a client that leaves cancels its job at once, and a
    /// `ConnectionGuard` (connection bound, header and body timeouts).
    public var server: HTTPServerBuilder {
        let (counter, settings) = (connections, settings)
        return .http1(configuration: .init(
            additionalChannelHandlers: [
                ConnectionWatch(),
                ConnectionGuard(counter: counter, maxConnections: settings.maxConnections,
                                headerTimeout: settings.headerTimeout, bodyTimeout: settings.bodyTimeout),
            ],
            idleTimeout: .nanoseconds(Int64(settings.idleTimeout.seconds * 1e9))))
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
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: scheduler), .init(service: warmUp), .init(service: http), .init(service: drain),
        ]
        if let keys { services.insert(.init(service: KeyReloadService(keys: keys, logger: logger)), at: 0) }
        var group = ServiceGroupConfiguration(services: services, logger: logger)
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
