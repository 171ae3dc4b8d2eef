import Foundation
import Synchronization

/// A load generator against a running service. `chattts bench` prints its report.
///
/// Closed loop (the default): `concurrency` clients send `requests` requests in all, each one as soon as its previous
/// answer ended. Open loop (`openLoop` set): requests arrive at a rate for a duration whatever the answers, as a
/// public endpoint's traffic does, so an overloaded service shows what it does with the excess (answers, rejections
/// and their latency, and `/health` while it happens).
public struct Benchmark: Sendable {
    /// Arrivals at `rate` per second for `duration` seconds: Poisson (exponential gaps, seeded) or evenly spaced.
    public struct OpenLoop: Sendable {
        public var rate: Double
        public var duration: Double
        public var poisson: Bool
        public init(rate: Double, duration: Double, poisson: Bool = true) {
            self.rate = rate
            self.duration = duration
            self.poisson = poisson
        }
    }

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
    public var openLoop: OpenLoop?
    /// Request i comes from client identity i % identities, sent as `X-Forwarded-For: 10.a.b.c` (the service must
    /// trust this client as a proxy); 0: no header.
    public var identities = 0
    /// Request i sends `Authorization: Bearer keys[i % keys.count]`.
    public var keys: [String] = []
    /// Seconds between `/health` probes while the load runs; nil: no probes.
    public var healthInterval: Double?
    /// Sent as `X-Request-Timeout` (seconds to the first audio byte).
    public var requestTimeout: Double?
    /// The client gives up on a request after this long (counted as a broken response).
    public var clientTimeout: Duration = .seconds(1200)

    public init(client: SpeechClient) { self.client = client }

    public struct Sample: Sendable {
        public var status: Int
        public var latency: Duration
        /// Until the response head (for a rejection: how fast the service said no).
        public var timeToHead: Duration = .zero
        /// A 200 whose body ended early (cut, or the connection broke).
        public var broken = false
        /// The error code of a refusal (`overloaded`, `rate_limit_exceeded`, ...).
        public var code: String? = nil
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
        /// Only in open loop.
        public var openLoop: OpenLoopReport?

        public struct OpenLoopReport: Sendable, Codable {
            public var offeredRate: Double
            public var duration: Double
            public var poisson: Bool
            public var identities: Int
            /// 200 heads whose body did not end normally.
            public var broken: Int
            /// Refusals by status and error code (`503 overloaded`, `429 rate_limit_exceeded`).
            public var refusals: [String: Int]
            /// 429 and 503 answers, and how fast they came (time to the response head).
            public var rejected: Int
            public var rejectionLatency: Percentiles
            public var healthProbes: Int
            public var healthFailures: Int
            /// Why probes failed, by reason.
            public var healthErrors: [String: Int]
            public var healthLatency: Percentiles
        }

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
            var open = ""
            if let o = openLoop {
                open = """

                    offered             \(String(format: "%.2f", o.offeredRate)) requests/s for \(String(format: "%.0f", o.duration)) s (\(o.poisson ? "Poisson" : "even") arrivals, \(o.identities) client identities)
                    broken 200s         \(o.broken)
                    refusals            \(o.refusals.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
                    rejected (429/503)  \(o.rejected): time to answer \(ms(o.rejectionLatency))   max \(String(format: "%.1f", o.rejectionLatency.max * 1000)) ms
                    /health             \(o.healthProbes) probes, \(o.healthFailures) failed: \(ms(o.healthLatency))   max \(String(format: "%.1f", o.healthLatency.max * 1000)) ms
                    """
            }
            return """
                requests            \(requests) (\(succeeded) ok, \(failed) failed; \(statusText))
                concurrency         \(openLoop == nil ? String(concurrency) : "open loop (each request its own connection)")
                wall time           \(String(format: "%.2f", wallSeconds)) s
                QPS                 \(String(format: "%.2f", qps))
                latency             \(ms(latency))
                time to first audio \(ms(timeToFirstAudio))
                real-time factor    \(String(format: "p50 %.3f   p95 %.3f   p99 %.3f   mean %.3f", realTimeFactor.p50,
                                                 realTimeFactor.p95, realTimeFactor.p99, realTimeFactor.mean))
                audio               \(String(format: "%.1f", audioSeconds)) s, \(String(format: "%.2f", audioSecondsPerSecond)) s of audio per second
                bytes               \(bytes)
                """ + open
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

    func headers(_ i: Int) -> [(String, String)] {
        var out: [(String, String)] = []
        if identities > 0 {
            let n = i % identities
            out.append(("X-Forwarded-For", "10.\((n >> 16) & 255).\((n >> 8) & 255).\(n & 255)"))
        }
        if !keys.isEmpty { out.append(("Authorization", "Bearer \(keys[i % keys.count])")) }
        if let requestTimeout { out.append(("X-Request-Timeout", String(requestTimeout))) }
        return out
    }

