import Foundation

/// A voice sample as the speech stage's prompt (official `spk_smp` with `txt_smp`): the DVAE codes of a recorded
/// sample, [numVQ][frames], and the sample's transcript.
///
/// Users share the codes as a string: the shape as two little-endian uint16 (numVQ, frames), then the codes as
/// little-endian uint16 compressed as raw LZMA2 (preset 9 extreme), all written in base16384. Our encoder produces
/// the official strings byte for byte.
public struct SpeakerSample: Sendable, Equatable {
    /// codes[q][t]: codebook q's code at frame t.
    public var codes: [[Int]]
    /// What the sample says (the official `txt_smp`); it is written before the text in the speech prompt.
    public var transcript: String

    public init(codes: [[Int]], transcript: String) {
        self.codes = codes
        self.transcript = transcript
    }

    public var frames: Int { codes.first?.count ?? 0 }

    /// Decodes an official `spk_smp` string.
    public init(string: String, transcript: String) throws {
        let bytes: [UInt8]
        do {
            bytes = try Base16384.decode(string.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw VoiceError(message: "sample prompt string is not base16384 text: \(error)")
        }
        guard bytes.count > 4 else {
            throw VoiceError(message: "sample prompt string holds \(bytes.count) bytes, too few for a shape and codes")
        }
        let rows = Int(bytes[0]) | Int(bytes[1]) << 8, columns = Int(bytes[2]) | Int(bytes[3]) << 8
        let raw: [UInt8]
        do {
            raw = try LZMA2Raw.decompress(Array(bytes[4...]))
        } catch {
            throw VoiceError(message: "sample prompt string does not hold LZMA2 data: \(error)")
        }
        guard rows > 0, columns > 0, raw.count == rows * columns * 2 else {
            throw VoiceError(message: "sample prompt string holds \(raw.count / 2) codes for a \(rows) x \(columns) shape")
        }
        codes = (0..<rows).map { r in
            (0..<columns).map { c in
                let i = 2 * (r * columns + c)
                return Int(raw[i]) | Int(raw[i + 1]) << 8
            }
        }
        self.transcript = transcript
    }

    /// The official `spk_smp` string of the codes.
    public func string() throws -> String {
        let rows = codes.count, columns = frames
        guard rows > 0, columns > 0, rows <= 0xFFFF, columns <= 0xFFFF, codes.allSatisfy({ $0.count == columns }) else {
            throw VoiceError(message: "sample codes must be a non-empty rectangle of at most 65535 x 65535")
        }
        var raw: [UInt8] = []
        raw.reserveCapacity(rows * columns * 2)
        for row in codes {
            for code in row {
                guard (0...0xFFFF).contains(code) else { throw VoiceError(message: "sample code \(code) is not a uint16") }
                raw.append(UInt8(code & 0xFF))
                raw.append(UInt8(code >> 8))
            }
        }
        let shape: [UInt8] = [UInt8(rows & 0xFF), UInt8(rows >> 8), UInt8(columns & 0xFF), UInt8(columns >> 8)]
        return Base16384.encode(shape + (try LZMA2Raw.compress(raw)))
    }
}
