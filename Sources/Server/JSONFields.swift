import Foundation

/// A JSON value that keeps booleans, exact integers and other numbers apart, so that every field can be checked
/// with a message that names it (`seed` must be an integer, `refine` a boolean) instead of a decoder's path dump.
enum JSONValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case unsigned(UInt64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int64.self) { self = .integer(i); return }
        if let u = try? c.decode(UInt64.self) { self = .unsigned(u); return }
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .unsigned, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// The fields of one JSON request body, read one at a time; each reader throws a 400 that names the field.
struct JSONFields {
    let table: [String: JSONValue]

    init(_ bytes: [UInt8]) throws(APIError) {
        guard !bytes.isEmpty else { throw APIError.invalid(nil, "The request body must be a JSON object", code: "invalid_json") }
        do {
            table = try JSONDecoder().decode([String: JSONValue].self, from: Data(bytes))
        } catch {
            throw APIError.invalid(nil, "The request body must be a JSON object: \(Self.explain(error))", code: "invalid_json")
        }
    }

    private static func explain(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .dataCorrupted(let context)?: return context.underlyingError.map { "\($0.localizedDescription)" } ?? context.debugDescription
        case .typeMismatch?: return "expected an object at the top level"
        default: return "malformed JSON"
        }
    }

    /// Fails on a field this endpoint does not know, so a typo (`temprature`) is not silently ignored.
    func rejectUnknown(allowed: Set<String>) throws(APIError) {
        if let unknown = table.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.invalid(unknown, "Unknown field '\(unknown)'; known fields: \(allowed.sorted().joined(separator: ", "))",
                                   code: "unknown_field")
        }
    }

    private func present(_ key: String) -> JSONValue? {
        guard let v = table[key], v != .null else { return nil }
        return v
    }

    private func wrongType(_ key: String, _ expected: String, _ got: JSONValue) -> APIError {
        .invalid(key, "'\(key)' must be \(expected), got \(got.typeName)", code: "invalid_type")
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard let v = present(key) else { return nil }
        guard case .string(let s) = v else { throw wrongType(key, "a string", v) }
        return s
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = present(key) else { return nil }
        guard case .bool(let b) = v else { throw wrongType(key, "a boolean (true or false)", v) }
        return b
    }

    func double(_ key: String) throws(APIError) -> Double? {
        guard let v = present(key) else { return nil }
        switch v {
        case .integer(let i): return Double(i)
        case .unsigned(let u): return Double(u)
        case .number(let d): return d
        default: throw wrongType(key, "a number", v)
        }
    }

    /// A number within `range` (inclusive), with the range in the message when it is not.
    func double(_ key: String, in range: ClosedRange<Double>, lowerOpen: Bool = false) throws(APIError) -> Double? {
        guard let d = try double(key) else { return nil }
        guard range.contains(d), !(lowerOpen && d == range.lowerBound) else {
            let interval = "\(lowerOpen ? "(" : "[")\(Self.format(range.lowerBound)), \(Self.format(range.upperBound))]"
            throw APIError.invalid(key, "'\(key)' must be in \(interval), got \(Self.format(d))", code: "out_of_range")
        }
        return d
    }

    /// An integer (its range is the caller's: the knob table states and checks it).
    func int(_ key: String) throws(APIError) -> Int? {
        guard let v = present(key) else { return nil }
        switch v {
        case .integer(let i) where i >= Int64(Int.min) && i <= Int64(Int.max): return Int(i)
        case .number(let d) where d.rounded() == d && abs(d) < 1e15: return Int(d)
        case .unsigned: return Int.max
        default: throw wrongType(key, "an integer", v)
        }
    }

    /// An integer in 0...UInt64.max (seeds). Integers above 2^53 must be sent exactly, not as floats.
    func uint64(_ key: String) throws(APIError) -> UInt64? {
        guard let v = present(key) else { return nil }
        switch v {
        case .integer(let i) where i >= 0: return UInt64(i)
        case .unsigned(let u): return u
        case .number(let d) where d >= 0 && d.rounded() == d && d < 9_007_199_254_740_992: return UInt64(d)
        case .integer, .number: throw APIError.invalid(key, "'\(key)' must be an integer in [0, \(UInt64.max)]", code: "out_of_range")
        default: throw wrongType(key, "an integer", v)
        }
    }

    /// A voice: a string, or OpenAI's object form `{"id": "..."}`.
    func voice(_ key: String) throws(APIError) -> String? {
        guard let v = present(key) else { return nil }
        switch v {
        case .string(let s): return s
        case .object(let o):
            guard case .string(let id)? = o["id"] else {
                throw APIError.invalid(key, "'\(key)' as an object must have a string 'id'", code: "invalid_type")
            }
            return id
        default: throw wrongType(key, "a string (a voice name, seed:N or a voice string) or {\"id\": ...}", v)
        }
    }

    static func format(_ d: Double) -> String {
        d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}
