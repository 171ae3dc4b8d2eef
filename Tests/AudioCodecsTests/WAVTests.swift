import Testing
@testable import AudioCodecs

@Suite("WAV encoding")
struct WAVTests {
    @Test("a header describes 24 kHz mono s16 and the data length")
    func headerFields() {
        let bytes = WAV.encode(samples: [0, 0.5, -0.5, 1], sampleRate: 24000)
        #expect(bytes.count == 44 + 8)
        #expect(Array(bytes[0..<4]) == Array("RIFF".utf8))
        #expect(bytes[22] == 1) // mono
        #expect(Int(bytes[24]) | Int(bytes[25]) << 8 | Int(bytes[26]) << 16 == 24000)
        #expect(bytes[34] == 16) // bits per sample
        #expect(Int(bytes[40]) | Int(bytes[41]) << 8 == 8) // data bytes
    }

    /// The encoder scales by 32767 (symmetric, as numpy.round(x * 32767)), the decoder divides by 32768 (full
    /// scale, as soundfile and torchaudio read files): a round trip is within 1.5 steps of 1/32768.
    @Test("samples survive an encode/decode round trip as their 16-bit values, and are clipped")
    func roundTrip() throws {
        let input: [Float] = (0..<1000).map { Float($0 - 500) / 400 }
        let (decoded, rate) = try WAV.decode(WAV.encode(samples: input, sampleRate: 24000))
        #expect(rate == 24000)
        #expect(decoded.count == input.count)
        for (a, b) in zip(input, decoded) {
            #expect(b == Float(WAV.pcm16(a)) / 32768)
            #expect(abs(max(-1, min(1, a)) - b) <= 1.5 / 32768 + 1e-7)
        }
    }

    @Test("a file that is not WAV is rejected with a reason")
    func rejectsGarbage() {
        #expect(throws: WAVError.self) { try WAV.decode(Array("hello world, not audio".utf8)) }
    }
}
