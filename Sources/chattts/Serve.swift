import ArgumentParser
import ChatTTSService
import Foundation
import Server

/// `chattts serve`: the HTTP service. Settings come from flags over `CHATTTS_*` variables over the config file over
/// the defaults; every flag is derived from the settings table, so this command declares none of its own beyond
/// the shared engine group and `--config`.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP service (OpenAI-compatible /v1/audio/speech, /v1/tts, /health, /ready, /metrics).",
        discussion: """
            Settings come from flags, then CHATTTS_* environment variables (CHATTTS_MAX_BATCH for --max-batch), then \
            the JSON config file (--config or CHATTTS_CONFIG; keys like "maxBatch"), then the defaults. SIGTERM or \
            SIGINT drains: /ready turns 503, new requests get 503, accepted ones finish (up to --drain-timeout), \
            then the process exits 0.

            SETTINGS:
            \(ServerConfiguration.flagHelp)
            """)

    @Option(help: "JSON config file (keys: host, port, assets, voices, maxBatch, ...). Default: $CHATTTS_CONFIG.")
    var config: String?

    @OptionGroup var engine: EngineFlags

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var settings: [String] = []

    /// Flags over environment over file over defaults, validated.
    func resolvedConfiguration(environment: [String: String]) throws -> ServerConfiguration {
        var resolved = try ServerConfiguration.load(
            file: config ?? environment[ServerConfiguration.configFileEnvironmentName], environment: environment)
        try resolved.apply(flags: engine.arguments + settings)
        try resolved.validate()
        return resolved
    }

    func run() async throws {
        do {
            let app = try await ChatTTSService.buildApplication(
                try resolvedConfiguration(environment: ProcessInfo.processInfo.environment))
            try await app.runUntilSignalled()
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}
