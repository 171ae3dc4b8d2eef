import ChatTTS
import Foundation
import Testing

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
        /// With identity normalizers registered; nil where the official code raises (an empty text).
        let expectedRegistered: String?

        enum CodingKeys: String, CodingKey {
            case text, lang, normalize, homophones, detected, expected
            case expectedRegistered = "expected_registered"
        }
    }

    struct Cases: Decodable {
        let cases: [Case]
    }

    static func load() throws -> [Case] {
        try JSONDecoder().decode(Cases.self, from: Data(contentsOf: file)).cases
    }

    /// Recorded cases (text normalization on) where the default normalizer, with its zh/en rules registered, says
    /// more than the official package on purpose, and why. Every other case must stay exactly the official text.
    static let deliberateDifferences: [String: String] = [
        "今天天气很好！我们去公园吧？": "？ ends the sentence (officially deleted)",
        "价格是100元，约合$14.5。": "numbers and the amount are read",
        "e-mail地址：test@example.com": "a hyphen between letters separates words; @ is read",
        "100%的人都说～好": "the percentage is read",
        "省略号……破折号——间隔号·": "ellipsis and dash pause, the middle dot separates",
        "换行\n测试\t制表\r回车": "whitespace separates words",
        "全角ＡＢＣ和半角abc": "full-width letters are folded to ASCII",
        "It's 5 o'clock: time for tea (and cake).": "the number is read, o'clock keeps a space",
        "Dr. Smith; Ph.D. - expert <b>bold</b>": "a slash separates words",
        "snake_case and CamelCase": "an underscore separates words",
        "Price: $9.99 & tax #1": "the amount, & and #1 are read",
        "What? Really?!": "? ends the sentence, once for ?!",
        "café naïve": "accents are dropped instead of the letters",
        "A-B-C": "a hyphen between letters separates words",
        "abc123 def 中文": "the number is read",
        "123": "the number is read",
        "你好!世界?": "? ends the sentence",
        "2024年3月5日": "the date is read",
        "下午3点，第3名": "the time and the ordinal are read",
        "¥1,280.50": "the amount is read",
        "3.5%": "the percentage is read",
        "0": "the number is read",
        "Call 13800138000 now!": "the phone number is read",
        "a]b[x]c中文中文！": "a registered normalizer runs the official tag scanner twice, and the stray ] then drops [x]"
            + " (the official register does the same: expected_registered)",
    ]

    static func homophones(_ c: Case) -> [Character: Character] {
        var map: [Character: Character] = [:]
        for (from, to) in c.homophones { map[Character(from)] = Character(to) }
        return map
    }

    static func language(_ c: Case) -> Normalizer.Language? { c.lang.flatMap(Normalizer.Language.init(rawValue:)) }
}

private func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }

@Suite("Normalizer against the official ChatTTS normalizer")
struct NormalizerReferenceTests {
    @Test("without language normalizers (the official configuration) it produces exactly the official text")
    func normalizesLikeReference() throws {
        let cases = try NormalizerFixture.load()
        #expect(cases.count >= 50)
        for c in cases {
            let map = NormalizerFixture.homophones(c)
            let normalizer = Normalizer(homophones: map, languageNormalizers: [:])
            let output = normalizer.normalize(c.text, language: NormalizerFixture.language(c),
                                              textNormalization: c.normalize, homophoneReplacement: !map.isEmpty)
            #expect(scalars(output) == scalars(c.expected), "text: \(c.text.debugDescription)")
        }
    }

