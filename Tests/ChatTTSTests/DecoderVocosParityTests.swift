import Testing
import Tensors
@testable import ChatTTS

/// Decoder and Vocos against the official implementation (fixtures: decoder_vocos.safetensors).
/// Tolerances: mel normalized MSE below 1e-8; waveform max abs error below 1e-4.
@Suite("Decoder and Vocos parity with the reference")
struct DecoderVocosParityTests {
    let model = Fixtures.model

    @Test("hidden states decode to the reference mel, zero padding included")
    func decoderMel() throws {
        let f = try Fixtures.reference("decoder_vocos.safetensors")
        let input = try f.tensor("decoder.input")      // [B, H, T]
        let mel = try f.tensor("decoder.mel")          // [B, 100, 2T]
        for b in 0..<input.shape[0] {
            let got = model.decoder(Fixtures.timeMajor(input, item: b))
            #expect(got.shape == [2 * input.shape[2], 100])
            #expect(Fixtures.nmse(got.scalars, Fixtures.timeMajor(mel, item: b).scalars) < 1e-8, "item \(b)")
        }
    }

    @Test("Vocos backbone, head and inverse STFT match the reference waveform")
    func vocosWaveform() throws {
        let f = try Fixtures.reference("decoder_vocos.safetensors")
        let melA = Fixtures.timeMajor(try f.tensor("vocos.mel_a"), item: 0)
        let backbone = model.vocos.backbone(melA)
        #expect(Fixtures.nmse(backbone.scalars, try f.tensor("vocos.backbone_a").scalars) < 1e-8)
        let wave = model.vocos(melA)
        let expected = try f.tensor("vocos.wav_a").scalars
        #expect(wave.count == expected.count)
        #expect(Fixtures.maxAbs(wave, expected) < 1e-4)
        let melB = try f.tensor("vocos.mel_b")
        let wavB = try f.tensor("vocos.wav_b")
        for b in 0..<2 {
            let got = model.vocos(Fixtures.timeMajor(melB, item: b))
            let want = Array(UnsafeBufferPointer(start: wavB.pointer + b * wavB.shape[1], count: wavB.shape[1]))
            #expect(Fixtures.maxAbs(got, want) < 1e-4, "item \(b)")
        }
    }

    @Test("receptive radii follow the architecture: 75 decoder frames and 27 Vocos frames for the official kernels")
    func receptiveRadius() {
        // conv_in: 1 + 1, blocks: 6 each (kernel 7, dilation 2), out_conv: 1.
        #expect(model.decoder.receptiveRadius == 2 + 6 * model.decoder.stack.blocks.count + 1)
        #expect(model.vocos.receptiveRadius == 3 + 3 * model.vocos.blocks.count)
    }
}
