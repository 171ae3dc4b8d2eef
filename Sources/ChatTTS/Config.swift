import Foundation

/// Why a model folder could not be loaded; always names the file and what was expected.
public struct ModelError: Error, CustomStringConvertible {
    public let path: String
    public let message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// `gpt/config.json`: a saved `LlamaConfig` plus ChatTTS's own keys. Dimensions come from here and from the
/// tensor shapes, never from constants, so the tiny fixture model and the 1.1 GB model load through one path.
public struct GPTConfig: Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var numLayers: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var maxPositions: Int
    public var numAudioTokens: Int
    public var numTextTokens: Int
    public var numVQ: Int

    /// The code that ends a sequence: the last audio token (625 in the official model).
    public var eosCode: Int { numAudioTokens - 1 }

    public init(hiddenSize: Int, intermediateSize: Int, numHeads: Int, numKVHeads: Int, headDim: Int, numLayers: Int,
                rmsNormEps: Float, ropeTheta: Float, maxPositions: Int, numAudioTokens: Int, numTextTokens: Int,
                numVQ: Int) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim
        self.numLayers = numLayers
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.maxPositions = maxPositions
        self.numAudioTokens = numAudioTokens
        self.numTextTokens = numTextTokens
        self.numVQ = numVQ
    }

    public static func load(path: String) throws -> GPTConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(path, "cannot read the GPT configuration")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError(path, "not a JSON object")
        }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            if let number = json[key] as? NSNumber { return number.intValue }
            if let value { return value }
            throw ModelError(path, "missing integer key '\(key)'")
        }
        func float(_ key: String, default value: Float) throws -> Float {
            if json[key] == nil || json[key] is NSNull { return value }
            guard let number = json[key] as? NSNumber else { throw ModelError(path, "key '\(key)' is not a number") }
            return number.floatValue
        }
        if let scaling = json["rope_scaling"], !(scaling is NSNull) {
            throw ModelError(path, "rope_scaling is set; only plain RoPE is supported")
        }
        if let act = json["hidden_act"] as? String, act != "silu" {
            throw ModelError(path, "hidden_act '\(act)' is not supported (expected silu)")
        }
        for key in ["attention_bias", "mlp_bias"] where (json[key] as? Bool) == true {
            throw ModelError(path, "'\(key)' is true; the ChatTTS GPT has no biases")
        }
        let hidden = try int("hidden_size")
        let heads = try int("num_attention_heads")
        let config = GPTConfig(
            hiddenSize: hidden,
            intermediateSize: try int("intermediate_size"),
            numHeads: heads,
            numKVHeads: try int("num_key_value_heads", default: heads),
            headDim: try int("head_dim", default: hidden / max(heads, 1)),
            numLayers: try int("num_hidden_layers"),
            rmsNormEps: try float("rms_norm_eps", default: 1e-6),
            ropeTheta: try float("rope_theta", default: 10000),
            maxPositions: try int("max_position_embeddings", default: 4096),
            numAudioTokens: try int("num_audio_tokens", default: 626),
            numTextTokens: try int("num_text_tokens", default: 21178),
            numVQ: try int("num_vq", default: 4))
        guard config.numHeads > 0, config.numKVHeads > 0, config.numHeads % config.numKVHeads == 0,
              config.headDim % 2 == 0, config.numLayers > 0, config.numVQ > 0
        else {
            throw ModelError(path, "inconsistent attention dimensions: \(heads) heads, \(config.numKVHeads) KV heads, head_dim \(config.headDim)")
        }
        return config
    }
}
