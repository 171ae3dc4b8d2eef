import Foundation
import Testing
@testable import AudioCodecs

/// WAV files built byte by byte: a `fmt ` chunk (plain or WAVE_FORMAT_EXTENSIBLE), optional other chunks, `data`.
enum TestWAV {
    static func le(_ value: Int, _ bytes: Int) -> [UInt8] { (0..<bytes).map { UInt8((value >> (8 * $0)) & 0xFF) } }

    static func chunk(_ id: String, _ body: [UInt8]) -> [UInt8] {
        Array(id.utf8) + le(body.count, 4) + body + (body.count % 2 == 1 ? [0] : [])
    }

    static func fmt(tag: Int, channels: Int, rate: Int, bits: Int, extensible: Bool = false) -> [UInt8] {
        let align = channels * bits / 8
        var body = le(extensible ? 0xFFFE : tag, 2) + le(channels, 2) + le(rate, 4) + le(rate * align, 4)
            + le(align, 2) + le(bits, 2)
        if extensible {
            let guidTail: [UInt8] = [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]
            body += le(22, 2) + le(bits, 2) + le(channels == 2 ? 3 : 4, 4) + le(tag, 2) + guidTail
        }
        return chunk("fmt ", body)
    }

    static func file(_ chunks: [UInt8]...) -> [UInt8] {
        let body = Array("WAVE".utf8) + chunks.joined()
        return Array("RIFF".utf8) + le(body.count, 4) + body
    }

    static func pcm(_ values: [Int], bits: Int, channels: Int = 1, rate: Int = 24000, extensible: Bool = false)
        -> [UInt8]
    {
        file(fmt(tag: 1, channels: channels, rate: rate, bits: bits, extensible: extensible),
             chunk("data", values.flatMap { le($0, bits / 8) }))
    }

    static func float32(_ values: [Float], channels: Int = 1, extensible: Bool = false) -> [UInt8] {
        file(fmt(tag: 3, channels: channels, rate: 24000, bits: 32, extensible: extensible),
             chunk("data", values.flatMap { le(Int($0.bitPattern), 4) }))
    }

    static func float64(_ values: [Double]) -> [UInt8] {
        file(fmt(tag: 3, channels: 1, rate: 24000, bits: 64),
             chunk("data", values.flatMap { le(Int(bitPattern: UInt($0.bitPattern)), 8) }))
    }
}

