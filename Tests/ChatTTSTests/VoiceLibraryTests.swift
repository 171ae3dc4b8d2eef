import Foundation
import Testing
import Synthesis
@testable import ChatTTS

/// The voices file and the speaker statistics files, as a deployment writes them.
@Suite("Voice library files")
struct VoiceLibraryTests {
    let speaker = try! Fixtures.json("speaker.json")
    var prompt: String { (speaker["prompt"] as! [String: Any])["string"] as! String }
    var voiceString: String { speaker["voice_used_for_reference"] as! String }

    /// A fresh folder, removed when `body` returns.
    func withFolder<T>(_ body: (URL) throws -> T) throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("voices-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try body(folder)
    }

    func library(_ json: String) throws -> VoiceLibrary {
        try withFolder { folder in
            let file = folder.appendingPathComponent("voices.json")
            try Data(json.utf8).write(to: file)
            return try VoiceLibrary(file: file)
        }
    }

    /// The message of the error `body` throws.
    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "no error"
    }

    @Test("a voices-file entry may be a sample with its transcript, with or without a voice string")
    func sampleEntries() throws {
        let library = try library("""
            {"plain": "\(voiceString)", "narrator": {"spk_smp": "\(prompt)", "txt_smp": "what the sample says"},
             "both": {"spk_smp": "\(prompt)", "txt_smp": "again", "spk_emb": "\(voiceString)"}}
            """)
        let sample = try SpeakerSample(string: prompt, transcript: "what the sample says")
        #expect(try library.resolve("narrator") == VoiceChoice(sample: sample))
        #expect(try library.resolve("narrator").sample?.frames == 6)
        let both = try library.resolve("both")
        #expect(both.speaker == (try Voice(string: voiceString)) && both.sample?.transcript == "again")
        #expect(try library.resolve("plain") == VoiceChoice(speaker: try Voice(string: voiceString)))
        #expect(library.listing == [VoiceListing(id: "both", source: "configured sample"),
                                    VoiceListing(id: "narrator", source: "configured sample"),
                                    VoiceListing(id: "plain", source: "configured")])
    }

    @Test("a bad voices-file entry is an error naming the file, the entry and what is wrong",
          arguments: [
              (#"{"a": 3}"#, "is neither a voice string nor an object with spk_smp and txt_smp"),
              (#"{"a": {"spk_smp": "PROMPT"}}"#, "a sample needs both 'spk_smp' (its codes) and 'txt_smp'"),
              (#"{"a": {"spk_smp": "PROMPT", "txt_smp": "t", "speed": 1}}"#, "has 'speed'; an entry takes"),
              (#"{"a": {"spk_smp": "garbage", "txt_smp": "t"}}"#, "'spk_smp': sample prompt string"),
              (#"{"a": {"spk_smp": "PROMPT", "txt_smp": 5}}"#, "'txt_smp' is not a string"),
              (#"{"a": {"spk_smp": "PROMPT", "txt_smp": "t", "spk_emb": "nope"}}"#, "'spk_emb': voice string"),
          ])
    func badEntries(json: String, expected: String) throws {
        let text = message { _ = try library(json.replacingOccurrences(of: "PROMPT", with: prompt)) }
        #expect(text.contains("voices.json: voice 'a': ") && text.contains(expected), "\(text)")
    }

    @Test("the asset folder's spk_stat.pt is the statistics file unless the setting names another")
    func statisticsFile() throws {
        let assets = Fixtures.tinyAssets
        let inAssets = assets.appendingPathComponent("spk_stat.pt")
        #expect(VoiceLibrary.statisticsFile(assets: assets, setting: nil) == inAssets)
        let other = URL(fileURLWithPath: "/elsewhere/stats.json")
        #expect(VoiceLibrary.statisticsFile(assets: assets, setting: other) == other)
        #expect(VoiceLibrary.statisticsFile(assets: Fixtures.root, setting: nil) == nil)
    }

    @Test("spk_stat.pt, the spk_stat string and a JSON file with spk_stat give the same statistics")
    func statisticsForms() throws {
        let config = Fixtures.root.appendingPathComponent("tiny/chattts_config.json")
        let object = try JSONSerialization.jsonObject(with: try Data(contentsOf: config)) as? [String: Any]
        let string = try #require(object?["spk_stat"] as? String)
        let fromTorch = try SpeakerStatistics(contentsOf: Fixtures.tinyAssets.appendingPathComponent("spk_stat.pt"))
        #expect(fromTorch.dim == 32)
        #expect(try SpeakerStatistics(contentsOf: config) == fromTorch)
        try withFolder { folder in
            let file = folder.appendingPathComponent("spk_stat.txt")
            try Data("\(string)\n".utf8).write(to: file)
            #expect(try SpeakerStatistics(contentsOf: file) == fromTorch)
        }
    }

    @Test("a damaged or too small statistics file is an error naming it")
    func badStatistics() throws {
        try withFolder { folder in
            let whole = try Data(contentsOf: Fixtures.tinyAssets.appendingPathComponent("spk_stat.pt"))
            let cut = folder.appendingPathComponent("cut.pt")
            try whole.prefix(whole.count - 100).write(to: cut)
            let text = message { _ = try SpeakerStatistics(contentsOf: cut) }
            #expect(text.hasPrefix("\(cut.path): not a PyTorch zip archive"), "\(text)")

            let small = folder.appendingPathComponent("small.txt")
            try Data(Base16384.encode([UInt8](repeating: 0x3C, count: 8)).utf8).write(to: small)
            #expect(message { _ = try SpeakerStatistics(contentsOf: small) }.contains("16 or more dimensions"))
            let missing = folder.appendingPathComponent("missing.pt")
            let unread = message { _ = try SpeakerStatistics(contentsOf: missing) }
            #expect(unread == "\(missing.path): cannot read the speaker statistics")
        }
    }
}
