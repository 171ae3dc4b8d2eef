import Foundation
import Synchronization
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

    /// `streamMode`: what requests get without a `stream_mode` knob.
    public init(model: ChatTTSModel, voices: VoiceLibrary = VoiceLibrary(), chunkSteps: Int = 24,
                streamMode: StreamMode = .exact) {
        self.model = model
        library = voices
        self.chunkSteps = max(1, chunkSteps)
        do {
            knobs = try ChatTTSKnobs.table(positions: model.config.maxPositions)
                .defaulting(ChatTTSKnobs.streamMode.name, to: .text(streamMode.rawValue))
        } catch {
            preconditionFailure("stream mode \(streamMode) breaks the knob table: \(error)")
        }
    }

    public convenience init(assets: URL, options: EngineOptions = EngineOptions(), voices: VoiceLibrary = VoiceLibrary(),
                            chunkSteps: Int = 24, streamMode: StreamMode = .exact) throws {
        try self.init(model: ChatTTSModel(folder: assets, options: options), voices: voices, chunkSteps: chunkSteps,
                      streamMode: streamMode)
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
    ///
    /// A long text is several utterances (`TextSegmenter`); they run as sequences of the shared batch, at most
    /// `max_split_batch` of them at once, and their audio leaves in order. Without a sample prompt, the first
    /// utterance is the voice's reference, as in the official pipeline: once it is spoken, its audio (encoded by the
    /// DVAE) and its text become the sample prompt of the others. Unlike the official pipeline, the first
    /// utterance is not generated a second time with that prompt: its audio is already the voice, and the client
    /// hears it while the others are made.
    public final class Job: @unchecked Sendable {
        let knobs: KnobValues
        let voice: Voice?
        let seed: UInt64
        let refine: Bool
        let concurrency: Int
        var segments: [Segment]
        /// The sample prompt of the speech stage: the request's, the voice's, or the first utterance's.
        var sample: SpeakerSample?
        /// The first utterance is the reference of the others (several utterances and no sample given).
        let referenceFirst: Bool
        /// The utterance whose audio leaves now.
        var delivering = 0
        var cancelled = false
        var failure: SynthesisError?
        /// Set at start: the most KV-cache bytes the job holds at once.
        var memory = 0
        let details: SpeechDetails

        init(knobs: KnobValues, voice: Voice?, sample: SpeakerSample?, seed: UInt64, segments: [Segment],
             referenceFirst: Bool, details: SpeechDetails) {
            self.knobs = knobs
            self.voice = voice
            self.sample = sample
            self.seed = seed
            self.segments = segments
            self.details = details
            refine = knobs.boolean(ChatTTSKnobs.refine)
            concurrency = knobs.integer(ChatTTSKnobs.maxSplitBatch)
            self.referenceFirst = referenceFirst
        }

        var sequences: [GenerationSequence] { segments.flatMap { [$0.refining, $0.speaking].compactMap { $0 } } }
        var running: Int { segments.count { $0.refining != nil || ($0.speaking.map { !$0.finished } ?? false) } }
        /// Every utterance spoken to its end.
        var spoken: Bool { segments.allSatisfy { $0.speaking?.finished ?? false } }
    }

    /// One utterance of a job.
    final class Segment {
        let index: Int
        /// The normalized text, then (after refinement) the text the speech stage reads.
        var text: String
        var refining: GenerationSequence?
        var speaking: GenerationSequence?
        /// Refinement done (or off): `text` is what the speech stage reads.
        var readyToSpeak: Bool
        var refineSteps = 0
        let vocoder: StreamingVocoder
        /// The utterance's step of the first vocoder run that gave samples.
        var firstAudioStep: Int?
        /// Audio the last step's vocoder run made, for `takeAudio` (nil: the vocoder did not run).
        var made: [Float]?
        var trimmer: EdgeTrimmer
        /// Audio made but not yet delivered (a later utterance waits for the ones before it).
        var pending: [Float] = []
        /// The whole untrimmed audio of the reference utterance, for its sample prompt.
        var reference: [Float]?
        var vocoded = false

        init(index: Int, count: Int, text: String, refine: Bool, model: ChatTTSModel, reference: Bool,
             streamMode: StreamMode) {
            self.index = index
            self.text = text
            readyToSpeak = !refine
            vocoder = StreamingVocoder(model: model, mode: streamMode)
            trimmer = EdgeTrimmer(leading: index > 0, trailing: index < count - 1)
            self.reference = reference ? [] : nil
        }
    }

    public func start(_ request: SpeechRequest) throws(SynthesisError) -> Job {
        let choice = try library.resolve(request.voice)
        let voice = choice.speaker
        if let voice, voice.values.count != model.hiddenSize {
            throw SynthesisError(.invalidRequest, "has \(voice.values.count) values, this model needs \(model.hiddenSize)",
                                 field: SpeechRequest.voiceField, code: "invalid_voice")
        }
        let k = request.knobs
        let sample = try requestSample(k) ?? choice.sample
        let seed = k.unsigned(ChatTTSKnobs.seed) ?? UInt64.random(in: 0...UInt64.max)
        let (texts, removed) = prepare(request.text, knobs: k)
        guard !texts.isEmpty else {
            throw SynthesisError(.invalidRequest, "has nothing left to speak after normalization",
                                 field: SpeechRequest.textField, code: "empty_text")
        }
        let refine = k.boolean(ChatTTSKnobs.refine)
        // Without the DVAE encoder (no DVAE.safetensors) the utterances share the speaker voice alone.
        let referenceFirst = texts.count > 1 && sample == nil && model.dvae != nil
        let streamMode = StreamMode(rawValue: k.text(ChatTTSKnobs.streamMode)) ?? .exact
        let segments = texts.enumerated().map {
            Segment(index: $0.offset, count: texts.count, text: $0.element, refine: refine, model: model,
                    reference: referenceFirst && $0.offset == 0, streamMode: streamMode)
        }
        let job = Job(knobs: k, voice: voice, sample: sample, seed: seed, segments: segments,
                      referenceFirst: referenceFirst, details: SpeechDetails(textSegments: texts.count, removedCharacters: removed))
        job.memory = memoryBytes(for: job)
        // The first utterances start now, so that a text the model cannot take is refused before it queues.
        try schedule(job)
        return job
    }

    /// The request's own sample: `spk_smp` with `txt_smp`, or `sample_audio` (base64 WAV) with `sample_text`.
    private func requestSample(_ k: KnobValues) throws(SynthesisError) -> SpeakerSample? {
        let codes = k.optionalText(ChatTTSKnobs.speakerSample), transcript = k.optionalText(ChatTTSKnobs.sampleTranscript)
        let audio = k.optionalText(ChatTTSKnobs.sampleAudio), audioText = k.optionalText(ChatTTSKnobs.sampleText)
        func invalid(_ field: Knob, _ message: String, _ code: String = "invalid_sample") -> SynthesisError {
            SynthesisError(.invalidRequest, message, field: field.name, code: code)
        }
        if codes != nil || transcript != nil, audio != nil || audioText != nil {
            throw invalid(codes != nil ? ChatTTSKnobs.speakerSample : ChatTTSKnobs.sampleTranscript,
                          "gives a sample as codes, and sample_audio/sample_text give one as audio: send one of them")
        }
        if let codes {
            guard let transcript else {
                throw invalid(ChatTTSKnobs.sampleTranscript, "is required with spk_smp: what the sample says", "missing_field")
            }
            do { return try SpeakerSample(string: codes, transcript: transcript) } catch {
                throw invalid(ChatTTSKnobs.speakerSample, "is not a sample prompt string: \(error)")
            }
        }
        if transcript != nil {
            throw invalid(ChatTTSKnobs.speakerSample, "is required with txt_smp: the sample's codes", "missing_field")
        }
        if let audio {
            guard let audioText else {
                throw invalid(ChatTTSKnobs.sampleText, "is required with sample_audio: what the sample says", "missing_field")
            }
            guard let wav = Data(base64Encoded: audio, options: .ignoreUnknownCharacters) else {
                throw invalid(ChatTTSKnobs.sampleAudio, "is not base64 text")
            }
            return try encodeSample(wav: wav, transcript: audioText)
        }
        if audioText != nil {
            throw invalid(ChatTTSKnobs.sampleAudio, "is required with sample_text: the sample as a base64 WAV", "missing_field")
        }
        return nil
    }

    /// The request's text as utterances (split unless `split_text` is off), each normalized, with the characters
    /// normalization left out. With `normalize` off, the official invalid-character map and removal still apply.
    func prepare(_ text: String, knobs k: KnobValues) -> (texts: [String], removed: [Character]) {
        let pieces = k.boolean(ChatTTSKnobs.splitText) ? TextSegmenter.split(text) : [text]
        let normalizer = Normalizer()
        let full = k.boolean(ChatTTSKnobs.normalize)
        // One language for the whole text, so utterances of one text read numbers alike.
        let language = Normalizer.detectLanguage(text)
        var removed: [Character] = []
        var texts: [String] = []
        for piece in pieces {
            let normalized = normalizer.normalized(piece, language: language, textNormalization: full)
            for c in normalized.removed where !removed.contains(c) { removed.append(c) }
            if !normalized.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { texts.append(normalized.text) }
        }
        return (texts, removed)
    }

    /// What the job may hold at once: `max_split_batch` utterances (or fewer), each at its largest stage.
    private func memoryBytes(for job: Job) -> Int {
        let code = InferCodeParams(job.knobs, seed: job.seed)
        let decoration = model.tokenizer.encode(model.decorateForCode("", prompt: code.prompt, hasVoice: job.voice != nil))
        let sampleFrames = job.sample.map { $0.frames + model.tokenizer.encode($0.transcript).count }
            ?? (job.referenceFirst ? code.maxNewTokens : 0)
        let positions = model.config.maxPositions
        var largest = 0
        for segment in job.segments {
            let text = model.tokenizer.encode(segment.text).count
            var speechPrompt = decoration.count + sampleFrames
            if job.refine {
                let refine = RefineTextParams(job.knobs, seed: job.seed)
                let refinePrompt = model.tokenizer.encode(model.decorateForRefine(segment.text, prompt: refine.prompt)).count
                largest = max(largest, model.kvCacheBytes(promptLength: refinePrompt, maxNewTokens: refine.maxNewTokens))
                speechPrompt += refine.maxNewTokens
            } else {
                speechPrompt += text
            }
            let steps = min(code.maxNewTokens, max(1, positions - speechPrompt))
            largest = max(largest, model.kvCacheBytes(promptLength: min(speechPrompt, positions), maxNewTokens: steps))
        }
        return largest * min(job.concurrency, job.segments.count)
    }

    public func memoryBytes(_ job: Job) -> Int { job.memory }

    public func details(_ job: Job) -> SpeechDetails { job.details }

    /// Starts what can start, in utterance order, while fewer than `max_split_batch` sequences of the job run: an
    /// utterance's refinement, then its speech (after the reference's, when the first utterance is the reference).
    private func schedule(_ job: Job) throws(SynthesisError) {
        var running = job.running
        for segment in job.segments where running < job.concurrency {
            if !segment.readyToSpeak {
                guard segment.refining == nil else { continue }
                let refine = RefineTextParams(job.knobs, seed: job.seed &+ UInt64(segment.index))
                segment.refining = try sequence(segment.text, .refine(refine), allowEmpty: false)
                running += 1
            } else if segment.speaking == nil {
                let waitsForReference = job.referenceFirst && segment.index > 0 && job.sample == nil
                if waitsForReference { continue }
                segment.speaking = try speechSequence(segment, job: job)
                running += 1
            }
        }
    }

    private func speechSequence(_ segment: Segment, job: Job) throws(SynthesisError) -> GenerationSequence {
        var code = InferCodeParams(job.knobs, seed: job.seed &+ UInt64(segment.index))
        let sample = segment.reference == nil ? job.sample : nil
        if let sample, job.referenceFirst {
            // The reference's own audio is the prompt: its frames take positions the client did not choose, so the
            // steps give way rather than the request failing half-way.
            let decorated = model.decorateForCode(segment.text, prompt: code.prompt, hasVoice: job.voice != nil,
                                                  sampleTranscript: sample.transcript)
            let room = model.config.maxPositions - model.tokenizer.encode(decorated).count - sample.frames
            code.maxNewTokens = max(1, min(code.maxNewTokens, room))
            code.minNewTokens = min(code.minNewTokens, code.maxNewTokens)
        }
        return try sequence(segment.text, .speech(code, voice: job.voice, sample: sample), allowEmpty: job.refine)
    }

    /// A stage's sequence, with the model's reasons turned into the client's.
    private func sequence(_ text: String, _ stage: PromptStage, allowEmpty: Bool)
        throws(SynthesisError) -> GenerationSequence
    {
        do {
            return try model.promptSequence(text, stage: stage, normalize: false, allowEmpty: allowEmpty)
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

    /// A sample WAV as the speech stage's prompt; what is wrong with it is the client's to fix.
    private func encodeSample(wav: Data, transcript: String) throws(SynthesisError) -> SpeakerSample {
        do {
            return try model.sample(wav: [UInt8](wav), transcript: transcript)
        } catch let error as AllocationError {
            throw Self.failure(error)
        } catch {
            throw SynthesisError(.invalidRequest, "cannot be used as a voice sample: \(error)",
                                 field: ChatTTSKnobs.sampleAudio.name, code: "invalid_sample")
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
        for job in batch where !job.cancelled && job.failure == nil {
            do { try schedule(job) } catch { job.failure = error }
        }
        model.step(batch.filter { !$0.cancelled && $0.failure == nil }.flatMap(\.sequences).filter { !$0.finished })
        for job in batch where !job.cancelled && job.failure == nil {
            for segment in job.segments {
                if let error = (segment.refining ?? segment.speaking)?.failure {
                    job.failure = Self.failure(error)
                    break
                }
                // A finished refinement is the utterance's speech text; its speech starts at the next step.
                guard let refining = segment.refining, refining.finished else { continue }
                segment.text = model.refinedText(refining)
                segment.refineSteps = refining.steps + (refining.endedOnEOS ? 1 : 0)
                segment.refining = nil
                segment.readyToSpeak = true
            }
        }
        clock.wrappingAdd(1, ordering: .relaxed)
        unvocoded.withLock { $0 = batch }
    }

    /// Engine steps so far: the clock the utterances' chunks keep to, so that they run together.
    private let clock = Atomic<Int>(0)
    /// The last step's batch until its audio is vocoded, by the first `takeAudio` after it: outside `step`, whose
    /// time the scheduler measures as the GPT's (its wait estimates learn the vocoder's share from real waits; a
    /// step that vocoded every utterance at once would read as a step many times as long).
    private let unvocoded = Mutex<[Job]>([])

    /// Runs the vocoder where an utterance has audio due, all exact ones together (`StreamingVocoder.advance`: one
    /// product per layer for the whole batch, instead of one per utterance, each repacking the weights).
    ///
    /// When: at the first step whose samples can leave (`StreamingVocoder.stepsToFirstAudio`), so that the first
    /// chunk leaves as early as the look-ahead allows; then every 8 engine steps for `chunkSteps` steps (the audio
    /// stays ahead of a player that started on the first chunk; every 4 cost one client 10 % more compute in
    /// small products), then every `chunkSteps` engine steps, and at the end. The chunks of all utterances fall on the same steps of the engine's clock, so they batch; the exact
    /// vocoder computes each frame once whatever the chunk sizes.
    private func vocode(_ batch: [Job]) {
        let tick = clock.load(ordering: .relaxed)
        var exact: [(Segment, StreamingVocoder.Work)] = []
        for job in batch where !job.cancelled && job.failure == nil {
            for segment in job.segments {
                guard let s = segment.speaking, !segment.vocoded else { continue }
                let due: Bool
                if s.finished {
                    due = true
                    segment.vocoded = true
                } else if let first = segment.firstAudioStep {
                    let every = s.steps - first < chunkSteps ? min(8, chunkSteps) : chunkSteps
                    due = tick % every == 0
                } else {
                    due = s.steps >= segment.vocoder.stepsToFirstAudio
                }
                guard due else { continue }
                if segment.vocoder.mode == .exact {
                    exact.append((segment, StreamingVocoder.Work(vocoder: segment.vocoder, sequence: s, final: s.finished)))
                } else {
                    segment.made = segment.vocoder.advance(s, final: s.finished)
                }
            }
        }
        let chunks = StreamingVocoder.advance(exact.map(\.1))
        for ((segment, _), chunk) in zip(exact, chunks) { segment.made = chunk }
        for job in batch {
            for segment in job.segments where segment.firstAudioStep == nil && !(segment.made ?? []).isEmpty {
                segment.firstAudioStep = segment.speaking?.steps
            }
        }
    }

    public func state(_ job: Job) -> SequenceState {
        if let failure = job.failure { return .failed(failure) }
        if job.cancelled || job.spoken { return .finished }
        return .running
    }

    public func cancel(_ job: Job) {
        job.cancelled = true
        for s in job.sequences { s.cancel() }
    }

    /// Hands out the audio of the job's utterances in order, near-silence trimmed where two of them meet; a spoken
    /// reference utterance becomes the others' sample prompt. The first call after a step vocodes that step's whole
    /// batch (`vocode`).
    public func takeAudio(_ job: Job) -> [Float] {
        let due = unvocoded.withLock { batch -> [Job] in
            defer { batch = [] }
            return batch
        }
        if !due.isEmpty { vocode(due) }
        guard !job.cancelled, job.failure == nil else { return [] }
        for segment in job.segments {
            guard let chunk = segment.made else { continue }
            segment.made = nil
            segment.reference?.append(contentsOf: chunk)
            segment.pending += segment.trimmer.push(chunk)
            if segment.vocoded, let reference = segment.reference, job.sample == nil {
                // The reference utterance is spoken: it becomes the others' sample prompt.
                do {
                    // A sample is at most maxSampleSeconds; a longer reference lends its beginning.
                    let limit = ChatTTSModel.maxSampleSeconds * model.sampleRate
                    job.sample = try model.sample(waveform: Array(reference.prefix(limit)), transcript: segment.text)
                } catch {
                    job.failure = Self.failure(error)
                    return []
                }
                segment.reference = nil
            }
        }
        var out: [Float] = []
        while job.delivering < job.segments.count {
            let segment = job.segments[job.delivering]
            out += segment.pending
            segment.pending = []
            guard segment.vocoded else { break }
            job.delivering += 1
        }
        return out
    }

    public func steps(_ job: Job) -> Int {
        job.segments.reduce(0) { $0 + $1.refineSteps + ($1.refining?.steps ?? 0) + ($1.speaking?.steps ?? 0) }
    }
}

/// Drops near-silence (|x| <= 1e-5) at the edges where utterances meet: before an utterance's first audible
/// sample when one comes before it, and after its last when one follows. Samples in between are kept, unlike the
/// official pipeline, which drops such samples everywhere in the waveform.
struct EdgeTrimmer {
    static let threshold: Float = 1e-5
    let leading: Bool
    let trailing: Bool
    private var started = false
    /// Quiet samples at the end so far; kept only if an audible one follows.
    private var held: [Float] = []

    init(leading: Bool, trailing: Bool) {
        self.leading = leading
        self.trailing = trailing
    }

    mutating func push(_ samples: [Float]) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(samples.count)
        for x in samples {
            let quiet = abs(x) <= Self.threshold
            if leading && !started {
                if quiet { continue }
                started = true
            }
            if trailing && quiet {
                held.append(x)
                continue
            }
            out += held
            held.removeAll(keepingCapacity: true)
            out.append(x)
        }
        return out
    }
}

public typealias ChatTTSScheduler = Scheduler<ChatTTSEngine>
