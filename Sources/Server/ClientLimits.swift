import Foundation
import Synchronization

/// Per-client limits: a token bucket of requests (`rateLimit` per second, `rateBurst` at once) and a cap on the
/// syntheses a client has running or queued (`maxConcurrentPerClient`), so one client can neither flood the
/// service nor take the whole batch.
///
/// Memory stays bounded however many addresses call: past `maxTracked` clients, those whose bucket has refilled
/// and that run nothing are forgotten (forgetting them changes nothing they could observe).
public final class ClientLimits: Sendable {
    /// One client's limits; an API key may carry its own.
    public struct Limits: Sendable, Equatable {
        /// Requests per second; 0: no rate limit.
        public var rate: Double
        public var burst: Int
        /// Syntheses at once; 0: no cap.
        public var maxConcurrent: Int

        public init(rate: Double, burst: Int, maxConcurrent: Int) {
            self.rate = rate
            self.burst = burst
            self.maxConcurrent = maxConcurrent
        }
    }

    /// What a request may do, with the numbers for `RateLimit-*` headers.
    public enum Decision: Sendable, Equatable {
        /// `remaining`: whole requests left in the bucket; `reset`: seconds until it is full again.
        case allowed(limit: Int, remaining: Int, reset: Int)
        /// `retryAfter`: seconds until one request's token is back.
        case limited(limit: Int, retryAfter: Int, reset: Int)
        /// Rate limiting is off for this client.
        case unlimited
    }

    struct Entry {
        var tokens: Double
        var updated: ContinuousClock.Instant
        var running = 0
    }

    private let state = Mutex<[ClientIdentity: Entry]>([:])
    let maxTracked: Int

    public init(maxTracked: Int = 10_000) { self.maxTracked = maxTracked }

    /// Clients with state now (tests, metrics).
    public var tracked: Int { state.withLock { $0.count } }

    /// Takes one token from the client's bucket, or says when to come back.
    public func admit(_ client: ClientIdentity, _ limits: Limits, now: ContinuousClock.Instant = .now) -> Decision {
        guard limits.rate > 0 else { return .unlimited }
        let burst = Double(limits.burst)
        return state.withLock { clients in
            if clients[client] == nil, clients.count >= maxTracked { Self.forgetIdle(&clients, now: now, limits: limits) }
            var entry = clients[client] ?? Entry(tokens: burst, updated: now)
            entry.tokens = min(burst, entry.tokens + (now - entry.updated).seconds * limits.rate)
            entry.updated = now
            let decision: Decision
            if entry.tokens >= 1 {
                entry.tokens -= 1
                decision = .allowed(limit: limits.burst, remaining: Int(entry.tokens.rounded(.down)),
                                    reset: Int(((burst - entry.tokens) / limits.rate).rounded(.up)))
            } else {
                decision = .limited(limit: limits.burst, retryAfter: max(1, Int(((1 - entry.tokens) / limits.rate).rounded(.up))),
                                    reset: Int(((burst - entry.tokens) / limits.rate).rounded(.up)))
            }
            clients[client] = entry
            return decision
        }
    }

    /// Counts one synthesis of the client; false (and nothing counted) when it already has `maxConcurrent`.
    public func enter(_ client: ClientIdentity, _ limits: Limits, now: ContinuousClock.Instant = .now) -> Bool {
        guard limits.maxConcurrent > 0 else { return true }
        return state.withLock { clients in
            var entry = clients[client] ?? Entry(tokens: Double(limits.burst), updated: now)
            guard entry.running < limits.maxConcurrent else { return false }
            entry.running += 1
            clients[client] = entry
            return true
        }
    }

    /// Ends one synthesis counted by `enter`.
    public func leave(_ client: ClientIdentity) {
        state.withLock { clients in
            guard var entry = clients[client], entry.running > 0 else { return }
            entry.running -= 1
            clients[client] = entry
        }
    }

    /// Syntheses the client has counted now.
    public func running(_ client: ClientIdentity) -> Int { state.withLock { $0[client]?.running ?? 0 } }

    private static func forgetIdle(_ clients: inout [ClientIdentity: Entry], now: ContinuousClock.Instant, limits: Limits) {
        clients = clients.filter { _, e in
            e.running > 0 || e.tokens + (now - e.updated).seconds * max(limits.rate, 1e-9) < Double(limits.burst)
        }
    }
}
