import ArgumentParser
import ChatTTS
import Foundation

@main
struct CLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chattts",
        abstract: "ChatTTS speech synthesis: a native engine and an HTTP service.",
        version: EngineInfo.version,
        subcommands: [Say.self, Serve.self]
    )
}

/// Until the service lands this reports what it would serve, so the README's first command is already honest.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP service (not yet available: prints the plan).")

    @Option(help: "Folder in the official ChatTTS asset layout.")
    var assets: String = "asset"

    func run() async throws {
        print("chattts \(EngineInfo.version) (\(EngineInfo.name))")
        let exists = FileManager.default.fileExists(atPath: assets)
        print("would load the model from \(assets)\(exists ? "" : " (not found)")")
        print("the HTTP service is not implemented yet")
    }
}
