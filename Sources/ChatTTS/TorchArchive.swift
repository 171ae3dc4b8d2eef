import CLZMA
import Foundation

/// One tensor read from a `torch.save` file, widened to Float.
public struct TorchTensor: Sendable, Equatable {
    /// The storage classes we read, by their pickled names.
    public enum DType: String, Sendable {
        case float32 = "FloatStorage", float16 = "HalfStorage", bfloat16 = "BFloat16Storage"

        var byteCount: Int { self == .float32 ? 4 : 2 }
    }

    public var dtype: DType
    public var shape: [Int]
    /// Row-major.
    public var values: [Float]
}

/// Why a `torch.save` file could not be read: the file and what was wrong with it.
public struct TorchArchiveError: Error, CustomStringConvertible {
    public let file: String
    public let reason: String

    public var description: String { "\(file): \(reason)" }
}

/// Reads the single tensor of a `torch.save` file (the Hugging Face asset `spk_stat.pt`) without Python.
///
/// The file is a zip archive of stored (uncompressed) entries under one folder: `<folder>/data.pkl`, a pickle whose
/// result is `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` with the storage a persistent id
/// `("storage", torch.FloatStorage, key, location, numel)`, and `<folder>/data/<key>`, the storage's little-endian
/// bytes. We interpret only what that takes; anything else (compressed or zip64 entries, a checksum that does not
/// match, another pickled object, a non-contiguous tensor) is an error that says so, never a guess.
public enum TorchArchive {
    public static func tensor(contentsOf file: URL) throws(TorchArchiveError) -> TorchTensor {
        guard let data = try? Data(contentsOf: file) else {
            throw TorchArchiveError(file: file.path, reason: "cannot read the file")
        }
        return try tensor(bytes: [UInt8](data), file: file.path)
    }

    /// `file` only names the source in errors.
    static func tensor(bytes: [UInt8], file: String) throws(TorchArchiveError) -> TorchTensor {
        func fail(_ reason: String) -> TorchArchiveError { TorchArchiveError(file: file, reason: reason) }
        let entries: [String: ArraySlice<UInt8>]
        do { entries = try ZipEntries.read(bytes) } catch { throw fail("not a PyTorch zip archive: \(error.reason)") }

        let pickles = entries.keys.filter { $0.hasSuffix("/data.pkl") && $0.split(separator: "/").count == 2 }
        guard pickles.count == 1, let pickle = pickles.first else {
            throw fail("expected one <folder>/data.pkl record, found \(pickles.count)")
        }
        let folder = String(pickle.dropLast("/data.pkl".count))
        if let order = entries["\(folder)/byteorder"], String(decoding: order, as: UTF8.self) != "little" {
            throw fail("the tensor data is \(String(decoding: order, as: UTF8.self))-endian; only little-endian is read")
        }
        let root: PickleValue
        do { root = try PickleMachine.run(entries[pickle]!) } catch { throw fail("\(pickle): \(error.reason)") }
        let record: TensorRecord
        do { record = try TensorRecord(root) } catch { throw fail("\(pickle): \(error.reason)") }

        let name = "\(folder)/data/\(record.key)"
        guard let storage = entries[name] else { throw fail("the tensor's storage \(name) is not in the archive") }
        guard storage.count % record.dtype.byteCount == 0, storage.count / record.dtype.byteCount == record.storageCount
        else {
            throw fail("\(name) holds \(storage.count) bytes, not \(record.storageCount) \(record.dtype.rawValue) values")
        }
        let count = record.count
        guard record.offset >= 0, record.offset <= record.storageCount, count <= record.storageCount - record.offset else {
            throw fail("a tensor of \(count) values at offset \(record.offset) does not fit its storage of "
                       + "\(record.storageCount)")
        }
        let base = storage.startIndex + record.offset * record.dtype.byteCount
        let values: [Float] = (0..<count).map { i in
            let at = base + i * record.dtype.byteCount
            let low = UInt32(storage[at]) | UInt32(storage[at + 1]) << 8
            switch record.dtype {
            case .float32: return Float(bitPattern: low | UInt32(storage[at + 2]) << 16 | UInt32(storage[at + 3]) << 24)
            case .float16: return Float(Float16(bitPattern: UInt16(low)))
            case .bfloat16: return Float(bitPattern: low << 16)
            }
        }
        return TorchTensor(dtype: record.dtype, shape: record.shape, values: values)
    }
}

