/// RIFF/WAVE decoding of what clients and tools write: integer PCM of 8, 16, 24 or 32 bits, IEEE float of 32 or 64
/// bits, plain or as WAVE_FORMAT_EXTENSIBLE, any sample rate and channel count, mixed down to mono by averaging the
/// channels (a voice sample is one voice: the channels are the same sound).
///
/// Integers are scaled by their full scale (x / 2^(bits - 1), 8-bit offset by 128), the convention of soundfile and
/// torchaudio, so -1 is reached and +1 is not. Floats pass as they are and must be finite. Chunks other than `fmt `
/// and `data` are skipped; `fmt ` must come first. A data size of 0xFFFFFFFF (a stream that did not know its
/// length, as `WAV.header(dataBytes: nil)` writes) means "to the end of the file".
extension WAV {
    /// The samples (mono, float32) and their sample rate. Throws `WAVError`, whose message names the chunk and the
    /// field at fault.
    public static func decode(_ bytes: [UInt8]) throws -> (samples: [Float], sampleRate: Int) {
        let reader = ByteReader(bytes: bytes)
        guard bytes.count >= 12 else {
            throw WAVError(message: "the file is \(bytes.count) bytes, shorter than a RIFF header (12 bytes)")
        }
        let riff = reader.tag(0)
        guard riff == "RIFF" else {
            throw WAVError(message: riff == "RF64" || riff == "BW64"
                ? "\(riff) (64-bit sizes) files are not supported; write a RIFF WAV (under 4 GiB)"
                : "not a RIFF file: it starts with \(reader.quoted(0)), expected 'RIFF'")
        }
        guard reader.tag(8) == "WAVE" else {
            throw WAVError(message: "RIFF form type is \(reader.quoted(8)), expected 'WAVE'")
        }
        var format: SampleFormat?
        var at = 12
        while at + 8 <= bytes.count {
            let id = reader.tag(at), size = reader.u32(at + 4), body = at + 8
            let available = bytes.count - body
            if id == "data" {
                guard let format else { throw WAVError(message: "the data chunk comes before any fmt chunk") }
                return (try format.decode(reader, from: body, declaredBytes: size, available: available),
                        format.sampleRate)
            }
            guard size <= available else {
                throw WAVError(message: "\(reader.quoted(at)) chunk at byte \(at) declares \(size) bytes, but only "
                                   + "\(available) follow (truncated file?)")
            }
            if id == "fmt " {
                guard format == nil else { throw WAVError(message: "a second fmt chunk at byte \(at)") }
                format = try SampleFormat(reader, at: body, size: size)
            }
            at = body + size + (size & 1)
        }
        throw WAVError(message: format == nil ? "no fmt chunk" : "no data chunk after the fmt chunk")
    }
}

/// Why a WAV file cannot be decoded; the message names the chunk and field at fault.
public struct WAVError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { "WAV: \(message)" }
}

/// Little-endian reads at byte offsets the caller has checked.
private struct ByteReader {
    let bytes: [UInt8]

