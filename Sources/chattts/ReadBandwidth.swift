import Foundation
import Tensors

/// Memory read bandwidth, measured beside what it rates. This VM's bandwidth moves by tens of percent within a
/// minute (15 to 67 GB/s in one benchmark), so a kernel or a decode step is rated against passes of this probe
/// taken right before and right after it, pair by pair, and the benchmark prints the median of those ratios (`BenchEngine.median(of:)`).
///
/// A pass sums a 512 MiB buffer of floats (far beyond any cache) on the pool's threads, 8 chunks per thread; the
/// buffer is filled once, in huge pages when asked (`HugePageRegion`, as the engine keeps its weights).
final class ReadProbe {
    let count = 128 << 20
    let threads: Int
    private let region: HugePageRegion?
    private let buffer: UnsafeMutablePointer<Float>
    private let pool: WorkerPool

    init(threads: Int, hugePages: Bool) throws {
        self.threads = threads
        region = hugePages ? try HugePageRegion(byteCount: count * 4) : nil
        buffer = region?.base.bindMemory(to: Float.self, capacity: count)
            ?? UnsafeMutablePointer<Float>.allocate(capacity: count)
        for i in 0..<count { buffer[i] = Float(i & 7) }
        pool = WorkerPool(threads: threads)
    }

    deinit { if region == nil { buffer.deallocate() } }

    /// GB/s of one pass on `threads` threads (1: this thread alone).
    func pass(threads t: Int? = nil) -> Double {
        let t = t ?? threads
        let chunks = t * 8
        let per = count / chunks
        let shared = SendablePointer(pointer: buffer)
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: chunks)
        defer { sums.deallocate() }
        let out = SendablePointer(pointer: sums)
        let body: (Int) -> Void = { c in out.pointer[c] = sumFloats(shared.pointer + c * per, per) }
        let start = BenchEngine.now()
        if t == 1 { for c in 0..<chunks { body(c) } } else { pool.run(tasks: chunks, body) }
        let seconds = BenchEngine.now() - start
        var total: Float = 0
        for c in 0..<chunks { total += sums[c] }
        precondition(total > 0)
        return Double(count * 4) / seconds / 1e9
    }

    /// Best of `passes` on one thread and on all.
    func best(passes: Int = 5) -> (one: Double, all: Double) {
        var one = 0.0, all = 0.0
        for _ in 0..<passes {
            one = max(one, pass(threads: 1))
            all = max(all, pass())
        }
        return (one, all)
    }

    /// `work` (GB/s it reached) rated against a pass right before and one right after: its GB/s and the ratio.
    func rate(_ work: () throws -> Double) rethrows -> (gbs: Double, ratio: Double) {
        let before = pass()
        let gbs = try work()
        let after = pass()
        return (gbs, gbs / ((before + after) / 2))
    }
}

/// A raw pointer handed to pool tasks; each task touches only its own range.
struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
}

func sumFloats(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var a = SIMD8<Float>(), b = SIMD8<Float>(), c = SIMD8<Float>(), d = SIMD8<Float>()
    var i = 0
    while i + 32 <= n {
        let raw = UnsafeRawPointer(p + i)
        a += raw.loadUnaligned(as: SIMD8<Float>.self)
        b += raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        c += raw.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
        d += raw.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
        i += 32
    }
    var s = (a + b + c + d).sum()
    while i < n { s += p[i]; i += 1 }
    return s
}
