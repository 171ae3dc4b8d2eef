import Tensors

/// What a sequence generates: audio codes (4 per step, through `head_code`) or text tokens (refinement, through
/// `head_text`).
public enum GenerationMode: Sendable {
    case code
    case text
}

/// Sampling limits of one sequence, with the official names' meaning.
public struct GenerationParams: Sendable {
    /// One temperature per codebook (code mode) or one value (text mode).
    public var temperature: [Float]
    public var topP: Float?
    public var topK: Int?
    public var repetitionPenalty: Float
    public var minNewTokens: Int
    public var maxNewTokens: Int
    public var seed: UInt64

    public init(temperature: [Float], topP: Float?, topK: Int?, repetitionPenalty: Float, minNewTokens: Int,
                maxNewTokens: Int, seed: UInt64) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.repetitionPenalty = repetitionPenalty
        self.minNewTokens = minNewTokens
        self.maxNewTokens = maxNewTokens
        self.seed = seed
    }
}

/// The per-request state of one generating sequence: its KV cache, sampler state and outputs. Owned by one
/// thread at a time (the engine's step loop); never shared.
public final class GenerationSequence: @unchecked Sendable {
    public let mode: GenerationMode
    public let params: GenerationParams
    public let cache: KVCache
    /// Rows to feed at the next step: the whole prompt first, then one row per step.
    var pending: Tensor
    /// Generated steps: numVQ codes each (code mode) or one token (text mode).
    public private(set) var tokens: [[Int]] = []
    /// [steps, hidden] flattened: the hidden state that produced each step's tokens (what the decoder reads).
    public private(set) var hiddens: [Float] = []
    public private(set) var finished = false
    /// Why the sequence stopped early, when it did not stop by itself: its KV cache could not grow (the machine is
    /// out of memory). Set together with `finished`; the other sequences of the batch go on, and the engine fails
    /// this request alone with this error.
    public private(set) var failure: (any Error)?
    /// True when the sequence stopped on EOS rather than on `maxNewTokens` or cancellation.
    public private(set) var endedOnEOS = false
    public let promptLength: Int
    var rng: SeededRNG
    let eos: Int
    let hiddenSize: Int

    init(mode: GenerationMode, params: GenerationParams, prompt: Tensor, cache: KVCache, eos: Int) {
        self.mode = mode
        self.params = params
        self.cache = cache
        pending = prompt
        promptLength = prompt.shape[0]
        rng = SeededRNG(seed: params.seed)
        self.eos = eos
        hiddenSize = prompt.shape[1]
    }

    public var steps: Int { tokens.count }

    /// The hidden states of steps `range` as a [count, hidden] tensor.
    public func hiddenStates(_ range: Range<Int>? = nil) -> Tensor {
        let r = range ?? 0..<steps
        let out = Tensor(zeros: [r.count, hiddenSize])
        hiddens.withUnsafeBufferPointer { src in
            out.pointer.update(from: src.baseAddress! + r.lowerBound * hiddenSize, count: r.count * hiddenSize)
        }
        return out
    }

    /// Stops generation at the next step boundary (a cancelled request).
    public func cancel() {
        finished = true
    }

    /// Stops generation because of `error`, which the engine reports for this request.
    func fail(_ error: any Error) {
        failure = error
        finished = true
    }

    func accept(_ step: [Int], hidden: UnsafePointer<Float>, embed: Embed) {
        let stepIndex = tokens.count
        if step.contains(eos) {
            finished = true
            endedOnEOS = true
            return
        }
        tokens.append(step)
        hiddens.append(contentsOf: UnsafeBufferPointer(start: hidden, count: hiddenSize))
        let next = Tensor(zeros: [1, hiddenSize])
        switch mode {
        case .code: embed.embedCodes(step[...], into: next.pointer)
        case .text: embed.embedText(step[0], into: next.pointer)
        }
        pending = next
        if stepIndex + 1 >= params.maxNewTokens { finished = true }
    }

    func history(_ codebook: Int) -> ArraySlice<Int> {
        tokens.suffix(16).map { $0[codebook] }[...]
    }
}

extension ChatTTSModel {
    /// A sequence ready to join a batch: `prompt` [rows, hidden] are its input embeddings. Throws when its KV
    /// cache cannot be allocated; `allocator` is where that memory comes from (tests pass one that fails).
    public func makeSequence(mode: GenerationMode, prompt: Tensor, params: GenerationParams,
                             allocator: KVCache.Allocator = .hugePages) throws(AllocationError)
        -> GenerationSequence
    {
        let capacity = initialCacheCapacity(promptLength: prompt.shape[0], maxNewTokens: params.maxNewTokens)
        let cache = try gpt.makeCache(capacity: capacity, allocator: allocator)
        let eos = mode == .code ? config.eosCode : tokenizer.id(of: "[Ebreak]") ?? -1
        return GenerationSequence(mode: mode, params: params, prompt: prompt, cache: cache, eos: eos)
    }

    /// Positions a new sequence's cache starts with: the prompt and up to 256 steps, so that short requests never
    /// grow and long ones grow a few times.
    func initialCacheCapacity(promptLength: Int, maxNewTokens: Int) -> Int {
        KVCache.rounded(promptLength + min(maxNewTokens, 256))
    }

