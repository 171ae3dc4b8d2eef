/// English readings of numeric expressions, in American usage: `one hundred five` (no "and"), `twenty one` with a
/// space since the front end turns a hyphen into a pause, years in pairs (`nineteen ninety nine`, `twenty oh five`
/// for 1905-style years but `two thousand five`), ordinals, cents after dollars, singular units after exactly 1.
///
/// Integers of more than `maxSpelledDigits` digits (a quintillion and up, which nobody reads as words) are read digit
/// by digit, as are numbers written with a leading zero (`007`).
enum EnglishNumbers {
    static let maxSpelledDigits = 18
    static let small = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                        "nineteen"]
    static let tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    static let thousands = ["", "thousand", "million", "billion", "trillion", "quadrillion"]
    static let scaleWords: [Int: String] = [3: "thousand", 4: "ten thousand", 6: "million", 7: "ten million",
                                            8: "hundred million", 9: "billion", 12: "trillion"]
    static let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                             "October", "November", "December"]
    /// Words after which a four-digit number is a year: `in 1999`, `since 2010`, `March 2024`.
    static let yearContext: Set<String> = Set(["in", "since", "from", "until", "till", "to", "by", "of", "year",
                                               "before", "after", "during", "circa", "around", "early", "late",
                                               "mid"] + monthNames.map { $0.lowercased() })

    static func words(_ e: NumericExpression, _ context: ReadingContext) -> String {
        read(e, context).joined(separator: " ")
    }

    static func read(_ e: NumericExpression, _ context: ReadingContext) -> [String] {
        switch e {
        case .cardinal(let n):
            if let y = yearLike(n), yearContext.contains(context.previousWord) { return year(y) }
            return number(n)
        case .year(let y): return year(y)
        case .decade(let d): return plural(d >= 100 ? year(d) : [tens[d / 10].isEmpty ? "ten" : tens[d / 10]])
        case .ordinal(let n): return ordinal(number(n))
        case .numbered(let n): return ["number"] + number(n)
        case .date(let y, let month, let day):
            var out = [monthNames[month - 1]] + (day.map { ordinal(cardinal(UInt64($0))) } ?? [])
            if let y {
                if day != nil { out[out.count - 1] += "," }
                out += year(y)
            }
            return out
        case .time(let hour, let minute, let second, let meridiem): return time(hour, minute, second, meridiem)
        case .percent(let n, let perMille): return number(n) + (perMille ? ["per", "mille"] : ["percent"])
        case .money(let currency, let n, let scale): return money(currency, n, scale)
        case .measure(let unit, let n): return number(n) + [n.isOne ? unit.singular : unit.plural]
        case .fraction(let numerator, let denominator): return fraction(numerator, denominator)
        case .ratio(let a, let b): return number(a) + ["to"] + number(b)
        case .range(.cardinal(let a), .cardinal(let b)) where yearLike(a) != nil && yearLike(b) != nil:
            return year(yearLike(a)!) + ["to"] + year(yearLike(b)!)
        case .range(.percent(let a, _), .percent(let b, let perMille)):
            return number(a) + ["to"] + read(.percent(b, perMille: perMille), context)
        case .range(let a, let b): return read(a, context) + ["to"] + read(b, context)
        case .digits(let groups, let plus):
            let spoken = groups.map { $0.map { small[Int($0)] }.joined(separator: " ") }.joined(separator: ", ")
            return (plus ? ["plus"] : []) + [spoken]
        case .dotted(let prefix, let parts):
            let spoken = parts.map { number($0).joined(separator: " ") }.joined(separator: " point ")
            return (prefix == nil ? [] : ["version"]) + [spoken]
        }
    }

    /// A written number: sign, integer part (digit by digit with a leading zero or beyond the bound), decimals digit
    /// by digit (`.5` is `point five`).
    static func number(_ n: WrittenNumber) -> [String] {
        var out: [String] = n.sign == .minus ? ["minus"] : n.sign == .plus ? ["plus"] : []
        if n.hasLeadingZero {
            out += digits(n.integer)
        } else if let v = n.integerValue(maxDigits: maxSpelledDigits) {
            out += cardinal(v)
        } else {
            out += digits(n.integer)
        }
        if let f = n.fraction { out += ["point"] + digits(f) }
        return out
    }

    static func digits(_ ds: [UInt8]) -> [String] { ds.map { small[Int($0)] } }

    static func cardinal(_ v: UInt64) -> [String] {
        guard v > 0 else { return ["zero"] }
        var groups: [Int] = []
        var rest = v
        while rest > 0 {
            groups.append(Int(rest % 1000))
            rest /= 1000
        }
        var out: [String] = []
        for (scale, g) in groups.enumerated().reversed() where g > 0 {
            out += belowThousand(g) + (thousands[scale].isEmpty ? [] : [thousands[scale]])
        }
        return out
    }

    static func belowThousand(_ n: Int) -> [String] {
        let (hundreds, rest) = n.quotientAndRemainder(dividingBy: 100)
        var out = hundreds > 0 ? [small[hundreds], "hundred"] : []
        if rest >= 20 {
            out.append(tens[rest / 10])
            if rest % 10 > 0 { out.append(small[rest % 10]) }
        } else if rest > 0 {
            out.append(small[rest])
        }
        return out
    }

    /// A four-digit number that can be read as a year.
    static func yearLike(_ n: WrittenNumber) -> Int? {
        guard n.integer.count == 4, let v = n.smallValue, (1000...2099).contains(v) else { return nil }
        return v
    }

    /// `nineteen ninety nine`, `nineteen oh five`, `nineteen hundred`, `two thousand`, `two thousand five`.
    static func year(_ y: Int) -> [String] {
        guard (1000...9999).contains(y), y % 1000 != 0, !(2001...2009).contains(y) else { return cardinal(UInt64(y)) }
        let (high, low) = y.quotientAndRemainder(dividingBy: 100)
        if low == 0 { return cardinal(UInt64(high)) + ["hundred"] }
        if low < 10 { return cardinal(UInt64(high)) + ["oh", small[low]] }
        return cardinal(UInt64(high)) + cardinal(UInt64(low))
    }

    static let irregularOrdinals = ["one": "first", "two": "second", "three": "third", "five": "fifth",
                                    "eight": "eighth", "nine": "ninth", "twelve": "twelfth"]

    /// The words of a number with the last one made ordinal: `twenty one` -> `twenty first`.
    static func ordinal(_ words: [String]) -> [String] {
        guard let last = words.last else { return words }
        let ordinal = irregularOrdinals[last] ?? (last.hasSuffix("y") ? last.dropLast() + "ieth" : last + "th")
        return words.dropLast() + [ordinal]
    }

    /// `nineties`, `hundreds`, `tens`.
    static func plural(_ words: [String]) -> [String] {
        guard let last = words.last else { return words }
        return words.dropLast() + [last.hasSuffix("y") ? last.dropLast() + "ies" : last + "s"]
    }

    static func time(_ hour: Int, _ minute: Int?, _ second: Int?, _ meridiem: Meridiem?) -> [String] {
        var out = cardinal(UInt64(hour))
        switch minute {
        case nil: break
        case 0?: if meridiem == nil { out += ["o", "clock"] }
        case let m? where m < 10: out += ["oh", small[m]]
        case let m?: out += cardinal(UInt64(m))
        }
        if let s = second, s > 0 { out += ["and"] + cardinal(UInt64(s)) + [s == 1 ? "second" : "seconds"] }
        if let meridiem { out += meridiem == .am ? ["a", "m"] : ["p", "m"] }
        return out
    }

    /// `$3.99` three dollars and ninety nine cents, `$1.5 million` one point five million dollars, `¥12.50` twelve
    /// point five yuan (a currency without a minor unit reads its decimals, trailing zeros dropped).
    static func money(_ currency: Currency, _ n: WrittenNumber, _ scale: Int?) -> [String] {
        if let scale, let name = scaleWords[scale] { return number(n) + [name, currency.plural] }
        let name = { (n: WrittenNumber) in n.isOne ? currency.singular : currency.plural }
        guard let f = n.fraction else { return number(n) + [name(n)] }
        guard let minorSingular = currency.minorSingular, let minorPlural = currency.minorPlural, f.count <= 2 else {
            var trimmed = n
            while trimmed.fraction?.last == 0 { trimmed.fraction?.removeLast() }
            if trimmed.fraction?.isEmpty == true { trimmed.fraction = nil }
            return number(trimmed) + [name(trimmed)]
        }
        let major = WrittenNumber(integer: n.integer.isEmpty ? [0] : n.integer)
        let cents = Int(f[0]) * 10 + (f.count > 1 ? Int(f[1]) : 0)
        var out: [String] = n.sign == .minus ? ["minus"] : []
        let hasMajor = !major.integer.allSatisfy { $0 == 0 } || cents == 0
        if hasMajor { out += number(major) + [name(major)] }
        if cents > 0 {
            out += (hasMajor ? ["and"] : []) + cardinal(UInt64(cents)) + [cents == 1 ? minorSingular : minorPlural]
        }
        return out
    }

    /// Proper fractions with a denominator up to ten read as such (`one half`, `two thirds`, `three quarters`);
    /// others as `a over b`.
    static func fraction(_ numerator: WrittenNumber, _ denominator: WrittenNumber) -> [String] {
        guard let a = numerator.unsigned.smallValue, let b = denominator.smallValue, (2...10).contains(b),
              (1..<b).contains(a) else { return number(numerator) + ["over"] + number(denominator) }
        let single = b == 2 ? "half" : b == 4 ? "quarter" : ordinal([small[b]])[0]
        let name = a == 1 ? single : b == 2 ? "halves" : single + "s"
        return number(numerator) + [name]
    }
}
