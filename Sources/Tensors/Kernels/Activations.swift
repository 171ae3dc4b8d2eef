import Foundation
import TensorsAVX2
import TensorsAVX512
import TensorsSIMD

/// Element-wise activations and softmax, all in place.
///
/// The vector paths use `Kernels.exp` / `Kernels.erf` (VectorMath.swift) instead of one libm call per element;
/// the tests hold them to Double references and GELU additionally to PyTorch's formula evaluated with `erff`.
extension Kernels {
    /// Softmax over `count` floats in place: exp(x - max) / sum.
    ///
    /// Subtracting the maximum keeps exp from overflowing; -inf entries (masked positions) become exactly 0.
    /// A row that is entirely -inf (everything masked) becomes all zeros, where PyTorch returns NaN: a row that
    /// may attend to nothing then contributes nothing instead of poisoning the output with NaN. A +inf or NaN
    /// entry gives NaN, as in PyTorch. Values whose exp is below ~1.7e-38 relative to the maximum flush to 0.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        var maxVector = FloatVector(repeating: -.infinity)
        var i = 0
        while i + lanes <= count {
            maxVector = maximum(maxVector, load(x + i))
            i += lanes
        }
        var largest = maxVector.max()
        while i < count {
            largest = Swift.max(largest, x[i])
            i += 1
        }
        if largest == -.infinity {
            x.update(repeating: 0, count: count)
            return
        }
        let shift = FloatVector(repeating: largest)
        var sumVector = FloatVector()
        i = 0
        while i + lanes <= count {
            let e = exp(load(x + i) - shift)
            store(e, x + i)
            sumVector += e
            i += lanes
        }
        var sum = sumVector.sum()
        if i < count {
            let tail = count - i
            // Padding lanes hold -inf, whose exp is 0, so they add nothing to the sum.
            let e = exp(loadPartial(x + i, count: tail, fill: -.infinity) - shift)
            storePartial(e, x + i, count: tail)
            sum += e.sum()
        }
        let inverse = 1 / sum
        for j in 0..<count { x[j] *= inverse }
    }

    /// Softmax of each row of x [rows, cols] in place; see `softmax(_:count:)` for the conventions.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows { softmax(x + r * cols, count: cols) }
    }

    /// SiLU (swish) in place: x * sigmoid(x) = x / (1 + exp(-x)), PyTorch's formula.
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + lanes <= count {
            store(silu(load(x + i)), x + i)
            i += lanes
        }
        if i < count { storePartial(silu(loadPartial(x + i, count: count - i)), x + i, count: count - i) }
    }

    /// The Llama MLP's gate: gate = silu(gate) * up, element-wise over `count` floats, written into `gate`.
    /// Fusing saves one pass over the 3072-wide intermediate per layer and token.
    public static func siluMul(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i + lanes <= count {
            store(silu(load(gate + i)) * load(up + i), gate + i)
            i += lanes
        }
        if i < count {
            let tail = count - i
            storePartial(silu(loadPartial(gate + i, count: tail)) * loadPartial(up + i, count: tail), gate + i,
                         count: tail)
        }
    }

    /// `siluMul` in the instruction set of `isa` (`TensorsSIMD/ElementKernels.swift`: 16 lanes, FMA): the GPT's MLP
    /// gate, a tenth of a long prompt's prefill in the baseline code. Agrees with `siluMul` to float32 rounding.
    public static func siluMul(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int,
                               isa: KernelISA) {
        switch isa.swiftCopy {
        case .avx512: avx512SiluMul(gate: gate, up: up, count: count)
        case .avx2: avx2SiluMul(gate: gate, up: up, count: count)
        default: siluMul(gate: gate, up: up, count: count)
        }
    }

    /// GELU in place, the exact (erf) form that is PyTorch's default: 0.5 * x * (1 + erf(x / sqrt(2))).
    ///
    /// erf comes from a vectorized rational approximation whose error against `erff` is below 1e-6 of
    /// max(1, |x|) over the whole float range (the GELU tests check a dense grid); that is the size of float32
    /// rounding in the formula itself, and 5-10x faster than calling `erff` per element.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + lanes <= count {
            store(gelu(load(x + i)), x + i)
            i += lanes
        }
        if i < count { storePartial(gelu(loadPartial(x + i, count: count - i)), x + i, count: count - i) }
    }
}

extension Kernels.Reference {
    /// Scalar twin of `Kernels.softmax`, in Double, with the same conventions (all -inf gives zeros).
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        var maximum = -Double.infinity
        for i in 0..<count { maximum = max(maximum, Double(x[i])) }
        if maximum == -.infinity {
            for i in 0..<count { x[i] = 0 }
            return
        }
        var sum = 0.0
        for i in 0..<count { sum += Foundation.exp(Double(x[i]) - maximum) }
        for i in 0..<count { x[i] = Float(Foundation.exp(Double(x[i]) - maximum) / sum) }
    }

    /// Scalar twin of `Kernels.softmax(_:rows:cols:)`.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows { softmax(x + r * cols, count: cols) }
    }

    /// Scalar twin of `Kernels.silu`, in Double.
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = Double(x[i])
            x[i] = Float(v / (1 + Foundation.exp(-v)))
        }
    }

    /// Scalar twin of `Kernels.siluMul`, in Double.
    public static func siluMul(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let g = Double(gate[i])
            gate[i] = Float(g / (1 + Foundation.exp(-g)) * Double(up[i]))
        }
    }

    /// Scalar twin of `Kernels.gelu`: the erf form in Double.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = Double(x[i])
            x[i] = Float(0.5 * v * (1 + Foundation.erf(v / 2.0.squareRoot())))
        }
    }
}
