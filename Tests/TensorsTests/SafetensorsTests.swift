import Foundation
import Testing
@testable import Tensors

/// Writes safetensors files by hand, so each test can break exactly one thing.
struct SafetensorsWriter {
    static func file(header: String, data: [UInt8], headerLength: UInt64? = nil, pad: Bool = true) -> [UInt8] {
        var headerBytes = Array(header.utf8)
        if pad { while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) } }
        var out: [UInt8] = []
        withUnsafeBytes(of: (headerLength ?? UInt64(headerBytes.count)).littleEndian) { out += $0 }
        return out + headerBytes + data
    }

    static func floats(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    }

    static func write(_ bytes: [UInt8], name: String = UUID().uuidString) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-tests")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name + ".safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

@Suite("Safetensors reader")
struct SafetensorsTests {
    func open(_ bytes: [UInt8]) throws -> SafetensorsFile {
        try SafetensorsFile(path: SafetensorsWriter.write(bytes))
    }

    func expectError(_ code: SafetensorsError.Code, _ bytes: [UInt8], mentioning words: [String] = [],
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = try SafetensorsWriter.write(bytes)
        do {
            _ = try SafetensorsFile(path: path)
            Issue.record("expected \(code), the file opened", sourceLocation: sourceLocation)
        } catch let error as SafetensorsError {
            #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains(path), "error does not name the file: \(error)", sourceLocation: sourceLocation)
            for word in words {
                #expect(error.description.contains(word), "error does not mention \(word): \(error)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("reads F32 tensors without copying and checks shapes strictly")
    func readsFloat32() throws {
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        let file = try open(SafetensorsWriter.file(
            header: #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"__metadata__":{"format":"pt"}}"#,
            data: SafetensorsWriter.floats(values)))
        let t = try file.tensor("w", shape: [2, 3])
        #expect(t.scalars == values)
        #expect(t.shape == [2, 3])
        #expect(file.metadata["format"] == "pt")
        #expect(throws: SafetensorsError.self) { try file.tensor("w", shape: [3, 2]) }
        do {
            _ = try file.tensor("missing")
            Issue.record("missing tensor was found")
        } catch let error as SafetensorsError {
            #expect(error.code == .missingTensor)
            #expect(error.description.contains("missing"))
        }
    }

    @Test("widens F16, BF16 and reads integer tensors")
    func readsOtherDTypes() throws {
        let halves: [Float16] = [1.5, -2, 0.099975586]
        var data = halves.flatMap { h in withUnsafeBytes(of: h.bitPattern.littleEndian) { Array($0) } }
        let bfs: [Float] = [3.0, -0.5]
        data += bfs.flatMap { f in withUnsafeBytes(of: floatToBF16(f).littleEndian) { Array($0) } }
        data += [7, -9].flatMap { (i: Int64) in withUnsafeBytes(of: i.littleEndian) { Array($0) } }
        let header = #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]},"i":{"dtype":"I64","shape":[2],"data_offsets":[10,26]}}"#
        let file = try open(SafetensorsWriter.file(header: header, data: data))
        #expect(try file.tensor("h").scalars == halves.map { Float($0) })
        #expect(try file.tensor("b").scalars == bfs)
        #expect(try file.integers("i").values == [7, -9])
        #expect(throws: SafetensorsError.self) { try file.tensor("i") }
    }

    @Test("a file shorter than the length prefix is reported as truncated")
    func truncatedPrefix() throws {
        try expectError(.truncated, [1, 2, 3])
    }

    @Test("a header length beyond the end of the file is reported")
    func headerBeyondFile() throws {
        try expectError(.truncated, SafetensorsWriter.file(header: "{}", data: [], headerLength: 4096), mentioning: ["4096"])
    }

    @Test("an absurd header length is refused before reading")
    func headerTooLarge() throws {
        try expectError(.headerTooLarge, SafetensorsWriter.file(header: "{}", data: [], headerLength: 1 << 40))
    }

    @Test("invalid JSON in the header is reported")
    func invalidJSON() throws {
        try expectError(.invalidHeader, SafetensorsWriter.file(header: #"{"w": {"dtype": "F32", "#, data: []))
        try expectError(.invalidHeader, SafetensorsWriter.file(header: "[1, 2]", data: []))
    }

    @Test("an unknown dtype is reported with the tensor's name")
    func unknownDType() throws {
        try expectError(.unknownDType, SafetensorsWriter.file(
            header: #"{"w":{"dtype":"F8_E9","shape":[1],"data_offsets":[0,1]}}"#, data: [0]), mentioning: ["'w'", "F8_E9"])
    }

    @Test("offsets past the data section are reported")
    func offsetsOutOfRange() throws {
        try expectError(.offsetsOutOfRange, SafetensorsWriter.file(
            header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: SafetensorsWriter.floats([1, 2])),
                        mentioning: ["'w'"])
        try expectError(.offsetsOutOfRange, SafetensorsWriter.file(
            header: #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, data: SafetensorsWriter.floats([1, 2])))
    }

    @Test("offsets that disagree with shape and dtype are reported")
    func sizeMismatch() throws {
        try expectError(.sizeMismatch, SafetensorsWriter.file(
            header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: SafetensorsWriter.floats([1, 2])))
    }

    @Test("overlapping tensors are reported with both names")
    func overlapping() throws {
        try expectError(.overlappingTensors, SafetensorsWriter.file(
            header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
            data: SafetensorsWriter.floats([1, 2, 3])), mentioning: ["'a'", "'b'"])
    }

    @Test("negative or fractional dimensions are reported")
    func badShape() throws {
        try expectError(.badShape, SafetensorsWriter.file(
            header: #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: SafetensorsWriter.floats([1])))
        try expectError(.badShape, SafetensorsWriter.file(
            header: #"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, data: SafetensorsWriter.floats([1])))
    }

    @Test("an unaligned F32 tensor is copied and still reads correctly")
    func unalignedData() throws {
        let data: [UInt8] = [0, 0] + SafetensorsWriter.floats([7, 8])
        let file = try open(SafetensorsWriter.file(
            header: #"{"p":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"w":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}}"#,
            data: data))
        #expect(try file.tensor("w").scalars == [7, 8])
    }

    @Test("a missing file is an error that names it")
    func missingFile() {
        do {
            _ = try SafetensorsFile(path: "/nonexistent/model.safetensors")
            Issue.record("opened a missing file")
        } catch let error as SafetensorsError {
            #expect(error.code == .unreadable)
            #expect(error.description.contains("/nonexistent/model.safetensors"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("the weight loader scopes keys by prefix and reports tensors nobody loaded")
    func strictLoader() throws {
        let path = try SafetensorsWriter.write(SafetensorsWriter.file(
            header: #"{"layers.0.w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"layers.0.extra":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            data: SafetensorsWriter.floats([1, 2])))
        let loader = try WeightLoader(path: path)
        let layer = loader.root.scope("layers").scope(0)
        #expect(try layer("w", shape: [1]).scalars == [1])
        #expect(try layer.shape(of: "extra") == [1])
        do {
            try loader.finish()
            Issue.record("finish() accepted an unused tensor")
        } catch let error as SafetensorsError {
            #expect(error.code == .unusedTensors)
            #expect(error.description.contains("layers.0.extra"))
        }
        try loader.finish(ignoring: { $0.hasSuffix(".extra") })
    }
}
