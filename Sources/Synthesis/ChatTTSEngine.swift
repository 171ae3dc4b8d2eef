import ChatTTS
import Foundation

/// The native ChatTTS engine behind the scheduler: one shared model, one `Job` per request.
///
/// A job goes through up to two generation phases that batch with everyone else's: refinement (text tokens), then
/// speech (audio codes). Audio leaves through a `StreamingVocoder` every `chunkSteps` steps, so the first bytes
/// of a long utterance are out long before its end, and the chunks add up to the one-shot waveform.
public final class ChatTTSEngine: SpeechEngine {
    public let model: ChatTTSModel
    /// Steps between two vocoder runs for a streaming sequence.
    public let chunkSteps: Int

    public init(model: ChatTTSModel, chunkSteps: Int = 24) {
        self.model = model
        self.chunkSteps = max(1, chunkSteps)
    }

    public convenience init(assets: URL, chunkSteps: Int = 24) throws {
        try self.init(model: ChatTTSModel(folder: assets), chunkSteps: chunkSteps)
    }

    public var sampleRate: Int { model.sampleRate }

    /// Per-request state; touched only by the scheduler's compute thread.
    public final class Job: @unchecked Sendable {
        let request: SpeechRequest
        let seed: UInt64
        var refining: GenerationSequence?
        var speaking: GenerationSequence?
        var vocoder: StreamingVocoder
        var lastVocodedStep = 0
        var refineSteps = 0
        var cancelled = false

        init(request: SpeechRequest, seed: UInt64, vocoder: StreamingVocoder) {
            self.request = request
            self.seed = seed
            self.vocoder = vocoder
        }

        var current: GenerationSequence? { refining ?? speaking }
    }

    public func start(_ request: SpeechRequest) throws -> Job {
        let p = request.parameters
        try p.validate()
        if let voice = request.voice, voice.values.count != model.hiddenSize {
            throw SchedulerError(.invalidRequest, "voice: has \(voice.values.count) values, this model needs \(model.hiddenSize)",
                                 field: "voice")
        }
        var text = request.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if p.normalize { text = Normalizer().normalize(text) }
        guard !text.isEmpty else {
            throw SchedulerError(.invalidRequest, "input: nothing left to speak after normalization", field: "input")
        }
        let seed = p.seed ?? UInt64.random(in: 0...UInt64.max)
        let job = Job(request: request, seed: seed, vocoder: StreamingVocoder(model: model))
        if p.refine {
            var refine = RefineTextParams()
            refine.prompt = p.refinePrompt
            refine.temperature = p.refineTemperature
            refine.topP = p.refineTopP
            refine.topK = p.refineTopK
            refine.repetitionPenalty = p.refineRepetitionPenalty
            refine.maxNewTokens = p.refineMaxNewTokens
            refine.seed = seed
            let params = model.refineParams(refine)
            let ids = model.tokenizer.encode(model.decorateForRefine(text, prompt: p.refinePrompt))
            job.refining = try model.makeSequence(mode: .text, prompt: model.promptEmbeddings(ids, voice: nil), params: params)
        } else {
            job.speaking = try speakingSequence(text, job: job)
        }
        try checkLength(job)
        return job
    }

    func speakingSequence(_ text: String, job: Job) throws -> GenerationSequence {
        let p = job.request.parameters
        var code = InferCodeParams()
        code.prompt = p.prompt
        code.temperature = p.temperature
        code.topP = p.topP
        code.topK = p.topK
        code.repetitionPenalty = p.repetitionPenalty
        code.minNewTokens = p.minNewTokens
        code.maxNewTokens = p.maxNewTokens
        code.seed = job.seed
        let ids = model.tokenizer.encode(model.decorateForCode(text, prompt: p.prompt, hasVoice: job.request.voice != nil))
        return try model.makeSequence(mode: .code, prompt: model.promptEmbeddings(ids, voice: job.request.voice),
                                  params: model.codeParams(code))
    }

    /// The prompt plus every step must fit the model's positions.
    func checkLength(_ job: Job) throws {
        guard let s = job.current else { return }
        let limit = model.config.maxPositions
        if s.promptLength + s.params.maxNewTokens > limit {
            throw SchedulerError(.invalidRequest,
                                 "input: \(s.promptLength) tokens plus max_new_token \(s.params.maxNewTokens) exceed the model's \(limit) positions",
                                 field: s.promptLength >= limit ? "input" : "max_new_token")
        }
    }

    public func step(_ batch: [Job]) {
        let sequences = batch.compactMap(\.current).filter { !$0.finished }
        model.step(sequences)
        for job in batch where !job.cancelled {
            // A finished refinement becomes the speech prompt; it joins the batch at the next step.
            guard let refining = job.refining, refining.finished else { continue }
            let refined = model.refinedText(refining)
            job.refineSteps = refining.steps + (refining.endedOnEOS ? 1 : 0)
            job.refining = nil
            do {
                job.speaking = try speakingSequence(refined, job: job)
                try checkLength(job)
            } catch {
                job.speaking = nil
                job.cancelled = true
            }
        }
    }

    public func isFinished(_ job: Job) -> Bool {
        job.cancelled || (job.refining == nil && (job.speaking?.finished ?? true))
    }

    public func cancel(_ job: Job) {
        job.cancelled = true
        job.refining?.cancel()
        job.speaking?.cancel()
    }

    public func takeAudio(_ job: Job) -> [Float] {
        guard !job.cancelled, let s = job.speaking else { return [] }
        if s.finished { return job.vocoder.advance(s, final: true) }
        guard s.steps - job.lastVocodedStep >= chunkSteps else { return [] }
        job.lastVocodedStep = s.steps
        return job.vocoder.advance(s, final: false)
    }

    public func steps(_ job: Job) -> Int {
        job.refineSteps + (job.refining?.steps ?? 0) + (job.speaking?.steps ?? 0)
    }
}
