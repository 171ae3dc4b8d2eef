/// One synthesis parameter of an engine, declared once: its name as in the engine's official API, what values it
/// takes, its default, its unit and one line of documentation.
///
/// Everything else is derived from the declaration: the `/v1/tts` parser and its error messages, the validation of
/// every request, the OpenAPI schema, `chattts say`'s flags and the README's table. Adding a knob to an engine is
/// one `Knob(...)` in its table; the server and the CLI pick it up without edits.
public struct Knob: Sendable, Equatable {
    /// The values a knob takes. Bounds are inclusive unless `lowerOpen`.
    public enum Kind: Sendable, Equatable {
        case number(ClosedRange<Double>, lowerOpen: Bool)
        case integer(ClosedRange<Int>)
        /// 0...UInt64.max (seeds).
        case unsigned
        case boolean
        case text(maxLength: Int)
        /// One of a few names, held as `.text` (`stream_mode`: `exact` or `fast`).
        case choice([String])
    }

    public var name: String
    public var kind: Kind
    /// nil: the knob is optional and absent unless given (e.g. a seed, random when absent).
    public var defaultValue: KnobValue?
    /// What one unit is (`steps`), for docs; nil for plain numbers.
    public var unit: String?
    public var doc: String
    /// The value may not exceed this other knob's value (`min_new_token` <= `max_new_token`).
    public var notAbove: String?
    /// What the default means when there is none (`random`), for docs.
    public var absentMeaning: String?
    /// Knobs that must come with this one when it is given (`spk_smp` needs `txt_smp`).
    public var needs: [String]
    /// Knobs that may not come with this one (`spk_smp` not with `sample_audio`).
    public var notWith: [String]
    /// What a text knob holds when it is not free text, as an OpenAPI `format` (`chattts-sample`, `byte`).
    public var format: String?

    public init(_ name: String, _ kind: Kind, default defaultValue: KnobValue?, unit: String? = nil, doc: String,
                notAbove: String? = nil, absent absentMeaning: String? = nil, needs: [String] = [],
                notWith: [String] = [], format: String? = nil) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.unit = unit
        self.doc = doc
        self.notAbove = notAbove
        self.absentMeaning = absentMeaning
        self.needs = needs
        self.notWith = notWith
        self.format = format
    }

    /// `top_P` -> `top-p`: the command-line spelling.
    public var flagName: String { name.lowercased().replacingOccurrences(of: "_", with: "-") }

    /// The accepted values in words, as error messages and docs state them: `(0, 1]`, `1...1000`, `true or false`.
    public var limitText: String {
        switch kind {
        case .number(let r, let lowerOpen): "\(lowerOpen ? "(" : "[")\(Self.format(r.lowerBound)), \(Self.format(r.upperBound))]"
        case .integer(let r): "\(r.lowerBound)...\(r.upperBound)"
        case .unsigned: "0...\(UInt64.max)"
        case .boolean: "true or false"
        case .text(let n): "at most \(n) characters"
        case .choice(let names): names.map { "`\($0)`" }.joined(separator: " or ")
        }
    }

    /// Checks one value of the right kind against the limits; the message says the limit and the value.
    func check(_ value: KnobValue) throws(SynthesisError) {
        func fail(_ message: String) -> SynthesisError {
            SynthesisError(.invalidRequest, message, field: name, code: "out_of_range")
        }
        switch (kind, value) {
        case (.number(let r, let lowerOpen), .number(let d)):
            guard r.contains(d), !(lowerOpen && d == r.lowerBound), d.isFinite else {
                throw fail("must be in \(limitText), got \(Self.format(d))")
            }
        case (.integer(let r), .integer(let i)):
            guard r.contains(i) else { throw fail("must be an integer in \(limitText), got \(i)") }
        case (.unsigned, .unsigned), (.boolean, .boolean): break
        case (.choice(let names), .text(let s)):
            guard names.contains(s) else {
                throw SynthesisError(.invalidRequest, "must be one of \(names.joined(separator: ", ")), got '\(s)'",
                                     field: name, code: "invalid_choice")
            }
        case (.text(let n), .text(let s)):
            // Characters are Unicode code points, as JSON Schema's maxLength counts them.
            guard s.unicodeScalars.count <= n else {
                throw SynthesisError(.invalidRequest, "is \(s.unicodeScalars.count) characters; the limit is \(n)", field: name,
                                     code: "string_above_max_length")
            }
        default:
            throw SynthesisError(.invalidRequest, "must be \(kindName)", field: name, code: "invalid_type")
        }
    }

    /// `a number`, `an integer`, ... for type errors.
    public var kindName: String {
        switch kind {
        case .number: "a number"
        case .integer: "an integer"
        case .unsigned: "an integer in [0, \(UInt64.max)]"
        case .boolean: "a boolean (true or false)"
        case .text: "a string"
        case .choice(let names): "one of \(names.joined(separator: ", "))"
        }
    }

    /// The value of a command-line or environment text (`0.5`, `true`, `[speed_5]`), or a type error.
    public func parse(_ text: String) throws(SynthesisError) -> KnobValue {
        let t = text.trimmingCharacters(in: .whitespaces)
        let value: KnobValue?
        switch kind {
        case .number: value = Double(t).map(KnobValue.number)
        case .integer: value = Int(t).map(KnobValue.integer)
        case .unsigned: value = UInt64(t).map(KnobValue.unsigned)
        case .boolean: value = Self.boolean(t).map(KnobValue.boolean)
        case .text: value = .text(text)
        case .choice: value = .text(t)
        }
        guard let value else {
            throw SynthesisError(.invalidRequest, "must be \(kindName), got '\(text)'", field: name, code: "invalid_type")
        }
        return value
    }

    /// `true/false`, `1/0`, `yes/no`, `on/off` (any case): what flags, variables and config files accept.
    public static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off": false
        default: nil
        }
    }

    static func format(_ d: Double) -> String {
        d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}

/// A knob's value.
public enum KnobValue: Sendable, Equatable, CustomStringConvertible {
    case number(Double)
    case integer(Int)
    case unsigned(UInt64)
    case boolean(Bool)
    case text(String)

    public var description: String {
        switch self {
        case .number(let d): Knob.format(d)
        case .integer(let i): String(i)
        case .unsigned(let u): String(u)
        case .boolean(let b): String(b)
        case .text(let s): s
        }
    }
}
