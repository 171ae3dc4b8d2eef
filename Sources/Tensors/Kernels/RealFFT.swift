import Foundation

/// A real-input FFT of one power-of-two size with numpy.fft's conventions, for Vocos's inverse STFT
/// (n_fft 1024) and the STFT the voice encoder needs.
///
/// - `forward` is numpy.fft.rfft: X[k] = sum_j x[j] e^(-2 pi i j k / n) for k in 0...n/2, unnormalized.
/// - `inverse` is numpy.fft.irfft: x[j] = (1/n) sum over the Hermitian-completed spectrum, so
///   inverse(forward(x)) == x; the imaginary parts of the DC and Nyquist bins are ignored, as numpy does.
///
/// Method: the n real samples are packed as n/2 complex ones (z[j] = x[2j] + i x[2j+1]), transformed by an
/// iterative radix-2 complex FFT, and split into the spectrum of the real input (and the reverse for the
/// inverse), so a real transform costs one half-size complex one. Twiddles are computed in Double at init and
/// stored as float32. Immutable after init and `Sendable`: one instance serves every thread; the transforms
/// write only into the caller's buffers and allocate nothing.
public struct RealFFT: Sendable {
    /// n, the number of real samples.
    public let size: Int
    /// n / 2 + 1, the number of complex bins `forward` produces and `inverse` reads.
    public var binCount: Int { size / 2 + 1 }

    /// m = n / 2, the size of the complex transform.
    private let half: Int
    /// Bit-reversal permutation of 0..<m.
    private let bitReversed: [Int32]
    /// Per-stage twiddles of the complex FFT, stage with butterfly span h at offset h - 1:
    /// cos(2 pi j / 2h) and -sin(2 pi j / 2h) for j in 0..<h (m - 1 entries in all).
    private let stageCos: [Float]
    private let stageSin: [Float]
    /// Twiddles of the real/complex split: cos(2 pi k / n) and -sin(2 pi k / n) for k in 0..<m.
    private let splitCos: [Float]
    private let splitSin: [Float]

    /// `size` must be a power of two, at least 2.
    public init(size: Int) {
        precondition(size >= 2 && size & (size - 1) == 0, "RealFFT: size \(size) is not a power of two >= 2")
        self.size = size
        let m = size / 2
        half = m
        var bits = 0
        while 1 << bits < m { bits += 1 }
        bitReversed = (0..<m).map { j in
            var r = 0
            for b in 0..<bits where j & (1 << b) != 0 { r |= 1 << (bits - 1 - b) }
            return Int32(r)
        }
        var stageCos = [Float](), stageSin = [Float]()
        var span = 1
        while span < m {
            for j in 0..<span {
                let (c, s) = Self.unitRoot(j, of: 2 * span)
                stageCos.append(c)
                stageSin.append(-s)
            }
            span *= 2
        }
        self.stageCos = stageCos
        self.stageSin = stageSin
        var splitCos = [Float](), splitSin = [Float]()
        for k in 0..<m {
            let (c, s) = Self.unitRoot(k, of: size)
            splitCos.append(c)
            splitSin.append(-s)
        }
        self.splitCos = splitCos
        self.splitSin = splitSin
    }

    /// cos and sin of 2 pi k / n, exact at multiples of pi/4 (so the quarter-turn twiddles are exactly 0 and 1).
    private static func unitRoot(_ k: Int, of n: Int) -> (Float, Float) {
        if (8 * k) % n == 0 {
            let h = Float(0.5).squareRoot()
            let exact: [(Float, Float)] = [(1, 0), (h, h), (0, 1), (-h, h), (-1, 0)]
            let octant = 8 * k / n
            if octant <= 4 { return exact[octant] }
            let (c, s) = exact[8 - octant]
            return (c, -s)
        }
        let angle = 2 * Double.pi * Double(k) / Double(n)
        return (Float(Foundation.cos(angle)), Float(Foundation.sin(angle)))
    }

    /// numpy.fft.rfft: input [n] real -> re [n/2 + 1], im [n/2 + 1]. `re` and `im` double as the work area, so
    /// they must not overlap each other or the input.
    public func forward(_ input: UnsafePointer<Float>,
                        re: UnsafeMutablePointer<Float>, im: UnsafeMutablePointer<Float>) {
        let m = half
        bitReversed.withUnsafeBufferPointer { reversed in
            for j in 0..<m {
                let r = Int(reversed[j])
                re[r] = input[2 * j]
                im[r] = input[2 * j + 1]
            }
        }
        complexTransform(re: re, im: im, stride: 1, inverse: false)
        // Split: with Z = FFT(z), E[k] = (Z[k] + conj Z[m-k]) / 2 is the spectrum of the even samples and
        // O[k] = (Z[k] - conj Z[m-k]) / 2i that of the odd ones; X[k] = E[k] + w^k O[k] and
        // X[m-k] = conj(E[k] - w^k O[k]) with w = e^(-2 pi i / n), so pairs (k, m-k) update in place.
        let (a0, b0) = (re[0], im[0])
        re[0] = a0 + b0
        im[0] = 0
        re[m] = a0 - b0
        im[m] = 0
        guard m >= 2 else { return }
        splitCos.withUnsafeBufferPointer { wr in
            splitSin.withUnsafeBufferPointer { wi in
                var k = 1
                while k < m - k {
                    let (a, b, c, d) = (re[k], im[k], re[m - k], im[m - k])
                    let er = 0.5 * (a + c), ei = 0.5 * (b - d)
                    let or = 0.5 * (b + d), oi = 0.5 * (c - a)
                    let tr = wr[k] * or - wi[k] * oi
                    let ti = wr[k] * oi + wi[k] * or
                    re[k] = er + tr
                    im[k] = ei + ti
                    re[m - k] = er - tr
                    im[m - k] = ti - ei
                    k += 1
                }
            }
        }
        im[m / 2] = -im[m / 2]  // k == m/2 pairs with itself: X[m/2] = conj Z[m/2]
    }

