import Foundation
@testable import AudioCodecs

/// The test signal: 100 ms of silence, then a 440 Hz sine at half scale, 1.3 s in all at 24 kHz.
/// The silence gives the decoded audio an onset to align on (a pure sine aligns only modulo its period).
enum Signal {
    static let sampleRate = 24000
    static let onset = 2400
    static let count = 31200
    static let samples: [Float] = (0..<count).map { i in
        i < onset ? 0 : 0.5 * Float(sin(2 * Double.pi * 440 * Double(i - onset) / Double(sampleRate)))
    }
    /// Uneven chunk sizes, cycled, like a vocoder that hands over whatever it has.
    static let chunkSizes = [1, 7, 480, 5000, 13, 960, 2047, 333]

    /// Feeds `samples` in `sizes` (cycled) and returns every call's output, `finish()` last.
    static func encode(_ encoder: any AudioEncoder, _ samples: [Float] = samples,
                       sizes: [Int] = chunkSizes) throws -> [[UInt8]] {
        var outputs: [[UInt8]] = []
        var at = 0
        var n = 0
        while at < samples.count {
            let end = min(samples.count, at + sizes[n % sizes.count])
            outputs.append(try encoder.encode(Array(samples[at..<end])))
            at = end
            n += 1
        }
        outputs.append(try encoder.finish())
        return outputs
    }

    /// The s16 values the lossless formats must carry.
    static var pcm16: [Int16] { samples.map(WAV.pcm16) }
}

struct FFmpegError: Error, CustomStringConvertible {
    let description: String
}

