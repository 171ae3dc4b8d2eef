import CBLAS
import TensorsAVX2
import TensorsAVX512
import TensorsSIMD

/// Matrix products through OpenBLAS: `gemm`, `gemv`, and `linear` (PyTorch's nn.Linear).
///
/// BLAS runs single-threaded: OpenBLAS's own threads were measured unreliable at these sizes (2 threads often
/// no faster than 1, see CPU-NOTES.md), and the engine splits rows across its own threads instead. Every entry
/// point here makes sure `openblas_set_num_threads(1)` ran once before its first BLAS call.
extension Kernels {
    /// The one-time BLAS setup. A `static let` is initialized lazily, exactly once, and thread-safely
    /// (swift_once), so concurrent first calls all wait for it; there is no other global state.
    private static let blasConfigured: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    /// Runs the one-time BLAS setup now (single-threaded OpenBLAS). Optional: every BLAS kernel does it on first
    /// use; call it at start-up to keep it out of the first request.
    public static func configureBLAS() {
        _ = blasConfigured
    }

    @inline(__always)
    private static func blasInt(_ value: Int, _ name: StaticString) -> Int32 {
        precondition(value >= 0 && value <= Int(Int32.max), "BLAS dimension \(name) = \(value) out of range")
        return Int32(value)
    }

