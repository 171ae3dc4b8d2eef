import Foundation
import Synthesis

/// The voices a deployment offers: names from a read-only JSON voices file, `seed:N` voices drawn from the model's
/// speaker statistics, raw voice strings, and OpenAI's voice names, so that clients written for OpenAI work unchanged.
///
/// An OpenAI name that the voices file does not define is a fixed seed voice (`alloy` = `seed:1001`, ...), the
/// official ChatTTS voice of that seed. Seed voices need the statistics (the asset `spk_stat.pt`); without them
/// `seed:N` and the OpenAI names are refused rather than quietly spoken with no speaker. Defining a name in the
/// voices file replaces it.
public struct VoiceLibrary: Sendable {
    /// The voices file's entries: a speaker, a sample prompt, or both.
    public let voices: [String: VoiceChoice]
    /// Per-dimension std and mean of speaker embeddings; needed for `seed:N` and the OpenAI names.
    public let statistics: SpeakerStatistics?

    public static let openAINames = [
        "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar",
    ]

    /// `alloy` -> `seed:1001`, `ash` -> `seed:1002`, ... in the order above.
    public static func alias(_ name: String) -> String? {
        openAINames.firstIndex(of: name).map { "seed:\(1001 + $0)" }
    }

    /// The speaker statistics file of the Hugging Face asset folder (`asset/spk_stat.pt`).
    public static let assetStatisticsName = "spk_stat.pt"

    /// Where the statistics come from: the file the `speakerStatistics` setting names, else the asset folder's
    /// `spk_stat.pt` when it is there, else none.
    public static func statisticsFile(assets: URL, setting: URL?) -> URL? {
        if let setting { return setting }
        let file = assets.appendingPathComponent(assetStatisticsName)
        return FileManager.default.fileExists(atPath: file.path) ? file : nil
    }

    public init(voices: [String: VoiceChoice] = [:], statistics: SpeakerStatistics? = nil) {
        self.voices = voices
        self.statistics = statistics
    }

    /// Loads the voices file; every entry must decode, and errors name the file and the entry.
    ///
    /// An entry is a voice string, or an object `{"spk_smp": codes, "txt_smp": transcript}` (a sample prompt, as
    /// the official `spk_smp`/`txt_smp`), optionally with `"spk_emb": voice string` for a speaker as well.
    public init(file: URL?, statistics: SpeakerStatistics? = nil) throws {
        var voices: [String: VoiceChoice] = [:]
        if let file {
            guard let data = try? Data(contentsOf: file) else {
                throw VoiceError(message: "\(file.path): cannot read the voices file")
            }
            guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw VoiceError(message: "\(file.path): expected a JSON object of name -> voice string or sample")
            }
            for (name, value) in object {
                do { voices[name] = try Self.entry(value) } catch {
                    throw VoiceError(message: "\(file.path): voice '\(name)': \(error)")
                }
            }
        }
        self.init(voices: voices, statistics: statistics)
    }

    private static func entry(_ value: Any) throws -> VoiceChoice {
        if let string = value as? String { return VoiceChoice(speaker: try Voice(string: string)) }
        let keys = ["spk_smp", "txt_smp", "spk_emb"]
        guard let object = value as? [String: Any] else {
            throw VoiceError(message: "is neither a voice string nor an object with spk_smp and txt_smp")
        }
        if let unknown = object.keys.sorted().first(where: { !keys.contains($0) }) {
            throw VoiceError(message: "has '\(unknown)'; an entry takes \(keys.joined(separator: ", "))")
        }
        func text(_ key: String) throws -> String? {
            guard let value = object[key] else { return nil }
            guard let string = value as? String else { throw VoiceError(message: "'\(key)' is not a string") }
            return string
        }
        guard let codes = try text("spk_smp"), let transcript = try text("txt_smp") else {
            throw VoiceError(message: "a sample needs both 'spk_smp' (its codes) and 'txt_smp' (what it says)")
        }
        let sample: SpeakerSample
        do { sample = try SpeakerSample(string: codes, transcript: transcript) } catch {
            throw VoiceError(message: "'spk_smp': \(error)")
        }
        var speaker: Voice?
        if let string = try text("spk_emb") {
            do { speaker = try Voice(string: string) } catch { throw VoiceError(message: "'spk_emb': \(error)") }
        }
        return VoiceChoice(speaker: speaker, sample: sample)
    }

    public var names: [String] { voices.keys.sorted() }

    /// A configured name, an OpenAI name, `seed:N`, or a voice string; no speaker (`[empty_spk]`) for none.
    public func resolve(_ spec: String?) throws(SynthesisError) -> VoiceChoice {
        guard let spec = spec?.trimmingCharacters(in: .whitespaces), !spec.isEmpty else { return VoiceChoice() }
        if let voice = voices[spec] { return voice }
        let alias = Self.alias(spec)
        if let seed = try Self.seed(alias ?? spec) {
            return VoiceChoice(speaker: try seedVoice(seed, named: alias.map { "'\(spec)' (\($0))" } ?? "'\(spec)'"))
        }
        do {
            return VoiceChoice(speaker: try Voice(string: spec))
        } catch {
            let known = names.isEmpty ? "" : " (configured voices: \(names.joined(separator: ", ")))"
            throw Self.invalid("'\(spec.prefix(40))' is not a configured voice, an OpenAI voice name, seed:N or a "
                               + "voice string\(known)")
        }
    }

    /// N of `seed:N`; nil for anything else.
    private static func seed(_ spec: String) throws(SynthesisError) -> UInt64? {
        guard spec.hasPrefix("seed:") else { return nil }
        guard let seed = UInt64(spec.dropFirst(5)) else {
            throw invalid("'\(spec)' is not seed:N with N an integer in 0...\(UInt64.max)")
        }
        return seed
    }

    private func seedVoice(_ seed: UInt64, named spec: String) throws(SynthesisError) -> Voice {
        guard let statistics else {
            throw Self.invalid("\(spec) is a seed voice, which needs the model's speaker statistics: there is no "
                               + "\(Self.assetStatisticsName) in the asset folder and no speakerStatistics setting "
                               + "(--speaker-statistics)")
        }
        return Voice.random(seed: seed, statistics: statistics)
    }

    private static func invalid(_ message: String) -> SynthesisError {
        SynthesisError(.invalidRequest, message, field: SpeechRequest.voiceField, code: "invalid_voice")
    }

    /// What `/v1/voices` lists: the configured voices, and the OpenAI names when seed voices can be made.
    public var listing: [VoiceListing] {
        var out = names.map {
            VoiceListing(id: $0, source: voices[$0]?.sample == nil ? "configured" : "configured sample")
        }
        if statistics != nil {
            for name in Self.openAINames where voices[name] == nil {
                out.append(VoiceListing(id: name, source: Self.alias(name)!))
            }
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
