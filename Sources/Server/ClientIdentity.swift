import Foundation
import HTTPTypes
import NIOCore

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `::1`, `192.168.1.7`): what `trustedProxies` lists.
///
/// IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, how a dual-stack socket reports an IPv4 peer) are read as the IPv4
/// address, so `10.0.0.0/8` matches them.
public struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    /// 4 or 16 bytes, the bits past `prefix` zeroed.
    public let address: [UInt8]
    public let prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPNetwork.parse(String(parts[0])) else { return nil }
        let bits = address.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...bits).contains(p) else { return nil }
            prefix = p
        }
        self.prefix = prefix
        self.address = IPNetwork.masked(address, prefix: prefix)
    }

    public func contains(_ address: [UInt8]) -> Bool {
        address.count == self.address.count && IPNetwork.masked(address, prefix: prefix) == self.address
    }

    public var description: String { "\(IPNetwork.format(address))/\(prefix)" }

    /// The bytes of an address in text, IPv4-mapped IPv6 as IPv4; nil when it is not one.
    public static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff { return Array(bytes[12...]) }
        return bytes
    }

    /// An address's bytes as text (dotted quad or RFC 5952 IPv6).
    public static func format(_ bytes: [UInt8]) -> String {
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var copy = bytes
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        guard inet_ntop(family, &copy, &out, socklen_t(out.count)) != nil else { return "?" }
        return String(cString: out)
    }

    static func masked(_ address: [UInt8], prefix: Int) -> [UInt8] {
        address.enumerated().map { i, byte in
            let keep = max(0, min(8, prefix - i * 8))
            return keep == 8 ? byte : byte & ~(0xff >> UInt8(keep))
        }
    }
}

/// Who sent a request, for rate limits and per-client caps: its API key when it presented a valid one, else its
/// address. The address is the connection's peer, or, when the peer is a trusted proxy, the first address of
/// `X-Forwarded-For` read from the right that is not a trusted proxy itself (each proxy appends the address it
/// saw, so only the entries our own proxies wrote can be believed).
public struct ClientIdentity: Sendable, Hashable, CustomStringConvertible {
    /// `key:NAME` or `ip:ADDRESS`.
    public let id: String

    public init(key name: String) { id = "key:" + name }
    public init(address: String) { id = "ip:" + address }

    public var description: String { id }

    /// The client address of a request that arrived from `peer`.
    static func address(peer: SocketAddress?, forwardedFor: [String], trusted: [IPNetwork]) -> String {
        guard let peerText = peer?.ipAddress, let peerBytes = IPNetwork.parse(peerText) else {
            return peer?.ipAddress ?? "unknown"
        }
        var client = peerBytes
        guard trusted.contains(where: { $0.contains(client) }) else { return IPNetwork.format(client) }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            // An entry that is not an address was not written by a proxy of ours: the last believed hop is the client.
            guard let bytes = IPNetwork.parse(hop) else { break }
            client = bytes
            if !trusted.contains(where: { $0.contains(bytes) }) { break }
        }
        return IPNetwork.format(client)
    }
}

extension HTTPField.Name {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
}
