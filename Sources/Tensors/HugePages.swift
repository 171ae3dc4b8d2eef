#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Memory for data that is streamed whole on every step (packed weights, KV caches), mapped in 2 MiB-aligned
/// regions and advised for transparent huge pages where the OS has them (Linux `MADV_HUGEPAGE`; the machine's
/// setting is usually `madvise`, so nothing is huge unless asked).
///
/// Why: a decode step reads ~200 MB of weights once. With 4 KiB pages that is ~50,000 TLB misses per step, each a
/// page walk (two-dimensional inside a VM) that the hardware prefetchers do not cross; measured here, a 512 MiB
/// read went from 19-20 to 26-29 GB/s on one thread and from 25-29 to 31-32 GB/s on two with huge pages
/// (`Benchmarks/README.md`). Where huge pages are off the memory is ordinary anonymous memory.
///
/// `@unchecked Sendable`: `base` and the size never change; the bytes belong to whoever the owner (a weight
/// arena, written once at load; or one sequence's KV cache, touched by its step thread) hands them to.
public final class HugePageRegion: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    private let mapping: UnsafeMutableRawPointer
    private let mappedBytes: Int

    public static let alignment = 2 << 20

    /// `byteCount` zeroed bytes (fresh anonymous pages are zero), 2 MiB aligned.
    ///
    /// Throws `AllocationError` when the system refuses the mapping: a request's KV cache asking for more than the
    /// machine has must fail that request, not the process that serves the others.
    public init(byteCount: Int) throws(AllocationError) {
        let size = max(byteCount, 1)
        // Sizes near Int.max would overflow the rounding below; no system maps them anyway.
        guard size <= Int.max - 2 * Self.alignment else { throw AllocationError(byteCount: byteCount, errno: ENOMEM) }
        let pageRounded = (size + 4095) & ~4095
        // Map one alignment more, then keep the aligned window: mmap itself only promises 4 KiB alignment.
        let total = pageRounded + Self.alignment
        guard let raw = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else {
            throw AllocationError(byteCount: byteCount, errno: errno)
        }
        let aligned = (Int(bitPattern: raw) + Self.alignment - 1) & ~(Self.alignment - 1)
        mapping = raw
        mappedBytes = total
        base = UnsafeMutableRawPointer(bitPattern: aligned)!
        self.byteCount = size
        #if os(Linux)
        if pageRounded >= Self.alignment { _ = madvise(base, pageRounded, MADV_HUGEPAGE) }
        #endif
    }

    deinit {
        munmap(mapping, mappedBytes)
    }
}

/// The system refused memory: which size was asked for and why (`errno`, usually `ENOMEM`).
public struct AllocationError: Error, CustomStringConvertible {
    public let byteCount: Int
    public let errno: Int32

    public init(byteCount: Int, errno: Int32) {
        self.byteCount = byteCount
        self.errno = errno
    }

    /// "cannot map 123456789 bytes (errno 12: Cannot allocate memory)".
    public var description: String {
        "cannot map \(byteCount) bytes (errno \(errno): \(String(cString: strerror(errno))))"
    }
}

/// A bump allocator over huge-page regions for weights converted at load: many matrices of 0.5-5 MB share 64 MiB
/// regions, so none wastes the tail of a 2 MiB page of its own. Memory is returned when the arena and every
/// `PackedMatrix` placed in it are gone (each holds its region).
public final class WeightArena: Sendable {
    private struct State {
        var regions: [HugePageRegion] = []
        var used = 0
    }
    private let state = Mutex(State())
    public let regionBytes: Int

    public init(regionBytes: Int = 64 << 20) {
        self.regionBytes = regionBytes
    }

    /// `byteCount` zeroed bytes aligned to `alignment` (a power of two up to 4096), and the region to keep alive.
    /// Throws when a new region cannot be mapped; the arena is unchanged then.
    public func allocate(byteCount: Int, alignment: Int = 64) throws(AllocationError)
        -> (pointer: UnsafeMutableRawPointer, owner: HugePageRegion)
    {
        precondition(alignment > 0 && alignment <= 4096 && alignment & (alignment - 1) == 0, "bad alignment")
        return try state.withLock { s throws(AllocationError) in
            if byteCount > regionBytes / 4 {
                // Large blocks get a region of their own, so the shared regions stay dense.
                let region = try HugePageRegion(byteCount: byteCount)
                return (region.base, region)
            }
            var offset = (s.used + alignment - 1) & ~(alignment - 1)
            if s.regions.isEmpty || offset + byteCount > regionBytes {
                s.regions.append(try HugePageRegion(byteCount: regionBytes))
                offset = 0
            }
            s.used = offset + byteCount
            let region = s.regions[s.regions.count - 1]
            return (region.base + offset, region)
        }
    }
}
