/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant.h -- vector quantizers behind one interface: train from a sample, encode, and score a
 * query against codes through a query-prepared form (lookup tables for PQ and RaBitQ).
 *
 * Kinds (bytes per vector in docs/QUANTIZATION.md):
 *   none    the float vector itself (4 * dim bytes); distances exact.
 *   sq8     one byte per dimension, per-dimension range [lo, hi] learned from the sample,
 *           stored as two 4-bit planes (high, low nibbles) plus 8 bytes of norms; the high
 *           planes alone give a coarse scan (scan_coarse), rescore() the full distance.
 *   sq4     one nibble per dimension, same ranges, 15 steps.
 *   pq      product quantization: dim split into pq_m sub-vectors of dim/pq_m floats, each
 *           coded by the nearest of 2^pq_bits centroids (k-means on the sample, OpenBLAS).
 *           pq_bits 8: one byte per sub-vector, scored with a float table of 256 entries per
 *           sub-vector. pq_bits 4: FastScan -- the codes of 32 vectors are interleaved in a
 *           block (layout in pq.c), the per-sub-vector tables are quantized to bytes and held
 *           in registers, and vpshufb looks up 32 codes at once (AVX2; a scalar path gives
 *           bit-identical sums; chosen at run time from the kernel table's ISA).
 *   rabitq  RaBitQ (Gao & Long, SIGMOD 2024): x - c (c a center, e.g. the IVF list's centroid)
 *           normalised, rotated by a random orthogonal matrix P, one sign bit per (padded)
 *           dimension, plus three floats per vector for the unbiased estimator and its error
 *           bound. Residual codes: encode and prepare take a center index (set_centers).
 *   binary  sign bits of each dimension, Hamming distance (for embeddings trained for it).
 *
 * Distances come on the metric's reported scale (l2: squared l2; ip/cosine: 1 - dot), as
 * estimates; an index re-ranks candidates with exact floats when it needs exact answers.
 *
 * Storage layout: codes are stored in blocks of `block` vectors (1 for most kinds; 32 for 4-bit
 * PQ's FastScan blocks and sq8's split planes, sq.c), block_bytes = block * code_bytes; put/get move one
 * vector's code in and out of that layout, scan scores n consecutive stored vectors.
 *
 * Thread safety: after training, everything taking a const qv_quant is safe from many threads.
 */
#ifndef QV_QUANT_H
#define QV_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "dist.h"
#include "qv_int.h"

typedef enum qv_quant_kind {
  QV_QUANT_NONE = 0,
  QV_QUANT_SQ8 = 1,
  QV_QUANT_SQ4 = 2,
  QV_QUANT_PQ = 3,
  QV_QUANT_RABITQ = 4,
  QV_QUANT_BINARY = 5
} qv_quant_kind;

typedef struct qv_quant_cfg {
  qv_quant_kind kind;
  uint32_t pq_m;    /* PQ sub-vectors (must divide dim) */
  uint32_t pq_bits; /* 4 or 8 */
  uint64_t seed;    /* k-means seeding, RaBitQ rotation */
} qv_quant_cfg;

typedef struct qv_quant qv_quant;

typedef struct qv_quant_ops {
  qv_status (*train)(qv_quant *q, const float *x, size_t n);
  qv_status (*set_centers)(qv_quant *q, const float *c, size_t n); /* NULL: codes are not residual */
  qv_status (*encode_many)(const qv_quant *q, const float *x, size_t n, const int32_t *center, uint8_t *codes);
  void (*decode)(const qv_quant *q, const uint8_t *code, int32_t center, float *x); /* NULL: none */
  void (*prepare)(const qv_quant *q, const float *query, void *prep);
  void (*recenter)(const qv_quant *q, void *prep, int32_t center); /* NULL: nothing per center */
  void (*scan)(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out);
  /* NULL for most kinds: a cheaper scan of part of each code (sq8: the high nibbles) and one
     stored vector's full-code distance, for a scan-then-refine search */
  void (*scan_coarse)(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out);
  float (*rescore)(const qv_quant *q, const void *prep, const uint8_t *codes, size_t i);
  void (*prefetch)(const qv_quant *q, const uint8_t *codes, size_t i); /* NULL: no hint */
  /* NULL: plain layout (or FastScan's for block 32); else the kind's own block layout */
  void (*put)(const qv_quant *q, uint8_t *codes, size_t i, const uint8_t *code);
  void (*get)(const qv_quant *q, const uint8_t *codes, size_t i, uint8_t *code);
  void (*free_state)(qv_quant *q);
  size_t (*state_bytes)(const qv_quant *q);
  void (*state_write)(const qv_quant *q, qv_ckpt_writer *w);
  qv_status (*state_read)(qv_quant *q, const unsigned char *p, size_t n);
} qv_quant_ops;

struct qv_quant {
  const qv_quant_ops *ops;
  const qv_mem *mem;
  const qv_kernels *kern;
  qv_metric metric;
  uint32_t dim;
  qv_quant_cfg cfg;
  size_t code_bytes;  /* one vector's code */
  size_t block;       /* vectors per storage block (1, or 32 for FastScan) */
  size_t prep_bytes;  /* a prepared query (64-byte aligned buffer) */
  int trained;
  int simd;           /* use the AVX2 paths (FastScan, popcount) */
  int residual;       /* codes are of x - center once centers are set: train on residuals */
  size_t aux_bytes;   /* memory derived from the centers (not state: rebuilt by set_centers) */
  void *st;           /* the kind's own state */
};

/* Name of a kind ("none", "sq8", ...). */
QV_INTERNAL const char *qv__quant_name(qv_quant_kind k);
/*
 * A new untrained quantizer. QV_INVALID with a message naming the parameter in err when the
 * configuration does not fit dim / metric (pq_m must divide dim, pq_bits 4 or 8, ...).
 */
QV_INTERNAL qv_status qv__quant_new(const qv_mem *mem, qv_metric metric, uint32_t dim, const qv_quant_cfg *cfg,
                                    qv_quant **out, char *err, size_t errlen);
QV_INTERNAL void qv__quant_free(qv_quant *q);
/* Learn ranges / codebooks / rotation from n sample vectors. */
QV_INTERNAL qv_status qv__quant_train(qv_quant *q, const float *x, size_t n);
/* Centers for residual codes (RaBitQ); a no-op for the other kinds. */
QV_INTERNAL qv_status qv__quant_set_centers(qv_quant *q, const float *c, size_t n);
/* Encode n vectors; center[i] is their center (NULL or -1: the origin). codes: n * code_bytes. */
QV_INTERNAL qv_status qv__quant_encode(const qv_quant *q, const float *x, size_t n, const int32_t *center,
                                  uint8_t *codes);
/* Approximate reconstruction; returns 0, or -1 if the kind has none. */
QV_INTERNAL int qv__quant_decode(const qv_quant *q, const uint8_t *code, int32_t center, float *x);
/* Prepare a query (prep: prep_bytes, 64-byte aligned), then select a center for residual kinds. */
QV_INTERNAL void qv__quant_prepare(const qv_quant *q, const float *query, void *prep);
QV_INTERNAL void qv__quant_recenter(const qv_quant *q, void *prep, int32_t center);
/* Estimated distances of the n vectors stored at codes (storage layout) into out[n]. */
QV_INTERNAL void qv__quant_scan(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out);
/* Whether the kind has a coarse scan (scan_coarse / rescore). */
QV_INTERNAL int qv__quant_has_coarse(const qv_quant *q);
/* Coarse estimated distances of n stored vectors (kinds with has_coarse only). */
QV_INTERNAL void qv__quant_scan_coarse(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out);
/* The full-code distance of the vector stored at position i (kinds with has_coarse only). */
QV_INTERNAL float qv__quant_rescore(const qv_quant *q, const void *prep, const uint8_t *codes, size_t i);
/* A hint that the code stored at position i is about to be read (rescore). */
QV_INTERNAL void qv__quant_prefetch(const qv_quant *q, const uint8_t *codes, size_t i);
/* One vector's code into / out of the storage layout at position i. */
QV_INTERNAL void qv__quant_put(const qv_quant *q, uint8_t *codes, size_t i, const uint8_t *code);
QV_INTERNAL void qv__quant_get(const qv_quant *q, const uint8_t *codes, size_t i, uint8_t *code);
/* Bytes of storage for n vectors (whole blocks). */
QV_INTERNAL size_t qv__quant_storage(const qv_quant *q, size_t n);
/* Learned state, for checkpoints (read: QV_CORRUPT if it does not fit this configuration). */
QV_INTERNAL size_t qv__quant_state_bytes(const qv_quant *q);
QV_INTERNAL void qv__quant_state_write(const qv_quant *q, qv_ckpt_writer *w);
QV_INTERNAL qv_status qv__quant_state_read(qv_quant *q, const unsigned char *p, size_t n);

/*
 * k-means (Lloyd, k-means++-like seeding from a hash of seed; assignments through sgemm):
 * c (k * d) from x (n * d), iters iterations; empty clusters are re-seeded by splitting the
 * largest one. If assign is not NULL it receives each point's cluster. n >= k required.
 */
QV_INTERNAL qv_status qv__kmeans(const qv_mem *mem, const float *x, size_t n, size_t d, size_t k, int iters,
                                 uint64_t seed, float *c, uint32_t *assign);
/* Nearest center (squared l2) of each of n points, through sgemm. */
QV_INTERNAL qv_status qv__kmeans_assign(const qv_mem *mem, const float *x, size_t n, size_t d, const float *c,
                                        size_t k, uint32_t *assign, float *dist);

/* Per-kind constructors (quant.c dispatches). */
QV_INTERNAL qv_status qv__quant_init_sq(qv_quant *q, int bits);
QV_INTERNAL qv_status qv__quant_init_pq(qv_quant *q, char *err, size_t errlen);
QV_INTERNAL qv_status qv__quant_init_rabitq(qv_quant *q, char *err, size_t errlen);
QV_INTERNAL qv_status qv__quant_init_binary(qv_quant *q);
QV_INTERNAL qv_status qv__quant_init_none(qv_quant *q);

/* RaBitQ: estimate and its error bound (same scale) of one code against a prepared query. */
QV_INTERNAL void qv__rabitq_estimate(const qv_quant *q, const void *prep, const uint8_t *code, float *est,
                                     float *bound);
/* 4-bit PQ FastScan: the integer sums of a block with the scalar or the SIMD path (tests). */
QV_INTERNAL void qv__pq4_block_sums(const qv_quant *q, const void *prep, const uint8_t *block, int simd,
                                    uint32_t *sums /* 32 */);

/* A 64-bit mix (splitmix64), for seeds. */
static inline uint64_t qv__mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

#endif /* QV_QUANT_H */
