import ArgumentParser
import ChatTTS
import Foundation
import Tensors

/// `chattts bench engine`: the native engine's speed on this machine, beside the official implementation's.
///
/// For each weight format it runs a child process (so each reports its own peak memory) that loads the model,
/// runs fixed numbers of GPT steps at each batch size, and times the vocoder; the parent measures the machine's
/// memory bandwidth, prints the table, and runs `scripts/bench/reference_engine.py` on the same asset folder for
/// the ratios. Use a full-size model (make_fixtures.py --full-size) for numbers that mean anything.
struct BenchEngine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Measure GPT steps/s per weight format and batch, vocoder cost, RTF, memory, bandwidth use.")

    /// `--assets` (a full-size model for real numbers), `--threads`, `--kernels`; `--dtype` measures that one format.
    @OptionGroup var engine: EngineFlags

    @Option(help: "Weight formats to measure, comma-separated (f32, bf16, int8).")
    var dtypes: String = "f32,bf16,int8"

    @Option(help: "Batch sizes, comma-separated.")
    var batches: String = "1,4,8"

    @Option(help: "Timed decode steps per batch size (after the prefill step).")
    var steps: Int = 64

    @Option(help: "Prompt lengths of the prefill table, comma-separated (empty: no table).")
    var prefill: String = "100,1000,2000"

    @Option(name: .customLong("prefill-runs"), help: "Runs of each prefill length (the best is printed).")
    var prefillRuns: Int = 1


    @Option(name: .customLong("reference-python"),
            help: "Python with the official chattts package: also time the reference implementation.")
    var referencePython: String?

    @Option(name: .customLong("reference-script"), help: "The reference side of the benchmark.")
    var referenceScript: String = "scripts/bench/reference_engine.py"

    @Option(help: "Text each sequence speaks.")
    var text: String = "Hello, this is a speed test of the speech engine."

    @Option(help: "Runs of each format (medians are printed, with the range of batch 1).")
    var repeats: Int = 3

    @Option(name: .customLong("kernel-rounds"), help: "Rounds of the kernel table (medians are printed).")
    var kernelRounds: Int = 7

    @Flag(name: .customLong("no-kernels"), help: "Skip the kernel table (matrix products alone, each path).")
    var noKernels = false

    @Flag(name: .customLong("compare-weight-memory"),
          help: "With --cache-directory: decode steps over the shared file mapping against a private huge-page copy of the same file, alternating in one process (BenchWeightMemory.swift).")
    var compareWeightMemory = false

    @Flag(name: .customLong("vocoder-products"),
          help: "The vocoder's matrix products at a streamed chunk's row counts, OpenBLAS against the row kernel, one thread (BenchVocoderProducts.swift).")
    var vocoderProductsOnly = false

    @Option(help: .hidden)
    var child: String?

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be >= 1") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be >= 1") }
        guard kernelRounds >= 1 else { throw ValidationError("--kernel-rounds must be >= 1") }
        guard prefillRuns >= 1, prefillList.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--prefill must list lengths >= 1 and --prefill-runs be >= 1")
        }
        guard batchList.allSatisfy({ $0 >= 1 }), !batchList.isEmpty else {
            throw ValidationError("--batches must list sizes >= 1")
        }
        for d in formatNames where WeightFormat(rawValue: d) == nil {
            throw ValidationError("--dtypes: unknown format '\(d)' (f32, bf16, int8)")
        }
    }

    var batchList: [Int] { batches.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
    var prefillList: [Int] {
        prefill.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }
    var assets: String { engine.assetFolder }
    var threads: Int? { engine.threads }

    var formatNames: [String] {
        if let one = engine.dtype, one != "auto" { return [one] }
        return dtypes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func run() async throws {
        _ = try engine.engineOptions()  // selects --kernels, in the children too (they get the same flags)
        if compareWeightMemory { return try compareWeightMemories() }
        if vocoderProductsOnly { return try vocoderProducts() }
        if let child {
            let result = try measure(format: WeightFormat(rawValue: child)!)
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            FileHandle.standardOutput.write(data)
            return
        }
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        print("# chattts bench engine, \(Self.timestamp())")
        print("machine: \(Self.cpuName()), \(ProcessInfo.processInfo.activeProcessorCount) cores, "
              + "\(ProcessInfo.processInfo.physicalMemory >> 30) GiB; features: \(CPUFeatures.detected); "
              + "kernels: \(KernelISA.best.rawValue); threads: \(threadCount)")
        print("load before the run: \(Self.loadAverage())")
        print("model: \(assets); \(steps) timed steps per batch size after the prefill step")
        let small = try Self.measureBandwidth(threads: threadCount, hugePages: false)
        let huge = try Self.measureBandwidth(threads: threadCount, hugePages: true)
        let bandwidth = (one: max(small.one, huge.one), all: max(small.all, huge.all))
        print(String(format: "memory read bandwidth (measured now, 512 MiB sum): %.1f GB/s with 1 thread, "
                     + "%.1f GB/s with %d (4 KiB pages); %.1f and %.1f GB/s with huge pages; peak = the larger",
                     small.one, small.all, threadCount, huge.one, huge.all))
        print("")
        if !noKernels { try kernelTable(threads: threadCount) }
        var rows: [[String: Any]] = []
        var ranges: [String: (Double, Double)] = [:]
        for name in formatNames {
            var runs: [[String: Any]] = []
            for _ in 0..<repeats { runs.append(try runChild(format: name)) }
            let b1 = runs.map { ($0["batches"] as! [String: Double])["1"] ?? 0 }
            ranges[name] = (b1.min() ?? 0, b1.max() ?? 0)
            rows.append(Self.median(runs))
        }
        let bl = batchList
        print("GPT decode, steps/s over all sequences (batch b: b steps per forward pass); median of \(repeats) runs")
        print(Self.pad("dtype", 6) + bl.map { Self.pad("b=\($0)", 10, left: true) }.joined()
              + ["MB/step", "GB/s b=1", "of peak", "RTF b=1", "peak RSS"].map { Self.pad($0, 11, left: true) }.joined())
        for r in rows {
            let per = r["batches"] as! [String: Double]
            let mb = r["bytes_per_step"] as! Double / 1e6
            let b1 = per["1"] ?? 0
            let gbs = b1 * mb / 1e3
            print(Self.pad(r["dtype"] as! String, 6)
                  + bl.map { Self.pad(String(format: "%.1f", per[String($0)] ?? 0), 10, left: true) }.joined()
                  + [String(format: "%.0f", mb), String(format: "%.1f", gbs),
                     String(format: "%.0f%%", 100 * gbs / max(bandwidth.all, r["bandwidth_gbs"] as? Double ?? 0)),
                     String(format: "%.3f", r["rtf_batch1"] as? Double ?? 0),
                     String(format: "%.0f MB", r["peak_rss_mb"] as! Double)]
                    .map { Self.pad($0, 11, left: true) }.joined())
        }
        for r in rows {
            let name = r["dtype"] as! String
            if let (low, high) = ranges[name], repeats > 1 {
                print(String(format: "  %@ batch 1 over the %d runs: %.1f to %.1f steps/s", name as NSString, repeats,
                             low, high))
            }
        }
        for r in rows {
            guard let ratio = r["paired_b1_ratio"] as? Double else { continue }
            print(String(format: "  %@ batch 1 against the read bandwidth beside it: %.1f GB/s of weights, %.0f%% "
                         + "(\(Self.pairedWindows.count) windows of \(Self.pairedWindows.steps) steps, each over read "
                         + "passes right before and after it: median; "
                         + "windows %.0f-%.0f%%; medians over the runs)",
                         r["dtype"] as! NSString, r["paired_b1_gbs"] as? Double ?? 0, 100 * ratio,
                         100 * (r["paired_b1_low"] as? Double ?? 0), 100 * (r["paired_b1_high"] as? Double ?? 0)))
        }
        print("")
        Self.printPrefill(rows, lengths: prefillList)
        for r in rows {
            print(String(format: "%@: load %.2f s; vocoder (decoder + Vocos) %.3f s per second of audio "
                         + "(%.2f s of audio in %.3f s); decoder %.3f, Vocos %.3f s per second of audio; "
                         + "streamed in the server's exact chunks %.3f s per second of audio; "
                         + "read bandwidth right after its steps %.1f GB/s; %@",
                         r["dtype"] as! NSString, r["load_s"] as! Double, r["vocoder_s_per_audio_s"] as! Double,
                         r["vocoder_audio_s"] as! Double, r["vocoder_s"] as! Double,
                         r["decoder_s_per_audio_s"] as! Double, r["vocos_s_per_audio_s"] as! Double,
                         r["streamed_vocoder_s_per_audio_s"] as? Double ?? 0,
                         r["bandwidth_gbs"] as? Double ?? 0, (r["weight_cache"] as? String ?? "") as NSString))
        }
        defer { print("load after the run: \(Self.loadAverage())") }
        guard let referencePython else { return }
        print("")
        print("reference: official chattts (\(referenceScript)), same weights, same steps, \(threadCount) threads")
        let reference = try runReference(python: referencePython, threads: threadCount)
        let refBatches = reference["batches"] as? [String: [String: Double]] ?? [:]
        let refVocoder = (reference["vocoder"] as? [String: Double])?["s_per_audio_s"] ?? 0
        print(String(format: "reference (torch %@): %@; vocoder %.3f s per second of audio; RTF b=1 %.3f",
                     (reference["torch"] as? String ?? "?") as NSString,
                     bl.map { String(format: "b=%d %.1f steps/s", $0, refBatches[String($0)]?["steps_per_s"] ?? 0) }
                        .joined(separator: ", ") as NSString,
                     refVocoder, reference["rtf_batch1"] as? Double ?? 0))
        print("speed-up over the reference (steps/s ratio; vocoder: time ratio):")
        for r in rows {
            let per = r["batches"] as! [String: Double]
            let ratios = bl.map { b -> String in
                let ref = refBatches[String(b)]?["steps_per_s"] ?? 0
                return String(format: "b=%d %.1fx", b, ref > 0 ? (per[String(b)] ?? 0) / ref : 0)
            }
            let voc = r["vocoder_s_per_audio_s"] as! Double
            print(String(format: "  %-5@ %@, vocoder %.1fx", r["dtype"] as! NSString,
                         ratios.joined(separator: ", ") as NSString, voc > 0 ? refVocoder / voc : 0))
        }
    }

    // MARK: - One format, in a child process

    func measure(format: WeightFormat) throws -> [String: Any] {
        let started = Date()
        // The shared engine flags (--cache-directory included), this child's format.
        var options = try engine.engineOptions()
        options.format = format
        let model = try ChatTTSModel(folder: URL(fileURLWithPath: assets), options: options)
        let loadSeconds = Date().timeIntervalSince(started)
        var params = InferCodeParams()
        params.minNewTokens = steps + 1
        params.maxNewTokens = steps + 1
        func sequences(_ n: Int) throws -> [GenerationSequence] {
            try (0..<n).map { i in
                var p = params
                p.seed = UInt64(i + 1)
                return try model.promptSequence(text, stage: .speech(p, voice: nil), normalize: false)
            }
        }
        // Warm-up: pages in everything a step touches and starts the worker threads.
        let warm = try sequences(1)
        for _ in 0..<4 { model.step(warm) }
        var perBatch: [String: Double] = [:]
        var first: GenerationSequence?
        for b in batchList {
            let seqs = try sequences(b)
            model.step(seqs)                                  // prefill + first step, not timed
            let t0 = Self.now()
            for _ in 0..<steps { model.step(seqs) }
            let seconds = Self.now() - t0
            perBatch[String(b)] = Double(b * steps) / seconds
            if first == nil { first = seqs[0] }
        }
        // Vocoder: the hidden states of one sequence, best of 3.
        var best = Double.infinity, decoderBest = Double.infinity, vocosBest = Double.infinity
        var samples = 0
        let seq = first!
        for _ in 0..<3 {
            let t0 = Self.now()
            let mel = model.decoder(seq.hiddenStates())
            let t1 = Self.now()
            samples = model.vocos(mel).count
            let t2 = Self.now()
            best = min(best, t2 - t0)
            decoderBest = min(decoderBest, t1 - t0)
            vocosBest = min(vocosBest, t2 - t1)
        }
        // The same sequence streamed (exact), in chunks on the server's schedule (`ChatTTSEngine.vocode`): the first
        // at `stepsToFirstAudio`, then every 8 steps for 24 steps, then every 24, then the end; best of 3.
        var streamedBest = Double.infinity
        for _ in 0..<3 {
            let vocoder = StreamingVocoder(model: model, mode: .exact)
            let t0 = Self.now()
            var at = vocoder.stepsToFirstAudio
            let firstChunk = at
            while at < seq.steps {
                _ = vocoder.advance(seq, final: false, steps: at)
                at += at - firstChunk < 24 ? 8 : 24
            }
            _ = vocoder.advance(seq, final: true)
            streamedBest = min(streamedBest, Self.now() - t0)
        }
        let audio = Double(samples) / Double(model.sampleRate)
        let b1 = perBatch["1"] ?? 0
        let headBytes = model.embed.headCodePacked.bytes
        var result: [String: Any] = [
            "dtype": format.rawValue,
            "load_s": loadSeconds,
            "weight_cache": model.weightCache.description,
            "batches": perBatch,
            "bytes_per_step": Double(model.gpt.weightBytes + headBytes),
            "vocoder_s": best,
            "vocoder_audio_s": audio,
            "vocoder_s_per_audio_s": best / audio,
            "decoder_s_per_audio_s": decoderBest / audio,
            "vocos_s_per_audio_s": vocosBest / audio,
            "streamed_vocoder_s_per_audio_s": streamedBest / audio,
            "rtf_batch1": b1 > 0 ? 46.875 / b1 + best / audio : 0,
            "peak_rss_mb": Self.peakRSS() / 1e6,
            // The VM's bandwidth drifts by tens of percent within minutes: measured again right after this format's
            // steps (after its peak RSS was read), the row's "of peak" uses the larger of this and the parent's.
            "bandwidth_gbs": try Self.measureBandwidth(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
                                                       hugePages: true).all,
        ]
        // Batch 1 against the bandwidth beside it: windows of decode steps (`pairedWindows`), each rated against read passes right
        // before and after it (after the peak RSS: the probe's buffer is not the engine's memory).
        if batchList.contains(1) {
            let probe = try ReadProbe(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, hugePages: true)
            var long = params
            let (count, length) = Self.pairedWindows
            long.minNewTokens = count * length + 2
            long.maxNewTokens = count * length + 2
            let seqs = [try model.promptSequence(text, stage: .speech(long, voice: nil), normalize: false)]
            model.step(seqs)
            let bytes = Double(model.gpt.weightBytes + headBytes)
            var ratios: [Double] = [], rates: [Double] = []
            for _ in 0..<count {
                let (gbs, ratio) = probe.rate {
                    let t0 = Self.now()
                    for _ in 0..<length { model.step(seqs) }
                    return Double(length) * bytes / (Self.now() - t0) / 1e9
                }
                rates.append(gbs)
                ratios.append(ratio)
            }
            result["paired_b1_gbs"] = Self.median(of: rates)
            result["paired_b1_ratio"] = Self.median(of: ratios)
            result["paired_b1_low"] = ratios.min() ?? 0
            result["paired_b1_high"] = ratios.max() ?? 0
        }
        // After the peak RSS: a long prompt's cache is not part of the decode figures.
        result.merge(try measurePrefill(model)) { $1 }
        return result
    }

    func runChild(format: String) throws -> [String: Any] {
        var arguments = Array(CommandLine.arguments.dropFirst())
        arguments += ["--child", format]
        let output = try Self.runProcess(CommandLine.arguments[0], arguments, environment: nil)
        guard let object = try JSONSerialization.jsonObject(with: output) as? [String: Any] else {
            throw ValidationError("benchmark child for \(format) printed no result")
        }
        return object
    }

    func runReference(python: String, threads: Int) throws -> [String: Any] {
        var environment = ProcessInfo.processInfo.environment
        // Machine-wide OpenBLAS settings meant for old builds; the reference runs as PyTorch ships (CPU-NOTES).
        environment["OPENBLAS_CORETYPE"] = nil
        environment["OPENBLAS_L2_SIZE"] = nil
        let output = try Self.runProcess(python, [referenceScript, "--assets", assets, "--threads", String(threads),
                                                  "--batches", batches, "--steps", String(steps), "--text", text],
                                         environment: environment)
        let line = String(decoding: output, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw ValidationError("the reference script printed no result")
        }
        return object
    }

    // MARK: - Kernels alone

    /// Matrix products alone, from memory (a GPT layer's shapes repeated past 256 MB), on every path this CPU has:
    /// the Swift panel kernels per format and instruction set, and the C kernels (bf16 with AVX2 and AVX-512 BF16,
    /// int8 with AVX2, AVX-VNNI and AVX-512 VNNI), each in the layout it reads. GB/s of weights read and that over the
    /// read bandwidth (huge pages, like the weights) of passes right before and after each product pass
    /// (`ReadProbe.rate`); medians of `--kernel-rounds` rounds over all paths.
    func kernelTable(threads: Int) throws {
        let pool = WorkerPool(threads: threads)
        let shapes = [(2304, 768), (768, 768), (6144, 768), (768, 3072)]
        var paths: [(String, WeightFormat, PackedMatrix.Layout, KernelISA, PackedKernel)] = []
        let cpu = CPUFeatures.detected
        for format in WeightFormat.allCases {
            // avx2-vnni runs the Swift kernels of avx2.
            for isa in KernelISA.available where isa != .baseline && isa.swiftCopy == isa {
                paths.append(("\(format) swift \(isa)", format, .panels, isa, .swift))
            }
            for kernel in PackedKernel.allCases where kernel != .swift && kernel != .reference {
                let layout: PackedMatrix.Layout = switch kernel {
                case .avx2Int8: .quads
                case .avxVNNIInt8, .avx512VNNIInt8: .vnni
                default: .panels
                }
                let needs: CPUFeatures = switch kernel {
                case .avx512BF16: [.avx512, .avx512BF16]
                case .avxVNNIInt8: [.avx2FMA, .avxVNNI]
                case .avx512VNNIInt8: [.avx512, .avx512VNNI]
                default: .avx2FMA
                }
                let kernelFormat: WeightFormat = layout.byQuads ? .int8 : .bf16
                if kernelFormat == format && cpu.contains(needs) {
                    paths.append(("\(format) C \(kernel.rawValue.split(separator: " ").last!)", format, layout,
                                  KernelISA.fastest, kernel))
                }
            }
        }
        print("matrix products alone, weights from memory, GB/s of weights read (\(threads) threads), and that over "
              + "the read bandwidth of passes right before and after it; medians of \(kernelRounds) rounds, and the "
              + "range of the b=1 ratio:")
        print(Self.pad("path", 24) + [1, 8].map { Self.pad("b=\($0)", 10, left: true) + Self.pad("", 7) }.joined()
              + Self.pad("read GB/s", 12, left: true) + Self.pad("b=1 range", 13, left: true))
        var rng = SeededRNG(seed: 3)
        let sources = shapes.map { (r, c) in (0..<(r * c)).map { _ in rng.gaussian() * 0.02 } }
        let x = (0..<(8 * 6144)).map { _ in rng.gaussian() }
        var y = [Float](repeating: 0, count: 8 * 6144)
        var matrices: [[PackedMatrix]] = []
        for (_, format, layout, _, _) in paths {
            var mats: [PackedMatrix] = []
            var total = 0
            while total < 256 << 20 {
                for ((r, c), src) in zip(shapes, sources) {
                    let m = try src.withUnsafeBufferPointer { b in
                        try PackedMatrix(rows: r, cols: c, format: format, layout: layout) { b.baseAddress! + $0 * c }
                    }
                    mats.append(m)
                    total += m.bytes
                }
            }
            matrices.append(mats)
        }
        // Rounds over every path in turn; in each, every product pass is rated against read passes right before
        // and right after it (`ReadProbe.rate`). The medians over rounds are printed: a burst of other work, or of
        // the host's bandwidth, then moves one pair, not the row.
        let probe = try ReadProbe(threads: threads, hugePages: true)
        var gbs = [[[Double]]](repeating: [[], []], count: paths.count)
        var ratios = [[[Double]]](repeating: [[], []], count: paths.count)
        var read = [[Double]](repeating: [], count: paths.count)
        for _ in 0..<kernelRounds {
            for (i, (_, _, _, isa, kernel)) in paths.enumerated() {
                let bytes = matrices[i].reduce(0) { $0 + $1.bytes }
                for (j, batch) in [1, 8].enumerated() {
                    let (rate, ratio) = probe.rate {
                        let t0 = Self.now()
                        for m in matrices[i] {
                            Kernels.packedProduct(m, x: x, batch: batch, y: &y, pool: pool, isa: isa, kernel: kernel)
                        }
                        return Double(bytes) / (Self.now() - t0) / 1e9
                    }
                    gbs[i][j].append(rate)
                    ratios[i][j].append(ratio)
                    if j == 0 { read[i].append(rate / ratio) }
                }
            }
        }
        for (i, path) in paths.enumerated() {
            var line = Self.pad(path.0, 24)
            for j in 0..<2 {
                line += Self.pad(String(format: "%.1f", Self.median(of: gbs[i][j])), 10, left: true)
                    + Self.pad(String(format: "%.0f%%", 100 * Self.median(of: ratios[i][j])), 7, left: true)
            }
            let r = ratios[i][0]
            print(line + Self.pad(String(format: "%.1f", Self.median(of: read[i])), 12, left: true)
                  + Self.pad(String(format: "%.0f-%.0f%%", 100 * (r.min() ?? 0), 100 * (r.max() ?? 0)), 13, left: true))
        }
        print("")
    }

    // MARK: - Helpers

    static func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return left ? fill + s : s + fill
    }

    /// Batch 1 against the bandwidth beside it: this many windows of this many decode steps, each rated alone.
    static let pairedWindows = (count: 7, steps: 16)

    /// The middle value (the upper one of an even count; 0 for none): of rounds, windows and runs alike.
    static func median(of values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    /// Per key, the median over runs (numbers, and per-batch dictionaries of numbers); other values from the first.
    static func median(_ runs: [[String: Any]]) -> [String: Any] {
        var out = runs[0]
        for (key, value) in runs[0] {
            if value is Double || value is NSNumber, !(value is String) {
                out[key] = median(of: runs.compactMap { ($0[key] as? NSNumber)?.doubleValue })
            } else if let per = value as? [String: Double] {
                var m: [String: Double] = [:]
                for k in per.keys { m[k] = median(of: runs.compactMap { ($0[key] as? [String: Double])?[k] }) }
                out[key] = m
            }
        }
        return out
    }

    static func runProcess(_ path: String, _ arguments: [String], environment: [String: String]?) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let command = ([path] + arguments).joined(separator: " ")
            throw ValidationError("\(command) exited with \(process.terminationStatus)")
        }
        return data
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Read bandwidth: best of 5 passes of a fresh `ReadProbe` on 1 thread and on the pool.
    static func measureBandwidth(threads: Int, hugePages: Bool) throws -> (one: Double, all: Double) {
        try ReadProbe(threads: threads, hugePages: hugePages).best()
    }

    static func peakRSS() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }

    static func cpuName() -> String {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        }
        return "unknown CPU"
    }

    static func loadAverage() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?
            .split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
    }

    static func timestamp() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss Z"
        return f.string(from: Date())
    }
}
