/// A number as written in the text. The digits are kept as written, not as a value, so that leading zeros (`007`)
/// and numbers longer than a reading spells survive until a language decides how to read them.
struct WrittenNumber: Hashable, Sendable {
    enum Sign: Hashable, Sendable {
        case minus
        case plus
    }

    var sign: Sign?
    /// Digits before the point, thousands separators dropped; empty for `.5`.
    var integer: [UInt8]
    /// Digits after the point; nil without a point.
    var fraction: [UInt8]?

    init(sign: Sign? = nil, integer: [UInt8], fraction: [UInt8]? = nil) {
        self.sign = sign
        self.integer = integer
        self.fraction = fraction
    }

    init(_ value: Int) {
        self.init(integer: String(value).utf8.map { $0 - 0x30 })
    }

    var unsigned: WrittenNumber { WrittenNumber(integer: integer, fraction: fraction) }

    /// Written with more than one digit and a leading zero (`007`, `05`): read digit by digit, not as a value.
    var hasLeadingZero: Bool { integer.count > 1 && integer[0] == 0 }

    /// Written exactly `1` (English nouns after it are singular).
    var isOne: Bool { fraction == nil && integer == [1] }

    /// The value of the digits before the point when there are at most `maxDigits` of them (at most 19).
    func integerValue(maxDigits: Int) -> UInt64? {
        guard !integer.isEmpty, integer.count <= maxDigits else { return nil }
        return integer.reduce(0) { $0 * 10 + UInt64($1) }
    }

    /// The value of an unsigned integer of at most four digits, for the parts of dates and times.
    var smallValue: Int? {
        guard sign == nil, fraction == nil, let v = integerValue(maxDigits: 4) else { return nil }
        return Int(v)
    }
}

enum Meridiem: Hashable, Sendable {
    case am
    case pm
}

/// What a run of text with digits means, as far as its writing shows; `NumberScanner` finds them, `ChineseNumbers`
/// and `EnglishNumbers` read them.
indirect enum NumericExpression: Hashable, Sendable {
    /// A plain number: `42`, `-3.5`, `1,000,000`, `007`.
    case cardinal(WrittenNumber)
    /// A year written so that it must be one: `1999年`, the year of a date.
    case year(Int)
    /// `1990s` (1990), `80s` (80).
    case decade(Int)
    /// `3rd`, `第3`.
    case ordinal(WrittenNumber)
    /// `No.1`, `#1`.
    case numbered(WrittenNumber)
    case date(year: Int?, month: Int, day: Int?)
    /// `minute` is nil for an hour alone (`3pm`).
    case time(hour: Int, minute: Int?, second: Int?, meridiem: Meridiem?)
    case percent(WrittenNumber, perMille: Bool)
    /// `scale` is a power of ten written after the amount (`$1.5 million`, `¥2.5亿`).
    case money(Currency, WrittenNumber, scale: Int?)
    case measure(MeasureUnit, WrittenNumber)
    case fraction(WrittenNumber, WrittenNumber)
    case ratio(WrittenNumber, WrittenNumber)
    case range(NumericExpression, NumericExpression)
    /// Phone numbers: read digit by digit, a pause between the groups as written.
    case digits(groups: [[UInt8]], plus: Bool)
    /// Versions and other dotted numbers: `v2.0.1` (prefix `v`), `1.2.3`.
    case dotted(prefix: Unicode.Scalar?, parts: [WrittenNumber])
}

/// What surrounds an expression, for the choices a reading makes from its neighbours (两 before a measure word in
/// Chinese, a year after `in` in English).
struct ReadingContext {
    /// The ASCII word right before the expression (spaces skipped), lowercased; empty when there is none.
    let previousWord: String
    /// The text after the expression.
    let following: ArraySlice<Unicode.Scalar>
}

/// A currency written as a symbol before (`$5`) or after (`5€`) the amount.
struct Currency: Hashable, Sendable {
    let symbols: [Unicode.Scalar]
    let chinese: String
    let singular: String
    let plural: String
    /// Cents, pence: English reads two decimals as a second amount; nil reads the decimals as a number.
    let minorSingular: String?
    let minorPlural: String?
    /// The yuan: Chinese reads two decimals as 角 and 分.
    let readsJiaoFen: Bool

    static let dollar = Currency(symbols: ["$"], chinese: "美元", singular: "dollar", plural: "dollars",
                                 minorSingular: "cent", minorPlural: "cents", readsJiaoFen: false)
    /// Also written as 元 after the amount (`2.50元`).
    static let yuan = Currency(symbols: ["¥", "￥"], chinese: "元", singular: "yuan", plural: "yuan",
                               minorSingular: nil, minorPlural: nil, readsJiaoFen: true)
    static let euro = Currency(symbols: ["€"], chinese: "欧元", singular: "euro", plural: "euros",
                               minorSingular: "cent", minorPlural: "cents", readsJiaoFen: false)
    static let pound = Currency(symbols: ["£", "￡"], chinese: "英镑", singular: "pound", plural: "pounds",
                                minorSingular: "penny", minorPlural: "pence", readsJiaoFen: false)
    static let all = [dollar, yuan, euro, pound]

