/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant/sq8.c -- the 8-bit traversal codes of the HNSW index (see hnsw_sq8.h for the math);
 * the distance kernels are the shared set of sq_kern.c.
 * Parameter block on disk: lo[dim], hi[dim] as little-endian float32 (the code width is in
 * the index's header).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "sq8.h"
#include "sq_kern.h"

/* Range growth stops once the index holds this many vectors (re-encoding gets expensive). */
#define TRAIN_UNTIL 200000u

int hnsw_sq8_init(hnsw_sq8 *q, const qv_mem *mem, qv_metric metric, uint32_t dim, uint32_t bits) {
  memset(q, 0, sizeof *q);
  if (metric != QV_METRIC_L2 && metric != QV_METRIC_IP && metric != QV_METRIC_COSINE) return -1;
  if (bits != 8) return -1;
  q->metric = metric;
  q->dim = dim;
  q->bits = bits;
  q->dim_pad = (dim + 31) & ~31u;
  q->code_bytes = 4 + (size_t)dim;
  q->lo = qv__calloc(mem, (size_t)q->dim_pad * 3, sizeof(float));
  if (!q->lo) return -1;
  q->hi = q->lo + q->dim_pad;
  q->scale = q->hi + q->dim_pad;
  const char *isa = qv__kernels()->isa;
  int l2 = metric == QV_METRIC_L2;
  const char *e = getenv("QV_HNSW_VNNI"); /* 0: the float-query kernels (fn) only */
  int int8 = !e || !*e || atoi(e) != 0;
  q->w_max = 127.0f;
  if (int8 && strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("avx512vnni")) {
    q->dot8 = qv__sq_dot8_vnni;
  } else if (int8 && (strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0)) {
    q->dot16 = qv__sq_dot16_avx2;
    q->w_max = 2047.0f;
    if (255.0 * 2047.0 * dim > 2147483647.0) q->w_max = (float)floor(2147483647.0 / (255.0 * dim));
  }
  q->fn = l2 ? qv__sq_l2_u8_for(isa) : qv__sq_dot_u8_for(isa);
  return 0;
}

void hnsw_sq8_free(hnsw_sq8 *q, const qv_mem *mem) {
  qv__free(mem, q->lo);
  q->lo = q->hi = q->scale = NULL;
}

static void set_scales(hnsw_sq8 *q) {
  for (uint32_t i = 0; i < q->dim; i++) q->scale[i] = (q->hi[i] - q->lo[i]) / 255.0f;
}

int hnsw_sq8_maybe_train(hnsw_sq8 *q, const float *vecs, size_t n, uint64_t n_have) {
  if (!n || (q->trained && n_have >= TRAIN_UNTIL)) return 0;
  int changed = 0;
  uint32_t d = q->dim;
  if (!q->trained) {
    memcpy(q->lo, vecs, d * sizeof(float));
    memcpy(q->hi, vecs, d * sizeof(float));
    q->trained = 1;
    changed = 1;
  }
  for (size_t r = 0; r < n; r++) {
    const float *v = vecs + r * d;
    for (uint32_t i = 0; i < d; i++) {
      if (v[i] < q->lo[i]) {
        q->lo[i] = v[i];
        changed = 1;
      } else if (v[i] > q->hi[i]) {
        q->hi[i] = v[i];
        changed = 1;
      }
    }
  }
  if (changed) set_scales(q);
  return changed;
}

static unsigned quantize(const hnsw_sq8 *q, const float *v, uint32_t i, float top) {
  if (i >= q->dim) return 0;
  float s = q->scale[i];
  float x = s > 0 ? (v[i] - q->lo[i]) / s : 0.0f;
  x = x < 0 ? 0 : x > top ? top : x;
  return (unsigned)lrintf(x);
}

void hnsw_sq8_encode(const hnsw_sq8 *q, const float *v, unsigned char *code) {
  float xn = 0; /* squared norm of the decoded vector */
  for (uint32_t i = 0; i < q->dim; i++) {
    unsigned c = quantize(q, v, i, 255.0f);
    code[4 + i] = (unsigned char)c;
    float x = q->lo[i] + q->scale[i] * (float)c;
    xn += x * x;
  }
  memcpy(code, &xn, 4);
}

size_t hnsw_sq8_query_bytes(const hnsw_sq8 *q) { return 64 + (size_t)q->dim_pad * sizeof(float); }

static void prepare_int8(const hnsw_sq8 *q, const float *query, float *pf) {
  int8_t *w8 = (int8_t *)(pf + 16);
  int16_t *w16 = (int16_t *)(pf + 16);
  float k = 0, qn = 0, mx = 0;
  for (uint32_t i = 0; i < q->dim; i++) {
    k += query[i] * q->lo[i];
    qn += query[i] * query[i];
    float w = fabsf(query[i] * q->scale[i]);
    if (w > mx) mx = w;
  }
  float ws = mx > 0 ? q->w_max / mx : 0.0f;
  if (q->dot16) {
    for (uint32_t i = 0; i < q->dim; i++) w16[i] = (int16_t)lrintf(query[i] * q->scale[i] * ws);
    for (uint32_t i = q->dim; i < q->dim_pad; i++) w16[i] = 0;
  } else {
    for (uint32_t i = 0; i < q->dim; i++) w8[i] = (int8_t)lrintf(query[i] * q->scale[i] * ws);
    for (uint32_t i = q->dim; i < ((q->dim + 63) & ~63u); i++) w8[i] = 0;
  }
  pf[0] = k;
  pf[1] = ws > 0 ? 1.0f / ws : 0.0f;
  pf[2] = qn;
}

void hnsw_sq8_prepare(const hnsw_sq8 *q, const float *query, void *prep) {
  float *pf = prep, *a = pf + 16;
  if (q->dot8 || q->dot16) {
    prepare_int8(q, query, pf);
    return;
  }
  for (uint32_t i = q->dim; i < q->dim_pad; i++) a[i] = 0;
  if (q->metric == QV_METRIC_L2) {
    for (uint32_t i = 0; i < q->dim; i++) a[i] = query[i] - q->lo[i];
    pf[0] = 0;
  } else {
    float k = 0;
    for (uint32_t i = 0; i < q->dim; i++) {
      a[i] = query[i] * q->scale[i];
      k += query[i] * q->lo[i];
    }
    pf[0] = k;
  }
}

size_t hnsw_sq8_params_bytes(const hnsw_sq8 *q) { return (size_t)q->dim * 2 * sizeof(float); }

void hnsw_sq8_params_write(const hnsw_sq8 *q, qv_ckpt_writer *w) {
  qv__ckpt_write(w, q->lo, (size_t)q->dim * sizeof(float));
  qv__ckpt_write(w, q->hi, (size_t)q->dim * sizeof(float));
}

int hnsw_sq8_params_read(hnsw_sq8 *q, const void *p, size_t n) {
  if (n != hnsw_sq8_params_bytes(q)) return -1;
  memcpy(q->lo, p, n / 2);
  memcpy(q->hi, (const char *)p + n / 2, n / 2);
  for (uint32_t i = 0; i < q->dim; i++)
    if (!isfinite(q->lo[i]) || !isfinite(q->hi[i]) || q->hi[i] < q->lo[i]) return -1;
  set_scales(q);
  q->trained = 1;
  return 0;
}
