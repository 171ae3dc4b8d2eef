import Foundation
import Tensors

/// `Vocos.safetensors`: mel [T, 100] to a 24 kHz waveform.
///
/// Backbone: Conv1d(100 -> dim, k7), LayerNorm, ConvNeXt blocks, LayerNorm. Head: Linear(dim -> nFFT + 2) gives
/// log-magnitude and phase of nFFT/2 + 1 bins per frame; magnitude = min(exp(x), 100); then an inverse STFT with a
/// periodic Hann window and "center" padding (torch.istft(center=True)): (T - 1) * hop samples.
public struct Vocos: Sendable {
    let embed: TimeConv1d
    let normWeight: Tensor, normBias: Tensor
    let blocks: [ConvNeXtBlock]
    let finalWeight: Tensor, finalBias: Tensor
    let headWeight: Tensor      // [nFFT + 2, dim]
    let headBias: Tensor        // [nFFT + 2]
    let window: [Float]         // [nFFT]
    let fft: RealFFT
    public let dim: Int
    public let nFFT: Int
    /// Samples per frame. Not stored in the checkpoint; ChatTTS's configuration fixes it at 256 (24 kHz / 93.75 Hz).
    public let hop: Int
    public var melChannels: Int { embed.inChannels }
    /// Threads for the backbone and head (nil: the calling thread only).
    let pool: WorkerPool?

    /// Frames of context one output frame depends on through the backbone, on each side.
    public var receptiveRadius: Int { embed.padding + blocks.reduce(0) { $0 + $1.depthwise.padding } }

    public init(path: String, hop: Int = 256, pool: WorkerPool? = nil) throws {
        self.pool = pool
        let loader = try WeightLoader(path: path)
        let w = loader.root
        let b = w.scope("backbone")
        embed = try TimeConv1d(b.scope("embed"), padding: 3, bias: true)
        dim = embed.outChannels
        normWeight = try b("norm.weight", shape: [dim])
        normBias = try b("norm.bias", shape: [dim])
        var blocks: [ConvNeXtBlock] = []
        while b.scope("convnext").scope(blocks.count).contains("dwconv.weight") {
            blocks.append(try ConvNeXtBlock(b.scope("convnext").scope(blocks.count), channels: dim, dilation: 1, scaleName: "gamma"))
        }
        self.blocks = blocks
        finalWeight = try b("final_layer_norm.weight", shape: [dim])
        finalBias = try b("final_layer_norm.bias", shape: [dim])
        let headShape = try w.shape(of: "head.out.weight")
        guard headShape.count == 2, headShape[1] == dim, headShape[0] >= 6, (headShape[0] - 2) % 2 == 0 else {
            throw ModelError(path, "head.out.weight has shape \(headShape), expected [nFFT + 2, \(dim)]")
        }
        nFFT = headShape[0] - 2
        guard nFFT & (nFFT - 1) == 0 else { throw ModelError(path, "nFFT \(nFFT) is not a power of two") }
        self.hop = hop
        headWeight = try w("head.out.weight", shape: headShape)
        headBias = try w("head.out.bias", shape: [headShape[0]])
        window = try w("head.istft.window", shape: [nFFT]).scalars
        fft = RealFFT(size: nFFT)
        // The mel feature extractor (for encoding reference audio) is not part of synthesis.
        for key in loader.file.names where key.hasPrefix("feature_extractor.") { loader.skip(key) }
        try loader.finish()
    }

    /// mel: [T, melChannels] -> backbone output [T, dim]
    func backbone(_ mel: Tensor) -> Tensor {
        let x = embed(mel, pool: pool)
        let t = x.shape[0]
        Kernels.layerNorm(x.pointer, weight: normWeight.pointer, bias: normBias.pointer, eps: 1e-6, rows: t, dim: dim, out: x.pointer)
        for block in blocks { block(x, pool: pool) }
        Kernels.layerNorm(x.pointer, weight: finalWeight.pointer, bias: finalBias.pointer, eps: 1e-6, rows: t, dim: dim, out: x.pointer)
        return x
    }

