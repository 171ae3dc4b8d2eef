import Foundation
import Synthesis

/// One server setting, declared once: its file key, documentation, the values it takes and where it lives in
/// `ServerConfiguration`. The environment variable (`CHATTTS_MAX_BATCH`) and the flag (`--max-batch`) are derived
/// from the key, and so are the config-file parser, `chattts serve --help`, the validation messages and the
/// README's configuration table (a test holds the README to it).
public struct Setting: Sendable {
    public let key: String
    public let doc: String
    /// The accepted values in words (`1...256`, `seconds > 0`, `json, text`), for docs and errors.
    public let limit: String
    /// A boolean takes `--key` / `--no-key` on the command line.
    public let isBoolean: Bool
    /// The default's text when the default is not a plain value (`80 % of memory`).
    let defaultText: String?
    let read: @Sendable (ServerConfiguration) -> String?
    let write: @Sendable (inout ServerConfiguration, String) -> Bool
    let isValid: @Sendable (ServerConfiguration) -> Bool

    /// `CHATTTS_` + upper snake case.
    public var environmentName: String {
        "CHATTTS_" + key.map { $0.isUppercase ? "_\($0)" : $0.uppercased() }.joined()
    }

    /// `--` + kebab case.
    public var flag: String {
        "--" + key.map { $0.isUppercase ? "-\($0.lowercased())" : String($0) }.joined()
    }

    /// The default as the docs show it.
    public var defaultDescription: String { defaultText ?? read(ServerConfiguration()) ?? "none" }

    /// Sets the value from its text; `source` (file key, variable or flag) names where it came from in errors.
    func apply(_ raw: String, to config: inout ServerConfiguration, source: String) throws(ConfigurationError) {
        guard write(&config, raw.trimmingCharacters(in: .whitespaces)) else {
            throw ConfigurationError(key: source, message: "expected \(limit), got '\(raw)'")
        }
        try check(config, source: source)
    }

    func check(_ config: ServerConfiguration, source: String? = nil) throws(ConfigurationError) {
        guard isValid(config) else {
            throw ConfigurationError(key: source ?? key, message: "must be \(limit), got \(read(config) ?? "none")")
        }
    }
}

extension Setting {
    typealias Path<T> = WritableKeyPath<ServerConfiguration, T> & Sendable

    static func text(_ key: String, _ path: Path<String>, _ doc: String) -> Setting {
        Setting(key: key, doc: doc, limit: "a non-empty string", isBoolean: false, defaultText: nil,
                read: { $0[keyPath: path] }, write: { c, v in c[keyPath: path] = v; return true },
                isValid: { !$0[keyPath: path].isEmpty })
    }

    /// Text that may be absent (nil: `defaultText` says what happens then, "none" when not given).
    static func optionalText(_ key: String, _ path: Path<String?>, default text: String? = nil, _ doc: String) -> Setting {
        Setting(key: key, doc: doc, limit: "a string", isBoolean: false, defaultText: text,
                read: { $0[keyPath: path] }, write: { c, v in c[keyPath: path] = v.isEmpty ? nil : v; return true },
                isValid: { _ in true })
    }

    static func integer(_ key: String, _ path: Path<Int>, _ range: ClosedRange<Int>, _ doc: String) -> Setting {
        Setting(key: key, doc: doc, limit: "an integer in \(range.lowerBound)...\(range.upperBound)", isBoolean: false,
                defaultText: nil, read: { String($0[keyPath: path]) },
                write: { c, v in
                    guard let i = Int(v) else { return false }
                    c[keyPath: path] = i
                    return true
                },
                isValid: { range.contains($0[keyPath: path]) })
    }

    /// A number (fractions allowed) in a range.
    static func number(_ key: String, _ path: Path<Double>, _ range: ClosedRange<Double>, _ doc: String) -> Setting {
        Setting(key: key, doc: doc, limit: "a number in \(String(format: "%g", range.lowerBound))...\(String(format: "%g", range.upperBound))",
                isBoolean: false, defaultText: nil, read: { String(format: "%g", $0[keyPath: path]) },
                write: { c, v in
                    guard let d = Double(v), d.isFinite else { return false }
                    c[keyPath: path] = d
                    return true
                },
                isValid: { range.contains($0[keyPath: path]) })
    }

    /// An integer that may be absent (nil: `defaultText` says what happens then).
    static func optionalInteger(_ key: String, _ path: Path<Int?>, _ range: ClosedRange<Int>, default text: String,
                                _ doc: String) -> Setting {
        Setting(key: key, doc: doc, limit: "an integer in \(range.lowerBound)...\(range.upperBound)", isBoolean: false,
                defaultText: text, read: { $0[keyPath: path].map(String.init) },
                write: { c, v in
                    if v.isEmpty { c[keyPath: path] = nil; return true }
                    guard let i = Int(v) else { return false }
                    c[keyPath: path] = i
                    return true
                },
                isValid: { $0[keyPath: path].map(range.contains) ?? true })
    }

    static func boolean(_ key: String, _ path: Path<Bool>, _ doc: String) -> Setting {
        Setting(key: key, doc: doc, limit: "true or false", isBoolean: true, defaultText: nil,
                read: { String($0[keyPath: path]) },
                write: { c, v in
                    guard let b = Knob.boolean(v) else { return false }
                    c[keyPath: path] = b
                    return true
                },
                isValid: { _ in true })
    }

    /// Seconds (fractions allowed), at least `minimum` (`open`: above it).
    static func seconds(_ key: String, _ path: Path<Duration>, above minimum: Double, open: Bool, _ doc: String)
        -> Setting
    {
        Setting(key: key, doc: doc, limit: "seconds \(open ? ">" : ">=") \(Int(minimum))", isBoolean: false,
                defaultText: nil, read: { String(format: "%g", $0[keyPath: path].seconds) },
                write: { c, v in
                    guard let d = Double(v), d.isFinite else { return false }
                    c[keyPath: path] = .milliseconds(Int64((d * 1000).rounded()))
                    return true
                },
                isValid: { c in
                    let s = c[keyPath: path].seconds
                    return open ? s > minimum : s >= minimum
                })
    }

    static func choice<T: RawRepresentable & CaseIterable & Sendable>(_ key: String, _ path: Path<T>, _ doc: String)
        -> Setting where T.RawValue == String
    {
        Setting(key: key, doc: doc, limit: "one of " + T.allCases.map(\.rawValue).joined(separator: ", "),
                isBoolean: false, defaultText: nil, read: { $0[keyPath: path].rawValue },
                write: { c, v in
                    guard let t = T(rawValue: v.lowercased()) else { return false }
                    c[keyPath: path] = t
                    return true
                },
                isValid: { _ in true })
    }
}

/// A setting that could not be used; `key` names it as the user wrote it (file key, variable or flag).
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let key: String
    public let message: String
    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }
    public var description: String { "configuration: \(key) \(message)" }
}
