import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file of packed matrices (`PackedMatrix` blocks, exactly as packed), written once by the first process that
/// converts a checkpoint and mapped read-only (`MAP_SHARED`, `PROT_READ`) by every later one, so replicas on one
/// host share one copy of their weights through the page cache instead of each converting its own (~520 MB at int8
/// for the full model) into private memory, and start without the conversion.
///
/// The file is named and checked by its `key`: the source weights' identity (their sha256, given by the caller:
/// this module does no hashing), the file version, `PackedMatrix.packingVersion` and every matrix's shape, format,
/// group and layout (its description, so a layout added later keys itself). A file that is missing, of another key,
/// truncated, or whose bytes no longer match their checksum is never used: the caller packs again and rewrites it.
///
/// Layout of the file (little-endian):
///
///     0   "CTTSPWC\0"       magic
///     8   UInt32            file version (`fileVersion`)
///     12  UInt32            header length H
///     16  UInt64            checksum of the header bytes
///     24  H bytes           JSON `Header`: the key, the data section's offset, length and checksum, the matrices
///     ..  zeros             up to the data section, at a 2 MiB multiple (huge-page aligned in the file)
///     D   blocks            one per matrix, each 64-byte aligned, lengths multiples of 64
///
/// Writing goes to a unique temporary name in the same directory, is fsynced and then linked into place (the
/// first of several processes starting together wins, the others map its file) or renamed over a damaged file, so
/// a reader sees a whole file or none. A file in use is never written in place: a replica's mapping stays valid.
/// Writers may first take `lockForWriting()`, so that of processes starting together one converts while the others
/// wait for its file; the lock is an optimization, the link or rename is what keeps files whole.
public struct PackedWeightCache: Sendable {
    /// One matrix of the file, as the loading process would pack it.
    public struct Spec: Sendable, Equatable {
        public let name: String
        public let rows: Int
        public let cols: Int
        public let format: WeightFormat
        /// The group `PackedMatrix` uses for these columns (the asked-for group clamped to `cols`; `cols` but int8).
        public let groupSize: Int
        public let layout: PackedMatrix.Layout

        /// The spec of `PackedMatrix(rows:cols:format:groupSize:)` with its default layout on this CPU.
        public init(name: String, rows: Int, cols: Int, format: WeightFormat, groupSize: Int) {
            self.name = name
            self.rows = rows
            self.cols = cols
            self.format = format
            self.groupSize = format == .int8 ? max(1, min(groupSize, cols)) : cols
            layout = PackedMatrix.Layout.best(format: format, cols: cols, groupSize: self.groupSize)
        }

        var keyText: String { "\(name) \(rows)x\(cols) \(format) g\(groupSize) \(layout)" }

        func matches(_ m: PackedMatrix) -> Bool {
            m.rows == rows && m.cols == cols && m.format == format && m.groupSize == groupSize && m.layout == layout
        }
    }

    public static let fileVersion: UInt32 = 1
    static let magic = Array("CTTSPWC\0".utf8)
    static let prefixBytes = 24
    /// The data section starts at a multiple of this, so that it can be mapped on 2 MiB boundaries.
    static let dataAlignment = HugePageRegion.alignment
    /// Headers are a few kilobytes; a larger length is a corrupt file.
    static let maxHeaderBytes = 16 << 20

    public let directory: String
    public let specs: [Spec]
    /// Everything the file's bytes depend on, stored in its header and compared whole.
    public let key: String
    /// `directory/packed-<hash of key>.weights`.
    public let path: String

    /// - Parameters:
    ///   - source: the identity of the weights the matrices are packed from, e.g. "sha256 <hex>" of the checkpoint.
    ///   - specs: the matrices, in the order `read` returns and `write` takes them.
    public init(directory: String, source: String, specs: [Spec]) {
        self.directory = directory
        self.specs = specs
        key = (["chattts packed weights v\(Self.fileVersion)", "packing v\(PackedMatrix.packingVersion)",
                "source \(source)"] + specs.map(\.keyText)).joined(separator: "\n")
        path = (directory as NSString).appendingPathComponent(
            "packed-" + String(Self.fnv1a(Array(key.utf8)), radix: 16) + ".weights")
    }