    /// Sends request i and measures it; a connection that fails before a response head is status -1.
    func sample(_ i: Int) async -> Sample {
        let (path, json) = body(i)
        do {
            let r = try await client.post(path, json: json, headers: headers(i), timeout: clientTimeout)
            let ok = r.status == 200 && r.complete
            let code = r.status == 200 ? nil : (r.json?["error"] as? [String: Any])?["code"] as? String
            return Sample(status: r.status, latency: r.total, timeToHead: r.timeToHead, broken: r.status == 200 && !r.complete,
                          code: code, timeToFirstAudio: ok ? r.timeToFirstByte : nil,
                          audioSeconds: ok ? audioSeconds(r) : nil, bytes: r.body.count)
        } catch {
            return Sample(status: -1, latency: .zero, timeToFirstAudio: nil, audioSeconds: nil, bytes: 0)
        }
    }

    public func run() async throws -> Report {
        if let openLoop { return await run(openLoop) }
        let next = RequestCounter()
        let started = ContinuousClock.now
        let samples = try await withThrowingTaskGroup(of: [Sample].self) { group in
            for _ in 0..<max(1, concurrency) {
                group.addTask {
                    var mine: [Sample] = []
                    while true {
                        let i = next.take()
                        guard i < requests else { break }
                        mine.append(await sample(i))
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

    /// Open loop: request i is sent at its arrival time whether or not earlier ones have been answered.
    func run(_ load: OpenLoop) async -> Report {
        var random = SplitMix64(seed: seed ?? 1)
        var arrivals: [Double] = []
        var t = 0.0
        while t < load.duration {
            arrivals.append(t)
            let gap = load.poisson ? -log(1 - random.unit()) / load.rate : 1 / load.rate
            t += gap
        }
        let started = ContinuousClock.now
        let probing = RunningFlag()
        let health = Task { [client, healthInterval] () -> [Sample] in
            guard let interval = healthInterval else { return [] }
            var probes: [Sample] = []
            var next = started
            while probing.running {
                let probe: Sample
                do {
                    let r = try await client.get("/health", timeout: .seconds(10))
                    probe = Sample(status: r.complete ? r.status : -1, latency: r.total,
                                   code: r.complete ? (r.status == 200 ? nil : "status \(r.status)") : r.brokenBy,
                                   timeToFirstAudio: nil, audioSeconds: nil, bytes: 0)
                } catch {
                    probe = Sample(status: -1, latency: .seconds(10), code: "\(error)", timeToFirstAudio: nil,
                                   audioSeconds: nil, bytes: 0)
                }
                probes.append(probe)
                next += .milliseconds(Int64(interval * 1000))
                try? await Task.sleep(until: max(next, ContinuousClock.now), clock: .continuous)
            }
            return probes
        }
        let samples = await withTaskGroup(of: Sample.self) { group in
            for (i, at) in arrivals.enumerated() {
                try? await Task.sleep(until: started + .milliseconds(Int64(at * 1000)), clock: .continuous)
                group.addTask { await sample(i) }
            }
            var all: [Sample] = []
            for await s in group { all.append(s) }
            return all
        }
        let wall = ContinuousClock.now - started
        probing.stop()
        let probes = await health.value
        var report = Self.report(samples, concurrency: 0, wall: wall)
        let rejections = samples.filter { $0.status == 429 || $0.status == 503 }
        var refusals: [String: Int] = [:]
        for s in samples { if let code = s.code { refusals["\(s.status) \(code)", default: 0] += 1 } }
        var healthErrors: [String: Int] = [:]
        for p in probes { if let code = p.code { healthErrors[code, default: 0] += 1 } }
        report.openLoop = .init(
            offeredRate: load.rate, duration: load.duration, poisson: load.poisson, identities: identities,
            broken: samples.filter(\.broken).count,
            refusals: refusals,
            rejected: rejections.count,
            rejectionLatency: Self.percentiles(rejections.map(\.timeToHead.seconds)), healthProbes: probes.count,
            healthFailures: probes.filter { $0.status != 200 }.count,
            healthErrors: healthErrors,
            healthLatency: Self.percentiles(probes.map { $0.latency.seconds }))
        return report
    }

    static func report(_ samples: [Sample], concurrency: Int, wall: Duration) -> Report {
        let ok = samples.filter { $0.status == 200 && !$0.broken }
        var statuses: [String: Int] = [:]
        for s in samples {
            statuses[s.status < 0 ? "connection error" : s.broken ? "200 broken" : String(s.status), default: 0] += 1
        }
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

/// SplitMix64: a small seeded generator, so an open loop's arrival times repeat from run to run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

/// Tells the `/health` prober when the load is over.
private final class RunningFlag: Sendable {
    private let value = Atomic<Bool>(true)
    var running: Bool { value.load(ordering: .relaxed) }
    func stop() { value.store(false, ordering: .relaxed) }
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
