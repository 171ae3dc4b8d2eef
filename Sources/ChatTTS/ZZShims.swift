// TEMPORARY: replaced by the allocation work at merge.
public struct AllocationError: Error {}
extension GenerationSequence { public var failure: (any Error)? { nil } }
extension ChatTTSModel {
    public func kvCacheBytes(promptLength: Int, maxNewTokens: Int) -> Int {
        2 * config.numLayers * config.numKVHeads * config.headDim * 4 * (promptLength + maxNewTokens) * 2
    }
}
