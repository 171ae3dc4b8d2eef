/// Finds the numeric expression that starts at a position of a text: a number with what its writing says about it
/// (a date, a time, an amount, a measure, a phone number, ...). It records what is written and leaves the reading to
/// `ChineseNumbers` and `EnglishNumbers`, so one grammar serves both languages.
///
/// The text is Unicode scalars after `TextNormalizationRules.fold` (full-width digits are ASCII by then). The shapes
/// are tried from the most to the least specific: a date, then a phone number (`2024-03-05` is not one), then a
/// time, an amount, a 第 ordinal and a plain number with its suffix, any of which may start a range (`3-5`,
/// `10%~20%`, `10:00-12:00`). Words come first where a letter starts one: `March 5`, `No.1`, `v2.0`.
struct NumberScanner {
    let text: [Unicode.Scalar]

    func expression(at i: Int) -> (NumericExpression, end: Int)? {
        guard let c = scalar(i) else { return nil }
        if isLetter(i) {
            guard !isLetter(i - 1) else { return nil }
            return monthFirstDate(at: i) ?? numbered(at: i) ?? version(at: i)
        }
        if c == "#" { return numbered(at: i) }
        if c == "第" { return ranged(at: i) }
        return date(at: i) ?? phone(at: i) ?? ranged(at: i)
    }

    // MARK: - Characters

    func scalar(_ i: Int) -> Unicode.Scalar? { i >= 0 && i < text.count ? text[i] : nil }

    func digit(_ i: Int) -> UInt8? {
        guard let c = scalar(i), c.isASCIIDigit else { return nil }
        return UInt8(c.value - 0x30)
    }

    func isDigit(_ i: Int) -> Bool { digit(i) != nil }

    func isLetter(_ i: Int) -> Bool { scalar(i)?.isASCIILetter ?? false }

    /// A letter or digit right before a sign makes it a hyphen or a minus between operands, not a sign.
    func isOperand(_ i: Int) -> Bool { isLetter(i) || isDigit(i) }

    /// Whether `-` at `i` can be a sign: not attached to a word or number, and not after a number and spaces
    /// (`3 - 5` is a subtraction).
    func signAllowed(at i: Int) -> Bool {
        guard !isOperand(i - 1) else { return false }
        var j = i - 1
        while scalar(j) == " " { j -= 1 }
        return !isDigit(j)
    }

    func digitRun(from i: Int) -> [UInt8] {
        var run: [UInt8] = []
        while let d = digit(i + run.count) { run.append(d) }
        return run
    }

    /// Whether these scalars are written at `i`.
    func has(_ scalars: some Sequence<Unicode.Scalar>, at i: Int) -> Bool {
        scalars.enumerated().allSatisfy { scalar(i + $0.offset) == $0.element }
    }

    /// Whether `word` (ASCII, compared without case) is written at `i` and ends there (no letter follows).
    func hasWord(_ word: String, at i: Int) -> Bool {
        let w = Array(word.unicodeScalars)
        for (k, s) in w.enumerated() {
            guard let c = scalar(i + k), c.properties.lowercaseMapping == String(s) || c == s else { return false }
        }
        return !isLetter(i + w.count)
    }

    /// The ASCII word that starts at `i`, lowercased, with its end.
    func word(at i: Int) -> (String, end: Int) {
        var j = i
        while isLetter(j) { j += 1 }
        return (String(String.UnicodeScalarView(text[i..<j])).lowercased(), j)
    }

    // MARK: - Numbers

    static let signs: [Unicode.Scalar: WrittenNumber.Sign] = ["-": .minus, "−": .minus, "+": .plus]

