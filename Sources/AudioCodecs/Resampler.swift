import CSoxr

/// Sample-rate conversion of a whole mono signal with libsoxr (Debian `libsoxr`), for voice samples recorded at
/// another rate than the model's 24 kHz.
///
/// Quality: `SOXR_VHQ` (soxr's "very high quality": 28-bit precision, flat passband to 91.3 % of the lower Nyquist
/// frequency, stop band from that Nyquist frequency) with linear phase, float32 in and out, one thread
/// (`soxr_oneshot`, which flushes the filter, so the output has the input's duration and no delay). Far beyond
/// what the DVAE's 100-band mel spectrogram can tell apart.
public enum Resampler {
    /// `samples` at `inputRate` -> the same signal at `outputRate`: round(count x outputRate / inputRate) samples.
    /// Equal rates return the input unchanged.
    public static func resample(_ samples: [Float], from inputRate: Int, to outputRate: Int) throws -> [Float] {
        guard inputRate > 0, outputRate > 0 else {
            throw AudioCodecError(.resamplingFailed, "sample rates must be positive, got \(inputRate) -> \(outputRate)")
        }
        if inputRate == outputRate || samples.isEmpty { return samples }
        let capacity = Int((Double(samples.count) * Double(outputRate) / Double(inputRate)).rounded(.up)) + 1
        var output = [Float](repeating: 0, count: capacity)
        var quality = soxr_quality_spec(csoxr_very_high_quality, csoxr_linear_phase)
        var written = 0
        let error = samples.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                soxr_oneshot(Double(inputRate), Double(outputRate), 1, input.baseAddress, input.count, nil,
                             out.baseAddress, out.count, &written, nil, &quality, nil)
            }
        }
        if let error {
            throw AudioCodecError(.resamplingFailed,
                                  "libsoxr \(inputRate) -> \(outputRate) Hz: \(String(cString: error))")
        }
        return Array(output.prefix(written))
    }
}
