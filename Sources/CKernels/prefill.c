// Prefill products (many input rows) in bfloat16 with VDPBF16PS. See include/prefill.h for the contract and why
// this is C.
#include "prefill.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

static inline int imin(int a, int b) { return a < b ? a : b; }

// MARK: bfloat16

BF16_TARGET void chattts_bf16_round_rows(const float *x, int ldx, int batch, int cols, uint16_t *out, int stride) {
    for (int b = 0; b < batch; b++) {
        const float *row = x + (size_t)b * ldx;
        uint16_t *dst = out + (size_t)b * stride;
        int k = 0;
        for (; k + 32 <= cols; k += 32) {
            const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + k + 16), _mm512_loadu_ps(row + k));
            _mm512_storeu_si512(dst + k, (__m512i)v);
        }
        for (; k < cols; k++) {
            // Round to nearest even, as VCVTNE2PS2BF16 does; a NaN stays a (quiet) NaN.
            uint32_t bits;
            __builtin_memcpy(&bits, row + k, 4);
            const int nan = (bits & 0x7FFFFFFFu) > 0x7F800000u;
            dst[k] = nan ? (uint16_t)((bits >> 16) | 0x40) : (uint16_t)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
        }
        for (; k < stride; k++) dst[k] = 0;
    }
}

// NP panels x NB input rows. w: the first panel's repacked weights, [pairs][16 rows][2] (the next panel `pairs *
// 32` values on): VDPBF16PS multiplies a pair of columns of 16 rows by a broadcast pair of input values.
#define BF16_TILE(NP, NB)                                                                                          \
    BF16_TARGET static void bf16_tile_##NP##_##NB(const uint16_t *w, int pairs, const uint16_t *xb,              \
                                                 size_t x_stride, float *y, size_t ldy, int valid, int accumulate) { \
        __m512 acc[NP][NB];                                                                                        \
        for (int p = 0; p < NP; p++)                                                                               \
            for (int b = 0; b < NB; b++) acc[p][b] = _mm512_setzero_ps();                                          \
        for (int k = 0; k < pairs; k++) {                                                                          \
            __m512bh wv[NP];                                                                                       \
            for (int p = 0; p < NP; p++)                                                                           \
                wv[p] = (__m512bh)_mm512_loadu_si512(w + ((size_t)p * pairs + k) * 32);                            \
            for (int b = 0; b < NB; b++) {                                                                         \
                int32_t x2;                                                                                        \
                __builtin_memcpy(&x2, xb + (size_t)b * x_stride + 2 * (size_t)k, 4);                               \
                const __m512bh xv = (__m512bh)_mm512_set1_epi32(x2);                                               \
                for (int p = 0; p < NP; p++) acc[p][b] = _mm512_dpbf16_ps(acc[p][b], wv[p], xv);                   \
            }                                                                                                      \
        }                                                                                                          \
        for (int p = 0; p < NP; p++) {                                                                             \
            const int count = imin(16, valid - 16 * p);                                                            \
            if (count <= 0) break;                                                                                 \
            const __mmask16 mask = (__mmask16)((1u << count) - 1u);                                                \
            for (int b = 0; b < NB; b++) {                                                                         \
                float *out = y + (size_t)b * ldy + 16 * p;                                                         \
                __m512 v = acc[p][b];                                                                              \
                if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out));                            \
                _mm512_mask_storeu_ps(out, mask, v);                                                               \
            }                                                                                                      \
        }                                                                                                          \
    }

BF16_TILE(2, 8) BF16_TILE(2, 7) BF16_TILE(2, 6) BF16_TILE(2, 5) BF16_TILE(2, 4) BF16_TILE(2, 3) BF16_TILE(2, 2)
BF16_TILE(2, 1) BF16_TILE(1, 8) BF16_TILE(1, 7) BF16_TILE(1, 6) BF16_TILE(1, 5) BF16_TILE(1, 4) BF16_TILE(1, 3)
BF16_TILE(1, 2) BF16_TILE(1, 1)

