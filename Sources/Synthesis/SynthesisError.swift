/// Why a request was not (or not fully) served, by the scheduler or an engine.
///
/// `field` names the request field at fault and `message` says what is wrong with it, apart, so that each endpoint
/// can name the field in its own vocabulary (`input` on the OpenAI route is `text` here) without rewriting
/// messages. `retryAfter` is set when trying again later may work.
public struct SynthesisError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(name: String) { self.name = name }
        /// The request itself is at fault: a value outside its limit, an unknown voice, a text too long.
        public static let invalidRequest = Code(name: "invalid_request")
        public static let queueFull = Code(name: "queue_full")
        public static let queueTimeout = Code(name: "queue_timeout")
        /// The estimated wait for the first audio is longer than the request's deadline: refused at once.
        public static let overloaded = Code(name: "overloaded")
        /// The request's deadline passed: no first audio in time, or the whole synthesis took too long.
        public static let deadlineExceeded = Code(name: "deadline_exceeded")
        public static let draining = Code(name: "draining")
        /// The model is loaded but the warm-up has not finished (`/ready` is 503): a load balancer should send the
        /// request to a ready replica.
        public static let notReady = Code(name: "not_ready")
        public static let cancelled = Code(name: "cancelled")
        /// Memory for the request's state could not be had now (an allocation failed); another replica or a later
        /// try may work.
        public static let outOfMemory = Code(name: "out_of_memory")
        /// The engine failed this sequence for a reason of its own.
        public static let engineFailure = Code(name: "engine_failure")
        public var description: String { name }
    }

    public let code: Code
    public let message: String
    /// The request field at fault (`SpeechRequest.textField` for the text), for invalid requests.
    public let field: String?
    /// A finer reason for clients (`out_of_range`, `invalid_voice`, ...), answered as the error's `code`.
    public let detail: String?
    public let retryAfter: Int?

    public init(_ code: Code, _ message: String, field: String? = nil, code detail: String? = nil,
                retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.detail = detail
        self.retryAfter = retryAfter
    }

    /// The message with the field in front, for logs and the CLI: `'top_P' must be in (0, 1], got 2`.
    public var description: String { field.map { "'\($0)' \(message)" } ?? message }
}
