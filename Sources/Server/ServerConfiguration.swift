import Foundation
import Logging
import Synthesis

/// Everything `chattts serve` can be told, read once at start into one typed value with documented defaults.
///
/// Sources, strongest first: command-line flags, `CHATTTS_*` environment variables, a JSON config file, the defaults
/// below. Every setting is declared once in `settings` (key, doc, limits); its spelling in each source is derived
/// from the key: `maxBatch` in the file, `CHATTTS_MAX_BATCH` in the environment, `--max-batch` on the command line.
/// Unknown keys and unparsable values are errors that name the key and the source, so a typo never falls back to
/// a default silently.
public struct ServerConfiguration: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var engine = EngineChoice.auto
    public var assets = "asset"
    public var verifyAssets = true
    public var assetChecksums: String?
    public var voicesFile: String?
    public var speakerStatistics: String?
    public var defaultVoice: String?
    public var dtype = WeightChoice.auto
    public var threads: Int?
    public var kernels = KernelChoice.auto
    public var cacheDirectory: String?
    public var weightMemory = WeightMemoryChoice.shared
    public var refine = true
    public var maxInputCharacters = 4096
    public var maxTextCharacters = 20_000
    public var maxBodyBytes = 64 << 10
    public var maxTTSBodyBytes = 16 << 20
    public var markup = MarkupPolicy.refuse
    public var maxNewTokens = 2048
    public var maxBatch = 16
    public var maxQueue = 64
    public var requestTimeout: Duration = .seconds(60)
    public var maxRequestDuration: Duration = .seconds(900)
    public var keysFile: String?
    public var metricsRequireKey = false
    public var rateLimit = 10.0
    public var rateBurst = 20
    public var maxConcurrentPerClient = 4
    public var trustedProxies: String?
    public var headerTimeout: Duration = .seconds(10)
    public var bodyTimeout: Duration = .seconds(60)
    public var idleTimeout: Duration = .seconds(75)
    public var maxConnections = 1024
    public var drainTimeout: Duration = .seconds(30)
    public var memoryBudget: Int?
    public var streamChunkSteps = 24
    public var streamMode = StreamModeChoice.exact
    public var firstAudioLead: Duration = .zero
    public var warmUp = true
    public var logLevel: Logger.Level = .info
    public var logFormat: LogFormat = .json

    public enum LogFormat: String, Sendable, CaseIterable { case json, text }

    /// What happens to HTML markup, entities and control characters in a text: a 400 naming them, or removed.
    public enum MarkupPolicy: String, Sendable, CaseIterable { case refuse, strip }
    /// Which engine speaks: `auto` is ChatTTS when the asset folder holds its files, else espeak.
    public enum EngineChoice: String, Sendable, CaseIterable { case auto, chattts, espeak }

    /// Weight format of the model: `auto` lets the engine choose (int8 for a full-size model).
    public enum WeightChoice: String, Sendable, CaseIterable { case auto, f32, bf16, int8 }
    /// Streamed audio's default (`stream_mode`): `exact` one-shot samples, or `fast` first audio at a small error.
    public enum StreamModeChoice: String, Sendable, CaseIterable { case exact, fast }
    /// Where weights read from the cache file live: the shared read-only mapping, or a private huge-page copy.
    public enum WeightMemoryChoice: String, Sendable, CaseIterable { case shared, `private` }
    /// Kernel instruction set: `auto` takes the best this CPU runs; a lower one is for measuring and debugging.
    public enum KernelChoice: String, Sendable, CaseIterable {
        case auto, baseline, avx2, avx2VNNI = "avx2-vnni", avx512
    }

    public init() {}

    /// Every setting, in the order the docs list them.
    public static let settings: [Setting] = [
        .text("host", \.host, "address to bind (`0.0.0.0` in containers)"),
        .integer("port", \.port, 0...65535, "TCP port; 0 picks a free one (logged in the `listening` line)"),
        .choice("engine", \.engine, "`chattts`, `espeak` (formant speech, no model files) or `auto`: ChatTTS when the asset folder has its files, else espeak with a warning"),
        .text("assets", \.assets, "the official asset folder, read-only (`chattts download` fetches it)"),
        .boolean("verifyAssets", \.verifyAssets,
                 "check every asset file's sha256 at start and refuse to start on a missing or changed file (off: a loud warning, and `warnings` in `/v1/models`)"),
        .optionalText("assetChecksums", \.assetChecksums, default: "the official release's values",
                      "JSON file `{\"gpt/model.safetensors\": \"<sha256>\", ...}` (paths relative to the asset folder) for custom assets; `chattts verify DIR --print` writes one"),
        .optionalText("voices", \.voicesFile,
                      "read-only JSON file `{\"name\": \"voice string\"}`; an entry may be a sample instead: `{\"spk_smp\": codes, \"txt_smp\": transcript}`, optionally with `\"spk_emb\"`"),
        .optionalText("speakerStatistics", \.speakerStatistics, default: "`spk_stat.pt` in the asset folder, when there",
                      "speaker statistics file: `spk_stat.pt` (`torch.save` of std then mean), the `spk_stat` string, or a JSON file with a `spk_stat` key; enables `seed:N` and the OpenAI voice names"),
        .optionalText("defaultVoice", \.defaultVoice, "voice for `/v1/tts` requests without one"),
        .choice("dtype", \.dtype, "weight format of the GPT and its heads (`auto`: int8 for a full-size model)"),
        .optionalInteger("threads", \.threads, 1...1024, default: "one per core",
                         "compute threads; replicas sharing a host should split the cores"),
        .choice("kernels", \.kernels, "kernel instruction set (`auto`: the best this CPU runs)"),
        .optionalText("cacheDirectory", \.cacheDirectory, default: "none: each process converts the weights in its own memory",
                      "writable folder (never the asset folder) for the GPT's converted weights, keyed by their sha256, format and layout: the first start writes a file, later starts map it read-only, and replicas on one host share one copy through the page cache (containers: an emptyDir or volume such as `/var/cache/chattts`)"),
        .choice("weightMemory", \.weightMemory,
                "with `cacheDirectory`: `shared` runs on the read-only file mapping (one copy per host; 2 MiB pages where the kernel's page cache has large folios, else 4 KiB ones, which may cost speed), `private` copies the file into this process's huge pages (no conversion, no sharing); `Benchmarks/replica-memory-*.txt` has both figures"),
        .boolean("refine", \.refine, "refinement on `/v1/audio/speech`"),
        .integer("maxInputCharacters", \.maxInputCharacters, 1...1_000_000,
                 "longest `input` of `/v1/audio/speech` (OpenAI's limit); longer texts are split into utterances"),
        .integer("maxTextCharacters", \.maxTextCharacters, 1...1_000_000,
                 "longest `text` of `/v1/tts`; it is split into utterances that share one voice"),
        .integer("maxBodyBytes", \.maxBodyBytes, 1024...(1 << 30),
                 "largest request body on `/v1/audio/speech` (and every route but `/v1/tts`); larger: 413"),
        .integer("maxTTSBodyBytes", \.maxTTSBodyBytes, 1024...(1 << 30),
                 "largest request body on `/v1/tts` (16 MiB holds a 30 s voice sample as base64 WAV); larger: 413"),
        .choice("markup", \.markup,
                "HTML tags, entities and control characters in a text: `refuse` (400 naming them) or `strip` (removed); ChatTTS word tags such as `[uv_break]` are always allowed"),
        .integer("maxNewTokens", \.maxNewTokens, 1...1_000_000,
                 "largest `max_new_token` (at most the model's positions, 4096); used by `/v1/audio/speech`"),
        .integer("maxBatch", \.maxBatch, 1...256, "requests per engine step (a long text runs up to `max_split_batch` utterances of its own); 16 measured best on 2 cores (`Benchmarks/service-*.txt`)"),
        .integer("maxQueue", \.maxQueue, 0...100_000, "waiting requests before new ones get 503"),
        .seconds("requestTimeout", \.requestTimeout, above: 0, open: true,
                 "seconds until a request's first audio byte (its deadline; `X-Request-Timeout` may lower it): a request whose estimated wait is longer gets 503 at once, a queued one past it 503, a running one is cancelled"),
        .seconds("maxRequestDuration", \.maxRequestDuration, above: 0, open: true,
                 "seconds a whole synthesis may take, long texts included; past it the response is cut (SSE: an `error` event)"),
        .optionalText("keysFile", \.keysFile, default: "none: no keys needed",
                      "read-only JSON file of API keys (`chattts keys add NAME`); when set every route but `/health`, `/ready`, the web page `/` and `/v1/status` needs `Authorization: Bearer KEY`; SIGHUP reloads it"),
        .boolean("metricsRequireKey", \.metricsRequireKey, "`/metrics` needs a key too (when `keysFile` is set)"),
        .number("rateLimit", \.rateLimit, 0...1_000_000, "requests per second per client (its API key, else its address); 0 turns rate limiting off"),
        .integer("rateBurst", \.rateBurst, 1...1_000_000, "requests a client may send at once before `rateLimit` applies"),
        .integer("maxConcurrentPerClient", \.maxConcurrentPerClient, 0...100_000,
                 "syntheses one client may have running or queued (a long text counts once); more get 429; 0: no cap"),
        .optionalText("trustedProxies", \.trustedProxies, default: "none",
                      "comma-separated addresses or CIDRs (`10.0.0.0/8, ::1`) whose `X-Forwarded-For` names the client"),
        .seconds("headerTimeout", \.headerTimeout, above: 0, open: true,
                 "seconds a client may take to send a request's headers (slowloris); then the connection is closed"),
        .seconds("bodyTimeout", \.bodyTimeout, above: 0, open: true,
                 "seconds a client may take to send a request's body; then the connection is closed (no answer: the request never arrived whole)"),
        .seconds("idleTimeout", \.idleTimeout, above: 0, open: true, "seconds an idle keep-alive connection stays open"),
        .integer("maxConnections", \.maxConnections, 1...1_000_000, "open connections; more are closed at once"),
        .seconds("drainTimeout", \.drainTimeout, above: 0, open: false,
                 "seconds a shutdown waits for accepted requests before cancelling them"),
        .optionalInteger("memoryBudget", \.memoryBudget, 1...Int.max, default: "80% of memory",
                         "bytes the running requests' KV caches may take together (default: 80% of the smaller of the host's memory and the cgroup's `memory.max`); a request that does not fit waits, one that never fits gets 400"),
        .integer("streamChunkSteps", \.streamChunkSteps, 1...4096, "largest streamed chunk, in engine steps (24 = 0.51 s of audio): the first chunk leaves as soon as the look-ahead allows, the next ones every 8 steps for this many steps, then every this many"),
        .choice("streamMode", \.streamMode, "default `stream_mode` of requests that do not give one: `exact` (streamed audio equals the one-shot waveform; first audio after the vocoder's look-ahead of about 53 steps) or `fast` (first audio after about 10 steps, chunk edges cross-faded)"),
        .seconds("firstAudioLead", \.firstAudioLead, above: 0, open: false, "first audio first: while every running request's streamed audio is at least this many seconds ahead of real time, steps run only the requests still waiting for their first audio (a new request's first audio at the speed of a small batch); 0: off. For hosts whose batches run faster than real time: on 2 cores they do not, and it never engaged (`Benchmarks/service-2026-12-04.txt`)"),
        .boolean("warmUp", \.warmUp, "short synthesis before `/ready` turns 200 (its time is logged)"),
        .choice("logLevel", \.logLevel, "trace, debug, info, notice, warning, error, critical"),
        .choice("logFormat", \.logFormat, "`json` (one object per line) or `text`"),
    ]

    public static func setting(_ key: String) -> Setting? { settings.first { $0.key == key } }

    /// Holds every value to its limits; called after every source is applied.
    public func validate() throws(ConfigurationError) {
        for s in Self.settings { try s.check(self) }
        do { _ = try proxies() } catch {
            throw ConfigurationError(key: "trustedProxies", message: error.message)
        }
    }

    /// `trustedProxies` as networks.
    public func proxies() throws(ConfigurationError) -> [IPNetwork] {
        guard let trustedProxies else { return [] }
        return try trustedProxies.split(separator: ",").map { part throws(ConfigurationError) in
            let text = part.trimmingCharacters(in: .whitespaces)
            guard let network = IPNetwork(text) else {
                throw ConfigurationError(key: "trustedProxies", message: "'\(text)' is not an address or CIDR (10.0.0.0/8, ::1)")
            }
            return network
        }
    }

    /// Environment variable naming the config file when `--config` is not given.
    public static let configFileEnvironmentName = "CHATTTS_CONFIG"

    /// Defaults, then the JSON file (if any), then the environment. Flags go on top of the result (`apply(flags:)`),
    /// then `validate()`.
    public static func load(file: String?, environment: [String: String]) throws(ConfigurationError) -> ServerConfiguration {
        var config = ServerConfiguration()
        if let file {
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: file)) else {
                throw ConfigurationError(key: file, message: "cannot read the config file")
            }
            guard let table = try? JSONDecoder().decode([String: FileValue].self, from: data) else {
                throw ConfigurationError(key: file, message: "must hold one JSON object of settings (strings, numbers, booleans)")
            }
            for (name, value) in table.sorted(by: { $0.key < $1.key }) {
                guard let setting = setting(name) else {
                    let known = settings.map(\.key).joined(separator: ", ")
                    throw ConfigurationError(key: "\(file): \(name)", message: "is not a setting; known: \(known)")
                }
                guard let raw = value.text else { continue }
                try setting.apply(raw, to: &config, source: "\(file): \(name)")
            }
        }
        for setting in settings {
            if let raw = environment[setting.environmentName] {
                try setting.apply(raw, to: &config, source: setting.environmentName)
            }
        }
        return config
    }

    /// Applies command-line flags: `--max-batch 4`, `--max-batch=4`, `--warm-up` / `--no-warm-up`.
    public mutating func apply(flags: [String]) throws(ConfigurationError) {
        let flag = { (name: String) in Self.settings.first { $0.flag == "--" + name } }
        let pairs: [(name: String, value: String)]
        do {
            pairs = try CommandLineFlags.split(flags) { name in
                flag(name).map { $0.isBoolean ? .onOff : .valued(limit: $0.limit) }
            }
        } catch {
            throw ConfigurationError(key: error.argument, message: error.message + " of chattts serve; see chattts serve --help")
        }
        for (name, value) in pairs {
            let setting = flag(name)!
            try setting.apply(value, to: &self, source: setting.flag)
        }
    }

    /// `serve --help`'s list of settings, from the table.
    public static var flagHelp: String {
        settings.map { s in
            let flag = s.isBoolean ? "\(s.flag) / --no-\(s.flag.dropFirst(2))" : "\(s.flag) <\(s.limit)>"
            return "  \(flag)\n      \(s.doc) (default \(s.defaultDescription); \(s.environmentName))"
        }.joined(separator: "\n")
    }

    /// The README's configuration table, from the table.
    public static var markdownTable: String {
        var lines = ["| file key | environment | flag | default | what |", "|---|---|---|---|---|"]
        for s in settings {
            let flag = s.isBoolean ? "`\(s.flag)` / `--no-\(s.flag.dropFirst(2))`" : "`\(s.flag)`"
            lines.append("| `\(s.key)` | `\(s.environmentName)` | \(flag) | \(s.defaultDescription) | \(s.doc) |")
        }
        return lines.joined(separator: "\n")
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
