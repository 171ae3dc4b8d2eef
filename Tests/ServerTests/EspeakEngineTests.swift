import AudioCodecs
import ChatTTSService
import Foundation
import Testing
@testable import Server

/// A first run without assets: `serve` speaks with espeak (libespeak-ng), says so in its log, `/v1/models` and an
/// `X-Engine` header, and refuses ChatTTS' knobs by name; forcing ChatTTS without assets says how to get them.
@Suite("espeak engine")
struct EspeakEngineTests {
    static func noAssets(_ config: inout ServerConfiguration) {
        config.assets = FileManager.default.temporaryDirectory.appendingPathComponent("chattts-none-\(UUID().uuidString)").path
        config.assetChecksums = nil
    }

    /// RMS and duration of a WAV body.
    static func measure(_ body: [UInt8]) throws -> (rms: Double, seconds: Double) {
        let wav = try WAV.decode(body)
        let samples = wav.samples
        let rms = (samples.reduce(0) { $0 + Double($1 * $1) } / Double(max(1, samples.count))).squareRoot()
        return (rms, Double(samples.count) / Double(wav.sampleRate))
    }

    @Test("without assets the service speaks with espeak: non-silent speech, its length in proportion to the text")
    func speaksWithoutAssets() async throws {
        let server = try await TestServer.start { Self.noAssets(&$0) }
        let c = server.client
        let models = try await c.get("/v1/models").json
        #expect(models?["engine"] as? String == "espeak")
        #expect((models?["warnings"] as? [String])?.first?.contains("chattts download") == true)
        #expect(server.logs.all.contains { $0.contains("speaking with the espeak engine") && $0.contains("warning") })

        let short = try await c.post("/v1/audio/speech", json: ["model": "tts-1", "input": "Hello there.", "voice": "alloy",
                                                                "response_format": "wav"])
        #expect(short.status == 200 && short.header("X-Engine") == "espeak")
        let long = try await c.post("/v1/audio/speech", json: [
            "model": "tts-1", "voice": "alloy", "response_format": "wav",
            "input": "Hello there. This sentence is a good deal longer, so its audio should take several times as long to say."])
        let (shortRMS, shortSeconds) = try Self.measure(short.body)
        let (longRMS, longSeconds) = try Self.measure(long.body)
        #expect(shortRMS > 0.01 && longRMS > 0.01, "speech, not silence")
        #expect(shortSeconds > 0.4 && shortSeconds < 3, "\(shortSeconds) s for two words")
        #expect(longSeconds > 3 * shortSeconds, "\(longSeconds) s against \(shortSeconds) s")
        // Chinese, streamed.
        let chinese = try await c.post("/v1/tts", json: ["text": "你好，世界。", "response_format": "pcm", "stream_format": "audio"])
        #expect(chinese.status == 200 && chinese.body.count > 24000)
        // speed maps to the rate: twice as fast, about half as long.
        let fast = try await c.post("/v1/audio/speech", json: ["model": "tts-1", "input": "Hello there.", "voice": "alloy",
                                                               "response_format": "wav", "speed": 2.0])
        #expect(try Self.measure(fast.body).seconds < shortSeconds * 0.8)
        // ChatTTS' knobs are not this engine's.
        let refused = try await c.post("/v1/tts", json: ["text": "hi", "temperature": 0.3])
        #expect(refused.status == 400 && (refused.json?["error"] as? [String: Any])?["param"] as? String == "temperature")
        try await server.stop()
    }

    @Test("engine chattts without assets stops the start and says how to download them; ChatTTS audio says X-Engine: chattts")
    func chatTTSForcedWithoutAssets() async throws {
        var config = TestServer.configuration()
        Self.noAssets(&config)
        config.engine = .chattts
        await #expect { try await ChatTTSService.buildApplication(config) } throws: { "\($0)".contains("chattts download") }
        let server = try await TestServer.start()
        let r = try await server.client.post("/v1/tts", json: ttsBody(tokens: 8, format: "wav"))
        #expect(r.status == 200 && r.header("X-Engine") == "chattts")
        try await server.stop()
    }
}
