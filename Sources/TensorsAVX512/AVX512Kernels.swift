import TensorsSIMD

// The kernels of `TensorsSIMD` compiled for x86-64-v4 (AVX-512 F, BW, CD, DQ, VL) (release builds; see
// Package.swift). Call only after the run-time check in `Tensors.KernelISA`: this module's code may use any
// instruction of that set.

public func avx512PanelF32(
    _ w: UnsafePointer<Float>, rows: Int, cols: Int, panels: Range<Int>,
    x: UnsafePointer<Float>, ldx: Int, batch: Int, y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool
) {
    panelProduct(F32PanelLoader(base: w, cols: cols, panels: (rows + 15) / 16), rows: rows, cols: cols,
                 groupSize: cols, panels: panels, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy,
                 accumulate: accumulate, fused: true, maxTile: 8)
}

public func avx512PanelBF16(
    _ w: UnsafePointer<UInt16>, rows: Int, cols: Int, panels: Range<Int>,
    x: UnsafePointer<Float>, ldx: Int, batch: Int, y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool
) {
    panelProduct(BF16PanelLoader(base: w, cols: cols, panels: (rows + 15) / 16), rows: rows, cols: cols,
                 groupSize: cols, panels: panels, x: x, ldx: ldx, batch: batch, y: y, ldy: ldy,
                 accumulate: accumulate, fused: true, maxTile: 8)
}

public func avx512PanelInt8(
    _ w: UnsafePointer<Int8>, scales: UnsafePointer<Float>, groupSize: Int, rows: Int, cols: Int, panels: Range<Int>,
    x: UnsafePointer<Float>, ldx: Int, batch: Int, y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool
) {
    let groups = (cols + groupSize - 1) / groupSize
    let loader = Int8PanelLoader(base: w, scales: scales, cols: cols, groups: groups, panels: (rows + 15) / 16)
    panelProduct(loader, rows: rows, cols: cols, groupSize: groupSize, panels: panels, x: x, ldx: ldx, batch: batch,
                 y: y, ldy: ldy, accumulate: accumulate, fused: true, maxTile: 8)
}

public func avx512AttentionScores(
    q: UnsafePointer<Float>, keyTiles: UnsafePointer<Float>, count: Int, dim: Int, scale: Float,
    out: UnsafeMutablePointer<Float>
) {
    attentionScores(q: q, keyTiles: UnsafeRawPointer(keyTiles), KVFloat32.self, count: count, dim: dim, scale: scale,
                    out: out, fused: true)
}

public func avx512AttentionScores(
    q: UnsafePointer<Float>, keyTiles: UnsafePointer<Float16>, count: Int, dim: Int, scale: Float,
    out: UnsafeMutablePointer<Float>
) {
    attentionScores(q: q, keyTiles: UnsafeRawPointer(keyTiles), KVFloat16.self, count: count, dim: dim, scale: scale,
                    out: out, fused: true)
}

public func avx512AttentionMix(
    weights: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, count: Int, dim: Int,
    out: UnsafeMutablePointer<Float>
) {
    attentionMix(weights: weights, values: UnsafeRawPointer(values), KVFloat32.self, stride: stride, count: count,
                 dim: dim, out: out, fused: true)
}

public func avx512AttentionMix(
    weights: UnsafePointer<Float>, values: UnsafePointer<Float16>, stride: Int, count: Int, dim: Int,
    out: UnsafeMutablePointer<Float>
) {
    attentionMix(weights: weights, values: UnsafeRawPointer(values), KVFloat16.self, stride: stride, count: count,
                 dim: dim, out: out, fused: true)
}

public func avx512SiluMul(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
    panelSiluMul(gate: gate, up: up, count: count, fused: true)
}

public func avx512StoreHalfKV(key: UnsafePointer<Float>, value: UnsafePointer<Float>, keys: UnsafeMutablePointer<Float16>,
                        values: UnsafeMutablePointer<Float16>, position: Int, dim: Int) {
    storeHalfKV(key: key, value: value, keys: keys, values: values, position: position, dim: dim)
}

public func avx512RowsProduct(
    a: UnsafePointer<Float>, lda: Int, m: Int, b: UnsafePointer<Float>, ldb: Int, columns: Range<Int>, k: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
) {
    rowsProduct(4, 4, a: a, lda: lda, m: m, b: b, ldb: ldb, columns: columns, k: k, c: c, ldc: ldc,
                accumulate: accumulate, fused: true)
}
