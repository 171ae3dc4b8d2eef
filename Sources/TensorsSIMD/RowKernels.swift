/// The product of a few rows with a weight matrix stored as nn.Linear keeps it, [out, in] row-major, read as stored:
/// c[i, j] (+)= sum_p a[i, p] * b[j, p]. For the streaming vocoder's chunks (16-48 mel frames): OpenBLAS's sgemm
/// copies (packs) the whole weight matrix on every call, which for so few rows cost more than the product itself
/// (`sgemm_incopy` took more samples than `sgemm_kernel` in a profile of the server at one client). Compiled per
/// instruction set like the panel kernels (`TensorsAVX2`, `TensorsAVX512`), chosen by `Tensors.Kernels.gemm`.
///
/// Tiles of `nb` weight rows x `na` input rows (constants at every call site: 4 x 4 on AVX-512's 32 registers,
/// 2 x 2 on AVX2's 16), 16 columns at a time, one accumulator per pair; the tile's weight rows stay in L1 while
/// every input row passes, so memory sees one pass over the weights. Tiles at the edges repeat their last row
/// (computed, not stored), so every tile runs the same code.

/// c[i * ldc + j] for i in 0..<m, j in columns: (c's value if `accumulate`, else 0) + sum over k of a[i, p] b[j, p].
@_transparent
public func rowsProduct(
    _ nb: Int, _ na: Int, a: UnsafePointer<Float>, lda: Int, m: Int, b: UnsafePointer<Float>, ldb: Int,
    columns: Range<Int>, k: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, fused: Bool
) {
    var j = columns.lowerBound
    while j < columns.upperBound {
        let nj = min(nb, columns.upperBound &- j)
        var i = 0
        while i < m {
            let ni = min(na, m &- i)
            rowsTile(nb, na, a: a, lda: lda, row: i, rows: ni, b: b, ldb: ldb, column: j, columns: nj, k: k,
                     c: c, ldc: ldc, accumulate: accumulate, fused: fused)
            i &+= na
        }
        j &+= nb
    }
}

/// The first `count` (< 16) floats at p, zeros after.
@_transparent @usableFromInline
func rowsPartial(_ p: UnsafePointer<Float>, _ count: Int) -> PanelVector {
    var v = PanelVector()
    for l in 0..<count { v[l] = p[l] }
    return v
}

/// A tile's accumulators: slot (i, j) sums input row i times weight row j, 16 columns at a time.
@frozen @usableFromInline
struct RowsTile {
    @usableFromInline var c00 = PanelVector(), c01 = PanelVector(), c02 = PanelVector(), c03 = PanelVector()
    @usableFromInline var c10 = PanelVector(), c11 = PanelVector(), c12 = PanelVector(), c13 = PanelVector()
    @usableFromInline var c20 = PanelVector(), c21 = PanelVector(), c22 = PanelVector(), c23 = PanelVector()
    @usableFromInline var c30 = PanelVector(), c31 = PanelVector(), c32 = PanelVector(), c33 = PanelVector()

    @_transparent @usableFromInline
    init() {}

    /// Slots (i, j) for i < na, j < nb take x_i * w_j.
    @_transparent @usableFromInline
    mutating func step(
        _ nb: Int, _ na: Int, _ w0: PanelVector, _ w1: PanelVector, _ w2: PanelVector, _ w3: PanelVector,
        _ x0: PanelVector, _ x1: PanelVector, _ x2: PanelVector, _ x3: PanelVector, fused: Bool
    ) {
        c00 = rowsFMA(c00, x0, w0, fused: fused)
        if nb > 1 { c01 = rowsFMA(c01, x0, w1, fused: fused) }
        if nb > 2 { c02 = rowsFMA(c02, x0, w2, fused: fused) }
        if nb > 3 { c03 = rowsFMA(c03, x0, w3, fused: fused) }
        if na > 1 {
            c10 = rowsFMA(c10, x1, w0, fused: fused)
            if nb > 1 { c11 = rowsFMA(c11, x1, w1, fused: fused) }
            if nb > 2 { c12 = rowsFMA(c12, x1, w2, fused: fused) }
            if nb > 3 { c13 = rowsFMA(c13, x1, w3, fused: fused) }
        }
        if na > 2 {
            c20 = rowsFMA(c20, x2, w0, fused: fused)
            if nb > 1 { c21 = rowsFMA(c21, x2, w1, fused: fused) }
            if nb > 2 { c22 = rowsFMA(c22, x2, w2, fused: fused) }
            if nb > 3 { c23 = rowsFMA(c23, x2, w3, fused: fused) }
        }
        if na > 3 {
            c30 = rowsFMA(c30, x3, w0, fused: fused)
            if nb > 1 { c31 = rowsFMA(c31, x3, w1, fused: fused) }
            if nb > 2 { c32 = rowsFMA(c32, x3, w2, fused: fused) }
            if nb > 3 { c33 = rowsFMA(c33, x3, w3, fused: fused) }
        }
    }
}

