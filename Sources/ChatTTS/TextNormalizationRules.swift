import Foundation

/// The built-in language normalizers, registered by default in `Normalizer` (the place of the official `register`ed
/// functions, which the official package leaves empty): each rewrites a stretch of text between `[...]` tags so that
/// what the model cannot say is said in words or pauses it can, instead of being deleted.
///
/// In order, over Unicode scalars:
/// 1. Fold compatibility forms to what the rules read: full-width digits, letters and ASCII symbols, circled digits,
///    ligatures, compatibility ideographs, `½`, `〇`; accents are dropped from Latin letters (`café` -> `cafe`; the
///    tokenizer strips them too, but the front end would delete the letter first).
/// 2. Where `NumberScanner` finds a numeric expression, the language's reading replaces it (`ChineseNumbers`,
///    `EnglishNumbers`), with spaces between English words and neighbouring letters; `+ - − × ÷ =` between two
///    numbers are read as operators.
/// 3. Punctuation becomes the sentence end or the pause of the language (`?` and `!` end a sentence, once for `?!`;
///    `;` `:` `…` and dashes pause), a hyphen between letters or digits and `_ / ·` separate words, quotation marks
///    and apostrophes go silently (`o'clock` keeps a space), `&` and `@` are read, whitespace becomes a space. In
///    Chinese a dot between letters is 点 (`example.com`) and `...` pauses.
/// 4. Anything else is left as written (not as folded), for the normalizer to delete and report in
///    `NormalizedText.removed` when the model cannot say it.
struct TextNormalizationRules: Sendable {
    let language: Normalizer.Language

    static let chinese = TextNormalizationRules(language: .zh)
    static let english = TextNormalizationRules(language: .en)

    var stop: Unicode.Scalar { language == .zh ? "。" : "." }
    var pause: Unicode.Scalar { language == .zh ? "，" : "," }

    func words(_ e: NumericExpression, _ context: ReadingContext) -> String {
        language == .zh ? ChineseNumbers.words(e, context) : EnglishNumbers.words(e, context)
    }

    /// Read between two numbers only (`1+1=2`); elsewhere they are symbols.
    static let operators: [Unicode.Scalar: (zh: String, en: String)] = [
        "+": ("加", "plus"), "-": ("减", "minus"), "−": ("减", "minus"), "×": ("乘", "times"),
        "÷": ("除以", "divided by"), "=": ("等于", "equals"),
    ]

    func rewrite(_ input: String) -> String {
        let original = Array(input.unicodeScalars)
        let (text, sources) = Self.fold(original)
        let scanner = NumberScanner(text: text)
        var out: [Unicode.Scalar] = []
        var lastNumberEnd: Int?
        var k = 0

        /// Words written between letters or digits are spaced from them (`MP3` -> `MP three`, `5G` -> `five G`).
        func append(words: String, before next: Int) {
            let scalars = Array(words.unicodeScalars)
            if let last = out.last, let first = scalars.first, last.isASCIIAlphanumeric,
               first.isASCIIAlphanumeric { out.append(" ") }
            out += scalars
            if let end = scalars.last, next < text.count, end.isASCIIAlphanumeric,
               text[next].isASCIIAlphanumeric { out.append(" ") }
        }

        while k < text.count {
            if let (expression, end) = scanner.expression(at: k) {
                append(words: words(expression, Self.context(text, expression: k..<end)), before: end)
                lastNumberEnd = end
                k = end
                continue
            }
            if let op = Self.operators[text[k]], let last = lastNumberEnd, text[last..<k].allSatisfy({ $0 == " " }) {
                var next = k + 1
                while next < text.count && text[next] == " " { next += 1 }
                if scanner.isDigit(next) {
                    append(words: language == .zh ? op.zh : op.en, before: k + 1)
                    k += 1
                    continue
                }
            }
            if let (replacement, end) = punctuation(text, at: k, after: out.last) {
                switch replacement {
                case .scalars(let scalars): out += scalars
                case .word(let word): append(words: word, before: end)
                }
                k = end
                continue
            }
            if Normalizer.isAllowed(text[k]) {
                out.append(text[k])
            } else if k == 0 || sources[k - 1] != sources[k] {
                out.append(original[sources[k]])
            }
            k += 1
        }
        return Normalizer.string(out)
    }

    static func context(_ text: [Unicode.Scalar], expression range: Range<Int>) -> ReadingContext {
        var start = range.lowerBound
        while start > 0 && text[start - 1] == " " { start -= 1 }
        var wordStart = start
        while wordStart > 0 && text[wordStart - 1].isASCIILetter { wordStart -= 1 }
        let word = Normalizer.string(Array(text[wordStart..<start])).lowercased()
        return ReadingContext(previousWord: word, following: text[range.upperBound...])
    }

    // MARK: - Punctuation

