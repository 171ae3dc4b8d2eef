import Foundation
import Testing
@testable import Server
import ChatTTS
import LoadTest
import Synthesis

/// Long texts through the real engine (tiny model): split into utterances that batch together and keep one voice,
/// joined in order, the same bytes whether streamed or whole.
@Suite("Long text over HTTP")
struct LongTextTests {
    /// Samples one utterance of `steps` steps makes (the decoder doubles the frames; Vocos drops one hop).
    static func samples(steps: Int) -> Int { (2 * steps - 1) * 256 }

    static func longText(characters: Int) -> String {
        var text = "", i = 0
        while text.count < characters {
            text += i % 2 == 0 ? "This is sentence number \(i), with a few more words in it. " : "这是第\(i)句中文，我们说得长一点。"
            i += 1
        }
        return text
    }

    @Test("a 5,000-character text is spoken whole: every utterance's audio is in the response, in order")
    func fiveThousandCharacters() async throws {
        let server = try await TestServer.start { $0.maxNewTokens = 8 }
        let text = Self.longText(characters: 5000)
        let expected = TextSegmenter.split(text).count
        let response = try await server.client.post("/v1/tts", json: ttsBody(text, seed: 4, tokens: 4, minTokens: 4))
        #expect(response.status == 200, "\(response.text.prefix(300))")
        #expect(response.header("X-Text-Segments") == String(expected))
        // Each utterance makes exactly 4 steps; only near-silent samples where two meet may be trimmed.
        let samples = (response.body.count - 44) / 2
        let full = expected * Self.samples(steps: 4)
        #expect(samples <= full && samples > full - 20 * expected, "\(samples) of \(full) samples for \(expected) utterances")
        #expect(expected > 15)
        try await server.stop()
    }

    @Test("streamed and whole responses of a long text are the same audio")
    func streamedEqualsWhole() async throws {
        let server = try await TestServer.shared.get()
        let text = "第一句话。Second sentence here. 第三句话，最后一句。"
        let whole = try await server.client.post("/v1/tts", json: ttsBody(text, seed: 9, tokens: 6, minTokens: 6))
        let streamed = try await server.client.post("/v1/tts", json: ttsBody(text, seed: 9, tokens: 6, minTokens: 6,
                                                                            stream: "audio"))
        #expect(whole.status == 200 && streamed.status == 200)
        #expect(whole.header("X-Text-Segments") == "3" && streamed.header("X-Text-Segments") == "3")
        #expect(whole.body == streamed.body && !whole.body.isEmpty)
    }

    @Test("the OpenAI route splits its input the same way and says so")
    func openAIRoute() async throws {
        let server = try await TestServer.shared.get()
        let response = try await server.client.post("/v1/audio/speech", json: [
            "model": "tts-1", "input": "One sentence. Another one.", "voice": "alloy", "response_format": "pcm",
            "seed": 3,
        ])
        #expect(response.status == 200, "\(response.text.prefix(300))")
        #expect(response.header("X-Text-Segments") == "2")
    }

    @Test("/v1/tts takes maxTextCharacters, the OpenAI route maxInputCharacters")
    func limits() async throws {
        let server = try await TestServer.start { $0.maxTextCharacters = 50; $0.maxInputCharacters = 20 }
        let text = String(repeating: "a", count: 51)
        let tts = try await server.client.post("/v1/tts", json: ttsBody(text))
        #expect(tts.status == 400 && (tts.json?["error"] as? [String: Any])?["message"] as? String == "'text' is 51 characters; the limit is 50")
        let openAI = try await server.client.post("/v1/audio/speech", json: [
            "model": "tts-1", "input": String(repeating: "a", count: 21), "voice": "alloy",
        ])
        #expect(openAI.status == 400 && (openAI.json?["error"] as? [String: Any])?["param"] as? String == "input")
        try await server.stop()
    }

    @Test("characters the model cannot say are listed in X-Removed-Characters, percent-encoded")
    func removedCharacters() async throws {
        let server = try await TestServer.shared.get()
        let response = try await server.client.post("/v1/tts", json: ttsBody("hello ☃ world #", tokens: 4, minTokens: 4))
        #expect(response.status == 200)
        #expect(response.header("X-Removed-Characters") == "%E2%98%83,%23")
        let clean = try await server.client.post("/v1/tts", json: ttsBody("hello world", tokens: 4, minTokens: 4))
        #expect(clean.header("X-Removed-Characters") == nil)
    }

    @Test("a sample is given one way: codes with their transcript, or audio with its text", arguments: [
        (["spk_smp": "x"], "txt_smp", "required"),
        (["txt_smp": "hello"], "spk_smp", "required"),
        (["sample_audio": "AAAA"], "sample_text", "required"),
        (["sample_text": "hello"], "sample_audio", "required"),
        (["spk_smp": "x", "txt_smp": "a", "sample_audio": "AAAA", "sample_text": "b"], "spk_smp", "one of them"),
        (["spk_smp": "abc", "txt_smp": "a"], "spk_smp", "not a sample prompt string"),
        (["sample_audio": "%%%", "sample_text": "a"], "sample_audio", "base64"),
        (["sample_audio": "AAAAAAAA", "sample_text": "a"], "sample_audio", "cannot be used as a voice sample"),
    ] as [([String: String], String, String)])
    func sampleFields(fields: [String: String], param: String, message: String) async throws {
        let server = try await TestServer.shared.get()
        var body = ttsBody("hello", tokens: 4)
        for (k, v) in fields { body[k] = v }
        let response = try await server.client.post("/v1/tts", json: body)
        let error = response.json?["error"] as? [String: Any]
        #expect(response.status == 400)
        #expect(error?["param"] as? String == param)
        let text = error?["message"] as? String ?? ""
        #expect(text.contains(message), "\(text)")
    }
}
