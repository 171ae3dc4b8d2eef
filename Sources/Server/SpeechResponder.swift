import AudioCodecs
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Synthesis

/// Turns a validated request into a job on the shared scheduler and the job's audio into a response: whole,
/// streamed bytes, or server-sent events. Inference never runs here: this code only awaits the job's audio stream
/// and encodes chunks, so the event loops stay free.
struct SpeechResponder: Sendable {
    let scheduler: any SpeechService
    let metrics: ServerMetrics
    let inFlight: InFlightRequests
    let readiness: Readiness
    /// Per-client caps on syntheses at once.
    let limits: ClientLimits
    /// The whole synthesis may take this long (`maxRequestDuration`); then it is cancelled.
    let maxDuration: Duration

    var sampleRate: Int { scheduler.sampleRate }

    /// `textField` is the endpoint's name for the text (`input` or `text`), used in errors about it.
    func respond(_ input: SpeechInput, textField: String, context: SpeechRequestContext) async throws -> Response {
        let trace = context.trace
        trace.update {
            $0.format = input.format.rawValue
            $0.stream = input.stream?.rawValue ?? "none"
            $0.maskedText = Redaction.mask(input.text)
        }
        guard !readiness.isDraining else {
            throw reject(SynthesisError(.draining, "the server is shutting down; retry on another replica", retryAfter: 1),
                         textField: textField, trace: trace, job: nil)
        }
        // Up but not warm: refused like a drain, so that a load balancer retries on a ready replica and a restarted
        // one gets traffic only once `/ready` says so (the warm-up itself goes to the scheduler directly).
        guard readiness.state == .ready else {
            throw reject(SynthesisError(.notReady, "this replica is still warming up; retry on another replica",
                                        retryAfter: 1),
                         textField: textField, trace: trace, job: nil)
        }
        let client = context.client ?? ClientIdentity(address: "unknown")
        let clientLimits = context.clientLimits ?? ClientLimits.Limits(rate: 0, burst: 1, maxConcurrent: 0)
        guard limits.enter(client, clientLimits) else {
            metrics.recordRejected(reason: "too_many_concurrent")
            trace.update { $0.rejectedReason = "too_many_concurrent" }
            throw APIError(status: .tooManyRequests,
                           message: "This client already has \(clientLimits.maxConcurrent) syntheses running or queued (maxConcurrentPerClient); wait for one to finish",
                           type: "rate_limit_error", code: "too_many_concurrent_requests", retryAfter: 1)
        }
        let ticket = inFlight.enter { [limits] in limits.leave(client) }
        let submitted = ContinuousClock.now
        let job: SpeechJob
        do {
            job = try scheduler.submit(SpeechRequest(id: context.requestID, text: input.text, voice: input.voice,
                                                     knobs: input.knobs, deadline: input.deadline))
        } catch {
            ticket.leave()
            throw reject(error, textField: textField, trace: trace, job: nil)
        }
        ticket.attach(job)
        let watch = JobWatch(job: job, metrics: metrics, trace: trace, ticket: ticket, submitted: submitted,
                             sampleRate: sampleRate, maxDuration: maxDuration)
        // The client may leave before any byte is written (non-streamed responses write only at the end).
        if let gone = await context.channel.clientGone() {
            gone.whenSuccess { watch.connectionClosed() }
        }
        switch input.stream {
        case nil: return try await whole(job: job, watch: watch, format: input.format, textField: textField)
        case .audio?: return try await streamed(job: job, watch: watch, format: input.format, textField: textField)
        case .sse?: return try await events(job: job, watch: watch, format: input.format, textField: textField,
                                            inputCharacters: input.text.count)
        }
    }

