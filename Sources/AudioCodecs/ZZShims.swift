// TEMPORARY: replaced by the whole-file FLAC work at merge.
extension AudioEncoders {
    public static func encodeWhole(_ format: AudioFormat, samples: [Float], sampleRate: Int) throws -> [UInt8] {
        if format == .wav { return WAV.encode(samples: samples, sampleRate: sampleRate) }
        let e = try make(format, sampleRate: sampleRate)
        return try e.encode(samples) + e.finish()
    }
}
