import ArgumentParser
import ChatTTS
import Foundation
import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// `chattts bench engine --compare-weight-memory`: is a decode step slower over weights in the shared read-only
/// cache file mapping (page cache: 4 KiB pages unless the file system gives large folios) than over the same bytes
/// in private huge pages?
///
/// Three models load from the same cache file in one process: one mapping it (`WeightCacheOptions.Memory.shared`),
/// one mapping it with 4 KiB entries only (`MADV_NOHUGEPAGE`: what a kernel without large folios in its page cache
/// gives), one copying it (`.private`); their steps alternate, in another order each round, so that the machine's
/// drifting bandwidth (CPU-NOTES: 20-30 % within minutes) falls on all alike; the per-round ratios are the figures.
extension BenchEngine {
    func compareWeightMemories() throws {
        guard let format = formatNames.first.flatMap(WeightFormat.init(rawValue:)) else {
            throw ValidationError("--compare-weight-memory: no weight format")
        }
        var options = try engine.engineOptions()
        options.format = format
        guard options.weightCache != nil else { throw ValidationError("--compare-weight-memory needs --cache-directory") }
        let folder = URL(fileURLWithPath: assets)
        // The first load may write the file; the two compared ones both read it.
        _ = try ChatTTSModel(folder: folder, options: options)
        let shared = try ChatTTSModel(folder: folder, options: options)
        // The same mapping with 4 KiB entries, as on a kernel or file system without large folios in the page cache:
        // this model's own mapping of the file, advised against huge pages and unmapped, so it faults back in small.
        let before = Self.mappings(of: shared.weightCache)
        let small = try ChatTTSModel(folder: folder, options: options)
        for range in Self.mappings(of: small.weightCache) where !before.contains(range) {
            let start = UnsafeMutableRawPointer(bitPattern: range.lowerBound)!
            _ = madvise(start, range.count, MADV_NOHUGEPAGE)
            _ = madvise(start, range.count, MADV_DONTNEED)
        }
        options.weightCache?.memory = .private
        let copied = try ChatTTSModel(folder: folder, options: options)
        print("# chattts bench engine --compare-weight-memory, \(Self.timestamp())")
        print("machine: \(Self.cpuName()), \(ProcessInfo.processInfo.activeProcessorCount) cores; kernels: "
              + "\(KernelISA.best.rawValue); threads: \(shared.options.threadCount); \(format); load: \(Self.loadAverage())")
        print("shared: \(shared.weightCache); private: a huge-page copy of the same file")
        print("this process: " + Self.hugePageSummary())
        let rounds = max(3, 2 * repeats)
        // No sequence may end (EOS) or run out of positions during the rounds.
        var params = InferCodeParams()
        params.minNewTokens = rounds * steps + 8
        params.maxNewTokens = rounds * steps + 8
        func sequences(_ model: ChatTTSModel, _ n: Int) throws -> [GenerationSequence] {
            try (0..<n).map { i in
                var p = params
                p.seed = UInt64(i + 1)
                return try model.promptSequence(text, stage: .speech(p, voice: nil), normalize: false)
            }
        }
        print(String(format: "%d rounds of %d steps per model and batch size, order swapped each round", rounds, steps))
        print(Self.pad("batch", 6) + ["shared", "shared 4K", "private", "shared/priv", "range", "4K/priv", "range"]
            .map { Self.pad($0, 12, left: true) }.joined())
        for b in batchList {
            let models = [shared, small, copied]
            let runs = try models.map { try sequences($0, b) }
            for (m, s) in zip(models, runs) { for _ in 0..<4 { m.step(s) } }   // prefill, page in, wake the pool
            var rates: [[Double]] = [[], [], []]
            for round in 0..<rounds {
                // Each round a different order, so no model always runs right after the same one.
                for k in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [0, 2, 1], [2, 0, 1], [1, 0, 2]][round % 6] {
                    let t0 = Self.now()
                    for _ in 0..<steps { models[k].step(runs[k]) }
                    rates[k].append(Double(b * steps) / (Self.now() - t0))
                }
            }
            let median = { (v: [Double]) in v.sorted()[v.count / 2] }
            let ratios = [0, 1].map { k in zip(rates[k], rates[2]).map { $0 / $1 }.sorted() }
            print(Self.pad("b=\(b)", 6)
                  + ([median(rates[0]), median(rates[1]), median(rates[2])].map { String(format: "%.1f", $0) }
                     + ratios.flatMap { [String(format: "%.3f", median($0)), String(format: "%.2f-%.2f", $0.first!, $0.last!)] })
                    .map { Self.pad($0, 12, left: true) }.joined())
        }
        print("steps/s over all sequences (median of the rounds); ratios per round against private (median, range)")
        print("this process after the rounds: " + Self.hugePageSummary())
    }

    /// This process's mappings of the cache file an outcome names, as address ranges (/proc/self/maps).
    static func mappings(of outcome: WeightCacheOutcome) -> Set<Range<Int>> {
        guard case .read(let path) = outcome,
              let data = try? FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/maps")).readToEnd() else {
            return []
        }
        var out: Set<Range<Int>> = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasSuffix(path) {
            let bounds = line.split(separator: " ")[0].split(separator: "-").compactMap { Int($0, radix: 16) }
            if bounds.count == 2 { out.insert(bounds[0]..<bounds[1]) }
        }
        return out
    }

    /// How much of this process's memory is file-backed with 2 MiB mappings, and anonymous in huge pages.
    static func hugePageSummary() -> String {
        // procfs files report size 0: read to the end rather than by the size.
        guard let data = try? FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/smaps")).readToEnd() else {
            return "no /proc/self/smaps"
        }
        let text = String(decoding: data, as: UTF8.self)
        var sums: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kb = Int(parts[1]) else { continue }
            let key = String(parts[0])
            if ["FilePmdMapped:", "AnonHugePages:", "Rss:"].contains(key) { sums[key, default: 0] += kb }
        }
        return ["Rss:", "FilePmdMapped:", "AnonHugePages:"]
            .map { "\($0.dropLast()) \((sums[$0] ?? 0) >> 10) MiB" }.joined(separator: ", ")
    }
}
