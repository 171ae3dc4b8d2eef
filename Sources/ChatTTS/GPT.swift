import Tensors

/// The ChatTTS GPT: a Llama decoder (RMSNorm, RoPE, SiLU MLP, no biases) fed with embeddings, never token ids.
/// Its own `embed_tokens` table in the checkpoint is unused and not loaded.
///
/// The projections are converted once at load into `PackedMatrix` (float32, bfloat16 or int8, see
/// `EngineOptions`), with q, k, v stacked into one matrix and gate, up into another, so a layer makes four passes
/// over its weights, each split across the worker pool and shared by every input row of the step.
public struct GPT: Sendable {
    public struct Layer: Sendable {
        public let inputNorm: Tensor        // [hidden]
        /// q, k, v stacked: [heads * headDim + 2 * kvHeads * headDim, hidden]
        public let qkv: PackedMatrix
        public let o: PackedMatrix          // [hidden, heads * headDim]
        public let postNorm: Tensor         // [hidden]
        /// gate, up stacked: [2 * intermediate, hidden]
        public let gateUp: PackedMatrix
        public let down: PackedMatrix       // [hidden, intermediate]
    }

    public let config: GPTConfig
    public let layers: [Layer]
    public let norm: Tensor            // [hidden]
    public let format: WeightFormat
    /// How new caches store keys and values (`EngineOptions.kvCache`).
    public let kvPrecision: KVCache.Precision
    /// Threads of the matrix products and attention; shared with the heads (`ChatTTSModel.step`).
    public let pool: WorkerPool
    /// Whether the projections came from, went to or bypassed the weight cache (`EngineOptions.weightCache`).
    public let weightCache: WeightCacheOutcome
    let rope: RopeTable

    public init(folder: String, options: EngineOptions = EngineOptions()) throws {
        let config = try GPTConfig.load(path: folder + "/config.json")
        try self.init(path: folder + "/model.safetensors", config: config, options: options)
    }

    public init(path: String, config: GPTConfig, options: EngineOptions = EngineOptions(),
                pool: WorkerPool? = nil) throws {
        self.config = config
        let loader = try WeightLoader(path: path)
        // transformers saves a bare LlamaModel without a prefix; a LlamaForCausalLM checkpoint has "model.".
        let root = loader.file.tensors["norm.weight"] == nil && loader.file.tensors["model.norm.weight"] != nil
            ? loader.root.scope("model") : loader.root
        let h = config.hiddenSize, qDim = config.numHeads * config.headDim, kvDim = config.numKVHeads * config.headDim
        let m = config.intermediateSize
        let format = options.resolvedFormat(gptParameters: config.parameterCount)
        self.format = format
        kvPrecision = options.resolvedKVCache(format: format)
        let group = options.groupSize
        // Every layer's matrices in shared huge-page regions: a step streams them all.
        let arena = WeightArena()
        // With a cache directory, a valid file replaces the packing (GPTWeightCache.swift).
        let cache = options.weightCache.map { Self.cacheFile($0, config: config, format: format, groupSize: group) }
        let (cached, cacheProblem, writerLock) = cache.map { Self.readCache($0, memory: options.weightCache!.memory) }
            ?? (nil, nil, nil)
        var packedCount = 0
        /// Packs matrices stacked by rows, then lets go of the float32 source pages.
        func pack(_ parts: [Tensor]) throws -> PackedMatrix {
            defer { packedCount += 1 }
            if let cached { return cached[packedCount] }
            let cols = parts[0].shape[1]
            var owners: [(Tensor, Int)] = []
            for p in parts { for r in 0..<p.shape[0] { owners.append((p, r)) } }
            let packed = try PackedMatrix(rows: owners.count, cols: cols, format: format, groupSize: group,
                                      arena: arena) { r in
                UnsafePointer(owners[r].0.pointer + owners[r].1 * cols)
            }
            for p in parts { p.storage.releaseMappedPages() }
            return packed
        }
        var built = try (0..<config.numLayers).map { i in
            let l = root.scope("layers").scope(i)
            return Layer(
                inputNorm: try l("input_layernorm.weight", shape: [h]).copy(),
                qkv: try pack([try l("self_attn.q_proj.weight", shape: [qDim, h]),
                               try l("self_attn.k_proj.weight", shape: [kvDim, h]),
                               try l("self_attn.v_proj.weight", shape: [kvDim, h])]),
                o: try pack([try l("self_attn.o_proj.weight", shape: [h, qDim])]),
                postNorm: try l("post_attention_layernorm.weight", shape: [h]).copy(),
                gateUp: try pack([try l("mlp.gate_proj.weight", shape: [m, h]),
                                   try l("mlp.up_proj.weight", shape: [m, h])]),
                down: try pack([try l("mlp.down_proj.weight", shape: [h, m])]))
        }
        var outcome = cache.map { WeightCacheOutcome.read(path: $0.path) } ?? .off
        if let cache, cached == nil {
            (built, outcome) = Self.storeCache(built, cache: cache, memory: options.weightCache!.memory,
                                               replacing: cacheProblem, lock: writerLock)
        }
        layers = built
        weightCache = outcome
        norm = try root("norm.weight", shape: [h]).copy()
        try loader.finish(ignoring: { $0.hasSuffix("embed_tokens.weight") || $0.hasSuffix("rotary_emb.inv_freq") })
        rope = RopeTable(headDim: config.headDim, theta: config.ropeTheta, maxPositions: config.maxPositions)
        self.pool = pool ?? WorkerPool(threads: options.threadCount)
    }