    /// Everything first, then one body with its length: the simplest thing for clients that want a file.
    private func whole(job: SpeechJob, watch: JobWatch, format: AudioFormat, textField: String) async throws -> Response {
        var samples: [Float] = []
        do {
            for try await chunk in job.audio { samples += chunk }
        } catch {
            watch.failed()
            throw reject(error, textField: textField, trace: watch.trace, job: job)
        }
        watch.audioFinished(samples: samples.count)
        let bytes: [UInt8]
        do {
            // Whole files get what only a seekable writer can give (FLAC's total sample count and MD5).
            bytes = try AudioEncoders.encodeWhole(format, samples: samples, sampleRate: sampleRate)
        } catch {
            watch.failed()
            throw APIError.internalError("encoding \(format.rawValue) failed: \(error)")
        }
        var headers: HTTPFields = [
            .contentType: format.contentType,
            .audioSeconds: String(format: "%.3f", watch.audioSeconds),
        ]
        headers.append(contentsOf: Self.detailHeaders(job.details))
        let body = ResponseBody(contentLength: bytes.count) { writer in
            do {
                watch.lastWrite()
                try await writer.write(ByteBuffer(bytes: bytes))
                try await writer.finish(nil)
                watch.delivered()
            } catch {
                watch.clientGone()
                throw error
            }
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Waits for the first audio chunk before any status is sent, so a request that fails in the queue still gets
    /// its error status (503 for a timeout) instead of a truncated 200.
    private func firstChunk(_ audio: AudioIterator, watch: JobWatch, textField: String) async throws -> [Float]? {
        do {
            return try await audio.next()
        } catch {
            watch.failed()
            throw reject(error, textField: textField, trace: watch.trace, job: watch.job)
        }
    }

    /// Encodes the job's audio chunk by chunk as it comes, handing each non-empty piece of bytes to `emit` (an
    /// empty utterance still gets its header); returns the samples encoded.
    private static func encodeChunks(first: [Float]?, rest audio: AudioIterator, format: AudioFormat, sampleRate: Int,
                                     emit: ([UInt8]) async throws -> Void) async throws -> Int {
        let encoder = try AudioEncoders.make(format, sampleRate: sampleRate)
        var samples = 0
        var chunk = first ?? []
        while true {
            samples += chunk.count
            let bytes = try encoder.encode(chunk)
            if !bytes.isEmpty { try await emit(bytes) }
            guard let next = try await audio.next() else { break }
            chunk = next
        }
        let tail = try encoder.finish()
        if !tail.isEmpty { try await emit(tail) }
        return samples
    }

    /// Bytes as they are made. The status is sent with the first audio chunk, so a request that times out in the
    /// queue still gets its 503; after that, a failure ends the body early (the client sees a truncated transfer).
    private func streamed(job: SpeechJob, watch: JobWatch, format: AudioFormat, textField: String) async throws -> Response {
        let audio = AudioIterator(job.audio)
        let first = try await firstChunk(audio, watch: watch, textField: textField)
        let rate = sampleRate
        let body = ResponseBody { writer in
            do {
                let samples = try await Self.encodeChunks(first: first, rest: audio, format: format, sampleRate: rate) {
                    try await watch.write(ByteBuffer(bytes: $0), to: &writer)
                }
                watch.audioFinished(samples: samples)
                try await watch.finish(&writer, trailers: [.audioSeconds: String(format: "%.3f", watch.audioSeconds)])
                watch.delivered()
            } catch {
                // The status has left: a failure cuts the body short, and is counted and logged like any other.
                if !(error is ClientGone) { _ = reject(error, textField: textField, trace: watch.trace, job: job) }
                watch.failed()
                throw error
            }
        }
        var headers: HTTPFields = [.contentType: format.contentType]
        headers.append(contentsOf: Self.detailHeaders(job.details))
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Server-sent events in OpenAI's shape: `speech.audio.delta` with base64 audio in the requested format, then
    /// `speech.audio.done` with usage (input characters, engine steps); an error after the first event is sent as an
    /// `error` event.
    private func events(job: SpeechJob, watch: JobWatch, format: AudioFormat, textField: String,
                        inputCharacters: Int) async throws -> Response {
        let audio = AudioIterator(job.audio)
        let first = try await firstChunk(audio, watch: watch, textField: textField)
        let rate = sampleRate
        let body = ResponseBody { writer in
            do {
                do {
                    let samples = try await Self.encodeChunks(first: first, rest: audio, format: format, sampleRate: rate) {
                        let delta: [String: Any] = ["type": "speech.audio.delta", "audio": Data($0).base64EncodedString()]
                        try await watch.write(try Self.event(delta), to: &writer)
                    }
                    watch.audioFinished(samples: samples)
                    let steps = job.steps
                    let usage: [String: Any] = ["input_tokens": inputCharacters, "output_tokens": steps,
                                                "total_tokens": inputCharacters + steps]
                    try await watch.write(try Self.event(["type": "speech.audio.done", "usage": usage]), to: &writer)
                } catch let error as ClientGone {
                    throw error
                } catch {
                    // The stream has started: report in-band, then end the body normally.
                    let api = reject(error, textField: textField, trace: watch.trace, job: job)
                    var object = api.object
                    object["type"] = "error"
                    try await watch.write(try Self.event(object), to: &writer)
                    watch.failed()
                }
                try await watch.finish(&writer, trailers: nil)
                watch.delivered()
            } catch {
                watch.failed()
                throw error
            }
        }
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        headers.append(contentsOf: Self.detailHeaders(job.details))
        return Response(status: .ok, headers: headers, body: body)
    }

    /// `X-Text-Segments: N` always; `X-Removed-Characters` when the engine left characters out: each one's UTF-8
    /// percent-encoded (only ASCII letters and digits stay as they are), comma-separated.
    static func detailHeaders(_ details: SpeechDetails) -> HTTPFields {
        var fields: HTTPFields = [.textSegments: String(details.textSegments)]
        if !details.removedCharacters.isEmpty {
            fields[.removedCharacters] = details.removedCharacters.map { Self.percentEncoded($0) }.joined(separator: ",")
        }
        return fields
    }

    static func percentEncoded(_ c: Character) -> String {
        String(c).utf8.map { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
                String(UnicodeScalar(byte))
            default:
                "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }.joined()
    }

    static func event(_ object: [String: Any]) throws -> ByteBuffer {
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }

    /// A refusal or failure as the error the client gets, counted by reason: refused before it ran
    /// (`chattts_rejected_requests_total`) or failed after it joined the batch (`chattts_failed_requests_total`).
    private func reject(_ error: any Error, textField: String, trace: RequestTrace, job: SpeechJob?) -> APIError {
        let api: APIError
        let reason: String
        switch error {
        case let error as SynthesisError:
            api = APIError(error, textField: textField)
            reason = error.code.name
        case let error as APIError:
            api = error
            reason = error.status == .badRequest ? "invalid_request" : "error"
        default:
            api = .internalError("\(error)")
            reason = SynthesisError.Code.engineFailure.name
        }
        if reason != SynthesisError.Code.cancelled.name {
            if job?.queueWait != nil { metrics.recordFailed(reason: reason) } else { metrics.recordRejected(reason: reason) }
        }
        trace.update { $0.rejectedReason = reason }
        return api
    }
}

extension HTTPField.Name {
    /// Seconds of audio in the response: a header on whole responses, a trailer on streamed ones.
    static let audioSeconds = HTTPField.Name("X-Audio-Seconds")!
    static let requestID = HTTPField.Name("X-Request-ID")!
    /// Utterances the text was split into.
    static let textSegments = HTTPField.Name("X-Text-Segments")!
    /// Characters left out of the text because the engine cannot say them.
    static let removedCharacters = HTTPField.Name("X-Removed-Characters")!
}

extension HTTPResponse.Status {
    /// nginx's convention for "the client closed the connection before the response was complete".
    static let clientClosedRequest = HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request")
}

/// Thrown when a body write fails: the client has gone.
struct ClientGone: Error {}

/// The job's audio iterator, handed from the handler (which waits for the first chunk, to choose the status) to the
/// body writer. Invariant: used by one task at a time, the handler before it returns the response and the body
/// writer after, never both.
final class AudioIterator: @unchecked Sendable {
    private var iterator: AsyncThrowingStream<[Float], Error>.AsyncIterator

    init(_ stream: AsyncThrowingStream<[Float], Error>) { iterator = stream.makeAsyncIterator() }

    func next() async throws -> [Float]? { try await iterator.next() }
}

/// Follows one job from submission to the last byte: cancels it if the client leaves, records its numbers once.
final class JobWatch: Sendable {
    let job: SpeechJob
    let metrics: ServerMetrics
    let trace: RequestTrace
    private let ticket: InFlightRequests.Ticket
    private let submitted: ContinuousClock.Instant
    private let sampleRate: Int
    private let state = Mutex<(over: Bool, audioSeconds: Double, lastWrite: Bool)>((false, 0, false))

    /// Cancels the job once the whole request has taken `maxDuration`.
    private let timer: Task<Void, Never>

    init(job: SpeechJob, metrics: ServerMetrics, trace: RequestTrace, ticket: InFlightRequests.Ticket,
         submitted: ContinuousClock.Instant, sampleRate: Int, maxDuration: Duration) {
        self.job = job
        self.metrics = metrics
        self.trace = trace
        self.ticket = ticket
        self.submitted = submitted
        self.sampleRate = sampleRate
        timer = Task { [job] in
            guard (try? await Task.sleep(for: maxDuration)) != nil else { return }
            job.cancel(SynthesisError(.deadlineExceeded, String(format: "the synthesis took longer than maxRequestDuration (%g s)", maxDuration.seconds), retryAfter: 1))
        }
    }

    var audioSeconds: Double { state.withLock { $0.audioSeconds } }

    /// A response dropped before its body ran (the connection died first) still leaves the in-flight count.
    deinit {
        timer.cancel()
        ticket.leave()
    }

    /// Ends the request's life (first call wins); true if this call ended it.
    private func end() -> Bool {
        let first = state.withLock { s -> Bool in
            guard !s.over else { return false }
            s.over = true
            return true
        }
        if first {
            timer.cancel()
            ticket.leave()
        }
        return first
    }

    /// The client went away before the response was complete: cancel the job, freeing its batch slot.
    func clientGone() {
        guard end() else { return }
        job.cancel()
        metrics.clientDisconnects.increment()
        metrics.cancelledJobs.increment()
        trace.update { $0.clientDisconnected = true }
    }

    /// The response's last bytes are being written: from here that write sees a closed connection itself, and a
    /// client that read everything and then closed did not leave early.
    func lastWrite() { state.withLock { $0.lastWrite = true } }

    /// The connection closed (the channel's watch, for clients that leave while nothing is being written): a
    /// disconnect unless the last write is under way (then its own outcome says).
    func connectionClosed() {
        guard !state.withLock({ $0.lastWrite }) else { return }
        clientGone()
    }

    /// The job or the response failed for another reason.
    func failed() {
        guard end() else { return }
        job.cancel()
    }

    /// All audio is in: record its numbers.
    func audioFinished(samples: Int) {
        let seconds = Double(samples) / Double(sampleRate)
        state.withLock { $0.audioSeconds = seconds }
        let synthesis = ContinuousClock.now - submitted
        if let ttfa = job.timeToFirstAudio { metrics.timeToFirstAudio.record(ttfa) }
        if let wait = job.queueWait { metrics.queueWait.record(wait) }
        if seconds > 0 { metrics.realTimeFactor.record(synthesis.seconds / seconds) }
        trace.update {
            $0.audioSeconds = seconds
            $0.timeToFirstAudio = self.job.timeToFirstAudio
            $0.queueWait = self.job.queueWait
            $0.synthesisTime = synthesis
        }
    }

    /// The last byte left.
    func delivered() { _ = end() }

    func write(_ buffer: ByteBuffer, to writer: inout any ResponseBodyWriter) async throws {
        do { try await writer.write(buffer) } catch {
            clientGone()
            throw ClientGone()
        }
    }

    func finish(_ writer: inout any ResponseBodyWriter, trailers: HTTPFields?) async throws {
        lastWrite()
        do { try await writer.finish(trailers) } catch {
            clientGone()
            throw ClientGone()
        }
    }
}

/// Synthesis requests between submission and their last byte; a graceful shutdown waits for this to reach zero, and
/// cancels the jobs still running when the drain time is over.
public final class InFlightRequests: Sendable {
    private let state = Mutex<(next: Int, tickets: [Int: Ticket])>((0, [:]))

    public init() {}

    public var current: Int { state.withLock { $0.tickets.count } }

    /// A new request's place; `onLeave` runs once when it leaves.
    func enter(onLeave: @escaping @Sendable () -> Void = {}) -> Ticket {
        state.withLock { s in
            let ticket = Ticket(owner: self, number: s.next, onLeave: onLeave)
            s.next += 1
            s.tickets[ticket.number] = ticket
            return ticket
        }
    }

    /// Cancels every job still running; their responses end with an error.
    func cancelAll() {
        let tickets = state.withLock { Array($0.tickets.values) }
        for ticket in tickets { ticket.job?.cancel() }
    }

    fileprivate func remove(_ number: Int) {
        _ = state.withLock { $0.tickets.removeValue(forKey: number) }
    }

    /// One request's place; leaves once, explicitly or when the response is dropped unwritten.
    final class Ticket: Sendable {
        private weak let owner: InFlightRequests?
        let number: Int
        private let attached = Mutex<SpeechJob?>(nil)
        private let onLeave: Mutex<(@Sendable () -> Void)?>

        init(owner: InFlightRequests, number: Int, onLeave: @escaping @Sendable () -> Void) {
            self.owner = owner
            self.number = number
            self.onLeave = Mutex(onLeave)
        }

        var job: SpeechJob? { attached.withLock { $0 } }

        func attach(_ job: SpeechJob) { attached.withLock { $0 = job } }

        /// Leaves once; later calls do nothing.
        func leave() {
            guard let action = onLeave.withLock({ a -> (@Sendable () -> Void)? in defer { a = nil }; return a }) else { return }
            owner?.remove(number)
            action()
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
