// bfloat16 products: AVX2 + FMA and AVX-512 BF16 (VDPBF16PS). Why C and what each computes: include/bf16_kernels.h.
#include "bf16_kernels.h"
#include "quads.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define BF16X_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

// Offset in values of column 0 of panel p, and the step from one column to the next (the block's panels * 16).
static inline size_t panel_base(int p, int cols) { return ((size_t)(p & ~7) * cols + (p & 7)) * 16; }
static inline size_t column_step(int p, int panels) { return (size_t)16 * min_int(8, panels - (p & ~7)); }

// ---- AVX2 ----

// NP panels x NB input rows (NP * NB <= 4) over columns [k0, k1). A 32-bit lane holds rows 2j (low half) and 2j+1:
// a shift by 16 gives row 2j as float, a mask row 2j+1, so each slot has an even-rows and an odd-rows accumulator.
// The accumulators live in `sums` ([panel in block][NB][even 8, odd 8]) between column chunks.
#define BF16_AVX2_TILE(NP, NB)                                                                                    \
    AVX2_TARGET static void avx2_tile_##NP##_##NB(const uint16_t *weights, int cols, int panel, int panels,       \
                                                  int k0, int k1, const float *x, int ldx, float *sums,           \
                                                  int fetch) {                                                    \
        const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);                                                 \
        const size_t step = column_step(panel, panels);                                                           \
        const uint16_t *w[NP];                                                                                    \
        __m256 acc[NP][NB][2];                                                                                    \
        for (int p = 0; p < NP; p++) {                                                                            \
            w[p] = weights + panel_base(panel + p, cols);                                                         \
            for (int b = 0; b < NB; b++) {                                                                        \
                const float *s = sums + ((size_t)((panel + p) & 7) * NB + b) * 16;                                \
                acc[p][b][0] = _mm256_loadu_ps(s);                                                                \
                acc[p][b][1] = _mm256_loadu_ps(s + 8);                                                            \
            }                                                                                                     \
        }                                                                                                         \
        for (int k = k0; k < k1; k++) {                                                                           \
            /* The chunk's first tile asks for whole columns 16 on (every panel's 32 bytes, 4 KB ahead), so  */ \
            /* memory sees one stream, ahead of the hardware prefetcher, and the tiles after it find their     */ \
            /* lines in L1 (see VNNI_AHEAD in vnni.c).                                                         */ \
            if (fetch)                                                                                            \
                for (size_t at = 0; at < step; at += 32)                                                          \
                    _mm_prefetch((const char *)(w[0] + (size_t)(k + 16) * step + at), _MM_HINT_T0);               \
            __m256 xv[NB];                                                                                        \
            for (int b = 0; b < NB; b++) xv[b] = _mm256_broadcast_ss(x + (size_t)b * ldx + k);                    \
            for (int p = 0; p < NP; p++) {                                                                        \
                const __m256i v = _mm256_loadu_si256((const __m256i *)(w[p] + (size_t)k * step));                \
                const __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));                               \
                const __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(v, high));                               \
                for (int b = 0; b < NB; b++) {                                                                    \
                    acc[p][b][0] = _mm256_fmadd_ps(even, xv[b], acc[p][b][0]);                                    \
                    acc[p][b][1] = _mm256_fmadd_ps(odd, xv[b], acc[p][b][1]);                                     \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
        for (int p = 0; p < NP; p++)                                                                              \
            for (int b = 0; b < NB; b++) {                                                                        \
                float *s = sums + ((size_t)((panel + p) & 7) * NB + b) * 16;                                      \
                _mm256_storeu_ps(s, acc[p][b][0]);                                                                \
                _mm256_storeu_ps(s + 8, acc[p][b][1]);                                                            \
            }                                                                                                     \
    }

BF16_AVX2_TILE(4, 1)
BF16_AVX2_TILE(2, 1)
BF16_AVX2_TILE(1, 1)
BF16_AVX2_TILE(2, 2)
BF16_AVX2_TILE(1, 2)
BF16_AVX2_TILE(1, 4)

// Columns per chunk: a chunk of a block (8 panels x 64 columns x 32 bytes = 16 KB) stays in L1 while 4 panels at a
// time walk it.
enum { BF16_CHUNK = 64 };

