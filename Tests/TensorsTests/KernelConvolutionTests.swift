import Testing
import Tensors

/// Convolutions are sums of Cin/groups * K products: float32 against Double gives nmse ~1e-14; limit 1e-10.
@Suite("Kernel: convolution")
struct KernelConvolutionTests {
    typealias RNG = KernelTesting.SplitMix64

    static func run(_ x: [Float], length: Int, _ w: [Float], _ b: [Float]?, _ g: Conv1dGeometry,
                    reference: Bool = false) -> [Float] {
        var out = [Float](repeating: .nan, count: g.outChannels * g.outputLength(inputLength: length))
        (b ?? []).withUnsafeBufferPointer { bias in
            let biasPointer = b == nil ? nil : bias.baseAddress
            if reference {
                Kernels.Reference.conv1d(input: x, length: length, weight: w, bias: biasPointer, geometry: g,
                                         output: &out)
            } else {
                Kernels.conv1d(input: x, length: length, weight: w, bias: biasPointer, geometry: g, output: &out)
            }
        }
        return out
    }

    static let geometries: [(Conv1dGeometry, Int)] = [
        // (geometry, input length)
        (Conv1dGeometry(inChannels: 1, outChannels: 1, kernelSize: 1), 1),
        (Conv1dGeometry(inChannels: 3, outChannels: 5, kernelSize: 3, padding: 1), 17),
        (Conv1dGeometry(inChannels: 100, outChannels: 64, kernelSize: 7, padding: 3), 50),  // Vocos embed
        (Conv1dGeometry(inChannels: 8, outChannels: 6, kernelSize: 4, stride: 2, padding: 1), 33),
        (Conv1dGeometry(inChannels: 4, outChannels: 4, kernelSize: 3, stride: 3, padding: 2, dilation: 2), 29),
        (Conv1dGeometry(inChannels: 16, outChannels: 9, kernelSize: 1), 23),  // pointwise, no workspace
        (Conv1dGeometry(inChannels: 6, outChannels: 4, kernelSize: 5, padding: 9), 3),  // padding > length
        (Conv1dGeometry(inChannels: 32, outChannels: 32, kernelSize: 7, padding: 6, dilation: 2, groups: 32), 101),
        (Conv1dGeometry(inChannels: 5, outChannels: 5, kernelSize: 7, padding: 3, groups: 5), 6),  // short input
        (Conv1dGeometry(inChannels: 5, outChannels: 5, kernelSize: 3, stride: 2, padding: 1, groups: 5), 20),
        (Conv1dGeometry(inChannels: 6, outChannels: 9, kernelSize: 3, padding: 1, groups: 3), 19),
        (Conv1dGeometry(inChannels: 4, outChannels: 8, kernelSize: 1, groups: 4), 10),  // depth multiplier 2
        (Conv1dGeometry(inChannels: 8, outChannels: 4, kernelSize: 2, stride: 2, dilation: 3, groups: 2), 40),
    ]

    @Test("conv1d matches the scalar reference across strides, paddings, dilations and groups",
          arguments: geometries.indices)
    func conv1dMatchesReference(index: Int) {
        let (g, length) = Self.geometries[index]
        var rng = RNG(seed: UInt64(1000 + index))
        let x = rng.normal(g.inChannels * length)
        let w = rng.normal(g.weightCount, scale: 0.3)
        let b = rng.normal(g.outChannels)
        for bias in [nil, b] {
            let fast = Self.run(x, length: length, w, bias, g)
            let reference = Self.run(x, length: length, w, bias, g, reference: true)
            KernelTesting.expectClose(fast, reference, nmse: 1e-10, maxAbs: 1e-4,
                                      "conv1d \(g) T \(length) bias \(bias != nil)")
        }
    }

