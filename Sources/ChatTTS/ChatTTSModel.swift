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
    /// Output sample rate: Vocos hop (256) times the mel frame rate (93.75 Hz).
    public let sampleRate = 24000

    /// The files a folder must hold, relative to it.
    public static let requiredFiles = [
        "gpt/config.json", "gpt/model.safetensors", "Embed.safetensors", "Decoder.safetensors", "Vocos.safetensors",
        "tokenizer/tokenizer.json",
    ]

    public init(folder: URL) throws {
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
        embed = try Embed(path: folder.appendingPathComponent("Embed.safetensors").path, config: config)
        gpt = try GPT(path: gptFolder + "/model.safetensors", config: config)
        decoder = try Decoder(path: folder.appendingPathComponent("Decoder.safetensors").path)
        vocos = try Vocos(path: folder.appendingPathComponent("Vocos.safetensors").path)
        guard decoder.inputChannels * 2 == config.hiddenSize else {
            throw ModelError(folder.appendingPathComponent("Decoder.safetensors").path,
                             "decoder reads \(decoder.inputChannels * 2) hidden channels, the GPT makes \(config.hiddenSize)")
        }
        guard decoder.melChannels == vocos.melChannels else {
            throw ModelError(folder.appendingPathComponent("Vocos.safetensors").path,
                             "Vocos reads \(vocos.melChannels) mel channels, the decoder makes \(decoder.melChannels)")
        }
        guard tokenizer.count <= config.numTextTokens else {
            throw ModelError(folder.appendingPathComponent("tokenizer/tokenizer.json").path,
                             "\(tokenizer.count) tokens, but the model embeds only \(config.numTextTokens)")
        }
    }

    public var hiddenSize: Int { config.hiddenSize }
    /// Waveform samples per generated step (two mel frames of 256 samples).
    public var samplesPerStep: Int { 2 * vocos.hop }
}
