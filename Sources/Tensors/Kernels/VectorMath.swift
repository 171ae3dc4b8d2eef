/// Vectorized elementary functions for the activation kernels.
///
/// libm's `expf`/`erff` are one call per element; these evaluate 8 lanes with plain multiplies and adds (no FMA
/// on the baseline build, no float-to-int conversion calls) and are accurate to a few float ulps, which the
/// `Kernel*` tests check against Double math and against Foundation's `erff`.
extension Kernels {
    /// e^x for x in [-87, 88] within 1 ulp (measured on a 1/512 grid); below -87 (including -inf) the result is exactly 0
    /// (true values there are < 1.7e-38, subnormal territory); above 88 it saturates at e^88 instead of +inf.
    ///
    /// Range reduction x = n ln2 + r with ln2 split in two (Cody-Waite; the high part has 9 significant bits, so
    /// n * high is exact), a degree-6 polynomial for e^r on |r| <= ln2/2 (Cephes `expf`), then 2^n built in the
    /// exponent bits. n is rounded with the 1.5 * 2^23 trick, which leaves it in the low mantissa bits of `t`.
    @inline(__always)
    static func exp(_ x: FloatVector) -> FloatVector {
        let low = FloatVector(repeating: -87)
        let xc = clamp(x, -87, 88)
        let magic = FloatVector(repeating: 12_582_912)  // 1.5 * 2^23
        let t = xc * 1.442_695_04 + magic  // log2(e)
        let n = t - magic
        let r = (xc - n * 0.693_359_375) + n * 2.121_944_4e-4
        let r2 = r * r
        var p = r * 1.987_569_15e-4 + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let y = p * r2 + r + 1
        // t's bit pattern is 0x4B40_0000 + n; 2^n has the bit pattern (n + 127) << 23.
        let tBits = unsafeBitCast(t, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((tBits &- 0x4B40_0000 &+ 127) &<< 23, to: FloatVector.self)
        return (y * scale).replacing(with: 0, where: x .< low)
    }

    /// erf(x) for all x: absolute error < 4e-7 (about 3 ulp near 1), exactly odd, never outside [-1, 1].
    ///
    /// erf(x) ~ x P(x^2) / Q(x^2) on |x| <= 3.92, beyond which float32 erf is +-1 anyway. The coefficients were
    /// fitted for this file (iteratively reweighted least squares toward minimax relative error: 2.8e-8 in
    /// Double); the float32 evaluation adds the rest of the error.
    @inline(__always)
    static func erf(_ x: FloatVector) -> FloatVector {
        let xc = clamp(x, -3.92, 3.92)
        let u = xc * xc
        var p = u * 2.303_267_943_490_963_6e-4 + 3.579_571_383_358_297_5e-3
        p = p * u + 5.149_364_449_063_797e-2
        p = p * u + 1.896_854_032_776_953_4e-1
        p = p * u + 1.128_379_135_934_401
        var q = u * -1.122_104_835_993_287_3e-7 + 2.315_670_948_136_242e-5
        q = q * u + 1.053_400_316_896_062_7e-3
        q = q * u + 1.442_349_572_245_821_6e-2
        q = q * u + 1.127_853_737_444_636_8e-1
        q = q * u + 5.014_367_478_129_76e-1
        q = q * u + 1
        return clamp(xc * p / q, -1, 1)
    }

    /// Lane-wise clamp written with compare-and-select, which inlines to a few instructions; the standard
    /// library's `clamped` / `pointwiseMin` stayed out-of-line calls in release builds. NaN lanes stay NaN.
    @inline(__always)
    static func clamp(_ x: FloatVector, _ low: Float, _ high: Float) -> FloatVector {
        let lowVector = FloatVector(repeating: low), highVector = FloatVector(repeating: high)
        return x.replacing(with: lowVector, where: x .< lowVector).replacing(with: highVector, where: x .> highVector)
    }

    /// Lane-wise maximum by compare-and-select (see `clamp`).
    @inline(__always)
    static func maximum(_ a: FloatVector, _ b: FloatVector) -> FloatVector {
        a.replacing(with: b, where: b .> a)
    }

    /// x * sigmoid(x) = x / (1 + e^-x), PyTorch's SiLU formula.
    @inline(__always)
    static func silu(_ x: FloatVector) -> FloatVector {
        x / (1 + exp(-x))
    }

    /// PyTorch's exact GELU: x * 0.5 * (1 + erf(x / sqrt(2))).
    @inline(__always)
    static func gelu(_ x: FloatVector) -> FloatVector {
        x * 0.5 * (1 + erf(x * 0.707_106_781_186_547_5))
    }
}
