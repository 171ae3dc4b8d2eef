/// The product's identity, printed by `chattts --version` and reported by the service.
public enum ProductInfo {
    public static let version = "0.1.0"
    public static let name = "chattts-swift"
}