    /// C = alpha * op(A) * op(B) + beta * C, row-major (cblas_sgemm; a few rows times a transposed B take the row
    /// kernel instead, unless `rowKernel` is false: for the benchmark that compares the two).
    ///
    /// op(A) is [m, k] and op(B) is [k, n]; `transA` means A is stored [k, m] (so op(A) = Aᵀ), likewise `transB`.
    /// `lda`/`ldb`/`ldc` are the row strides in elements of A, B, C as stored. With beta == 0, C is write-only
    /// (whatever it held, NaN included, is ignored), as BLAS specifies.
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int, rowKernel: Bool = true
    ) {
        precondition(lda >= max(1, transA ? m : k), "gemm: lda \(lda) too small")
        precondition(ldb >= max(1, transB ? k : n), "gemm: ldb \(ldb) too small")
        precondition(ldc >= max(1, n), "gemm: ldc \(ldc) too small")
        if m == 0 || n == 0 { return }
        if k == 0 || alpha == 0 {
            // BLAS would scale C by beta; do it here so beta == 0 also clears NaNs in uninitialized memory.
            for i in 0..<m {
                let row = c + i * ldc
                if beta == 0 { row.update(repeating: 0, count: n) } else { for j in 0..<n { row[j] *= beta } }
            }
            return
        }
        // A few rows times nn.Linear's [out, in] (B transposed): the row kernel, which reads B as stored.
        if rowKernel && !transA && transB && alpha == 1 && (beta == 0 || beta == 1) && m <= rowKernelMaximumRows
            && k % 16 == 0 && KernelISA.best.swiftCopy >= .avx2 {
            rowsProduct(a: a, lda: lda, m: m, b: b, ldb: ldb, columns: 0..<n, k: k, c: c, ldc: ldc,
                        accumulate: beta == 1, isa: KernelISA.best)
            return
        }
        configureBLAS()
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasInt(m, "m"), blasInt(n, "n"), blasInt(k, "k"), alpha,
                    a, blasInt(lda, "lda"), b, blasInt(ldb, "ldb"), beta, c, blasInt(ldc, "ldc"))
    }

    /// Rows of A up to which `gemm` with B transposed (nn.Linear's weights, the vocoder's convolution taps) and a
    /// multiple of 16 inner columns takes the row kernel instead of OpenBLAS, whose sgemm copies all of B on every
    /// call (`chattts bench engine --vocoder-products`, `Benchmarks/vocoder-products-*.txt`).
    public static let rowKernelMaximumRows = 48

    /// c[i, j] (+= with `accumulate`) sum_p a[i, p] * b[j, p] for i in 0..<m, j in `columns`, row-major, B read as
    /// stored (`TensorsSIMD/RowKernels.swift`); `isa` must be avx2 or above and supported.
    public static func rowsProduct(
        a: UnsafePointer<Float>, lda: Int, m: Int, b: UnsafePointer<Float>, ldb: Int, columns: Range<Int>, k: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, isa: KernelISA = .best
    ) {
        precondition(isa.isSupported && isa.swiftCopy >= .avx2, "rowsProduct: no row kernel on \(isa)")
        switch isa.swiftCopy {
        case .avx512:
            avx512RowsProduct(a: a, lda: lda, m: m, b: b, ldb: ldb, columns: columns, k: k, c: c, ldc: ldc,
                              accumulate: accumulate)
        default:
            avx2RowsProduct(a: a, lda: lda, m: m, b: b, ldb: ldb, columns: columns, k: k, c: c, ldc: ldc,
                            accumulate: accumulate)
        }
    }

    /// y = alpha * op(A) * x + beta * y, with A stored row-major as [rows, cols] with row stride `lda`
    /// (cblas_sgemv). Without `trans`, x has `cols` elements and y has `rows`; with it, x has `rows` and y `cols`.
    /// With beta == 0, y is write-only.
    public static func gemv(
        trans: Bool = false,
        rows: Int, cols: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>,
        beta: Float = 0,
        y: UnsafeMutablePointer<Float>
    ) {
        precondition(lda >= max(1, cols), "gemv: lda \(lda) too small")
        let yCount = trans ? cols : rows
        let xCount = trans ? rows : cols
        if yCount == 0 { return }
        // OpenBLAS 0.3.21 already ignores y when beta == 0 (checked); clearing it here keeps "beta == 0 means y is
        // output only" (NaN in fresh memory included) independent of the BLAS build, for one pass over y.
        if beta == 0 { y.update(repeating: 0, count: yCount) }
        if xCount == 0 || alpha == 0 {
            if beta != 0 { for i in 0..<yCount { y[i] *= beta } }
            return
        }
        configureBLAS()
        cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, blasInt(rows, "rows"), blasInt(cols, "cols"),
                    alpha, a, blasInt(lda, "lda"), x, 1, beta, y, 1)
    }

    /// PyTorch's nn.Linear: output[r, o] = sum_i input[r, i] * weight[o, i] + bias[o].
    ///
    /// input [rows, inFeatures], weight [outFeatures, inFeatures] (the checkpoint's layout, used as stored),
    /// bias [outFeatures] or nil, output [rows, outFeatures]. One row (a decode step) goes through sgemv, more
    /// through sgemm, which reuses each weight load across rows. `output` must not overlap the operands.
    public static func linear(
        input: UnsafePointer<Float>, rows: Int, inFeatures: Int,
        weight: UnsafePointer<Float>, outFeatures: Int,
        bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>
    ) {
        if rows == 0 || outFeatures == 0 { return }
        if let bias {
            for r in 0..<rows { (output + r * outFeatures).update(from: bias, count: outFeatures) }
        }
        let beta: Float = bias == nil ? 0 : 1
        if rows == 1 {
            gemv(rows: outFeatures, cols: inFeatures, a: weight, lda: max(1, inFeatures), x: input, beta: beta,
                 y: output)
        } else {
            gemm(transB: true, m: rows, n: outFeatures, k: inFeatures,
                 a: input, lda: max(1, inFeatures), b: weight, ldb: max(1, inFeatures),
                 beta: beta, c: output, ldc: outFeatures)
        }
    }

    /// `linear` with the output features split across `pool` for a few rows (the streaming vocoder's chunks: too
    /// few to split by rows, and a split by rows would read all the weights on every thread): each task runs the row
    /// kernel over its contiguous share of the features, then `epilogue` over the same features (what comes next
    /// element by element: GELU, a residual), before the others finish. Many rows, one thread, or no row kernel on
    /// this CPU: `linear`, then `epilogue` over all features, on the calling thread. Not from inside a pool task.
    public static func linear(
        input: UnsafePointer<Float>, rows: Int, inFeatures: Int,
        weight: UnsafePointer<Float>, outFeatures: Int,
        bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, pool: WorkerPool?, epilogue: ((Range<Int>) -> Void)? = nil
    ) {
        guard let pool, pool.threads > 1, rows <= rowKernelMaximumRows, inFeatures % 16 == 0, outFeatures >= 64,
              KernelISA.best.swiftCopy >= .avx2 else {
            linear(input: input, rows: rows, inFeatures: inFeatures, weight: weight, outFeatures: outFeatures,
                   bias: bias, output: output)
            epilogue?(0..<outFeatures)
            return
        }
        if rows == 0 { return }
        // Shares in multiples of 16 features: whole tiles, and each thread's outputs on cache lines of its own.
        let units = (outFeatures + 15) / 16
        let tasks = min(pool.threads, units)
        let (per, extra) = units.quotientAndRemainder(dividingBy: tasks)
        pool.run(tasks: tasks) { t in
            let start = 16 * (t * per + min(t, extra))
            let columns = start..<min(outFeatures, start + 16 * (per + (t < extra ? 1 : 0)))
            if let bias {
                for r in 0..<rows {
                    (output + r * outFeatures + columns.lowerBound).update(from: bias + columns.lowerBound,
                                                                            count: columns.count)
                }
            }
            rowsProduct(a: input, lda: inFeatures, m: rows, b: weight, ldb: inFeatures, columns: columns,
                        k: inFeatures, c: output, ldc: outFeatures, accumulate: bias != nil)
            epilogue?(columns)
        }
    }

    /// `linear` on tensors: input [..., inFeatures], weight [outFeatures, inFeatures], bias [outFeatures]
    /// -> a new tensor [..., outFeatures]. Allocates its output; the model's hot path uses the pointer form.
    public static func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
        let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
        precondition(input.rank >= 1 && input.shape[input.rank - 1] == inFeatures,
                     "linear: input \(input.shape) does not end in \(inFeatures)")
        precondition(bias == nil || bias!.shape == [outFeatures], "linear: bias must be [\(outFeatures)]")
        let leading = Array(input.shape.dropLast())
        let output = Tensor(zeros: leading + [outFeatures])
        linear(input: input.pointer, rows: leading.reduce(1, *), inFeatures: inFeatures,
               weight: weight.pointer, outFeatures: outFeatures, bias: bias.map { UnsafePointer($0.pointer) },
               output: output.pointer)
        return output
    }
}

