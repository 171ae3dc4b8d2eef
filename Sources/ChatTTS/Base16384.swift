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
            appendUnits(bytes[i..<i + 7], units: 4, to: &scalars)
            i += 7
        }
        let tail = bytes.count - i
        if tail > 0 {
            appendUnits(bytes[i...], units: (tail * 8 + 13) / 14, to: &scalars)
            scalars.append(Unicode.Scalar(markerBase + UInt32(tail))!)
        }
        return String(scalars)
    }

    /// Packs up to 7 bytes into a 56-bit big-endian number and emits its top `units` 14-bit groups.
    private static func appendUnits(_ chunk: ArraySlice<UInt8>, units: Int, to scalars: inout String.UnicodeScalarView) {
        var value: UInt64 = 0
        var n = 0
        for byte in chunk {
            value = value << 8 | UInt64(byte)
            n += 1
        }
        value <<= UInt64(8 * (7 - n))
        for u in 0..<units {
            let unit = UInt32((value >> UInt64(42 - 14 * u)) & 0x3FFF)
            scalars.append(Unicode.Scalar(base + unit)!)
        }
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
        var value: UInt64 = 0
        var n = 0
        for unit in chunk {
            value = value << 14 | UInt64(unit)
            n += 1
        }
        value <<= UInt64(14 * (4 - n))
        for b in 0..<bytes {
            out.append(UInt8((value >> UInt64(48 - 8 * b)) & 0xFF))
        }
    }
}

public struct Base16384Error: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "base16384: \(message)" }
}
