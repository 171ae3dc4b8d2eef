import COgg
import COpus

/// `opus`: Opus in an Ogg container (RFC 7845), through libopus and libogg.
///
/// 24 kHz is one of Opus' own rates (8, 12, 16, 24, 48 kHz), so samples go in unresampled.
/// Packets are 20 ms; the stream starts with an OpusHead page and an OpusTags page, and each
/// `encode` call ends by flushing every complete packet into pages, so a client receives audio
/// within one 20 ms frame of the engine producing it (at the cost of one 27+ byte page header per
/// call). Granule positions count 48 kHz samples including the pre-skip (the encoder's lookahead);
/// the last page's granule position trims the padding of the final frame, so a conforming decoder
/// returns exactly the samples that went in.
final class OggOpusEncoder: AudioEncoder {
    let format = AudioFormat.opus
    let sampleRate: Int
    /// Samples per packet at `sampleRate` (20 ms).
    let frameSize: Int
    /// Target bit rate, bits per second (VBR).
    let bitrate: Int
    /// The encoder's lookahead at `sampleRate`; decoders drop it as the pre-skip.
    let lookahead: Int
    /// OpusHead pre-skip, in 48 kHz samples.
    var preSkip: Int { lookahead * granuleScale }

    static let sampleRates: Set<Int> = [8000, 12000, 16000, 24000, 48000]
    /// libopus' largest packet is 1275 bytes per 20 ms frame; room for any packet we ask for.
    private static let maxPacketBytes = 4000

    private let granuleScale: Int
    private let opus: OpaquePointer
    private let ogg: UnsafeMutablePointer<ogg_stream_state>
    private var pending: [Float] = []
    private var samplesIn = 0
    private var packetsOut = 0
    private var packetNumber: Int64 = 0
    private var headerSent = false
    private var finished = false
    private var packet = [UInt8](repeating: 0, count: maxPacketBytes)

    init(sampleRate: Int, bitrate: Int = 32000) throws {
        guard Self.sampleRates.contains(sampleRate) else {
            throw AudioCodecError(.unsupportedSampleRate,
                                  "opus: \(sampleRate) Hz is not an Opus rate (\(Self.sampleRates.sorted()))")
        }
        var error: Int32 = 0
        guard let opus = opus_encoder_create(Int32(sampleRate), 1, Int32(copus_application_audio), &error),
              error == OPUS_OK else {
            throw AudioCodecError(.encoderSetup, "opus: opus_encoder_create failed (\(error))")
        }
        var lookahead: Int32 = 0
        guard copus_set_bitrate(opus, Int32(bitrate)) == OPUS_OK,
              copus_set_signal_voice(opus) == OPUS_OK,
              copus_get_lookahead(opus, &lookahead) == OPUS_OK else {
            opus_encoder_destroy(opus)
            throw AudioCodecError(.encoderSetup, "opus: encoder settings rejected")
        }
        let ogg = UnsafeMutablePointer<ogg_stream_state>.allocate(capacity: 1)
        guard ogg_stream_init(ogg, Int32(bitPattern: UInt32.random(in: 1...UInt32.max))) == 0 else {
            ogg.deallocate()
            opus_encoder_destroy(opus)
            throw AudioCodecError(.encoderSetup, "opus: ogg_stream_init failed")
        }
        self.opus = opus
        self.ogg = ogg
        self.sampleRate = sampleRate
        self.frameSize = sampleRate / 50
        self.bitrate = bitrate
        self.lookahead = Int(lookahead)
        self.granuleScale = 48000 / sampleRate
        pending.reserveCapacity(frameSize)
    }

    deinit {
        ogg_stream_clear(ogg)
        ogg.deallocate()
        opus_encoder_destroy(opus)
    }

    func encode(_ samples: [Float]) throws -> [UInt8] {
        guard !finished else { throw AudioCodecError(.finished, "opus: encode after finish") }
        var out = try takeHeader()
        samplesIn += samples.count
        var at = 0
        while at < samples.count {
            let take = min(frameSize - pending.count, samples.count - at)
            pending.append(contentsOf: samples[at..<at + take].lazy.map { max(-1, min(1, $0.isNaN ? 0 : $0)) })
            at += take
            if pending.count == frameSize {
                try encodePending(granule: Int64((packetsOut + 1) * frameSize * granuleScale), last: false)
            }
        }
        flushPages(into: &out)
        return out
    }

