import Foundation

/// The BERT WordPiece tokenizer of ChatTTS, read from the HuggingFace `tokenizer.json` that transformers'
/// `BertTokenizerFast.save_pretrained` writes (`asset/tokenizer/`).
///
/// `encode` reproduces the `tokenizers` library's `encode(text, add_special_tokens=False)` id for id, because the
/// GPT was trained on exactly those ids: a different split of one character changes the speech. The steps, in the
/// library's order:
/// 1. added tokens whose `normalized` flag is off (all ChatTTS control tokens: `[Stts]`, `[spk_emb]`,
///    `[uv_break]`, `[speed_5]`, ...) are cut out of the raw text, leftmost-longest, honouring `single_word`,
///    `lstrip` and `rstrip`; they are never split further;
/// 2. each remaining piece goes through the BertNormalizer, then added tokens whose `normalized` flag is on are
///    cut out of the normalized piece the same way;
/// 3. the rest is split on whitespace and around every punctuation character (BertPreTokenizer);
/// 4. each word becomes greedy longest-match-first WordPiece ids, or one `[UNK]`.
///
/// Text is handled as Unicode scalars (the library's `char`), never as Swift `Character`s or `String` keys:
/// Swift compares strings by canonical equivalence, which would make U+F900 look up the vocabulary entry of
/// U+8C48 and would merge such vocabulary entries while loading. Character classes that the library takes from
/// the Unicode 8.0 tables it was built with are embedded below (`BertCharacterClass`), so results do not move
/// with the Swift toolchain's Unicode version.
///
/// Immutable after `init`, so one instance is shared by every request.
public final class Tokenizer: Sendable {
    /// A malformed or unsupported tokenizer file: names the file and what is wrong with it.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public let file: String
        public let reason: String
        public var description: String { "\(file): \(reason)" }
    }

    /// Size of the vocabulary including added tokens, like `len(tokenizer)`: the number of distinct token
    /// strings, so an added token that is also in the WordPiece vocabulary counts once.
    public let count: Int

    let model: WordPieceModel
    let normalizer: BertNormalizer?
    /// Whether a BertPreTokenizer is configured; without one each piece is handed to WordPiece whole.
    let preTokenizes: Bool
    let added: AddedVocabulary
    let decoder: WordPieceDecoder?
    /// transformers' `clean_up_tokenization_spaces` from `tokenizer_config.json` (its default is false).
    let cleansUpTokenizationSpaces: Bool

    /// Loads `tokenizer.json` (and `tokenizer_config.json` when present) from `folderURL`, e.g. `asset/tokenizer`.
    public convenience init(contentsOf folderURL: URL) throws {
        let fileURL = folderURL.appendingPathComponent("tokenizer.json")
        let data: Data
        do { data = try Data(contentsOf: fileURL) } catch {
            throw LoadError(file: fileURL.path, reason: "cannot be read (\(error.localizedDescription))")
        }
        let configURL = folderURL.appendingPathComponent("tokenizer_config.json")
        let configData = FileManager.default.fileExists(atPath: configURL.path) ? try? Data(contentsOf: configURL) : nil
        try self.init(tokenizerJSON: data, configJSON: configData, source: fileURL.path, configSource: configURL.path)
    }

    /// Builds a tokenizer from the bytes of `tokenizer.json` and, optionally, `tokenizer_config.json`; `source`
    /// names them in errors.
    public init(tokenizerJSON: Data, configJSON: Data? = nil, source: String = "tokenizer.json",
                configSource: String = "tokenizer_config.json") throws {
        func fail(_ reason: String) -> LoadError { LoadError(file: source, reason: reason) }
        let root: JSON
        do { root = try JSON.parse(Array(tokenizerJSON)) } catch let error as JSON.ParseError {
            throw fail("is not valid JSON: \(error.message) at byte \(error.offset)")
        }
        guard root.isObject else { throw fail("top level is not a JSON object") }

        // model: WordPiece
        guard let modelJSON = root["model"], modelJSON.isObject else { throw fail("missing \"model\" object") }
        let modelType = modelJSON["type"]?.string ?? "WordPiece"
        guard modelType == "WordPiece" else { throw fail("model type \"\(modelType)\" is not supported (WordPiece only)") }
        guard let vocabEntries = modelJSON["vocab"]?.objectEntries else { throw fail("missing \"model.vocab\" object") }
        var vocab: [[Unicode.Scalar]: Int] = [:]
        vocab.reserveCapacity(vocabEntries.count)
        var tokens: [Int: [Unicode.Scalar]] = [:]
        tokens.reserveCapacity(vocabEntries.count)
        for (token, value) in vocabEntries {
            guard let id = value.int, id >= 0 else { throw fail("model.vocab[\"\(token)\"] is not a token id") }
            let scalars = Array(token.unicodeScalars)
            vocab[scalars] = id
            tokens[id] = scalars
        }
        let unkToken = modelJSON["unk_token"]?.string ?? "[UNK]"
        guard let unkID = vocab[Array(unkToken.unicodeScalars)] else {
            throw fail("model.unk_token \"\(unkToken)\" is not in model.vocab")
        }
        let prefix = modelJSON["continuing_subword_prefix"]?.string ?? "##"
        let maxChars = modelJSON["max_input_chars_per_word"]?.int ?? 100
        model = WordPieceModel(vocab: vocab, tokens: tokens, unkID: unkID, prefix: Array(prefix.unicodeScalars),
                               maxInputCharsPerWord: maxChars)

        // normalizer: BertNormalizer or none
        if let n = root["normalizer"], !n.isNull {
            guard n["type"]?.string == "BertNormalizer" else {
                throw fail("normalizer type \"\(n["type"]?.string ?? "?")\" is not supported (BertNormalizer only)")
            }
            let lowercase = n["lowercase"]?.bool ?? true
            normalizer = BertNormalizer(cleanText: n["clean_text"]?.bool ?? true,
                                        handleChineseChars: n["handle_chinese_chars"]?.bool ?? true,
                                        stripAccents: n["strip_accents"]?.bool ?? lowercase,
                                        lowercase: lowercase)
        } else {
            normalizer = nil
        }

        // pre_tokenizer: BertPreTokenizer or none
        if let p = root["pre_tokenizer"], !p.isNull {
            guard p["type"]?.string == "BertPreTokenizer" else {
                throw fail("pre_tokenizer type \"\(p["type"]?.string ?? "?")\" is not supported (BertPreTokenizer only)")
            }
            preTokenizes = true
        } else {
            preTokenizes = false
        }

        // decoder: WordPiece or none (none joins tokens with spaces)
        if let d = root["decoder"], !d.isNull {
            guard d["type"]?.string == "WordPiece" else {
                throw fail("decoder type \"\(d["type"]?.string ?? "?")\" is not supported (WordPiece only)")
            }
            decoder = WordPieceDecoder(prefix: Array((d["prefix"]?.string ?? "##").unicodeScalars),
                                       cleanup: d["cleanup"]?.bool ?? true)
        } else {
            decoder = nil
        }

        // added_tokens, in file order
        var addedTokens: [AddedToken] = []
        if let list = root["added_tokens"], !list.isNull {
            guard let items = list.array else { throw fail("\"added_tokens\" is not an array") }
            for (i, item) in items.enumerated() {
                guard let content = item["content"]?.string, let id = item["id"]?.int else {
                    throw fail("added_tokens[\(i)] lacks \"content\" or \"id\"")
                }
                let special = item["special"]?.bool ?? false
                addedTokens.append(AddedToken(content: Array(content.unicodeScalars), fileID: id,
                                              singleWord: item["single_word"]?.bool ?? false,
                                              lstrip: item["lstrip"]?.bool ?? false,
                                              rstrip: item["rstrip"]?.bool ?? false,
                                              normalized: item["normalized"]?.bool ?? !special,
                                              special: special))
            }
        }
        added = AddedVocabulary(tokens: addedTokens, model: model, normalizer: normalizer)
        let wordPieces = model.vocab
        count = wordPieces.count + added.idByContent.keys.filter { wordPieces[$0] == nil }.count

        var cleanUp = false
        if let configJSON {
            guard let config = try? JSON.parse(Array(configJSON)), config.isObject else {
                throw LoadError(file: configSource, reason: "is not a valid JSON object")
            }
            cleanUp = config["clean_up_tokenization_spaces"]?.bool ?? false
        }
        cleansUpTokenizationSpaces = cleanUp
    }

    /// Token ids of `text` without `[CLS]`/`[SEP]`, as `tokenizer.encode(text, add_special_tokens=False)`.
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        let scalars = Array(text.unicodeScalars)
        for piece in added.rawMatcher.split(scalars[...]) {
            switch piece {
            case .token(let id):
                ids.append(id)
            case .text(let raw):
                let normalized = normalizer.map { $0.normalize(raw) } ?? Array(raw)
                for inner in added.normalizedMatcher.split(normalized[...]) {
                    switch inner {
                    case .token(let id): ids.append(id)
                    case .text(let words): appendWordIDs(of: words, to: &ids)
                    }
                }
            }
        }
        return ids
    }

    /// The id of a token string (added tokens first, then the WordPiece vocabulary), like
    /// `convert_tokens_to_ids` but nil instead of the `[UNK]` id for an unknown token.
    public func id(of token: String) -> Int? {
        let key = Array(token.unicodeScalars)
        return added.idByContent[key] ?? model.vocab[key]
    }

    /// The token string of an id, or nil when no token has it.
    public func token(of id: Int) -> String? {
        guard let scalars = added.tokenByID[id]?.content ?? model.tokens[id] else { return nil }
        return String(String.UnicodeScalarView(scalars))
    }

    /// Text of `ids`, as `BertTokenizerFast.decode(ids, skip_special_tokens=...)`: the refine step turns generated
    /// ids back into text this way and encodes it again. Unknown ids are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var pieces: [[Unicode.Scalar]] = []
        pieces.reserveCapacity(ids.count)
        for id in ids {
            guard let scalars = added.tokenByID[id]?.content ?? model.tokens[id] else { continue }
            if skipSpecialTokens && added.specialContents.contains(scalars) { continue }
            pieces.append(scalars)
        }
        var text: [Unicode.Scalar] = []
        if let decoder {
            for (i, piece) in pieces.enumerated() {
                var token = piece
                if i != 0 {
                    if token.starts(with: decoder.prefix) {
                        token.removeFirst(decoder.prefix.count)
                    } else {
                        token.insert(" ", at: 0)
                    }
                }
                if decoder.cleanup { token = Self.replacing(token, Self.wordPieceCleanup) }
                text.append(contentsOf: token)
            }
        } else {
            for (i, piece) in pieces.enumerated() {
                if i != 0 { text.append(" ") }
                text.append(contentsOf: piece)
            }
        }
        if cleansUpTokenizationSpaces { text = Self.replacing(text, Self.transformersCleanup) }
        return String(String.UnicodeScalarView(text))
    }

    // MARK: - Pre-tokenizer and WordPiece

    /// BertPreTokenizer then WordPiece: whitespace separates words and is dropped, punctuation is a word of its own.
    private func appendWordIDs(of text: ArraySlice<Unicode.Scalar>, to ids: inout [Int]) {
        guard preTokenizes else {
            model.tokenize(text, into: &ids)
            return
        }
        var wordStart = text.startIndex
        for i in text.indices {
            let c = text[i]
            if c.properties.isWhitespace {
                model.tokenize(text[wordStart..<i], into: &ids)
                wordStart = i + 1
            } else if BertCharacterClass.isPunctuation(c) {
                model.tokenize(text[wordStart..<i], into: &ids)
                model.tokenize(text[i...i], into: &ids)
                wordStart = i + 1
            }
        }
        model.tokenize(text[wordStart...], into: &ids)
    }

    // MARK: - Decoding clean-up

    /// Replacements the WordPiece decoder applies to each token (with its leading space) when `cleanup` is on.
    static let wordPieceCleanup: [([Unicode.Scalar], [Unicode.Scalar])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
        (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { (Array($0.0.unicodeScalars), Array($0.1.unicodeScalars)) }

    /// transformers' `clean_up_tokenization`, applied to the whole decoded text.
    static let transformersCleanup: [([Unicode.Scalar], [Unicode.Scalar])] = [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
        (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ].map { (Array($0.0.unicodeScalars), Array($0.1.unicodeScalars)) }

    /// Applies each (target, replacement) in turn, every non-overlapping occurrence left to right, comparing
    /// scalars exactly (Foundation's string replacement would compare by canonical equivalence).
    static func replacing(_ text: [Unicode.Scalar], _ rules: [([Unicode.Scalar], [Unicode.Scalar])]) -> [Unicode.Scalar] {
        var current = text
        for (target, replacement) in rules where current.count >= target.count {
            guard current.contains(target[0]) else { continue }
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(current.count)
            var i = 0
            while i < current.count {
                if i + target.count <= current.count && current[i..<i + target.count].elementsEqual(target) {
                    out.append(contentsOf: replacement)
                    i += target.count
                } else {
                    out.append(current[i])
                    i += 1
                }
            }
            current = out
        }
        return current
    }
}

extension Tokenizer {
    // MARK: - Model

    /// WordPiece: greedy longest-match-first; pieces after the first carry the `##` prefix. A word longer than
    /// `maxInputCharsPerWord` scalars, or one with a part that matches nothing, becomes a single `[UNK]`.
    struct WordPieceModel: Sendable {
        let vocab: [[Unicode.Scalar]: Int]
        let tokens: [Int: [Unicode.Scalar]]
        let unkID: Int
        let prefix: [Unicode.Scalar]
        let maxInputCharsPerWord: Int

        func tokenize(_ word: ArraySlice<Unicode.Scalar>, into ids: inout [Int]) {
            guard !word.isEmpty else { return }
            guard word.count <= maxInputCharsPerWord else {
                ids.append(unkID)
                return
            }
            let first = ids.count
            var start = word.startIndex
            var key: [Unicode.Scalar] = []
            while start < word.endIndex {
                var end = word.endIndex
                var found: Int? = nil
                while start < end {
                    key.removeAll(keepingCapacity: true)
                    if start > word.startIndex { key.append(contentsOf: prefix) }
                    key.append(contentsOf: word[start..<end])
                    if let id = vocab[key] {
                        found = id
                        break
                    }
                    end -= 1
                }
                guard let id = found else {
                    ids.removeSubrange(first...)
                    ids.append(unkID)
                    return
                }
                ids.append(id)
                start = end
            }
        }
    }

    struct WordPieceDecoder: Sendable {
        let prefix: [Unicode.Scalar]
        let cleanup: Bool
    }

    // MARK: - Normalizer

    /// The library's BertNormalizer, in its order: clean text, space out CJK ideographs, strip accents, lowercase.
    struct BertNormalizer: Sendable {
        /// Drop U+0000, U+FFFD and control/format/private-use characters; turn every whitespace into a space.
        let cleanText: Bool
        /// Put a space on each side of every CJK ideograph, so each becomes a word of its own.
        let handleChineseChars: Bool
        /// NFD, then drop nonspacing marks (`strip_accents: null` in the file means: same as `lowercase`).
        let stripAccents: Bool
        /// Full lowercase mapping per scalar (not context-sensitive: Σ always becomes σ).
        let lowercase: Bool

        func normalize(_ input: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
            var text: [Unicode.Scalar] = []
            text.reserveCapacity(input.count + input.count / 2)
            var isASCII = true
            for c in input {
                var c = c
                if cleanText {
                    if c.value == 0 || c.value == 0xFFFD || BertCharacterClass.isOther(c) { continue }
                    if c.properties.isWhitespace { c = " " }
                }
                if handleChineseChars && BertCharacterClass.isChineseIdeograph(c) {
                    text.append(" ")
                    text.append(c)
                    text.append(" ")
                } else {
                    text.append(c)
                }
                if !c.isASCII { isASCII = false }
            }
            if stripAccents && !isASCII {
                let decomposed = String(String.UnicodeScalarView(text)).decomposedStringWithCanonicalMapping
                text = decomposed.unicodeScalars.filter { !BertCharacterClass.isNonspacingMark($0) }
            }
            if lowercase {
                if isASCII {
                    for i in text.indices where text[i].value >= 0x41 && text[i].value <= 0x5A {
                        text[i] = Unicode.Scalar(text[i].value + 0x20)!
                    }
                } else {
                    var lowered: [Unicode.Scalar] = []
                    lowered.reserveCapacity(text.count)
                    for c in text {
                        if c.isASCII {
                            lowered.append(c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 0x20)! : c)
                        } else {
                            lowered.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
                        }
                    }
                    text = lowered
                }
            }
            return text
        }
    }

    // MARK: - Added tokens

    struct AddedToken: Sendable, Equatable {
        let content: [Unicode.Scalar]
        /// The id written in the file; the library re-derives ids on load (see `AddedVocabulary`).
        let fileID: Int
        /// Match only when not preceded or followed by a word character.
        let singleWord: Bool
        /// Swallow the whitespace before / after the match.
        let lstrip: Bool
        let rstrip: Bool
        /// Match against the normalized text (true) or the raw text (false).
        let normalized: Bool
        let special: Bool

        static func == (a: AddedToken, b: AddedToken) -> Bool {
            a.content == b.content && a.singleWord == b.singleWord && a.lstrip == b.lstrip && a.rstrip == b.rstrip
                && a.normalized == b.normalized && a.special == b.special
        }
    }

    /// Added tokens as the library registers them when it loads a file: an added token that is already in the
    /// WordPiece vocabulary keeps that id, any other gets the next id after the largest one handed out so far
    /// (which for a consistent file is the id written in it).
    struct AddedVocabulary: Sendable {
        let idByContent: [[Unicode.Scalar]: Int]
        let tokenByID: [Int: AddedToken]
        let specialContents: Set<[Unicode.Scalar]>
        /// Tokens matched in the raw text (`normalized: false`).
        let rawMatcher: AddedTokenMatcher
        /// Tokens matched in the normalized text, by their own normalized content.
        let normalizedMatcher: AddedTokenMatcher

        init(tokens: [AddedToken], model: WordPieceModel, normalizer: BertNormalizer?) {
            var special: [AddedToken] = []
            var specialSet = Set<[Unicode.Scalar]>()
            for token in tokens where token.special && !token.content.isEmpty && !specialSet.contains(token.content) {
                special.append(token)
                specialSet.insert(token.content)
            }
            var idByContent: [[Unicode.Scalar]: Int] = [:]
            var tokenByID: [Int: AddedToken] = [:]
            var classic: [AddedToken] = []
            let vocabSize = model.vocab.count
            for token in tokens {
                if token.content.isEmpty || tokenByID.values.contains(token) { continue }
                let id: Int
                if let known = idByContent[token.content] ?? model.vocab[token.content] {
                    id = known
                } else if let max = idByContent.values.max() {
                    id = max >= vocabSize || vocabSize == 0 ? max + 1 : vocabSize
                } else {
                    id = vocabSize
                }
                idByContent[token.content] = id
                tokenByID[id] = token
                if !specialSet.contains(token.content) { classic.append(token) }
            }
            self.idByContent = idByContent
            self.tokenByID = tokenByID
            self.specialContents = specialSet

            var raw: [([Unicode.Scalar], Int)] = []
            var normalized: [([Unicode.Scalar], Int)] = []
            for token in special + classic {
                let id = idByContent[token.content] ?? model.vocab[token.content] ?? token.fileID
                if token.normalized {
                    normalized.append((normalizer.map { $0.normalize(token.content[...]) } ?? token.content, id))
                } else {
                    raw.append((token.content, id))
                }
            }
            rawMatcher = AddedTokenMatcher(patterns: raw, tokenByID: tokenByID)
            normalizedMatcher = AddedTokenMatcher(patterns: normalized, tokenByID: tokenByID)
        }
    }

    enum TextPiece {
        case text(ArraySlice<Unicode.Scalar>)
        case token(Int)
    }

    /// Finds added tokens leftmost-longest, without overlaps (the library's Aho-Corasick `LeftmostLongest`; among
    /// equal patterns the first registered wins), and applies each token's `single_word`/`lstrip`/`rstrip`.
    struct AddedTokenMatcher: Sendable {
        /// Patterns by first scalar, longest first, then in registration order.
        let byFirstScalar: [Unicode.Scalar: [(pattern: [Unicode.Scalar], id: Int)]]
        let flags: [Int: AddedToken]

        init(patterns: [([Unicode.Scalar], Int)], tokenByID: [Int: AddedToken]) {
            var buckets: [Unicode.Scalar: [(pattern: [Unicode.Scalar], id: Int, order: Int)]] = [:]
            for (order, (pattern, id)) in patterns.enumerated() where !pattern.isEmpty {
                buckets[pattern[0], default: []].append((pattern, id, order))
            }
            byFirstScalar = buckets.mapValues { list in
                list.sorted { $0.pattern.count != $1.pattern.count ? $0.pattern.count > $1.pattern.count : $0.order < $1.order }
                    .map { (pattern: $0.pattern, id: $0.id) }
            }
            flags = tokenByID
        }

        func split(_ text: ArraySlice<Unicode.Scalar>) -> [TextPiece] {
            guard !byFirstScalar.isEmpty else { return [.text(text)] }
            var pieces: [TextPiece] = []
            var startOffset = text.startIndex
            var position = text.startIndex
            while position < text.endIndex {
                guard let candidates = byFirstScalar[text[position]],
                      let match = candidates.first(where: { text[position...].starts(with: $0.pattern) }) else {
                    position += 1
                    continue
                }
                var start = position
                var stop = position + match.pattern.count
                position = stop
                if let token = flags[match.id] {
                    if token.singleWord {
                        let freeBefore = start == text.startIndex || !Self.isWordCharacter(text[start - 1])
                        let freeAfter = stop == text.endIndex || !Self.isWordCharacter(text[stop])
                        if !freeBefore || !freeAfter { continue }
                    }
                    if token.lstrip {
                        var newStart = start
                        while newStart > text.startIndex && text[newStart - 1].properties.isWhitespace { newStart -= 1 }
                        start = max(newStart, startOffset)
                    }
                    if token.rstrip {
                        while stop < text.endIndex && text[stop].properties.isWhitespace { stop += 1 }
                    }
                }
                if startOffset < start { pieces.append(.text(text[startOffset..<start])) }
                pieces.append(.token(match.id))
                startOffset = stop
            }
            if startOffset < text.endIndex { pieces.append(.text(text[startOffset...])) }
            return pieces
        }

        /// The `\w` of the library's regex engine: alphabetic, marks, decimal digits, connector punctuation, joiners.
        static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
            let p = c.properties
            if p.isAlphabetic || p.isJoinControl { return true }
            switch p.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
            default: return false
            }
        }
    }

    // MARK: - Character classes

    /// Character classes of the library's BertNormalizer and BertPreTokenizer. Those it takes from the
    /// `unicode_categories` crate are frozen at Unicode 8.0, so they are embedded here as sorted inclusive ranges
    /// (pairs of code points) instead of asking the toolchain, whose newer tables differ for about 600 code points
    /// (for example U+2E43...U+2E4F, punctuation only since Unicode 9). They were produced by running every code
    /// point through `tokenizers` 0.22's BertNormalizer and BertPreTokenizer. Whitespace and lowercase mappings
    /// agree with Swift's own tables for every code point and are taken from those.
    enum BertCharacterClass {
        /// CJK ideographs that get spaces around them (the library's list, not all of Unicode's).
        static func isChineseIdeograph(_ c: Unicode.Scalar) -> Bool {
            switch c.value {
            case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
                 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
                return true
            default:
                return false
            }
        }

        /// General categories Cc, Cf and Co (Unicode 8.0), without tab, newline and carriage return.
        static func isOther(_ c: Unicode.Scalar) -> Bool {
            if c.value >= 0x20 && c.value < 0x7F { return false }
            return contains(otherRanges, c.value)
        }

        /// ASCII punctuation (`!`...`/`, `:`...`@`, `[`...`` ` ``, `{`...`~`) and the P* categories (Unicode 8.0).
        static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
            if c.isASCII {
                switch c.value {
                case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return true
                default: return false
                }
            }
            return contains(punctuationRanges, c.value)
        }

        /// General category Mn (Unicode 8.0): what accent stripping removes after NFD.
        static func isNonspacingMark(_ c: Unicode.Scalar) -> Bool {
            c.value >= 0x300 && contains(nonspacingMarkRanges, c.value)
        }

        /// Binary search in a flat array of inclusive (low, high) pairs sorted by low.
        static func contains(_ ranges: [UInt32], _ value: UInt32) -> Bool {
            var lo = 0
            var hi = ranges.count / 2
            while lo < hi {
                let mid = (lo + hi) / 2
                if value < ranges[2 * mid] {
                    hi = mid
                } else if value > ranges[2 * mid + 1] {
                    lo = mid + 1
                } else {
                    return true
                }
            }
            return false
        }

        static let otherRanges: [UInt32] = [
            0x1, 0x8, 0xB, 0xC, 0xE, 0x1F, 0x7F, 0x9F, 0xAD, 0xAD, 0x600, 0x605, 0x61C, 0x61C, 0x6DD, 0x6DD, 0x70F, 0x70F,
            0x180E, 0x180E, 0x200B, 0x200F, 0x202A, 0x202E, 0x2060, 0x2064, 0x2066, 0x206F, 0xE000, 0xF8FF,
            0xFEFF, 0xFEFF, 0xFFF9, 0xFFFB, 0x110BD, 0x110BD, 0x1BCA0, 0x1BCA3, 0x1D173, 0x1D17A, 0xE0001, 0xE0001,
            0xE0020, 0xE007F, 0xF0000, 0xFFFFD, 0x100000, 0x10FFFD
        ]
        static let punctuationRanges: [UInt32] = [
            0x21, 0x2F, 0x3A, 0x40, 0x5B, 0x60, 0x7B, 0x7E, 0xA1, 0xA1, 0xA7, 0xA7, 0xAB, 0xAB, 0xB6, 0xB7, 0xBB, 0xBB,
            0xBF, 0xBF, 0x37E, 0x37E, 0x387, 0x387, 0x55A, 0x55F, 0x589, 0x58A, 0x5BE, 0x5BE, 0x5C0, 0x5C0, 0x5C3, 0x5C3,
            0x5C6, 0x5C6, 0x5F3, 0x5F4, 0x609, 0x60A, 0x60C, 0x60D, 0x61B, 0x61B, 0x61E, 0x61F, 0x66A, 0x66D,
            0x6D4, 0x6D4, 0x700, 0x70D, 0x7F7, 0x7F9, 0x830, 0x83E, 0x85E, 0x85E, 0x964, 0x965, 0x970, 0x970,
            0xAF0, 0xAF0, 0xDF4, 0xDF4, 0xE4F, 0xE4F, 0xE5A, 0xE5B, 0xF04, 0xF12, 0xF14, 0xF14, 0xF3A, 0xF3D,
            0xF85, 0xF85, 0xFD0, 0xFD4, 0xFD9, 0xFDA, 0x104A, 0x104F, 0x10FB, 0x10FB, 0x1360, 0x1368, 0x1400, 0x1400,
            0x166D, 0x166E, 0x169B, 0x169C, 0x16EB, 0x16ED, 0x1735, 0x1736, 0x17D4, 0x17D6, 0x17D8, 0x17DA,
            0x1800, 0x180A, 0x1944, 0x1945, 0x1A1E, 0x1A1F, 0x1AA0, 0x1AA6, 0x1AA8, 0x1AAD, 0x1B5A, 0x1B60,
            0x1BFC, 0x1BFF, 0x1C3B, 0x1C3F, 0x1C7E, 0x1C7F, 0x1CC0, 0x1CC7, 0x1CD3, 0x1CD3, 0x2010, 0x2027,
            0x2030, 0x2043, 0x2045, 0x2051, 0x2053, 0x205E, 0x207D, 0x207E, 0x208D, 0x208E, 0x2308, 0x230B,
            0x2329, 0x232A, 0x2768, 0x2775, 0x27C5, 0x27C6, 0x27E6, 0x27EF, 0x2983, 0x2998, 0x29D8, 0x29DB,
            0x29FC, 0x29FD, 0x2CF9, 0x2CFC, 0x2CFE, 0x2CFF, 0x2D70, 0x2D70, 0x2E00, 0x2E2E, 0x2E30, 0x2E42,
            0x3001, 0x3003, 0x3008, 0x3011, 0x3014, 0x301F, 0x3030, 0x3030, 0x303D, 0x303D, 0x30A0, 0x30A0,
            0x30FB, 0x30FB, 0xA4FE, 0xA4FF, 0xA60D, 0xA60F, 0xA673, 0xA673, 0xA67E, 0xA67E, 0xA6F2, 0xA6F7,
            0xA874, 0xA877, 0xA8CE, 0xA8CF, 0xA8F8, 0xA8FA, 0xA8FC, 0xA8FC, 0xA92E, 0xA92F, 0xA95F, 0xA95F,
            0xA9C1, 0xA9CD, 0xA9DE, 0xA9DF, 0xAA5C, 0xAA5F, 0xAADE, 0xAADF, 0xAAF0, 0xAAF1, 0xABEB, 0xABEB,
            0xFD3E, 0xFD3F, 0xFE10, 0xFE19, 0xFE30, 0xFE52, 0xFE54, 0xFE61, 0xFE63, 0xFE63, 0xFE68, 0xFE68,
            0xFE6A, 0xFE6B, 0xFF01, 0xFF03, 0xFF05, 0xFF0A, 0xFF0C, 0xFF0F, 0xFF1A, 0xFF1B, 0xFF1F, 0xFF20,
            0xFF3B, 0xFF3D, 0xFF3F, 0xFF3F, 0xFF5B, 0xFF5B, 0xFF5D, 0xFF5D, 0xFF5F, 0xFF65, 0x10100, 0x10102,
            0x1039F, 0x1039F, 0x103D0, 0x103D0, 0x1056F, 0x1056F, 0x10857, 0x10857, 0x1091F, 0x1091F, 0x1093F, 0x1093F,
            0x10A50, 0x10A58, 0x10A7F, 0x10A7F, 0x10AF0, 0x10AF6, 0x10B39, 0x10B3F, 0x10B99, 0x10B9C, 0x11047, 0x1104D,
            0x110BB, 0x110BC, 0x110BE, 0x110C1, 0x11140, 0x11143, 0x11174, 0x11175, 0x111C5, 0x111C9, 0x111CD, 0x111CD,
            0x111DB, 0x111DB, 0x111DD, 0x111DF, 0x11238, 0x1123D, 0x112A9, 0x112A9, 0x114C6, 0x114C6, 0x115C1, 0x115D7,
            0x11641, 0x11643, 0x1173C, 0x1173E, 0x12470, 0x12474, 0x16A6E, 0x16A6F, 0x16AF5, 0x16AF5, 0x16B37, 0x16B3B,
            0x16B44, 0x16B44, 0x1BC9F, 0x1BC9F, 0x1DA87, 0x1DA8B
        ]
        static let nonspacingMarkRanges: [UInt32] = [
            0x300, 0x36F, 0x483, 0x487, 0x591, 0x5BD, 0x5BF, 0x5BF, 0x5C1, 0x5C2, 0x5C4, 0x5C5, 0x5C7, 0x5C7,
            0x610, 0x61A, 0x64B, 0x65F, 0x670, 0x670, 0x6D6, 0x6DC, 0x6DF, 0x6E4, 0x6E7, 0x6E8, 0x6EA, 0x6ED,
            0x711, 0x711, 0x730, 0x74A, 0x7A6, 0x7B0, 0x7EB, 0x7F3, 0x816, 0x819, 0x81B, 0x823, 0x825, 0x827,
            0x829, 0x82D, 0x859, 0x85B, 0x8E3, 0x902, 0x93A, 0x93A, 0x93C, 0x93C, 0x941, 0x948, 0x94D, 0x94D,
            0x951, 0x957, 0x962, 0x963, 0x981, 0x981, 0x9BC, 0x9BC, 0x9C1, 0x9C4, 0x9CD, 0x9CD, 0x9E2, 0x9E3,
            0xA01, 0xA02, 0xA3C, 0xA3C, 0xA41, 0xA42, 0xA47, 0xA48, 0xA4B, 0xA4D, 0xA51, 0xA51, 0xA70, 0xA71,
            0xA75, 0xA75, 0xA81, 0xA82, 0xABC, 0xABC, 0xAC1, 0xAC5, 0xAC7, 0xAC8, 0xACD, 0xACD, 0xAE2, 0xAE3,
            0xB01, 0xB01, 0xB3C, 0xB3C, 0xB3F, 0xB3F, 0xB41, 0xB44, 0xB4D, 0xB4D, 0xB56, 0xB56, 0xB62, 0xB63,
            0xB82, 0xB82, 0xBC0, 0xBC0, 0xBCD, 0xBCD, 0xC00, 0xC00, 0xC3E, 0xC40, 0xC46, 0xC48, 0xC4A, 0xC4D,
            0xC55, 0xC56, 0xC62, 0xC63, 0xC81, 0xC81, 0xCBC, 0xCBC, 0xCBF, 0xCBF, 0xCC6, 0xCC6, 0xCCC, 0xCCD,
            0xCE2, 0xCE3, 0xD01, 0xD01, 0xD41, 0xD44, 0xD4D, 0xD4D, 0xD62, 0xD63, 0xDCA, 0xDCA, 0xDD2, 0xDD4,
            0xDD6, 0xDD6, 0xE31, 0xE31, 0xE34, 0xE3A, 0xE47, 0xE4E, 0xEB1, 0xEB1, 0xEB4, 0xEB9, 0xEBB, 0xEBC,
            0xEC8, 0xECD, 0xF18, 0xF19, 0xF35, 0xF35, 0xF37, 0xF37, 0xF39, 0xF39, 0xF71, 0xF7E, 0xF80, 0xF84,
            0xF86, 0xF87, 0xF8D, 0xF97, 0xF99, 0xFBC, 0xFC6, 0xFC6, 0x102D, 0x1030, 0x1032, 0x1037, 0x1039, 0x103A,
            0x103D, 0x103E, 0x1058, 0x1059, 0x105E, 0x1060, 0x1071, 0x1074, 0x1082, 0x1082, 0x1085, 0x1086,
            0x108D, 0x108D, 0x109D, 0x109D, 0x135D, 0x135F, 0x1712, 0x1714, 0x1732, 0x1734, 0x1752, 0x1753,
            0x1772, 0x1773, 0x17B4, 0x17B5, 0x17B7, 0x17BD, 0x17C6, 0x17C6, 0x17C9, 0x17D3, 0x17DD, 0x17DD,
            0x180B, 0x180D, 0x18A9, 0x18A9, 0x1920, 0x1922, 0x1927, 0x1928, 0x1932, 0x1932, 0x1939, 0x193B,
            0x1A17, 0x1A18, 0x1A1B, 0x1A1B, 0x1A56, 0x1A56, 0x1A58, 0x1A5E, 0x1A60, 0x1A60, 0x1A62, 0x1A62,
            0x1A65, 0x1A6C, 0x1A73, 0x1A7C, 0x1A7F, 0x1A7F, 0x1AB0, 0x1ABD, 0x1B00, 0x1B03, 0x1B34, 0x1B34,
            0x1B36, 0x1B3A, 0x1B3C, 0x1B3C, 0x1B42, 0x1B42, 0x1B6B, 0x1B73, 0x1B80, 0x1B81, 0x1BA2, 0x1BA5,
            0x1BA8, 0x1BA9, 0x1BAB, 0x1BAD, 0x1BE6, 0x1BE6, 0x1BE8, 0x1BE9, 0x1BED, 0x1BED, 0x1BEF, 0x1BF1,
            0x1C2C, 0x1C33, 0x1C36, 0x1C37, 0x1CD0, 0x1CD2, 0x1CD4, 0x1CE0, 0x1CE2, 0x1CE8, 0x1CED, 0x1CED,
            0x1CF4, 0x1CF4, 0x1CF8, 0x1CF9, 0x1DC0, 0x1DF5, 0x1DFC, 0x1DFF, 0x20D0, 0x20DC, 0x20E1, 0x20E1,
            0x20E5, 0x20F0, 0x2CEF, 0x2CF1, 0x2D7F, 0x2D7F, 0x2DE0, 0x2DFF, 0x302A, 0x302D, 0x3099, 0x309A,
            0xA66F, 0xA66F, 0xA674, 0xA67D, 0xA69E, 0xA69F, 0xA6F0, 0xA6F1, 0xA802, 0xA802, 0xA806, 0xA806,
            0xA80B, 0xA80B, 0xA825, 0xA826, 0xA8C4, 0xA8C4, 0xA8E0, 0xA8F1, 0xA926, 0xA92D, 0xA947, 0xA951,
            0xA980, 0xA982, 0xA9B3, 0xA9B3, 0xA9B6, 0xA9B9, 0xA9BC, 0xA9BC, 0xA9E5, 0xA9E5, 0xAA29, 0xAA2E,
            0xAA31, 0xAA32, 0xAA35, 0xAA36, 0xAA43, 0xAA43, 0xAA4C, 0xAA4C, 0xAA7C, 0xAA7C, 0xAAB0, 0xAAB0,
            0xAAB2, 0xAAB4, 0xAAB7, 0xAAB8, 0xAABE, 0xAABF, 0xAAC1, 0xAAC1, 0xAAEC, 0xAAED, 0xAAF6, 0xAAF6,
            0xABE5, 0xABE5, 0xABE8, 0xABE8, 0xABED, 0xABED, 0xFB1E, 0xFB1E, 0xFE00, 0xFE0F, 0xFE20, 0xFE2F,
            0x101FD, 0x101FD, 0x102E0, 0x102E0, 0x10376, 0x1037A, 0x10A01, 0x10A03, 0x10A05, 0x10A06, 0x10A0C, 0x10A0F,
            0x10A38, 0x10A3A, 0x10A3F, 0x10A3F, 0x10AE5, 0x10AE6, 0x11001, 0x11001, 0x11038, 0x11046, 0x1107F, 0x11081,
            0x110B3, 0x110B6, 0x110B9, 0x110BA, 0x11100, 0x11102, 0x11127, 0x1112B, 0x1112D, 0x11134, 0x11173, 0x11173,
            0x11180, 0x11181, 0x111B6, 0x111BE, 0x111CA, 0x111CC, 0x1122F, 0x11231, 0x11234, 0x11234, 0x11236, 0x11237,
            0x112DF, 0x112DF, 0x112E3, 0x112EA, 0x11300, 0x11301, 0x1133C, 0x1133C, 0x11340, 0x11340, 0x11366, 0x1136C,
            0x11370, 0x11374, 0x114B3, 0x114B8, 0x114BA, 0x114BA, 0x114BF, 0x114C0, 0x114C2, 0x114C3, 0x115B2, 0x115B5,
            0x115BC, 0x115BD, 0x115BF, 0x115C0, 0x115DC, 0x115DD, 0x11633, 0x1163A, 0x1163D, 0x1163D, 0x1163F, 0x11640,
            0x116AB, 0x116AB, 0x116AD, 0x116AD, 0x116B0, 0x116B5, 0x116B7, 0x116B7, 0x1171D, 0x1171F, 0x11722, 0x11725,
            0x11727, 0x1172B, 0x16AF0, 0x16AF4, 0x16B30, 0x16B36, 0x16F8F, 0x16F92, 0x1BC9D, 0x1BC9E, 0x1D167, 0x1D169,
            0x1D17B, 0x1D182, 0x1D185, 0x1D18B, 0x1D1AA, 0x1D1AD, 0x1D242, 0x1D244, 0x1DA00, 0x1DA36, 0x1DA3B, 0x1DA6C,
            0x1DA75, 0x1DA75, 0x1DA84, 0x1DA84, 0x1DA9B, 0x1DA9F, 0x1DAA1, 0x1DAAF, 0x1E8D0, 0x1E8D6, 0xE0100, 0xE01EF
        ]
    }

    // MARK: - JSON

    /// A small JSON reader that keeps object members in file order as (key, value) pairs. Foundation's decoders
    /// put object members into Swift dictionaries, whose String keys merge canonically equivalent tokens (U+F900
    /// and U+8C48, "é" and "e" + U+0301), which would silently lose vocabulary entries.
    enum JSON: Sendable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([JSON])
        case object([(key: String, value: JSON)])

        struct ParseError: Error {
            let message: String
            let offset: Int
        }

        var isNull: Bool { if case .null = self { return true } else { return false } }
        var isObject: Bool { if case .object = self { return true } else { return false } }
        var string: String? { if case .string(let s) = self { return s } else { return nil } }
        var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
        var array: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
        var objectEntries: [(key: String, value: JSON)]? { if case .object(let o) = self { return o } else { return nil } }
        var int: Int? {
            guard case .number(let d) = self, d.rounded() == d, abs(d) < 9e15 else { return nil }
            return Int(d)
        }

        /// The last member named `key` (later duplicates win, as when reading into a map).
        subscript(key: String) -> JSON? {
            guard case .object(let entries) = self else { return nil }
            return entries.last(where: { $0.key == key })?.value
        }

        static func parse(_ bytes: [UInt8]) throws -> JSON {
            var reader = Reader(bytes: bytes)
            reader.skipWhitespace()
            let value = try reader.value(depth: 0)
            reader.skipWhitespace()
            guard reader.index == bytes.count else { throw ParseError(message: "trailing characters", offset: reader.index) }
            return value
        }

        private struct Reader {
            let bytes: [UInt8]
            var index = 0

            init(bytes: [UInt8]) { self.bytes = bytes }

            func error(_ message: String) -> ParseError { ParseError(message: message, offset: index) }

            mutating func skipWhitespace() {
                while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
            }

            mutating func expect(_ literal: String, _ value: JSON) throws -> JSON {
                let utf8 = Array(literal.utf8)
                guard index + utf8.count <= bytes.count, Array(bytes[index..<index + utf8.count]) == utf8 else {
                    throw error("unexpected character")
                }
                index += utf8.count
                return value
            }

            mutating func value(depth: Int) throws -> JSON {
                guard depth < 512 else { throw error("nesting too deep") }
                guard index < bytes.count else { throw error("unexpected end of input") }
                switch bytes[index] {
                case UInt8(ascii: "{"):
                    index += 1
                    var entries: [(key: String, value: JSON)] = []
                    skipWhitespace()
                    if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
                        index += 1
                        return .object(entries)
                    }
                    while true {
                        skipWhitespace()
                        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
                        let key = try string()
                        skipWhitespace()
                        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                        index += 1
                        skipWhitespace()
                        entries.append((key, try value(depth: depth + 1)))
                        skipWhitespace()
                        guard index < bytes.count else { throw error("unexpected end of input") }
                        if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                        if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(entries) }
                        throw error("expected ',' or '}'")
                    }
                case UInt8(ascii: "["):
                    index += 1
                    var items: [JSON] = []
                    skipWhitespace()
                    if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
                        index += 1
                        return .array(items)
                    }
                    while true {
                        skipWhitespace()
                        items.append(try value(depth: depth + 1))
                        skipWhitespace()
                        guard index < bytes.count else { throw error("unexpected end of input") }
                        if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                        if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                        throw error("expected ',' or ']'")
                    }
                case UInt8(ascii: "\""):
                    return .string(try string())
                case UInt8(ascii: "t"):
                    return try expect("true", .bool(true))
                case UInt8(ascii: "f"):
                    return try expect("false", .bool(false))
                case UInt8(ascii: "n"):
                    return try expect("null", .null)
                default:
                    return try number()
                }
            }

            mutating func number() throws -> JSON {
                let start = index
                while index < bytes.count, "+-0123456789.eE".utf8.contains(bytes[index]) { index += 1 }
                guard index > start, let text = String(validating: bytes[start..<index], as: UTF8.self),
                      let value = Double(text) else {
                    index = start
                    throw error("invalid value")
                }
                return .number(value)
            }

            mutating func hex4() throws -> UInt32 {
                guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
                var value: UInt32 = 0
                for _ in 0..<4 {
                    let b = bytes[index]
                    let digit: UInt8
                    switch b {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
                    case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
                    default: throw error("bad \\u escape")
                    }
                    value = value << 4 | UInt32(digit)
                    index += 1
                }
                return value
            }

            mutating func string() throws -> String {
                index += 1  // opening quote
                var utf8: [UInt8] = []
                while true {
                    guard index < bytes.count else { throw error("unterminated string") }
                    let b = bytes[index]
                    if b == UInt8(ascii: "\"") {
                        index += 1
                        break
                    }
                    if b != UInt8(ascii: "\\") {
                        utf8.append(b)
                        index += 1
                        continue
                    }
                    index += 1
                    guard index < bytes.count else { throw error("unterminated escape") }
                    let e = bytes[index]
                    index += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(e)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if code >= 0xD800 && code < 0xDC00 {
                            guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"),
                                  bytes[index + 1] == UInt8(ascii: "u") else { throw error("unpaired surrogate") }
                            index += 2
                            let low = try hex4()
                            guard low >= 0xDC00 && low < 0xE000 else { throw error("unpaired surrogate") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw error("unpaired surrogate") }
                        utf8.append(contentsOf: String(scalar).utf8)
                    default:
                        throw error("bad escape")
                    }
                }
                guard let s = String(validating: utf8, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
                return s
            }
        }
    }
}
