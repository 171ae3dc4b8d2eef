import Foundation

/// What a text may hold before it reaches the engine (matched scalar by scalar, as `schema` states it): no HTML markup, entities or control characters (refused, or
/// removed under `markup: strip`), and no prompt tags (`[oral_2]`, `[speed_5]`: they belong in `prompt`). ChatTTS'
/// word-level tags (`[uv_break]`, `[v_break]`, `[lbreak]`, `[laugh]`) are speech and stay. Characters that pass here
/// but that the model cannot say are the normalizer's: removed and listed in `X-Removed-Characters`.
enum TextPolicy {
    /// Tags, comments, doctypes and processing instructions: `<b>`, `</p>`, `<!-- -->`, `<?xml ...?>`, and any
    /// `<script` even unclosed.
    nonisolated(unsafe) static let markup = /<\s*\/?\s*[A-Za-z!?][^<>]*>|<\s*\/?\s*script/.ignoresCase()
        .matchingSemantics(.unicodeScalar)
    /// Named and numeric character references: `&amp;`, `&#60;`, `&#x3c;`.
    nonisolated(unsafe) static let entity = /&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});/
        .matchingSemantics(.unicodeScalar)
    /// The official prompt tags: oral, laugh and break levels, speed.
    nonisolated(unsafe) static let promptTag = /\[(?:oral|laugh|break|speed)_[0-9]+\]/.matchingSemantics(.unicodeScalar)

    /// Control characters (C0 and C1 but tab, line feed and carriage return), bidirectional overrides and isolates
    /// (they reorder what a reader sees) and the noncharacters U+FFFE, U+FFFF.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: false
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x202A...0x202E, 0x2066...0x2069: true
        case 0xFFFE, 0xFFFF: true
        default: false
        }
    }

    /// The text as the engine gets it, or a 400 naming the field and what was found.
    static func check(_ text: String, field: String, markup policy: ServerConfiguration.MarkupPolicy,
                      promptTags: Bool = false) throws(APIError) -> String
    {
        if !promptTags, let tag = text.firstMatch(of: promptTag) {
            throw APIError.invalid(field, "'\(field)' holds the prompt tag \(tag.output); prompt tags belong in the 'prompt' field of /v1/tts (word tags such as [uv_break] and [laugh] may stay in the text)",
                                   code: "prompt_tag_in_text")
        }
        switch policy {
        case .refuse:
            if let found = text.firstMatch(of: markup) ?? text.firstMatch(of: entity) {
                throw APIError.invalid(field, "'\(field)' holds markup (\(Self.shown(found.output))); send plain text, or run the server with markup: strip",
                                       code: "markup_not_allowed")
            }
            if let index = text.unicodeScalars.firstIndex(where: isControl) {
                let scalar = text.unicodeScalars[index]
                let offset = text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: index)
                throw APIError.invalid(field, "'\(field)' holds the control character U+\(String(scalar.value, radix: 16, uppercase: true).leftPadded(4)) at position \(offset); send plain text",
                                       code: "control_character")
            }
            return text
        case .strip:
            var out = text.replacing(markup, with: " ").replacing(entity, with: " ")
            out.unicodeScalars.removeAll(where: isControl)
            guard !out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw APIError.invalid(field, "'\(field)' has nothing to say once its markup is removed")
            }
            return out
        }
    }

    /// The same rules as JSON Schema keywords, for the OpenAPI document: `allOf` of `pattern`s a text must contain
    /// and `not` `pattern`s it must not (unanchored, ECMA-262, read alike by Python's `re` and ICU), so that a text
    /// is schema-valid exactly when `check` lets it through under `markup: refuse`. Under `strip` markup and control
    /// characters are allowed (they are removed). Whether normalization leaves anything to say depends on the
    /// model's vocabulary, which no schema states (the server answers `empty_text`). Empty when nothing is required.
    static func schema(markup policy: ServerConfiguration.MarkupPolicy, promptTags: Bool) -> [String: Any] {
        var rules: [[String: Any]] = []
        func refuse(_ pattern: String) { rules.append(["not": ["pattern": pattern]]) }
        if !promptTags { refuse(#"\[(?:oral|laugh|break|speed)_[0-9]+\]"#) }
        if policy == .refuse {
            refuse(#"<\s*\/?\s*[A-Za-z!?][^<>]*>"#)
            refuse(#"<\s*\/?\s*[sS][cC][rR][iI][pP][tT]"#)
            refuse(#"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"#)
            refuse(#"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069\uFFFE\uFFFF]"#)
        }
        return rules.isEmpty ? [:] : ["allOf": rules]
    }

    /// A found piece for an error message: at most 40 characters.
    static func shown(_ piece: Substring) -> String {
        piece.count <= 40 ? String(piece) : String(piece.prefix(40)) + "…"
    }
}

/// Texts as logs may show them: the middle 60 % of the characters (rounded up) masked with `*`, so a log line
/// tells which request it was without holding what was said; 3 characters or fewer are masked whole.
enum Redaction {
    static func mask(_ text: String) -> String {
        let characters = Array(text)
        let n = characters.count
        guard n > 3 else { return String(repeating: "*", count: n) }
        let masked = (n * 6 + 9) / 10
        let head = (n - masked + 1) / 2
        let tail = n - masked - head
        return String(characters[..<head]) + String(repeating: "*", count: masked) + String(characters[(n - tail)...])
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
