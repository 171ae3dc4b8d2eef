// int8 matrix products on 256-bit registers, for `Tensors.PackedMatrix` in its quad layouts (16 rows x 4 columns
// per 64 bytes, ckernels.h): VPMADDUBSW for AVX2 (Zen 2/3, Intel before Alder Lake; the `avx2` kernels tier) and
// VEX-encoded VPDPBUSD for AVX-VNNI (Alder Lake and later; the `avx2-vnni` tier).
//
// Swift cannot emit VPMADDUBSW's saturating pair sums or VPDPBUSD (see vnni.c), so these are C, compiled through
// per-function target attributes only: the file builds for any x86-64 target, and each function may be called only
// where CPUID reports its instructions (AVX2 + FMA; plus AVX-VNNI). The Swift int8 kernel for AVX2 widens every
// weight to float and read 11-12 GB/s of about 30 at batch 1 (Benchmarks/engine-2026-12-02.txt). Tensors holds the
// scalar reference these equal bit for bit (`Kernels.Reference.quadProduct`); Tests/TensorsTests/KernelTierTests.swift
// holds them to it.
#ifndef CHATTTS_AVX2_INT8_H
#define CHATTTS_AVX2_INT8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Same contract as `chattts_vnni_int8_product` (ckernels.h) for the quad layouts, wsums128 unused (may be null):
/// y[b * ldy + r] (+)= sum over groups g of the exact int32 sum_{k in g} w[r, k] * q[b, k], converted to float and
/// added with one fused multiply-add by (wscale[r, g] * xscale[b, g]), group by group from 0; accumulate adds the
/// old y last. xq holds q + 128 (`QuantizedRows`); the kernel undoes the offset and multiplies |q| (unsigned) by
/// the weight with q's sign (VPSIGNB), so with q and w in -127...127 VPMADDUBSW's pair sums (at most 2 * 127 * 127)
/// never saturate. Needs AVX2 and FMA.
void chattts_avx2_int8_product(const int8_t *weights, const float *wscales, const int32_t *wsums128, int rows,
                               int cols, int group_size, int panel_begin, int panel_end, const uint8_t *xq,
                               int x_stride, const float *xscales, int batch, float *y, int ldy, int accumulate);

/// The same with VPDPBUSD on 256-bit registers (q + 128 times w, less 128 * the weights' sum: wsums128 needed, the
/// VNNI layout). Same result bit for bit as the AVX2 and AVX-512 kernels. Needs AVX2, FMA and AVX-VNNI.
void chattts_avxvnni_int8_product(const int8_t *weights, const float *wscales, const int32_t *wsums128, int rows,
                                  int cols, int group_size, int panel_begin, int panel_end, const uint8_t *xq,
                                  int x_stride, const float *xscales, int batch, float *y, int ldy, int accumulate);

/// `chattts_vnni_quantize_rows` (ckernels.h) with AVX2: the same values, bit for bit (group_size a multiple of 8).
void chattts_avx2_quantize_rows(const float *x, int ldx, int batch, int cols, int group_size, uint8_t *values,
                                int stride, float *scales);

#ifdef __cplusplus
}
#endif

#endif
