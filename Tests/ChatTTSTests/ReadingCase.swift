import ChatTTS
import Testing

/// A text and what the default normalizer makes of it in a forced language: one row of a reading table.
struct ReadingCase: Sendable, CustomTestStringConvertible {
    let text: String
    let expected: String

    var testDescription: String { text.debugDescription }

    static func table(_ rows: KeyValuePairs<String, String>) -> [ReadingCase] {
        rows.map { ReadingCase(text: $0.key, expected: $0.value) }
    }

    func check(_ language: Normalizer.Language) {
        #expect(Normalizer().normalize(text, language: language) == expected, "text: \(text.debugDescription)")
    }
}
