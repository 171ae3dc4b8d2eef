import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Bounds what a connection may hold: the open connections in all (`maxConnections`; one over is closed at once),
/// the time a new connection may take to send its first request's headers (`headerTimeout`, against slowloris),
/// and the time any request may take to send its body (`bodyTimeout`, against slow bodies). An idle keep-alive
/// connection, or one that trickles its next request, is closed by the server's `idleTimeout`.
///
/// It sits after the HTTP decoder, so it sees whole request heads and body parts; a timeout closes the connection
/// (a request whose body never came has no one left to answer).
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    /// Open connections of one server, and why the guard closed some.
    final class Counter: Sendable {
        let open = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
        let headerTimeouts = Atomic<Int>(0)
        let bodyTimeouts = Atomic<Int>(0)
        init() {}
    }

    private let counter: Counter
    private let maxConnections: Int
    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var counted = false

    init(counter: Counter, maxConnections: Int, headerTimeout: Duration, bodyTimeout: Duration) {
        self.counter = counter
        self.maxConnections = maxConnections
        self.headerTimeout = .nanoseconds(Int64(headerTimeout.seconds * 1e9))
        self.bodyTimeout = .nanoseconds(Int64(bodyTimeout.seconds * 1e9))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        counted = true
        let open = counter.open.wrappingAdd(1, ordering: .relaxed).newValue
        guard open <= maxConnections else {
            counter.refused.wrappingAdd(1, ordering: .relaxed)
            context.close(promise: nil)
            return
        }
        arm(context, after: headerTimeout, header: true)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if counted {
            counted = false
            counter.open.wrappingSubtract(1, ordering: .relaxed)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(context, after: bodyTimeout, header: false)
        case .end:
            timer?.cancel()
            timer = nil
        case .body: break
        }
        context.fireChannelRead(data)
    }

    private func arm(_ context: ChannelHandlerContext, after delay: TimeAmount, header: Bool) {
        timer?.cancel()
        let channel = context.channel
        let counter = self.counter
        timer = context.eventLoop.scheduleTask(in: delay) {
            if header {
                counter.headerTimeouts.wrappingAdd(1, ordering: .relaxed)
            } else {
                counter.bodyTimeouts.wrappingAdd(1, ordering: .relaxed)
            }
            channel.close(promise: nil)
        }
    }
}
