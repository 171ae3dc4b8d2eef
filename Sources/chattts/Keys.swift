import ArgumentParser
import Foundation
import Server

/// `chattts keys add NAME`: a new API key, printed once, and the entry to put in the keys file (only its hash).
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make API keys for `keysFile`.",
        subcommands: [Add.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new key (once: it is not stored anywhere) and its keys-file entry.",
            discussion: #"Add the entry to the "keys" list of the keys file, then send the server SIGHUP."#)

        @Argument(help: "Name of the key's holder (1 to 64 ASCII letters, digits, '-', '_', '.'); logs and limits use it.")
        var name: String

        func validate() throws {
            guard !name.isEmpty, name.count <= 64,
                  name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw ValidationError("NAME must be 1 to 64 ASCII letters, digits, '-', '_' or '.'")
            }
        }

        func run() throws {
            let key = KeyStore.generate()
            print("key:   \(key)")
            print("entry: \(KeyStore.entryJSON(name: name, key: key))")
        }
    }
}
