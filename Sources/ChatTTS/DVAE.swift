import Tensors

/// `DVAE.safetensors`, encoding half (official `DVAE.forward(mode="encode")`, what `Chat.sample_audio_speaker`
/// runs): a 24 kHz mono waveform to the codes [numVQ][frames] a voice sample puts in the speech prompt.
///
/// Log mel spectrogram [T, 100] (`MelSpectrogram`), divided by `coef` per channel; `downsample_conv` (conv k3 p1,
/// GELU, conv k4 stride 2 p1, GELU) halves the frame rate to T / 2; the encoder (a `ConvNeXtStack`, kernel 7,
/// dilation 2) maps to the quantizer's channels; `GFSQ` gives the codes. One code frame is 512 samples, like one
/// generated step.
///
/// The decoding half (`decoder`, `out_conv`, the quantizer's `project_out`) turns codes back into mel; synthesis
/// uses `Decoder.safetensors` instead, so those tensors are marked unused rather than loaded.
public struct DVAEEncoder: Sendable {
    public let mel: MelSpectrogram
    let coef: Tensor                // [mels]
    let downsample0: TimeConv1d     // mels -> dim, k3
    let downsample2: TimeConv1d     // dim -> dim, k4, stride 2
    let encoder: ConvNeXtStack      // dim -> quantizer.dim
    public let quantizer: GFSQ
    /// Threads for the convolutions (nil: the calling thread only).
    let pool: WorkerPool?

    /// Code rows: `numVQ` (the GPT's codebooks) = groups x residual levels; the checkpoint holds the groups.
    public init(path: String, numVQ: Int, pool: WorkerPool? = nil) throws {
        self.pool = pool
        let loader = try WeightLoader(path: path)
        let w = loader.root
        mel = try MelSpectrogram(w.scope("preprocessor_mel").scope("mel_spec"))
        coef = try loadCoef(w, channels: mel.mels)
        downsample0 = try TimeConv1d(w.scope("downsample_conv").scope(0), inChannels: mel.mels, padding: 1, bias: true)
        downsample2 = try TimeConv1d(w.scope("downsample_conv").scope(2), inChannels: downsample0.outChannels,
                                     padding: 1, stride: 2, bias: true)
        encoder = try ConvNeXtStack(w.scope("encoder"), dilation: 2)
        guard encoder.inChannels == downsample2.outChannels else {
            throw ModelError(path, "the encoder reads \(encoder.inChannels) channels, downsample_conv makes "
                                 + "\(downsample2.outChannels)")
        }
        quantizer = try GFSQ(w.scope("vq_layer").scope("quantizer"), codebooks: numVQ)
        guard quantizer.dim == encoder.outChannels else {
            throw ModelError(path, "the quantizer reads \(quantizer.dim) channels, the encoder makes "
                                 + "\(encoder.outChannels)")
        }
        for key in loader.file.names where key.hasPrefix("decoder.") || key.hasPrefix("out_conv.") {
            loader.skip(key)
        }
        try loader.finish()
    }

    /// The fewest samples `encode` takes.
    public var minimumSamples: Int { mel.minimumSamples }

    /// Code frames for a waveform of `samples` samples: half its mel frames, rounded down.
    public func codeFrames(samples: Int) -> Int { downsample2.outputLength(mel.frameCount(samples: samples)) }

    /// samples: 24 kHz mono, at least `minimumSamples` -> codes[q][frame], q in 0..<numVQ.
    public func encode(_ samples: [Float], debug: DebugSink? = nil) -> [[Int]] {
        let logMel = mel.logMel(samples, pool: pool)
        debug?.record("dvae.log_mel", logMel)
        let t = logMel.shape[0], c = mel.mels
        let scaled = Tensor(zeros: [t, c])
        for r in 0..<t { for i in 0..<c { scaled.pointer[r * c + i] = logMel.pointer[r * c + i] / coef.pointer[i] } }
        debug?.record("dvae.downsample_in", scaled)
        let a = downsample0(scaled, pool: pool)
        Kernels.gelu(a.pointer, count: a.count)
        let down = downsample2(a, pool: pool)
        Kernels.gelu(down.pointer, count: down.count)
        debug?.record("dvae.downsample_out", down)
        let latent = encoder(down, pool: pool)
        debug?.record("dvae.pre_vq", latent)
        return quantizer.indices(latent)
    }
}