@Suite("WAV decoding")
struct WAVDecoderTests {
    @Test("integer PCM of 8, 16, 24 and 32 bits decodes to fractions of full scale")
    func integerPCM() throws {
        let expected: [Float] = [-1, -0.5, 0, 0.5]
        #expect(try WAV.decode(TestWAV.pcm([0, 64, 128, 192, 255], bits: 8)).samples == expected + [127.0 / 128])
        #expect(try WAV.decode(TestWAV.pcm([-32768, -16384, 0, 16384, 32767], bits: 16)).samples
                    == expected + [32767.0 / 32768])
        #expect(try WAV.decode(TestWAV.pcm([-8_388_608, -4_194_304, 0, 4_194_304, 8_388_607], bits: 24)).samples
                    == expected + [8_388_607.0 / 8_388_608])
        #expect(try WAV.decode(TestWAV.pcm([-2_147_483_648, -1_073_741_824, 0, 1_073_741_824, 65536], bits: 32))
                    .samples == expected + [65536.0 / 2_147_483_648])
    }

    @Test("IEEE float of 32 and 64 bits passes through")
    func floats() throws {
        let values: [Float] = [-1, -0.25, 0, 0.3, 1.5]
        #expect(try WAV.decode(TestWAV.float32(values)).samples == values)
        #expect(try WAV.decode(TestWAV.float64(values.map(Double.init))).samples == values)
    }

    @Test("WAVE_FORMAT_EXTENSIBLE files decode like plain ones")
    func extensible() throws {
        let ints = [-8_388_608, 123_456, 8_388_607, -1]
        #expect(try WAV.decode(TestWAV.pcm(ints, bits: 24, extensible: true)).samples
                    == (try WAV.decode(TestWAV.pcm(ints, bits: 24)).samples))
        let floats: [Float] = [0.5, -0.125, 0.75, 0]
        #expect(try WAV.decode(TestWAV.float32(floats, channels: 2, extensible: true)).samples == [0.1875, 0.375])
    }

    @Test("channels are averaged into one, and the sample rate is reported as written")
    func mixDown() throws {
        let stereo = try WAV.decode(TestWAV.pcm([16384, -16384, 8192, 8192, -32768, 0], bits: 16, channels: 2,
                                                rate: 44100))
        #expect(stereo.sampleRate == 44100)
        #expect(stereo.samples == [0, 0.25, -0.5])
        let three = try WAV.decode(TestWAV.float32([0.3, 0.6, 0.9, -0.3, -0.6, -0.9], channels: 3))
        #expect(three.samples.count == 2)
        #expect(abs(three.samples[0] - 0.6) < 1e-6 && abs(three.samples[1] + 0.6) < 1e-6)
    }

    @Test("chunks other than fmt and data are skipped, odd sizes with their pad byte")
    func otherChunks() throws {
        let bytes = TestWAV.file(TestWAV.chunk("JUNK", [1, 2, 3]),
                                 TestWAV.fmt(tag: 1, channels: 1, rate: 8000, bits: 16),
                                 TestWAV.chunk("LIST", Array("INFOISFT\u{5}\0\0\0swift".utf8)),
                                 TestWAV.chunk("data", TestWAV.le(16384, 2)),
                                 TestWAV.chunk("id3 ", [9]))
        let decoded = try WAV.decode(bytes)
        #expect(decoded.samples == [0.5] && decoded.sampleRate == 8000)
    }

    /// Broken files and a phrase the refusal must contain.
    static let brokenFiles: [(bytes: [UInt8], phrase: String)] = {
        let riff: [UInt8] = Array("RIFF".utf8), wave: [UInt8] = Array("WAVE".utf8)
        let mono16 = TestWAV.fmt(tag: 1, channels: 1, rate: 24000, bits: 16)
        var cases: [(bytes: [UInt8], phrase: String)] = []
        cases.append((Array("hello world, not audio".utf8), "not a RIFF file"))
        cases.append((riff, "shorter than a RIFF header"))
        cases.append((Array("RF64".utf8) + TestWAV.le(0, 4) + wave, "RF64"))
        cases.append((riff + TestWAV.le(4, 4) + Array("AVI ".utf8), "form type is 'AVI '"))
        cases.append((TestWAV.file(TestWAV.chunk("data", [0, 0]), mono16), "data chunk comes before any fmt chunk"))
        cases.append((TestWAV.file(mono16), "no data chunk"))
        cases.append((TestWAV.file(TestWAV.chunk("fmt ", [1, 0, 1, 0])), "fmt chunk is 4 bytes"))
        let adpcm = TestWAV.fmt(tag: 2, channels: 1, rate: 24000, bits: 4)
        cases.append((TestWAV.file(adpcm, TestWAV.chunk("data", [0])), "format tag 0x2"))
        let twelveBits = TestWAV.fmt(tag: 1, channels: 1, rate: 24000, bits: 12)
        cases.append((TestWAV.file(twelveBits, TestWAV.chunk("data", [0])), "12 bits per sample"))
        let halfFloat = TestWAV.fmt(tag: 3, channels: 1, rate: 24000, bits: 16)
        cases.append((TestWAV.file(halfFloat, TestWAV.chunk("data", [0])), "IEEE float (32 or 64)"))
        let noChannels = TestWAV.fmt(tag: 1, channels: 0, rate: 24000, bits: 16)
        cases.append((TestWAV.file(noChannels, TestWAV.chunk("data", [])), "0 channels"))
        let noRate = TestWAV.fmt(tag: 1, channels: 1, rate: 0, bits: 16)
        cases.append((TestWAV.file(noRate, TestWAV.chunk("data", [])), "sample rate 0"))
        // Stereo 16-bit with block align 2 instead of 4.
        var misaligned = TestWAV.fmt(tag: 1, channels: 2, rate: 24000, bits: 16)
        misaligned[20] = 2
        cases.append((TestWAV.file(misaligned, TestWAV.chunk("data", [])), "block align 2"))
        // WAVE_FORMAT_EXTENSIBLE with an 18-byte fmt chunk (no extension).
        var shortExtensible = Array(TestWAV.fmt(tag: 1, channels: 1, rate: 24000, bits: 16).dropFirst(8))
        shortExtensible[0] = 0xFE
        shortExtensible[1] = 0xFF
        shortExtensible += [0, 0]
        cases.append((TestWAV.file(TestWAV.chunk("fmt ", shortExtensible)),
                      "WAVE_FORMAT_EXTENSIBLE needs a 22-byte extension"))
        let truncated = Array("data".utf8) + TestWAV.le(100, 4) + [0, 0]
        cases.append((TestWAV.file(mono16, truncated), "data chunk declares 100 bytes"))
        let stereo16 = TestWAV.fmt(tag: 1, channels: 2, rate: 24000, bits: 16)
        cases.append((TestWAV.file(stereo16, TestWAV.chunk("data", [0, 0])), "not whole frames of 4"))
        cases.append((TestWAV.file(Array("LIST".utf8) + TestWAV.le(1000, 4)),
                      "'LIST' chunk at byte 12 declares 1000 bytes"))
        cases.append((TestWAV.float32([0.5, .infinity]), "frame 1 holds a sample that is not a finite number"))
        return cases
    }()

    @Test("broken files are refused with a message that names the chunk and field", arguments: brokenFiles)
    func refusesBroken(_ broken: (bytes: [UInt8], phrase: String)) throws {
        let error = try #require(throws: WAVError.self) { try WAV.decode(broken.bytes) }
        #expect(error.description.contains(broken.phrase), "\(error)")
    }

    @Test("a stream header of unknown length reads to the end of the file, whole frames only")
    func unknownLength() throws {
        let bytes = WAV.header(sampleRate: 24000, dataBytes: nil) + TestWAV.le(16384, 2) + TestWAV.le(-16384, 2) + [7]
        #expect(try WAV.decode(bytes).samples == [0.5, -0.5])
    }
}

