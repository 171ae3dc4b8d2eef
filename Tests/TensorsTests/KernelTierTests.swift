import Foundation
import Testing
import Tensors

/// The C kernels of each `kernels` tier (`PackedKernel`), every one this CPU runs, against their scalar references:
/// the int8 kernels (AVX2 VPMADDUBSW, AVX-VNNI and AVX-512 VNNI VPDPBUSD) and the AVX2 bf16 kernel bit for bit, the
/// AVX-512 BF16 kernel (VDPBF16PS, which rounds the input rows to bf16 and sums pairs with its own rounding) within
/// nmse 1e-10 and 1e-4 absolute of the Double reference over the same rounded inputs. Shapes cover rows that are not
/// a multiple of 16, partial blocks of panels, several groups, batches 1 to 9, accumulating or not, and panel ranges
/// that start and end inside blocks.
@Suite("Kernel: each tier's C kernels against their scalar references")
struct KernelTierTests {
    typealias RNG = KernelTesting.SplitMix64

    static let shapes = [(1, 32, 1), (17, 64, 2), (16, 96, 3), (40, 128, 4), (70, 256, 5), (130, 96, 6), (33, 768, 7),
                         (260, 192, 8), (150, 64, 9)]

    static func pack(_ w: [Float], rows: Int, cols: Int, format: WeightFormat, layout: PackedMatrix.Layout,
                     groupSize: Int = 32) throws -> PackedMatrix {
        try w.withUnsafeBufferPointer { b in
            try PackedMatrix(rows: rows, cols: cols, format: format, groupSize: groupSize, layout: layout) {
                b.baseAddress! + $0 * cols
            }
        }
    }

    /// Panel ranges to run alone: everything, and (with enough panels) ranges that start and end inside a block.
    static func ranges(_ panels: Int) -> [Range<Int>] {
        var out = [0..<panels]
        if panels > 2 { out.append(1..<(panels - 1)) }
        if panels > 11 { out.append(3..<11) }
        return out
    }

    static let int8Kernels: [PackedKernel] = [.avx2Int8, .avxVNNIInt8, .avx512VNNIInt8, .reference]

