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
 * sq8 code: f32 |x^|^2 (the reconstruction's squared norm), f32 |x^_h|^2 (the coarse
 * reconstruction's, below), then the code bytes split into two 4-bit planes: the high nibbles
 * h_i, then the low nibbles l_i (c_i = 16 h_i + l_i; plane layout in sq_kern.h, dim rounded
 * up to 16). Stored in blocks of 32 vectors: 32 x 8 bytes of norms, the 32 high planes, the 32
 * low planes, so a scan of the high planes alone reads half the bytes. The query side is
 * integer: w_i = round(q_i s_i * ws), int16 with ws = w_max / max_i |q_i s_i| and
 * w_max = min(32767, (2^31 - 1) / (255 dim)) so that sum_i w_i c_i fits int32 exactly; then
 *   q . x^ = sum_i q_i lo_i + (16 sum_i w_i h_i + sum_i w_i l_i) / ws
 *   l2:        |q|^2 - 2 q . x^ + |x^|^2   (clamped at 0)
 *   ip/cosine: 1 - q . x^
 * The integer sums are exact, so the scalar and AVX2 kernels give the same distances; the
 * rounding of w adds at most 0.5 / ws * sum_i c_i to |q . x^| (about 2^-15 of it at most).
 * The coarse scan (scan_coarse) reads only the high planes and scores the reconstruction
 * x^_h,i = lo_i + s_i (16 h_i + 7.5) the same way (|x^_h|^2 stored), with int8 weights
 * (ws8 = 127 / max_i |q_i s_i|, vpmaddubsw: sq_kern.h's dot8p); rescore() gives one stored
 * vector's full 8-bit distance, so an index re-scores the coarse scan's best candidates.
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
  size_t dim16;      /* sq8: dim rounded up to 16 */
  size_t plane;      /* sq8: bytes of one 4-bit plane (dim16 / 2) */
  qv_sq_i16n_fn dot;     /* int16 query, one plane (full distances) */
  qv_sq_i16hlx4_fn dothl4; /* both planes of four rows (the full scan) */
  qv_sq_i8px4_fn cdot4;  /* int8 query, high planes (the coarse scan) */
  qv_sq_i8p_fn cdot;
} sq_state;

#define SQ8_OFF 8  /* sq8: |x^|^2 and |x^_h|^2 before the planes */
#define SQ8_BLOCK 32
#define COARSE_MID 7.5f /* a low nibble's stand-in in the coarse reconstruction */

static inline unsigned nib_at(const uint8_t *p, size_t i) {
  return (p[i / 16 * 8 + (i & 7)] >> ((i & 8) ? 4 : 0)) & 15u;
}
static inline void nib_set(uint8_t *p, size_t i, unsigned v) {
  p[i / 16 * 8 + (i & 7)] |= (uint8_t)(v << ((i & 8) ? 4 : 0));
}

/* Where vector i of a block-layout list keeps its norms and planes. */
static inline const uint8_t *blk_base(const qv_quant *q, const uint8_t *codes, size_t i) {
  return codes + i / SQ8_BLOCK * SQ8_BLOCK * q->code_bytes;
}
static inline size_t off_norm(size_t r) { return r * SQ8_OFF; }
static inline size_t off_hi(const sq_state *s, size_t r) { return SQ8_BLOCK * SQ8_OFF + r * s->plane; }
static inline size_t off_lo(const sq_state *s, size_t r) {
  return SQ8_BLOCK * SQ8_OFF + SQ8_BLOCK * s->plane + r * s->plane;
}

#define PREP_OFF 16 /* floats before the per-dimension part of a prepared query */

static inline unsigned sq_code_at(const sq_state *s, const uint8_t *code, size_t i) {
  if (s->bits == 8) return 16u * nib_at(code + SQ8_OFF, i) + nib_at(code + SQ8_OFF + s->plane, i);
  return (code[i / 2] >> (4 * (i & 1))) & 15u;
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
    double xn = 0, xh = 0;
    for (size_t i = 0; i < q->dim; i++) {
      float t = s->scale[i] > 0 ? (v[i] - s->lo[i]) / s->scale[i] : 0.0f;
      t = t < 0 ? 0 : t > levels ? levels : t;
      unsigned u = (unsigned)lrintf(t);
      if (s->bits == 8) {
        nib_set(c + SQ8_OFF, i, u >> 4);
        nib_set(c + SQ8_OFF + s->plane, i, u & 15u);
        double y = (double)s->lo[i] + (double)s->scale[i] * u;
        double yh = (double)s->lo[i] + (double)s->scale[i] * (16.0 * (u >> 4) + COARSE_MID);
        xn += y * y;
        xh += yh * yh;
      } else {
        c[i / 2] |= (uint8_t)(u << (4 * (i & 1)));
      }
    }
    if (s->bits == 8) {
      float f[2] = {(float)xn, (float)xh};
      memcpy(c, f, sizeof f);
    }
  }
  return QV_OK;
}

