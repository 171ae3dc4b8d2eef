import Foundation
import Testing
import Tensors

/// Huge-page memory for weights and caches: what the engine relies on (alignment, zeroed memory, no overlap,
/// lifetime tied to the matrices placed in it).
@Suite("Memory: huge-page regions and the weight arena")
struct HugePageTests {
    typealias RNG = KernelTesting.SplitMix64

    @Test("a region is 2 MiB aligned, zeroed and writable end to end, small or large")
    func regionIsAlignedAndZeroed() throws {
        for size in [1, 4095, 3 << 20, (5 << 20) + 123] {
            let region = try HugePageRegion(byteCount: size)
            #expect(Int(bitPattern: region.base) % HugePageRegion.alignment == 0, "size \(size)")
            let bytes = region.base.assumingMemoryBound(to: UInt8.self)
            #expect((0..<size).allSatisfy { bytes[$0] == 0 }, "size \(size) zeroed")
            for i in stride(from: 0, to: size, by: 4096) { bytes[i] = 7 }
            bytes[size - 1] = 9
            #expect(bytes[size - 1] == 9)
        }
    }

    @Test("arena blocks are aligned, zeroed and disjoint; large ones get a region of their own")
    func arenaBlocksAreDisjoint() throws {
        let arena = WeightArena(regionBytes: 1 << 20)
        var blocks: [(UnsafeMutableRawPointer, Int, HugePageRegion)] = []
        for (i, size) in [100, 64, 300_000, 5000, 1, 700_000, 200_000, 3 << 20].enumerated() {
            let (pointer, owner) = try arena.allocate(byteCount: size, alignment: i % 2 == 0 ? 64 : 4096)
            #expect(Int(bitPattern: pointer) % (i % 2 == 0 ? 64 : 4096) == 0)
            let bytes = pointer.assumingMemoryBound(to: UInt8.self)
            #expect((0..<size).allSatisfy { bytes[$0] == 0 }, "block \(i) zeroed")
            bytes.update(repeating: UInt8(i + 1), count: size)
            blocks.append((pointer, size, owner))
            if size > (1 << 20) / 4 { #expect(owner.base == pointer, "block \(i) has its own region") }
        }
        // Every block still holds its own fill: nothing overlapped.
        for (i, (pointer, size, _)) in blocks.enumerated() {
            let bytes = pointer.assumingMemoryBound(to: UInt8.self)
            #expect((0..<size).allSatisfy { bytes[$0] == UInt8(i + 1) }, "block \(i) intact")
        }
    }

    /// On the code before `HugePageRegion.init` threw, this test never reported: mmap's failure reached `fatalError`
    /// and took the whole test process down, as it took the service down when one request's KV cache was too large.
    @Test("a region too large to map throws an error naming its size and errno instead of stopping the process")
    func unmappableRegionThrows() throws {
        let size = 1 << 60                    // an exbibyte: beyond any machine's address space
        let error = #expect(throws: AllocationError.self) { try HugePageRegion(byteCount: size) }
        #expect(error?.byteCount == size)
        #expect(error?.errno == ENOMEM)
        #expect(error?.description == "cannot map 1152921504606846976 bytes (errno 12: Cannot allocate memory)")
        #expect(throws: AllocationError.self) { try HugePageRegion(byteCount: .max) }
        // An arena that could not map a block still serves the next one.
        let arena = WeightArena(regionBytes: 1 << 20)
        #expect(throws: AllocationError.self) { try arena.allocate(byteCount: size) }
        let (pointer, _) = try arena.allocate(byteCount: 100)
        #expect(pointer.load(as: UInt8.self) == 0)
    }

    @Test("matrices packed into an arena keep working after the arena is gone")
    func matricesOutliveTheArena() throws {
        var rng = RNG(seed: 11)
        let (rows, cols) = (70, 256)
        let w = rng.normal(rows * cols, scale: 0.05)
        let x = rng.normal(2 * cols)
        var matrices: [PackedMatrix] = []
        do {
            let arena = WeightArena(regionBytes: 64 << 10)
            for format in WeightFormat.allCases {
                matrices.append(try w.withUnsafeBufferPointer { b in
                    try PackedMatrix(rows: rows, cols: cols, format: format, arena: arena) {
                        b.baseAddress! + $0 * cols
                    }
                })
            }
        }
        for m in matrices {
            var expected = [Float](repeating: 0, count: 2 * rows)
            var actual = [Float](repeating: .nan, count: 2 * rows)
            // VDPBF16PS, where it runs, rounds the input rows to bf16: so does the reference then.
            let rounded = Kernels.packedKernel(m, batch: 2, isa: .best) == .avx512BF16
            Kernels.Reference.packedProduct(m, x: x, batch: 2, y: &expected, inputsInBF16: rounded)
            Kernels.packedProduct(m, x: x, batch: 2, y: &actual)
            KernelTesting.expectClose(actual, expected, nmse: 1e-10, maxAbs: 1e-4, "\(m.format)")
        }
    }
}
