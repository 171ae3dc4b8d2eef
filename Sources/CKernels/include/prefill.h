// Matrix-matrix products for many input rows (a prompt's prefill) over a bfloat16 `Tensors.PackedMatrix` as it is
// packed for decoding (the panel layout), with VDPBF16PS.
//
// Swift cannot emit VDPBF16PS (no portable-vector form; as with VPDPBUSD in vnni.c), so this is C, compiled through
// per-function target attributes only: the file builds for any x86-64 target, and the functions may be called only
// where CPUID reports AVX512F, BW, VL, DQ and BF16. The Swift decode kernel widens every bfloat16 weight to float32
// and multiplies in float32; this one multiplies bfloat16 pairs (32 products per instruction, twice float32's 16),
// holding 4 panels repacked by column pairs in L2 and running register tiles of 2 panels x 8 input rows over them.
// int8 needs no such kernel: vnni.c's already reuses each block of weights across tiles of 8 input rows, and a
// register-blocked int8 kernel written for this (2 panels x 6 rows) measured the same, 250-380 GMAC/s per thread
// at 2,000 rows on Zen 5 (removed). Tensors holds the scalar reference (`Kernels.Reference.packedProduct`) and
// Tests/TensorsTests/KernelPrefillTests.swift holds this to it.
#ifndef CHATTTS_PREFILL_H
#define CHATTTS_PREFILL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Rounds `batch` rows of x ([batch][ldx] floats) to bfloat16 as `Tensors.floatToBF16` does (nearest, ties to even;
/// NaN stays NaN) for `chattts_bf16_gemm` and `chattts_avx512bf16_product`: out is [batch][stride] 16-bit values,
/// stride >= cols rounded up to even; an odd last column is padded with 0. Needs AVX-512 BF16.
void chattts_bf16_round_rows(const float *x, int ldx, int batch, int cols, uint16_t *out, int stride);

/// y[b * ldy + r] (+)= sum_k w[r, k] * xb[b, k] for the rows of panels [panel_begin, panel_end) and b in [0, batch),
/// with w the bfloat16 panel layout (`TensorsSIMD/PanelKernels.swift`: blocks of 8 panels, inside a block column k
/// of each panel as 16 values, the block's panels side by side) and xb the rows from `chattts_bf16_round_rows`.
/// Products of two bfloat16 values are exact in float32; sums are float32 (VDPBF16PS, two columns per step).
/// Allocates one scratch buffer per call (4 panels of weights repacked by column pairs).
void chattts_bf16_gemm(const uint16_t *weights, int rows, int cols, int panel_begin, int panel_end,
                       const uint16_t *xb, int x_stride, int batch, float *y, int ldy, int accumulate);

#ifdef __cplusplus
}
#endif

#endif
