import ArgumentParser
import Synthesis
import Foundation

@main
struct CLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chattts",
        abstract: "ChatTTS speech synthesis: a native engine and an HTTP service.",
        version: ProductInfo.version,
        subcommands: [Say.self, Normalize.self, Serve.self, Bench.self, Voices.self, Keys.self, Verify.self, Download.self]
    )
}
