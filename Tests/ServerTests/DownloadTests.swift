import ChatTTSService
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing

/// `chattts download` against a local server in the Hugging Face layout (never the internet), serving the tiny
/// model's files with the faults a real network has: a cut connection, a stall, a corrupt file, a missing one.
@Suite("Asset download", .serialized)
struct DownloadTests {
    enum Fault: Sendable {
        /// The first answer sends this many bytes of the body and then drops the connection.
        case cutOnce(after: Int)
        /// The first answer sends this many bytes and then nothing.
        case stallOnce(after: Int)
        /// Always one byte changed.
        case corrupt
        case missing
    }

    /// A file server on a free port: `/2Noise/ChatTTS/resolve/main/asset/PATH`, with Range support.
    final class Mirror: Sendable {
        let files: [String: [UInt8]]
        let faults: [String: Fault]
        /// Every request: path and Range header.
        let requests = Mutex<[(String, String?)]>([])
        let answered = Mutex<Set<String>>([])
        private let task: Task<Void, any Error>
        let port: Int

        init(faults: [String: Fault]) async throws {
            var files: [String: [UInt8]] = [:]
            for path in AssetDownloader.files {
                files[path] = [UInt8](try Data(contentsOf: Paths.tinyAssets.appendingPathComponent(path)))
            }
            self.files = files
            self.faults = faults
            let router = Router()
            let prefix = "/2Noise/ChatTTS/resolve/main/asset/"
            let ports = AsyncStream<Int>.makeStream()
            let box = Box()
            router.get("/**") { request, _ -> Response in
                try await box.mirror!.answer(request, path: String(request.uri.path.dropFirst(prefix.count)))
            }
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { ports.continuation.yield($0.localAddress?.port ?? 0) })
            task = Task { try await app.runService() }
            var iterator = ports.stream.makeAsyncIterator()
            port = await iterator.next() ?? 0
            box.mirror = self
        }

        /// Lets the router reach the mirror made after it.
        final class Box: @unchecked Sendable { var mirror: Mirror? }

        var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

        func answer(_ request: Request, path: String) async throws -> Response {
            let range = request.headers[.range]
            requests.withLock { $0.append((path, range)) }
            guard var bytes = files[path], faults[path].map({ if case .missing = $0 { false } else { true } }) ?? true else {
                return Response(status: .notFound)
            }
            if case .corrupt? = faults[path] { bytes[bytes.count / 2] ^= 1 }
            let first = answered.withLock { $0.insert(path).inserted }
            var start = 0
            if let range, range.hasPrefix("bytes="), let from = Int(range.dropFirst(6).split(separator: "-").first ?? "") {
                start = from
            }
            guard start < bytes.count else { return Response(status: .rangeNotSatisfiable) }
            let body = Array(bytes[start...])
            var headers: HTTPFields = [.contentLength: String(body.count)]
            if start > 0 { headers[.contentRange] = "bytes \(start)-\(bytes.count - 1)/\(bytes.count)" }
            let fault = first ? faults[path] : nil
            return Response(status: start > 0 ? .partialContent : .ok, headers: headers, body: ResponseBody { writer in
                switch fault {
                case .cutOnce(let n)?:
                    try await writer.write(ByteBuffer(bytes: body.prefix(n)))
                    // Closing at once can drop bytes still in flight (CI once saw the retry start from 0): the
                    // client gets the prefix first, then the cut.
                    try await Task.sleep(for: .milliseconds(300))
                    throw CancellationError()
                case .stallOnce(let n)?:
                    try await writer.write(ByteBuffer(bytes: body.prefix(n)))
                    try await Task.sleep(for: .seconds(30))
                default:
                    try await writer.write(ByteBuffer(bytes: body))
                }
                try await writer.finish(nil)
            })
        }

