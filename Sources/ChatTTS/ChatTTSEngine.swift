import Foundation
import Synthesis
import Tensors

/// The native ChatTTS engine behind the scheduler: one shared model, one `Job` per request.
///
/// A job goes through up to two generation phases that batch with everyone else's: refinement (text tokens), then
/// speech (audio codes). Audio leaves through a `StreamingVocoder` every `chunkSteps` steps, so the first bytes
/// of a long utterance are out long before its end, and the chunks add up to the one-shot waveform. A job that
/// cannot go on (its speech prompt does not fit after refinement, its KV cache cannot grow) fails alone, with the
/// reason its client gets.
public final class ChatTTSEngine: SpeechEngine {
    public let model: ChatTTSModel
    public let library: VoiceLibrary
    /// Steps between two vocoder runs for a streaming sequence.
    public let chunkSteps: Int
    public let knobs: KnobTable
    public let name = "chattts"

    public init(model: ChatTTSModel, voices: VoiceLibrary = VoiceLibrary(), chunkSteps: Int = 24) {
        self.model = model
        library = voices
        self.chunkSteps = max(1, chunkSteps)
        knobs = ChatTTSKnobs.table(positions: model.config.maxPositions)
    }

    public convenience init(assets: URL, options: EngineOptions = EngineOptions(), voices: VoiceLibrary = VoiceLibrary(),
                            chunkSteps: Int = 24) throws {
        try self.init(model: ChatTTSModel(folder: assets, options: options), voices: voices, chunkSteps: chunkSteps)
    }

    public var sampleRate: Int { model.sampleRate }
    public var voices: [VoiceListing] { library.listing }

    public func checkVoice(_ spec: String) throws(SynthesisError) { _ = try library.resolve(spec) }

    /// OpenAI's `speed` (0.25...4.0, 1 = normal) as ChatTTS's `[speed_N]` prompt, N in 0...9: each doubling of speed
    /// adds 2, so 0.25 -> 1, 0.5 -> 3, 1 -> 5, 2 -> 7, 4 -> 9 (rounded to the nearest N).
    public func knobs(forSpeed speed: Double) -> [String: KnobValue] {
        let n = Int((5 + 2 * log2(speed)).rounded())
        return [ChatTTSKnobs.prompt.name: .text("[speed_\(min(9, max(0, n)))]")]
    }

    public func warmUpRequest() -> SpeechRequest {
        let given: [String: KnobValue] = [
            ChatTTSKnobs.refine.name: .boolean(false), ChatTTSKnobs.normalize.name: .boolean(false),
            ChatTTSKnobs.seed.name: .unsigned(0), ChatTTSKnobs.minNewToken.name: .integer(8),
            ChatTTSKnobs.maxNewToken.name: .integer(8),
        ]
        do {
            return SpeechRequest(id: "warm-up", text: "warm up", voice: nil, knobs: try knobs.resolve(given))
        } catch {
            preconditionFailure("the warm-up request breaks the knob table: \(error)")
        }
    }

    /// Per-request state. Invariant: touched only by the scheduler's compute thread once `start` returned it.
    public final class Job: @unchecked Sendable {
        let knobs: KnobValues
        let voice: Voice?
        let seed: UInt64
        var refining: GenerationSequence?
        var speaking: GenerationSequence?
        var vocoder: StreamingVocoder
        var lastVocodedStep = 0
        var refineSteps = 0
        var cancelled = false
        var failure: SynthesisError?
        /// Set at start: the most KV-cache bytes the job holds at once.
        var memory = 0

        init(knobs: KnobValues, voice: Voice?, seed: UInt64, vocoder: StreamingVocoder) {
            self.knobs = knobs
            self.voice = voice
            self.seed = seed
            self.vocoder = vocoder
        }

        var current: GenerationSequence? { refining ?? speaking }
    }

