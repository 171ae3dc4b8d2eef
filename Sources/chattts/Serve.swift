import ArgumentParser
import Foundation
import Server

/// `chattts serve`: the HTTP service. Parses flags over `CHATTTS_*` variables over the config file, then hands the
/// typed configuration to `buildApplication`, which the tests call too.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP service (OpenAI-compatible /v1/audio/speech, /v1/tts, /health, /ready, /metrics).",
        discussion: """
            Settings come from flags, then CHATTTS_* environment variables (CHATTTS_MAX_BATCH for --max-batch), then \
            the JSON config file (--config or CHATTTS_CONFIG; keys like "maxBatch"), then the defaults shown here. \
            SIGTERM or SIGINT drains: /ready turns 503, new requests get 503, accepted ones finish (up to \
            --drain-timeout), then the process exits 0.
            """)

    @Option(help: "JSON config file (keys: host, port, assets, voices, maxBatch, ...). Default: $CHATTTS_CONFIG.")
    var config: String?

    @Option(help: "Address to bind (default 127.0.0.1; 0.0.0.0 in containers).")
    var host: String?

    @Option(help: "TCP port (default 8080; 0 picks a free one).")
    var port: Int?

    @Option(help: "Folder in the official ChatTTS asset layout (default ./asset).")
    var assets: String?

    @Option(help: "Read-only JSON file of voices: {\"name\": \"voice string\"}.")
    var voices: String?

    @Option(help: "File with the model's speaker statistics (spk_stat), for seed:N and OpenAI voice names.")
    var speakerStatistics: String?

    @Option(help: "Voice for /v1/tts requests that name none (default: no speaker).")
    var defaultVoice: String?

    @Flag(inversion: .prefixedNo, help: "Refine the text before speaking on /v1/audio/speech (default on).")
    var refine: Bool?

    @Option(help: "Longest input text in characters (default 4096).")
    var maxInputCharacters: Int?

    @Option(help: "Largest max_new_token a request may use; also what /v1/audio/speech uses (default 2048).")
    var maxNewTokens: Int?

    @Option(help: "Sequences decoded together per engine step (default 8).")
    var maxBatch: Int?

    @Option(help: "Requests waiting for a batch slot before new ones get 503 (default 64).")
    var maxQueue: Int?

    @Option(help: "Seconds a request may wait for a batch slot (default 30).")
    var queueWait: Double?

    @Option(help: "Seconds a graceful shutdown waits for in-flight requests (default 30).")
    var drainTimeout: Double?

    @Option(help: "Engine steps per streamed audio chunk (default 24 = 0.51 s of audio).")
    var streamChunkSteps: Int?

    @Flag(inversion: .prefixedNo, help: "Run a short synthesis before /ready turns 200 (default on).")
    var warmUp: Bool?

    @Option(help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    @Option(help: "json (one object per line) or text (default json).")
    var logFormat: String?

    /// The flags that were given, as (key, text) in the configuration's own vocabulary.
    var flags: [(ServerConfiguration.Key, String)] {
        var out: [(ServerConfiguration.Key, String)] = []
        func add(_ key: ServerConfiguration.Key, _ value: (any CustomStringConvertible)?) {
            if let value { out.append((key, value.description)) }
        }
        add(.host, host)
        add(.port, port)
        add(.assets, assets)
        add(.voices, voices)
        add(.speakerStatistics, speakerStatistics)
        add(.defaultVoice, defaultVoice)
        add(.refine, refine)
        add(.maxInputCharacters, maxInputCharacters)
        add(.maxNewTokens, maxNewTokens)
        add(.maxBatch, maxBatch)
        add(.maxQueue, maxQueue)
        add(.queueWait, queueWait)
        add(.drainTimeout, drainTimeout)
        add(.streamChunkSteps, streamChunkSteps)
        add(.warmUp, warmUp)
        add(.logLevel, logLevel)
        add(.logFormat, logFormat)
        return out
    }

    /// Flags over environment over file over defaults, validated.
    func resolvedConfiguration(environment: [String: String]) throws -> ServerConfiguration {
        var settings = try ServerConfiguration.load(
            file: config ?? environment[ServerConfiguration.configFileEnvironmentName], environment: environment)
        for (key, value) in flags { try settings.apply(key, value, source: key.flag) }
        try settings.validate()
        return settings
    }

    func run() async throws {
        let settings: ServerConfiguration
        do {
            settings = try resolvedConfiguration(environment: ProcessInfo.processInfo.environment)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        let app = try await buildApplication(settings)
        try await app.runUntilSignalled()
    }
}
