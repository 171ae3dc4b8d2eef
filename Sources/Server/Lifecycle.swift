import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Synthesis

/// What `/ready` answers: `ready` only with the model loaded, the warm-up done and no shutdown under way.
public final class Readiness: Sendable {
    public enum State: String, Sendable { case starting, warmingUp = "warming_up", ready, draining }

    private let warm = Atomic<Bool>(false)
    private let drainingFlag = Atomic<Bool>(false)
    private let warmingUp = Atomic<Bool>(false)

    public init() {}

    public var state: State {
        if drainingFlag.load(ordering: .relaxed) { return .draining }
        if warm.load(ordering: .relaxed) { return .ready }
        return warmingUp.load(ordering: .relaxed) ? .warmingUp : .starting
    }

    /// True from the start of a graceful shutdown: synthesis requests are refused from then on.
    public var isDraining: Bool { drainingFlag.load(ordering: .relaxed) }

    func markWarmingUp() { warmingUp.store(true, ordering: .relaxed) }
    func markWarm() { warm.store(true, ordering: .relaxed) }
    func markDraining() { drainingFlag.store(true, ordering: .relaxed) }
}

/// Runs one short synthesis through the shared scheduler before `/ready` turns 200, and logs how long it took.
/// Then it waits for shutdown like every other service (a service that returns early would stop the group).
struct WarmUpService: Service {
    let scheduler: any SpeechService
    let readiness: Readiness
    let metrics: ServerMetrics
    let enabled: Bool
    let logger: Logger

    func run() async throws {
        if enabled {
            readiness.markWarmingUp()
            do {
                let took = try await scheduler.warmUp()
                metrics.warmUpSeconds.set(took.seconds)
                logger.info("warm-up done", metadata: ["warmup_ms": .stringConvertible(RequestMiddleware.milliseconds(took))])
            } catch let error as SynthesisError where error.code == .draining {
                return
            }
        }
        readiness.markWarm()
        try? await gracefulShutdown()
    }
}

/// The first service to hear of a graceful shutdown (it is last in the group): `/ready` turns 503 and new synthesis
/// requests are refused at once, while the listener stays open; it returns when every accepted synthesis request
/// has sent its last byte, or cancels what is left when the drain time is over. Only then does the HTTP server
/// stop, and after it the scheduler (which has nothing left to do by then).
struct DrainService: Service {
    let readiness: Readiness
    let inFlight: InFlightRequests
    let drainTimeout: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let started = ContinuousClock.now
        readiness.markDraining()
        logger.info("graceful shutdown: draining", metadata: ["in_flight": .stringConvertible(inFlight.current)])
        await waitForInFlight(until: started + drainTimeout)
        if inFlight.current > 0 {
            logger.warning("graceful shutdown: drain time over, cancelling", metadata: [
                "in_flight": .stringConvertible(inFlight.current)])
            inFlight.cancelAll()
            await waitForInFlight(until: .now + .seconds(5))
        }
        logger.info("graceful shutdown: drained", metadata: [
            "in_flight": .stringConvertible(inFlight.current),
            "drain_ms": .stringConvertible(RequestMiddleware.milliseconds(ContinuousClock.now - started)),
        ])
    }

    private func waitForInFlight(until deadline: ContinuousClock.Instant) async {
        while inFlight.current > 0, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