    func finish() throws -> [UInt8] {
        guard !finished else { throw AudioCodecError(.finished, "opus: finish called twice") }
        finished = true
        var out = try takeHeader()
        // The decoder's output lags by the lookahead, so encode (zero-padded) frames until the
        // lookahead plus every input sample has been covered; the final granule trims the rest.
        let needed = samplesIn + lookahead
        let endGranule = Int64((lookahead + samplesIn) * granuleScale)
        repeat {
            pending.append(contentsOf: repeatElement(0, count: frameSize - pending.count))
            let last = (packetsOut + 1) * frameSize >= needed
            try encodePending(granule: last ? endGranule : Int64((packetsOut + 1) * frameSize * granuleScale), last: last)
        } while packetsOut * frameSize < needed
        flushPages(into: &out)
        return out
    }

    /// Encodes the one full frame in `pending` and queues it as an Ogg packet.
    private func encodePending(granule: Int64, last: Bool) throws {
        let bytes = pending.withUnsafeBufferPointer { pcm in
            packet.withUnsafeMutableBufferPointer { buf in
                opus_encode_float(opus, pcm.baseAddress!, Int32(frameSize), buf.baseAddress!, Int32(buf.count))  // both non-empty
            }
        }
        guard bytes > 0 else { throw AudioCodecError(.encodingFailed, "opus: opus_encode_float returned \(bytes)") }
        pending.removeAll(keepingCapacity: true)
        packetsOut += 1
        try packetIn(Array(packet[0..<Int(bytes)]), granule: granule, beginning: false, end: last)
    }

    private func packetIn(_ data: [UInt8], granule: Int64, beginning: Bool, end: Bool) throws {
        var data = data
        let status = data.withUnsafeMutableBufferPointer { buf in
            var op = ogg_packet(packet: buf.baseAddress, bytes: buf.count, b_o_s: beginning ? 1 : 0, e_o_s: end ? 1 : 0,
                                granulepos: granule, packetno: packetNumber)
            return ogg_stream_packetin(ogg, &op) // copies the data
        }
        guard status == 0 else { throw AudioCodecError(.encodingFailed, "opus: ogg_stream_packetin failed") }
        packetNumber += 1
    }

    /// Moves every queued packet into pages and appends them: the stream is sendable up to here.
    private func flushPages(into out: inout [UInt8]) {
        var page = ogg_page()
        while ogg_stream_flush(ogg, &page) != 0 {
            out.append(contentsOf: UnsafeBufferPointer(start: page.header, count: page.header_len))
            out.append(contentsOf: UnsafeBufferPointer(start: page.body, count: page.body_len))
        }
    }

    /// OpusHead and OpusTags, each on a page of its own as RFC 7845 requires; once.
    private func takeHeader() throws -> [UInt8] {
        guard !headerSent else { return [] }
        headerSent = true
        var head = Array("OpusHead".utf8)
        head.append(1)                                          // version
        head.append(1)                                          // channels
        appendLE(UInt16(preSkip), to: &head)
        appendLE(UInt32(sampleRate), to: &head)                 // input rate, informational
        appendLE(UInt16(0), to: &head)                          // output gain
        head.append(0)                                          // mapping family: mono/stereo
        let vendor = Array(String(cString: opus_get_version_string()).utf8)
        var tags = Array("OpusTags".utf8)
        appendLE(UInt32(vendor.count), to: &tags)
        tags += vendor
        appendLE(UInt32(0), to: &tags)                          // no user comments
        var out: [UInt8] = []
        try packetIn(head, granule: 0, beginning: true, end: false)
        flushPages(into: &out)
        try packetIn(tags, granule: 0, beginning: false, end: false)
        flushPages(into: &out)
        return out
    }

    private func appendLE<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }
}
