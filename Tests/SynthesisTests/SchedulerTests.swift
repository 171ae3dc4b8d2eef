import Foundation
import Testing
@testable import ChatTTS
@testable import Synthesis
import SynthesisTesting

/// The scheduler with the committed tiny model (Tests/Fixtures/tiny): real engine, real batching.
@Suite("Continuous batching scheduler")
struct SchedulerTests {
    static let assets = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tiny/asset")
    static let engine = try! ChatTTSEngine(assets: assets, chunkSteps: 8)

    func parameters(seed: UInt64, steps: Int, _ more: [String: KnobValue] = [:]) throws -> KnobValues {
        let given: [String: KnobValue] = ["refine": .boolean(false), "seed": .unsigned(seed), "min_new_token": .integer(steps),
                                          "max_new_token": .integer(steps)]
        return try Self.engine.knobs.resolve(given.merging(more) { $1 })
    }

    func request(_ id: String, _ text: String, _ knobs: KnobValues) -> SpeechRequest {
        SpeechRequest(id: id, text: text, voice: nil, knobs: knobs)
    }

    /// Runs `body` with a running scheduler, then drains it and waits for `run()` to return.
    /// Suites run in parallel on two cores: a queue wait that a loaded machine cannot break.
    static var patient: SchedulerConfig {
        var config = SchedulerConfig()
        config.requestTimeout = .seconds(600)
        config.drainTimeout = .seconds(600)
        return config
    }

