/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/flat/flat_codes.c -- the code section of an l2 flat snapshot (payload version 2): one
 * byte per dimension per row, scanned first, a quarter of the float rows' bytes, so the first
 * query on a freshly mapped file faults in and reads 128 MB instead of 512 MB at 1M x 128
 * (bench/RESULTS.md section 16). The answer stays exact: the codes only choose which float rows
 * the exact kernel measures, through a bound that provably keeps every row of the true top k.
 *
 * Section (at the payload's code offset, 64-byte aligned): f32 lo[dim], f32 step[dim], zero
 * padding to a multiple of 64, then n_slots rows of dim u8 codes. Row x's code c has
 * c_d = round((x_d - lo_d) / step_d) clamped to 0..255 (lo/hi: the live rows' range per
 * dimension, step = (hi - lo) / 255), so |x_d - (lo_d + c_d step_d)| <= step_d / 2.
 *
 * The bound: with x' the decoded row, | ||q - x|| - ||q - x'|| | <= ||x - x'|| <= E, E the norm
 * of the per-dimension errors (step/2, widened for float rounding). So ||q - x||^2 lies in
 * [(a - E)^2, (a + E)^2] for a = ||q - x'||, both also widened by a relative 3e-5 for the
 * rounding of the float sums (dim terms of 2^-24 each, well under that for dim <= 65536 / 8 ...
 * and the exact kernel's own rounding). The scan keeps the k smallest upper bounds (their k-th,
 * tau, is >= the true k-th distance) and collects every row whose lower bound is <= tau at the
 * time; a row of the true top k has lower bound <= its distance <= tau, so it is collected.
 * The collected rows are re-ranked by the caller with the exact kernel. The codes are untrusted
 * bytes like the rest of the payload: a damaged section gives wrong answers, never a crash.
 */
#include <math.h>
#include <string.h>

#include "flat_codes.h"

static uint64_t up64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

QV_INTERNAL uint64_t qv__flat_codes_bytes(uint64_t n_slots, uint32_t dim) {
  return up64((uint64_t)dim * 8) + n_slots * dim;
}

QV_INTERNAL qv_status qv__flat_codes_write(const float *vecs, const uint64_t *live, size_t n_slots, uint32_t dim,
                                           const qv_mem *mem, void (*put)(void *, const void *, size_t), void *ctx) {
  float *lo = qv__malloc(mem, (size_t)dim * 8 + 64);
  unsigned char *row = qv__malloc(mem, dim ? dim : 1);
  if (!lo || !row) {
    qv__free(mem, lo);
    qv__free(mem, row);
    return QV_NOMEM;
  }
  float *step = lo + dim;
  for (uint32_t d = 0; d < dim; d++) {
    lo[d] = INFINITY;
    step[d] = -INFINITY; /* hi while scanning */
  }
  for (size_t s = 0; s < n_slots; s++) {
    if (!((live[s >> 6] >> (s & 63)) & 1)) continue;
    const float *x = vecs + s * dim;
    for (uint32_t d = 0; d < dim; d++) {
      if (x[d] < lo[d]) lo[d] = x[d];
      if (x[d] > step[d]) step[d] = x[d];
    }
  }
  for (uint32_t d = 0; d < dim; d++) {
    if (!(lo[d] <= step[d])) lo[d] = step[d] = 0; /* no live row */
    step[d] = (step[d] - lo[d]) / 255.0f;
  }
  static const unsigned char zero[64];
  put(ctx, lo, (size_t)dim * 8);
  put(ctx, zero, (size_t)(up64((uint64_t)dim * 8) - (uint64_t)dim * 8));
  for (size_t s = 0; s < n_slots; s++) {
    const float *x = vecs + s * dim;
    for (uint32_t d = 0; d < dim; d++) {
      float c = step[d] > 0 ? rintf((x[d] - lo[d]) / step[d]) : 0;
      row[d] = (unsigned char)(c < 0 ? 0 : c > 255 ? 255 : c); /* dead rows: anything in range */
    }
    put(ctx, row, dim);
  }
  qv__free(mem, lo);
  qv__free(mem, row);
  return QV_OK;
}

QV_INTERNAL int qv__flat_codes_check(const unsigned char *sec, uint32_t dim) {
  const float *lo = (const float *)(const void *)sec, *step = lo + dim;
  for (uint32_t d = 0; d < dim; d++)
    if (!isfinite(lo[d]) || !isfinite(step[d]) || step[d] < 0) return 0;
  return 1;
}

/* ||a - c * step||^2 over dim dimensions: a = q - lo (prepared), c the row's codes. */
static float code_dist_scalar(const float *a, const float *step, const unsigned char *c, uint32_t dim) {
  float s = 0;
  for (uint32_t d = 0; d < dim; d++) {
    float t = a[d] - (float)c[d] * step[d];
    s += t * t;
  }
  return s;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static float code_dist_avx2(const float *a, const float *step,
                                                                 const unsigned char *c, uint32_t dim) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  uint32_t d = 0;
  for (; d + 16 <= dim; d += 16) {
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(c + d));
    __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
    __m256 c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)));
    __m256 t0 = _mm256_fnmadd_ps(c0, _mm256_loadu_ps(step + d), _mm256_loadu_ps(a + d));
    __m256 t1 = _mm256_fnmadd_ps(c1, _mm256_loadu_ps(step + d + 8), _mm256_loadu_ps(a + d + 8));
    acc0 = _mm256_fmadd_ps(t0, t0, acc0);
    acc1 = _mm256_fmadd_ps(t1, t1, acc1);
  }
  acc0 = _mm256_add_ps(acc0, acc1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc0), _mm256_extractf128_ps(acc0, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  float s = _mm_cvtss_f32(h);
  for (; d < dim; d++) {
    float t = a[d] - (float)c[d] * step[d];
    s += t * t;
  }
  return s;
}
#endif

