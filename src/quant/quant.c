/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant/quant.c -- the quantizer interface (quant.h): dispatch, the storage layout of plain
 * (one vector per block) codes, the `none` kind, and k-means (shared by PQ and the IVF index).
 */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "quant.h"

const char *qv__quant_name(qv_quant_kind k) {
  static const char *const names[] = {"none", "sq8", "sq4", "pq", "rabitq", "binary"};
  return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

qv_status qv__quant_new(const qv_mem *mem, qv_metric metric, uint32_t dim, const qv_quant_cfg *cfg, qv_quant **out,
                        char *err, size_t errlen) {
  *out = NULL;
  if (dim == 0) {
    qv__fmt(err, errlen, "dim: must be at least 1");
    return QV_INVALID;
  }
  if (metric == QV_METRIC_L1 && cfg->kind != QV_QUANT_NONE) {
    qv__fmt(err, errlen, "quantizer: %s does not support the l1 metric", qv__quant_name(cfg->kind));
    return QV_INVALID;
  }
  qv_quant *q = qv__calloc(mem, 1, sizeof *q);
  if (!q) return QV_NOMEM;
  q->mem = mem;
  q->kern = qv__kernels();
  q->metric = metric;
  q->dim = dim;
  q->cfg = *cfg;
  q->block = 1;
  q->simd = strcmp(q->kern->isa, "scalar") != 0; /* avx2 or better; QV_ISA=scalar caps it */
  qv_status rc;
  switch (cfg->kind) {
  case QV_QUANT_NONE: rc = qv__quant_init_none(q); break;
  case QV_QUANT_SQ8: rc = qv__quant_init_sq(q, 8); break;
  case QV_QUANT_SQ4: rc = qv__quant_init_sq(q, 4); break;
  case QV_QUANT_PQ: rc = qv__quant_init_pq(q, err, errlen); break;
  case QV_QUANT_RABITQ: rc = qv__quant_init_rabitq(q, err, errlen); break;
  case QV_QUANT_BINARY: rc = qv__quant_init_binary(q); break;
  default:
    qv__fmt(err, errlen, "quantizer: unknown kind %d", (int)cfg->kind);
    rc = QV_INVALID;
  }
  if (rc) {
    qv__quant_free(q);
    if (rc == QV_NOMEM) qv__fmt(err, errlen, "quantizer: out of memory");
    return rc;
  }
  *out = q;
  return QV_OK;
}

void qv__quant_free(qv_quant *q) {
  if (!q) return;
  if (q->ops && q->ops->free_state) q->ops->free_state(q);
  qv__free(q->mem, q);
}

qv_status qv__quant_train(qv_quant *q, const float *x, size_t n) {
  if (n == 0) return QV_INVALID;
  qv_status rc = q->ops->train ? q->ops->train(q, x, n) : QV_OK;
  if (rc == QV_OK) q->trained = 1;
  return rc;
}

qv_status qv__quant_set_centers(qv_quant *q, const float *c, size_t n) {
  return q->ops->set_centers ? q->ops->set_centers(q, c, n) : QV_OK;
}

qv_status qv__quant_encode(const qv_quant *q, const float *x, size_t n, const int32_t *center, uint8_t *codes) {
  return q->ops->encode_many(q, x, n, center, codes);
}

int qv__quant_decode(const qv_quant *q, const uint8_t *code, int32_t center, float *x) {
  if (!q->ops->decode) return -1;
  q->ops->decode(q, code, center, x);
  return 0;
}

void qv__quant_prepare(const qv_quant *q, const float *query, void *prep) { q->ops->prepare(q, query, prep); }

void qv__quant_recenter(const qv_quant *q, void *prep, int32_t center) {
  if (q->ops->recenter) q->ops->recenter(q, prep, center);
}

void qv__quant_scan(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out) {
  if (n) q->ops->scan(q, prep, codes, n, out);
}

size_t qv__quant_storage(const qv_quant *q, size_t n) {
  return (n + q->block - 1) / q->block * q->block * q->code_bytes;
}

size_t qv__quant_state_bytes(const qv_quant *q) { return q->ops->state_bytes ? q->ops->state_bytes(q) : 0; }

void qv__quant_state_write(const qv_quant *q, qv_ckpt_writer *w) {
  if (q->ops->state_write) q->ops->state_write(q, w);
}

qv_status qv__quant_state_read(qv_quant *q, const unsigned char *p, size_t n) {
  if (n != qv__quant_state_bytes(q)) return QV_CORRUPT;
  qv_status rc = q->ops->state_read ? q->ops->state_read(q, p, n) : QV_OK;
  if (rc == QV_OK) q->trained = 1;
  return rc;
}

/* ------------------------------------------------------------------ storage of FastScan blocks */

/*
 * 4-bit PQ blocks (32 vectors, mp = pq_m rounded up to even sub-vectors): for each pair of
 * sub-vectors (2j, 2j+1), 32 bytes; byte b < 16 holds sub-vector 2j of vector b (low nibble)
 * and of vector b + 16 (high nibble); byte 16 + b the same for sub-vector 2j + 1. A plain code
 * is mp nibbles, sub-vector m in byte m/2 (low nibble for even m).
 */
static void pq4_put(const qv_quant *q, uint8_t *codes, size_t i, const uint8_t *code) {
  size_t mp = q->code_bytes * 2;
  uint8_t *blk = codes + i / 32 * 32 * q->code_bytes;
  size_t v = i % 32, b = v % 16;
  int hi = v >= 16;
  for (size_t m = 0; m < mp; m++) {
    unsigned c = (code[m / 2] >> (4 * (m & 1))) & 15u;
    uint8_t *p = blk + (m / 2) * 32 + (m & 1) * 16 + b;
    *p = hi ? (uint8_t)((*p & 0x0F) | (c << 4)) : (uint8_t)((*p & 0xF0) | c);
  }
}

static void pq4_get(const qv_quant *q, const uint8_t *codes, size_t i, uint8_t *code) {
  size_t mp = q->code_bytes * 2;
  const uint8_t *blk = codes + i / 32 * 32 * q->code_bytes;
  size_t v = i % 32, b = v % 16;
  memset(code, 0, q->code_bytes);
  for (size_t m = 0; m < mp; m++) {
    unsigned c = (blk[(m / 2) * 32 + (m & 1) * 16 + b] >> (v >= 16 ? 4 : 0)) & 15u;
    code[m / 2] |= (uint8_t)(c << (4 * (m & 1)));
  }
}

int qv__quant_has_coarse(const qv_quant *q) { return q->ops->scan_coarse != NULL && q->ops->rescore != NULL; }

void qv__quant_scan_coarse(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out) {
  if (n) q->ops->scan_coarse(q, prep, codes, n, out);
}

float qv__quant_rescore(const qv_quant *q, const void *prep, const uint8_t *codes, size_t i) {
  return q->ops->rescore(q, prep, codes, i);
}

void qv__quant_prefetch(const qv_quant *q, const uint8_t *codes, size_t i) {
  if (q->ops->prefetch) q->ops->prefetch(q, codes, i);
}

void qv__quant_put(const qv_quant *q, uint8_t *codes, size_t i, const uint8_t *code) {
  if (q->ops->put)
    q->ops->put(q, codes, i, code);
  else if (q->block == 32)
    pq4_put(q, codes, i, code);
  else
    memcpy(codes + i * q->code_bytes, code, q->code_bytes);
}

void qv__quant_get(const qv_quant *q, const uint8_t *codes, size_t i, uint8_t *code) {
  if (q->ops->get)
    q->ops->get(q, codes, i, code);
  else if (q->block == 32)
    pq4_get(q, codes, i, code);
  else
    memcpy(code, codes + i * q->code_bytes, q->code_bytes);
}

/* ------------------------------------------------------------------ none: the floats themselves */

static qv_status none_encode(const qv_quant *q, const float *x, size_t n, const int32_t *center, uint8_t *codes) {
  (void)center;
  memcpy(codes, x, n * q->dim * sizeof(float));
  return QV_OK;
}

static void none_decode(const qv_quant *q, const uint8_t *code, int32_t center, float *x) {
  (void)center;
  memcpy(x, code, q->dim * sizeof(float));
}

static void none_prepare(const qv_quant *q, const float *query, void *prep) {
  memcpy(prep, query, q->dim * sizeof(float));
}

static void none_scan(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out) {
  qv__metric_dist_many(q->kern, q->metric, prep, (const float *)(const void *)codes, n, q->dim, out);
}

static const qv_quant_ops none_ops = {
    .encode_many = none_encode,
    .decode = none_decode,
    .prepare = none_prepare,
    .scan = none_scan,
};

qv_status qv__quant_init_none(qv_quant *q) {
  q->ops = &none_ops;
  q->code_bytes = (size_t)q->dim * sizeof(float);
  q->prep_bytes = q->code_bytes;
  return QV_OK;
}

/* ------------------------------------------------------------------ k-means */

#define KM_CHUNK 4096 /* points per sgemm in assignment */

qv_status qv__kmeans_assign(const qv_mem *mem, const float *x, size_t n, size_t d, const float *c, size_t k,
                            uint32_t *assign, float *dist) {
  size_t chunk = n < KM_CHUNK ? n : KM_CHUNK;
  float *ip = qv__malloc(mem, chunk * k * sizeof *ip);
  float *cn = qv__malloc(mem, k * sizeof *cn);
  if (!ip || !cn) {
    qv__free(mem, ip);
    qv__free(mem, cn);
    return QV_NOMEM;
  }
  for (size_t j = 0; j < k; j++) cn[j] = cblas_sdot((int)d, c + j * d, 1, c + j * d, 1);
  for (size_t i0 = 0; i0 < n; i0 += chunk) {
    size_t m = n - i0 < chunk ? n - i0 : chunk;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)k, (int)d, -2.0f, x + i0 * d, (int)d, c,
                (int)d, 0.0f, ip, (int)k);
    for (size_t i = 0; i < m; i++) {
      const float *row = ip + i * k;
      float best = FLT_MAX;
      uint32_t bj = 0;
      for (size_t j = 0; j < k; j++) {
        float s = row[j] + cn[j];
        if (s < best) {
          best = s;
          bj = (uint32_t)j;
        }
      }
      assign[i0 + i] = bj;
      if (dist) {
        const float *xi = x + (i0 + i) * d;
        dist[i0 + i] = best + cblas_sdot((int)d, xi, 1, xi, 1);
      }
    }
  }
  qv__free(mem, ip);
  qv__free(mem, cn);
  return QV_OK;
}

