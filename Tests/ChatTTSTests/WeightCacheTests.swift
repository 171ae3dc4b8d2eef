import Foundation
import Testing
import Tensors
@testable import ChatTTS

/// The GPT weight cache: a file written once, mapped by later loads, never trusted when damaged, never in the asset
/// folder, and the same speech with or without it.
@Suite("Weight cache: packed GPT weights shared through a file")
struct WeightCacheTests {
    /// A fresh, empty directory under the system's temporary folder.
    static func directory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("chattts-wcache-\(name)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func options(_ format: WeightFormat, cache: URL?, digest: String = "test-digest") -> EngineOptions {
        EngineOptions(format: format, threads: 1,
                      weightCache: cache.map { WeightCacheOptions(directory: $0.path, sourceDigest: digest) })
    }

    /// Codes and hidden states of two sequences, 24 steps each: what the model's steps give.
    static func speech(_ model: ChatTTSModel) throws -> [([Int], [Float])] {
        var o = SynthesisOptions()
        o.normalize = false
        o.refine = nil
        o.code.minNewTokens = 24
        o.code.maxNewTokens = 24
        let sequences = try model.codeSequences(["hello world", "a longer sentence to speak"], options: o)
        model.generate(sequences)
        return sequences.map { ($0.tokens.flatMap { $0 }, $0.hiddenStates().scalars) }
    }

    static func equal(_ a: [([Int], [Float])], _ b: [([Int], [Float])]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    /// The cache files in `directory`; anything else there but their writers' lock files is an issue (a temporary
    /// file left behind).
    static func weightFiles(_ directory: URL) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        let files = names.filter { $0.hasSuffix(".weights") }
        let others = names.filter { !$0.hasSuffix(".weights") && !$0.hasSuffix(".weights.lock") }
        #expect(others.isEmpty, "left in the cache directory: \(others)")
        return files
    }

    @Test("a second load reads the file, converts nothing and speaks bit for bit like a load without a cache",
          arguments: [WeightFormat.int8, .f32])
    func secondLoadReadsTheFile(format: WeightFormat) throws {
        let dir = try Self.directory("second")
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = try ChatTTSModel(folder: Fixtures.tinyAssets, options: Self.options(format, cache: nil))
        #expect(plain.weightCache == .off)
        let first = try ChatTTSModel(folder: Fixtures.tinyAssets, options: Self.options(format, cache: dir))
        guard case .written(let path, nil) = first.weightCache else {
            Issue.record("first load: \(first.weightCache)")
            return
        }
        let second = try ChatTTSModel(folder: Fixtures.tinyAssets, options: Self.options(format, cache: dir))
        #expect(second.weightCache == .read(path: path))
        #expect(try Self.weightFiles(dir) == [URL(fileURLWithPath: path).lastPathComponent])
        let reference = try Self.speech(plain)
        #expect(Self.equal(try Self.speech(first), reference))
        #expect(Self.equal(try Self.speech(second), reference))
        // A private copy of the file's bytes speaks the same too.
        var copied = Self.options(format, cache: dir)
        copied.weightCache?.memory = .private
        let privateCopy = try ChatTTSModel(folder: Fixtures.tinyAssets, options: copied)
        #expect(privateCopy.weightCache == .read(path: path))
        #expect(Self.equal(try Self.speech(privateCopy), reference))
    }

    @Test("a truncated or corrupted file is detected, never used, and rewritten")
    func damagedFileIsRebuilt() throws {
        let dir = try Self.directory("damaged")
        defer { try? FileManager.default.removeItem(at: dir) }
        let reference = try Self.speech(try ChatTTSModel(folder: Fixtures.tinyAssets,
                                                         options: Self.options(.int8, cache: nil)))
        let first = try ChatTTSModel(folder: Fixtures.tinyAssets, options: Self.options(.int8, cache: dir))
        guard case .written(let path, nil) = first.weightCache else {
            Issue.record("first load: \(first.weightCache)")
            return
        }
        let damages: [(String, (FileHandle, UInt64) throws -> Void)] = [
            ("truncated", { handle, size in try handle.truncate(atOffset: size - 64) }),
            ("checksum", { handle, size in
                try handle.seek(toOffset: size - 100)
                let byte = try handle.read(upToCount: 1)!
                try handle.seek(toOffset: size - 100)
                handle.write(Data([byte[0] ^ 0x5A]))
            }),
        ]
        for (expected, damage) in damages {
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! UInt64
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            try damage(handle, size)
            try handle.close()
            let reloaded = try ChatTTSModel(folder: Fixtures.tinyAssets, options: Self.options(.int8, cache: dir))
            guard case .written(path, let reason?) = reloaded.weightCache else {
                Issue.record("\(expected): \(reloaded.weightCache)")
                continue
            }
            #expect(reason.contains(expected), "\(reason)")
            #expect(Self.equal(try Self.speech(reloaded), reference), "\(expected)")
            let again = try ChatTTSModel(folder: Fixtures.tinyAssets, options: Self.options(.int8, cache: dir))
            #expect(again.weightCache == .read(path: path), "\(expected)")
        }
    }

