// bfloat16 matrix products for `Tensors.PackedMatrix` in its panel layout (`TensorsSIMD/PanelKernels.swift`: blocks
// of 8 panels, inside a block column k of each panel as 16 values, the block's panels side by side): AVX2 with FMA
// (the `avx2` and `avx2-vnni` tiers) and AVX-512 BF16 (VDPBF16PS, the `avx512` tier where the CPU has it).
//
// VDPBF16PS has no portable-vector form, so Swift cannot emit it. The AVX2 kernel could be Swift; it is C beside
// it because its register blocking (8 rows of a panel split even/odd by a shift and a mask, partial sums kept in L1
// across chunks of 64 columns so that 4 panels at a time still read each block once) was quicker to get right here
// than through the generic Swift panel code, whose AVX2 copy read 7-16 GB/s of about 30 at batch 1
// (Benchmarks/engine-2026-12-02.txt). Compiled through per-function target attributes only; call each function only
// where CPUID reports its instructions. Tensors holds the scalar references (`Kernels.Reference.fusedPanelProduct`,
// `Kernels.Reference.packedProduct` over rounded inputs); Tests/TensorsTests/KernelTierTests.swift holds these to them.
#ifndef CHATTTS_BF16_KERNELS_H
#define CHATTTS_BF16_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// y[b * ldy + r] (+)= sum_k w[r, k] * x[b * ldx + k] for the rows of panels [panel_begin, panel_end) and b in
/// [0, batch): each (row, input row) pair is one chain of float32 fused multiply-adds from 0 in column order (then
/// plus the old y when accumulating), the same arithmetic as the Swift AVX2 / AVX-512 panel kernels, bit for bit.
/// Needs AVX2 and FMA.
void chattts_avx2_bf16_product(const uint16_t *weights, int rows, int cols, int panel_begin, int panel_end,
                               const float *x, int ldx, int batch, float *y, int ldy, int accumulate);

/// y[b * ldy + r] (+)= sum_k w[r, k] * xb[b, k], xb from `chattts_bf16_round_rows` (prefill.h), two columns per VDPBF16PS step in
/// float32 (each product of two bfloat16 values is exact; the instruction adds them to the sum with its own
/// rounding and treats denormal inputs as zero). A row's result does not depend on the batch or the panel range.
/// Needs AVX-512 F, BW, VL and BF16.
void chattts_avx512bf16_product(const uint16_t *weights, int rows, int cols, int panel_begin, int panel_end,
                                const uint16_t *xb, int x_stride, int batch, float *y, int ldy, int accumulate);

#ifdef __cplusplus
}
#endif

#endif
