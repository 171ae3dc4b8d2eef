import Tensors

/// How streamed audio trades latency against exactness (the `stream_mode` knob).
public enum StreamMode: String, Sendable, CaseIterable {
    /// Every sample as the one-shot waveform has it: a sample leaves once every hidden state it depends on exists,
    /// `StreamingVocoder.lookahead` mel frames (about 51 steps) after its own.
    case exact
    /// Chunks decoded with the look-ahead bounded to `StreamingVocoder.fastLookahead` frames (the future taken as
    /// silence, as at the utterance's end), their edges cross-faded with the next chunk's fuller version: the
    /// first audio after a few steps, at a small error against the one-shot waveform.
    case fast
}

/// Turns a growing sequence of GPT hidden states into audio chunk by chunk.
///
/// Exact mode: the decoder and Vocos run as a chain of streaming stages (`StreamingStage`): each layer computes a
/// frame once, when the frames it reads are final, so the concatenated chunks equal the one-shot waveform at the
/// one-shot's cost (the chunk edges only cost small products). Fast mode re-decodes a window per chunk with the
/// future cut off (see `StreamMode.fast`).
///
/// Owned by one job on the scheduler's compute thread.
public final class StreamingVocoder {
    public let model: ChatTTSModel
    public let mode: StreamMode
    /// Samples already returned.
    public private(set) var emitted = 0
    private let stages: [StreamingStage]
    /// The input of each stage, then the windowed frames of the last.
    private var buffers: [FrameBuffer]
    /// Output frames each stage has made.
    private var produced: [Int]
    /// Hidden states already fed in.
    private var fed = 0
    /// Fast mode: the samples after `emitted` of the last chunk, to cross-fade into the next.
    private var tail: [Float] = []

    /// Mel frames of bounded look-ahead in fast mode (8 steps).
    public static let fastLookahead = 16
    /// Samples cross-faded between two fast chunks (one frame hop and a bit: 10.7 ms).
    public static let crossFade = 256

    public init(model: ChatTTSModel, mode: StreamMode = .exact) {
        self.model = model
        self.mode = mode
        stages = mode == .exact ? model.decoder.streamingStages + model.vocos.streamingStages : []
        buffers = stages.map { FrameBuffer(channels: $0.inChannels) }
        if let last = stages.last { buffers.append(FrameBuffer(channels: last.outChannels)) }
        produced = stages.map { _ in 0 }
    }

    /// Mel frames past the last one whose samples can be final before the sequence ends.
    public var lookahead: Int { model.decoder.receptiveRadius + model.vocos.receptiveRadius }

    /// Steps a sequence needs before this vocoder returns its first samples (unless it ends sooner): the exact
    /// look-ahead plus the frames whose windows reach the first sample, or in fast mode the bounded look-ahead.
    public var stepsToFirstAudio: Int {
        let hop = model.vocos.hop, half = model.vocos.nFFT / 2
        let frames = (mode == .exact ? lookahead : Self.fastLookahead) + half / hop + 1
        return (frames + 2) / 2
    }

    /// New audio given all hidden states so far. `final` means no more steps will come. `steps`: only the first
    /// ones count (tests replay a finished sequence step by step).
    public func advance(_ sequence: GenerationSequence, final: Bool, steps: Int? = nil) -> [Float] {
        let steps = min(steps ?? sequence.steps, sequence.steps)
        switch mode {
        case .exact: return advanceExact(sequence, steps: steps, final: final)
        case .fast: return advanceFast(sequence, steps: steps, final: final)
        }
    }

    private func advanceExact(_ sequence: GenerationSequence, steps: Int, final: Bool) -> [Float] {
        Self.advance([Work(vocoder: self, sequence: sequence, steps: steps, final: final)])[0]
    }

    /// One vocoder's part of a batched advance.
    public struct Work {
        public let vocoder: StreamingVocoder
        public let sequence: GenerationSequence
        public let steps: Int
        public let final: Bool

        public init(vocoder: StreamingVocoder, sequence: GenerationSequence, steps: Int? = nil, final: Bool) {
            self.vocoder = vocoder
            self.sequence = sequence
            self.steps = min(steps ?? sequence.steps, sequence.steps)
            self.final = final
        }
    }

    /// Advances several exact vocoders of one model together, returning each one's new audio: each stage runs once
    /// for all of them, their windows stacked into one input, so that every product of the stage packs its weights
    /// once for the whole batch (BLAS repacks them per call: a chunk's few rows cost more in packing than in
    /// arithmetic). The rows between two windows mix them and are dropped; each window's own rows only read inside it.
    public static func advance(_ work: [Work]) -> [[Float]] {
        precondition(work.allSatisfy { $0.vocoder.mode == .exact }, "batched advance is for exact vocoders")
        guard let first = work.first else { return [] }
        let stages = first.vocoder.stages, pool = first.vocoder.model.decoder.pool
        for w in work {
            let v = w.vocoder
            if w.steps > v.fed {
                let hidden = w.sequence.hiddenStates(v.fed..<w.steps)
                // One hidden state is two decoder frames (its halves): a reshape in time-major layout.
                v.buffers[0].append(hidden.pointer, count: 2 * (w.steps - v.fed))
                v.fed = w.steps
            }
        }
        for (i, stage) in stages.enumerated() {
            let r = stage.radius
            // Each vocoder's outputs that became computable: first..<limit.
            var parts: [(vocoder: StreamingVocoder, first: Int, limit: Int, offset: Int)] = []
            var rows = 0
            for w in work {
                let v = w.vocoder
                let known = i == 0 ? v.buffers[0].end : v.produced[i - 1]
                let limit = w.final ? 2 * w.steps : max(v.produced[i], known - r)
                guard limit > v.produced[i] else { continue }
                parts.append((v, v.produced[i], limit, rows))
                rows += limit - v.produced[i] + 2 * r
            }
            if !parts.isEmpty {
                let stacked = Tensor(zeros: [rows, stage.inChannels])
                for p in parts {
                    let window = p.vocoder.buffers[i].window(p.first - r, p.limit + r)
                    (stacked.pointer + p.offset * stage.inChannels).update(from: window.pointer, count: window.count)
                }
                // Output row t of the stack is the stage at stacked input row t + r.
                let used = parts.map { $0.offset..<($0.offset + $0.limit - $0.first) }
                let out = stage.compute(stacked, rows - 2 * r, used, pool)
                for p in parts {
                    p.vocoder.buffers[i + 1].append(out.pointer + p.offset * stage.outChannels, count: p.limit - p.first)
                    p.vocoder.produced[i] = p.limit
                }
            }
            for w in work { w.vocoder.buffers[i].drop(before: w.vocoder.produced[i] - r) }
        }
        return work.map { $0.vocoder.emit(steps: $0.steps, final: $0.final) }
    }

