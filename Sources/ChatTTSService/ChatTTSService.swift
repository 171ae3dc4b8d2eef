import ChatTTS
import Espeak
import Foundation
import Logging
import Server
import Synthesis
import Tensors

/// Wires the ChatTTS engine into the server: the engine's part of the settings (assets, weight format, threads,
/// kernels, voices, stream chunks) becomes the engine, and the engine goes to `buildApplication`. `chattts serve`
/// and the tests call this same function; `say` and `bench engine` use `engineOptions` for the same settings.
public enum ChatTTSService {
    /// Load-time options from the settings; selects the kernel instruction set (process-wide) first.
    ///
    /// `digests`: sha256 values already computed for asset files (by relative path, as the start-up check gives
    /// them); with `cacheDirectory` set, the GPT checkpoint's is the weight cache's key, and it is computed here
    /// (a few seconds for the full model) when the check did not run.
    public static func engineOptions(_ config: ServerConfiguration, digests: [String: String] = [:]) throws
        -> EngineOptions
    {
        do {
            _ = try KernelISA.select(config.kernels == .auto ? nil : KernelISA(rawValue: config.kernels.rawValue))
        } catch {
            throw ConfigurationError(key: "kernels", message: "cannot be used: \(error)")
        }
        let format = config.dtype == .auto ? nil : WeightFormat(rawValue: config.dtype.rawValue)
        var options = EngineOptions(format: format, threads: config.threads)
        if let directory = config.cacheDirectory {
            let checkpoint = "gpt/model.safetensors"
            let digest = try digests[checkpoint]
                ?? AssetChecksums.sha256(of: URL(fileURLWithPath: config.assets).appendingPathComponent(checkpoint))
            options.weightCache = WeightCacheOptions(directory: directory, sourceDigest: digest,
                                                     memory: config.weightMemory == .shared ? .shared : .private)
        }
        return options
    }

    /// The engine the settings describe: model, voices and statistics loaded once. The statistics are the
    /// `speakerStatistics` setting's file, else the asset folder's `spk_stat.pt` when it is there.
    public static func engine(_ config: ServerConfiguration, digests: [String: String] = [:]) throws -> ChatTTSEngine {
        let assets = URL(fileURLWithPath: config.assets)
        let statisticsFile = VoiceLibrary.statisticsFile(
            assets: assets, setting: config.speakerStatistics.map(URL.init(fileURLWithPath:)))
        let statistics: SpeakerStatistics?, voices: VoiceLibrary
        do { statistics = try statisticsFile.map(SpeakerStatistics.init(contentsOf:)) } catch {
            throw ConfigurationError(key: "speakerStatistics", message: "\(error)")
        }
        do {
            voices = try VoiceLibrary(file: config.voicesFile.map(URL.init(fileURLWithPath:)), statistics: statistics)
        } catch {
            throw ConfigurationError(key: "voices", message: "\(error)")
        }
        let model = try ChatTTSModel(folder: assets, options: try engineOptions(config, digests: digests))
        if let statistics, statistics.dim != model.hiddenSize, let statisticsFile {
            throw ConfigurationError(key: "speakerStatistics", message: "\(statisticsFile.path) holds statistics of "
                                     + "\(statistics.dim) dimensions, the model's hidden size is \(model.hiddenSize)")
        }
        return ChatTTSEngine(model: model, voices: voices, chunkSteps: config.streamChunkSteps,
                             streamMode: StreamMode(rawValue: config.streamMode.rawValue) ?? .exact)
    }