typedef float (*code_dist_fn)(const float *, const float *, const unsigned char *, uint32_t);

static code_dist_fn pick_kernel(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return code_dist_avx2;
#endif
  return code_dist_scalar;
}

/* A max-heap of the k smallest code distances (floats only). */
static void heap_push(float *h, size_t *n, size_t k, float v) {
  size_t i;
  if (*n < k) {
    for (i = (*n)++; i > 0 && h[(i - 1) / 2] < v; i = (i - 1) / 2) h[i] = h[(i - 1) / 2];
    h[i] = v;
    return;
  }
  if (!(v < h[0])) return;
  for (i = 0;;) {
    size_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && h[c + 1] > h[c]) c++;
    if (!(h[c] > v)) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = v;
}

#define REL 3e-5 /* relative widening of both bounds for float rounding */

/* Largest code distance s whose lower bound can still be <= tau (the k-th upper bound). */
static float collect_limit(float s_k, float E) {
  if (isinf(s_k)) return INFINITY;
  double hi = sqrt((double)s_k * (1 + REL)) + E; /* sqrt of the k-th upper bound */
  double tau = hi * hi * (1 + REL);
  double r = sqrt(tau / (1 - REL)) + E;              /* lower bound <= tau  <=>  a - E <= sqrt(tau') */
  return (float)(r * r / (1 - REL) * (1 + 1e-6));
}

QV_INTERNAL qv_status qv__flat_codes_candidates(const unsigned char *sec, const uint64_t *live, size_t n_slots,
                                                uint32_t dim, const float *q, size_t k, const qv_mem *mem,
                                                uint32_t **cand, size_t *n_cand) {
  *cand = NULL;
  *n_cand = 0;
  const float *lo = (const float *)(const void *)sec, *step = lo + dim;
  const unsigned char *codes = sec + up64((uint64_t)dim * 8);
  float *a = qv__malloc(mem, (size_t)dim * sizeof *a), *heap = qv__malloc(mem, k * sizeof *heap);
  size_t cap = 4096, n = 0, nh = 0;
  uint32_t *c = qv__malloc(mem, cap * sizeof *c);
  float *cs = qv__malloc(mem, cap * sizeof *cs);
  qv_status rc = QV_NOMEM;
  if (!a || !heap || !c || !cs) goto out;
  double e2 = 0;
  for (uint32_t d = 0; d < dim; d++) {
    a[d] = q[d] - lo[d];
    if (!isfinite(a[d])) { /* nothing to bound with: the caller scans the floats */
      rc = QV_UNSUPPORTED;
      goto out;
    }
    double e = step[d] / 2.0 + 1e-6 * (fabs((double)q[d]) + fabs((double)lo[d]) + 256.0 * step[d]);
    e2 += e * e;
  }
  float E = (float)(sqrt(e2) * (1 + 1e-6));
  code_dist_fn dist = pick_kernel();
  float limit = INFINITY;
  for (size_t s = 0; s < n_slots; s++) {
    if (!((live[s >> 6] >> (s & 63)) & 1)) continue;
    float v = dist(a, step, codes + s * dim, dim);
    if (!(v <= limit)) continue;
    if (n == cap) {
      if (cap >= n_slots / 4) { /* the bound does not prune on this data: a plain scan is cheaper */
        rc = QV_UNSUPPORTED;
        goto out;
      }
      uint32_t *c2 = qv__realloc(mem, c, cap * 2 * sizeof *c);
      if (!c2) goto out;
      c = c2;
      float *cs2 = qv__realloc(mem, cs, cap * 2 * sizeof *cs);
      if (!cs2) goto out;
      cs = cs2;
      cap *= 2;
    }
    c[n] = (uint32_t)s;
    cs[n++] = v;
    float top = nh == k ? heap[0] : INFINITY;
    heap_push(heap, &nh, k, v);
    if (nh == k && heap[0] != top) limit = collect_limit(heap[0], E);
  }
  /* the final limit is the tightest: drop what only an earlier one let in */
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (cs[i] <= limit) c[m++] = c[i];
  *cand = c;
  *n_cand = m;
  c = NULL;
  rc = QV_OK;
out:
  qv__free(mem, a);
  qv__free(mem, heap);
  qv__free(mem, c);
  qv__free(mem, cs);
  return rc;
}
