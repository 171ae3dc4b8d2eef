/// The bodies of the panel-packed matrix products, written once and compiled three times.
///
/// Everything here is `@_transparent`: the code is inlined into the entry points of `Tensors`
/// (x86-64 / arm64 baseline), `TensorsAVX2` (`-target-cpu haswell`) and `TensorsAVX512` (x86-64-v4), and each
/// copy is compiled with its module's instruction set. Nothing here may stay out of line: an out-of-line
/// specialization would be emitted by every client under one symbol name and the linker would keep just one,
/// possibly an AVX-512 one called from baseline code (`Tests/TensorsTests/KernelDispatchTests.swift` checks the
/// binary for that).
///
/// Layout (see `PackedMatrix` in Tensors): rows are grouped in panels of 16; inside a panel the 16 values of
/// column k are contiguous, so one vector load gives column k for all 16 rows and the product needs no horizontal
/// sums: acc[row] += w[row, k] * x[k] for 16 rows at once, x[k] broadcast. Several input rows (a batch) share each
/// weight load: up to 8 accumulators, one per input row.

public typealias PanelVector = SIMD16<Float>

public enum PanelLayout {
    /// Rows per panel: the lanes of one `PanelVector`.
    public static let width = 16
    /// Panels per block: a block's columns are interleaved, [cols][panels in block][16], so a product over a block
    /// (8 panels x 1 input row: the decode step at batch 1) reads one contiguous stream, and a block (96 KB of int8,
    /// 384 KB of float32 at 768 columns) stays in L2 while several input rows reuse it.
    public static let block = 8
}

/// Index, in weights, of column k of `panel`'s 16 values: blocks of 8 panels, columns interleaved in a block.
@_transparent
public func panelOffset(panel: Int, column k: Int, cols: Int, panels: Int) -> Int {
    let first = panel & ~7
    let inBlock = min(8, panels &- first)
    return (first &* cols &+ k &* inBlock &+ (panel &- first)) &* 16
}

/// Reads column k of a panel as 16 floats.
public protocol PanelLoader {
    /// Whether rows carry per-group scales (int8): the product then scales each group's partial sums.
    static var hasScales: Bool { get }
    /// Per-group multipliers of the 16 rows of a panel (int8 scales); ignored by formats without them.
    func scale(panel: Int, group: Int) -> PanelVector
    /// Column k of `panel`, unscaled.
    func load(panel: Int, column k: Int) -> PanelVector
}

public struct F32PanelLoader: PanelLoader {
    public let base: UnsafePointer<Float>
    public let cols: Int
    public let panels: Int

    @_transparent
    public init(base: UnsafePointer<Float>, cols: Int, panels: Int) {
        self.base = base
        self.cols = cols
        self.panels = panels
    }

    public static var hasScales: Bool { @_transparent get { false } }

    @_transparent
    public func scale(panel: Int, group: Int) -> PanelVector { PanelVector(repeating: 1) }

    @_transparent
    public func load(panel: Int, column k: Int) -> PanelVector {
        let at = panelOffset(panel: panel, column: k, cols: cols, panels: panels)
        return UnsafeRawPointer(base + at).loadUnaligned(as: PanelVector.self)
    }
}

/// bfloat16 is the top half of a float32: widening is a 16-bit shift.
public struct BF16PanelLoader: PanelLoader {
    public let base: UnsafePointer<UInt16>
    public let cols: Int
    public let panels: Int

    @_transparent
    public init(base: UnsafePointer<UInt16>, cols: Int, panels: Int) {
        self.base = base
        self.cols = cols
        self.panels = panels
    }

    public static var hasScales: Bool { @_transparent get { false } }

    @_transparent
    public func scale(panel: Int, group: Int) -> PanelVector { PanelVector(repeating: 1) }

