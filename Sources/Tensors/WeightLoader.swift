import Synchronization

/// Strict loading of a module's weights from one checkpoint: keys are built by prefix, every lookup checks
/// the shape, and `finish()` reports checkpoint tensors that no module asked for.
///
/// Loading happens once at start-up, so the bookkeeping is a mutex-protected set; the hot path never sees it.
public final class WeightLoader: Sendable {
    public let file: SafetensorsFile
    private let used = Mutex<Set<String>>([])

    public init(file: SafetensorsFile) {
        self.file = file
    }

    public convenience init(path: String) throws {
        try self.init(file: SafetensorsFile(path: path))
    }

    public var root: WeightScope { WeightScope(loader: self, prefix: "") }

    func load(_ key: String, shape: [Int]?) throws -> Tensor {
        let tensor = try file.tensor(key, shape: shape)
        used.withLock { _ = $0.insert(key) }
        return tensor
    }

    func shape(_ key: String) throws -> [Int] {
        try file.info(key).shape
    }

    /// Marks a tensor as deliberately not loaded (it belongs to a part of the module that is never run).
    public func skip(_ key: String) {
        used.withLock { _ = $0.insert(key) }
    }

    /// Throws if the checkpoint holds tensors that were never loaded, except those matching `ignoring`
    /// (for example a Llama checkpoint's unused `embed_tokens.weight`).
    public func finish(ignoring: (String) -> Bool = { _ in false }) throws {
        let consumed = used.withLock { $0 }
        let extra = file.names.filter { !consumed.contains($0) && !ignoring($0) }
        guard extra.isEmpty else {
            let shown = extra.prefix(8).joined(separator: ", ")
            throw SafetensorsError(.unusedTensors, path: file.path,
                                   "\(extra.count) unexpected tensor(s): \(shown)\(extra.count > 8 ? ", ..." : "")")
        }
    }
}

/// A prefix into a checkpoint, like candle's `vb.pp("layers.0")`.
public struct WeightScope: Sendable {
    public let loader: WeightLoader
    public let prefix: String

    public func scope(_ component: String) -> WeightScope {
        WeightScope(loader: loader, prefix: key(component) + ".")
    }

    public func scope(_ index: Int) -> WeightScope {
        scope(String(index))
    }

    public func key(_ name: String) -> String {
        prefix + name
    }

    /// The tensor `prefix + name`, which must have exactly `shape` when one is given.
    public func callAsFunction(_ name: String, shape: [Int]? = nil) throws -> Tensor {
        try loader.load(key(name), shape: shape)
    }

    /// The shape stored in the checkpoint, for reading dimensions from the files instead of constants.
    public func shape(of name: String) throws -> [Int] {
        try loader.shape(key(name))
    }

    public func contains(_ name: String) -> Bool {
        loader.file.tensors[key(name)] != nil
    }

    public var path: String { loader.file.path }
}
