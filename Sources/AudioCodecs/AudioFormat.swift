/// The response formats of OpenAI's `/v1/audio/speech` (`response_format`), which the service
/// accepts by these exact names.
public enum AudioFormat: String, Sendable, CaseIterable, Hashable {
    case mp3, opus, aac, flac, wav, pcm

    /// The `Content-Type` of a response in this format. `pcm` has no registered type; `audio/pcm`
    /// is what OpenAI answers, and the bytes are raw s16le mono at the encoder's sample rate.
    public var contentType: String {
        switch self {
        case .mp3: "audio/mpeg"
        case .opus: "audio/ogg"
        case .aac: "audio/aac"
        case .flac: "audio/flac"
        case .wav: "audio/wav"
        case .pcm: "audio/pcm"
        }
    }

    /// The usual file name extension, without the dot (`opus` files are Ogg Opus).
    public var fileExtension: String { rawValue }

    /// Whether `AudioEncoders.make` can produce an encoder for this format in this build.
    public var isSupported: Bool { self != .aac }
}