AVX2_TARGET void chattts_avx2_bf16_product(const uint16_t *weights, int rows, int cols, int panel_begin,
                                           int panel_end, const float *x, int ldx, int batch, float *y, int ldy,
                                           int accumulate) {
    const int panels = (rows + 15) / 16;
    float sums[8 * 4 * 16];
    for (int block = panel_begin; block < panel_end;) {
        const int block_end = min_int((block & ~7) + 8, panel_end);
        for (int b = 0; b < batch;) {
            const int left = batch - b;
            const int n = left >= 4 ? 4 : left >= 2 ? 2 : 1;
            const float *xb = x + (size_t)b * ldx;
            memset(sums, 0, sizeof(sums));
            for (int k0 = 0; k0 < cols; k0 += BF16_CHUNK) {
                const int k1 = min_int(cols, k0 + BF16_CHUNK);
                for (int p = block; p < block_end;) {
                    const int np = block_end - p;
                    int used;
                    if (n == 4) { avx2_tile_1_4(weights, cols, p, panels, k0, k1, xb, ldx, sums, p == block); used = 1; }
                    else if (n == 2 && np >= 2) { avx2_tile_2_2(weights, cols, p, panels, k0, k1, xb, ldx, sums, p == block); used = 2; }
                    else if (n == 2) { avx2_tile_1_2(weights, cols, p, panels, k0, k1, xb, ldx, sums, p == block); used = 1; }
                    else if (np >= 4) { avx2_tile_4_1(weights, cols, p, panels, k0, k1, xb, ldx, sums, p == block); used = 4; }
                    else if (np >= 2) { avx2_tile_2_1(weights, cols, p, panels, k0, k1, xb, ldx, sums, p == block); used = 2; }
                    else { avx2_tile_1_1(weights, cols, p, panels, k0, k1, xb, ldx, sums, p == block); used = 1; }
                    p += used;
                }
            }
            for (int p = block; p < block_end; p++) {
                const int count = min_int(16, rows - p * 16);
                for (int bb = 0; bb < n; bb++) {
                    const float *s = sums + ((size_t)(p & 7) * n + bb) * 16;
                    float *out = y + (size_t)(b + bb) * ldy + (size_t)p * 16;
                    for (int i = 0; i < count; i++) {
                        const float v = s[(i & 1) * 8 + i / 2];
                        out[i] = accumulate ? v + out[i] : v;
                    }
                }
            }
            b += n;
        }
        block = block_end;
    }
}

// ---- AVX-512 BF16 ----

// NP panels x NB input rows (NP * NB <= 16) over every column: columns k and k + 1 of a panel (two 32-byte loads)
// interleaved into 16 (row, k, k + 1) pairs by one VPERMT2W, then one VDPBF16PS per input row.
#define BF16X_TILE(NP, NB)                                                                                        \
    BF16X_TARGET static void bf16x_tile_##NP##_##NB(const uint16_t *weights, int rows, int cols, int panel,      \
                                                    int panels, const uint16_t *xb, int x_stride, float *y,       \
                                                    int ldy, int accumulate) {                                    \
        const __m512i pairs = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,      \
                                               39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);            \
        const size_t step = column_step(panel, panels);                                                           \
        const uint16_t *w[NP];                                                                                    \
        __m512 acc[NP][NB];                                                                                       \
        for (int p = 0; p < NP; p++) {                                                                            \
            w[p] = weights + panel_base(panel + p, cols);                                                         \
            for (int b = 0; b < NB; b++) acc[p][b] = _mm512_setzero_ps();                                         \
        }                                                                                                         \
        for (int k = 0; k < cols; k += 2) {                                                                       \
            /* One input row: ask for the weights 16 columns on (4 KB), a line per two panels, as vnni.c does. */ \
            if (NB == 1)                                                                                          \
                for (int p = 0; p < NP; p += 2) {                                                                 \
                    _mm_prefetch((const char *)(w[p] + (size_t)(k + 16) * step), _MM_HINT_T0);                    \
                    _mm_prefetch((const char *)(w[p] + (size_t)(k + 17) * step), _MM_HINT_T0);                    \
                }                                                                                                 \
            __m512i wv[NP];                                                                                       \
            for (int p = 0; p < NP; p++) {                                                                        \
                const __m256i lo = _mm256_loadu_si256((const __m256i *)(w[p] + (size_t)k * step));               \
                const __m256i hi = k + 1 < cols                                                                   \
                    ? _mm256_loadu_si256((const __m256i *)(w[p] + (size_t)(k + 1) * step)) : _mm256_setzero_si256(); \
                wv[p] = _mm512_permutex2var_epi16(_mm512_castsi256_si512(lo), pairs, _mm512_castsi256_si512(hi));  \
            }                                                                                                     \
            for (int b = 0; b < NB; b++) {                                                                        \
                int32_t x2;                                                                                       \
                memcpy(&x2, xb + (size_t)b * x_stride + k, 4);                                                    \
                const __m512i xv = _mm512_set1_epi32(x2);                                                         \
                for (int p = 0; p < NP; p++)                                                                      \
                    acc[p][b] = _mm512_dpbf16_ps(acc[p][b], (__m512bh)wv[p], (__m512bh)xv);                       \
            }                                                                                                     \
        }                                                                                                         \
        for (int p = 0; p < NP; p++) {                                                                            \
            const int row0 = (panel + p) * 16;                                                                    \
            const __mmask16 mask = (__mmask16)((1u << min_int(16, rows - row0)) - 1u);                            \
            for (int b = 0; b < NB; b++) {                                                                        \
                float *out = y + (size_t)b * ldy + row0;                                                          \
                __m512 v = acc[p][b];                                                                             \
                if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out));                           \
                _mm512_mask_storeu_ps(out, mask, v);                                                              \
            }                                                                                                     \
        }                                                                                                         \
    }

