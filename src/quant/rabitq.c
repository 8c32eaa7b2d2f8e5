/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant/rabitq.c -- RaBitQ (Gao & Long, "RaBitQ: Quantizing High-Dimensional Vectors with a
 * Theoretical Error Bound for Approximate Nearest Neighbor Search", SIGMOD 2024), 1 bit per
 * dimension, for quant.h.
 *
 * Vectors are padded with zeros to Dp = dim rounded up to 64 and rotated by P, a random
 * orthogonal Dp x Dp matrix (Gaussian rows orthonormalised by Gram-Schmidt, twice, seeded by
 * cfg.seed). For a vector x and its center c (an IVF list's centroid; the origin without one),
 * r = P(x - c), o = r / |r|, and the code is the sign bits b_i = [o_i > 0]: the quantized unit
 * vector is xb = (2b - 1) / sqrt(Dp). With Q = P(q - c) for a query q, the paper's estimator
 *   <o, Q> ~ <xb, Q> / <xb, o>
 * is unbiased, and with probability close to 1 its error is at most
 *   |Q| * sqrt((1 - <xb,o>^2) / <xb,o>^2) * eps0 / sqrt(Dp - 1),   eps0 = 1.9.
 * Distances follow from |r| <o,Q> = <x - c, q - c>:
 *   l2:  |x - q|^2 = |r|^2 + |Q|^2 - 2 |r| <o, Q>
 *   ip:  <x, q>   = <x - c, c> + <c, q> + |r| <o, Q>      (distance 1 - <x, q>)
 * so each code carries three floats after the bits: f_add (|r|^2 for l2, <x - c, c> for ip),
 * f_rescale = |r| / <xb, o> and f_err = |r| sqrt(1 - <xb,o>^2) / <xb,o> / sqrt(Dp - 1).
 *
 * <xb, Q> = (2 sum_{b_i = 1} Q_i - sum_i Q_i) / sqrt(Dp); the masked sum is read from a table
 * of 16 partial sums per 4 dimensions (built per query and center: Dp * 4 additions), so a
 * code costs Dp / 4 lookups. The query stays in float (the paper quantizes it to 4 bits for
 * its bitwise kernel; not done here).
 *
 * State on disk: the rotation, Dp * Dp float32. Centers are not state: the index sets them.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "quant.h"

#define RQ_MAX_DP 4096
#define RQ_EPS0 1.9f
#define HEAD 16 /* floats before the rotated query in a prepared query */

typedef struct rq_state {
  uint32_t dp;
  float *rot;   /* dp * dp, row-major: rotated = rot . padded */
  float *cent;  /* n_cent * dp rotated centers */
  size_t n_cent;
} rq_state;

static size_t bits_bytes(const rq_state *s) { return s->dp / 8; }

/* Gaussian from two hashed uniforms (Box-Muller). */
static double gauss(uint64_t *st) {
  *st = qv__mix64(*st);
  double u1 = ((double)(*st >> 11) + 0.5) / 9007199254740992.0;
  *st = qv__mix64(*st);
  double u2 = (double)(*st >> 11) / 9007199254740992.0;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static qv_status make_rotation(const qv_quant *q, rq_state *s) {
  size_t dp = s->dp;
  float *coef = qv__malloc(q->mem, dp * sizeof *coef);
  if (!coef) return QV_NOMEM;
  uint64_t st = q->cfg.seed ^ 0x7261626974710000ull;
  for (size_t i = 0; i < dp; i++) {
    float *g = s->rot + i * dp;
    for (;;) {
      for (size_t j = 0; j < dp; j++) g[j] = (float)gauss(&st);
      for (int pass = 0; pass < 2 && i > 0; pass++) { /* g -= R^T (R g), R = rows 0..i-1 */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)i, (int)dp, 1.0f, s->rot, (int)dp, g, 1, 0.0f, coef, 1);
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)i, (int)dp, -1.0f, s->rot, (int)dp, coef, 1, 1.0f, g, 1);
      }
      float nrm = cblas_snrm2((int)dp, g, 1);
      if (nrm > 1e-3f) {
        cblas_sscal((int)dp, 1.0f / nrm, g, 1);
        break;
      }
    }
  }
  qv__free(q->mem, coef);
  return QV_OK;
}

static qv_status rq_train(qv_quant *q, const float *x, size_t n) {
  (void)x;
  (void)n;
  return make_rotation(q, q->st);
}

