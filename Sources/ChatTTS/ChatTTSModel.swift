import Foundation
import Tensors

/// The whole model, loaded once per process from a folder in the official asset layout and shared read-only by
/// every request. Every dimension comes from the files.
public final class ChatTTSModel: Sendable {
    public let folder: URL
    public let config: GPTConfig
    public let tokenizer: Tokenizer
    public let embed: Embed
    public let gpt: GPT
    public let decoder: Decoder
    public let vocos: Vocos
    /// The DVAE's encoder, for voice samples (`sample(waveform:transcript:)`); nil when the folder has no
    /// `DVAE.safetensors` (optional: synthesis never reads it).
    public let dvae: DVAEEncoder?
    /// Output sample rate: Vocos hop (256) times the mel frame rate (93.75 Hz).
    public let sampleRate = 24000

    /// The files a folder must hold, relative to it.
    public static let requiredFiles = [
        "gpt/config.json", "gpt/model.safetensors", "Embed.safetensors", "Decoder.safetensors", "Vocos.safetensors",
        "tokenizer/tokenizer.json",
    ]

    /// Read when present: cloning a voice from a sample needs it, synthesis does not.
    public static let dvaeFile = "DVAE.safetensors"

    /// How the model was loaded (weight format resolved, thread count).
    public let options: EngineOptions
    /// What the GPT weight cache did (`EngineOptions.weightCache`), for the start-up log.
    public let weightCache: WeightCacheOutcome

    public convenience init(folder: URL) throws {
        try self.init(folder: folder, options: EngineOptions())
    }

    public init(folder: URL, options: EngineOptions) throws {
        self.folder = folder
        for file in Self.requiredFiles {
            let path = folder.appendingPathComponent(file).path
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ModelError(path, "missing: an asset folder needs \(Self.requiredFiles.joined(separator: ", "))")
            }
        }
        let gptFolder = folder.appendingPathComponent("gpt").path
        config = try GPTConfig.load(path: gptFolder + "/config.json")
        tokenizer = try Tokenizer(contentsOf: folder.appendingPathComponent("tokenizer"))
        let format = options.resolvedFormat(gptParameters: config.parameterCount)
        var resolved = options
        resolved.format = format
        // The asset folder stays read-only: a cache directory inside it is refused, not written.
        let refused = options.weightCache.flatMap { Self.refusal(cacheDirectory: $0.directory, assets: folder) }
        if refused != nil { resolved.weightCache = nil }
        self.options = resolved
        let pool = WorkerPool(threads: resolved.threadCount)
        embed = try Embed(path: folder.appendingPathComponent("Embed.safetensors").path, config: config, format: format,
                          groupSize: resolved.groupSize)
        gpt = try GPT(path: gptFolder + "/model.safetensors", config: config, options: resolved, pool: pool)
        weightCache = refused.map(WeightCacheOutcome.unavailable) ?? gpt.weightCache
        decoder = try Decoder(path: folder.appendingPathComponent("Decoder.safetensors").path, pool: pool)
        vocos = try Vocos(path: folder.appendingPathComponent("Vocos.safetensors").path, pool: pool)
        let dvaePath = folder.appendingPathComponent(Self.dvaeFile).path
        dvae = FileManager.default.fileExists(atPath: dvaePath)
            ? try DVAEEncoder(path: dvaePath, numVQ: config.numVQ, pool: pool) : nil
        guard decoder.inputChannels * 2 == config.hiddenSize else {
            throw ModelError(folder.appendingPathComponent("Decoder.safetensors").path,
                             "decoder reads \(decoder.inputChannels * 2) hidden channels, the GPT makes \(config.hiddenSize)")
        }
        guard decoder.melChannels == vocos.melChannels else {
            throw ModelError(folder.appendingPathComponent("Vocos.safetensors").path,
                             "Vocos reads \(vocos.melChannels) mel channels, the decoder makes \(decoder.melChannels)")
        }
        if let dvae, dvae.quantizer.codebookSize > config.eosCode {
            throw ModelError(dvaePath, "the DVAE makes codes up to \(dvae.quantizer.codebookSize - 1), the GPT's "
                                 + "codes end below \(config.eosCode) (its EOS)")
        }
        guard tokenizer.count <= config.numTextTokens else {
            throw ModelError(folder.appendingPathComponent("tokenizer/tokenizer.json").path,
                             "\(tokenizer.count) tokens, but the model embeds only \(config.numTextTokens)")
        }
    }

    /// Why `directory` may not hold the weight cache: it is the asset folder or inside it (symbolic links
    /// resolved). Nil when it may.
    static func refusal(cacheDirectory directory: String, assets: URL) -> String? {
        let resolve = { (url: URL) in url.standardizedFileURL.resolvingSymlinksInPath().path }
        let cache = resolve(URL(fileURLWithPath: directory)), folder = resolve(assets)
        guard cache == folder || cache.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") else { return nil }
        return "\(directory) is inside the asset folder \(assets.path), which is never written"
    }

    public var hiddenSize: Int { config.hiddenSize }
    /// Waveform samples per generated step (two mel frames of 256 samples).
    public var samplesPerStep: Int { 2 * vocos.hop }
}

/// Load-time choices of the engine: the weight format of the GPT and its heads, and the compute threads.
public struct EngineOptions: Sendable, Equatable {
    /// nil chooses (`resolvedFormat`): int8 when the GPT's float32 weights would not fit in a CPU cache (the real
    /// model, 760 MB: each step streams them from memory, so fewer bytes is faster), float32 for small models
    /// (the test fixtures), where memory is not the limit and the exact format costs nothing.
    public var format: WeightFormat?
    /// Threads of the matrix products and attention; nil means one per core.
    public var threads: Int?
    /// Columns per int8 scale.
    public var groupSize: Int

    /// How KV caches store keys and values; nil chooses (`resolvedKVCache`): float32 with float32 weights (the
    /// exact reference path), float16 with bf16 or int8 weights (half the bytes attention reads, far less error
    /// than the weights' rounding).
    public var kvCache: KVCache.Precision?

    /// Where converted GPT weights are cached between processes (shared by replicas); nil converts in memory.
    public var weightCache: WeightCacheOptions?

    public init(format: WeightFormat? = nil, threads: Int? = nil, groupSize: Int = PackedMatrix.defaultGroupSize,
                kvCache: KVCache.Precision? = nil, weightCache: WeightCacheOptions? = nil) {
        self.format = format
        self.threads = threads
        self.groupSize = groupSize
        self.kvCache = kvCache
        self.weightCache = weightCache
    }

    public func resolvedKVCache(format: WeightFormat) -> KVCache.Precision {
        if let kvCache { return kvCache }
        return format == WeightFormat.f32 ? KVCache.Precision.f32 : KVCache.Precision.f16
    }

    /// Below this many GPT parameters (float32 bytes / 4) the automatic choice keeps float32: 16 M parameters,
    /// 64 MB, twice the largest last-level cache of the machines we run on.
    public static let quantizeAbove = 16 << 20

    public func resolvedFormat(gptParameters: Int) -> WeightFormat {
        format ?? (gptParameters > Self.quantizeAbove ? .int8 : .f32)
    }

    public var threadCount: Int { max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount) }
}