    @_transparent
    public func load(panel: Int, column k: Int) -> PanelVector {
        let at = panelOffset(panel: panel, column: k, cols: cols, panels: panels)
        let h = UnsafeRawPointer(base + at).loadUnaligned(as: SIMD16<UInt16>.self)
        var wide = SIMD16<UInt32>()
        // A lane loop: the standard library's converting initializers stay calls in hot loops (CPU-NOTES).
        for i in 0..<16 { wide[i] = UInt32(h[i]) &<< 16 }
        return unsafeBitCast(wide, to: PanelVector.self)
    }
}

/// int8 with one float scale per row and group of `groupSize` columns: w = q * scale.
public struct Int8PanelLoader: PanelLoader {
    public let base: UnsafePointer<Int8>
    public let scales: UnsafePointer<Float>
    public let cols: Int
    public let groups: Int
    public let panels: Int

    @_transparent
    public init(base: UnsafePointer<Int8>, scales: UnsafePointer<Float>, cols: Int, groups: Int, panels: Int) {
        self.base = base
        self.scales = scales
        self.cols = cols
        self.groups = groups
        self.panels = panels
    }

    public static var hasScales: Bool { @_transparent get { true } }

    @_transparent
    public func scale(panel: Int, group: Int) -> PanelVector {
        UnsafeRawPointer(scales + (panel &* groups &+ group) &* 16).loadUnaligned(as: PanelVector.self)
    }

    @_transparent
    public func load(panel: Int, column k: Int) -> PanelVector {
        let at = panelOffset(panel: panel, column: k, cols: cols, panels: panels)
        let q = UnsafeRawPointer(base + at).loadUnaligned(as: SIMD16<Int8>.self)
        var f = PanelVector()
        for i in 0..<16 { f[i] = Float(q[i]) }
        return f
    }
}

@_transparent @usableFromInline
func panelMultiplyAdd(_ a: PanelVector, _ w: PanelVector, _ x: Float, fused: Bool) -> PanelVector {
    // Without FMA in the instruction set `addingProduct` is a libm call per lane: the baseline multiplies and adds.
    fused ? a.addingProduct(w, PanelVector(repeating: x)) : a + w * PanelVector(repeating: x)
}

@_transparent @usableFromInline
func panelScaleAdd(_ t: PanelVector, _ a: PanelVector, _ s: PanelVector, fused: Bool) -> PanelVector {
    fused ? t.addingProduct(a, s) : t + a * s
}

@_transparent @usableFromInline
func panelStore(_ v: PanelVector, _ p: UnsafeMutablePointer<Float>, count: Int, accumulate: Bool) {
    if count == 16 {
        let raw = UnsafeMutableRawPointer(p)
        if accumulate {
            raw.storeBytes(of: raw.loadUnaligned(as: PanelVector.self) + v, as: PanelVector.self)
        } else {
            raw.storeBytes(of: v, as: PanelVector.self)
        }
    } else {
        for i in 0..<count { p[i] = accumulate ? p[i] + v[i] : v[i] }
    }
}

@_transparent @usableFromInline
func pick<T>(_ i: Int, _ v0: T, _ v1: T, _ v2: T, _ v3: T, _ v4: T, _ v5: T, _ v6: T, _ v7: T) -> T {
    switch i {
    case 0: v0
    case 1: v1
    case 2: v2
    case 3: v3
    case 4: v4
    case 5: v5
    case 6: v6
    default: v7
    }
}

