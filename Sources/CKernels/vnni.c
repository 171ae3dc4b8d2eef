#include "ckernels.h"
#include "quads.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

// Quads of columns (512 bytes of a block each) that batch 1 prefetches ahead: one thread then read 16-19 GB/s
// against 13-15 without, alternating in one process (a 128 MB matrix, by hand, 2026-12-03, on a loaded machine
// whose plain read loop gave 16-29 GB/s); 8 and 16 measured the same.
enum { VNNI_AHEAD = 8 };

// NP panels x NB input rows, NP * NB <= 16; each (panel, row) slot sums a group in int32, then adds it scaled.
#define VNNI_TILE(NP, NB)                                                                                         \
    VNNI_TARGET static void tile_##NP##_##NB(                                                                     \
        const int8_t *weights, const float *wscales, const int32_t *wsums128, int rows, int cols, int group_size, \
        int panel, int panels, const uint8_t *xq, int x_stride, const float *xscales, float *y, int ldy,           \
        int accumulate, const __m512i *next, int next_step) {                                                     \
        const int quads = cols / 4, groups = cols / group_size, gq = group_size / 4;                             \
        __m512 total[NP][NB];                                                                                     \
        for (int p = 0; p < NP; p++)                                                                              \
            for (int b = 0; b < NB; b++) total[p][b] = _mm512_setzero_ps();                                       \
        const __m512i *w[NP];                                                                                     \
        for (int p = 0; p < NP; p++) w[p] = (const __m512i *)weights + quad_offset(panel + p, 0, quads, panels);   \
        const size_t step = (size_t)min_int(8, panels - (panel & ~7));                                            \
        for (int g = 0; g < groups; g++) {                                                                        \
            __m512i acc[NP][NB];                                                                                  \
            for (int p = 0; p < NP; p++)                                                                          \
                for (int b = 0; b < NB; b++) acc[p][b] = _mm512_setzero_si512();                                  \
            /* One input row streams the weights once: fetch the next group's scales and sums (a second and  */ \
            /* third stream, 512 bytes per group) while this group's weights stream in.                       */ \
            if (NB == 1 && g + 1 < groups) {                                                                  \
                for (int p = 0; p < NP; p++) {                                                                    \
                    const size_t at = side_offset(panel + p, g + 1, groups, panels);                          \
                    _mm_prefetch((const char *)(wscales + at), _MM_HINT_T0);                                      \
                    _mm_prefetch((const char *)(wsums128 + at), _MM_HINT_T0);                                     \
                }                                                                                                 \
            }                                                                                                     \
            for (int q = g * gq; q < (g + 1) * gq; q++) {                                                         \
                if (next) {                                                                                       \
                    /* Several input rows walk a block panel by panel, a 64-byte line in every 512: meanwhile   */ \
                    /* fetch the next block front to back, a line per line used, so memory sees one stream.     */ \
                    for (int p = 0; p < NP; p++) {                                                                \
                        const int local = (panel + p) & 7;                                                        \
                        if (local < next_step)                                                                    \
                            _mm_prefetch((const char *)(next + (size_t)local * quads + q), _MM_HINT_T0);          \
                    }                                                                                             \
                }                                                                                                 \
                if (NB == 1) {                                                                                    \
                    /* One input row: ask for the weights VNNI_AHEAD quads on (4 KB), a line per panel, beyond  */ \
                    /* what the hardware prefetcher keeps in flight for one thread.                             */ \
                    for (int p = 0; p < NP; p++)                                                                  \
                        _mm_prefetch((const char *)(w[p] + (size_t)(q + VNNI_AHEAD) * step), _MM_HINT_T0);        \
                }                                                                                                 \
                __m512i wv[NP];                                                                                   \
                for (int p = 0; p < NP; p++) wv[p] = _mm512_loadu_si512(w[p] + (size_t)q * step);                 \
                for (int b = 0; b < NB; b++) {                                                                    \
                    int32_t x4;                                                                                     \
                    __builtin_memcpy(&x4, xq + (size_t)b * x_stride + 4 * q, 4);                                  \
                    const __m512i xv = _mm512_set1_epi32(x4);   \
                    for (int p = 0; p < NP; p++) acc[p][b] = _mm512_dpbusd_epi32(acc[p][b], xv, wv[p]);           \
                }                                                                                                 \
            }                                                                                                     \
            for (int p = 0; p < NP; p++) {                                                                        \
                const size_t at = side_offset(panel + p, g, groups, panels);                                        \
                const __m512 ws = _mm512_loadu_ps(wscales + at);                                                  \
                const __m512i corr = _mm512_loadu_si512(wsums128 + at);                                           \
                for (int b = 0; b < NB; b++) {                                                                    \
                    const __m512 s = _mm512_mul_ps(ws, _mm512_set1_ps(xscales[(size_t)b * groups + g]));          \
                    const __m512 d = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[p][b], corr));                       \
                    total[p][b] = _mm512_fmadd_ps(d, s, total[p][b]);                                             \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
        for (int p = 0; p < NP; p++) {                                                                            \
            const int row0 = (panel + p) * 16;                                                                    \
            const int count = min_int(16, rows - row0);                                                           \
            const __mmask16 mask = (__mmask16)((1u << count) - 1u);                                               \
            for (int b = 0; b < NB; b++) {                                                                        \
                float *out = y + (size_t)b * ldy + row0;                                                          \
                __m512 v = total[p][b];                                                                           \
                if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out));                           \
                _mm512_mask_storeu_ps(out, mask, v);                                                              \
            }                                                                                                     \
        }                                                                                                         \
    }

