import Foundation
import Testing
import Tensors
@testable import ChatTTS

/// One request's memory running out fails that request alone: its KV cache cannot be made or cannot grow, the
/// sequence ends with the error, and the sequences batched with it go on as if it had never been there.
@Suite("Allocation failure: one sequence fails, the others go on")
struct AllocationFailureTests {
    let model = Fixtures.model

    /// Memory refused past `limit` bytes a region, as the system refuses it when the machine is full.
    static func refusing(above limit: Int) -> KVCache.Allocator {
        KVCache.Allocator { bytes throws(AllocationError) in
            guard bytes <= limit else { throw AllocationError(byteCount: bytes, errno: ENOMEM) }
            return try HugePageRegion(byteCount: bytes)
        }
    }

    func prompt(_ text: String) throws -> Tensor {
        let ids = model.tokenizer.encode(model.decorateForCode(text, prompt: InferCodeParams().prompt, hasVoice: false))
        return try model.promptEmbeddings(ids, voice: nil)
    }

    func params(steps: Int, seed: UInt64) -> GenerationParams {
        var p = InferCodeParams()
        p.minNewTokens = steps
        p.maxNewTokens = steps
        p.seed = seed
        return model.codeParams(p)
    }

    @Test("a sequence whose cache cannot be made is refused by makeSequence with the allocation error")
    func cacheThatCannotBeMadeThrows() throws {
        let error = #expect(throws: AllocationError.self) {
            try model.makeSequence(mode: .code, prompt: try prompt("no room at all"), params: params(steps: 4, seed: 1),
                                   allocator: Self.refusing(above: 0))
        }
        #expect(error?.errno == ENOMEM)
    }

    @Test("a sequence whose cache cannot grow fails midway alone; its batch mate generates what it does alone")
    func growthFailureFailsOneSequence() throws {
        let steps = 40
        let survivorPrompt = try prompt("the one that goes on")
        let alone = try model.makeSequence(mode: .code, prompt: survivorPrompt.copy(),
                                           params: params(steps: steps, seed: 5))
        model.generate([alone])
        #expect(alone.steps == steps && alone.failure == nil)

        // The other starts with room for its prompt and a few steps, and may never map a larger region.
        let failingPrompt = try prompt("the one that runs out of memory")
        let capacity = failingPrompt.shape[0] + 8
        let limit = try model.gpt.makeCache(capacity: capacity).bytes / 2
        let cache = try model.gpt.makeCache(capacity: capacity, allocator: Self.refusing(above: limit))
        let failing = GenerationSequence(mode: .code, params: params(steps: steps, seed: 6),
                                         prompt: failingPrompt.copy(), cache: cache, eos: model.config.eosCode)
        let survivor = try model.makeSequence(mode: .code, prompt: survivorPrompt.copy(),
                                              params: params(steps: steps, seed: 5))
        model.generate([failing, survivor])

        // It stepped until its cache was full (the prompt and every fed-back step in it), then failed.
        let held = failing.cache.capacity
        #expect(failing.finished && !failing.endedOnEOS)
        #expect(failing.steps == held - failingPrompt.shape[0] + 1 && failing.steps < steps)
        let error = try #require(failing.failure as? AllocationError)
        #expect(error.byteCount == 2 * limit)
        // What it produced before failing is what it produces with room to spare.
        let roomy = try model.makeSequence(mode: .code, prompt: failingPrompt.copy(),
                                           params: params(steps: steps, seed: 6))
        model.generate([roomy])
        #expect(Array(roomy.tokens.prefix(failing.steps)) == failing.tokens)

        #expect(survivor.failure == nil && survivor.steps == steps)
        #expect(survivor.tokens == alone.tokens)
        #expect(survivor.hiddenStates().scalars == alone.hiddenStates().scalars)
    }

    /// Lengths around the growth point: none, one step short of growing, growing on the last fed-back step, and
    /// well past it. Run together, so that the real `step` decides how many rows each cache holds.
    @Test("kvCacheBytes is the peak of the cache's bytes over a sequence's life, the growth's overlap counted")
    func kvCacheBytesIsThePeak() throws {
        let prompt = try prompt("how much memory")
        let p = prompt.shape[0], initial = KVCache.rounded(p + 256)
        let lengths = [1, 20, initial - p + 1, initial - p + 2, 320]
        let sequences = try lengths.enumerated().map { i, steps in
            try model.makeSequence(mode: .code, prompt: prompt.copy(), params: params(steps: steps, seed: UInt64(i)))
        }
        var peaks = sequences.map(\.cache.bytes)
        while sequences.contains(where: { !$0.finished }) {
            let before = sequences.map(\.cache.bytes)
            model.step(sequences)
            for (i, s) in sequences.enumerated() where s.cache.bytes != before[i] {
                peaks[i] = max(peaks[i], before[i] + s.cache.bytes)     // old and new buffers while copying
            }
        }
        for (i, steps) in lengths.enumerated() {
            #expect(sequences[i].steps == steps)
            #expect(model.kvCacheBytes(promptLength: p, maxNewTokens: steps) == peaks[i], "\(steps) steps")
        }
        #expect(sequences[2].cache.capacity == initial, "the last fed-back step fills the cache exactly")
        #expect(sequences[3].cache.capacity == 2 * initial)
    }
}