    /// Bytes of weights one step reads (every projection once).
    public var weightBytes: Int {
        layers.reduce(0) { $0 + $1.qkv.bytes + $1.o.bytes + $1.gateUp.bytes + $1.down.bytes }
    }

    /// A cache for `capacity` positions in this model's shape and `kvPrecision`. `allocator`: where its memory comes
    /// from (tests pass one that fails); throws when that memory cannot be had.
    public func makeCache(capacity: Int, allocator: KVCache.Allocator = .hugePages) throws(AllocationError)
        -> KVCache
    {
        try KVCache(layers: config.numLayers, kvHeads: config.numKVHeads, headDim: config.headDim, capacity: capacity,
                    precision: kvPrecision, allocator: allocator)
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
        let qDim = c.numHeads * hd, kvDim = c.numKVHeads * hd, qkvDim = qDim + 2 * kvDim
        let m = c.intermediateSize
        for (cache, n) in zip(caches, counts) { precondition(cache.length + n <= cache.capacity, "reserve first") }

        let x = input.copy()                                  // residual stream [rows, hidden]
        let normed = Tensor(zeros: [rows, h])
        let qkv = Tensor(zeros: [rows, qkvDim])               // q | k | v per row
        let attn = Tensor(zeros: [rows, qDim])
        let gateUp = Tensor(zeros: [rows, 2 * m])              // gate | up per row
        let act = Tensor(zeros: [rows, m])
        var positions = [Int](repeating: 0, count: rows)
        var sequenceOf = [Int](repeating: 0, count: rows)
        var firstRow = [Int](repeating: 0, count: caches.count)
        var row = 0
        for (s, (cache, n)) in zip(caches, counts).enumerated() {
            firstRow[s] = row
            for j in 0..<n { (positions[row + j], sequenceOf[row + j]) = (cache.length + j, s) }
            row += n
        }
        let rowPositions = positions, rowSequences = sequenceOf
        let attention = Attention(heads: c.numHeads, kvHeads: c.numKVHeads, headDim: hd, caches: caches,
                                  counts: counts, firstRows: firstRow)

        for (li, layer) in layers.enumerated() {
            Kernels.rmsNorm(x.pointer, weight: layer.inputNorm.pointer, eps: c.rmsNormEps, rows: rows, dim: h,
                            out: normed.pointer)
            Kernels.packedProduct(layer.qkv, x: normed.pointer, batch: rows, y: qkv.pointer, pool: pool)
            rope.apply(qkv.pointer, tokens: rows, heads: c.numHeads, positions: positions, tokenStride: qkvDim)
            rope.apply(qkv.pointer + qDim, tokens: rows, heads: c.numKVHeads, positions: positions, tokenStride: qkvDim)
            // Append this layer's keys and values, then attend per sequence over its own cache.
            forEachRows(rows) { range in
                for r in range {
                    let src = qkv.pointer + r * qkvDim
                    caches[rowSequences[r]].store(layer: li, position: rowPositions[r], k: src + qDim,
                                                  v: src + qDim + kvDim)
                }
            }
            attention.run(layer: li, qkv: qkv.pointer, qkvStride: qkvDim, out: attn.pointer, pool: pool)
            // x += o(attn), in the product's epilogue.
            Kernels.packedProduct(layer.o, x: attn.pointer, batch: rows, y: x.pointer, accumulate: true, pool: pool)
            Kernels.rmsNorm(x.pointer, weight: layer.postNorm.pointer, eps: c.rmsNormEps, rows: rows, dim: h,
                            out: normed.pointer)
            Kernels.packedProduct(layer.gateUp, x: normed.pointer, batch: rows, y: gateUp.pointer, pool: pool)
            forEachRows(rows) { range in
                for r in range {
                    let g = gateUp.pointer + r * 2 * m
                    Kernels.siluMul(gate: g, up: g + m, count: m, isa: .best)
                    (act.pointer + r * m).update(from: g, count: m)
                }
            }
            Kernels.packedProduct(layer.down, x: act.pointer, batch: rows, y: x.pointer, accumulate: true, pool: pool)
            debug?.record("gpt.layer.\(li)", x)
        }
        for (cache, n) in zip(caches, counts) { cache.length += n }
        let out = Tensor(zeros: [rows, h])
        Kernels.rmsNorm(x.pointer, weight: norm.pointer, eps: c.rmsNormEps, rows: rows, dim: h, out: out.pointer)
        debug?.record("gpt.hidden", out)
        return out
    }
}

