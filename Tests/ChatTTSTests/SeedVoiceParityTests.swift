import Foundation
import Testing
@testable import ChatTTS

/// `seed:N` against the official `torch.manual_seed(N); chat.sample_random_speaker()` (fixtures: seed_voices.json and
/// the real-layout spk_stat.pt files, made by scripts/reference/make_speaker_fixtures.py). Exact, bit for bit.
@Suite("Seed voices match the official ones")
struct SeedVoiceParityTests {
    static let cases = (try! Fixtures.json("seed_voices.json")["cases"] as! [[String: Any]]).map { Case($0) }

    struct Case: CustomTestStringConvertible, Sendable {
        let dim: Int
        let statistics: String
        let spkStat: String
        let std: [UInt16], mean: [UInt16]
        let voices: [(seed: UInt64, string: String, bits: [UInt16])]

        init(_ entry: [String: Any]) {
            dim = entry["dim"] as! Int
            statistics = entry["statistics"] as! String
            spkStat = entry["spk_stat"] as! String
            std = Fixtures.bits(hex: entry["std_f16_hex"])
            mean = Fixtures.bits(hex: entry["mean_f16_hex"])
            voices = (entry["voices"] as! [[String: Any]]).map {
                (UInt64($0["seed"] as! String)!, $0["string"] as! String, Fixtures.bits(hex: $0["f16_hex"]))
            }
        }

        var testDescription: String { "dim \(dim)" }
        var file: URL { Fixtures.root.appendingPathComponent("reference/\(statistics)") }
    }

    static func halves(_ values: [Float]) -> [UInt16] { values.map { Float16($0).bitPattern } }

    @Test("seed:N read from a real-layout spk_stat.pt equals the official voice, values and string", arguments: cases)
    func seedVoices(case c: Case) throws {
        let statistics = try SpeakerStatistics(contentsOf: c.file)
        #expect(c.voices.count >= (c.dim == 768 ? 20 : 5))
        for voice in c.voices {
            let mine = Voice.random(seed: voice.seed, statistics: statistics)
            #expect(Self.halves(mine.values) == voice.bits, "seed \(voice.seed)")
            #expect(try mine.string() == voice.string, "seed \(voice.seed)")
        }
    }

    @Test("the float32 statistics round to the official float16 ones, ties to even", arguments: cases)
    func statisticsRound(case c: Case) throws {
        let tensor = try TorchArchive.tensor(contentsOf: c.file)
        #expect(tensor.dtype == .float32 && tensor.shape == [2 * c.dim])
        // The file really holds float32 values that need rounding, and the first four std values are exact ties.
        #expect(tensor.values.contains { Float(Float16($0)) != $0 })
        let ties: [Float] = [1 + 1 / 2048, 1 + 3 / 2048, 0.5 + 1 / 4096, 2 + 3 / 1024]
        #expect(Array(tensor.values.prefix(4)) == ties)
        let statistics = try SpeakerStatistics(contentsOf: c.file)
        #expect(Self.halves(statistics.std) == c.std && Self.halves(statistics.mean) == c.mean)
        let fromString = try SpeakerStatistics(string: c.spkStat)
        #expect(Self.halves(fromString.std) == c.std && Self.halves(fromString.mean) == c.mean)
    }

    @Test("the same seeds from the spk_stat string give the same voices as from the float32 file")
    func stringStatistics() throws {
        for c in Self.cases {
            let statistics = try SpeakerStatistics(string: c.spkStat)
            for voice in c.voices {
                #expect(Self.halves(Voice.random(seed: voice.seed, statistics: statistics).values) == voice.bits)
            }
        }
    }

    @Test("the older official samples of speaker.json are seed voices too")
    func speakerFixtureSamples() throws {
        let speaker = try Fixtures.json("speaker.json")
        for size in ["tiny", "dim768"] {
            let entry = speaker[size] as! [String: Any]
            let statistics = try SpeakerStatistics(string: entry["spk_stat"] as! String)
            for sample in entry["random_samples"] as! [[String: Any]] {
                let seed = (sample["torch_manual_seed"] as! NSNumber).uint64Value
                let voice = Voice.random(seed: seed, statistics: statistics)
                #expect(try voice.string() == sample["string"] as! String, "\(size)")
            }
        }
    }

    @Test("torch.randn for float16 matches, for sizes 16 does not divide (the last 16 drawn again) and u1 = 1 (+0)")
    func randn() throws {
        let cases = try Fixtures.json("seed_voices.json")["randn"] as! [[String: Any]]
        #expect(cases.contains { ($0["count"] as! Int) % 16 != 0 })
        #expect(cases.contains { Fixtures.bits(hex: $0["f16_hex"]).contains(0) })
        for entry in cases {
            var generator = TorchGenerator(seed: UInt64(entry["seed"] as! String)!)
            let count = entry["count"] as! Int
            let drawn = generator.standardNormalHalf(count: count).map(\.bitPattern)
            #expect(drawn == Fixtures.bits(hex: entry["f16_hex"]), "count \(count) seed \(entry["seed"]!)")
        }
    }

    @Test("the generator is MT19937 on the seed's low 32 bits")
    func generator() {
        // The C++ standard fixes the 10000th output of mt19937 with its default seed 5489.
        var standard = TorchGenerator(seed: 5489)
        for _ in 1..<10000 { _ = standard.next() }
        #expect(standard.next() == 4_123_659_995)
        var low = TorchGenerator(seed: 5), high = TorchGenerator(seed: 1 << 63 | 5)
        #expect((0..<700).map { _ in low.next() } == (0..<700).map { _ in high.next() })
    }
}
