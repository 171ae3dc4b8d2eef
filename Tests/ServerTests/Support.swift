import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing
@testable import Server
import ChatTTSService
import LoadTest
import Synthesis

/// Paths of the committed fixtures and the repository.
enum Paths {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let fixtures = repository.appendingPathComponent("Tests/Fixtures")
    static let tinyAssets = fixtures.appendingPathComponent("tiny/asset")
    /// The tiny model's sha256 values (`chattts verify Tests/Fixtures/tiny/asset --print`).
    static let tinyChecksums = fixtures.appendingPathComponent("tiny.checksums.json")
    /// The tiny model's config summary; its `spk_stat` string is the statistics of the asset folder's `spk_stat.pt`.
    static let tinyConfig = fixtures.appendingPathComponent("tiny/chattts_config.json")
    /// The built `chattts` sits next to the test bundle in the build folder.
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("chattts")
}

/// Collects log lines in memory (the request-log test reads them; other tests keep stdout quiet).
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var sink: JSONLogHandler.LineSink {
        JSONLogHandler.LineSink { data in
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
            self.lines.withLock { $0.append(text) }
        }
    }
    var logger: Logger {
        let sink = self.sink
        var logger = Logger(label: "test") { JSONLogHandler(label: $0, level: .info, sink: sink) }
        logger.logLevel = .info
        return logger
    }
    var objects: [[String: Any]] {
        all.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
}

/// A live server on a free port of 127.0.0.1, built by the same `buildApplication` as `chattts serve`, with the
/// tiny fixture model (random weights: the audio is noise, but real audio made by the real pipeline).
final class TestServer: Sendable {
    let app: SpeechApplication
    let client: SpeechClient
    let logs: LogLines
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// Small and fast: no refinement, short utterances, chunks of 8 steps.
    static func configuration() -> ServerConfiguration {
        var config = ServerConfiguration()
        config.host = "127.0.0.1"
        config.port = 0
        config.assets = Paths.tinyAssets.path
        config.assetChecksums = Paths.tinyChecksums.path
        config.refine = false
        config.maxNewTokens = 32
        config.streamChunkSteps = 8
        config.drainTimeout = .seconds(20)
        config.requestTimeout = .seconds(300)  // tests that fill the queue must not time out on a loaded machine
        // One test client sends many requests at once from one address; the protection tests turn these on.
        config.rateLimit = 0
        config.maxConcurrentPerClient = 0
        return config
    }

    private init(app: SpeechApplication, logs: LogLines, group: ServiceGroup, task: Task<Void, any Error>, port: Int) {
        self.app = app
        self.logs = logs
        self.group = group
        self.task = task
        client = SpeechClient(host: "127.0.0.1", port: port)
    }

    /// With the tiny ChatTTS model, wired as `chattts serve` wires it.
    static func start(_ modify: (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        var config = configuration()
        modify(&config)
        let logs = LogLines()
        return try await launch(try await ChatTTSService.buildApplication(config, logger: logs.logger), logs: logs)
    }

    /// With any engine (the fake one of `SynthesisTesting`), through the engine protocol only.
    /// `waitForReady: false` returns once the port listens, possibly before the warm-up is done.
    static func start(engine: some SpeechEngine, waitForReady: Bool = true,
                      _ modify: (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestServer {
        var config = configuration()
        modify(&config)
        let logs = LogLines()
        return try await launch(try buildApplication(config, engine: engine, logger: logs.logger), logs: logs,
                                waitForReady: waitForReady)
    }

    private static func launch(_ app: SpeechApplication, logs: LogLines, waitForReady: Bool = true) async throws
        -> TestServer {
        let group = ServiceGroup(services: [app], logger: Logger(label: "test-group") { _ in SwiftLogNoOpLogHandler() })
        let task = Task { try await group.run() }
        let port = await app.listening.port()
        let deadline = ContinuousClock.now + .seconds(60)
        while waitForReady, app.readiness.state != .ready, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return TestServer(app: app, logs: logs, group: group, task: task, port: port)
    }

    /// Graceful shutdown, as on SIGTERM; waits until every service has stopped.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Shared by the tests that only read: started once per test process, never stopped (the process ends).
    static let shared = SharedServer()
}

/// Starts the shared server on first use.
actor SharedServer {
    private var server: TestServer?
    func get() async throws -> TestServer {
        if let server { return server }
        let started = try await TestServer.start()
        server = started
        return started
    }
}

/// A `/v1/tts` body for the tiny model: no refinement, fixed seed, a few steps.
func ttsBody(_ text: String = "Hello from the test.", seed: UInt64 = 1, tokens: Int = 24, minTokens: Int? = nil,
             format: String = "pcm", stream: String? = nil) -> [String: any Sendable] {
    var body: [String: any Sendable] = ["text": text, "seed": seed, "max_new_token": tokens, "refine": false,
                               "response_format": format]
    if let minTokens { body["min_new_token"] = minTokens }
    if let stream { body["stream_format"] = stream }
    return body
}

/// Decodes audio with ffmpeg to 24 kHz mono s16le; returns the sample count, or nil when ffmpeg cannot decode it.
func ffmpegSamples(_ data: [UInt8], format: String) throws -> Int? {
    let input = FileManager.default.temporaryDirectory.appendingPathComponent("decode-\(UUID().uuidString).\(format)")
    try Data(data).write(to: input)
    defer { try? FileManager.default.removeItem(at: input) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    var args = ["ffmpeg", "-v", "error", "-nostdin"]
    if format == "pcm" { args += ["-f", "s16le", "-ar", "24000", "-ac", "1"] }
    args += ["-i", input.path, "-f", "s16le", "-ac", "1", "-ar", "24000", "pipe:1"]
    process.arguments = args
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let bytes = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return process.terminationStatus == 0 ? bytes.count / 2 : nil
}

/// Polls until `condition` holds or the time is up.
func eventually(within limit: Duration = .seconds(90), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// The value of one unlabelled sample line (`name value`) or labelled one (`name{labels} value`) of Prometheus text.
func metricValue(_ text: String, _ name: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
        return line.split(separator: " ").last.flatMap { Double($0) }
    }
    return nil
}

/// Runs the built `chattts` with arguments: its exit status and standard output.
/// Runs a test script to its end: exit status and its stdout and stderr together (also printed, for the test log).
func runScript(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    print(output)
    return (process.terminationStatus, output)
}

func runChattts(_ arguments: [String]) throws -> (Int32, Data) {
    let process = Process()
    process.executableURL = Paths.binary
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, output)
}
