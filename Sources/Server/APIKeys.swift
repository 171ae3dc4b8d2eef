import Crypto
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The API keys a server accepts, read from `keysFile`: only their SHA-256 hashes are stored, so the file (and a
/// copy of it) never reveals a key.
///
/// The file is one JSON object:
/// `{"keys": [{"name": "team-a", "hash": "sha256:<64 hex>", "revoked": false, "rateLimit": 20, "rateBurst": 40,
/// "maxConcurrentPerClient": 8}]}`; `revoked` and the limits are optional (absent: the server's). A presented key is
/// hashed and compared with every entry in constant time, so the time taken tells nothing about how close a guess
/// was. `reload()` (SIGHUP) swaps the whole set at once; a file that does not read leaves the old set in place.
public final class KeyStore: Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var hash: [UInt8]
        public var revoked: Bool
        public var rateLimit: Double?
        public var rateBurst: Int?
        public var maxConcurrent: Int?
    }

    public enum Verdict: Sendable, Equatable {
        case valid(Entry)
        case revoked(name: String)
        case unknown
    }

    public let path: String
    private let entries: Mutex<[Entry]>

    public init(path: String) throws(KeyFileError) {
        self.path = path
        entries = Mutex(try Self.read(path))
    }

    public var count: Int { entries.withLock { $0.count } }

    /// Reads the file again; on failure the keys in use stay.
    public func reload() throws(KeyFileError) {
        let fresh = try Self.read(path)
        entries.withLock { $0 = fresh }
    }

    public func verify(_ key: String) -> Verdict {
        let hash = Self.hash(key)
        var match: Entry?
        for entry in entries.withLock({ $0 }) where Self.constantTimeEqual(entry.hash, hash) {
            match = entry
        }
        guard let match else { return .unknown }
        return match.revoked ? .revoked(name: match.name) : .valid(match)
    }

    public static func hash(_ key: String) -> [UInt8] { Array(SHA256.hash(data: Array(key.utf8))) }

    /// `sha256:` and the hex digest, as the file stores it.
    public static func hashText(_ key: String) -> String {
        "sha256:" + hash(key).map { String(format: "%02x", $0) }.joined()
    }

    /// A new key: `ctts_` and 32 random bytes in base64url (256 bits from the system's generator).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let base64 = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "ctts_" + base64
    }

    /// The file entry of a key, as `chattts keys add` prints it.
    public static func entryJSON(name: String, key: String) -> String {
        let object: [String: Any] = ["name": name, "hash": hashText(key)]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    static func read(_ path: String) throws(KeyFileError) -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyFileError(path: path, message: "cannot be read")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let list = object["keys"] as? [Any] else {
            throw KeyFileError(path: path, message: #"must be a JSON object {"keys": [{"name": ..., "hash": "sha256:..."}]}"#)
        }
        var entries: [Entry] = []
        for (i, item) in list.enumerated() {
            let at = "keys[\(i)]"
            guard let fields = item as? [String: Any] else { throw KeyFileError(path: path, message: "\(at) must be an object") }
            let known: Set = ["name", "hash", "revoked", "rateLimit", "rateBurst", "maxConcurrentPerClient"]
            if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
                throw KeyFileError(path: path, message: "\(at).\(unknown) is not a key field; known: \(known.sorted().joined(separator: ", "))")
            }
            guard let name = fields["name"] as? String, !name.isEmpty, name.count <= 64,
                  name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw KeyFileError(path: path, message: "\(at).name must be 1 to 64 ASCII letters, digits, '-', '_' or '.'")
            }
            guard let text = fields["hash"] as? String, text.hasPrefix("sha256:"), let hash = Self.hex(String(text.dropFirst(7))),
                  hash.count == 32 else {
                throw KeyFileError(path: path, message: "\(at).hash must be \"sha256:\" and 64 hex digits (chattts keys add prints it)")
            }
            guard !entries.contains(where: { $0.name == name }) else {
                throw KeyFileError(path: path, message: "\(at).name '\(name)' appears twice")
            }
            guard !entries.contains(where: { $0.hash == hash }) else {
                throw KeyFileError(path: path, message: "\(at).hash is the hash of another entry's key")
            }
            var entry = Entry(name: name, hash: hash, revoked: false)
            if let revoked = fields["revoked"] {
                guard let b = revoked as? Bool else { throw KeyFileError(path: path, message: "\(at).revoked must be true or false") }
                entry.revoked = b
            }
            if let rate = fields["rateLimit"] {
                guard let r = (rate as? NSNumber)?.doubleValue, r.isFinite, r >= 0 else {
                    throw KeyFileError(path: path, message: "\(at).rateLimit must be a number >= 0 (requests per second; 0: none)")
                }
                entry.rateLimit = r
            }
            if let burst = fields["rateBurst"] {
                guard let b = burst as? Int, b >= 1 else {
                    throw KeyFileError(path: path, message: "\(at).rateBurst must be an integer >= 1")
                }
                entry.rateBurst = b
            }
            if let cap = fields["maxConcurrentPerClient"] {
                guard let c = cap as? Int, c >= 0 else {
                    throw KeyFileError(path: path, message: "\(at).maxConcurrentPerClient must be an integer >= 0 (0: no cap)")
                }
                entry.maxConcurrent = c
            }
            entries.append(entry)
        }
        return entries
    }

    static func hex(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }
}

/// A keys file that cannot be used, naming the file and the entry at fault.
public struct KeyFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let message: String
    public var description: String { "keys file \(path): \(message)" }
}

/// Reloads the keys file on SIGHUP, so keys are added and revoked without a restart.
struct KeyReloadService: Service {
    let keys: KeyStore
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        try await cancelWhenGracefulShutdown {
            for await _ in signals {
                do {
                    try keys.reload()
                    logger.notice("keys reloaded", metadata: ["keys": .stringConvertible(keys.count)])
                } catch {
                    logger.error("keys not reloaded; the previous keys stay in use", metadata: ["error": .string("\(error)")])
                }
            }
        }
    }
}
