/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant/pq.c -- product quantization (Jegou, Douze & Schmid 2011) for quant.h, with 8-bit
 * codes scored through float lookup tables and 4-bit codes scored by FastScan (Andre, Kermarrec
 * & Le Scouarnec 2015; as in Faiss's IndexPQFastScan).
 *
 * dim = pq_m * dsub. Each sub-vector has ksub = 2^pq_bits centroids, learned by k-means on its
 * slice of the sample (qv__kmeans, sgemm assignments); a vector's code is its nearest centroid
 * per sub-vector. A prepared query holds, per sub-vector m and centroid j, the table
 *   l2: T[m][j] = |q_m - C_mj|^2          ip/cosine: T[m][j] = -q_m . C_mj  (distance = 1 + sum)
 * so a distance is pq_m table lookups.
 *
 * FastScan (pq_bits = 4): the tables are quantized to bytes -- T[m][j] ~ bias_m + a * t[m][j],
 * t in 0..255 with one a for all sub-vectors (a = the largest range of a sub-vector's 16 entries
 * / 255). The 16-bit lanes of the scan take up to 256 pairs of sub-vectors (256 * 255 < 65536)
 * and are then added into 32-bit sums, so every pq_m keeps the full byte range. The codes of
 * 32 vectors are interleaved (quant.c, pq4_put):
 * one 32-byte row per pair of sub-vectors, so one AVX2 register holds 32 codes of a pair and
 * vpshufb against the pair's two 16-byte tables (one per 128-bit lane) looks up 32 values at
 * once; the low nibbles give vectors 0..15, the high nibbles vectors 16..31. Even and odd bytes
 * are accumulated in separate 16-bit lanes (no widening in the loop). The distance is
 * sum(bias) + a * sum: an estimate with the table rounding error (<= a/2 per sub-vector) on top
 * of PQ's. The scalar path computes the same integer sums (test_quant checks equality).
 *
 * State on disk: the centroids, pq_m * ksub * dsub float32.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "quant.h"

#define T256 __attribute__((target("avx2,fma")))
#define PQ_TRAIN_PER_CENTROID 64 /* sample points per centroid kept for k-means */
#define PQ_ITERS 12
#define PREP_HEAD 64 /* bytes before the tables of a prepared query */
#define PQ4_QMAX 255u /* 4-bit tables: bytes 0..255 (sums widen to 32 bits every PQ4_FLUSH pairs) */
#define PQ4_FLUSH 256 /* pairs summed in 16-bit lanes: 256 * 255 < 65536 */

typedef struct pq_state {
  uint32_t m, mp, bits, ksub, dsub; /* mp: m rounded up to even (4-bit) */
  float *cent;                      /* m * ksub * dsub */
  float *centers;                   /* 4-bit: n_centers * dim list centers (residual codes) */
  size_t n_centers;
  float *cy;                        /* 4-bit l2: n_centers * m * 16 values 2 c_m . y_mj */
} pq_state;

static const float *center_of(const qv_quant *q, int32_t c) {
  const pq_state *s = q->st;
  return c >= 0 && (size_t)c < s->n_centers ? s->centers + (size_t)c * q->dim : NULL;
}

static qv_status pq_train(qv_quant *q, const float *x, size_t n) {
  pq_state *s = q->st;
  if (n < s->ksub) return QV_INVALID;
  size_t ns = n < (size_t)s->ksub * PQ_TRAIN_PER_CENTROID ? n : (size_t)s->ksub * PQ_TRAIN_PER_CENTROID;
  float *sub = qv__malloc(q->mem, ns * s->dsub * sizeof *sub);
  if (!sub) return QV_NOMEM;
  qv_status rc = QV_OK;
  for (uint32_t m = 0; m < s->m && rc == QV_OK; m++) {
    for (size_t i = 0; i < ns; i++) {
      size_t r = ns == n ? i : i * n / ns; /* an even stride through the sample */
      memcpy(sub + i * s->dsub, x + r * q->dim + (size_t)m * s->dsub, s->dsub * sizeof *sub);
    }
    rc = qv__kmeans(q->mem, sub, ns, s->dsub, s->ksub, PQ_ITERS, q->cfg.seed + m,
                    s->cent + (size_t)m * s->ksub * s->dsub, NULL);
  }
  qv__free(q->mem, sub);
  return rc;
}

/* Nearest centroid of sub-vector m of v (brute force; encode batches use sgemm instead). */
static uint32_t nearest(const pq_state *s, uint32_t m, const float *v) {
  const float *c = s->cent + (size_t)m * s->ksub * s->dsub;
  float best = INFINITY;
  uint32_t bj = 0;
  for (uint32_t j = 0; j < s->ksub; j++) {
    float d = 0;
    for (uint32_t t = 0; t < s->dsub; t++) {
      float e = v[t] - c[(size_t)j * s->dsub + t];
      d += e * e;
    }
    if (d < best) {
      best = d;
      bj = j;
    }
  }
  return bj;
}

static void set_code(const pq_state *s, uint8_t *code, uint32_t m, uint32_t j) {
  if (s->bits == 8)
    code[m] = (uint8_t)j;
  else
    code[m / 2] |= (uint8_t)(j << (4 * (m & 1)));
}

static qv_status pq_encode(const qv_quant *q, const float *x, size_t n, const int32_t *center, uint8_t *codes) {
  const pq_state *s = q->st;
  float *res = NULL;
  if (center && s->n_centers) { /* 4-bit: code the residuals to the centers */
    if (!(res = qv__malloc(q->mem, n * q->dim * sizeof *res))) return QV_NOMEM;
    for (size_t i = 0; i < n; i++) {
      const float *c = center_of(q, center[i]);
      for (size_t j = 0; j < q->dim; j++) res[i * q->dim + j] = x[i * q->dim + j] - (c ? c[j] : 0.0f);
    }
    x = res;
  }
  memset(codes, 0, n * q->code_bytes);
  /* batches: assignments through sgemm, one sub-vector at a time */
  float *sub = n >= 64 ? qv__malloc(q->mem, n * s->dsub * sizeof *sub) : NULL;
  uint32_t *as = sub ? qv__malloc(q->mem, n * sizeof *as) : NULL;
  for (uint32_t m = 0; m < s->m; m++) {
    int done = 0;
    if (as) {
      for (size_t i = 0; i < n; i++)
        memcpy(sub + i * s->dsub, x + i * q->dim + (size_t)m * s->dsub, s->dsub * sizeof *sub);
      done = qv__kmeans_assign(q->mem, sub, n, s->dsub, s->cent + (size_t)m * s->ksub * s->dsub, s->ksub, as,
                               NULL) == QV_OK;
      if (done)
        for (size_t i = 0; i < n; i++) set_code(s, codes + i * q->code_bytes, m, as[i]);
    }
    if (!done)
      for (size_t i = 0; i < n; i++)
        set_code(s, codes + i * q->code_bytes, m, nearest(s, m, x + i * q->dim + (size_t)m * s->dsub));
  }
  qv__free(q->mem, sub);
  qv__free(q->mem, as);
  qv__free(q->mem, res);
  return QV_OK;
}

static void pq_decode(const qv_quant *q, const uint8_t *code, int32_t center, float *x) {
  const pq_state *s = q->st;
  for (uint32_t m = 0; m < s->m; m++) {
    uint32_t j = s->bits == 8 ? code[m] : (code[m / 2] >> (4 * (m & 1))) & 15u;
    memcpy(x + (size_t)m * s->dsub, s->cent + ((size_t)m * s->ksub + j) * s->dsub, s->dsub * sizeof *x);
  }
  const float *c = center_of(q, center);
  if (c)
    for (size_t i = 0; i < q->dim; i++) x[i] += c[i];
}

static qv_status pq_set_centers(qv_quant *q, const float *c, size_t n) {
  pq_state *s = q->st;
  size_t nt = (size_t)s->m * 16;
  float *cc = qv__malloc(q->mem, (n ? n : 1) * q->dim * sizeof *cc);
  float *cy = q->metric == QV_METRIC_L2 ? qv__malloc(q->mem, (n ? n : 1) * nt * sizeof *cy) : NULL;
  if (!cc || (q->metric == QV_METRIC_L2 && !cy)) {
    qv__free(q->mem, cc);
    qv__free(q->mem, cy);
    return QV_NOMEM;
  }
  memcpy(cc, c, n * q->dim * sizeof *cc);
  for (size_t l = 0; cy && l < n; l++)
    for (uint32_t m = 0; m < s->m; m++)
      for (uint32_t j = 0; j < 16; j++) {
        const float *y = s->cent + ((size_t)m * 16 + j) * s->dsub, *cm = cc + l * q->dim + (size_t)m * s->dsub;
        float d = 0;
        for (uint32_t u = 0; u < s->dsub; u++) d += cm[u] * y[u];
        cy[l * nt + (size_t)m * 16 + j] = 2.0f * d;
      }
  qv__free(q->mem, s->centers);
  qv__free(q->mem, s->cy);
  s->centers = cc;
  s->cy = cy;
  s->n_centers = n;
  q->aux_bytes = n * q->dim * sizeof *cc + (cy ? n * nt * sizeof *cy : 0);
  return QV_OK;
}

/* Float tables T[m][j] into t (m * ksub). */
static void tables(const qv_quant *q, const float *query, float *t) {
  const pq_state *s = q->st;
  int l2 = q->metric == QV_METRIC_L2;
  for (uint32_t m = 0; m < s->m; m++) {
    const float *qm = query + (size_t)m * s->dsub;
    const float *c = s->cent + (size_t)m * s->ksub * s->dsub;
    float *tm = t + (size_t)m * s->ksub;
    for (uint32_t j = 0; j < s->ksub; j++) {
      const float *cj = c + (size_t)j * s->dsub;
      float acc = 0;
      if (l2)
        for (uint32_t u = 0; u < s->dsub; u++) {
          float e = qm[u] - cj[u];
          acc += e * e;
        }
      else {
        for (uint32_t u = 0; u < s->dsub; u++) acc += qm[u] * cj[u];
        acc = -acc;
      }
      tm[j] = acc;
    }
  }
}

/*
 * t = tq (+ cy when not NULL), each sub-vector's 16 entries shifted to start at 0 (the shifts
 * added to bias); returns the largest range. The AVX2 path gives the same floats (the sum, min,
 * max and subtraction are exact operations on the same values).
 */
static float pq4_shift_scalar(float *t, const float *tq, const float *cy, uint32_t nm, double *bias) {
  float range = 0;
  for (uint32_t m = 0; m < nm; m++) {
    float *tm = t + (size_t)m * 16;
    const float *qm = tq + (size_t)m * 16, *cm = cy ? cy + (size_t)m * 16 : NULL;
    for (int j = 0; j < 16; j++) tm[j] = qm[j] + (cm ? cm[j] : 0.0f);
    float lo = tm[0], hi = tm[0];
    for (int j = 1; j < 16; j++) {
      lo = tm[j] < lo ? tm[j] : lo;
      hi = tm[j] > hi ? tm[j] : hi;
    }
    *bias += lo;
    range = hi - lo > range ? hi - lo : range;
    for (int j = 0; j < 16; j++) tm[j] -= lo;
  }
  return range;
}

T256 static float pq4_shift_avx2(float *t, const float *tq, const float *cy, uint32_t nm, double *bias) {
  float range = 0;
  for (uint32_t m = 0; m < nm; m++) {
    float *tm = t + (size_t)m * 16;
    __m256 a0 = _mm256_loadu_ps(tq + (size_t)m * 16), a1 = _mm256_loadu_ps(tq + (size_t)m * 16 + 8);
    if (cy) {
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(cy + (size_t)m * 16));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(cy + (size_t)m * 16 + 8));
    }
    __m256 mn = _mm256_min_ps(a0, a1), mx = _mm256_max_ps(a0, a1);
    __m128 l4 = _mm_min_ps(_mm256_castps256_ps128(mn), _mm256_extractf128_ps(mn, 1));
    __m128 h4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    l4 = _mm_min_ps(l4, _mm_movehl_ps(l4, l4));
    h4 = _mm_max_ps(h4, _mm_movehl_ps(h4, h4));
    l4 = _mm_min_ss(l4, _mm_shuffle_ps(l4, l4, 1));
    h4 = _mm_max_ss(h4, _mm_shuffle_ps(h4, h4, 1));
    float lo = _mm_cvtss_f32(l4), hi = _mm_cvtss_f32(h4);
    *bias += lo;
    range = hi - lo > range ? hi - lo : range;
    __m256 vl = _mm256_set1_ps(lo);
    _mm256_storeu_ps(tm, _mm256_sub_ps(a0, vl));
    _mm256_storeu_ps(tm + 8, _mm256_sub_ps(a1, vl));
  }
  return range;
}

