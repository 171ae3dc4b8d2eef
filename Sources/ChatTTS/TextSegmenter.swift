import Foundation

/// Splits a long text into utterances the model can say one at a time.
///
/// First where the official pipeline splits (`Chat.infer` with `split_text`): at newlines, after `。` and after
/// `. ` (a period and a space). The official pipeline uses newlines alone when the text has any; we split at
/// sentences within lines too, so a paragraph is not one overlong utterance. Then a piece longer than `bound`
/// is cut at its last pause (`，,、；;：:！!？?`) before the bound, else at its last space, else at the bound, never
/// inside a `[...]` tag.
///
/// The bound: one utterance holds at most `max_new_token` steps (2048 by default, 43.7 s of audio at 46.875 steps
/// per second), and the refinement stage adds pauses. ChatTTS says about 4 to 5 Chinese characters or 12 to 15
/// Latin letters a second, so pieces are kept under 100 Chinese characters or 300 other characters (an ideograph
/// weighs 3), about 25 s of speech.
public enum TextSegmenter {
    /// The largest weight of one piece: an ideograph weighs 3, any other character 1.
    public static let bound = 300
    public static let boundDescription = "100 Chinese characters or 300 other characters"

    /// The pieces of `text` in order, trimmed, none empty.
    public static func split(_ text: String) -> [String] {
        var sentences: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            var current = ""
            var previous: Character?
            for c in line {
                // After `. ` the space belongs to the finished sentence (trimmed away).
                if previous == "." && c.isWhitespace {
                    sentences.append(current)
                    current = ""
                    previous = c
                    continue
                }
                current.append(c)
                if c == "。" {
                    sentences.append(current)
                    current = ""
                }
                previous = c
            }
            sentences.append(current)
        }
        return sentences.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.flatMap(bounded)
    }

    static func weight(_ c: Character) -> Int {
        c.unicodeScalars.contains { (0x3400...0x9FFF).contains($0.value) || (0xF900...0xFAFF).contains($0.value) } ? 3 : 1
    }

    static let pauses: Set<Character> = ["，", ",", "、", "；", ";", "：", ":", "！", "!", "？", "?"]

    /// Cuts one sentence into pieces of at most `bound`.
    static func bounded(_ sentence: String) -> [String] {
        var pieces: [String] = []
        var rest = Array(sentence)
        while rest.reduce(0, { $0 + weight($1) }) > bound {
            var total = 0, end = 0, lastPause: Int?, lastSpace: Int?, tagStart: Int?
            while end < rest.count, total + weight(rest[end]) <= bound {
                let c = rest[end]
                total += weight(c)
                if c == "[" { tagStart = end } else if c == "]" { tagStart = nil }
                if tagStart == nil {
                    if pauses.contains(c) { lastPause = end + 1 } else if c.isWhitespace { lastSpace = end + 1 }
                }
                end += 1
            }
            // A tag open at the bound moves the cut before it (a tag longer than the bound is cut anyway).
            var cut = lastPause ?? lastSpace ?? tagStart ?? end
            if cut == 0 { cut = end }
            let piece = String(rest[..<cut]).trimmingCharacters(in: .whitespaces)
            if !piece.isEmpty { pieces.append(piece) }
            rest.removeFirst(cut)
        }
        let tail = String(rest).trimmingCharacters(in: .whitespaces)
        if !tail.isEmpty { pieces.append(tail) }
        return pieces
    }
}
