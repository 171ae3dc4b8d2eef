import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a safetensors file could not be used. The message always names the file and the fault.
public struct SafetensorsError: Error, CustomStringConvertible, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public static let unreadable = Code(name: "unreadable")
        public static let truncated = Code(name: "truncated")
        public static let headerTooLarge = Code(name: "headerTooLarge")
        public static let invalidHeader = Code(name: "invalidHeader")
        public static let unknownDType = Code(name: "unknownDType")
        public static let badShape = Code(name: "badShape")
        public static let offsetsOutOfRange = Code(name: "offsetsOutOfRange")
        public static let sizeMismatch = Code(name: "sizeMismatch")
        public static let overlappingTensors = Code(name: "overlappingTensors")
        public static let missingTensor = Code(name: "missingTensor")
        public static let unexpectedShape = Code(name: "unexpectedShape")
        public static let unexpectedDType = Code(name: "unexpectedDType")
        public static let unusedTensors = Code(name: "unusedTensors")
        public var description: String { name }
    }

    public let code: Code
    public let path: String
    public let message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// Where one tensor lives in a safetensors file.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range relative to the start of the data section.
    public let begin: Int
    public let end: Int

    public var count: Int { shape.reduce(1, *) }
}

/// A read-only memory mapping that unmaps itself when the last view into it goes away.
/// `@unchecked Sendable`: the mapping is read-only (PROT_READ) and its address never changes until `deinit`.
final class MappedRegion: @unchecked Sendable {
    let base: UnsafeMutableRawPointer?
    let length: Int

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw SafetensorsError(.unreadable, path: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SafetensorsError(.unreadable, path: path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        length = Int(info.st_size)
        if length == 0 {
            base = nil
            return
        }
        // PROT_READ only: weights are shared by every request and by every replica on the host (page cache),
        // and nothing may write to them.
        let mapped = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw SafetensorsError(.unreadable, path: path, "cannot map: \(String(cString: strerror(errno)))")
        }
        base = mapped
    }

    deinit {
        if let base { munmap(base, length) }
    }
}

