import Foundation
import Testing
@testable import ChatTTS

/// `chattts voices` run as a process, the way users run it.
@Suite("chattts voices")
struct VoicesCommandTests {
    struct Run {
        let status: Int32
        let output: String
        let errors: String
    }

    static func run(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = SayCommandTests.binary
        process.arguments = ["voices"] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: out, as: UTF8.self),
                   errors: String(decoding: err, as: UTF8.self))
    }

    /// seed -> official voice string for the statistics file `name` (seed_voices.json).
    static func official(_ name: String) throws -> [String: String] {
        let cases = try Fixtures.json("seed_voices.json")["cases"] as! [[String: Any]]
        let entry = try #require(cases.first { $0["statistics"] as? String == name })
        return Dictionary(uniqueKeysWithValues: (entry["voices"] as! [[String: Any]]).map {
            ($0["seed"] as! String, $0["string"] as! String)
        })
    }

    static let reference = Fixtures.root.appendingPathComponent("reference")

    /// A voices file with a voice string and a sample, removed when `body` returns.
    static func withVoicesFile(_ body: (URL) throws -> Void) throws {
        let speaker = try Fixtures.json("speaker.json")
        let prompt = (speaker["prompt"] as! [String: Any])["string"] as! String
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("voices-\(UUID().uuidString).json")
        let object: [String: Any] = ["alice": speaker["voice_used_for_reference"] as! String,
                                     "narrator": ["spk_smp": prompt, "txt_smp": "the sample says this"]]
        try JSONSerialization.data(withJSONObject: object).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        try body(file)
    }

    @Test("make --seed prints the official voice string, from the asset folder's spk_stat.pt or the override")
    func make() throws {
        let official = try Self.official("spk_stat.pt")
        for seed in ["1001", "\(UInt64.max)"] {
            let run = try Self.run(["make", "--assets", Self.reference.path, "--seed", seed])
            #expect(run.status == 0 && run.output == official[seed]! + "\n", "\(run.errors)")
        }
        let small = try Self.official("spk_stat_dim32.pt")
        let file = Self.reference.appendingPathComponent("spk_stat_dim32.pt")
        let override = try Self.run(["make", "--assets", Self.reference.path, "--seed", "1",
                                     "--speaker-statistics", file.path])
        #expect(override.status == 0 && override.output == small["1"]! + "\n", "\(override.errors)")
    }

    @Test("make refuses without --seed, without statistics or with a bad file, naming the flag")
    func makeErrors() throws {
        let missing = try Self.run(["make", "--assets", Self.reference.path])
        #expect(missing.status != 0 && missing.errors.contains("--seed"))
        let negative = try Self.run(["make", "--assets", Self.reference.path, "--seed=-1"])
        #expect(negative.status != 0 && negative.errors.contains("--seed"))
        let none = try Self.run(["make", "--assets", Fixtures.root.path, "--seed", "1"])
        #expect(none.status != 0 && none.errors.contains("spk_stat.pt") && none.errors.contains("--speaker-statistics"),
                "\(none.errors)")
        let bad = try Self.run(["make", "--seed", "1", "--speaker-statistics",
                                Fixtures.root.appendingPathComponent("tiny/asset/gpt/config.json").path])
        #expect(bad.status != 0 && bad.errors.contains("--speaker-statistics:") && bad.errors.contains("config.json"),
                "\(bad.errors)")
    }

    @Test("make --sample prints the official sample prompt string of a WAV, or a voices-file entry with --json")
    func makeSample() throws {
        let clone = try Fixtures.json("../clone/clone.json")
        let a = (clone["samples"] as! [String: Any])["a"] as! [String: Any]
        let wav = Fixtures.root.appendingPathComponent("clone/a-24k.wav").path
        let plain = try Self.run(["make", "--assets", Fixtures.tinyAssets.path, "--sample", wav, "--transcript", "示例"])
        #expect(plain.status == 0, "\(plain.errors)")
        #expect(plain.output.split(separator: "\n").last.map(String.init) == a["spk_smp"] as? String)
        let json = try Self.run(["make", "--assets", Fixtures.tinyAssets.path, "--sample", wav, "--transcript", "示例",
                                 "--json"])
        let entry = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: String]
        #expect(entry == ["spk_smp": a["spk_smp"] as! String, "txt_smp": "示例"])
        let noText = try Self.run(["make", "--assets", Fixtures.tinyAssets.path, "--sample", wav])
        #expect(noText.status != 0 && noText.errors.contains("--transcript"))
        let broken = try Self.run(["make", "--assets", Fixtures.tinyAssets.path, "--sample",
                                   Fixtures.tinyAssets.appendingPathComponent("gpt/config.json").path, "--transcript", "x"])
        #expect(broken.status != 0 && broken.errors.contains("--sample"), "\(broken.errors)")
    }

    @Test("list shows the configured voices and, with statistics, the OpenAI names with their seeds")
    func list() throws {
        try Self.withVoicesFile { file in
            let run = try Self.run(["list", "--assets", Fixtures.tinyAssets.path, "--voices", file.path])
            #expect(run.status == 0, "\(run.errors)")
            let lines = run.output.split(separator: "\n").map {
                $0.split(separator: " ", maxSplits: 1).map(String.init)
            }
            #expect(lines.first?.first == "alice" && lines.first?.last?.contains("voice string") == true)
            #expect(lines.contains { $0.first == "narrator" && $0.last?.contains("sample of 6 frames") == true })
            #expect(lines.contains { $0.first == "alloy" && $0.last?.hasSuffix("seed:1001") == true })
            #expect(run.errors.contains("spk_stat.pt"))

            let bare = try Self.run(["list", "--assets", Fixtures.root.path, "--voices", file.path])
            #expect(bare.status == 0 && !bare.output.contains("alloy") && bare.output.contains("narrator"))
            #expect(bare.errors.contains("no speaker statistics"))
        }
    }

    @Test("show says what a voice is and gives its first values and string")
    func show() throws {
        try Self.withVoicesFile { file in
            let assets = Fixtures.tinyAssets.path
            let alloy = try Self.run(["show", "alloy", "--assets", assets])
            let statisticsFile = Fixtures.tinyAssets.appendingPathComponent("spk_stat.pt")
            let statistics = try SpeakerStatistics(contentsOf: statisticsFile)
            let voice = Voice.random(seed: 1001, statistics: statistics)
            #expect(alloy.status == 0 && alloy.output.contains("OpenAI voice name, the seed voice seed:1001"))
            #expect(alloy.output.contains("32 values, first: " + String(format: "%.4f", voice.values[0])))
            #expect(alloy.output.contains("string: \(try voice.string())\n"))

            let narrator = try Self.run(["show", "narrator", "--voices", file.path])
            #expect(narrator.status == 0, "\(narrator.errors)")
            #expect(narrator.output.contains("configured in \(file.path)"))
            #expect(narrator.output.contains("4 codebooks x 6 frames, transcript \"the sample says this\""))
            #expect(!narrator.output.contains("speaker:"))

            let seed = try Self.run(["show", "seed:7", "--assets", assets])
            #expect(seed.status == 0 && seed.output.hasPrefix("seed:7: seed voice"))

            let unknown = try Self.run(["show", "bob", "--voices", file.path])
            #expect(unknown.status != 0 && unknown.errors.contains("'bob' is not a configured voice")
                    && unknown.errors.contains("alice, narrator"), "\(unknown.errors)")
            let noStatistics = try Self.run(["show", "alloy", "--assets", Fixtures.root.path])
            #expect(noStatistics.status != 0 && noStatistics.errors.contains("spk_stat.pt"))
        }
    }
}
