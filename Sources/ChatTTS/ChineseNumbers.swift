/// Chinese readings of numeric expressions, as a Mandarin speaker reads them aloud:
/// - values with 万/亿 grouping and one 零 per run of zeros (`1005` 一千零五, `100500` 十万零五百), a leading 十
///   without 一 (`10` 十, `15万` 十五万, but `110` 一百一十);
/// - 两 where Mandarin says it: 两千 and a lone 2 before 万/亿 (`2200` 两千二百, `2万` 两万), and 2 before a measure word
///   (`2个` 两个, `2点` 两点) but 二 in ordinals, months, floors and numbers read alone (`第2`, `2月`, `2楼`, `2`);
/// - years and codes digit by digit (`1999年` 一九九九年, `007` 零零七), phone numbers with 幺 for 1;
/// - integers of more than `maxSpelledDigits` digits digit by digit, since there is no common unit above 万亿.
enum ChineseNumbers {
    static let maxSpelledDigits = 16
    static let digitWords: [String] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"]
    static let scaleWords: [Int: String] = [3: "千", 4: "万", 6: "百万", 7: "千万", 8: "亿", 9: "十亿", 12: "万亿"]

    static func words(_ e: NumericExpression, _ context: ReadingContext) -> String {
        switch e {
        case .cardinal(let n): return number(n, counted: countsSomething(context.following))
        case .year(let y): return digits(String(y))
        case .decade(let d): return (d >= 100 ? digits(String(d)) : cardinal(UInt64(d))) + "年代"
        case .ordinal(let n), .numbered(let n): return "第" + number(n)
        case .date(let year, let month, let day):
            return (year.map { digits(String($0)) + "年" } ?? "") + cardinal(UInt64(month)) + "月"
                + (day.map { cardinal(UInt64($0)) + "日" } ?? "")
        case .time(let hour, let minute, let second, let meridiem):
            return time(hour, minute, second, meridiem)
        case .percent(let n, let perMille):
            return (n.sign == .minus ? "负" : "") + (perMille ? "千分之" : "百分之") + number(n.unsigned)
        case .money(let currency, let n, let scale): return money(currency, n, scale)
        case .measure(let unit, let n):
            if unit.isTemperature, let sign = n.sign {
                return (sign == .minus ? "零下" : "零上") + number(n.unsigned) + unit.chinese
            }
            return number(n, counted: true) + unit.chinese
        case .fraction(let numerator, let denominator):
            return (numerator.sign == .minus ? "负" : "") + number(denominator) + "分之" + number(numerator.unsigned)
        case .ratio(let a, let b): return number(a) + "比" + number(b)
        case .range(.percent(let a, let perMille), .percent(let b, _)) where a.sign == nil && b.sign == nil:
            return (perMille ? "千分之" : "百分之") + number(a) + "到" + number(b)
        case .range(let a, let b): return words(a, context) + "到" + words(b, context)
        case .digits(let groups, let plus):
            let spoken = groups.map { $0.map { $0 == 1 ? "幺" : digitWords[Int($0)] }.joined() }
            return (plus ? "加" : "") + spoken.joined(separator: "，")
        case .dotted(let prefix, let parts):
            return (prefix.map { String($0) } ?? "") + parts.map { number($0) }.joined(separator: "点")
        }
    }

    /// A written number: sign, integer part (digit by digit with a leading zero or beyond the bound), decimals digit
    /// by digit. `counted`: a measure word follows, so a lone 2 is 两.
    static func number(_ n: WrittenNumber, counted: Bool = false) -> String {
        let sign = n.sign == .minus ? "负" : n.sign == .plus ? "正" : ""
        let integer: String
        if n.integer.isEmpty {
            integer = "零"
        } else if n.hasLeadingZero {
            integer = digits(n.integer)
        } else if let v = n.integerValue(maxDigits: maxSpelledDigits) {
            integer = counted && v == 2 && n.fraction == nil ? "两" : cardinal(v)
        } else {
            integer = digits(n.integer)
        }
        return sign + integer + (n.fraction.map { "点" + digits($0) } ?? "")
    }

    static func digits(_ ds: [UInt8]) -> String { ds.map { digitWords[Int($0)] }.joined() }

    static func digits(_ s: String) -> String { digits(s.utf8.map { $0 - 0x30 }) }

    /// An integer below 10^16 in words.
    static func cardinal(_ v: UInt64) -> String {
        guard v > 0 else { return "零" }
        let s = grouped(v)
        return s.hasPrefix("一十") ? String(s.dropFirst()) : s
    }

