import ChatTTS
import Testing

/// The built-in English rules through `Normalizer` (text forced to en): each table is one kind of expression. No
/// hyphens in what they write: the front end would turn one into a pause.
@Suite("English reading of numbers, dates, amounts and punctuation")
struct EnglishReadingTests {
    @Test("integers, digit by digit past 18 digits or with a leading zero", arguments: ReadingCase.table([
        "0": "zero", "7": "seven", "13": "thirteen", "21": "twenty one", "40": "forty", "100": "one hundred",
        "101": "one hundred one", "115": "one hundred fifteen", "1005": "one thousand five",
        "2024": "two thousand twenty four", "1,000,000": "one million", "1000000000": "one billion",
        "1,234,567": "one million two hundred thirty four thousand five hundred sixty seven",
        "123456789012345678": "one hundred twenty three quadrillion four hundred fifty six trillion seven hundred "
            + "eighty nine billion twelve million three hundred forty five thousand six hundred seventy eight",
        "1234567890123456789": "one two three four five six seven eight nine zero one two three four five six seven "
            + "eight nine",
        "007": "zero zero seven",
    ]))
    func integers(_ c: ReadingCase) { c.check(.en) }

    @Test("decimals, signs and operators", arguments: ReadingCase.table([
        "3.5": "three point five", "0.5": "zero point five", ".5": "point five",
        "3.14159": "three point one four one five nine", "-5": "minus five", "−3.2": "minus three point two",
        "+5": "plus five", "1+1=2": "one plus one equals two", "3 - 5": "three minus five", "2×3": "two times three",
        "6÷2": "six divided by two",
    ]))
    func decimalsAndSigns(_ c: ReadingCase) { c.check(.en) }

    @Test("years after a word that calls for one, decades, year ranges", arguments: ReadingCase.table([
        "in 1999": "in nineteen ninety nine", "since 2010": "since twenty ten", "in 2005": "in two thousand five",
        "in 2000": "in two thousand", "in 1905": "in nineteen oh five", "in 1900": "in nineteen hundred",
        "2000": "two thousand", "the 1990s": "the nineteen nineties", "2010s": "twenty tens",
        "the 2000s": "the two thousands", "80s": "eighties", "the '80s": "the eighties",
        "1999-2001": "nineteen ninety nine to two thousand one",
    ]))
    func years(_ c: ReadingCase) { c.check(.en) }

    @Test("dates", arguments: ReadingCase.table([
        "2024-03-05": "March fifth, twenty twenty four", "2024/12/25": "December twenty fifth, twenty twenty four",
        "March 5, 2024": "March fifth, twenty twenty four", "March 5": "March fifth", "Jan. 1st": "January first",
        "5 March 2024": "March fifth, twenty twenty four", "1st of May": "May first",
        "3/5/2024": "March fifth, twenty twenty four", "2024-03": "March twenty twenty four",
    ]))
    func dates(_ c: ReadingCase) { c.check(.en) }

    @Test("times", arguments: ReadingCase.table([
        "10:30": "ten thirty", "10:05": "ten oh five", "10:00": "ten o clock", "14:30": "fourteen thirty",
        "10:30 am": "ten thirty a m", "10:30AM": "ten thirty a m", "3pm": "three p m", "at 5 p.m.": "at five p m.",
        "10:30:15": "ten thirty and fifteen seconds", "9:00-17:00": "nine o clock to seventeen o clock",
    ]))
    func times(_ c: ReadingCase) { c.check(.en) }

    @Test("percentages", arguments: ReadingCase.table([
        "3.5%": "three point five percent", "12.5%": "twelve point five percent", "1%": "one percent",
        "-5%": "minus five percent", "10-20%": "ten to twenty percent", "10%-20%": "ten to twenty percent",
        "5‰": "five per mille",
    ]))
    func percentages(_ c: ReadingCase) { c.check(.en) }