extension GPTConfig {
    /// Weights of the GPT's projections (what a decode step reads).
    public var parameterCount: Int {
        let qDim = numHeads * headDim, kvDim = numKVHeads * headDim
        return numLayers * (hiddenSize * (qDim + 2 * kvDim) + qDim * hiddenSize + 3 * hiddenSize * intermediateSize)
    }
}

/// Causal attention of new rows over their sequences' KV caches, one task per (sequence, head) on the pool.
struct Attention {
    let heads: Int
    let kvHeads: Int
    let headDim: Int
    let caches: [KVCache]
    let counts: [Int]
    let firstRows: [Int]
    let maxContext: Int

    init(heads: Int, kvHeads: Int, headDim: Int, caches: [KVCache], counts: [Int], firstRows: [Int]) {
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.caches = caches
        self.counts = counts
        self.firstRows = firstRows
        maxContext = zip(caches, counts).map { $0.length + $1 }.max() ?? 0
    }

    /// qkv: [rows, qkvStride] with q at offset 0 (already rotated); the caches already hold this layer's new keys
    /// and values at positions length..<length + count. out: [rows, heads * headDim].
    func run(layer: Int, qkv: UnsafeMutablePointer<Float>, qkvStride: Int, out: UnsafeMutablePointer<Float>,
             pool: WorkerPool) {
        // Prompts (many rows of one sequence) in query tiles (`PromptAttention.swift`); the others row by row.
        runBlocked(layer: layer, qkv: qkv, qkvStride: qkvStride, out: out, pool: pool)
        let tasks = caches.count * heads
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, tasks * maxContext))
        defer { scratch.deallocate() }
        let shared = AttentionBuffers(qkv: qkv, out: out, scratch: scratch)
        let work = zip(caches, counts).reduce(0) { $0 + ($1.0.length + $1.1) * $1.1 } * heads * headDim
        let body: (Int) -> Void = { t in
            let (s, head) = t.quotientAndRemainder(dividingBy: heads)
            if self.blocked(s) { return }
            self.attend(sequence: s, head: head, layer: layer, buffers: shared, qkvStride: qkvStride,
                        scores: shared.scratch + t * maxContext)
        }
        if work < 1 << 15 {
            for t in 0..<tasks { body(t) }
        } else {
            pool.run(tasks: tasks, body)
        }
    }

    func attend(sequence s: Int, head: Int, layer: Int, buffers: AttentionBuffers, qkvStride: Int,
                scores: UnsafeMutablePointer<Float>) {
        let cache = caches[s], n = counts[s], past = cache.length
        let qDim = heads * headDim
        let kvHead = head / (heads / kvHeads)
        let keys = cache.keys(layer: layer, head: kvHead), values = cache.values(layer: layer, head: kvHead)
        let scale = 1 / Float(headDim).squareRoot()
        for j in 0..<n {
            let r = firstRows[s] + j
            let q = buffers.qkv + r * qkvStride + head * headDim
            let context = past + j + 1                 // causal: up to and including this position
            let out = buffers.out + r * qDim + head * headDim
            Kernels.attentionScores(q: q, keyTiles: keys, precision: cache.precision, count: context, dim: headDim,
                                    scale: scale, out: scores)
            Kernels.softmax(scores, count: context)
            Kernels.attentionMix(weights: scores, values: values, precision: cache.precision, stride: headDim,
                                 count: context, dim: headDim, out: out)
        }
    }
}

/// Raw buffers of one attention call, shared by its tasks. Sound as `@unchecked Sendable` because every task writes
/// only its own rows' head slice of `out` and its own stretch of `scratch`, and only reads `qkv` and the caches.
struct AttentionBuffers: @unchecked Sendable {
    let qkv: UnsafeMutablePointer<Float>
    let out: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<Float>
}

@inline(__always)
func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { x[i] += y[i] }
}
