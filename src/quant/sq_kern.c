/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant/sq_kern.c -- the scalar-quantization distance kernels (sq_kern.h), one set for the
 * HNSW traversal codes (sq8.c) and the quantizer interface (sq.c).
 */
#include <immintrin.h>
#include <string.h>

#include "sq_dot16.h"
#include "sq_kern.h"

float qv__sq_l2_u8_scalar(const float *a, const float *s, const unsigned char *c, size_t dim) {
  float acc[8] = {0};
  size_t i = 0;
  for (; i + 8 <= dim; i += 8)
    for (size_t j = 0; j < 8; j++) {
      float t = a[i + j] - s[i + j] * (float)c[i + j];
      acc[j] += t * t;
    }
  float r = 0;
  for (; i < dim; i++) {
    float t = a[i] - s[i] * (float)c[i];
    r += t * t;
  }
  for (size_t j = 0; j < 8; j++) r += acc[j];
  return r;
}

float qv__sq_dot_u8_scalar(const float *w, const float *s, const unsigned char *c, size_t dim) {
  (void)s;
  float acc[8] = {0};
  size_t i = 0;
  for (; i + 8 <= dim; i += 8)
    for (size_t j = 0; j < 8; j++) acc[j] += w[i + j] * (float)c[i + j];
  float r = 0;
  for (; i < dim; i++) r += w[i] * (float)c[i];
  for (size_t j = 0; j < 8; j++) r += acc[j];
  return r;
}

/*
 * SIMD versions, with per-function target attributes (callers pick them from the ISA of the
 * kernel table, so QV_ISA caps them too).
 */
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#define T256 __attribute__((target("avx2,fma")))

T512 float qv__sq_l2_u8_avx512(const float *a, const float *s, const unsigned char *c, size_t dim) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(c + i))));
    __m512 c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(c + i + 16))));
    __m512 t0 = _mm512_fnmadd_ps(_mm512_loadu_ps(s + i), c0, _mm512_loadu_ps(a + i));
    __m512 t1 = _mm512_fnmadd_ps(_mm512_loadu_ps(s + i + 16), c1, _mm512_loadu_ps(a + i + 16));
    acc0 = _mm512_fmadd_ps(t0, t0, acc0);
    acc1 = _mm512_fmadd_ps(t1, t1, acc1);
  }
  for (; i < dim; i += 16) {
    size_t r = dim - i < 16 ? dim - i : 16;
    __mmask16 m = (__mmask16)((1u << r) - 1u);
    __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c + i)));
    __m512 t0 = _mm512_fnmadd_ps(_mm512_maskz_loadu_ps(m, s + i), c0, _mm512_maskz_loadu_ps(m, a + i));
    acc0 = _mm512_fmadd_ps(t0, t0, acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

T512 float qv__sq_dot_u8_avx512(const float *w, const float *s, const unsigned char *c, size_t dim) {
  (void)s;
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(c + i))));
    __m512 c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(c + i + 16))));
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), c0, acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), c1, acc1);
  }
  for (; i < dim; i += 16) {
    size_t r = dim - i < 16 ? dim - i : 16;
    __mmask16 m = (__mmask16)((1u << r) - 1u);
    __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c + i)));
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), c0, acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

T256 static float hsum256(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

T256 float qv__sq_l2_u8_avx2(const float *a, const float *s, const unsigned char *c, size_t dim) {
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(c + i))));
    __m256 t0 = _mm256_fnmadd_ps(_mm256_loadu_ps(s + i), c0, _mm256_loadu_ps(a + i));
    acc = _mm256_fmadd_ps(t0, t0, acc);
  }
  float r = hsum256(acc);
  for (; i < dim; i++) {
    float t = a[i] - s[i] * (float)c[i];
    r += t * t;
  }
  return r;
}

T256 float qv__sq_dot_u8_avx2(const float *w, const float *s, const unsigned char *c, size_t dim) {
  (void)s;
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(c + i))));
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), c0, acc);
  }
  float r = hsum256(acc);
  for (; i < dim; i++) r += w[i] * (float)c[i];
  return r;
}

#define TVNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/* sum w_i c_i, w int8 zero-padded to a multiple of 64, c u8 of dim bytes */
TVNNI int32_t qv__sq_dot8_vnni(const int8_t *w, const unsigned char *c, size_t dim) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 128 <= dim; i += 128) {
    acc0 = _mm512_dpbusd_epi32(acc0, _mm512_loadu_si512(c + i), _mm512_loadu_si512(w + i));
    acc1 = _mm512_dpbusd_epi32(acc1, _mm512_loadu_si512(c + i + 64), _mm512_loadu_si512(w + i + 64));
  }
  for (; i < dim; i += 64) {
    size_t r = dim - i < 64 ? dim - i : 64;
    __mmask64 m = r == 64 ? ~(__mmask64)0 : (((__mmask64)1 << r) - 1);
    acc0 = _mm512_dpbusd_epi32(acc0, _mm512_maskz_loadu_epi8(m, c + i), _mm512_loadu_si512(w + i));
  }
  return _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1));
}

