import Foundation
import Testing
@testable import ChatTTS

/// Cases recorded from the official `Normalizer` by `scripts/reference/make_normalizer_cases.py`.
private enum NormalizerFixture {
    static let file = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/Fixtures/reference/normalizer_cases.json")

    struct Case: Decodable {
        let text: String
        let lang: String?
        let normalize: Bool
        let homophones: [String: String]
        let detected: String
        let expected: String
    }

    struct Cases: Decodable {
        let cases: [Case]
    }

    static func load() throws -> [Case] {
        try JSONDecoder().decode(Cases.self, from: Data(contentsOf: file)).cases
    }
}

private func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }

@Suite("Normalizer against the official ChatTTS normalizer")
struct NormalizerReferenceTests {
    @Test("produces exactly the official text for every recorded case")
    func normalizesLikeReference() throws {
        let cases = try NormalizerFixture.load()
        #expect(cases.count >= 30)
        for c in cases {
            var map: [Character: Character] = [:]
            for (from, to) in c.homophones { map[Character(from)] = Character(to) }
            let normalizer = Normalizer(homophones: map)
            let output = normalizer.normalize(c.text, language: c.lang.flatMap(Normalizer.Language.init(rawValue:)),
                                              textNormalization: c.normalize, homophoneReplacement: !map.isEmpty)
            #expect(scalars(output) == scalars(c.expected), "text: \(c.text.debugDescription)")
        }
    }

    @Test("detects the language like the official character and word count")
    func detectsLanguageLikeReference() throws {
        for c in try NormalizerFixture.load() {
            #expect(Normalizer.detectLanguage(c.text).rawValue == c.detected, "text: \(c.text.debugDescription)")
        }
    }
}

@Suite("Normalizer rules")
struct NormalizerRuleTests {
    @Test("keeps control tags intact while deleting what the model cannot say")
    func keepsTags() {
        let output = Normalizer().normalize("[Stts][spk_emb]你好123！[uv_break]世界~[Ptts]")
        #expect(output == "[Stts][spk_emb]你好。[uv_break]世界[Ptts]")
    }

    @Test("counts a word only when its whole run of word characters is ASCII letters")
    func wordsAreWholeRuns() {
        #expect(Normalizer.detectLanguage("abc中文") == .zh)   // one run, not all ASCII: no English word
        #expect(Normalizer.detectLanguage("abc 中") == .en)    // 1 word vs 1 ideograph: tie goes to English
        #expect(Normalizer.detectLanguage("abc_d x1 y 中文") == .zh)
    }

    @Test("runs a registered language normalizer on the text between tags only")
    func appliesLanguageNormalizerBetweenTags() {
        let spellDigits: @Sendable (String) -> String = { $0.replacingOccurrences(of: "2", with: "二") }
        let normalizer = Normalizer(languageNormalizers: [.zh: spellDigits])
        #expect(normalizer.normalize("第2天[break_2]第2次") == "第二天[break_2]第二次")
        #expect(normalizer.normalize("day 2", language: .en) == "day ")
    }

    @Test("replaces homophones only when asked, and ignores entries outside one BMP scalar")
    func homophoneReplacement() {
        let normalizer = Normalizer(homophones: ["的": "地", "😀": "笑", "了": "😀"])
        #expect(normalizer.normalize("我的书丢了") == "我地书丢了")
        #expect(normalizer.normalize("我的书", homophoneReplacement: false) == "我的书")
        #expect(Normalizer().normalize("我的书") == "我的书")
    }

    @Test("leaves text it can already say unchanged")
    func leavesCleanTextAlone() {
        for text in ["你好，世界。", "Hello, world.", "plain words", "[uv_break]", ""] {
            #expect(Normalizer().normalize(text) == text)
        }
    }
}