    func withScheduler<T: Sendable>(_ config: SchedulerConfig = SchedulerTests.patient,
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
                let job = try scheduler.submit(request("a\(i)", text, try parameters(seed: UInt64(i), steps: 20)))
                out.append(try await Self.collect(job).audio)
            }
            let stats = scheduler.stats
            #expect(stats.steps >= 16 * 20)
            return out
        }
        var config = SchedulerTests.patient
        config.maxBatch = 16
        let (together, steps): ([[Float]], Int) = try await withScheduler(config) { scheduler in
            let jobs = try texts.enumerated().map { i, text in
                try scheduler.submit(request("b\(i)", text, try parameters(seed: UInt64(i), steps: 20)))
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
        let p = try parameters(seed: 5, steps: 120)
        let (audio, chunks) = try await withScheduler { scheduler in
            try await Self.collect(try scheduler.submit(request("s", "streaming test", p)))
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

    @Test("exact streaming's first chunk leaves at the look-ahead's step, fast streaming's within 10 steps")
    func firstAudioByMode() async throws {
        let exactSteps = StreamingVocoder(model: Self.engine.model).stepsToFirstAudio
        for (mode, bound) in [("exact", exactSteps), ("fast", 10)] {
            let p = try parameters(seed: 5, steps: 120, ["stream_mode": .text(mode)])
            let (audio, firstSteps, chunks): ([Float], Int, Int) = try await withScheduler { scheduler in
                let job = try scheduler.submit(request("m", "streaming test", p))
                let (audio, chunks) = try await Self.collect(job)
                return (audio, job.stepsToFirstAudio ?? -1, chunks)
            }
            #expect(firstSteps >= 1 && firstSteps <= bound, "\(mode): first audio after \(firstSteps) steps")
            #expect(chunks >= 6, "\(mode): \(chunks) chunks")
            #expect(audio.count == (2 * 120 - 1) * 256, "\(mode): \(audio.count) samples")
        }
        #expect { try parameters(seed: 1, steps: 4, ["stream_mode": .text("slow")]) } throws: { error in
            let e = error as! SynthesisError
            return e.field == "stream_mode" && e.message == "must be one of exact, fast, got 'slow'"
        }
    }

    @Test("a cancelled job leaves the batch at the next step and its stream ends with an error")
    func cancellation() async throws {
        try await withScheduler { scheduler in
            let job = try scheduler.submit(request("c", "long one", try parameters(seed: 1, steps: 2000)))
            var iterator = job.audio.makeAsyncIterator()
            _ = try await iterator.next()            // it is running
            #expect(scheduler.stats.activeBatch == 1)
            job.cancel()
            await #expect(throws: SynthesisError.self) { while try await iterator.next() != nil {} }
            for _ in 0..<100 where scheduler.stats.activeBatch != 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(scheduler.stats.activeBatch == 0)
            #expect(scheduler.stats.cancelled == 1)
            #expect(job.steps < 2000)
        }
    }

    @Test("invalid knobs are refused by the table with the field named, and an empty text by the engine")
    func validation() async throws {
        #expect { try parameters(seed: 1, steps: 4, ["top_P": .number(2)]) } throws: { error in
            let e = error as! SynthesisError
            return e.code == .invalidRequest && e.field == "top_P" && e.message == "must be in (0, 1], got 2"
        }
        #expect { try parameters(seed: 1, steps: 4, ["min_new_token": .integer(9)]) } throws: { error in
            (error as! SynthesisError).message == "must be at most max_new_token = 4, got 9"
        }
        #expect { try Self.engine.knobs.resolve(["temprature": .number(1)]) } throws: { error in
            (error as! SynthesisError).field == "temprature"
        }
        try await withScheduler { scheduler in
            do {
                _ = try scheduler.submit(request("w", "   ", try parameters(seed: 1, steps: 4)))
                Issue.record("accepted empty text")
            } catch let error as SynthesisError {
                #expect(error.field == SpeechRequest.textField && error.detail == "empty_text")
            }
            #expect(scheduler.stats.rejected == ["invalid_request": 1])
        }
    }

    @Test("a full queue refuses with retry-after instead of growing")
    func queueFull() async throws {
        var config = SchedulerTests.patient
        config.maxBatch = 1
        config.maxQueue = 2
        config.requestTimeout = .seconds(600)  // the test is about the queue bound, not its wait: a loaded machine is slow
        try await withScheduler(config) { scheduler in
            var jobs: [SpeechJob] = []
            var refused = 0
            for i in 0..<6 {
                do {
                    jobs.append(try scheduler.submit(request("q\(i)", "queued", try parameters(seed: 1, steps: 30))))
                } catch let error as SynthesisError {
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
        let scheduler = ChatTTSScheduler(engine: Self.engine, config: Self.patient)
        let running = Task { try await scheduler.run() }
        let jobs = try (0..<3).map { i in
            try scheduler.submit(request("d\(i)", "drain \(i)", try parameters(seed: 1, steps: 40)))
        }
        scheduler.beginDraining()
        #expect(throws: SynthesisError.self) {
            try scheduler.submit(request("late", "too late", try parameters(seed: 1, steps: 4)))
        }
        for job in jobs {
            let (audio, _) = try await Self.collect(job)
            #expect(audio.count == 40 * 512 - 256)
        }
        try await running.value
    }

    @Test("refinement runs as a first phase in the same batch and then speaks")
    func refinement() async throws {
        let p = try parameters(seed: 2, steps: 16, ["refine": .boolean(true), "refine_max_new_token": .integer(6)])
        let (audio, _) = try await withScheduler { scheduler in
            try await Self.collect(try scheduler.submit(request("r", "hello world", p)))
        }
        #expect(audio.count == 16 * 512 - 256)
    }

    @Test("a request whose refined text no longer fits the model's positions fails with the reason, not empty audio")
    func refinedTextTooLong() async throws {
        // The refinement fits (text + 4 tokens); the speech prompt after it plus 4096 steps cannot. Before the
        // engine could fail one sequence, this job ended "completed" with no audio (a 200 with an empty body).
        let p = try parameters(seed: 3, steps: 4096, ["refine": .boolean(true), "refine_max_new_token": .integer(4),
                                                      "min_new_token": .integer(0)])
        try await withScheduler { scheduler in
            let job = try scheduler.submit(request("long", "hello world", p))
            do {
                let (audio, _) = try await Self.collect(job)
                Issue.record("completed with \(audio.count) samples")
            } catch let error as SynthesisError {
                #expect(error.code == .invalidRequest && error.field == SpeechRequest.textField)
                #expect(error.message.contains("after refinement") && error.message.contains("4096 positions"))
            }
            #expect(scheduler.stats.failed == ["invalid_request": 1] && scheduler.stats.completed == 0)
        }
    }

    @Test("voices resolve by name, OpenAI name, seed and string; unknown ones name the field")
    func voices() throws {
        // Seed voices are mean + std * N(0, 1): with std 0 a seed voice is the mean itself, whatever the draw.
        let mean = (0..<32).map { Float($0) / 8 }
        let fixed = SpeakerStatistics(std: [Float](repeating: 0, count: 32), mean: mean)
        #expect(try VoiceLibrary(statistics: fixed).resolve("seed:7").speaker?.values == mean)
        #expect(try VoiceLibrary(statistics: fixed).resolve("alloy").speaker?.values == mean)
        let unit = SpeakerStatistics(std: [Float](repeating: 1, count: 32), mean: [Float](repeating: 0, count: 32))
        let voice = Voice(values: mean)
        let library = VoiceLibrary(voices: ["alice": VoiceChoice(speaker: voice)], statistics: unit)
        #expect(try library.resolve("alice").speaker == voice)
        let seven = try #require(try library.resolve("seed:7").speaker)
        #expect(try library.resolve("seed:7").speaker == seven && (try library.resolve("seed:8").speaker) != seven)
        #expect(try library.resolve("alloy") == library.resolve("seed:1001"))
        #expect(try library.resolve("seed:\(UInt64.max)").speaker?.values.count == 32)
        #expect(try library.resolve(try voice.string()).speaker?.values.count == 32)
        #expect(try library.resolve(nil) == VoiceChoice())
        do {
            _ = try library.resolve("bob")
            Issue.record("resolved an unknown voice")
        } catch {
            #expect(error.field == "voice" && error.message.contains("alice"))
        }
        #expect(throws: SynthesisError.self) { try library.resolve("seed:-1") }
        #expect(throws: SynthesisError.self) { try library.resolve("seed:18446744073709551616") }
    }

    @Test("without speaker statistics, seed:N and the OpenAI names are a 400 that names spk_stat.pt and the setting")
    func seedVoicesNeedStatistics() throws {
        let listing = VoiceLibrary().listing
        #expect(listing.isEmpty, "OpenAI names listed without statistics: \(listing)")
        for spec in ["seed:1", "alloy", "cedar"] {
            do {
                let choice = try VoiceLibrary().resolve(spec)
                Issue.record("\(spec) resolved to \(choice) without statistics")
            } catch {
                #expect(error.code == .invalidRequest && error.field == SpeechRequest.voiceField)
                #expect(error.detail == "invalid_voice")
                #expect(error.message.contains("'\(spec)'") && error.message.contains("spk_stat.pt")
                        && error.message.contains("speakerStatistics"), "\(error.message)")
            }
        }
    }
}