    /// A number (`12`, `1,280.50`, `.5`, with `signed` also `-3.2`), thousands separators only in groups of three.
    func number(at i: Int, signed: Bool) -> (WrittenNumber, end: Int)? {
        var j = i
        var sign: WrittenNumber.Sign?
        if signed, let c = scalar(j), let s = Self.signs[c], signAllowed(at: j),
           isDigit(j + 1) || (scalar(j + 1) == "." && isDigit(j + 2)) {
            sign = s
            j += 1
        }
        var integer = digitRun(from: j)
        if integer.isEmpty {
            guard scalar(j) == ".", isDigit(j + 1), !isOperand(j - 1), scalar(j - 1) != "." else { return nil }
        }
        j += integer.count
        if integer.count <= 3 {
            while scalar(j) == ",", (1...3).allSatisfy({ isDigit(j + $0) }), !isDigit(j + 4) {
                integer += digitRun(from: j + 1)
                j += 4
            }
        }
        var fraction: [UInt8]?
        if scalar(j) == ".", isDigit(j + 1) {
            let run = digitRun(from: j + 1)
            fraction = run
            j += 1 + run.count
        }
        return (WrittenNumber(sign: sign, integer: integer, fraction: fraction), j)
    }

    /// An unsigned integer without separators, written with a number of digits in `count` (at most 9).
    func integer(at i: Int, digits count: ClosedRange<Int>) -> (Int, end: Int)? {
        let run = digitRun(from: i)
        guard count.contains(run.count), run.count <= 9 else { return nil }
        return (run.reduce(0) { $0 * 10 + Int($1) }, i + run.count)
    }

    // MARK: - Ranges

    static let rangeConnectors: Set<Unicode.Scalar> = ["-", "~", "–"]

    /// A time, amount, number or Chinese ordinal, and a second one after `-`, `~` or `–`: the first takes the kind
    /// of the second where the writing shares it (`10-20%` is two percentages, `2020-2024年` two years).
    func ranged(at i: Int) -> (NumericExpression, end: Int)? {
        guard let (first, end) = simple(at: i) else { return nil }
        var j = end
        let spaced = scalar(j) == " "
        if spaced { j += 1 }
        guard let c = scalar(j), Self.rangeConnectors.contains(c), !(spaced && c == "-") else { return (first, end) }
        j += 1
        if c != "-" && scalar(j) == " " { j += 1 }
        let next = scalar(j) ?? " "
        guard isDigit(j) || Currency.bySymbol[next] != nil || (c != "-" && Self.signs[next] != nil),
              let (second, secondEnd) = simple(at: j) else { return (first, end) }
        return (.range(Self.sharingKind(first, with: second), Self.sharingKind(second, with: first)), secondEnd)
    }

    /// A bare number of a range, given the kind the other end is written with: a percentage or a year after it
    /// (`10-20%`, `2020-2024年`), the currency before it (`$10-20`).
    static func sharingKind(_ bare: NumericExpression, with other: NumericExpression) -> NumericExpression {
        switch (bare, other) {
        case (.cardinal(let n), .percent(_, let perMille)): return .percent(n, perMille: perMille)
        case (.cardinal(let n), .year) where n.integer.count == 4: return n.smallValue.map { .year($0) } ?? bare
        case (.cardinal(let n), .money(let currency, _, let scale)): return .money(currency, n, scale: scale)
        default: return bare
        }
    }

    func simple(at i: Int) -> (NumericExpression, end: Int)? {
        if scalar(i) == "第" {
            guard isDigit(i + 1), let (n, end) = number(at: i + 1, signed: false), n.fraction == nil else { return nil }
            return (.ordinal(n), end)
        }
        return time(at: i) ?? money(at: i) ?? quantity(at: i)
    }

    // MARK: - Dates, times, phone numbers

