import ChatTTS
import ChatTTSService
import Foundation
import Testing
@testable import Server

/// The `cacheDirectory` setting: keyed by the checkpoint's sha256 (the start-up check's when it ran), and a
/// directory that cannot be used is a published warning, never a failed start.
@Suite("Weight cache setting of the service", .serialized)
struct WeightCacheServiceTests {
    static func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("chattts-wcache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("the cache key reuses the start-up check's sha256 of the checkpoint, else hashes the file")
    func keyIsTheCheckpointDigest() throws {
        var config = TestServer.configuration()
        #expect(try ChatTTSService.engineOptions(config).weightCache == nil)
        config.cacheDirectory = "/var/cache/chattts"
        let given = try ChatTTSService.engineOptions(config, digests: ["gpt/model.safetensors": "from-the-check"])
        #expect(given.weightCache == WeightCacheOptions(directory: "/var/cache/chattts", sourceDigest: "from-the-check"))
        let published = try AssetChecksums(contentsOf: Paths.tinyChecksums).values["gpt/model.safetensors"]
        #expect(try ChatTTSService.engineOptions(config).weightCache?.sourceDigest == published)
        #expect(given.weightCache?.memory == .shared)
        config.weightMemory = .private
        #expect(try ChatTTSService.engineOptions(config).weightCache?.memory == .private)
    }

    @Test("an unusable cache directory: the server starts, warns in its log and in /v1/models; a usable one logs its file")
    func unusableDirectoryWarns() async throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a-file")
        try Data("not a directory".utf8).write(to: file)
        let broken = try await TestServer.start { $0.cacheDirectory = file.appendingPathComponent("cache").path }
        let warnings = try #require(try await broken.client.get("/v1/models").json?["warnings"] as? [String])
        #expect(warnings.contains { $0.contains("weight cache unavailable") && $0.contains(file.path) })
        #expect(broken.logs.all.contains { $0.contains("weight cache unavailable") && $0.contains("warning") })
        try await broken.stop()

        let cache = dir.appendingPathComponent("cache")
        for expected in ["written to", "read from"] {
            let server = try await TestServer.start { $0.cacheDirectory = cache.path }
            #expect(try await server.client.get("/v1/models").json?["warnings"] == nil)
            #expect(server.logs.all.contains { $0.contains("weight cache") && $0.contains(expected) }, "\(expected)")
            try await server.stop()
        }
    }
}
