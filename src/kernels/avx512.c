/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * kernels/avx512.c -- AVX-512 (F/BW/DQ/VL) distance kernels. Built with the AVX-512 flags
 * (CMakeLists.txt); only called after kernels/dispatch.c has checked that the CPU has the four
 * extensions and the OS saves the ZMM/opmask state (XCR0).
 *
 * Shape of every kernel: four 16-lane accumulators over 64 floats per step (ILP), then whole
 * 16-lane steps into the first accumulator, then one masked (zeroing) load for the last
 * dim % 16 floats: exact for every dim >= 1, never reads past a row, any alignment.
 *
 * The *_many kernels run the very same core per row (bit-identical to the single kernel, see
 * kernels/scalar.c) and prefetch the row about 4 KiB ahead, one line per 16 floats, so a scan of
 * contiguous rows runs at memory bandwidth.
 */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "dist.h"

/* The one-row core, with a prefetch pointer pf (NULL: no prefetch; folded at compile time). */
#define AVX512_CORE(name, STEP)                                                                 \
  static inline __attribute__((always_inline)) float name##_core(const float *a, const float *b, \
                                                                 size_t dim, const char *pf) { \
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();                                  \
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();                                  \
    size_t i = 0;                                                                               \
    for (; i + 64 <= dim; i += 64) {                                                            \
      if (pf) {                                                                                 \
        _mm_prefetch(pf + 4 * i, _MM_HINT_T0);                                                  \
        _mm_prefetch(pf + 4 * i + 64, _MM_HINT_T0);                                             \
        _mm_prefetch(pf + 4 * i + 128, _MM_HINT_T0);                                            \
        _mm_prefetch(pf + 4 * i + 192, _MM_HINT_T0);                                            \
      }                                                                                         \
      s0 = STEP(s0, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));                            \
      s1 = STEP(s1, _mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));                  \
      s2 = STEP(s2, _mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));                  \
      s3 = STEP(s3, _mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));                  \
    }                                                                                           \
    for (; i + 16 <= dim; i += 16) {                                                            \
      if (pf) _mm_prefetch(pf + 4 * i, _MM_HINT_T0);                                            \
      s0 = STEP(s0, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));                            \
    }                                                                                           \
    if (i < dim) {                                                                              \
      __mmask16 m = (__mmask16)((1u << (dim - i)) - 1u);                                        \
      s1 = STEP(s1, _mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));          \
    }                                                                                           \
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));   \
  }                                                                                             \
  static float name##_f32_avx512(const float *a, const float *b, size_t dim) {                  \
    return name##_core(a, b, dim, NULL);                                                        \
  }                                                                                             \
  static void name##_many_f32_avx512(const float *q, const float *base, size_t n, size_t dim,   \
                                     float *out) {                                              \
    size_t ahead = pf_rows(dim);                                                                \
    for (size_t r = 0; r < n; r++) {                                                            \
      size_t p = r + ahead < n ? r + ahead : n - 1;                                             \
      out[r] = name##_core(q, base + r * dim, dim, (const char *)(base + p * dim));             \
    }                                                                                           \
  }

/* How many rows ahead to prefetch: about 4 KiB, at least one row. */
static inline size_t pf_rows(size_t dim) {
  size_t row = dim * sizeof(float);
  return row >= 4096 ? 1 : (4096 + row - 1) / row;
}

static inline __m512 step_l2sq(__m512 acc, __m512 x, __m512 y) {
  __m512 d = _mm512_sub_ps(x, y);
  return _mm512_fmadd_ps(d, d, acc);
}

static inline __m512 step_dot(__m512 acc, __m512 x, __m512 y) { return _mm512_fmadd_ps(x, y, acc); }

static inline __m512 step_l1(__m512 acc, __m512 x, __m512 y) {
  return _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(x, y)));
}

AVX512_CORE(l2sq, step_l2sq)
AVX512_CORE(dot, step_dot)
AVX512_CORE(l1, step_l1)

/* Differing bits without VPOPCNTDQ (F/BW/DQ/VL only): 8-byte words with popcnt. The
   dispatcher swaps in kernels/avx512pop.c's kernels when the CPU has VPOPCNTDQ. */
static uint32_t hamming_avx512(const uint8_t *a, const uint8_t *b, size_t nbytes) {
  uint64_t s = 0;
  size_t i = 0;
  for (; i + 8 <= nbytes; i += 8) {
    uint64_t x, y;
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    s += (uint64_t)_mm_popcnt_u64(x ^ y);
  }
  for (; i < nbytes; i++) s += (uint64_t)_mm_popcnt_u32((unsigned)(a[i] ^ b[i]));
  return (uint32_t)s;
}

static void hamming_many_avx512(const uint8_t *q, const uint8_t *base, size_t n, size_t nbytes, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = (float)hamming_avx512(q, base + i * nbytes, nbytes);
}

const qv_kernels qv__kernels_avx512 = {
    "avx512",          l2sq_f32_avx512,      dot_f32_avx512,      l1_f32_avx512,
    l2sq_many_f32_avx512, dot_many_f32_avx512, l1_many_f32_avx512, hamming_avx512,
    hamming_many_avx512,
};