VNNI_TILE(8, 1)
VNNI_TILE(4, 2)
VNNI_TILE(2, 4)
VNNI_TILE(1, 8)
VNNI_TILE(4, 1)
VNNI_TILE(2, 1)
VNNI_TILE(1, 1)
VNNI_TILE(2, 2)
VNNI_TILE(1, 2)
VNNI_TILE(1, 4)
VNNI_TILE(2, 8)
VNNI_TILE(4, 4)

VNNI_TARGET void chattts_vnni_int8_product(const int8_t *weights, const float *wscales, const int32_t *wsums128,
                                           int rows, int cols, int group_size, int panel_begin, int panel_end,
                                           const uint8_t *xq, int x_stride, const float *xscales, int batch,
                                           float *y, int ldy, int accumulate) {
    const int panels = (rows + 15) / 16, groups = cols / group_size, quads = cols / 4;
    // Blocks of 8 panels, each reused by every tile of input rows while it is in L2.
    for (int block = panel_begin; block < panel_end;) {
        const int block_end = min_int((block & ~7) + 8, panel_end);
        const int next_first = (block & ~7) + 8;
        const __m512i *next = batch > 1 && next_first < panels
            ? (const __m512i *)weights + quad_offset(next_first, 0, quads, panels) : 0;
        const int next_step = min_int(8, panels - next_first);
        for (int b = 0; b < batch;) {
            const int left = batch - b;
            const int n = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            const uint8_t *xb = xq + (size_t)b * x_stride;
            const float *sb = xscales + (size_t)b * groups;
            float *yb = y + (size_t)b * ldy;
            for (int p = block; p < block_end;) {
                const int np = block_end - p;
                int used;
#define CALL(NP, NB) tile_##NP##_##NB(weights, wscales, wsums128, rows, cols, group_size, p, panels, xb, x_stride, sb, \
                                      yb, ldy, accumulate, b == 0 ? next : 0, next_step); used = NP
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

VNNI_TARGET void chattts_vnni_quantize_rows(const float *x, int ldx, int batch, int cols, int group_size,
                                            uint8_t *values, int stride, float *scales) {
    const int groups = cols / group_size;
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int b = 0; b < batch; b++) {
        for (int g = 0; g < groups; g++) {
            const float *row = x + (size_t)b * ldx + (size_t)g * group_size;
            __m512 largest = _mm512_setzero_ps();
            for (int k = 0; k < group_size; k += 16)
                largest = _mm512_max_ps(largest, _mm512_andnot_ps(sign, _mm512_loadu_ps(row + k)));
            const float scale = _mm512_reduce_max_ps(largest) / 127.0f;
            const float inverse = scale > 0 ? 1.0f / scale : 0.0f;
            scales[(size_t)b * groups + g] = scale;
            const __m512 inv = _mm512_set1_ps(inverse);
            uint8_t *out = values + (size_t)b * stride + (size_t)g * group_size;
            for (int k = 0; k < group_size; k += 16) {
                __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(row + k), inv),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q = _mm512_min_ps(_mm512_max_ps(q, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
                const __m512i u = _mm512_add_epi32(_mm512_cvtps_epi32(q), _mm512_set1_epi32(128));
                _mm_storeu_si128((__m128i *)(out + k), _mm512_cvtepi32_epi8(u));
            }
        }
    }
}

#else
void chattts_vnni_quantize_rows(const float *x, int ldx, int batch, int cols, int group_size, uint8_t *values,
                                int stride, float *scales) {
    (void)x; (void)ldx; (void)batch; (void)cols; (void)group_size; (void)values; (void)stride; (void)scales;
}

void chattts_vnni_int8_product(const int8_t *weights, const float *wscales, const int32_t *wsums128, int rows,
                               int cols, int group_size, int panel_begin, int panel_end, const uint8_t *xq,
                               int x_stride, const float *xscales, int batch, float *y, int ldy, int accumulate) {
    (void)weights; (void)wscales; (void)wsums128; (void)rows; (void)cols; (void)group_size; (void)panel_begin;
    (void)panel_end; (void)xq; (void)x_stride; (void)xscales; (void)batch; (void)y; (void)ldy; (void)accumulate;
}
#endif
