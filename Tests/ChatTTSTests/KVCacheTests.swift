import Foundation
import Testing
import Tensors
@testable import ChatTTS

/// The KV cache's tiled layout and its growth.
@Suite("KV cache: layout and growth")
struct KVCacheTests {
    @Test("a cache that grows many times keeps every key and value where attention reads them",
          arguments: KVCache.Precision.allCases)
    func growthKeepsEverything(precision: KVCache.Precision) throws {
        let (layers, heads, dim) = (3, 2, 24)
        let cache = try KVCache(layers: layers, kvHeads: heads, headDim: dim, capacity: 1, precision: precision)
        #expect(cache.capacity == 16)
        var rng = SeededRNG(seed: 9)
        var stored: [[Float]] = []       // per (position, layer): k then v, heads side by side
        for position in 0..<75 {
            // Room for a few positions ahead, as a prefill asks: growth then happens inside a tile.
            try cache.reserve(1 + position % 5)
            for layer in 0..<layers {
                var kv = (0..<(2 * heads * dim)).map { _ in rng.gaussian() }
                if position == 7 { kv[0] = 1e6; kv[1] = -1e6 }       // beyond float16's range: saturates
                kv.withUnsafeBufferPointer { b in
                    cache.store(layer: layer, position: position, k: b.baseAddress!, v: b.baseAddress! + heads * dim)
                }
                stored.append(kv)
            }
            cache.length += 1
        }
        #expect(cache.capacity == 128)
        #expect(cache.bytes == 2 * layers * heads * 128 * dim * precision.bytes)
        /// What the cache holds for x: x itself in float32, x rounded (and clamped) to float16 otherwise.
        func held(_ x: Float) -> Float { precision == .f32 ? x : Float(KVCache.half(x)) }
        func read(_ base: UnsafeMutableRawPointer, _ index: Int) -> Float {
            precision == .f32 ? base.assumingMemoryBound(to: Float.self)[index]
                : Float(base.assumingMemoryBound(to: Float16.self)[index])
        }
        for position in 0..<75 {
            for layer in 0..<layers {
                let kv = stored[position * layers + layer]
                for h in 0..<heads {
                    let keys = cache.keys(layer: layer, head: h), values = cache.values(layer: layer, head: h)
                    for d in 0..<dim {
                        #expect(read(keys, Kernels.keyTileOffset(position: position, dimension: d, dim: dim))
                                    == held(kv[h * dim + d]))
                        #expect(read(values, position * dim + d) == held(kv[heads * dim + h * dim + d]))
                    }
                }
            }
        }
    }

    @Test("generation whose cache grows step by step equals generation in a cache that never grows")
    func growingCacheGeneratesTheSame() throws {
        let model = Fixtures.model
        var params = InferCodeParams()
        params.minNewTokens = 70
        params.maxNewTokens = 70
        params.seed = 4
        let text = model.decorateForCode("grow the cache", prompt: params.prompt, hasVoice: false)
        let ids = model.tokenizer.encode(text)
        let prompt = try model.promptEmbeddings(ids, voice: nil)
        func run(capacity: Int) throws -> GenerationSequence {
            let sequence = GenerationSequence(mode: .code, params: model.codeParams(params), prompt: prompt.copy(),
                                              cache: try model.gpt.makeCache(capacity: capacity),
                                              eos: model.config.eosCode)
            while !sequence.finished { model.step([sequence]) }
            return sequence
        }
        let growing = try run(capacity: 1), roomy = try run(capacity: 512)
        #expect(growing.steps == 70)
        #expect(growing.tokens == roomy.tokens)
        #expect(growing.hiddenStates().scalars == roomy.hiddenStates().scalars)
    }
}