    @Test("by default it keeps the official text except where its rules read or map on purpose")
    func defaultDiffersOnlyOnPurpose() throws {
        let cases = try NormalizerFixture.load()
        var differing: Set<String> = []
        for c in cases {
            let map = NormalizerFixture.homophones(c)
            let output = Normalizer(homophones: map).normalize(
                c.text, language: NormalizerFixture.language(c), textNormalization: c.normalize,
                homophoneReplacement: !map.isEmpty)
            if c.normalize, let reason = NormalizerFixture.deliberateDifferences[c.text] {
                differing.insert(c.text)
                #expect(output != c.expected, "\(c.text.debugDescription) should differ: \(reason)")
            } else {
                #expect(scalars(output) == scalars(c.expected), "text: \(c.text.debugDescription)")
            }
        }
        #expect(differing == Set(NormalizerFixture.deliberateDifferences.keys), "a listed difference has no case")
    }

    @Test("with identity normalizers registered it splits tags exactly as the official register")
    func registeredSplitsLikeReference() throws {
        let identity: [Normalizer.Language: @Sendable (String) -> String] = [.zh: { $0 }, .en: { $0 }]
        for c in try NormalizerFixture.load() {
            let map = NormalizerFixture.homophones(c)
            let output = Normalizer(homophones: map, languageNormalizers: identity).normalize(
                c.text, language: NormalizerFixture.language(c), textNormalization: c.normalize,
                homophoneReplacement: !map.isEmpty)
            // Where the official code raises (an empty text), the text stays empty.
            #expect(scalars(output) == scalars(c.expectedRegistered ?? ""), "text: \(c.text.debugDescription)")
        }
    }