    public func start(_ request: SpeechRequest) throws(SynthesisError) -> Job {
        let voice = try library.resolve(request.voice).speaker
        if let voice, voice.values.count != model.hiddenSize {
            throw SynthesisError(.invalidRequest, "has \(voice.values.count) values, this model needs \(model.hiddenSize)",
                                 field: SpeechRequest.voiceField, code: "invalid_voice")
        }
        let k = request.knobs
        let seed = k.unsigned(ChatTTSKnobs.seed) ?? UInt64.random(in: 0...UInt64.max)
        let job = Job(knobs: k, voice: voice, seed: seed, vocoder: StreamingVocoder(model: model))
        let code = InferCodeParams(k, seed: seed)
        let normalize = k.boolean(ChatTTSKnobs.normalize)
        if k.boolean(ChatTTSKnobs.refine) {
            let refine = RefineTextParams(k, seed: seed)
            job.refining = try sequence(request.text, .refine(refine), normalize: normalize, allowEmpty: false)
            // The speech prompt holds at most what the refinement writes, plus the decoration.
            let decoration = model.tokenizer.encode(model.decorateForCode("", prompt: code.prompt, hasVoice: voice != nil))
            job.memory = max(memoryBytes(job.refining!, maxNewTokens: refine.maxNewTokens),
                             model.kvCacheBytes(promptLength: decoration.count + refine.maxNewTokens,
                                                maxNewTokens: code.maxNewTokens))
        } else {
            job.speaking = try sequence(request.text, .speech(code, voice: voice), normalize: normalize, allowEmpty: false)
            job.memory = memoryBytes(job.speaking!, maxNewTokens: code.maxNewTokens)
        }
        return job
    }

    private func memoryBytes(_ s: GenerationSequence, maxNewTokens: Int) -> Int {
        model.kvCacheBytes(promptLength: s.promptLength, maxNewTokens: maxNewTokens)
    }

    public func memoryBytes(_ job: Job) -> Int { job.memory }

    /// A stage's sequence, with the model's reasons turned into the client's.
    private func sequence(_ text: String, _ stage: PromptStage, normalize: Bool, allowEmpty: Bool)
        throws(SynthesisError) -> GenerationSequence
    {
        do {
            return try model.promptSequence(text, stage: stage, normalize: normalize, allowEmpty: allowEmpty)
        } catch let error as PromptError {
            let refined = allowEmpty ? "after refinement, " : ""
            switch error.reason {
            case .nothingToSpeak:
                throw SynthesisError(.invalidRequest, "has " + error.message, field: SpeechRequest.textField,
                                     code: "empty_text")
            default:
                throw SynthesisError(.invalidRequest, "is too long: \(refined)\(error.message); send a shorter text or "
                                     + "ask for fewer max_new_token", field: SpeechRequest.textField, code: "text_too_long")
            }
        } catch {
            throw Self.failure(error)
        }
    }

    /// An error of the model while a sequence runs: memory that could not be had is worth a retry elsewhere.
    static func failure(_ error: any Error) -> SynthesisError {
        if error is AllocationError {
            return SynthesisError(.outOfMemory, "the server is out of memory for this request: \(error)", retryAfter: 1)
        }
        return SynthesisError(.engineFailure, "the engine failed this request: \(error)")
    }

    public func step(_ batch: [Job]) {
        let sequences = batch.compactMap(\.current).filter { !$0.finished }
        model.step(sequences)
        for job in batch where !job.cancelled && job.failure == nil {
            if let error = job.current?.failure {
                job.failure = Self.failure(error)
                continue
            }
            // A finished refinement becomes the speech prompt; it joins the batch at the next step.
            guard let refining = job.refining, refining.finished else { continue }
            let refined = model.refinedText(refining)
            job.refineSteps = refining.steps + (refining.endedOnEOS ? 1 : 0)
            job.refining = nil
            do {
                job.speaking = try sequence(refined, .speech(InferCodeParams(job.knobs, seed: job.seed), voice: job.voice),
                                            normalize: false, allowEmpty: true)
            } catch {
                job.failure = error
            }
        }
    }

    public func state(_ job: Job) -> SequenceState {
        if let failure = job.failure { return .failed(failure) }
        if job.cancelled || (job.refining == nil && (job.speaking?.finished ?? true)) { return .finished }
        return .running
    }

    public func cancel(_ job: Job) {
        job.cancelled = true
        job.refining?.cancel()
        job.speaking?.cancel()
    }

    public func takeAudio(_ job: Job) -> [Float] {
        guard !job.cancelled, job.failure == nil, let s = job.speaking else { return [] }
        if s.finished { return job.vocoder.advance(s, final: true) }
        guard s.steps - job.lastVocodedStep >= chunkSteps else { return [] }
        job.lastVocodedStep = s.steps
        return job.vocoder.advance(s, final: false)
    }

    public func steps(_ job: Job) -> Int {
        job.refineSteps + (job.refining?.steps ?? 0) + (job.speaking?.steps ?? 0)
    }
}

public typealias ChatTTSScheduler = Scheduler<ChatTTSEngine>
