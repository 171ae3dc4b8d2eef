/// RIFF/WAVE encoding of mono 16-bit PCM, the format every player and ffmpeg read.
///
/// Samples arrive as float32 in [-1, 1] (what the vocoder produces); values beyond that range are clipped,
/// and conversion rounds to the nearest integer like `numpy.round(x * 32767)`.
public enum WAV {
    /// A complete file: 44-byte header plus little-endian s16 samples.
    public static func encode(samples: [Float], sampleRate: Int) -> [UInt8] {
        var out = header(sampleRate: sampleRate, dataBytes: samples.count * 2)
        out.reserveCapacity(out.count + samples.count * 2)
        appendPCM16(samples, to: &out)
        return out
    }

    /// A header for `dataBytes` of s16 mono data. Streams that do not know their length yet pass
    /// `nil`: both the RIFF and the data sizes become 0xFFFFFFFF, which ffmpeg, browsers and
    /// players read as "until end of stream".
    public static func header(sampleRate: Int, dataBytes: Int?) -> [UInt8] {
        let data = dataBytes.map { UInt32(clamping: $0) } ?? UInt32.max
        let riff = dataBytes.map { UInt32(clamping: UInt64($0) + 36) } ?? UInt32.max
        var out: [UInt8] = []
        out.reserveCapacity(44)
        out += Array("RIFF".utf8)
        appendLE(riff, to: &out)
        out += Array("WAVE".utf8)
        out += Array("fmt ".utf8)
        appendLE(UInt32(16), to: &out)            // fmt chunk size
        appendLE(UInt16(1), to: &out)             // PCM
        appendLE(UInt16(1), to: &out)             // mono
        appendLE(UInt32(sampleRate), to: &out)
        appendLE(UInt32(sampleRate * 2), to: &out) // byte rate
        appendLE(UInt16(2), to: &out)             // block align
        appendLE(UInt16(16), to: &out)            // bits per sample
        out += Array("data".utf8)
        appendLE(data, to: &out)
        return out
    }

    /// Raw little-endian s16 samples, also the body of the `pcm` response format.
    public static func appendPCM16(_ samples: [Float], to out: inout [UInt8]) {
        for sample in samples {
            appendLE(UInt16(bitPattern: pcm16(sample)), to: &out)
        }
    }

    /// The one float-to-s16 conversion every lossless format shares, so WAV, PCM and FLAC carry
    /// identical samples: clip to [-1, 1] (NaN to 0), scale by 32767, round half away from zero.
    @inline(__always)
    static func pcm16(_ sample: Float) -> Int16 {
        let clipped = max(-1, min(1, sample.isNaN ? 0 : sample))
        return Int16((clipped * 32767).rounded())
    }

    private static func appendLE<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }
}
