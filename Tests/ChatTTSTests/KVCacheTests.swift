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
                // Multiples of 1/256 below 8 in magnitude: exact in float16 too, so every precision holds them as
                // they are (rounding has its own test).
                let kv = (0..<(2 * heads * dim)).map { _ in
                    max(-2047, min(2047, (rng.gaussian() * 256).rounded())) / 256
                }
                kv.withUnsafeBufferPointer { b in
                    cache.store(layer: layer, position: position, k: b.baseAddress!, v: b.baseAddress! + heads * dim)
                }
                stored.append(kv)
            }
            cache.length += 1
        }
        #expect(cache.capacity == 128)
        #expect(cache.bytes == 2 * layers * heads * 128 * dim * precision.bytes)
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
                                    == kv[h * dim + d])
                        #expect(read(values, position * dim + d) == kv[heads * dim + h * dim + d])
                    }
                }
            }
        }
    }

    /// Known float16 values, written out: the expectation does not go through the conversion under test.
    @Test("float16 storage rounds to nearest, ties to even, and saturates at ±65504 instead of becoming infinite")
    func float16RoundsAndSaturates() throws {
        let cases: [(stored: Float, held: Float)] = [
            (1, 1), (-2.5, -2.5), (0, 0), (-0.0, -0.0),
            (0.1, 0.0999755859375),                     // nearest of 1638 and 1639 * 2^-14
            (65504, 65504), (65519, 65504),             // the largest half, and just below the halfway to 65536
            (70000, 65504), (1e6, 65504), (-1e6, -65504), (.infinity, 65504), (-.infinity, -65504),
            (1 + 0x1p-11, 1), (1 + 3 * 0x1p-11, 1 + 0x1p-9),    // halfway between two halves: the even one
            (2049, 2048), (2051, 2052),
            (0x1p-24, 0x1p-24), (0x1p-25, 0), (3 * 0x1p-25, 0x1p-23),   // subnormals, ties to even as well
        ]
        let dim = cases.count
        let cache = try KVCache(layers: 1, kvHeads: 1, headDim: dim, capacity: 16, precision: .f16)
        let stored = cases.map(\.stored)
        stored.withUnsafeBufferPointer { b in cache.store(layer: 0, position: 3, k: b.baseAddress!, v: b.baseAddress!) }
        let keys = cache.keys(layer: 0, head: 0).assumingMemoryBound(to: Float16.self)
        let values = cache.values(layer: 0, head: 0).assumingMemoryBound(to: Float16.self)
        for (d, c) in cases.enumerated() {
            let key = Float(keys[Kernels.keyTileOffset(position: 3, dimension: d, dim: dim)])
            let value = Float(values[3 * dim + d])
            // Bit patterns, so that -0 is told from 0.
            #expect(key.bitPattern == c.held.bitPattern, "key of \(c.stored): \(key), expected \(c.held)")
            #expect(value.bitPattern == c.held.bitPattern, "value of \(c.stored): \(value), expected \(c.held)")
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
