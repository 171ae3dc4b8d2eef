import Foundation
import Testing
@testable import ChatTTS

/// The `torch.save` reader against files torch 2.11 wrote (Tests/Fixtures/reference/spk_stat*.pt), intact and damaged.
@Suite("torch.save archives")
struct TorchArchiveTests {
    static func file(_ name: String) -> URL { Fixtures.root.appendingPathComponent("reference/\(name)") }
    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: file(name))) }

    /// The error of reading `bytes`, or nil when they read.
    static func failure(_ bytes: [UInt8]) -> TorchArchiveError? {
        do { _ = try TorchArchive.tensor(bytes: bytes, file: "damaged.pt") } catch { return error }
        return nil
    }

    /// Where the entry `name` sits: its central-directory record and its content.
    static func entry(_ bytes: [UInt8], _ name: String) -> (central: Int, content: Range<Int>) {
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        let central = (0..<(bytes.count - 46)).first { at in
            bytes[at..<(at + 4)].elementsEqual([0x50, 0x4B, 0x01, 0x02])
                && bytes[(at + 46)..<(at + 46 + u16(at + 28))].elementsEqual(name.utf8)
        }!
        let local = u16(central + 42) | u16(central + 44) << 16
        let start = local + 30 + u16(local + 26) + u16(local + 28), length = u16(central + 24) | u16(central + 26) << 16
        return (central, start..<(start + length))
    }

    /// Replaces `old` by `new` (same length) in the entry `name` and writes the entry's new CRC-32, so that only the
    /// content is wrong.
    static func rewrite(_ bytes: [UInt8], entry name: String, _ old: String, _ new: String) throws -> [UInt8] {
        var bytes = bytes
        let (central, content) = entry(bytes, name)
        let at = try #require(content.first { bytes[$0...].starts(with: old.utf8) })
        bytes.replaceSubrange(at..<(at + new.utf8.count), with: new.utf8)
        let crc = ZipEntries.checksum(bytes[content])
        for i in 0..<4 { bytes[central + 16 + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
        return bytes
    }

    @Test("float32, float16 and bfloat16 storages read as the values torch saved")
    func storages() throws {
        let document = try Fixtures.json("seed_voices.json")
        let float32 = try TorchArchive.tensor(contentsOf: Self.file("spk_stat_dim32.pt"))
        #expect(float32.dtype == .float32 && float32.shape == [64])
        for narrow in document["narrow_statistics"] as! [[String: Any]] {
            let tensor = try TorchArchive.tensor(contentsOf: Self.file(narrow["file"] as! String))
            let bits = Fixtures.bits(hex: narrow["bits_hex"])
            #expect(tensor.shape == [64] && tensor.values.count == bits.count)
            switch narrow["dtype"] as! String {
            case "float16":
                #expect(tensor.dtype == .float16 && tensor.values.map { Float16($0).bitPattern } == bits)
                #expect(tensor.values == float32.values.map { Float(Float16($0)) })
            case "bfloat16":
                #expect(tensor.dtype == .bfloat16 && tensor.values.map { UInt16($0.bitPattern >> 16) } == bits)
            default: Issue.record("unexpected dtype \(narrow["dtype"]!)")
            }
        }
    }

    @Test("a truncated file is refused, naming the file")
    func truncated() throws {
        let whole = try Self.bytes("spk_stat_dim32.pt")
        for length in Array(stride(from: 0, to: whole.count, by: 7)) + [whole.count - 1] {
            let error = try #require(Self.failure(Array(whole.prefix(length))), "read \(length) of \(whole.count)")
            #expect(error.description.hasPrefix("damaged.pt: "))
        }
    }

    @Test("a garbled byte anywhere gives an error or the same tensor, never other values")
    func garbled() throws {
        let whole = try Self.bytes("spk_stat_dim32.pt")
        let intact = try TorchArchive.tensor(bytes: whole, file: "intact.pt")
        var refused = 0
        for at in whole.indices {
            var bytes = whole
            bytes[at] ^= 0xA5
            do {
                #expect(try TorchArchive.tensor(bytes: bytes, file: "damaged.pt") == intact, "byte \(at)")
            } catch {
                refused += 1
            }
        }
        // Headers' dates, versions and padding are not checked; the tensor's bytes and the pickle are.
        #expect(refused > whole.count / 2)
        var data = whole
        data[Self.entry(whole, "spk_stat_dim32/data/0").content.last!] ^= 1  // the storage's last byte
        #expect(Self.failure(data)?.reason.contains("'spk_stat_dim32/data/0' does not match its CRC-32") == true)
    }

    @Test("compressed entries, other pickled objects, other storages and non-archives are refused by name")
    func unexpected() throws {
        let whole = try Self.bytes("spk_stat_dim32.pt")
        var compressed = whole
        compressed[Self.entry(whole, "spk_stat_dim32/data.pkl").central + 10] = 8  // deflate
        #expect(Self.failure(compressed)?.reason.contains("'spk_stat_dim32/data.pkl' is compressed (method 8)") == true)

        let pickle = "spk_stat_dim32/data.pkl"
        let function = try Self.rewrite(whole, entry: pickle, "_rebuild_tensor_v2", "_rebuild_tensor_v9")
        #expect(Self.failure(function)?.reason.contains("is not one tensor (torch._utils._rebuild_tensor_v2)") == true)
        let storage = try Self.rewrite(whole, entry: pickle, "FloatStorage", "LongsStorage")
        #expect(Self.failure(storage)?.reason.contains("storage is torch.LongsStorage") == true)

        let text = Array(try Data(contentsOf: Fixtures.root.appendingPathComponent("tiny/chattts_config.json")))
        #expect(Self.failure(text)?.reason.contains("no end-of-central-directory record") == true)
    }
}
