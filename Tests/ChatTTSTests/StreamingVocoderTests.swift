import Foundation
import Testing
@testable import ChatTTS
import Tensors

/// The streaming vocoder in both modes, on the tiny fixture model (float32): exact chunks of any size add up to the
/// one-shot waveform, and leave as soon as the look-ahead allows; fast chunks leave within a few steps, at a bounded
/// error.
@Suite("Streaming vocoder")
struct StreamingVocoderTests {
    /// 160 steps of one sequence, generated once.
    static let sequence: GenerationSequence = {
        var o = SynthesisOptions()
        o.refine = nil
        o.normalize = false
        o.code.minNewTokens = 160
        o.code.maxNewTokens = 160
        o.code.temperature = 0.3
        let s = try! Fixtures.model.codeSequences(["the streaming vocoder"], options: o)[0]
        Fixtures.model.generate([s])
        return s
    }()

    /// Feeds the sequence's hidden states `every` steps at a time (a prefix view of the finished sequence), then
    /// the end; returns the chunks and the step at which the first samples came.
    static func stream(_ mode: StreamMode, every: Int) -> (audio: [Float], chunks: Int, firstStep: Int?) {
        let vocoder = StreamingVocoder(model: Fixtures.model, mode: mode)
        var audio: [Float] = [], chunks = 0, firstStep: Int?
        var steps = every
        while steps < sequence.steps {
            let chunk = vocoder.advance(sequence, final: false, steps: steps)
            if !chunk.isEmpty {
                chunks += 1
                firstStep = firstStep ?? steps
            }
            audio += chunk
            steps += every
        }
        audio += vocoder.advance(sequence, final: true)
        return (audio, chunks, firstStep)
    }

    @Test("exact chunks of any size concatenate to the one-shot waveform", arguments: [1, 5, 24, 61])
    func exactChunks(every: Int) {
        let oneShot = Fixtures.model.waveform(Self.sequence)
        let (audio, chunks, _) = Self.stream(.exact, every: every)
        #expect(chunks >= 2, "audio should arrive before the end")
        #expect(audio.count == oneShot.count)
        #expect(Fixtures.maxAbs(audio, oneShot) < 1e-5)  // float32 rounding: one-shot and streamed sum alike
    }

    @Test("exact vocoders advanced together, their windows stacked, each give the one-shot waveform")
    func batchedExact() throws {
        var o = SynthesisOptions()
        o.refine = nil
        o.normalize = false
        o.code.minNewTokens = 90
        o.code.maxNewTokens = 90
        let other = try Fixtures.model.codeSequences(["a second utterance"], options: o)[0]
        Fixtures.model.generate([other])
        let sequences = [Self.sequence, other]
        let vocoders = sequences.map { _ in StreamingVocoder(model: Fixtures.model, mode: .exact) }
        var audio: [[Float]] = [[], []]
        var steps = 3
        while sequences.contains(where: { steps - 7 < $0.steps }) {
            var work: [StreamingVocoder.Work] = [], owners: [Int] = []
            for i in sequences.indices where steps - 7 < sequences[i].steps {
                work.append(StreamingVocoder.Work(vocoder: vocoders[i], sequence: sequences[i], steps: steps,
                                                  final: steps >= sequences[i].steps))
                owners.append(i)
            }
            let chunks = StreamingVocoder.advance(work)
            for (i, chunk) in zip(owners, chunks) { audio[i] += chunk }
            steps += 7
        }
        for (s, a) in zip(sequences, audio) {
            let oneShot = Fixtures.model.waveform(s)
            #expect(a.count == oneShot.count)
            #expect(Fixtures.maxAbs(a, oneShot) < 1e-5)
        }
    }

    @Test("exact streaming gives its first samples at the step the look-ahead arithmetic says")
    func exactFirstAudio() {
        let vocoder = StreamingVocoder(model: Fixtures.model)
        let first = vocoder.stepsToFirstAudio
        // Decoder 75 + Vocos 27 mel frames of look-ahead in the real model; the tiny one has its own depth.
        #expect(first == (vocoder.lookahead + 2 + 1 + 2) / 2)
        let (_, _, firstStep) = Self.stream(.exact, every: 1)
        #expect(firstStep == first)
    }

    @Test("fast chunks leave within 10 steps and stay close to the one-shot waveform")
    func fast() {
        let oneShot = Fixtures.model.waveform(Self.sequence)
        let (audio, chunks, firstStep) = Self.stream(.fast, every: 4)
        #expect(StreamingVocoder(model: Fixtures.model, mode: .fast).stepsToFirstAudio <= 10)
        #expect(firstStep.map { $0 <= 12 } == true, "first fast audio at step \(String(describing: firstStep))")
        #expect(chunks >= 10)
        #expect(audio.count == oneShot.count)
        let snr = Self.snr(audio, reference: oneShot)
        print("fast mode SNR against one-shot: \(snr) dB")
        #expect(snr > 30)  // measured 48.6 dB on this model (2026-12-03)
    }

    /// 10 log10(signal energy / error energy).
    static func snr(_ x: [Float], reference: [Float]) -> Double {
        var signal = 0.0, noise = 0.0
        for (a, b) in zip(x, reference) {
            signal += Double(b) * Double(b)
            noise += Double(a - b) * Double(a - b)
        }
        return 10 * log10(signal / max(noise, 1e-30))
    }
}
