/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant/sq.c -- scalar quantization for the quant.h interface, 8 bits (sq8) or 4 bits (sq4)
 * per dimension. The u8 distance kernels are the shared set of sq_kern.c (also used by the
 * HNSW traversal codes of sq8.c).
 *
 * Training takes each dimension's range [lo, hi] over the sample; L = 2^bits - 1 steps of
 * scale = (hi - lo) / L; c = round((x - lo) / scale) clamped to 0..L, so a value inside the
 * range is reconstructed within scale / 2. Values outside the range (vectors added after
 * training) are clamped.
 *
 * sq8 code: f32 |x^|^2 (the reconstruction's squared norm), then dim bytes. The query side is
 * integer: w_i = round(q_i s_i * ws), int16 with ws = w_max / max_i |q_i s_i| and
 * w_max = min(32767, (2^31 - 1) / (255 dim)) so that sum_i w_i c_i fits int32 exactly; then
 *   q . x^ = sum_i q_i lo_i + (sum_i w_i c_i) / ws
 *   l2:        |q|^2 - 2 q . x^ + |x^|^2   (clamped at 0)
 *   ip/cosine: 1 - q . x^
 * The integer sums are exact, so the scalar and AVX2 kernels give the same distances; the
 * rounding of w adds at most 0.5 / ws * sum_i c_i to |q . x^| (about 2^-15 of it at most).
 * sq4 (a nibble per dimension) keeps a float query:
 *   l2:        sum_i (a_i - s_i c_i)^2        with a_i = q_i - lo_i
 *   ip/cosine: 1 - (sum_i q_i lo_i + sum_i w_i c_i)   with w_i = q_i s_i
 * State on disk: lo[dim], scale[dim] (float32).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "quant.h"
#include "sq_kern.h"

typedef struct sq_state {
  int bits;
  float *lo, *scale; /* dim each, one allocation */
  float w_max;       /* sq8: largest |int16 query weight| */
  qv_sq_i16_fn dot16;
  qv_sq_i16x4_fn dot16x4;
} sq_state;

#define SQ8_OFF 4 /* sq8: bytes of |x^|^2 before the codes */

#define PREP_OFF 16 /* floats before the per-dimension part of a prepared query */

static inline unsigned sq_code_at(const sq_state *s, const uint8_t *code, size_t i) {
  return s->bits == 8 ? code[SQ8_OFF + i] : (code[i / 2] >> (4 * (i & 1))) & 15u;
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
    double xn = 0;
    for (size_t i = 0; i < q->dim; i++) {
      float t = s->scale[i] > 0 ? (v[i] - s->lo[i]) / s->scale[i] : 0.0f;
      t = t < 0 ? 0 : t > levels ? levels : t;
      unsigned u = (unsigned)lrintf(t);
      if (s->bits == 8) {
        c[SQ8_OFF + i] = (uint8_t)u;
        double y = (double)s->lo[i] + (double)s->scale[i] * u;
        xn += y * y;
      } else {
        c[i / 2] |= (uint8_t)(u << (4 * (i & 1)));
      }
    }
    if (s->bits == 8) {
      float f = (float)xn;
      memcpy(c, &f, sizeof f);
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
  double base = 0, qn = 0;
  if (s->bits == 8) {
    int16_t *w = (int16_t *)(void *)a;
    float mx = 0;
    for (size_t i = 0; i < q->dim; i++) {
      base += (double)query[i] * s->lo[i];
      qn += (double)query[i] * query[i];
      float t = fabsf(query[i] * s->scale[i]);
      mx = t > mx ? t : mx;
    }
    float ws = mx > 0 ? s->w_max / mx : 0.0f;
    for (size_t i = 0; i < q->dim; i++) w[i] = (int16_t)lrintf(query[i] * s->scale[i] * ws);
    pf[0] = (float)base;
    pf[1] = ws > 0 ? 1.0f / ws : 0.0f;
    pf[2] = (float)qn;
    return;
  }
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

/* sq8: one distance from the integer sum (see the top of the file). */
static inline float sq8_finish(const float *pf, int l2, int32_t iw, const uint8_t *code) {
  float dot = pf[0] + pf[1] * (float)iw;
  if (!l2) return 1.0f - dot;
  float xn;
  memcpy(&xn, code, sizeof xn);
  float d = pf[2] - 2.0f * dot + xn;
  return d > 0 ? d : 0.0f;
}

static void sq_scan(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out) {
  const sq_state *s = q->st;
  const float *pf = prep, *a = pf + PREP_OFF;
  int l2 = q->metric == QV_METRIC_L2;
  if (s->bits == 8) {
    const int16_t *w = (const int16_t *)(const void *)a;
    size_t cb = q->code_bytes, r = 0;
    int32_t iw[4];
    const uint8_t *end = codes + n * cb;
    for (; r + 4 <= n; r += 4) {
      const uint8_t *c = codes + r * cb;
      /* the codes stream from memory: ask for the rows 8 ahead while these four are scored */
      for (const uint8_t *pp = c + 8 * cb; pp < c + 12 * cb && pp < end; pp += 64) _mm_prefetch((const char *)pp, _MM_HINT_T0);
      s->dot16x4(w, c + SQ8_OFF, cb, q->dim, iw);
      for (size_t j = 0; j < 4; j++) out[r + j] = sq8_finish(pf, l2, iw[j], c + j * cb);
    }
    for (; r < n; r++) {
      const uint8_t *c = codes + r * cb;
      out[r] = sq8_finish(pf, l2, s->dot16(w, c + SQ8_OFF, q->dim), c);
    }
    return;
  }
  for (size_t r = 0; r < n; r++) {
    const uint8_t *c = codes + r * q->code_bytes;
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
  q->code_bytes = bits == 8 ? SQ8_OFF + (size_t)q->dim : ((size_t)q->dim + 1) / 2;
  q->prep_bytes = (PREP_OFF + (size_t)q->dim) * sizeof(float);
  double wm = 2147483647.0 / (255.0 * q->dim);
  s->w_max = wm > 32767.0 ? 32767.0f : (float)floor(wm);
  s->dot16 = qv__sq_dot16_for(q->kern->isa);
  s->dot16x4 = qv__sq_dot16x4_for(q->kern->isa);
  return QV_OK;
}
