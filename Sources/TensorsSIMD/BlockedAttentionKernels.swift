/// The two products of attention for many query rows of one head at once (a prompt's prefill): scores of 8 queries
/// against two key tiles per pass, and the weighted sum of values for 4 queries per pass, so each key or value
/// load serves several queries instead of one (`AttentionKernels.swift` is the one-row version decoding uses).
/// Compiled once per instruction set like `PanelKernels.swift` (everything `@_transparent`).
///
/// Layouts are the KV cache's: keys in tiles of 16 positions, dimension-major inside a tile (`keyTileOffset`),
/// values as rows of `dim`. Queries and outputs are rows `qStride` / `outStride` floats apart.

/// scores[i * scoreStride + t] = scale * dot(query i, key t) for i in 0..<queries (at most 8) and t in
/// 0..<keys rounded up to 16: whole key tiles, so the tail of the last tile holds scores of positions past `keys`
/// (finite: the cache's memory there is zeroed or older keys), which the caller masks. `scoreStride` >= that.
@_transparent
public func attentionTileScores<E: KVElement>(
    q: UnsafePointer<Float>, qStride: Int, queries: Int, keyTiles: UnsafeRawPointer, _ element: E.Type, keys: Int,
    dim: Int, scale: Float, scores: UnsafeMutablePointer<Float>, scoreStride: Int, fused: Bool
) {
    // Rows past `queries` repeat the last one (computed, never stored), so every pass has the same 16 chains.
    let last = queries &- 1
    let q0 = q, q1 = q + min(1, last) &* qStride, q2 = q + min(2, last) &* qStride, q3 = q + min(3, last) &* qStride
    let q4 = q + min(4, last) &* qStride, q5 = q + min(5, last) &* qStride, q6 = q + min(6, last) &* qStride
    let q7 = q + min(7, last) &* qStride
    let tiles = (keys &+ 15) >> 4
    var tile = 0
    while tile < tiles {
        let two = tile &+ 1 < tiles
        let ka = tile &* dim &* 16, kb = two ? ka &+ dim &* 16 : ka
        var a0 = PanelVector(), a1 = PanelVector(), a2 = PanelVector(), a3 = PanelVector()
        var a4 = PanelVector(), a5 = PanelVector(), a6 = PanelVector(), a7 = PanelVector()
        var b0 = PanelVector(), b1 = PanelVector(), b2 = PanelVector(), b3 = PanelVector()
        var b4 = PanelVector(), b5 = PanelVector(), b6 = PanelVector(), b7 = PanelVector()
        var d = 0
        while d < dim {
            let x = E.vector(keyTiles, ka &+ d &* 16), y = E.vector(keyTiles, kb &+ d &* 16)
            let s0 = PanelVector(repeating: q0[d]), s1 = PanelVector(repeating: q1[d])
            let s2 = PanelVector(repeating: q2[d]), s3 = PanelVector(repeating: q3[d])
            a0 = attentionFMA(a0, s0, x, fused); b0 = attentionFMA(b0, s0, y, fused)
            a1 = attentionFMA(a1, s1, x, fused); b1 = attentionFMA(b1, s1, y, fused)
            a2 = attentionFMA(a2, s2, x, fused); b2 = attentionFMA(b2, s2, y, fused)
            a3 = attentionFMA(a3, s3, x, fused); b3 = attentionFMA(b3, s3, y, fused)
            let s4 = PanelVector(repeating: q4[d]), s5 = PanelVector(repeating: q5[d])
            let s6 = PanelVector(repeating: q6[d]), s7 = PanelVector(repeating: q7[d])
            a4 = attentionFMA(a4, s4, x, fused); b4 = attentionFMA(b4, s4, y, fused)
            a5 = attentionFMA(a5, s5, x, fused); b5 = attentionFMA(b5, s5, y, fused)
            a6 = attentionFMA(a6, s6, x, fused); b6 = attentionFMA(b6, s6, y, fused)
            a7 = attentionFMA(a7, s7, x, fused); b7 = attentionFMA(b7, s7, y, fused)
            d &+= 1
        }
        let sv = PanelVector(repeating: scale)
        for i in 0..<min(queries, 8) {
            let o = UnsafeMutableRawPointer(scores + (i &* scoreStride &+ tile &* 16))
            o.storeBytes(of: pick(i, a0, a1, a2, a3, a4, a5, a6, a7) * sv, as: PanelVector.self)
            if two { o.storeBytes(of: pick(i, b0, b1, b2, b3, b4, b5, b6, b7) * sv, toByteOffset: 64, as: PanelVector.self) }
        }
        tile &+= two ? 2 : 1
    }
}

