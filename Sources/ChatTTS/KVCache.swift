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
/// sequence's cache is 60 MB, read once per step.
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let kvHeads: Int
    public let headDim: Int
    public private(set) var capacity: Int
    /// Positions already stored (the next token's RoPE position).
    public internal(set) var length: Int = 0
    /// [layers, kvHeads, capacity * headDim], keys tiled.
    private var keyRegion: HugePageRegion
    private var valueRegion: HugePageRegion

    public init(layers: Int, kvHeads: Int, headDim: Int, capacity: Int) {
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.capacity = Self.rounded(capacity)
        keyRegion = HugePageRegion(byteCount: layers * kvHeads * self.capacity * headDim * 4)
        valueRegion = HugePageRegion(byteCount: layers * kvHeads * self.capacity * headDim * 4)
    }

    static func rounded(_ capacity: Int) -> Int { (max(capacity, 1) + 15) & ~15 }

    /// Makes room for `extra` more positions, doubling to keep appends amortized.
    public func reserve(_ extra: Int) {
        let needed = length + extra
        guard needed > capacity else { return }
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        let newKeys = HugePageRegion(byteCount: layers * kvHeads * newCapacity * headDim * 4)
        let newValues = HugePageRegion(byteCount: layers * kvHeads * newCapacity * headDim * 4)
        // Whole tiles of keys (the filled part of the last one included), rows of values.
        let keyFloats = Self.rounded(length) * headDim, valueFloats = length * headDim
        for block in 0..<(layers * kvHeads) {
            (newKeys.base.assumingMemoryBound(to: Float.self) + block * newCapacity * headDim)
                .update(from: keyRegion.base.assumingMemoryBound(to: Float.self) + block * capacity * headDim,
                        count: keyFloats)
            (newValues.base.assumingMemoryBound(to: Float.self) + block * newCapacity * headDim)
                .update(from: valueRegion.base.assumingMemoryBound(to: Float.self) + block * capacity * headDim,
                        count: valueFloats)
        }
        keyRegion = newKeys
        valueRegion = newValues
        capacity = newCapacity
    }

    /// Tiled keys of one layer and KV head.
    func keys(layer: Int, head: Int) -> UnsafeMutablePointer<Float> {
        keyRegion.base.assumingMemoryBound(to: Float.self) + (layer * kvHeads + head) * capacity * headDim
    }

    /// Value rows of one layer and KV head.
    func values(layer: Int, head: Int) -> UnsafeMutablePointer<Float> {
        valueRegion.base.assumingMemoryBound(to: Float.self) + (layer * kvHeads + head) * capacity * headDim
    }

    /// Stores position `position` of layer `layer`: k and v are [kvHeads * headDim] (heads side by side).
    func store(layer: Int, position: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>) {
        precondition(position < capacity, "KV position \(position) beyond capacity \(capacity)")
        for h in 0..<kvHeads {
            let keyBase = keys(layer: layer, head: h), src = k + h * headDim
            for d in 0..<headDim {
                keyBase[Kernels.keyTileOffset(position: position, dimension: d, dim: headDim)] = src[d]
            }
            (values(layer: layer, head: h) + position * headDim).update(from: v + h * headDim, count: headDim)
        }
    }

    public var bytes: Int { 2 * layers * kvHeads * capacity * headDim * MemoryLayout<Float>.stride }
}