        func stop() { task.cancel() }
    }

    func downloader(_ mirror: Mirror, to folder: URL) -> AssetDownloader {
        var d = AssetDownloader(endpoint: mirror.endpoint, folder: folder)
        d.checksums = try! AssetChecksums(contentsOf: Paths.tinyChecksums)
        d.backoff = .milliseconds(50)
        // Long enough that a loaded machine never looks like a stall (CI saw the cut test's first try time out as a
        // stall before its first byte, so the retry had nothing to resume); the stall test sets its own.
        d.stallTimeout = .seconds(15)
        return d
    }

    static func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("chattts-download-\(UUID().uuidString)/asset")
    }

    @Test("a cut connection is resumed with a Range request; every file ends checked under its final name")
    func resumesAfterACut() async throws {
        let mirror = try await Mirror(faults: ["gpt/model.safetensors": .cutOnce(after: 100_000)])
        defer { mirror.stop() }
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let retries = Mutex<[String]>([])
        let outcomes = try await downloader(mirror, to: folder).run { event in
            if case .retrying(let path, _, let reason) = event { retries.withLock { $0.append("\(path): \(reason)") } }
        }
        #expect(outcomes.count == AssetDownloader.files.count && outcomes.allSatisfy { !$0.kept })
        let model = mirror.requests.withLock { $0.filter { $0.0 == "gpt/model.safetensors" } }
        #expect(model.count == 2 && model[0].1 == nil && model[1].1 == "bytes=100000-",
                "\(model); retries: \(retries.withLock { $0 })")
        #expect(await AssetVerification.verify(folder: folder, checksums: try AssetChecksums(contentsOf: Paths.tinyChecksums)).ok)
        let left = try FileManager.default.subpathsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".part") }
        #expect(left.isEmpty)
        // checksums.json beside the files, in --asset-checksums' format.
        let written = try AssetChecksums(contentsOf: folder.appendingPathComponent("checksums.json"))
        #expect(written == (try AssetChecksums(contentsOf: Paths.tinyChecksums)))
        // A second run keeps everything and fetches nothing.
        let before = mirror.requests.withLock { $0.count }
        #expect(try await downloader(mirror, to: folder).run().allSatisfy(\.kept))
        #expect(mirror.requests.withLock { $0.count } == before)
    }

    @Test("a corrupt file is detected by sha256 and not kept under its name or as a part")
    func corruptFileNotKept() async throws {
        let mirror = try await Mirror(faults: ["Vocos.safetensors": .corrupt])
        defer { mirror.stop() }
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        var d = downloader(mirror, to: folder)
        d.retries = 1
        await #expect { try await d.run() } throws: { error in
            "\(error)".contains("Vocos.safetensors: sha256") && "\(error)".contains("after 2 tries")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("Vocos.safetensors").path))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("Vocos.safetensors.part").path))
        // The good files are in place.
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("gpt/model.safetensors").path))
    }

    @Test("a 404 is reported by file name, without retries")
    func missingFileNamed() async throws {
        let mirror = try await Mirror(faults: ["tokenizer/tokenizer.json": .missing])
        defer { mirror.stop() }
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        await #expect { try await downloader(mirror, to: folder).run() } throws: { error in
            "\(error)".hasPrefix("tokenizer/tokenizer.json: HTTP 404")
        }
        #expect(mirror.requests.withLock { $0.filter { $0.0 == "tokenizer/tokenizer.json" }.count } == 1)
    }

    @Test("a stalled transfer times out and is retried, resuming where it stopped")
    func stallRetried() async throws {
        let mirror = try await Mirror(faults: ["Decoder.safetensors": .stallOnce(after: 50_000)])
        defer { mirror.stop() }
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let events = Mutex<[String]>([])
        let started = ContinuousClock.now
        var d = downloader(mirror, to: folder)
        d.stallTimeout = .seconds(1)
        let outcomes = try await d.run { event in
            if case .retrying(let path, _, let reason) = event { events.withLock { $0.append("\(path) \(reason)") } }
        }
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(outcomes.count == AssetDownloader.files.count)
        #expect(events.withLock { $0.contains { $0.hasPrefix("Decoder.safetensors stalled") } })
        let decoder = mirror.requests.withLock { $0.filter { $0.0 == "Decoder.safetensors" } }
        #expect(decoder.count == 2 && decoder[1].1 == "bytes=50000-", "\(decoder)")
    }
}
