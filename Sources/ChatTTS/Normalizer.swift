/// Text clean-up before tokenization, with the behaviour of the official `Normalizer.__call__`
/// (`do_text_normalization=True`) as the official package ships it, where no language normalizer is registered.
///
/// The GPT only pronounces Chinese ideographs, ASCII letters and a few pauses (`，。、,.` and space), so the official
/// front end turns other punctuation into pauses and deletes everything else, digits included. The rules, in order:
/// 1. Language: the text is Chinese (`zh`) when it has more ideographs U+4E00...U+9FFF than English words, a word
///    being a whole run of word characters (Python's `\w`: letters, numbers, `_`) made only of ASCII letters;
///    otherwise English (`en`). A caller may force either.
/// 2. If a normalizer is registered for that language (none by default), it rewrites each stretch of text
///    between `[...]` tags; the tags are kept as they are.
/// 3. Chinese text only: ASCII punctuation becomes its full-width form in the whole text (`,` -> `，`, `.` -> `。`,
///    `!` -> `！`, `"` -> `“`, ...; brackets and `_` stay, so tags survive).
/// 4. Characters are "invalid" when they are not ideographs U+4E00...U+9FFF, ASCII letters, `，。、,.` or space,
///    tags of the form `[word_chars]` aside. If there are any, pauses are simplified in the whole text
///    (`：；（）【】『』「」《》－` -> `，`, `！` -> `。`, `:;()<>-` -> `,`, `!` -> `.`).
/// 5. Homophone replacement (optional map, off by default here since we do not ship its data): each character
///    of the map is swapped for its better-pronounced twin.
/// 6. If step 4 found invalid characters, they are deleted from the text between tags (tags are kept verbatim).
///
/// The tag splitting of steps 2 and 6 copies the official scanner's quirks on purpose, since they change the
/// text the model sees: an unclosed `[` drops the rest of the text, a `[` inside a tag restarts the tag, and a
/// stray `]` adds an empty tag that shifts later tags one text stretch further back.
public struct Normalizer: Sendable {
    public enum Language: String, Sendable, CaseIterable {
        case zh
        case en
    }

    /// Single-scalar Basic Multilingual Plane replacements (the official map works on UTF-16 units).
    let homophones: [Unicode.Scalar: Unicode.Scalar]
    let languageNormalizers: [Language: @Sendable (String) -> String]

    /// - Parameters:
    ///   - homophones: characters the model mispronounces, each mapped to a homophone it reads correctly (the
    ///     official `homophones_map.json`). Entries that are not one BMP scalar on each side are ignored, as
    ///     the official UTF-16 replacement never matches them.
    ///   - languageNormalizers: optional per-language rewriters (the official `register`), e.g. one that spells
    ///     out numbers; applied to the text between tags.
    public init(homophones: [Character: Character] = [:],
                languageNormalizers: [Language: @Sendable (String) -> String] = [:]) {
        var map: [Unicode.Scalar: Unicode.Scalar] = [:]
        for (from, to) in homophones {
            guard from.unicodeScalars.count == 1, to.unicodeScalars.count == 1,
                  let f = from.unicodeScalars.first, let t = to.unicodeScalars.first,
                  f.value <= 0xFFFF, t.value <= 0xFFFF else { continue }
            map[f] = t
        }
        self.homophones = map
        self.languageNormalizers = languageNormalizers
    }

    /// Normalizes one text. `language` overrides detection; `textNormalization: false` skips steps 1-3 (as
    /// `do_text_normalization=False`), `homophoneReplacement: false` skips step 5.
    public func normalize(_ text: String, language: Language? = nil, textNormalization: Bool = true,
                          homophoneReplacement: Bool = true) -> String {
        var text = Array(text.unicodeScalars)
        if textNormalization {
            let lang = language ?? Self.detectLanguage(text)
            if let rewrite = languageNormalizers[lang] {
                text = Self.mapTextBetweenTags(text) { Array(rewrite(Self.string($0)).unicodeScalars) }
            }
            if lang == .zh { text = text.map { Self.fullWidth[$0] ?? $0 } }
        }
        let hasInvalid = Self.hasInvalidCharacters(text)
        if hasInvalid { text = text.map { Self.pauseSimplification[$0] ?? $0 } }
        if homophoneReplacement && !homophones.isEmpty { text = text.map { homophones[$0] ?? $0 } }
        if hasInvalid { text = mapTextBetweenTagsRemovingInvalid(text) }
        return Self.string(text)
    }

    /// The language rule of step 1.
    public static func detectLanguage(_ text: String) -> Language {
        detectLanguage(Array(text.unicodeScalars))
    }

    static func detectLanguage(_ text: [Unicode.Scalar]) -> Language {
        let ideographs = text.count { $0.value >= 0x4E00 && $0.value <= 0x9FFF }
        var words = 0
        var i = 0
        while i < text.count {
            guard isPythonWordCharacter(text[i]) else {
                i += 1
                continue
            }
            // `\b[A-Za-z]+\b` can only match a whole run of word characters, and does when all are ASCII letters.
            var allLetters = true
            while i < text.count && isPythonWordCharacter(text[i]) {
                let v = text[i].value
                if !((v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A)) { allLetters = false }
                i += 1
            }
            if allLetters { words += 1 }
        }
        return ideographs > words ? .zh : .en
    }