    /// Quotation marks and apostrophes: silent, and not reported (`It's` is `Its`, as the official front end has it).
    static let quotes: Set<Unicode.Scalar> = ["\"", "'", "“", "”", "‘", "’", "‚", "„", "‟", "‛", "«", "»", "‹", "›",
                                              "〝", "〞", "〟"]
    static let dashes: Set<Unicode.Scalar> = ["—", "―", "–", "‒"]
    static let ellipses: Set<Unicode.Scalar> = ["…", "⋯"]
    static let separators: Set<Unicode.Scalar> = ["_", "/", "·", "•", "・", "‧", "∙"]

    static let pauses: Set<Unicode.Scalar> = [",", "，", "、", ".", "。"]

    enum Replacement {
        case scalars([Unicode.Scalar])
        /// Read as a word: spaced from neighbouring letters and digits.
        case word(String)
    }

    /// The replacement of the punctuation at `k` and where it ends (runs of dashes or ellipses are one pause);
    /// nil when no rule applies.
    func punctuation(_ text: [Unicode.Scalar], at k: Int, after last: Unicode.Scalar?) -> (Replacement, end: Int)? {
        let c = text[k]
        func isAlphanumeric(_ i: Int) -> Bool { i >= 0 && i < text.count && text[i].isASCIIAlphanumeric }
        func run(of set: Set<Unicode.Scalar>) -> Int {
            var end = k
            while end < text.count && set.contains(text[end]) { end += 1 }
            return end
        }
        let paused = last.map(Self.pauses.contains) ?? false
        let onePause = Replacement.scalars(paused ? [] : [pause])
        switch c {
        case "?", "!":
            return (.scalars(last == "." || last == "。" ? [] : [stop]), k + 1)
        case ";", ":":
            return (.scalars([pause]), k + 1)
        case _ where Self.ellipses.contains(c):
            return (onePause, run(of: Self.ellipses))
        case _ where Self.dashes.contains(c):
            return (onePause, run(of: Self.dashes))
        case "." where language == .zh && k + 1 < text.count && text[k + 1] == ".":
            return (onePause, run(of: ["."]))
        case "." where language == .zh && isAlphanumeric(k - 1) && isAlphanumeric(k + 1):
            return (.scalars(["点"]), k + 1)
        case "-" where isAlphanumeric(k - 1) && isAlphanumeric(k + 1):
            return (.scalars([" "]), k + 1)
        case _ where Self.separators.contains(c):
            return (.scalars([" "]), k + 1)
        case _ where (c == "'" || c == "’") && k >= 1 && (text[k - 1] == "o" || text[k - 1] == "O")
            && !isAlphanumeric(k - 2):
            return (.scalars([" "]), k + 1)  // o'clock
        case _ where Self.quotes.contains(c):
            return (.scalars([]), k + 1)
        case "&":
            return (.word(language == .zh ? "和" : "and"), k + 1)
        case "@":
            return (.word("at"), k + 1)
        case _ where c.properties.isWhitespace && c != " ":
            return (.scalars([" "]), k + 1)
        default:
            return nil
        }
    }

    // MARK: - Folding

    /// Letters that do not decompose into ones the model says: Latin letters without an ASCII base, and the
    /// ideographic zero of `二〇二四`, outside the ideograph block the model reads.
    static let letterForms: [Unicode.Scalar: String] = [
        "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d",
        "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i", "〇": "零",
    ]

    static func isMark(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }

    /// Step 1: each scalar's folded form, with the index of the scalar it comes from. A form is taken only when all of
    /// it is ASCII, ideographs or the fraction slash, so that what stays unspeakable is reported as written.
    static func fold(_ text: [Unicode.Scalar]) -> (scalars: [Unicode.Scalar], sources: [Int]) {
        var scalars: [Unicode.Scalar] = []
        var sources: [Int] = []
        scalars.reserveCapacity(text.count)
        sources.reserveCapacity(text.count)
        for (i, c) in text.enumerated() {
            let folded: [Unicode.Scalar]
            if c.isASCII || Normalizer.isAllowed(c) || ellipses.contains(c) {
                folded = [c]
            } else if isMark(c), let previous = scalars.last, previous.isASCIILetter {
                folded = []
            } else if let form = letterForms[c] {
                folded = Array(form.unicodeScalars)
            } else {
                var k = Array(String(Character(c)).decomposedStringWithCompatibilityMapping.unicodeScalars)
                if let first = k.first, first.isASCIILetter { k.removeAll(where: isMark) }
                let readable = k.allSatisfy {
                    ($0.isASCII && $0.value >= 0x20 && $0.value < 0x7F) || Normalizer.isAllowed($0) || $0 == "⁄"
                }
                folded = !k.isEmpty && readable ? k : [c]
            }
            scalars += folded
            sources += repeatElement(i, count: folded.count)
        }
        return (scalars, sources)
    }
}

/// ASCII classes by value, not by Unicode property (`Character.isLetter` would take `é` and `中`).
extension Unicode.Scalar {
    var isASCIILetter: Bool { (value >= 0x41 && value <= 0x5A) || (value >= 0x61 && value <= 0x7A) }
    var isASCIIDigit: Bool { value >= 0x30 && value <= 0x39 }
    var isASCIIAlphanumeric: Bool { isASCIILetter || isASCIIDigit }
}
