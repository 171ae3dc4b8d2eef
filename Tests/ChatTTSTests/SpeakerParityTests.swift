import Foundation
import Testing
@testable import ChatTTS

/// Voice strings against the official Speaker code (fixtures: speaker.json). Exact, byte for byte.
@Suite("Voice strings match the official ones")
struct SpeakerParityTests {
    let speaker = try! Fixtures.json("speaker.json")

    func halves(_ bits: Any?) -> [Float] {
        (bits as! [NSNumber]).map { Float(Float16(bitPattern: $0.uint16Value)) }
    }

    @Test("official voice strings decode to their float16 values and re-encode to the same string", arguments: ["tiny", "dim768"])
    func roundTrip(size: String) throws {
        let entry = speaker[size] as! [String: Any]
        for sample in entry["random_samples"] as! [[String: Any]] {
            let string = sample["string"] as! String
            let voice = try Voice(string: string)
            #expect(voice.values == halves(sample["f16_bits"]))
            #expect(try voice.string() == string)
        }
    }

    @Test("a known vector encodes to the official string", arguments: ["tiny", "dim768"])
    func knownVector(size: String) throws {
        let known = (speaker[size] as! [String: Any])["known_vector"] as! [String: Any]
        let voice = Voice(values: halves(known["f16_bits"]))
        #expect(try voice.string() == known["string"] as! String)
    }

    @Test("speaker statistics strings decode to std then mean")
    func statistics() throws {
        let entry = speaker["dim768"] as! [String: Any]
        let stats = try SpeakerStatistics(string: entry["spk_stat"] as! String)
        #expect(stats.std == halves(entry["std_f16_bits"]))
        #expect(stats.mean == halves(entry["mean_f16_bits"]))
        let a = Voice.random(seed: 1, statistics: stats), b = Voice.random(seed: 1, statistics: stats)
        #expect(a == b && a.values.count == 768)
    }

    @Test("the normalized voice equals the reference's float16 normalization")
    func normalization() throws {
        let text = try Fixtures.reference("text_path.safetensors")
        let voice = try Voice(string: speaker["voice_used_for_reference"] as! String)
        #expect(voice.normalized == (try text.tensor("spk_emb_normalized")).scalars)
    }

    @Test("broken voice strings are rejected with a reason")
    func rejects() {
        #expect(throws: VoiceError.self) { try Voice(string: "not a voice") }
        #expect(throws: VoiceError.self) { try Voice(string: Base16384.encode([1, 2, 3, 4, 5])) }
    }
}