/// A reason without a file; `TorchArchive` adds the file.
struct ArchiveFormatError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// The entries of a zip archive whose entries are all stored, by name, each checked against its CRC-32.
enum ZipEntries {
    static func read(_ bytes: [UInt8]) throws(ArchiveFormatError) -> [String: ArraySlice<UInt8>] {
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func has(_ at: Int, _ count: Int) -> Bool { at >= 0 && count >= 0 && at <= bytes.count - count }

        // The end-of-central-directory record: 22 bytes plus a comment of up to 65535 bytes at the very end. (torch
        // writes zip64 end records before it too; below 4 GB and 65535 entries the classic record is complete.)
        let endSize = 22
        guard bytes.count >= endSize else {
            throw ArchiveFormatError("\(bytes.count) bytes, too short for a zip archive")
        }
        let lowest = max(0, bytes.count - endSize - 0xFFFF)
        guard let end = stride(from: bytes.count - endSize, through: lowest, by: -1).first(where: {
            u32($0) == 0x0605_4B50 && $0 + endSize + u16($0 + 20) == bytes.count
        }) else { throw ArchiveFormatError("no end-of-central-directory record (truncated, or not a zip archive)") }
        let count = u16(end + 10), size = u32(end + 12), start = u32(end + 16)
        guard count != 0xFFFF, size != 0xFFFF_FFFF, start != 0xFFFF_FFFF else {
            throw ArchiveFormatError("a zip64 archive (over 4 GB or 65535 entries) is not read here")
        }
        guard u16(end + 4) == 0, u16(end + 6) == 0, u16(end + 8) == count else {
            throw ArchiveFormatError("a multi-disk archive is not read here")
        }
        guard has(start, size) else { throw ArchiveFormatError("the central directory lies outside the file") }

        var entries: [String: ArraySlice<UInt8>] = [:]
        var at = start
        for index in 0..<count {
            guard has(at, 46), u32(at) == 0x0201_4B50 else {
                throw ArchiveFormatError("central directory entry \(index) is damaged (truncated or garbled file)")
            }
            let method = u16(at + 10), crc = UInt32(u32(at + 16)), stored = u32(at + 20), length = u32(at + 24)
            let nameLength = u16(at + 28), extraLength = u16(at + 30), commentLength = u16(at + 32)
            let local = u32(at + 42)
            guard has(at + 46, nameLength) else {
                throw ArchiveFormatError("central directory entry \(index) is cut off")
            }
            let name = String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
            guard method == 0 else {
                throw ArchiveFormatError("entry '\(name)' is compressed (method \(method)); torch.save stores entries")
            }
            guard stored != 0xFFFF_FFFF, local != 0xFFFF_FFFF else {
                throw ArchiveFormatError("entry '\(name)' is a zip64 entry, not read here")
            }
            guard stored == length else {
                throw ArchiveFormatError("entry '\(name)' is stored with \(stored) bytes for \(length)")
            }
            guard has(local, 30), u32(local) == 0x0403_4B50, u16(local + 26) == nameLength,
                  has(local + 30, nameLength), bytes[(local + 30)..<(local + 30 + nameLength)].elementsEqual(name.utf8)
            else { throw ArchiveFormatError("the local header of entry '\(name)' is damaged") }
            let data = local + 30 + nameLength + u16(local + 28)
            guard has(data, length) else { throw ArchiveFormatError("entry '\(name)' is cut off (truncated file)") }
            let content = bytes[data..<(data + length)]
            guard checksum(content) == crc else {
                throw ArchiveFormatError("entry '\(name)' does not match its CRC-32 (garbled file)")
            }
            guard entries.updateValue(content, forKey: name) == nil else {
                throw ArchiveFormatError("entry '\(name)' occurs twice")
            }
            at += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    /// The zip CRC-32 (liblzma's implementation of the same polynomial).
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { lzma_crc32($0.baseAddress, $0.count, 0) }
    }
}

/// What the pickle machine builds: only the kinds `torch.save` writes for a tensor.
indirect enum PickleValue: Equatable {
    case none, bool(Bool), int(Int), float(Double), string(String)
    case tuple([PickleValue]), list([PickleValue]), dict([PickleValue])
    /// `module.name`, as GLOBAL or STACK_GLOBAL name it.
    case global(String)
    /// BINPERSID: a reference the loader resolves (for torch, a storage).
    case persistent(PickleValue)
    /// REDUCE: a call we do not perform.
    case call(PickleValue, [PickleValue])
    case mark
}

/// A pickle interpreter for the opcodes `torch.save` uses (protocols 2 to 5), running nothing: calls stay values.
enum PickleMachine {
    static func run(_ code: ArraySlice<UInt8>) throws(ArchiveFormatError) -> PickleValue {
        var stack: [PickleValue] = [], memo: [Int: PickleValue] = [:]
        var at = code.startIndex

        func take(_ count: Int) throws(ArchiveFormatError) -> ArraySlice<UInt8> {
            guard count >= 0, code.endIndex - at >= count else { throw ArchiveFormatError("the pickle is cut off") }
            defer { at += count }
            return code[at..<(at + count)]
        }
        func little(_ count: Int) throws(ArchiveFormatError) -> Int {
            try take(count).reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        func line() throws(ArchiveFormatError) -> String {
            guard let newline = code[at...].firstIndex(of: 0x0A) else {
                throw ArchiveFormatError("the pickle is cut off")
            }
            defer { at = newline + 1 }
            return String(decoding: code[at..<newline], as: UTF8.self)
        }
        func pop() throws(ArchiveFormatError) -> PickleValue {
            guard let top = stack.popLast(), top != .mark else {
                throw ArchiveFormatError("the pickle's stack underflows")
            }
            return top
        }
        func popToMark() throws(ArchiveFormatError) -> [PickleValue] {
            guard let mark = stack.lastIndex(of: .mark) else { throw ArchiveFormatError("the pickle has no mark") }
            defer { stack.removeSubrange(mark...) }
            return Array(stack[(mark + 1)...])
        }
        func string(_ length: Int) throws(ArchiveFormatError) -> PickleValue {
            .string(String(decoding: try take(length), as: UTF8.self))
        }
        func extend(list items: [PickleValue]) throws(ArchiveFormatError) {
            guard case .list(let list)? = stack.popLast() else { throw ArchiveFormatError("APPEND(S) without a list") }
            stack.append(.list(list + items))
        }
        func extend(dict items: [PickleValue]) throws(ArchiveFormatError) {
            guard items.count % 2 == 0, case .dict(let dict)? = stack.popLast() else {
                throw ArchiveFormatError("SETITEM(S) without a dict or with an odd item count")
            }
            stack.append(.dict(dict + items))
        }

        while true {
            let position = at - code.startIndex
            let opcode = try take(1).first!
            switch opcode {
            case 0x80: _ = try take(1)                                       // PROTO
            case 0x95: _ = try take(8)                                       // FRAME
            case 0x2E: return try pop()                                      // STOP
            case 0x28: stack.append(.mark)                                   // MARK
            case 0x4E: stack.append(.none)                                   // NONE
            case 0x88: stack.append(.bool(true))                             // NEWTRUE
            case 0x89: stack.append(.bool(false))                            // NEWFALSE
            case 0x4B: stack.append(.int(try little(1)))                     // BININT1
            case 0x4D: stack.append(.int(try little(2)))                     // BININT2
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try little(4)))))  // BININT
            case 0x8A:                                                       // LONG1
                let count = try little(1)
                guard count <= 8 else { throw ArchiveFormatError("a \(count)-byte integer at byte \(position)") }
                let bits = try little(count), unused = 64 - 8 * count  // two's complement: sign-extend
                stack.append(.int(count == 0 ? 0 : (bits << unused) >> unused))
            case 0x47:                                                       // BINFLOAT (big-endian)
                stack.append(.float(Double(bitPattern: try take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })))
            case 0x58: stack.append(try string(try little(4)))               // BINUNICODE
            case 0x8C: stack.append(try string(try little(1)))               // SHORT_BINUNICODE
            case 0x63: stack.append(.global("\(try line()).\(try line())"))  // GLOBAL
            case 0x93:                                                       // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw ArchiveFormatError("STACK_GLOBAL without two strings at byte \(position)")
                }
                stack.append(.global("\(module).\(name)"))
            case 0x29: stack.append(.tuple([]))                              // EMPTY_TUPLE
            case 0x85: stack.append(.tuple([try pop()]))                     // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))            // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))  // TUPLE3
            case 0x74: stack.append(.tuple(try popToMark()))                 // TUPLE
            case 0x5D: stack.append(.list([]))                               // EMPTY_LIST
            case 0x7D: stack.append(.dict([]))                               // EMPTY_DICT
            case 0x61: let item = try pop(); try extend(list: [item])              // APPEND
            case 0x65: try extend(list: try popToMark())                          // APPENDS
            case 0x73: let value = try pop(), key = try pop(); try extend(dict: [key, value])  // SETITEM
            case 0x75: try extend(dict: try popToMark())                          // SETITEMS
            case 0x52:                                                       // REDUCE
                guard case .tuple(let arguments) = try pop() else {
                    throw ArchiveFormatError("REDUCE without an argument tuple at byte \(position)")
                }
                stack.append(.call(try pop(), arguments))
            case 0x51: stack.append(.persistent(try pop()))                  // BINPERSID
            case 0x71, 0x72, 0x94:                                           // BINPUT, LONG_BINPUT, MEMOIZE
                let key = opcode == 0x94 ? memo.count : try little(opcode == 0x71 ? 1 : 4)
                guard let top = stack.last else { throw ArchiveFormatError("the pickle's stack underflows") }
                memo[key] = top
            case 0x68, 0x6A:                                                 // BINGET, LONG_BINGET
                let key = try little(opcode == 0x68 ? 1 : 4)
                guard let value = memo[key] else {
                    throw ArchiveFormatError("memo \(key) is not set at byte \(position)")
                }
                stack.append(value)
            default:
                throw ArchiveFormatError("pickle opcode 0x\(String(opcode, radix: 16)) at byte \(position) is not one "
                                         + "torch.save writes for a tensor")
            }
        }
    }
}