/* The shifted tables quantized to 0..PQ4_QMAX bytes in register order (pair p: 2p | 2p + 1). */
static void pq4_quantize_scalar(const float *t, uint32_t nm, float inv, uint8_t *bt) {
  for (uint32_t m = 0; m < nm; m++) {
    const float *tm = t + (size_t)m * 16;
    uint8_t *o = bt + (m / 2) * 32 + (m & 1) * 16;
    for (int j = 0; j < 16; j++) {
      float v = tm[j] * inv + 0.5f; /* >= 0.5: truncation rounds */
      o[j] = (uint8_t)(v < (float)PQ4_QMAX ? (unsigned)v : PQ4_QMAX);
    }
  }
}

T256 static void pq4_quantize_avx2(const float *t, uint32_t nm, float inv, uint8_t *bt) {
  const __m256 vi = _mm256_set1_ps(inv), half = _mm256_set1_ps(0.5f), top = _mm256_set1_ps((float)PQ4_QMAX);
  for (uint32_t m = 0; m < nm; m++) {
    const float *tm = t + (size_t)m * 16;
    /* the scalar path's operations, unfused: the same bytes */
    __m256 v0 = _mm256_min_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(tm), vi), half), top);
    __m256 v1 = _mm256_min_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(tm + 8), vi), half), top);
    __m256i w = _mm256_packus_epi32(_mm256_cvttps_epi32(v0), _mm256_cvttps_epi32(v1));
    w = _mm256_permute4x64_epi64(w, 0xD8); /* 16-bit values 0..15 in order */
    __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128((__m128i *)(void *)(bt + (m / 2) * 32 + (m & 1) * 16), b);
  }
}

