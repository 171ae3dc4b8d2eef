import Foundation
import Testing
@testable import AudioCodecs

@Suite("Whole files")
struct WholeFileTests {
    static let wholeFLAC = try! AudioEncoders.encodeWhole(.flac, samples: Signal.samples, sampleRate: Signal.sampleRate)

    /// FLAC's MD5 is over the samples as signed little-endian integers of the stream's width: s16le here.
    static var pcmMD5: [UInt8] {
        get throws {
            var pcm: [UInt8] = []
            WAV.appendPCM16(Signal.samples, to: &pcm)
            let result = try Tool.run(["md5sum", "{}"], on: pcm, fileExtension: "pcm")
            let hex = Array(result.text.prefix(32))
            return stride(from: 0, to: 32, by: 2).map { UInt8(String(hex[$0..<$0 + 2]), radix: 16)! }
        }
    }

    @Test("a whole flac's STREAMINFO carries the total samples, the MD5 of the s16le samples and the frame sizes")
    func flacStreamInfoComplete() throws {
        let info = try StreamInfo(Self.wholeFLAC)
        #expect(info.totalSamples == Signal.count)
        #expect(info.md5 != [UInt8](repeating: 0, count: 16))
        #expect(info.md5 == (try Self.pcmMD5))
        #expect(info.minFrameSize > 0 && info.minFrameSize <= info.maxFrameSize)
    }

    @Test("ffprobe reads a whole flac's duration and ffmpeg decodes it to exactly the input's 16-bit samples")
    func flacDuration() throws {
        let probe = try Tool.run(["ffprobe", "-v", "error", "-show_entries", "stream=duration_ts:format=duration",
                                  "-of", "default=noprint_wrappers=1", "{}"], on: Self.wholeFLAC, fileExtension: "flac")
        #expect(probe.status == 0, "\(probe.stderr)")
        #expect(probe.text.contains("duration_ts=\(Signal.count)\n"), "\(probe.text)")
        #expect(probe.text.contains("duration=1.300000\n"), "\(probe.text)")
        #expect(try FFmpeg.decode16(Self.wholeFLAC, fileExtension: "flac") == Signal.pcm16)
    }

    @Test("flac -t checks a whole flac against its MD5", .enabled(if: Tool.exists("flac")))
    func flacTest() throws {
        let result = try Tool.run(["flac", "-t", "{}"], on: Self.wholeFLAC, fileExtension: "flac")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("MD5 signature"), "\(result.stderr)")  // "cannot check MD5 signature" when 0
    }

    @Test("a whole flac with no samples says 0 samples and is still a file ffmpeg reads")
    func flacEmpty() throws {
        let bytes = try AudioEncoders.encodeWhole(.flac, samples: [], sampleRate: 24000)
        #expect(try StreamInfo(bytes).totalSamples == 0)
        #expect(try FFmpeg.decode(bytes, fileExtension: "flac").isEmpty)
    }

    @Test("a whole wav is WAV.encode's file, with its sizes")
    func wav() throws {
        let bytes = try AudioEncoders.encodeWhole(.wav, samples: Signal.samples, sampleRate: 24000)
        #expect(bytes == WAV.encode(samples: Signal.samples, sampleRate: 24000))
    }

    @Test("a whole pcm, mp3 or opus file is the streamed encoder's bytes for the samples in one call",
          arguments: [AudioFormat.pcm, .mp3, .opus])
    func streamedFormats(format: AudioFormat) throws {
        let encoder = try AudioEncoders.make(format, sampleRate: 24000)
        let streamed = try encoder.encode(Signal.samples) + encoder.finish()
        let whole = try AudioEncoders.encodeWhole(format, samples: Signal.samples, sampleRate: 24000)
        if format == .opus {  // each stream draws a random serial number: compare the pages' content
            let (a, b) = (try OggPage.parse(whole), try OggPage.parse(streamed))
            #expect(a.map(\.packets) == b.map(\.packets))
            #expect(a.map(\.granule) == b.map(\.granule) && a.map(\.flags) == b.map(\.flags))
        } else {
            #expect(whole == streamed)
        }
    }

    @Test("whole files refuse what streams refuse: aac, and rates the codec cannot take",
          arguments: [(AudioFormat.aac, 24000), (.wav, 0), (.flac, -1), (.opus, 22050)])
    func refused(format: AudioFormat, rate: Int) throws {
        let error = #expect(throws: AudioCodecError.self) {
            try AudioEncoders.encodeWhole(format, samples: [0], sampleRate: rate)
        }
        #expect(error?.code == (format == .aac ? .unsupportedFormat : .unsupportedSampleRate))
    }
}