/*
 * The same on AVX2, in 16 bits: codes widened to int16 (vpmovzxbw), weights int16 within
 * +-w_max (the caller's bound), vpmaddwd into int32. HNSW (sq8.c) uses w_max 2047 (12 bits),
 * so |sum| <= 255 * 2047 * dim stays below 2^31 up to dim 4113; above that hnsw_sq8_init lowers
 * w_max until it fits. sq.c bounds w_max by (2^31 - 1) / (255 dim) the same way.
 * 12-bit weights are finer than the 8-bit codes they multiply, so this steers the search as
 * the float-query kernel does, in about half its instructions (bench/RESULTS.md section 7).
 * Reads exactly dim code bytes (the code may end at the end of the arena).
 */
T256 int32_t qv__sq_dot16_avx2(const int16_t *w, const unsigned char *c, size_t dim) {
  return qv__sq_dot16_avx2_in(w, c, dim);
}

int32_t qv__sq_dot16_scalar(const int16_t *w, const unsigned char *c, size_t dim) {
  int32_t r = 0;
  for (size_t i = 0; i < dim; i++) r += (int32_t)w[i] * (int32_t)c[i];
  return r;
}

void qv__sq_dot16x4_scalar(const int16_t *w, const unsigned char *c, size_t stride, size_t dim, int32_t out[4]) {
  for (int j = 0; j < 4; j++) out[j] = qv__sq_dot16_scalar(w, c + (size_t)j * stride, dim);
}

T256 static inline int32_t hsum_epi32(__m256i v) {
  __m128i a = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0x4e));
  a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0xb1));
  return _mm_cvtsi128_si32(a);
}

/* Four codes against one int16 query: each 16-weight load serves four vpmaddwd. */
T256 void qv__sq_dot16x4_avx2(const int16_t *w, const unsigned char *c, size_t stride, size_t dim,
                              int32_t out[4]) {
  const unsigned char *c0 = c, *c1 = c + stride, *c2 = c + 2 * stride, *c3 = c + 3 * stride;
  __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
  __m256i a2 = _mm256_setzero_si256(), a3 = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    __m256i wv = _mm256_loadu_si256((const __m256i *)(const void *)(w + i));
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(c0 + i))), wv));
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(c1 + i))), wv));
    a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(c2 + i))), wv));
    a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(c3 + i))), wv));
  }
  int32_t r0 = hsum_epi32(a0), r1 = hsum_epi32(a1), r2 = hsum_epi32(a2), r3 = hsum_epi32(a3);
  for (; i < dim; i++) {
    int32_t wi = w[i];
    r0 += wi * c0[i];
    r1 += wi * c1[i];
    r2 += wi * c2[i];
    r3 += wi * c3[i];
  }
  out[0] = r0;
  out[1] = r1;
  out[2] = r2;
  out[3] = r3;
}

qv_sq_f32_fn qv__sq_l2_u8_for(const char *isa) {
  if (strcmp(isa, "avx512") == 0) return qv__sq_l2_u8_avx512;
  if (strcmp(isa, "avx2") == 0) return qv__sq_l2_u8_avx2;
  return qv__sq_l2_u8_scalar;
}

qv_sq_f32_fn qv__sq_dot_u8_for(const char *isa) {
  if (strcmp(isa, "avx512") == 0) return qv__sq_dot_u8_avx512;
  if (strcmp(isa, "avx2") == 0) return qv__sq_dot_u8_avx2;
  return qv__sq_dot_u8_scalar;
}

qv_sq_i16_fn qv__sq_dot16_for(const char *isa) {
  return strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0 ? qv__sq_dot16_avx2 : qv__sq_dot16_scalar;
}

qv_sq_i16x4_fn qv__sq_dot16x4_for(const char *isa) {
  return strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0 ? qv__sq_dot16x4_avx2 : qv__sq_dot16x4_scalar;
}

/* ------------------------------------------------------------------ 4-bit planes of 8-bit codes */

static inline unsigned nib(const unsigned char *p, size_t i) {
  return (p[i / 16 * 8 + (i & 7)] >> ((i & 8) ? 4 : 0)) & 15u;
}

int32_t qv__sq_dot16n_scalar(const int16_t *w, const unsigned char *p, size_t dim16) {
  int32_t r = 0;
  for (size_t i = 0; i < dim16; i++) r += (int32_t)w[i] * (int32_t)nib(p, i);
  return r;
}

