import ChatTTS
import Foundation

/// The voices a deployment offers: names mapped to voice strings, read once from a read-only JSON file
/// (`{"alloy": "<voice string>", ...}`), plus `seed:N` voices drawn from the model's speaker statistics.
public struct VoiceLibrary: Sendable {
    public let voices: [String: Voice]
    /// Per-dimension mean and std of speaker embeddings; needed for `seed:N`. The official package ships them as
    /// the `spk_stat` string of its configuration; deployments pass that string in a file.
    public let statistics: SpeakerStatistics?
    /// Used when a request names no voice.
    public let defaultVoice: String?

    public init(voices: [String: Voice] = [:], statistics: SpeakerStatistics? = nil, defaultVoice: String? = nil) {
        self.voices = voices
        self.statistics = statistics
        self.defaultVoice = defaultVoice
    }

    /// Loads `{"name": "voice string"}`; every entry must decode, and the error names the entry.
    public init(file: URL, statistics: SpeakerStatistics? = nil, defaultVoice: String? = nil) throws {
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw VoiceError(message: "\(file.path): cannot read the voices file")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw VoiceError(message: "\(file.path): expected a JSON object of name -> voice string")
        }
        var voices: [String: Voice] = [:]
        for (name, value) in object {
            guard let string = value as? String else {
                throw VoiceError(message: "\(file.path): voice '\(name)' is not a string")
            }
            do {
                voices[name] = try Voice(string: string)
            } catch {
                throw VoiceError(message: "\(file.path): voice '\(name)': \(error)")
            }
        }
        self.init(voices: voices, statistics: statistics, defaultVoice: defaultVoice)
    }

    public var names: [String] { voices.keys.sorted() }

    /// A configured name, `seed:N`, or a voice string; nil for no speaker (`[empty_spk]`).
    public func resolve(_ spec: String?) throws(SchedulerError) -> Voice? {
        guard let spec = (spec ?? defaultVoice)?.trimmingCharacters(in: .whitespaces), !spec.isEmpty else { return nil }
        if let voice = voices[spec] { return voice }
        if spec.hasPrefix("seed:") {
            guard let seed = UInt64(spec.dropFirst(5)) else {
                throw SchedulerError(.invalidRequest, "voice: '\(spec)' is not seed:N with N a non-negative integer", field: "voice")
            }
            guard let statistics else {
                throw SchedulerError(.invalidRequest,
                                     "voice: seed voices need the model's speaker statistics, which this server was not given",
                                     field: "voice")
            }
            return Voice.random(seed: seed, statistics: statistics)
        }
        do {
            return try Voice(string: spec)
        } catch {
            let known = names.isEmpty ? "" : " (configured voices: \(names.joined(separator: ", ")))"
            throw SchedulerError(.invalidRequest, "voice: '\(spec.prefix(40))' is not a configured voice, seed:N or a voice string\(known)",
                                 field: "voice")
        }
    }
}
