/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * dist.h -- the distance-kernel table. Every other layer computes distances through it.
 *
 * The table for the best ISA this CPU supports is chosen once (pthread_once) and never changes:
 * avx512 (F+BW+DQ+VL) > avx2 (+FMA) > scalar. kernels/scalar.c is the reference; kernels/avx2.c and
 * kernels/avx512.c are each compiled with that ISA's flags only, and nothing outside dist_*.c
 * contains an #ifdef on an ISA macro. QV_ISA=scalar|avx2|avx512 in the environment caps the
 * choice (for tests and benchmarks).
 *
 * All kernels accept any dim >= 1 and unaligned pointers.
 */
#ifndef QV_DIST_H
#define QV_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "qv_int.h"

/* a . b, sum (a-b)^2, sum |a-b| */
typedef float (*qv_dist_fn)(const float *a, const float *b, size_t dim);
/* out[i] = f(q, base + i*dim) for i in [0, n): one query against n contiguous rows. */
typedef void (*qv_dist_many_fn)(const float *q, const float *base, size_t n, size_t dim, float *out);

typedef struct qv_kernels {
  const char *isa; /* "scalar", "avx2", "avx512" */
  qv_dist_fn l2sq;
  qv_dist_fn dot;
  qv_dist_fn l1;
  qv_dist_many_fn l2sq_many;
  qv_dist_many_fn dot_many;
  qv_dist_many_fn l1_many;
  /* Number of differing bits between two packed bit strings of nbytes bytes (hamming). */
  uint32_t (*hamming)(const uint8_t *a, const uint8_t *b, size_t nbytes);
  /* out[i] = hamming(q, base + i*nbytes) for i in [0, n). */
  void (*hamming_many)(const uint8_t *q, const uint8_t *base, size_t n, size_t nbytes, float *out);
} qv_kernels;

/* The best table for this CPU (honouring QV_ISA). Never NULL. Thread: any. */
QV_INTERNAL const qv_kernels *qv__kernels(void);
/* The table for one ISA by name, or NULL when unknown or this CPU lacks it. Thread: any. */
QV_INTERNAL const qv_kernels *qv__kernels_isa(const char *isa);

/* Per-ISA tables, defined in dist_<isa>.c. */
QV_INTERNAL extern const qv_kernels qv__kernels_scalar;
QV_INTERNAL extern const qv_kernels qv__kernels_avx2;
QV_INTERNAL extern const qv_kernels qv__kernels_avx512;

/* AVX-512 VPOPCNTDQ hamming kernels (kernels/avx512pop.c), used when the CPU has them. */
QV_INTERNAL uint32_t qv__hamming_vpopcnt(const uint8_t *a, const uint8_t *b, size_t nbytes);
QV_INTERNAL void qv__hamming_many_vpopcnt(const uint8_t *q, const uint8_t *base, size_t n, size_t nbytes,
                                          float *out);

/*
 * The distance a metric reports (Chroma's definitions): l2 -> l2sq, ip/cosine -> 1 - dot,
 * l1 -> l1. Cosine assumes both vectors are already unit length. Hamming: a and b are packed
 * bits held in `dim` 32-bit words (the collection's row width for a hamming collection is
 * ceil(bits / 32) words, zero padded); the distance is the number of differing bits.
 */
QV_INTERNAL float qv__metric_dist(const qv_kernels *k, qv_metric m, const float *a, const float *b,
                                  size_t dim);
/* Many-rows version of qv__metric_dist. */
QV_INTERNAL void qv__metric_dist_many(const qv_kernels *k, qv_metric m, const float *q,
                                      const float *base, size_t n, size_t dim, float *out);

/* Scale v in place to unit length; a zero vector stays zero. Returns the original norm. */
QV_INTERNAL float qv__normalize(float *v, size_t dim);

#endif /* QV_DIST_H */