@_transparent @usableFromInline
func rowsFMA(_ acc: PanelVector, _ x: PanelVector, _ w: PanelVector, fused: Bool) -> PanelVector {
    fused ? acc.addingProduct(x, w) : acc + x * w
}

/// The 16 lanes' sum, halves first.
@_transparent @usableFromInline
func rowsSum(_ v: PanelVector) -> Float {
    let h8 = v.lowHalf + v.highHalf
    let h4 = h8.lowHalf + h8.highHalf
    let h2 = h4.lowHalf + h4.highHalf
    return h2[0] + h2[1]
}

/// One tile: weight rows column..<column+columns (<= nb) times input rows row..<row+rows (<= na), nb, na <= 4.
@_transparent @usableFromInline
func rowsTile(
    _ nb: Int, _ na: Int, a: UnsafePointer<Float>, lda: Int, row: Int, rows: Int, b: UnsafePointer<Float>, ldb: Int,
    column: Int, columns: Int, k: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, fused: Bool
) {
    // Rows past the edge repeat the last one: the same loads, results not stored.
    let b0 = b + column &* ldb
    let b1 = b + (column &+ min(1, columns &- 1)) &* ldb
    let b2 = b + (column &+ min(2, columns &- 1)) &* ldb
    let b3 = b + (column &+ min(3, columns &- 1)) &* ldb
    let a0 = a + row &* lda
    let a1 = a + (row &+ min(1, rows &- 1)) &* lda
    let a2 = a + (row &+ min(2, rows &- 1)) &* lda
    let a3 = a + (row &+ min(3, rows &- 1)) &* lda
    var t = RowsTile()
    var p = 0
    while p &+ 16 <= k {
        let w0 = UnsafeRawPointer(b0 + p).loadUnaligned(as: PanelVector.self)
        let w1 = nb > 1 ? UnsafeRawPointer(b1 + p).loadUnaligned(as: PanelVector.self) : w0
        let w2 = nb > 2 ? UnsafeRawPointer(b2 + p).loadUnaligned(as: PanelVector.self) : w0
        let w3 = nb > 3 ? UnsafeRawPointer(b3 + p).loadUnaligned(as: PanelVector.self) : w0
        let x0 = UnsafeRawPointer(a0 + p).loadUnaligned(as: PanelVector.self)
        let x1 = na > 1 ? UnsafeRawPointer(a1 + p).loadUnaligned(as: PanelVector.self) : x0
        let x2 = na > 2 ? UnsafeRawPointer(a2 + p).loadUnaligned(as: PanelVector.self) : x0
        let x3 = na > 3 ? UnsafeRawPointer(a3 + p).loadUnaligned(as: PanelVector.self) : x0
        t.step(nb, na, w0, w1, w2, w3, x0, x1, x2, x3, fused: fused)
        p &+= 16
    }
    if p < k {
        // The last columns, fewer than 16: zeros in the lanes past k add nothing.
        let n = k &- p
        let w0 = rowsPartial(b0 + p, n), w1 = nb > 1 ? rowsPartial(b1 + p, n) : w0
        let w2 = nb > 2 ? rowsPartial(b2 + p, n) : w0, w3 = nb > 3 ? rowsPartial(b3 + p, n) : w0
        let x0 = rowsPartial(a0 + p, n), x1 = na > 1 ? rowsPartial(a1 + p, n) : x0
        let x2 = na > 2 ? rowsPartial(a2 + p, n) : x0, x3 = na > 3 ? rowsPartial(a3 + p, n) : x0
        t.step(nb, na, w0, w1, w2, w3, x0, x1, x2, x3, fused: fused)
    }
    let store = (c: c, ldc: ldc, row: row, column: column, rows: rows, columns: columns, accumulate: accumulate)
    rowsPut(t.c00, t.c01, t.c02, t.c03, 0, store)
    if na > 1 { rowsPut(t.c10, t.c11, t.c12, t.c13, 1, store) }
    if na > 2 { rowsPut(t.c20, t.c21, t.c22, t.c23, 2, store) }
    if na > 3 { rowsPut(t.c30, t.c31, t.c32, t.c33, 3, store) }
}

/// Stores the sums of tile row i's slots, those inside the edge.
@_transparent @usableFromInline
func rowsPut(
    _ v0: PanelVector, _ v1: PanelVector, _ v2: PanelVector, _ v3: PanelVector, _ i: Int,
    _ t: (c: UnsafeMutablePointer<Float>, ldc: Int, row: Int, column: Int, rows: Int, columns: Int, accumulate: Bool)
) {
    guard i < t.rows else { return }
    let out = t.c + ((t.row &+ i) &* t.ldc &+ t.column)
    out[0] = t.accumulate ? out[0] + rowsSum(v0) : rowsSum(v0)
    if t.columns > 1 { out[1] = t.accumulate ? out[1] + rowsSum(v1) : rowsSum(v1) }
    if t.columns > 2 { out[2] = t.accumulate ? out[2] + rowsSum(v2) : rowsSum(v2) }
    if t.columns > 3 { out[3] = t.accumulate ? out[3] + rowsSum(v3) : rowsSum(v3) }
}
