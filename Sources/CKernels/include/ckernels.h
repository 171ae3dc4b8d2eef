// int8 matrix products with AVX-512 VNNI (VPDPBUSD), for `Tensors.PackedMatrix` in its VNNI layout.
//
// Swift cannot emit VPDPBUSD (LLVM does not form it from portable vector code; checked with -target-cpu znver4,
// cooperlake and -march=x86-64-v4 plus -mavx512vnni), and the Swift int8 kernel, which widens every weight to float,
// is bound by those conversions: in Benchmarks/engine-2026-11-24.txt ("matrix products alone", 2 threads, weights
// from memory, run 2) it reads 36.7 GB/s at batch 1 and 14.4 GB/s at batch 8, this kernel 38.7 and 25.2 (with the
// weights in cache, one thread, batch 1, measured by hand: 37 against about 90 GB/s). These functions are compiled
// for AVX-512 VNNI through function attributes only, so the file builds for any x86-64 target; call them only when
// CPUID reports AVX512F, BW, VL and VNNI. Tensors holds the scalar references (`QuantizedRows(reference:)`,
// `Kernels.Reference.packedProduct`) and Tests/TensorsTests/KernelQuantTests.swift holds these to them.
#ifndef CHATTTS_CKERNELS_H
#define CHATTTS_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// y[b * ldy + r] (+)= sum over groups g of wscale[r, g] * xscale[b, g] * sum_{k in g} w[r, k] * xq[b, k]
/// for the rows of panels [panel_begin, panel_end) (16 rows each) and b in [0, batch).
///
/// weights: the VNNI layout, blocks of 8 panels; inside a block, for each quad of columns (k, k+1, k+2, k+3) the
/// 64 bytes of each panel (16 rows x 4 columns, row-major) follow each other. cols is a multiple of group_size,
/// group_size a multiple of 4. wscales: [blocks of 8 panels][groups][panels in block][16] floats.
/// wsums128: the same layout, int32,
/// 128 * the sum of each row's int8 weights in the group. xq: [batch][x_stride] unsigned bytes, the activations
/// quantized to int8 plus 128. xscales: [batch][groups].
void chattts_vnni_int8_product(const int8_t *weights, const float *wscales, const int32_t *wsums128, int rows,
                               int cols, int group_size, int panel_begin, int panel_end, const uint8_t *xq,
                               int x_stride, const float *xscales, int batch, float *y, int ldy, int accumulate);

/// Quantizes `batch` rows of x ([batch][ldx] floats, cols a multiple of group_size, group_size a multiple of 16)
/// for `chattts_vnni_int8_product`: per row and group, scale = max |x| / 127 (0 for an all-zero group),
/// q = round-half-even(x * (1 / scale)) clamped to -127...127, stored as q + 128. Same arithmetic, step for step, as
/// the Swift reference `QuantizedRows(reference:)`.
void chattts_vnni_quantize_rows(const float *x, int ldx, int batch, int cols, int group_size, uint8_t *values,
                                int stride, float *scales);

#ifdef __cplusplus
}
#endif

#endif
