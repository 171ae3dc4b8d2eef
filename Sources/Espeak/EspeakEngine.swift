import AudioCodecs
import CEspeak
import Foundation
import Synchronization
import Synthesis

/// A formant synthesizer (libespeak-ng) behind the engine protocol: speech with no model files, for a first run
/// before the ChatTTS assets are there. English and Chinese (Mandarin), picked per request from the text.
///
/// libespeak-ng keeps global state and is not reentrant, so every synthesis holds one process-wide lock (the
/// scheduler steps from one thread anyway). A sequence is synthesized whole at its first step (espeak runs far faster
/// than real time), resampled from espeak's rate to 24 kHz with soxr, and then handed out a chunk per step, so
/// streaming and batching behave as with ChatTTS. Knobs: `speed` (words per minute) and `pitch`; ChatTTS' knobs
/// are not this engine's and are refused by name.
public final class EspeakEngine: SpeechEngine {
    public let name = "espeak"
    public let sampleRate = 24000
    /// Samples handed out per step (0.25 s).
    let chunk = 6000

    public static let rate = Knob("rate", .integer(80...450), default: .integer(175), unit: "words per minute",
                                  doc: "speaking rate; OpenAI's `speed` scales it")
    public static let pitch = Knob("pitch", .integer(0...100), default: .integer(50), doc: "base pitch")
    public let knobs = KnobTable([EspeakEngine.rate, EspeakEngine.pitch])
    public let voices: [VoiceListing]
    static let openAINames = ["alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse"]
    /// espeak's own rate, read at initialization.
    let nativeRate: Int

    public struct InitializationError: Error, CustomStringConvertible {
        public let description: String
    }

    public init() throws {
        nativeRate = try Espeak.shared.sampleRate()
        voices = [VoiceListing(id: "en", source: "espeak"), VoiceListing(id: "zh", source: "espeak")]
            + Self.openAINames.map { VoiceListing(id: $0, source: "espeak en") }
    }

    /// Invariant: touched by the scheduler's compute thread only, once `start` returned it.
    public final class Sequence: @unchecked Sendable {
        let text: String
        let language: String
        let rate: Int
        let pitch: Int
        var audio: [Float]?
        var offset = 0
        var steps = 0
        var pending: [Float] = []
        var cancelled = false
        var failure: SynthesisError?

        init(text: String, language: String, rate: Int, pitch: Int) {
            self.text = text
            self.language = language
            self.rate = rate
            self.pitch = pitch
        }
    }

    /// `en`, `zh`, an OpenAI name (English), or none (from the text).
    func language(voice: String?, text: String) throws(SynthesisError) -> String {
        let spec = voice?.trimmingCharacters(in: .whitespaces) ?? ""
        switch spec {
        case "": return text.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) } ? "cmn" : "en"
        case "en": return "en"
        case "zh", "cmn": return "cmn"
        default:
            guard Self.openAINames.contains(spec) else {
                throw SynthesisError(.invalidRequest, "'\(spec.prefix(40))' is not a voice of the espeak engine (en, zh or an OpenAI voice name); ChatTTS voices need the model's assets",
                                     field: SpeechRequest.voiceField, code: "invalid_voice")
            }
            return "en"
        }
    }

    public func checkVoice(_ spec: String) throws(SynthesisError) { _ = try language(voice: spec, text: "") }

    public func knobs(forSpeed speed: Double) -> [String: KnobValue] {
        ["rate": .integer(min(450, max(80, Int((175 * speed).rounded()))))]
    }

    public func warmUpRequest() -> SpeechRequest {
        SpeechRequest(id: "warm-up", text: "Warm up.", voice: nil, knobs: knobs.defaults)
    }

    public func start(_ request: SpeechRequest) throws(SynthesisError) -> Sequence {
        let text = request.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            throw SynthesisError(.invalidRequest, "has nothing to speak", field: SpeechRequest.textField, code: "empty_text")
        }
        return Sequence(text: text, language: try language(voice: request.voice, text: text),
                        rate: request.knobs.integer(Self.rate), pitch: request.knobs.integer(Self.pitch))
    }

    public func memoryBytes(_ s: Sequence) -> Int { 1 << 20 }

    public func step(_ batch: [Sequence]) {
        for s in batch where !s.cancelled && s.failure == nil {
            if s.audio == nil {
                do {
                    let native = try Espeak.shared.synthesize(s.text, voice: s.language, rate: s.rate, pitch: s.pitch)
                    s.audio = try Resampler.resample(native, from: nativeRate, to: sampleRate)
                } catch {
                    s.failure = SynthesisError(.engineFailure, "espeak could not speak the text: \(error)")
                    continue
                }
            }
            guard let audio = s.audio, s.offset < audio.count else { continue }
            let end = min(audio.count, s.offset + chunk)
            s.pending += audio[s.offset..<end]
            s.offset = end
            s.steps += 1
        }
    }

    public func state(_ s: Sequence) -> SequenceState {
        if let failure = s.failure { return .failed(failure) }
        if s.cancelled { return .finished }
        guard let audio = s.audio else { return .running }
        return s.offset >= audio.count ? .finished : .running
    }

    public func cancel(_ s: Sequence) { s.cancelled = true }

    public func takeAudio(_ s: Sequence) -> [Float] {
        defer { s.pending = [] }
        return s.pending
    }

    public func steps(_ s: Sequence) -> Int { s.steps }
}

/// The one libespeak-ng of the process: initialized once, used under a lock.
final class Espeak: Sendable {
    static let shared = Espeak()

    private struct State: @unchecked Sendable {
        var initialized: Int32?
        var collected: [Int16] = []
    }

    private let state = Mutex(State())

    func sampleRate() throws -> Int {
        try state.withLock { s in try Self.initialize(&s) }
    }

    private static func initialize(_ s: inout State) throws -> Int {
        if let rate = s.initialized { return Int(rate) }
        let rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 500, nil, 0)
        guard rate > 0 else {
            throw EspeakEngine.InitializationError(description: "espeak_Initialize failed (\(rate)); is espeak-ng-data installed?")
        }
        espeak_SetSynthCallback { samples, count, _ in
            if let samples, count > 0 { Espeak.sink.append(contentsOf: UnsafeBufferPointer(start: samples, count: Int(count))) }
            return 0
        }
        s.initialized = rate
        return Int(rate)
    }

    /// Where the C callback puts samples; only touched while `state` is locked by `synthesize`.
    nonisolated(unsafe) static var sink: [Int16] = []

    /// The text as float samples at espeak's rate.
    func synthesize(_ text: String, voice: String, rate: Int, pitch: Int) throws -> [Float] {
        try state.withLock { s in
            _ = try Self.initialize(&s)
            guard espeak_SetVoiceByName(voice) == EE_OK else {
                throw EspeakEngine.InitializationError(description: "espeak has no voice '\(voice)'")
            }
            espeak_SetParameter(espeakRATE, Int32(rate), 0)
            espeak_SetParameter(espeakPITCH, Int32(pitch), 0)
            Self.sink = []
            let bytes = Array(text.utf8) + [0]
            let result = bytes.withUnsafeBufferPointer { buffer in
                espeak_Synth(buffer.baseAddress, buffer.count, 0, POS_CHARACTER, 0,
                             UInt32(espeakCHARS_UTF8), nil, nil)
            }
            guard result == EE_OK else {
                throw EspeakEngine.InitializationError(description: "espeak_Synth failed (\(result))")
            }
            espeak_Synchronize()
            let out = Self.sink.map { Float($0) / 32768 }
            Self.sink = []
            return out
        }
    }
}