    /// The samples whose every overlapping frame is made (all of them at the end).
    private func emit(steps: Int, final: Bool) -> [Float] {
        let total = 2 * steps
        let vocos = model.vocos, hop = vocos.hop, half = vocos.nFFT / 2
        let done = produced.last ?? 0
        let end = final ? max(0, (total - 1) * hop) : max(0, done * hop - half)
        guard end > emitted else { return [] }
        // Frames touching padded samples emitted + half ..< end + half.
        let f0 = max(0, StreamingVocoder.ceilDiv(emitted + half - vocos.nFFT + 1, hop))
        let f1 = min(done, (end - 1 + half) / hop + 1)
        let frames = buffers[stages.count].window(f0, f1)
        let chunk = vocos.overlapAdd(frames: frames.pointer, frameRange: f0..<f1, totalFrames: final ? total : done,
                                     paddedRange: (emitted + half)..<(end + half))
        emitted = end
        // Later samples read frames from the first that touches sample `end` on.
        buffers[stages.count].drop(before: max(0, StreamingVocoder.ceilDiv(end + half - vocos.nFFT + 1, hop)))
        return chunk
    }

    private func advanceFast(_ sequence: GenerationSequence, steps: Int, final: Bool) -> [Float] {
        let melFrames = 2 * steps
        let hop = model.vocos.hop, half = model.vocos.nFFT / 2
        let end = final ? max(0, (melFrames - 1) * hop) : max(0, (melFrames - Self.fastLookahead) * hop - half)
        guard end > emitted else { return [] }
        // This chunk's samples and, unless it is the last, a little more to fade into the next one.
        let through = final ? end : min(max(0, (melFrames - 1) * hop), end + Self.crossFade)
        var chunk = render(sequence, melFrames: melFrames, samples: emitted..<through)
        // The previous chunk's guess at the start of this one fades out while this chunk's fades in.
        let fade = min(tail.count, chunk.count)
        for i in 0..<fade {
            let w = Float(i + 1) / Float(fade + 1)
            chunk[i] = w * chunk[i] + (1 - w) * tail[i]
        }
        let count = end - emitted
        tail = Array(chunk[count...])
        emitted = end
        return Array(chunk[..<count])
    }

    /// Samples `samples` of the signal as if it ended after `melFrames` frames, from a window of the hidden states
    /// with the whole context the samples read (fast mode's chunks).
    func render(_ sequence: GenerationSequence, melFrames: Int, samples: Range<Int>) -> [Float] {
        let vocos = model.vocos, decoder = model.decoder
        let hop = vocos.hop, half = vocos.nFFT / 2
        // Frames whose window [f * hop - half, f * hop + half) touches the samples.
        let f0 = max(0, Self.ceilDiv(samples.lowerBound - half + 1, hop))
        let f1 = min(melFrames, (samples.upperBound - 1 + half) / hop + 1)
        // Mel frames the backbone needs for exact features on [f0, f1), then decoder inputs for exact mel there.
        let m0 = max(0, f0 - vocos.receptiveRadius), m1 = min(melFrames, f1 + vocos.receptiveRadius)
        var i0 = max(0, m0 - decoder.receptiveRadius), i1 = min(melFrames, m1 + decoder.receptiveRadius)
        i0 -= i0 % 2                         // whole hidden states: two frames each
        i1 += i1 % 2
        let mel = decoder(sequence.hiddenStates((i0 / 2)..<(i1 / 2)))
        let c = decoder.melChannels
        let melWindow = Tensor(zeros: [m1 - m0, c])
        melWindow.pointer.update(from: mel.pointer + (m0 - i0) * c, count: (m1 - m0) * c)
        let features = vocos.backbone(melWindow)
        let needed = Tensor(zeros: [f1 - f0, vocos.dim])
        needed.pointer.update(from: features.pointer + (f0 - m0) * vocos.dim, count: (f1 - f0) * vocos.dim)
        let (re, im) = vocos.spectrum(needed)
        let frames = Tensor(zeros: [f1 - f0, vocos.nFFT])
        vocos.inverseFrames(re: re, im: im, range: 0..<(f1 - f0), into: frames.pointer)
        // Sample 0 of the output is sample `half` of the padded signal.
        let padded = (samples.lowerBound + half)..<(samples.upperBound + half)
        return vocos.overlapAdd(frames: frames.pointer, frameRange: f0..<f1, totalFrames: melFrames, paddedRange: padded)
    }

    static func ceilDiv(_ a: Int, _ b: Int) -> Int {
        a >= 0 ? (a + b - 1) / b : -((-a) / b)
    }
}
