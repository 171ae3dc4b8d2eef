import Tensors

/// Turns a growing sequence of GPT hidden states into audio chunk by chunk, so that the concatenated chunks equal
/// the one-shot waveform.
///
/// Every conv layer only sees a bounded neighbourhood: a mel frame depends on decoder inputs within
/// `decoder.receptiveRadius` frames, a Vocos frame on mel frames within `vocos.receptiveRadius`, and a sample on the
/// frames whose window covers it. So each chunk decodes a window of the hidden states with that much margin
/// (cut at the true sequence start and end, where the reference pads with zeros too) and emits only samples whose
/// inputs are all final. Work per chunk is bounded by the chunk plus the margins; nothing is decoded twice except
/// the margins.
public struct StreamingVocoder: Sendable {
    public let model: ChatTTSModel
    /// Samples already returned.
    public private(set) var emitted = 0

    public init(model: ChatTTSModel) {
        self.model = model
    }

    /// Mel frames past the last one whose samples can be final before the sequence ends.
    public var lookahead: Int { model.decoder.receptiveRadius + model.vocos.receptiveRadius }

    /// New audio given all hidden states so far. `final` means no more steps will come.
    public mutating func advance(_ sequence: GenerationSequence, final: Bool) -> [Float] {
        let steps = sequence.steps
        let melFrames = 2 * steps
        let hop = model.vocos.hop, half = model.vocos.nFFT / 2
        let end: Int
        if final {
            end = max(0, (melFrames - 1) * hop)
        } else {
            let exactFrames = melFrames - lookahead
            end = max(0, exactFrames * hop - half)
        }
        guard end > emitted else { return [] }
        let chunk = render(sequence, melFrames: melFrames, samples: emitted..<end)
        emitted = end
        return chunk
    }

    /// Samples `samples` of the signal, computed from a window of the hidden states with enough margin.
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