qv_status qv__kmeans(const qv_mem *mem, const float *x, size_t n, size_t d, size_t k, int iters, uint64_t seed,
                     float *c, uint32_t *assign_out) {
  if (n < k || k == 0) return QV_INVALID;
  uint32_t *assign = qv__malloc(mem, n * sizeof *assign);
  float *dist = qv__malloc(mem, n * sizeof *dist);
  double *sum = qv__calloc(mem, k * d, sizeof *sum);
  size_t *cnt = qv__calloc(mem, k, sizeof *cnt);
  qv_status rc = QV_OK;
  if (!assign || !dist || !sum || !cnt) {
    rc = QV_NOMEM;
    goto out;
  }
  /* seeding: k points picked by hash (a repeat becomes an empty cluster, split below) */
  for (size_t j = 0; j < k; j++)
    memcpy(c + j * d, x + (size_t)(qv__mix64(seed + j) % n) * d, d * sizeof *c);
  for (int it = 0; it < iters; it++) {
    if ((rc = qv__kmeans_assign(mem, x, n, d, c, k, assign, dist))) goto out;
    memset(sum, 0, k * d * sizeof *sum);
    memset(cnt, 0, k * sizeof *cnt);
    for (size_t i = 0; i < n; i++) {
      cnt[assign[i]]++;
      double *sj = sum + (size_t)assign[i] * d;
      const float *xi = x + i * d;
      for (size_t t = 0; t < d; t++) sj[t] += xi[t];
    }
    for (size_t j = 0; j < k; j++)
      if (cnt[j])
        for (size_t t = 0; t < d; t++) c[j * d + t] = (float)(sum[j * d + t] / (double)cnt[j]);
    /* empty clusters: split the largest (its center nudged both ways, as Faiss does) */
    for (size_t j = 0; j < k; j++) {
      if (cnt[j]) continue;
      size_t big = 0;
      for (size_t t = 1; t < k; t++)
        if (cnt[t] > cnt[big]) big = t;
      if (cnt[big] < 2) break;
      for (size_t t = 0; t < d; t++) {
        float v = c[big * d + t], e = fabsf(v) * 1e-3f + 1e-6f;
        c[j * d + t] = v + ((t & 1) ? e : -e);
        c[big * d + t] = v - ((t & 1) ? e : -e);
      }
      cnt[j] = cnt[big] / 2;
      cnt[big] -= cnt[j];
    }
  }
  if (assign_out) rc = qv__kmeans_assign(mem, x, n, d, c, k, assign_out, NULL);
out:
  qv__free(mem, assign);
  qv__free(mem, dist);
  qv__free(mem, sum);
  qv__free(mem, cnt);
  return rc;
}
