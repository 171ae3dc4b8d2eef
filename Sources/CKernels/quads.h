// Offsets into `Tensors.PackedMatrix`'s quad layouts (int8 VNNI and quads), shared by the int8 kernels in C.
// Internal to CKernels (not under include/): the layout itself is described in include/ckernels.h.
#ifndef CHATTTS_QUADS_H
#define CHATTTS_QUADS_H

#include <stddef.h>

static inline int min_int(int a, int b) { return a < b ? a : b; }

// Offset in 64-byte vectors of quad kq of panel p (see the layout in ckernels.h).
static inline size_t quad_offset(int p, int kq, int quads, int panels) {
    int first = p & ~7;
    int in_block = min_int(8, panels - first);
    return (size_t)first * quads + (size_t)kq * in_block + (p - first);
}

// Offset in floats of the 16 scales (or sums) of panel p, group g: per block of 8 panels, group by group, the
// block's panels side by side, so a block's scales are read in order, like its weights.
static inline size_t side_offset(int p, int g, int groups, int panels) {
    int first = p & ~7;
    int in_block = min_int(8, panels - first);
    return ((size_t)first * groups + (size_t)g * in_block + (p - first)) * 16;
}

#endif
