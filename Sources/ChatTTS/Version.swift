/// The engine's identity, printed by `chattts --version` and reported by the service.
public enum EngineInfo {
    public static let version = "0.1.0"
    public static let name = "chattts-swift native engine"
}
