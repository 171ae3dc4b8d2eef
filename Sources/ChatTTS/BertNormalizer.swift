import Foundation

/// The BERT normalizer the tokenizer applies before pre-tokenization.
extension Tokenizer {
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

        /// Scalars with a canonical decomposition in Swift's Unicode tables but not in the library's (U+11938
        /// DIVES AKURU VOWEL SIGN O, Unicode 13): found by comparing both on every code point.
        static let decompositionExceptions: Set<UInt32> = [0x11938]

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
                // Characters the library's older decomposition tables leave whole are starters, so the text
                // can be decomposed piecewise around them.
                var stripped: [Unicode.Scalar] = []
                stripped.reserveCapacity(text.count)
                for (i, segment) in text.split(omittingEmptySubsequences: false,
                                               whereSeparator: { Self.decompositionExceptions.contains($0.value) })
                    .enumerated() {
                    if i > 0 { stripped.append(text[segment.startIndex - 1]) }
                    let decomposed = String(String.UnicodeScalarView(segment)).decomposedStringWithCanonicalMapping
                    stripped.append(contentsOf: decomposed.unicodeScalars.filter {
                        !BertCharacterClass.isNonspacingMark($0)
                    })
                }
                text = stripped
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
}
