import ArgumentParser
import ChatTTS
import ChatTTSService
import Server

/// The engine options `say`, `serve` and `bench engine` share: one declaration, whose help and validation come from
/// the server's settings table (`ServerConfiguration.settings`), so `--dtype` means the same everywhere.
struct EngineFlags: ParsableArguments {
    @Option(help: ArgumentHelp(Self.help("assets")))
    var assets: String?

    @Option(help: ArgumentHelp(Self.help("dtype")))
    var dtype: String?

    @Option(help: ArgumentHelp(Self.help("threads")))
    var threads: Int?

    @Option(help: ArgumentHelp(Self.help("kernels")))
    var kernels: String?

    @Option(help: ArgumentHelp(Self.help("cacheDirectory")))
    var cacheDirectory: String?

    static func help(_ key: String) -> String {
        guard let s = ServerConfiguration.setting(key) else { return "" }
        return "\(s.doc) (\(s.limit); default \(s.defaultDescription); \(s.environmentName))"
    }

    /// The flags that were given, as command-line arguments of the settings table.
    var arguments: [String] {
        var out: [String] = []
        for (key, value) in [("assets", assets), ("dtype", dtype), ("threads", threads.map(String.init)), ("kernels", kernels),
                             ("cacheDirectory", cacheDirectory)] {
            if let value, let s = ServerConfiguration.setting(key) { out += [s.flag, value] }
        }
        return out
    }

    /// The settings with these flags applied over `base` (defaults when not given).
    func configuration(_ base: ServerConfiguration = ServerConfiguration()) throws -> ServerConfiguration {
        var config = base
        do { try config.apply(flags: arguments) } catch { throw ValidationError(error.description) }
        return config
    }

    /// Load-time options of the model (weight format, threads); selects the kernels.
    func engineOptions() throws -> EngineOptions {
        do { return try ChatTTSService.engineOptions(try configuration()) } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    var assetFolder: String { assets ?? ServerConfiguration().assets }
}