static void pq4_recenter(const qv_quant *q, void *prep, int32_t center);

/*
 * Prepared query. 8-bit: float head[0] = constant (0 for l2, 1 for ip), then at PREP_HEAD the
 * float tables. 4-bit: head[0] = sum of biases (+1 for ip), head[1] = a, then at PREP_HEAD the
 * byte tables in register order (pair p: t[2p][0..15] | t[2p+1][0..15]), then the float tables
 * (scratch for the quantization).
 */
static void pq_prepare(const qv_quant *q, const float *query, void *prep) {
  const pq_state *s = q->st;
  float *head = prep;
  int l2 = q->metric == QV_METRIC_L2;
  if (s->bits == 8) {
    head[0] = l2 ? 0.0f : 1.0f;
    tables(q, query, (float *)(void *)((char *)prep + PREP_HEAD));
    return;
  }
  float *tq = (float *)(void *)((uint8_t *)prep + PREP_HEAD + (size_t)s->mp * 16) + (size_t)s->m * 16;
  float *qc = tq + (size_t)s->m * 16;
  memcpy(qc, query, q->dim * sizeof *qc);
  tables(q, query, tq); /* l2: |q_m - y|^2; ip: -q_m.y */
  if (l2) /* |y|^2 - 2 q.y = |q_m - y|^2 - |q_m|^2 */
    for (uint32_t m = 0; m < s->m; m++) {
      float n2 = 0;
      for (uint32_t u = 0; u < s->dsub; u++) n2 += query[(size_t)m * s->dsub + u] * query[(size_t)m * s->dsub + u];
      for (int j = 0; j < 16; j++) tq[(size_t)m * 16 + (unsigned)j] -= n2;
    }
  pq4_recenter(q, prep, -1);
}

