import Foundation
import Testing
import Tensors
@testable import ChatTTS

/// The logits pipeline against transformers' warpers and ChatTTS's repetition penalty (fixtures: sampler.*).
/// Removed entries must match exactly (-inf in the same places); kept values within 1e-5 relative.
@Suite("Sampler parity with the reference")
struct SamplerParityTests {
    func rows(_ t: Tensor) -> [[Float]] {
        (0..<t.shape[0]).map { Array(UnsafeBufferPointer(start: t.pointer + $0 * t.shape[1], count: t.shape[1])) }
    }

    func expectSame(_ got: [Float], _ want: [Float], _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(got.count == want.count, sourceLocation: sourceLocation)
        for (i, (a, b)) in zip(got, want).enumerated() {
            if b == -.infinity || a == -.infinity {
                #expect(a == b, "\(label)[\(i)]: \(a) vs \(b)", sourceLocation: sourceLocation)
                if a != b { return }
            } else if abs(a - b) > 1e-5 * max(1, abs(b)) {
                Issue.record("\(label)[\(i)]: \(a) vs \(b)", sourceLocation: sourceLocation)
                return
            }
        }
    }

    @Test("repetition penalty, top-P, top-K and the whole chain match the reference for every case")
    func cases() throws {
        let f = try Fixtures.reference("sampler.safetensors")
        let meta = try Fixtures.json("meta.json")["sampler"] as! [[String: Any]]
        for c in meta {
            let name = c["name"] as! String
            let logits = rows(try f.tensor("\(name).logits"))
            let history = try f.integers("\(name).history")
            let n = history.shape[1]
            let penalty = (c["penalty"] as! NSNumber).floatValue
            let topP = (c["top_P"] as! NSNumber).floatValue
            let topK = (c["top_K"] as! NSNumber).intValue
            let temperature = (c["temperature"] as! NSNumber).floatValue
            let eos = (c["eos_masked"] as? NSNumber)?.intValue
            for (r, row) in logits.enumerated() {
                let past = Array(history.values[(r * n)..<((r + 1) * n)])
                var x = row
                x.withUnsafeMutableBufferPointer { Sampler.applyRepetitionPenalty($0, history: past.suffix(16), penalty: penalty) }
                expectSame(x, rows(try f.tensor("\(name).rep_penalty"))[r], "\(name) penalty row \(r)")
                x = row
                x.withUnsafeMutableBufferPointer { Sampler.applyTopP($0, topP: topP, minKeep: 3) }
                expectSame(x, rows(try f.tensor("\(name).top_p"))[r], "\(name) top-P row \(r)")
                x = row
                x.withUnsafeMutableBufferPointer { Sampler.applyTopK($0, topK: topK, minKeep: 3) }
                expectSame(x, rows(try f.tensor("\(name).top_k"))[r], "\(name) top-K row \(r)")
                x = row
                let sampler = Sampler(temperature: temperature, topP: topP, topK: topK, repetitionPenalty: penalty)
                x.withUnsafeMutableBufferPointer { sampler.process($0, history: past[...], maskedToken: eos) }
                expectSame(x, rows(try f.tensor("\(name).chain"))[r], "\(name) chain row \(r)")
            }
        }
    }

    @Test("a seed reproduces its draws and different seeds differ")
    func seededDraws() {
        var scores = [Float](repeating: 0, count: 50)
        func draws(_ seed: UInt64) -> [Int] {
            var rng = SeededRNG(seed: seed)
            return (0..<64).map { _ in
                var s = scores
                return s.withUnsafeMutableBufferPointer { Sampler.draw($0, rng: &rng) }
            }
        }
        #expect(draws(7) == draws(7))
        #expect(draws(7) != draws(8))
        scores[3] = 100
        #expect(Set(draws(9)) == [3])
    }

    @Test("the key-sort order and the top-K buffer equal sorting by (value, index) and sorted(by: >), ties, -0.0, -inf")
    func fastSelectionEqualsSorting() {
        var rng = SeededRNG(seed: 21)
        for trial in 0..<300 {
            let n = 1 + trial % 700
            // Few distinct values (ties), signed zeros and -inf among them, as after penalties and top-P.
            var logits = (0..<n).map { _ in Float(Int(rng.uniform() * 40) - 20) / 4 }
            for i in 0..<n where rng.uniform() < 0.3 { logits[i] = -.infinity }
            for i in 0..<n where rng.uniform() < 0.05 { logits[i] = rng.uniform() < 0.5 ? -0.0 : 0.0 }
            let expectedOrder = (0..<n).sorted { (logits[$0], $0) < (logits[$1], $1) }
            let order = logits.withUnsafeMutableBufferPointer { Sampler.ascendingOrder($0) }
            #expect(order == expectedOrder, "trial \(trial)")
            for k in [1, 3, 20, n - 1, n] where k >= 1 {
                var expected = logits
                let kk = min(max(k, 3), n)
                if kk < n {
                    let threshold = logits.sorted(by: >)[kk - 1]
                    for i in 0..<n where expected[i] < threshold { expected[i] = -.infinity }
                }
                var got = logits
                got.withUnsafeMutableBufferPointer { Sampler.applyTopK($0, topK: k, minKeep: 3) }
                #expect(got == expected, "trial \(trial) k \(k)")
            }
        }
    }
}
