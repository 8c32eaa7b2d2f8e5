/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * hnsw_sq8.h -- 8-bit scalar quantization of the vectors the HNSW search walks over.
 *
 * Each dimension i has a range [lo_i, lo_i + 255 * scale_i] learned from the data; a vector
 * is stored as one byte per dimension, c_i = round((v_i - lo_i) / scale_i) clamped to
 * 0..255. Distances are asymmetric (float query against a code), so only the stored side is
 * approximated:
 *   l2:        sum_i (q_i - lo_i - scale_i c_i)^2
 *   ip/cosine: 1 - (sum_i q_i lo_i + sum_i (q_i scale_i) c_i)
 * The search re-ranks its final candidates with exact float distances, so the codes only
 * steer the traversal. The range grows (and the caller re-encodes) while the index is small;
 * afterwards values outside it are clamped, which costs traversal accuracy only.
 * 4-bit codes (15 steps) clip instead: the range is mean +- 2.7 standard deviations of each
 * dimension, within its min / max (min-max ranges left a 100-d cosine set with recall 0.41
 * at ef 10: a few outliers stretched the 15 steps over mostly empty range).
 * Used by index/hnsw/hnsw.c and by index/rpforest/rpforest.c (its leaf codes).
 */
#ifndef QV_HNSW_SQ8_H
#define QV_HNSW_SQ8_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "qv_int.h"

#define HNSW_SQ8_DEFAULT 8 /* bits of the traversal codes by default */

/* a: prepared query floats, s: per-dim scales (l2 only), c: code */
typedef float (*hnsw_sq8_fn)(const float *a, const float *s, const unsigned char *c, size_t dim);

typedef struct hnsw_sq8 {
  qv_metric metric;
  uint32_t dim;
  uint32_t bits;    /* 8 or 4 (stored in the index file) */
  uint32_t dim_pad; /* dim rounded up to 32; prepared queries and scales are zero-padded */
  size_t code_bytes;
  float *lo, *hi, *scale; /* dim each, one allocation */
  int trained;
  /* bits 4: running sum, sum of squares, min, max per dimension (dim each) of the vectors
   * trained on so far, and their number (0 after a load: the stored range is kept) */
  double *acc;
  uint64_t seen;
  /* integer grid (both widths): ints[i] while every value trained on in dimension i is an
   * integer; such a dimension whose values span at most levels (255 / 15) steps gets scale 1
   * (lo = its minimum, hi = lo + levels), so integer data (8-bit pixels, int8 / uint8
   * embeddings) encodes losslessly. top[i]: the largest value seen (bits 8; hi may be above
   * it). In memory only: after a load a dimension is on the grid iff hi - lo == levels with
   * lo integral, and top = hi. */
  uint8_t *ints;
  float *top;
  uint32_t *lane4; /* bits 4 with AVX2: the weight lane of each dimension (sq8.c: sq4_lane), for
                      the vectorised query preparation; NULL: computed per query */
  int dec_avx2; /* hnsw_sq8_decode of 8-bit codes with AVX2 (the same floats as the scalar loop) */
  hnsw_sq8_fn fn;
  /* int8 query . u8 code in integers (AVX-512 VNNI or AVX2; see hnsw_sq8_dist) */
  int32_t (*dot8)(const int8_t *w, const unsigned char *c, size_t dim);
  /* AVX2: int16 query . u8 code (vpmaddwd), the same formula as dot8 */
  int32_t (*dot16)(const int16_t *w, const unsigned char *c, size_t dim);
  /* bits 4: int16 query . 4-bit code (layout in sq8.c: sq4 codes); AVX2 or scalar, same sums */
  int32_t (*dot4)(const int16_t *w, const unsigned char *c, size_t dim);
  float w_max; /* largest |integer weight|: 127 (dot8), 2047 or less (dot16, dot4) */
  /* distances of the codes at base + ids[i] * stride (i < n) into out[i], prefetching
   * PF codes ahead: one call per expanded node, the kernel inlined (hnsw_sq8_dist_many) */
  void (*many)(const struct hnsw_sq8 *q, const void *prep, const unsigned char *base, size_t stride,
               const uint32_t *ids, size_t n, float *out);
} hnsw_sq8;

