/// 1-D convolution as torch.nn.Conv1d computes it (cross-correlation, zero padding), for one batch item, plus the
/// [C, T] <-> [T, C] transposes that sit between convolutions (channels first) and linear layers (channels last).
///
/// Paths: groups == 1 unrolls the input into columns (im2col) and makes one sgemm; depthwise
/// (groups == inChannels == outChannels, the ConvNeXt blocks' kernel-7 convolutions) is a direct vector loop;
/// any other grouping runs the groups == 1 path once per group.

/// The hyper-parameters of a Conv1d layer, as in torch.nn.Conv1d (padding is zeros on both sides).
public struct Conv1dGeometry: Sendable, Hashable {
    public var inChannels: Int
    public var outChannels: Int
    public var kernelSize: Int
    public var stride: Int
    public var padding: Int
    public var dilation: Int
    public var groups: Int

    public init(inChannels: Int, outChannels: Int, kernelSize: Int,
                stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize > 0, "Conv1d: sizes must be positive")
        precondition(stride > 0 && dilation > 0 && padding >= 0, "Conv1d: bad stride/dilation/padding")
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv1d: groups \(groups) must divide \(inChannels) and \(outChannels)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    /// Tout = (T + 2 * padding - dilation * (kernelSize - 1) - 1) / stride + 1 (PyTorch's formula); 0 when the
    /// padded input is shorter than one dilated kernel.
    public func outputLength(inputLength: Int) -> Int {
        let span = inputLength + 2 * padding - dilation * (kernelSize - 1) - 1
        return span < 0 ? 0 : span / stride + 1
    }

    /// The weight's element count: [outChannels, inChannels / groups, kernelSize].
    public var weightCount: Int { outChannels * (inChannels / groups) * kernelSize }

    var isDepthwise: Bool { groups == inChannels && groups == outChannels }

    /// A 1x1 convolution reads the input as it is: no column buffer.
    var isPointwise: Bool { kernelSize == 1 && stride == 1 && padding == 0 }

    /// Floats of scratch `Kernels.conv1d` needs for this input length (0 for depthwise and 1x1 convolutions):
    /// one group's column matrix, [inChannels / groups * kernelSize, Tout].
    public func workspaceCount(inputLength: Int) -> Int {
        if isDepthwise || isPointwise { return 0 }
        return inChannels / groups * kernelSize * outputLength(inputLength: inputLength)
    }
}