/// Runs a command-line tool on `bytes` written to a temporary file, whose path replaces `{}` in `arguments`.
enum Tool {
    struct Result {
        let status: Int32
        let stdout: Data
        let stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    static func run(_ arguments: [String], on bytes: [UInt8], fileExtension: String) throws -> Result {
        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("audiocodecs-\(UUID().uuidString).\(fileExtension)")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments.map { $0 == "{}" ? file.path : $0 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    /// Whether `name` is on PATH.
    static func exists(_ name: String) -> Bool {
        (try? run(["sh", "-c", "command -v \(name)"], on: [], fileExtension: "txt").status) == 0
    }
}

/// Decodes with the ffmpeg command-line tool, to mono 24 kHz, as f32le or s16le.
enum FFmpeg {
    static func decode(_ bytes: [UInt8], fileExtension: String, inputOptions: [String] = []) throws -> [Float] {
        let data = try run(bytes, fileExtension: fileExtension, inputOptions: inputOptions, output: "f32le")
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    static func decode16(_ bytes: [UInt8], fileExtension: String, inputOptions: [String] = []) throws -> [Int16] {
        let data = try run(bytes, fileExtension: fileExtension, inputOptions: inputOptions, output: "s16le")
        return data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
    }

    private static func run(_ bytes: [UInt8], fileExtension: String, inputOptions: [String], output: String) throws -> Data {
        let result = try Tool.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"] + inputOptions
                                  + ["-i", "{}", "-f", output, "-ac", "1", "-ar", "24000", "-"],
                                  on: bytes, fileExtension: fileExtension)
        if result.status == 127 {
            throw FFmpegError(description: "ffmpeg is not installed: run scripts/ensure-deps.sh")
        }
        guard result.status == 0 else {
            throw FFmpegError(description: "ffmpeg failed (\(result.status)): \(result.stderr)")
        }
        return result.stdout
    }
}

/// How a lossy decode lines up with the input.
struct Alignment {
    /// Decoded index of input sample 0.
    let delay: Int
    /// Normalized correlation of input and decoded audio at `delay`, over the overlap.
    let correlation: Double

    /// Aligns on the first sample above a quarter of full scale, then refines within +-30 samples
    /// (less than half the 440 Hz period) by correlation.
    init(input: [Float], decoded: [Float]) {
        func onset(_ x: [Float]) -> Int { x.firstIndex { abs($0) > 0.25 } ?? 0 }
        let coarse = onset(decoded) - onset(input)
        var best = (delay: coarse, correlation: -2.0)
        for lag in (coarse - 30)...(coarse + 30) {
            let c = Self.correlation(input, decoded, lag: lag)
            if c > best.correlation { best = (lag, c) }
        }
        delay = best.delay
        correlation = best.correlation
    }

    static func correlation(_ x: [Float], _ y: [Float], lag: Int) -> Double {
        var xy = 0.0, xx = 0.0, yy = 0.0
        for i in max(0, -lag)..<min(x.count, y.count - lag) {
            let a = Double(x[i]), b = Double(y[i + lag])
            xy += a * b; xx += a * a; yy += b * b
        }
        return xx > 0 && yy > 0 ? xy / (xx * yy).squareRoot() : 0
    }
}

/// One Ogg page as RFC 3533 lays it out.
struct OggPage {
    let flags: UInt8
    let granule: Int64
    let serial: UInt32
    let sequence: UInt32
    let packets: [[UInt8]]  // packets completed on this page (no continued packets in our streams)
    var beginsStream: Bool { flags & 2 != 0 }
    var endsStream: Bool { flags & 4 != 0 }

    /// Splits `bytes` into pages; throws unless they are whole pages exactly.
    static func parse(_ bytes: [UInt8]) throws -> [OggPage] {
        var pages: [OggPage] = []
        var at = 0
        func le(_ from: Int, _ n: Int) -> UInt64 {
            (0..<n).reduce(0) { $0 | UInt64(bytes[from + $1]) << (8 * UInt64($1)) }
        }
        while at < bytes.count {
            guard at + 27 <= bytes.count, Array(bytes[at..<at + 4]) == Array("OggS".utf8) else {
                throw FFmpegError(description: "no Ogg page at byte \(at)")
            }
            let segments = Int(bytes[at + 26])
            guard at + 27 + segments <= bytes.count else { throw FFmpegError(description: "truncated page header") }
            let lacing = bytes[(at + 27)..<(at + 27 + segments)].map(Int.init)
            var body = at + 27 + segments
            guard body + lacing.reduce(0, +) <= bytes.count else { throw FFmpegError(description: "truncated page body") }
            var packets: [[UInt8]] = []
            var current: [UInt8] = []
            for l in lacing {
                current += bytes[body..<body + l]
                body += l
                if l < 255 { packets.append(current); current = [] }
            }
            guard current.isEmpty else { throw FFmpegError(description: "packet continues past its page") }
            pages.append(OggPage(flags: bytes[at + 5], granule: Int64(bitPattern: le(at + 6, 8)),
                                 serial: UInt32(le(at + 14, 4)), sequence: UInt32(le(at + 18, 4)), packets: packets))
            at = body
        }
        return pages
    }
}

/// STREAMINFO as FLAC lays it out: after "fLaC", a 4-byte block header, then 34 bytes of big-endian bit fields.
struct StreamInfo {
    let minBlockSize: Int
    let maxBlockSize: Int
    let minFrameSize: Int
    let maxFrameSize: Int
    let sampleRate: Int
    let channels: Int
    let bitsPerSample: Int
    /// 0 where the writer could not go back to fill it in.
    let totalSamples: Int
    let md5: [UInt8]

    init(_ bytes: [UInt8]) throws {
        guard bytes.count >= 42, Array(bytes[0..<4]) == Array("fLaC".utf8), bytes[4] & 0x7F == 0 else {
            throw FFmpegError(description: "no fLaC marker and STREAMINFO block")
        }
        let info = Array(bytes[8..<42])
        func be(_ range: Range<Int>) -> Int { range.reduce(0) { $0 << 8 | Int(info[$1]) } }
        minBlockSize = be(0..<2)
        maxBlockSize = be(2..<4)
        minFrameSize = be(4..<7)
        maxFrameSize = be(7..<10)
        sampleRate = be(10..<13) >> 4                        // 20 bits
        channels = Int(info[12] >> 1 & 7) + 1                 // 3 bits
        bitsPerSample = (be(12..<14) >> 4 & 0x1F) + 1         // 5 bits
        totalSamples = (Int(info[13]) & 0xF) << 32 | be(14..<18)  // 36 bits
        md5 = Array(info[18..<34])
    }
}
