import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed set of threads that run the pieces of one parallel loop and wait for the next.
///
/// Why not `DispatchQueue.concurrentPerform`: in this VM its workers wake too slowly for ~100 µs tasks, so two
/// threads gave no reliable 2x (CPU-NOTES). Here workers spin on an atomic generation counter for a short while
/// after each loop (the next layer's matrix product comes within microseconds), then sleep on a condition
/// variable, so an idle server costs no CPU.
///
/// The calling thread takes part, so `threads` counts it: a pool of 2 starts 1 background thread. Tasks are
/// handed out one at a time from an atomic counter, so a thread that the OS pauses does fewer of them.
/// `run` calls from several threads are serialized; calling `run` from inside a task deadlocks.
///
/// When a worker loses its core (another process wants it), a loop waits for that worker's task until the OS gives
/// the core back, a time slice of milliseconds, a hundred times per decode step. The pool notices such waits
/// (`preemptedLoops` waits over `preemptedWaitSeconds` within `preemptedWindowSeconds`) and runs loops on the
/// calling thread alone for a while (`serialBackoffSeconds`): the engine then runs at one thread's speed instead of
/// collapsing. Results are the same either way (the kernels do not depend on the thread split).
public final class WorkerPool: Sendable {
    public let threads: Int
    private let state: PoolState
    /// Serializes `run`; holds the fallback state (see `run`).
    private let serial = Mutex(Fallback())

    struct Fallback {
        /// Until when loops run on the calling thread alone.
        var serialUntil: Double = 0
        /// Loops that waited for a preempted worker since `windowStart`.
        var slowLoops = 0
        var windowStart: Double = 0
    }

    /// A loop whose threads, after the caller finished its share, still waited this long for a worker means the
    /// worker lost its core (another process, an oversubscribed host): each such loop would wait a scheduler time
    /// slice. Measured with one core taken by another process (int8, batch 1): 21 steps/s on 2 threads without this
    /// fallback, 90 on 1 thread, 84-103 with it; unchanged when the machine is free.
    public static let preemptedWaitSeconds: Double = 0.002
    /// Slow loops within `preemptedWindowSeconds` that count as contention.
    public static let preemptedLoops = 4
    public static let preemptedWindowSeconds: Double = 0.05
    /// How long the pool then runs loops on the calling thread alone before trying its workers again.
    public static let serialBackoffSeconds: Double = 0.1

    /// How long an idle worker spins before it sleeps: longer than the sampling and bookkeeping between two decode
    /// steps (~0.3 ms at batch 1), so a generating engine never pays a wake-up, and short enough that an idle
    /// server sleeps at once.
    public static let spinMicroseconds: Double = 1000

    /// The window in which `preemptedLoops` slow loops count as contention; `preemptedWindowSeconds` unless a test
    /// widens it (on a loaded test machine each stalled loop is slower, and fewer fit in 50 ms).
    let window: Double

    public init(threads: Int, contentionWindow: Double = WorkerPool.preemptedWindowSeconds) {
        self.threads = max(1, threads)
        window = contentionWindow
        state = PoolState(workers: self.threads - 1)
        for index in 0..<(self.threads - 1) {
            let state = self.state
            let thread = Thread { state.workerLoop(index: index) }
            thread.name = "chattts-worker-\(index + 1)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit {
        state.shutdown()
    }

    /// Runs body(0) ... body(tasks - 1) across the pool's threads and returns when all are done.
    public func run(tasks: Int, _ body: (Int) -> Void) {
        if tasks <= 0 { return }
        if tasks == 1 || threads == 1 {
            for t in 0..<tasks { body(t) }
            return
        }
        serial.withLock { fallback in
            if PoolState.now() < fallback.serialUntil {
                for t in 0..<tasks { body(t) }
                return
            }
            let waited = withoutActuallyEscaping(body) { escaping in
                state.dispatch(tasks: tasks, body: escaping)
            }
            // One slow loop can be the hypervisor pausing the vCPU for a moment; several within a short window
            // are contention.
            guard waited > Self.preemptedWaitSeconds else { return }
            let now = PoolState.now()
            if now - fallback.windowStart > window {
                fallback.windowStart = now
                fallback.slowLoops = 0
            }
            fallback.slowLoops += 1
            if fallback.slowLoops >= Self.preemptedLoops {
                fallback.serialUntil = now + Self.serialBackoffSeconds
                fallback.slowLoops = 0
            }
        }
    }
}

/// The shared state of a pool. Invariant that makes `@unchecked Sendable` sound: `job` and `taskCount` are written
/// only by the dispatching thread, before the generation counter is bumped (release), and read by workers only
/// after they observe the new generation (acquire); the dispatcher does not return, nor write them again, until
/// every worker has reported that generation finished (`finishedWorkers`), so no worker reads a stale job.
final class PoolState: @unchecked Sendable {
    let workers: Int
    let generation = Atomic<UInt64>(0)
    let nextTask = Atomic<Int>(0)
    let finishedWorkers = Atomic<Int>(0)
    let sleepers = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    var job: ((Int) -> Void)?
    var taskCount = 0
    let mutex: UnsafeMutablePointer<pthread_mutex_t>
    let condition: UnsafeMutablePointer<pthread_cond_t>

    init(workers: Int) {
        self.workers = workers
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    func shutdown() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Takes tasks until none are left.
    @inline(__always)
    func drain() {
        let count = taskCount
        guard let job else { return }
        while true {
            let t = nextTask.wrappingAdd(1, ordering: .relaxed).oldValue
            if t >= count { break }
            job(t)
        }
    }

    /// Runs the loop; returns how long the calling thread waited for workers after it ran out of tasks.
    @discardableResult
    func dispatch(tasks: Int, body: @escaping (Int) -> Void) -> Double {
        job = body
        taskCount = tasks
        finishedWorkers.store(0, ordering: .relaxed)
        nextTask.store(0, ordering: .relaxed)
        generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
        drain()
        // Every task is taken; wait for the workers still running theirs.
        let drained = Self.now()
        var spins = 0
        while finishedWorkers.load(ordering: .acquiring) < workers {
            spins += 1
            if spins & 1023 == 0 { sched_yield() }
        }
        job = nil
        return Self.now() - drained
    }

    func workerLoop(index: Int) {
        var seen: UInt64 = 0
        while true {
            var spins = 0
            var spinStart: Double = 0
            while generation.load(ordering: .acquiring) == seen {
                if stopping.load(ordering: .relaxed) { return }
                spins += 1
                if spins & 255 != 0 { continue }
                let now = Self.now()
                if spinStart == 0 { spinStart = now; continue }
                if now - spinStart < WorkerPool.spinMicroseconds * 1e-6 { continue }
                // Sleep until the next dispatch. The dispatcher bumps `generation` before reading `sleepers`, and we
                // raise `sleepers` before reading `generation` (both sequentially consistent), so a dispatch cannot
                // slip between our check and our wait unseen.
                pthread_mutex_lock(mutex)
                sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen
                    && !stopping.load(ordering: .sequentiallyConsistent) {
                    pthread_cond_wait(condition, mutex)
                }
                sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
                spins = 0
                spinStart = 0
            }
            if stopping.load(ordering: .relaxed) { return }
            seen = generation.load(ordering: .acquiring)
            drain()
            finishedWorkers.wrappingAdd(1, ordering: .releasing)
        }
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
