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
        var configData: Data? = nil
        if FileManager.default.fileExists(atPath: configURL.path) {
            do { configData = try Data(contentsOf: configURL) } catch {
                throw LoadError(file: configURL.path, reason: "cannot be read (\(error.localizedDescription))")
            }
        }
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
        // Truncation or fixed-length padding would change the ids of a single encode; the post-processor only adds
        // [CLS]/[SEP], which ChatTTS never asks for, so it is ignored.
        if let truncation = root["truncation"], !truncation.isNull {
            throw fail("\"truncation\" is set; only null is supported")
        }
        if let padding = root["padding"], !padding.isNull, padding["strategy"]?.string != "BatchLongest" {
            throw fail("\"padding\" with a fixed length is not supported")
        }

        // model: WordPiece
        guard let modelJSON = root["model"], modelJSON.isObject else { throw fail("missing \"model\" object") }
        let modelType = modelJSON["type"]?.string ?? "WordPiece"
        guard modelType == "WordPiece" else {
            throw fail("model type \"\(modelType)\" is not supported (WordPiece only)")
        }
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
                let type = p["type"]?.string ?? "?"
                throw fail("pre_tokenizer type \"\(type)\" is not supported (BertPreTokenizer only)")
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
    static func replacing(_ text: [Unicode.Scalar],
                          _ rules: [([Unicode.Scalar], [Unicode.Scalar])]) -> [Unicode.Scalar] {
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
