/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant/sq.c -- scalar quantization for the quant.h interface, 8 bits (sq8) or 4 bits (sq4)
 * per dimension. (The HNSW index keeps its own traversal codes in sq8.c, tuned for its
 * adjacency blocks; this one serves any index through quant.h.)
 *
 * Training takes each dimension's range [lo, hi] over the sample; L = 2^bits - 1 steps of
 * scale = (hi - lo) / L; c = round((x - lo) / scale) clamped to 0..L, so a value inside the
 * range is reconstructed within scale / 2. Values outside the range (vectors added after
 * training) are clamped. Distances are asymmetric (float query, coded vector):
 *   l2:        sum_i (a_i - s_i c_i)^2        with a_i = q_i - lo_i
 *   ip/cosine: 1 - (sum_i q_i lo_i + sum_i w_i c_i)   with w_i = q_i s_i
 * State on disk: lo[dim], scale[dim] (float32).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "quant.h"

typedef struct sq_state {
  int bits;
  float *lo, *scale; /* dim each, one allocation */
} sq_state;

#define PREP_OFF 16 /* floats before the per-dimension part of a prepared query */

static inline unsigned sq_code_at(const sq_state *s, const uint8_t *code, size_t i) {
  return s->bits == 8 ? code[i] : (code[i / 2] >> (4 * (i & 1))) & 15u;
}

static qv_status sq_train(qv_quant *q, const float *x, size_t n) {
  sq_state *s = q->st;
  float levels = (float)((1u << s->bits) - 1);
  for (size_t i = 0; i < q->dim; i++) {
    float lo = x[i], hi = x[i];
    for (size_t r = 1; r < n; r++) {
      float v = x[r * q->dim + i];
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    s->lo[i] = lo;
    s->scale[i] = (hi - lo) / levels;
  }
  return QV_OK;
}

static qv_status sq_encode(const qv_quant *q, const float *x, size_t n, const int32_t *center, uint8_t *codes) {
  (void)center;
  const sq_state *s = q->st;
  float levels = (float)((1u << s->bits) - 1);
  for (size_t r = 0; r < n; r++) {
    const float *v = x + r * q->dim;
    uint8_t *c = codes + r * q->code_bytes;
    memset(c, 0, q->code_bytes);
    for (size_t i = 0; i < q->dim; i++) {
      float t = s->scale[i] > 0 ? (v[i] - s->lo[i]) / s->scale[i] : 0.0f;
      t = t < 0 ? 0 : t > levels ? levels : t;
      unsigned u = (unsigned)lrintf(t);
      if (s->bits == 8)
        c[i] = (uint8_t)u;
      else
        c[i / 2] |= (uint8_t)(u << (4 * (i & 1)));
    }
  }
  return QV_OK;
}

static void sq_decode(const qv_quant *q, const uint8_t *code, int32_t center, float *x) {
  (void)center;
  const sq_state *s = q->st;
  for (size_t i = 0; i < q->dim; i++) x[i] = s->lo[i] + s->scale[i] * (float)sq_code_at(s, code, i);
}

static void sq_prepare(const qv_quant *q, const float *query, void *prep) {
  const sq_state *s = q->st;
  float *pf = prep, *a = pf + PREP_OFF;
  double base = 0;
  for (size_t i = 0; i < q->dim; i++) {
    if (q->metric == QV_METRIC_L2) {
      a[i] = query[i] - s->lo[i];
    } else {
      a[i] = query[i] * s->scale[i];
      base += (double)query[i] * s->lo[i];
    }
  }
  pf[0] = (float)base;
}

static float sq8_l2(const float *a, const float *sc, const uint8_t *c, size_t dim) {
  float acc[8] = {0};
  size_t i = 0;
  for (; i + 8 <= dim; i += 8)
    for (size_t j = 0; j < 8; j++) {
      float t = a[i + j] - sc[i + j] * (float)c[i + j];
      acc[j] += t * t;
    }
  float r = 0;
  for (; i < dim; i++) {
    float t = a[i] - sc[i] * (float)c[i];
    r += t * t;
  }
  for (size_t j = 0; j < 8; j++) r += acc[j];
  return r;
}

static float sq8_dot(const float *w, const uint8_t *c, size_t dim) {
  float acc[8] = {0};
  size_t i = 0;
  for (; i + 8 <= dim; i += 8)
    for (size_t j = 0; j < 8; j++) acc[j] += w[i + j] * (float)c[i + j];
  float r = 0;
  for (; i < dim; i++) r += w[i] * (float)c[i];
  for (size_t j = 0; j < 8; j++) r += acc[j];
  return r;
}

/* AVX2 + FMA versions of the 8-bit kernels (chosen at run time through q->simd). */
#define T256 __attribute__((target("avx2,fma")))

T256 static inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

T256 static float sq8_l2_avx2(const float *a, const float *sc, const uint8_t *c, size_t dim) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(c + i));
    __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
    __m256 c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)));
    __m256 t0 = _mm256_fnmadd_ps(_mm256_loadu_ps(sc + i), c0, _mm256_loadu_ps(a + i));
    __m256 t1 = _mm256_fnmadd_ps(_mm256_loadu_ps(sc + i + 8), c1, _mm256_loadu_ps(a + i + 8));
    acc0 = _mm256_fmadd_ps(t0, t0, acc0);
    acc1 = _mm256_fmadd_ps(t1, t1, acc1);
  }
  float r = hsum256(_mm256_add_ps(acc0, acc1));
  for (; i < dim; i++) {
    float t = a[i] - sc[i] * (float)c[i];
    r += t * t;
  }
  return r;
}