extension Kernels.Reference {
    /// Scalar twin of `Kernels.gemm`, accumulating in Double.
    public static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let aValue = transA ? a[p * lda + i] : a[i * lda + p]
                    let bValue = transB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(aValue) * Double(bValue)
                }
                let previous = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = Float(Double(alpha) * sum + previous)
            }
        }
    }

    /// Scalar twin of `Kernels.gemv`, accumulating in Double.
    public static func gemv(
        trans: Bool = false,
        rows: Int, cols: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>,
        beta: Float = 0,
        y: UnsafeMutablePointer<Float>
    ) {
        let (yCount, xCount) = trans ? (cols, rows) : (rows, cols)
        for i in 0..<yCount {
            var sum = 0.0
            for j in 0..<xCount {
                let aValue = trans ? a[j * lda + i] : a[i * lda + j]
                sum += Double(aValue) * Double(x[j])
            }
            let previous = beta == 0 ? 0 : Double(beta) * Double(y[i])
            y[i] = Float(Double(alpha) * sum + previous)
        }
    }

    /// Scalar twin of `Kernels.linear`, accumulating in Double.
    public static func linear(
        input: UnsafePointer<Float>, rows: Int, inFeatures: Int,
        weight: UnsafePointer<Float>, outFeatures: Int,
        bias: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            for o in 0..<outFeatures {
                var sum = bias.map { Double($0[o]) } ?? 0
                for i in 0..<inFeatures {
                    sum += Double(input[r * inFeatures + i]) * Double(weight[o * inFeatures + i])
                }
                output[r * outFeatures + o] = Float(sum)
            }
        }
    }
}
