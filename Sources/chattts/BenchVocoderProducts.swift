import ArgumentParser
import Foundation
import Tensors

/// `chattts bench engine --vocoder-products`: the vocoder's matrix products at the row counts a streamed chunk gives
/// (16 mel frames per 8 engine steps, 48 per 24; stacked windows when several requests stream), through OpenBLAS's
/// sgemm and through the row kernel (`Kernels.rowsProduct`), on one thread as the vocoder runs them. Each product
/// reads another copy of its weights (64 MiB of copies per shape), so that, as in the vocoder, the weights come from
/// memory and not from a cache warmed by the previous call; the two paths alternate, and medians are printed.
extension BenchEngine {
    func vocoderProducts() throws {
        // [out, in] of nn.Linear's weight, as the checkpoints store them (Decoder, Vocos).
        let shapes: [(name: String, n: Int, k: Int)] = [
            ("Vocos pwconv1", 1536, 512), ("Vocos pwconv2", 512, 1536), ("decoder pwconv1", 2048, 512),
            ("decoder pwconv2", 512, 2048), ("Vocos embed tap", 512, 100), ("Vocos head", 1026, 512),
        ]
        let rowCounts = [8, 16, 24, 32, 48, 64, 96, 128]
        let rounds = max(5, kernelRounds)
        print("# chattts bench engine --vocoder-products, \(Self.timestamp())")
        print("machine: \(Self.cpuName()), \(ProcessInfo.processInfo.activeProcessorCount) cores; features: "
              + "\(CPUFeatures.detected); kernels: \(KernelISA.best.rawValue); load: \(Self.loadAverage())")
        print("one thread; microseconds per product (median of \(rounds) rounds of 16 products, each over its own "
              + "copy of the weights); sgemm/rows: how many times longer OpenBLAS takes")
        print("row kernel used by Kernels.gemm up to \(Kernels.rowKernelMaximumRows) rows")
        print(Self.pad("product [out, in]", 24) + Self.pad("rows", 6, left: true) + Self.pad("sgemm us", 11, left: true)
              + Self.pad("rows us", 10, left: true) + Self.pad("sgemm/rows", 12, left: true)
              + Self.pad("rows GFLOP/s", 14, left: true))
        for shape in shapes {
            let weightCount = shape.n * shape.k
            let copies = max(2, (64 << 20) / (4 * weightCount))
            let weights = UnsafeMutablePointer<Float>.allocate(capacity: copies * weightCount)
            defer { weights.deallocate() }
            var seed: UInt32 = 12345
            for i in 0..<(copies * weightCount) {
                seed = seed &* 1_664_525 &+ 1_013_904_223
                weights[i] = Float(Int32(bitPattern: seed >> 8) - (1 << 23)) / Float(1 << 27)
            }
            let maxRows = rowCounts.max()!
            let input = UnsafeMutablePointer<Float>.allocate(capacity: maxRows * shape.k)
            let output = UnsafeMutablePointer<Float>.allocate(capacity: maxRows * shape.n)
            defer { input.deallocate(); output.deallocate() }
            for i in 0..<(maxRows * shape.k) { input[i] = Float(i % 97) / 97 - 0.5 }
            var next = 0
            func time(_ m: Int, blas: Bool) -> Double {
                let started = Self.now()
                for _ in 0..<16 {
                    let w = weights + (next % copies) * weightCount
                    next += 1
                    if blas {
                        Kernels.gemm(transB: true, m: m, n: shape.n, k: shape.k, a: input, lda: shape.k, b: w,
                                     ldb: shape.k, c: output, ldc: shape.n, rowKernel: false)
                    } else {
                        Kernels.rowsProduct(a: input, lda: shape.k, m: m, b: w, ldb: shape.k, columns: 0..<shape.n,
                                            k: shape.k, c: output, ldc: shape.n, accumulate: false)
                    }
                }
                return (Self.now() - started) / 16 * 1e6
            }
            for m in rowCounts {
                var blas: [Double] = [], rows: [Double] = []
                _ = time(m, blas: true)
                _ = time(m, blas: false)
                for round in 0..<rounds {
                    if round % 2 == 0 {
                        blas.append(time(m, blas: true)); rows.append(time(m, blas: false))
                    } else {
                        rows.append(time(m, blas: false)); blas.append(time(m, blas: true))
                    }
                }
                let b = Self.median(of: blas), r = Self.median(of: rows)
                let gflops = 2 * Double(m * shape.n * shape.k) / (r * 1e-6) / 1e9
                print(Self.pad("\(shape.name) [\(shape.n), \(shape.k)]", 24) + Self.pad("\(m)", 6, left: true)
                      + Self.pad(String(format: "%.1f", b), 11, left: true)
                      + Self.pad(String(format: "%.1f", r), 10, left: true)
                      + Self.pad(String(format: "%.2f", b / r), 12, left: true)
                      + Self.pad(String(format: "%.1f", gflops), 14, left: true))
            }
        }
    }
}
