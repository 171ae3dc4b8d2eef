// int8 products on 256-bit registers for the quad layouts: VPMADDUBSW (AVX2) and VPDPBUSD (AVX-VNNI). Why C and
// what each computes: include/avx2_int8.h.
#include "avx2_int8.h"
#include "quads.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define AVXVNNI_TARGET __attribute__((target("avx2,fma,avxvnni")))

// What one quad step needs from an input row's 4 bytes x4 (q + 128 each), and the step itself: acc (8 rows of a
// panel, int32) += the 4 products of each row with the 4 inputs.
// AVX2: s = q (the offset undone by flipping the top bit), a = |q|; a * (w with s's sign) = w * q, summed in pairs
// by VPMADDUBSW (at most 2 * 127 * 127: no saturation) and in quads by VPMADDWD with ones.
#define PREP_AVX2(X4)                                                                                             \
    const __m256i s_ = _mm256_xor_si256(_mm256_set1_epi32(X4), flip);                                             \
    const __m256i a_ = _mm256_abs_epi8(s_)
#define STEP_AVX2(ACC, W) \
    ACC = _mm256_add_epi32(ACC, _mm256_madd_epi16(_mm256_maddubs_epi16(a_, _mm256_sign_epi8(W, s_)), ones))
// AVX-VNNI: (q + 128) * w summed in quads by VPDPBUSD; 128 * the weights' sum comes off once per group.
#define PREP_VNNI(X4) const __m256i u_ = _mm256_set1_epi32(X4)
#define STEP_VNNI(ACC, W) ACC = _mm256_dpbusd_avx_epi32(ACC, u_, W)
#define CORRECT_AVX2(ACC0, ACC1, AT) (void)0
#define CORRECT_VNNI(ACC0, ACC1, AT)                                                                              \
    ACC0 = _mm256_sub_epi32(ACC0, _mm256_loadu_si256((const __m256i *)(wsums128 + (AT))));                      \
    ACC1 = _mm256_sub_epi32(ACC1, _mm256_loadu_si256((const __m256i *)(wsums128 + (AT) + 8)))

// Bytes that batch 1 prefetches ahead of the tiles, from one cursor over the task's weights (a line per panel per
// quad step, in both of a group's tiles): the tiles read half of each 512-byte quad of a block each, and prefetching
// only from the first, 4 KB ahead, left memory idle while the second read L1. With the cursor the AVX2 kernel read
// 21.9 and 24.5 GB/s against 17.1 and 18.0 without, alternating (2 threads; the AVX-512 VNNI kernel 23.8-25.7 in
// the same runs; Zen 4 VM, 2026-12-04); 16 KB and prefetching to L2 measured the same within the noise.
enum { AVX2_AHEAD = 8192 };

// NP panels x NB input rows (NP * NB <= 4: 8 int32 accumulators of 8 rows) over group g: each (panel, row) slot
// sums the group exactly, then adds it scaled to its 16 totals (float, in memory: [panel in block][NB][16]).
#define INT8_TILE(KIND, TARGET, NP, NB)                                                                           \
    TARGET static void KIND##_tile_##NP##_##NB(                                                                   \
        const uint8_t *weights, const float *wscales, const int32_t *wsums128, int quads, int groups, int gq,     \
        int panel, int panels, int g, const uint8_t *xq, int x_stride, const float *xscales, float *totals,      \
        int fetch, const uint8_t **cursor, const uint8_t *limit) {                                                \
        (void)wsums128;                                                                                           \
        const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);                          \
        (void)flip; (void)ones;                                                                                   \
        const size_t step = (size_t)64 * min_int(8, panels - (panel & ~7));                                       \
        const uint8_t *w[NP];                                                                                     \
        for (int p = 0; p < NP; p++) w[p] = weights + 64 * quad_offset(panel + p, 0, quads, panels);             \
        __m256i acc[NP][NB][2];                                                                                   \
        for (int p = 0; p < NP; p++)                                                                              \
            for (int b = 0; b < NB; b++) acc[p][b][0] = acc[p][b][1] = _mm256_setzero_si256();                   \
        for (int q = g * gq; q < (g + 1) * gq; q++) {                                                             \
            /* Several input rows: the block's first tile of a group asks for the whole quad 8 quads on      */ \
            /* (every panel's 64 bytes, 4 KB ahead), and the tiles after it find their lines in L1.          */ \
            if (fetch)                                                                                            \
                for (size_t at = 0; at < step; at += 64)                                                          \
                    _mm_prefetch((const char *)(w[0] + (size_t)(q + 8) * step + at), _MM_HINT_T0);                \
            /* One input row (batch 1): a line per panel per quad, from a cursor that walks the task's weights */ \
            /* AVX2_AHEAD bytes ahead of what the tiles read, as fast as they read.                          */ \
            if (cursor) {                                                                                         \
                for (int p = 0; p < NP; p++) {                                                                    \
                    if (*cursor < limit) _mm_prefetch((const char *)*cursor, _MM_HINT_T0);                        \
                    *cursor += 64;                                                                                \
                }                                                                                                 \
            }                                                                                                     \
            __m256i wv[NP][2];                                                                                    \
            for (int p = 0; p < NP; p++) {                                                                        \
                wv[p][0] = _mm256_loadu_si256((const __m256i *)(w[p] + (size_t)q * step));                       \
                wv[p][1] = _mm256_loadu_si256((const __m256i *)(w[p] + (size_t)q * step + 32));                  \
            }                                                                                                     \
            for (int b = 0; b < NB; b++) {                                                                        \
                int32_t x4;                                                                                       \
                memcpy(&x4, xq + (size_t)b * x_stride + 4 * q, 4);                                                \
                PREP_##KIND(x4);                                                                                  \
                for (int p = 0; p < NP; p++) {                                                                    \
                    STEP_##KIND(acc[p][b][0], wv[p][0]);                                                          \
                    STEP_##KIND(acc[p][b][1], wv[p][1]);                                                          \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
        for (int p = 0; p < NP; p++) {                                                                            \
            const size_t at = side_offset(panel + p, g, groups, panels);                                          \
            const __m256 ws0 = _mm256_loadu_ps(wscales + at), ws1 = _mm256_loadu_ps(wscales + at + 8);           \
            for (int b = 0; b < NB; b++) {                                                                        \
                CORRECT_##KIND(acc[p][b][0], acc[p][b][1], at);                                                   \
                const __m256 xs = _mm256_set1_ps(xscales[(size_t)b * groups + g]);                                \
                float *t = totals + ((size_t)((panel + p) & 7) * NB + b) * 16;                                    \
                _mm256_storeu_ps(t, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[p][b][0]), _mm256_mul_ps(ws0, xs),    \
                                                    _mm256_loadu_ps(t)));                                         \
                _mm256_storeu_ps(t + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[p][b][1]), _mm256_mul_ps(ws1, xs),\
                                                        _mm256_loadu_ps(t + 8)));                                 \
            }                                                                                                     \
        }                                                                                                         \
    }

