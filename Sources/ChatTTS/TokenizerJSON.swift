import Foundation

/// The order-preserving JSON reader the tokenizer loads its files with.
extension Tokenizer {
    // MARK: - JSON

    /// A small JSON reader that keeps object members in file order as (key, value) pairs. Foundation's decoders
    /// put object members into Swift dictionaries, whose String keys merge canonically equivalent tokens (U+F900
    /// and U+8C48, "é" and "e" + U+0301), which would silently lose vocabulary entries.
    enum JSON: Sendable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([JSON])
        case object([(key: String, value: JSON)])

        struct ParseError: Error {
            let message: String
            let offset: Int
        }

        var isNull: Bool { if case .null = self { return true } else { return false } }
        var isObject: Bool { if case .object = self { return true } else { return false } }
        var string: String? { if case .string(let s) = self { return s } else { return nil } }
        var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
        var array: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
        var objectEntries: [(key: String, value: JSON)]? {
            if case .object(let o) = self { return o } else { return nil }
        }
        var int: Int? {
            guard case .number(let d) = self, d.rounded() == d, abs(d) < 9e15 else { return nil }
            return Int(d)
        }

        /// The last member named `key` (later duplicates win, as when reading into a map).
        subscript(key: String) -> JSON? {
            guard case .object(let entries) = self else { return nil }
            return entries.last(where: { $0.key == key })?.value
        }

        static func parse(_ bytes: [UInt8]) throws -> JSON {
            var reader = Reader(bytes: bytes)
            reader.skipWhitespace()
            let value = try reader.value(depth: 0)
            reader.skipWhitespace()
            guard reader.index == bytes.count else {
                throw ParseError(message: "trailing characters", offset: reader.index)
            }
            return value
        }

        private struct Reader {
            let bytes: [UInt8]
            var index = 0

            init(bytes: [UInt8]) { self.bytes = bytes }

            func error(_ message: String) -> ParseError { ParseError(message: message, offset: index) }

            mutating func skipWhitespace() {
                while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
            }

            mutating func expect(_ literal: String, _ value: JSON) throws -> JSON {
                let utf8 = Array(literal.utf8)
                guard index + utf8.count <= bytes.count, Array(bytes[index..<index + utf8.count]) == utf8 else {
                    throw error("unexpected character")
                }
                index += utf8.count
                return value
            }

            mutating func value(depth: Int) throws -> JSON {
                guard depth < 512 else { throw error("nesting too deep") }
                guard index < bytes.count else { throw error("unexpected end of input") }
                switch bytes[index] {
                case UInt8(ascii: "{"):
                    var entries: [(key: String, value: JSON)] = []
                    try elements(until: "}") { reader in
                        guard reader.next == UInt8(ascii: "\"") else { throw reader.error("expected a key") }
                        let key = try reader.string()
                        reader.skipWhitespace()
                        guard reader.next == UInt8(ascii: ":") else { throw reader.error("expected ':'") }
                        reader.index += 1
                        reader.skipWhitespace()
                        entries.append((key, try reader.value(depth: depth + 1)))
                    }
                    return .object(entries)
                case UInt8(ascii: "["):
                    var items: [JSON] = []
                    try elements(until: "]") { reader in items.append(try reader.value(depth: depth + 1)) }
                    return .array(items)
                case UInt8(ascii: "\""):
                    return .string(try string())
                case UInt8(ascii: "t"):
                    return try expect("true", .bool(true))
                case UInt8(ascii: "f"):
                    return try expect("false", .bool(false))
                case UInt8(ascii: "n"):
                    return try expect("null", .null)
                default:
                    return try number()
                }
            }

            /// The byte at `index`, nil at the end of the input.
            var next: UInt8? { index < bytes.count ? bytes[index] : nil }

            /// Reads an object's members or an array's items, from the opening bracket at `index` up to and with
            /// `close`: `element` reads one, between whitespace; this reads the commas and the empty case.
            mutating func elements(until close: Unicode.Scalar, _ element: (inout Reader) throws -> Void) throws {
                index += 1
                skipWhitespace()
                if next == UInt8(ascii: close) {
                    index += 1
                    return
                }
                while true {
                    skipWhitespace()
                    try element(&self)
                    skipWhitespace()
                    guard let separator = next else { throw error("unexpected end of input") }
                    guard separator == UInt8(ascii: ",") || separator == UInt8(ascii: close) else {
                        throw error("expected ',' or '\(close)'")
                    }
                    index += 1
                    if separator == UInt8(ascii: close) { return }
                }
            }

            mutating func number() throws -> JSON {
                let start = index
                while index < bytes.count, "+-0123456789.eE".utf8.contains(bytes[index]) { index += 1 }
                guard index > start, let text = String(validating: bytes[start..<index], as: UTF8.self),
                      let value = Double(text) else {
                    index = start
                    throw error("invalid value")
                }
                return .number(value)
            }

            mutating func hex4() throws -> UInt32 {
                guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
                var value: UInt32 = 0
                for _ in 0..<4 {
                    let b = bytes[index]
                    let digit: UInt8
                    switch b {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
                    case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
                    default: throw error("bad \\u escape")
                    }
                    value = value << 4 | UInt32(digit)
                    index += 1
                }
                return value
            }

            mutating func string() throws -> String {
                index += 1  // opening quote
                var utf8: [UInt8] = []
                while true {
                    guard index < bytes.count else { throw error("unterminated string") }
                    let b = bytes[index]
                    if b == UInt8(ascii: "\"") {
                        index += 1
                        break
                    }
                    if b != UInt8(ascii: "\\") {
                        utf8.append(b)
                        index += 1
                        continue
                    }
                    index += 1
                    guard index < bytes.count else { throw error("unterminated escape") }
                    let e = bytes[index]
                    index += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(e)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if code >= 0xD800 && code < 0xDC00 {
                            guard index + 2 <= bytes.count, bytes[index] == UInt8(ascii: "\\"),
                                  bytes[index + 1] == UInt8(ascii: "u") else { throw error("unpaired surrogate") }
                            index += 2
                            let low = try hex4()
                            guard low >= 0xDC00 && low < 0xE000 else { throw error("unpaired surrogate") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw error("unpaired surrogate") }
                        utf8.append(contentsOf: String(scalar).utf8)
                    default:
                        throw error("bad escape")
                    }
                }
                guard let s = String(validating: utf8, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
                return s
            }
        }
    }
}