/* 0 on success, -1 on NOMEM / unsupported metric. */
QV_INTERNAL int hnsw_sq8_init(hnsw_sq8 *q, const qv_mem *mem, qv_metric metric, uint32_t dim, uint32_t bits);
QV_INTERNAL void hnsw_sq8_free(hnsw_sq8 *q, const qv_mem *mem);
/*
 * Widen the range to cover vecs[0..n) while the index holds fewer than a few ten thousand
 * vectors (n_have). Returns 1 if the range changed: every stored code must be re-encoded.
 */
QV_INTERNAL int hnsw_sq8_maybe_train(hnsw_sq8 *q, const float *vecs, size_t n, uint64_t n_have);
QV_INTERNAL void hnsw_sq8_encode(const hnsw_sq8 *q, const float *v, unsigned char *code);
/* 1 if code decodes (hnsw_sq8_decode) to exactly v, bit for bit: the code is lossless. */
QV_INTERNAL int hnsw_sq8_exact(const hnsw_sq8 *q, const float *v, const unsigned char *code);
/* The vector a code stands for: out[i] = lo_i + scale_i * c_i (dim floats). */
QV_INTERNAL void hnsw_sq8_decode(const hnsw_sq8 *q, const unsigned char *code, float *out);
/* Bytes of a prepared query (64-byte aligned storage). */
QV_INTERNAL size_t hnsw_sq8_query_bytes(const hnsw_sq8 *q);
QV_INTERNAL void hnsw_sq8_prepare(const hnsw_sq8 *q, const float *query, void *prep);
QV_INTERNAL size_t hnsw_sq8_params_bytes(const hnsw_sq8 *q);
QV_INTERNAL void hnsw_sq8_params_write(const hnsw_sq8 *q, qv_ckpt_writer *w);
/* 0 on success, -1 if the bytes are not a valid parameter block. */
QV_INTERNAL int hnsw_sq8_params_read(hnsw_sq8 *q, const void *p, size_t n);

/*
 * Approximate distance of a prepared query to a code (same scale as the exact metric).
 * A code is f32 |x^|^2 (the decoded vector's squared norm) followed by the bytes.
 * Prepared query: pf[0] = sum q_i lo_i, pf[1] = 1 / int8 scale of w, pf[2] = |q|^2, and from
 * byte 64 either float a_i / w_i (fn kernels) or int8 w_i = round(q_i scale_i * pf-scale).
 * With dot8, q . x^ = pf[0] + pf[1] * (w8 . c) and l2 = |q|^2 - 2 q . x^ + |x^|^2.
 */
static inline float hnsw_sq8_dist(const hnsw_sq8 *q, const void *prep, const unsigned char *code) {
  const float *pf = (const float *)prep;
  if (q->dot8 || q->dot16 || q->dot4) {
    int32_t iw = q->dot8    ? q->dot8((const int8_t *)(pf + 16), code + 4, q->dim)
                 : q->dot16 ? q->dot16((const int16_t *)(const void *)(pf + 16), code + 4, q->dim)
                            : q->dot4((const int16_t *)(const void *)(pf + 16), code + 4, q->dim);
    float dot = pf[0] + pf[1] * (float)iw;
    if (q->metric != QV_METRIC_L2) return 1.0f - dot;
    float xn;
    __builtin_memcpy(&xn, code, 4);
    return pf[2] - 2.0f * dot + xn;
  }
  float r = q->fn(pf + 16, q->scale, code + 4, q->dim); /* the prepared side is padded, the code is not */
  return q->metric == QV_METRIC_L2 ? r : 1.0f - (pf[0] + r);
}

/* Distances of n codes (see hnsw_sq8.many); the same values as hnsw_sq8_dist one by one. */
static inline void hnsw_sq8_dist_many(const hnsw_sq8 *q, const void *prep, const unsigned char *base, size_t stride,
                                      const uint32_t *ids, size_t n, float *out) {
  q->many(q, prep, base, stride, ids, n, out);
}

#endif /* QV_HNSW_SQ8_H */
