import NIOCore

/// Notices a client that goes away while its request is being served.
///
/// Hummingbird allows remote half-closure, so a client that closes its socket shows up as `inputClosed`, not as a
/// closed channel, and a write only fails once the peer's reset comes back. Waiting for that would keep a batch slot
/// busy (a whole utterance, when the response is not streamed). This handler completes `gone` on the first sign:
/// input closed, channel inactive, or an error.
final class ConnectionWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private var promise: EventLoopPromise<Void>?

    /// Completes when the client has gone; never fails.
    func gone(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        eventLoop.assertInEventLoop()
        if let promise { return promise.futureResult }
        let p = eventLoop.makePromise(of: Void.self)
        promise = p
        return p.futureResult
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if promise == nil { promise = context.eventLoop.makePromise(of: Void.self) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { promise?.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise?.succeed()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        promise?.succeed()
    }
}

extension Channel {
    /// A future that completes when the client of this connection has gone (see `ConnectionWatch`); nil if the
    /// pipeline has no watch (in-process router tests). A client that left before this is asked has closed the
    /// channel, which takes the watch out of the pipeline: then the answer is "gone" at once, not "no watch",
    /// or its job would run to the end for nobody.
    func clientGone() async -> EventLoopFuture<Void>? {
        let loop = eventLoop
        do {
            return try await pipeline.handler(type: ConnectionWatch.self).map { $0.gone(on: loop) }.get()
        } catch {
            return isActive ? nil : loop.makeSucceededFuture(())
        }
    }
}
