/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_dist.c -- every kernel table against a double-precision reference and against the
 * scalar table, at awkward dims and unaligned pointers; the *_many kernels must be
 * bit-identical to the single kernel of the same table (index/flat/flat.c relies on it); the
 * metric mapping and qv__normalize. An ISA this CPU lacks is reported as skipped.
 *
 * Buffers are allocated at their exact size so that ASan catches a kernel reading past a row.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

static const size_t k_dims[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 784, 1023, 1536};
#define N_DIMS (sizeof k_dims / sizeof k_dims[0])
#define N_ROWS 7

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static float frand(void) { /* uniform in [-1, 1) */
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(g_rng >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

/* n floats at byte offset 4*shift into an exact-size allocation; *raw receives the block. */
static float *alloc_floats(size_t n, size_t shift, void **raw) {
  float *p = malloc((n + shift) * sizeof *p);
  cr_assert_not_null(p);
  *raw = p;
  for (size_t i = 0; i < n; i++) p[shift + i] = frand();
  return p + shift;
}

typedef enum { F_L2, F_DOT, F_L1 } fkind;

/* Reference in double; *mag receives the sum of the absolute terms (the error scale). */
static double ref(fkind f, const float *a, const float *b, size_t dim, double *mag) {
  double s = 0, m = 0;
  for (size_t i = 0; i < dim; i++) {
    double d = (double)a[i] - b[i], t;
    if (f == F_L2) t = d * d;
    else if (f == F_DOT) t = (double)a[i] * b[i];
    else t = fabs(d);
    s += t;
    m += fabs(t);
  }
  *mag = m;
  return s;
}

static qv_dist_fn single_of(const qv_kernels *k, fkind f) {
  return f == F_L2 ? k->l2sq : f == F_DOT ? k->dot : k->l1;
}

static qv_dist_many_fn many_of(const qv_kernels *k, fkind f) {
  return f == F_L2 ? k->l2sq_many : f == F_DOT ? k->dot_many : k->l1_many;
}

static void assert_close(float got, double want, double mag, const char *isa, size_t dim, const char *what) {
  double tol = 3e-5 * mag + 1e-30;
  cr_assert(fabs((double)got - want) <= tol, "%s %s dim=%zu: got %.9g want %.9g (tol %.3g)", isa,
            what, dim, (double)got, want, tol);
}

static const qv_kernels *need_isa(const char *isa) {
  const qv_kernels *k = qv__kernels_isa(isa);
  if (!k) cr_skip_test("this CPU (or OS) lacks %s", isa);
  cr_assert_str_eq(k->isa, isa);
  return k;
}

/* Single kernel vs reference and vs scalar, at every dim and four misalignments. */
static void check_single(const char *isa, fkind f) {
  const qv_kernels *k = need_isa(isa);
  for (size_t di = 0; di < N_DIMS; di++) {
    for (size_t sh = 0; sh < 4; sh++) {
      size_t dim = k_dims[di];
      void *ra, *rb;
      float *a = alloc_floats(dim, sh, &ra), *b = alloc_floats(dim, (sh + 1) % 4, &rb);
      double mag, want = ref(f, a, b, dim, &mag);
      float got = single_of(k, f)(a, b, dim);
      float sc = single_of(&qv__kernels_scalar, f)(a, b, dim);
      assert_close(got, want, mag, isa, dim, "single");
      assert_close(got, sc, mag, isa, dim, "vs scalar");
      free(ra);
      free(rb);
    }
  }
}

/* *_many vs the single kernel (bit-identical) and vs the reference. */
static void check_many(const char *isa, fkind f) {
  const qv_kernels *k = need_isa(isa);
  for (size_t di = 0; di < N_DIMS; di++) {
    for (size_t sh = 0; sh < 2; sh++) {
      size_t dim = k_dims[di];
      void *rq, *rb;
      float *q = alloc_floats(dim, sh, &rq), *base = alloc_floats(N_ROWS * dim, 1 - sh, &rb);
      float out[N_ROWS];
      many_of(k, f)(q, base, N_ROWS, dim, out);
      for (size_t r = 0; r < N_ROWS; r++) {
        float one = single_of(k, f)(q, base + r * dim, dim);
        cr_assert(memcmp(&one, &out[r], sizeof one) == 0, "%s many dim=%zu row %zu: %.9g != %.9g",
                  isa, dim, r, (double)out[r], (double)one);
        double mag, want = ref(f, q, base + r * dim, dim, &mag);
        assert_close(out[r], want, mag, isa, dim, "many");
      }
      free(rq);
      free(rb);
    }
  }
}

Test(kernels_scalar, l2sq) { check_single("scalar", F_L2); }
Test(kernels_scalar, dot) { check_single("scalar", F_DOT); }
Test(kernels_scalar, l1) { check_single("scalar", F_L1); }
Test(kernels_scalar, many) {
  check_many("scalar", F_L2);
  check_many("scalar", F_DOT);
  check_many("scalar", F_L1);
}

Test(kernels_avx2, l2sq) { check_single("avx2", F_L2); }
Test(kernels_avx2, dot) { check_single("avx2", F_DOT); }
Test(kernels_avx2, l1) { check_single("avx2", F_L1); }
Test(kernels_avx2, l2sq_many) { check_many("avx2", F_L2); }
Test(kernels_avx2, dot_many) { check_many("avx2", F_DOT); }
Test(kernels_avx2, l1_many) { check_many("avx2", F_L1); }

Test(kernels_avx512, l2sq) { check_single("avx512", F_L2); }
Test(kernels_avx512, dot) { check_single("avx512", F_DOT); }
Test(kernels_avx512, l1) { check_single("avx512", F_L1); }
Test(kernels_avx512, l2sq_many) { check_many("avx512", F_L2); }
Test(kernels_avx512, dot_many) { check_many("avx512", F_DOT); }
Test(kernels_avx512, l1_many) { check_many("avx512", F_L1); }

/* Zero rows in _many, and a long scan (prefetch runs past the last row without reading it). */
Test(kernels_many, edge_counts) {
  const char *isas[] = {"scalar", "avx2", "avx512"};
  for (size_t i = 0; i < 3; i++) {
    const qv_kernels *k = qv__kernels_isa(isas[i]);
    if (!k) continue;
    size_t dim = 100, n = 1000;
    void *rq, *rb;
    float *q = alloc_floats(dim, 0, &rq), *base = alloc_floats(n * dim, 0, &rb);
    float *out = malloc(n * sizeof *out);
    k->l2sq_many(q, base, 0, dim, out);
    k->l2sq_many(q, base, n, dim, out);
    for (size_t r = 0; r < n; r += 97) {
      float one = k->l2sq(q, base + r * dim, dim);
      cr_assert(memcmp(&one, &out[r], sizeof one) == 0);
    }
    free(out);
    free(rq);
    free(rb);
  }
}

Test(dispatch, names_and_best) {
  cr_assert_null(qv__kernels_isa("sse9"));
  cr_assert_null(qv__kernels_isa(NULL));
  cr_assert_not_null(qv__kernels_isa("scalar"));
  const qv_kernels *best = qv__kernels();
  cr_assert_not_null(best);
  if (!getenv("QV_ISA")) {
    const char *top = qv__kernels_isa("avx512") ? "avx512" : qv__kernels_isa("avx2") ? "avx2" : "scalar";
    cr_assert_str_eq(best->isa, top);
  }
}

/* Criterion runs each test in its own fresh process, so the once-only choice sees this env. */
Test(dispatch, env_caps_choice) {
  setenv("QV_ISA", "scalar", 1);
  cr_assert_str_eq(qv__kernels()->isa, "scalar");
  cr_assert_not_null(qv__kernels_isa("scalar"));
}

Test(dispatch, env_cap_above_cpu_is_harmless) {
  setenv("QV_ISA", "avx512", 1);
  const char *top = qv__kernels_isa("avx512") ? "avx512" : qv__kernels_isa("avx2") ? "avx2" : "scalar";
  cr_assert_str_eq(qv__kernels()->isa, top);
}

Test(metric, mapping) {
  const qv_kernels *k = qv__kernels();
  size_t dim = 33;
  void *ra, *rb;
  float *a = alloc_floats(dim, 0, &ra), *b = alloc_floats(dim, 0, &rb);
  double mag;
  cr_assert_float_eq(qv__metric_dist(k, QV_METRIC_L2, a, b, dim), ref(F_L2, a, b, dim, &mag), 1e-4);
  cr_assert_float_eq(qv__metric_dist(k, QV_METRIC_IP, a, b, dim), 1.0 - ref(F_DOT, a, b, dim, &mag), 1e-4);
  cr_assert_float_eq(qv__metric_dist(k, QV_METRIC_L1, a, b, dim), ref(F_L1, a, b, dim, &mag), 1e-4);
  /* cosine: 1 - cos on unit vectors */
  double na = sqrt(ref(F_DOT, a, a, dim, &mag)), nb = sqrt(ref(F_DOT, b, b, dim, &mag));
  double cosab = ref(F_DOT, a, b, dim, &mag) / (na * nb);
  qv__normalize(a, dim);
  qv__normalize(b, dim);
  cr_assert_float_eq(qv__metric_dist(k, QV_METRIC_COSINE, a, b, dim), 1.0 - cosab, 1e-5);
  cr_assert_float_eq(qv__metric_dist(k, QV_METRIC_COSINE, a, a, dim), 0.0, 1e-6);
  free(ra);
  free(rb);
}

Test(metric, many_equals_single) {
  const qv_metric ms[] = {QV_METRIC_L2, QV_METRIC_IP, QV_METRIC_COSINE, QV_METRIC_L1};
  const char *isas[] = {"scalar", "avx2", "avx512"};
  size_t dim = 17;
  void *rq, *rb;
  float *q = alloc_floats(dim, 1, &rq), *base = alloc_floats(N_ROWS * dim, 0, &rb);
  for (size_t i = 0; i < 3; i++) {
    const qv_kernels *k = qv__kernels_isa(isas[i]);
    if (!k) continue;
    for (size_t m = 0; m < 4; m++) {
      float out[N_ROWS];
      qv__metric_dist_many(k, ms[m], q, base, N_ROWS, dim, out);
      for (size_t r = 0; r < N_ROWS; r++) {
        float one = qv__metric_dist(k, ms[m], q, base + r * dim, dim);
        cr_assert(memcmp(&one, &out[r], sizeof one) == 0, "%s metric %zu row %zu", isas[i], m, r);
      }
    }
  }
  free(rq);
  free(rb);
}

Test(normalize, unit_and_zero) {
  float v[5] = {3, 0, 4, 0, 0};
  cr_assert_float_eq(qv__normalize(v, 5), 5.0f, 1e-6);
  cr_assert_float_eq(v[0], 0.6f, 1e-7);
  cr_assert_float_eq(v[2], 0.8f, 1e-7);
  float z[3] = {0, 0, 0};
  cr_assert_float_eq(qv__normalize(z, 3), 0.0f, 0);
  cr_assert(z[0] == 0 && z[1] == 0 && z[2] == 0);
  void *r;
  float *w = alloc_floats(1536, 0, &r);
  qv__normalize(w, 1536);
  double mag, n2 = ref(F_DOT, w, w, 1536, &mag);
  cr_assert_float_eq(n2, 1.0, 1e-6);
  free(r);
}
