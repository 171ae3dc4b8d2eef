import ChatTTS
import Foundation
import Testing
@testable import Server
import Synthesis
import Tensors

/// One declaration per knob and per setting: the parser, validation, the OpenAPI document, the CLI flags and the
/// README all come from the tables.
@Suite("Knob and setting tables")
struct KnobTableTests {
    static let readme = (try? String(contentsOf: Paths.repository.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""

    /// ChatTTS's table with one knob more: the whole edit a new knob takes.
    static let extended = KnobTable(ChatTTSKnobs.table().knobs + [
        Knob("pitch", .number(0.5...2, lowerOpen: false), default: .number(1), doc: "pitch factor"),
    ])

    @Test("a knob added to a table is validated, parsed from JSON, in the OpenAPI document and a say flag")
    func oneDeclaration() throws {
        let table = Self.extended
        #expect { try table.resolve(["pitch": .number(3)]) } throws: { error in
            "\(error)" == "'pitch' must be in [0.5, 2], got 3"
        }
        #expect(try table.resolve([:])["pitch"] == .number(1))

        let parser = SpeechInputParser(knobs: table, engineName: "chattts", config: ServerConfiguration(),
                                       speed: { _ in [:] })
        let input = try parser.native(try JSONFields(Array(#"{"text": "hi", "pitch": 1.5}"#.utf8)))
        #expect(input.knobs["pitch"] == .number(1.5))
        #expect { try parser.native(try JSONFields(Array(#"{"text": "hi", "pitch": "high"}"#.utf8))) } throws: { error in
            (error as! APIError).param == "pitch" && (error as! APIError).code == "invalid_type"
        }

        let document = try OpenAPIDocument.json(knobs: table, engineName: "chattts", maxInputCharacters: 4096, maxTextCharacters: 20_000)
        let pitch = try #require(OpenAPITests.ttsProperties(Array(document.utf8))?["pitch"] as? [String: Any])
        #expect(pitch["type"] as? [String] == ["number", "null"] && pitch["minimum"] as? Double == 0.5)
        #expect(pitch["maximum"] as? Double == 2 && pitch["default"] as? Double == 1)

        #expect(try table.parse(flags: ["--pitch", "1.5", "--no-refine", "--top-p=0.5"])
                == ["pitch": .number(1.5), "refine": .boolean(false), "top_P": .number(0.5)])
        #expect(table.flagHelp.contains("--pitch <[0.5, 2]>"))
    }

    @Test("every /v1/tts knob in the OpenAPI document has the table's limits and default")
    func openAPIFromTable() throws {
        let table = try ChatTTSKnobs.table().capping("max_new_token", at: 2048)
        let document = try OpenAPIDocument.json(knobs: table, engineName: "chattts", maxInputCharacters: 4096, maxTextCharacters: 20_000)
        let properties = try #require(OpenAPITests.ttsProperties(Array(document.utf8)))
        for knob in table.knobs { #expect(properties[knob.name] != nil, "\(knob.name) missing") }
        let topP = try #require(properties["top_P"] as? [String: Any])
        #expect(topP["exclusiveMinimum"] as? Double == 0 && topP["maximum"] as? Double == 1 && topP["default"] as? Double == 0.7)
        let maxNew = try #require(properties["max_new_token"] as? [String: Any])
        #expect(maxNew["maximum"] as? Int == 2048 && maxNew["default"] as? Int == 2048)
        let mode = try #require(properties["stream_mode"] as? [String: Any])
        // Every knob may also be sent as null (its default), so the enum lists null too.
        #expect((mode["enum"] as? [Any])?.compactMap { $0 as? String } == ["exact", "fast"])
        #expect(mode["default"] as? String == "exact")
    }

    @Test("the README's knob and configuration tables are the ones the tables print")
    func readmeTables() throws {
        let knobs = try ChatTTSKnobs.table().capping("max_new_token", at: ServerConfiguration().maxNewTokens)
        // The tables as they should stand, for pasting into the README when a declaration changes.
        let expected = FileManager.default.temporaryDirectory.appendingPathComponent("chattts-readme-tables.md")
        try Data((knobs.markdownTable + "\n\n" + ServerConfiguration.markdownTable + "\n").utf8).write(to: expected)
        #expect(Self.readme.contains(knobs.markdownTable), "README knob table; expected:\n\(knobs.markdownTable)")
        #expect(Self.readme.contains(ServerConfiguration.markdownTable),
                "README configuration table; expected:\n\(ServerConfiguration.markdownTable)")
    }

    @Test("the example config file names every setting and loads")
    func exampleConfig() throws {
        let path = Paths.repository.appendingPathComponent("scripts/service/config.example.json").path
        let keys = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]).keys
        #expect(Set(keys) == Set(ServerConfiguration.settings.map(\.key)))
        let c = try ServerConfiguration.load(file: path, environment: [:])
        #expect(c.host == "0.0.0.0" && c.memoryBudget == nil && c.threads == nil)
    }

    @Test("the dtype and kernels settings offer exactly the engine's weight formats and instruction sets")
    func choicesMatchTheEngine() {
        #expect(ServerConfiguration.WeightChoice.allCases.map(\.rawValue) == ["auto"] + WeightFormat.allCases.map(\.rawValue))
        #expect(ServerConfiguration.KernelChoice.allCases.map(\.rawValue) == ["auto"] + KernelISA.allCases.map(\.rawValue))
    }

    @Test("serve flags come from the settings table: values, booleans, and unknown flags named")
    func serveFlags() throws {
        var c = ServerConfiguration()
        try c.apply(flags: ["--max-batch", "4", "--no-warm-up", "--dtype=bf16", "--threads", "2", "--kernels", "avx2"])
        #expect(c.maxBatch == 4 && !c.warmUp && c.dtype == .bf16 && c.threads == 2 && c.kernels == .avx2)
        #expect { try c.apply(flags: ["--max-bacth", "4"]) } throws: { "\($0)".contains("--max-bacth") }
        #expect { try c.apply(flags: ["--max-batch", "0"]) } throws: { error in
            "\(error)" == "configuration: --max-batch must be an integer in 1...256, got 0"
        }
        #expect { try c.apply(flags: ["--dtype", "f8"]) } throws: { "\($0)".contains("one of auto, f32, bf16, int8") }
    }
}

enum OpenAPITests {
    /// `components.schemas.TTSRequest.properties` of an OpenAPI document.
    static func ttsProperties(_ bytes: [UInt8]) -> [String: Any]? {
        let document = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
        let schemas = (document?["components"] as? [String: Any])?["schemas"] as? [String: Any]
        return (schemas?["TTSRequest"] as? [String: Any])?["properties"] as? [String: Any]
    }
}
