import CLame

/// `mp3`: MPEG audio layer III through libmp3lame, mono CBR.
///
/// At 24 kHz this is MPEG-2 layer III: 576-sample (24 ms) frames of 192 bytes at 64 kbit/s.
/// Streamed output cannot carry a Xing/LAME info frame (it describes the whole file and is written
/// last), so decoders do not trim the encoder delay (`encoderDelay` samples plus the decoder's own
/// 529) or the padding of the last frame: the decoded audio starts about 46 ms late and ends up to
/// one frame long. No ID3 tags are written.
final class MP3Encoder: AudioEncoder {
    let format = AudioFormat.mp3
    let sampleRate: Int
    /// Constant bit rate in kbit/s; 64 is transparent-enough speech at 24 kHz mono.
    let bitrateKbps: Int
    /// Samples of silence LAME puts in front of the signal (576 for these settings).
    let encoderDelay: Int

    private let lame: OpaquePointer
    private var finished = false
    private var scratch: [Float] = []

    /// The MPEG sample rates; LAME would resample anything else, which we do not want silently.
    static let sampleRates: Set<Int> = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000]

    init(sampleRate: Int, bitrateKbps: Int = 64, quality: Int32 = 2) throws {
        guard Self.sampleRates.contains(sampleRate) else {
            throw AudioCodecError(.unsupportedSampleRate,
                                  "mp3: \(sampleRate) Hz is not an MPEG sample rate (\(Self.sampleRates.sorted()))")
        }
        guard let lame = lame_init() else { throw AudioCodecError(.encoderSetup, "mp3: lame_init failed") }
        lame_set_in_samplerate(lame, Int32(sampleRate))
        lame_set_out_samplerate(lame, Int32(sampleRate))
        lame_set_num_channels(lame, 1)
        lame_set_mode(lame, MONO)
        lame_set_VBR(lame, vbr_off)
        lame_set_brate(lame, Int32(bitrateKbps))
        lame_set_quality(lame, quality)
        lame_set_bWriteVbrTag(lame, 0)
        lame_set_write_id3tag_automatic(lame, 0)
        guard lame_init_params(lame) >= 0 else {
            lame_close(lame)
            throw AudioCodecError(.encoderSetup, "mp3: LAME rejected \(sampleRate) Hz at \(bitrateKbps) kbit/s")
        }
        self.lame = lame
        self.sampleRate = sampleRate
        self.bitrateKbps = bitrateKbps
        self.encoderDelay = Int(lame_get_encoder_delay(lame))
    }

    deinit { lame_close(lame) }

    func encode(_ samples: [Float]) throws -> [UInt8] {
        guard !finished else { throw AudioCodecError(.finished, "mp3: encode after finish") }
        guard !samples.isEmpty else { return [] }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: samples.lazy.map { max(-1, min(1, $0.isNaN ? 0 : $0)) })
        // LAME's documented worst case for the output buffer: 1.25 * samples + 7200 bytes.
        var out = [UInt8](repeating: 0, count: samples.count + samples.count / 4 + 7200)
        let written = scratch.withUnsafeBufferPointer { pcm in
            out.withUnsafeMutableBufferPointer { buf in
                lame_encode_buffer_ieee_float(lame, pcm.baseAddress, pcm.baseAddress, Int32(pcm.count),
                                              buf.baseAddress, Int32(buf.count))
            }
        }
        guard written >= 0 else { throw AudioCodecError(.encodingFailed, "mp3: lame_encode_buffer_ieee_float returned \(written)") }
        out.removeSubrange(Int(written)...)
        return out
    }

    func finish() throws -> [UInt8] {
        guard !finished else { throw AudioCodecError(.finished, "mp3: finish called twice") }
        finished = true
        var out = [UInt8](repeating: 0, count: 7200 * 2)
        let written = out.withUnsafeMutableBufferPointer { buf in
            lame_encode_flush(lame, buf.baseAddress, Int32(buf.count))
        }
        guard written >= 0 else { throw AudioCodecError(.encodingFailed, "mp3: lame_encode_flush returned \(written)") }
        out.removeSubrange(Int(written)...)
        return out
    }
}
