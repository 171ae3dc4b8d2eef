import Tensors

/// Conv1d over time-major activations [T, C], as PyTorch's `nn.Conv1d` (zero padding) computes it on [C, T].
/// Each kernel tap is one GEMM over shifted rows, so the work goes through BLAS with no im2col copy; a stride is
/// only a larger row step of the GEMM's input (the DVAE's stride-2 downsampling). The checkpoint layout
/// [out, in, K] is repacked once at load into K matrices [out, in].
public struct TimeConv1d: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let dilation: Int
    public let padding: Int
    public let stride: Int
    /// [K, out, in]
    let taps: Tensor
    /// [out] or nil
    let bias: Tensor?

    public init(_ w: WeightScope, name: String = "", inChannels: Int? = nil, outChannels: Int? = nil,
                padding: Int, dilation: Int = 1, stride: Int = 1, bias hasBias: Bool) throws {
        precondition(stride >= 1 && dilation >= 1 && padding >= 0, "TimeConv1d: bad stride, dilation or padding")
        let prefix = name.isEmpty ? "" : name + "."
        let shape = try w.shape(of: prefix + "weight")
        guard shape.count == 3 else {
            throw ModelError(w.path, "\(w.key(prefix + "weight")) has shape \(shape), expected [out, in, kernel]")
        }
        let weight = try w(prefix + "weight", shape: [outChannels ?? shape[0], inChannels ?? shape[1], shape[2]])
        self.outChannels = shape[0]
        self.inChannels = shape[1]
        kernelSize = shape[2]
        self.dilation = dilation
        self.padding = padding
        self.stride = stride
        let packed = Tensor(zeros: [kernelSize, outChannels ?? shape[0], inChannels ?? shape[1]])
        let src = weight.pointer, dst = packed.pointer
        let (o, i, k) = (shape[0], shape[1], shape[2])
        for a in 0..<o { for b in 0..<i { for t in 0..<k { dst[(t * o + a) * i + b] = src[(a * i + b) * k + t] } } }
        taps = packed
        bias = hasBias ? try w(prefix + "bias", shape: [shape[0]]) : nil
    }

    /// PyTorch's (T + 2 padding - dilation (K - 1) - 1) / stride + 1; 0 when the padded input is shorter than the
    /// dilated kernel.
    public func outputLength(_ length: Int) -> Int {
        let span = length + 2 * padding - dilation * (kernelSize - 1) - 1
        return span < 0 ? 0 : span / stride + 1
    }

    /// x: [T, in] -> [T', out]. With a pool, output rows are split into chunks, one BLAS call per tap and chunk.
    public func callAsFunction(_ x: Tensor, pool: WorkerPool? = nil) -> Tensor {
        let t = x.shape[0]
        let outLength = outputLength(t)
        let out = Tensor(zeros: [outLength, outChannels])
        guard outLength > 0 else { return out }
        forEachChunk(rows: outLength, pool: pool) { rows in self.compute(x, rows: rows, into: out) }
        return out
    }

    /// Output rows `rows` of the convolution of x into out; only output channels `channels` (all by default: a
    /// task's share when a few rows are split by channels across the pool).
    func compute(_ x: Tensor, rows: Range<Int>, into out: Tensor, channels: Range<Int>? = nil) {
        let t = x.shape[0]
        let channels = channels ?? 0..<outChannels
        let c0 = channels.lowerBound
        if let bias {
            for r in rows { (out.pointer + r * outChannels + c0).update(from: bias.pointer + c0, count: channels.count) }
        }
        for tap in 0..<kernelSize {
            // Output row r reads input row r * stride + shift, which exists for r in first..<last.
            let shift = tap * dilation - padding
            guard t - 1 - shift >= 0 else { continue }
            let first = max(rows.lowerBound, shift < 0 ? (-shift + stride - 1) / stride : 0)
            let last = min(rows.upperBound, (t - 1 - shift) / stride + 1)
            guard last > first else { continue }
            Kernels.gemm(transB: true, m: last - first, n: channels.count, k: inChannels,
                         a: x.pointer + (first * stride + shift) * inChannels, lda: stride * inChannels,
                         b: taps.pointer + (tap * outChannels + c0) * inChannels, ldb: inChannels,
                         beta: bias == nil && tap == 0 ? 0 : 1, c: out.pointer + first * outChannels + c0,
                         ldc: outChannels)
        }
    }
}

/// Runs body over row chunks of `rows`, on the pool when there is one and the work is worth splitting: chunks of at
/// least 32 rows (BLAS is efficient from there), one per thread. Not more: every BLAS call packs the whole weight
/// matrix it reads, so a second chunk per thread cost a short clip (128 frames) a fifth of its decoder time.
/// `minimum`: the least rows a chunk gets (the streaming vocoder's small chunks take 16).
func forEachChunk(rows: Int, pool: WorkerPool?, minimum: Int = 32, _ body: @escaping (Range<Int>) -> Void) {
    guard let pool, pool.threads > 1, rows >= 2 * minimum else {
        if rows > 0 { body(0..<rows) }
        return
    }
    let chunks = min(pool.threads, rows / minimum)
    let (per, extra) = rows.quotientAndRemainder(dividingBy: chunks)
    let work = ChunkBody(body: body)
    pool.run(tasks: chunks) { c in
        let start = c * per + min(c, extra)
        work.body(start..<(start + per + (c < extra ? 1 : 0)))
    }
}

/// A chunk body shared by pool tasks; each task gets disjoint output rows, so the writes never overlap.
struct ChunkBody: @unchecked Sendable {
    let body: (Range<Int>) -> Void
}

/// Depthwise Conv1d (groups == channels) over time-major [T, C]: each channel filtered on its own, vectorized
/// across channels. Checkpoint layout [C, 1, K] is repacked to [K, C].
public struct DepthwiseConv1d: Sendable {
    public let channels: Int
    public let kernelSize: Int
    public let dilation: Int
    public let padding: Int
    let taps: Tensor   // [K, C]
    let bias: Tensor   // [C]

    public init(_ w: WeightScope, channels: Int, dilation: Int) throws {
        let shape = try w.shape(of: "weight")
        guard shape.count == 3, shape[0] == channels, shape[1] == 1 else {
            throw ModelError(w.path, "\(w.key("weight")) has shape \(shape), expected [\(channels), 1, kernel]")
        }
        let weight = try w("weight", shape: shape)
        kernelSize = shape[2]
        self.channels = channels
        self.dilation = dilation
        padding = dilation * (kernelSize / 2)
        let packed = Tensor(zeros: [kernelSize, channels])
        for c in 0..<channels { for k in 0..<kernelSize { packed.pointer[k * channels + c] = weight.pointer[c * kernelSize + k] } }
        taps = packed
        bias = try w("bias", shape: [channels])
    }

    /// x: [T, C] -> [T, C] (same length: padding = dilation * (K / 2))
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let out = Tensor(zeros: [x.shape[0], channels])
        compute(x, rows: 0..<x.shape[0], into: out)
        return out
    }

    /// Output rows `rows` into out [T, C].
    func compute(_ x: Tensor, rows: Range<Int>, into out: Tensor) {
        let t = x.shape[0], c = channels
        let xp = x.pointer, op = out.pointer, wp = taps.pointer, bp = bias.pointer
        for r in rows {
            let dst = op + r * c
            dst.update(from: bp, count: c)
            for k in 0..<kernelSize {
                let src = r + k * dilation - padding
                guard src >= 0 && src < t else { continue }
                let row = xp + src * c, tap = wp + k * c
                for i in 0..<c { dst[i] += tap[i] * row[i] }
            }
        }
    }
}