    /// The most bytes a sequence's KV cache holds at once over its life, for admission against a memory budget.
    ///
    /// The cache starts at `initialCacheCapacity` and doubles when full, up to room for the prompt and every step
    /// but the last (the last step's token is never fed back). While it grows the old and the new buffers exist
    /// together, so after any growth the peak is the last two capacities together. Huge-page rounding is not
    /// counted (under 2 MiB per buffer).
    public func kvCacheBytes(promptLength: Int, maxNewTokens: Int) -> Int {
        let c = gpt.config
        func bytes(_ capacity: Int) -> Int {
            KVCache.bytes(capacity: capacity, layers: c.numLayers, kvHeads: c.numKVHeads, headDim: c.headDim,
                          precision: gpt.kvPrecision)
        }
        let initial = initialCacheCapacity(promptLength: promptLength, maxNewTokens: maxNewTokens)
        let final = KVCache.grown(initial, toHold: promptLength + max(maxNewTokens, 1) - 1)
        // Growth one row at a time always doubles once, so the last capacity before `final` is its half.
        return final == initial ? bytes(initial) : bytes(final) + bytes(final / 2)
    }

    /// One step for every unfinished sequence: one GPT pass over all their new rows (each weight read once for the
    /// whole batch), then per-sequence logits and sampling. Sequences may join or leave between steps.
    ///
    /// Each sequence first makes room in its cache for its new rows; one whose cache cannot grow is finished with
    /// the error as its `failure` and left out of the step, and the others step as if it had never been there.
    public func step(_ sequences: [GenerationSequence], debug: DebugSink? = nil) {
        var active: [GenerationSequence] = []
        for s in sequences where !s.finished {
            do {
                try s.cache.reserve(s.pending.shape[0])
                active.append(s)
            } catch {
                s.fail(error)
            }
        }
        guard !active.isEmpty else { return }
        let h = config.hiddenSize
        let rows = active.reduce(0) { $0 + $1.pending.shape[0] }
        let input = Tensor(zeros: [rows, h])
        var row = 0
        for s in active {
            (input.pointer + row * h).update(from: s.pending.pointer, count: s.pending.count)
            row += s.pending.shape[0]
        }
        let hidden = gpt.forward(input, counts: active.map { $0.pending.shape[0] }, caches: active.map(\.cache),
                                 debug: debug)
        // Each sequence's last row, gathered per mode, through the heads in one product per mode (each head weight
        // read once for the whole batch).
        var lastRows: [Int] = []
        row = 0
        for s in active {
            row += s.pending.shape[0]
            lastRows.append(row - 1)
        }
        let codeIndices = active.indices.filter { active[$0].mode == .code }
        let textIndices = active.indices.filter { active[$0].mode == .text }
        let codeLogits = headLogits(embed.headCodePacked, hidden: hidden, rows: codeIndices.map { lastRows[$0] })
        let textLogits = headLogits(embed.headTextPacked, hidden: hidden, rows: textIndices.map { lastRows[$0] })
        let audio = config.numAudioTokens
        for (i, s) in active.enumerated() {
            let last = hidden.pointer + lastRows[i] * h
            let stepIndex = s.steps
            // Never end before the minimum length, nor with nothing at all (the reference regenerates then).
            let masked = stepIndex < max(s.params.minNewTokens, 1) ? s.eos : nil
            var picked: [Int] = []
            switch s.mode {
            case .code:
                let base = codeLogits.pointer + codeIndices.firstIndex(of: i)! * config.numVQ * audio
                for q in 0..<config.numVQ {
                    let l = UnsafeMutableBufferPointer(start: base + q * audio, count: audio)
                    sampler(s, q).process(l, history: s.history(q), maskedToken: masked)
                    picked.append(Sampler.draw(l, rng: &s.rng))
                }
            case .text:
                let v = embed.numTextTokens
                let start = textLogits.pointer + textIndices.firstIndex(of: i)! * v
                let l = UnsafeMutableBufferPointer(start: start, count: v)
                sampler(s, 0).process(l, history: s.history(0), maskedToken: masked)
                picked.append(Sampler.draw(l, rng: &s.rng))
            }
            s.accept(picked, hidden: last, embed: embed)
        }
    }

    /// Logits [rows.count, head.rows] of the hidden states at `rows`.
    func headLogits(_ head: PackedMatrix, hidden: Tensor, rows: [Int]) -> Tensor {
        let h = config.hiddenSize
        let out = Tensor(zeros: [max(rows.count, 1), head.rows])
        guard !rows.isEmpty else { return out }
        let gathered = Tensor(zeros: [rows.count, h])
        for (i, r) in rows.enumerated() { (gathered.pointer + i * h).update(from: hidden.pointer + r * h, count: h) }
        Kernels.packedProduct(head, x: gathered.pointer, batch: rows.count, y: out.pointer, pool: gpt.pool)
        return out
    }

    func sampler(_ s: GenerationSequence, _ q: Int) -> Sampler {
        let t = s.params.temperature
        return Sampler(temperature: t.isEmpty ? 1 : t[min(q, t.count - 1)], topP: s.params.topP, topK: s.params.topK,
                       repetitionPenalty: s.params.repetitionPenalty)
    }
}
