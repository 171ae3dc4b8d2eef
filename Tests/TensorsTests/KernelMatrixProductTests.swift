import Testing
import Tensors

/// float32 BLAS against Double loops: errors grow like sqrt(k) ulps, far below these limits for k <= 1000.
@Suite("Kernel: matrix products")
struct KernelMatrixProductTests {
    typealias RNG = KernelTesting.SplitMix64

    @Test("linear matches the scalar reference, with and without bias, one row and many",
          arguments: [(1, 7, 5), (1, 768, 768), (1, 33, 130), (2, 17, 9), (5, 64, 31), (8, 768, 100), (13, 3, 1)])
    func linearMatchesReference(rows: Int, inFeatures: Int, outFeatures: Int) {
        var rng = RNG(seed: UInt64(rows * 1_000_003 + inFeatures * 1009 + outFeatures))
        let input = rng.normal(rows * inFeatures)
        let weight = rng.normal(outFeatures * inFeatures, scale: 0.05)
        let bias = rng.normal(outFeatures)
        for useBias in [false, true] {
            // NaN in the output proves it is treated as write-only.
            var fast = [Float](repeating: .nan, count: rows * outFeatures)
            var reference = [Float](repeating: 0, count: rows * outFeatures)
            bias.withUnsafeBufferPointer { b in
                let biasPointer = useBias ? b.baseAddress : nil
                Kernels.linear(input: input, rows: rows, inFeatures: inFeatures, weight: weight,
                               outFeatures: outFeatures, bias: biasPointer, output: &fast)
                Kernels.Reference.linear(input: input, rows: rows, inFeatures: inFeatures, weight: weight,
                                         outFeatures: outFeatures, bias: biasPointer, output: &reference)
            }
            KernelTesting.expectClose(fast, reference, nmse: 1e-10, maxAbs: 1e-4,
                                      "linear \(rows)x\(inFeatures)->\(outFeatures) bias \(useBias)")
        }
    }

