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

    /// The official random voice of a seed, bit for bit: what `torch.manual_seed(seed)` then
    /// `Chat.sample_random_speaker()` give, `torch.randn(dim, dtype=float16).mul_(std).add_(mean)` with the statistics
    /// as float16 (rounded to nearest even from float32) and the product and the sum each rounded to float16.
    public static func random(seed: UInt64, statistics: SpeakerStatistics) -> Voice {
        var generator = TorchGenerator(seed: seed)
        let noise = generator.standardNormalHalf(count: statistics.dim)
        return Voice(values: (0..<statistics.dim).map { i in
            let scaled = Float16(Float(noise[i]) * Float(Float16(statistics.std[i])))
            return Float(Float16(Float(scaled) + Float(Float16(statistics.mean[i]))))
        })
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
///
/// Two forms exist: the Hugging Face asset `spk_stat.pt` (a `torch.save` of one float32 tensor, std then mean) and
/// the official package's `spk_stat` string (base16384 of the float16 values, std then mean). Seed voices use them
/// as float16 either way.
public struct SpeakerStatistics: Sendable, Equatable {
    public let std: [Float]
    public let mean: [Float]

    /// Seed voices follow torch's `randn` for 16 values or more, so smaller statistics are refused.
    public static let minimumDimension = 16

    public var dim: Int { std.count }

    public init(std: [Float], mean: [Float]) {
        precondition(std.count == mean.count && std.count >= Self.minimumDimension)
        self.std = std
        self.mean = mean
    }

    /// `values` is std then mean, as both file forms hold them.
    init(concatenated values: [Float]) throws(VoiceError) {
        guard values.count % 2 == 0, values.count / 2 >= Self.minimumDimension else {
            throw VoiceError(message: "speaker statistics hold \(values.count) values, expected std then mean of "
                             + "\(Self.minimumDimension) or more dimensions each")
        }
        self.init(std: Array(values[..<(values.count / 2)]), mean: Array(values[(values.count / 2)...]))
    }

    public init(string: String) throws {
        let raw = try Base16384.decode(string.trimmingCharacters(in: .whitespacesAndNewlines))
        guard raw.count % 2 == 0 else {
            throw VoiceError(message: "speaker statistics hold \(raw.count) bytes, not float16 values")
        }
        try self.init(concatenated: stride(from: 0, to: raw.count, by: 2).map {
            Float(Float16(bitPattern: UInt16(raw[$0]) | UInt16(raw[$0 + 1]) << 8))
        })
    }

    /// Reads any form, told apart by content: a `torch.save` archive of one vector (the asset `spk_stat.pt`), the
    /// `spk_stat` string, or a JSON object with a `spk_stat` string. Errors name the file.
    public init(contentsOf file: URL) throws {
        guard let data = try? Data(contentsOf: file) else {
            throw VoiceError(message: "\(file.path): cannot read the speaker statistics")
        }
        if data.starts(with: [0x50, 0x4B, 0x03, 0x04]) {  // "PK\3\4": a zip archive, as torch.save writes
            let tensor = try TorchArchive.tensor(bytes: [UInt8](data), file: file.path)
            guard tensor.shape.count == 1 else {
                throw VoiceError(message: "\(file.path): speaker statistics are one vector, not a tensor of shape "
                                 + "\(tensor.shape)")
            }
            do { try self.init(concatenated: tensor.values) } catch {
                throw VoiceError(message: "\(file.path): \(error)")
            }
            return
        }
        var string = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if string.hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let stat = object["spk_stat"] as? String
            else { throw VoiceError(message: "\(file.path): a JSON file needs a string 'spk_stat'") }
            string = stat
        }
        do { try self.init(string: string) } catch {
            throw VoiceError(message: "\(file.path): not speaker statistics (\(error))")
        }
    }
}

public struct VoiceError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
