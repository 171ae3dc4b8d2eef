/// Attention of one query row over one head's cached keys and values: the scores, then the weighted sum of values.
/// Compiled once per instruction set like `PanelKernels.swift` (everything `@_transparent`).
///
/// Keys are stored in tiles of 16 positions, dimension-major inside a tile ([tiles][dim][16]): one vector load gives
/// dimension d of 16 positions, so 16 scores come out of `dim` multiply-adds with no horizontal sums, and a tile
/// (4 KB at dim 64 in float32) is one contiguous read. Values are rows ([positions][dim], contiguous per head).
/// Both in float32 or float16 (`KVElement`); the arithmetic is float32 either way.

/// How cached keys and values are stored: float32, or float16 (half the bytes a step reads; converted on load).
public protocol KVElement {
    /// Bytes per stored value.
    static var size: Int { get }
    /// 16 values from `base` + `index` elements, widened to float32.
    static func vector(_ base: UnsafeRawPointer, _ index: Int) -> PanelVector
    /// One value, widened to float32.
    static func scalar(_ base: UnsafeRawPointer, _ index: Int) -> Float
}

public enum KVFloat32: KVElement {
    public static var size: Int { @_transparent get { 4 } }

    @_transparent
    public static func vector(_ base: UnsafeRawPointer, _ index: Int) -> PanelVector {
        base.loadUnaligned(fromByteOffset: index &* 4, as: PanelVector.self)
    }

    @_transparent
    public static func scalar(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        base.loadUnaligned(fromByteOffset: index &* 4, as: Float.self)
    }
}

public enum KVFloat16: KVElement {
    public static var size: Int { @_transparent get { 2 } }

    @_transparent
    public static func vector(_ base: UnsafeRawPointer, _ index: Int) -> PanelVector {
        let h = base.loadUnaligned(fromByteOffset: index &* 2, as: SIMD16<Float16>.self)
        var f = PanelVector()
        // A lane loop: one vcvtph2ps where the instruction set has F16C (CPU-NOTES).
        for i in 0..<16 { f[i] = Float(h[i]) }
        return f
    }

    @_transparent
    public static func scalar(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        Float(base.loadUnaligned(fromByteOffset: index &* 2, as: Float16.self))
    }
}

/// Index in values of key dimension d of position t in a tiled key block (`attentionScores`).
@_transparent
public func keyTileOffset(position t: Int, dimension d: Int, dim: Int) -> Int {
    (t >> 4) &* dim &* 16 &+ d &* 16 &+ (t & 15)
}

/// out[t] = scale * dot(q, key t) for t in 0..<count; keys tiled as `keyTileOffset` says.
@_transparent
public func attentionScores<E: KVElement>(
    q: UnsafePointer<Float>, keyTiles: UnsafeRawPointer, _ element: E.Type, count: Int, dim: Int, scale: Float,
    out: UnsafeMutablePointer<Float>, fused: Bool
) {
    var first = 0
    while first < count {
        let tile = first &* dim          // in values
        // Four chains over the dimensions, so the multiply-adds' latency overlaps.
        var a0 = PanelVector(), a1 = PanelVector(), a2 = PanelVector(), a3 = PanelVector()
        var d = 0
        while d &+ 3 < dim {
            let k = tile &+ d &* 16
            a0 = attentionFMA(a0, E.vector(keyTiles, k), PanelVector(repeating: q[d]), fused)
            a1 = attentionFMA(a1, E.vector(keyTiles, k &+ 16), PanelVector(repeating: q[d &+ 1]), fused)
            a2 = attentionFMA(a2, E.vector(keyTiles, k &+ 32), PanelVector(repeating: q[d &+ 2]), fused)
            a3 = attentionFMA(a3, E.vector(keyTiles, k &+ 48), PanelVector(repeating: q[d &+ 3]), fused)
            d &+= 4
        }
        while d < dim {
            a0 = attentionFMA(a0, E.vector(keyTiles, tile &+ d &* 16), PanelVector(repeating: q[d]), fused)
            d &+= 1
        }
        let scores = ((a0 + a1) + (a2 + a3)) * PanelVector(repeating: scale)
        let n = min(16, count &- first)
        if n == 16 {
            UnsafeMutableRawPointer(out + first).storeBytes(of: scores, as: PanelVector.self)
        } else {
            for i in 0..<n { out[first &+ i] = scores[i] }
        }
        first &+= 16
    }
}

