import Foundation
import Tensors

/// The DVAE's input features (official `MelSpectrogramFeatures`): torchaudio's `MelSpectrogram` as the DVAE builds
/// it, then `log(clip(mel, 1e-5))`.
///
/// torchaudio's settings there: n_fft 1024, win_length n_fft, hop 256, periodic Hann window, `center` with reflect
/// padding of n_fft / 2 on both sides, power 1 (magnitude), no normalization; `MelScale` with 100 HTK mels over
/// 0-12 kHz and no norm, applied as `spectrogram^T @ fb`. The window and the filter bank are buffers of the
/// checkpoint (`spectrogram.window`, `mel_scale.fb`), so they are read, not rebuilt; the hop is not stored and is
/// ChatTTS's fixed 256. A waveform of L samples gives L / hop + 1 frames.
public struct MelSpectrogram: Sendable {
    let window: [Float]     // [nFFT]
    let filters: Tensor     // [bins, mels]: torchaudio's fb
    let fft: RealFFT
    public let hop: Int
    public var nFFT: Int { fft.size }
    public var mels: Int { filters.shape[1] }
    /// The fewest samples the reflect padding accepts (torch's rule: the padding must be shorter than the input).
    public var minimumSamples: Int { nFFT / 2 + 1 }

    /// w: the `mel_spec` scope of `preprocessor_mel`.
    init(_ w: WeightScope, hop: Int = 256) throws {
        let windowShape = try w.scope("spectrogram").shape(of: "window")
        guard windowShape.count == 1, let n = windowShape.first, n >= 2, n & (n - 1) == 0 else {
            throw ModelError(w.path, "\(w.key("spectrogram.window")) has shape \(windowShape), expected [n_fft] "
                                 + "with n_fft a power of two")
        }
        window = try w.scope("spectrogram")("window", shape: [n]).scalars
        fft = RealFFT(size: n)
        let fbShape = try w.scope("mel_scale").shape(of: "fb")
        guard fbShape.count == 2, fbShape[0] == n / 2 + 1 else {
            throw ModelError(w.path, "\(w.key("mel_scale.fb")) has shape \(fbShape), expected [\(n / 2 + 1), mels]")
        }
        filters = try w.scope("mel_scale")("fb", shape: fbShape)
        self.hop = hop
    }

    public func frameCount(samples: Int) -> Int { samples / hop + 1 }

    /// samples (at least `minimumSamples`) -> log mel [frames, mels], time-major. With a pool, frames are split
    /// into chunks.
    public func logMel(_ samples: [Float], pool: WorkerPool? = nil) -> Tensor {
        precondition(samples.count >= minimumSamples, "MelSpectrogram: \(samples.count) samples, fewer than "
                         + "\(minimumSamples)")
        let frames = frameCount(samples: samples.count), bins = fft.binCount
        let magnitude = Tensor(zeros: [frames, bins])
        forEachChunk(rows: frames, pool: pool) { rows in self.magnitudes(samples, rows: rows, into: magnitude) }
        let out = Tensor(zeros: [frames, mels])
        Kernels.gemm(m: frames, n: mels, k: bins, a: magnitude.pointer, lda: bins, b: filters.pointer, ldb: mels,
                     c: out.pointer, ldc: mels)
        for i in 0..<out.count { out.pointer[i] = Foundation.log(max(out.pointer[i], 1e-5)) }
        return out
    }

    /// |STFT| of frames `rows` into magnitude [frames, bins]. Frame f covers padded samples [f hop, f hop + nFFT);
    /// padded sample p is samples[p - nFFT/2], reflected at both ends without repeating the edge (torch's
    /// "reflect").
    func magnitudes(_ samples: [Float], rows: Range<Int>, into magnitude: Tensor) {
        let n = nFFT, bins = fft.binCount, pad = n / 2, last = samples.count - 1
        var frame = [Float](repeating: 0, count: n)
        var re = [Float](repeating: 0, count: bins), im = [Float](repeating: 0, count: bins)
        for f in rows {
            for j in 0..<n {
                var s = f * hop + j - pad
                if s < 0 { s = -s } else if s > last { s = 2 * last - s }
                frame[j] = samples[s] * window[j]
            }
            fft.forward(frame, re: &re, im: &im)
            let row = magnitude.pointer + f * bins
            for k in 0..<bins { row[k] = (re[k] * re[k] + im[k] * im[k]).squareRoot() }
        }
    }
}