/* 4-bit: the byte tables for the query against center c's residuals (-1: the origin). */
/*
 * 4-bit tables against center c's residuals (-1: the origin), from the query-level tables tq
 * made once by pq_prepare:
 *   l2: |q - c - y|^2 = |q - c|^2 + (|y|^2 - 2 q.y) + 2 c.y    tq = |y|^2 - 2 q.y, cy = 2 c.y
 *   ip: 1 - q.(c + y) = 1 - q.c + (-q.y)                        tq = -q.y
 * cy is precomputed per center (set_centers), so a list costs additions, not dot products.
 * Then each sub-vector's 16 entries are shifted to start at 0 and quantized to 0..255 with one
 * step a for all sub-vectors (the shifts add up into head[0]); AVX2 does both passes 16 entries
 * at a time (the same floats and bytes as the scalar loops).
 */
static void pq4_recenter(const qv_quant *q, void *prep, int32_t center) {
  const pq_state *s = q->st;
  float *head = prep;
  int l2 = q->metric == QV_METRIC_L2;
  uint8_t *bt = (uint8_t *)prep + PREP_HEAD;
  float *t = (float *)(void *)(bt + (size_t)s->mp * 16), *tq = t + (size_t)s->m * 16, *qc = tq + (size_t)s->m * 16;
  const float *c = center_of(q, center), *cy = NULL;
  double bias;
  if (l2) {
    if (c) { /* |q - c|^2 through the distance kernel (one pass per probed list) */
      bias = (double)q->kern->l2sq(qc, c, q->dim);
      cy = s->cy + (size_t)center * s->m * 16;
    } else {
      double k = 0; /* |q - y|^2 = |q|^2 + tq */
      for (size_t i = 0; i < q->dim; i++) k += (double)qc[i] * qc[i];
      bias = k;
    }
  } else {
    bias = 1.0 - (c ? (double)q->kern->dot(qc, c, q->dim) : 0.0);
  }
  float range = q->simd ? pq4_shift_avx2(t, tq, cy, s->m, &bias) : pq4_shift_scalar(t, tq, cy, s->m, &bias);
  float a = range > 0 ? range / (float)PQ4_QMAX : 1.0f, inv = 1.0f / a;
  if (s->m & 1) memset(bt + (size_t)(s->m / 2) * 32 + 16, 0, 16);
  if (q->simd)
    pq4_quantize_avx2(t, s->m, inv, bt);
  else
    pq4_quantize_scalar(t, s->m, inv, bt);
  head[0] = (float)bias;
  head[1] = a;
}

