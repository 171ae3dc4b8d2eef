import Foundation
import Testing
import Tensors
@testable import ChatTTS

/// The threaded paths of the vocoder give what the single-threaded ones give.
@Suite("Speed paths: threaded decoder and Vocos")
struct SpeedPathTests {
    @Test("decoder and Vocos split across a pool equal the calling thread's result")
    func threadedVocoderEqualsSingle() throws {
        let decoderPath = Fixtures.tinyAssets.appendingPathComponent("Decoder.safetensors").path
        let vocosPath = Fixtures.tinyAssets.appendingPathComponent("Vocos.safetensors").path
        let pool = WorkerPool(threads: 3)
        let single = (try Decoder(path: decoderPath), try Vocos(path: vocosPath))
        let threaded = (try Decoder(path: decoderPath, pool: pool), try Vocos(path: vocosPath, pool: pool))
        var rng = SeededRNG(seed: 5)
        for steps in [1, 40, 130] {
            let h = single.0.inputChannels * 2
            let hidden = Tensor(shape: [steps, h], values: (0..<(steps * h)).map { _ in rng.gaussian() })
            let mel = single.0(hidden), melThreaded = threaded.0(hidden)
            #expect(Fixtures.nmse(melThreaded.scalars, mel.scalars) < 1e-12, "mel, \(steps) steps")
            let wave = single.1(mel), waveThreaded = threaded.1(melThreaded)
            #expect(wave.count == waveThreaded.count)
            #expect(Fixtures.maxAbs(waveThreaded, wave) < 1e-6, "wave, \(steps) steps")
        }
    }

    @Test("a model loaded with 1 thread generates what one with 3 threads generates")
    func threadCountDoesNotChangeCodes() throws {
        let one = try ChatTTSModel(folder: Fixtures.tinyAssets, options: EngineOptions(threads: 1))
        let three = try ChatTTSModel(folder: Fixtures.tinyAssets, options: EngineOptions(threads: 3))
        var o = SynthesisOptions()
        o.normalize = false
        o.refine = nil
        o.code.minNewTokens = 40
        o.code.maxNewTokens = 40
        let a = try one.codeSequences(["hello world", "a longer sentence to speak"], options: o)
        let b = try three.codeSequences(["hello world", "a longer sentence to speak"], options: o)
        one.generate(a)
        three.generate(b)
        for (x, y) in zip(a, b) {
            #expect(x.tokens == y.tokens)
            #expect(x.hiddenStates().scalars == y.hiddenStates().scalars)
        }
    }
}