/// A safetensors checkpoint mapped into memory. Lookups are strict: a missing tensor, a wrong shape or an
/// unexpected dtype is an error that names the file and the key.
///
/// Layout: 8-byte little-endian header length N, N bytes of JSON, then the data section. Every tensor's
/// `data_offsets` must lie inside the data section, match its dtype and shape, and not overlap another.
///
/// `@unchecked Sendable`: parsed once in `init` over a read-only mapping; nothing changes afterwards.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    private let region: MappedRegion
    private let dataStart: Int

    /// Largest header accepted; real checkpoints have headers of a few hundred kilobytes.
    public static let maxHeaderBytes = 100 << 20

    public convenience init(url: URL) throws {
        try self.init(path: url.path)
    }

    public init(path: String) throws {
        self.path = path
        region = try MappedRegion(path: path)
        let fileSize = region.length
        guard fileSize >= 8, let base = region.base else {
            throw SafetensorsError(.truncated, path: path, "file is \(fileSize) bytes, shorter than the 8-byte header length")
        }
        let headerLength = base.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw SafetensorsError(.headerTooLarge, path: path,
                                   "header length \(headerLength) exceeds the limit of \(Self.maxHeaderBytes) bytes")
        }
        guard headerLength <= UInt64(fileSize - 8) else {
            throw SafetensorsError(.truncated, path: path,
                                   "header length \(headerLength) runs past the end of the file (\(fileSize) bytes)")
        }
        let n = Int(headerLength)
        dataStart = 8 + n
        let headerData = Data(bytes: base + 8, count: n)
        let (tensors, metadata) = try Self.parseHeader(headerData, path: path, dataSize: fileSize - dataStart)
        self.tensors = tensors
        self.metadata = metadata
    }

    private static func parseHeader(_ data: Data, path: String, dataSize: Int) throws
        -> ([String: TensorInfo], [String: String])
    {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw SafetensorsError(.invalidHeader, path: path, "header is not valid JSON")
        }
        guard let dictionary = object as? [String: Any] else {
            throw SafetensorsError(.invalidHeader, path: path, "header is not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in dictionary {
            if name == "__metadata__" {
                guard let entries = value as? [String: Any] else {
                    throw SafetensorsError(.invalidHeader, path: path, "__metadata__ is not an object")
                }
                for (key, entry) in entries {
                    guard let text = entry as? String else {
                        throw SafetensorsError(.invalidHeader, path: path, "__metadata__[\(key)] is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            guard let entry = value as? [String: Any] else {
                throw SafetensorsError(.invalidHeader, path: path, "entry for tensor '\(name)' is not an object")
            }
            guard let dtypeName = entry["dtype"] as? String else {
                throw SafetensorsError(.invalidHeader, path: path, "tensor '\(name)' has no dtype")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw SafetensorsError(.unknownDType, path: path, "tensor '\(name)' has unknown dtype '\(dtypeName)'")
            }
            guard let shapeValues = entry["shape"] as? [Any] else {
                throw SafetensorsError(.invalidHeader, path: path, "tensor '\(name)' has no shape")
            }
            var shape: [Int] = []
            for dimension in shapeValues {
                guard let number = dimension as? NSNumber,
                      number.doubleValue == number.doubleValue.rounded(), number.int64Value >= 0
                else {
                    throw SafetensorsError(.badShape, path: path, "tensor '\(name)' has an invalid shape \(shapeValues)")
                }
                shape.append(number.intValue)
            }
            guard let offsets = entry["data_offsets"] as? [NSNumber], offsets.count == 2 else {
                throw SafetensorsError(.invalidHeader, path: path, "tensor '\(name)' has no data_offsets pair")
            }
            let begin = offsets[0].int64Value
            let end = offsets[1].int64Value
            guard begin >= 0, end >= begin, end <= Int64(dataSize) else {
                throw SafetensorsError(.offsetsOutOfRange, path: path,
                                       "tensor '\(name)' data_offsets [\(begin), \(end)] lie outside the data section of \(dataSize) bytes")
            }
            let (elements, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            let (bytes, overflow2) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow, !overflow2, Int64(bytes) == end - begin else {
                throw SafetensorsError(.sizeMismatch, path: path,
                                       "tensor '\(name)' of dtype \(dtype.rawValue) and shape \(shape) needs \(bytes) bytes, but its data_offsets span \(end - begin)")
            }
            tensors[name] = TensorInfo(name: name, dtype: dtype, shape: shape, begin: Int(begin), end: Int(end))
        }
        let ordered = tensors.values.filter { $0.end > $0.begin }.sorted { ($0.begin, $0.name) < ($1.begin, $1.name) }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.begin < previous.end {
            throw SafetensorsError(.overlappingTensors, path: path,
                                   "tensors '\(previous.name)' [\(previous.begin), \(previous.end)] and '\(next.name)' [\(next.begin), \(next.end)] overlap")
        }
        return (tensors, metadata)
    }

    public var names: [String] { tensors.keys.sorted() }

    /// The entry for `name`, or an error naming the file and the key.
    public func info(_ name: String) throws -> TensorInfo {
        guard let info = tensors[name] else {
            throw SafetensorsError(.missingTensor, path: path, "missing tensor '\(name)'")
        }
        return info
    }

    /// The raw bytes of a tensor, straight from the mapping.
    public func bytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let info = try info(name)
        guard let base = region.base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + dataStart + info.begin, count: info.end - info.begin)
    }

    /// A float32 tensor. F32 data that is 4-byte aligned in the mapping is returned without a copy;
    /// F16, BF16 and F64 are converted into fresh memory. `shape`, when given, must match exactly.
    public func tensor(_ name: String, shape expected: [Int]? = nil) throws -> Tensor {
        let info = try info(name)
        if let expected, expected != info.shape {
            throw SafetensorsError(.unexpectedShape, path: path,
                                   "tensor '\(name)' has shape \(info.shape), expected \(expected)")
        }
        guard info.dtype.isFloatingPoint else {
            throw SafetensorsError(.unexpectedDType, path: path,
                                   "tensor '\(name)' has dtype \(info.dtype.rawValue), expected a floating-point type")
        }
        let raw = try bytes(name)
        let count = info.count
        if info.dtype == .f32, let start = raw.baseAddress,
           Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0, count > 0
        {
            let storage = Storage(borrowing: UnsafeMutableRawPointer(mutating: start), byteCount: raw.count, owner: region)
            return Tensor(shape: info.shape, storage: storage)
        }
        let out = Tensor(zeros: info.shape)
        let dst = out.pointer
        switch info.dtype {
        case .f32:
            for i in 0..<count { dst[i] = raw.loadUnaligned(fromByteOffset: i * 4, as: Float.self) }
        case .f16:
            for i in 0..<count {
                dst[i] = Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
            }
        case .bf16:
            for i in 0..<count { dst[i] = bf16ToFloat(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) }
        case .f64:
            for i in 0..<count { dst[i] = Float(raw.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
        default:
            break
        }
        return out
    }

    /// An integer tensor (I64, I32, I16, I8, U8, BOOL) widened to Int.
    public func integers(_ name: String, shape expected: [Int]? = nil) throws -> (shape: [Int], values: [Int]) {
        let info = try info(name)
        if let expected, expected != info.shape {
            throw SafetensorsError(.unexpectedShape, path: path,
                                   "tensor '\(name)' has shape \(info.shape), expected \(expected)")
        }
        let raw = try bytes(name)
        let n = info.count
        let values: [Int]
        switch info.dtype {
        case .i64: values = (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        case .i32: values = (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        case .i16: values = (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self)) }
        case .i8: values = (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool: values = (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0, as: UInt8.self)) }
        default:
            throw SafetensorsError(.unexpectedDType, path: path,
                                   "tensor '\(name)' has dtype \(info.dtype.rawValue), expected an integer type")
        }
        return (info.shape, values)
    }
}