/// The arguments of `torch._utils._rebuild_tensor_v2` for one contiguous tensor.
struct TensorRecord {
    let dtype: TorchTensor.DType
    let key: String
    let storageCount: Int
    let offset: Int
    let shape: [Int]
    /// Values in the tensor (the product of `shape`).
    let count: Int

    init(_ root: PickleValue) throws(ArchiveFormatError) {
        guard case .call(.global("torch._utils._rebuild_tensor_v2"), let arguments) = root, arguments.count >= 4 else {
            throw ArchiveFormatError("the pickle is not one tensor (torch._utils._rebuild_tensor_v2)")
        }
        guard case .persistent(.tuple(let storage)) = arguments[0], storage.count == 5,
              storage[0] == .string("storage"), case .global(let type) = storage[1],
              case .string(let key) = storage[2], case .int(let count) = storage[4], count >= 0
        else { throw ArchiveFormatError("the tensor's storage is not (\"storage\", type, key, location, numel)") }
        guard type.hasPrefix("torch."), let dtype = TorchTensor.DType(rawValue: String(type.dropFirst(6))) else {
            throw ArchiveFormatError("the tensor's storage is \(type); only FloatStorage, HalfStorage and "
                                     + "BFloat16Storage are read")
        }
        func integers(_ value: PickleValue) -> [Int]? {
            guard case .tuple(let items) = value else { return nil }
            let ints = items.compactMap { item -> Int? in if case .int(let i) = item { i } else { nil } }
            return ints.count == items.count ? ints : nil
        }
        guard case .int(let offset) = arguments[1], let shape = integers(arguments[2]),
              let strides = integers(arguments[3]), strides.count == shape.count, shape.allSatisfy({ $0 >= 0 })
        else { throw ArchiveFormatError("the tensor's offset, size and stride are not integers of one rank") }
        var expected = 1
        for (size, stride) in zip(shape, strides).reversed() {
            guard size == 1 || stride == expected else {
                throw ArchiveFormatError("the tensor of size \(shape) has strides \(strides), not contiguous ones")
            }
            let (product, overflow) = expected.multipliedReportingOverflow(by: size)
            guard !overflow else { throw ArchiveFormatError("the tensor of size \(shape) has too many values") }
            expected = product
        }
        (self.dtype, self.key, self.storageCount, self.offset, self.shape) = (dtype, key, count, offset, shape)
        self.count = expected
    }
}