    @Test("each int8 kernel equals the quad reference bit for bit, over whole matrices and panel ranges",
          arguments: [PackedMatrix.Layout.quads, .vnni])
    func int8BitExact(layout: PackedMatrix.Layout) throws {
        var ran = Set<PackedKernel>()
        for (rows, cols, batch) in Self.shapes {
            var rng = RNG(seed: UInt64(rows * 131 + cols * 7 + batch))
            let packed = try Self.pack(rng.normal(rows * cols, scale: 0.05), rows: rows, cols: cols, format: .int8,
                                       layout: layout)
            var x = rng.normal(batch * cols)
            x[0] = 0                                                    // exact zeros and a zero group
            if cols >= 64 { for k in 32..<64 { x[k] = 0 } }
            let start = rng.normal(batch * rows)
            let input = QuantizedRows(x, ldx: cols, batch: batch, cols: cols, groupSize: 32, reference: true)
            for accumulate in [false, true] {
                for panels in Self.ranges(packed.panels) {
                    var expected = start
                    Kernels.Reference.quadProduct(packed, panels: panels, input: input, y: &expected, ldy: rows,
                                                  accumulate: accumulate)
                    for kernel in Self.int8Kernels where kernel.runs(packed) {
                        ran.insert(kernel)
                        var y = start
                        Kernels.packedProduct(packed, panels: panels, x: x, ldx: cols, batch: batch, y: &y, ldy: rows,
                                              accumulate: accumulate, isa: .fastest, kernel: kernel)
                        #expect(y == expected,
                                "\(kernel) \(layout) \(rows)x\(cols) batch \(batch) panels \(panels) accumulate \(accumulate)")
                    }
                }
            }
        }
        if CPUFeatures.detected.contains(.avx2FMA) { #expect(ran.contains(.avx2Int8)) }
        if layout == .vnni && CPUFeatures.detected.contains(.avxVNNI) { #expect(ran.contains(.avxVNNIInt8)) }
    }

    @Test("the int8 quad reference is the exact product over the rounded weights and inputs (Double reference)")
    func quadReferenceMatchesDoubleReference() throws {
        let (rows, cols, batch) = (70, 256, 5)
        var rng = RNG(seed: 5)
        let packed = try Self.pack(rng.normal(rows * cols, scale: 0.05), rows: rows, cols: cols, format: .int8,
                                   layout: .quads)
        let x = rng.normal(batch * cols)
        var exact = [Float](repeating: 0, count: batch * rows), double = exact
        let input = QuantizedRows(x, ldx: cols, batch: batch, cols: cols, groupSize: 32, reference: true)
        Kernels.Reference.quadProduct(packed, panels: 0..<packed.panels, input: input, y: &exact, ldy: rows,
                                      accumulate: false)
        Kernels.Reference.packedProduct(packed, x: x, batch: batch, y: &double)
        KernelTesting.expectClose(exact, double, nmse: 1e-12, maxAbs: 1e-5, "quad reference")
    }

    @Test("the AVX2 input quantization (C) equals the Swift reference bit for bit")
    func avx2InputQuantization() {
        guard KernelISA.avx2.isSupported else { return }
        var rng = RNG(seed: 13)
        var x = rng.normal(3 * 256, scale: 3)
        for i in 0..<64 { x[64 + i] = 0 }
        x[9] = -1e-30
        x[300] = 1e6
        for groupSize in [8, 32, 64] {
            let reference = QuantizedRows(x, ldx: 256, batch: 3, cols: 256, groupSize: groupSize, reference: true)
            for isa in KernelISA.available where isa >= .avx2 {
                let fast = QuantizedRows(x, ldx: 256, batch: 3, cols: 256, groupSize: groupSize, isa: isa)
                let values = (0..<3).allSatisfy { b in
                    (0..<256).allSatisfy { fast.values[b * fast.stride + $0] == reference.values[b * fast.stride + $0] }
                }
                let scales = (0..<(3 * 256 / groupSize)).allSatisfy { fast.scales[$0] == reference.scales[$0] }
                #expect(values && scales, "\(isa) group \(groupSize)")
            }
        }
    }

    @Test("the fused float kernels (C AVX2 bf16, Swift AVX2 and AVX-512) equal the fused reference bit for bit",
          arguments: [WeightFormat.bf16, .f32])
    func fusedBitExact(format: WeightFormat) throws {
        for (rows, cols, batch) in Self.shapes {
            var rng = RNG(seed: UInt64(rows * 17 + cols + batch))
            let packed = try Self.pack(rng.normal(rows * cols, scale: 0.05), rows: rows, cols: cols, format: format,
                                       layout: .panels)
            let x = rng.normal(batch * cols)
            let start = rng.normal(batch * rows)
            for accumulate in [false, true] {
                var expected = start
                Kernels.Reference.fusedPanelProduct(packed, x: x, ldx: cols, batch: batch, y: &expected, ldy: rows,
                                                    accumulate: accumulate)
                var runs: [(PackedKernel, KernelISA)] = KernelISA.available.filter { $0 >= .avx2 }.map { (.swift, $0) }
                if format == .bf16 && PackedKernel.avx2BF16.runs(packed) { runs.append((.avx2BF16, .avx2)) }
                for (kernel, isa) in runs {
                    for panels in Self.ranges(packed.panels) {
                        var y = start
                        Kernels.packedProduct(packed, panels: panels, x: x, ldx: cols, batch: batch, y: &y,
                                              ldy: rows, accumulate: accumulate, isa: isa, kernel: kernel)
                        let rowsIn = (panels.lowerBound * 16)..<min(rows, panels.upperBound * 16)
                        let same = (0..<batch).allSatisfy { b in
                            rowsIn.allSatisfy { y[b * rows + $0] == expected[b * rows + $0] }
                        }
                        let untouched = (0..<batch).allSatisfy { b in
                            (0..<rows).allSatisfy { rowsIn.contains($0) || y[b * rows + $0] == start[b * rows + $0] }
                        }
                        #expect(same && untouched,
                                "\(format) \(kernel) \(isa) \(rows)x\(cols) b \(batch) panels \(panels) acc \(accumulate)")
                    }
                }
            }
        }
    }

