import Foundation
import Testing
@testable import AudioCodecs

@Suite("Audio formats")
struct AudioFormatTests {
    @Test("formats carry OpenAI's names, content types and file extensions")
    func namesAndTypes() {
        #expect(AudioFormat(rawValue: "mp3") == .mp3)
        #expect(AudioFormat(rawValue: "ogg") == nil)
        let types = Dictionary(uniqueKeysWithValues: AudioFormat.allCases.map { ($0, $0.contentType) })
        #expect(types == [.mp3: "audio/mpeg", .opus: "audio/ogg", .aac: "audio/aac",
                          .flac: "audio/flac", .wav: "audio/wav", .pcm: "audio/pcm"])
        #expect(AudioFormat.allCases.map(\.fileExtension) == ["mp3", "opus", "aac", "flac", "wav", "pcm"])
    }

    @Test("aac is refused with a typed unsupported-format error that says why")
    func aacUnsupported() {
        #expect(!AudioFormat.aac.isSupported)
        let error = #expect(throws: AudioCodecError.self) { try AudioEncoders.make(.aac, sampleRate: 24000) }
        #expect(error?.code == .unsupportedFormat)
        #expect(error?.description.contains("aac") == true)
    }

    @Test("rates a codec cannot take natively are refused, not resampled",
          arguments: [(AudioFormat.opus, 22050), (.mp3, 23000), (.wav, 0), (.flac, -1)])
    func unsupportedRates(format: AudioFormat, rate: Int) {
        let error = #expect(throws: AudioCodecError.self) { try AudioEncoders.make(format, sampleRate: rate) }
        #expect(error?.code == .unsupportedSampleRate)
    }
}

@Suite("Streaming encoders")
struct StreamingEncoderTests {
    static let supported = AudioFormat.allCases.filter(\.isSupported)

    static func decodeOptions(_ format: AudioFormat) -> [String] {
        format == .pcm ? ["-f", "s16le", "-ar", "24000", "-ac", "1"] : []
    }

    @Test("lossless formats fed uneven chunks decode with ffmpeg to exactly the input's 16-bit samples",
          arguments: [AudioFormat.wav, .pcm, .flac])
    func losslessRoundTrip(format: AudioFormat) throws {
        let bytes = try Signal.encode(AudioEncoders.make(format, sampleRate: 24000)).flatMap { $0 }
        let decoded = try FFmpeg.decode16(bytes, fileExtension: format.fileExtension, inputOptions: Self.decodeOptions(format))
        #expect(decoded.count == Signal.count)
        #expect(decoded == Signal.pcm16)
    }

    @Test("opus fed uneven chunks decodes to the input's length and timing: pre-skip and end trimming apply")
    func opusRoundTrip() throws {
        let bytes = try Signal.encode(AudioEncoders.make(.opus, sampleRate: 24000)).flatMap { $0 }
        let decoded = try FFmpeg.decode(bytes, fileExtension: "opus")
        let alignment = Alignment(input: Signal.samples, decoded: decoded)
        // RFC 7845 decoders return exactly (last granule - pre-skip) samples; allow one for the 48 -> 24 kHz resampler.
        #expect(abs(decoded.count - Signal.count) <= 1, "decoded \(decoded.count) of \(Signal.count)")
        #expect(abs(alignment.delay) <= 2, "delay \(alignment.delay)")
        #expect(alignment.correlation > 0.99, "correlation \(alignment.correlation)")
    }

