@_exported import struct ChatTTS.Voice

/// Every ChatTTS knob of one request, with the official names' meaning and defaults.
public struct SpeechParameters: Sendable, Equatable {
    /// Prompt tags in front of the text, e.g. `[speed_5]` or `[oral_2][laugh_0][break_6]`.
    public var prompt = "[speed_5]"
    public var temperature: Float = 0.3
    public var topP: Float = 0.7
    public var topK = 20
    public var repetitionPenalty: Float = 1.05
    public var minNewTokens = 0
    public var maxNewTokens = 2048
    /// The refinement stage: the GPT rewrites the text with prosody tokens before speaking it.
    public var refine = true
    public var refinePrompt = ""
    public var refineTemperature: Float = 0.7
    public var refineTopP: Float = 0.7
    public var refineTopK = 20
    public var refineRepetitionPenalty: Float = 1.0
    public var refineMaxNewTokens = 384
    public var normalize = true
    /// Seeds sampling; nil draws a random seed. The same seed, text, voice and parameters give the same audio,
    /// whatever else shares the batch.
    public var seed: UInt64? = nil

    public init() {}

    /// Checks every value against its limit; the message names the field.
    public func validate() throws(SchedulerError) {
        func fail(_ field: String, _ message: String) -> SchedulerError {
            SchedulerError(.invalidRequest, "\(field): \(message)", field: field)
        }
        guard temperature > 0, temperature <= 5 else { throw fail("temperature", "must be in (0, 5], got \(temperature)") }
        guard topP > 0, topP <= 1 else { throw fail("top_P", "must be in (0, 1], got \(topP)") }
        guard topK >= 1, topK <= 1000 else { throw fail("top_K", "must be in [1, 1000], got \(topK)") }
        guard repetitionPenalty > 0, repetitionPenalty <= 10 else {
            throw fail("repetition_penalty", "must be in (0, 10], got \(repetitionPenalty)")
        }
        guard maxNewTokens >= 1, maxNewTokens <= 4096 else { throw fail("max_new_token", "must be in [1, 4096], got \(maxNewTokens)") }
        guard minNewTokens >= 0, minNewTokens <= maxNewTokens else {
            throw fail("min_new_token", "must be in [0, max_new_token = \(maxNewTokens)], got \(minNewTokens)")
        }
        guard refineTemperature > 0, refineTemperature <= 5 else {
            throw fail("refine_temperature", "must be in (0, 5], got \(refineTemperature)")
        }
        guard refineTopP > 0, refineTopP <= 1 else { throw fail("refine_top_P", "must be in (0, 1], got \(refineTopP)") }
        guard refineTopK >= 1, refineTopK <= 1000 else { throw fail("refine_top_K", "must be in [1, 1000], got \(refineTopK)") }
        guard refineRepetitionPenalty > 0, refineRepetitionPenalty <= 10 else {
            throw fail("refine_repetition_penalty", "must be in (0, 10], got \(refineRepetitionPenalty)")
        }
        guard refineMaxNewTokens >= 1, refineMaxNewTokens <= 2048 else {
            throw fail("refine_max_new_token", "must be in [1, 2048], got \(refineMaxNewTokens)")
        }
    }
}

/// One synthesis: a text, a voice (nil: no speaker) and its parameters.
public struct SpeechRequest: Sendable {
    public var id: String
    public var text: String
    public var voice: Voice?
    public var parameters: SpeechParameters

    public init(id: String, text: String, voice: Voice?, parameters: SpeechParameters) {
        self.id = id
        self.text = text
        self.voice = voice
        self.parameters = parameters
    }
}

/// Why a request was not (or not fully) served. `retryAfter` is set when trying again later may work.
public struct SchedulerError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public static let invalidRequest = Code(name: "invalid_request")
        public static let queueFull = Code(name: "queue_full")
        public static let queueTimeout = Code(name: "queue_timeout")
        public static let draining = Code(name: "draining")
        public static let cancelled = Code(name: "cancelled")
        public static let engineFailure = Code(name: "engine_failure")
        public var description: String { name }
    }

    public let code: Code
    public let message: String
    /// The request field at fault, for invalid requests.
    public let field: String?
    public let retryAfter: Int?

    public init(_ code: Code, _ message: String, field: String? = nil, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.retryAfter = retryAfter
    }

    public var description: String { message }
}