    @Test("with text normalization off the default normalizer is the official one (do_text_normalization=False)")
    func normalizationOffIsOfficial() throws {
        for c in try NormalizerFixture.load() {
            let map = NormalizerFixture.homophones(c)
            let ours = Normalizer(homophones: map).normalized(
                c.text, language: NormalizerFixture.language(c), textNormalization: false,
                homophoneReplacement: !map.isEmpty)
            let official = Normalizer(homophones: map, languageNormalizers: [:]).normalized(
                c.text, language: NormalizerFixture.language(c), textNormalization: false,
                homophoneReplacement: !map.isEmpty)
            #expect(ours == official, "text: \(c.text.debugDescription)")
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
        let text = "[Stts][spk_emb]你好123！[uv_break]世界~[Ptts]"
        #expect(Normalizer(languageNormalizers: [:]).normalize(text) == "[Stts][spk_emb]你好。[uv_break]世界[Ptts]")
        #expect(Normalizer().normalize(text) == "[Stts][spk_emb]你好一百二十三。[uv_break]世界[Ptts]")
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

    @Test("reads numbers in the detected language and says which one it read")
    func readsInDetectedLanguage() {
        let zh = Normalizer().normalized("2024年3月5日我有3个苹果")
        #expect(zh == NormalizedText(text: "二零二四年三月五日我有三个苹果", language: .zh, removed: []))
        let en = Normalizer().normalized("I have 3 apples, in 1999")
        #expect(en == NormalizedText(text: "I have three apples, in nineteen ninety nine", language: .en, removed: []))
        #expect(Normalizer().normalized("3.5%", language: .zh).language == .zh)
        #expect(Normalizer().normalize("0") == "zero")
        #expect(Normalizer().normalize("0") == Normalizer().normalized("0").text)
    }

    @Test("reads the text between tags and leaves the tags, numbers in them included, as they are")
    func readsBetweenTags() {
        let normalizer = Normalizer()
        #expect(normalizer.normalize("[speed_5]第3名[break_2]得了100分[uv_break]")
            == "[speed_5]第三名[break_2]得了一百分[uv_break]")
        #expect(normalizer.normalize("3[uv_break]5", language: .zh) == "三[uv_break]五")
        #expect(normalizer.normalize("[oral_2][laugh_0][break_6]") == "[oral_2][laugh_0][break_6]")
        #expect(normalizer.normalize("[uv_break]I have 2[laugh] cats") == "[uv_break]I have two[laugh] cats")
    }

    @Test("reports each deleted character once, in order, as written, and not what it reads or silences",
          arguments: [
              ("开心😀快乐👍🏽🇨🇳😀", Normalizer.Language?.none, "开心快乐", ["😀", "👍🏽", "🇨🇳"]),
              ("こんにちは世界", nil, "世界", ["こ", "ん", "に", "ち", "は"]),
              ("#话题#", nil, "话题", ["#"]),
              ("A＃B", .en, "AB", ["＃"]),
              ("100%的人都说～好", nil, "百分之一百的人都说好", ["～"]),
              ("“引号”和‘单引号’", nil, "引号和单引号", []),
              ("[uv_break]😀好[laugh]", nil, "[uv_break]好[laugh]", ["😀"]),
              ("αβ 3", .en, " three", ["α", "β"]),
              ("Hello, world.", nil, "Hello, world.", []),
          ] as [(String, Normalizer.Language?, String, [Character])])
    func reportsRemovedCharacters(_ text: String, _ language: Normalizer.Language?, _ expected: String,
                                  _ removed: [Character]) {
        let result = Normalizer().normalized(text, language: language)
        #expect(result.text == expected)
        #expect(result.removed == removed)
    }

    @Test("with text normalization off or the official configuration, deletes and reports digits and symbols")
    func reportsOfficialDeletions() {
        let off = Normalizer().normalized("2024年3月5日", textNormalization: false)
        #expect(off == NormalizedText(text: "年月日", language: .zh, removed: ["2", "0", "4", "3", "5"]))
        let official = Normalizer(languageNormalizers: [:]).normalized("价格是100元，约合$14.5。")
        #expect(official.text == "价格是元，约合。。")
        #expect(official.removed == ["1", "0", "$", "4", "5"])  // as written, not as the full-width ＄ deleted
        let decomposed = Normalizer().normalized("cafe\u{301}", textNormalization: false)
        #expect(decomposed.text == "cafe" && decomposed.removed == ["\u{301}"])
        #expect(Normalizer().normalized("cafe\u{301}") == NormalizedText(text: "cafe", language: .en, removed: []))
    }

    @Test("never fails on mixed symbols, says only what the model can say, and reports only characters it was given")
    func randomTexts() {
        var random = SeededRNG(seed: 9)  // seeded, so that a failure names a text that fails again
        let pieces = ["0", "1", "2", "5", "9", "00", "2024", "13800138000", "-", "−", "+", ".", ",", ":", "/", "%", "‰",
                      "$", "¥", "€", "£", "°C", "℃", "kg", "m", "h", "s", "st", "年", "月", "日", "点", "第", "个",
                      "a", "A", "x", "No", "v", "March", "am", " ", "[", "]", "_", "(", ")", "（", "）", "？", "！",
                      "?", "!", "…", "—", "–", "~", "～", "😀", "#", "＃", "①", "½", "²", "e\u{301}", "é", "\n",
                      "'", "’", "\"", "“", "×", "÷", "=", "&", "@", "[uv_break]", "中", "文", "〇", "ｶ"]
        let normalizer = Normalizer()
        for _ in 0..<3000 {
            let text = (0..<Int.random(in: 0..<16, using: &random)).map { _ in pieces.randomElement(using: &random)! }
                .joined()
            let given = Set(text.unicodeScalars)
            for language in [nil, Normalizer.Language.zh, .en] {
                let result = normalizer.normalized(text, language: language)
                let spoken = result.text.replacingOccurrences(of: "[uv_break]", with: "")
                #expect(Normalizer(languageNormalizers: [:]).normalize(spoken, textNormalization: false) == spoken,
                        "text: \(text.debugDescription)")
                #expect(result.removed.allSatisfy { $0.unicodeScalars.allSatisfy(given.contains) },
                        "text: \(text.debugDescription)")
            }
        }
    }

    @Test("leaves text it can already say unchanged")
    func leavesCleanTextAlone() {
        for text in ["你好，世界。", "Hello, world.", "plain words", "[uv_break]", ""] {
            #expect(Normalizer().normalize(text) == text)
        }
    }
}
