import Testing
@testable import ChatTTS

@Suite("Voice string codecs")
struct SpeakerCodecTests {
    @Test("base16384 round-trips every tail length and uses the documented alphabet")
    func base16384RoundTrip() throws {
        for length in 0..<30 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = Base16384.encode(bytes)
            #expect(try Base16384.decode(text) == bytes)
            let scalars = Array(text.unicodeScalars)
            let tail = length % 7
            #expect(scalars.count == length / 7 * 4 + (tail == 0 ? 0 : (tail * 8 + 13) / 14 + 1))
            if tail > 0 { #expect(scalars.last!.value == 0x3D00 + UInt32(tail)) }
        }
    }

    @Test("base16384 encodes seven 0xFF bytes as four maximal characters")
    func base16384KnownValue() {
        #expect(Base16384.encode([UInt8](repeating: 0xFF, count: 7)) == String(repeating: "\u{8DFF}", count: 4))
        #expect(Base16384.encode([0, 0, 0, 0, 0, 0, 1]) == "\u{4E00}\u{4E00}\u{4E00}\u{4E01}")
    }

    @Test("base16384 rejects characters outside its alphabet")
    func base16384Rejects() {
        #expect(throws: Base16384Error.self) { try Base16384.decode("abc") }
    }

    @Test("raw LZMA2 round-trips and rejects corrupt input")
    func lzmaRoundTrip() throws {
        let input = (0..<1536).map { UInt8(truncatingIfNeeded: ($0 * $0) % 251) }
        let packed = try LZMA2Raw.compress(input)
        #expect(packed.count < input.count)
        #expect(try LZMA2Raw.decompress(packed) == input)
        #expect(throws: LZMAError.self) { try LZMA2Raw.decompress([0xFF, 0x13, 0x37]) }
    }
}