    @Test("mp3 fed uneven chunks decodes to the sine, late by the encoder and decoder delays, at most a frame long")
    func mp3RoundTrip() throws {
        let encoder = try #require(try AudioEncoders.make(.mp3, sampleRate: 24000) as? MP3Encoder)
        let bytes = try Signal.encode(encoder).flatMap { $0 }
        let decoded = try FFmpeg.decode(bytes, fileExtension: "mp3")
        let alignment = Alignment(input: Signal.samples, decoded: decoded)
        // Without a LAME info frame (a stream cannot have one) ffmpeg trims nothing: the encoder's
        // delay (576) and the decoder's (529) lead, and the last frame's padding trails.
        let delay = encoder.encoderDelay + 529
        #expect(encoder.encoderDelay == 576)
        #expect(abs(alignment.delay - delay) <= 2, "delay \(alignment.delay), expected \(delay)")
        #expect((Signal.count...(Signal.count + 576)).contains(decoded.count - delay), "decoded \(decoded.count)")
        #expect(alignment.correlation > 0.99, "correlation \(alignment.correlation)")
    }

    /// Input samples after which the first audio bytes must have come out (header excluded).
    static let firstAudioWithin: [AudioFormat: Int] = [.pcm: 240, .wav: 240, .opus: 480, .flac: 2400, .mp3: 2400]

    @Test("audio bytes leave before finish: within 10 ms for pcm/wav, one 20 ms frame for opus, 100 ms for flac and mp3",
          arguments: supported)
    func bytesBeforeFinish(format: AudioFormat) throws {
        let encoder = try AudioEncoders.make(format, sampleRate: 24000)
        let header = try encoder.encode([])
        #expect(header.isEmpty == (format == .pcm || format == .mp3), "header \(header.count) bytes")
        let audio = Array(Signal.samples[Signal.onset...])
        var fed = 0
        var firstAudio: Int?
        var beforeFinish = 0
        while fed < audio.count {
            let chunk = Array(audio[fed..<min(audio.count, fed + 240)])  // 10 ms
            fed += chunk.count
            let out = try encoder.encode(chunk)
            if !out.isEmpty, firstAudio == nil { firstAudio = fed }
            beforeFinish += out.count
        }
        let tail = try encoder.finish()
        let limit = try #require(Self.firstAudioWithin[format])
        #expect(try #require(firstAudio) <= limit)
        // Only the last frame or two wait for finish.
        #expect(tail.count * 10 < beforeFinish, "finish \(tail.count) bytes after \(beforeFinish)")
    }

    @Test("a stream with no samples is still a file ffmpeg reads, holding no audio", arguments: [AudioFormat.wav, .opus, .flac])
    func emptyStream(format: AudioFormat) throws {
        let encoder = try AudioEncoders.make(format, sampleRate: 24000)
        let bytes = try encoder.finish()
        #expect(!bytes.isEmpty)
        #expect(try FFmpeg.decode(bytes, fileExtension: format.fileExtension).isEmpty)
    }

    @Test("encode or finish after finish throws .finished", arguments: supported)
    func usedAfterFinish(format: AudioFormat) throws {
        let encoder = try AudioEncoders.make(format, sampleRate: 24000)
        _ = try encoder.encode([0.1, 0.2])
        _ = try encoder.finish()
        #expect(#expect(throws: AudioCodecError.self) { try encoder.encode([0]) }?.code == .finished)
        #expect(#expect(throws: AudioCodecError.self) { try encoder.finish() }?.code == .finished)
    }

    @Test("an encoder made outside a task can be handed to the task that writes the body")
    func handedToTask() async throws {
        let encoder = try AudioEncoders.make(.opus, sampleRate: 24000)
        let bytes = try await Task {
            try encoder.encode(Array(Signal.samples[0..<4800])) + encoder.finish()
        }.value
        #expect(try OggPage.parse(bytes).last?.endsStream == true)
    }
}

@Suite("Container details")
struct ContainerTests {
    @Test("the streamed WAV header says 'unknown length' and WAV.decode reads the stream")
    func wavStreamHeader() throws {
        let bytes = try Signal.encode(AudioEncoders.make(.wav, sampleRate: 24000)).flatMap { $0 }
        #expect(Array(bytes[4..<8]) == [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(Array(bytes[40..<44]) == [0xFF, 0xFF, 0xFF, 0xFF])
        let (samples, rate) = try WAV.decode(bytes)
        #expect(rate == 24000)
        #expect(samples.count == Signal.count)
    }

