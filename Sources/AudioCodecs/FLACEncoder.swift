import CFLAC

/// `flac`: 16-bit mono FLAC through libFLAC's stream encoder, in the streamable subset, written one of two ways.
///
/// A streamed response (`.stream`) writes through a callback only: with no seek callback libFLAC cannot go back to
/// complete STREAMINFO, so its total-samples, MD5 and min/max frame-size fields stay 0 ("unknown"), which the
/// format allows and decoders accept, though players then show no duration. A whole file (`.file`) goes to an
/// in-memory sink that libFLAC can seek in, so at `finish` it rewrites STREAMINFO with the total samples, the MD5
/// of the samples and the frame sizes; `encode` returns nothing and `finish` the whole file. Everything else is
/// the same: blocks are 2048 samples (85 ms at 24 kHz) instead of libFLAC's 4096, so streamed audio leaves within
/// about 100 ms; compression level 5. The first bytes are the `fLaC` marker, STREAMINFO and a VORBIS_COMMENT
/// block (vendor only).
final class FLACEncoder: AudioEncoder {
    /// Where the encoded bytes go.
    enum Output {
        /// Handed out as they are made; STREAMINFO's length, MD5 and frame sizes stay unknown.
        case stream
        /// Kept until `finish`, so libFLAC completes STREAMINFO; for responses sent whole.
        case file
    }

    let format = AudioFormat.flac
    let sampleRate: Int
    /// Samples per FLAC frame.
    let blockSize: Int
    let output: Output

    /// The bytes libFLAC's write callback produced and `encode` or `finish` has not handed out yet. `position` is
    /// where the next write goes: the end, except while libFLAC rewrites STREAMINFO after seeking in a `.file`.
    private final class Sink {
        var bytes: [UInt8] = []
        var position = 0

        func write(_ data: UnsafeBufferPointer<UInt8>) {
            let overwritten = min(data.count, bytes.count - position)
            bytes.replaceSubrange(position..<(position + overwritten), with: data[0..<overwritten])
            bytes.append(contentsOf: data[overwritten...])
            position += data.count
        }

        func take() -> [UInt8] {
            defer {
                bytes.removeAll(keepingCapacity: true)
                position = 0
            }
            return bytes
        }

        static func from(_ client: UnsafeMutableRawPointer) -> Sink {
            Unmanaged<Sink>.fromOpaque(client).takeUnretainedValue()
        }
    }

    private let encoder: UnsafeMutablePointer<FLAC__StreamEncoder>
    private let sink = Sink()
    private var scratch: [FLAC__int32] = []
    private var finished = false

    init(sampleRate: Int, output: Output = .stream, blockSize: Int = 2048, compressionLevel: UInt32 = 5) throws {
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
        self.output = output
        let client = Unmanaged.passUnretained(sink).toOpaque()  // `sink` lives as long as `self`, which owns `encoder`
        let write: FLAC__StreamEncoderWriteCallback = { _, buffer, bytes, _, _, client in
            guard let client, let buffer else { return FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR }
            Sink.from(client).write(UnsafeBufferPointer(start: buffer, count: bytes))
            return FLAC__STREAM_ENCODER_WRITE_STATUS_OK
        }
        let seek: FLAC__StreamEncoderSeekCallback = { _, offset, client in
            guard let client else { return FLAC__STREAM_ENCODER_SEEK_STATUS_ERROR }
            let sink = Sink.from(client)
            guard offset <= UInt64(sink.bytes.count) else { return FLAC__STREAM_ENCODER_SEEK_STATUS_ERROR }
            sink.position = Int(offset)
            return FLAC__STREAM_ENCODER_SEEK_STATUS_OK
        }
        let tell: FLAC__StreamEncoderTellCallback = { _, offset, client in
            guard let client, let offset else { return FLAC__STREAM_ENCODER_TELL_STATUS_ERROR }
            offset.pointee = UInt64(Sink.from(client).position)
            return FLAC__STREAM_ENCODER_TELL_STATUS_OK
        }
        // No seek or tell callbacks make a forward-only stream; no metadata callback either way.
        let seekable = output == .file
        let status = FLAC__stream_encoder_init_stream(encoder, write, seekable ? seek : nil, seekable ? tell : nil,
                                                      nil, client)
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
        return output == .stream ? sink.take() : []
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
