/// An engine's knobs, in the order its docs list them. The one place a parameter's name, default and range live.
public struct KnobTable: Sendable, Equatable {
    public private(set) var knobs: [Knob]

    public init(_ knobs: [Knob]) {
        precondition(Set(knobs.map(\.name)).count == knobs.count, "a knob is declared twice")
        self.knobs = knobs
    }

    public subscript(name: String) -> Knob? { knobs.first { $0.name == name } }

    public var names: [String] { knobs.map(\.name) }

    /// The same table with one integer knob's upper bound lowered (a server setting such as `maxNewTokens` caps what
    /// requests may ask for). Throws when `upper` lies outside the knob's own range, naming both.
    public func capping(_ name: String, at upper: Int) throws(SynthesisError) -> KnobTable {
        guard let i = knobs.firstIndex(where: { $0.name == name }), case .integer(let r) = knobs[i].kind else {
            return self
        }
        guard r.contains(upper) else {
            throw SynthesisError(.invalidRequest, "must be in \(r.lowerBound)...\(r.upperBound), the range of the engine's \(name); got \(upper)",
                                 field: name, code: "out_of_range")
        }
        var out = self
        out.knobs[i].kind = .integer(r.lowerBound...upper)
        if case .integer(let d)? = out.knobs[i].defaultValue, d > upper { out.knobs[i].defaultValue = .integer(upper) }
        // A knob held at or below this one (`min_new_token` <= `max_new_token`) can no longer go above the cap.
        for j in out.knobs.indices where out.knobs[j].notAbove == name {
            if case .integer(let own) = out.knobs[j].kind, own.upperBound > upper, own.lowerBound <= upper {
                out.knobs[j].kind = .integer(own.lowerBound...upper)
            }
        }
        return out
    }

    /// The same table with another default for one knob (a server setting such as `streamMode` chooses what requests
    /// get when they do not say). Throws when the value is outside the knob's limits.
    public func defaulting(_ name: String, to value: KnobValue) throws(SynthesisError) -> KnobTable {
        guard let i = knobs.firstIndex(where: { $0.name == name }) else { return self }
        try knobs[i].check(value)
        var out = self
        out.knobs[i].defaultValue = value
        return out
    }

    /// The values of one request: the given ones checked against their limits, the defaults for the rest. A name
    /// the table does not have is refused with an error that names it.
    public func resolve(_ given: [String: KnobValue]) throws(SynthesisError) -> KnobValues {
        if let unknown = given.keys.sorted().first(where: { self[$0] == nil }) {
            throw SynthesisError(.invalidRequest, "is not a knob of this engine; its knobs: \(names.joined(separator: ", "))",
                                 field: unknown, code: "unknown_field")
        }
        for knob in knobs where given[knob.name] != nil {
            if let missing = knob.needs.first(where: { given[$0] == nil }) {
                throw SynthesisError(.invalidRequest, "is required with '\(knob.name)'", field: missing, code: "missing_field")
            }
            if let other = knob.notWith.first(where: { given[$0] != nil }) {
                throw SynthesisError(.invalidRequest, "cannot be sent with '\(other)': send one of them", field: knob.name,
                                     code: "conflicting_fields")
            }
        }
        var values: [String: KnobValue] = [:]
        for knob in knobs {
            if let v = given[knob.name] {
                try knob.check(v)
                values[knob.name] = v
            } else if let d = knob.defaultValue {
                values[knob.name] = d
            }
        }
        for knob in knobs {
            guard let other = knob.notAbove, let v = values[knob.name], let limit = values[other] else { continue }
            if case .integer(let a) = v, case .integer(let b) = limit, a > b {
                throw SynthesisError(.invalidRequest, "must be at most \(other) = \(b), got \(a)", field: knob.name,
                                     code: "out_of_range")
            }
        }
        return KnobValues(values)
    }

