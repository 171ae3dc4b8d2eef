import Tensors

/// `Decoder.safetensors` ("use_decoder" path): GPT hidden states to a 100-channel mel spectrogram.
///
/// Each hidden state [hidden] is split in two halves that become two consecutive frames, doubling the frame rate;
/// in time-major layout that split is only a reshape ([N, hidden] -> [2N, hidden/2]). Then conv_in (conv, GELU,
/// conv), ConvNeXt blocks (kernel 7, dilation 2), a 1x1 conv_out, a kernel-3 out_conv and a per-channel `coef`.
public struct Decoder: Sendable {
    let convIn0: TimeConv1d
    let convIn2: TimeConv1d
    let blocks: [ConvNeXtBlock]
    let convOut: TimeConv1d
    let outConv: TimeConv1d
    let coef: Tensor            // [melChannels]
    public let inputChannels: Int
    public let melChannels: Int
    /// Threads for the convolutions (nil: the calling thread only).
    let pool: WorkerPool?

    /// Frames of context one output frame depends on, on each side (for streaming without re-decoding).
    public var receptiveRadius: Int {
        convIn0.padding + convIn2.padding + blocks.reduce(0) { $0 + $1.depthwise.padding } + outConv.padding
    }

    public init(path: String, pool: WorkerPool? = nil) throws {
        self.pool = pool
        let loader = try WeightLoader(path: path)
        let w = loader.root
        let d = w.scope("decoder")
        convIn0 = try TimeConv1d(d.scope("conv_in").scope(0), padding: 1, bias: true)
        convIn2 = try TimeConv1d(d.scope("conv_in").scope(2), inChannels: convIn0.outChannels, padding: 1, bias: true)
        let hidden = convIn2.outChannels
        var blocks: [ConvNeXtBlock] = []
        while d.scope("decoder_block").scope(blocks.count).contains("dwconv.weight") {
            blocks.append(try ConvNeXtBlock(d.scope("decoder_block").scope(blocks.count), channels: hidden, dilation: 2,
                                            scaleName: "weight"))
        }
        self.blocks = blocks
        convOut = try TimeConv1d(d.scope("conv_out"), inChannels: hidden, padding: 0, bias: false)
        outConv = try TimeConv1d(w.scope("out_conv"), inChannels: convOut.outChannels, padding: 1, bias: false)
        melChannels = outConv.outChannels
        let coefShape = try w.shape(of: "coef")
        coef = try w("coef", shape: coefShape).reshaped([coefShape.reduce(1, *)])
        guard coef.count == melChannels else {
            throw ModelError(path, "coef has \(coef.count) values for \(melChannels) mel channels")
        }
        inputChannels = convIn0.inChannels
        try loader.finish()
    }

    /// hidden: [N, 2 * inputChannels] GPT hidden states -> mel [2N, melChannels] (time-major).
    public func callAsFunction(_ hidden: Tensor, debug: DebugSink? = nil) -> Tensor {
        precondition(hidden.rank == 2 && hidden.shape[1] == 2 * inputChannels, "decoder input \(hidden.shape)")
        let frames = hidden.reshaped([hidden.shape[0] * 2, inputChannels])
        let a = convIn0(frames, pool: pool)
        Kernels.gelu(a.pointer, count: a.count)
        let x = convIn2(a, pool: pool)
        for block in blocks { block(x, pool: pool) }
        let y = outConv(convOut(x, pool: pool), pool: pool)
        let t = y.shape[0], c = melChannels
        for r in 0..<t { for i in 0..<c { y.pointer[r * c + i] *= coef.pointer[i] } }
        debug?.record("mel", y)
        return y
    }
}
