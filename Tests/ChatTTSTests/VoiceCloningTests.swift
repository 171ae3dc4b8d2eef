import AudioCodecs
import Foundation
import Testing
import Tensors
@testable import ChatTTS

/// The DVAE encoder against the official `sample_audio_speaker` (fixtures: reference/dvae.safetensors, one 0.5 s
/// sample with every stage; clone/, four more samples with their codes and `spk_smp` strings, from
/// scripts/reference/make_clone_fixtures.py). Codes must be identical. The stages are float32 with a different
/// FFT, BLAS and tanh than PyTorch's, so they carry rounding only; bounds are that rounding with a margin (measured
/// 2026-12-02, see each test), far below what a wrong window, padding, gain or frame shift gives (nmse ~1e-2 and up).
/// Identical codes also need the fixture to keep its quantized values away from the floor boundaries: clone.json's
/// `gfsq_margin` (9.4e-5 at the tightest, sample d) against a pre-VQ error of 4e-6 at most.
@Suite("Voice cloning: DVAE encoder parity with the reference")
struct VoiceCloningTests {
    let model = Fixtures.model
    static let clone = Fixtures.root.appendingPathComponent("clone")

    var dvae: DVAEEncoder { model.dvae! }

    static func cloneMeta() throws -> [String: Any] {
        let data = try Data(contentsOf: clone.appendingPathComponent("clone.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func codes(_ f: SafetensorsFile, _ name: String) throws -> [[Int]] {
        let c = try f.integers(name)
        return (0..<c.shape[0]).map { Array(c.values[($0 * c.shape[1])..<(($0 + 1) * c.shape[1])]) }
    }

    /// A channel-major [C, T] or [1, C, T] reference tensor as time-major [T, C] values.
    static func timeMajor(_ t: Tensor) -> [Float] {
        let c = t.shape[t.rank - 2], n = t.shape[t.rank - 1]
        return Fixtures.timeMajor(t.reshaped([1, c, n]), item: 0).scalars
    }

    @Test("every encoder stage matches the reference and the codes and the sample string are identical")
    func stages() throws {
        let f = try Fixtures.reference("dvae.safetensors")
        let recorder = Recorder()
        let sample = try model.sample(waveform: try f.tensor("encode.wav").scalars, transcript: "示例文本",
                                      debug: recorder)
        // Normalized MSE, measured: log mel 2.3e-14, downsample in 3.4e-14, out 3.3e-13, pre-VQ 5.9e-13.
        for (name, reference, bound) in [("dvae.log_mel", "encode.log_mel", 1e-11),
                                         ("dvae.downsample_in", "encode.downsample_in", 1e-11),
                                         ("dvae.downsample_out", "encode.downsample_out", 1e-10),
                                         ("dvae.pre_vq", "encode.pre_vq", 1e-10)] {
            let got = try #require(recorder[name].first)
            let want = try f.tensor(reference)
            #expect(got.shape == [want.shape[want.rank - 1], want.shape[want.rank - 2]], "\(name) shape")
            let error = Fixtures.nmse(got.scalars, Self.timeMajor(want))
            #expect(error < bound, "\(name): nmse \(error)")
        }
        #expect(sample.codes == (try Self.codes(f, "encode.codes")))
        #expect(sample.transcript == "示例文本")
        let official = (try Fixtures.json("meta.json")["dvae_encode"] as! [String: Any])["prompt_string"] as! String
        #expect(try sample.string() == official)
    }

    @Test("the quantizer's scales and codebook are the pinned vector_quantize_pytorch's")
    func quantizerConstants() throws {
        let f = try Fixtures.reference("dvae.safetensors")
        let q = dvae.quantizer
        #expect(q.groups * q.residuals == model.config.numVQ)
        #expect(q.scales.flatMap { $0 } == (try f.tensor("fsq.scales").scalars))
        // The implicit codebook: index i's value in dimension j is digit j of i (base L, least significant first),
        // mapped to 2 digit / (L - 1) - 1: the mixed-radix order in which GFSQ writes its indices.
        let codebook = try f.tensor("fsq.implicit_codebook")
        #expect(codebook.shape == [q.codebookSize, q.levels.count])
        for i in 0..<q.codebookSize {
            var digits = i
            for j in 0..<q.levels.count {
                let value = 2 * Float(digits % q.levels[j]) / Float(q.levels[j] - 1) - 1
                #expect(codebook.pointer[i * q.levels.count + j] == value, "code \(i) dimension \(j)")
                digits /= q.levels[j]
            }
        }
    }

    @Test("samples of odd and even mel frame counts give the official codes and spk_smp strings",
          arguments: ["a", "b", "c", "d"])
    func officialSamples(_ name: String) throws {
        let entry = (try Self.cloneMeta()["samples"] as! [String: Any])[name] as! [String: Any]
        let bytes = [UInt8](try Data(contentsOf: Self.clone.appendingPathComponent(entry["file"] as! String)))
        let recorder = Recorder()
        let decoded = try WAV.decode(bytes)
        #expect(decoded.sampleRate == model.sampleRate)
        let sample = try model.sample(waveform: decoded.samples, transcript: "", debug: recorder)
        #expect(try model.sample(wav: bytes, transcript: "") == sample)
        let f = try SafetensorsFile(path: Self.clone.appendingPathComponent("clone.safetensors").path)
        let preVQ = try #require(recorder["dvae.pre_vq"].first)
        let want = Self.timeMajor(try f.tensor("\(name).pre_vq"))
        // Measured: nmse 1.4e-12 to 1.7e-12, max abs 2.0e-6 to 3.7e-6.
        #expect(Fixtures.nmse(preVQ.scalars, want) < 1e-10)
        let expected = try Self.codes(f, "\(name).codes")
        #expect(sample.frames == (entry["code_frames"] as! NSNumber).intValue)
        #expect(sample.frames == dvae.codeFrames(samples: (entry["samples"] as! NSNumber).intValue))
        #expect(sample.codes == expected)
        #expect(try sample.string() == entry["spk_smp"] as! String)
    }

    /// The same analytic sound, written at 44.1 kHz in two slightly different channels (their mean is the sound),
    /// goes through WAV decoding, mix-down, libsoxr (VHQ) and the encoder. It is not the 24 kHz signal: each file
    /// was rounded to 16 bits at its own rate, and the resampler's transition band (10.96-12 kHz) damps the top of
    /// the noise floor. The tiny random DVAE's codes are sensitive to that, the residual level much more than the
    /// coarse one. Measured 2026-12-02: 51 of 156 codes differ, 8 of the 78 coarse ones (rows 0 and 2). The
    /// reference itself, given the same file resampled by torchaudio instead, differs from its 24 kHz codes in
    /// 36 (default sinc) to 59 (Kaiser, width 64) codes, 4 to 9 coarse ones: the spread is the model's, not a
    /// resampling fault, which would change most codes of both levels. Bounds: 40 % of all codes, 15 % of the
    /// coarse ones.
    @Test("a 44.1 kHz stereo recording of the same sound clones to nearly the 24 kHz codes")
    func resampledStereo() throws {
        let meta = try Self.cloneMeta()
        let resampled = meta["resampled"] as! [String: Any]
        let name = resampled["same_sound_as"] as! String
        let bytes = [UInt8](try Data(contentsOf: Self.clone.appendingPathComponent(resampled["file"] as! String)))
        #expect(try WAV.decode(bytes).sampleRate == 44100)
        let sample = try model.sample(wav: bytes, transcript: "")
        let f = try SafetensorsFile(path: Self.clone.appendingPathComponent("clone.safetensors").path)
        let reference = try Self.codes(f, "\(name).codes")
        #expect(sample.frames == reference[0].count)
        let byRow = zip(sample.codes, reference).map { zip($0, $1).filter { $0 != $1 }.count }
        let total = reference.joined().count, differing = byRow.reduce(0, +)
        let residuals = dvae.quantizer.residuals
        let coarse = byRow.enumerated().filter { $0.offset % residuals == 0 }.map(\.element).reduce(0, +)
        print("44.1 kHz stereo vs 24 kHz: \(differing) of \(total) codes differ, \(coarse) of \(total / residuals) "
              + "coarse ones (per code row \(byRow))")
        #expect(differing * 10 <= total * 4)
        #expect(coarse * 100 <= total / residuals * 15)
    }

    @Test("recordings outside the bounds, or not finite, are refused with the reason")
    func refusals() throws {
        func reason(_ body: () throws -> SpeakerSample) -> PromptError.Reason? {
            do {
                _ = try body()
                return nil
            } catch let error as PromptError {
                return error.reason
            } catch {
                Issue.record(error)
                return nil
            }
        }
        let rate = model.sampleRate
        #expect(reason { try model.sample(waveform: [Float](repeating: 0, count: dvae.minimumSamples - 1),
                                          transcript: "") } == .sampleTooShort)
        #expect(reason { try model.sample(waveform: [Float](repeating: 0, count: dvae.minimumSamples),
                                          transcript: "") } == nil)
        let tooLong = [Float](repeating: 0, count: ChatTTSModel.maxSampleSeconds * rate + 1)
        #expect(reason { try model.sample(waveform: tooLong, transcript: "") } == .sampleTooLong)
        #expect(reason { try model.sample(wav: WAV.encode(samples: tooLong, sampleRate: rate), transcript: "") }
                    == .sampleTooLong)
        #expect(reason { try model.sample(waveform: [0.1, .nan] + [Float](repeating: 0, count: 1000), transcript: "") }
                    == .invalidSamples)
        #expect(reason { try model.sample(wav: Array("RIFF....WAVEjunk".utf8), transcript: "") } == .unreadableAudio)
    }

    @Test("an asset folder without DVAE.safetensors loads, and cloning from it says what is missing")
    func withoutDVAE() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("no-dvae-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for entry in try FileManager.default.contentsOfDirectory(atPath: Fixtures.tinyAssets.path)
        where entry != ChatTTSModel.dvaeFile {
            let target = Fixtures.tinyAssets.appendingPathComponent(entry)
            try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(entry), withDestinationURL: target)
        }
        let bare = try ChatTTSModel(folder: folder)
        #expect(bare.dvae == nil)
        let error = try #require(throws: PromptError.self) {
            try bare.sample(waveform: [Float](repeating: 0, count: 4800), transcript: "")
        }
        #expect(error.reason == .cloningUnavailable)
        #expect(error.message.contains("DVAE.safetensors"))
    }
}