    /// `2024-03-05`, `2024/3/5`, `2024.03.05`, `2024-03` (two-digit month), and the US `3/5/2024`.
    func date(at i: Int) -> (NumericExpression, end: Int)? {
        guard isDigit(i), !isOperand(i - 1) else { return nil }
        func valid(_ month: Int, _ day: Int?) -> Bool {
            (1...12).contains(month) && (day.map { (1...31).contains($0) } ?? true)
        }
        if let (year, e1) = integer(at: i, digits: 4...4), year >= 1000, let sep = scalar(e1),
           "-/.".unicodeScalars.contains(sep), let (month, e2) = integer(at: e1 + 1, digits: 1...2) {
            if scalar(e2) == sep, let (day, e3) = integer(at: e2 + 1, digits: 1...2), valid(month, day),
               !(scalar(e3) == sep && isDigit(e3 + 1)) {
                return (.date(year: year, month: month, day: day), e3)
            }
            if sep != ".", e2 == e1 + 3, valid(month, nil), !(scalar(e2) == sep && isDigit(e2 + 1)) {
                return (.date(year: year, month: month, day: nil), e2)
            }
        }
        if let (month, e1) = integer(at: i, digits: 1...2), scalar(e1) == "/",
           let (day, e2) = integer(at: e1 + 1, digits: 1...2), scalar(e2) == "/",
           let (year, e3) = integer(at: e2 + 1, digits: 4...4), valid(month, day) {
            return (.date(year: year, month: month, day: day), e3)
        }
        return nil
    }

