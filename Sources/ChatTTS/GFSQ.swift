import Foundation
import Tensors

/// Grouped residual finite scalar quantization, encoding side: the official `GFSQ` over vector_quantize_pytorch
/// 1.32.0's `GroupedResidualFSQ` (the version the reference fixtures pin), which turns the DVAE encoder's output
/// into codes.
///
/// Per frame, the channels are split into G groups. Each group is projected to one value per FSQ level
/// (`project_in`, with bias), soft-clamped (`tanh(z / c) * c`, c = 1 + 1 / (L - 1)) and quantized by R residual
/// levels: with scale s_r = L^-r, u = clamp(residual / s_r, -1, 1), level index b = floor((L - 1)(u + 1) / 2 + 0.5)
/// (the symmetry-preserving bound with a hard clamp), the code value 2b / (L - 1) - 1, times s_r, is subtracted
/// from the residual. A level's code is the mixed-radix number of its b over the dimensions (first dimension least
/// significant); code row g * R + r is group g, residual level r. Every step is the reference's float32 operation
/// in the reference's order, so the codes are the reference's, not merely close to them.
///
/// Older vector_quantize_pytorch releases (those of ChatTTS's training) scale residual levels by (L - 1)^-r and
/// bound differently; the scales here are the pinned version's, like the fixtures.
public struct GFSQ: Sendable {
    /// The official configuration's FSQ levels (`Config.dvae.vq.levels`); the checkpoint does not store them.
    public static let officialLevels = [5, 5, 5, 5]

    /// Per group: `project_in` weight [levels.count, dimPerGroup] and bias [levels.count].
    let projectIn: [(weight: Tensor, bias: Tensor)]
    public let levels: [Int]
    public let groups: Int
    public let residuals: Int
    public let dimPerGroup: Int
    /// scales[r][j] = levels[j]^-r (vector_quantize_pytorch's `scales` buffer).
    public let scales: [[Float]]
    /// 1 + 1 / (L - 1) per dimension (`soft_clamp_input_value`).
    let clampValues: [Float]

    public var dim: Int { groups * dimPerGroup }
    public var codebookSize: Int { levels.reduce(1, *) }
    /// Code rows per frame: G * R.
    public var codebooks: Int { groups * residuals }

    /// w: the `vq_layer.quantizer` scope; `codebooks`: the code rows the GPT reads (num_vq). The groups are
    /// counted from the checkpoint (`rvqs.N`) and the residual levels are num_vq / groups (the official
    /// configuration: G 2, R 2). The decoding projections (`project_out`) are marked unused.
    init(_ w: WeightScope, codebooks: Int, levels: [Int] = GFSQ.officialLevels) throws {
        precondition(levels.allSatisfy { $0 >= 2 }, "GFSQ: levels must be at least 2")
        var projections: [(weight: Tensor, bias: Tensor)] = []
        var perGroup = 0
        while w.scope("rvqs").scope(projections.count).contains("project_in.weight") {
            let g = w.scope("rvqs").scope(projections.count)
            let shape = try g.shape(of: "project_in.weight")
            guard shape.count == 2, shape[0] == levels.count, perGroup == 0 || shape[1] == perGroup else {
                throw ModelError(w.path, "\(g.key("project_in.weight")) has shape \(shape), expected "
                                     + "[\(levels.count), \(perGroup == 0 ? "dim / groups" : String(perGroup))]")
            }
            perGroup = shape[1]
            projections.append((try g("project_in.weight", shape: shape), try g("project_in.bias", shape: [shape[0]])))
            for name in ["project_out.weight", "project_out.bias"] where g.contains(name) { w.loader.skip(g.key(name)) }
        }
        guard !projections.isEmpty else {
            throw ModelError(w.path, "no \(w.key("rvqs.0.project_in.weight")): the file holds no GFSQ quantizer")
        }
        guard codebooks > 0, codebooks % projections.count == 0 else {
            throw ModelError(w.path, "\(projections.count) quantizer groups cannot make \(codebooks) code rows")
        }
        projectIn = projections
        groups = projections.count
        dimPerGroup = perGroup
        residuals = codebooks / groups
        self.levels = levels
        scales = (0..<residuals).map { r in levels.map { 1 / Float(Foundation.pow(Double($0), Double(r))) } }
        clampValues = levels.map { 1 + 1 / Float($0 - 1) }
    }

    /// x: [T, dim] encoder output (time-major) -> codes[g * R + r][t].
    public func indices(_ x: Tensor) -> [[Int]] {
        precondition(x.rank == 2 && x.shape[1] == dim, "GFSQ input \(x.shape), expected [T, \(dim)]")
        let t = x.shape[0], d = levels.count
        var codes = [[Int]](repeating: [Int](repeating: 0, count: t), count: codebooks)
        let z = Tensor(zeros: [t, d])
        for (g, projection) in projectIn.enumerated() {
            for r in 0..<t { (z.pointer + r * d).update(from: projection.bias.pointer, count: d) }
            Kernels.gemm(transB: true, m: t, n: d, k: dimPerGroup, a: x.pointer + g * dimPerGroup, lda: dim,
                         b: projection.weight.pointer, ldb: dimPerGroup, beta: 1, c: z.pointer, ldc: d)
            for frame in 0..<t {
                for (r, index) in quantize(z.pointer + frame * d).enumerated() {
                    codes[g * residuals + r][frame] = index
                }
            }
        }
        return codes
    }

    /// One group's projected frame z [levels.count] -> its code at each residual level.
    func quantize(_ z: UnsafePointer<Float>) -> [Int] {
        var residual = (0..<levels.count).map { j in
            let c = clampValues[j]
            return Foundation.tanh(z[j] / c) * c
        }
        return (0..<residuals).map { r in
            var index = 0, radix = 1
            for j in 0..<levels.count {
                let steps = Float(levels[j] - 1)
                let u = min(max(residual[j] / scales[r][j], -1), 1)
                let b = ((steps * (u + 1)) / 2 + 0.5).rounded(.down)
                residual[j] = residual[j] - (2 / steps * b - 1) * scales[r][j]
                index += Int(b) * radix
                radix *= levels[j]
            }
            return index
        }
    }
}
