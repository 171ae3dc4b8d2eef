import Tensors

/// The vocoder's layers as a chain of time-local stages, each computed once per frame as its inputs become final.
///
/// Every stage maps input frames to output frames with a bounded context: output frame t reads input frames
/// t - radius ... t + radius (zeros outside the signal, as the reference pads). A stage may emit output t once input
/// t + radius is final, or at the end of the sequence, when the padding is the signal's own end. So a streamed
/// utterance computes each layer's frames exactly once, like the one-shot pass, instead of re-decoding the
/// look-ahead margins of every chunk.
struct StreamingStage: Sendable {
    let radius: Int
    let inChannels: Int
    let outChannels: Int
    /// window: [n + 2 radius, inChannels], input frames first - radius ..< first + n + radius (zeros outside the
    /// signal). Returns the n output frames [n, outChannels]. `used`: the output rows anyone reads (several
    /// windows stacked: not the rows between them), where a stage may skip work; nil: all n.
    let compute: @Sendable (_ window: Tensor, _ n: Int, _ used: [Range<Int>]?, _ pool: WorkerPool?) -> Tensor
}

/// Frames first..<end of one stage's input, in a buffer that forgets what no later output needs.
struct FrameBuffer {
    let channels: Int
    private(set) var first = 0
    private var values: [Float] = []

    init(channels: Int) { self.channels = channels }

    var end: Int { first + values.count / channels }

    mutating func append(_ frames: UnsafePointer<Float>, count: Int) {
        values.append(contentsOf: UnsafeBufferPointer(start: frames, count: count * channels))
    }

    /// Frames lo..<hi, zeros where they fall outside 0..<end (only the signal's own padding is ever asked for).
    func window(_ lo: Int, _ hi: Int) -> Tensor {
        precondition(lo >= first || lo < 0, "frame \(lo) was already dropped (kept from \(first))")
        let out = Tensor(zeros: [hi - lo, channels])
        let a = max(lo, 0), b = min(hi, end)
        if b > a {
            values.withUnsafeBufferPointer { src in
                (out.pointer + (a - lo) * channels).update(from: src.baseAddress! + (a - first) * channels,
                                                           count: (b - a) * channels)
            }
        }
        return out
    }

    /// Forgets frames before `frame`.
    mutating func drop(before frame: Int) {
        let n = min(frame, end) - first
        guard n > 0 else { return }
        values.removeFirst(n * channels)
        first += n
    }
}

extension StreamingStage {
    /// A convolution (`TimeConv1d`, stride 1), then `post` on its output rows.
    static func conv(_ conv: TimeConv1d, post: (@Sendable (UnsafeMutablePointer<Float>, Int) -> Void)? = nil)
        -> StreamingStage
    {
        precondition(conv.stride == 1 && conv.dilation * (conv.kernelSize - 1) == 2 * conv.padding,
                     "a streaming stage needs a same-length convolution")
        let r = conv.padding, c = conv.outChannels
        // One product per tap over all n rows, also between stacked windows: a call per window would repack the
        // weights each time, which costs more than the few rows between windows.
        return StreamingStage(radius: r, inChannels: conv.inChannels, outChannels: c) { window, n, _, pool in
            let full = Tensor(zeros: [window.shape[0], c])
            let rows = r..<(n + r)
            if let pool, n <= Kernels.rowKernelMaximumRows {
                // A few rows: the output channels split across the pool (each share of the weights read once).
                splitChannels(c, pool: pool) { channels in conv.compute(window, rows: rows, into: full, channels: channels) }
            } else {
                splitRows(n, pool: pool) { rows in conv.compute(window, rows: (rows.lowerBound + r)..<(rows.upperBound + r), into: full) }
            }
            let out = Tensor(zeros: [n, c])
            out.pointer.update(from: full.pointer + r * c, count: n * c)
            post?(out.pointer, n * c)
            return out
        }
    }