/// out[i * outStride + c] = sum over t in 0..<keys of weights[i * weightStride + t] * value t [c], for i in
/// 0..<queries (at most 4) and c in 0..<dim (a multiple of 16); out is overwritten. Weights past a query's own
/// context must be 0.
@_transparent
public func attentionTileMix<E: KVElement>(
    weights: UnsafePointer<Float>, weightStride: Int, queries: Int, values: UnsafeRawPointer, _ element: E.Type,
    keys: Int, dim: Int, out: UnsafeMutablePointer<Float>, outStride: Int, fused: Bool
) {
    let last = queries &- 1
    let w0 = weights, w1 = weights + min(1, last) &* weightStride
    let w2 = weights + min(2, last) &* weightStride, w3 = weights + min(3, last) &* weightStride
    var c = 0
    while c < dim {
        // Four vectors of 16 dimensions (fewer at the end of dim) for 4 queries: 16 chains.
        let n = min(4, (dim &- c) >> 4)
        var a0 = PanelVector(), a1 = PanelVector(), a2 = PanelVector(), a3 = PanelVector()
        var b0 = PanelVector(), b1 = PanelVector(), b2 = PanelVector(), b3 = PanelVector()
        var e0 = PanelVector(), e1 = PanelVector(), e2 = PanelVector(), e3 = PanelVector()
        var f0 = PanelVector(), f1 = PanelVector(), f2 = PanelVector(), f3 = PanelVector()
        var t = 0
        while t < keys {
            let v = t &* dim &+ c
            let x0 = E.vector(values, v)
            let x1 = n > 1 ? E.vector(values, v &+ 16) : x0
            let x2 = n > 2 ? E.vector(values, v &+ 32) : x0
            let x3 = n > 3 ? E.vector(values, v &+ 48) : x0
            let s0 = PanelVector(repeating: w0[t]), s1 = PanelVector(repeating: w1[t])
            let s2 = PanelVector(repeating: w2[t]), s3 = PanelVector(repeating: w3[t])
            a0 = attentionFMA(a0, s0, x0, fused); b0 = attentionFMA(b0, s1, x0, fused)
            e0 = attentionFMA(e0, s2, x0, fused); f0 = attentionFMA(f0, s3, x0, fused)
            if n > 1 {
                a1 = attentionFMA(a1, s0, x1, fused); b1 = attentionFMA(b1, s1, x1, fused)
                e1 = attentionFMA(e1, s2, x1, fused); f1 = attentionFMA(f1, s3, x1, fused)
            }
            if n > 2 {
                a2 = attentionFMA(a2, s0, x2, fused); b2 = attentionFMA(b2, s1, x2, fused)
                e2 = attentionFMA(e2, s2, x2, fused); f2 = attentionFMA(f2, s3, x2, fused)
            }
            if n > 3 {
                a3 = attentionFMA(a3, s0, x3, fused); b3 = attentionFMA(b3, s1, x3, fused)
                e3 = attentionFMA(e3, s2, x3, fused); f3 = attentionFMA(f3, s3, x3, fused)
            }
            t &+= 1
        }
        for i in 0..<min(queries, 4) {
            let o = UnsafeMutableRawPointer(out + (i &* outStride &+ c))
            o.storeBytes(of: pick(i, a0, b0, e0, f0, a0, a0, a0, a0), as: PanelVector.self)
            if n > 1 { o.storeBytes(of: pick(i, a1, b1, e1, f1, a1, a1, a1, a1), toByteOffset: 64, as: PanelVector.self) }
            if n > 2 { o.storeBytes(of: pick(i, a2, b2, e2, f2, a2, a2, a2, a2), toByteOffset: 128, as: PanelVector.self) }
            if n > 3 { o.storeBytes(of: pick(i, a3, b3, e3, f3, a3, a3, a3, a3), toByteOffset: 192, as: PanelVector.self) }
        }
        c &+= n &* 16
    }
}

