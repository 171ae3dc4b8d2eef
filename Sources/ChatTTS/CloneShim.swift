import Foundation

// TEMPORARY: replaced by the DVAE encoder path (helper/clone) before this lands.
extension ChatTTSModel {
    func sample(wav: Data, transcript: String) throws -> SpeakerSample {
        throw VoiceError(message: "voice cloning is not built yet")
    }

    func sample(waveform: [Float], transcript: String) throws -> SpeakerSample {
        throw VoiceError(message: "voice cloning is not built yet")
    }
}
