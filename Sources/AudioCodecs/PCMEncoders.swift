/// `pcm`: raw little-endian s16 mono, no header; every sample is sent as soon as it arrives.
final class PCMStreamEncoder: AudioEncoder {
    let format = AudioFormat.pcm
    let sampleRate: Int
    private var finished = false

    init(sampleRate: Int) { self.sampleRate = sampleRate }

    func encode(_ samples: [Float]) throws -> [UInt8] {
        guard !finished else { throw AudioCodecError(.finished, "pcm: encode after finish") }
        var out: [UInt8] = []
        WAV.appendPCM16(samples, to: &out)
        return out
    }

    func finish() throws -> [UInt8] {
        guard !finished else { throw AudioCodecError(.finished, "pcm: finish called twice") }
        finished = true
        return []
    }
}

/// `wav`: a 44-byte header whose sizes say "unknown length" (0xFFFFFFFF), then s16 samples as
/// they arrive. A streamed response cannot go back to patch the sizes; readers take the data
/// chunk to run until the end of the stream. Complete files use `WAV.encode` instead.
final class WAVStreamEncoder: AudioEncoder {
    let format = AudioFormat.wav
    let sampleRate: Int
    private var headerSent = false
    private var finished = false

    init(sampleRate: Int) { self.sampleRate = sampleRate }

    func encode(_ samples: [Float]) throws -> [UInt8] {
        guard !finished else { throw AudioCodecError(.finished, "wav: encode after finish") }
        var out = takeHeader()
        WAV.appendPCM16(samples, to: &out)
        return out
    }

    func finish() throws -> [UInt8] {
        guard !finished else { throw AudioCodecError(.finished, "wav: finish called twice") }
        finished = true
        return takeHeader()
    }

    private func takeHeader() -> [UInt8] {
        guard !headerSent else { return [] }
        headerSent = true
        return WAV.header(sampleRate: sampleRate, dataBytes: nil)
    }
}
