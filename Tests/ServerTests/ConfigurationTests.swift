import Foundation
import Testing
import ChatTTS
@testable import Server
import LoadTest
import Synthesis

@Suite("Configuration")
struct ConfigurationTests {
    func writeFile(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: url)
        return url.path
    }

    @Test("defaults are the documented ones")
    func defaults() {
        let c = ServerConfiguration()
        #expect(c.port == 8080 && c.host == "127.0.0.1" && c.maxInputCharacters == 4096 && c.maxBatch == 16 && c.maxQueue == 64)
        #expect(c.requestTimeout == .seconds(60) && c.drainTimeout == .seconds(30) && c.warmUp && c.logLevel == .info)
        #expect(c.rateLimit == 10 && c.rateBurst == 20 && c.maxConcurrentPerClient == 4 && c.markup == .refuse)
        #expect(c.maxBodyBytes == 65536 && c.maxTTSBodyBytes == 16 << 20 && c.maxRequestDuration == .seconds(900))
    }

    @Test("the environment overrides the file, and every key has one spelling per source")
    func precedence() throws {
        let file = try writeFile(#"{"port": 9000, "maxBatch": 4, "warmUp": false, "requestTimeout": 2.5, "voices": "/etc/voices.json"}"#)
        let c = try ServerConfiguration.load(file: file, environment: ["CHATTTS_MAX_BATCH": "12", "CHATTTS_LOG_LEVEL": "debug"])
        #expect(c.port == 9000)
        #expect(c.maxBatch == 12)
        #expect(!c.warmUp)
        #expect(c.requestTimeout == .milliseconds(2500))
        #expect(c.voicesFile == "/etc/voices.json")
        #expect(c.logLevel == .debug)
        let setting = try #require(ServerConfiguration.setting("maxInputCharacters"))
        #expect(setting.environmentName == "CHATTTS_MAX_INPUT_CHARACTERS" && setting.flag == "--max-input-characters")
    }

    @Test("an unknown file key, a bad value or a value out of range is an error that names it")
    func errors() throws {
        let typo = try writeFile(#"{"maxBtach": 4}"#)
        #expect { try ServerConfiguration.load(file: typo, environment: [:]) } throws: { error in
            "\(error)".contains("maxBtach") && "\(error)".contains("not a setting")
        }
        #expect { try ServerConfiguration.load(file: nil, environment: ["CHATTTS_PORT": "eighty"]) } throws: { error in
            "\(error)".contains("CHATTTS_PORT") && "\(error)".contains("eighty")
        }
        var c = ServerConfiguration()
        c.maxBatch = 0
        #expect { try c.validate() } throws: { "\($0)".contains("maxBatch") && "\($0)".contains("1...256") }
    }

    @Test("speed maps onto ChatTTS's [speed_N] prompt, 1.0 to 5, each doubling adding 2")
    func speed() throws {
        let engine = try ChatTTSEngine(assets: Paths.tinyAssets)
        for (speed, n) in [(1.0, 5), (0.25, 1), (0.5, 3), (2.0, 7), (4.0, 9), (1.2, 6)] {
            #expect(engine.knobs(forSpeed: speed) == ["prompt": .text("[speed_\(n)]")])
        }
    }
}
