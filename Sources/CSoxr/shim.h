#pragma once
#include <soxr.h>
// SOXR_VHQ is a macro defined through another macro; this constant carries its value to Swift.
static const unsigned long csoxr_very_high_quality = SOXR_VHQ;
static const unsigned long csoxr_linear_phase = SOXR_LINEAR_PHASE;
