import CFLAC

/// `flac`: 16-bit mono FLAC through libFLAC's stream encoder, in the streamable subset.
///
/// The encoder writes through a callback only: with no seek callback libFLAC cannot go back to
/// complete STREAMINFO, so its total-samples, MD5 and min/max frame-size fields stay 0
/// ("unknown"), which the format allows and decoders accept. Blocks are 2048 samples (85 ms at
/// 24 kHz) instead of libFLAC's 4096, so audio leaves within about 100 ms; compression level 5.
/// The first call returns the `fLaC` marker, STREAMINFO and a VORBIS_COMMENT block (vendor only).
final class FLACEncoder: AudioEncoder {
    let format = AudioFormat.flac
    let sampleRate: Int
    /// Samples per FLAC frame.
    let blockSize: Int

    /// Where libFLAC's write callback puts bytes until `encode` or `finish` hands them out.
    private final class Sink {
        var bytes: [UInt8] = []
        func take() -> [UInt8] {
            defer { bytes.removeAll(keepingCapacity: true) }
            return bytes
        }
    }

    private let encoder: UnsafeMutablePointer<FLAC__StreamEncoder>
    private let sink = Sink()
    private var scratch: [FLAC__int32] = []
    private var finished = false

    init(sampleRate: Int, blockSize: Int = 2048, compressionLevel: UInt32 = 5) throws {
        guard sampleRate <= 655_350 else {
            throw AudioCodecError(.unsupportedSampleRate, "flac: \(sampleRate) Hz is above FLAC's 655350 Hz")
        }
        guard let encoder = FLAC__stream_encoder_new() else {
            throw AudioCodecError(.encoderSetup, "flac: FLAC__stream_encoder_new failed")
        }
        var ok = FLAC__stream_encoder_set_channels(encoder, 1) != 0
        ok = ok && FLAC__stream_encoder_set_bits_per_sample(encoder, 16) != 0
        ok = ok && FLAC__stream_encoder_set_sample_rate(encoder, UInt32(sampleRate)) != 0
        ok = ok && FLAC__stream_encoder_set_streamable_subset(encoder, 1) != 0
        ok = ok && FLAC__stream_encoder_set_verify(encoder, 0) != 0
        ok = ok && FLAC__stream_encoder_set_compression_level(encoder, compressionLevel) != 0
        ok = ok && FLAC__stream_encoder_set_blocksize(encoder, UInt32(blockSize)) != 0  // after the level, which sets it too
        guard ok else {
            FLAC__stream_encoder_delete(encoder)
            throw AudioCodecError(.encoderSetup, "flac: encoder settings rejected")
        }
        self.encoder = encoder
        self.sampleRate = sampleRate
        self.blockSize = blockSize
        let status = FLAC__stream_encoder_init_stream(
            encoder,
            { _, buffer, bytes, _, _, client in
                guard let client else { return FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR }
                let sink = Unmanaged<Sink>.fromOpaque(client).takeUnretainedValue()
                sink.bytes.append(contentsOf: UnsafeBufferPointer(start: buffer, count: bytes))
                return FLAC__STREAM_ENCODER_WRITE_STATUS_OK
            },
            nil, nil, nil,  // no seek, tell or metadata callbacks: the output is a forward-only stream
            Unmanaged.passUnretained(sink).toOpaque())  // `sink` lives as long as `self`, which owns `encoder`
        guard status == FLAC__STREAM_ENCODER_INIT_STATUS_OK else {
            FLAC__stream_encoder_delete(encoder)
            throw AudioCodecError(.encoderSetup, "flac: FLAC__stream_encoder_init_stream failed (\(status.rawValue))")
        }
    }

    deinit { FLAC__stream_encoder_delete(encoder) }

    func encode(_ samples: [Float]) throws -> [UInt8] {
        guard !finished else { throw AudioCodecError(.finished, "flac: encode after finish") }
        if !samples.isEmpty {
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: samples.lazy.map { FLAC__int32(WAV.pcm16($0)) })
            let ok = scratch.withUnsafeBufferPointer { pcm in
                FLAC__stream_encoder_process_interleaved(encoder, pcm.baseAddress, UInt32(pcm.count))
            }
            guard ok != 0 else { throw failure("FLAC__stream_encoder_process_interleaved") }
        }
        return sink.take()
    }

    func finish() throws -> [UInt8] {
        guard !finished else { throw AudioCodecError(.finished, "flac: finish called twice") }
        finished = true
        guard FLAC__stream_encoder_finish(encoder) != 0 else { throw failure("FLAC__stream_encoder_finish") }
        return sink.take()
    }

    private func failure(_ call: String) -> AudioCodecError {
        let state = String(cString: FLAC__stream_encoder_get_resolved_state_string(encoder))
        return AudioCodecError(.encodingFailed, "flac: \(call) failed: \(state)")
    }
}
