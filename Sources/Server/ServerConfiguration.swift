import Foundation
import Logging

/// Everything `chattts serve` can be told, read once at start into one typed value with documented defaults.
///
/// Sources, strongest first: command-line flags, `CHATTTS_*` environment variables, a JSON config file, the defaults
/// below. Every key has one spelling per source: `maxBatch` in the file, `CHATTTS_MAX_BATCH` in the environment,
/// `--max-batch` on the command line. Unknown file keys and unparsable values are errors that name the key and the
/// source, so a typo never falls back to a default silently.
public struct ServerConfiguration: Sendable, Equatable {
    /// Address to bind. The default only listens on this machine; containers set `0.0.0.0`.
    public var host = "127.0.0.1"
    /// TCP port; 0 picks a free one (the bound port is logged in the "listening" line).
    public var port = 8080
    /// Folder in the official ChatTTS asset layout, mapped read-only.
    public var assets = "asset"
    /// JSON file `{"name": "voice string"}` with the voices `/v1/voices` lists; read once, never written.
    public var voicesFile: String?
    /// File with the model's speaker statistics (`spk_stat`): the base16384 string itself, or a JSON object with a
    /// `spk_stat` key (the official config). Needed for `seed:N` voices and the OpenAI voice names.
    public var speakerStatistics: String?
    /// Voice for `/v1/tts` requests that name none (a configured name, `seed:N` or a voice string); none: no speaker.
    public var defaultVoice: String?
    /// Whether `/v1/audio/speech` runs the refinement stage (ChatTTS's default); `/v1/tts` requests choose themselves.
    public var refine = true
    /// Longest accepted `input`/`text`, in characters (OpenAI's limit).
    public var maxInputCharacters = 4096
    /// Largest `max_new_tokens` a request may ask for (2048 steps = 43.7 s of audio).
    public var maxNewTokens = 2048
    /// Most sequences decoded together in one engine step.
    public var maxBatch = 8
    /// Most requests waiting for a batch slot; one more is answered 503 with Retry-After.
    public var maxQueue = 64
    /// Longest a request may wait for a batch slot before it is answered 503.
    public var queueWait: Duration = .seconds(30)
    /// Longest a graceful shutdown waits for in-flight requests before it cancels them.
    public var drainTimeout: Duration = .seconds(30)
    /// Engine steps between streamed audio chunks (24 steps = 0.51 s of audio).
    public var streamChunkSteps = 24
    /// Run a short synthesis before `/ready` answers 200.
    public var warmUp = true
    /// Log level: trace, debug, info, notice, warning, error, critical.
    public var logLevel: Logger.Level = .info
    /// `json` (one object per line, for log collectors) or `text`.
    public var logFormat: LogFormat = .json

    public enum LogFormat: String, Sendable, CaseIterable { case json, text }

    public init() {}

    /// Holds the limits together; called after every source is applied.
    public func validate() throws {
        func check(_ ok: Bool, _ key: Key, _ rule: String) throws {
            if !ok { throw ConfigurationError(key: key.fileKey, message: "must be \(rule)") }
        }
        try check(!host.isEmpty, .host, "a host name or address")
        try check((0...65535).contains(port), .port, "in 0...65535")
        try check(!assets.isEmpty, .assets, "a folder")
        try check((1...1_000_000).contains(maxInputCharacters), .maxInputCharacters, "in 1...1000000")
        try check((1...65536).contains(maxNewTokens), .maxNewTokens, "in 1...65536")
        try check((1...256).contains(maxBatch), .maxBatch, "in 1...256")
        try check((0...100_000).contains(maxQueue), .maxQueue, "in 0...100000")
        try check(queueWait > .zero, .queueWait, "> 0 seconds")
        try check(drainTimeout >= .zero, .drainTimeout, ">= 0 seconds")
        try check((1...4096).contains(streamChunkSteps), .streamChunkSteps, "in 1...4096")
    }

    /// The keys, with their spelling in each source.
    public enum Key: String, CaseIterable, Sendable {
        case host, port, assets, voices, speakerStatistics, defaultVoice, refine, maxInputCharacters, maxNewTokens
        case maxBatch, maxQueue, queueWait, drainTimeout, streamChunkSteps, warmUp, logLevel, logFormat