    /// Checks the asset folder against its checksums (`verifyAssets`, `assetChecksums`), then loads the engine and
    /// builds the whole service around it. A missing or changed file stops the start with its name.
    public static func buildApplication(_ config: ServerConfiguration, logger: Logger? = nil) async throws
        -> SpeechApplication
    {
        try config.validate()
        let logger = logger ?? JSONLogHandler.logger(label: "chattts", level: config.logLevel, format: config.logFormat)
        if let reason = try espeakReason(config) {
            let engine: EspeakEngine
            do { engine = try EspeakEngine() } catch {
                throw ConfigurationError(key: "engine", message: "espeak cannot start: \(error)")
            }
            return try Server.buildApplication(config, engine: engine, logger: logger, warnings: reason.map { [$0] } ?? [])
        }
        let (verifyWarnings, digests) = try await verifyAssets(config, logger: logger)
        var warnings = verifyWarnings
        let started = ContinuousClock.now
        let engine = try engine(config, digests: digests)
        if let warning = logWeightCache(engine.model.weightCache, logger: logger) { warnings.append(warning) }
        return try Server.buildApplication(config, engine: engine, loadTime: .now - started, logger: logger,
                                           warnings: warnings)
    }

    /// Logs what the weight cache did at load; returns the warning to publish when it could not be used.
    static func logWeightCache(_ outcome: WeightCacheOutcome, logger: Logger) -> String? {
        switch outcome {
        case .off:
            return nil
        case .read(let path), .written(let path, _):
            logger.info("weight cache", metadata: ["outcome": "\(outcome)", "path": "\(path)"])
            return nil
        case .unavailable:
            logger.warning("weight cache unavailable", metadata: ["outcome": "\(outcome)"])
            return outcome.description
        }
    }

    /// Whether espeak speaks instead of ChatTTS, and the warning to publish then (nil when it was asked for):
    /// `auto` falls back only when the asset folder holds none of the model's files; a folder with some of them
    /// missing is an error that names them (the asset check), never a silent fallback.
    static func espeakReason(_ config: ServerConfiguration) throws -> String?? {
        let folder = URL(fileURLWithPath: config.assets)
        let present = AssetChecksums.requiredFiles.filter {
            FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path)
        }
        switch config.engine {
        case .espeak: return .some(nil)
        case .chattts:
            guard !present.isEmpty else {
                throw ConfigurationError(key: "engine", message: "chattts needs its assets, and \(config.assets) holds none of them: run `chattts download --to \(config.assets)`, or --engine espeak")
            }
            return nil
        case .auto:
            guard present.isEmpty else { return nil }
            return .some("no ChatTTS assets in \(config.assets): speaking with the espeak engine (formant speech); run `chattts download --to \(config.assets)` for ChatTTS")
        }
    }

    /// The start-up check of the asset folder; returns the warnings to publish and the sha256 of each file read
    /// (the weight cache's key reuses the checkpoint's).
    static func verifyAssets(_ config: ServerConfiguration, logger: Logger) async throws
        -> (warnings: [String], digests: [String: String])
    {
        let folder = URL(fileURLWithPath: config.assets)
        guard config.verifyAssets else {
            return (["asset verification is off (verifyAssets false): the files in \(config.assets) are not checked against their sha256"], [:])
        }
        let checksums: AssetChecksums
        do {
            checksums = try AssetChecksums.forFolder(folder, file: config.assetChecksums.map(URL.init(fileURLWithPath:)))
        } catch {
            throw ConfigurationError(key: "assetChecksums", message: "\(error)")
        }
        let result = await AssetVerification.verify(folder: folder, checksums: checksums)
        guard result.ok else {
            let custom = config.assetChecksums == nil
                ? " (held to the official release's sha256; a custom model needs --asset-checksums FILE, `chattts verify \(config.assets) --print` writes one, or --no-verify-assets)"
                : " (held to \(config.assetChecksums!))"
            throw ConfigurationError(key: "assets", message: "\(config.assets): "
                                     + result.problems.map(\.description).joined(separator: "; ") + custom)
        }
        logger.info("assets verified", metadata: [
            "files": .stringConvertible(result.digests.count), "mib": .stringConvertible(result.bytes >> 20),
            "ms": .stringConvertible(Int(result.seconds * 1000)),
        ])
        return (result.warnings, result.digests)
    }
}
