import Foundation
import Synchronization
import Tensors

/// Receives named intermediate tensors (`embed`, `gpt.layer.N`, `gpt.hidden`, `logits.code.Q`, `mel`, `wave`...)
/// so a divergence from the reference can be traced to its layer. Nil in production: recording costs nothing then.
public protocol DebugSink: Sendable {
    func record(_ name: String, _ tensor: Tensor)
}

/// Writes every recorded tensor as `NAME.npy` (float32, C order) into a folder; repeated names get `.1`, `.2`...
public final class NpyDumper: DebugSink {
    public let folder: URL
    private let seen = Mutex<[String: Int]>([:])

    public init(folder: URL) throws {
        self.folder = folder
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    public func record(_ name: String, _ tensor: Tensor) {
        let n = seen.withLock { counts -> Int in
            let n = counts[name, default: 0]
            counts[name] = n + 1
            return n
        }
        let file = folder.appendingPathComponent(n == 0 ? "\(name).npy" : "\(name).\(n).npy")
        try? Data(Self.encode(tensor)).write(to: file)
    }

    /// NPY format version 1.0: magic, header length, a Python dict literal padded to 64 bytes, raw data.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let length = UInt16(header.utf8.count)
        out += [UInt8(length & 0xFF), UInt8(length >> 8)]
        out += Array(header.utf8)
        let raw = UnsafeRawBufferPointer(start: tensor.pointer, count: tensor.count * 4)
        out += raw
        return out
    }
}
