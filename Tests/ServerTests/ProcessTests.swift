import Foundation
import Synchronization
import Testing
@testable import Server
import LoadTest
import Synthesis

/// The real `chattts` binary as a subprocess: `serve` under load and SIGTERM, `bench` against it, and the official
/// `openai` Python client against it.
@Suite("chattts as a process", .serialized)
struct ProcessTests {
    /// A running `chattts serve` on a free port, its stdout lines collected.
    final class ServeProcess: Sendable {
        let process: Process
        let port: Int
        private let collector: LineCollector

        var output: [String] { collector.lines }
        var client: SpeechClient { SpeechClient(host: "127.0.0.1", port: port) }

        /// - Parameter launcher: a program and its arguments that run `chattts` (appended after them) for it.
        convenience init(arguments: [String], assets: URL = Paths.tinyAssets, launcher: [String] = []) async throws {
            let serve = ["serve", "--assets", assets.path, "--asset-checksums", Paths.tinyChecksums.path, "--host", "127.0.0.1",
                         "--port", "0", "--no-refine", "--rate-limit", "0", "--max-concurrent-per-client", "0"] + arguments
            if let program = launcher.first {
                try await self.init(program: program, arguments: Array(launcher.dropFirst()) + [Paths.binary.path] + serve)
            } else {
                try await self.init(program: Paths.binary.path, arguments: serve)
            }
        }