/// e^x, lane-wise: the algorithm and constants of `Tensors.Kernels.exp` (Cephes `expf`, see VectorMath.swift) on 16
/// lanes, so that the tiles' softmax runs in this module's instruction set (the baseline-compiled one was a fifth
/// of a 2,000-row prefill). Results agree with it to float32 rounding (FMA or not).
@_transparent
public func attentionExp(_ x: PanelVector, fused: Bool) -> PanelVector {
    let low = PanelVector(repeating: -87)
    let xc = x.replacing(with: low, where: x .< low)
        .replacing(with: PanelVector(repeating: 88), where: x .> PanelVector(repeating: 88))
    let magic = PanelVector(repeating: 12_582_912)  // 1.5 * 2^23
    let t = xc * 1.442_695_04 + magic
    let n = t - magic
    let r = (xc - n * 0.693_359_375) + n * 2.121_944_4e-4
    let r2 = r * r
    var p = r * 1.987_569_15e-4 + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let y = p * r2 + r + 1
    let tBits = unsafeBitCast(t, to: SIMD16<Int32>.self)
    let scale = unsafeBitCast((tBits &- 0x4B40_0000 &+ 127) &<< 23, to: PanelVector.self)
    return (y * scale).replacing(with: 0, where: x .< low)
}

/// Softmax of x[0..<count] in place (max, exp with the sum, times 1 / sum: `Kernels.softmax`'s steps).
@_transparent
public func attentionSoftmax(_ x: UnsafeMutablePointer<Float>, count: Int, fused: Bool) {
    let raw = UnsafeMutableRawPointer(x)
    var largest = -Float.infinity
    var m = PanelVector(repeating: -.infinity)
    var i = 0
    while i &+ 16 <= count {
        let v = raw.loadUnaligned(fromByteOffset: i &* 4, as: PanelVector.self)
        m = m.replacing(with: v, where: v .> m)
        i &+= 16
    }
    largest = m.max()
    while i < count { largest = Swift.max(largest, x[i]); i &+= 1 }
    let shift = PanelVector(repeating: largest)
    var sums = PanelVector()
    i = 0
    while i &+ 16 <= count {
        let e = attentionExp(raw.loadUnaligned(fromByteOffset: i &* 4, as: PanelVector.self) - shift, fused: fused)
        raw.storeBytes(of: e, toByteOffset: i &* 4, as: PanelVector.self)
        sums += e
        i &+= 16
    }
    if i < count {
        var v = PanelVector(repeating: -.infinity)
        for k in 0..<(count &- i) { v[k] = x[i &+ k] }
        let e = attentionExp(v - shift, fused: fused)
        for k in 0..<(count &- i) { x[i &+ k] = e[k] }
        sums += e
    }
    let inverse = PanelVector(repeating: 1 / sums.sum())
    i = 0
    while i &+ 16 <= count {
        raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: i &* 4, as: PanelVector.self) * inverse,
                       toByteOffset: i &* 4, as: PanelVector.self)
        i &+= 16
    }
    while i < count { x[i] *= inverse[0]; i &+= 1 }
}
