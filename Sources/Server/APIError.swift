import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synthesis

/// An error answered as JSON in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
///
/// Clients written for OpenAI read `message` and `code`; `param` names the request field at fault, and bad input
/// always says the limit it broke, so a client can fix the request without reading our source.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Seconds a client should wait before trying again (sent as `Retry-After`).
    public var retryAfter: Int?
    /// More header fields of the answer (`Allow`, `WWW-Authenticate`, `RateLimit-*`).
    public var headers: HTTPFields = [:]

    public init(status: HTTPResponse.Status, message: String, type: String, param: String? = nil, code: String? = nil,
                retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
    }

    /// 400: a request field is missing, of the wrong type or outside its limit.
    public static func invalid(_ param: String?, _ message: String, code: String = "invalid_value") -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    /// 503: the service cannot take the request now (queue full, draining, not ready); `Retry-After` says when.
    public static func unavailable(_ message: String, code: String, retryAfter: Int) -> APIError {
        APIError(status: .serviceUnavailable, message: message, type: "server_error", code: code, retryAfter: retryAfter)
    }

    public static func notFound(_ message: String, param: String? = nil, code: String = "not_found") -> APIError {
        APIError(status: .notFound, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func internalError(_ message: String) -> APIError {
        APIError(status: .internalServerError, message: message, type: "server_error", code: "internal_error")
    }

    /// The error object, also sent inside SSE streams (with `"type": "error"`) once the headers have left.
    public var object: [String: Any] {
        var inner: [String: Any] = ["message": message, "type": type]
        inner["param"] = param ?? NSNull()
        inner["code"] = code ?? NSNull()
        return ["error": inner]
    }

    /// The JSON body. Strings and nulls always serialize; the fallback only guards against a broken Foundation.
    public var json: [UInt8] {
        do {
            return [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
        } catch {
            return Array(#"{"error":{"message":"error body could not be encoded","type":"server_error","param":null,"code":null}}"#.utf8)
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        headers.append(contentsOf: self.headers)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }
}

extension APIError {
    /// A synthesis error as the client gets it. The engine's text field is answered under the route's own name
    /// (`input` on the OpenAI route), and the message names the field: `'top_P' must be in (0, 1], got 2`.
    init(_ error: SynthesisError, textField: String) {
        let param = error.field.map { $0 == SpeechRequest.textField ? textField : $0 }
        let message = param.map { "'\($0)' \(error.message)" } ?? error.message
        switch error.code {
        case .invalidRequest:
            self = .invalid(param, message, code: error.detail ?? "invalid_value")
        case .queueFull, .queueTimeout, .draining, .notReady, .outOfMemory, .overloaded, .deadlineExceeded:
            self = .unavailable(message, code: error.code.name, retryAfter: error.retryAfter ?? 1)
        case .cancelled:
            self = APIError(status: .clientClosedRequest, message: message, type: "invalid_request_error", code: "cancelled")
        default:
            self = APIError(status: .internalServerError, message: message, type: "server_error", code: error.code.name)
        }
    }

    /// Any error as the JSON error it is answered with: our own as they are, Hummingbird's by status.
    static func from(_ error: any Error, request: Request) -> APIError {
        if let error = error as? APIError { return error }
        if let error = error as? HTTPError {
            switch error.status {
            case .notFound:
                let allowed = Routes.methods(of: request.uri.path)
                guard !allowed.isEmpty else {
                    return .notFound("Unknown route: \(request.method) \(request.uri.path)", code: "unknown_route")
                }
                let allow = allowed.joined(separator: ", ")
                var api = APIError(status: .methodNotAllowed,
                                   message: "\(request.uri.path) does not take \(request.method); it takes \(allow)",
                                   type: "invalid_request_error", code: "method_not_allowed")
                api.headers = [.allow: allow]
                return api
            case .contentTooLarge:
                return APIError(status: .contentTooLarge, message: "Request body is too large", type: "invalid_request_error",
                                code: "body_too_large")
            default:
                return APIError(status: error.status, message: error.body ?? error.status.reasonPhrase,
                                type: error.status.code < 500 ? "invalid_request_error" : "server_error",
                                code: error.status.code < 500 ? "invalid_request" : "server_error")
            }
        }
        if let error = error as? any HTTPResponseError {
            return APIError(status: error.status, message: "\(error)",
                            type: error.status.code < 500 ? "invalid_request_error" : "server_error")
        }
        return .internalError("Internal error: \(error)")
    }
}