    static let bySymbol: [Unicode.Scalar: Currency] = Dictionary(
        uniqueKeysWithValues: all.flatMap { c in c.symbols.map { ($0, c) } })
}

/// A unit written after a number, in any of its spellings.
struct MeasureUnit: Hashable, Sendable {
    let spellings: [String]
    /// 公斤; the spelling itself where Chinese reads the unit as written (`5GB` 五GB).
    let chinese: String
    let singular: String
    let plural: String
    /// Below zero is 零下 in Chinese.
    let isTemperature: Bool

    init(_ spellings: [String], _ chinese: String, _ singular: String, _ plural: String, temperature: Bool = false) {
        self.spellings = spellings
        self.chinese = chinese
        self.singular = singular
        self.plural = plural
        self.isTemperature = temperature
    }

    static let all: [MeasureUnit] = [
        MeasureUnit(["km/h"], "公里每小时", "kilometer per hour", "kilometers per hour"),
        MeasureUnit(["m/s"], "米每秒", "meter per second", "meters per second"),
        MeasureUnit(["mph"], "英里每小时", "mile per hour", "miles per hour"),
        MeasureUnit(["kg", "KG"], "公斤", "kilogram", "kilograms"),
        MeasureUnit(["g"], "克", "gram", "grams"),
        MeasureUnit(["mg"], "毫克", "milligram", "milligrams"),
        MeasureUnit(["lb", "lbs"], "磅", "pound", "pounds"),
        MeasureUnit(["oz"], "盎司", "ounce", "ounces"),
        MeasureUnit(["km"], "公里", "kilometer", "kilometers"),
        MeasureUnit(["m"], "米", "meter", "meters"),
        MeasureUnit(["cm"], "厘米", "centimeter", "centimeters"),
        MeasureUnit(["mm"], "毫米", "millimeter", "millimeters"),
        MeasureUnit(["ft"], "英尺", "foot", "feet"),
        MeasureUnit(["km²", "km2"], "平方公里", "square kilometer", "square kilometers"),
        MeasureUnit(["m²", "m2"], "平方米", "square meter", "square meters"),
        MeasureUnit(["cm²", "cm2"], "平方厘米", "square centimeter", "square centimeters"),
        MeasureUnit(["m³", "m3"], "立方米", "cubic meter", "cubic meters"),
        MeasureUnit(["L"], "升", "liter", "liters"),
        MeasureUnit(["ml", "mL"], "毫升", "milliliter", "milliliters"),
        MeasureUnit(["°C", "℃"], "摄氏度", "degree Celsius", "degrees Celsius", temperature: true),
        MeasureUnit(["°F", "℉"], "华氏度", "degree Fahrenheit", "degrees Fahrenheit", temperature: true),
        MeasureUnit(["°"], "度", "degree", "degrees"),
        MeasureUnit(["h", "hr", "hrs"], "小时", "hour", "hours"),
        MeasureUnit(["min", "mins"], "分钟", "minute", "minutes"),
        MeasureUnit(["sec", "secs"], "秒", "second", "seconds"),
        MeasureUnit(["ms"], "毫秒", "millisecond", "milliseconds"),
        MeasureUnit(["W"], "瓦", "watt", "watts"),
        MeasureUnit(["kW"], "千瓦", "kilowatt", "kilowatts"),
        MeasureUnit(["kWh"], "千瓦时", "kilowatt hour", "kilowatt hours"),
        MeasureUnit(["V"], "伏", "volt", "volts"),
        MeasureUnit(["mAh"], "毫安时", "milliamp hour", "milliamp hours"),
        MeasureUnit(["Hz"], "赫兹", "hertz", "hertz"),
        MeasureUnit(["kHz"], "千赫", "kilohertz", "kilohertz"),
        MeasureUnit(["MHz"], "兆赫", "megahertz", "megahertz"),
        MeasureUnit(["GHz"], "吉赫", "gigahertz", "gigahertz"),
        MeasureUnit(["KB"], "KB", "kilobyte", "kilobytes"),
        MeasureUnit(["MB"], "MB", "megabyte", "megabytes"),
        MeasureUnit(["GB"], "GB", "gigabyte", "gigabytes"),
        MeasureUnit(["TB"], "TB", "terabyte", "terabytes"),
        MeasureUnit(["Mbps"], "Mbps", "megabit per second", "megabits per second"),
        MeasureUnit(["Gbps"], "Gbps", "gigabit per second", "gigabits per second"),
    ]

    /// Every spelling with its unit, longest first, so that `km/h` wins over `km` and `min` over `m`. A one-letter
    /// spelling counts only right after the number (`5m`), since `5 m` is as often a letter or a word.
    static let spellings: [(spelling: [Unicode.Scalar], unit: MeasureUnit, needsAttachment: Bool)] = all
        .flatMap { unit in unit.spellings.map { (Array($0.unicodeScalars), unit) } }
        .sorted { $0.0.count > $1.0.count }
        .map { ($0.0, $0.1, $0.0.count == 1 && $0.0[0].isASCIILetter) }
}
