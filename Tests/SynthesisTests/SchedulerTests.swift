import Foundation
import Testing
@testable import ChatTTS
@testable import Synthesis

/// The scheduler with the committed tiny model (Tests/Fixtures/tiny): real engine, real batching.
@Suite("Continuous batching scheduler")
struct SchedulerTests {
    static let assets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tiny/asset")
    static let engine = try! ChatTTSEngine(assets: assets, chunkSteps: 8)

    func parameters(seed: UInt64, steps: Int) -> SpeechParameters {
        var p = SpeechParameters()
        p.refine = false
        p.seed = seed
        p.minNewTokens = steps
        p.maxNewTokens = steps
        return p
    }

    /// Runs `body` with a running scheduler, then drains it and waits for `run()` to return.
    func withScheduler<T: Sendable>(_ config: SchedulerConfig = SchedulerConfig(),
                                    _ body: (ChatTTSScheduler) async throws -> T) async throws -> T {
        let scheduler = ChatTTSScheduler(engine: Self.engine, config: config)
        let running = Task { try await scheduler.run() }
        let result = try await body(scheduler)
        scheduler.beginDraining()
        try await running.value
        return result
    }

    static func collect(_ job: SpeechJob) async throws -> (audio: [Float], chunks: Int) {
        var audio: [Float] = []
        var chunks = 0
        for try await chunk in job.audio {
            audio += chunk
            chunks += 1
        }
        return (audio, chunks)
    }

    @Test("16 concurrent requests share steps, and each equals the same request served alone")
    func batchingShares() async throws {
        let texts = (0..<16).map { "request number \($0) says hello" }
        let alone: [[Float]] = try await withScheduler { scheduler in
            var out: [[Float]] = []
            for (i, text) in texts.enumerated() {
                let job = try scheduler.submit(SpeechRequest(id: "a\(i)", text: text, voice: nil, parameters: parameters(seed: UInt64(i), steps: 20)))
                out.append(try await Self.collect(job).audio)
            }
            let stats = scheduler.stats
            #expect(stats.steps >= 16 * 20)
            return out
        }
        var config = SchedulerConfig()
        config.maxBatch = 16
        let (together, steps): ([[Float]], Int) = try await withScheduler(config) { scheduler in
            let jobs = try texts.enumerated().map { i, text in
                try scheduler.submit(SpeechRequest(id: "b\(i)", text: text, voice: nil, parameters: parameters(seed: UInt64(i), steps: 20)))
            }
            var out: [[Float]] = []
            for job in jobs { out.append(try await Self.collect(job).audio) }
            return (out, scheduler.stats.steps)
        }
        #expect(steps < 16 * 20 / 2, "batched run took \(steps) steps")
        for i in 0..<16 {
            #expect(together[i].count == alone[i].count)
            let diff = zip(together[i], alone[i]).map { abs($0 - $1) }.max() ?? 0
            #expect(diff < 1e-4, "request \(i) differs by \(diff)")
        }
    }

    @Test("audio streams in several chunks that add up to the one-shot waveform")
    func streams() async throws {
        let p = parameters(seed: 5, steps: 120)
        let (audio, chunks) = try await withScheduler { scheduler in
            try await Self.collect(try scheduler.submit(SpeechRequest(id: "s", text: "streaming test", voice: nil, parameters: p)))
        }
        #expect(chunks >= 3)
        var options = SynthesisOptions()
        options.refine = nil
        options.code.minNewTokens = 120
        options.code.maxNewTokens = 120
        options.code.seed = 5
        let model = Self.engine.model
        let sequence = try model.codeSequences(["streaming test"], options: options)[0]
        model.generate([sequence])
        let oneShot = model.waveform(sequence)
        #expect(audio.count == oneShot.count)
        #expect((zip(audio, oneShot).map { abs($0 - $1) }.max() ?? 1) < 1e-5)
    }

