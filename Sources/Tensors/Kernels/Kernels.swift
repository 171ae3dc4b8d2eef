/// The CPU compute kernels the model code calls: matrix products (BLAS), normalizations, activations, RoPE,
/// convolutions, FFT. One family per file in this folder.
///
/// Conventions shared by every kernel:
/// - Operands are raw pointers to dense, row-major float32 memory with sizes as `Int`, so the model can call
///   a kernel on any buffer (a mapped weight, a slice of a KV cache, per-request scratch) without wrapping it.
///   Shape comments use the PyTorch names of the axes.
/// - Kernels never allocate on the hot path unless their documentation says so; outputs go into caller memory.
/// - Every fast kernel has a scalar twin in `Kernels.Reference` (plain loops, Double accumulation) with the same
///   signature; the `Kernel*` tests hold the fast one to it by normalized MSE.
/// - The build targets the x86-64 / arm64 baseline (no `-march`): SIMD code uses `SIMD8<Float>` and plain
///   `a * b + c`, never `addingProduct`, which is a libm call without FMA.
/// - The decode-time kernels (`PackedProducts.swift`, `AttentionProducts.swift`) also exist compiled for AVX2 and
///   AVX-512 (modules `TensorsAVX2`, `TensorsAVX512`, one shared source in `TensorsSIMD`) and, for int8 with
///   AVX-512 VNNI, in C (`CKernels`); `KernelISA` picks one at run time from CPUID, and every path is tested
///   against the same scalar reference.
public enum Kernels {
    /// Scalar twins of the fast kernels: the executable specification they are tested against.
    ///
    /// Written for clarity, not speed: straightforward loops, Double accumulation, the same conventions
    /// (PyTorch's) as the fast versions, and the same pointer signatures.
    public enum Reference {}
}

// MARK: - SIMD helpers shared by the kernel files

/// The vector type of the hand-vectorized loops: 8 lanes is two SSE registers on the x86-64 baseline and one
/// AVX register where the compiler is allowed to use it.
typealias FloatVector = SIMD8<Float>

extension Kernels {
    static let lanes = FloatVector.scalarCount

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> FloatVector {
        UnsafeRawPointer(p).loadUnaligned(as: FloatVector.self)
    }

    @inline(__always)
    static func store(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: FloatVector.self)
    }

    /// Loads `count` (< lanes) floats; the other lanes hold `fill`. Tails go through the same vector math as
    /// full vectors, so an element's result never depends on where it sits in the buffer.
    @inline(__always)
    static func loadPartial(_ p: UnsafePointer<Float>, count: Int, fill: Float = 0) -> FloatVector {
        var v = FloatVector(repeating: fill)
        for i in 0..<count { v[i] = p[i] }
        return v
    }

    @inline(__always)
    static func storePartial(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { p[i] = v[i] }
    }
}
