/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * kernels/dispatch.c -- chooses the distance-kernel table once, and the metric layer on top.
 *
 * The CPU is probed once (pthread_once): AVX2 needs AVX2+FMA and the OS saving YMM state;
 * AVX-512 needs F+BW+DQ+VL and the OS saving opmask/ZMM state (XCR0 bits 1,2,5,6,7, read with
 * xgetbv after checking OSXSAVE). QV_ISA=scalar|avx2|avx512 caps the choice; the table never
 * changes afterwards, so readers need no synchronisation. This is the only file that knows
 * which ISA tables exist; no ISA macro is tested anywhere outside dist_*.c.
 *
 * Metric mapping (Chroma's definitions, see quiver.h): l2 -> sum (a-b)^2, ip and cosine ->
 * 1 - a.b (cosine inputs are unit length already), l1 -> sum |a-b|, hamming -> differing
 * bits of the rows' bytes (AVX-512 VPOPCNTDQ kernels when CPUID has them). The single and the many
 * forms do the same float operations per row, so their results are bit-identical.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define QV_X86 1
#else
#define QV_X86 0
#endif

enum { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_hw_level;               /* best level the CPU and OS support */
static const qv_kernels *g_best;     /* best level capped by QV_ISA */

#if QV_X86
/* XCR0, or 0 when the OS has not enabled XSAVE (then no AVX state is saved at all). */
static uint64_t read_xcr0(void) {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  if (!(ecx & (1u << 27))) return 0; /* OSXSAVE */
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static int detect_level(void) {
  __builtin_cpu_init();
  uint64_t xcr0 = read_xcr0();
  int os_ymm = (xcr0 & 0x6) == 0x6;
  int os_zmm = (xcr0 & 0xe6) == 0xe6;
  int level = ISA_SCALAR;
  if (os_ymm && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = ISA_AVX2;
  if (level == ISA_AVX2 && os_zmm && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl"))
    level = ISA_AVX512;
  return level;
}
#else
static int detect_level(void) { return ISA_SCALAR; }
#endif

/* The AVX-512 table with the VPOPCNTDQ hamming kernels, when the CPU has them (init_once). */
static qv_kernels g_avx512_pop;
static int g_has_vpopcnt;

static const qv_kernels *table_for(int level) {
  switch (level) {
    case ISA_AVX512: return g_has_vpopcnt ? &g_avx512_pop : &qv__kernels_avx512;
    case ISA_AVX2: return &qv__kernels_avx2;
    default: return &qv__kernels_scalar;
  }
}

/* "scalar" -> 0 ...; -1 for anything else. */
static int level_of(const char *isa) {
  if (!isa) return -1;
  if (strcmp(isa, "scalar") == 0) return ISA_SCALAR;
  if (strcmp(isa, "avx2") == 0) return ISA_AVX2;
  if (strcmp(isa, "avx512") == 0) return ISA_AVX512;
  return -1;
}

/*
 * AMD Zen 4 runs 512-bit operations as two 256-bit halves. For pairwise distances that is a
 * wash, but a streaming scan (the *_many kernels, i.e. flat search) measured about 25% faster
 * with the 256-bit kernels: 60000 x 784 l2sq passes/s, one core, THP, 2026-11-25: AVX2 112-127,
 * AVX-512 90-102 (bench/RESULTS.md). So on AMD the AVX-512 table keeps the table's ISA name
 * (the HNSW 8-bit kernels key off it) but uses the AVX2 float kernels, pairwise ones included:
 * single and many forms must stay bit-identical (batch search re-ranks with the pairwise one).
 */
static qv_kernels g_avx512_amd;

static const qv_kernels *adjust_for_vendor(const qv_kernels *k) {
#if QV_X86
  if (k == table_for(ISA_AVX512) && __builtin_cpu_is("amd") && !getenv("QV_SCAN512")) {
    g_avx512_amd = qv__kernels_avx2;
    g_avx512_amd.isa = qv__kernels_avx512.isa;
    g_avx512_amd.l2sq_many = qv__kernels_avx2.l2sq_many;
    g_avx512_amd.dot_many = qv__kernels_avx2.dot_many;
    g_avx512_amd.l1_many = qv__kernels_avx2.l1_many;
    g_avx512_amd.hamming = k->hamming;
    g_avx512_amd.hamming_many = k->hamming_many;
    return &g_avx512_amd;
  }
#endif
  return k;
}

static void init_once(void) {
  g_hw_level = detect_level();
#if QV_X86
  if (g_hw_level == ISA_AVX512 && __builtin_cpu_supports("avx512vpopcntdq")) {
    g_avx512_pop = qv__kernels_avx512;
    g_avx512_pop.hamming = qv__hamming_vpopcnt;
    g_avx512_pop.hamming_many = qv__hamming_many_vpopcnt;
    g_has_vpopcnt = 1;
  }
#endif
  int level = g_hw_level;
  int cap = level_of(getenv("QV_ISA")); /* unknown values are ignored */
  if (cap >= 0 && cap < level) level = cap;
  g_best = adjust_for_vendor(table_for(level));
}

const qv_kernels *qv__kernels(void) {
  pthread_once(&g_once, init_once);
  return g_best;
}

const qv_kernels *qv__kernels_isa(const char *isa) {
  pthread_once(&g_once, init_once);
  int level = level_of(isa);
  if (level < 0 || level > g_hw_level) return NULL;
  return table_for(level);
}

float qv__metric_dist(const qv_kernels *k, qv_metric m, const float *a, const float *b, size_t dim) {
  switch (m) {
    case QV_METRIC_IP:
    case QV_METRIC_COSINE: return 1.0f - k->dot(a, b, dim);
    case QV_METRIC_L1: return k->l1(a, b, dim);
    case QV_METRIC_HAMMING: return (float)k->hamming((const uint8_t *)a, (const uint8_t *)b, dim * 4);
    case QV_METRIC_L2:
    default: return k->l2sq(a, b, dim);
  }
}

void qv__metric_dist_many(const qv_kernels *k, qv_metric m, const float *q, const float *base,
                          size_t n, size_t dim, float *out) {
  switch (m) {
    case QV_METRIC_IP:
    case QV_METRIC_COSINE:
      k->dot_many(q, base, n, dim, out);
      for (size_t i = 0; i < n; i++) out[i] = 1.0f - out[i];
      break;
    case QV_METRIC_L1: k->l1_many(q, base, n, dim, out); break;
    case QV_METRIC_HAMMING:
      k->hamming_many((const uint8_t *)q, (const uint8_t *)base, n, dim * 4, out);
      break;
    case QV_METRIC_L2:
    default: k->l2sq_many(q, base, n, dim, out); break;
  }
}

/* Norm accumulated in double so that long vectors normalise to within an ulp or two of 1. */
float qv__normalize(float *v, size_t dim) {
  double s = 0.0;
  for (size_t i = 0; i < dim; i++) s += (double)v[i] * v[i];
  double norm = sqrt(s);
  if (norm > 0.0) {
    double inv = 1.0 / norm;
    for (size_t i = 0; i < dim; i++) v[i] = (float)(v[i] * inv);
  }
  return (float)norm;
}