/// `np` consecutive panels times `n` input rows, np * n <= 8 (both constants at every call site).
///
/// Each (panel, input row) pair has one accumulator and one chain of multiply-adds in column order, whatever np and
/// n are: a batch of 8 runs 1 panel x 8 rows, a single row runs 8 panels x 1 row, so there are always up to 8
/// independent chains in flight (an FMA takes 4 cycles) and a row's result does not depend on the batch size.
@_transparent @usableFromInline
func panelTile<L: PanelLoader>(
    _ np: Int, _ n: Int, _ loader: L, panel: Int, cols: Int, groupSize: Int,
    x: UnsafePointer<Float>, ldx: Int, y: UnsafeMutablePointer<Float>, ldy: Int, rows: Int,
    accumulate: Bool, fused: Bool, scaleWeights: Bool
) {
    let slots = np * n
    // Totals t (what is stored) and, with per-group scales, the group's partial sums a: t += a * scale at the end of
    // each group. `scaleWeights` instead multiplies every loaded column by its scale (one more multiply per
    // column, but half the registers: AVX2 has 16).
    let perGroup = L.hasScales && !scaleWeights
    var t0 = PanelVector(), t1 = PanelVector(), t2 = PanelVector(), t3 = PanelVector()
    var t4 = PanelVector(), t5 = PanelVector(), t6 = PanelVector(), t7 = PanelVector()
    var k0 = 0, group = 0
    while k0 < cols {
        let k1 = min(cols, k0 &+ groupSize)
        let s0 = loader.scale(panel: panel, group: group)
        let s1 = np > 1 ? loader.scale(panel: panel &+ 1, group: group) : s0
        let s2 = np > 2 ? loader.scale(panel: panel &+ 2, group: group) : s0
        let s3 = np > 3 ? loader.scale(panel: panel &+ 3, group: group) : s0
        let s4 = np > 4 ? loader.scale(panel: panel &+ 4, group: group) : s0
        let s5 = np > 5 ? loader.scale(panel: panel &+ 5, group: group) : s0
        let s6 = np > 6 ? loader.scale(panel: panel &+ 6, group: group) : s0
        let s7 = np > 7 ? loader.scale(panel: panel &+ 7, group: group) : s0
        var a0 = perGroup ? PanelVector() : t0, a1 = perGroup ? PanelVector() : t1
        var a2 = perGroup ? PanelVector() : t2, a3 = perGroup ? PanelVector() : t3
        var a4 = perGroup ? PanelVector() : t4, a5 = perGroup ? PanelVector() : t5
        var a6 = perGroup ? PanelVector() : t6, a7 = perGroup ? PanelVector() : t7
        var k = k0
        while k < k1 {
            var w0 = loader.load(panel: panel, column: k)
            var w1 = np > 1 ? loader.load(panel: panel &+ 1, column: k) : w0
            var w2 = np > 2 ? loader.load(panel: panel &+ 2, column: k) : w0
            var w3 = np > 3 ? loader.load(panel: panel &+ 3, column: k) : w0
            var w4 = np > 4 ? loader.load(panel: panel &+ 4, column: k) : w0
            var w5 = np > 5 ? loader.load(panel: panel &+ 5, column: k) : w0
            var w6 = np > 6 ? loader.load(panel: panel &+ 6, column: k) : w0
            var w7 = np > 7 ? loader.load(panel: panel &+ 7, column: k) : w0
            if L.hasScales && scaleWeights {
                w0 *= s0
                if np > 1 { w1 *= s1 }
                if np > 2 { w2 *= s2; w3 *= s3 }
                if np > 4 { w4 *= s4; w5 *= s5; w6 *= s6; w7 *= s7 }
            }
            let x0 = x[k]
            let x1 = n > 1 ? x[ldx &+ k] : x0
            let x2 = n > 2 ? x[2 &* ldx &+ k] : x0
            let x3 = n > 3 ? x[3 &* ldx &+ k] : x0
            let x4 = n > 4 ? x[4 &* ldx &+ k] : x0
            let x5 = n > 5 ? x[5 &* ldx &+ k] : x0
            let x6 = n > 6 ? x[6 &* ldx &+ k] : x0
            let x7 = n > 7 ? x[7 &* ldx &+ k] : x0
            // Slot i is panel i / n, input row i % n.
            a0 = panelMultiplyAdd(a0, w0, x0, fused: fused)
            if slots > 1 {
                a1 = panelMultiplyAdd(a1, pick(1 / n, w0, w1, w2, w3, w4, w5, w6, w7),
                                      pick(1 % n, x0, x1, x2, x3, x4, x5, x6, x7), fused: fused)
            }
            if slots > 2 {
                a2 = panelMultiplyAdd(a2, pick(2 / n, w0, w1, w2, w3, w4, w5, w6, w7),
                                      pick(2 % n, x0, x1, x2, x3, x4, x5, x6, x7), fused: fused)
                a3 = panelMultiplyAdd(a3, pick(3 / n, w0, w1, w2, w3, w4, w5, w6, w7),
                                      pick(3 % n, x0, x1, x2, x3, x4, x5, x6, x7), fused: fused)
            }
            if slots > 4 {
                a4 = panelMultiplyAdd(a4, pick(4 / n, w0, w1, w2, w3, w4, w5, w6, w7),
                                      pick(4 % n, x0, x1, x2, x3, x4, x5, x6, x7), fused: fused)
                a5 = panelMultiplyAdd(a5, pick(5 / n, w0, w1, w2, w3, w4, w5, w6, w7),
                                      pick(5 % n, x0, x1, x2, x3, x4, x5, x6, x7), fused: fused)
                a6 = panelMultiplyAdd(a6, pick(6 / n, w0, w1, w2, w3, w4, w5, w6, w7),
                                      pick(6 % n, x0, x1, x2, x3, x4, x5, x6, x7), fused: fused)
                a7 = panelMultiplyAdd(a7, pick(7 / n, w0, w1, w2, w3, w4, w5, w6, w7),
                                      pick(7 % n, x0, x1, x2, x3, x4, x5, x6, x7), fused: fused)
            }
            k &+= 1
        }
        if perGroup {
            t0 = panelScaleAdd(t0, a0, pick(0 / n, s0, s1, s2, s3, s4, s5, s6, s7), fused: fused)
            if slots > 1 { t1 = panelScaleAdd(t1, a1, pick(1 / n, s0, s1, s2, s3, s4, s5, s6, s7), fused: fused) }
            if slots > 2 {
                t2 = panelScaleAdd(t2, a2, pick(2 / n, s0, s1, s2, s3, s4, s5, s6, s7), fused: fused)
                t3 = panelScaleAdd(t3, a3, pick(3 / n, s0, s1, s2, s3, s4, s5, s6, s7), fused: fused)
            }
            if slots > 4 {
                t4 = panelScaleAdd(t4, a4, pick(4 / n, s0, s1, s2, s3, s4, s5, s6, s7), fused: fused)
                t5 = panelScaleAdd(t5, a5, pick(5 / n, s0, s1, s2, s3, s4, s5, s6, s7), fused: fused)
                t6 = panelScaleAdd(t6, a6, pick(6 / n, s0, s1, s2, s3, s4, s5, s6, s7), fused: fused)
                t7 = panelScaleAdd(t7, a7, pick(7 / n, s0, s1, s2, s3, s4, s5, s6, s7), fused: fused)
            }
        } else {
            t0 = a0; t1 = a1; t2 = a2; t3 = a3; t4 = a4; t5 = a5; t6 = a6; t7 = a7
        }
        k0 = k1
        group &+= 1
    }
    for i in 0..<slots {
        let p = panel &+ i / n, b = i % n
        let v = pick(i, t0, t1, t2, t3, t4, t5, t6, t7)
        panelStore(v, y + (b &* ldy &+ p &* 16), count: min(16, rows &- p &* 16), accumulate: accumulate)
    }
}