    /// Complex spectrum per frame: [T, bins] real and imaginary parts.
    func spectrum(_ features: Tensor) -> (re: Tensor, im: Tensor) {
        let t = features.shape[0], bins = nFFT / 2 + 1
        let head = Tensor(zeros: [t, nFFT + 2])
        let re = Tensor(zeros: [t, bins]), im = Tensor(zeros: [t, bins])
        if let pool, t <= Kernels.rowKernelMaximumRows {
            // A streamed chunk's few frames: the head's output features split across the pool, then its rows.
            Kernels.linear(input: features.pointer, rows: t, inFeatures: dim, weight: headWeight.pointer,
                           outFeatures: nFFT + 2, bias: headBias.pointer, output: head.pointer, pool: pool)
            forEachChunk(rows: t, pool: pool, minimum: 4) { rows in self.polar(head: head, re: re, im: im, rows: rows) }
            return (re, im)
        }
        forEachChunk(rows: t, pool: pool) { rows in
            self.spectrumRows(features, head: head, re: re, im: im, rows: rows)
        }
        return (re, im)
    }

    func spectrumRows(_ features: Tensor, head: Tensor, re: Tensor, im: Tensor, rows: Range<Int>) {
        Kernels.linear(input: features.pointer + rows.lowerBound * dim, rows: rows.count, inFeatures: dim,
                       weight: headWeight.pointer, outFeatures: nFFT + 2, bias: headBias.pointer,
                       output: head.pointer + rows.lowerBound * (nFFT + 2))
        polar(head: head, re: re, im: im, rows: rows)
    }

    /// The head's rows `rows` (log-magnitudes, then phases) as spectra: magnitude exp(m) capped at 100.
    func polar(head: Tensor, re: Tensor, im: Tensor, rows: Range<Int>) {
        let bins = nFFT / 2 + 1
        for r in rows {
            let row = head.pointer + r * (nFFT + 2)
            for f in 0..<bins {
                let magnitude = min(Foundation.exp(row[f]), 100)
                let phase = row[bins + f]
                re.pointer[r * bins + f] = magnitude * Foundation.cos(phase)
                im.pointer[r * bins + f] = magnitude * Foundation.sin(phase)
            }
        }
    }

    /// mel: [T, melChannels] (time-major) -> waveform of (T - 1) * hop samples.
    public func callAsFunction(_ mel: Tensor, debug: DebugSink? = nil) -> [Float] {
        let t = mel.shape[0]
        guard t > 1 else { return [] }
        let (re, im) = spectrum(backbone(mel))
        let frames = Tensor(zeros: [t, nFFT])
        inverseFrames(re: re, im: im, range: 0..<t, into: frames.pointer)
        let half = nFFT / 2
        let wave = overlapAdd(frames: frames.pointer, frameRange: 0..<t, totalFrames: t, paddedRange: half..<(half + (t - 1) * hop))
        debug?.record("wave", Tensor(shape: [wave.count], values: wave))
        return wave
    }

    /// Windowed inverse FFT of frames `range`, written to `into` [range.count, nFFT].
    func inverseFrames(re: Tensor, im: Tensor, range: Range<Int>, into: UnsafeMutablePointer<Float>) {
        let bins = nFFT / 2 + 1
        window.withUnsafeBufferPointer { w in
            for (i, r) in range.enumerated() {
                let out = into + i * nFFT
                fft.inverse(re: re.pointer + r * bins, im: im.pointer + r * bins, output: out)
                for n in 0..<nFFT { out[n] *= w[n] }
            }
        }
    }

    /// Overlap-add of windowed frames divided by the summed squared window (torch.istft's normalization), for
    /// samples `paddedRange` of the padded signal, where frame f covers [f * hop, f * hop + nFFT) and output sample s
    /// is padded sample s + nFFT / 2 ("center"). `frames` holds frames `frameRange`, which must include every frame
    /// of the signal that touches `paddedRange`.
    func overlapAdd(frames: UnsafePointer<Float>, frameRange: Range<Int>, totalFrames: Int, paddedRange: Range<Int>) -> [Float] {
        var out = [Float](repeating: 0, count: paddedRange.count)
        var envelope = [Float](repeating: 0, count: paddedRange.count)
        for f in frameRange where f < totalFrames {
            let start = f * hop
            let lo = max(start, paddedRange.lowerBound), hi = min(start + nFFT, paddedRange.upperBound)
            guard lo < hi else { continue }
            let frame = frames + (f - frameRange.lowerBound) * nFFT
            for s in lo..<hi {
                let n = s - start
                out[s - paddedRange.lowerBound] += frame[n]
                envelope[s - paddedRange.lowerBound] += window[n] * window[n]
            }
        }
        for i in 0..<out.count where envelope[i] > 1e-11 { out[i] /= envelope[i] }
        return out
    }
}