static void sq_decode(const qv_quant *q, const uint8_t *code, int32_t center, float *x) {
  (void)center;
  const sq_state *s = q->st;
  for (size_t i = 0; i < q->dim; i++) x[i] = s->lo[i] + s->scale[i] * (float)sq_code_at(s, code, i);
}

/* round half away from zero (cheaper than lrintf in the per-query loops) */
static inline int32_t rnd(float x) { return (int32_t)(x >= 0 ? x + 0.5f : x - 0.5f); }

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
    for (size_t i = 0; i < q->dim; i++) w[i] = (int16_t)rnd(query[i] * s->scale[i] * ws);
    for (size_t i = q->dim; i < s->dim16; i++) w[i] = 0;
    /* the coarse scan's int8 weights, laid out like a plane (sq_kern.h) */
    int8_t *wl = (int8_t *)(w + s->dim16), *wh = wl + s->plane;
    float ws8 = mx > 0 ? 127.0f / mx : 0.0f;
    int64_t sw8 = 0;
    for (size_t k = 0; k < s->plane; k++) {
      size_t i = k / 8 * 16 + k % 8;
      wl[k] = i < q->dim ? (int8_t)rnd(query[i] * s->scale[i] * ws8) : 0;
      wh[k] = i + 8 < q->dim ? (int8_t)rnd(query[i + 8] * s->scale[i + 8] * ws8) : 0;
      sw8 += wl[k] + wh[k];
    }
    pf[0] = (float)base;
    pf[1] = ws > 0 ? 1.0f / ws : 0.0f;
    pf[2] = (float)qn;
    pf[3] = ws8 > 0 ? 1.0f / ws8 : 0.0f;
    pf[4] = COARSE_MID * (float)sw8;
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

/* sq8: one distance from the integer dot (see the top of the file); norm: |x^|^2 or |x^_h|^2 */
static inline float sq8_finish(const float *pf, int l2, float scale, float iw, const uint8_t *norm) {
  float dot = pf[0] + scale * iw;
  if (!l2) return 1.0f - dot;
  float xn;
  memcpy(&xn, norm, sizeof xn);
  float d = pf[2] - 2.0f * dot + xn;
  return d > 0 ? d : 0.0f;
}

/* sq8 over n stored vectors (block layout): all 8 bits, or (coarse) the high planes only */
static void sq8_scan(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out, int coarse) {
  const sq_state *s = q->st;
  const float *pf = prep;
  const int16_t *w = (const int16_t *)(const void *)(pf + PREP_OFF);
  const int8_t *wl = (const int8_t *)(w + s->dim16), *wh = wl + s->plane;
  int l2 = q->metric == QV_METRIC_L2;
  size_t P = s->plane, bb = SQ8_BLOCK * q->code_bytes;
  for (size_t b0 = 0; b0 < n; b0 += SQ8_BLOCK) {
    const uint8_t *blk = codes + b0 / SQ8_BLOCK * bb;
    size_t m = n - b0 < SQ8_BLOCK ? n - b0 : SQ8_BLOCK, r = 0;
    /* the next block's high planes (and low ones for a full scan) stream in meanwhile */
    const uint8_t *nx = b0 + SQ8_BLOCK < n ? blk + bb : NULL;
    size_t pre_len = coarse ? SQ8_BLOCK * (SQ8_OFF + P) : bb, pre_step = (pre_len + m - 1) / m;
    int32_t ih[4];
    for (; r < m; r += 4) {
      if (nx)
        for (size_t o = r * pre_step; o < (r + 4) * pre_step && o < pre_len; o += 64)
          _mm_prefetch((const char *)(nx + o), _MM_HINT_T0);
      size_t g = m - r < 4 ? m - r : 4;
      if (coarse && g == 4) {
        s->cdot4(wl, wh, blk + off_hi(s, r), P, P, ih);
      } else if (coarse) {
        for (size_t j = 0; j < g; j++) ih[j] = s->cdot(wl, wh, blk + off_hi(s, r + j), P);
      } else if (g == 4) { /* ih: 16 sum w h + sum w l */
        s->dothl4(w, blk + off_hi(s, r), blk + off_lo(s, r), P, s->dim16, ih);
      } else {
        for (size_t j = 0; j < g; j++)
          ih[j] = 16 * s->dot(w, blk + off_hi(s, r + j), s->dim16) + s->dot(w, blk + off_lo(s, r + j), s->dim16);
      }
      for (size_t j = 0; j < g; j++) {
        const uint8_t *nm = blk + off_norm(r + j);
        out[b0 + r + j] = coarse ? sq8_finish(pf, l2, pf[3], 16.0f * (float)ih[j] + pf[4], nm + 4)
                                 : sq8_finish(pf, l2, pf[1], (float)ih[j], nm);
      }
    }
  }
}

