import Foundation
import Testing
@testable import ChatTTS

/// The repository's test fixtures, found from this file's path so the tests run from any directory.
private enum TokenizerFixture {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let tokenizerFolder = root.appendingPathComponent("Tests/Fixtures/tiny/asset/tokenizer")
    static let casesFile = root.appendingPathComponent("Tests/Fixtures/reference/tokenizer_cases.json")

    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let tokens: [String]
        let decoded: String
    }

    struct Cases: Decodable {
        let tokenizer_len: Int
        let cases: [Case]
    }

    static func load() throws -> (Tokenizer, Cases) {
        let tokenizer = try Tokenizer(contentsOf: tokenizerFolder)
        let cases = try JSONDecoder().decode(Cases.self, from: Data(contentsOf: casesFile))
        return (tokenizer, cases)
    }
}

/// Scalar-exact string comparison (Swift's `==` treats canonically equivalent strings as equal).
private func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }

@Suite("Tokenizer against the official ChatTTS tokenizer")
struct TokenizerReferenceTests {
    @Test("encodes every reference string to exactly the official ids")
    func encodesLikeReference() throws {
        let (tokenizer, file) = try TokenizerFixture.load()
        #expect(file.cases.count >= 60)
        for c in file.cases {
            #expect(tokenizer.encode(c.text) == c.ids, "text: \(c.text.debugDescription)")
        }
    }

    @Test("decodes reference ids to exactly the official text")
    func decodesLikeReference() throws {
        let (tokenizer, file) = try TokenizerFixture.load()
        for c in file.cases {
            #expect(scalars(tokenizer.decode(c.ids)) == scalars(c.decoded), "ids: \(c.ids)")
        }
    }

    @Test("maps ids to the official token strings and back")
    func mapsTokensBothWays() throws {
        let (tokenizer, file) = try TokenizerFixture.load()
        for c in file.cases {
            let tokens = c.ids.map { tokenizer.token(of: $0) }
            #expect(tokens.map { $0.map(scalars) } == c.tokens.map(scalars), "text: \(c.text.debugDescription)")
            #expect(c.tokens.map { tokenizer.id(of: $0) } == c.ids)
        }
    }

    @Test("counts WordPiece and added tokens like len(tokenizer)")
    func countsLikeReference() throws {
        let (tokenizer, file) = try TokenizerFixture.load()
        #expect(tokenizer.count == file.tokenizer_len)
    }

    @Test("knows every ChatTTS control token as one id")
    func knowsControlTokens() throws {
        let (tokenizer, _) = try TokenizerFixture.load()
        let controls = ["[Stts]", "[Ptts]", "[spk_emb]", "[empty_spk]", "[uv_break]", "[laugh]", "[Ebreak]",
                        "[break_0]", "[speed_5]", "[oral_2]", "[laugh_0]", "[break_6]"]
        for token in controls {
            let id = try #require(tokenizer.id(of: token), "\(token)")
            #expect(tokenizer.encode(token) == [id])
            #expect(tokenizer.token(of: id) == token)
        }
        #expect(tokenizer.id(of: "[no_such_token]") == nil)
        #expect(tokenizer.token(of: -1) == nil)
        #expect(tokenizer.token(of: tokenizer.count + 100) == nil)
    }

    @Test("decoding then encoding refined text gives the same ids back")
    func refineRoundTrip() throws {
        let (tokenizer, _) = try TokenizerFixture.load()
        let text = "[Stts][spk_emb][speed_5]你好[uv_break]世界，hello world[laugh][Ptts]"
        let ids = tokenizer.encode(text)
        #expect(tokenizer.encode(tokenizer.decode(ids)) == ids)
    }
}

