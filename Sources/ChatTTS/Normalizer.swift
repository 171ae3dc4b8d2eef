/// Text clean-up before tokenization: the steps of the official `Normalizer.__call__` (`do_text_normalization=True`),
/// with our zh and en language normalizers registered by default.
///
/// The GPT only pronounces Chinese ideographs, ASCII letters and a few pauses (`，。、,.` and space), so the official
/// front end turns other punctuation into pauses and deletes everything else, digits included; the official package
/// registers no language normalizer, so `2024年3月5日` loses its numbers and `0` leaves nothing to speak. The built-in
/// normalizers (`builtInLanguageNormalizers`, `TextNormalizationRules`) read numbers, dates, times, amounts, units and
/// phone numbers as words and map punctuation to pauses first; `languageNormalizers: [:]` gives the official
/// package's behaviour exactly. The rules, in order:
/// 1. Language: the text is Chinese (`zh`) when it has more ideographs U+4E00...U+9FFF than English words, a word
///    being a whole run of word characters (Python's `\w`: letters, numbers, `_`) made only of ASCII letters;
///    otherwise English (`en`). A caller may force either.
/// 2. If a normalizer is registered for that language (the built-in ones by default), it rewrites each stretch of
///    text between `[...]` tags; the tags are kept as they are.
/// 3. Chinese text only: ASCII punctuation becomes its full-width form in the whole text (`,` -> `，`, `.` -> `。`,
///    `!` -> `！`, `"` -> `“`, ...; brackets and `_` stay, so tags survive).
/// 4. Characters are "invalid" when they are not ideographs U+4E00...U+9FFF, ASCII letters, `，。、,.` or space,
///    tags of the form `[word_chars]` aside. If there are any, pauses are simplified in the whole text
///    (`：；（）【】『』「」《》－` -> `，`, `！` -> `。`, `:;()<>-` -> `,`, `!` -> `.`).
/// 5. Homophone replacement (optional map, off by default here since we do not ship its data): each character
///    of the map is swapped for its better-pronounced twin.
/// 6. If step 4 found invalid characters, they are deleted from the text between tags (tags are kept verbatim).
///    `normalized` reports them as they stood after step 2 (steps 3-5 replace one scalar by one, so a `#` deleted
///    as `＃` is reported as `#`).
///
/// The tag splitting of steps 2 and 6 copies the official scanner's quirks on purpose, since they change the
/// text the model sees: an unclosed `[` drops the rest of the text, a `[` inside a tag restarts the tag, and a
/// stray `]` adds an empty tag that shifts later tags one text stretch further back. With a normalizer registered the
/// scanner runs twice, as in the official code, so a tag shifted by a stray `]` can be dropped the second time
/// (`a]b[x]c` loses `[x]`); an empty text, on which the official registered path raises, stays empty.
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
    ///   - languageNormalizers: per-language rewriters (the official `register`), applied to the text between tags;
    ///     `[:]` for the official package's behaviour, where numbers and most symbols are deleted.
    public init(homophones: [Character: Character] = [:],
                languageNormalizers: [Language: @Sendable (String) -> String] = Normalizer.builtInLanguageNormalizers) {
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

    /// The zh and en rules of `TextNormalizationRules`, the default of `init`.
    public static let builtInLanguageNormalizers: [Language: @Sendable (String) -> String] = [
        .zh: { TextNormalizationRules.chinese.rewrite($0) },
        .en: { TextNormalizationRules.english.rewrite($0) },
    ]

    /// Normalizes one text, saying which language it was read as and what was deleted. `language` overrides
    /// detection; `textNormalization: false` skips steps 2-3 (as `do_text_normalization=False`, which still deletes
    /// what the model cannot say), `homophoneReplacement: false` skips step 5.
    public func normalized(_ text: String, language: Language? = nil, textNormalization: Bool = true,
                           homophoneReplacement: Bool = true) -> NormalizedText {
        var text = Array(text.unicodeScalars)
        let lang = language ?? Self.detectLanguage(text)
        if textNormalization, let rewrite = languageNormalizers[lang] {
            text = Self.mapTextBetweenTags(text) { Array(rewrite(Self.string($0)).unicodeScalars) }
        }
        let asRewritten = text
        if textNormalization && lang == .zh { text = text.map { Self.fullWidth[$0] ?? $0 } }
        let hasInvalid = Self.hasInvalidCharacters(text)
        if hasInvalid { text = text.map { Self.pauseSimplification[$0] ?? $0 } }
        if homophoneReplacement && !homophones.isEmpty { text = text.map { homophones[$0] ?? $0 } }
        var removed: [Int] = []
        if hasInvalid { (text, removed) = Self.removingInvalid(text) }
        return NormalizedText(text: Self.string(text), language: lang,
                              removed: Self.characters(at: removed, of: asRewritten))
    }

    /// The normalized text alone.
    public func normalize(_ text: String, language: Language? = nil, textNormalization: Bool = true,
                          homophoneReplacement: Bool = true) -> String {
        normalized(text, language: language, textNormalization: textNormalization,
                   homophoneReplacement: homophoneReplacement).text
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
    /// Generic so that step 6 can split positions and learn which ones it deletes.
    static func splitTags<Element>(_ text: [Element], scalar: (Element) -> Unicode.Scalar)
        -> (texts: [[Element]], tags: [[Element]])
    {
        var texts: [[Element]] = []
        var tags: [[Element]] = []
        var currentText: [Element] = []
        var currentTag: [Element] = []
        for element in text {
            let c = scalar(element)
            if c == "[" {
                texts.append(currentText)
                currentText = []
                currentTag = [element]
            } else if !currentTag.isEmpty {
                currentTag.append(element)
            } else {
                currentText.append(element)
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
    static func combineTags<Element>(texts: [[Element]], tags: [[Element]]) -> [Element] {
        guard !tags.isEmpty else { return texts.first ?? [] }
        var out: [Element] = []
        for (i, t) in texts.enumerated() {
            out.append(contentsOf: t)
            if i < tags.count { out.append(contentsOf: tags[i]) }
        }
        return out
    }

    static func mapTextBetweenTags(_ text: [Unicode.Scalar],
                                   _ transform: ([Unicode.Scalar]) -> [Unicode.Scalar]) -> [Unicode.Scalar] {
        let (texts, tags) = splitTags(text) { $0 }
        return combineTags(texts: texts.map(transform), tags: tags)
    }

    /// Step 6: the text without what the model cannot say between tags, and the positions deleted (ascending).
    static func removingInvalid(_ text: [Unicode.Scalar]) -> (text: [Unicode.Scalar], removed: [Int]) {
        let (texts, tags) = splitTags(Array(text.indices)) { text[$0] }
        var removed: [Int] = []
        let kept = texts.map { stretch in
            stretch.filter { i in
                if isAllowed(text[i]) { return true }
                removed.append(i)
                return false
            }
        }
        return (combineTags(texts: kept, tags: tags).map { text[$0] }, removed)
    }

    /// The characters of `text` at `positions`, each once, in order of first appearance. Scalars of one character
    /// stay together (a flag, an emoji with a skin tone), and a mark deleted from a kept letter is reported alone.
    static func characters(at positions: [Int], of text: [Unicode.Scalar]) -> [Character] {
        guard !positions.isEmpty else { return [] }
        let deleted = Set(positions)
        var result: [Character] = []
        var seen: Set<Character> = []
        var offset = 0
        for character in string(text) {
            let count = character.unicodeScalars.count
            let gone = (offset..<offset + count).filter(deleted.contains).map { text[$0] }
            offset += count
            for c in string(gone) where seen.insert(c).inserted { result.append(c) }
        }
        return result
    }

    static func string(_ scalars: [Unicode.Scalar]) -> String {
        String(String.UnicodeScalarView(scalars))
    }
}

/// A normalized text with what the normalizer decided on the way.
public struct NormalizedText: Sendable, Hashable {
    public var text: String
    /// The language the text was read as: forced, or detected (also when text normalization is off).
    public var language: Normalizer.Language
    /// The characters deleted because the model cannot say them, each once, in the order they first appear (for an
    /// `X-Removed-Characters` header). Characters the rules turn into words or pauses, or drop as silent (quotation
    /// marks), are not listed.
    public var removed: [Character]

    public init(text: String, language: Normalizer.Language, removed: [Character]) {
        self.text = text
        self.language = language
        self.removed = removed
    }
}
