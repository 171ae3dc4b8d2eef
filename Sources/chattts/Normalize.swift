import ArgumentParser
import ChatTTS
import Foundation

/// `chattts normalize`: the text the engine would speak, to check what a text becomes before synthesizing it.
struct Normalize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the text the model would read: numbers, dates, units and punctuation in words and pauses.",
        discussion: "The same normalizer as synthesis. With --verbose, the language read and the characters deleted "
            + "(the model cannot say them) go to stderr.")

    @Option(name: .customLong("lang"), help: "Language of the text: zh or en (default: detected).")
    var language: Normalizer.Language?

    @Flag(name: .customLong("text-normalization"), inversion: .prefixedNo,
          help: "Read numbers and map punctuation first; off is the official do_text_normalization=False.")
    var textNormalization = true

    @Flag(help: "Print the language and the deleted characters to stderr.")
    var verbose = false

    @Argument(help: "Text to normalize (after -- when it starts with -), or - to read it from stdin.")
    var text: String

    func run() throws {
        var input = text
        if text == "-" {
            input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            while input.hasSuffix("\n") || input.hasSuffix("\r\n") { input.removeLast() }
        }
        let result = Normalizer().normalized(input, language: language, textNormalization: textNormalization)
        print(result.text)
        if verbose {
            let how = language == nil ? "detected" : "forced"
            let report = "language: \(result.language.rawValue) (\(how))\nremoved: \(result.removed.map(String.init))\n"
            FileHandle.standardError.write(Data(report.utf8))
        }
    }
}

extension Normalizer.Language: ExpressibleByArgument {}
