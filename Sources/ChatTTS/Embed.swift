import Tensors

/// `Embed.safetensors`: the input embeddings for text tokens and the 4 audio codebooks, and the output heads.
///
/// The heads are weight-normalized linear layers (`weight = g * v / ||v||` per output row); the fold happens once
/// here so generation reads plain matrices.
public struct Embed: Sendable {
    /// [numTextTokens, hidden]
    public let text: Tensor
    /// numVQ x [numAudioTokens, hidden]
    public let code: [Tensor]
    /// [numTextTokens, hidden], folded
    public let headText: Tensor
    /// numVQ x [numAudioTokens, hidden], folded
    public let headCode: [Tensor]
    /// The code heads stacked, [numVQ * numAudioTokens, hidden], in the model's weight format: one pass gives every
    /// codebook's logits for every sequence of a step.
    public let headCodePacked: PackedMatrix
    /// `headText` in the model's weight format.
    public let headTextPacked: PackedMatrix

    public var hiddenSize: Int { text.shape[1] }
    public var numTextTokens: Int { text.shape[0] }
    public var numAudioTokens: Int { code[0].shape[0] }

    public init(path: String, config: GPTConfig, format: WeightFormat = .f32,
                groupSize: Int = PackedMatrix.defaultGroupSize) throws {
        let loader = try WeightLoader(path: path)
        let w = loader.root
        let h = config.hiddenSize
        text = try w("emb_text.weight", shape: [config.numTextTokens, h])
        code = try (0..<config.numVQ).map { try w.scope("emb_code").scope($0)("weight", shape: [config.numAudioTokens, h]) }
        headText = try Self.foldWeightNorm(w.scope("head_text"), rows: config.numTextTokens, columns: h)
        headCode = try (0..<config.numVQ).map {
            try Self.foldWeightNorm(w.scope("head_code").scope($0), rows: config.numAudioTokens, columns: h)
        }
        try loader.finish()
        let heads = headCode, audio = config.numAudioTokens
        headCodePacked = try PackedMatrix(rows: heads.count * audio, cols: h, format: format,
                                          groupSize: groupSize) { r in
            UnsafePointer(heads[r / audio].pointer + (r % audio) * h)
        }
        headTextPacked = try PackedMatrix(headText, format: format, groupSize: groupSize)
    }

    /// PyTorch's `weight_norm(dim=0)` parametrization: `original0` is g [rows, 1], `original1` is v [rows, columns].
    static func foldWeightNorm(_ w: WeightScope, rows: Int, columns: Int) throws -> Tensor {
        let p = w.scope("parametrizations").scope("weight")
        let g = try p("original0", shape: [rows, 1])
        let v = try p("original1", shape: [rows, columns])
        let out = Tensor(zeros: [rows, columns])
        let vp = v.pointer, gp = g.pointer, op = out.pointer
        for r in 0..<rows {
            var sum: Double = 0
            for c in 0..<columns {
                let x = Double(vp[r * columns + c])
                sum += x * x
            }
            let scale = gp[r] / Float(sum.squareRoot())
            for c in 0..<columns { op[r * columns + c] = vp[r * columns + c] * scale }
        }
        // The folded copy is what runs: the checkpoint's pages need not stay resident (head_text is 65 MB).
        v.storage.releaseMappedPages()
        return out
    }

    /// Embeds one position of text: row `token` of the text table into `out` [hidden].
    public func embedText(_ token: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(token >= 0 && token < numTextTokens, "text token \(token) out of range")
        out.update(from: text.pointer + token * hiddenSize, count: hiddenSize)
    }

    /// Embeds one audio step: the sum of the numVQ code embeddings, in codebook order like the reference.
    public func embedCodes(_ codes: ArraySlice<Int>, into out: UnsafeMutablePointer<Float>) {
        let h = hiddenSize
        out.initialize(repeating: 0, count: h)
        for (q, c) in codes.enumerated() {
            precondition(c >= 0 && c < numAudioTokens, "audio code \(c) out of range")
            let row = code[q].pointer + c * h
            for i in 0..<h { out[i] += row[i] }
        }
    }
}