        /// Any program that ends up running `chattts serve` with `--port 0`; `environment` adds to this process' own.
        init(program: String, arguments: [String], environment: [String: String] = [:]) async throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
            if !environment.isEmpty {
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            }
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            let collector = LineCollector()
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { handle.readabilityHandler = nil } else { collector.append(data) }
            }
            try process.run()
            let deadline = ContinuousClock.now + .seconds(60)
            while collector.port == nil, process.isRunning, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            guard let port = collector.port else {
                process.terminate()
                throw SpeechClient.ClientError(message: "chattts serve did not start: \(collector.lines)")
            }
            self.port = port
            self.collector = collector
            let client = SpeechClient(host: "127.0.0.1", port: port)
            _ = try await eventually(within: .seconds(60)) { (try? await client.get("/ready").status) == 200 }
        }

        func waitForExit(within limit: Duration = .seconds(60)) async throws -> Int32? {
            let exited = try await eventually(within: limit) { !process.isRunning }
            return exited ? process.terminationStatus : nil
        }

        deinit { if process.isRunning { process.terminate() } }
    }

    @Test("make serve's first run without assets or network: it says so and serves at once with espeak, speech not silence")
    func firstRunOffline() async throws {
        let assets = FileManager.default.temporaryDirectory.appendingPathComponent("chattts-first-run-\(UUID().uuidString)/asset")
        // Port 9 on loopback refuses at once: the machine is offline as far as the download is concerned.
        let server = try await ServeProcess(
            program: "/bin/bash",
            arguments: [Paths.repository.appendingPathComponent("scripts/serve.sh").path,
                        "--host", "127.0.0.1", "--port", "0", "--rate-limit", "0"],
            environment: ["BINARY": Paths.binary.path, "ASSETS": assets.path, "HF_ENDPOINT": "http://127.0.0.1:9"])
        #expect(server.output.contains { $0.contains("127.0.0.1:9 unreachable: serving with espeak") }, "\(server.output)")
        let client = server.client
        #expect(try await client.get("/v1/models").json?["engine"] as? String == "espeak")
        let speech = try await client.post("/v1/audio/speech", json: ["model": "tts-1", "input": "Hello, first run.",
                                                                      "voice": "alloy", "response_format": "wav"])
        #expect(speech.status == 200 && speech.header("X-Engine") == "espeak")
        let (rms, seconds) = try EspeakEngineTests.measure(speech.body)
        #expect(rms > 0.01 && seconds > 0.5 && seconds < 5, "rms \(rms), \(seconds) s")
        // Its length follows the text: four times the words, several times the audio.
        let longer = try await client.post("/v1/audio/speech", json: [
            "model": "tts-1", "voice": "alloy", "response_format": "wav",
            "input": "Hello, first run. Hello, first run. Hello, first run. Hello, first run."])
        let (longRMS, longSeconds) = try EspeakEngineTests.measure(longer.body)
        #expect(longRMS > 0.01 && longSeconds > 3 * seconds && longSeconds < 5 * seconds, "\(longSeconds) s against \(seconds) s")
        #expect(!FileManager.default.fileExists(atPath: assets.appendingPathComponent("gpt/config.json").path))
        kill(server.process.processIdentifier, SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }

    @Test("SIGTERM under load: /ready and new requests answer 503 at once, every accepted request completes, exit 0")
    func sigterm() async throws {
        let server = try await ServeProcess(arguments: ["--max-new-tokens", "200", "--max-batch", "4", "--drain-timeout", "60", "--request-timeout", "120"])
        let client = server.client
        let count = 6
        let body = ttsBody(seed: 1, tokens: 200, minTokens: 200, format: "wav")
        let requests = (0..<count).map { i in
            Task { try await client.post("/v1/tts", json: ttsBody(seed: UInt64(i), tokens: 200, minTokens: 200, format: "wav")) }
        }
        // Every request accepted: in the batch or in the queue.
        let accepted = try await eventually(within: .seconds(30)) {
            let text = try await client.get("/metrics").text
            return (metricValue(text, "chattts_active_batch_size") ?? 0) + (metricValue(text, "chattts_queue_depth") ?? 0) == Double(count)
        }
        #expect(accepted)
        kill(server.process.processIdentifier, SIGTERM)
        let drainingReady = try await eventually(within: .seconds(5)) { try await client.get("/ready").status == 503 }
        #expect(drainingReady, "/ready turns 503 at once")
        let refused = try await client.post("/v1/tts", json: body)
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") != nil)
        #expect((refused.json?["error"] as? [String: Any])?["code"] as? String == "draining")
        for (i, request) in requests.enumerated() {
            let r = try await request.value
            #expect(r.status == 200 && r.complete, "request \(i) completed")
            // 200 steps of 512 samples, 16-bit, after the 44-byte header (the vocoder's edge trims a little).
            #expect(r.body.count > 44 + 195 * 512 * 2, "request \(i): all 200 steps of audio")
        }
        let status = try await server.waitForExit()
        #expect(status == 0, "exit code")
        #expect(server.output.contains { $0.contains("graceful shutdown: drained") })
    }

    @Test("chattts bench reports QPS, latency percentiles, time to first audio and RTF against a running server")
    func bench() async throws {
        let server = try await ServeProcess(arguments: ["--max-new-tokens", "24"])
        let process = Process()
        process.executableURL = Paths.binary
        process.arguments = ["bench", "--url", "http://127.0.0.1:\(server.port)", "--concurrency", "3", "--requests", "6",
                             "--endpoint", "tts", "--max-new-tokens", "24", "--no-refine", "--format", "mp3",
                             "--stream", "audio", "--voice", "seed:3", "--json"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let report = try JSONDecoder().decode(Benchmark.Report.self, from: output)
        #expect(report.requests == 6 && report.succeeded == 6)
        #expect(report.qps > 0)
        #expect(report.latency.p50 > 0 && report.latency.p95 >= report.latency.p50 && report.latency.p99 >= report.latency.p95)
        #expect(report.timeToFirstAudio.p50 > 0 && report.timeToFirstAudio.p50 <= report.latency.p50)
        #expect(report.realTimeFactor.p50 > 0)
        #expect(report.audioSeconds > 0)
        kill(server.process.processIdentifier, SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }

    @Test("chattts bench --rate: an open loop from many identities through a trusted proxy; rejections and /health are reported")
    func openLoopBench() async throws {
        let server = try await ServeProcess(arguments: ["--max-new-tokens", "24", "--trusted-proxies", "127.0.0.1",
                                                        "--rate-limit", "1", "--rate-burst", "2"])
        let (status, output) = try runChattts([
            "bench", "--url", "http://127.0.0.1:\(server.port)", "--rate", "30", "--duration", "2", "--arrivals", "even",
            "--identities", "3", "--health-interval", "0.05", "--endpoint", "tts", "--max-new-tokens", "24",
            "--no-refine", "--format", "wav", "--stream", "none", "--voice", "seed:3", "--json"])
        #expect(status == 0)
        let report = try JSONDecoder().decode(Benchmark.Report.self, from: output)
        let open = try #require(report.openLoop)
        // 60 even arrivals; 3 identities of burst 2 and 1 per second: about 6 + 3 * 2 answered, the rest 429.
        #expect(report.requests == 60)
        #expect(report.statuses.values.reduce(0, +) == 60)
        #expect((6...15).contains(report.succeeded), "\(report.statuses)")
        #expect(open.rejected == report.statuses["429"] && open.rejected == 60 - report.succeeded)
        #expect(open.rejectionLatency.p99 > 0 && open.rejectionLatency.p99 < 1)
        #expect(open.healthProbes >= 10 && open.healthFailures == 0, "\(String(decoding: output, as: UTF8.self))")
        #expect(open.broken == 0)
        kill(server.process.processIdentifier, SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }

    @Test("serve from a read-only asset folder: synthesis works and no file in it is created, changed or touched")
    func readOnlyAssets() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("chattts-ro-\(UUID().uuidString)")
        let assets = folder.appendingPathComponent("asset")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer {
            _ = OpenAIVenv.run("/bin/chmod", ["-R", "u+w", folder.path])
            try? FileManager.default.removeItem(at: folder)
        }
        try FileManager.default.copyItem(at: Paths.tinyAssets, to: assets)
        #expect(OpenAIVenv.run("/bin/chmod", ["-R", "a-w", assets.path]) == 0)
        let before = try Self.snapshot(assets)
        // Root writes through permissions, so as root the folder is also a read-only bind mount in a mount namespace
        // of the server's own: a write would fail with EROFS.
        let launcher = getuid() == 0
            ? ["/usr/bin/unshare", "-m", "/bin/sh", "-c",
               "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && shift && exec \"$@\"", "sh", assets.path]
            : []
        let server = try await ServeProcess(arguments: ["--max-new-tokens", "24"], assets: assets, launcher: launcher)
        let client = server.client
        for format in ["wav", "mp3"] {
            let r = try await client.post("/v1/tts", json: ttsBody(tokens: 24, format: format))
            #expect(r.status == 200 && r.complete && r.body.count > 100, "\(format): \(r.status)")
        }
        let speech = try await client.post("/v1/audio/speech", json: ["model": "tts-1", "input": "Read only.", "voice": "alloy"])
        #expect(speech.status == 200 && speech.complete)
        kill(server.process.processIdentifier, SIGTERM)
        #expect(try await server.waitForExit() == 0)
        #expect(try Self.snapshot(assets) == before)
    }

    /// Every entry below a folder: its size, modification time and content, by path.
    struct Entry: Equatable {
        var size: Int?
        var modified: Date?
        var content: Data?
    }

    static func snapshot(_ folder: URL) throws -> [String: Entry] {
        var out: [String: Entry] = [:]
        let keys: [URLResourceKey] = [.fileSizeKey, .contentModificationDateKey, .isDirectoryKey]
        guard let walk = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: keys) else { return [:] }
        for case let url as URL in walk {
            let values = try url.resourceValues(forKeys: Set(keys))
            out[url.path.replacingOccurrences(of: folder.path, with: "")] = Entry(
                size: values.fileSize, modified: values.contentModificationDate,
                content: values.isDirectory == true ? nil : try Data(contentsOf: url))
        }
        return out
    }

    @Test("the official openai Python client gets decodable audio in every format, whole and streamed")
    func openAIClient() async throws {
        let python = try OpenAIVenv.python()
        let server = try await ServeProcess(arguments: ["--max-new-tokens", "32"])
        let (status, output) = try runScript(python, [
            Paths.repository.appendingPathComponent("scripts/openai-client-test.py").path,
            "--base-url", "http://127.0.0.1:\(server.port)/v1"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("0 failed"))
        #expect(!output.contains("FAIL"))
        kill(server.process.processIdentifier, SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }
}

/// Splits a process's output into lines and spots the "listening" log line with the bound port.
final class LineCollector: Sendable {
    private let state = Mutex<(buffer: [UInt8], lines: [String], port: Int?)>(([], [], nil))

    var lines: [String] { state.withLock { $0.lines } }
    var port: Int? { state.withLock { $0.port } }

    func append(_ data: Data) {
        state.withLock { s in
            s.buffer += data
            while let newline = s.buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: s.buffer[..<newline], as: UTF8.self)
                s.buffer.removeSubrange(...newline)
                s.lines.append(line)
                if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                   object["msg"] as? String == "listening", let port = object["port"] as? Int {
                    s.port = port
                }
            }
        }
    }
}

/// `.build/openai-venv`: made on first use with `python3 -m venv` and `pip install openai`.
enum OpenAIVenv {
    static let folder = Paths.repository.appendingPathComponent(".build/openai-venv")

    static func python() throws -> URL {
        let python = folder.appendingPathComponent("bin/python")
        if FileManager.default.isExecutableFile(atPath: python.path), run(python.path, ["-c", "import openai"]) == 0 {
            return python
        }
        try FileManager.default.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard run("/usr/bin/env", ["python3", "-m", "venv", folder.path]) == 0 else {
            throw SpeechClient.ClientError(message: "python3 -m venv \(folder.path) failed (Debian: apt-get install python3-venv)")
        }
        guard run(python.path, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "openai"]) == 0 else {
            throw SpeechClient.ClientError(message: "pip install openai failed in \(folder.path)")
        }
        return python
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