        /// Key in the JSON config file.
        public var fileKey: String { rawValue }
        /// Environment variable: `CHATTTS_` + upper snake case.
        public var environmentName: String {
            var out = "CHATTTS_"
            for c in rawValue {
                if c.isUppercase { out += "_" }
                out += c.uppercased()
            }
            return out
        }
        /// Command-line flag: kebab case.
        public var flag: String {
            var out = "--"
            for c in rawValue {
                if c.isUppercase { out += "-" }
                out += c.lowercased()
            }
            return out
        }
    }

    /// Environment variable naming the config file when `--config` is not given.
    public static let configFileEnvironmentName = "CHATTTS_CONFIG"

    /// Defaults, then the JSON file (if any), then the environment. Flags go on top of the result (the command
    /// applies them), then `validate()`.
    public static func load(file: String?, environment: [String: String]) throws -> ServerConfiguration {
        var config = ServerConfiguration()
        if let file {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw ConfigurationError(key: file, message: "cannot read the config file: \(error.localizedDescription)")
            }
            let table: [String: FileValue]
            do { table = try JSONDecoder().decode([String: FileValue].self, from: data) } catch {
                throw ConfigurationError(key: file, message: "must hold one JSON object of settings (strings, numbers, booleans)")
            }
            for (name, value) in table.sorted(by: { $0.key < $1.key }) {
                guard let key = Key(rawValue: name) else {
                    let known = Key.allCases.map(\.fileKey).joined(separator: ", ")
                    throw ConfigurationError(key: "\(file): \(name)", message: "is not a setting; known: \(known)")
                }
                guard let raw = value.text else { continue }
                try config.apply(key, raw, source: "\(file): \(name)")
            }
        }
        for key in Key.allCases {
            if let raw = environment[key.environmentName] {
                try config.apply(key, raw, source: key.environmentName)
            }
        }
        return config
    }

    /// Sets one key from its text form; `source` names where it came from in errors.
    public mutating func apply(_ key: Key, _ raw: String, source: String) throws {
        let value = raw.trimmingCharacters(in: .whitespaces)
        func int() throws -> Int {
            guard let v = Int(value) else { throw ConfigurationError(key: source, message: "expected an integer, got '\(raw)'") }
            return v
        }
        func seconds() throws -> Duration {
            guard let v = Double(value), v.isFinite else {
                throw ConfigurationError(key: source, message: "expected seconds (a number), got '\(raw)'")
            }
            return .milliseconds(Int64((v * 1000).rounded()))
        }
        func bool() throws -> Bool {
            switch value.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw ConfigurationError(key: source, message: "expected true or false, got '\(raw)'")
            }
        }
        switch key {
        case .host: host = value
        case .port: port = try int()
        case .assets: assets = value
        case .voices: voicesFile = value.isEmpty ? nil : value
        case .speakerStatistics: speakerStatistics = value.isEmpty ? nil : value
        case .defaultVoice: defaultVoice = value.isEmpty ? nil : value
        case .refine: refine = try bool()
        case .maxInputCharacters: maxInputCharacters = try int()
        case .maxNewTokens: maxNewTokens = try int()
        case .maxBatch: maxBatch = try int()
        case .maxQueue: maxQueue = try int()
        case .queueWait: queueWait = try seconds()
        case .drainTimeout: drainTimeout = try seconds()
        case .streamChunkSteps: streamChunkSteps = try int()
        case .warmUp: warmUp = try bool()
        case .logLevel:
            guard let level = Logger.Level(rawValue: value.lowercased()) else {
                let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw ConfigurationError(key: source, message: "expected one of \(levels), got '\(raw)'")
            }
            logLevel = level
        case .logFormat:
            guard let format = LogFormat(rawValue: value.lowercased()) else {
                throw ConfigurationError(key: source, message: "expected json or text, got '\(raw)'")
            }
            logFormat = format
        }
    }
}

/// One value of the config file, kept as text so that every source goes through the same parser.
private struct FileValue: Decodable {
    let text: String?
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { text = nil } else if let b = try? c.decode(Bool.self) { text = b ? "true" : "false" } else if
            let i = try? c.decode(Int.self) { text = String(i) } else if let d = try? c.decode(Double.self) {
            text = String(d)
        } else { text = try c.decode(String.self) }
    }
}

/// A setting that could not be used; `key` names it as the user wrote it (file key, variable or flag).
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let key: String
    public let message: String
    public var description: String { "configuration: \(key) \(message)" }
}

extension Duration {
    /// Seconds as a Double, for logs, metrics and headers.
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
