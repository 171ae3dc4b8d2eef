import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The outermost middleware: gives every request an ID (the client's `X-Request-ID`, or a new one) and echoes it,
/// turns every error into OpenAI's JSON shape, and once the last body byte has left writes one log line (at debug
/// for successful polls of the open routes, `/health`, `/ready`, `/`, `/v1/status`) and the request metrics.
struct RequestMiddleware: RouterMiddleware {
    typealias Context = SpeechRequestContext

    let metrics: ServerMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var context = context
        let id = request.headers[.requestID].flatMap(Self.acceptable) ?? Self.makeID()
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let api = APIError.from(error, request: request)
            if api.status.code >= 500, api.status != .serviceUnavailable {
                context.logger.error("request failed", metadata: ["error": .string("\(error)")])
            }
            response = (try? api.response(from: request, context: context))
                ?? Response(status: .internalServerError)
        }
        response.headers[.requestID] = id
        let status = response.status.code
        let route = context.endpointPath.map { $0 == "NotFound" ? "unmatched" : $0 } ?? "unmatched"
        let method = request.method.rawValue
        let trace = context.trace
        let metrics = self.metrics
        let logger = self.logger
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            var failure: (any Error)?
            do { try await body.write(writer) } catch { failure = error }
            let duration = ContinuousClock.now - started
            let values = trace.values
            let finalStatus = values.clientDisconnected ? HTTPResponse.Status.clientClosedRequest.code : status
            metrics.recordRequest(route: route, method: method, status: finalStatus, duration: duration)
            var meta: Logger.Metadata = [
                "request_id": .string(id), "method": .string(method), "route": .string(route),
                "path": .string(request.uri.path), "status": .stringConvertible(finalStatus),
                "duration_ms": .stringConvertible(Self.milliseconds(duration)),
            ]
            if let text = values.maskedText { meta["text"] = .string(text) }
            if let format = values.format {
                meta["format"] = .string(format)
                meta["stream"] = .string(values.stream ?? "none")
                meta["audio_seconds"] = .stringConvertible((values.audioSeconds * 1000).rounded() / 1000)
                if let wait = values.queueWait { meta["queue_wait_ms"] = .stringConvertible(Self.milliseconds(wait)) }
                if let ttfa = values.timeToFirstAudio { meta["ttfa_ms"] = .stringConvertible(Self.milliseconds(ttfa)) }
            }
            if let reason = values.rejectedReason { meta["rejected"] = .string(reason) }
            if values.clientDisconnected { meta["client_disconnected"] = .stringConvertible(true) }
            // Load balancers, probes and the web page's panel poll the open routes every second or so: their
            // successes go to debug, so the info log holds the requests people make; their failures stay at info.
            let poll = request.method == .get && ProtectionMiddleware.openPaths.contains(request.uri.path)
                && finalStatus < 400
            logger.log(level: poll ? .debug : .info, "request", metadata: meta)
            if let failure { throw failure }
        }
        return response
    }

    static func milliseconds(_ d: Duration) -> Double { (d.seconds * 10_000).rounded() / 10 }

    /// A client's ID is echoed when it is short printable ASCII (it ends up in logs and headers).
    static func acceptable(_ id: String) -> String? {
        guard !id.isEmpty, id.count <= 128, id.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0.asciiValue! >= 0x21 }) else {
            return nil
        }
        return id
    }

    static func makeID() -> String {
        UUID().uuidString.lowercased()
    }
}
