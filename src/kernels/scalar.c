/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * kernels/scalar.c -- the reference distance kernels, portable C, no ISA flags.
 *
 * These are the ground truth the SIMD kernels are tested against, and the table used when the
 * CPU has neither AVX2 nor AVX-512 (or QV_ISA=scalar). Four independent accumulators give the
 * compiler some instruction-level parallelism without -ffast-math.
 *
 * Invariant shared by every kernel table: the *_many kernels compute each row with exactly the
 * same operations, in the same order, as the single-pair kernel, so out[i] is bit-identical to
 * f(q, base + i*dim). index/flat/flat.c relies on this to make batch search equal single search.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "dist.h"

/* sum (a-b)^2 */
static float l2sq_f32_scalar(const float *a, const float *b, size_t dim) {
  float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
  size_t i = 0;
  for (; i + 4 <= dim; i += 4) {
    float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
    float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < dim; i++) {
    float d = a[i] - b[i];
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}

/* a . b */
static float dot_f32_scalar(const float *a, const float *b, size_t dim) {
  float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
  size_t i = 0;
  for (; i + 4 <= dim; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < dim; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

/* sum |a-b| */
static float l1_f32_scalar(const float *a, const float *b, size_t dim) {
  float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
  size_t i = 0;
  for (; i + 4 <= dim; i += 4) {
    s0 += fabsf(a[i] - b[i]);
    s1 += fabsf(a[i + 1] - b[i + 1]);
    s2 += fabsf(a[i + 2] - b[i + 2]);
    s3 += fabsf(a[i + 3] - b[i + 3]);
  }
  for (; i < dim; i++) s0 += fabsf(a[i] - b[i]);
  return (s0 + s1) + (s2 + s3);
}

static void l2sq_many_f32_scalar(const float *q, const float *base, size_t n, size_t dim, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = l2sq_f32_scalar(q, base + i * dim, dim);
}

static void dot_many_f32_scalar(const float *q, const float *base, size_t n, size_t dim, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = dot_f32_scalar(q, base + i * dim, dim);
}

static void l1_many_f32_scalar(const float *q, const float *base, size_t n, size_t dim, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = l1_f32_scalar(q, base + i * dim, dim);
}

/* Differing bits: 8-byte words (memcpy, any alignment), then the tail bytes. */
static uint32_t hamming_scalar(const uint8_t *a, const uint8_t *b, size_t nbytes) {
  uint32_t s = 0;
  size_t i = 0;
  for (; i + 8 <= nbytes; i += 8) {
    uint64_t x, y;
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    s += (uint32_t)__builtin_popcountll(x ^ y);
  }
  for (; i < nbytes; i++) s += (uint32_t)__builtin_popcount((unsigned)(a[i] ^ b[i]));
  return s;
}

static void hamming_many_scalar(const uint8_t *q, const uint8_t *base, size_t n, size_t nbytes, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = (float)hamming_scalar(q, base + i * nbytes, nbytes);
}

const qv_kernels qv__kernels_scalar = {
    "scalar",           l2sq_f32_scalar,     dot_f32_scalar,     l1_f32_scalar,
    l2sq_many_f32_scalar, dot_many_f32_scalar, l1_many_f32_scalar, hamming_scalar,
    hamming_many_scalar,
};
