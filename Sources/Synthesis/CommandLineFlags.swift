/// Splits command-line flags for the tables that declare them (the knob table, the server's settings): `--name
/// value`, `--name=value`, and `--name` / `--no-name` for on/off entries. The table says which names exist and
/// which are on/off; this only reads the arguments.
public enum CommandLineFlags {
    public struct Problem: Error, Sendable {
        /// The argument at fault, as typed.
        public let argument: String
        public let message: String
    }

    /// What a table knows of a flag name (without `--`): nil if it has no such flag.
    public enum Kind: Sendable { case valued(limit: String), onOff }

    /// (name without `--`, value text) in order; on/off flags get `true` or `false`.
    public static func split(_ args: [String], kind: (String) -> Kind?) throws(Problem) -> [(name: String, value: String)] {
        var out: [(name: String, value: String)] = []
        var i = 0
        while i < args.count {
            let arg = args[i]
            var name = arg, value: String?
            if let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq])
                value = String(arg[arg.index(after: eq)...])
            }
            guard name.hasPrefix("--") else { throw Problem(argument: arg, message: "is not a flag") }
            let negated = name.hasPrefix("--no-") && kind(String(name.dropFirst(5))) != nil
            let base = String(name.dropFirst(negated ? 5 : 2))
            switch kind(base) {
            case nil:
                throw Problem(argument: arg, message: "is not a flag")
            case .onOff?:
                if value == nil { value = negated ? "false" : "true" }
            case .valued(let limit)?:
                if negated { throw Problem(argument: arg, message: "is not a flag: only on/off settings take --no-") }
                if value == nil {
                    guard i + 1 < args.count else { throw Problem(argument: arg, message: "needs a value (\(limit))") }
                    i += 1
                    value = args[i]
                }
            }
            out.append((base, value!))
            i += 1
        }
        return out
    }
}
