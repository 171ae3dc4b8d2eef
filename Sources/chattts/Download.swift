import ArgumentParser
import ChatTTSService
import Foundation
import Synchronization
import Synthesis

/// `chattts download`: the official asset release into the folder `serve` reads, checked file by file.
struct Download: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch the official ChatTTS assets (Hugging Face 2Noise/ChatTTS), checked by sha256.",
        discussion: """
            Files already there and right are kept; the rest are fetched in parallel to NAME.part (resumed after a \
            cut, retried with backoff), checked, then renamed. checksums.json is left beside them. --mirror URL or \
            HF_ENDPOINT replaces https://huggingface.co.
            """)

    @Option(help: "The asset folder to fill (the one `serve --assets` reads).")
    var to = "asset"

    @Option(help: "Host serving the Hugging Face layout (default: $HF_ENDPOINT, else https://huggingface.co).")
    var mirror: String?

    @Option(help: "Files fetched at once.")
    var parallel = 4

    @Option(help: "Tries after the first for a file that fails (network error, stall, wrong checksum).")
    var retries = 4

    @Option(help: "Seconds without a byte after which a transfer is retried.")
    var stallTimeout: Double = 30

    func validate() throws {
        guard (1...16).contains(parallel) else { throw ValidationError("--parallel must be 1...16") }
        guard (0...100).contains(retries) else { throw ValidationError("--retries must be 0...100") }
        guard stallTimeout > 0 else { throw ValidationError("--stall-timeout must be > 0") }
        if let mirror { guard Self.endpoint(mirror) != nil else { throw ValidationError("--mirror must be an http(s) URL, got '\(mirror)'") } }
    }

    static func endpoint(_ text: String) -> URL? {
        guard let url = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text),
              ["http", "https"].contains(url.scheme ?? ""), url.host != nil else { return nil }
        return url
    }

    func run() async throws {
        let host = mirror ?? ProcessInfo.processInfo.environment["HF_ENDPOINT"] ?? "https://huggingface.co"
        guard let endpoint = Self.endpoint(host) else { throw ValidationError("HF_ENDPOINT must be an http(s) URL, got '\(host)'") }
        var downloader = AssetDownloader(endpoint: endpoint, folder: URL(fileURLWithPath: to))
        downloader.parallel = parallel
        downloader.retries = retries
        downloader.stallTimeout = .milliseconds(Int64(stallTimeout * 1000))
        let progress = Progress(terminal: isatty(STDOUT_FILENO) == 1)
        print("downloading \(AssetDownloader.files.count) files from \(downloader.url(of: "").absoluteString) to \(to)")
        do {
            let outcomes = try await downloader.run { progress.show($0) }
            progress.end()
            let fetched = outcomes.filter { !$0.kept }
            print("\(to): \(outcomes.count) files OK (\(fetched.count) fetched, \(outcomes.count - fetched.count) already there), "
                  + "checksums in \(to)/checksums.json")
        } catch {
            progress.end()
            print("download failed: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Progress as the transfers report it: one line redrawn on a terminal (bytes, rate, time left), plain lines
/// otherwise.
private final class Progress: Sendable {
    let terminal: Bool
    private let state = Mutex<(sizes: [String: Int64], bytes: [String: Int64], started: ContinuousClock.Instant,
                               drawn: ContinuousClock.Instant)>(([:], [:], .now, .now))

    init(terminal: Bool) { self.terminal = terminal }

    func show(_ event: AssetDownloader.Event) {
        switch event {
        case .started(let path, let size, let resumeAt):
            state.withLock { s in
                if let size, size > 0 { s.sizes[path] = size }
                s.bytes[path] = resumeAt
            }
            if !terminal {
                print("\(path): fetching\(size.map { $0 > 0 ? " \(Self.mib($0))" : "" } ?? "")\(resumeAt > 0 ? ", resuming at \(Self.mib(resumeAt))" : "")")
            }
        case .progress(let path, let bytes):
            let line: String? = state.withLock { s in
                s.bytes[path] = bytes
                guard terminal, ContinuousClock.now - s.drawn > .milliseconds(200) else { return nil }
                s.drawn = .now
                let done = s.bytes.values.reduce(0, +), total = s.sizes.values.reduce(0, +)
                let seconds = max(0.001, (ContinuousClock.now - s.started).seconds)
                let rate = Double(done) / seconds
                let left = total > done && rate > 0 ? String(format: ", %.0f s left", Double(total - done) / rate) : ""
                return "\r\(Self.mib(done)) of \(Self.mib(total)), \(Self.mib(Int64(rate)))/s\(left)   "
            }
            if let line { FileHandle.standardOutput.write(Data(line.utf8)) }
        case .retrying(let path, let attempt, let reason):
            print("\(terminal ? "\n" : "")\(path): try \(attempt) failed (\(reason)); retrying")
        case .finished(let outcome):
            if !terminal || outcome.kept {
                print("\(terminal ? "\r" : "")\(outcome.path): \(outcome.kept ? "already there, sha256 OK" : "OK, sha256 \(outcome.sha256.prefix(12))…")")
            }
        }
    }

    func end() { if terminal { print("") } }

    static func mib(_ bytes: Int64) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
}
