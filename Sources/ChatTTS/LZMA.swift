import CLZMA

/// Raw LZMA2 streams (no .xz container), the compression inside ChatTTS voice strings.
/// Compression uses preset 9 | extreme like the official strings, so our output is byte-identical.
public enum LZMA2Raw {
    public static func compress(_ input: [UInt8]) throws -> [UInt8] {
        var options = lzma_options_lzma()
        guard lzma_lzma_preset(&options, UInt32(9) | clzma_preset_extreme) == 0 else {
            throw LZMAError(message: "preset 9e is not supported by this liblzma")
        }
        return try code(input, options: options, coder: "encoder", start: lzma_raw_encoder)
    }

    /// Decompression needs a dictionary at least as large as the longest match distance, which is below the
    /// decompressed size; 8 MiB covers any voice or prompt string while costing far less than preset 9's 64 MiB.
    public static func decompress(_ input: [UInt8], dictionarySize: UInt32 = 8 << 20) throws -> [UInt8] {
        var options = lzma_options_lzma()
        _ = lzma_lzma_preset(&options, 9)
        options.dict_size = dictionarySize
        return try code(input, options: options, coder: "decoder", start: lzma_raw_decoder)
    }

    /// Runs `input` through a raw coder that `start` sets up (`lzma_raw_encoder` or `lzma_raw_decoder`) with the
    /// one filter both directions use, LZMA2 with `options`.
    private static func code(_ input: [UInt8], options: lzma_options_lzma, coder: String,
                             start: (UnsafeMutablePointer<lzma_stream>?, UnsafePointer<lzma_filter>?) -> lzma_ret)
        throws -> [UInt8] {
        var options = options
        return try withUnsafeMutablePointer(to: &options) { optionsPointer in
            let filters = [
                lzma_filter(id: clzma_filter_lzma2, options: UnsafeMutableRawPointer(optionsPointer)),
                lzma_filter(id: clzma_vli_unknown, options: nil),
            ]
            var stream = lzma_stream()
            let rc = start(&stream, filters)
            guard rc == LZMA_OK else { throw LZMAError(message: "cannot start \(coder) (code \(rc.rawValue))") }
            defer { lzma_end(&stream) }
            return try run(&stream, input: input)
        }
    }

    private static func run(_ stream: inout lzma_stream, input: [UInt8]) throws -> [UInt8] {
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        try input.withUnsafeBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = inBuffer.count
            while true {
                let rc: lzma_ret = chunk.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = outBuffer.count
                    return lzma_code(&stream, LZMA_FINISH)
                }
                let produced = chunk.count - stream.avail_out
                output.append(contentsOf: chunk[0..<produced])
                if rc == LZMA_STREAM_END { return }
                if rc == LZMA_BUF_ERROR && stream.avail_in == 0 && produced == 0 {
                    throw LZMAError(message: "truncated input")
                }
                guard rc == LZMA_OK else { throw LZMAError(message: "corrupt input (code \(rc.rawValue))") }
                if output.count > 64 << 20 { throw LZMAError(message: "output larger than 64 MiB") }
            }
        }
        return output
    }
}

public struct LZMAError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "lzma: \(message)" }
}
