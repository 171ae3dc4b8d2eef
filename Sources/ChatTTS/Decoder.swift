import Tensors

/// `Decoder.safetensors` ("use_decoder" path): GPT hidden states to a 100-channel mel spectrogram.
///
/// Each hidden state [hidden] is split in two halves that become two consecutive frames, doubling the frame rate;
/// in time-major layout that split is only a reshape ([N, hidden] -> [2N, hidden/2]). Then conv_in (conv, GELU,
/// conv), ConvNeXt blocks (kernel 7, dilation 2), a 1x1 conv_out, a kernel-3 out_conv and a per-channel `coef`.
public struct Decoder: Sendable {
    let stack: ConvNeXtStack
    let outConv: TimeConv1d
    let coef: Tensor            // [melChannels]
    public let inputChannels: Int
    public let melChannels: Int
    /// Threads for the convolutions (nil: the calling thread only).
    let pool: WorkerPool?

    /// Frames of context one output frame depends on, on each side (for streaming without re-decoding).
    public var receptiveRadius: Int { stack.receptiveRadius + outConv.padding }

    public init(path: String, pool: WorkerPool? = nil) throws {
        self.pool = pool
        let loader = try WeightLoader(path: path)
        let w = loader.root
        stack = try ConvNeXtStack(w.scope("decoder"), dilation: 2)
        outConv = try TimeConv1d(w.scope("out_conv"), inChannels: stack.outChannels, padding: 1, bias: false)
        melChannels = outConv.outChannels
        coef = try loadCoef(w, channels: melChannels)
        inputChannels = stack.inChannels
        try loader.finish()
    }

    /// hidden: [N, 2 * inputChannels] GPT hidden states -> mel [2N, melChannels] (time-major).
    public func callAsFunction(_ hidden: Tensor, debug: DebugSink? = nil) -> Tensor {
        precondition(hidden.rank == 2 && hidden.shape[1] == 2 * inputChannels, "decoder input \(hidden.shape)")
        let frames = hidden.reshaped([hidden.shape[0] * 2, inputChannels])
        let y = outConv(stack(frames, pool: pool), pool: pool)
        let t = y.shape[0], c = melChannels
        for r in 0..<t { for i in 0..<c { y.pointer[r * c + i] *= coef.pointer[i] } }
        debug?.record("mel", y)
        return y
    }
}

/// The per-mel-channel `coef` of `Decoder.safetensors` and `DVAE.safetensors`, stored as [1, channels, 1].
func loadCoef(_ w: WeightScope, channels: Int) throws -> Tensor {
    let shape = try w.shape(of: "coef")
    let coef = try w("coef", shape: shape).reshaped([shape.reduce(1, *)])
    guard coef.count == channels else {
        throw ModelError(w.path, "coef has \(coef.count) values for \(channels) mel channels")
    }
    return coef
}
