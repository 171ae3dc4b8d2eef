import Foundation
import Testing
import Tensors

/// A float32 radix-2 FFT has error ~ log2(n) ulps relative to the signal: nmse < 1e-11 against the O(n^2)
/// Double DFT for every size tested.
@Suite("Kernel: real FFT")
struct KernelFFTTests {
    typealias RNG = KernelTesting.SplitMix64
    static let sizes = [2, 4, 8, 16, 32, 64, 256, 1024, 2048]

    @Test("rfft matches the O(n^2) DFT reference", arguments: sizes)
    func forwardMatchesReference(size: Int) {
        var rng = RNG(seed: UInt64(size))
        let x = rng.normal(size)
        let fft = RealFFT(size: size)
        #expect(fft.binCount == size / 2 + 1)
        var re = [Float](repeating: .nan, count: size / 2 + 1), im = re
        fft.forward(x, re: &re, im: &im)
        var refRe = [Float](repeating: 0, count: size / 2 + 1), refIm = refRe
        Kernels.Reference.rfft(x, count: size, re: &refRe, im: &refIm)
        KernelTesting.expectClose(re + im, refRe + refIm, nmse: 1e-11, maxAbs: 1e-3, "rfft n \(size)")
        #expect(im[0] == 0 && im[size / 2] == 0)
    }

    @Test("irfft matches the O(n^2) reference and ignores the imaginary parts of DC and Nyquist", arguments: sizes)
    func inverseMatchesReference(size: Int) {
        var rng = RNG(seed: UInt64(10 * size))
        let re = rng.normal(size / 2 + 1)
        var im = rng.normal(size / 2 + 1)
        var fast = [Float](repeating: .nan, count: size), reference = fast
        RealFFT(size: size).inverse(re: re, im: im, output: &fast)
        Kernels.Reference.irfft(re: re, im: im, count: size, output: &reference)
        KernelTesting.expectClose(fast, reference, nmse: 1e-11, maxAbs: 1e-5, "irfft n \(size)")
        im[0] = 123
        im[size / 2] = -45
        #expect(RealFFT(size: size).inverse(re: re, im: im) == fast)
    }

    @Test("irfft(rfft(x)) == x within 1e-5", arguments: sizes)
    func roundTrip(size: Int) {
        var rng = RNG(seed: UInt64(100 * size))
        let x = rng.uniform(size)
        let fft = RealFFT(size: size)
        let (re, im) = fft.forward(x)
        let y = fft.inverse(re: re, im: im)
        #expect(KernelTesting.maxAbsError(y, x) < 1e-5)
    }

    @Test("rfft of a delta is flat, of a shifted delta a pure phase ramp")
    func delta() {
        let n = 16
        let fft = RealFFT(size: n)
        var x = [Float](repeating: 0, count: n)
        x[0] = 1
        var (re, im) = fft.forward(x)
        #expect(re == [Float](repeating: 1, count: n / 2 + 1) && im == [Float](repeating: 0, count: n / 2 + 1))
        x[0] = 0
        x[1] = 1
        (re, im) = fft.forward(x)
        for k in 0...(n / 2) {
            let angle = -2 * Double.pi * Double(k) / Double(n)
            #expect(abs(Double(re[k]) - cos(angle)) < 1e-6 && abs(Double(im[k]) - sin(angle)) < 1e-6,
                    "bin \(k): \(re[k]) + \(im[k])i")
        }
    }

    @Test("rfft of a cosine has n/2 in its bin and nothing elsewhere")
    func cosine() {
        let n = 1024, bin = 37
        let x = (0..<n).map { Float(cos(2 * Double.pi * Double(bin * $0 % n) / Double(n))) }
        let (re, im) = RealFFT(size: n).forward(x)
        #expect(abs(re[bin] - Float(n / 2)) < 1e-3, "\(re[bin])")
        for k in 0...(n / 2) where k != bin {
            #expect(abs(re[k]) < 1e-3 && abs(im[k]) < 1e-3, "bin \(k): \(re[k]) + \(im[k])i")
        }
        #expect(abs(im[bin]) < 1e-3)
        // A constant goes to DC, an alternating sign to Nyquist.
        let dc = RealFFT(size: 8).forward([Float](repeating: 2, count: 8))
        #expect(dc.re == [16, 0, 0, 0, 0] && dc.im == [0, 0, 0, 0, 0])
        let nyquist = RealFFT(size: 8).forward([1, -1, 1, -1, 1, -1, 1, -1])
        #expect(nyquist.re == [0, 0, 0, 0, 8] && nyquist.im == [0, 0, 0, 0, 0])
    }
}