// Blocks of 8 panels; in a block, tiles of 4, 2 or 1 input rows; for each tile, group by group, the block's panels
// 4, 2 or 1 at a time. A group of a block (16 KB at 128 columns) stays in L1 while the tile's panel steps share it,
// so memory sees one pass over the weights per tile of input rows.
#define INT8_PRODUCT(KIND, TARGET, NAME)                                                                          \
    INT8_TILE(KIND, TARGET, 4, 1)                                                                                 \
    INT8_TILE(KIND, TARGET, 2, 1)                                                                                 \
    INT8_TILE(KIND, TARGET, 1, 1)                                                                                 \
    INT8_TILE(KIND, TARGET, 2, 2)                                                                                 \
    INT8_TILE(KIND, TARGET, 1, 2)                                                                                 \
    INT8_TILE(KIND, TARGET, 1, 4)                                                                                 \
    TARGET void NAME(const int8_t *weights, const float *wscales, const int32_t *wsums128, int rows, int cols,   \
                     int group_size, int panel_begin, int panel_end, const uint8_t *xq, int x_stride,             \
                     const float *xscales, int batch, float *y, int ldy, int accumulate) {                        \
        const int panels = (rows + 15) / 16, groups = cols / group_size, quads = cols / 4, gq = group_size / 4; \
        const uint8_t *wb = (const uint8_t *)weights;                                                             \
        float totals[8 * 4 * 16];                                                                                 \
        const uint8_t *start = wb + (size_t)64 * quads * panel_begin;                                             \
        const uint8_t *limit = wb + (size_t)64 * quads * panel_end, *ahead = start + AVX2_AHEAD;                \
        const uint8_t **cursor = batch == 1 ? &ahead : 0;                                                        \
        if (cursor)                                                                                               \
            for (const uint8_t *at = start; at < ahead && at < limit; at += 64)                                   \
                _mm_prefetch((const char *)at, _MM_HINT_T0);                                                      \
        for (int block = panel_begin; block < panel_end;) {                                                       \
            const int block_end = min_int((block & ~7) + 8, panel_end);                                          \
            for (int b = 0; b < batch;) {                                                                         \
                const int left = batch - b;                                                                       \
                const int n = left >= 4 ? 4 : left >= 2 ? 2 : 1;                                                  \
                const uint8_t *xb = xq + (size_t)b * x_stride;                                                    \
                const float *sb = xscales + (size_t)b * groups;                                                   \
                memset(totals, 0, sizeof(totals));                                                                \
                for (int g = 0; g < groups; g++) {                                                                \
                    for (int p = block; p < block_end;) {                                                         \
                        const int np = block_end - p;                                                             \
                        int used;                                                                                 \
                        if (n == 4) { KIND##_tile_1_4(wb, wscales, wsums128, quads, groups, gq, p, panels, g, xb,  \
                                                      x_stride, sb, totals, p == block && !cursor, cursor, limit); used = 1; }                          \
                        else if (n == 2 && np >= 2) { KIND##_tile_2_2(wb, wscales, wsums128, quads, groups, gq, p, \
                                                      panels, g, xb, x_stride, sb, totals, p == block && !cursor, cursor, limit); used = 2; }           \
                        else if (n == 2) { KIND##_tile_1_2(wb, wscales, wsums128, quads, groups, gq, p, panels, g, \
                                                           xb, x_stride, sb, totals, p == block && !cursor, cursor, limit); used = 1; }                 \
                        else if (np >= 4) { KIND##_tile_4_1(wb, wscales, wsums128, quads, groups, gq, p, panels,  \
                                                            g, xb, x_stride, sb, totals, p == block && !cursor, cursor, limit); used = 4; }             \
                        else if (np >= 2) { KIND##_tile_2_1(wb, wscales, wsums128, quads, groups, gq, p, panels,  \
                                                            g, xb, x_stride, sb, totals, p == block && !cursor, cursor, limit); used = 2; }             \
                        else { KIND##_tile_1_1(wb, wscales, wsums128, quads, groups, gq, p, panels, g, xb,        \
                                               x_stride, sb, totals, p == block && !cursor, cursor, limit); used = 1; }                                 \
                        p += used;                                                                                \
                    }                                                                                             \
                }                                                                                                 \
                for (int p = block; p < block_end; p++) {                                                         \
                    const int count = min_int(16, rows - p * 16);                                                 \
                    for (int bb = 0; bb < n; bb++) {                                                              \
                        const float *t = totals + ((size_t)(p & 7) * n + bb) * 16;                                \
                        float *out = y + (size_t)(b + bb) * ldy + (size_t)p * 16;                                 \
                        for (int i = 0; i < count; i++) out[i] = accumulate ? t[i] + out[i] : t[i];              \
                    }                                                                                             \
                }                                                                                                 \
                b += n;                                                                                           \
            }                                                                                                     \
            block = block_end;                                                                                    \
        }                                                                                                         \
    }