@Suite("Resampling")
struct ResamplerTests {
    /// A 1 kHz tone at half scale, resampled from 44.1 kHz, against the same tone sampled at 24 kHz, sample for
    /// sample (so the output is not delayed). Away from the ends, where the filter sees the signal start, the
    /// difference is float32 rounding: measured max abs 3.0e-8.
    @Test("44.1 kHz to 24 kHz keeps the signal and gives round(n x 24000 / 44100) samples")
    func downsample() throws {
        let n = 44100 / 2
        let tone = { (rate: Double, i: Int) in Float(0.5 * sin(2 * Double.pi * 1000 * Double(i) / rate)) }
        let output = try Resampler.resample((0..<n).map { tone(44100, $0) }, from: 44100, to: 24000)
        #expect(output.count == 12000)
        let middle = 1000..<11000
        let error = middle.map { abs(output[$0] - tone(24000, $0)) }.max()!
        #expect(error < 1e-6, "max abs error \(error)")
    }

    @Test("equal rates return the input, and rates must be positive")
    func edges() throws {
        #expect(try Resampler.resample([0.1, 0.2], from: 24000, to: 24000) == [0.1, 0.2])
        let error = try #require(throws: AudioCodecError.self) { try Resampler.resample([0.1], from: 0, to: 24000) }
        #expect(error.code == .resamplingFailed)
    }
}
