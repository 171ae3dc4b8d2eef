import ArgumentParser
import AudioCodecs
import ChatTTS
import Foundation
import Tensors

/// `chattts say`: one synthesis to a WAV file, with the official knobs.
struct Say: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Synthesize text to a 24 kHz WAV file.")

    @Option(help: "Folder in the official ChatTTS asset layout.")
    var assets: String = "asset"

    @Option(name: .customLong("text"), help: "Text to speak; repeat for a batch (one output file each).")
    var texts: [String] = []

    @Option(help: "Voice string (base16384 speaker embedding). Without it the model uses no speaker.")
    var voice: String?

    @Option(help: "Sampling seed: the same seed, text and voice give the same audio.")
    var seed: UInt64 = 0

    @Option(help: "Prompt tags in front of the text.")
    var prompt: String = "[speed_5]"

    @Option(help: "Sampling temperature of the speech stage.")
    var temperature: Float = 0.3

    @Option(name: .customLong("top-p"), help: "Top-P of the speech stage.")
    var topP: Float = 0.7

    @Option(name: .customLong("top-k"), help: "Top-K of the speech stage.")
    var topK: Int = 20

    @Option(name: .customLong("repetition-penalty"), help: "Repetition penalty over the last 16 steps.")
    var repetitionPenalty: Float = 1.05

    @Option(name: .customLong("min-tokens"), help: "Minimum number of steps (EOS is masked before).")
    var minTokens: Int = 0

    @Option(name: .customLong("max-tokens"), help: "Maximum number of steps (46.875 steps per second of audio).")
    var maxTokens: Int = 2048

    @Flag(name: .customLong("no-refine"), help: "Skip the text refinement stage.")
    var noRefine = false

    @Flag(name: .customLong("no-normalize"), help: "Skip text normalization.")
    var noNormalize = false

    @Option(help: "Output WAV file; with several texts, -1, -2... are inserted before the extension.")
    var output: String = "out.wav"

    @Option(name: .customLong("debug-dump"), help: "Folder to write named intermediate tensors to, as .npy.")
    var debugDump: String?

    @Option(help: ArgumentHelp("Weight format of the GPT and its heads: auto (int8 for a full-size model, f32 for "
                               + "small ones), f32, bf16, int8."))
    var dtype: String = "auto"

    @Option(help: "Compute threads (default: one per core).")
    var threads: Int?

    func validate() throws {
        guard !texts.isEmpty else { throw ValidationError("give at least one --text") }
        guard temperature > 0 else { throw ValidationError("--temperature must be > 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard topK >= 1 else { throw ValidationError("--top-k must be >= 1") }
        guard minTokens >= 0, maxTokens >= 1, minTokens <= maxTokens else {
            throw ValidationError("need 0 <= --min-tokens <= --max-tokens and --max-tokens >= 1")
        }
        guard dtype == "auto" || WeightFormat(rawValue: dtype) != nil else {
            throw ValidationError("--dtype must be auto, f32, bf16 or int8")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be >= 1") }
    }

    func run() async throws {
        let started = Date()
        let model = try ChatTTSModel(folder: URL(fileURLWithPath: assets),
                                     options: EngineOptions(format: WeightFormat(rawValue: dtype), threads: threads))
        let loaded = Date()
        var options = SynthesisOptions()
        options.voice = try voice.map { try Voice(string: $0) }
        options.normalize = !noNormalize
        if noRefine { options.refine = nil } else { options.refine?.seed = seed }
        options.code.prompt = prompt
        options.code.temperature = temperature
        options.code.topP = topP
        options.code.topK = topK
        options.code.repetitionPenalty = repetitionPenalty
        options.code.minNewTokens = minTokens
        options.code.maxNewTokens = maxTokens
        options.code.seed = seed
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
        FileHandle.standardError.write(Data(String(format: "load %.2f s, synthesis %.2f s, real-time factor %.3f\n",
                                                   loaded.timeIntervalSince(started), seconds,
                                                   audio > 0 ? seconds / audio : 0).utf8))
    }

    static func numbered(_ path: String, _ n: Int) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let base = url.deletingPathExtension().path
        return ext.isEmpty ? "\(base)-\(n)" : "\(base)-\(n).\(ext)"
    }
}