extension Kernels {
    /// torch.nn.Conv1d on one batch item: output[o, t] = bias[o] + sum over c in o's group and k of
    /// weight[o, c, k] * input[c, t * stride + k * dilation - padding] (zero outside the input).
    ///
    /// input [inChannels, length], weight [outChannels, inChannels / groups, kernelSize] (PyTorch's layout),
    /// bias [outChannels] or nil, output [outChannels, Tout] with Tout = `geometry.outputLength(inputLength:)`.
    /// `workspace` needs `geometry.workspaceCount(inputLength:)` floats; when nil and needed, the call allocates
    /// it (fine for one-off calls; the model passes per-request scratch). `output` must not overlap the input.
    public static func conv1d(
        input: UnsafePointer<Float>, length: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        geometry g: Conv1dGeometry,
        output: UnsafeMutablePointer<Float>,
        workspace: UnsafeMutablePointer<Float>? = nil
    ) {
        let outLength = g.outputLength(inputLength: length)
        if outLength == 0 { return }
        if g.isDepthwise {
            depthwiseConv1d(input: input, length: length, weight: weight, bias: bias, geometry: g,
                            outLength: outLength, output: output)
            return
        }
        let needed = g.workspaceCount(inputLength: length)
        if needed > 0 && workspace == nil {
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: needed)
            defer { scratch.deallocate() }
            denseConv1d(input: input, length: length, weight: weight, bias: bias, geometry: g,
                        outLength: outLength, output: output, workspace: scratch)
        } else {
            denseConv1d(input: input, length: length, weight: weight, bias: bias, geometry: g,
                        outLength: outLength, output: output, workspace: workspace)
        }
    }

    /// groups == 1 as one sgemm per group: output_g [Cout/g, Tout] = weight_g [Cout/g, Cin/g * K] x
    /// columns [Cin/g * K, Tout], where columns[c * K + k, t] = input[c, t * stride + k * dilation - padding].
    private static func denseConv1d(
        input: UnsafePointer<Float>, length: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        geometry g: Conv1dGeometry, outLength: Int,
        output: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>?
    ) {
        let inPerGroup = g.inChannels / g.groups
        let outPerGroup = g.outChannels / g.groups
        let depth = inPerGroup * g.kernelSize
        if let bias {
            for o in 0..<g.outChannels { (output + o * outLength).update(repeating: bias[o], count: outLength) }
        }
        for group in 0..<g.groups {
            let groupInput = input + group * inPerGroup * length
            let columns: UnsafePointer<Float>
            if g.isPointwise {
                columns = groupInput  // [Cin/g, T] is already the column matrix, and Tout == T
            } else {
                let buffer = workspace!
                im2col(groupInput, channels: inPerGroup, length: length, geometry: g, outLength: outLength,
                       into: buffer)
                columns = UnsafePointer(buffer)
            }
            gemm(m: outPerGroup, n: outLength, k: depth,
                 a: weight + group * outPerGroup * depth, lda: depth,
                 b: columns, ldb: outLength,
                 beta: bias == nil ? 0 : 1,
                 c: output + group * outPerGroup * outLength, ldc: outLength)
        }
    }

    /// The range of output steps t for which t * stride + offset lies inside 0..<length.
    @inline(__always)
    private static func validRange(offset: Int, stride: Int, length: Int, outLength: Int) -> Range<Int> {
        // lower = ceil(-offset / stride), upper = floor((length - 1 - offset) / stride) + 1, clamped to 0...outLength
        let lower = offset >= 0 ? 0 : (-offset + stride - 1) / stride
        let last = length - 1 - offset
        let upper = last < 0 ? 0 : last / stride + 1
        let lo = min(lower, outLength), hi = max(lo, min(upper, outLength))
        return lo..<hi
    }

    /// columns [channels * K, Tout]: row c * K + k holds input row c shifted by k * dilation - padding and
    /// sampled every `stride`, zero where it falls outside the input.
    private static func im2col(
        _ input: UnsafePointer<Float>, channels: Int, length: Int,
        geometry g: Conv1dGeometry, outLength: Int, into columns: UnsafeMutablePointer<Float>
    ) {
        for c in 0..<channels {
            let source = input + c * length
            for k in 0..<g.kernelSize {
                let row = columns + (c * g.kernelSize + k) * outLength
                let offset = k * g.dilation - g.padding
                let valid = validRange(offset: offset, stride: g.stride, length: length, outLength: outLength)
                row.update(repeating: 0, count: valid.lowerBound)
                if g.stride == 1 {
                    (row + valid.lowerBound).update(from: source + valid.lowerBound + offset, count: valid.count)
                } else {
                    for t in valid { row[t] = source[t * g.stride + offset] }
                }
                (row + valid.upperBound).update(repeating: 0, count: outLength - valid.upperBound)
            }
        }
    }

    /// Depthwise: each channel convolved with its own kernel, weight [C, 1, K]. For stride 1 every tap is one
    /// contiguous multiply-add of a shifted input row into the output row (which stays in L1).
    private static func depthwiseConv1d(
        input: UnsafePointer<Float>, length: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        geometry g: Conv1dGeometry, outLength: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        for c in 0..<g.inChannels {
            let source = input + c * length
            let destination = output + c * outLength
            destination.update(repeating: bias?[c] ?? 0, count: outLength)
            for k in 0..<g.kernelSize {
                let w = weight[c * g.kernelSize + k]
                let offset = k * g.dilation - g.padding
                let valid = validRange(offset: offset, stride: g.stride, length: length, outLength: outLength)
                if g.stride == 1 {
                    let x = source + offset, wVector = FloatVector(repeating: w)
                    var t = valid.lowerBound
                    while t + lanes <= valid.upperBound {
                        store(load(destination + t) + wVector * load(x + t), destination + t)
                        t += lanes
                    }
                    while t < valid.upperBound {
                        destination[t] += w * x[t]
                        t += 1
                    }
                } else {
                    for t in valid { destination[t] += w * source[t * g.stride + offset] }
                }
            }
        }
    }

    /// dst [cols, rows] = transpose of src [rows, cols], in cache-sized tiles. Converts [C, T] (convolutions)
    /// to [T, C] (linear layers, LayerNorm over channels) and back. `dst` must not overlap `src`.
    public static func transpose(_ src: UnsafePointer<Float>, rows: Int, cols: Int,
                                 into dst: UnsafeMutablePointer<Float>) {
        let tile = 32
        var r0 = 0
        while r0 < rows {
            let r1 = min(r0 + tile, rows)
            var c0 = 0
            while c0 < cols {
                let c1 = min(c0 + tile, cols)
                for r in r0..<r1 {
                    let source = src + r * cols
                    for c in c0..<c1 { dst[c * rows + r] = source[c] }
                }
                c0 = c1
            }
            r0 = r1
        }
    }

    /// A rank-2 tensor's transpose in fresh memory: [a, b] -> [b, a].
    public static func transpose(_ x: Tensor) -> Tensor {
        precondition(x.rank == 2, "transpose: expected a rank-2 tensor, got \(x.shape)")
        let out = Tensor(zeros: [x.shape[1], x.shape[0]])
        transpose(x.pointer, rows: x.shape[0], cols: x.shape[1], into: out.pointer)
        return out
    }
}

extension Kernels.Reference {
    /// Scalar twin of `Kernels.conv1d`: the definition, looped directly, accumulating in Double. `workspace` is
    /// ignored (kept for the identical signature).
    public static func conv1d(
        input: UnsafePointer<Float>, length: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        geometry g: Conv1dGeometry,
        output: UnsafeMutablePointer<Float>,
        workspace: UnsafeMutablePointer<Float>? = nil
    ) {
        let outLength = g.outputLength(inputLength: length)
        let inPerGroup = g.inChannels / g.groups
        let outPerGroup = g.outChannels / g.groups
        for o in 0..<g.outChannels {
            let group = o / outPerGroup
            for t in 0..<outLength {
                var sum = bias.map { Double($0[o]) } ?? 0
                for ci in 0..<inPerGroup {
                    let c = group * inPerGroup + ci
                    for k in 0..<g.kernelSize {
                        let position = t * g.stride + k * g.dilation - g.padding
                        guard position >= 0 && position < length else { continue }
                        let w = weight[(o * inPerGroup + ci) * g.kernelSize + k]
                        sum += Double(w) * Double(input[c * length + position])
                    }
                }
                output[o * outLength + t] = Float(sum)
            }
        }
    }

    /// Scalar twin of `Kernels.transpose`.
    public static func transpose(_ src: UnsafePointer<Float>, rows: Int, cols: Int,
                                 into dst: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] }
        }
    }
}