/// The scheduler's own behaviour, with an engine that fails on demand (no model).
@Suite("Scheduler with a fake engine")
struct FakeEngineSchedulerTests {
    let engine = FakeEngine()

    func request(_ id: String, _ knobs: [String: KnobValue]) throws -> SpeechRequest {
        SpeechRequest(id: id, text: "text", voice: nil, knobs: try engine.knobs.resolve(knobs))
    }

    func run<T: Sendable>(_ config: SchedulerConfig = SchedulerTests.patient, _ body: (Scheduler<FakeEngine>) async throws -> T)
        async throws -> T {
        let scheduler = Scheduler(engine: engine, config: config)
        let running = Task { try await scheduler.run() }
        let result = try await body(scheduler)
        scheduler.beginDraining()
        try await running.value
        return result
    }

    @Test("a sequence the engine fails ends its job with the engine's reason; the others in its batch finish")
    func failureReachesTheJob() async throws {
        try await run { scheduler in
            let failing = try scheduler.submit(try request("f", ["steps": .integer(20), "fail_at": .integer(5),
                                                                 "fail_code": .text("invalid_request")]))
            let fine = try scheduler.submit(try request("ok", ["steps": .integer(20)]))
            var delivered = 0
            do {
                for try await chunk in failing.audio { delivered += chunk.count }
                Issue.record("the failing job ended normally")
            } catch let error as SynthesisError {
                #expect(error.code == .invalidRequest && error.field == SpeechRequest.textField)
                #expect(error.detail == "text_too_long")
            }
            #expect(delivered == 5 * engine.samplesPerStep)
            let audio = try await SchedulerTests.collect(fine).audio
            #expect(audio.count == 20 * engine.samplesPerStep && audio.last == 0.02)
            #expect(scheduler.stats.failed == ["invalid_request": 1] && scheduler.stats.completed == 1)
        }
    }

