import Tensors

/// The ChatTTS GPT: a Llama decoder (RMSNorm, RoPE, SiLU MLP, no biases) fed with embeddings, never token ids.
/// Its own `embed_tokens` table in the checkpoint is unused and not loaded.
public struct GPT: Sendable {
    public struct Layer: Sendable {
        public let inputNorm: Tensor   // [hidden]
        public let q: Tensor           // [heads * headDim, hidden]
        public let k: Tensor           // [kvHeads * headDim, hidden]
        public let v: Tensor           // [kvHeads * headDim, hidden]
        public let o: Tensor           // [hidden, heads * headDim]
        public let postNorm: Tensor    // [hidden]
        public let gate: Tensor        // [intermediate, hidden]
        public let up: Tensor          // [intermediate, hidden]
        public let down: Tensor        // [hidden, intermediate]
    }

    public let config: GPTConfig
    public let layers: [Layer]
    public let norm: Tensor            // [hidden]
    let rope: RopeTable

    public init(folder: String) throws {
        let config = try GPTConfig.load(path: folder + "/config.json")
        try self.init(path: folder + "/model.safetensors", config: config)
    }

    public init(path: String, config: GPTConfig) throws {
        self.config = config
        let loader = try WeightLoader(path: path)
        // transformers saves a bare LlamaModel without a prefix; a LlamaForCausalLM checkpoint has "model.".
        let root = loader.file.tensors["norm.weight"] == nil && loader.file.tensors["model.norm.weight"] != nil
            ? loader.root.scope("model") : loader.root
        let h = config.hiddenSize, qDim = config.numHeads * config.headDim, kvDim = config.numKVHeads * config.headDim
        let m = config.intermediateSize
        layers = try (0..<config.numLayers).map { i in
            let l = root.scope("layers").scope(i)
            return Layer(
                inputNorm: try l("input_layernorm.weight", shape: [h]),
                q: try l("self_attn.q_proj.weight", shape: [qDim, h]),
                k: try l("self_attn.k_proj.weight", shape: [kvDim, h]),
                v: try l("self_attn.v_proj.weight", shape: [kvDim, h]),
                o: try l("self_attn.o_proj.weight", shape: [h, qDim]),
                postNorm: try l("post_attention_layernorm.weight", shape: [h]),
                gate: try l("mlp.gate_proj.weight", shape: [m, h]),
                up: try l("mlp.up_proj.weight", shape: [m, h]),
                down: try l("mlp.down_proj.weight", shape: [h, m]))
        }
        norm = try root("norm.weight", shape: [h])
        try loader.finish(ignoring: { $0.hasSuffix("embed_tokens.weight") || $0.hasSuffix("rotary_emb.inv_freq") })
        rope = RopeTable(headDim: config.headDim, theta: config.ropeTheta, maxPositions: config.maxPositions)
    }

    public func makeCache(capacity: Int) -> KVCache {
        KVCache(layers: config.numLayers, kvDim: config.numKVHeads * config.headDim, capacity: capacity)
    }