    @Test("conv1d uses a caller workspace of the advertised size")
    func conv1dWorkspace() {
        let g = Conv1dGeometry(inChannels: 6, outChannels: 4, kernelSize: 3, stride: 2, padding: 1, dilation: 2)
        let length = 21
        var rng = RNG(seed: 5)
        let x = rng.normal(6 * length), w = rng.normal(g.weightCount)
        var workspace = [Float](repeating: .nan, count: g.workspaceCount(inputLength: length))
        #expect(workspace.count == 6 * 3 * g.outputLength(inputLength: length))
        var out = [Float](repeating: 0, count: 4 * g.outputLength(inputLength: length))
        Kernels.conv1d(input: x, length: length, weight: w, bias: nil, geometry: g, output: &out,
                       workspace: &workspace)
        KernelTesting.expectClose(out, Self.run(x, length: length, w, nil, g, reference: true),
                                  nmse: 1e-10, maxAbs: 1e-4, "conv1d with workspace")
        #expect(Conv1dGeometry(inChannels: 8, outChannels: 8, kernelSize: 7, groups: 8)
                    .workspaceCount(inputLength: 100) == 0)
    }

    @Test("conv1d with dilation 2 on a hand-checkable input")
    func dilation() {
        // out[t] = x[t] + x[t + 2]
        let g = Conv1dGeometry(inChannels: 1, outChannels: 1, kernelSize: 2, dilation: 2)
        #expect(g.outputLength(inputLength: 5) == 3)
        #expect(Self.run([1, 2, 3, 4, 5], length: 5, [1, 1], nil, g) == [4, 6, 8])
    }

    @Test("conv1d with stride 2 and padding 1 on a hand-checkable input")
    func strideAndPadding() {
        // windows over [0 | 1 2 3 4 5 | 0] starting at -1, 1, 3
        let g = Conv1dGeometry(inChannels: 1, outChannels: 1, kernelSize: 3, stride: 2, padding: 1)
        #expect(Self.run([1, 2, 3, 4, 5], length: 5, [1, 1, 1], nil, g) == [3, 9, 9])
        #expect(Self.run([1, 2, 3, 4, 5], length: 5, [1, 1, 1], [10], g) == [13, 19, 19])
    }

    @Test("conv1d with groups connects each output only to its own group's inputs")
    func groups() {
        // Cin 4, Cout 2, groups 2, K 1: out0 = 1 * x0 + 2 * x1, out1 = 3 * x2 + 4 * x3.
        let g = Conv1dGeometry(inChannels: 4, outChannels: 2, kernelSize: 1, groups: 2)
        let x: [Float] = [1, 10,   // channel 0, T = 2
                          2, 20,
                          3, 30,
                          4, 40]
        #expect(Self.run(x, length: 2, [1, 2, 3, 4], [0.5, -0.5], g) == [5.5, 50.5, 24.5, 249.5])
    }

    @Test("depthwise conv1d with padding on a hand-checkable input")
    func depthwise() {
        // Per channel: out[t] = 1 * x[t-1] + 2 * x[t] + 3 * x[t+1]; channel 1 has kernel [0, 1, 0] (identity).
        let g = Conv1dGeometry(inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1, groups: 2)
        #expect(Self.run([1, 2, 3, 4, 5, 6], length: 3, [1, 2, 3, 0, 1, 0], nil, g) == [8, 14, 8, 4, 5, 6])
    }

    @Test("transpose turns [C, T] into [T, C] and back", arguments: [(1, 1), (3, 5), (31, 33), (64, 100), (7, 1)])
    func transpose(rows: Int, cols: Int) {
        var rng = RNG(seed: UInt64(rows * 100 + cols))
        let x = rng.normal(rows * cols)
        var t = [Float](repeating: 0, count: x.count), reference = t, back = t
        Kernels.transpose(x, rows: rows, cols: cols, into: &t)
        Kernels.Reference.transpose(x, rows: rows, cols: cols, into: &reference)
        #expect(t == reference)
        Kernels.transpose(t, rows: cols, cols: rows, into: &back)
        #expect(back == x)
        let tensor = Kernels.transpose(Tensor(shape: [rows, cols], values: x))
        #expect(tensor.shape == [cols, rows] && tensor.scalars == reference)
    }
}