/// A hand-made tokenizer.json exercising what the ChatTTS file does not: lstrip/rstrip/single_word/normalized
/// added tokens, special tokens that are also vocabulary entries, canonically equivalent vocabulary entries, and
/// characters whose class changed after Unicode 8.0. The ids were produced by `tokenizers` 0.22.2
/// (`Tokenizer.from_str(json).encode(text, add_special_tokens=False)`).
private enum MiniTokenizer {
    static let json = #"""
        {
        "added_tokens": [
         {"id": 0, "content": "[PAD]", "single_word": false,
          "lstrip": false, "rstrip": false, "normalized": false, "special": true},
         {"id": 1, "content": "[UNK]", "single_word": false,
          "lstrip": false, "rstrip": false, "normalized": false, "special": true},
         {"id": 60, "content": "[Stts]", "single_word": false,
          "lstrip": false, "rstrip": false, "normalized": false, "special": true},
         {"id": 61, "content": "[uv_break]", "single_word": false,
          "lstrip": false, "rstrip": false, "normalized": false, "special": true},
         {"id": 62, "content": "[uv_break]x", "single_word": false,
          "lstrip": false, "rstrip": false, "normalized": false, "special": true},
         {"id": 63, "content": "<mask>", "single_word": false,
          "lstrip": true, "rstrip": true, "normalized": false, "special": false},
         {"id": 64, "content": "Yesterday", "single_word": false,
          "lstrip": false, "rstrip": false, "normalized": true, "special": false},
         {"id": 8, "content": "ony", "single_word": true,
          "lstrip": false, "rstrip": false, "normalized": true, "special": false},
         {"id": 2, "content": "hello", "single_word": false,
          "lstrip": false, "rstrip": false, "normalized": false, "special": true}
        ],
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
         "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": null,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]",
         "continuing_subword_prefix": "##", "max_input_chars_per_word": 10, "vocab": {
         "[PAD]": 0, "[UNK]": 1, "hello": 2, "world": 3, "the": 4, "un": 5, "##able": 6, "##s": 7,
         "ony": 8, "a": 9, "b": 10, "c": 11, "d": 12, "e": 13, "i": 14, "n": 15, "o": 16, "s": 17, "t": 18,
         "y": 19, "##a": 20, "##b": 21, "##c": 22, "##d": 23, "##e": 24, "##i": 25, "##n": 26, "##o": 27,
         "##t": 28, "##y": 29, ",": 30, ".": 31, "!": 32, "-": 33, "'": 34, "[": 35, "]": 36, "_": 37,
         "\u4f60": 38, "\u597d": 39, "\u4e16": 40, "\u754c": 41, "\u8c48": 42, "\u03a9": 43, "\u2126": 44,
         "\u03c3": 45, "\u1680": 46, "\u166d": 47, "\u2e43": 48, "x\u2e43": 49, "##\u0307": 50,
         "\u00e9": 51, "e\u0301": 52, "q": 53, "##q": 54, "<": 55, ">": 56, "m": 57, "k": 58,
         "e\ud806\udd38a": 59
        }}}
        """#

    static let cases: [(text: String, ids: [Int])] = [
        ("hello world", [2, 3]),
        ("Hello<mask>world", [2, 63, 3]),
        ("hello <mask>  world", [2, 63, 3]),
        ("a <mask> <mask> b", [9, 63, 63, 10]),
        ("I met Yesterday", [14, 57, 24, 28, 64]),
        ("YESTERDAY!", [64, 32]),
        ("yesterday", [64]),
        ("ony", [8]),
        ("tony", [18, 27, 26, 29]),
        ("ony.", [8, 31]),
        ("ony\u{301}", [8]),
        ("x ony y", [1, 8, 19]),
        ("[uv_break]x", [62]),
        ("[uv_break] x", [61, 1]),
        ("[Stts]hello", [60, 2]),
        ("hellohello", [2, 2]),
        ("unable", [5, 6]),
        ("unables", [5, 6, 7]),
        ("unablex", [1]),
        ("abcdefghijk", [1]),
        ("abcdeabcde", [9, 21, 22, 23, 24, 20, 21, 22, 23, 24]),
        ("\u{F900}", [42]),
        ("\u{8C48}", [42]),
        ("\u{2126}", [1]),
        ("\u{3A9}", [1]),
        ("\u{3A3}", [45]),
        ("\u{391}\u{3A3}", [1]),
        ("a\u{2E43}b", [1]),
        ("x\u{2E43}", [49]),
        ("a\u{166D}b", [9, 47, 10]),
        ("a\u{890}b", [1]),
        ("a\u{AD}b", [9, 21]),
        ("a\u{200B}b", [9, 21]),
        ("a\u{1680}b", [9, 10]),
        ("I\u{307}", [14]),
        ("\u{130}", [14]),
        ("e\u{301}", [13]),
        ("\u{E9}", [13]),
        ("\u{4F60}\u{597D}\u{4E16}\u{754C}", [38, 39, 40, 41]),
        ("\u{4F60}\u{597D}<mask>\u{4E16}\u{754C}", [38, 39, 63, 40, 41]),
        ("q\u{903}q", [1]),
        ("don't", [12, 27, 26, 34, 18]),
        ("a-b_c", [9, 33, 10, 37, 11]),
        ("[UNK]", [1]),
        ("[PAD][PAD]", [0, 0]),
        ("e\u{301}\u{11938}a\u{301}", [59]),
        ("\u{11938}", [1]),
    ]
    static let count = 65
    static let decodes: [(ids: [Int], text: String, skippingSpecial: String)] = [
        ([2, 3], "hello world", "world"),
        ([2, 7], "hellos", "##s"),
        ([5, 6, 7], "unables", "unables"),
        ([2, 32, 3], "hello! world", "! world"),
        ([34, 17], "' s", "' s"),
        ([2, 60, 3], "hello [Stts] world", "world"),
        ([63, 2], "<mask> hello", "<mask>"),
        ([999, 2], "hello", ""),
        ([28, 9], "##t a", "##t a"),
    ]
    static let cleanedUpDecodes: [(ids: [Int], text: String)] = [
        ([2, 34, 17], "hello's"),
        ([2, 34, 17, 3], "hello's world"),
        ([9, 31, 2], "a. hello"),
        ([2, 32, 32], "hello!!"),
        ([9, 34, 10, 34], "a'b '"),
    ]

    static func make(config: String? = nil) throws -> Tokenizer {
        try Tokenizer(tokenizerJSON: Data(json.utf8), configJSON: config.map { Data($0.utf8) })
    }
}

@Suite("Tokenizer rules of the tokenizers library")
struct TokenizerRuleTests {
    @Test("matches tokenizers 0.22 on flags, Unicode 8.0 classes, normalization and WordPiece edge cases")
    func encodesLikeLibrary() throws {
        let tokenizer = try MiniTokenizer.make()
        for c in MiniTokenizer.cases {
            #expect(tokenizer.encode(c.text) == c.ids, "text: \(c.text.debugDescription)")
        }
    }

    @Test("counts an added token that is also a vocabulary entry once")
    func countsUnion() throws {
        #expect(try MiniTokenizer.make().count == MiniTokenizer.count)
    }

    @Test("keeps canonically equivalent vocabulary entries apart")
    func keepsEquivalentEntriesApart() throws {
        let tokenizer = try MiniTokenizer.make()
        #expect(tokenizer.id(of: "\u{3A9}") == 43)
        #expect(tokenizer.id(of: "\u{2126}") == 44)
        #expect(tokenizer.id(of: "\u{E9}") == 51)
        #expect(tokenizer.id(of: "e\u{301}") == 52)
        #expect(tokenizer.id(of: "\u{F900}") == nil)
        #expect(tokenizer.token(of: 44).map(scalars) == [0x2126])
    }

    @Test("decodes with the WordPiece decoder, with and without special tokens")
    func decodesLikeLibrary() throws {
        let tokenizer = try MiniTokenizer.make()
        for c in MiniTokenizer.decodes {
            #expect(tokenizer.decode(c.ids) == c.text, "ids: \(c.ids)")
            #expect(tokenizer.decode(c.ids, skipSpecialTokens: true) == c.skippingSpecial, "ids: \(c.ids)")
        }
    }

    @Test("applies transformers' clean-up of spaces when tokenizer_config.json asks for it")
    func cleansUpWhenConfigured() throws {
        let tokenizer = try MiniTokenizer.make(config: #"{"clean_up_tokenization_spaces": true}"#)
        for c in MiniTokenizer.cleanedUpDecodes {
            #expect(tokenizer.decode(c.ids) == c.text, "ids: \(c.ids)")
        }
        let plain = try MiniTokenizer.make(config: #"{"clean_up_tokenization_spaces": false}"#)
        #expect(plain.decode([2, 34, 17]) == "hello ' s")
    }

    @Test("names the file and the problem when tokenizer.json is missing or malformed")
    func reportsLoadErrors() throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("tokenizer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("tokenizer.json")

        func loadError() -> Tokenizer.LoadError? {
            do {
                _ = try Tokenizer(contentsOf: folder)
                return nil
            } catch let error as Tokenizer.LoadError {
                return error
            } catch {
                return nil
            }
        }

        var error = try #require(loadError())
        #expect(error.file == file.path)
        #expect(error.reason.contains("cannot be read"))

        try Data(#"{"model": {"type": "WordPiece", "vocab": {"a": 0}"#.utf8).write(to: file)
        error = try #require(loadError())
        #expect(error.reason.contains("not valid JSON"))

        try Data(#"{"model": {"type": "BPE", "vocab": {}}}"#.utf8).write(to: file)
        error = try #require(loadError())
        #expect(error.reason.contains("BPE"))

        try Data(#"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"a": 0}}}"#.utf8).write(to: file)
        error = try #require(loadError())
        #expect(error.description.contains("tokenizer.json") && error.reason.contains("[UNK]"))

        try Data(#"{"truncation": {"max_length": 8}, "model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}}"#.utf8)
            .write(to: file)
        error = try #require(loadError())
        #expect(error.reason.contains("truncation"))

        try Data(#"{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0}}}"#.utf8).write(to: file)
        #expect(loadError() == nil)
        #expect(try Tokenizer(contentsOf: folder).encode("x y") == [0])  // no pre-tokenizer: one word
    }
}

@Suite("Tokenizer JSON reader")
struct TokenizerJSONTests {
    typealias JSON = Tokenizer.JSON

    @Test("keeps members in file order, duplicates included, through nested objects and arrays")
    func readsInOrder() throws {
        let json = try JSON.parse(Array(#" {"b": [1, {"x": null}, [], {}], "a": true, "b": "é" } "#.utf8))
        let entries = try #require(json.objectEntries)
        #expect(entries.map(\.key) == ["b", "a", "b"])
        #expect(json["b"]?.string == "é")
        let items = try #require(entries[0].value.array)
        #expect(items.count == 4 && items[0].int == 1 && items[1]["x"]?.isNull == true)
        #expect(items[2].array?.isEmpty == true && items[3].objectEntries?.isEmpty == true)
    }

    @Test("rejects malformed input with what was expected and where", arguments: [
        (#"{"a" 1}"#, "expected ':'", 5), (#"{"a": 1 "b": 2}"#, "expected ',' or '}'", 8),
        (#"[1, 2"#, "unexpected end of input", 5), (#"[1; 2]"#, "expected ',' or ']'", 2),
        (#"{1: 2}"#, "expected a key", 1), (#"[1,]"#, "invalid value", 3),
    ])
    func rejectsMalformed(text: String, message: String, offset: Int) {
        let error = #expect(throws: JSON.ParseError.self) { try JSON.parse(Array(text.utf8)) }
        #expect(error?.message == message && error?.offset == offset, "\(text)")
    }
}
