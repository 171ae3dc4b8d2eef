import Foundation
import Testing
@testable import Server
import LoadTest
import Synthesis

/// The HTTP contract through a live socket: routes, errors in OpenAI's shape, request IDs, formats.
@Suite("HTTP API")
struct APITests {
    @Test("health, ready, models and voices answer JSON")
    func discovery() async throws {
        let client = try await TestServer.shared.get().client
        let health = try await client.get("/health")
        #expect(health.status == 200)
        #expect(health.json?["status"] as? String == "ok")
        let ready = try await client.get("/ready")
        #expect(ready.status == 200)
        let models = try await client.get("/v1/models")
        let ids = (models.json?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
        #expect(ids.contains("chattts") && ids.contains("tts-1"))
        #expect(try await client.get("/v1/models/tts-1").status == 200)
        let voices = try await client.get("/v1/voices")
        let names = (voices.json?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
        #expect(names.contains("alloy"))
    }

    @Test("an unknown route answers 404 in OpenAI's error shape")
    func unknownRoute() async throws {
        let client = try await TestServer.shared.get().client
        let response = try await client.get("/v2/nothing")
        #expect(response.status == 404)
        #expect(response.header("Content-Type") == "application/json")
        let error = response.json?["error"] as? [String: Any]
        #expect(error?["message"] as? String == "Unknown route: GET /v2/nothing")
        #expect(error?["type"] as? String == "invalid_request_error")
        #expect(error?.keys.contains("param") == true && error?.keys.contains("code") == true)
    }

    @Test("X-Request-ID is echoed, or generated when absent")
    func requestID() async throws {
        let client = try await TestServer.shared.get().client
        let echoed = try await client.get("/health", headers: [("X-Request-ID", "abc-123")])
        #expect(echoed.header("X-Request-ID") == "abc-123")
        let generated = try await client.get("/health")
        #expect((generated.header("X-Request-ID") ?? "").count == 36)
    }

    @Test("bad input answers 400 naming the field and its limit", arguments: [
        ("/v1/audio/speech", ["input": "hi", "voice": "alloy"], "model", "required"),
        ("/v1/audio/speech", ["model": "tts-1", "voice": "alloy"], "input", "required"),
        ("/v1/audio/speech", ["model": "tts-1", "input": "hi"], "voice", "required"),
        ("/v1/audio/speech", ["model": "whisper", "input": "hi", "voice": "alloy"], "model", "tts-1"),
        ("/v1/audio/speech", ["model": "tts-1", "input": String(repeating: "a", count: 4097), "voice": "alloy"], "input", "4096"),
        ("/v1/audio/speech", ["model": "tts-1", "input": "hi", "voice": "alloy", "speed": 5], "speed", "[0.25, 4]"),
        ("/v1/audio/speech", ["model": "tts-1", "input": "hi", "voice": "alloy", "response_format": "ogg"], "response_format", "mp3"),
        ("/v1/audio/speech", ["model": "tts-1", "input": "hi", "voice": "alloy", "response_format": "aac"], "response_format", "unsupported"),
        ("/v1/audio/speech", ["model": "tts-1", "input": "hi", "voice": "alloy", "stream_format": "chunks"], "stream_format", "sse"),
        ("/v1/audio/speech", ["model": "tts-1", "input": "hi", "voice": "nobody"], "voice", "seed:N"),
        ("/v1/tts", ["text": "hi", "temperature": 0], "temperature", "(0, 5]"),
        ("/v1/tts", ["text": "hi", "top_P": 1.5], "top_P", "(0, 1]"),
        ("/v1/tts", ["text": "hi", "top_K": 0], "top_K", "1...1000"),
        ("/v1/tts", ["text": "hi", "max_new_token": 33], "max_new_token", "1...32"),
        ("/v1/tts", ["text": "hi", "max_new_token": 10, "min_new_token": 11], "min_new_token", "at most max_new_token = 10"),
        ("/v1/tts", ["text": "hi", "refine": "yes"], "refine", "boolean"),
        ("/v1/tts", ["text": "hi", "seed": -1], "seed", "integer"),
        ("/v1/tts", ["text": "hi", "temprature": 0.3], "temprature", "Unknown field"),
        ("/v1/tts", ["text": "   "], "text", "empty"),
    ] as [(String, [String: any Sendable], String, String)])
    func badInput(path: String, body: [String: any Sendable], field: String, limit: String) async throws {
        let client = try await TestServer.shared.get().client
        let response = try await client.post(path, json: body)
        #expect(response.status == 400)
        let error = response.json?["error"] as? [String: Any]
        #expect(error?["param"] as? String == field)
        let message = error?["message"] as? String ?? ""
        #expect(message.contains(limit), "\(message)")
        #expect(error?["type"] as? String == "invalid_request_error")
    }

    @Test("a body that is not JSON answers 400")
    func notJSON() async throws {
        let client = try await TestServer.shared.get().client
        let response = try await client.request("POST", "/v1/tts", headers: [("Content-Type", "application/json")],
                                                body: Array("{text: hi".utf8))
        #expect(response.status == 400)
        #expect((response.json?["error"] as? [String: Any])?["code"] as? String == "invalid_json")
    }

    @Test("/v1/tts returns decodable audio in every supported format, whole, streamed and as events",
          arguments: ["mp3", "opus", "flac", "wav", "pcm"])
    func formats(format: String) async throws {
        let client = try await TestServer.shared.get().client
        let whole = try await client.post("/v1/tts", json: ttsBody(seed: 5, tokens: 24, format: format))
        #expect(whole.status == 200)
        #expect(whole.header("Content-Type")?.hasPrefix("audio/") == true)
        #expect(Double(whole.header("X-Audio-Seconds") ?? "") ?? 0 > 0)
        let wholeSamples = try ffmpegSamples(whole.body, format: format)
        #expect((wholeSamples ?? 0) > 0, "whole \(format) decodes")

        let streamed = try await client.post("/v1/tts", json: ttsBody(seed: 5, tokens: 24, format: format, stream: "audio"))
        #expect(streamed.status == 200 && streamed.complete)
        #expect(streamed.trailer("X-Audio-Seconds") == whole.header("X-Audio-Seconds"))
        let streamedSamples = try ffmpegSamples(streamed.body, format: format)
        #expect((streamedSamples ?? 0) > 0, "streamed \(format) decodes")
        if format == "pcm" { #expect(streamed.body == whole.body, "streamed pcm equals the whole response") }

        let events = try await client.post("/v1/tts", json: ttsBody(seed: 5, tokens: 24, format: format, stream: "sse"))
        #expect(events.header("Content-Type") == "text/event-stream")
        var audio: [UInt8] = []
        var done = false
        for line in events.text.split(separator: "\n") where line.hasPrefix("data: ") {
            let event = try JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any]
            switch event?["type"] as? String {
            case "speech.audio.delta": audio += Data(base64Encoded: event?["audio"] as? String ?? "").map { [UInt8]($0) } ?? []
            case "speech.audio.done": done = event?["usage"] != nil
            default: Issue.record("unexpected event \(line)")
            }
        }
        #expect(done)
        #expect((try ffmpegSamples(audio, format: format) ?? 0) > 0, "sse \(format) decodes")
        if format == "pcm" { #expect(audio == whole.body, "sse pcm equals the whole response") }
    }

    @Test("/openapi.json is an OpenAPI 3.1 document that describes every route")
    func openAPI() async throws {
        let client = try await TestServer.shared.get().client
        let response = try await client.get("/openapi.json")
        #expect(response.status == 200)
        let document = try #require(response.json)
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = (document["paths"] as? [String: Any])?.keys.sorted() ?? []
        for path in ["/v1/audio/speech", "/v1/tts", "/v1/models", "/v1/voices", "/health", "/ready", "/metrics"] {
            #expect(paths.contains(path), "\(path) documented")
        }
    }

    @Test("/metrics exposes request, latency, queue, batch, engine, memory and start-up metrics")
    func metrics() async throws {
        let client = try await TestServer.shared.get().client
        let posted = try await client.post("/v1/tts", json: ttsBody(tokens: 8))
        #expect(posted.status == 200, "POST /v1/tts answered \(posted.status)")
        // The request's counters are written as its response completes, which the client can see first: poll.
        let series = #"chattts_http_requests_total{route="/v1/tts",method="POST",status="200"}"#
        var text = try await client.get("/metrics").text
        let deadline = ContinuousClock.now + .seconds(5)
        while !text.contains(series), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            text = try await client.get("/metrics").text
        }
        for name in [
            "chattts_http_requests_total", "chattts_http_request_duration_seconds_bucket", "chattts_time_to_first_audio_seconds_bucket",
            "chattts_queue_depth", "chattts_active_batch_size", "chattts_engine_steps_per_second", "chattts_engine_steps_total",
            "chattts_audio_seconds_total", "chattts_real_time_factor", "chattts_request_real_time_factor_bucket",
            "chattts_rejected_requests_total", "process_resident_memory_bytes", "chattts_model_load_seconds",
            "chattts_warmup_seconds", "chattts_ready 1.0",
        ] {
            #expect(text.contains(name), "\(name) exported")
        }
        #expect(text.contains(series))
        #expect((metricValue(text, "process_resident_memory_bytes") ?? 0) > 1_000_000)
    }
}
