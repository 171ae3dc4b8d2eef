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
}