T256 static float sq8_dot_avx2(const float *w, const uint8_t *c, size_t dim) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(c + i));
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8),
                           _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8))), acc1);
  }
  float r = hsum256(_mm256_add_ps(acc0, acc1));
  for (; i < dim; i++) r += w[i] * (float)c[i];
  return r;
}

static float sq4_l2(const float *a, const float *sc, const uint8_t *c, size_t dim) {
  float r0 = 0, r1 = 0;
  size_t i = 0;
  for (; i + 2 <= dim; i += 2) {
    float t0 = a[i] - sc[i] * (float)(c[i / 2] & 15u);
    float t1 = a[i + 1] - sc[i + 1] * (float)(c[i / 2] >> 4);
    r0 += t0 * t0;
    r1 += t1 * t1;
  }
  if (i < dim) {
    float t = a[i] - sc[i] * (float)(c[i / 2] & 15u);
    r0 += t * t;
  }
  return r0 + r1;
}

static float sq4_dot(const float *w, const uint8_t *c, size_t dim) {
  float r0 = 0, r1 = 0;
  size_t i = 0;
  for (; i + 2 <= dim; i += 2) {
    r0 += w[i] * (float)(c[i / 2] & 15u);
    r1 += w[i + 1] * (float)(c[i / 2] >> 4);
  }
  if (i < dim) r0 += w[i] * (float)(c[i / 2] & 15u);
  return r0 + r1;
}

static void sq_scan(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out) {
  const sq_state *s = q->st;
  const float *pf = prep, *a = pf + PREP_OFF;
  int l2 = q->metric == QV_METRIC_L2;
  for (size_t r = 0; r < n; r++) {
    const uint8_t *c = codes + r * q->code_bytes;
    if (s->bits == 8 && q->simd)
      out[r] = l2 ? sq8_l2_avx2(a, s->scale, c, q->dim) : 1.0f - (pf[0] + sq8_dot_avx2(a, c, q->dim));
    else if (s->bits == 8)
      out[r] = l2 ? sq8_l2(a, s->scale, c, q->dim) : 1.0f - (pf[0] + sq8_dot(a, c, q->dim));
    else
      out[r] = l2 ? sq4_l2(a, s->scale, c, q->dim) : 1.0f - (pf[0] + sq4_dot(a, c, q->dim));
  }
}

static void sq_free(qv_quant *q) {
  sq_state *s = q->st;
  if (!s) return;
  qv__free(q->mem, s->lo);
  qv__free(q->mem, s);
}

static size_t sq_state_bytes(const qv_quant *q) { return 2 * (size_t)q->dim * sizeof(float); }

static void sq_state_write(const qv_quant *q, qv_ckpt_writer *w) {
  const sq_state *s = q->st;
  qv__ckpt_write(w, s->lo, q->dim * sizeof(float));
  qv__ckpt_write(w, s->scale, q->dim * sizeof(float));
}

static qv_status sq_state_read(qv_quant *q, const unsigned char *p, size_t n) {
  sq_state *s = q->st;
  (void)n;
  memcpy(s->lo, p, q->dim * sizeof(float));
  memcpy(s->scale, p + q->dim * sizeof(float), q->dim * sizeof(float));
  for (size_t i = 0; i < q->dim; i++)
    if (!isfinite(s->lo[i]) || !isfinite(s->scale[i]) || s->scale[i] < 0) return QV_CORRUPT;
  return QV_OK;
}

static const qv_quant_ops sq_ops = {
    .train = sq_train,
    .encode_many = sq_encode,
    .decode = sq_decode,
    .prepare = sq_prepare,
    .scan = sq_scan,
    .free_state = sq_free,
    .state_bytes = sq_state_bytes,
    .state_write = sq_state_write,
    .state_read = sq_state_read,
};

qv_status qv__quant_init_sq(qv_quant *q, int bits) {
  sq_state *s = qv__calloc(q->mem, 1, sizeof *s);
  if (!s) return QV_NOMEM;
  q->st = s;
  q->ops = &sq_ops;
  s->bits = bits;
  s->lo = qv__calloc(q->mem, 2 * (size_t)q->dim, sizeof(float));
  if (!s->lo) return QV_NOMEM;
  s->scale = s->lo + q->dim;
  q->code_bytes = bits == 8 ? q->dim : ((size_t)q->dim + 1) / 2;
  q->prep_bytes = (PREP_OFF + (size_t)q->dim) * sizeof(float);
  return QV_OK;
}
