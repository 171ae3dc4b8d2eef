import Foundation
import Synthesis

/// The voices a deployment offers: names mapped to voice strings, read once from a read-only JSON file
/// (`{"alice": "<voice string>", ...}`), `seed:N` voices drawn from the model's speaker statistics, raw voice
/// strings, and OpenAI's voice names, so that clients written for OpenAI work unchanged.
///
/// An OpenAI name that the voices file does not define is a fixed seed voice (`alloy` = `seed:1001`, ...); without
/// statistics it means "no speaker". Defining the name in the voices file replaces it.
public struct VoiceLibrary: Sendable {
    public let voices: [String: Voice]
    /// Per-dimension mean and std of speaker embeddings; needed for `seed:N`.
    public let statistics: SpeakerStatistics?

    public static let openAINames = [
        "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar",
    ]

    /// `alloy` -> `seed:1001`, `ash` -> `seed:1002`, ... in the order above.
    public static func alias(_ name: String) -> String? {
        openAINames.firstIndex(of: name).map { "seed:\(1001 + $0)" }
    }

    public init(voices: [String: Voice] = [:], statistics: SpeakerStatistics? = nil) {
        self.voices = voices
        self.statistics = statistics
    }

    /// Loads the voices file `{"name": "voice string"}` and the statistics file (the `spk_stat` string itself, or a
    /// JSON object with a `spk_stat` key); every entry must decode, and the error names the file and the entry.
    public init(file: URL?, statisticsFile: URL?) throws {
        var voices: [String: Voice] = [:]
        if let file {
            guard let data = try? Data(contentsOf: file) else {
                throw VoiceError(message: "\(file.path): cannot read the voices file")
            }
            guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw VoiceError(message: "\(file.path): expected a JSON object of name -> voice string")
            }
            for (name, value) in object {
                guard let string = value as? String else {
                    throw VoiceError(message: "\(file.path): voice '\(name)' is not a string")
                }
                do { voices[name] = try Voice(string: string) } catch {
                    throw VoiceError(message: "\(file.path): voice '\(name)': \(error)")
                }
            }
        }
        self.init(voices: voices, statistics: try statisticsFile.map(Self.loadStatistics))
    }

    static func loadStatistics(_ file: URL) throws -> SpeakerStatistics {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else {
            throw VoiceError(message: "\(file.path): cannot read the speaker statistics")
        }
        var string = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if string.hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(string.utf8)) as? [String: Any],
                  let stat = object["spk_stat"] as? String
            else { throw VoiceError(message: "\(file.path): a JSON file needs a string 'spk_stat'") }
            string = stat
        }
        do { return try SpeakerStatistics(string: string) } catch {
            throw VoiceError(message: "\(file.path): not a speaker statistics string (\(error))")
        }
    }

    public var names: [String] { voices.keys.sorted() }

    /// A configured name, an OpenAI name, `seed:N`, or a voice string; no speaker (`[empty_spk]`) for none.
    public func resolve(_ spec: String?) throws(SynthesisError) -> VoiceChoice {
        VoiceChoice(speaker: try speaker(spec))
    }

    func speaker(_ spec: String?) throws(SynthesisError) -> Voice? {
        guard var spec = spec?.trimmingCharacters(in: .whitespaces), !spec.isEmpty else { return nil }
        if let voice = voices[spec] { return voice }
        if let alias = Self.alias(spec) {
            guard statistics != nil else { return nil }
            spec = alias
        }
        if spec.hasPrefix("seed:") {
            guard let seed = UInt64(spec.dropFirst(5)) else {
                throw invalid("'\(spec)' is not seed:N with N a non-negative integer")
            }
            guard let statistics else {
                throw invalid("seed voices need the model's speaker statistics, which this server was not given "
                              + "(setting speakerStatistics)")
            }
            return Voice.random(seed: seed, statistics: statistics)
        }
        do {
            return try Voice(string: spec)
        } catch {
            let known = names.isEmpty ? "" : " (configured voices: \(names.joined(separator: ", ")))"
            throw invalid("'\(spec.prefix(40))' is not a configured voice, an OpenAI voice name, seed:N or a voice string\(known)")
        }
    }

    private func invalid(_ message: String) -> SynthesisError {
        SynthesisError(.invalidRequest, message, field: SpeechRequest.voiceField, code: "invalid_voice")
    }

    /// What `/v1/voices` lists.
    public var listing: [VoiceListing] {
        var out = names.map { VoiceListing(id: $0, source: "configured") }
        for name in Self.openAINames where voices[name] == nil {
            out.append(VoiceListing(id: name, source: statistics == nil ? "no speaker" : (Self.alias(name) ?? "")))
        }
        return out
    }
}

/// What a request's voice means for the speech stage: a speaker embedding over `[spk_emb]`, a sample prompt
/// (`spk_smp` codes and `txt_smp` transcript), both (the official API allows it), or neither (`[empty_spk]`).
public struct VoiceChoice: Sendable, Equatable {
    public var speaker: Voice?
    public var sample: SpeakerSample?

    public init(speaker: Voice? = nil, sample: SpeakerSample? = nil) {
        self.speaker = speaker
        self.sample = sample
    }
}