    /// A ConvNeXt block: depthwise conv and LayerNorm on the used rows, then the pointwise MLP and the residual on
    /// those rows gathered into one product (the MLP is the block's cost; rows between stacked windows are skipped).
    static func block(_ block: ConvNeXtBlock) -> StreamingStage {
        let r = block.depthwise.padding, c = block.channels
        return StreamingStage(radius: r, inChannels: c, outChannels: c) { window, n, used, pool in
            let ranges = (used ?? [0..<n]).filter { !$0.isEmpty }
            let m = ranges.reduce(0) { $0 + $1.count }
            let y = Tensor(zeros: [window.shape[0], c])
            // The convolution reads the window as it came; the residual goes to a copy of the used rows (`xs`).
            for range in ranges {
                let inWindow = (range.lowerBound + r)..<(range.upperBound + r)
                block.depthwise.compute(window, rows: inWindow, into: y)
                Kernels.layerNorm(y.pointer + inWindow.lowerBound * c, weight: block.normWeight.pointer,
                                  bias: block.normBias.pointer, eps: 1e-6, rows: inWindow.count, dim: c,
                                  out: y.pointer + inWindow.lowerBound * c)
            }
            // The used rows side by side, for one MLP over all of them.
            let xs = Tensor(zeros: [m, c]), ys = Tensor(zeros: [m, c])
            var k = 0
            for range in ranges {
                (xs.pointer + k * c).update(from: window.pointer + (range.lowerBound + r) * c, count: range.count * c)
                (ys.pointer + k * c).update(from: y.pointer + (range.lowerBound + r) * c, count: range.count * c)
                k += range.count
            }
            // A chunk of one or a few streams: each product's features split across the pool; more rows (many
            // streams' windows stacked): the rows split, each share through sgemm.
            if let pool, m <= Kernels.rowKernelMaximumRows {
                block.mlp(xs, ys, rows: 0..<m, pool: pool)
            } else {
                splitRows(m, pool: pool) { rows in block.mlp(xs, ys, rows: rows) }
            }
            let out = Tensor(zeros: [n, c])
            k = 0
            for range in ranges {
                (out.pointer + range.lowerBound * c).update(from: xs.pointer + k * c, count: range.count * c)
                k += range.count
            }
            return out
        }
    }

    /// A frame-by-frame step (radius 0).
    static func pointwise(channels: Int, outChannels: Int? = nil,
                          _ body: @escaping @Sendable (Tensor, WorkerPool?) -> Tensor) -> StreamingStage {
        StreamingStage(radius: 0, inChannels: channels, outChannels: outChannels ?? channels) { window, _, _, pool in
            body(window, pool)
        }
    }
}

/// The rows of a stage's chunk, split across the pool from 32 rows on (two halves of a 24-step chunk's 48 mel
/// frames are worth two threads; smaller pieces are not).
func splitRows(_ rows: Int, pool: WorkerPool?, _ body: @escaping (Range<Int>) -> Void) {
    forEachChunk(rows: rows, pool: pool, minimum: 16, body)
}

/// `channels` output channels in contiguous shares of multiples of 16, one per pool thread.
func splitChannels(_ channels: Int, pool: WorkerPool, _ body: @escaping (Range<Int>) -> Void) {
    let units = (channels + 15) / 16
    let tasks = min(pool.threads, units)
    guard tasks > 1 else { return body(0..<channels) }
    let (per, extra) = units.quotientAndRemainder(dividingBy: tasks)
    let work = ChunkBody(body: body)
    pool.run(tasks: tasks) { t in
        let start = 16 * (t * per + min(t, extra))
        work.body(start..<min(channels, start + 16 * (per + (t < extra ? 1 : 0))))
    }
}

extension Decoder {
    /// The decoder as streaming stages: hidden-state halves (mel-rate frames) in, mel frames out.
    var streamingStages: [StreamingStage] {
        let s = stack, coef = coef, mel = melChannels
        var stages: [StreamingStage] = [
            .conv(s.convIn0, post: { Kernels.gelu($0, count: $1) }),
            .conv(s.convIn2),
        ]
        stages += s.blocks.map { .block($0) }
        stages.append(.conv(s.convOut))
        stages.append(.conv(outConv, post: { p, count in
            for i in 0..<count { p[i] *= coef.pointer[i % mel] }
        }))
        return stages
    }
}

extension Vocos {
    /// The backbone and head as streaming stages: mel frames in, windowed inverse-FFT frames [nFFT] out.
    var streamingStages: [StreamingStage] {
        let v = self
        var stages: [StreamingStage] = [.conv(embed, post: { p, count in
            Kernels.layerNorm(p, weight: v.normWeight.pointer, bias: v.normBias.pointer, eps: 1e-6,
                              rows: count / v.dim, dim: v.dim, out: p)
        })]
        stages += blocks.map { .block($0) }
        stages.append(.pointwise(channels: dim, outChannels: nFFT) { x, _ in
            let t = x.shape[0]
            Kernels.layerNorm(x.pointer, weight: v.finalWeight.pointer, bias: v.finalBias.pointer, eps: 1e-6, rows: t,
                              dim: v.dim, out: x.pointer)
            let (re, im) = v.spectrum(x)
            let frames = Tensor(zeros: [t, v.nFFT])
            v.inverseFrames(re: re, im: im, range: 0..<t, into: frames.pointer)
            return frames
        })
        return stages
    }
}