/// out[d] = sum_t weights[t] * values[t][d] for d in 0..<dim; values[t] starts `stride` values after values[t - 1].
@_transparent
public func attentionMix<E: KVElement>(
    weights: UnsafePointer<Float>, values: UnsafeRawPointer, _ element: E.Type, stride: Int, count: Int, dim: Int,
    out: UnsafeMutablePointer<Float>, fused: Bool
) {
    let vectorDim = dim & ~15
    var c = 0
    // Up to 4 vectors of the output at a time (dim 64 in one pass over the values), two chains each: even and odd
    // positions, added at the end.
    while c < vectorDim {
        let n = min(4, (vectorDim &- c) >> 4)
        var a0 = PanelVector(), a1 = PanelVector(), a2 = PanelVector(), a3 = PanelVector()
        var b0 = PanelVector(), b1 = PanelVector(), b2 = PanelVector(), b3 = PanelVector()
        var t = 0
        while t &+ 1 < count {
            let v = t &* stride &+ c, u = v &+ stride
            let w = PanelVector(repeating: weights[t]), x = PanelVector(repeating: weights[t &+ 1])
            a0 = attentionFMA(a0, w, E.vector(values, v), fused)
            b0 = attentionFMA(b0, x, E.vector(values, u), fused)
            if n > 1 {
                a1 = attentionFMA(a1, w, E.vector(values, v &+ 16), fused)
                b1 = attentionFMA(b1, x, E.vector(values, u &+ 16), fused)
            }
            if n > 2 {
                a2 = attentionFMA(a2, w, E.vector(values, v &+ 32), fused)
                b2 = attentionFMA(b2, x, E.vector(values, u &+ 32), fused)
            }
            if n > 3 {
                a3 = attentionFMA(a3, w, E.vector(values, v &+ 48), fused)
                b3 = attentionFMA(b3, x, E.vector(values, u &+ 48), fused)
            }
            t &+= 2
        }
        if t < count {
            let v = t &* stride &+ c
            let w = PanelVector(repeating: weights[t])
            a0 = attentionFMA(a0, w, E.vector(values, v), fused)
            if n > 1 { a1 = attentionFMA(a1, w, E.vector(values, v &+ 16), fused) }
            if n > 2 { a2 = attentionFMA(a2, w, E.vector(values, v &+ 32), fused) }
            if n > 3 { a3 = attentionFMA(a3, w, E.vector(values, v &+ 48), fused) }
        }
        let o = UnsafeMutableRawPointer(out + c)
        o.storeBytes(of: a0 + b0, as: PanelVector.self)
        if n > 1 { o.storeBytes(of: a1 + b1, toByteOffset: 64, as: PanelVector.self) }
        if n > 2 { o.storeBytes(of: a2 + b2, toByteOffset: 128, as: PanelVector.self) }
        if n > 3 { o.storeBytes(of: a3 + b3, toByteOffset: 192, as: PanelVector.self) }
        c &+= n &* 16
    }
    while c < dim {
        var sum: Float = 0
        for t in 0..<count { sum += weights[t] * E.scalar(values, t &* stride &+ c) }
        out[c] = sum
        c &+= 1
    }
}

@_transparent @usableFromInline
func attentionFMA(_ a: PanelVector, _ w: PanelVector, _ v: PanelVector, _ fused: Bool) -> PanelVector {
    fused ? a.addingProduct(w, v) : a + w * v
}