    @Test("the AVX-512 BF16 kernel matches the reference over inputs rounded to bf16, and ignores the batch")
    func avx512BF16() throws {
        guard CPUFeatures.detected.contains([.avx512, .avx512BF16]) else { return }
        for (rows, cols, batch) in Self.shapes + [(48, 33, 3), (20, 1, 2)] {
            var rng = RNG(seed: UInt64(rows * 29 + cols + batch))
            let packed = try Self.pack(rng.normal(rows * cols, scale: 0.05), rows: rows, cols: cols, format: .bf16,
                                       layout: .panels)
            let x = rng.normal(batch * cols)
            let start = rng.normal(batch * rows)
            for accumulate in [false, true] {
                var expected = start
                Kernels.Reference.packedProduct(packed, x: x, batch: batch, y: &expected, accumulate: accumulate,
                                                inputsInBF16: true)
                var y = start
                Kernels.packedProduct(packed, panels: 0..<packed.panels, x: x, ldx: cols, batch: batch, y: &y,
                                      ldy: rows, accumulate: accumulate, isa: .avx512, kernel: .avx512BF16)
                KernelTesting.expectClose(y, expected, nmse: 1e-10, maxAbs: 1e-4,
                                          "avx512-bf16 \(rows)x\(cols) batch \(batch) accumulate \(accumulate)")
                for b in 0..<batch {
                    var alone = Array(start[(b * rows)..<((b + 1) * rows)])
                    Array(x[(b * cols)..<((b + 1) * cols)]).withUnsafeBufferPointer { xb in
                        Kernels.packedProduct(packed, panels: 0..<packed.panels, x: xb.baseAddress!, ldx: cols,
                                              batch: 1, y: &alone, ldy: rows, accumulate: accumulate, isa: .avx512,
                                              kernel: .avx512BF16)
                    }
                    #expect(alone == Array(y[(b * rows)..<((b + 1) * rows)]), "row \(b) of \(batch)")
                }
            }
        }
    }

    @Test("each tier packs int8 in its kernels' layout and picks its kernels")
    func tiersPickTheirKernels() throws {
        let cpu = CPUFeatures.detected
        #expect(KernelISA.baseline.int8Layout == .panels)
        #expect(KernelISA.avx2.int8Layout == .quads)
        #expect(KernelISA.avx2VNNI.int8Layout == .vnni)
        #expect(KernelISA.avx512.int8Layout == (cpu.contains(.avx512VNNI) ? .vnni : .panels))
        #expect(KernelISA.avx2VNNI.isSupported == cpu.contains([.avx2FMA, .avxVNNI]))
        #expect(KernelISA(rawValue: "avx2-vnni") == .avx2VNNI)
        let zeros = [Float](repeating: 0, count: 64 * 64)
        let bf16 = try Self.pack(zeros, rows: 64, cols: 64, format: .bf16, layout: .panels)
        for isa in KernelISA.available {
            let int8 = try Self.pack(zeros, rows: 64, cols: 64, format: .int8, layout: isa.int8Layout)
            let expected: PackedKernel = switch isa {
            case .baseline: .swift
            case .avx2: .avx2Int8
            case .avx2VNNI: .avxVNNIInt8
            case .avx512: cpu.contains(.avx512VNNI) ? .avx512VNNIInt8 : .swift
            }
            #expect(Kernels.packedKernel(int8, batch: 1, isa: isa) == expected, "int8 on \(isa)")
            let bf16Kernel: PackedKernel = switch isa {
            case .baseline: .swift
            case .avx2, .avx2VNNI: .avx2BF16
            case .avx512: cpu.contains(.avx512BF16) ? .avx512BF16 : .swift
            }
            #expect(Kernels.packedKernel(bf16, batch: 8, isa: isa) == bf16Kernel, "bf16 on \(isa)")
            #expect(Kernels.packedKernel(int8, batch: 1, isa: isa).runs(int8))
        }
    }
}
