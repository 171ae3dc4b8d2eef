import Foundation
import Testing
import Tensors

/// Run-time choice of the kernel copies (baseline, AVX2, AVX-512) and the worker pool they run on.
@Suite("Kernel: dispatch and worker pool")
struct KernelDispatchTests {
    typealias RNG = KernelTesting.SplitMix64

    @Test("the available paths follow CPUID, baseline always among them, and the best one is available")
    func availability() {
        let features = CPUFeatures.detected
        #expect(KernelISA.available.contains(.baseline))
        #expect(KernelISA.avx2.isSupported == features.contains(.avx2FMA))
        #expect(KernelISA.avx2VNNI.isSupported == features.contains([.avx2FMA, .avxVNNI]))
        #expect(KernelISA.avx512.isSupported == features.contains([.avx2FMA, .avx512]))
        #expect(KernelISA.best.isSupported)
        if features.contains(.avx512) { #expect(features.contains(.avx2FMA)) }
    }

    @Test("attention scores and mix match the scalar reference on every path", arguments: [16, 64, 70, 136])
    func attention(dim: Int) {
        var rng = RNG(seed: UInt64(dim))
        let count = 37, stride = dim * 3
        let q = rng.normal(dim)
        let keys = rng.normal(count * stride)
        let weights = rng.uniform(count, in: 0...1)
        var expectedScores = [Float](repeating: 0, count: count)
        var expectedMix = [Float](repeating: 0, count: dim)
        Kernels.Reference.attentionScores(q: q, keys: keys, stride: stride, count: count, dim: dim, scale: 0.125,
                                          out: &expectedScores)
        Kernels.Reference.attentionMix(weights: weights, values: keys, stride: stride, count: count, dim: dim,
                                       out: &expectedMix)
        // The same keys in the cache's tiled layout; the unused lanes of the last tile hold NaN, which must not leak.
        var tiles = [Float](repeating: .nan, count: (count + 15) / 16 * 16 * dim)
        for t in 0..<count {
            for d in 0..<dim {
                tiles[Kernels.keyTileOffset(position: t, dimension: d, dim: dim)] = keys[t * stride + d]
            }
        }
        for isa in KernelISA.available {
            var scores = [Float](repeating: .nan, count: count)
            var mix = [Float](repeating: .nan, count: dim)
            Kernels.attentionScores(q: q, keyTiles: tiles, precision: .f32, count: count, dim: dim, scale: 0.125,
                                    out: &scores,
                                    isa: isa)
            Kernels.attentionMix(weights: weights, values: keys, precision: .f32, stride: stride, count: count,
                                 dim: dim, out: &mix, isa: isa)
            KernelTesting.expectClose(scores, expectedScores, nmse: 1e-11, maxAbs: 1e-5, "scores \(isa) dim \(dim)")
            KernelTesting.expectClose(mix, expectedMix, nmse: 1e-11, maxAbs: 1e-5, "mix \(isa) dim \(dim)")
        }
        // float16 caches: the same products over the keys and values rounded to half, widened on load.
        let halfTiles = tiles.map { Float16($0) }, halfKeys = keys.map { Float16($0) }
        var expectedHalfScores = [Float](repeating: 0, count: count)
        var expectedHalfMix = [Float](repeating: 0, count: dim)
        let roundedKeys = halfKeys.map { Float($0) }
        Kernels.Reference.attentionScores(q: q, keys: roundedKeys, stride: stride, count: count, dim: dim, scale: 0.125,
                                          out: &expectedHalfScores)
        Kernels.Reference.attentionMix(weights: weights, values: roundedKeys, stride: stride, count: count, dim: dim,
                                       out: &expectedHalfMix)
        for isa in KernelISA.available {
            var scores = [Float](repeating: .nan, count: count)
            var mix = [Float](repeating: .nan, count: dim)
            Kernels.attentionScores(q: q, keyTiles: halfTiles, precision: .f16, count: count, dim: dim, scale: 0.125,
                                    out: &scores,
                                    isa: isa)
            Kernels.attentionMix(weights: weights, values: halfKeys, precision: .f16, stride: stride, count: count,
                                 dim: dim, out: &mix, isa: isa)
            KernelTesting.expectClose(scores, expectedHalfScores, nmse: 1e-11, maxAbs: 1e-5,
                                      "f16 scores \(isa) dim \(dim)")
            KernelTesting.expectClose(mix, expectedHalfMix, nmse: 1e-11, maxAbs: 1e-5, "f16 mix \(isa) dim \(dim)")
        }
    }

    @Test("the pool runs every task exactly once, over many rounds, with pauses that let its workers sleep")
    func poolRunsEveryTask() async throws {
        let pool = WorkerPool(threads: 3)
        for round in 0..<200 {
            let tasks = 1 + round % 17
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: tasks)
            counts.initialize(repeating: 0, count: tasks)
            let shared = Counters(pointer: counts)
            pool.run(tasks: tasks) { t in shared.pointer[t] += 1 }
            #expect((0..<tasks).allSatisfy { counts[$0] == 1 }, "round \(round)")
            counts.deallocate()
            if round % 50 == 49 { try await Task.sleep(for: .milliseconds(2)) }   // past the spin: workers sleep
        }
    }