    @Test("ogg opus: header pages, whole pages per call, 48 kHz granules with pre-skip, end-of-stream trimming",
          arguments: [24000, 16000, 48000])
    func oggOpusPages(sampleRate: Int) throws {
        let encoder = try #require(try AudioEncoders.make(.opus, sampleRate: sampleRate) as? OggOpusEncoder)
        let input = Array(Signal.samples.prefix(sampleRate))  // 1 s
        let outputs = try Signal.encode(encoder, input)
        let pages = try outputs.flatMap { try OggPage.parse($0) }  // each call's bytes are whole pages
        #expect(pages.count >= 4)
        #expect(Set(pages.map(\.serial)).count == 1)
        #expect(pages.map(\.sequence) == (0..<UInt32(pages.count)).map { $0 })

        let head = pages[0]
        #expect(head.beginsStream && head.packets.count == 1 && head.granule == 0)
        let h = head.packets[0]
        #expect(Array(h[0..<8]) == Array("OpusHead".utf8) && h.count == 19)
        #expect(h[8] == 1 && h[9] == 1)  // version, mono
        #expect(Int(h[10]) | Int(h[11]) << 8 == encoder.preSkip)
        #expect(Int(h[12]) | Int(h[13]) << 8 | Int(h[14]) << 16 == sampleRate)
        #expect(pages[1].packets.count == 1 && Array(pages[1].packets[0][0..<8]) == Array("OpusTags".utf8))
        #expect(pages[1].granule == 0)

        let audio = Array(pages[2...])
        let packets = audio.reduce(0) { $0 + $1.packets.count }
        #expect(audio.allSatisfy { !$0.beginsStream })
        #expect(audio.dropLast().allSatisfy { !$0.endsStream && $0.granule % 960 == 0 })
        #expect(zip(audio, audio.dropFirst()).allSatisfy { $0.granule < $1.granule })
        let last = try #require(audio.last)
        #expect(last.endsStream)
        #expect(last.granule == Int64(encoder.preSkip + input.count * 48000 / sampleRate))
        #expect(packets * 960 >= Int(last.granule) && (packets - 1) * 960 < Int(last.granule))
        #expect(encoder.preSkip > 0 && encoder.preSkip < 960)
    }

    @Test("mp3 is a run of 192-byte MPEG-2 layer III mono frames: 64 kbit/s CBR at 24 kHz, no tags")
    func mp3Frames() throws {
        let bytes = try Signal.encode(AudioEncoders.make(.mp3, sampleRate: 24000)).flatMap { $0 }
        #expect(bytes.count % 192 == 0)
        for frame in stride(from: 0, to: bytes.count, by: 192) {
            #expect(bytes[frame] == 0xFF && bytes[frame + 1] & 0xFE == 0xF2, "MPEG-2 layer III sync at \(frame)")
            #expect(bytes[frame + 2] >> 4 == 8, "64 kbit/s")
            #expect(bytes[frame + 2] >> 2 & 3 == 1, "24 kHz")
            #expect(bytes[frame + 3] >> 6 == 3, "mono")
        }
    }

    @Test("flac starts with STREAMINFO for 24 kHz 16-bit mono, 2048-sample blocks, length unknown")
    func flacStreamInfo() throws {
        let bytes = try Signal.encode(AudioEncoders.make(.flac, sampleRate: 24000)).flatMap { $0 }
        let info = try StreamInfo(bytes)
        #expect(info.minBlockSize == 2048 && info.maxBlockSize == 2048)
        #expect(info.sampleRate == 24000 && info.channels == 1 && info.bitsPerSample == 16)
        #expect(info.totalSamples == 0)  // a forward-only stream cannot go back to fill it in
        #expect(info.md5 == [UInt8](repeating: 0, count: 16))
    }
}