/* 16 bytes of a plane (32 dimensions) as two vectors of 16 int16 nibbles, in dimension order */
T256 static inline void nib_unpack32(__m128i x, __m256i *v0, __m256i *v1) {
  const __m128i m = _mm_set1_epi8(15);
  __m128i lo = _mm_and_si128(x, m), hi = _mm_and_si128(_mm_srli_epi16(x, 4), m);
  *v0 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi64(lo, hi));
  *v1 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi64(lo, hi));
}

T256 static inline __m256i nib_unpack16(const unsigned char *p) {
  const __m128i m = _mm_set1_epi8(15);
  __m128i x = _mm_loadl_epi64((const __m128i *)(const void *)p);
  return _mm256_cvtepu8_epi16(_mm_unpacklo_epi64(_mm_and_si128(x, m), _mm_and_si128(_mm_srli_epi16(x, 4), m)));
}

T256 int32_t qv__sq_dot16n_avx2(const int16_t *w, const unsigned char *p, size_t dim16) {
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= dim16; i += 32) {
    __m256i v0, v1;
    nib_unpack32(_mm_loadu_si128((const __m128i *)(const void *)(p + i / 2)), &v0, &v1);
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v0, _mm256_loadu_si256((const __m256i *)(const void *)(w + i))));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v1, _mm256_loadu_si256((const __m256i *)(const void *)(w + i + 16))));
  }
  if (i < dim16)
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(nib_unpack16(p + i / 2),
                                                  _mm256_loadu_si256((const __m256i *)(const void *)(w + i))));
  return hsum_epi32(acc);
}

qv_sq_i16n_fn qv__sq_dot16n_for(const char *isa) {
  return strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0 ? qv__sq_dot16n_avx2 : qv__sq_dot16n_scalar;
}

/* int8 weights against one 4-bit plane, the weights laid out like the plane (wl for the low
   nibbles, wh for the high nibbles of each byte): sum_k wl[k] (p[k] & 15) + wh[k] (p[k] >> 4) */
int32_t qv__sq_dot8p_scalar(const int8_t *wl, const int8_t *wh, const unsigned char *p, size_t pbytes) {
  int32_t r = 0;
  for (size_t k = 0; k < pbytes; k++) r += (int32_t)wl[k] * (int32_t)(p[k] & 15u) + (int32_t)wh[k] * (int32_t)(p[k] >> 4);
  return r;
}

void qv__sq_dot8px4_scalar(const int8_t *wl, const int8_t *wh, const unsigned char *p, size_t stride, size_t pbytes,
                           int32_t out[4]) {
  for (int j = 0; j < 4; j++) out[j] = qv__sq_dot8p_scalar(wl, wh, p + (size_t)j * stride, pbytes);
}

/*
 * vpmaddubsw (u8 nibble x s8 weight, pairs summed into int16): |pair| <= 2 * 15 * 128 = 3840,
 * low + high <= 7680, so four 32-byte steps add up in int16 (<= 30720) before vpmaddwd widens
 * them into int32. Reads exactly pbytes (a multiple of 8) per plane.
 */
T256 void qv__sq_dot8px4_avx2(const int8_t *wl, const int8_t *wh, const unsigned char *p, size_t stride,
                              size_t pbytes, int32_t out[4]) {
  const __m256i m = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  size_t k = 0;
  while (k + 32 <= pbytes) {
    __m256i s16[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int step = 0; step < 4 && k + 32 <= pbytes; step++, k += 32) {
      __m256i l = _mm256_loadu_si256((const __m256i *)(const void *)(wl + k));
      __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(wh + k));
      for (int j = 0; j < 4; j++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(p + (size_t)j * stride + k));
        __m256i lo = _mm256_and_si256(x, m), hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m);
        s16[j] = _mm256_add_epi16(s16[j], _mm256_add_epi16(_mm256_maddubs_epi16(lo, l), _mm256_maddubs_epi16(hi, h)));
      }
    }
    for (int j = 0; j < 4; j++) acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(s16[j], ones));
  }
  if (k < pbytes) { /* 8, 16 or 24 bytes left: 8 at a time in 128-bit registers */
    const __m128i m1 = _mm_set1_epi8(15), ones1 = _mm_set1_epi16(1);
    __m128i t[4] = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
    for (; k < pbytes; k += 8) {
      __m128i l = _mm_loadl_epi64((const __m128i *)(const void *)(wl + k));
      __m128i h = _mm_loadl_epi64((const __m128i *)(const void *)(wh + k));
      for (int j = 0; j < 4; j++) {
        __m128i x = _mm_loadl_epi64((const __m128i *)(const void *)(p + (size_t)j * stride + k));
        __m128i lo = _mm_and_si128(x, m1), hi = _mm_and_si128(_mm_srli_epi16(x, 4), m1);
        t[j] = _mm_add_epi32(t[j], _mm_madd_epi16(_mm_add_epi16(_mm_maddubs_epi16(lo, l), _mm_maddubs_epi16(hi, h)), ones1));
      }
    }
    for (int j = 0; j < 4; j++) acc[j] = _mm256_add_epi32(acc[j], _mm256_castsi128_si256(t[j]));
  }
  for (int j = 0; j < 4; j++) out[j] = hsum_epi32(acc[j]);
}