    @Test("a worker that keeps losing its core sends loops to the calling thread, every task still run once")
    func fallsBackWhenWorkersStall() {
        // A wide window: the stalls below count however slowly a loaded machine runs them, so the test is about
        // what the pool does after contention, not about how fast this machine sleeps.
        let pool = WorkerPool(threads: 2, contentionWindow: 10)
        let caller = pthread_self()
        var fellBack = false
        for _ in 0..<400 {  // breaks at the first loop run on the caller; the bound only matters on a loaded machine
            let tasks = 16
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: tasks)
            counts.initialize(repeating: 0, count: tasks)
            let shared = Counters(pointer: counts)
            let onCaller = UnsafeMutablePointer<Int>.allocate(capacity: tasks)
            onCaller.initialize(repeating: 0, count: tasks)
            let where_ = Counters(pointer: onCaller)
            pool.run(tasks: tasks) { t in
                shared.pointer[t] += 1
                if pthread_equal(pthread_self(), caller) != 0 {
                    where_.pointer[t] = 1
                    usleep(100)
                } else {
                    usleep(10_000)          // the worker "loses its core" in the middle of its task: the caller,
                                            // done with its 100 µs tasks, waits far beyond preemptedWaitSeconds
                }
            }
            #expect((0..<tasks).allSatisfy { counts[$0] == 1 })
            let allOnCaller = (0..<tasks).allSatisfy { onCaller[$0] == 1 }
            counts.deallocate()
            onCaller.deallocate()
            if allOnCaller {
                fellBack = true
                break
            }
        }
        #expect(fellBack, "the pool never ran a loop on the calling thread alone")
    }

    @Test("callers on several threads are served one at a time, each getting all its tasks")
    func poolSerializesCallers() async {
        let pool = WorkerPool(threads: 2)
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var ok = true
                    for _ in 0..<100 {
                        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 8)
                        counts.initialize(repeating: 0, count: 8)
                        let shared = Counters(pointer: counts)
                        pool.run(tasks: 8) { t in shared.pointer[t] += 1 }
                        ok = ok && (0..<8).allSatisfy { counts[$0] == 1 }
                        counts.deallocate()
                    }
                    return ok
                }
            }
            for await ok in group { #expect(ok) }
        }
    }

    /// The ISA-specific modules inline TensorsSIMD's generic code. If any of it stayed out of line, each module would
    /// emit its own copy under one mangled name and the linker would keep one for all: possibly an AVX-512 copy
    /// called from baseline code on a CPU without AVX-512. So the AVX2 and AVX-512 entry points must call nothing
    /// outside their own module (checked on this test binary's disassembly, where objdump exists).
    @Test("the AVX2 and AVX-512 kernels call no code outside their own module")
    func kernelsAreSelfContained() throws {
        #if DEBUG
        // Debug builds compile those modules without the AVX flags (Package.swift): nothing to check.
        return
        #else
        let objdump = ["/usr/bin/objdump", "/usr/local/bin/objdump"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let objdump else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: objdump)
        process.arguments = ["-d", "--no-show-raw-insn", CommandLine.arguments[0]]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let prefixes = ["$s13TensorsAVX512", "$s11TensorsAVX2"]
        var current: String?
        var functions = 0
        var outside: [String] = []
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix(">:"), let open = line.firstIndex(of: "<") {
                let name = String(line[line.index(after: open)..<line.index(line.endIndex, offsetBy: -2)])
                current = prefixes.first { name.hasPrefix($0) }
                if current != nil { functions += 1 }
                continue
            }
            guard let module = current, line.contains("call"), let open = line.firstIndex(of: "<") else { continue }
            let target = line[line.index(after: open)...]
            if !target.hasPrefix(module) { outside.append(String(line)) }
        }
        guard functions > 0 else { return }   // not a disassembly this test understands
        #expect(outside.isEmpty, "calls out of the ISA modules: \(outside.prefix(5))")
        #endif
    }
}

/// Test counters written by pool tasks: each task writes only its own slot.
struct Counters: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int>
}