/// y[b, r] (+)= sum_k W[r, k] * x[b, k] for the rows of `panels` and every b in 0..<batch.
///
/// `maxTile` bounds the input rows that share one pass over a panel (8 needs 8 + 2 vector registers of 16 floats:
/// right for AVX-512's 32, too many for AVX2's 16 256-bit registers, where 4 fits).
@_transparent
public func panelProduct<L: PanelLoader>(
    _ loader: L, rows: Int, cols: Int, groupSize: Int, panels: Range<Int>,
    x: UnsafePointer<Float>, ldx: Int, batch: Int, y: UnsafeMutablePointer<Float>, ldy: Int,
    accumulate: Bool, fused: Bool, maxTile: Int, scaleWeights: Bool = false
) {
    // Blocks of 8 panels (`PanelLayout.block`, in L2), each reused for
    // every tile of input rows before the next block; tiles of 8 input rows (AVX-512) or 4, and panels in groups so
    // that every tile keeps up to 8 accumulators in flight.
    var blockStart = panels.lowerBound
    while blockStart < panels.upperBound {
        let block = blockStart..<min((blockStart & ~7) + 8, panels.upperBound)
        var b = 0
        while b < batch {
            let left = batch - b
            let n = left >= 8 && maxTile >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1
            let xb = x + b * ldx, yb = y + b * ldy
            let group = max(1, maxTile / n)
            var p = block.lowerBound
            while p < block.upperBound {
                let np = min(group, block.upperBound - p)
                switch (n, np) {
                case (8, _):
                    panelTile(1, 8, loader, panel: p, cols: cols, groupSize: groupSize, x: xb, ldx: ldx,
                              y: yb, ldy: ldy, rows: rows, accumulate: accumulate, fused: fused,
                              scaleWeights: scaleWeights)
                case (4, 2...):
                    panelTile(2, 4, loader, panel: p, cols: cols, groupSize: groupSize, x: xb, ldx: ldx,
                              y: yb, ldy: ldy, rows: rows, accumulate: accumulate, fused: fused,
                              scaleWeights: scaleWeights)
                case (4, _):
                    panelTile(1, 4, loader, panel: p, cols: cols, groupSize: groupSize, x: xb, ldx: ldx,
                              y: yb, ldy: ldy, rows: rows, accumulate: accumulate, fused: fused,
                              scaleWeights: scaleWeights)
                case (2, 4...):
                    panelTile(4, 2, loader, panel: p, cols: cols, groupSize: groupSize, x: xb, ldx: ldx,
                              y: yb, ldy: ldy, rows: rows, accumulate: accumulate, fused: fused,
                              scaleWeights: scaleWeights)
                case (2, 2...):
                    panelTile(2, 2, loader, panel: p, cols: cols, groupSize: groupSize, x: xb, ldx: ldx,
                              y: yb, ldy: ldy, rows: rows, accumulate: accumulate, fused: fused,
                              scaleWeights: scaleWeights)
                case (2, _):
                    panelTile(1, 2, loader, panel: p, cols: cols, groupSize: groupSize, x: xb, ldx: ldx,
                              y: yb, ldy: ldy, rows: rows, accumulate: accumulate, fused: fused,
                              scaleWeights: scaleWeights)
                case (_, 8...):
                    panelTile(8, 1, loader, panel: p, cols: cols, groupSize: groupSize, x: xb, ldx: ldx,
                              y: yb, ldy: ldy, rows: rows, accumulate: accumulate, fused: fused,
                              scaleWeights: scaleWeights)
                case (_, 4...):
                    panelTile(4, 1, loader, panel: p, cols: cols, groupSize: groupSize, x: xb, ldx: ldx,
                              y: yb, ldy: ldy, rows: rows, accumulate: accumulate, fused: fused,
                              scaleWeights: scaleWeights)
                case (_, 2...):
                    panelTile(2, 1, loader, panel: p, cols: cols, groupSize: groupSize, x: xb, ldx: ldx,
                              y: yb, ldy: ldy, rows: rows, accumulate: accumulate, fused: fused,
                              scaleWeights: scaleWeights)
                default:
                    panelTile(1, 1, loader, panel: p, cols: cols, groupSize: groupSize, x: xb, ldx: ldx,
                              y: yb, ldy: ldy, rows: rows, accumulate: accumulate, fused: fused,
                              scaleWeights: scaleWeights)
                }
                p += n == 8 ? 1 : n == 4 ? min(np, 2)
                : n == 2 ? (np >= 4 ? 4 : np >= 2 ? 2 : 1) : (np >= 8 ? 8 : np >= 4 ? 4 : np >= 2 ? 2 : 1)
            }
            b += n
        }
        blockStart = block.upperBound
    }
}
