import Foundation
import Tensors

/// Where and under which key the GPT's packed weights are cached between processes (`PackedWeightCache`): replicas
/// on one host map one read-only copy instead of each converting the float32 checkpoint into private memory.
public struct WeightCacheOptions: Sendable, Equatable {
    /// A writable directory, never the asset folder (`ChatTTSModel` refuses one inside it); created if missing.
    public var directory: String
    /// The sha256 (hex) of `gpt/model.safetensors`: the file's identity in the cache key. The caller computes it,
    /// or reuses the value the start-up asset check computed (`ChatTTSService`); this module does no hashing.
    public var sourceDigest: String
    /// How the weights are held once read from the file.
    public var memory: Memory

    /// `shared`: the read-only file mapping itself (one copy per host, in the page cache). `private`: a copy in
    /// this process's huge-page memory (fast start, the huge-page speed, no sharing).
    public enum Memory: String, Sendable, CaseIterable {
        case shared
        case `private`
    }

    public init(directory: String, sourceDigest: String, memory: Memory = .shared) {
        self.directory = directory
        self.sourceDigest = sourceDigest
        self.memory = memory
    }
}

/// What the weight cache did during a load, for the start-up log and the service's warnings.
public enum WeightCacheOutcome: Sendable, Equatable, CustomStringConvertible {
    /// No cache directory was set: the weights were converted into private memory.
    case off
    /// The weights came from the file at `path`; nothing was converted.
    case read(path: String)
    /// The weights were converted and written to `path` (and are now read from it); `replacing` says why a file
    /// already there was not used (nil when there was none).
    case written(path: String, replacing: String?)
    /// The cache could not be used (the reason names the directory or file); the weights were converted into
    /// private memory as without a cache.
    case unavailable(String)

    public var description: String {
        switch self {
        case .off: "no weight cache"
        case .read(let path): "packed weights read from \(path)"
        case .written(let path, nil): "packed weights written to \(path)"
        case .written(let path, let reason?): "packed weights written to \(path), replacing a file not used (\(reason))"
        case .unavailable(let reason): "weight cache unavailable, weights converted in memory: \(reason)"
        }
    }
}

extension GPT {
    /// The cache file of this GPT's projections, in `Layer.matrices` order, for the options' format and group.
    static func cacheFile(_ options: WeightCacheOptions, config: GPTConfig, format: WeightFormat,
                          groupSize: Int) -> PackedWeightCache {
        let h = config.hiddenSize, qDim = config.numHeads * config.headDim, kvDim = config.numKVHeads * config.headDim
        let m = config.intermediateSize
        let specs = (0..<config.numLayers).flatMap { i in
            [("qkv", qDim + 2 * kvDim, h), ("o", h, qDim), ("gateUp", 2 * m, h), ("down", h, m)].map {
                PackedWeightCache.Spec(name: "layers.\(i).\($0.0)", rows: $0.1, cols: $0.2, format: format,
                                       groupSize: groupSize)
            }
        }
        return PackedWeightCache(directory: options.directory, source: "sha256 \(options.sourceDigest)", specs: specs)
    }

    /// The cached matrices when the file is valid; else nil, why (nil reason: no file yet), and the writer's lock,
    /// taken after the first look and held until `storeCache`: a process that waited for another's conversion
    /// reads its file instead of converting too.
    static func readCache(_ cache: PackedWeightCache, memory: WeightCacheOptions.Memory)
        -> (matrices: [PackedMatrix]?, problem: String?, lock: PackedWeightCache.WriterLock?)
    {
        func read() -> ([PackedMatrix]?, String?) {
            do { return (try cache.read(copyInto: memory == .private ? WeightArena() : nil), nil) } catch {
                return (nil, error.code == .missing ? nil : error.message)
            }
        }
        let first = read()
        if first.0 != nil { return (first.0, nil, nil) }
        let lock = cache.lockForWriting()
        let second = read()
        if second.0 != nil {
            lock?.release()
            return (second.0, nil, nil)
        }
        return (nil, second.1, lock)
    }

    /// Writes freshly packed layers to the cache and, for shared memory, gives back layers that read the file's
    /// mapping (so the first replica shares its copy too and its private one is freed). A failure keeps `layers`.
    static func storeCache(_ layers: [Layer], cache: PackedWeightCache, memory: WeightCacheOptions.Memory,
                           replacing: String?, lock: PackedWeightCache.WriterLock?)
        -> (layers: [Layer], outcome: WeightCacheOutcome)
    {
        defer { lock?.release() }
        do {
            try cache.write(layers.flatMap(\.matrices), replacing: replacing != nil)
        } catch {
            return (layers, .unavailable(error.description))
        }
        let outcome = WeightCacheOutcome.written(path: cache.path, replacing: replacing)
        guard memory == .shared else { return (layers, outcome) }
        // Another process's file may be the one in place (it came first, or renamed over ours): read whichever is.
        guard let mapped = try? cache.read() else { return (layers, outcome) }
        return (layers.enumerated().map { i, layer in layer.replacing(mapped[(4 * i)..<(4 * i + 4)]) }, outcome)
    }
}

extension GPT.Layer {
    /// The packed projections, in the cache file's order.
    var matrices: [PackedMatrix] { [qkv, o, gateUp, down] }

    /// This layer with its projections taken from `m` (in `matrices` order).
    func replacing(_ m: ArraySlice<PackedMatrix>) -> GPT.Layer {
        let m = Array(m)
        return GPT.Layer(inputNorm: inputNorm, qkv: m[0], o: m[1], postNorm: postNorm, gateUp: m[2], down: m[3])
    }
}
