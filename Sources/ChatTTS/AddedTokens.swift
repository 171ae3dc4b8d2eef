import Foundation

/// Added (special) tokens: registration and leftmost-longest matching in raw text.
extension Tokenizer {
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
                list.sorted {
                    $0.pattern.count != $1.pattern.count ? $0.pattern.count > $1.pattern.count : $0.order < $1.order
                }
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
}
