import Testing
import ChatTTS

@Suite("Long text: split into utterances")
struct TextSegmenterTests {
    @Test("splits where the official pipeline does: newlines, after 。 and after '. '", arguments: [
        ("你好。今天天气很好。", ["你好。", "今天天气很好。"]),
        ("Hello there. How are you? Fine.", ["Hello there.", "How are you? Fine."]),
        ("line one\nline two\r\n\nline three", ["line one", "line two", "line three"]),
        ("3.5 percent. v2.0 is out", ["3.5 percent.", "v2.0 is out"]),
        ("  ", []),
        ("一句话", ["一句话"]),
    ])
    func officialSplits(text: String, expected: [String]) {
        #expect(TextSegmenter.split(text) == expected)
    }

    @Test("a sentence past the bound is cut at its last pause, else its last space, else at the bound")
    func bound() {
        let clause = String(repeating: "字", count: 40) + "，"
        let pieces = TextSegmenter.split(String(repeating: clause, count: 5))
        // 41 characters of weight 121 per clause: two clauses fit in 300.
        #expect(pieces == [clause + clause, clause + clause, clause].map { String($0) })
        let words = Array(repeating: "word", count: 200).joined(separator: " ")
        let english = TextSegmenter.split(words)
        #expect(english.allSatisfy { $0.count <= 300 && !$0.hasPrefix(" ") && !$0.hasSuffix(" ") })
        #expect(english.joined(separator: " ") == words)
        let solid = String(repeating: "a", count: 700)
        #expect(TextSegmenter.split(solid).map(\.count) == [300, 300, 100])
    }

    @Test("a cut never falls inside a [tag]")
    func tags() {
        let text = String(repeating: "a", count: 295) + "[uv_break]" + String(repeating: "b", count: 20)
        let pieces = TextSegmenter.split(text)
        #expect(pieces.count == 2 && pieces[1].hasPrefix("[uv_break]"))
        #expect(pieces.joined() == text)
    }

    @Test("a 5,000-character text loses nothing: every piece is within the bound and they add up to the text")
    func longText() {
        var text = ""
        var i = 0
        while text.count < 5000 {
            text += i % 3 == 0 ? "第\(i)句话，我们说一些中文内容。" : "Sentence number \(i) says a few English words, then stops. "
            i += 1
        }
        let pieces = TextSegmenter.split(text)
        let weight = { (s: String) in s.reduce(0) { $0 + ($1.unicodeScalars.first!.value >= 0x4E00 ? 3 : 1) } }
        #expect(pieces.allSatisfy { weight($0) <= TextSegmenter.bound })
        let squeeze = { (s: String) in s.filter { !$0.isWhitespace } }
        #expect(squeeze(pieces.joined()) == squeeze(text))
    }
}