BF16X_TILE(8, 1)
BF16X_TILE(4, 1)
BF16X_TILE(2, 1)
BF16X_TILE(1, 1)
BF16X_TILE(4, 2)
BF16X_TILE(2, 2)
BF16X_TILE(1, 2)
BF16X_TILE(4, 4)
BF16X_TILE(2, 4)
BF16X_TILE(1, 4)
BF16X_TILE(2, 8)
BF16X_TILE(1, 8)

BF16X_TARGET void chattts_avx512bf16_product(const uint16_t *weights, int rows, int cols, int panel_begin,
                                             int panel_end, const uint16_t *xb, int x_stride, int batch, float *y,
                                             int ldy, int accumulate) {
    const int panels = (rows + 15) / 16;
    // Blocks of 8 panels, each reused by every tile of input rows while it is in L2.
    for (int block = panel_begin; block < panel_end;) {
        const int block_end = min_int((block & ~7) + 8, panel_end);
        for (int b = 0; b < batch;) {
            const int left = batch - b;
            const int n = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            const uint16_t *xr = xb + (size_t)b * x_stride;
            float *yb = y + (size_t)b * ldy;
            for (int p = block; p < block_end;) {
                const int np = block_end - p;
                int used;
#define CALL(NP, NB) bf16x_tile_##NP##_##NB(weights, rows, cols, p, panels, xr, x_stride, yb, ldy, accumulate); used = NP
                if (n == 8) { if (np >= 2) { CALL(2, 8); } else { CALL(1, 8); } }
                else if (n == 4) { if (np >= 4) { CALL(4, 4); } else if (np >= 2) { CALL(2, 4); } else { CALL(1, 4); } }
                else if (n == 2) { if (np >= 4) { CALL(4, 2); } else if (np >= 2) { CALL(2, 2); } else { CALL(1, 2); } }
                else if (np >= 8) { CALL(8, 1); }
                else if (np >= 4) { CALL(4, 1); }
                else if (np >= 2) { CALL(2, 1); }
                else { CALL(1, 1); }
#undef CALL
                p += used;
            }
            b += n;
        }
        block = block_end;
    }
}

#else
void chattts_avx2_bf16_product(const uint16_t *weights, int rows, int cols, int panel_begin, int panel_end,
                               const float *x, int ldx, int batch, float *y, int ldy, int accumulate) {
    (void)weights; (void)rows; (void)cols; (void)panel_begin; (void)panel_end; (void)x; (void)ldx; (void)batch;
    (void)y; (void)ldy; (void)accumulate;
}

void chattts_avx512bf16_product(const uint16_t *weights, int rows, int cols, int panel_begin, int panel_end,
                                const uint16_t *xb, int x_stride, int batch, float *y, int ldy, int accumulate) {
    (void)weights; (void)rows; (void)cols; (void)panel_begin; (void)panel_end; (void)xb; (void)x_stride;
    (void)batch; (void)y; (void)ldy; (void)accumulate;
}
#endif
