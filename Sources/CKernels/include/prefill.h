// Matrix-matrix products for many input rows (a prompt's prefill), over `Tensors.PackedMatrix` as it is packed for
// decoding: int8 in the VNNI layout (VPDPBUSD) and bfloat16 in the panel layout (VDPBF16PS).
//
// Swift cannot emit either instruction (see vnni.c for VPDPBUSD; VDPBF16PS likewise has no portable-vector form),
// so they are C, compiled through per-function target attributes only: the file builds for any x86-64 target, and
// the functions may be called only where CPUID reports AVX512F, BW, VL, DQ and VNNI (int8) or BF16 (bfloat16).
// The decode kernels (vnni.c, Swift's PanelKernels) stream the weights once for a few rows; these hold a block of
// weights in L2 and run tiles of many input rows over it, register-blocked (2 panels x 6 or 8 rows), so each
// weight load feeds 6 or 8 multiply-adds and the products are bound by arithmetic rather than memory.
// Tensors holds the scalar references (`Kernels.Reference.packedProduct`) and
// Tests/TensorsTests/KernelPrefillTests.swift holds these to them.
#ifndef CHATTTS_PREFILL_H
#define CHATTTS_PREFILL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Same contract, arguments and result as `chattts_vnni_int8_product` (ckernels.h), bit for bit: each (row, input
/// row) pair sums every group exactly in int32, then adds it scaled in group order with the same float operations,
/// so a row's result does not depend on which of the two kernels ran. Faster from about 16 input rows on.
void chattts_vnni_int8_gemm(const int8_t *weights, const float *wscales, const int32_t *wsums128, int rows, int cols,
                            int group_size, int panel_begin, int panel_end, const uint8_t *xq, int x_stride,
                            const float *xscales, int batch, float *y, int ldy, int accumulate);

/// Rounds `batch` rows of x ([batch][ldx] floats) to bfloat16 (nearest, ties to even) for `chattts_bf16_gemm`:
/// out is [batch][stride] 16-bit values, stride >= cols rounded up to even; an odd last column is padded with 0.
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
