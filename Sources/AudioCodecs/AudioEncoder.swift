/// A streaming encoder for one response: float samples in, container bytes out, as soon as they
/// can be produced.
///
/// Encoders are not `Sendable`: each owns C encoder state that must not be touched from two
/// threads at once. Create one per response inside the task that writes the response body (or
/// create it and hand it over to that task); use it from that task only.
public protocol AudioEncoder: AnyObject {
    /// The format this encoder writes.
    var format: AudioFormat { get }

    /// Encodes mono float32 samples in [-1, 1] (beyond that range they are clipped, NaN becomes 0),
    /// in chunks of any size, and returns the bytes that are ready to send now: possibly empty,
    /// since codecs work in frames. The first call also returns the container header, so
    /// `encode([])` right away gives the header bytes early where the format has one.
    func encode(_ samples: [Float]) throws -> [UInt8]

    /// Encodes what is buffered, pads the last frame, and returns the remaining bytes; the
    /// stream is complete after them. Calling `encode` or `finish` again throws `.finished`.
    func finish() throws -> [UInt8]
}

/// The factory the service and the CLI use, so that neither depends on one codec's type.
public enum AudioEncoders {
    /// An encoder for `format` at `sampleRate` (the engine produces 24000). Throws
    /// `.unsupportedFormat` for `aac` and `.unsupportedSampleRate` where the codec cannot take
    /// the rate natively (no resampling happens here).
    public static func make(_ format: AudioFormat, sampleRate: Int) throws -> any AudioEncoder {
        try make(format, sampleRate: sampleRate, whole: false)
    }

    /// One complete file for `samples`, for a response that is sent once synthesis has finished. Where a container
    /// has length fields a stream must leave unknown, they are filled in: `wav` gets its sizes (`WAV.encode`),
    /// `flac` its STREAMINFO total samples, MD5 and frame sizes, so players show the duration and `flac -t` can
    /// check the audio. The other formats are the streamed bytes. Throws what `make` throws.
    public static func encodeWhole(_ format: AudioFormat, samples: [Float], sampleRate: Int) throws -> [UInt8] {
        let encoder = try make(format, sampleRate: sampleRate, whole: true)  // checks format and rate, wav's too
        if format == .wav { return WAV.encode(samples: samples, sampleRate: sampleRate) }
        return try encoder.encode(samples) + encoder.finish()
    }

    /// The one place that checks the rate and picks the codec; `whole` encoders may keep every byte until `finish`.
    private static func make(_ format: AudioFormat, sampleRate: Int, whole: Bool) throws -> any AudioEncoder {
        guard sampleRate > 0 else {
            throw AudioCodecError(.unsupportedSampleRate,
                                  "\(format.rawValue): sample rate must be positive, got \(sampleRate)")
        }
        switch format {
        case .pcm: return PCMStreamEncoder(sampleRate: sampleRate)
        case .wav: return WAVStreamEncoder(sampleRate: sampleRate)
        case .mp3: return try MP3Encoder(sampleRate: sampleRate)
        case .opus: return try OggOpusEncoder(sampleRate: sampleRate)
        case .flac: return try FLACEncoder(sampleRate: sampleRate, output: whole ? .file : .stream)
        case .aac:
            throw AudioCodecError(.unsupportedFormat,
                                  "aac is not supported: no free AAC encoder is available; use mp3, opus, flac, wav or pcm")
        }
    }
}

/// Why encoding failed. `code` is for programs (the server maps `.unsupportedFormat` to a 400
/// that names `response_format`); `message` is for people.
public struct AudioCodecError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Error kinds; new ones may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The format has no encoder in this build (`aac`).
        public static let unsupportedFormat = Code("unsupportedFormat")
        /// The codec cannot encode at the requested sample rate.
        public static let unsupportedSampleRate = Code("unsupportedSampleRate")
        /// The C library refused to set up an encoder.
        public static let encoderSetup = Code("encoderSetup")
        /// The C library failed while encoding.
        public static let encodingFailed = Code("encodingFailed")
        /// `encode` or `finish` was called after `finish`.
        public static let finished = Code("finished")
        /// libsoxr refused a sample-rate conversion (`Resampler`).
        public static let resamplingFailed = Code("resamplingFailed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "audio codec error (\(code)): \(message)" }
}
