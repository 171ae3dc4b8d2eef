import ChatTTSService
import Foundation
import Logging
import ServiceLifecycle
import Testing
import LoadTest
@testable import Server
import Synthesis
import SynthesisTesting

/// The server against the engine protocol: a fake engine that fails on demand, served by the same
/// `buildApplication` as `chattts serve`.
@Suite("Server over the engine seam", .serialized)
struct EngineSeamTests {
    /// A live server on a free port around the fake engine.
    static func start(_ modify: (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        try await TestServer.start(engine: FakeEngine()) { config in
            config.warmUp = false
            modify(&config)
        }
    }

    static func errorObject(_ r: SpeechClient.Result) -> [String: Any]? { r.json?["error"] as? [String: Any] }

    @Test("while the warm-up runs, /ready and every synthesis answer 503 with Retry-After (a load balancer retries elsewhere); then it serves")
    func notReadyRefusesSynthesis() async throws {
        // The warm-up cannot finish until the engine is released: up but not ready for as long as the test needs.
        let engine = FakeEngine(held: true)
        let server = try await TestServer.start(engine: engine, waitForReady: false)
        let ready = try await server.client.get("/ready")
        #expect(ready.status == 503)
        for (path, body) in [("/v1/tts", #"{"text": "early"}"#),
                             ("/v1/audio/speech", #"{"model": "tts-1", "input": "early", "voice": "fake-voice"}"#)] {
            let r = try await server.client.request("POST", path, headers: [("Content-Type", "application/json")],
                                                    body: Array(body.utf8))
            #expect(r.status == 503 && r.header("Retry-After") == "1", "\(path): \(r.status)")
            #expect(Self.errorObject(r)?["code"] as? String == "not_ready", "\(path)")
        }
        #expect(try await server.client.get("/health").status == 200)
        let metrics = try await server.client.get("/metrics").text
        #expect(metrics.contains(#"chattts_rejected_requests_total{reason="not_ready"} 2"#))
        engine.release()
        #expect(try await eventually(within: .seconds(60)) { try await server.client.get("/ready").status == 200 })
        #expect(try await server.client.post("/v1/tts", json: ["text": "late"]).status == 200)
        try await server.stop()
    }

    @Test("a sequence the engine fails after it started answers a JSON error, not 200 with empty audio")
    func failureIsAnError() async throws {
        let server = try await Self.start()
        let r = try await server.client.post("/v1/tts", json: [
            "text": "fails", "steps": 20, "fail_at": 3, "fail_code": "invalid_request", "response_format": "wav",
        ])
        #expect(r.status == 400)
        let error = try #require(Self.errorObject(r))
        #expect(error["param"] as? String == "text" && error["code"] as? String == "text_too_long")
        #expect((error["message"] as? String)?.hasPrefix("'text' failed on demand at step 3") == true)

        let memory = try await server.client.post("/v1/tts", json: ["text": "oom", "fail_at": 0, "fail_code": "out_of_memory"])
        #expect(memory.status == 503 && memory.header("Retry-After") == "1")
        #expect(Self.errorObject(memory)?["code"] as? String == "out_of_memory")

        let metrics = try await server.client.get("/metrics").text
        #expect(metrics.contains(#"chattts_failed_requests_total{reason="invalid_request"} 1"#))
        #expect(metrics.contains(#"chattts_failed_requests_total{reason="out_of_memory"} 1"#))
        #expect(metrics.contains(#"chattts_rejected_requests_total{reason="invalid_request"} 0"#))
        try await server.stop()
    }

    @Test("once streaming started, a failure is an SSE error event, or a cut body for streamed audio")
    func failureWhileStreaming() async throws {
        let server = try await Self.start()
        let sse = try await server.client.post("/v1/tts", json: [
            "text": "fails later", "steps": 20, "fail_at": 5, "response_format": "pcm", "stream_format": "sse",
        ])
        #expect(sse.status == 200)
        let events = sse.text.split(separator: "\n\n").compactMap { chunk -> [String: Any]? in
            guard chunk.hasPrefix("data: ") else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(chunk.dropFirst(6).utf8))) as? [String: Any]
        }
        #expect(events.first?["type"] as? String == "speech.audio.delta")
        let last = try #require(events.last)
        #expect(last["type"] as? String == "error")
        #expect((last["error"] as? [String: Any])?["code"] as? String == "engine_failure")
        #expect(!events.contains { $0["type"] as? String == "speech.audio.done" })

        // Streamed bytes have no place for an error once the status left: the body is cut short, which the client
        // sees as a transfer that ends early (our client throws for a chunked body that stops mid-way, or reports it incomplete).
        do {
            let audio = try await server.client.post("/v1/tts", json: [
                "text": "fails later", "steps": 20, "fail_at": 5, "response_format": "pcm", "stream_format": "audio",
            ])
            #expect(audio.status == 200 && !audio.complete && audio.body.count < 20 * 100 * 2)
        } catch {
            #expect("\(error)".contains("unexpected"), "\(error)")  // NIO's parser: the chunked body stopped mid-way
        }
        let metrics = try await server.client.get("/metrics").text
        #expect(metrics.contains(#"chattts_failed_requests_total{reason="engine_failure"} 2"#))
        try await server.stop()
    }

    @Test("a whole FLAC response carries its total sample count in STREAMINFO; a streamed one may leave it 0")
    func wholeFLACHasItsLength() async throws {
        let server = try await Self.start()
        func totalSamples(_ bytes: [UInt8]) -> UInt64? {
            // "fLaC", the STREAMINFO block header, then 10 bytes of block and frame sizes; the next 64 bits are
            // sample rate (20), channels - 1 (3), bits - 1 (5) and total samples (36).
            guard bytes.count > 26, bytes[0..<4] == [0x66, 0x4C, 0x61, 0x43] else { return nil }
            let word = bytes[18..<26].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return word & ((1 << 36) - 1)
        }
        let whole = try await server.client.post("/v1/tts", json: ["text": "flac", "steps": 12, "response_format": "flac"])
        #expect(whole.status == 200 && totalSamples(whole.body) == 12 * 100)
        let streamed = try await server.client.post("/v1/tts", json: [
            "text": "flac", "steps": 12, "response_format": "flac", "stream_format": "audio",
        ])
        #expect(streamed.status == 200 && totalSamples(streamed.body) == 0)
        try await server.stop()
    }

    @Test("a request whose memory could never fit the budget is a 400 that says so")
    func memoryBudget() async throws {
        let server = try await Self.start { $0.memoryBudget = 1000 }
        let r = try await server.client.post("/v1/tts", json: ["text": "big", "memory": 5000])
        #expect(r.status == 400 && Self.errorObject(r)?["code"] as? String == "request_too_large")
        let ok = try await server.client.post("/v1/tts", json: ["text": "small", "memory": 500, "response_format": "pcm"])
        #expect(ok.status == 200 && ok.body.count == 10 * 100 * 2)
        try await server.stop()
    }

    @Test("the fake engine's knobs are the /v1/tts fields: its own are taken, ChatTTS's are refused by name")
    func knobsAreTheEngines() async throws {
        let server = try await Self.start()
        let r = try await server.client.post("/v1/tts", json: ["text": "x", "top_P": 0.5])
        #expect(r.status == 400 && Self.errorObject(r)?["param"] as? String == "top_P")
        #expect(Self.errorObject(r)?["code"] as? String == "unknown_field")
        let range = try await server.client.post("/v1/tts", json: ["text": "x", "steps": 0])
        #expect(Self.errorObject(range)?["message"] as? String == "'steps' must be an integer in 1...10000, got 0")
        let voices = try await server.client.get("/v1/voices")
        #expect(voices.text.contains("fake-voice"))
        let openapi = try await server.client.get("/openapi.json")
        let schema = try #require(OpenAPITests.ttsProperties(openapi.body))
        #expect(schema["fail_at"] != nil && schema["top_P"] == nil)
        try await server.stop()
    }

    @Test("maxNewTokens above the model's positions is refused at start, naming the setting and the limit")
    func maxNewTokensAboveTheModel() async throws {
        var config = TestServer.configuration()
        config.maxNewTokens = 8192
        await #expect { try await ChatTTSService.buildApplication(config) } throws: { error in
            let text = "\(error)"
            return text.contains("maxNewTokens") && text.contains("8192") && text.contains("1...4096")
        }
    }
}
