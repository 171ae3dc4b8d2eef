#pragma once
#include <lzma.h>
// Function-like macros do not reach Swift; these constants carry their values.
static const lzma_vli clzma_filter_lzma2 = LZMA_FILTER_LZMA2;
static const lzma_vli clzma_vli_unknown = LZMA_VLI_UNKNOWN;
static const uint32_t clzma_preset_extreme = LZMA_PRESET_EXTREME;