    /// numpy.fft.irfft: re [n/2 + 1], im [n/2 + 1] -> output [n] real, scaled by 1/n. The imaginary parts of
    /// bins 0 and n/2 are ignored. `output` is the work area and must not overlap the inputs.
    public func inverse(re: UnsafePointer<Float>, im: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let m = half
        // Undo the split: 2 Z[k] = (X[k] + conj X[m-k]) + i conj(w^k) (X[k] - conj X[m-k]), written as interleaved
        // complex numbers in bit-reversed order, so the complex inverse leaves x[2j] + i x[2j+1] in place.
        bitReversed.withUnsafeBufferPointer { reversed in
            splitCos.withUnsafeBufferPointer { wr in
                splitSin.withUnsafeBufferPointer { wi in
                    let (p, q) = (re[0], re[m])
                    let first = 2 * Int(reversed[0])
                    output[first] = p + q
                    output[first + 1] = p - q
                    for k in 1..<max(1, m) {
                        let (a, b, c, d) = (re[k], im[k], re[m - k], im[m - k])
                        let sr = a + c, si = b - d
                        let dr = a - c, di = b + d
                        // v = (dr + i di) * conj(w^k)
                        let vr = dr * wr[k] + di * wi[k]
                        let vi = di * wr[k] - dr * wi[k]
                        let slot = 2 * Int(reversed[k])
                        output[slot] = sr - vi
                        output[slot + 1] = si + vr
                    }
                }
            }
        }
        complexTransform(re: output, im: output + 1, stride: 2, inverse: true)
        let scale = 1 / Float(size)
        for j in 0..<size { output[j] *= scale }
    }

    /// In-place iterative radix-2 decimation-in-time FFT of m complex numbers given in bit-reversed order, with
    /// element j at re[j * stride], im[j * stride] (stride 1: split arrays; stride 2: interleaved). Unnormalized;
    /// `inverse` uses e^(+2 pi i / m).
    @inline(__always)
    private func complexTransform(re: UnsafeMutablePointer<Float>, im: UnsafeMutablePointer<Float>,
                                  stride: Int, inverse: Bool) {
        let m = half
        let sign: Float = inverse ? -1 : 1
        stageCos.withUnsafeBufferPointer { cosTable in
            stageSin.withUnsafeBufferPointer { sinTable in
                var span = 1
                while span < m {
                    let wc = cosTable.baseAddress! + (span - 1)
                    let ws = sinTable.baseAddress! + (span - 1)
                    var start = 0
                    while start < m {
                        for j in 0..<span {
                            let wr = wc[j], wi = sign * ws[j]
                            let top = (start + j) * stride, bottom = (start + j + span) * stride
                            let xr = re[bottom], xi = im[bottom]
                            let tr = wr * xr - wi * xi
                            let ti = wr * xi + wi * xr
                            let ur = re[top], ui = im[top]
                            re[top] = ur + tr
                            im[top] = ui + ti
                            re[bottom] = ur - tr
                            im[bottom] = ui - ti
                        }
                        start += 2 * span
                    }
                    span *= 2
                }
            }
        }
    }

    /// `forward` into new arrays (allocates; for tests and one-off use).
    public func forward(_ input: [Float]) -> (re: [Float], im: [Float]) {
        precondition(input.count == size, "RealFFT.forward: \(input.count) samples for size \(size)")
        var re = [Float](repeating: 0, count: binCount), im = [Float](repeating: 0, count: binCount)
        forward(input, re: &re, im: &im)
        return (re, im)
    }

    /// `inverse` into a new array (allocates; for tests and one-off use).
    public func inverse(re: [Float], im: [Float]) -> [Float] {
        precondition(re.count == binCount && im.count == binCount, "RealFFT.inverse: needs \(binCount) bins")
        var output = [Float](repeating: 0, count: size)
        inverse(re: re, im: im, output: &output)
        return output
    }
}

extension Kernels.Reference {
    /// numpy.fft.rfft by the definition, O(n^2) in Double: input [n] -> re, im [n/2 + 1]. Any n >= 1.
    public static func rfft(_ input: UnsafePointer<Float>, count n: Int,
                            re: UnsafeMutablePointer<Float>, im: UnsafeMutablePointer<Float>) {
        for k in 0...(n / 2) {
            var sumRe = 0.0, sumIm = 0.0
            for j in 0..<n {
                let angle = 2 * Double.pi * Double((j * k) % n) / Double(n)
                sumRe += Double(input[j]) * Foundation.cos(angle)
                sumIm -= Double(input[j]) * Foundation.sin(angle)
            }
            re[k] = Float(sumRe)
            im[k] = Float(sumIm)
        }
    }

    /// numpy.fft.irfft by the definition, O(n^2) in Double, for even n: re, im [n/2 + 1] -> output [n], scaled
    /// by 1/n, ignoring the imaginary parts of bins 0 and n/2.
    public static func irfft(re: UnsafePointer<Float>, im: UnsafePointer<Float>, count n: Int,
                             output: UnsafeMutablePointer<Float>) {
        let m = n / 2
        for j in 0..<n {
            var sum = Double(re[0]) + (j % 2 == 0 ? 1 : -1) * Double(re[m])
            for k in 1..<max(1, m) {
                let angle = 2 * Double.pi * Double((j * k) % n) / Double(n)
                sum += 2 * (Double(re[k]) * Foundation.cos(angle) - Double(im[k]) * Foundation.sin(angle))
            }
            output[j] = Float(sum / Double(n))
        }
    }
}