    static let months = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
                         "october", "november", "december"]

    /// The month (1-12) of a capitalized English month name or its abbreviation (`Sept`, `Mar.`), with its end.
    func monthName(at i: Int) -> (Int, end: Int)? {
        guard let c = scalar(i), c.properties.isUppercase else { return nil }
        let (w, end) = word(at: i)
        let abbreviation = w == "sept" ? "sep" : w
        guard w.count >= 3, let index = Self.months.firstIndex(where: { $0 == w || $0.prefix(3) == abbreviation })
        else { return nil }
        return (index + 1, scalar(end) == "." && w.count < Self.months[index].count ? end + 1 : end)
    }

    /// A day of the month with an optional ordinal suffix (`5`, `5th`), with its end.
    func dayOfMonth(at i: Int) -> (Int, end: Int)? {
        guard let (day, end) = integer(at: i, digits: 1...2), (1...31).contains(day) else { return nil }
        let suffixed = ordinalSuffix(at: end)
        return (day, suffixed ? end + 2 : end)
    }

    /// `March 5`, `March 5th, 2024`, `Mar. 5 2024`.
    func monthFirstDate(at i: Int) -> (NumericExpression, end: Int)? {
        guard let (month, e1) = monthName(at: i), scalar(e1) == " ", let (day, e2) = dayOfMonth(at: e1 + 1),
              !isLetter(e2) else { return nil }
        var j = e2
        if scalar(j) == "," { j += 1 }
        if scalar(j) == " ", let (year, e3) = integer(at: j + 1, digits: 4...4) {
            return (.date(year: year, month: month, day: day), e3)
        }
        return (.date(year: nil, month: month, day: day), e2)
    }

    /// `5 March`, `5th of March 2024`, from the day.
    func dayFirstDate(at i: Int) -> (NumericExpression, end: Int)? {
        guard !isOperand(i - 1), let (day, e1) = dayOfMonth(at: i), scalar(e1) == " " else { return nil }
        var j = e1 + 1
        if hasWord("of", at: j), scalar(j + 2) == " " { j += 3 }
        guard let (month, e2) = monthName(at: j) else { return nil }
        if scalar(e2) == " ", let (year, e3) = integer(at: e2 + 1, digits: 4...4) {
            return (.date(year: year, month: month, day: day), e3)
        }
        return (.date(year: nil, month: month, day: day), e2)
    }

    /// `10:30`, `10:30:15`, `10:30 am`, `3pm`, `3 p.m.` (the last dot is left to end the sentence).
    func time(at i: Int) -> (NumericExpression, end: Int)? {
        guard !isOperand(i - 1), scalar(i - 1) != ":", let (hour, e1) = integer(at: i, digits: 1...2) else {
            return nil
        }
        var minute: Int?
        var second: Int?
        var j = e1
        if scalar(j) == ":" {
            guard let (m, e2) = integer(at: j + 1, digits: 2...2), hour <= 24, m <= 59 else { return nil }
            (minute, j) = (m, e2)
            if scalar(j) == ":", let (s, e3) = integer(at: j + 1, digits: 2...2), s <= 59 { (second, j) = (s, e3) }
            if scalar(j) == ":" && isDigit(j + 1) { return nil }
        }
        var k = j
        if scalar(k) == " " { k += 1 }
        if (1...12).contains(hour), let (meridiem, end) = meridiem(at: k) {
            return (.time(hour: hour, minute: minute, second: second, meridiem: meridiem), end)
        }
        guard minute != nil else { return nil }
        return (.time(hour: hour, minute: minute, second: second, meridiem: nil), j)
    }

    func meridiem(at i: Int) -> (Meridiem, end: Int)? {
        let kind: Meridiem
        switch scalar(i) {
        case "a", "A": kind = .am
        case "p", "P": kind = .pm
        default: return nil
        }
        if scalar(i + 1) == "m" || scalar(i + 1) == "M", !isLetter(i + 2) { return (kind, i + 2) }
        if scalar(i + 1) == ".", scalar(i + 2) == "m" || scalar(i + 2) == "M", scalar(i + 3) == "." {
            return (kind, i + 3)
        }
        return nil
    }

    /// A phone number, read digit by digit: `+86 138 0013 8000`, `(555) 123-4567`, `13800138000` (a Chinese mobile
    /// number, grouped 3-4-4), `138-0013-8000`, `400-820-8820`, `010-12345678`, `138 0013 8000`. Other digit groups
    /// joined by spaces or a single hyphen are separate numbers or a range.
    func phone(at i: Int) -> (NumericExpression, end: Int)? {
        guard !isOperand(i - 1), scalar(i - 1) != "." else { return nil }
        var j = i
        let plus = scalar(j) == "+"
        if plus { j += 1 }
        guard isDigit(j) || scalar(j) == "(" else { return nil }
        var groups: [[UInt8]] = []
        var ends: [Int] = []
        var separators: [Unicode.Scalar] = []
        while true {
            if scalar(j) == "(" {
                let run = digitRun(from: j + 1)
                guard (1...5).contains(run.count), scalar(j + 1 + run.count) == ")" else { break }
                groups.append(run)
                j += run.count + 2
                if isDigit(j) {  // `(010)12345678`
                    ends.append(j)
                    separators.append(" ")
                    continue
                }
            } else {
                let run = digitRun(from: j)
                guard !run.isEmpty else { break }
                groups.append(run)
                j += run.count
            }
            ends.append(j)
            guard let sep = scalar(j), sep == " " || sep == "-" else { break }
            // A group after a space has two digits at least, so that `+86 138 0013 8000 5 apples` stops before 5.
            guard scalar(j + 1) == "(" || digitRun(from: j + 1).count >= (sep == " " ? 2 : 1) else { break }
            separators.append(sep)
            j += 1
        }
        // Prefixes from the longest: `13800138000 12` is the phone number, then 12.
        for n in stride(from: groups.count, through: 1, by: -1) {
            let g = Array(groups[..<n])
            let seps = Array(separators[..<(n - 1)])
            let end = ends[n - 1]
            guard !isLetter(end), !isDigit(end), !(scalar(end) == "." && isDigit(end + 1)) else { continue }
            let digits = g.reduce(0) { $0 + $1.count }
            let isPhone: Bool
            if plus {
                isPhone = digits >= 8
            } else if scalar(i) == "(" {
                isPhone = digits >= 7
            } else if n == 1 {
                isPhone = Self.isChineseMobile(g[0])
            } else if seps.allSatisfy({ $0 == "-" }) {
                isPhone = (n >= 3 && digits >= 7) || (n == 2 && g[0].first == 0 && (3...4).contains(g[0].count)
                                                      && (7...8).contains(g[1].count))
            } else {
                isPhone = g.map(\.count) == [3, 4, 4] && g[0].first == 1
            }
            guard isPhone else { continue }
            let mobile = n == 1 && !plus
            let grouped = mobile ? [Array(g[0][0..<3]), Array(g[0][3..<7]), Array(g[0][7...])] : g
            return (.digits(groups: grouped, plus: plus), end)
        }
        return nil
    }

    static func isChineseMobile(_ digits: [UInt8]) -> Bool {
        digits.count == 11 && digits[0] == 1 && digits[1] >= 3
    }

    // MARK: - Amounts, numbers and their suffixes

    /// `$3.99`, `-$5`, `¥1,280.50`, `€ 20`, `$1.5 million`, `$5k`, `$100万`.
    func money(at i: Int) -> (NumericExpression, end: Int)? {
        var j = i
        var sign: WrittenNumber.Sign?
        if let c = scalar(j), let s = Self.signs[c], signAllowed(at: j), let next = scalar(j + 1),
           Currency.bySymbol[next] != nil {
            sign = s
            j += 1
        }
        guard let c = scalar(j), let currency = Currency.bySymbol[c] else { return nil }
        j += 1
        if scalar(j) == " " { j += 1 }
        guard let (unsigned, end) = number(at: j, signed: false) else { return nil }
        var amount = unsigned
        amount.sign = sign
        let (scale, scaleEnd) = self.scale(at: end)
        return (.money(currency, amount, scale: scale), scaleEnd)
    }

    static let scaleWords: [(String, Int)] = [("thousand", 3), ("million", 6), ("billion", 9), ("trillion", 12)]
    static let scaleLetters: [(String, Int)] = [("bn", 9), ("k", 3), ("K", 3), ("m", 6), ("M", 6), ("B", 9)]
    static let scaleIdeographs: [(String, Int)] = [("万亿", 12), ("百万", 6), ("千万", 7), ("十亿", 9), ("千", 3),
                                                   ("万", 4), ("亿", 8)]

    /// A power of ten written after an amount, with its end (`end` itself when there is none).
    func scale(at end: Int) -> (Int?, end: Int) {
        for (w, e) in Self.scaleIdeographs where has(w.unicodeScalars, at: end) {
            return (e, end + w.unicodeScalars.count)
        }
        for (w, e) in Self.scaleLetters where has(w.unicodeScalars, at: end) && !isLetter(end + w.count) {
            return (e, end + w.count)
        }
        if scalar(end) == " " {
            for (w, e) in Self.scaleWords where hasWord(w, at: end + 1) { return (e, end + 1 + w.count) }
        }
        return (nil, end)
    }

    /// Whether an ordinal suffix (`st`, `nd`, `rd`, `th`, any case) is written at `i` and ends a word.
    func ordinalSuffix(at i: Int) -> Bool {
        ["st", "nd", "rd", "th"].contains { hasWord($0, at: i) }
    }

    /// A number and what its suffix makes of it.
    func quantity(at i: Int) -> (NumericExpression, end: Int)? {
        if let d = dayFirstDate(at: i) { return d }
        guard let (n, j) = number(at: i, signed: true) else { return nil }
        let plainInteger = n.sign == nil && n.fraction == nil
        if plainInteger && ordinalSuffix(at: j) { return (.ordinal(n), j + 2) }
        if plainInteger, let decade = decade(n, at: j) { return decade }
        var k = j
        if scalar(k) == " " { k += 1 }
        if scalar(k) == "%" { return (.percent(n, perMille: false), k + 1) }
        if scalar(k) == "‰" { return (.percent(n, perMille: true), k + 1) }
        if let c = scalar(k), let currency = Currency.bySymbol[c] { return (.money(currency, n, scale: nil), k + 1) }
        if scalar(j) == "元" { return (.money(.yuan, n, scale: nil), j + 1) }
        if let (unit, end) = unit(at: j, attached: true) ?? (k > j ? unit(at: k, attached: false) : nil) {
            return (.measure(unit, n), end)
        }
        if let fraction = n.fraction, n.sign == nil, scalar(j) == ".", isDigit(j + 1) {
            let first = [WrittenNumber(integer: n.integer), WrittenNumber(integer: fraction)]
            let (parts, end) = dottedParts(first, from: j)
            return (.dotted(prefix: nil, parts: parts), end)
        }
        if n.fraction == nil, scalar(j) == "/" || scalar(j) == "⁄", let (d, e) = number(at: j + 1, signed: false),
           d.fraction == nil, !((scalar(e) == "/" || scalar(e) == ".") && isDigit(e + 1)) {
            return (.fraction(n, d), e)
        }
        if plainInteger, scalar(j) == ":", let (b, e) = number(at: j + 1, signed: false), b.fraction == nil {
            return (.ratio(n, b), e)
        }
        if plainInteger, n.integer.count == 4, let year = n.smallValue, year >= 1000, scalar(j) == "年" {
            return (.year(year), j)
        }
        return (.cardinal(n), j)
    }

    /// The unit written at `i` (after a space when not `attached`) and its end; a spelling that ends in a letter
    /// must end the word.
    func unit(at i: Int, attached: Bool) -> (MeasureUnit, end: Int)? {
        for (spelling, unit, needsAttachment) in MeasureUnit.spellings where attached || !needsAttachment {
            let end = i + spelling.count
            if has(spelling, at: i) && !(isLetter(end - 1) && isLetter(end)) { return (unit, end) }
        }
        return nil
    }

    /// `1990s`, `1990's`, `80s`: a multiple of ten followed by `s`.
    func decade(_ n: WrittenNumber, at j: Int) -> (NumericExpression, end: Int)? {
        guard let v = n.smallValue, v % 10 == 0, !n.hasLeadingZero,
              (n.integer.count == 4 && v >= 1000) || (n.integer.count == 2 && v >= 10) else { return nil }
        var k = j
        if scalar(k) == "'" || scalar(k) == "’" { k += 1 }
        guard scalar(k) == "s", !isLetter(k + 1) else { return nil }
        return (.decade(v), k + 1)
    }

    // MARK: - Numbered things and versions

    /// `No.1`, `No. 1`, `no1`, `#1`.
    func numbered(at i: Int) -> (NumericExpression, end: Int)? {
        var j: Int
        if scalar(i) == "#" {
            guard !isOperand(i - 1) else { return nil }
            j = i + 1
        } else {
            guard scalar(i) == "N" || scalar(i) == "n", scalar(i + 1) == "o" || scalar(i + 1) == "O" else { return nil }
            j = i + 2
            if scalar(j) == "." {
                j += 1
                if scalar(j) == " " { j += 1 }
            }
        }
        guard isDigit(j), let (n, end) = number(at: j, signed: false), n.fraction == nil else { return nil }
        return (.numbered(n), end)
    }

    /// `v2`, `V2.0`, `v1.2.3`.
    func version(at i: Int) -> (NumericExpression, end: Int)? {
        guard let v = scalar(i), v == "v" || v == "V", isDigit(i + 1) else { return nil }
        let first = digitRun(from: i + 1)
        let (parts, end) = dottedParts([WrittenNumber(integer: first)], from: i + 1 + first.count)
        return (.dotted(prefix: v, parts: parts), end)
    }

    /// `parts` with the digit runs that follow, each after a dot, from `i`.
    func dottedParts(_ parts: [WrittenNumber], from i: Int) -> ([WrittenNumber], end: Int) {
        var parts = parts
        var j = i
        while scalar(j) == ".", isDigit(j + 1) {
            let run = digitRun(from: j + 1)
            parts.append(WrittenNumber(integer: run))
            j += 1 + run.count
        }
        return (parts, j)
    }
}