static void sq_scan(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out) {
  const sq_state *s = q->st;
  const float *pf = prep, *a = pf + PREP_OFF;
  int l2 = q->metric == QV_METRIC_L2;
  if (s->bits == 8) {
    sq8_scan(q, prep, codes, n, out, 0);
    return;
  }
  for (size_t r = 0; r < n; r++) {
    const uint8_t *c = codes + r * q->code_bytes;
    out[r] = l2 ? sq4_l2(a, s->scale, c, q->dim) : 1.0f - (pf[0] + sq4_dot(a, c, q->dim));
  }
}

static void sq8_scan_coarse(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out) {
  sq8_scan(q, prep, codes, n, out, 1);
}

static float sq8_rescore(const qv_quant *q, const void *prep, const uint8_t *codes, size_t i) {
  const sq_state *s = q->st;
  const float *pf = prep;
  const int16_t *w = (const int16_t *)(const void *)(pf + PREP_OFF);
  const uint8_t *blk = blk_base(q, codes, i);
  size_t r = i % SQ8_BLOCK;
  int32_t iw = 16 * s->dot(w, blk + off_hi(s, r), s->dim16) + s->dot(w, blk + off_lo(s, r), s->dim16);
  return sq8_finish(pf, q->metric == QV_METRIC_L2, pf[1], (float)iw, blk + off_norm(r));
}

static void sq8_prefetch(const qv_quant *q, const uint8_t *codes, size_t i) {
  const sq_state *s = q->st;
  const uint8_t *blk = blk_base(q, codes, i);
  size_t r = i % SQ8_BLOCK;
  _mm_prefetch((const char *)(blk + off_norm(r)), _MM_HINT_T0);
  for (size_t o = 0; o < s->plane; o += 64) {
    _mm_prefetch((const char *)(blk + off_hi(s, r) + o), _MM_HINT_T0);
    _mm_prefetch((const char *)(blk + off_lo(s, r) + o), _MM_HINT_T0);
  }
}

static void sq8_put(const qv_quant *q, uint8_t *codes, size_t i, const uint8_t *code) {
  const sq_state *s = q->st;
  uint8_t *blk = codes + i / SQ8_BLOCK * SQ8_BLOCK * q->code_bytes;
  size_t r = i % SQ8_BLOCK;
  memcpy(blk + off_norm(r), code, SQ8_OFF);
  memcpy(blk + off_hi(s, r), code + SQ8_OFF, s->plane);
  memcpy(blk + off_lo(s, r), code + SQ8_OFF + s->plane, s->plane);
}

static void sq8_get(const qv_quant *q, const uint8_t *codes, size_t i, uint8_t *code) {
  const sq_state *s = q->st;
  const uint8_t *blk = blk_base(q, codes, i);
  size_t r = i % SQ8_BLOCK;
  memcpy(code, blk + off_norm(r), SQ8_OFF);
  memcpy(code + SQ8_OFF, blk + off_hi(s, r), s->plane);
  memcpy(code + SQ8_OFF + s->plane, blk + off_lo(s, r), s->plane);
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

static const qv_quant_ops sq8_ops = {
    .train = sq_train,
    .encode_many = sq_encode,
    .decode = sq_decode,
    .prepare = sq_prepare,
    .scan = sq_scan,
    .scan_coarse = sq8_scan_coarse,
    .rescore = sq8_rescore,
    .prefetch = sq8_prefetch,
    .put = sq8_put,
    .get = sq8_get,
    .free_state = sq_free,
    .state_bytes = sq_state_bytes,
    .state_write = sq_state_write,
    .state_read = sq_state_read,
};

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
  q->ops = bits == 8 ? &sq8_ops : &sq_ops;
  s->bits = bits;
  s->lo = qv__calloc(q->mem, 2 * (size_t)q->dim, sizeof(float));
  if (!s->lo) return QV_NOMEM;
  s->scale = s->lo + q->dim;
  s->dim16 = ((size_t)q->dim + 15) / 16 * 16;
  s->plane = s->dim16 / 2;
  if (bits == 8) {
    q->code_bytes = SQ8_OFF + 2 * s->plane;
    q->block = SQ8_BLOCK;
  } else {
    q->code_bytes = ((size_t)q->dim + 1) / 2;
  }
  q->prep_bytes = (PREP_OFF + s->dim16) * sizeof(float);
  double wm = 2147483647.0 / (255.0 * q->dim);
  s->w_max = wm > 32767.0 ? 32767.0f : (float)floor(wm);
  s->dot = qv__sq_dot16n_for(q->kern->isa);
  s->dothl4 = qv__sq_dot16hlx4_for(q->kern->isa);
  s->cdot = qv__sq_dot8p_for(q->kern->isa);
  s->cdot4 = qv__sq_dot8px4_for(q->kern->isa);
  return QV_OK;
}
