import ChatTTS
import ChatTTSService
import Foundation
import Testing
@testable import Server

/// Where `seed:N` and the OpenAI voice names get their speaker statistics: the asset folder's `spk_stat.pt`, the
/// `speakerStatistics` override, or nowhere (then they are refused).
@Suite("Speaker statistics of the service", .serialized)
struct SpeakerStatisticsTests {
    static let reference = Paths.fixtures.appendingPathComponent("reference")

    /// The tiny asset folder without its `spk_stat.pt` (links to the other files), removed when `body` returns.
    static func withAssetsWithoutStatistics<T>(_ body: (URL) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("assets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = FileManager.default
        for name in try files.contentsOfDirectory(atPath: Paths.tinyAssets.path) where name != "spk_stat.pt" {
            try files.createSymbolicLink(at: folder.appendingPathComponent(name),
                                         withDestinationURL: Paths.tinyAssets.appendingPathComponent(name))
        }
        return try await body(folder)
    }

    @Test("with no setting, the asset folder's spk_stat.pt gives seed voices and the OpenAI names")
    func assetFolder() throws {
        let config = TestServer.configuration()
        #expect(config.speakerStatistics == nil)
        let engine = try ChatTTSService.engine(config)
        let statistics = try SpeakerStatistics(contentsOf: Paths.tinyAssets.appendingPathComponent("spk_stat.pt"))
        #expect(engine.library.statistics == statistics)
        #expect(try engine.library.resolve("alloy").speaker == Voice.random(seed: 1001, statistics: statistics))
        #expect(engine.voices.contains { $0.id == "cedar" && $0.source == "seed:1013" })
    }

    @Test("the speakerStatistics setting wins over the asset folder's file")
    func override() throws {
        var config = TestServer.configuration()
        config.speakerStatistics = Self.reference.appendingPathComponent("spk_stat_dim32.pt").path
        let engine = try ChatTTSService.engine(config)
        let document = try JSONSerialization.jsonObject(
            with: try Data(contentsOf: Self.reference.appendingPathComponent("seed_voices.json"))) as! [String: Any]
        let entry = try #require((document["cases"] as! [[String: Any]]).first { $0["dim"] as? Int == 32 })
        for voice in entry["voices"] as! [[String: Any]] {
            let spoken = try #require(try engine.library.resolve("seed:\(voice["seed"] as! String)").speaker)
            #expect(try spoken.string() == voice["string"] as! String)
        }
        // The JSON form (the tiny config's spk_stat) is an override too.
        config.speakerStatistics = Paths.tinyConfig.path
        let fromAssets = try ChatTTSService.engine(TestServer.configuration()).library.statistics
        #expect(try ChatTTSService.engine(config).library.statistics == fromAssets)
    }

    @Test("statistics of another size, or a damaged file, are refused at start, naming the setting and the file")
    func refusedAtStart() throws {
        var config = TestServer.configuration()
        let large = Self.reference.appendingPathComponent("spk_stat.pt").path
        config.speakerStatistics = large
        let sizes = "\(large) holds statistics of 768 dimensions, the model's hidden size is 32"
        #expect { try ChatTTSService.engine(config) } throws: { error in
            let error = error as? ConfigurationError
            return error?.key == "speakerStatistics" && error?.message.contains(sizes) == true
        }
        let damaged = Paths.tinyAssets.appendingPathComponent("gpt/model.safetensors").path
        config.speakerStatistics = damaged
        #expect { try ChatTTSService.engine(config) } throws: { error in
            (error as? ConfigurationError)?.key == "speakerStatistics" && "\(error)".contains(damaged)
        }
    }

    @Test("without statistics, seed:N and the OpenAI names answer 400 naming spk_stat.pt and the setting")
    func withoutStatistics() async throws {
        try await Self.withAssetsWithoutStatistics { assets in
            let server = try await TestServer.start { config in
                config.assets = assets.path
                config.warmUp = false
            }
            let voices = try await server.client.get("/v1/voices")
            #expect(voices.status == 200 && !voices.text.contains("alloy"))
            for (path, body) in [("/v1/audio/speech", ["model": "tts-1", "input": "hi", "voice": "alloy"]),
                                 ("/v1/tts", ["text": "hi", "voice": "seed:3"])] as [(String, [String: any Sendable])] {
                let response = try await server.client.post(path, json: body)
                let error = response.json?["error"] as? [String: Any]
                #expect(response.status == 400 && error?["param"] as? String == "voice")
                #expect(error?["code"] as? String == "invalid_voice")
                let message = error?["message"] as? String ?? ""
                #expect(message.contains("spk_stat.pt") && message.contains("speakerStatistics"), "\(message)")
            }
            try await server.stop()
        }
    }
}
