import ArgumentParser
import ChatTTSService
import Foundation

/// `chattts verify DIR`: the asset folder against its sha256 values, each missing or changed file named; the same
/// check `serve` runs at start.
struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check an asset folder's files against their sha256 (the official release's, or --checksums FILE).",
        discussion: """
            Exit status 0 when every file is there and matches, 1 otherwise. With --print, prints the folder's own \
            checksums as JSON instead (for a custom model: pass that file to `serve --asset-checksums`).
            """)

    @Argument(help: "The asset folder.")
    var folder = "asset"

    @Option(help: "JSON file of sha256 values by path relative to the folder (default: the official release's).")
    var checksums: String?

    @Flag(help: "Print the sha256 of every file the check reads, as a checksums file, and check nothing.")
    var print = false

    func run() async throws {
        let url = URL(fileURLWithPath: folder)
        let expected: AssetChecksums
        do {
            expected = print ? AssetChecksums(values: [:])
                : try AssetChecksums.forFolder(url, file: checksums.map(URL.init(fileURLWithPath:)))
        } catch {
            throw ValidationError("\(error)")
        }
        let result = await AssetVerification.verify(folder: url, checksums: expected)
        if print {
            let found = AssetChecksums(values: result.digests)
            guard result.ok else {
                for problem in result.problems { FileHandle.standardError.write(Data("\(folder)/\(problem)\n".utf8)) }
                throw ExitCode(1)
            }
            Swift.print(String(decoding: found.json, as: UTF8.self))
            return
        }
        for warning in result.warnings { Swift.print("warning: \(warning)") }
        for problem in result.problems { Swift.print("\(folder)/\(problem)") }
        let summary = String(format: "%d files, %.1f MiB in %.2f s", result.digests.count,
                             Double(result.bytes) / 1_048_576, result.seconds)
        guard result.ok else {
            Swift.print("\(folder): \(result.problems.count) problem(s); \(summary)")
            throw ExitCode(1)
        }
        Swift.print("\(folder): OK, \(summary)")
    }
}
