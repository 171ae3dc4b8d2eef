import CCPUID
import Foundation
import Synchronization

/// Instruction-set extensions found at run time (CPUID and the OS's register-state flags, see `CCPUID`).
public struct CPUFeatures: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let avx2FMA = CPUFeatures(rawValue: UInt32(CHATTTS_CPU_AVX2_FMA))
    public static let avx512 = CPUFeatures(rawValue: UInt32(CHATTTS_CPU_AVX512))
    public static let avx512VNNI = CPUFeatures(rawValue: UInt32(CHATTTS_CPU_AVX512_VNNI))
    public static let avx512BF16 = CPUFeatures(rawValue: UInt32(CHATTTS_CPU_AVX512_BF16))
    public static let avxVNNI = CPUFeatures(rawValue: UInt32(CHATTTS_CPU_AVX_VNNI))

    /// This machine's features, read once.
    public static let detected = CPUFeatures(rawValue: chattts_cpu_features())

    public var description: String {
        let names: [(CPUFeatures, String)] = [(.avx2FMA, "avx2+fma"), (.avx512, "avx512"), (.avx512VNNI, "avx512-vnni"),
                                              (.avx512BF16, "avx512-bf16"), (.avxVNNI, "avx-vnni")]
        let present = names.filter { contains($0.0) }.map(\.1)
        return present.isEmpty ? "baseline" : present.joined(separator: " ")
    }
}

/// Which compiled copy of the fast kernels runs: each is a separate module built for one instruction set.
public enum KernelISA: String, Sendable, CaseIterable, Comparable {
    /// The build's own target (x86-64 SSE2, or arm64 NEON): runs everywhere.
    case baseline
    /// `TensorsAVX2`: AVX2, FMA, F16C; int8 in C with VPMADDUBSW (`CKernels/avx2_int8.c`), bf16 in C with FMA.
    case avx2
    /// `avx2` with int8 in C with VPDPBUSD on 256-bit registers: AVX-VNNI (Alder Lake and later, Zen 5).
    case avx2VNNI = "avx2-vnni"
    /// `TensorsAVX512`: AVX-512 F/BW/CD/DQ/VL.
    case avx512

    public static func < (a: KernelISA, b: KernelISA) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    public var isSupported: Bool {
        switch self {
        case .baseline: true
        case .avx2: CPUFeatures.detected.contains(.avx2FMA)
        case .avx2VNNI: CPUFeatures.detected.contains([.avx2FMA, .avxVNNI])
        case .avx512: CPUFeatures.detected.contains([.avx2FMA, .avx512])
        }
    }

    /// The compiled Swift module whose kernels this path runs (`avx2-vnni` differs from `avx2` only in C kernels).
    public var swiftCopy: KernelISA { self == .avx2VNNI ? .avx2 : self }

    /// The int8 layout this path's kernels read (`PackedMatrix.Layout.best`): VNNI for VPDPBUSD (AVX-512 VNNI on
    /// avx512, AVX-VNNI on avx2-vnni), quads for VPMADDUBSW (avx2), panels for the Swift kernels (baseline, and
    /// AVX-512 without VNNI: not measured against the AVX2 kernel, so left as it was).
    public var int8Layout: PackedMatrix.Layout {
        switch self {
        case .baseline: .panels
        case .avx2: .quads
        case .avx2VNNI: .vnni
        case .avx512: CPUFeatures.detected.contains(.avx512VNNI) ? .vnni : .panels
        }
    }

    /// Every path this machine can run (the tests hold each one to the scalar reference).
    public static var available: [KernelISA] { allCases.filter(\.isSupported) }

    /// The fastest path this machine runs.
    public static let fastest: KernelISA = available.max() ?? .baseline

    /// The path the kernels take: the fastest, or a lower one chosen with `select` (the `kernels` setting) to
    /// measure or debug one path on a machine that has a better one.
    ///
    /// Process-wide like the CPU itself: one atomic byte read per dispatch. Choose it before the model loads
    /// (packed int8 layouts follow it); the tests pass `isa:` explicitly instead.
    public static var best: KernelISA {
        let raw = chosen.load(ordering: .relaxed)
        return raw == 0 ? fastest : allCases[Int(raw) - 1]
    }

    private static let chosen = Atomic<UInt8>(0)

    /// Takes `isa` (nil: the fastest) from now on. Throws when this CPU cannot run it.
    public static func select(_ isa: KernelISA?) throws -> KernelISA {
        guard let isa else {
            chosen.store(0, ordering: .relaxed)
            return fastest
        }
        guard isa.isSupported else {
            throw KernelSelectionError(message: "kernels '\(isa.rawValue)' need \(isa.rawValue.uppercased()), which this CPU "
                                       + "lacks (it has: \(CPUFeatures.detected))")
        }
        chosen.store(UInt8(allCases.firstIndex(of: isa)! + 1), ordering: .relaxed)
        return isa
    }
}

public struct KernelSelectionError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
