import Foundation
import Testing
@testable import Server
import ChatTTS
import Synthesis

/// The OpenAPI document promises what the server does: a schema-valid request is one the parser takes, and the
/// answers it lists (401/403/413/415/429/503 with their headers) are the ones that come. The fuzz run
/// (`scripts/fuzz/schemathesis.sh`) checks the same at scale; these pin the rules it found.
@Suite("OpenAPI contract")
struct OpenAPIContractTests {
    static func document(keys: Bool = false, voices: [String] = ["alloy", "team-voice"]) throws -> [String: Any] {
        let table = try ChatTTSKnobs.table().capping("max_new_token", at: 32)
        let text = try OpenAPIDocument.json(knobs: table, engineName: "chattts", maxInputCharacters: 200,
                                            maxTextCharacters: 400, keysRequired: keys, voices: voices)
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static func lookup(_ object: Any?, _ path: String...) -> Any? {
        path.reduce(object) { ($0 as? [String: Any])?[$1] }
    }

    /// Whether a text meets a schema fragment of `TextPolicy.schema`: every `pattern` found, no `not` pattern.
    static func meets(_ text: String, _ schema: [String: Any]) throws -> Bool {
        let range = NSRange(text.startIndex..., in: text)
        for rule in schema["allOf"] as? [[String: Any]] ?? [] {
            if let pattern = rule["pattern"] as? String,
               try NSRegularExpression(pattern: pattern).firstMatch(in: text, range: range) == nil { return false }
            if let pattern = (rule["not"] as? [String: Any])?["pattern"] as? String,
               try NSRegularExpression(pattern: pattern).firstMatch(in: text, range: range) != nil { return false }
        }
        return true
    }

    @Test("the text schema of the document accepts exactly the texts TextPolicy lets through")
    func textSchemaAgreesWithPolicy() throws {
        let schema = TextPolicy.schema(markup: .refuse, promptTags: false)
        let texts = ["Hello world.", "a < b and c > d", "[uv_break] ok [laugh]", "数字 123", "<script>alert(1)</script>",
                     "<b>bold</b>", "x <SCRIPT", "fish &amp; chips", "&#60;", "&#x3c;", "tab\tand\nline", "bell\u{07}",
                     "esc\u{1B}[0m", "c1\u{85}", "bidi\u{202E}txt", "iso\u{2066}x", "non\u{FFFE}char", "[speed_5] fast",
                     "[oral_2]", "!!!", "   ", "&nbsp", "a & b;", "<3 you", "<!-- c --> hi", "<?xml?> hi", "a\u{0301}<b\u{0301}>"]
        for text in texts {
            let schemaValid = try Self.meets(text, schema)
            let policyValid = (try? TextPolicy.check(text, field: "text", markup: .refuse)) != nil
            #expect(schemaValid == policyValid, "\(text.debugDescription): schema \(schemaValid), server \(policyValid)")
        }
        // A prompt knob may hold prompt tags; other text knobs may not.
        let prompt = TextPolicy.schema(markup: .refuse, promptTags: true)
        #expect(try Self.meets("[oral_2][laugh_0][break_6]", prompt))
        #expect(try !Self.meets("<b>", prompt))
        #expect(TextPolicy.schema(markup: .strip, promptTags: true).isEmpty)
    }

    @Test("a sample's fields come in pairs and exclude the other kind of sample, in the table and in the document")
    func samplePairs() throws {
        let table = ChatTTSKnobs.table()
        #expect { try table.resolve(["spk_smp": .text("x")]) } throws: { error in
            (error as? SynthesisError)?.field == "txt_smp" && (error as? SynthesisError)?.detail == "missing_field"
        }
        #expect { try table.resolve(["spk_smp": .text("x"), "txt_smp": .text("y"), "sample_audio": .text("z")]) } throws: { error in
            (error as? SynthesisError)?.detail == "conflicting_fields"
        }
        let tts = try #require(Self.lookup(try Self.document(), "components", "schemas", "TTSRequest") as? [String: Any])
        let needs = try #require(tts["dependentRequired"] as? [String: [String]])
        #expect(needs["spk_smp"] == ["txt_smp"] && needs["sample_audio"] == ["sample_text"])
        let conflicts = try #require(Self.lookup(tts, "not", "anyOf") as? [[String: Any]])
        #expect(conflicts.contains { ($0["required"] as? [String]) == ["sample_audio", "spk_smp"] })
    }

    @Test("min_new_token cannot go above the server's cap of max_new_token (the fuzzer's first finding)")
    func minNewTokenCapped() throws {
        let table = try ChatTTSKnobs.table().capping("max_new_token", at: 32)
        #expect(table["min_new_token"]?.kind == .integer(0...32))
        let properties = try #require(OpenAPITests.ttsProperties(Array(try OpenAPIDocument.json(
            knobs: table, engineName: "chattts", maxInputCharacters: 10, maxTextCharacters: 10).utf8)))
        #expect(Self.lookup(properties, "min_new_token", "maximum") as? Int == 32)
        // Every value the document allows on its own, with the other at its default, passes.
        #expect(throws: Never.self) { try table.resolve(["min_new_token": .integer(32)]) }
    }

    @Test("character limits count code points, as JSON Schema's maxLength does (the fuzzer found 25 emoji modifiers passing a limit of 20)")
    func limitsCountCodePoints() throws {
        var config = ServerConfiguration()
        config.maxInputCharacters = 20
        config.maxTextCharacters = 20
        let parser = SpeechInputParser(knobs: ChatTTSKnobs.table(), engineName: "chattts", config: config, speed: { _ in [:] })
        let modifiers = String(repeating: "\u{1F3FB}", count: 25)
        #expect(modifiers.count < 20 && modifiers.unicodeScalars.count == 25)
        let speech = #"{"model": "tts-1", "voice": "alloy", "input": "\#(modifiers)"}"#
        #expect { try parser.openAI(try JSONFields(Array(speech.utf8))) } throws: { ($0 as? APIError)?.code == "string_above_max_length" }
        let table = KnobTable([Knob("note", .text(maxLength: 20), default: nil, doc: "a text knob")])
        #expect { try table.resolve(["note": .text(modifiers)]) } throws: {
            ($0 as? SynthesisError)?.detail == "string_above_max_length"
        }
    }

    @Test("an optional field may be null (read as absent), in the parser and in the document")
    func nullIsAbsent() throws {
        let parser = SpeechInputParser(knobs: ChatTTSKnobs.table(), engineName: "chattts", config: ServerConfiguration(),
                                       speed: { _ in [:] })
        let input = try parser.native(try JSONFields(Array(#"{"text": "hi", "normalize": null, "voice": null, "response_format": null}"#.utf8)))
        #expect(input.knobs["normalize"] == .boolean(true))
        let properties = try #require(Self.lookup(try Self.document(), "components", "schemas", "TTSRequest", "properties") as? [String: Any])
        #expect(Self.lookup(properties, "normalize", "type") as? [String] == ["boolean", "null"])
        #expect((Self.lookup(properties, "voice", "anyOf") as? [[String: Any]])?.last?["type"] as? String == "null")
        #expect(Self.lookup(properties, "text", "type") as? String == "string", "a required field is not nullable")
    }

    @Test("every protected operation lists 401/403 with keys and 429 with limits; 503 and 429 require Retry-After")
    func protectionResponses() throws {
        let open = try Self.document(keys: false)
        let keyed = try Self.document(keys: true)
        #expect(Self.lookup(open, "paths", "/v1/tts", "post", "responses", "401") == nil)
        for path in ["/v1/tts", "/v1/audio/speech"] {
            let responses = try #require(Self.lookup(keyed, "paths", path, "post", "responses") as? [String: Any])
            for status in ["200", "400", "401", "403", "413", "415", "429", "503"] {
                #expect(responses[status] != nil, "\(path) \(status)")
            }
            let parameters = try #require(Self.lookup(keyed, "paths", path, "post", "parameters") as? [[String: Any]])
            #expect(parameters.first?["$ref"] as? String == "#/components/parameters/RequestTimeout")
        }
        #expect(Self.lookup(keyed, "paths", "/health", "get", "responses", "401") == nil)
        #expect(Self.lookup(keyed, "paths", "/metrics", "get", "responses", "429") == nil)
        #expect(Self.lookup(keyed, "paths", "/v1/models", "get", "security") != nil)
        for name in ["Unavailable", "TooManyRequests"] {
            #expect(Self.lookup(keyed, "components", "responses", name, "headers", "Retry-After", "required") as? Bool == true)
        }
    }

    @Test("the voice schema names the server's voices, seed:N and voice strings; aac is not offered")
    func voicesAndFormats() throws {
        let doc = try Self.document(voices: ["alloy", "team-voice"])
        let forms = try #require(Self.lookup(doc, "components", "schemas", "Voice", "anyOf") as? [[String: Any]])
        #expect((forms.first?["enum"] as? [String]) == ["", "alloy", "team-voice"])
        #expect(forms.contains { $0["pattern"] as? String == "^seed:[0-9]{1,19}$" })
        #expect(forms.contains { $0["format"] as? String == "chattts-voice" })
        let formats = try #require(Self.lookup(doc, "components", "schemas", "ResponseFormat", "enum") as? [String])
        #expect(!formats.contains("aac") && formats.contains("mp3"))
    }
}
