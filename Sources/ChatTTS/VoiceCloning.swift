import AudioCodecs
import Foundation

extension PromptError.Reason {
    /// The asset folder has no `DVAE.safetensors`, so this model cannot encode voice samples (the service's fault).
    public static let cloningUnavailable = Self(name: "cloning_unavailable")
    /// The bytes are not a WAV file this service decodes (the message says which chunk or field).
    public static let unreadableAudio = Self(name: "unreadable_audio")
    /// A recording with samples that are not finite numbers.
    public static let invalidSamples = Self(name: "invalid_samples")
    public static let sampleTooShort = Self(name: "sample_too_short")
    public static let sampleTooLong = Self(name: "sample_too_long")
}

extension ChatTTSModel {
    /// The longest sample, in seconds. 30 s is 1406 code frames, which the speech prompt carries after the text:
    /// with the default 2048 steps that leaves 642 of the model's 4096 positions to the text. Official ChatTTS
    /// sets no bound; this one keeps the prompt and the encoder's work bounded.
    public static let maxSampleSeconds = 30

    /// A voice sample from a 24 kHz mono waveform in [-1, 1] and what it says, as the official
    /// `Chat.sample_audio_speaker(wav)` (the codes) with `txt_smp` (the transcript).
    ///
    /// Throws `PromptError`: `.cloningUnavailable` without `DVAE.safetensors`, `.invalidSamples` for NaN or
    /// infinity, `.sampleTooShort` below the DVAE's minimum (n_fft / 2 + 1 = 513 samples, about 21 ms, where the
    /// reference's reflect padding stops working), `.sampleTooLong` above `maxSampleSeconds`.
    public func sample(waveform: [Float], transcript: String, debug: DebugSink? = nil) throws -> SpeakerSample {
        guard let dvae else {
            throw PromptError(.cloningUnavailable, "voice cloning needs \(Self.dvaeFile), which the asset folder "
                                  + "\(folder.path) does not have")
        }
        if let bad = waveform.firstIndex(where: { !$0.isFinite }) {
            throw PromptError(.invalidSamples, "sample \(bad) of the recording is not a finite number")
        }
        guard waveform.count >= dvae.minimumSamples else {
            throw PromptError(.sampleTooShort, "the recording has \(waveform.count) samples at \(sampleRate) Hz; a "
                                  + "voice sample needs at least \(dvae.minimumSamples)")
        }
        try checkDuration(samples: waveform.count, rate: sampleRate)
        return SpeakerSample(codes: dvae.encode(waveform, debug: debug), transcript: transcript)
    }

    /// A voice sample from a WAV file's bytes (what a client uploads): decoded (integer or float PCM, any rate),
    /// mixed down to mono, resampled to 24 kHz with libsoxr when needed (`Resampler`), then `sample(waveform:)`.
    /// The duration is checked before resampling, so an oversized upload costs no conversion. Throws what
    /// `sample(waveform:)` throws, `.unreadableAudio` for what `WAV.decode` refuses.
    public func sample(wav bytes: [UInt8], transcript: String) throws -> SpeakerSample {
        let decoded: (samples: [Float], sampleRate: Int)
        do {
            decoded = try WAV.decode(bytes)
        } catch let error as WAVError {
            throw PromptError(.unreadableAudio, error.description)
        }
        try checkDuration(samples: decoded.samples.count, rate: decoded.sampleRate)
        let waveform = try Resampler.resample(decoded.samples, from: decoded.sampleRate, to: sampleRate)
        return try sample(waveform: waveform, transcript: transcript)
    }

    private func checkDuration(samples: Int, rate: Int) throws {
        guard samples <= Self.maxSampleSeconds * rate else {
            let seconds = (Double(samples) / Double(rate) * 10).rounded() / 10
            throw PromptError(.sampleTooLong, "the recording lasts \(seconds) s; a voice sample may last at most "
                                  + "\(Self.maxSampleSeconds) s")
        }
    }
}