static void pq8_scan(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out) {
  const pq_state *s = q->st;
  const float *t = (const float *)(const void *)((const char *)prep + PREP_HEAD);
  float c0 = ((const float *)prep)[0];
  for (size_t r = 0; r < n; r++) {
    const uint8_t *c = codes + r * q->code_bytes;
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    uint32_t m = 0;
    for (; m + 4 <= s->m; m += 4) {
      a0 += t[(size_t)m * 256 + c[m]];
      a1 += t[(size_t)(m + 1) * 256 + c[m + 1]];
      a2 += t[(size_t)(m + 2) * 256 + c[m + 2]];
      a3 += t[(size_t)(m + 3) * 256 + c[m + 3]];
    }
    for (; m < s->m; m++) a0 += t[(size_t)m * 256 + c[m]];
    out[r] = c0 + ((a0 + a1) + (a2 + a3));
  }
}

static void pq4_sums_scalar(const uint8_t *bt, const uint8_t *blk, uint32_t npairs, uint32_t *sums) {
  uint32_t acc[32] = {0};
  for (uint32_t p = 0; p < npairs; p++) {
    const uint8_t *row = blk + (size_t)p * 32, *lut = bt + (size_t)p * 32;
    for (int b = 0; b < 16; b++) {
      acc[b] += lut[row[b] & 15u] + lut[16 + (row[16 + b] & 15u)];
      acc[16 + b] += lut[row[b] >> 4] + lut[16 + (row[16 + b] >> 4)];
    }
  }
  for (int v = 0; v < 32; v++) sums[v] = acc[v];
}