    @Test("amounts: cents after dollars, singular for one, scales before the currency", arguments: ReadingCase.table([
        "$3.99": "three dollars and ninety nine cents", "$1": "one dollar", "$0.99": "ninety nine cents",
        "$1.01": "one dollar and one cent", "$5.5": "five dollars and fifty cents", "$1,000": "one thousand dollars",
        "€20": "twenty euros", "€1": "one euro", "5€": "five euros", "£5.20": "five pounds and twenty pence",
        "¥1,280.50": "one thousand two hundred eighty point five yuan", "¥100": "one hundred yuan",
        "$1.5 million": "one point five million dollars", "$5k": "five thousand dollars", "$2B": "two billion dollars",
        "-$5": "minus five dollars", "$10-20": "ten dollars to twenty dollars",
        "$3.999": "three point nine nine nine dollars",
    ]))
    func amounts(_ c: ReadingCase) { c.check(.en) }

    @Test("units, singular after exactly one, one-letter units only attached", arguments: ReadingCase.table([
        "5kg": "five kilograms", "1 kg": "one kilogram", "0.5 kg": "zero point five kilograms",
        "3km": "three kilometers",
        "25°C": "twenty five degrees Celsius", "-5°C": "minus five degrees Celsius", "1°C": "one degree Celsius",
        "100 km/h": "one hundred kilometers per hour", "60 mph": "sixty miles per hour", "6 ft": "six feet",
        "1 ft": "one foot", "24h": "twenty four hours", "30 mins": "thirty minutes", "5GB": "five gigabytes",
        "3-5kg": "three to five kilograms", "5m": "five meters", "5 m": "five m",
    ]))
    func units(_ c: ReadingCase) { c.check(.en) }

    @Test("ordinals and numbered things", arguments: ReadingCase.table([
        "1st": "first", "2nd": "second", "3rd": "third", "4th": "fourth", "11th": "eleventh", "12th": "twelfth",
        "13th": "thirteenth", "20th": "twentieth", "21st": "twenty first", "22nd": "twenty second",
        "100th": "one hundredth", "101st": "one hundred first", "No.1": "number one", "No. 5": "number five",
        "#1": "number one", "第3": "third",
    ]))
    func ordinals(_ c: ReadingCase) { c.check(.en) }

    @Test("phone numbers digit by digit, a pause between groups", arguments: ReadingCase.table([
        "13800138000": "one three eight, zero zero one three, eight zero zero zero",
        "+86 138 0013 8000": "plus eight six, one three eight, zero zero one three, eight zero zero zero",
        "(555) 123-4567": "five five five, one two three, four five six seven",
        "555-123-4567": "five five five, one two three, four five six seven",
        "+1 (555) 123-4567": "plus one, five five five, one two three, four five six seven",
        "1-800-555-1234": "one, eight zero zero, five five five, one two three four",
    ]))
    func phoneNumbers(_ c: ReadingCase) { c.check(.en) }

    @Test("ranges, ratios, fractions and versions", arguments: ReadingCase.table([
        "3-5": "three to five", "pages 10–12": "pages ten to twelve", "3:2": "three to two", "16:9": "sixteen to nine",
        "1/2": "one half", "3/4": "three quarters", "2/3": "two thirds", "5/8": "five eighths", "1/3": "one third",
        "24/7": "twenty four over seven", "-1/2": "minus one half", "v2.0": "version two point zero",
        "V1.2.3": "version one point two point three", "1.2.3": "one point two point three",
    ]))
    func rangesAndFractions(_ c: ReadingCase) { c.check(.en) }

    @Test("punctuation and symbols: sentence ends, pauses, words apart, accents dropped", arguments: ReadingCase.table([
        "What? Really?!": "What. Really.", "Wait… what": "Wait, what", "well-known": "well known", "yes—no": "yes,no",
        "It's fine": "Its fine", "\"Quoted\"": "Quoted", "Tom & Jerry": "Tom and Jerry", "snake_case": "snake case",
        "and/or": "and or", "café naïve": "cafe naive", "straße": "strasse", "ＡＢＣ": "ABC",
        "test@example.com": "test at example.com", "COVID-19": "COVID nineteen", "MP3": "MP three", "5G": "five G",
        "Hello\nworld": "Hello world", "Note: this": "Note, this", "x; y": "x, y",
    ]))
    func punctuation(_ c: ReadingCase) { c.check(.en) }
}
