import Foundation

/// WordPiece model and decoder of the tokenizer.
extension Tokenizer {
    // MARK: - Model

    /// WordPiece: greedy longest-match-first; pieces after the first carry the `##` prefix. A word longer than
    /// `maxInputCharsPerWord` scalars, or one with a part that matches nothing, becomes a single `[UNK]`.
    struct WordPieceModel: Sendable {
        let vocab: [[Unicode.Scalar]: Int]
        let tokens: [Int: [Unicode.Scalar]]
        let unkID: Int
        let prefix: [Unicode.Scalar]
        let maxInputCharsPerWord: Int

        func tokenize(_ word: ArraySlice<Unicode.Scalar>, into ids: inout [Int]) {
            guard !word.isEmpty else { return }
            guard word.count <= maxInputCharsPerWord else {
                ids.append(unkID)
                return
            }
            let first = ids.count
            var start = word.startIndex
            var key: [Unicode.Scalar] = []
            while start < word.endIndex {
                var end = word.endIndex
                var found: Int? = nil
                while start < end {
                    key.removeAll(keepingCapacity: true)
                    if start > word.startIndex { key.append(contentsOf: prefix) }
                    key.append(contentsOf: word[start..<end])
                    if let id = vocab[key] {
                        found = id
                        break
                    }
                    end -= 1
                }
                guard let id = found else {
                    ids.removeSubrange(first...)
                    ids.append(unkID)
                    return
                }
                ids.append(id)
                start = end
            }
        }
    }

    struct WordPieceDecoder: Sendable {
        let prefix: [Unicode.Scalar]
        let cleanup: Bool
    }
}
