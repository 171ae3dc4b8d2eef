import ChatTTS
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Fetches the official asset release into a folder: each file to `NAME.part` (resumed with an HTTP Range after a
/// cut), checked against its sha256, and only then renamed to its final name, so a folder never holds a half or
/// wrong file under a final name. Files go in parallel; a network error or a stall (no byte for `stallTimeout`) is
/// retried with backoff, resuming; a 404 or a checksum mismatch after `retries` fresh tries is an error naming the
/// file. At the end `checksums.json` holds every file's sha256 (`spk_stat.pt` has no published value: it is
/// checked for its structure, 1536 finite numbers, instead).
public struct AssetDownloader: Sendable {
    /// `https://huggingface.co` unless a mirror replaces the host (`--mirror`, `HF_ENDPOINT`).
    public var endpoint: URL
    public var repository = "2Noise/ChatTTS"
    public var folder: URL
    public var parallel = 4
    public var retries = 4
    public var stallTimeout: Duration = .seconds(30)
    /// First backoff; doubled after each failed try.
    public var backoff: Duration = .milliseconds(500)
    public var checksums = AssetChecksums.official

    public init(endpoint: URL, folder: URL) {
        self.endpoint = endpoint
        self.folder = folder
    }

    /// The files of a release: the ones the engine needs and the speaker statistics.
    public static var files: [String] { AssetChecksums.requiredFiles + [AssetChecksums.statisticsFile] }

    public func url(of path: String) -> URL {
        endpoint.appendingPathComponent(repository).appendingPathComponent("resolve/main/asset").appendingPathComponent(path)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// What happened to each file: `kept` (already there and right), `fetched`, with bytes moved.
    public struct Outcome: Sendable {
        public var path: String
        public var kept: Bool
        public var bytes: Int64
        public var sha256: String
    }

    public enum Event: Sendable {
        case started(path: String, size: Int64?, resumeAt: Int64)
        case progress(path: String, bytes: Int64)
        case retrying(path: String, attempt: Int, reason: String)
        case finished(Outcome)
    }

    /// Fetches every file that is missing or wrong; throws the first file's failure after the others ended.
    public func run(events: @escaping @Sendable (Event) -> Void = { _ in }) async throws -> [Outcome] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let results = await withTaskGroup(of: Result<Outcome, Failure>.self) { group in
            var pending = Self.files[...]
            var all: [Result<Outcome, Failure>] = []
            func next() {
                guard let path = pending.popFirst() else { return }
                group.addTask { await fetch(path, events: events) }
            }
            for _ in 0..<max(1, parallel) { next() }
            while let result = await group.next() {
                all.append(result)
                next()
            }
            return all
        }
        let failures = results.compactMap { if case .failure(let f) = $0 { f } else { nil } }
        if let first = failures.sorted(by: { $0.path < $1.path }).first {
            throw failures.count == 1 ? first
                : Failure(path: first.path, reason: first.reason + " (and \(failures.count - 1) more: "
                          + failures.dropFirst().map(\.path).joined(separator: ", ") + ")")
        }
        let outcomes = results.compactMap { try? $0.get() }.sorted { $0.path < $1.path }
        let digests = AssetChecksums(values: Dictionary(uniqueKeysWithValues: outcomes.map { ($0.path, $0.sha256) }))
        try digests.json.write(to: folder.appendingPathComponent(AssetChecksums.folderFileName))
        return outcomes
    }

    /// One file: kept when already right, else fetched (resumed, retried) and checked.
    func fetch(_ path: String, events: @escaping @Sendable (Event) -> Void) async -> Result<Outcome, Failure> {
        let final = folder.appendingPathComponent(path)
        let part = final.appendingPathExtension("part")
        if FileManager.default.fileExists(atPath: final.path), let digest = try? AssetChecksums.sha256(of: final),
           (try? check(path, file: final, digest: digest)) != nil {
            let outcome = Outcome(path: path, kept: true, bytes: 0, sha256: digest)
            events(.finished(outcome))
            return .success(outcome)
        }
        do {
            try FileManager.default.createDirectory(at: final.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            return .failure(Failure(path: path, reason: "cannot create its folder: \(error.localizedDescription)"))
        }
        var delay = backoff
        var moved: Int64 = 0
        for attempt in 1...max(1, retries + 1) {
            do {
                moved += try await transfer(path, to: part, events: events)
                let digest = try AssetChecksums.sha256(of: part)
                do {
                    try check(path, file: part, digest: digest)
                } catch let failure as Failure {
                    // A wrong file is never kept: the next try starts from nothing.
                    try? FileManager.default.removeItem(at: part)
                    throw failure
                }
                try? FileManager.default.removeItem(at: final)
                try FileManager.default.moveItem(at: part, to: final)
                let outcome = Outcome(path: path, kept: false, bytes: moved, sha256: digest)
                events(.finished(outcome))
                return .success(outcome)
            } catch let failure as Failure where failure.reason.hasPrefix("HTTP 404") {
                return .failure(failure)
            } catch {
                let reason = (error as? Failure)?.reason ?? "\(error)"
                if attempt > retries { return .failure(Failure(path: path, reason: reason + " (after \(attempt) tries)")) }
                events(.retrying(path: path, attempt: attempt, reason: reason))
                try? await Task.sleep(for: delay)
                delay *= 2
            }
        }
        return .failure(Failure(path: path, reason: "no try left"))
    }

    /// The published sha256, or for `spk_stat.pt` without one its structure.
    func check(_ path: String, file: URL, digest: String) throws {
        if let expected = checksums.values[path] {
            guard expected == digest else {
                throw Failure(path: path, reason: "sha256 \(digest), expected \(expected): the download is corrupt or not the official file")
            }
            return
        }
        guard path == AssetChecksums.statisticsFile else { return }
        do {
            let statistics = try SpeakerStatistics(contentsOf: file)
            guard statistics.dim * 2 == 1536 else {
                throw Failure(path: path, reason: "holds statistics of \(statistics.dim) dimensions, expected 768")
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(path: path, reason: "is not speaker statistics: \(error)")
        }
    }

    /// Appends the rest of the file to `part` (from its current size); returns the bytes received.
    func transfer(_ path: String, to part: URL, events: @escaping @Sendable (Event) -> Void) async throws -> Int64 {
        if !FileManager.default.fileExists(atPath: part.path) {
            guard FileManager.default.createFile(atPath: part.path, contents: nil) else {
                throw Failure(path: path, reason: "cannot write \(part.path)")
            }
        }
        let have = ((try? FileManager.default.attributesOfItem(atPath: part.path)[.size]) as? NSNumber)?.int64Value ?? 0
        var request = URLRequest(url: url(of: path))
        if have > 0 { request.setValue("bytes=\(have)-", forHTTPHeaderField: "Range") }
        let handle = try FileHandle(forWritingTo: part)
        defer { try? handle.close() }
        let transfer = Transfer(path: path, handle: handle, offset: have, events: events)
        let session = URLSession(configuration: .ephemeral, delegate: transfer, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request)
        let stall = stallTimeout
        let watchdog = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(200))
                if transfer.idle > stall { transfer.stalled(); task.cancel() }
            }
        }
        defer { watchdog.cancel() }
        return try await transfer.run(task)
    }
}