T256 static void pq4_sums_avx2(const uint8_t *bt, const uint8_t *blk, uint32_t npairs, uint32_t *sums) {
  const __m256i mask = _mm256_set1_epi8(0x0F), low8 = _mm256_set1_epi16(0x00FF);
  for (int v = 0; v < 32; v++) sums[v] = 0;
  for (uint32_t p0 = 0; p0 < npairs; p0 += PQ4_FLUSH) { /* 16-bit lanes for up to PQ4_FLUSH pairs */
    uint32_t pe = npairs - p0 < PQ4_FLUSH ? npairs : p0 + PQ4_FLUSH;
    __m256i ae_lo = _mm256_setzero_si256(), ao_lo = _mm256_setzero_si256();
    __m256i ae_hi = _mm256_setzero_si256(), ao_hi = _mm256_setzero_si256();
    for (uint32_t p = p0; p < pe; p++) {
      __m256i lut = _mm256_loadu_si256((const __m256i *)(const void *)(bt + (size_t)p * 32));
      __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(blk + (size_t)p * 32));
      __m256i rlo = _mm256_shuffle_epi8(lut, _mm256_and_si256(c, mask));
      __m256i rhi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(c, 4), mask));
      ae_lo = _mm256_add_epi16(ae_lo, _mm256_and_si256(rlo, low8));
      ao_lo = _mm256_add_epi16(ao_lo, _mm256_srli_epi16(rlo, 8));
      ae_hi = _mm256_add_epi16(ae_hi, _mm256_and_si256(rhi, low8));
      ao_hi = _mm256_add_epi16(ao_hi, _mm256_srli_epi16(rhi, 8));
    }
    /* each accumulator: lane 0 = even sub-vectors, lane 1 = odd ones; add the lanes */
    uint16_t e_lo[16], o_lo[16], e_hi[16], o_hi[16];
    _mm256_storeu_si256((__m256i *)(void *)e_lo, ae_lo);
    _mm256_storeu_si256((__m256i *)(void *)o_lo, ao_lo);
    _mm256_storeu_si256((__m256i *)(void *)e_hi, ae_hi);
    _mm256_storeu_si256((__m256i *)(void *)o_hi, ao_hi);
    for (int i = 0; i < 8; i++) {
      sums[2 * i] += (uint32_t)e_lo[i] + e_lo[8 + i];
      sums[2 * i + 1] += (uint32_t)o_lo[i] + o_lo[8 + i];
      sums[16 + 2 * i] += (uint32_t)e_hi[i] + e_hi[8 + i];
      sums[16 + 2 * i + 1] += (uint32_t)o_hi[i] + o_hi[8 + i];
    }
  }
}

void qv__pq4_block_sums(const qv_quant *q, const void *prep, const uint8_t *block, int simd, uint32_t *sums) {
  const pq_state *s = q->st;
  const uint8_t *bt = (const uint8_t *)prep + PREP_HEAD;
  if (simd)
    pq4_sums_avx2(bt, block, s->mp / 2, sums);
  else
    pq4_sums_scalar(bt, block, s->mp / 2, sums);
}

static void pq4_scan(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out) {
  const pq_state *s = q->st;
  const float *head = prep;
  const uint8_t *bt = (const uint8_t *)prep + PREP_HEAD;
  size_t bb = 32 * q->code_bytes;
  uint32_t sums[32];
  for (size_t b0 = 0; b0 < n; b0 += 32) {
    const uint8_t *blk = codes + b0 / 32 * bb;
    if (q->simd)
      pq4_sums_avx2(bt, blk, s->mp / 2, sums);
    else
      pq4_sums_scalar(bt, blk, s->mp / 2, sums);
    size_t m = n - b0 < 32 ? n - b0 : 32;
    for (size_t v = 0; v < m; v++) out[b0 + v] = head[0] + head[1] * (float)sums[v];
  }
}