    @Test("linear with bias equals the hand-computed result")
    func linearByHand() {
        // input [2, 2], weight [3, 2], bias [3]
        let input: [Float] = [1, 2,
                              3, 4]
        let weight: [Float] = [1, 0,
                               0, 1,
                               1, 1]
        let bias: [Float] = [0.5, -1, 2]
        var output = [Float](repeating: 0, count: 6)
        Kernels.linear(input: input, rows: 2, inFeatures: 2, weight: weight, outFeatures: 3, bias: bias,
                       output: &output)
        #expect(output == [1.5, 1, 5,
                           3.5, 3, 9])
        var single = [Float](repeating: 0, count: 3)
        Kernels.linear(input: input, rows: 1, inFeatures: 2, weight: weight, outFeatures: 3, bias: bias,
                       output: &single)
        #expect(single == [1.5, 1, 5])

        let tensor = Kernels.linear(Tensors.Tensor(shape: [2, 1, 2], values: input),
                                    weight: Tensors.Tensor(shape: [3, 2], values: weight),
                                    bias: Tensors.Tensor(shape: [3], values: bias))
        #expect(tensor.shape == [2, 1, 3])
        #expect(tensor.scalars == [1.5, 1, 5, 3.5, 3, 9])
    }

    @Test("the row kernel (a few rows times weights as stored) matches the scalar reference on every path, edges, tails, strides and accumulation",
          arguments: [(1, 1, 1), (1, 9, 15), (3, 5, 16), (4, 4, 17), (5, 7, 100), (9, 11, 33), (16, 6, 512), (2, 3, 48)])
    func rowKernelMatchesReference(m: Int, n: Int, k: Int) {
        var rng = RNG(seed: UInt64(m * 31 + n * 1_000_003 + k))
        let lda = k + 5, ldb = k + 3, ldc = n + 2
        let a = rng.normal(m * lda), b = rng.normal(n * ldb)
        let c0 = rng.normal(m * ldc)
        for isa in KernelISA.available where isa.swiftCopy >= .avx2 {
            for accumulate in [false, true] {
                // Columns 1..<n - 1 where there are 3 or more: outside them c keeps its values.
                let columns = n >= 3 ? 1..<(n - 1) : 0..<n
                var fast = c0, reference = c0
                Kernels.rowsProduct(a: a, lda: lda, m: m, b: b, ldb: ldb, columns: columns, k: k, c: &fast, ldc: ldc,
                                    accumulate: accumulate, isa: isa)
                for i in 0..<m {
                    for j in columns {
                        var sum = accumulate ? Double(c0[i * ldc + j]) : 0
                        for p in 0..<k { sum += Double(a[i * lda + p]) * Double(b[j * ldb + p]) }
                        reference[i * ldc + j] = Float(sum)
                    }
                }
                KernelTesting.expectClose(fast, reference, nmse: 1e-10, maxAbs: 1e-4,
                                          "rows \(m)x\(n)x\(k) \(isa) accumulate \(accumulate)")
            }
        }
    }

    @Test("gemm matches the scalar reference for every transpose combination, strides, alpha and beta",
          arguments: [(1, 1, 1), (3, 5, 7), (17, 9, 33), (64, 48, 80), (2, 100, 1), (16, 20, 48)])
    func gemmMatchesReference(m: Int, n: Int, k: Int) {
        var rng = RNG(seed: UInt64(m * 7919 + n * 104_729 + k))
        for transA in [false, true] {
            for transB in [false, true] {
                let (aRows, aCols) = transA ? (k, m) : (m, k)
                let (bRows, bCols) = transB ? (n, k) : (k, n)
                // Padded leading dimensions: the kernel must respect them.
                let lda = aCols + 3, ldb = bCols + 1, ldc = n + 2
                let a = rng.normal(aRows * lda), b = rng.normal(bRows * ldb)
                let c0 = rng.normal(m * ldc)
                // (1, 0) and (1, 1) with B transposed and a few rows take the row kernel where the CPU has it.
                for (alpha, beta) in [(Float(1), Float(0)), (1, 1), (0.5, 1), (-2, 0.25)] {
                    var fast = c0, reference = c0
                    Kernels.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                 a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &fast, ldc: ldc)
                    Kernels.Reference.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                           a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &reference, ldc: ldc)
                    KernelTesting.expectClose(fast, reference, nmse: 1e-10, maxAbs: 1e-4,
                                              "gemm \(m)x\(n)x\(k) tA \(transA) tB \(transB) a \(alpha) b \(beta)")
                }
            }
        }
    }

    @Test("gemv matches the scalar reference, plain and transposed",
          arguments: [(1, 1), (7, 3), (33, 65), (768, 768), (100, 17)])
    func gemvMatchesReference(rows: Int, cols: Int) {
        var rng = RNG(seed: UInt64(rows * 31 + cols))
        let lda = cols + 5
        let a = rng.normal(rows * lda)
        for trans in [false, true] {
            let x = rng.normal(trans ? rows : cols)
            let y0 = rng.normal(trans ? cols : rows)
            for (alpha, beta) in [(Float(1), Float(0)), (1.5, -1)] {
                var fast = beta == 0 ? [Float](repeating: .nan, count: y0.count) : y0
                var reference = y0
                Kernels.gemv(trans: trans, rows: rows, cols: cols, alpha: alpha, a: a, lda: lda, x: x, beta: beta,
                             y: &fast)
                Kernels.Reference.gemv(trans: trans, rows: rows, cols: cols, alpha: alpha, a: a, lda: lda, x: x,
                                       beta: beta, y: &reference)
                KernelTesting.expectClose(fast, reference, nmse: 1e-10, maxAbs: 1e-4,
                                          "gemv \(rows)x\(cols) trans \(trans) alpha \(alpha) beta \(beta)")
            }
        }
    }

    @Test("gemm with k == 0 scales C by beta instead of calling BLAS")
    func gemmEmptyInner() {
        var c: [Float] = [1, 2, .nan, 4]
        Kernels.gemm(m: 2, n: 2, k: 0, a: [0], lda: 1, b: [0], ldb: 2, beta: 0, c: &c, ldc: 2)
        #expect(c == [0, 0, 0, 0])
        c = [1, 2, 3, 4]
        Kernels.gemm(m: 2, n: 2, k: 0, a: [0], lda: 1, b: [0], ldb: 2, beta: 2, c: &c, ldc: 2)
        #expect(c == [2, 4, 6, 8])
    }
}