T256 int32_t qv__sq_dot8p_avx2(const int8_t *wl, const int8_t *wh, const unsigned char *p, size_t pbytes) {
  /* one plane: the x4 kernel's loop for a single row */
  const __m256i m = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  size_t k = 0;
  while (k + 32 <= pbytes) {
    __m256i s16 = _mm256_setzero_si256();
    for (int step = 0; step < 4 && k + 32 <= pbytes; step++, k += 32) {
      __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(p + k));
      __m256i lo = _mm256_and_si256(x, m), hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m);
      s16 = _mm256_add_epi16(s16, _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(const void *)(wl + k))),
                                                   _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(const void *)(wh + k)))));
    }
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s16, ones));
  }
  int32_t r = hsum_epi32(acc);
  for (; k < pbytes; k++) r += (int32_t)wl[k] * (int32_t)(p[k] & 15u) + (int32_t)wh[k] * (int32_t)(p[k] >> 4);
  return r;
}

qv_sq_i8p_fn qv__sq_dot8p_for(const char *isa) {
  return strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0 ? qv__sq_dot8p_avx2 : qv__sq_dot8p_scalar;
}

qv_sq_i8px4_fn qv__sq_dot8px4_for(const char *isa) {
  return strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0 ? qv__sq_dot8px4_avx2 : qv__sq_dot8px4_scalar;
}

/* 16 * dot16n(w, hi) + dot16n(w, lo) of four rows: the two planes recombined into u8 codes */
void qv__sq_dot16hlx4_scalar(const int16_t *w, const unsigned char *hi, const unsigned char *lo, size_t stride,
                             size_t dim16, int32_t out[4]) {
  for (int j = 0; j < 4; j++)
    out[j] = 16 * qv__sq_dot16n_scalar(w, hi + (size_t)j * stride, dim16) +
             qv__sq_dot16n_scalar(w, lo + (size_t)j * stride, dim16);
}

T256 void qv__sq_dot16hlx4_avx2(const int16_t *w, const unsigned char *hi, const unsigned char *lo, size_t stride,
                                size_t dim16, int32_t out[4]) {
  const __m128i m = _mm_set1_epi8(0x0F), mh = _mm_set1_epi8((char)0xF0);
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  size_t i = 0;
  for (; i + 32 <= dim16; i += 32) {
    __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)(w + i));
    __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(w + i + 16));
    for (int j = 0; j < 4; j++) {
      __m128i H = _mm_loadu_si128((const __m128i *)(const void *)(hi + (size_t)j * stride + i / 2));
      __m128i L = _mm_loadu_si128((const __m128i *)(const void *)(lo + (size_t)j * stride + i / 2));
      /* a: the codes of the low-nibble dimensions, b: of the high-nibble ones */
      __m128i a = _mm_or_si128(_mm_and_si128(_mm_slli_epi16(H, 4), mh), _mm_and_si128(L, m));
      __m128i b = _mm_or_si128(_mm_and_si128(H, mh), _mm_and_si128(_mm_srli_epi16(L, 4), m));
      __m256i v0 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi64(a, b)), v1 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi64(a, b));
      acc[j] = _mm256_add_epi32(acc[j], _mm256_add_epi32(_mm256_madd_epi16(v0, w0), _mm256_madd_epi16(v1, w1)));
    }
  }
  if (i < dim16) {
    __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)(w + i));
    for (int j = 0; j < 4; j++) {
      __m128i H = _mm_loadl_epi64((const __m128i *)(const void *)(hi + (size_t)j * stride + i / 2));
      __m128i L = _mm_loadl_epi64((const __m128i *)(const void *)(lo + (size_t)j * stride + i / 2));
      __m128i a = _mm_or_si128(_mm_and_si128(_mm_slli_epi16(H, 4), mh), _mm_and_si128(L, m));
      __m128i b = _mm_or_si128(_mm_and_si128(H, mh), _mm_and_si128(_mm_srli_epi16(L, 4), m));
      acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_unpacklo_epi64(a, b)), w0));
    }
  }
  for (int j = 0; j < 4; j++) out[j] = hsum_epi32(acc[j]);
}

qv_sq_i16hlx4_fn qv__sq_dot16hlx4_for(const char *isa) {
  return strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0 ? qv__sq_dot16hlx4_avx2 : qv__sq_dot16hlx4_scalar;
}
