import Foundation
import Testing
@testable import Server
import LoadTest
import NIOCore
import Synthesis
import SynthesisTesting

/// Validation, rate limits, API keys, redaction, deadlines and slow clients, through a live server with the fake
/// engine (fast, deterministic) unless the rule is about the text itself.
@Suite("Protection")
struct ProtectionTests {
    func fake(_ modify: @escaping (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        try await TestServer.start(engine: FakeEngine()) { config in
            config.warmUp = false
            modify(&config)
        }
    }

    func tts(_ text: String, steps: Int = 2, more: [String: any Sendable] = [:]) -> [String: any Sendable] {
        var body: [String: any Sendable] = ["text": text, "steps": steps, "response_format": "pcm"]
        for (k, v) in more { body[k] = v }
        return body
    }

    // MARK: validation

    @Test("markup, entities, control characters and prompt tags in the text are a 400 naming the field; word tags pass")
    func textRules() async throws {
        let server = try await fake()
        let c = server.client
        for (text, code) in [("<script>alert(1)</script>", "markup_not_allowed"), ("a <b>bold</b> word", "markup_not_allowed"),
                             ("fish &amp; chips", "markup_not_allowed"), ("bell \u{07} here", "control_character"),
                             ("right\u{202E}left", "control_character"), ("hi [oral_2] there", "prompt_tag_in_text")] {
            let r = try await c.post("/v1/tts", json: tts(text))
            let error = r.json?["error"] as? [String: Any]
            #expect(r.status == 400, "\(text)")
            #expect(error?["code"] as? String == code && error?["param"] as? String == "text", "\(text): \(r.text)")
        }
        #expect(try await c.post("/v1/tts", json: tts("a pause [uv_break] then [laugh] and 3 < 5 > 2")).status == 200)
        #expect(try await c.post("/v1/tts", json: tts("line one\nline two\ttabbed")).status == 200)
        try await server.stop()
    }

    @Test("markup: strip removes tags and entities and speaks the rest; a text of markup only is a 400")
    func stripMarkup() async throws {
        let server = try await fake { $0.markup = .strip }
        #expect(try await server.client.post("/v1/tts", json: tts("<b>bold</b> &amp; plain")).status == 200)
        #expect(try await server.client.post("/v1/tts", json: tts("<br><hr>")).status == 400)
        try await server.stop()
    }

    @Test("a wrong method is a 405 with Allow, a non-JSON body a 415, a body over maxBodyBytes a 413")
    func methodTypeSize() async throws {
        let server = try await fake { $0.maxBodyBytes = 2048 }
        let c = server.client
        let get = try await c.get("/v1/tts")
        #expect(get.status == 405 && get.header("Allow") == "POST")
        let delete = try await c.request("DELETE", "/v1/models/tts-1")
        #expect(delete.status == 405 && delete.header("Allow") == "GET")
        #expect(try await c.get("/nowhere").status == 404)
        let form = try await c.request("POST", "/v1/tts", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                       body: Array("text=hi".utf8))
        #expect(form.status == 415)
        let big = String(repeating: "a", count: 3000)
        let openAI = try await c.post("/v1/audio/speech", json: ["model": "tts-1", "voice": "fake-voice", "input": big])
        #expect(openAI.status == 413 && openAI.text.contains("maxBodyBytes"))
        // /v1/tts has its own, larger limit (it carries samples).
        #expect(try await c.post("/v1/tts", json: tts(big)).status == 200)
        let badTimeout = try await c.post("/v1/tts", json: tts("hi"), headers: [("X-Request-Timeout", "soon")])
        #expect(badTimeout.status == 400 && (badTimeout.json?["error"] as? [String: Any])?["param"] as? String == "X-Request-Timeout")
        try await server.stop()
    }

    // MARK: rate limits

    @Test("past the burst a client gets 429 with Retry-After and RateLimit headers; another client is not affected")
    func rateLimit() async throws {
        let server = try await fake { config in
            config.rateLimit = 0.01  // a token per 100 s: a loaded machine cannot refill one during the test
            config.rateBurst = 2
            config.trustedProxies = "127.0.0.1"
        }
        let c = server.client
        let a = [("X-Forwarded-For", "203.0.113.7")]
        let first = try await c.get("/v1/models", headers: a)
        #expect(first.status == 200 && first.header("RateLimit-Limit") == "2" && first.header("RateLimit-Remaining") == "1")
        #expect(try await c.get("/v1/models", headers: a).status == 200)
        let limited = try await c.get("/v1/models", headers: a)
        #expect(limited.status == 429)
        #expect(limited.header("Retry-After").flatMap(Int.init).map { $0 >= 1 } == true)
        #expect(limited.header("RateLimit-Remaining") == "0" && limited.header("RateLimit-Reset") != nil)
        // Another address behind the same trusted proxy has its own bucket; /health is never limited.
        #expect(try await c.get("/v1/models", headers: [("X-Forwarded-For", "203.0.113.8")]).status == 200)
        for _ in 0..<5 { #expect(try await c.get("/health", headers: a).status == 200) }
        try await server.stop()
    }

    @Test("X-Forwarded-For counts only from trusted proxies, read from the right")
    func forwardedFor() throws {
        let proxy = try SocketAddress(ipAddress: "10.0.0.5", port: 1)
        let outsider = try SocketAddress(ipAddress: "198.51.100.9", port: 1)
        let trusted = [IPNetwork("10.0.0.0/8")!]
        #expect(ClientIdentity.address(peer: proxy, forwardedFor: ["203.0.113.7"], trusted: trusted) == "203.0.113.7")
        // A client that writes its own X-Forwarded-For cannot pick its identity: the proxy appended the real one.
        #expect(ClientIdentity.address(peer: proxy, forwardedFor: ["1.2.3.4, 203.0.113.7"], trusted: trusted) == "203.0.113.7")
        #expect(ClientIdentity.address(peer: proxy, forwardedFor: ["203.0.113.7, 10.0.0.9"], trusted: trusted) == "203.0.113.7")
        // From a peer that is not a trusted proxy the header is ignored.
        #expect(ClientIdentity.address(peer: outsider, forwardedFor: ["203.0.113.7"], trusted: trusted) == "198.51.100.9")
        #expect(ClientIdentity.address(peer: proxy, forwardedFor: ["junk"], trusted: trusted) == "10.0.0.5")
        #expect(IPNetwork("::ffff:10.1.2.3").map { trusted[0].contains($0.address) } == true)
        #expect(IPNetwork("10.0.0.0/33") == nil && IPNetwork("nonsense") == nil)
        #expect(throws: ConfigurationError.self) {
            var c = ServerConfiguration()
            c.trustedProxies = "10.0.0.0/8, not-an-address"
            try c.validate()
        }
    }

    @Test("a client past maxConcurrentPerClient gets 429 while its syntheses run; others still get served")
    func concurrentPerClient() async throws {
        let server = try await fake { config in
            config.maxConcurrentPerClient = 1
            config.trustedProxies = "127.0.0.1"
        }
        let c = server.client
        let a = [("X-Forwarded-For", "203.0.113.7")]
        let slow = Task { try await c.post("/v1/tts", json: tts("slow one", steps: 40, more: ["step_delay_ms": 50]), headers: a) }
        _ = try await eventually { server.app.limits.running(ClientIdentity(address: "203.0.113.7")) == 1 }
        let second = try await c.post("/v1/tts", json: tts("second"), headers: a)
        #expect(second.status == 429 && (second.json?["error"] as? [String: Any])?["code"] as? String == "too_many_concurrent_requests")
        #expect(try await c.post("/v1/tts", json: tts("other"), headers: [("X-Forwarded-For", "203.0.113.8")]).status == 200)
        #expect(try await slow.value.status == 200)
        // Released when the response has left the server, which may be just after the client has read its end.
        #expect(try await eventually { server.app.limits.running(ClientIdentity(address: "203.0.113.7")) == 0 })
        try await server.stop()
    }

    // MARK: keys

    @Test("with a keys file: no key or an unknown one is 401, a revoked one 403, a valid one passes; /health stays open")
    func apiKeys() async throws {
        let good = KeyStore.generate(), revoked = KeyStore.generate(), later = KeyStore.generate()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString).json")
        func write(_ entries: [String]) throws {
            try Data(#"{"keys": [\#(entries.joined(separator: ","))]}"#.utf8).write(to: file)
        }
        let revokedEntry = #"{"name": "old", "hash": "\#(KeyStore.hashText(revoked))", "revoked": true}"#
        try write([KeyStore.entryJSON(name: "team", key: good), revokedEntry])
        let server = try await fake { $0.keysFile = file.path }
        let c = server.client
        let none = try await c.get("/v1/models")
        #expect(none.status == 401 && none.header("WWW-Authenticate") == "Bearer")
        #expect(try await c.get("/v1/models", headers: [("Authorization", "Bearer \(later)")]).status == 401)
        #expect(try await c.get("/v1/models", headers: [("Authorization", "Bearer \(revoked)")]).status == 403)
        #expect(try await c.get("/v1/models", headers: [("Authorization", "Bearer \(good)")]).status == 200)
        #expect(try await c.post("/v1/tts", json: tts("keyed"), headers: [("Authorization", "Bearer \(good)")]).status == 200)
        #expect(try await c.get("/health").status == 200)
        #expect(try await c.get("/ready").status == 200)
        #expect(try await c.get("/metrics").status == 200)
        // A reload (what SIGHUP runs) takes a new key in and a removed one out.
        try write([KeyStore.entryJSON(name: "new", key: later)])
        try #require(server.app.keys).reload()
        #expect(try await c.get("/v1/models", headers: [("Authorization", "Bearer \(later)")]).status == 200)
        #expect(try await c.get("/v1/models", headers: [("Authorization", "Bearer \(good)")]).status == 401)
        // A broken file leaves the keys in use.
        try Data("not json".utf8).write(to: file)
        #expect(throws: KeyFileError.self) { try server.app.keys!.reload() }
        #expect(try await c.get("/v1/models", headers: [("Authorization", "Bearer \(later)")]).status == 200)
        try await server.stop()
        try? FileManager.default.removeItem(at: file)
    }

    @Test("metricsRequireKey puts /metrics behind a key; the file holds only hashes, checked field by field")
    func metricsKeyAndFile() async throws {
        let key = KeyStore.generate()
        #expect(key.hasPrefix("ctts_") && key.count == 48)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString).json")
        try Data(#"{"keys": [\#(KeyStore.entryJSON(name: "ops", key: key))]}"#.utf8).write(to: file)
        #expect(!(try String(contentsOf: file, encoding: .utf8)).contains(key))
        let server = try await fake { $0.keysFile = file.path; $0.metricsRequireKey = true }
        #expect(try await server.client.get("/metrics").status == 401)
        #expect(try await server.client.get("/metrics", headers: [("Authorization", "Bearer \(key)")]).status == 200)
        try await server.stop()
        for bad in [#"{"keys": [{"name": "x", "hash": "md5:00"}]}"#, #"{"keys": [{"name": "x", "hash": "sha256:00", "extra": 1}]}"#,
                    #"{"keys": "none"}"#] {
            try Data(bad.utf8).write(to: file)
            #expect(throws: KeyFileError.self) { try KeyStore(path: file.path) }
        }
        try? FileManager.default.removeItem(at: file)
    }

    @Test("chattts keys add prints a new key once and the entry holding its hash")
    func keysAdd() throws {
        let process = Process()
        process.executableURL = Paths.binary
        process.arguments = ["keys", "add", "team-a"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        let lines = out.split(separator: "\n").map(String.init)
        let key = try #require(lines.first { $0.hasPrefix("key:") }).dropFirst(4).trimmingCharacters(in: .whitespaces)
        let entry = try #require(lines.first { $0.hasPrefix("entry:") }).dropFirst(6).trimmingCharacters(in: .whitespaces)
        #expect(entry == KeyStore.entryJSON(name: "team-a", key: key) && !entry.contains(key))
    }

    // MARK: redaction

    @Test("masks the middle 60 % by characters, rounded up; 3 characters or fewer whole")
    func mask() {
        #expect(Redaction.mask("abc") == "***")
        #expect(Redaction.mask("你好美丽的世界") == "你*****界")
        #expect(Redaction.mask("你好，美丽的世界") == "你好*****界")
        #expect(Redaction.mask("0123456789") == "01******89")
        #expect(Redaction.mask("") == "")
    }

    @Test("the log of a run of valid and refused requests never holds a text, a key or a sample in clear")
    func logsHoldNoText() async throws {
        let key = KeyStore.generate()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString).json")
        try Data(#"{"keys": [\#(KeyStore.entryJSON(name: "logs", key: key))]}"#.utf8).write(to: file)
        let server = try await TestServer.start { config in
            config.keysFile = file.path
            config.logLevel = .trace
        }
        let c = server.client
        let auth = [("Authorization", "Bearer \(key)")]
        let texts = ["Confidential: the merger closes on Friday.", "我的银行卡密码是一二三四五六", "<b>secret markup</b> here",
                     "prompt tag [oral_2] inside", String(repeating: "long secret text ", count: 30)]
        var sent: [String] = []
        for text in texts {
            _ = try await c.post("/v1/tts", json: ttsBody(text), headers: auth)
            _ = try await c.post("/v1/audio/speech", json: ["model": "tts-1", "voice": "alloy", "input": text,
                                                            "response_format": "pcm"], headers: auth)
            _ = try await c.post("/v1/tts", json: ttsBody(text))  // no key: 401
            sent.append(text)
        }
        try await server.stop()
        let log = server.logs.all.joined(separator: "\n")
        #expect(log.contains(Redaction.mask(texts[0])))
        for text in sent where text.count >= 8 {
            #expect(!log.contains(text), "the log holds \(text)")
        }
        #expect(!log.contains(key))
        try? FileManager.default.removeItem(at: file)
    }

    // MARK: overload and time

    @Test("when the estimated wait exceeds the deadline the answer is 503 with Retry-After at once, not after queueing")
    func overloaded() async throws {
        let server = try await fake { $0.maxBatch = 1 }
        let c = server.client
        // Measure: a job as long as the busy one (300 steps at 10 ms), so the mean steps the estimate uses are right
        // and the busy job's remaining steps are its own (a job past the mean would look almost done).
        #expect(try await c.post("/v1/tts", json: tts("measure", steps: 300, more: ["step_delay_ms": 10])).status == 200)
        let busy = Task { try await c.post("/v1/tts", json: tts("busy", steps: 300, more: ["step_delay_ms": 10])) }
        // The busy job running (not the finished measure job still counted): its remaining steps make the wait.
        _ = try await eventually {
            let stats = server.app.scheduler.stats
            return stats.activeBatch == 1 && (stats.remainingSteps.first ?? 0) > 20
        }
        // At least 20 steps of 10 ms to the free slot, even at the lowest calibration (0.5): over 75 % of 50 ms.
        let refused = try await c.post("/v1/tts", json: tts("late"), headers: [("X-Request-Timeout", "0.05")])
        #expect(refused.status == 503 && refused.header("Retry-After") != nil)
        #expect((refused.json?["error"] as? [String: Any])?["code"] as? String == "overloaded",
                "\(server.app.scheduler.stats)")
        // `overloaded` is the refusal at submission; a request that had queued would end as `queue_timeout`.
        #expect(try await busy.value.status == 200)
        try await server.stop()
    }

    @Test("past maxRequestDuration a running synthesis is cancelled: a whole response gets 503, a stream is cut")
    func maxDuration() async throws {
        // 1.5 s of a 6 s synthesis: room for the first audio even on a loaded machine, so the stream has started.
        let server = try await fake { $0.maxRequestDuration = .milliseconds(1500) }
        let c = server.client
        let whole = try await c.post("/v1/tts", json: tts("long", steps: 300, more: ["step_delay_ms": 20]))
        #expect(whole.status == 503 && (whole.json?["error"] as? [String: Any])?["code"] as? String == "deadline_exceeded")
        var sse = tts("long", steps: 300, more: ["step_delay_ms": 20])
        sse["stream_format"] = "sse"
        let events = try await c.post("/v1/tts", json: sse)
        #expect(events.status == 200 && events.text.contains("deadline_exceeded") && !events.text.contains("speech.audio.done"))
        try await server.stop()
    }

    @Test("a client that sends its headers slower than headerTimeout is disconnected")
    func slowloris() async throws {
        let server = try await fake { $0.headerTimeout = .milliseconds(300) }
        let port = await server.app.listening.port()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        _ = "GET /health HTTP/1.1\r\nHost: x\r\n".withCString { send(fd, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 64)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let started = ContinuousClock.now
        let n = recv(fd, &buffer, buffer.count, 0)
        close(fd)
        #expect(n == 0, "the server closed the connection")
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(server.app.connections.headerTimeouts.load(ordering: .relaxed) == 1)
        try await server.stop()
    }
}
