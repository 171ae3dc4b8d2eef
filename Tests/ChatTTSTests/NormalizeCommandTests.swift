import Foundation
import Testing

/// `chattts normalize` run as a process, the way users run it.
@Suite("chattts normalize")
struct NormalizeCommandTests {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func run(_ arguments: [String], stdin: String? = nil) throws -> Run {
        let process = Process()
        process.executableURL = SayCommandTests.binary
        process.arguments = ["normalize"] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        if stdin != nil { process.standardInput = input }
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        }
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    @Test("prints the normalized text of the argument, in the detected or the given language")
    func normalizesArgument() throws {
        let zh = try Self.run(["2024年3月5日"])
        #expect(zh.status == 0)
        #expect(zh.stdout == "二零二四年三月五日\n")
        #expect(zh.stderr.isEmpty)
        #expect(try Self.run(["--lang", "zh", "3.5%"]).stdout == "百分之三点五\n")
        #expect(try Self.run(["--lang", "en", "--", "-5"]).stdout == "minus five\n")
    }

    @Test("reads stdin for -, the text whole without its last newline")
    func readsStdin() throws {
        let run = try Self.run(["-"], stdin: "3.5% of 1,000\n")
        #expect(run.status == 0)
        #expect(run.stdout == "three point five percent of one thousand\n")
    }

    @Test("with --verbose tells the language and the deleted characters on stderr")
    func verbose() throws {
        let run = try Self.run(["--verbose", "开心😀快乐～"])
        #expect(run.stdout == "开心快乐\n")
        #expect(run.stderr == "language: zh (detected)\nremoved: [\"😀\", \"～\"]\n")
        #expect(try Self.run(["--verbose", "--lang", "en", "hi"]).stderr == "language: en (forced)\nremoved: []\n")
    }

    @Test("--no-text-normalization behaves as the official do_text_normalization=False")
    func normalizationOff() throws {
        #expect(try Self.run(["--no-text-normalization", "2024年3月5日"]).stdout == "年月日\n")
    }

    @Test("an unknown language is refused with a message that names the option")
    func badLanguage() throws {
        let run = try Self.run(["--lang", "fr", "bonjour"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("--lang"))
    }
}
