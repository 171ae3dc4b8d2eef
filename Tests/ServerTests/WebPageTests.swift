import Foundation
import Testing
@testable import Server
import LoadTest
import Synthesis
import SynthesisTesting

/// The web page at `/` and the status route it polls: what they answer over a live socket, that they stay open
/// when keys are required, that the status moves with the load, and the page in a real browser
/// (`scripts/browser-test.py`, Chromium headless).
@Suite("Web page and status")
struct WebPageTests {
    /// The text between `<tag>` and `</tag>` in a page.
    static func inline(_ tag: String, in html: String) -> String? {
        guard let open = html.range(of: "<\(tag)>"),
              let close = html.range(of: "</\(tag)>", range: open.upperBound..<html.endIndex) else { return nil }
        return String(html[open.upperBound..<close.lowerBound])
    }

    static func fake(engine: FakeEngine = FakeEngine(),
                     _ modify: @escaping (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        try await TestServer.start(engine: engine) { config in
            config.warmUp = false
            modify(&config)
        }
    }

    @Test("/ answers one self-contained HTML page whose CSP allows exactly its inline script and style, by hash")
    func pageAndPolicy() async throws {
        let client = try await TestServer.shared.get().client
        let page = try await client.get("/")
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.header("X-Content-Type-Options") == "nosniff")
        let html = page.text
        #expect(html.hasPrefix("<!doctype html>"))
        let policy = try #require(page.header("Content-Security-Policy"))
        let directives = Dictionary(policy.split(separator: ";").map {
            let words = $0.split(separator: " ").map(String.init)
            return (words[0], Array(words.dropFirst()))
        }, uniquingKeysWith: { a, _ in a })
        #expect(directives["default-src"] == ["'none'"])
        #expect(directives["connect-src"] == ["'self'"])
        #expect(directives["media-src"] == ["'self'", "blob:"])
        #expect(directives["frame-ancestors"] == ["'none'"])
        #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval") && !policy.contains("*"))
        // The hashes are those of the script and style the page really holds (one of each, nothing loaded).
        let script = try #require(Self.inline("script", in: html))
        let style = try #require(Self.inline("style", in: html))
        #expect(directives["script-src"] == ["'\(WebPage.sha256(script))'"])
        #expect(directives["style-src"] == ["'\(WebPage.sha256(style))'"])
        #expect(html.components(separatedBy: "<script").count == 2 && html.components(separatedBy: "<style").count == 2)
        for external in ["src=", "http://", "https://", "rel=\"stylesheet\"", "@import", "url("] {
            #expect(!html.contains(external), "no \(external) in the page")
        }
        #expect(html.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil, "no inline event handlers")
        // It reads what it shows from the server, under the routes' real names.
        for path in ["/openapi.json", "/v1/voices", "/v1/status", "/v1/tts", "stream_format: 'audio'"] {
            #expect(script.contains(path), "the page uses \(path)")
        }
    }