    func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
    func tag(_ at: Int) -> String { String(decoding: bytes[at..<at + 4], as: UTF8.self) }
    /// A four-character code for messages: printable ASCII as text, anything else as hex bytes.
    func quoted(_ at: Int) -> String {
        let code = bytes[at..<at + 4]
        if code.allSatisfy({ (0x20..<0x7F).contains($0) }) { return "'\(tag(at))'" }
        return "0x" + code.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// The sample layout a `fmt ` chunk describes.
private struct SampleFormat {
    enum Encoding { case integer, float }
    let encoding: Encoding
    let bytesPerSample: Int
    let channels: Int
    let sampleRate: Int

    static let pcm = 1, ieeeFloat = 3, extensible = 0xFFFE
    /// Bytes 2-15 of every KSDATAFORMAT_SUBTYPE GUID (…-0000-0010-8000-00AA00389B71); bytes 0-1 are the format tag.
    static let subtypeTail: [UInt8] = [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]

    init(_ r: ByteReader, at body: Int, size: Int) throws {
        guard size >= 16 else { throw WAVError(message: "fmt chunk is \(size) bytes, needs at least 16") }
        var tag = r.u16(body)
        channels = r.u16(body + 2)
        sampleRate = r.u32(body + 4)
        let blockAlign = r.u16(body + 12), bits = r.u16(body + 14)
        if tag == Self.extensible {
            guard size >= 40, r.u16(body + 16) >= 22 else {
                throw WAVError(message: "fmt chunk: WAVE_FORMAT_EXTENSIBLE needs a 22-byte extension (40 bytes in "
                                   + "all), the chunk is \(size) bytes")
            }
            let validBits = r.u16(body + 18)
            guard Array(r.bytes[(body + 26)..<(body + 40)]) == Self.subtypeTail else {
                throw WAVError(message: "fmt chunk: the WAVE_FORMAT_EXTENSIBLE sub-format is not a KSDATAFORMAT "
                                   + "GUID of a format tag")
            }
            tag = r.u16(body + 24)
            guard validBits <= bits else {
                throw WAVError(message: "fmt chunk: \(validBits) valid bits in a \(bits)-bit container")
            }
        }
        switch (tag, bits) {
        case (Self.pcm, 8), (Self.pcm, 16), (Self.pcm, 24), (Self.pcm, 32): encoding = .integer
        case (Self.ieeeFloat, 32), (Self.ieeeFloat, 64): encoding = .float
        case (Self.pcm, _), (Self.ieeeFloat, _):
            throw WAVError(message: "fmt chunk: \(bits) bits per sample is not supported for "
                               + "\(tag == Self.pcm ? "integer PCM (8, 16, 24 or 32)" : "IEEE float (32 or 64)")")
        default:
            throw WAVError(message: "fmt chunk: format tag 0x\(String(tag, radix: 16)) is not supported; integer "
                               + "PCM (1), IEEE float (3) or WAVE_FORMAT_EXTENSIBLE of either")
        }
        bytesPerSample = bits / 8
        guard channels >= 1 else { throw WAVError(message: "fmt chunk: 0 channels") }
        guard sampleRate >= 1 else { throw WAVError(message: "fmt chunk: sample rate 0") }
        guard blockAlign == channels * bytesPerSample else {
            throw WAVError(message: "fmt chunk: block align \(blockAlign), expected \(channels) channels x "
                               + "\(bytesPerSample) bytes = \(channels * bytesPerSample)")
        }
    }

    var blockAlign: Int { channels * bytesPerSample }

    /// The data chunk's frames, channels averaged. `declaredBytes` 0xFFFFFFFF means every whole frame to the end.
    func decode(_ r: ByteReader, from body: Int, declaredBytes: Int, available: Int) throws -> [Float] {
        let length: Int
        if declaredBytes == 0xFFFF_FFFF {
            length = available - available % blockAlign
        } else {
            guard declaredBytes <= available else {
                throw WAVError(message: "data chunk declares \(declaredBytes) bytes, but only \(available) follow "
                                   + "(truncated file?)")
            }
            guard declaredBytes % blockAlign == 0 else {
                throw WAVError(message: "data chunk is \(declaredBytes) bytes, not whole frames of \(blockAlign)")
            }
            length = declaredBytes
        }
        let frames = length / blockAlign
        let read = sampleReader(r.bytes)
        var out = [Float](repeating: 0, count: frames)
        let scale = 1 / Float(channels)
        for f in 0..<frames {
            var sum: Float = 0
            for c in 0..<channels { sum += read(body + f * blockAlign + c * bytesPerSample) }
            out[f] = channels == 1 ? sum : sum * scale
        }
        if encoding == .float, let bad = out.firstIndex(where: { !$0.isFinite }) {
            throw WAVError(message: "data chunk: frame \(bad) holds a sample that is not a finite number")
        }
        return out
    }

    /// Reads one sample at a byte offset as float32 in [-1, 1) (integers) or as stored (floats).
    func sampleReader(_ b: [UInt8]) -> (Int) -> Float {
        func u32(_ i: Int) -> UInt32 {
            UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
        }
        switch (encoding, bytesPerSample) {
        case (.integer, 1): return { Float(Int(b[$0]) - 128) / 128 }
        case (.integer, 2): return { Float(Int16(bitPattern: UInt16(b[$0]) | UInt16(b[$0 + 1]) << 8)) / 32768 }
        case (.integer, 3):
            return { i in
                let raw = Int32(bitPattern: UInt32(b[i]) << 8 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 24)
                return Float(raw >> 8) / 8_388_608
            }
        case (.integer, _): return { Float(Int32(bitPattern: u32($0))) / 2_147_483_648 }
        case (.float, 4): return { Float(bitPattern: u32($0)) }
        case (.float, _): return { Float(Double(bitPattern: UInt64(u32($0)) | UInt64(u32($0 + 4)) << 32)) }
        }
    }
}
