import Foundation

/// Memory that a `Tensor` reads: either owned heap memory or a window into a mapped file.
///
/// The bytes are immutable once a tensor is published to other threads (weights), so sharing the class
/// across threads is safe; per-request buffers are only ever touched by the thread that owns the request.
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int
    /// Keeps a mapped file alive while any view into it exists; nil for heap storage.
    private let owner: AnyObject?
    private let ownsMemory: Bool

    /// Heap storage, zero-filled, 64-byte aligned (cache line, AVX-512 loads).
    public init(byteCount: Int) {
        let count = max(byteCount, 1)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: count)
        self.byteCount = byteCount
        owner = nil
        ownsMemory = true
    }

    /// A view into memory owned by `owner` (for example a mapped safetensors file); nothing is copied.
    public init(borrowing pointer: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.owner = owner
        ownsMemory = false
    }

    deinit {
        if ownsMemory { pointer.deallocate() }
    }

    /// Drops this view's pages of a mapped file from the process's resident memory (they stay in the page cache
    /// and come back on the next read). For weights converted at load: the float32 source then stops counting
    /// toward the process's memory. Heap storage is left alone.
    public func releaseMappedPages() {
        guard !ownsMemory, owner is MappedRegion else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: pointer) + page - 1) / page * page
        let end = (Int(bitPattern: pointer) + byteCount) / page * page
        guard end > start, let base = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(base, end - start, Int32(MADV_DONTNEED))
    }
}

/// A dense, row-major float32 tensor. Shape comments in the model code say what each axis is.
///
/// Low-precision checkpoints (F16, BF16) are widened to float32 when loaded; quantized weight formats
/// live in their own types next to the kernels that read them.
/// `@unchecked Sendable`: a tensor is a shape and a `Storage`; the same invariant as `Storage` holds (weights are
/// written before they are shared and never after; per-request tensors stay on their owner's thread).
public struct Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let storage: Storage
    /// Offset in elements from the start of `storage`.
    public let offset: Int

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }

    public init(shape: [Int], storage: Storage, offset: Int = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition((offset + shape.reduce(1, *)) * MemoryLayout<Float>.stride <= storage.byteCount,
                     "tensor \(shape) at \(offset) exceeds its storage")
        self.shape = shape
        self.storage = storage
        self.offset = offset
    }

    /// A zero-filled tensor in fresh memory.
    public init(zeros shape: [Int]) {
        let n = shape.reduce(1, *)
        self.init(shape: shape, storage: Storage(byteCount: n * MemoryLayout<Float>.stride))
    }

    /// A tensor holding a copy of `values`.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    public var pointer: UnsafeMutablePointer<Float> {
        storage.pointer.assumingMemoryBound(to: Float.self) + offset
    }

    public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer, count: count)
    }

    public var scalars: [Float] { Array(buffer) }

    /// The same memory seen with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(shape: newShape, storage: storage, offset: offset)
    }

    /// Row `i` along the first axis, sharing memory.
    public subscript(row i: Int) -> Tensor {
        precondition(rank >= 1 && i >= 0 && i < shape[0], "row \(i) out of \(shape)")
        let rest = Array(shape.dropFirst())
        let stride = rest.reduce(1, *)
        return Tensor(shape: rest, storage: storage, offset: offset + i * stride)
    }

    /// A deep copy in fresh heap memory.
    public func copy() -> Tensor {
        let out = Tensor(zeros: shape)
        out.pointer.update(from: pointer, count: count)
        return out
    }
}
