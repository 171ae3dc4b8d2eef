// Run-time CPU feature detection for the kernel dispatch in Tensors (x86-64 only; other targets report nothing).
// CPUID says what the core implements; XGETBV says whether the OS saves the wider registers on a context switch.
// Both must agree before a kernel compiled for AVX2 or AVX-512 may run.
#ifndef CHATTTS_CPUID_SHIM_H
#define CHATTTS_CPUID_SHIM_H

#include <stdint.h>

enum {
    CHATTTS_CPU_AVX2_FMA = 1 << 0,      // AVX2 + FMA + F16C (x86-64-v3 with its OS support)
    CHATTTS_CPU_AVX512 = 1 << 1,        // AVX-512 F, BW, CD, DQ, VL (x86-64-v4)
    CHATTTS_CPU_AVX512_VNNI = 1 << 2,   // VPDPBUSD and friends on 512-bit registers
    CHATTTS_CPU_AVX512_BF16 = 1 << 3,   // VDPBF16PS, VCVTNE2PS2BF16
    CHATTTS_CPU_AVX_VNNI = 1 << 4,      // VEX-encoded VPDPBUSD (256-bit, Alder Lake and later)
};

#if defined(__x86_64__) || defined(__i386__)
static inline void chattts_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(subleaf));
}

static inline uint64_t chattts_xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/// A bit set of CHATTTS_CPU_* flags for this CPU and OS.
static inline uint32_t chattts_cpu_features(void) {
    uint32_t r[4];
    chattts_cpuid(0, 0, r);
    const uint32_t maxLeaf = r[0];
    if (maxLeaf < 7) return 0;
    chattts_cpuid(1, 0, r);
    const uint32_t ecx1 = r[2];
    const int osxsave = (ecx1 >> 27) & 1, avx = (ecx1 >> 28) & 1, fma = (ecx1 >> 12) & 1, f16c = (ecx1 >> 29) & 1;
    if (!osxsave || !avx) return 0;
    const uint64_t xcr0 = chattts_xgetbv0();
    const int ymmState = (xcr0 & 0x6) == 0x6;          // SSE and AVX state
    const int zmmState = (xcr0 & 0xE6) == 0xE6;        // plus opmask, ZMM_Hi256, Hi16_ZMM
    chattts_cpuid(7, 0, r);
    const uint32_t ebx7 = r[1], ecx7 = r[2];
    const uint32_t maxSub7 = r[0];
    uint32_t eax71 = 0;
    if (maxSub7 >= 1) { chattts_cpuid(7, 1, r); eax71 = r[0]; }
    uint32_t out = 0;
    const int avx2 = (ebx7 >> 5) & 1, bmi1 = (ebx7 >> 3) & 1, bmi2 = (ebx7 >> 8) & 1;
    if (ymmState && avx2 && fma && f16c && bmi1 && bmi2) out |= CHATTTS_CPU_AVX2_FMA;
    const int f = (ebx7 >> 16) & 1, dq = (ebx7 >> 17) & 1, cd = (ebx7 >> 28) & 1, bw = (ebx7 >> 30) & 1,
              vl = (ebx7 >> 31) & 1;
    if ((out & CHATTTS_CPU_AVX2_FMA) && zmmState && f && dq && cd && bw && vl) {
        out |= CHATTTS_CPU_AVX512;
        if ((ecx7 >> 11) & 1) out |= CHATTTS_CPU_AVX512_VNNI;
        if ((eax71 >> 5) & 1) out |= CHATTTS_CPU_AVX512_BF16;
    }
    if ((out & CHATTTS_CPU_AVX2_FMA) && ((eax71 >> 4) & 1)) out |= CHATTTS_CPU_AVX_VNNI;
    return out;
}
#else
static inline uint32_t chattts_cpu_features(void) { return 0; }
#endif

#endif
