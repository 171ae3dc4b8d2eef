import Testing
@testable import ChatTTS

/// Sample prompt strings (`spk_smp`) against the official encoding (fixture: the DVAE encode of a sample).
@Suite("Sample prompt strings match the official ones")
struct SpeakerSampleTests {
    @Test("the official sample prompt string decodes to the reference codes and re-encodes to the same string")
    func officialString() throws {
        let string = (try Fixtures.json("meta.json")["dvae_encode"] as! [String: Any])["prompt_string"] as! String
        let codes = try Fixtures.reference("dvae.safetensors").integers("encode.codes")
        let sample = try SpeakerSample(string: string, transcript: "示例文本")
        #expect(sample.codes.count == codes.shape[0] && sample.frames == codes.shape[1])
        #expect(sample.codes.flatMap { $0 } == codes.values)
        #expect(try sample.string() == string)
    }

    @Test("broken sample strings are refused with the reason")
    func rejects() throws {
        #expect(throws: VoiceError.self) { try SpeakerSample(string: "abc", transcript: "") }
        let short = Base16384.encode([4, 0, 2, 0, 1, 2, 3])
        #expect(throws: VoiceError.self) { try SpeakerSample(string: short, transcript: "") }
        #expect(throws: VoiceError.self) { try SpeakerSample(codes: [[1, 2], [3]], transcript: "").string() }
    }
}