/// One HTTP transfer's delegate: writes the body to the part file (appending after a 206, from the start after a
/// 200) and resumes the caller when the task ends.
private final class Transfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let path: String
    let handle: FileHandle
    let offset: Int64
    let events: @Sendable (AssetDownloader.Event) -> Void
    // Guarded by `lock`: the delegate queue and the watchdog both touch them.
    private let lock = NSLock()
    private var received: Int64 = 0
    private var status = 0
    private var lastByte = ContinuousClock.now
    private var failure: AssetDownloader.Failure?
    private var continuation: CheckedContinuation<Int64, any Error>?

    init(path: String, handle: FileHandle, offset: Int64, events: @escaping @Sendable (AssetDownloader.Event) -> Void) {
        self.path = path
        self.handle = handle
        self.offset = offset
        self.events = events
    }

    var idle: Duration { lock.withLock { ContinuousClock.now - lastByte } }

    func stalled() {
        lock.withLock { if failure == nil { failure = .init(path: path, reason: "stalled: no data for too long") } }
    }

    func run(_ task: URLSessionDataTask) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            lock.withLock { self.continuation = continuation }
            task.resume()
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let http = response as? HTTPURLResponse
        let code = http?.statusCode ?? 0
        lock.withLock { status = code; lastByte = .now }
        switch code {
        case 206:
            handle.seekToEndOfFile()
            events(.started(path: path, size: http.map { $0.expectedContentLength >= 0 ? offset + $0.expectedContentLength : -1 },
                            resumeAt: offset))
            completionHandler(.allow)
        case 200:
            // The server sent the whole file (no Range support, or nothing to resume): start over.
            handle.truncateFile(atOffset: 0)
            events(.started(path: path, size: http.map { $0.expectedContentLength }, resumeAt: 0))
            completionHandler(.allow)
        case 416:
            // Nothing left after the part's bytes: it is whole (its checksum decides).
            completionHandler(.cancel)
        default:
            lock.withLock { failure = .init(path: path, reason: "HTTP \(code) from \(response.url?.absoluteString ?? "?")") }
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        handle.write(data)
        let total = lock.withLock { () -> Int64 in
            received += Int64(data.count)
            lastByte = .now
            return received
        }
        events(.progress(path: path, bytes: offset + total))
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let (continuation, failure, received, status) = lock.withLock { () -> (CheckedContinuation<Int64, any Error>?, AssetDownloader.Failure?, Int64, Int) in
            let c = self.continuation
            self.continuation = nil
            return (c, self.failure, self.received, self.status)
        }
        if let failure {
            continuation?.resume(throwing: failure)
        } else if status == 416 {
            continuation?.resume(returning: 0)
        } else if let error {
            continuation?.resume(throwing: AssetDownloader.Failure(path: path, reason: "\(error.localizedDescription)"))
        } else if status == 206 || status == 200 {
            continuation?.resume(returning: received)
        } else {
            continuation?.resume(throwing: AssetDownloader.Failure(path: path, reason: "HTTP \(status)"))
        }
    }
}
