/// Attention of one query row over one head's cached keys and values: the scores, then the weighted sum of values.
/// Compiled once per instruction set like `PanelKernels.swift` (everything `@_transparent`).

/// out[t] = scale * dot(q, keys[t]) for t in 0..<count; keys[t] starts at keys + t * stride, dim floats.
@_transparent
public func attentionScores(
    q: UnsafePointer<Float>, keys: UnsafePointer<Float>, stride: Int, count: Int, dim: Int, scale: Float,
    out: UnsafeMutablePointer<Float>, fused: Bool
) {
    let vectorDim = dim & ~15
    for t in 0..<count {
        let k = keys + t &* stride
        var acc = PanelVector()
        var c = 0
        while c < vectorDim {
            let a = UnsafeRawPointer(q + c).loadUnaligned(as: PanelVector.self)
            let b = UnsafeRawPointer(k + c).loadUnaligned(as: PanelVector.self)
            acc = fused ? acc.addingProduct(a, b) : acc + a * b
            c &+= 16
        }
        var sum = acc.sum()
        while c < dim {
            sum += q[c] * k[c]
            c &+= 1
        }
        out[t] = sum * scale
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
    while c < vectorDim {
        var acc = PanelVector()
        for t in 0..<count {
            let v = UnsafeRawPointer(values + (t &* stride &+ c)).loadUnaligned(as: PanelVector.self)
            let w = PanelVector(repeating: weights[t])
            acc = fused ? acc.addingProduct(w, v) : acc + w * v
        }
        UnsafeMutableRawPointer(out + c).storeBytes(of: acc, as: PanelVector.self)
        c &+= 16
    }
    while c < dim {
        var sum: Float = 0
        for t in 0..<count { sum += weights[t] * values[t &* stride &+ c] }
        out[c] = sum
        c &+= 1
    }
}