INT8_PRODUCT(AVX2, AVX2_TARGET, chattts_avx2_int8_product)
INT8_PRODUCT(VNNI, AVXVNNI_TARGET, chattts_avxvnni_int8_product)

AVX2_TARGET void chattts_avx2_quantize_rows(const float *x, int ldx, int batch, int cols, int group_size,
                                            uint8_t *values, int stride, float *scales) {
    const int groups = cols / group_size;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < batch; b++) {
        for (int g = 0; g < groups; g++) {
            const float *row = x + (size_t)b * ldx + (size_t)g * group_size;
            __m256 largest = _mm256_setzero_ps();
            for (int k = 0; k < group_size; k += 8)
                largest = _mm256_max_ps(largest, _mm256_andnot_ps(sign, _mm256_loadu_ps(row + k)));
            __m128 m = _mm_max_ps(_mm256_castps256_ps128(largest), _mm256_extractf128_ps(largest, 1));
            m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
            const float scale = _mm_cvtss_f32(m) / 127.0f;
            const float inverse = scale > 0 ? 1.0f / scale : 0.0f;
            scales[(size_t)b * groups + g] = scale;
            const __m256 inv = _mm256_set1_ps(inverse);
            uint8_t *out = values + (size_t)b * stride + (size_t)g * group_size;
            for (int k = 0; k < group_size; k += 8) {
                __m256 q = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(row + k), inv),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q = _mm256_min_ps(_mm256_max_ps(q, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
                int32_t lanes[8];
                _mm256_storeu_si256((__m256i *)lanes,
                                    _mm256_add_epi32(_mm256_cvtps_epi32(q), _mm256_set1_epi32(128)));
                for (int i = 0; i < 8; i++) out[k + i] = (uint8_t)lanes[i];
            }
        }
    }
}

#else
void chattts_avx2_int8_product(const int8_t *weights, const float *wscales, const int32_t *wsums128, int rows,
                               int cols, int group_size, int panel_begin, int panel_end, const uint8_t *xq,
                               int x_stride, const float *xscales, int batch, float *y, int ldy, int accumulate) {
    (void)weights; (void)wscales; (void)wsums128; (void)rows; (void)cols; (void)group_size; (void)panel_begin;
    (void)panel_end; (void)xq; (void)x_stride; (void)xscales; (void)batch; (void)y; (void)ldy; (void)accumulate;
}

void chattts_avxvnni_int8_product(const int8_t *weights, const float *wscales, const int32_t *wsums128, int rows,
                                  int cols, int group_size, int panel_begin, int panel_end, const uint8_t *xq,
                                  int x_stride, const float *xscales, int batch, float *y, int ldy, int accumulate) {
    (void)weights; (void)wscales; (void)wsums128; (void)rows; (void)cols; (void)group_size; (void)panel_begin;
    (void)panel_end; (void)xq; (void)x_stride; (void)xscales; (void)batch; (void)y; (void)ldy; (void)accumulate;
}

void chattts_avx2_quantize_rows(const float *x, int ldx, int batch, int cols, int group_size, uint8_t *values,
                                int stride, float *scales) {
    (void)x; (void)ldx; (void)batch; (void)cols; (void)group_size; (void)values; (void)stride; (void)scales;
}
#endif