// Panels repacked per call: 4 at a time (4 x 16 x 3072 x 2 bytes = 384 KB, in L2 beside the input tile).
enum { BF16_CHUNK = 4 };

BF16_TARGET void chattts_bf16_gemm(const uint16_t *weights, int rows, int cols, int panel_begin, int panel_end,
                                   const uint16_t *xb, int x_stride, int batch, float *y, int ldy, int accumulate) {
    if (panel_begin >= panel_end || batch <= 0) return;
    const int panels = (rows + 15) / 16, pairs = (cols + 1) / 2;
    uint16_t *packed = aligned_alloc(64, (size_t)BF16_CHUNK * pairs * 32 * sizeof(uint16_t));
    if (!packed) abort();
    // Interleaves column k (lanes 0-15) and k + 1 (lanes 16-31) as (k, k + 1) per row.
    uint16_t order[32];
    for (int i = 0; i < 16; i++) { order[2 * i] = (uint16_t)i; order[2 * i + 1] = (uint16_t)(16 + i); }
    const __m512i index = _mm512_loadu_si512(order);
    for (int chunk = panel_begin; chunk < panel_end;) {
        const int first = chunk & ~7, in_block = imin(8, panels - first);
        const int chunk_end = imin(imin(first + 8, panel_end), chunk + BF16_CHUNK);
        for (int p = chunk; p < chunk_end; p++) {
            uint16_t *dst = packed + (size_t)(p - chunk) * pairs * 32;
            const uint16_t *src = weights + ((size_t)first * cols + (size_t)(p - first)) * 16;
            const size_t column = (size_t)in_block * 16;   // values from column k to k + 1 of one panel
            for (int k = 0; k < pairs; k++) {
                const __m256i lo = _mm256_loadu_si256((const __m256i *)(src + 2 * (size_t)k * column));
                const __m256i hi = 2 * k + 1 < cols
                    ? _mm256_loadu_si256((const __m256i *)(src + (2 * (size_t)k + 1) * column)) : _mm256_setzero_si256();
                const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
                _mm512_storeu_si512(dst + (size_t)k * 32, _mm512_permutexvar_epi16(index, both));
            }
        }
        for (int b = 0; b < batch;) {
            const int nb = imin(8, batch - b);
            for (int p = chunk; p < chunk_end;) {
                const int np = chunk_end - p >= 2 ? 2 : 1;
                const uint16_t *w = packed + (size_t)(p - chunk) * pairs * 32;
                const uint16_t *xr = xb + (size_t)b * x_stride;
                float *yb = y + (size_t)b * ldy + (size_t)p * 16;
                const int valid = rows - p * 16;
#define CALL(NP, NB) bf16_tile_##NP##_##NB(w, pairs, xr, (size_t)x_stride, yb, (size_t)ldy, valid, accumulate)
#define ROWS(NP) switch (nb) { case 8: CALL(NP, 8); break; case 7: CALL(NP, 7); break; case 6: CALL(NP, 6); break; \
                               case 5: CALL(NP, 5); break; case 4: CALL(NP, 4); break; case 3: CALL(NP, 3); break; \
                               case 2: CALL(NP, 2); break; default: CALL(NP, 1); }
                if (np == 2) { ROWS(2) } else { ROWS(1) }
#undef ROWS
#undef CALL
                p += np;
            }
            b += nb;
        }
        chunk = chunk_end;
    }
    free(packed);
}

#else
void chattts_bf16_round_rows(const float *x, int ldx, int batch, int cols, uint16_t *out, int stride) {
    (void)x; (void)ldx; (void)batch; (void)cols; (void)out; (void)stride;
}

void chattts_bf16_gemm(const uint16_t *weights, int rows, int cols, int panel_begin, int panel_end,
                       const uint16_t *xb, int x_stride, int batch, float *y, int ldy, int accumulate) {
    (void)weights; (void)rows; (void)cols; (void)panel_begin; (void)panel_end; (void)xb; (void)x_stride;
    (void)batch; (void)y; (void)ldy; (void)accumulate;
}
#endif
