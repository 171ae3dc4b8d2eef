import ArgumentParser
import Foundation
import LoadTest

/// `chattts bench`: load against a running service; prints QPS, latency and time-to-first-audio percentiles and the
/// real-time factor.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test a running service: QPS, latency p50/p95/p99, time to first audio, real-time factor.",
        discussion: "`chattts bench engine` measures the engine itself instead (see Benchmarks/README.md).",
        subcommands: [BenchEngine.self])

    @Option(help: "Service address.")
    var url = "http://127.0.0.1:8080"

    @Option(name: [.customShort("c"), .long], help: "Clients sending at once (closed loop).")
    var concurrency = 4

    @Option(name: [.customShort("n"), .long], help: "Requests in all.")
    var requests = 16

    @Option(help: "Text to speak.")
    var text = "Hello from the ChatTTS benchmark. How fast is this service?"

    @Option(help: "Response format: mp3, opus, flac, wav or pcm.")
    var format = "mp3"

    @Option(help: "audio (streamed bytes), sse, or none (whole responses).")
    var stream = "audio"

    @Option(help: "openai (/v1/audio/speech) or tts (/v1/tts).")
    var endpoint: String = Benchmark.Endpoint.openai.rawValue

    @Option(help: "Voice: a configured name, an OpenAI name, seed:N or a voice string.")
    var voice = "alloy"

    @Option(help: "With --endpoint tts: max_new_token per request (46.875 steps per second of audio).")
    var maxNewTokens: Int?

    @Option(help: "With --endpoint tts: min_new_token per request.")
    var minNewTokens: Int?

    @Flag(inversion: .prefixedNo, help: "With --endpoint tts: run the refinement stage.")
    var refine: Bool?

    @Option(help: "Seed of request i is seed + i (repeatable runs).")
    var seed: UInt64?

    @Option(help: "Open loop: requests per second, sent whatever the answers (instead of -c/-n).")
    var rate: Double?

    @Option(help: "Open loop: seconds of arrivals.")
    var duration: Double = 60

    @Option(help: "Open loop arrivals: poisson or even.")
    var arrivals = "poisson"

    @Option(help: "Client identities: request i sends X-Forwarded-For 10.a.b.c for identity i % N (start the service with --trusted-proxies for this client).")
    var identities = 0

    @Option(help: "A keys file of plain keys, one per line: request i sends the (i % count)th as a bearer key.")
    var keysFile: String?

    @Option(help: "Seconds between /health probes during the load (their latency is reported).")
    var healthInterval: Double?

    @Option(help: "Sent as X-Request-Timeout: seconds the service may take to the first audio byte.")
    var requestTimeout: Double?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be >= 1") }
        guard requests >= 1 else { throw ValidationError("--requests must be >= 1") }
        guard ["mp3", "opus", "aac", "flac", "wav", "pcm"].contains(format) else {
            throw ValidationError("--format must be mp3, opus, flac, wav or pcm")
        }
        guard ["audio", "sse", "none"].contains(stream) else { throw ValidationError("--stream must be audio, sse or none") }
        guard Benchmark.Endpoint(rawValue: endpoint) != nil else { throw ValidationError("--endpoint must be openai or tts") }
        if endpoint == "openai", maxNewTokens != nil || minNewTokens != nil || refine != nil {
            throw ValidationError("--max-new-tokens, --min-new-tokens and --refine need --endpoint tts")
        }
        if let rate { guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be > 0") } }
        guard duration > 0, duration <= 86_400 else { throw ValidationError("--duration must be in (0, 86400] seconds") }
        guard ["poisson", "even"].contains(arrivals) else { throw ValidationError("--arrivals must be poisson or even") }
        guard identities >= 0, identities <= 1 << 24 else { throw ValidationError("--identities must be 0...16777216") }
        if let healthInterval { guard healthInterval > 0 else { throw ValidationError("--health-interval must be > 0") } }
        if let requestTimeout { guard requestTimeout > 0 else { throw ValidationError("--request-timeout must be > 0") } }
    }

    func run() async throws {
        var bench = Benchmark(client: try SpeechClient(url: url))
        bench.concurrency = concurrency
        bench.requests = requests
        bench.text = text
        bench.format = format
        bench.stream = stream == "none" ? nil : stream
        bench.endpoint = Benchmark.Endpoint(rawValue: endpoint)!
        bench.voice = voice
        bench.maxNewTokens = maxNewTokens
        bench.minNewTokens = minNewTokens
        bench.refine = refine
        bench.seed = seed
        if let rate { bench.openLoop = .init(rate: rate, duration: duration, poisson: arrivals == "poisson") }
        bench.identities = identities
        if let keysFile {
            let text = try String(contentsOfFile: keysFile, encoding: .utf8)
            bench.keys = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !bench.keys.isEmpty else { throw ValidationError("--keys-file \(keysFile) holds no key") }
        }
        bench.healthInterval = healthInterval
        bench.requestTimeout = requestTimeout
        let report = try await bench.run()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
        if report.succeeded == 0 { throw ExitCode(1) }
    }
}
