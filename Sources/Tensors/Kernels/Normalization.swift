import Foundation

/// Row normalizations: RMSNorm (the GPT, Llama) and LayerNorm (the decoder's and Vocos's ConvNeXt blocks).
///
/// Both normalize each row of x [rows, dim] over its last axis into out [rows, dim]; `out` may be the same
/// memory as `x` (each row is read completely before it is written), but must not partly overlap it.
extension Kernels {
    /// Llama's RMSNorm: out = weight * (x * rsqrt(mean(x^2) + eps)), in float32 like transformers'
    /// LlamaRMSNorm (which upcasts to float32, takes the mean of squares, multiplies by rsqrt, then by weight).
    ///
    /// x [rows, dim], weight [dim], out [rows, dim].
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
        rows: Int, dim: Int, out: UnsafeMutablePointer<Float>
    ) {
        guard dim > 0 else { return }
        for r in 0..<rows {
            let row = x + r * dim
            let dst = out + r * dim
            var acc0 = FloatVector(), acc1 = FloatVector()
            var i = 0
            while i + 2 * lanes <= dim {
                let a = load(row + i), b = load(row + i + lanes)
                acc0 += a * a
                acc1 += b * b
                i += 2 * lanes
            }
            if i + lanes <= dim {
                let a = load(row + i)
                acc0 += a * a
                i += lanes
            }
            var sum = (acc0 + acc1).sum()
            while i < dim {
                sum += row[i] * row[i]
                i += 1
            }
            let scale = 1 / (sum / Float(dim) + eps).squareRoot()
            i = 0
            while i + lanes <= dim {
                store(load(row + i) * scale * load(weight + i), dst + i)
                i += lanes
            }
            while i < dim {
                dst[i] = row[i] * scale * weight[i]
                i += 1
            }
        }
    }

    /// torch.nn.LayerNorm over the last axis: out = (x - mean) / sqrt(var + eps) * weight + bias, with the
    /// biased variance (divided by dim, not dim - 1). Two passes over the row (mean, then squared deviations),
    /// which stays accurate when |mean| >> std, unlike E[x^2] - mean^2.
    ///
    /// x [rows, dim], weight [dim] or nil (no affine scale), bias [dim] or nil, out [rows, dim].
    public static func layerNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, eps: Float,
        rows: Int, dim: Int, out: UnsafeMutablePointer<Float>
    ) {
        guard dim > 0 else { return }
        let n = Float(dim)
        for r in 0..<rows {
            let row = x + r * dim
            let dst = out + r * dim
            var acc = FloatVector()
            var i = 0
            while i + lanes <= dim {
                acc += load(row + i)
                i += lanes
            }
            var sum = acc.sum()
            while i < dim {
                sum += row[i]
                i += 1
            }
            let mean = sum / n
            let meanVector = FloatVector(repeating: mean)
            acc = FloatVector()
            i = 0
            while i + lanes <= dim {
                let d = load(row + i) - meanVector
                acc += d * d
                i += lanes
            }
            var squares = acc.sum()
            while i < dim {
                let d = row[i] - mean
                squares += d * d
                i += 1
            }
            let rstd = 1 / (squares / n + eps).squareRoot()
            i = 0
            while i + lanes <= dim {
                var v = (load(row + i) - meanVector) * rstd
                if let weight { v *= load(weight + i) }
                if let bias { v += load(bias + i) }
                store(v, dst + i)
                i += lanes
            }
            while i < dim {
                var v = (row[i] - mean) * rstd
                if let weight { v *= weight[i] }
                if let bias { v += bias[i] }
                dst[i] = v
                i += 1
            }
        }
    }
}

extension Kernels.Reference {
    /// Scalar twin of `Kernels.rmsNorm`, in Double.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
        rows: Int, dim: Int, out: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            var squares = 0.0
            for i in 0..<dim { squares += Double(x[r * dim + i]) * Double(x[r * dim + i]) }
            let scale = 1 / (squares / Double(dim) + Double(eps)).squareRoot()
            for i in 0..<dim { out[r * dim + i] = Float(Double(x[r * dim + i]) * scale * Double(weight[i])) }
        }
    }

    /// Scalar twin of `Kernels.layerNorm`, in Double.
    public static func layerNorm(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, eps: Float,
        rows: Int, dim: Int, out: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            var sum = 0.0
            for i in 0..<dim { sum += Double(x[r * dim + i]) }
            let mean = sum / Double(dim)
            var squares = 0.0
            for i in 0..<dim { squares += (Double(x[r * dim + i]) - mean) * (Double(x[r * dim + i]) - mean) }
            let rstd = 1 / (squares / Double(dim) + Double(eps)).squareRoot()
            for i in 0..<dim {
                let w = weight.map { Double($0[i]) } ?? 1
                let b = bias.map { Double($0[i]) } ?? 0
                out[r * dim + i] = Float((Double(x[r * dim + i]) - mean) * rstd * w + b)
            }
        }
    }
}
