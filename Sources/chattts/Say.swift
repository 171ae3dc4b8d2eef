import ArgumentParser
import AudioCodecs
import ChatTTS
import Foundation
import Synthesis

/// `chattts say`: one synthesis to a WAV file. Its knob flags (`--temperature`, `--top-p`, `--no-refine`, ...) are
/// derived from the ChatTTS knob table, the same declaration the service's `/v1/tts` reads.
struct Say: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Synthesize text to a 24 kHz WAV file.",
        discussion: "KNOBS (named as in /v1/tts, with - for _):\n" + ChatTTSKnobs.table().flagHelp)

    @OptionGroup var engine: EngineFlags

    @Option(name: .customLong("text"), help: "Text to speak; repeat for a batch (one output file each).")
    var texts: [String] = []

    @Option(help: "Voice string (base16384 speaker embedding). Without it the model uses no speaker.")
    var voice: String?

    @Option(help: "Output WAV file; with several texts, -1, -2... are inserted before the extension.")
    var output: String = "out.wav"

    @Option(name: .customLong("debug-dump"), help: "Folder to write named intermediate tensors to, as .npy.")
    var debugDump: String?

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var knobFlags: [String] = []

    func validate() throws {
        guard !texts.isEmpty else { throw ValidationError("give at least one --text") }
        _ = try knobs()
    }

    /// The knob values of the flags, checked by the table (the same messages the service gives).
    func knobs() throws -> KnobValues {
        let table = ChatTTSKnobs.table()
        do { return try table.resolve(try table.parse(flags: knobFlags)) } catch {
            // Name the flag as the user typed it: `--top-p must be in (0, 1], got 1.5`.
            let flag = error.field.flatMap { table[$0] }.map { "--" + $0.flagName } ?? error.field ?? ""
            throw ValidationError("\(flag) \(error.message)")
        }
    }

    func run() async throws {
        let started = Date()
        let model = try ChatTTSModel(folder: URL(fileURLWithPath: engine.assetFolder), options: try engine.engineOptions())
        let loaded = Date()
        if case .unavailable = model.weightCache {
            FileHandle.standardError.write(Data("warning: \(model.weightCache)\n".utf8))
        }
        let knobs = try knobs()
        let seed = knobs.unsigned(ChatTTSKnobs.seed) ?? UInt64.random(in: 0...UInt64.max)
        var options = SynthesisOptions()
        // Seed voices and the OpenAI names draw from the asset folder's speaker statistics, as `serve` does.
        let statistics = try VoiceLibrary.statisticsFile(assets: URL(fileURLWithPath: engine.assetFolder), setting: nil)
            .map(SpeakerStatistics.init(contentsOf:))
        do {
            let choice = try VoiceLibrary(file: nil, statistics: statistics).resolve(voice)
            options.voice = choice.speaker
            options.sample = choice.sample
        } catch let error as SynthesisError { throw ValidationError(error.description) }
        options.normalize = knobs.boolean(ChatTTSKnobs.normalize)
        options.refine = knobs.boolean(ChatTTSKnobs.refine) ? RefineTextParams(knobs, seed: seed) : nil
        options.code = InferCodeParams(knobs, seed: seed)
        let dumper = try debugDump.map { try NpyDumper(folder: URL(fileURLWithPath: $0)) }
        let waves = try model.synthesize(texts, options: options, debug: dumper)
        let seconds = Date().timeIntervalSince(loaded)
        for (i, wave) in waves.enumerated() {
            let path = waves.count == 1 ? output : Self.numbered(output, i + 1)
            try Data(WAV.encode(samples: wave, sampleRate: model.sampleRate)).write(to: URL(fileURLWithPath: path))
            let audio = Double(wave.count) / Double(model.sampleRate)
            FileHandle.standardError.write(Data(String(format: "%@: %.2f s of audio\n", path, audio).utf8))
        }
        let audio = Double(waves.reduce(0) { $0 + $1.count }) / Double(model.sampleRate)
        FileHandle.standardError.write(Data(String(format: "seed %llu; load %.2f s, synthesis %.2f s, real-time factor %.3f\n",
                                                   seed, loaded.timeIntervalSince(started), seconds,
                                                   audio > 0 ? seconds / audio : 0).utf8))
    }

    static func numbered(_ path: String, _ n: Int) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let base = url.deletingPathExtension().path
        return ext.isEmpty ? "\(base)-\(n)" : "\(base)-\(n).\(ext)"
    }
}
