import Tensors

/// Keys and values of one sequence for every layer, grown one step at a time.
///
/// Each sequence owns its cache, so sequences of different lengths share a batch without padding: the linear
/// layers see all new rows of all sequences at once, attention runs per sequence over its own cache. With left
/// padding and a mask (the reference's batching) the padded positions contribute nothing, so results agree.
///
/// Layout, per layer and KV head, so that attention reads one contiguous stretch per head: keys in tiles of 16
/// positions, dimension-major inside a tile ([capacity / 16][headDim][16], `Kernels.keyTileOffset`), values as rows
/// ([capacity][headDim]). Capacity is a multiple of 16. The buffers are huge-page regions: at 500 positions a
/// sequence's cache is 60 MB in float32 (30 MB in float16), read once per step.
///
/// `@unchecked Sendable`: a cache belongs to one sequence, which one thread steps at a time (the scheduler's compute
/// thread; attention tasks of one step read it and write only the positions of their own rows).
public final class KVCache: @unchecked Sendable {
    /// How the cache stores keys and values. float32 is exact; float16 halves what attention reads per step, which
    /// at long contexts and large batches is more than the weights (8 sequences of 500 positions: 250 MB in float16
    /// against 200 MB of int8 weights), for a rounding of 2^-11 relative.
    public typealias Precision = KVPrecision

    /// Where the cache's memory comes from: huge-page regions, or in tests one that fails on purpose, so that one
    /// sequence's allocation failure can be provoked without a global switch. A value per cache, kept for growth.
    public struct Allocator: Sendable {
        /// A region of at least the given number of zeroed bytes, 2 MiB aligned, or the reason there is none.
        public let region: @Sendable (Int) throws(AllocationError) -> HugePageRegion

        public init(region: @escaping @Sendable (Int) throws(AllocationError) -> HugePageRegion) {
            self.region = region
        }

        /// The system's memory, through `HugePageRegion`.
        public static var hugePages: Allocator {
            Allocator { bytes throws(AllocationError) in try HugePageRegion(byteCount: bytes) }
        }
    }

    public let precision: Precision
    public let layers: Int
    public let kvHeads: Int
    public let headDim: Int
    public private(set) var capacity: Int
    /// Positions already stored (the next token's RoPE position).
    public internal(set) var length: Int = 0
    /// [layers, kvHeads, capacity * headDim] of `precision`, keys tiled.
    private var keyRegion: HugePageRegion
    private var valueRegion: HugePageRegion
    private let allocator: Allocator

    /// Throws when the memory for `capacity` positions cannot be had: the request fails, the process goes on.
    public init(layers: Int, kvHeads: Int, headDim: Int, capacity: Int, precision: Precision = .f32,
                allocator: Allocator = .hugePages) throws(AllocationError) {
        self.precision = precision
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.capacity = Self.rounded(capacity)
        self.allocator = allocator
        let buffer = layers * kvHeads * self.capacity * headDim * precision.bytes
        keyRegion = try allocator.region(buffer)
        valueRegion = try allocator.region(buffer)
    }

    static func rounded(_ capacity: Int) -> Int { (max(capacity, 1) + 15) & ~15 }

    /// The capacity `reserve` grows `capacity` to so that it holds `needed` positions: doubled until it does.
    static func grown(_ capacity: Int, toHold needed: Int) -> Int {
        var grown = capacity
        while grown < needed { grown *= 2 }
        return grown
    }

    /// Bytes of keys and values together for `capacity` positions (what `bytes` reports).
    static func bytes(capacity: Int, layers: Int, kvHeads: Int, headDim: Int, precision: Precision) -> Int {
        2 * layers * kvHeads * capacity * headDim * precision.bytes
    }

    /// Makes room for `extra` more positions, doubling to keep appends amortized. While it copies, the old and the
    /// new buffers exist together (`ChatTTSModel.kvCacheBytes` counts that peak). Throws when the larger buffers
    /// cannot be had; the cache is then unchanged and still usable up to its present capacity.
    public func reserve(_ extra: Int) throws(AllocationError) {
        let needed = length + extra
        guard needed > capacity else { return }
        let newCapacity = Self.grown(capacity, toHold: needed)
        let size = precision.bytes, buffer = layers * kvHeads * newCapacity * headDim * size
        let newKeys = try allocator.region(buffer)
        let newValues = try allocator.region(buffer)
        // Whole tiles of keys (the filled part of the last one included), rows of values.
        let keyBytes = Self.rounded(length) * headDim * size, valueBytes = length * headDim * size
        for block in 0..<(layers * kvHeads) {
            (newKeys.base + block * newCapacity * headDim * size)
                .copyMemory(from: keyRegion.base + block * capacity * headDim * size, byteCount: keyBytes)
            (newValues.base + block * newCapacity * headDim * size)
                .copyMemory(from: valueRegion.base + block * capacity * headDim * size, byteCount: valueBytes)
        }
        keyRegion = newKeys
        valueRegion = newValues
        capacity = newCapacity
    }

    /// Tiled keys of one layer and KV head (`precision` decides the element type).
    func keys(layer: Int, head: Int) -> UnsafeMutableRawPointer {
        keyRegion.base + (layer * kvHeads + head) * capacity * headDim * precision.bytes
    }

    /// Value rows of one layer and KV head.
    func values(layer: Int, head: Int) -> UnsafeMutableRawPointer {
        valueRegion.base + (layer * kvHeads + head) * capacity * headDim * precision.bytes
    }

    /// Stores position `position` of layer `layer`: k and v are [kvHeads * headDim] (heads side by side). float16
    /// rounds to nearest and saturates at the largest finite half (65504) rather than becoming infinite.
    func store(layer: Int, position: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>) {
        precondition(position < capacity, "KV position \(position) beyond capacity \(capacity)")
        for h in 0..<kvHeads {
            let src = k + h * headDim, vsrc = v + h * headDim
            switch precision {
            case .f32:
                let keyBase = keys(layer: layer, head: h).assumingMemoryBound(to: Float.self)
                for d in 0..<headDim {
                    keyBase[Kernels.keyTileOffset(position: position, dimension: d, dim: headDim)] = src[d]
                }
                (values(layer: layer, head: h).assumingMemoryBound(to: Float.self) + position * headDim)
                    .update(from: vsrc, count: headDim)
            case .f16:
                Kernels.storeHalfKV(key: src, value: vsrc,
                                    keys: keys(layer: layer, head: h).assumingMemoryBound(to: Float16.self),
                                    values: values(layer: layer, head: h).assumingMemoryBound(to: Float16.self),
                                    position: position, dim: headDim, isa: .best)
            }
        }
    }

    public var bytes: Int {
        Self.bytes(capacity: capacity, layers: layers, kvHeads: kvHeads, headDim: headDim, precision: precision)
    }
}
