import Foundation

/// base16384 text encoding (as used by ChatTTS voice strings): every 7 bytes become four characters in
/// U+4E00...U+8DFF, each carrying 14 bits, most significant first. A tail of 1...6 bytes is zero-padded
/// into as many characters as its bits need and followed by the marker U+3D00 + tail length.
public enum Base16384 {
    static let base: UInt32 = 0x4E00
    static let markerBase: UInt32 = 0x3D00

    public static func encode(_ bytes: [UInt8]) -> String {
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i + 7 <= bytes.count {
            appendUnits(bytes[i..<i + 7], count: 4, to: &scalars)
            i += 7
        }
        let tail = bytes.count - i
        if tail > 0 {
            appendUnits(bytes[i...], count: (tail * 8 + 13) / 14, to: &scalars)
            scalars.append(Unicode.Scalar(markerBase + UInt32(tail))!)
        }
        return String(scalars)
    }

    private static func appendUnits(_ chunk: ArraySlice<UInt8>, count: Int,
                                    to scalars: inout String.UnicodeScalarView) {
        for unit in regroup(chunk, from: 8, to: 14, count: count) {
            scalars.append(Unicode.Scalar(base + UInt32(unit))!)
        }
    }

    /// The one step of both directions: reads up to 56 bits of `values`, `inBits` each, most significant first and
    /// zero-padded at the end, and returns the first `count` groups of `outBits` (7 bytes to 4 units and back).
    private static func regroup<Values: Collection>(_ values: Values, from inBits: Int, to outBits: Int,
                                                    count: Int) -> [UInt64] where Values.Element: BinaryInteger {
        var value: UInt64 = 0
        for v in values {
            value = value << UInt64(inBits) | UInt64(v)
        }
        value <<= UInt64(56 - inBits * values.count)
        let mask: UInt64 = 1 << UInt64(outBits) - 1
        return (0..<count).map { (value >> UInt64(56 - outBits * ($0 + 1))) & mask }
    }

    public static func decode(_ text: String) throws -> [UInt8] {
        var units: [UInt32] = []
        units.reserveCapacity(text.unicodeScalars.count)
        var tail: Int? = nil
        for scalar in text.unicodeScalars {
            let v = scalar.value
            if tail != nil {
                throw Base16384Error(message: "characters after the length marker")
            }
            if v >= base && v <= base + 0x3FFF {
                units.append(v - base)
            } else if v > markerBase && v <= markerBase + 6 {
                tail = Int(v - markerBase)
            } else if scalar.properties.isWhitespace {
                continue
            } else {
                throw Base16384Error(message: String(format: "character U+%04X is not base16384", v))
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(units.count * 7 / 4 + 7)
        let tailBytes = tail ?? 0
        let tailUnits = tailBytes > 0 ? (tailBytes * 8 + 13) / 14 : 0
        let fullUnits = units.count - tailUnits
        guard fullUnits >= 0, fullUnits % 4 == 0 || tail == nil else {
            throw Base16384Error(message: "length marker does not match the text")
        }
        var i = 0
        while i + 4 <= fullUnits {
            emit(units[i..<i + 4], bytes: 7, to: &out)
            i += 4
        }
        if tail != nil {
            emit(units[i...], bytes: tailBytes, to: &out)
        } else if i < units.count {
            // No marker: decode what is there, as the reference decoder does for unterminated text.
            let rest = units.count - i
            emit(units[i...], bytes: rest * 14 / 8, to: &out)
        }
        return out
    }

    private static func emit(_ chunk: ArraySlice<UInt32>, bytes: Int, to out: inout [UInt8]) {
        out += regroup(chunk, from: 14, to: 8, count: bytes).map { UInt8($0) }
    }
}

public struct Base16384Error: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "base16384: \(message)" }
}
