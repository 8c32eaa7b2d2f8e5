/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * kernels/avx2.c -- AVX2 + FMA distance kernels. Built with -mavx2 -mfma (CMakeLists.txt); only
 * called after kernels/dispatch.c has checked that the CPU and OS support AVX2 and FMA.
 *
 * Shape of every kernel: four 8-lane accumulators over 32 floats per step (ILP), then whole
 * 8-lane steps into the first accumulator, then a masked load for the last dim % 8 floats, so
 * every dim >= 1 is exact and no byte past a row is read. Pointers may be unaligned.
 *
 * The *_many kernels run the very same core per row (bit-identical to the single kernel, see
 * kernels/scalar.c) and prefetch the row PF_BYTES ahead, line by line, while computing this one.
 */
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "dist.h"

/* The one-row core, with a prefetch pointer pf (NULL: no prefetch; folded at compile time). */
#define AVX2_CORE(name, STEP)                                                                   \
  static inline __attribute__((always_inline)) float name##_core(const float *a, const float *b, \
                                                                 size_t dim, const char *pf) { \
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();                                  \
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();                                  \
    size_t i = 0;                                                                               \
    for (; i + 32 <= dim; i += 32) {                                                            \
      if (pf) {                                                                                 \
        _mm_prefetch(pf + 4 * i, _MM_HINT_T0);                                                  \
        _mm_prefetch(pf + 4 * i + 64, _MM_HINT_T0);                                             \
      }                                                                                         \
      s0 = STEP(s0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));                            \
      s1 = STEP(s1, _mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));                    \
      s2 = STEP(s2, _mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));                  \
      s3 = STEP(s3, _mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));                  \
    }                                                                                           \
    for (; i + 8 <= dim; i += 8) s0 = STEP(s0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)); \
    if (i < dim) {                                                                              \
      __m256i m = tail_mask(dim - i);                                                           \
      s1 = STEP(s1, _mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));                \
    }                                                                                           \
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));                   \
  }                                                                                             \
  static float name##_f32_avx2(const float *a, const float *b, size_t dim) {                    \
    return name##_core(a, b, dim, NULL);                                                        \
  }                                                                                             \
  static void name##_many_f32_avx2(const float *q, const float *base, size_t n, size_t dim,     \
                                   float *out) {                                                \
    size_t ahead = pf_rows(dim);                                                                \
    for (size_t r = 0; r < n; r++) {                                                            \
      size_t p = r + ahead < n ? r + ahead : n - 1;                                             \
      out[r] = name##_core(q, base + r * dim, dim, (const char *)(base + p * dim));             \
    }                                                                                           \
  }

/* Lanes [0, r) all-ones, the rest zero; 1 <= r <= 7. */
static inline __m256i tail_mask(size_t r) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline float hsum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

/* How many rows ahead to prefetch: about 4 KiB, at least one row. */
static inline size_t pf_rows(size_t dim) {
  size_t row = dim * sizeof(float);
  return row >= 4096 ? 1 : (4096 + row - 1) / row;
}

static inline __m256 step_l2sq(__m256 acc, __m256 x, __m256 y) {
  __m256 d = _mm256_sub_ps(x, y);
  return _mm256_fmadd_ps(d, d, acc);
}

static inline __m256 step_dot(__m256 acc, __m256 x, __m256 y) { return _mm256_fmadd_ps(x, y, acc); }

static inline __m256 step_l1(__m256 acc, __m256 x, __m256 y) {
  __m256 d = _mm256_sub_ps(x, y);
  return _mm256_add_ps(acc, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), d));
}

AVX2_CORE(l2sq, step_l2sq)
AVX2_CORE(dot, step_dot)
AVX2_CORE(l1, step_l1)

/*
 * Differing bits, AVX2: 32-byte blocks counted with the nibble lookup (vpshufb, Mula's
 * method) and summed per 64-bit lane with vpsadbw; the tail in 8-byte words with popcnt.
 */
static inline __m256i popcnt_epi8(__m256i v) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3,
                                       1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  __m256i lo = _mm256_and_si256(v, low), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

static uint32_t hamming_avx2(const uint8_t *a, const uint8_t *b, size_t nbytes) {
  size_t i = 0;
  uint64_t s = 0;
  if (nbytes >= 64) {
    __m256i acc = _mm256_setzero_si256();
    for (; i + 32 <= nbytes; i += 32) {
      __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(a + i)),
                                   _mm256_loadu_si256((const __m256i *)(const void *)(b + i)));
      acc = _mm256_add_epi64(acc, _mm256_sad_epu8(popcnt_epi8(x), _mm256_setzero_si256()));
    }
    s = (uint64_t)_mm256_extract_epi64(acc, 0) + (uint64_t)_mm256_extract_epi64(acc, 1) +
        (uint64_t)_mm256_extract_epi64(acc, 2) + (uint64_t)_mm256_extract_epi64(acc, 3);
  }
  for (; i + 8 <= nbytes; i += 8) {
    uint64_t x, y;
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    s += (uint64_t)_mm_popcnt_u64(x ^ y);
  }
  for (; i < nbytes; i++) s += (uint64_t)_mm_popcnt_u32((unsigned)(a[i] ^ b[i]));
  return (uint32_t)s;
}

static void hamming_many_avx2(const uint8_t *q, const uint8_t *base, size_t n, size_t nbytes, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = (float)hamming_avx2(q, base + i * nbytes, nbytes);
}

const qv_kernels qv__kernels_avx2 = {
    "avx2", l2sq_f32_avx2, dot_f32_avx2, l1_f32_avx2, l2sq_many_f32_avx2, dot_many_f32_avx2, l1_many_f32_avx2,
    hamming_avx2, hamming_many_avx2,
};
