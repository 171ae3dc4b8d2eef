import ArgumentParser
import ChatTTS
import Foundation
import Server

/// `chattts voices`: make, list and show voices with the same files and rules as the service, so that what it
/// prints is what `chattts serve` would speak.
struct Voices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make, list and show voices (speaker embeddings and samples).",
        subcommands: [Make.self, List.self, Show.self])

    /// Where seed voices come from, as `chattts serve` finds them: the asset folder's `spk_stat.pt`, or the
    /// `speakerStatistics` override. Help comes from the server's settings table.
    struct Statistics: ParsableArguments {
        @Option(help: ArgumentHelp(EngineFlags.help("assets")))
        var assets = ServerConfiguration().assets

        @Option(name: .customLong("speaker-statistics"), help: ArgumentHelp(EngineFlags.help("speakerStatistics")))
        var speakerStatistics: String?

        /// The statistics file in use, if any: the flag's, else the asset folder's `spk_stat.pt`.
        var file: URL? {
            VoiceLibrary.statisticsFile(assets: URL(fileURLWithPath: assets),
                                        setting: speakerStatistics.map(URL.init(fileURLWithPath:)))
        }

        func load() throws -> SpeakerStatistics? {
            do { return try file.map(SpeakerStatistics.init(contentsOf:)) } catch {
                throw VoicesError("\(speakerStatistics != nil ? "--speaker-statistics" : "--assets"): \(error)")
            }
        }

        /// Why there are none, naming both flags.
        var missing: String {
            "there is no \(VoiceLibrary.assetStatisticsName) in \(assets) (--assets) and no --speaker-statistics"
        }

        /// Where the statistics are, for messages.
        var note: String { file.map { "speaker statistics \($0.path)" } ?? "no speaker statistics: \(missing)" }
    }

    /// The voices the service would offer: the voices file's, and seed voices with the statistics.
    struct Library: ParsableArguments {
        @OptionGroup var statistics: Statistics

        @Option(help: ArgumentHelp(EngineFlags.help("voices")))
        var voices: String?

        func load() throws -> VoiceLibrary {
            let loaded = try statistics.load()
            do { return try VoiceLibrary(file: voices.map(URL.init(fileURLWithPath:)), statistics: loaded) } catch {
                throw VoicesError("--voices: \(error)")
            }
        }
    }

    /// A failure while running (after the flags parsed): printed as `Error: ...`, exit status 1, no usage text.
    struct VoicesError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// `chattts voices make`: prints a new voice's string, for the voices file or a request's `voice`.
    struct Make: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the voice string of a seed voice (the official ChatTTS voice of that seed).",
            discussion: "The voice of --seed N is what the service speaks for voice seed:N, and what the official "
                + "package gives for torch.manual_seed(N) then chat.sample_random_speaker().")

        @OptionGroup var statistics: Statistics

        @Option(help: "Seed of the voice: an integer in 0...\(UInt64.max).")
        var seed: UInt64?

        @Option(help: "A WAV recording of the voice (16/24/32-bit or float, any rate, mono or stereo, at most \(ChatTTSModel.maxSampleSeconds) s): prints its sample prompt string (spk_smp).")
        var sample: String?

        @Option(help: "What the --sample recording says (txt_smp).")
        var transcript: String?

        @Flag(help: "With --sample: print a voices-file entry {\"spk_smp\": ..., \"txt_smp\": ...} instead.")
        var json = false

        func validate() throws {
            guard (seed == nil) != (sample == nil) else {
                throw ValidationError("give --seed N or --sample FILE.wav --transcript TEXT: what to make the voice from")
            }
            if sample != nil, transcript == nil { throw ValidationError("--sample needs --transcript: what the recording says") }
            if sample == nil, transcript != nil || json { throw ValidationError("--transcript and --json go with --sample") }
        }

        func run() throws {
            if let seed {
                guard let loaded = try statistics.load() else {
                    throw VoicesError("--seed needs the model's speaker statistics: \(statistics.missing)")
                }
                print(try Voice.random(seed: seed, statistics: loaded).string())
            }
            if let sample, let transcript {
                guard let wav = FileManager.default.contents(atPath: sample) else {
                    throw VoicesError("--sample: cannot read \(sample)")
                }
                let model = try ChatTTSModel(folder: URL(fileURLWithPath: statistics.assets))
                let made: SpeakerSample
                do { made = try model.sample(wav: [UInt8](wav), transcript: transcript) } catch {
                    throw VoicesError("--sample \(sample): \(error)")
                }
                let string = try made.string()
                FileHandle.standardError.write(Data("\(made.frames) frames of \(made.codes.count) codes\n".utf8))
                if json {
                    let entry = try JSONSerialization.data(withJSONObject: ["spk_smp": string, "txt_smp": transcript],
                                                           options: [.sortedKeys, .withoutEscapingSlashes])
                    print(String(decoding: entry, as: UTF8.self))
                } else {
                    print(string)
                }
            }
        }
    }

    /// `chattts voices list`: every name a request may use besides `seed:N` and voice strings.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the configured voices and the OpenAI voice names.")

        @OptionGroup var sources: Library

        func run() throws {
            let library = try sources.load()
            let rows = library.listing.map { ($0.id, describe(library.voices[$0.id], source: $0.source)) }
            let width = rows.map(\.0.count).max() ?? 0
            for (name, what) in rows { print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + what) }
            FileHandle.standardError.write(Data("(\(sources.statistics.note))\n".utf8))
        }

        func describe(_ choice: VoiceChoice?, source: String) -> String {
            guard let choice else { return "OpenAI voice name, the seed voice \(source)" }
            if let sample = choice.sample {
                return "sample of \(sample.frames) frames" + (choice.speaker == nil ? "" : " with a voice string")
                    + ": \"\(sample.transcript.prefix(40))\""
            }
            return "voice string"
        }
    }

    /// `chattts voices show`: what one voice is and its first values.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say what a voice is: configured voice or sample, seed voice, OpenAI name or voice string.")

        @OptionGroup var sources: Library

        @Argument(help: "A configured name, an OpenAI voice name, seed:N or a voice string.")
        var name: String

        func run() throws {
            let library = try sources.load()
            let choice: VoiceChoice
            do { choice = try library.resolve(name) } catch { throw VoicesError(error.message) }
            let shown = name.count > 40 ? "\(name.prefix(40))..." : name
            if library.voices[name] != nil {
                print("\(shown): configured in \(sources.voices ?? "")")
            } else if let alias = VoiceLibrary.alias(name) {
                print("\(shown): OpenAI voice name, the seed voice \(alias) (\(sources.statistics.note))")
            } else if name.hasPrefix("seed:") {
                print("\(shown): seed voice (\(sources.statistics.note))")
            } else {
                print("\(shown): voice string")
            }
            if let sample = choice.sample {
                print("  sample: \(sample.codes.count) codebooks x \(sample.frames) frames, "
                      + "transcript \"\(sample.transcript)\"")
            }
            if let speaker = choice.speaker {
                let first = speaker.values.prefix(8).map { String(format: "%.4f", $0) }.joined(separator: " ")
                print("  speaker: \(speaker.values.count) values, first: \(first)")
                print("  string: \(try speaker.string())")
            }
        }
    }
}