    @Test("first audio first: a newcomer steps alone while the running request is far enough ahead of its playback")
    func firstAudioFirst() async throws {
        for lead in [Duration.milliseconds(200), nil] {
            let engine = FakeEngine()
            var config = SchedulerTests.patient
            config.firstAudioLead = lead
            let scheduler = Scheduler(engine: engine, config: config)
            let running = Task { try await scheduler.run() }
            // 100 samples (4.2 ms of audio) per step of at least 1 ms: ahead of real time by about 3 ms a step.
            let old = try scheduler.submit(try request("old", ["steps": .integer(5000), "step_delay_ms": .integer(1)]))
            while (old.lead(at: .now, sampleRate: engine.sampleRate) ?? 0) < 0.4 {
                try await Task.sleep(for: .milliseconds(10))
            }
            // The newcomer's audio comes after 20 steps (the vocoder's look-ahead, as it were).
            let new = try scheduler.submit(try request("new", ["steps": .integer(30), "silent_steps": .integer(20)]))
            #expect(try await SchedulerTests.collect(new).audio.count == 30 * engine.samplesPerStep)
            old.cancel()
            scheduler.beginDraining()
            try await running.value
            let withNew = engine.stepLog.filter { $0.contains("new") }
            #expect(withNew.count == 30)
            let (silent, after) = (withNew.prefix(20), withNew.dropFirst(20))
            if lead != nil {
                #expect(silent.allSatisfy { $0 == ["new"] }, "\(silent)")
                #expect(after.allSatisfy { $0.contains("old") }, "the old request resumes once the newcomer has audio")
                #expect(scheduler.stats.firstAudioSteps == 20)
            } else {
                #expect(silent.allSatisfy { $0.contains("old") }, "\(silent)")
                #expect(scheduler.stats.firstAudioSteps == 0)
            }
        }
    }

    @Test("first audio first waits while a running request is less far ahead than the lead")
    func firstAudioFirstKeepsTheLead() async throws {
        var config = SchedulerTests.patient
        config.firstAudioLead = .seconds(100)
        let engine = FakeEngine()
        let scheduler = Scheduler(engine: engine, config: config)
        let running = Task { try await scheduler.run() }
        let old = try scheduler.submit(try request("old", ["steps": .integer(5000), "step_delay_ms": .integer(1)]))
        while !old.hasAudio { try await Task.sleep(for: .milliseconds(5)) }
        let new = try scheduler.submit(try request("new", ["steps": .integer(30), "silent_steps": .integer(20)]))
        _ = try await SchedulerTests.collect(new)
        old.cancel()
        scheduler.beginDraining()
        try await running.value
        #expect(engine.stepLog.filter { $0.contains("new") }.allSatisfy { $0.contains("old") })
        #expect(scheduler.stats.firstAudioSteps == 0)
    }

    @Test("requests whose memory does not fit wait for it; one that could never fit is refused")
    func memoryBudget() async throws {
        // Both requests are queued before the scheduler runs, so its first admission sees them together: with room
        // for both they share every step, without it the second waits although batch slots are free.
        for (budget, expected) in [(120, 2), (100, 1)] {
            var config = SchedulerTests.patient
            config.memoryBudget = budget
            let engine = FakeEngine()
            let scheduler = Scheduler(engine: engine, config: config)
            #expect { try scheduler.submit(try request("huge", ["memory": .integer(budget + 1)])) } throws: { error in
                let e = error as! SynthesisError
                return e.code == .invalidRequest && e.detail == "request_too_large" && e.message.contains("memoryBudget")
            }
            let jobs = try (0..<2).map { try scheduler.submit(try request("m\($0)", ["memory": .integer(60), "steps": .integer(5)])) }
            let running = Task { try await scheduler.run() }
            for job in jobs { #expect(try await SchedulerTests.collect(job).audio.count == 5 * engine.samplesPerStep) }
            #expect(engine.largestBatch == expected, "budget \(budget)")
            #expect(scheduler.stats.rejected == ["invalid_request": 1])
            scheduler.beginDraining()
            try await running.value
        }
    }
}

@Suite("Wait estimate")
struct WaitEstimateTests {
    typealias State = Scheduler<FakeEngine>.State

    @Test("a full batch frees its first slot when its shortest run ends, not after the average remaining work")
    func firstSlotFreesAtTheShortestRun() {
        var s = State()
        s.stats.activeBatch = 4
        s.stats.remainingSteps = [10, 20, 30, 40]
        s.stats.runningRemaining = 100
        s.stats.meanSteps = 100
        s.stats.meanStepsToFirstAudio = 5
        s.stepSeconds[4] = 0.1
        // The next request takes the slot of the run with 10 steps left, then needs 5 steps to its first audio.
        // (The average-work estimate said (100 / 4 + 5) * 0.1 = 3.0 s and shed requests it could have served.)
        #expect(abs(Scheduler<FakeEngine>.estimatedWait(s, maxBatch: 4) - 1.5) < 1e-9)
        // A free slot: only the steps to the first audio.
        s.stats.activeBatch = 3
        s.stats.remainingSteps = [10, 20, 30]
        #expect(abs(Scheduler<FakeEngine>.estimatedWait(s, maxBatch: 4) - 0.5) < 1e-9)
        // Nothing measured yet: no estimate.
        #expect(Scheduler<FakeEngine>.estimatedWait(State(), maxBatch: 4) == 0)
    }
}