    // MARK: - Character sets

    /// What the model can say: ideographs U+4E00...U+9FFF, ASCII letters, `，。、,.` and space.
    static func isAllowed(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x41...0x5A, 0x61...0x7A, 0x20, 0x2C, 0x2E, 0xFF0C, 0x3002, 0x3001: return true
        default: return false
        }
    }

    /// Python's `\w` for `str` patterns: letters, anything with a numeric value, and `_`.
    static func isPythonWordCharacter(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII {
            let v = c.value
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
        }
        let p = c.properties
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return p.numericType != nil
        }
    }

    /// Step 4: looks for a character outside the allowed set once `[word_chars]` tags are taken out.
    static func hasInvalidCharacters(_ text: [Unicode.Scalar]) -> Bool {
        var i = 0
        while i < text.count {
            if text[i] == "[" {
                var j = i + 1
                while j < text.count && isPythonWordCharacter(text[j]) { j += 1 }
                if j > i + 1 && j < text.count && text[j] == "]" {
                    i = j + 1
                    continue
                }
            }
            if !isAllowed(text[i]) { return true }
            i += 1
        }
        return false
    }

    /// Step 3's map: ASCII punctuation to full width (not `[`, `]` or `_`).
    static let fullWidth: [Unicode.Scalar: Unicode.Scalar] = scalarMap([
        ("!", "！"), ("\"", "“"), ("'", "‘"), ("#", "＃"), ("$", "＄"), ("%", "％"), ("&", "＆"), ("(", "（"),
        (")", "）"), (",", "，"), ("-", "－"), ("*", "＊"), ("+", "＋"), (".", "。"), ("/", "／"), (":", "："),
        (";", "；"), ("<", "＜"), ("=", "＝"), (">", "＞"), ("?", "？"), ("@", "＠"), ("\\", "＼"), ("^", "＾"),
        ("`", "｀"), ("{", "｛"), ("|", "｜"), ("}", "｝"), ("~", "～"),
    ])

    /// Step 4's map: punctuation the model cannot say becomes the nearest pause it can.
    static let pauseSimplification: [Unicode.Scalar: Unicode.Scalar] = scalarMap([
        ("：", "，"), ("；", "，"), ("！", "。"), ("（", "，"), ("）", "，"), ("【", "，"), ("】", "，"), ("『", "，"),
        ("』", "，"), ("「", "，"), ("」", "，"), ("《", "，"), ("》", "，"), ("－", "，"), (":", ","), (";", ","),
        ("!", "."), ("(", ","), (")", ","), (">", ","), ("<", ","), ("-", ","),
    ])

    static func scalarMap(_ pairs: [(Unicode.Scalar, Unicode.Scalar)]) -> [Unicode.Scalar: Unicode.Scalar] {
        Dictionary(uniqueKeysWithValues: pairs)
    }

    // MARK: - Tags

    /// The official tag scanner: text stretches and `[...]` tags, with its quirks (see the type's documentation).
    static func splitTags(_ text: [Unicode.Scalar]) -> (texts: [[Unicode.Scalar]], tags: [[Unicode.Scalar]]) {
        var texts: [[Unicode.Scalar]] = []
        var tags: [[Unicode.Scalar]] = []
        var currentText: [Unicode.Scalar] = []
        var currentTag: [Unicode.Scalar] = []
        for c in text {
            if c == "[" {
                texts.append(currentText)
                currentText = []
                currentTag = [c]
            } else if !currentTag.isEmpty {
                currentTag.append(c)
            } else {
                currentText.append(c)
            }
            if c == "]" {
                tags.append(currentTag)
                currentTag = []
            }
        }
        if !currentText.isEmpty { texts.append(currentText) }
        return (texts, tags)
    }

    /// The official recombination: each text stretch followed by the next tag; tags left over are dropped.
    static func combineTags(texts: [[Unicode.Scalar]], tags: [[Unicode.Scalar]]) -> [Unicode.Scalar] {
        guard !tags.isEmpty else { return texts.first ?? [] }
        var out: [Unicode.Scalar] = []
        for (i, t) in texts.enumerated() {
            out.append(contentsOf: t)
            if i < tags.count { out.append(contentsOf: tags[i]) }
        }
        return out
    }

    static func mapTextBetweenTags(_ text: [Unicode.Scalar],
                                   _ transform: ([Unicode.Scalar]) -> [Unicode.Scalar]) -> [Unicode.Scalar] {
        let (texts, tags) = splitTags(text)
        return combineTags(texts: texts.map(transform), tags: tags)
    }

    func mapTextBetweenTagsRemovingInvalid(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        Self.mapTextBetweenTags(text) { $0.filter(Self.isAllowed) }
    }

    static func string(_ scalars: [Unicode.Scalar]) -> String {
        String(String.UnicodeScalarView(scalars))
    }
}