    /// Every default, as a request that names no knob gets them.
    public var defaults: KnobValues {
        // Defaults satisfy their own limits by construction; a table that breaks that is a programming error.
        do { return try resolve([:]) } catch { preconditionFailure("knob defaults break their limits: \(error)") }
    }
}

/// The knob values of one request, complete (every knob with a default is present) and within limits.
public struct KnobValues: Sendable, Equatable {
    public private(set) var values: [String: KnobValue]

    init(_ values: [String: KnobValue]) { self.values = values }

    public subscript(name: String) -> KnobValue? { values[name] }

    /// Typed reads; the engine asks for its own knobs, so a kind mismatch is a programming error.
    public func number(_ knob: Knob) -> Double {
        guard case .number(let d)? = values[knob.name] else { preconditionFailure("knob \(knob.name) is not a number") }
        return d
    }

    public func integer(_ knob: Knob) -> Int {
        guard case .integer(let i)? = values[knob.name] else { preconditionFailure("knob \(knob.name) is not an integer") }
        return i
    }

    public func boolean(_ knob: Knob) -> Bool {
        guard case .boolean(let b)? = values[knob.name] else { preconditionFailure("knob \(knob.name) is not a boolean") }
        return b
    }

    public func text(_ knob: Knob) -> String {
        guard case .text(let s)? = values[knob.name] else { preconditionFailure("knob \(knob.name) is not text") }
        return s
    }

    /// nil when the optional text knob was not given.
    public func optionalText(_ knob: Knob) -> String? {
        guard case .text(let s)? = values[knob.name] else { return nil }
        return s
    }

    /// nil when the optional knob was not given.
    public func unsigned(_ knob: Knob) -> UInt64? {
        guard case .unsigned(let u)? = values[knob.name] else { return nil }
        return u
    }
}

extension KnobTable {
    /// Knob values from command-line flags: `--top-p 0.5`, `--top-p=0.5`, `--refine` / `--no-refine`. A flag that is
    /// no knob of this table is refused with an error that names it.
    public func parse(flags: [String]) throws(SynthesisError) -> [String: KnobValue] {
        let pairs: [(name: String, value: String)]
        do {
            pairs = try CommandLineFlags.split(flags) { name in
                knobs.first { $0.flagName == name }.map { $0.kind == .boolean ? .onOff : .valued(limit: $0.limitText) }
            }
        } catch {
            throw SynthesisError(.invalidRequest, error.message + "; knobs: " + knobs.map { "--" + $0.flagName }
                .joined(separator: ", "), field: error.argument, code: "unknown_field")
        }
        var out: [String: KnobValue] = [:]
        for (name, text) in pairs {
            let knob = knobs.first { $0.flagName == name }!
            out[knob.name] = try knob.parse(text)
        }
        return out
    }

    /// The knobs as command-line help, one per line pair.
    public var flagHelp: String {
        knobs.map { k in
            let flag: String
            if case .boolean = k.kind { flag = "--\(k.flagName) / --no-\(k.flagName)" } else { flag = "--\(k.flagName) <\(k.limitText)>" }
            let value = k.defaultValue.map { "default \($0.description.isEmpty ? "empty" : $0.description)" } ?? "default \(k.absentMeaning ?? "none")"
            return "  \(flag)\n      \(k.doc)\(k.unit.map { " (\($0))" } ?? "") (\(value))"
        }.joined(separator: "\n")
    }

    /// The README's table of knobs.
    public var markdownTable: String {
        var lines = ["| field | default | limit | what |", "|---|---|---|---|"]
        for k in knobs {
            let value = k.defaultValue.map { $0.description.isEmpty ? "\"\"" : "`\($0.description)`" } ?? k.absentMeaning ?? "none"
            var limit = k.limitText
            if let other = k.notAbove { limit += ", at most `\(other)`" }
            lines.append("| `\(k.name)` | \(value) | \(limit)\(k.unit.map { " \($0)" } ?? "") | \(k.doc) |")
        }
        return lines.joined(separator: "\n")
    }
}
