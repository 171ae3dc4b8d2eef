import AudioCodecs
import Foundation
import Testing
import Tensors
@testable import ChatTTS

/// `chattts say` run as a process, the way users run it, against the end-to-end reference (generation.safetensors).
@Suite("chattts say end to end")
struct SayCommandTests {
    /// The built `chattts` sits next to the test bundle in the build folder.
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("chattts")
    }

    static func readNpy(_ url: URL) throws -> [Float] {
        let bytes = [UInt8](try Data(contentsOf: url))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let body = bytes[(10 + headerLength)...]
        return stride(from: body.startIndex, to: body.endIndex, by: 4).map { i in
            Float(bitPattern: UInt32(body[i]) | UInt32(body[i + 1]) << 8 | UInt32(body[i + 2]) << 16 | UInt32(body[i + 3]) << 24)
        }
    }

    @Test("seed voices and OpenAI names work from the asset folder's spk_stat.pt with no other flag")
    func seedVoice() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("say-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for voice in ["seed:7", "alloy"] {
            let process = Process()
            process.executableURL = Self.binary
            process.arguments = ["say", "--assets", Fixtures.tinyAssets.path, "--text", "hello", "--voice", voice,
                                 "--seed", "1", "--max-new-token", "4", "--no-refine",
                                 "--output", dir.appendingPathComponent("out.wav").path]
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "say --voice \(voice)")
        }
    }

    @Test("a batch of texts gives the reference codes and waveforms within 1e-3, and dumps named tensors")
    func batch() throws {
        let meta = try Fixtures.json("meta.json")
        let textPath = meta["text_path"] as! [String: Any]
        let texts = textPath["texts"] as! [String]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("say-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["say", "--assets", Fixtures.tinyAssets.path] + texts.flatMap { ["--text", $0] } + [
            "--voice", textPath["voice"] as! String, "--seed", "1", "--temperature", "0.0001",
            "--min-new-token", "24", "--max-new-token", "24", "--no-refine", "--no-normalize",
            "--output", dir.appendingPathComponent("out.wav").path,
            "--debug-dump", dir.appendingPathComponent("dump").path,
        ]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)

        let f = try Fixtures.reference("generation.safetensors")
        let codes = try f.integers("batch.codes")
        let wav = try f.tensor("batch.wav")
        for b in 0..<texts.count {
            let dumped = try Self.readNpy(dir.appendingPathComponent(b == 0 ? "dump/codes.npy" : "dump/codes.\(b).npy"))
            #expect(dumped.map { Int($0) } == Array(codes.values[(b * 96)..<((b + 1) * 96)]), "text \(b) codes")
            let (samples, rate) = try WAV.decode([UInt8](try Data(contentsOf: dir.appendingPathComponent("out-\(b + 1).wav"))))
            #expect(rate == 24000)
            let want = Array(UnsafeBufferPointer(start: wav.pointer + b * wav.shape[1], count: wav.shape[1]))
            #expect(samples.count == want.count)
            // 16-bit output adds at most half a step (1.5e-5) to the engine's own error.
            #expect(Fixtures.maxAbs(samples, want.map { max(-1, min(1, $0)) }) < 1e-3, "text \(b) waveform")
        }
        for name in ["embed", "gpt.layer.0", "gpt.hidden", "mel", "wave"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("dump/\(name).npy").path), "\(name).npy")
        }
    }

    @Test("bad flags are refused with a message that names them")
    func badFlags() throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["say", "--assets", Fixtures.tinyAssets.path, "--text", "hi", "--top-p", "1.5"]
        let pipe = Pipe()
        process.standardError = pipe
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus != 0)
        #expect(message.contains("--top-p"))
    }
}