/* rows (n * dp) = P . pad(x_i) for n vectors of dim floats. */
static void rotate(const qv_quant *q, const rq_state *s, const float *x, size_t n, float *rows) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)s->dp, (int)q->dim, 1.0f, x, (int)q->dim, s->rot,
              (int)s->dp, 0.0f, rows, (int)s->dp);
}

static qv_status rq_set_centers(qv_quant *q, const float *c, size_t n) {
  rq_state *s = q->st;
  float *rc = qv__malloc(q->mem, (n ? n : 1) * s->dp * sizeof *rc);
  if (!rc) return QV_NOMEM;
  if (n) rotate(q, s, c, n, rc);
  qv__free(q->mem, s->cent);
  s->cent = rc;
  s->n_cent = n;
  return QV_OK;
}

static const float *center_row(const rq_state *s, int32_t c) {
  return c >= 0 && (size_t)c < s->n_cent ? s->cent + (size_t)c * s->dp : NULL;
}

/* Encode one rotated vector r (overwritten with r - Pc) against center cr (may be NULL). */
static void encode_rotated(const qv_quant *q, const rq_state *s, float *r, const float *cr, uint8_t *code) {
  size_t dp = s->dp;
  double n2 = 0, xc = 0;
  for (size_t i = 0; i < dp; i++) {
    if (cr) {
      r[i] -= cr[i];
      xc += (double)r[i] * cr[i];
    }
    n2 += (double)r[i] * r[i];
  }
  double nrm = sqrt(n2), absum = 0;
  memset(code, 0, bits_bytes(s));
  for (size_t i = 0; i < dp; i++) {
    if (r[i] > 0) code[i / 8] |= (uint8_t)(1u << (i % 8));
    absum += fabs((double)r[i]);
  }
  /* <xb, o> = sum |o_i| / sqrt(dp); a zero residual: any code, every term 0 */
  double xdot = nrm > 0 ? absum / nrm / sqrt((double)dp) : 1.0;
  if (xdot < 1e-6) xdot = 1e-6;
  float f[3];
  f[0] = (float)(q->metric == QV_METRIC_L2 ? n2 : xc);
  f[1] = (float)(nrm / xdot);
  f[2] = (float)(nrm * sqrt(fmax(0.0, 1.0 - xdot * xdot)) / xdot / sqrt((double)dp - 1.0));
  memcpy(code + bits_bytes(s), f, sizeof f);
}

#define RQ_CHUNK 256

static qv_status rq_encode(const qv_quant *q, const float *x, size_t n, const int32_t *center, uint8_t *codes) {
  const rq_state *s = q->st;
  size_t chunk = n < RQ_CHUNK ? n : RQ_CHUNK;
  float *rows = qv__malloc(q->mem, (chunk ? chunk : 1) * s->dp * sizeof *rows);
  if (!rows) return QV_NOMEM;
  for (size_t i0 = 0; i0 < n; i0 += chunk) {
    size_t m = n - i0 < chunk ? n - i0 : chunk;
    rotate(q, s, x + i0 * q->dim, m, rows);
    for (size_t i = 0; i < m; i++)
      encode_rotated(q, s, rows + i * s->dp, center_row(s, center ? center[i0 + i] : -1),
                     codes + (i0 + i) * q->code_bytes);
  }
  qv__free(q->mem, rows);
  return QV_OK;
}

/*
 * Prepared query (floats): head[0] = |Q|^2, [1] = <c, q>, [2] = sum Q_i, [3] = |Q|; from HEAD
 * the rotated query Pq (dp), then the table (dp / 4 groups of 16 partial sums of Q).
 */
static void rq_recenter(const qv_quant *q, void *prep, int32_t center) {
  const rq_state *s = q->st;
  float *h = prep, *pq = h + HEAD, *lut = pq + s->dp;
  const float *cr = center_row(s, center);
  double n2 = 0, cq = 0, sum = 0;
  for (size_t g = 0; g < s->dp / 4; g++) {
    float v[4];
    for (int t = 0; t < 4; t++) {
      size_t i = g * 4 + (size_t)t;
      v[t] = cr ? pq[i] - cr[i] : pq[i];
      if (cr) cq += (double)cr[i] * pq[i];
      n2 += (double)v[t] * v[t];
      sum += v[t];
    }
    float *L = lut + g * 16;
    L[0] = 0;
    for (unsigned m = 1; m < 16; m++) L[m] = L[m & (m - 1)] + v[__builtin_ctz(m)];
  }
  h[0] = (float)n2;
  h[1] = (float)cq;
  h[2] = (float)sum;
  h[3] = (float)sqrt(n2);
}