    /// Runs new positions of several sequences in one pass and appends them to their caches.
    ///
    /// - Parameters:
    ///   - input: [rows, hidden] embeddings; the first `counts[0]` rows belong to `caches[0]`, and so on.
    ///   - debug: receives `gpt.layer.N` (hidden state after each layer) and `gpt.hidden` (after the final norm).
    /// - Returns: [rows, hidden], the final normalized hidden states.
    public func forward(_ input: Tensor, counts: [Int], caches: [KVCache], debug: DebugSink? = nil) -> Tensor {
        precondition(counts.count == caches.count && counts.reduce(0, +) == input.shape[0], "rows and counts disagree")
        let c = config
        let rows = input.shape[0], h = c.hiddenSize, hd = c.headDim
        let qDim = c.numHeads * hd, kvDim = c.numKVHeads * hd
        for (cache, n) in zip(caches, counts) { cache.reserve(n) }

        let x = input.copy()                                  // residual stream [rows, hidden]
        let normed = Tensor(zeros: [rows, h])
        let q = Tensor(zeros: [rows, qDim])
        let k = Tensor(zeros: [rows, kvDim])
        let v = Tensor(zeros: [rows, kvDim])
        let attn = Tensor(zeros: [rows, qDim])
        let projected = Tensor(zeros: [rows, h])
        let gate = Tensor(zeros: [rows, c.intermediateSize])
        let up = Tensor(zeros: [rows, c.intermediateSize])
        var positions = [Int](repeating: 0, count: rows)
        var row = 0
        for (cache, n) in zip(caches, counts) {
            for j in 0..<n { positions[row + j] = cache.length + j }
            row += n
        }
        let maxContext = zip(caches, counts).map { $0.length + $1 }.max() ?? 0
        var scores = [Float](repeating: 0, count: maxContext)

        for (li, layer) in layers.enumerated() {
            Kernels.rmsNorm(x.pointer, weight: layer.inputNorm.pointer, eps: c.rmsNormEps, rows: rows, dim: h, out: normed.pointer)
            Kernels.linear(input: normed.pointer, rows: rows, inFeatures: h, weight: layer.q.pointer, outFeatures: qDim, bias: nil, output: q.pointer)
            Kernels.linear(input: normed.pointer, rows: rows, inFeatures: h, weight: layer.k.pointer, outFeatures: kvDim, bias: nil, output: k.pointer)
            Kernels.linear(input: normed.pointer, rows: rows, inFeatures: h, weight: layer.v.pointer, outFeatures: kvDim, bias: nil, output: v.pointer)
            rope.apply(q.pointer, tokens: rows, heads: c.numHeads, positions: positions)
            rope.apply(k.pointer, tokens: rows, heads: c.numKVHeads, positions: positions)
            // Append this layer's keys and values, then attend per sequence over its own cache.
            row = 0
            for (cache, n) in zip(caches, counts) {
                let past = cache.length
                let keys = cache.keys(layer: li), values = cache.values(layer: li)
                (keys + past * kvDim).update(from: k.pointer + row * kvDim, count: n * kvDim)
                (values + past * kvDim).update(from: v.pointer + row * kvDim, count: n * kvDim)
                let group = c.numHeads / c.numKVHeads
                let scale = 1 / Float(hd).squareRoot()
                scores.withUnsafeMutableBufferPointer { s in
                    for j in 0..<n {
                        let context = past + j + 1                 // causal: up to and including this position
                        for head in 0..<c.numHeads {
                            let qRow = q.pointer + (row + j) * qDim + head * hd
                            let kvOffset = (head / group) * hd
                            for t in 0..<context {
                                s[t] = dot(qRow, keys + t * kvDim + kvOffset, hd) * scale
                            }
                            Kernels.softmax(s.baseAddress!, count: context)
                            let out = attn.pointer + (row + j) * qDim + head * hd
                            out.initialize(repeating: 0, count: hd)
                            for t in 0..<context {
                                let w = s[t], vRow = values + t * kvDim + kvOffset
                                for d in 0..<hd { out[d] += w * vRow[d] }
                            }
                        }
                    }
                }
                row += n
            }
            Kernels.linear(input: attn.pointer, rows: rows, inFeatures: qDim, weight: layer.o.pointer, outFeatures: h, bias: nil, output: projected.pointer)
            add(x.pointer, projected.pointer, rows * h)
            Kernels.rmsNorm(x.pointer, weight: layer.postNorm.pointer, eps: c.rmsNormEps, rows: rows, dim: h, out: normed.pointer)
            Kernels.linear(input: normed.pointer, rows: rows, inFeatures: h, weight: layer.gate.pointer, outFeatures: c.intermediateSize, bias: nil, output: gate.pointer)
            Kernels.linear(input: normed.pointer, rows: rows, inFeatures: h, weight: layer.up.pointer, outFeatures: c.intermediateSize, bias: nil, output: up.pointer)
            Kernels.siluMul(gate: gate.pointer, up: up.pointer, count: rows * c.intermediateSize)
            Kernels.linear(input: gate.pointer, rows: rows, inFeatures: c.intermediateSize, weight: layer.down.pointer, outFeatures: h, bias: nil, output: projected.pointer)
            add(x.pointer, projected.pointer, rows * h)
            debug?.record("gpt.layer.\(li)", x)
        }
        for (cache, n) in zip(caches, counts) { cache.length += n }
        let out = Tensor(zeros: [rows, h])
        Kernels.rmsNorm(x.pointer, weight: norm.pointer, eps: c.rmsNormEps, rows: rows, dim: h, out: out.pointer)
        debug?.record("gpt.hidden", out)
        return out
    }
}

@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        acc += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var sum = acc.sum()
    while i < n {
        sum += a[i] * b[i]
        i += 1
    }
    return sum
}

@inline(__always)
func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { x[i] += y[i] }
}
