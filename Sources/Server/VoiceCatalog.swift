import ChatTTS
import Foundation
import Synthesis

/// The voices a request may name: the configured ones (from the read-only voices file), `seed:N`, raw voice strings,
/// and OpenAI's built-in names, so that clients written for OpenAI work without changes.
///
/// An OpenAI name that the voices file does not define is a fixed seed voice (`alloy` = `seed:1001`, ...), drawn from
/// the model's speaker statistics; without statistics it means "no speaker". Defining the name in the voices file
/// replaces it.
struct VoiceCatalog: Sendable {
    let library: VoiceLibrary

    static let openAINames = [
        "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar",
    ]

    /// `alloy` -> `seed:1001`, `ash` -> `seed:1002`, ... in the order above.
    static func alias(_ name: String) -> String? {
        openAINames.firstIndex(of: name).map { "seed:\(1001 + $0)" }
    }

    init(config: ServerConfiguration) throws {
        let statistics = try config.speakerStatistics.map(Self.loadStatistics)
        if let file = config.voicesFile {
            library = try VoiceLibrary(file: URL(fileURLWithPath: file), statistics: statistics, defaultVoice: config.defaultVoice)
        } else {
            library = VoiceLibrary(statistics: statistics, defaultVoice: config.defaultVoice)
        }
        if let spec = config.defaultVoice {
            do { _ = try resolve(spec) } catch {
                throw ConfigurationError(key: ServerConfiguration.Key.defaultVoice.fileKey, message: "cannot be used: \(error.message)")
            }
        }
    }

    /// The statistics file holds the `spk_stat` string itself, or a JSON object with a `spk_stat` key.
    static func loadStatistics(_ path: String) throws -> SpeakerStatistics {
        let key = ServerConfiguration.Key.speakerStatistics.fileKey
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(key: key, message: "cannot read \(path)")
        }
        var string = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if string.hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(string.utf8)) as? [String: Any],
                  let stat = object["spk_stat"] as? String
            else { throw ConfigurationError(key: key, message: "\(path): a JSON file needs a string 'spk_stat'") }
            string = stat
        }
        do { return try SpeakerStatistics(string: string) } catch {
            throw ConfigurationError(key: key, message: "\(path): not a speaker statistics string (\(error))")
        }
    }

    /// The voice for a request; errors are 400s on `param`.
    func resolve(_ spec: String?, param: String = "voice") throws(APIError) -> Voice? {
        var spec = spec
        if let name = spec, library.voices[name] == nil, let alias = Self.alias(name) {
            guard library.statistics != nil else { return nil }
            spec = alias
        }
        do {
            return try library.resolve(spec)
        } catch {
            throw APIError.invalid(param, error.message.hasPrefix("voice: ") ? String(error.message.dropFirst(7)) : error.message,
                                   code: "invalid_voice")
        }
    }

    /// What `/v1/voices` lists.
    var listing: [[String: String]] {
        var out = library.names.map { ["id": $0, "object": "voice", "source": "configured"] }
        for name in Self.openAINames where library.voices[name] == nil {
            out.append(["id": name, "object": "voice",
                        "source": library.statistics == nil ? "no speaker" : (Self.alias(name) ?? "")])
        }
        return out
    }
}
