import Tensors

/// A ConvNeXt block over time-major [T, C]: depthwise conv, LayerNorm, pointwise MLP with GELU, layer scale,
/// residual. ChatTTS's decoder (kernel 7, dilation 2, scale named `weight`) and Vocos (dilation 1, scale named
/// `gamma`) share it.
public struct ConvNeXtBlock: Sendable {
    let depthwise: DepthwiseConv1d
    let normWeight: Tensor      // [C]
    let normBias: Tensor        // [C]
    let pw1: Tensor             // [intermediate, C]
    let pw1Bias: Tensor         // [intermediate]
    let pw2: Tensor             // [C, intermediate]
    let pw2Bias: Tensor         // [C]
    let scale: Tensor?          // [C]
    let channels: Int
    let intermediate: Int

    public init(_ w: WeightScope, channels: Int, dilation: Int, scaleName: String) throws {
        self.channels = channels
        depthwise = try DepthwiseConv1d(w.scope("dwconv"), channels: channels, dilation: dilation)
        normWeight = try w("norm.weight", shape: [channels])
        normBias = try w("norm.bias", shape: [channels])
        let pw1Shape = try w.shape(of: "pwconv1.weight")
        guard pw1Shape.count == 2, pw1Shape[1] == channels else {
            throw ModelError(w.path, "\(w.key("pwconv1.weight")) has shape \(pw1Shape), expected [intermediate, \(channels)]")
        }
        intermediate = pw1Shape[0]
        pw1 = try w("pwconv1.weight", shape: [intermediate, channels])
        pw1Bias = try w("pwconv1.bias", shape: [intermediate])
        pw2 = try w("pwconv2.weight", shape: [channels, intermediate])
        pw2Bias = try w("pwconv2.bias", shape: [channels])
        scale = w.contains(scaleName) ? try w(scaleName, shape: [channels]) : nil
    }

    /// x: [T, C], updated in place (residual added). With a pool, time is split into chunks: first the depthwise
    /// conv and LayerNorm of every chunk (they read neighbouring rows of x), then the pointwise MLP, GELU and
    /// residual of every chunk (row by row, so the whole MLP of a chunk stays in cache).
    public func callAsFunction(_ x: Tensor, pool: WorkerPool? = nil) {
        let t = x.shape[0], c = channels
        let y = Tensor(zeros: [t, c])
        forEachChunk(rows: t, pool: pool) { rows in
            self.depthwise.compute(x, rows: rows, into: y)
            Kernels.layerNorm(y.pointer + rows.lowerBound * c, weight: self.normWeight.pointer,
                              bias: self.normBias.pointer, eps: 1e-6, rows: rows.count, dim: c,
                              out: y.pointer + rows.lowerBound * c)
        }
        forEachChunk(rows: t, pool: pool) { rows in self.mlp(x, y, rows: rows) }
    }

    /// The MLP of a few rows (a streamed chunk) with each product's output features split across the pool
    /// (`Kernels.linear(...pool:)`); the same arithmetic as `mlp(_:_:rows:)` row by row.
    func mlp(_ x: Tensor, _ y: Tensor, rows: Range<Int>, pool: WorkerPool) {
        let c = channels, n = rows.count, first = rows.lowerBound, wide = intermediate
        let hidden = Tensor(zeros: [n, wide]), z = Tensor(zeros: [n, c])
        let hp = hidden.pointer, zp = z.pointer, xp = x.pointer + first * c
        Kernels.linear(input: y.pointer + first * c, rows: n, inFeatures: c, weight: pw1.pointer, outFeatures: wide,
                       bias: pw1Bias.pointer, output: hp, pool: pool) { columns in
            for r in 0..<n { Kernels.gelu(hp + r * wide + columns.lowerBound, count: columns.count) }
        }
        let scale = scale?.pointer
        Kernels.linear(input: hp, rows: n, inFeatures: wide, weight: pw2.pointer, outFeatures: c,
                       bias: pw2Bias.pointer, output: zp, pool: pool) { columns in
            for r in 0..<n {
                for i in columns { xp[r * c + i] += scale.map { zp[r * c + i] * $0[i] } ?? zp[r * c + i] }
            }
        }
    }

    func mlp(_ x: Tensor, _ y: Tensor, rows: Range<Int>) {
        let c = channels, n = rows.count, first = rows.lowerBound
        let hidden = Tensor(zeros: [n, intermediate])
        Kernels.linear(input: y.pointer + first * c, rows: n, inFeatures: c, weight: pw1.pointer,
                       outFeatures: intermediate, bias: pw1Bias.pointer, output: hidden.pointer)
        Kernels.gelu(hidden.pointer, count: n * intermediate)
        let z = Tensor(zeros: [n, c])
        Kernels.linear(input: hidden.pointer, rows: n, inFeatures: intermediate, weight: pw2.pointer, outFeatures: c,
                       bias: pw2Bias.pointer, output: z.pointer)
        let xp = x.pointer + first * c, zp = z.pointer
        if let scale {
            let sp = scale.pointer
            for r in 0..<n { for i in 0..<c { xp[r * c + i] += zp[r * c + i] * sp[i] } }
        } else {
            for i in 0..<(n * c) { xp[i] += zp[i] }
        }
    }
}

/// The official `DVAEDecoder` module over time-major [T, C]: conv_in (conv k3, GELU, conv k3), ConvNeXt blocks
/// (layer scale named `weight`), a 1x1 conv_out without bias. ChatTTS builds its speech decoder
/// (`Decoder.safetensors`, scope `decoder`) and the DVAE's encoder (scope `encoder`) from it.
public struct ConvNeXtStack: Sendable {
    let convIn0: TimeConv1d
    let convIn2: TimeConv1d
    let blocks: [ConvNeXtBlock]
    let convOut: TimeConv1d

    public var inChannels: Int { convIn0.inChannels }
    public var outChannels: Int { convOut.outChannels }

    /// Frames of context one output frame depends on, on each side.
    public var receptiveRadius: Int {
        convIn0.padding + convIn2.padding + blocks.reduce(0) { $0 + $1.depthwise.padding } + convOut.padding
    }

    /// Blocks are read while `decoder_block.N` exists, so the depth comes from the checkpoint.
    public init(_ w: WeightScope, dilation: Int) throws {
        convIn0 = try TimeConv1d(w.scope("conv_in").scope(0), padding: 1, bias: true)
        convIn2 = try TimeConv1d(w.scope("conv_in").scope(2), inChannels: convIn0.outChannels, padding: 1, bias: true)
        let hidden = convIn2.outChannels
        var blocks: [ConvNeXtBlock] = []
        while w.scope("decoder_block").scope(blocks.count).contains("dwconv.weight") {
            blocks.append(try ConvNeXtBlock(w.scope("decoder_block").scope(blocks.count), channels: hidden,
                                            dilation: dilation, scaleName: "weight"))
        }
        self.blocks = blocks
        convOut = try TimeConv1d(w.scope("conv_out"), inChannels: hidden, padding: 0, bias: false)
    }

    /// x: [T, inChannels] -> [T, outChannels]
    public func callAsFunction(_ x: Tensor, pool: WorkerPool? = nil) -> Tensor {
        let a = convIn0(x, pool: pool)
        Kernels.gelu(a.pointer, count: a.count)
        let y = convIn2(a, pool: pool)
        for block in blocks { block(y, pool: pool) }
        return convOut(y, pool: pool)
    }
}
