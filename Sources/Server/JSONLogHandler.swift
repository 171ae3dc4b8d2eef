import Foundation
import Logging
import Synchronization

/// One JSON object per line on standard output: what log collectors (Loki, CloudWatch, `jq`) read without a parser
/// of their own. Keys: `ts` (ISO 8601, UTC), `level`, `logger`, `msg`, then the metadata flattened.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: LineSink

    /// A logger for the service in the configured format; nothing global is bootstrapped.
    public static func logger(label: String, level: Logger.Level, format: ServerConfiguration.LogFormat) -> Logger {
        var logger: Logger
        switch format {
        case .json: logger = Logger(label: label) { JSONLogHandler(label: $0, level: level) }
        case .text: logger = Logger(label: label) { StreamLogHandler.standardOutput(label: $0) }
        }
        logger.logLevel = level
        return logger
    }

    public init(label: String, level: Logger.Level = .info, sink: LineSink = .standardOutput) {
        self.label = label
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var object: [String: Any] = [
            "ts": Self.timestamp(), "level": event.level.rawValue, "logger": label, "msg": event.message.description,
        ]
        for (key, value) in merged { object[key] = Self.json(value) }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return }
        sink.write(data + Data([0x0A]))
    }

    private static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): return s
        case .stringConvertible(let c):
            // Numbers stay numbers so `jq '.duration_ms > 100'` works.
            if let i = c as? Int { return i }
            if let d = c as? Double { return d.isFinite ? d : String(describing: d) }
            if let b = c as? Bool { return b }
            return c.description
        case .array(let a): return a.map(json)
        case .dictionary(let d): return d.mapValues(json)
        }
    }

    private static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }

    /// Where lines go: standard output, or a closure (tests).
    public struct LineSink: Sendable {
        let write: @Sendable (Data) -> Void
        public init(_ write: @escaping @Sendable (Data) -> Void) { self.write = write }
        /// Whole lines under one lock, so concurrent requests never interleave inside a line.
        public static let standardOutput: LineSink = {
            let lock = Mutex(())
            return LineSink { data in lock.withLock { _ in FileHandle.standardOutput.write(data) } }
        }()
    }
}
