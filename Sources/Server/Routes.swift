import AudioCodecs
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synthesis

/// Every route of the service. Handlers only parse, validate, submit and stream; the scheduler's own thread does
/// the inference.
struct Routes: Sendable {
    let parser: SpeechInputParser
    let openAPI: String
    let speech: SpeechResponder
    let readiness: Readiness
    let metrics: ServerMetrics
    /// What an operator must know about this process (asset verification off), listed by `/v1/models`.
    var warnings: [String] = []

    func add(to router: Router<SpeechRequestContext>) {
        router.post("/v1/audio/speech") { request, context in
            let fields = try await Self.body(request, limit: parser.config.maxBodyBytes, setting: "maxBodyBytes")
            do {
                var input = try parser.openAI(fields)
                input.deadline = try Self.requestTimeout(request)
                return engineNamed(try await speech.respond(input, textField: "input", context: context))
            } catch let error as APIError where error.status == .badRequest {
                countInvalid(context)
                throw error
            }
        }
        router.post("/v1/tts") { request, context in
            let fields = try await Self.body(request, limit: parser.config.maxTTSBodyBytes, setting: "maxTTSBodyBytes")
            do {
                var input = try parser.native(fields)
                input.deadline = try Self.requestTimeout(request)
                return engineNamed(try await speech.respond(input, textField: "text", context: context))
            } catch let error as APIError where error.status == .badRequest {
                countInvalid(context)
                throw error
            }
        }
        let models = Models.all(engine: parser.engineName)
        router.get("/v1/models") { [warnings] _, _ in
            var list: [String: Any] = ["object": "list", "data": models.map {
                ["id": $0, "object": "model", "created": 0, "owned_by": "chattts-swift"] as [String: Any]
            }]
            list["engine"] = parser.engineName
            if !warnings.isEmpty { list["warnings"] = warnings }
            return try Self.json(list)
        }
        router.get("/v1/models/{id}") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard models.contains(id) else {
                throw APIError.notFound("Model '\(id)' does not exist here", param: "model", code: "model_not_found")
            }
            return try Self.json(["id": id, "object": "model", "created": 0, "owned_by": "chattts-swift"])
        }
        router.get("/v1/voices") { _, _ in
            try Self.json(["object": "list", "data": speech.scheduler.voices.map {
                ["id": $0.id, "object": "voice", "source": $0.source]
            }])
        }
        router.get("/health") { _, _ in
            try Self.json(["status": "ok"])
        }
        router.get("/ready") { _, _ in
            let state = readiness.state
            var response = try Self.json(["status": state.rawValue], status: state == .ready ? .ok : .serviceUnavailable)
            if state != .ready { response.headers[.retryAfter] = "1" }
            return response
        }
        router.get("/metrics") { _, _ in
            let bytes = metrics.render(stats: speech.scheduler.stats, ready: readiness.state == .ready,
                                       draining: speech.scheduler.isDraining)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: openAPI)))
        }
        router.get(RouterPath(stringLiteral: WebPage.path)) { _, _ in WebPage.response() }
        StatusRoute(speech: speech, readiness: readiness, config: parser.config, engineName: parser.engineName,
                    started: .now).add(to: router)
    }

    private func countInvalid(_ context: SpeechRequestContext) {
        if context.trace.values.rejectedReason == nil {
            metrics.recordRejected(reason: "invalid_request")
            context.trace.update { $0.rejectedReason = "invalid_request" }
        }
    }

    /// Every route and the methods it takes, for `405 Method Not Allowed` with `Allow` (the router answers only 404).
    static let table: [(path: String, methods: [String])] = [
        ("/v1/audio/speech", ["POST"]), ("/v1/tts", ["POST"]), ("/v1/models", ["GET"]), ("/v1/models/{id}", ["GET"]),
        ("/v1/voices", ["GET"]), ("/health", ["GET"]), ("/ready", ["GET"]), ("/metrics", ["GET"]),
        ("/openapi.json", ["GET"]), ("/", ["GET"]), (StatusRoute.path, ["GET"]),
    ]

    /// The methods `path` takes; empty when no route has that path.
    static func methods(of path: String) -> [String] {
        let segments = path.split(separator: "/")
        return table.first { route in
            let pattern = route.path.split(separator: "/")
            return pattern.count == segments.count
                && zip(pattern, segments).allSatisfy { p, s in p.hasPrefix("{") || p == s }
        }?.methods ?? []
    }

    /// The JSON body, at most `limit` bytes (413 naming `setting`); a body that says it is not JSON is a 415.
    static func body(_ request: Request, limit: Int, setting: String) async throws -> JSONFields {
        if let type = request.headers[.contentType] {
            let media = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json")) else {
                throw APIError(status: .unsupportedMediaType,
                               message: "The body must be JSON (Content-Type: application/json), got '\(type.prefix(100))'",
                               type: "invalid_request_error", code: "unsupported_media_type")
            }
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw tooLarge(limit: limit, setting: setting)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            throw tooLarge(limit: limit, setting: setting)
        }
        return try JSONFields(Array(buffer.readableBytesView))
    }

    /// `X-Request-Timeout: SECONDS`: the client's deadline for the first audio; it may lower the server's, not raise it.
    static func requestTimeout(_ request: Request) throws(APIError) -> Duration? {
        guard let text = request.headers[.requestTimeout] else { return nil }
        guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds.isFinite, seconds > 0,
              seconds <= 1e6 else {
            throw APIError.invalid("X-Request-Timeout", "The X-Request-Timeout header must be seconds > 0, got '\(text.prefix(40))'",
                                   code: "invalid_header")
        }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    /// Audio says which engine made it (`X-Engine: chattts`, or `espeak` on a first run without assets).
    func engineNamed(_ response: Response) -> Response {
        var response = response
        response.headers[.engine] = parser.engineName
        return response
    }

    static func tooLarge(limit: Int, setting: String) -> APIError {
        APIError(status: .contentTooLarge, message: "The request body is larger than \(limit) bytes (\(setting))",
                 type: "invalid_request_error", code: "body_too_large")
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension HTTPField.Name {
    /// The client's deadline for the first audio byte, in seconds.
    static let requestTimeout = HTTPField.Name("X-Request-Timeout")!
    /// The engine that made the audio.
    static let engine = HTTPField.Name("X-Engine")!
}