    /// The file's header: what the matrices are and where their bytes lie (offsets relative to the data section).
    struct Header: Codable, Equatable {
        struct Matrix: Codable, Equatable {
            var name: String
            var rows: Int
            var cols: Int
            var format: String
            var groupSize: Int
            var layout: String
            var offset: Int
            var bytes: Int
            var scalesOffset: Int?
            var sumsOffset: Int?
        }
        var key: String
        var dataOffset: Int
        var dataBytes: Int
        /// Hex of `Checksum` over the data section.
        var checksum: String
        var matrices: [Matrix]
    }

    // MARK: Reading

    /// The matrices from the file, when it exists and is valid for this key; throws `.missing` or `.invalid`
    /// (with what is wrong) otherwise.
    ///
    /// `copyInto`: nil keeps the weights in the shared read-only mapping; an arena gets a private copy in huge pages
    /// (no conversion, but no sharing either).
    public func read(copyInto arena: WeightArena? = nil) throws(PackedWeightCacheError) -> [PackedMatrix] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw PackedWeightCacheError(code == ENOENT ? .missing : .invalid, path: path,
                                         code == ENOENT ? "no cache file" : "cannot open: \(Self.reason(code))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw invalid("cannot stat: \(Self.reason(errno))") }
        let size = Int(info.st_size)
        guard size >= Self.prefixBytes else { throw invalid("\(size) bytes, shorter than the header") }
        var prefix = [UInt8](repeating: 0, count: Self.prefixBytes)
        guard Self.readFully(fd, &prefix, at: 0) else { throw invalid("cannot read the header") }
        guard Array(prefix[0..<8]) == Self.magic else { throw invalid("not a packed weight file (magic)") }
        let version = Self.load(UInt32.self, prefix, at: 8), headerBytes = Int(Self.load(UInt32.self, prefix, at: 12))
        guard version == Self.fileVersion else { throw invalid("file version \(version), expected \(Self.fileVersion)") }
        guard headerBytes <= Self.maxHeaderBytes, Self.prefixBytes + headerBytes <= size else {
            throw invalid("truncated: a header of \(headerBytes) bytes in a file of \(size)")
        }
        var headerData = [UInt8](repeating: 0, count: headerBytes)
        guard Self.readFully(fd, &headerData, at: Self.prefixBytes) else { throw invalid("cannot read the header") }
        var headerSum = Checksum()
        headerSum.update(bytes: headerData)
        guard headerSum.value == Self.load(UInt64.self, prefix, at: 16) else { throw invalid("header checksum differs") }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(headerData)) else {
            throw invalid("header is not valid JSON")
        }
        guard header.key == key else { throw invalid("made for another key") }
        try check(header, fileSize: size)

        let mapping = try CacheMapping(fd: fd, offset: header.dataOffset, length: header.dataBytes, path: path)
        var sum = Checksum()
        sum.update(mapping.base, count: header.dataBytes)
        guard String(sum.value, radix: 16) == header.checksum else { throw invalid("data checksum differs (corrupt)") }