static void pq_free(qv_quant *q) {
  pq_state *s = q->st;
  if (!s) return;
  qv__free(q->mem, s->cent);
  qv__free(q->mem, s->centers);
  qv__free(q->mem, s->cy);
  qv__free(q->mem, s);
}

static size_t pq_state_bytes(const qv_quant *q) {
  const pq_state *s = q->st;
  return (size_t)s->m * s->ksub * s->dsub * sizeof(float);
}

static void pq_state_write(const qv_quant *q, qv_ckpt_writer *w) {
  const pq_state *s = q->st;
  qv__ckpt_write(w, s->cent, pq_state_bytes(q));
}

static qv_status pq_state_read(qv_quant *q, const unsigned char *p, size_t n) {
  pq_state *s = q->st;
  memcpy(s->cent, p, n);
  for (size_t i = 0; i < n / sizeof(float); i++)
    if (!isfinite(s->cent[i])) return QV_CORRUPT;
  return QV_OK;
}

static const qv_quant_ops pq8_ops = {
    .train = pq_train,
    .encode_many = pq_encode,
    .decode = pq_decode,
    .prepare = pq_prepare,
    .scan = pq8_scan,
    .free_state = pq_free,
    .state_bytes = pq_state_bytes,
    .state_write = pq_state_write,
    .state_read = pq_state_read,
};

static const qv_quant_ops pq4_ops = {
    .train = pq_train,
    .set_centers = pq_set_centers,
    .recenter = pq4_recenter,
    .encode_many = pq_encode,
    .decode = pq_decode,
    .prepare = pq_prepare,
    .scan = pq4_scan,
    .free_state = pq_free,
    .state_bytes = pq_state_bytes,
    .state_write = pq_state_write,
    .state_read = pq_state_read,
};

qv_status qv__quant_init_pq(qv_quant *q, char *err, size_t errlen) {
  uint32_t m = q->cfg.pq_m, bits = q->cfg.pq_bits;
  if (bits != 4 && bits != 8) {
    qv__fmt(err, errlen, "pq_bits: %u is not 4 or 8", bits);
    return QV_INVALID;
  }
  if (m == 0) { /* default: sub-vectors of 4 (4-bit) or 8 (8-bit) floats, as near as dim allows */
    uint32_t want = q->dim / (bits == 4 ? 4 : 8);
    if (want == 0) want = 1;
    m = 1;
    for (uint32_t c = 1; c <= q->dim; c++)
      if (q->dim % c == 0 && (c > want ? c - want : want - c) < (m > want ? m - want : want - m)) m = c;
  }
  if (bits == 4 && m > 8192) {
    qv__fmt(err, errlen, "pq_m: at most 8192 with 4-bit codes");
    return QV_INVALID;
  }
  if (q->dim % m != 0) {
    qv__fmt(err, errlen, "pq_m: %u does not divide dim %u", m, q->dim);
    return QV_INVALID;
  }
  pq_state *s = qv__calloc(q->mem, 1, sizeof *s);
  if (!s) return QV_NOMEM;
  q->st = s;
  s->m = m;
  s->bits = bits;
  s->ksub = 1u << bits;
  s->dsub = q->dim / m;
  s->mp = bits == 4 ? (m + 1) / 2 * 2 : m;
  s->cent = qv__calloc(q->mem, (size_t)m * s->ksub * s->dsub, sizeof(float));
  if (!s->cent) return QV_NOMEM;
  q->cfg.pq_m = m;
  if (bits == 8) {
    q->ops = &pq8_ops;
    q->code_bytes = m;
    q->prep_bytes = PREP_HEAD + (size_t)m * 256 * sizeof(float);
  } else {
    q->ops = &pq4_ops;
    q->code_bytes = s->mp / 2;
    q->block = 32;
    q->residual = 1; /* the per-center tables cost 16 * dim flops: cheap enough per list */
    q->prep_bytes = PREP_HEAD + (size_t)s->mp * 16 + (2 * (size_t)m * 16 + (size_t)q->dim) * sizeof(float);
  }
  return QV_OK;
}
