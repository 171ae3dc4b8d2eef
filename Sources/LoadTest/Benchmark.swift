import Foundation
import Synchronization

/// A closed-loop load generator against a running service: `concurrency` clients send `requests` requests in all,
/// each one as soon as its previous answer ended. `chattts bench` prints its report.
public struct Benchmark: Sendable {
    public enum Endpoint: String, Sendable, CaseIterable {
        /// `POST /v1/audio/speech` (OpenAI's fields).
        case openai
        /// `POST /v1/tts` (every ChatTTS knob).
        case tts
    }

    public var client: SpeechClient
    public var concurrency = 4
    public var requests = 16
    public var text = "Hello from the ChatTTS benchmark. How fast is this service?"
    public var format = "mp3"
    /// `audio` (streamed bytes: time to first audio is meaningful), `sse`, or nil (whole responses).
    public var stream: String? = "audio"
    public var endpoint = Endpoint.openai
    public var voice = "alloy"
    /// Only for `/v1/tts`: steps per request (46.875 per second of audio), and refinement.
    public var maxNewTokens: Int?
    public var minNewTokens: Int?
    public var refine: Bool?
    /// Seeds request i with seed + i, so runs are repeatable; nil: random.
    public var seed: UInt64?

    public init(client: SpeechClient) { self.client = client }

    public struct Sample: Sendable {
        public var status: Int
        public var latency: Duration
        public var timeToFirstAudio: Duration?
        public var audioSeconds: Double?
        public var bytes: Int
    }

    public struct Report: Sendable, Codable {
        public var requests: Int
        public var succeeded: Int
        public var failed: Int
        public var statuses: [String: Int]
        public var concurrency: Int
        public var wallSeconds: Double
        public var qps: Double
        public var latency: Percentiles
        public var timeToFirstAudio: Percentiles
        /// Request latency / audio duration, per request (below 1: faster than real time).
        public var realTimeFactor: Percentiles
        public var audioSeconds: Double
        /// Seconds of audio delivered per wall-clock second, all clients together.
        public var audioSecondsPerSecond: Double
        public var bytes: Int

        public struct Percentiles: Sendable, Codable {
            public var p50: Double
            public var p95: Double
            public var p99: Double
            public var mean: Double
            public var max: Double
        }

        public var text: String {
            func ms(_ p: Percentiles) -> String {
                String(format: "p50 %8.1f ms   p95 %8.1f ms   p99 %8.1f ms   mean %8.1f ms", p.p50 * 1000, p.p95 * 1000,
                       p.p99 * 1000, p.mean * 1000)
            }
            let statusText = statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            return """
                requests            \(requests) (\(succeeded) ok, \(failed) failed; \(statusText))
                concurrency         \(concurrency)
                wall time           \(String(format: "%.2f", wallSeconds)) s
                QPS                 \(String(format: "%.2f", qps))
                latency             \(ms(latency))
                time to first audio \(ms(timeToFirstAudio))
                real-time factor    \(String(format: "p50 %.3f   p95 %.3f   p99 %.3f   mean %.3f", realTimeFactor.p50,
                                                 realTimeFactor.p95, realTimeFactor.p99, realTimeFactor.mean))
                audio               \(String(format: "%.1f", audioSeconds)) s, \(String(format: "%.2f", audioSecondsPerSecond)) s of audio per second
                bytes               \(bytes)
                """
        }
    }

    func body(_ i: Int) -> (String, [String: any Sendable]) {
        var json: [String: any Sendable]
        switch endpoint {
        case .openai:
            json = ["model": "chattts", "input": text, "voice": voice, "response_format": format]
        case .tts:
            json = ["text": text, "voice": voice, "response_format": format]
            if let maxNewTokens { json["max_new_token"] = maxNewTokens }
            if let minNewTokens { json["min_new_token"] = minNewTokens }
            if let refine { json["refine"] = refine }
        }
        if let stream { json["stream_format"] = stream }
        if let seed { json["seed"] = seed &+ UInt64(i) }
        return (endpoint == .openai ? "/v1/audio/speech" : "/v1/tts", json)
    }

    /// Seconds of audio in a response: the server's header or trailer, else computed for pcm and wav.
    func audioSeconds(_ r: SpeechClient.Result) -> Double? {
        if let s = r.header("X-Audio-Seconds") ?? r.trailer("X-Audio-Seconds"), let v = Double(s) { return v }
        switch format {
        case "pcm": return Double(r.body.count) / 48000
        case "wav": return Double(max(0, r.body.count - 44)) / 48000
        default: return nil
        }
    }

    public func run() async throws -> Report {
        let next = RequestCounter()
        let started = ContinuousClock.now
        let samples = try await withThrowingTaskGroup(of: [Sample].self) { group in
            for _ in 0..<max(1, concurrency) {
                group.addTask {
                    var mine: [Sample] = []
                    while true {
                        let i = next.take()
                        guard i < requests else { break }
                        let (path, json) = body(i)
                        let sample: Sample
                        do {
                            let r = try await client.post(path, json: json)
                            let ok = r.status == 200 && r.complete
                            sample = Sample(status: r.complete ? r.status : -1, latency: r.total,
                                            timeToFirstAudio: ok ? r.timeToFirstByte : nil,
                                            audioSeconds: ok ? audioSeconds(r) : nil, bytes: r.body.count)
                        } catch {
                            sample = Sample(status: -1, latency: .zero, timeToFirstAudio: nil, audioSeconds: nil, bytes: 0)
                        }
                        mine.append(sample)
                    }
                    return mine
                }
            }
            var all: [Sample] = []
            for try await part in group { all += part }
            return all
        }
        return Self.report(samples, concurrency: concurrency, wall: ContinuousClock.now - started)
    }

    static func report(_ samples: [Sample], concurrency: Int, wall: Duration) -> Report {
        let ok = samples.filter { $0.status == 200 }
        var statuses: [String: Int] = [:]
        for s in samples { statuses[s.status < 0 ? "connection error" : String(s.status), default: 0] += 1 }
        let wallSeconds = wall.seconds
        let audio = ok.compactMap(\.audioSeconds).reduce(0, +)
        let rtf = ok.compactMap { s in s.audioSeconds.flatMap { $0 > 0 ? s.latency.seconds / $0 : nil } }
        return Report(
            requests: samples.count, succeeded: ok.count, failed: samples.count - ok.count, statuses: statuses,
            concurrency: concurrency, wallSeconds: wallSeconds, qps: wallSeconds > 0 ? Double(ok.count) / wallSeconds : 0,
            latency: percentiles(ok.map(\.latency.seconds)),
            timeToFirstAudio: percentiles(ok.compactMap { $0.timeToFirstAudio?.seconds }),
            realTimeFactor: percentiles(rtf), audioSeconds: audio,
            audioSecondsPerSecond: wallSeconds > 0 ? audio / wallSeconds : 0, bytes: ok.map(\.bytes).reduce(0, +))
    }

    /// Nearest-rank percentiles.
    static func percentiles(_ values: [Double]) -> Report.Percentiles {
        guard !values.isEmpty else { return .init(p50: 0, p95: 0, p99: 0, mean: 0, max: 0) }
        let sorted = values.sorted()
        func p(_ q: Double) -> Double { sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))] }
        return .init(p50: p(0.5), p95: p(0.95), p99: p(0.99), mean: values.reduce(0, +) / Double(values.count),
                     max: sorted.last!)
    }
}

/// Hands out request numbers to the benchmark's clients.
private final class RequestCounter: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.add(1, ordering: .relaxed).oldValue }
}

extension Duration {
    /// Seconds as a Double, for reports.
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
