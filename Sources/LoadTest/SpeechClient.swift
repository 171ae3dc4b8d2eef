import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 client for `chattts bench` and the tests: one connection per request, timings of the first
/// body byte and the end, trailers, and the option to hang up after a few bytes (a client that goes away).
///
/// It is ours rather than AsyncHTTPClient's so that the product needs no TLS stack and so that time to first byte is
/// measured where the bytes arrive, not after a delegate hop.
public struct SpeechClient: Sendable {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `http://host:port` (a path after it is ignored).
    public init(url: String) throws {
        guard let components = URLComponents(string: url), components.scheme == "http", let host = components.host else {
            throw ClientError(message: "expected a URL like http://127.0.0.1:8080, got '\(url)'")
        }
        self.init(host: host, port: components.port ?? 80)
    }

    public struct Result: Sendable {
        public var status: Int = 0
        public var headers: [(String, String)] = []
        public var trailers: [(String, String)] = []
        public var body: [UInt8] = []
        /// From sending the request to the response head.
        public var timeToHead: Duration = .zero
        /// From sending the request to the first body byte (nil: empty body).
        public var timeToFirstByte: Duration?
        /// From sending the request to the end of the response (or to hanging up).
        public var total: Duration = .zero
        /// Whether the response ended normally (false after `hangUpAfter`, a timeout or a dropped connection).
        public var complete = false
        /// Why an incomplete response ended: the error that broke the transfer, or the timeout.
        public var brokenBy: String?

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        public func trailer(_ name: String) -> String? {
            trailers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        public var text: String { String(decoding: body, as: UTF8.self) }

        public var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
    }

    public struct ClientError: Error, CustomStringConvertible {
        public let message: String
        public init(message: String) { self.message = message }
        public var description: String { message }
    }

    public func get(_ path: String, headers: [(String, String)] = [], timeout: Duration? = nil) async throws -> Result {
        try await request("GET", path, headers: headers, timeout: timeout)
    }

    /// POSTs a JSON object.
    public func post(_ path: String, json: [String: any Sendable], headers: [(String, String)] = [],
                     hangUpAfter: Int? = nil, timeout: Duration? = nil) async throws -> Result {
        let body = try JSONSerialization.data(withJSONObject: json)
        return try await request("POST", path, headers: headers + [("Content-Type", "application/json")], body: [UInt8](body),
                                 hangUpAfter: hangUpAfter, timeout: timeout)
    }

    /// One request on a fresh connection. With `hangUpAfter`, the connection is closed as soon as that many body
    /// bytes have arrived; with `timeout`, when the whole exchange has taken that long.
    ///
    /// Throws when no response head arrived (connection refused, reset or timed out before it); once the head is
    /// in, a broken transfer returns what arrived with `complete == false` and `brokenBy` saying why.
    public func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                        hangUpAfter: Int? = nil, timeout: Duration? = nil) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        let timer = timeout.map { limit in
            channel.channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(limit.seconds * 1e9))) {
                channel.channel.close(promise: nil)
            }
        }
        defer { timer?.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path)
            head.headers.add(name: "Host", value: "\(host):\(port)")
            head.headers.add(name: "Connection", value: "close")
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            if let body { head.headers.add(name: "Content-Length", value: String(body.count)) }
            let started = ContinuousClock.now
            // One write: a server that answers and closes right after the head (a GET) must not fail a later
            // write of the request's end. A failed write still leaves the answer to read.
            var parts: [HTTPClientRequestPart] = [.head(head)]
            if let body, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            parts.append(.end(nil))
            var writeError: (any Error)?
            do { try await outbound.write(contentsOf: parts) } catch { writeError = error }

            var result = Result()
            do {
                for try await part in inbound {
                    switch part {
                    case .head(let response):
                        result.status = Int(response.status.code)
                        result.headers = response.headers.map { ($0.name, $0.value) }
                        result.timeToHead = ContinuousClock.now - started
                    case .body(let buffer):
                        if result.timeToFirstByte == nil, buffer.readableBytes > 0 {
                            result.timeToFirstByte = ContinuousClock.now - started
                        }
                        result.body.append(contentsOf: buffer.readableBytesView)
                        if let hangUpAfter, result.body.count >= hangUpAfter {
                            result.total = ContinuousClock.now - started
                            return result
                        }
                    case .end(let trailers):
                        result.trailers = trailers.map { $0.map { ($0.name, $0.value) } } ?? []
                        result.total = ContinuousClock.now - started
                        result.complete = true
                        return result
                    }
                }
            } catch {
                guard result.status != 0 else { throw writeError ?? error }
                result.brokenBy = "\(error)"
            }
            result.total = ContinuousClock.now - started
            if result.brokenBy == nil {
                let late = timeout.map { result.total >= $0 } ?? false
                result.brokenBy = late ? "timeout" : "connection closed"
            }
            if result.status == 0 {
                if let writeError { throw writeError }
                throw ClientError(message: "no response: \(result.brokenBy!)")
            }
            return result
        }
    }
}
