/// Attention of one query row over one head's cached keys and values: the scores, then the weighted sum of values.
/// Compiled once per instruction set like `PanelKernels.swift` (everything `@_transparent`).
///
/// Keys are stored in tiles of 16 positions, dimension-major inside a tile ([tiles][dim][16]): one vector load gives
/// dimension d of 16 positions, so 16 scores come out of `dim` multiply-adds with no horizontal sums, and a tile
/// (4 KB at dim 64) is one contiguous read. Values are rows ([positions][dim], contiguous per head).

/// Index in floats of key dimension d of position t in a tiled key block (`attentionScores`).
@_transparent
public func keyTileOffset(position t: Int, dimension d: Int, dim: Int) -> Int {
    (t >> 4) &* dim &* 16 &+ d &* 16 &+ (t & 15)
}

/// out[t] = scale * dot(q, key t) for t in 0..<count; keys tiled as `keyTileOffset` says.
@_transparent
public func attentionScores(
    q: UnsafePointer<Float>, keyTiles: UnsafePointer<Float>, count: Int, dim: Int, scale: Float,
    out: UnsafeMutablePointer<Float>, fused: Bool
) {
    var first = 0
    while first < count {
        let tile = keyTiles + first &* dim
        // Four chains over the dimensions, so the multiply-adds' latency overlaps.
        var a0 = PanelVector(), a1 = PanelVector(), a2 = PanelVector(), a3 = PanelVector()
        var d = 0
        while d &+ 3 < dim {
            let k = UnsafeRawPointer(tile + d &* 16)
            a0 = fused ? a0.addingProduct(k.loadUnaligned(as: PanelVector.self), PanelVector(repeating: q[d]))
                : a0 + k.loadUnaligned(as: PanelVector.self) * PanelVector(repeating: q[d])
            a1 = fused ? a1.addingProduct(k.loadUnaligned(fromByteOffset: 64, as: PanelVector.self),
                                          PanelVector(repeating: q[d &+ 1]))
                : a1 + k.loadUnaligned(fromByteOffset: 64, as: PanelVector.self) * PanelVector(repeating: q[d &+ 1])
            a2 = fused ? a2.addingProduct(k.loadUnaligned(fromByteOffset: 128, as: PanelVector.self),
                                          PanelVector(repeating: q[d &+ 2]))
                : a2 + k.loadUnaligned(fromByteOffset: 128, as: PanelVector.self) * PanelVector(repeating: q[d &+ 2])
            a3 = fused ? a3.addingProduct(k.loadUnaligned(fromByteOffset: 192, as: PanelVector.self),
                                          PanelVector(repeating: q[d &+ 3]))
                : a3 + k.loadUnaligned(fromByteOffset: 192, as: PanelVector.self) * PanelVector(repeating: q[d &+ 3])
            d &+= 4
        }
        while d < dim {
            let k = UnsafeRawPointer(tile + d &* 16).loadUnaligned(as: PanelVector.self)
            a0 = fused ? a0.addingProduct(k, PanelVector(repeating: q[d])) : a0 + k * PanelVector(repeating: q[d])
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

/// out[d] = sum_t weights[t] * values[t][d] for d in 0..<dim; values[t] starts at values + t * stride.
@_transparent
public func attentionMix(
    weights: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, count: Int, dim: Int,
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
            let v = UnsafeRawPointer(values + (t &* stride &+ c))
            let u = UnsafeRawPointer(values + ((t &+ 1) &* stride &+ c))
            let w = PanelVector(repeating: weights[t]), x = PanelVector(repeating: weights[t &+ 1])
            a0 = attentionFMA(a0, w, v.loadUnaligned(as: PanelVector.self), fused)
            b0 = attentionFMA(b0, x, u.loadUnaligned(as: PanelVector.self), fused)
            if n > 1 {
                a1 = attentionFMA(a1, w, v.loadUnaligned(fromByteOffset: 64, as: PanelVector.self), fused)
                b1 = attentionFMA(b1, x, u.loadUnaligned(fromByteOffset: 64, as: PanelVector.self), fused)
            }
            if n > 2 {
                a2 = attentionFMA(a2, w, v.loadUnaligned(fromByteOffset: 128, as: PanelVector.self), fused)
                b2 = attentionFMA(b2, x, u.loadUnaligned(fromByteOffset: 128, as: PanelVector.self), fused)
            }
            if n > 3 {
                a3 = attentionFMA(a3, w, v.loadUnaligned(fromByteOffset: 192, as: PanelVector.self), fused)
                b3 = attentionFMA(b3, x, u.loadUnaligned(fromByteOffset: 192, as: PanelVector.self), fused)
            }
            t &+= 2
        }
        if t < count {
            let v = UnsafeRawPointer(values + (t &* stride &+ c))
            let w = PanelVector(repeating: weights[t])
            a0 = attentionFMA(a0, w, v.loadUnaligned(as: PanelVector.self), fused)
            if n > 1 { a1 = attentionFMA(a1, w, v.loadUnaligned(fromByteOffset: 64, as: PanelVector.self), fused) }
            if n > 2 { a2 = attentionFMA(a2, w, v.loadUnaligned(fromByteOffset: 128, as: PanelVector.self), fused) }
            if n > 3 { a3 = attentionFMA(a3, w, v.loadUnaligned(fromByteOffset: 192, as: PanelVector.self), fused) }
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
        for t in 0..<count { sum += weights[t] * values[t &* stride &+ c] }
        out[c] = sum
        c &+= 1
    }
}

@_transparent @usableFromInline
func attentionFMA(_ a: PanelVector, _ w: PanelVector, _ v: PanelVector, _ fused: Bool) -> PanelVector {
    fused ? a.addingProduct(w, v) : a + w * v
}
