import Foundation

/// The memory a replica may give to requests' state by default: 80 % of the smaller of the host's memory and the
/// container's limit (cgroup v2 `memory.max`, or v1 `memory.limit_in_bytes`), so the default is right inside a
/// container as well as on a bare host.
public enum MemoryBudget {
    public static let defaultFraction = 0.8

    /// The default budget on this machine, in bytes.
    public static func defaultBytes() -> Int {
        let files = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
        let limits = files.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        return budget(physical: Int(clamping: ProcessInfo.processInfo.physicalMemory), cgroupLimits: limits)
    }

    /// 80 % of the smallest of `physical` and the limits written in cgroup files (`max` or a value above the
    /// physical memory means no limit).
    public static func budget(physical: Int, cgroupLimits: [String]) -> Int {
        var limit = physical
        for text in cgroupLimits {
            if let bytes = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes > 0 { limit = min(limit, bytes) }
        }
        return Int(Double(limit) * defaultFraction)
    }
}
