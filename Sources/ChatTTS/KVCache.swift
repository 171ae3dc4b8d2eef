import Tensors

/// Keys and values of one sequence for every layer, grown one step at a time.
///
/// Each sequence owns its cache, so sequences of different lengths share a batch without padding: the linear
/// layers see all new rows of all sequences at once, attention runs per sequence over its own cache. With left
/// padding and a mask (the reference's batching) the padded positions contribute nothing, so results agree.
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let kvDim: Int
    public private(set) var capacity: Int
    /// Positions already stored (the next token's RoPE position).
    public internal(set) var length: Int = 0
    /// [layers, capacity, kvDim]
    private(set) var keys: UnsafeMutablePointer<Float>
    private(set) var values: UnsafeMutablePointer<Float>

    public init(layers: Int, kvDim: Int, capacity: Int) {
        self.layers = layers
        self.kvDim = kvDim
        self.capacity = max(capacity, 1)
        keys = .allocate(capacity: layers * self.capacity * kvDim)
        values = .allocate(capacity: layers * self.capacity * kvDim)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Makes room for `extra` more positions, doubling to keep appends amortized.
    public func reserve(_ extra: Int) {
        let needed = length + extra
        guard needed > capacity else { return }
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        let newKeys = UnsafeMutablePointer<Float>.allocate(capacity: layers * newCapacity * kvDim)
        let newValues = UnsafeMutablePointer<Float>.allocate(capacity: layers * newCapacity * kvDim)
        for l in 0..<layers {
            (newKeys + l * newCapacity * kvDim).update(from: keys + l * capacity * kvDim, count: length * kvDim)
            (newValues + l * newCapacity * kvDim).update(from: values + l * capacity * kvDim, count: length * kvDim)
        }
        keys.deallocate()
        values.deallocate()
        keys = newKeys
        values = newValues
        capacity = newCapacity
    }

    func keys(layer: Int) -> UnsafeMutablePointer<Float> { keys + layer * capacity * kvDim }
    func values(layer: Int) -> UnsafeMutablePointer<Float> { values + layer * capacity * kvDim }

    public var bytes: Int { 2 * layers * capacity * kvDim * MemoryLayout<Float>.stride }
}
