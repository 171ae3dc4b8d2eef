import Foundation
import HTTPTypes
import Hummingbird

/// Who may call, and how often: API keys (401 without or with an unknown key, 403 with a revoked one), then the
/// client's rate limit (429 with `Retry-After` and `RateLimit-*`). It runs before routing and before any body is
/// read, so a refused request costs a hash and a lock, nothing more; validation (400/413/415) and capacity (503)
/// come after, in the routes.
///
/// `/health` and `/ready` are always open and never limited (load balancers poll them), and so are the web page
/// (`/`: it asks for the key itself) and `/v1/status` (its live panel polls it); `/metrics` is not limited and
/// needs a key only under `metricsRequireKey`.
struct ProtectionMiddleware: RouterMiddleware {
    typealias Context = SpeechRequestContext

    let keys: KeyStore?
    let limits: ClientLimits
    let defaults: ClientLimits.Limits
    let trustedProxies: [IPNetwork]
    let metricsRequireKey: Bool
    let metrics: ServerMetrics

    static let openPaths: Set = ["/health", "/ready", WebPage.path, StatusRoute.path]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if Self.openPaths.contains(path) { return try await next(request, context) }
        var context = context
        var clientLimits = defaults
        var identity: ClientIdentity?
        if let keys, path != "/metrics" || metricsRequireKey {
            let entry = try authenticate(request, keys: keys, context: context)
            identity = ClientIdentity(key: entry.name)
            if let r = entry.rateLimit { clientLimits.rate = r }
            if let b = entry.rateBurst { clientLimits.burst = b }
            if let c = entry.maxConcurrent { clientLimits.maxConcurrent = c }
        }
        let client = identity ?? ClientIdentity(address: ClientIdentity.address(
            peer: context.channel.remoteAddress, forwardedFor: request.headers[values: .forwardedFor], trusted: trustedProxies))
        context.client = client
        context.clientLimits = clientLimits
        if path == "/metrics" { return try await next(request, context) }
        switch limits.admit(client, clientLimits) {
        case .unlimited:
            return try await next(request, context)
        case .limited(let limit, let retryAfter, let reset):
            refuse(context, reason: "rate_limited")
            var error = APIError(status: .tooManyRequests,
                                 message: "Rate limit: at most \(String(format: "%g", clientLimits.rate)) requests per second (burst \(limit)) per client; retry in \(retryAfter) s",
                                 type: "rate_limit_error", code: "rate_limit_exceeded", retryAfter: retryAfter)
            error.headers = Self.rateHeaders(limit: limit, remaining: 0, reset: reset)
            throw error
        case .allowed(let limit, let remaining, let reset):
            var response = try await next(request, context)
            for field in Self.rateHeaders(limit: limit, remaining: remaining, reset: reset) { response.headers.append(field) }
            return response
        }
    }

    private func authenticate(_ request: Request, keys: KeyStore, context: Context) throws -> KeyStore.Entry {
        guard let header = request.headers[.authorization] else {
            refuse(context, reason: "unauthenticated")
            throw Self.unauthorized("An API key is required: send Authorization: Bearer KEY", code: "missing_api_key")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            refuse(context, reason: "unauthenticated")
            throw Self.unauthorized("The Authorization header must be 'Bearer KEY'", code: "invalid_authorization")
        }
        switch keys.verify(String(parts[1]).trimmingCharacters(in: .whitespaces)) {
        case .valid(let entry):
            return entry
        case .revoked(let name):
            refuse(context, reason: "revoked_key")
            throw APIError(status: .forbidden, message: "The API key '\(name)' has been revoked", type: "invalid_request_error",
                           code: "revoked_api_key")
        case .unknown:
            refuse(context, reason: "unauthenticated")
            throw Self.unauthorized("The API key is not known here", code: "invalid_api_key")
        }
    }

    private func refuse(_ context: Context, reason: String) {
        metrics.recordRejected(reason: reason)
        context.trace.update { $0.rejectedReason = reason }
    }

    static func unauthorized(_ message: String, code: String) -> APIError {
        var error = APIError(status: .unauthorized, message: message, type: "invalid_request_error", code: code)
        error.headers = [.wwwAuthenticate: "Bearer"]
        return error
    }

    /// The IETF draft's fields: the burst, the whole requests left now, and the seconds until the bucket is full.
    static func rateHeaders(limit: Int, remaining: Int, reset: Int) -> HTTPFields {
        [.rateLimitLimit: String(limit), .rateLimitRemaining: String(remaining), .rateLimitReset: String(reset)]
    }
}

extension HTTPField.Name {
    static let rateLimitLimit = HTTPField.Name("RateLimit-Limit")!
    static let rateLimitRemaining = HTTPField.Name("RateLimit-Remaining")!
    static let rateLimitReset = HTTPField.Name("RateLimit-Reset")!
}