    @Test("another weight format or another checkpoint digest gets a file of its own")
    func keyChangeMakesNewFile() throws {
        let dir = try Self.directory("key")
        defer { try? FileManager.default.removeItem(at: dir) }
        var paths: Set<String> = []
        for (format, digest) in [(WeightFormat.int8, "a"), (.bf16, "a"), (.int8, "b")] {
            let model = try ChatTTSModel(folder: Fixtures.tinyAssets,
                                         options: Self.options(format, cache: dir, digest: digest))
            guard case .written(let path, nil) = model.weightCache else {
                Issue.record("\(format) \(digest): \(model.weightCache)")
                continue
            }
            paths.insert(path)
        }
        #expect(paths.count == 3)
        #expect(try Self.weightFiles(dir).count == 3)
        let again = try ChatTTSModel(folder: Fixtures.tinyAssets, options: Self.options(.bf16, cache: dir, digest: "a"))
        guard case .read = again.weightCache else {
            Issue.record("bf16 again: \(again.weightCache)")
            return
        }
    }

    @Test("loads racing on an empty directory all succeed, one converts, the others read its file; no temporary files")
    func racingLoadsSucceed() async throws {
        let dir = try Self.directory("race")
        defer { try? FileManager.default.removeItem(at: dir) }
        let gptFolder = Fixtures.tinyAssets.appendingPathComponent("gpt").path
        let outcomes = try await withThrowingTaskGroup(of: WeightCacheOutcome.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try GPT(folder: gptFolder, options: Self.options(.int8, cache: dir)).weightCache
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for outcome in outcomes {
            switch outcome {
            case .written(_, nil), .read: break
            default: Issue.record("\(outcome)")
            }
        }
        // The writer's lock: one converts, the others wait for its file and read it.
        let converted = outcomes.filter { if case .written = $0 { true } else { false } }
        #expect(converted.count == 1, "\(outcomes)")
        let files = try Self.weightFiles(dir)
        #expect(files.count == 1, "\(files)")
        let last = try GPT(folder: gptFolder, options: Self.options(.int8, cache: dir))
        guard case .read = last.weightCache else {
            Issue.record("after the race: \(last.weightCache)")
            return
        }
    }

    @Test("a directory that cannot be written is reported, and the model loads without the cache")
    func unwritableDirectoryFallsBack() throws {
        // Below a regular file nothing can be created, whoever runs the test (root ignores permission bits).
        let dir = try Self.directory("unwritable")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("a-file")
        try Data("not a directory".utf8).write(to: file)
        let cache = file.appendingPathComponent("cache")
        let model = try ChatTTSModel(folder: Fixtures.tinyAssets, options: Self.options(.int8, cache: cache))
        guard case .unavailable(let reason) = model.weightCache else {
            Issue.record("\(model.weightCache)")
            return
        }
        #expect(reason.contains(file.path), "\(reason)")
        let reference = try ChatTTSModel(folder: Fixtures.tinyAssets, options: Self.options(.int8, cache: nil))
        #expect(Self.equal(try Self.speech(model), try Self.speech(reference)))
    }

    @Test("nothing is written into the asset folder, and a cache directory inside it is refused")
    func assetFolderStaysUntouched() throws {
        let dir = try Self.directory("assets")
        defer { try? FileManager.default.removeItem(at: dir) }
        let assets = dir.appendingPathComponent("asset")
        try FileManager.default.copyItem(at: Fixtures.tinyAssets, to: assets)
        func listing() throws -> [String] {
            let enumerator = FileManager.default.enumerator(at: assets, includingPropertiesForKeys: [.fileSizeKey])!
            return try enumerator.map { item in
                let url = item as! URL
                let size = try url.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? -1
                return "\(url.path) \(size)"
            }.sorted()
        }
        let before = try listing()
        let cache = dir.appendingPathComponent("cache")
        let outside = try ChatTTSModel(folder: assets, options: Self.options(.int8, cache: cache))
        guard case .written = outside.weightCache else {
            Issue.record("\(outside.weightCache)")
            return
        }
        for inside in [assets, assets.appendingPathComponent("gpt"), assets.appendingPathComponent("new/cache")] {
            let model = try ChatTTSModel(folder: assets, options: Self.options(.int8, cache: inside))
            guard case .unavailable(let reason) = model.weightCache else {
                Issue.record("\(inside.path): \(model.weightCache)")
                continue
            }
            #expect(reason.contains("inside the asset folder"))
        }
        #expect(try listing() == before)
    }
}
