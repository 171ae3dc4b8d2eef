import Foundation

/// A voice: the speaker embedding (hidden-size floats) that replaces the `[spk_emb]` token's input embedding.
///
/// Users share voices as strings: float16 little-endian bytes, compressed as raw LZMA2 (preset 9 extreme), written
/// in base16384. Our encoder produces the official strings byte for byte.
public struct Voice: Sendable, Equatable {
    public var values: [Float]

    public init(values: [Float]) {
        self.values = values
    }

    public init(string: String) throws {
        let packed: [UInt8]
        do {
            packed = try Base16384.decode(string.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw VoiceError(message: "voice string is not base16384 text: \(error)")
        }
        let raw: [UInt8]
        do {
            raw = try LZMA2Raw.decompress(packed)
        } catch {
            throw VoiceError(message: "voice string does not hold LZMA2 data: \(error)")
        }
        guard !raw.isEmpty, raw.count % 2 == 0 else {
            throw VoiceError(message: "voice string holds \(raw.count) bytes, not a float16 vector")
        }
        values = stride(from: 0, to: raw.count, by: 2).map {
            Float(Float16(bitPattern: UInt16(raw[$0]) | UInt16(raw[$0 + 1]) << 8))
        }
    }

    /// The shareable string (values rounded to float16).
    public func string() throws -> String {
        var raw: [UInt8] = []
        raw.reserveCapacity(values.count * 2)
        for v in values {
            let bits = Float16(v).bitPattern
            raw.append(UInt8(bits & 0xFF))
            raw.append(UInt8(bits >> 8))
        }
        return Base16384.encode(try LZMA2Raw.compress(raw))
    }

    /// A random voice: a standard normal vector scaled and shifted by the model's speaker statistics.
    public static func random(seed: UInt64, statistics: SpeakerStatistics) -> Voice {
        var rng = SeededRNG(seed: seed)
        return Voice(values: (0..<statistics.mean.count).map { statistics.mean[$0] + rng.gaussian() * statistics.std[$0] })
    }

    /// The vector as the model sees it: L2-normalized (eps 1e-12, like `F.normalize`). The reference decodes voice
    /// strings to float16 and normalizes in float16 (norm accumulated in float32, then rounded; each quotient
    /// rounded), so we do the same to give the same numbers.
    public var normalized: [Float] {
        var sum: Float = 0
        for v in values { sum += Float(Float16(v)) * Float(Float16(v)) }
        let norm = Float(Float16(max(sum.squareRoot(), 1e-12)))
        return values.map { Float(Float16(Float(Float16($0)) / norm)) }
    }
}

/// Per-dimension mean and standard deviation of speaker embeddings, for sampling random voices.
/// The official package keeps them as a base16384 string of float16 values (std then mean).
public struct SpeakerStatistics: Sendable {
    public let std: [Float]
    public let mean: [Float]

    public init(std: [Float], mean: [Float]) {
        precondition(std.count == mean.count)
        self.std = std
        self.mean = mean
    }

    public init(string: String) throws {
        let raw = try Base16384.decode(string.trimmingCharacters(in: .whitespacesAndNewlines))
        guard raw.count % 4 == 0, !raw.isEmpty else {
            throw VoiceError(message: "speaker statistics hold \(raw.count) bytes, expected 2 x dim float16 values")
        }
        let values = stride(from: 0, to: raw.count, by: 2).map {
            Float(Float16(bitPattern: UInt16(raw[$0]) | UInt16(raw[$0 + 1]) << 8))
        }
        std = Array(values[0..<(values.count / 2)])
        mean = Array(values[(values.count / 2)...])
    }
}

public struct VoiceError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