    @Test("a cancelled job leaves the batch at the next step and its stream ends with an error")
    func cancellation() async throws {
        try await withScheduler { scheduler in
            let job = try scheduler.submit(SpeechRequest(id: "c", text: "long one", voice: nil, parameters: parameters(seed: 1, steps: 2000)))
            var iterator = job.audio.makeAsyncIterator()
            _ = try await iterator.next()            // it is running
            #expect(scheduler.stats.activeBatch == 1)
            job.cancel()
            await #expect(throws: SchedulerError.self) { while try await iterator.next() != nil {} }
            for _ in 0..<100 where scheduler.stats.activeBatch != 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(scheduler.stats.activeBatch == 0)
            #expect(scheduler.stats.cancelled == 1)
            #expect(job.steps < 2000)
        }
    }

    @Test("invalid parameters are refused with the field named")
    func validation() async throws {
        try await withScheduler { scheduler in
            var p = parameters(seed: 1, steps: 4)
            p.topP = 2
            do {
                _ = try scheduler.submit(SpeechRequest(id: "v", text: "x", voice: nil, parameters: p))
                Issue.record("accepted top_P = 2")
            } catch let error as SchedulerError {
                #expect(error.code == .invalidRequest && error.field == "top_P")
            }
            do {
                _ = try scheduler.submit(SpeechRequest(id: "w", text: "   ", voice: nil, parameters: parameters(seed: 1, steps: 4)))
                Issue.record("accepted empty text")
            } catch let error as SchedulerError {
                #expect(error.field == "input")
            }
            #expect(scheduler.stats.rejected == 2)
        }
    }

    @Test("a full queue refuses with retry-after instead of growing")
    func queueFull() async throws {
        var config = SchedulerConfig()
        config.maxBatch = 1
        config.maxQueue = 2
        try await withScheduler(config) { scheduler in
            var jobs: [SpeechJob] = []
            var refused = 0
            for i in 0..<6 {
                do {
                    jobs.append(try scheduler.submit(SpeechRequest(id: "q\(i)", text: "queued", voice: nil, parameters: parameters(seed: 1, steps: 30))))
                } catch let error as SchedulerError {
                    #expect(error.code == .queueFull && error.retryAfter != nil)
                    refused += 1
                }
            }
            #expect(refused >= 3)
            for job in jobs { _ = try await Self.collect(job) }
        }
    }

    @Test("draining refuses new work but finishes what was accepted")
    func draining() async throws {
        let scheduler = ChatTTSScheduler(engine: Self.engine)
        let running = Task { try await scheduler.run() }
        let jobs = try (0..<3).map { i in
            try scheduler.submit(SpeechRequest(id: "d\(i)", text: "drain \(i)", voice: nil, parameters: parameters(seed: 1, steps: 40)))
        }
        scheduler.beginDraining()
        #expect(throws: SchedulerError.self) {
            try scheduler.submit(SpeechRequest(id: "late", text: "too late", voice: nil, parameters: parameters(seed: 1, steps: 4)))
        }
        for job in jobs {
            let (audio, _) = try await Self.collect(job)
            #expect(audio.count == 40 * 512 - 256)
        }
        try await running.value
    }

    @Test("refinement runs as a first phase in the same batch and then speaks")
    func refinement() async throws {
        var p = parameters(seed: 2, steps: 16)
        p.refine = true
        p.refineMaxNewTokens = 6
        let (audio, _) = try await withScheduler { scheduler in
            try await Self.collect(try scheduler.submit(SpeechRequest(id: "r", text: "hello world", voice: nil, parameters: p)))
        }
        #expect(audio.count == 16 * 512 - 256)
    }

    @Test("voices resolve by name, seed and string, and unknown ones name the field")
    func voices() throws {
        let stats = SpeakerStatistics(std: [Float](repeating: 1, count: 32), mean: [Float](repeating: 0, count: 32))
        let voice = Voice(values: (0..<32).map { Float($0) / 10 })
        let library = VoiceLibrary(voices: ["alice": voice], statistics: stats)
        #expect(try library.resolve("alice") == voice)
        #expect(try library.resolve("seed:7") == Voice.random(seed: 7, statistics: stats))
        #expect(try library.resolve(try voice.string())?.values.count == 32)
        #expect(try library.resolve(nil) == nil)
        do {
            _ = try library.resolve("bob")
            Issue.record("resolved an unknown voice")
        } catch {
            #expect(error.field == "voice" && error.message.contains("alice"))
        }
        #expect(throws: SchedulerError.self) { try VoiceLibrary().resolve("seed:1") }
    }
}