    @Test("/v1/status answers every field of its schema, with the server's settings and a growing uptime")
    func statusFields() async throws {
        let server = try await Self.fake { $0.maxBatch = 3; $0.maxQueue = 7; $0.maxTextCharacters = 321 }
        let client = server.client
        let first = try await client.get("/v1/status")
        #expect(first.status == 200 && first.header("Content-Type") == "application/json")
        let status = try #require(first.json)
        let document = try #require(try await client.get("/openapi.json").json)
        let schema = try #require(
            OpenAPIContractTests.lookup(document, "components", "schemas", "ServerStatus") as? [String: Any])
        let properties = try #require(schema["properties"] as? [String: [String: Any]])
        for field in try #require(schema["required"] as? [String]) {
            let value = try #require(status[field], "\(field) present")
            let type = properties[field]?["type"] as? String
            switch type {
            // JSONSerialization reads true as 1 too: the text tells a boolean from a number.
            case "boolean":
                #expect(first.text.contains("\"\(field)\":true") || first.text.contains("\"\(field)\":false"), "\(field)")
            case "integer":
                let number = (value as? NSNumber).map { Double(truncating: $0) }
                #expect(number.map { $0.rounded() == $0 } == true, "\(field)")
            case "number": #expect(value is NSNumber, "\(field)")
            case "string": #expect(value is String, "\(field)")
            default: Issue.record("\(field): no type in the schema")
            }
        }
        #expect(Set(status.keys).isSubset(of: Set(properties.keys)), "no field the schema does not list")
        #expect(status["engine"] as? String == "fake" && status["model"] as? String == "fake")
        #expect(status["version"] as? String == ProductInfo.version)
        #expect(status["ready"] as? Bool == true && status["status"] as? String == "ready")
        #expect(status["max_batch"] as? Int == 3 && status["max_queue"] as? Int == 7)
        #expect(status["max_text_characters"] as? Int == 321 && status["sample_rate"] as? Int == 24000)
        #expect(status["keys_required"] as? Bool == false)
        try await Task.sleep(for: .milliseconds(50))
        let later = try #require(try await client.get("/v1/status").json)
        #expect((later["uptime_seconds"] as? Double ?? 0) > (status["uptime_seconds"] as? Double ?? 0))
        try await server.stop()
    }

    @Test("/v1/status moves under load: queue, batch and requests in flight rise, then fall back, and the totals grow")
    func statusUnderLoad() async throws {
        let engine = FakeEngine()
        let server = try await Self.fake(engine: engine) { $0.maxBatch = 1; $0.maxQueue = 4 }
        let client = server.client
        func status() async throws -> [String: Any] { try #require(try await client.get("/v1/status").json) }
        let before = try await status()
        #expect(before["queue_depth"] as? Int == 0 && before["active_batch"] as? Int == 0)
        #expect(before["running_requests"] as? Int == 0 && before["completed_requests"] as? Int == 0)
        // Two requests of 1000 steps of 5 ms each: one runs (the batch holds one), one waits; the engine is held
        // until the test has seen that, however slow the machine, and then runs 10 s, long enough for a starved
        // poll to see the rate before both are done.
        engine.hold()
        let body: [String: any Sendable] = ["text": "load", "steps": 1000, "step_delay_ms": 5, "response_format": "pcm"]
        let requests = (0..<2).map { _ in Task { try await client.post("/v1/tts", json: body) } }
        var busiest: [String: Any] = [:]
        let loaded = try await eventually(within: .seconds(10)) {
            busiest = try await status()
            return busiest["active_batch"] as? Int == 1 && busiest["queue_depth"] as? Int == 1
        }
        #expect(loaded, "\(busiest)")
        #expect(busiest["running_requests"] as? Int == 2)
        engine.release()
        var moving: [String: Any] = [:]
        #expect(try await eventually(within: .seconds(30)) {
            moving = try await status()
            return (moving["steps_per_second"] as? Double ?? 0) > 0
        }, "\(moving)")
        for request in requests { #expect(try await request.value.status == 200) }
        var after: [String: Any] = [:]
        let settled = try await eventually(within: .seconds(10)) {
            after = try await status()
            return after["queue_depth"] as? Int == 0 && after["active_batch"] as? Int == 0
                && after["running_requests"] as? Int == 0
        }
        #expect(settled, "\(after)")
        #expect(after["completed_requests"] as? Int == 2)
        #expect((after["steps_total"] as? Int ?? 0) >= 600)
        #expect((after["audio_seconds_total"] as? Double ?? 0) > (before["audio_seconds_total"] as? Double ?? 0))
        #expect((after["real_time_factor"] as? Double ?? 0) > 0)
        try await server.stop()
    }

    @Test("with a keys file, / and /v1/status stay open (and are documented so), the rest needs the key")
    func openWithKeys() async throws {
        let key = KeyStore.generate()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString).json")
        try Data(#"{"keys": [\#(KeyStore.entryJSON(name: "page", key: key))]}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let server = try await Self.fake { $0.keysFile = file.path; $0.rateLimit = 1; $0.rateBurst = 1 }
        let client = server.client
        // Many more than the burst: the open routes are not rate limited either.
        for _ in 0..<5 {
            #expect(try await client.get("/").status == 200)
            let status = try await client.get("/v1/status")
            #expect(status.status == 200 && status.json?["keys_required"] as? Bool == true)
        }
        #expect(try await client.get("/v1/voices").status == 401)
        let authorized = [("Authorization", "Bearer \(key)")]
        let document = try #require(try await client.get("/openapi.json", headers: authorized).json)
        for path in ["/", "/v1/status"] {
            #expect(OpenAPIContractTests.lookup(document, "paths", path, "get", "security") == nil, "\(path) open")
            #expect(OpenAPIContractTests.lookup(document, "paths", path, "get", "responses", "401") == nil)
        }
        #expect(OpenAPIContractTests.lookup(document, "paths", "/v1/voices", "get", "security") != nil)
        try await server.stop()
    }

    @Test("Chromium headless plays the page's streamed audio before the response ends, downloads it, shows errors and status")
    func browser() async throws {
        let screenshot = FileManager.default.temporaryDirectory
            .appendingPathComponent("web-page-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: screenshot) }
        let (status, output) = try runScript(URL(fileURLWithPath: "/usr/bin/env"), [
            "python3", Paths.repository.appendingPathComponent("scripts/browser-test.py").path,
            "--binary", Paths.binary.path, "--screenshot", screenshot.path])
        #expect(status == 0, "\(output)")
        #expect(output.contains(" 0 failed") && !output.contains("FAIL"))
        #expect(FileManager.default.fileExists(atPath: screenshot.path))
    }
}