static void rq_prepare(const qv_quant *q, const float *query, void *prep) {
  const rq_state *s = q->st;
  float *pq = (float *)prep + HEAD;
  cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)s->dp, (int)q->dim, 1.0f, s->rot, (int)s->dp, query, 1, 0.0f, pq,
              1);
  rq_recenter(q, prep, -1);
}

/* <xb, Q> * sqrt(dp) = 2 * masked sum - sum. */
static inline float masked_sum(const rq_state *s, const float *lut, const uint8_t *code) {
  float a0 = 0, a1 = 0;
  size_t nb = bits_bytes(s);
  for (size_t j = 0; j < nb; j++) {
    a0 += lut[(2 * j) * 16 + (code[j] & 15u)];
    a1 += lut[(2 * j + 1) * 16 + (code[j] >> 4)];
  }
  return a0 + a1;
}

static inline void estimate(const qv_quant *q, const rq_state *s, const float *h, const uint8_t *code, float *est,
                            float *bound) {
  const float *lut = h + HEAD + s->dp;
  float f[3];
  memcpy(f, code + bits_bytes(s), sizeof f);
  float ipq = (2.0f * masked_sum(s, lut, code) - h[2]) / sqrtf((float)s->dp); /* <xb, Q> */
  float e = f[1] * ipq; /* ~ |r| <o, Q> */
  if (q->metric == QV_METRIC_L2) {
    *est = f[0] + h[0] - 2.0f * e;
    if (bound) *bound = 2.0f * h[3] * RQ_EPS0 * f[2];
  } else {
    *est = 1.0f - (f[0] + h[1] + e);
    if (bound) *bound = h[3] * RQ_EPS0 * f[2];
  }
}

void qv__rabitq_estimate(const qv_quant *q, const void *prep, const uint8_t *code, float *est, float *bound) {
  estimate(q, q->st, prep, code, est, bound);
}

static void rq_scan(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out) {
  const rq_state *s = q->st;
  for (size_t r = 0; r < n; r++) estimate(q, s, prep, codes + r * q->code_bytes, &out[r], NULL);
}

static void rq_free(qv_quant *q) {
  rq_state *s = q->st;
  if (!s) return;
  qv__free(q->mem, s->rot);
  qv__free(q->mem, s->cent);
  qv__free(q->mem, s);
}

static size_t rq_state_bytes(const qv_quant *q) {
  const rq_state *s = q->st;
  return (size_t)s->dp * s->dp * sizeof(float);
}

static void rq_state_write(const qv_quant *q, qv_ckpt_writer *w) {
  const rq_state *s = q->st;
  qv__ckpt_write(w, s->rot, rq_state_bytes(q));
}

static qv_status rq_state_read(qv_quant *q, const unsigned char *p, size_t n) {
  rq_state *s = q->st;
  memcpy(s->rot, p, n);
  /* an orthogonal matrix: every row of unit length */
  for (size_t i = 0; i < s->dp; i++) {
    float nrm = cblas_snrm2((int)s->dp, s->rot + i * s->dp, 1);
    if (!(fabsf(nrm - 1.0f) < 1e-3f)) return QV_CORRUPT;
  }
  return QV_OK;
}

static const qv_quant_ops rq_ops = {
    .train = rq_train,
    .set_centers = rq_set_centers,
    .encode_many = rq_encode,
    .prepare = rq_prepare,
    .recenter = rq_recenter,
    .scan = rq_scan,
    .free_state = rq_free,
    .state_bytes = rq_state_bytes,
    .state_write = rq_state_write,
    .state_read = rq_state_read,
};

qv_status qv__quant_init_rabitq(qv_quant *q, char *err, size_t errlen) {
  uint32_t dp = (q->dim + 63) / 64 * 64;
  if (dp > RQ_MAX_DP) {
    qv__fmt(err, errlen, "quantizer: rabitq supports dim up to %u (its rotation is a dense matrix)", RQ_MAX_DP);
    return QV_INVALID;
  }
  rq_state *s = qv__calloc(q->mem, 1, sizeof *s);
  if (!s) return QV_NOMEM;
  q->st = s;
  s->dp = dp;
  s->rot = qv__calloc(q->mem, (size_t)dp * dp, sizeof(float));
  if (!s->rot) return QV_NOMEM;
  q->ops = &rq_ops;
  q->code_bytes = dp / 8 + 3 * sizeof(float);
  q->prep_bytes = (HEAD + (size_t)dp + (size_t)dp / 4 * 16) * sizeof(float);
  return QV_OK;
}