    /// 亿 splits the number, then 万 each half; a 零 marks the zeros where a lower group does not fill its places.
    static func grouped(_ v: UInt64, beforeScale: Bool = false) -> String {
        if v >= 100_000_000 {
            let (high, low) = v.quotientAndRemainder(dividingBy: 100_000_000)
            let rest = low == 0 ? "" : (low < 10_000_000 ? "零" : "") + grouped(low)
            return grouped(high, beforeScale: true) + "亿" + rest
        }
        if v >= 10_000 {
            let (high, low) = v.quotientAndRemainder(dividingBy: 10_000)
            return belowTenThousand(Int(high), beforeScale: true) + "万"
                + (low == 0 ? "" : (low < 1000 ? "零" : "") + belowTenThousand(Int(low)))
        }
        return belowTenThousand(Int(v), beforeScale: beforeScale)
    }

    /// 1...9999; 2 is 两 in the thousands and alone before 万/亿.
    static func belowTenThousand(_ n: Int, beforeScale: Bool = false) -> String {
        if n == 2 && beforeScale { return "两" }
        let places = ["千", "百", "十", ""]
        let ds = [n / 1000, n / 100 % 10, n / 10 % 10, n % 10]
        var out = ""
        var pendingZero = false
        for (place, d) in ds.enumerated() {
            if d == 0 {
                pendingZero = !out.isEmpty
                continue
            }
            if pendingZero { out += "零" }
            pendingZero = false
            out += (d == 2 && place == 0 ? "两" : digitWords[d]) + places[place]
        }
        return out
    }

    static func time(_ hour: Int, _ minute: Int?, _ second: Int?, _ meridiem: Meridiem?) -> String {
        var out = meridiem.map { $0 == .am ? "上午" : "下午" } ?? ""
        out += (hour == 2 ? "两" : cardinal(UInt64(hour))) + "点"
        let minute = minute ?? 0
        let second = second ?? 0
        if minute > 0 || second > 0 { out += (minute < 10 ? "零" : "") + cardinal(UInt64(minute)) + "分" }
        if second > 0 { out += (second < 10 ? "零" : "") + cardinal(UInt64(second)) + "秒" }
        return out
    }

    /// `¥1,280.50` 一千二百八十元五角; other currencies and amounts with a scale read the number (`$3.99` 三点九九美元).
    static func money(_ currency: Currency, _ n: WrittenNumber, _ scale: Int?) -> String {
        if let scale, let name = scaleWords[scale] { return number(n, counted: true) + name + currency.chinese }
        guard currency.readsJiaoFen, (n.fraction?.count ?? 0) <= 2 else {
            return number(n, counted: true) + currency.chinese
        }
        let f = n.fraction ?? []
        let jiao = f.first ?? 0
        let fen = f.count > 1 ? f[1] : 0
        let noYuan = n.integer.allSatisfy { $0 == 0 } && (jiao > 0 || fen > 0)
        var out = n.sign == .minus ? "负" : ""
        if !noYuan { out += number(WrittenNumber(integer: n.integer.isEmpty ? [0] : n.integer), counted: true) + "元" }
        if jiao > 0 { out += (jiao == 2 ? "两" : digitWords[Int(jiao)]) + "角" }
        if fen > 0 { out += (jiao == 0 && !noYuan ? "零" : "") + (fen == 2 ? "两" : digitWords[Int(fen)]) + "分" }
        return out
    }

    /// Measure words after which a lone 2 is 两 (`2个` 两个, `2小时` 两小时); months, floors, grades and other ordinal
    /// uses of a number (`2月`, `2楼`, `2年级`) keep 二.
    static let measureWords: Set<Unicode.Scalar> = Set(
        ("个位名人只条张件本次回遍趟天周岁年倍种类份块元角分秒点辆台部架艘间家所座栋杯瓶碗盒箱袋包双对套副把支根"
            + "颗粒棵朵头匹群批项句首篇页步声下成万千百亿斤米克升").unicodeScalars)
    static let measureWordPrefixes = ["小时", "公斤", "公里", "分钟", "星期", "礼拜", "毫升", "毫米", "厘米", "千克", "千米"]
    static let ordinalUses = ["年级", "年代"]

    static func countsSomething(_ following: ArraySlice<Unicode.Scalar>) -> Bool {
        func starts(with word: String) -> Bool { following.starts(with: word.unicodeScalars) }
        guard let first = following.first, !ordinalUses.contains(where: starts) else { return false }
        return measureWords.contains(first) || measureWordPrefixes.contains(where: starts)
    }
}
