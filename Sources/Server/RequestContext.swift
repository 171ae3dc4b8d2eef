import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// The per-request context: Hummingbird's core storage, the connection (to notice a client that leaves) and a trace
/// that handlers fill in and the request middleware reads once the last body byte has left.
public struct SpeechRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection; its close future cancels the request's job when the client goes away.
    public let channel: any Channel
    /// `X-Request-ID` of this request (echoed, or generated when absent).
    public var requestID: String
    /// What the request produced, for the request log line and the metrics.
    public let trace: RequestTrace
    /// Who sent it (its API key or its address), once `ProtectionMiddleware` has looked.
    public var client: ClientIdentity?
    /// That client's limits (its key's own, or the server's).
    public var clientLimits: ClientLimits.Limits?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        requestID = ""
        trace = RequestTrace()
    }

    /// Speech routes read their bodies up to their own settings; this bounds any other decoder.
    public var maxUploadSize: Int { 64 << 10 }
}

/// Facts about one request gathered while it runs; written by the handler's body writer, read by the middleware.
public final class RequestTrace: Sendable {
    public struct Values: Sendable {
        /// Seconds of audio sent.
        public var audioSeconds: Double = 0
        /// Time from submitting the job to its first audio chunk (queue wait + prefill + first chunk of steps).
        public var timeToFirstAudio: Duration?
        /// Time from submitting the job to its last audio chunk.
        public var synthesisTime: Duration?
        /// Time from the job's submission until the scheduler started it, when the scheduler reports it.
        public var queueWait: Duration?
        /// Set when the client went away before the response was complete.
        public var clientDisconnected = false
        /// Why a synthesis request was refused (queue_full, draining, ...), for the rejected-requests metric.
        public var rejectedReason: String?
        public var format: String?
        public var stream: String?
        /// The text with its middle masked (`Redaction`): logs never hold a text in clear.
        public var maskedText: String?
    }

    private let state = Mutex(Values())

    public init() {}

    public var values: Values { state.withLock { $0 } }

    public func update(_ body: (inout Values) -> Void) {
        state.withLock { body(&$0) }
    }
}
