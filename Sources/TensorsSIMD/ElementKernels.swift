/// Element-wise steps of a GPT layer that ran in the baseline module (SSE2, no FMA, float16 through a library call)
/// and so took a tenth of a long prompt's prefill: the MLP's gate and the float16 KV-cache writes. Compiled per
/// instruction set like the panel kernels (`TensorsAVX2`, `TensorsAVX512`), chosen by `Tensors.Kernels`.

/// gate = silu(gate) * up over `count` floats: `Tensors.Kernels.siluMul`'s formula, g / (1 + e^-g) * u, with
/// `attentionExp` on 16 lanes (the same Cephes steps as `Kernels.exp`); agrees with it to float32 rounding.
@_transparent
public func panelSiluMul(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int, fused: Bool) {
    var i = 0
    while i &+ 16 <= count {
        let g = UnsafeRawPointer(gate + i).loadUnaligned(as: PanelVector.self)
        let u = UnsafeRawPointer(up + i).loadUnaligned(as: PanelVector.self)
        let s = g / (1 + attentionExp(-g, fused: fused))
        UnsafeMutableRawPointer(gate + i).storeBytes(of: s * u, as: PanelVector.self)
        i &+= 16
    }
    if i < count {
        var g = PanelVector(), u = PanelVector()
        for k in 0..<(count &- i) { g[k] = gate[i &+ k]; u[k] = up[i &+ k] }
        let s = g / (1 + attentionExp(-g, fused: fused)) * u
        for k in 0..<(count &- i) { gate[i &+ k] = s[k] }
    }
}

/// One head's key and value at `position` into a float16 KV cache: the key into its tile layout
/// (`keyTileOffset`), the value into its row; both rounded to nearest and saturated at +-65504 (`saturatedHalf`).
@_transparent
public func storeHalfKV(key: UnsafePointer<Float>, value: UnsafePointer<Float>, keys: UnsafeMutablePointer<Float16>,
                        values: UnsafeMutablePointer<Float16>, position: Int, dim: Int) {
    for d in 0..<dim {
        keys[keyTileOffset(position: position, dimension: d, dim: dim)] = saturatedHalf(key[d])
        values[position &* dim &+ d] = saturatedHalf(value[d])
    }
}

/// x rounded to float16, saturating at +-65504 instead of overflowing to infinity.
@_transparent
public func saturatedHalf(_ x: Float) -> Float16 {
    let largest: Float = 65504
    return Float16(x > largest ? largest : x < -largest ? -largest : x)
}