        var copy: (pointer: UnsafeMutableRawPointer, owner: HugePageRegion)?
        if let arena {
            do { copy = try arena.allocate(byteCount: header.dataBytes, alignment: 4096) } catch {
                throw invalid("cannot copy into memory: \(error)")
            }
            copy!.pointer.copyMemory(from: mapping.base, byteCount: header.dataBytes)
        }
        let base = copy.map { UnsafeRawPointer($0.pointer) } ?? mapping.base
        return zip(specs, header.matrices).map { spec, m in
            PackedMatrix(packed: base + m.offset, blockBytes: m.bytes,
                         rows: spec.rows, cols: spec.cols, format: spec.format, groupSize: spec.groupSize,
                         layout: spec.layout, scalesOffset: m.scalesOffset, sumsOffset: m.sumsOffset,
                         owner: copy?.owner ?? mapping)
        }
    }

    /// Every matrix as the specs say, every block inside the data section and 64-byte aligned, the side arrays
    /// inside their blocks, and the file exactly as long as the header says.
    private func check(_ header: Header, fileSize: Int) throws(PackedWeightCacheError) {
        guard header.dataOffset >= Self.prefixBytes, header.dataOffset % Self.dataAlignment == 0,
              header.dataBytes >= 0, header.dataBytes % 64 == 0 else {
            throw invalid("bad data section: offset \(header.dataOffset), \(header.dataBytes) bytes")
        }
        guard fileSize == header.dataOffset + header.dataBytes else {
            throw invalid("truncated or extended: \(fileSize) bytes, expected \(header.dataOffset + header.dataBytes)")
        }
        guard header.matrices.count == specs.count else {
            throw invalid("\(header.matrices.count) matrices, expected \(specs.count)")
        }
        for (spec, m) in zip(specs, header.matrices) {
            guard m.name == spec.name, m.rows == spec.rows, m.cols == spec.cols, m.format == spec.format.rawValue,
                  m.groupSize == spec.groupSize, m.layout == "\(spec.layout)" else {
                throw invalid("matrix \(m.name) differs from \(spec.keyText)")
            }
            let inBlock = { (o: Int?) in o.map { $0 >= 0 && $0 % 64 == 0 && $0 < m.bytes } ?? true }
            guard m.offset >= 0, m.offset % 64 == 0, m.bytes > 0, m.offset + m.bytes <= header.dataBytes,
                  inBlock(m.scalesOffset), inBlock(m.sumsOffset),
                  (m.scalesOffset != nil) == (spec.format == .int8) else {
                throw invalid("matrix \(m.name) lies outside the data section")
            }
        }
    }

    // MARK: Writing

    /// Writes `matrices` (packed for `specs`, in order) to a temporary file in `directory` (created if missing),
    /// fsyncs it and moves it to `path`. Throws `.unwritable` when the directory or the file cannot be written;
    /// nothing is left behind then.
    ///
    /// `replacing`: false when there was no file: the temporary file is hard-linked to `path`, which fails if another
    /// process placed its (equally valid) file first; that one is kept, so replicas starting together end up mapping
    /// one file, not one each. True (a damaged file is there), or on a file system without hard links: renamed over.
    public func write(_ matrices: [PackedMatrix], replacing: Bool = false) throws(PackedWeightCacheError) {
        precondition(matrices.count == specs.count, "PackedWeightCache: \(matrices.count) matrices for \(specs.count) specs")
        for (spec, m) in zip(specs, matrices) where !spec.matches(m) {
            throw PackedWeightCacheError(.unwritable, path: path, "matrix \(spec.name) is not packed as \(spec.keyText)")
        }
        var entries: [Header.Matrix] = [], offset = 0, sum = Checksum()
        for (spec, m) in zip(specs, matrices) {
            precondition(m.blockBytes % 64 == 0, "PackedMatrix blocks are 64-byte multiples")
            let base = UnsafeRawPointer(m.data)
            entries.append(Header.Matrix(
                name: spec.name, rows: m.rows, cols: m.cols, format: m.format.rawValue, groupSize: m.groupSize,
                layout: "\(m.layout)", offset: offset, bytes: m.blockBytes,
                scalesOffset: m.scales.map { UnsafeRawPointer($0) - base },
                sumsOffset: m.sums128.map { UnsafeRawPointer($0) - base }))
            sum.update(base, count: m.blockBytes)
            offset += m.blockBytes
        }
        // The header's own length decides where data starts; the offset has a fixed width in JSON only once known.
        var header = Header(key: key, dataOffset: 0, dataBytes: offset, checksum: String(sum.value, radix: 16),
                            matrices: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var json: [UInt8] = []
        for _ in 0..<3 {
            json = Array((try? encoder.encode(header)) ?? Data())
            let start = (Self.prefixBytes + json.count + Self.dataAlignment - 1) / Self.dataAlignment * Self.dataAlignment
            if start == header.dataOffset { break }
            header.dataOffset = start
        }
        var prefix = Self.magic
        var headerSum = Checksum()
        headerSum.update(bytes: json)
        Self.append(Self.fileVersion, to: &prefix)
        Self.append(UInt32(json.count), to: &prefix)
        Self.append(headerSum.value, to: &prefix)

        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PackedWeightCacheError(.unwritable, path: directory, "cannot create the directory: \(error.localizedDescription)")
        }
        let temporary = path + ".tmp-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw PackedWeightCacheError(.unwritable, path: temporary, "cannot create: \(Self.reason(errno))")
        }
        var failure: String?
        if !Self.writeFully(fd, prefix + json, at: 0) { failure = "write: \(Self.reason(errno))" }
        for (entry, m) in zip(entries, matrices) where failure == nil {
            if !Self.writeFully(fd, UnsafeRawPointer(m.data), count: m.blockBytes, at: header.dataOffset + entry.offset) {
                failure = "write: \(Self.reason(errno))"
            }
        }
        // The zeros between header and data: a hole, made part of the file by its final length.
        if failure == nil, ftruncate(fd, off_t(header.dataOffset + header.dataBytes)) != 0 {
            failure = "truncate: \(Self.reason(errno))"
        }
        if failure == nil, fsync(fd) != 0 { failure = "fsync: \(Self.reason(errno))" }
        #if os(Linux)
        // Drop the pages the writes cached (small folios, mapped by 4 KiB entries): readers then fault the file in
        // through the huge-page advice as 2 MiB folios. Measured (kernel 6.18, ext4): 62 of 193 MiB of the
        // mapping in 2 MiB entries straight after the write, 190 of 193 after this.
        if failure == nil { _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED)) }
        #endif
        close(fd)
        if failure == nil, replacing || link(temporary, path) != 0 && errno != EEXIST {
            if rename(temporary, path) != 0 { failure = "rename to \(path): \(Self.reason(errno))" }
        }
        // Linked (or another's file won): the temporary name goes; renamed: it is gone already.
        unlink(temporary)
        if let failure { throw PackedWeightCacheError(.unwritable, path: temporary, failure) }
        // The rename itself survives a crash once the directory is synced.
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            _ = fsync(dirFD)
            close(dirFD)
        }
    }

    /// Waits for the right to convert and write this key's file (`flock` on `path + ".lock"`, created if missing), so
    /// that of replicas starting together one converts and the others wait and read its file, instead of each
    /// converting at once on the same cores. Nil when the lock file cannot be made (the write will fail and say
    /// why). The lock goes with `WriterLock.release()` or with the process.
    public func lockForWriting() -> WriterLock? {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let fd = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                close(fd)
                return nil
            }
        }
        return WriterLock(fd: fd)
    }

    /// An exclusive `flock` held on a cache file's lock file; released once, by `release()` or `deinit`.
    public final class WriterLock: @unchecked Sendable {
        // `@unchecked Sendable`: the descriptor is closed once, by whichever of release() and deinit comes first;
        // a lock is used by the one loading thread that took it.
        private var fd: Int32

        init(fd: Int32) { self.fd = fd }

        public func release() {
            guard fd >= 0 else { return }
            close(fd)  // closing the only descriptor of the open file releases its flock
            fd = -1
        }

        deinit { release() }
    }

    // MARK: Helpers

    private func invalid(_ message: String) -> PackedWeightCacheError {
        PackedWeightCacheError(.invalid, path: path, message)
    }

    static func reason(_ code: Int32) -> String { "errno \(code): \(String(cString: strerror(code)))" }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    static func load<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
        bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    static func readFully(_ fd: Int32, _ buffer: inout [UInt8], at offset: Int) -> Bool {
        let count = buffer.count
        return buffer.withUnsafeMutableBytes { raw in
            var done = 0
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
    }

    static func writeFully(_ fd: Int32, _ bytes: [UInt8], at offset: Int) -> Bool {
        bytes.withUnsafeBytes { writeFully(fd, $0.baseAddress!, count: $0.count, at: offset) }
    }

    static func writeFully(_ fd: Int32, _ base: UnsafeRawPointer, count: Int, at offset: Int) -> Bool {
        var done = 0
        while done < count {
            let n = pwrite(fd, base + done, min(count - done, 1 << 30), off_t(offset + done))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}

extension PackedMatrix {
    /// The version of the bytes `init(rows:cols:format:...)` makes for a given format, group and layout: part of
    /// every cache key. Raise it whenever packing changes what it writes (rounding, order, padding, side arrays),
    /// so files packed by older code are rebuilt rather than misread.
    public static let packingVersion = 1
}

/// Why a cache file was not used or not written; the message names the file and the fault.
public struct PackedWeightCacheError: Error, CustomStringConvertible, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// No file for this key yet.
        public static let missing = Code(name: "missing")
        /// A file that must not be trusted: another version or key, truncated, corrupt.
        public static let invalid = Code(name: "invalid")
        /// The directory or the file cannot be written.
        public static let unwritable = Code(name: "unwritable")
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

/// A checksum for detecting damaged files (not an adversary): four lanes of multiply-xor over 64-bit words, so it
/// runs near memory speed (~1 word per cycle) and a whole-file pass costs little beside reading the pages, which a
/// first decode step needs anyway. Input comes in multiples of 32 bytes, 8-byte aligned.
struct Checksum {
    private var lanes: (UInt64, UInt64, UInt64, UInt64) = (
        0x9E37_79B9_7F4A_7C15, 0xC2B2_AE3D_27D4_EB4F, 0x1656_67B1_9E37_79F9, 0x85EB_CA77_C2B2_AE63)
    private var length: UInt64 = 0
    private static let prime: UInt64 = 0x0000_0100_0000_01B3 | 0x9E37_79B9_0000_0000

    mutating func update(_ base: UnsafeRawPointer, count: Int) {
        precondition(count % 32 == 0 && Int(bitPattern: base) % 8 == 0, "Checksum: 32-byte multiples, 8-byte aligned")
        let words = base.assumingMemoryBound(to: UInt64.self)
        var (a, b, c, d) = lanes
        let p = Self.prime
        var i = 0
        let n = count / 8
        while i < n {
            a = (a ^ words[i]) &* p
            b = (b ^ words[i + 1]) &* p
            c = (c ^ words[i + 2]) &* p
            d = (d ^ words[i + 3]) &* p
            a ^= a >> 29
            b ^= b >> 29
            c ^= c >> 29
            d ^= d >> 29
            i += 4
        }
        lanes = (a, b, c, d)
        length &+= UInt64(count)
    }

    /// Any byte string (the header): zero-padded to 32 bytes, its length mixed in.
    mutating func update(bytes: [UInt8]) {
        var padded = bytes
        padded += [UInt8](repeating: 0, count: (32 - bytes.count % 32) % 32)
        let words = padded.count / 8
        let aligned = UnsafeMutableRawPointer.allocate(byteCount: max(8, padded.count), alignment: 8)
        defer { aligned.deallocate() }
        padded.withUnsafeBytes { aligned.copyMemory(from: $0.baseAddress!, byteCount: padded.count) }
        if words > 0 { update(aligned, count: padded.count) }
        length &+= UInt64(bytes.count) &- UInt64(padded.count)
    }

    var value: UInt64 {
        var h = length &* Self.prime
        for lane in [lanes.0, lanes.1, lanes.2, lanes.3] {
            h = (h ^ lane) &* Self.prime
            h ^= h >> 31
        }
        return h
    }
}

/// The data section of a cache file, mapped read-only and shared (`MAP_SHARED`, `PROT_READ`) at a 2 MiB-aligned
/// address and advised for huge pages (`MADV_HUGEPAGE`: on kernels whose page cache holds large folios for the file
/// system, readahead then fills it with 2 MiB folios the mapping can use whole).
///
/// `@unchecked Sendable`: the mapping is read-only and its address never changes until `deinit`.
final class CacheMapping: @unchecked Sendable {
    let base: UnsafeRawPointer
    let length: Int
    private let reservation: UnsafeMutableRawPointer
    private let reservedBytes: Int

    init(fd: Int32, offset: Int, length: Int, path: String) throws(PackedWeightCacheError) {
        let alignment = HugePageRegion.alignment
        let size = max(length, 1)
        // Reserve an aligned window first, then place the file's pages in it: mmap only promises 4 KiB alignment.
        reservedBytes = size + alignment
        guard let raw = mmap(nil, reservedBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            throw PackedWeightCacheError(.invalid, path: path, "cannot reserve \(size) bytes: \(PackedWeightCache.reason(errno))")
        }
        reservation = raw
        let aligned = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: raw) + alignment - 1) & ~(alignment - 1))!
        guard let mapped = mmap(aligned, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, off_t(offset)),
              mapped != MAP_FAILED else {
            let code = errno
            munmap(raw, reservedBytes)
            throw PackedWeightCacheError(.invalid, path: path, "cannot map: \(PackedWeightCache.reason(code))")
        }
        #if os(Linux)
        _ = madvise(mapped, size, MADV_HUGEPAGE)
        #endif
        base = UnsafeRawPointer(mapped)
        self.length = length
    }

    deinit {
        munmap(reservation, reservedBytes)
    }
}
