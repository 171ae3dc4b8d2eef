import ChatTTSService
import Foundation
import Testing
@testable import Server

/// The asset folder is checked against its sha256 values before the model loads: `serve` refuses a missing or
/// changed file by name, `--no-verify-assets` starts with a warning in the log and in `/v1/models`, and
/// `chattts verify` reports the same.
@Suite("Asset verification")
struct AssetVerificationTests {
    /// A writable copy of the tiny model's folder, removed by `done`.
    struct Copy {
        let root: URL
        var assets: URL { root.appendingPathComponent("asset") }
        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("chattts-assets-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: Paths.tinyAssets, to: assets)
        }
        func done() { try? FileManager.default.removeItem(at: root) }

        /// Changes one byte in the middle of a file.
        func tamper(_ path: String) throws {
            let url = assets.appendingPathComponent(path)
            var data = try Data(contentsOf: url)
            data[data.count / 2] ^= 0x01
            try data.write(to: url)
        }
    }

    func configuration(_ copy: Copy) -> ServerConfiguration {
        var config = TestServer.configuration()
        config.assets = copy.assets.path
        return config
    }

    @Test("a tampered asset (one byte changed) stops the start, naming the file and both digests")
    func tamperedAssetStopsTheStart() async throws {
        let copy = try Copy()
        defer { copy.done() }
        try copy.tamper("gpt/model.safetensors")
        await #expect { try await ChatTTSService.buildApplication(configuration(copy)) } throws: { error in
            let text = "\(error)"
            return text.contains("assets") && text.contains("gpt/model.safetensors: sha256")
                && text.contains("a0b9dc8c346ab0fda89004ee6d135209c3a1029a35cbf2e1d3d5e5404a94c3fd")
        }
    }

    @Test("missing files are all named; a missing spk_stat.pt is only a warning")
    func missingFiles() async throws {
        let copy = try Copy()
        defer { copy.done() }
        try FileManager.default.removeItem(at: copy.assets.appendingPathComponent("Vocos.safetensors"))
        try FileManager.default.removeItem(at: copy.assets.appendingPathComponent("tokenizer/tokenizer.json"))
        await #expect { try await ChatTTSService.buildApplication(configuration(copy)) } throws: { error in
            "\(error)".contains("Vocos.safetensors: missing") && "\(error)".contains("tokenizer/tokenizer.json: missing")
        }
        let statistics = try Copy()
        defer { statistics.done() }
        try FileManager.default.removeItem(at: statistics.assets.appendingPathComponent("spk_stat.pt"))
        let result = await AssetVerification.verify(
            folder: statistics.assets, checksums: try AssetChecksums(contentsOf: Paths.tinyChecksums))
        #expect(result.ok)
        #expect(result.warnings.contains { $0.contains("spk_stat.pt is missing") })
    }

    @Test("the official values hold the tiny model to account: without --asset-checksums it is refused")
    func officialValuesByDefault() async throws {
        var config = TestServer.configuration()
        config.assetChecksums = nil
        await #expect { try await ChatTTSService.buildApplication(config) } throws: { error in
            "\(error)".contains("expected 0aaa1ecd96c49ad4f473459eb1982fa7ad79fa5de08cde2781bf6ad1f9a0c236")
                && "\(error)".contains("--asset-checksums")
        }
    }

    @Test("verifyAssets off: the server starts, warns in its log and lists the warning in /v1/models")
    func verificationOff() async throws {
        let copy = try Copy()
        defer { copy.done() }
        try copy.tamper("Vocos.safetensors")
        let server = try await TestServer.start {
            $0.assets = copy.assets.path
            $0.verifyAssets = false
        }
        let models = try await server.client.get("/v1/models")
        let warnings = try #require(models.json?["warnings"] as? [String])
        #expect(warnings.contains { $0.contains("asset verification is off") })
        #expect(server.logs.all.contains { $0.contains("asset verification is off") && $0.contains("warning") })
        try await server.stop()
        // Verified (the default): no warnings field.
        let verified = try await TestServer.start()
        #expect(try await verified.client.get("/v1/models").json?["warnings"] == nil)
        #expect(verified.logs.all.contains { $0.contains("assets verified") })
        try await verified.stop()
    }

    @Test("chattts verify names each bad file and exits 1; --print writes a checksums file that then passes")
    func verifyCommand() throws {
        let copy = try Copy()
        defer { copy.done() }
        let (printed, checksums) = try runChattts(["verify", copy.assets.path, "--print"])
        #expect(printed == 0)
        let file = copy.root.appendingPathComponent("checksums.json")
        try checksums.write(to: file)
        #expect(try AssetChecksums(contentsOf: file) == AssetChecksums(contentsOf: Paths.tinyChecksums))
        #expect(try runChattts(["verify", copy.assets.path, "--checksums", file.path]).0 == 0)
        try copy.tamper("DVAE.safetensors")
        let (status, output) = try runChattts(["verify", copy.assets.path, "--checksums", file.path])
        #expect(status == 1)
        #expect(String(decoding: output, as: UTF8.self).contains("DVAE.safetensors: sha256"))
    }
}
