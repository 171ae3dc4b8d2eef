import Crypto
import Foundation
import Synthesis

/// The sha256 of each file of an asset folder, by path relative to the folder (`gpt/model.safetensors`).
///
/// `official` holds the values published for the official ChatTTS release (the official package's checksum map).
/// A custom model (a fine-tune, a test model) brings its own in a JSON file of the same shape (`--asset-checksums`):
/// `{"gpt/model.safetensors": "<64 hex>", ...}`; `chattts verify DIR --print` writes one for a folder.
public struct AssetChecksums: Sendable, Equatable {
    public var values: [String: String]

    public init(values: [String: String]) { self.values = values }

    /// The files the engine cannot start without.
    public static let requiredFiles = [
        "Decoder.safetensors", "DVAE.safetensors", "Embed.safetensors", "Vocos.safetensors", "gpt/config.json",
        "gpt/model.safetensors", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json",
        "tokenizer/tokenizer.json",
    ]
    /// Optional: without it seed voices and the OpenAI voice names are unavailable.
    public static let statisticsFile = "spk_stat.pt"
    /// What `chattts download` leaves in the folder: every file's sha256, `spk_stat.pt` included (it has no
    /// published value).
    public static let folderFileName = "checksums.json"

    public static let official = AssetChecksums(values: [
        "Decoder.safetensors": "77aa55e0a977949c4733df3c6f876fa85860d3298cba63295a7bc6901729d4e0",
        "DVAE.safetensors": "1d0b044a8368c0513100a2eca98456b289e6be6a18b7a63be1bcaa315ea874d9",
        "Embed.safetensors": "2ff0be7134934155741b643b74e32fb6bf3eec41257984459b2ed60cdb4c48b0",
        "Vocos.safetensors": "07e5561491cce41f7f90cfdb94b2ff263ff5742c3d89339db99b17ad82cc3f44",
        "gpt/config.json": "0aaa1ecd96c49ad4f473459eb1982fa7ad79fa5de08cde2781bf6ad1f9a0c236",
        "gpt/model.safetensors": "cd0806fd971f52f6a22c923ec64982b305e817bcc41ca83417fcf9141b984a0f",
        "tokenizer/special_tokens_map.json": "bd0ac9d9bb1657996b5c5fbcaa7d80f8de530d01a283da97f89deae5b1b8d011",
        "tokenizer/tokenizer_config.json": "43e9d658b554fa5ee8d8e1d763349323bfef1ed7a89c0794220ab8861387d421",
        "tokenizer/tokenizer.json": "843838a64e121e23e774cc75874c6fe862198d9f7dd43747914633a8fd89c20e",
    ])

    public struct FileError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads a checksums file: one JSON object of relative paths to 64 lowercase or uppercase hex digits.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FileError(description: "\(url.path): cannot be read (\(error.localizedDescription))")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FileError(description: "\(url.path): expected a JSON object of relative paths to sha256 hex digests")
        }
        var values: [String: String] = [:]
        for (path, value) in object {
            guard let hex = value as? String, hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                throw FileError(description: "\(url.path): '\(path)' must map to 64 hex digits (a sha256)")
            }
            guard !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                throw FileError(description: "\(url.path): '\(path)' must be a path inside the asset folder")
            }
            values[path] = hex.lowercased()
        }
        self.init(values: values)
    }

    /// The checksums `serve` holds a folder to: the given file's, else the official values plus the folder's own
    /// `checksums.json` entry for `spk_stat.pt` when there is one.
    public static func forFolder(_ folder: URL, file: URL?) throws -> AssetChecksums {
        if let file { return try AssetChecksums(contentsOf: file) }
        var out = official
        let own = folder.appendingPathComponent(folderFileName)
        if FileManager.default.fileExists(atPath: own.path),
           let value = try AssetChecksums(contentsOf: own).values[statisticsFile] {
            out.values[statisticsFile] = value
        }
        return out
    }

    /// Pretty, sorted JSON of the values, as `--asset-checksums` reads it.
    public var json: Data {
        (try? JSONSerialization.data(withJSONObject: values, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
    }

    /// The sha256 of a file as lowercase hex, read in 4 MiB pieces (the file is only opened for reading).
    public static func sha256(of url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let piece = try handle.read(upToCount: 4 << 20), !piece.isEmpty { hasher.update(data: piece) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// What checking a folder against its checksums found.
public struct AssetVerification: Sendable {
    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        case missing(String)
        case mismatch(String, expected: String, actual: String)
        case unreadable(String, reason: String)

        public var description: String {
            switch self {
            case .missing(let path): "\(path): missing"
            case .mismatch(let path, let expected, let actual): "\(path): sha256 \(actual), expected \(expected)"
            case .unreadable(let path, let reason): "\(path): cannot be read (\(reason))"
            }
        }
    }

    public var problems: [Problem] = []
    /// Not errors: an optional file missing (seed voices unavailable).
    public var warnings: [String] = []
    /// The sha256 of every file read, by relative path.
    public var digests: [String: String] = [:]
    public var bytes: Int64 = 0
    public var seconds: Double = 0

    public var ok: Bool { problems.isEmpty }

    /// Checks the required files and every file the checksums name, hashing them in parallel. A missing
    /// `spk_stat.pt` is a warning; any other missing file, or a digest that differs, is a problem.
    public static func verify(folder: URL, checksums: AssetChecksums) async -> AssetVerification {
        let started = ContinuousClock.now
        var paths = Set(AssetChecksums.requiredFiles).union(checksums.values.keys)
        let statistics = folder.appendingPathComponent(AssetChecksums.statisticsFile)
        var out = AssetVerification()
        if FileManager.default.fileExists(atPath: statistics.path) {
            paths.insert(AssetChecksums.statisticsFile)
        } else {
            paths.remove(AssetChecksums.statisticsFile)
            out.warnings.append("\(AssetChecksums.statisticsFile) is missing: seed voices (seed:N) and the OpenAI voice names are unavailable")
        }
        let results = await withTaskGroup(of: (String, Result<(String, Int64), any Error>?).self) { group in
            for path in paths.sorted() {
                group.addTask {
                    let url = folder.appendingPathComponent(path)
                    guard FileManager.default.fileExists(atPath: url.path) else { return (path, nil) }
                    do {
                        let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.int64Value ?? 0
                        return (path, .success((try AssetChecksums.sha256(of: url), size)))
                    } catch {
                        return (path, .failure(error))
                    }
                }
            }
            var all: [(String, Result<(String, Int64), any Error>?)] = []
            for await result in group { all.append(result) }
            return all.sorted { $0.0 < $1.0 }
        }
        for (path, result) in results {
            switch result {
            case nil:
                out.problems.append(.missing(path))
            case .failure(let error)?:
                out.problems.append(.unreadable(path, reason: "\(error)"))
            case .success(let (digest, size))?:
                out.digests[path] = digest
                out.bytes += size
                if let expected = checksums.values[path], expected != digest {
                    out.problems.append(.mismatch(path, expected: expected, actual: digest))
                }
            }
        }
        out.seconds = (ContinuousClock.now - started).seconds
        return out
    }
}
