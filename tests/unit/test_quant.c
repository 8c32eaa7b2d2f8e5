/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_quant.c -- the quantizers of src/quant through quant.h: reconstruction error bounds
 * (sq8, sq4, pq), scanned distances equal to the distance to the reconstruction, the FastScan
 * storage layout (put/get) and its SIMD sums equal to the scalar ones, RaBitQ's estimator
 * unbiased over random rotations and inside its error bound, binary's Hamming order, the
 * `none` kind exact, and state save/restore through the checkpoint envelope.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant.h"
#include "sq_kern.h"

static uint64_t g_rng = 777;

static uint32_t urand(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(g_rng >> 33);
}
static float frand(void) { return (float)urand() / 2147483648.0f * 2.0f - 1.0f; }
static double gauss(void) {
  double u1 = ((double)urand() + 1.0) / 2147483650.0, u2 = (double)urand() / 2147483648.0;
  return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

static float *rand_vecs(size_t n, uint32_t dim) {
  float *v = malloc(n * dim * sizeof *v);
  for (size_t i = 0; i < n * dim; i++) v[i] = frand();
  return v;
}

/* n vectors around 16 cluster centers (what PQ is for) */
static float *clustered(size_t n, uint32_t dim) {
  float *c = rand_vecs(16, dim), *v = malloc(n * dim * sizeof *v);
  for (size_t i = 0; i < n; i++) {
    size_t k = urand() % 16;
    for (size_t j = 0; j < dim; j++) v[i * dim + j] = c[k * dim + j] + 0.1f * (float)gauss();
  }
  free(c);
  return v;
}

static qv_quant *mk(qv_quant_kind kind, qv_metric m, uint32_t dim, uint32_t pq_m, uint32_t bits, uint64_t seed) {
  qv_quant_cfg cfg = {.kind = kind, .pq_m = pq_m, .pq_bits = bits, .seed = seed};
  qv_quant *q = NULL;
  char err[256];
  cr_assert_eq(qv__quant_new(qv__mem_default(), m, dim, &cfg, &q, err, sizeof err), QV_OK, "%s", err);
  return q;
}

static float l2(const float *a, const float *b, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
  return (float)s;
}
static float dot(const float *a, const float *b, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; i++) s += (double)a[i] * b[i];
  return (float)s;
}

static void *prep_buf(const qv_quant *q) { return aligned_alloc(64, (q->prep_bytes + 63) / 64 * 64); }

/*
 * reconstruction within half a step per dimension; scan == distance to the reconstruction.
 * sq8's integer query weights (sq.c) add at most 0.5 / ws * sum_i c_i to |q . x^|, with
 * ws = w_max / max_i |q_i s_i|: allowed for (twice for l2). Its coarse scan (high nibbles,
 * int8 weights) is checked against the coarse reconstruction the same way, and rescore(i)
 * must equal the scan's value.
 */
static void check_sq_dim(qv_quant_kind kind, int levels, qv_metric m, uint32_t dim) {
  const size_t n = 500;
  float *x = rand_vecs(n, dim);
  qv_quant *q = mk(kind, m, dim, 0, 0, 1);
  cr_assert_eq(qv__quant_train(q, x, n), QV_OK);
  uint8_t *codes = malloc(n * q->code_bytes);
  cr_assert_eq(qv__quant_encode(q, x, n, NULL, codes), QV_OK);
  uint8_t *store = calloc(1, qv__quant_storage(q, n)), *back = malloc(q->code_bytes);
  for (size_t i = 0; i < n; i++) qv__quant_put(q, store, i, codes + i * q->code_bytes);
  float *rec = malloc(dim * sizeof *rec), *crec = malloc(dim * sizeof *crec), d[500], dc[500];
  float *qv = rand_vecs(1, dim);
  void *prep = prep_buf(q);
  qv__quant_prepare(q, qv, prep);
  qv__quant_scan(q, prep, store, n, d);
  int coarse = qv__quant_has_coarse(q);
  cr_assert_eq(coarse, kind == QV_QUANT_SQ8);
  if (coarse) qv__quant_scan_coarse(q, prep, store, n, dc);
  float qmax = 0;
  for (size_t j = 0; j < dim; j++) qmax = fabsf(qv[j]) > qmax ? fabsf(qv[j]) : qmax;
  /* |w rounding| * sum c <= 0.5 * max|q_i s_i| / w_max * 255 dim, s_i <= 2 / levels */
  double wmax = fmin(32767.0, floor(2147483647.0 / (255.0 * dim)));
  double tol_i = kind == QV_QUANT_SQ8 ? 0.5 * qmax * (2.0 / levels) / wmax * 255.0 * dim * 2.0 : 0.0;
  double tol_c = 0.5 * qmax * (2.0 / levels) / 127.0 * 247.5 * dim * 2.0;
  for (size_t i = 0; i < n; i++) {
    qv__quant_get(q, store, i, back);
    cr_assert_eq(memcmp(back, codes + i * q->code_bytes, q->code_bytes), 0, "put/get row %zu", i);
    cr_assert_eq(qv__quant_decode(q, codes + i * q->code_bytes, -1, rec), 0);
    for (size_t j = 0; j < dim; j++) {
      /* the range of the training set is at most 2 wide: a step <= 2 / levels */
      cr_assert(fabsf(rec[j] - x[i * dim + j]) <= 1.0f / (float)levels + 1e-5f, "row %zu dim %zu: %g vs %g", i, j,
                rec[j], x[i * dim + j]);
    }
    float want = m == QV_METRIC_L2 ? l2(qv, rec, dim) : 1.0f - dot(qv, rec, dim);
    cr_assert(fabsf(d[i] - want) <= 1e-3f * (1.0f + fabsf(want)) + tol_i, "row %zu: %g vs %g", i, d[i], want);
    if (!coarse) continue;
    cr_assert_eq(qv__quant_rescore(q, prep, store, i), d[i], "rescore row %zu", i);
    /* the coarse reconstruction lo + s (16 h + 7.5) is the mean of the decodes with every low
       nibble 0 and 15 (code form, sq.c: 8 bytes of norms, the high plane, the low plane) */
    size_t P = (q->code_bytes - 8) / 2;
    memcpy(back, codes + i * q->code_bytes, q->code_bytes);
    memset(back + 8 + P, 0x00, P);
    cr_assert_eq(qv__quant_decode(q, back, -1, rec), 0);
    memset(back + 8 + P, 0xFF, P);
    cr_assert_eq(qv__quant_decode(q, back, -1, crec), 0);
    for (size_t j = 0; j < dim; j++) crec[j] = 0.5f * (rec[j] + crec[j]);
    float wc = m == QV_METRIC_L2 ? l2(qv, crec, dim) : 1.0f - dot(qv, crec, dim);
    cr_assert(fabsf(dc[i] - wc) <= 1e-3f * (1.0f + fabsf(wc)) + tol_c, "coarse row %zu: %g vs %g", i, dc[i], wc);
  }
  free(prep);
  free(qv);
  free(codes);
  free(store);
  free(back);
  free(rec);
  free(crec);
  free(x);
  qv__quant_free(q);
}

static void check_sq(qv_quant_kind kind, int levels, qv_metric m) {
  check_sq_dim(kind, levels, m, 37);
  check_sq_dim(kind, levels, m, 64);
}

Test(quant, sq8_bounds_l2) { check_sq(QV_QUANT_SQ8, 255, QV_METRIC_L2); }
Test(quant, sq8_bounds_ip) { check_sq(QV_QUANT_SQ8, 255, QV_METRIC_IP); }
Test(quant, sq4_bounds_l2) { check_sq(QV_QUANT_SQ4, 15, QV_METRIC_L2); }
Test(quant, sq4_bounds_ip) { check_sq(QV_QUANT_SQ4, 15, QV_METRIC_IP); }

Test(quant, none_is_exact) {
  float *x = rand_vecs(10, 8);
  qv_quant *q = mk(QV_QUANT_NONE, QV_METRIC_L2, 8, 0, 0, 1);
  uint8_t codes[10 * 32];
  cr_assert_eq(qv__quant_encode(q, x, 10, NULL, codes), QV_OK);
  void *prep = prep_buf(q);
  float d[10];
  qv__quant_prepare(q, x, prep);
  qv__quant_scan(q, prep, codes, 10, d);
  for (int i = 0; i < 10; i++) cr_assert(fabsf(d[i] - l2(x, x + i * 8, 8)) < 1e-4f);
  free(prep);
  free(x);
  qv__quant_free(q);
}

/* PQ: reconstruction much better than the data's spread; scan == distance to reconstruction */
static void check_pq(uint32_t bits, qv_metric m) {
  const uint32_t dim = 32;
  const size_t n = 2000;
  float *x = clustered(n, dim);
  qv_quant *q = mk(QV_QUANT_PQ, m, dim, 8, bits, 3);
  cr_assert_eq(qv__quant_train(q, x, n), QV_OK);
  size_t st = qv__quant_storage(q, n);
  uint8_t *store = calloc(1, st), *codes = malloc(n * q->code_bytes), *back = malloc(q->code_bytes);
  cr_assert_eq(qv__quant_encode(q, x, n, NULL, codes), QV_OK);
  for (size_t i = 0; i < n; i++) qv__quant_put(q, store, i, codes + i * q->code_bytes);
  double err = 0, var = 0;
  float rec[32], *d = malloc(n * sizeof *d);
  float *qv = clustered(1, dim);
  void *prep = prep_buf(q);
  qv__quant_prepare(q, qv, prep);
  qv__quant_scan(q, prep, store, n, d);
  /* 4-bit tables are rounded to bytes: each of the 8 lookups is off by at most a/2 */
  float tol = bits == 4 ? 8 * ((float *)prep)[1] * 0.5f + 1e-3f : 1e-3f;
  for (size_t i = 0; i < n; i++) {
    qv__quant_get(q, store, i, back);
    cr_assert_eq(memcmp(back, codes + i * q->code_bytes, q->code_bytes), 0, "put/get row %zu", i);
    cr_assert_eq(qv__quant_decode(q, codes + i * q->code_bytes, -1, rec), 0);
    err += l2(rec, x + i * dim, dim);
    var += l2(x + i * dim, x, dim);
    float want = m == QV_METRIC_L2 ? l2(qv, rec, dim) : 1.0f - dot(qv, rec, dim);
    cr_assert(fabsf(d[i] - want) <= tol * (1.0f + fabsf(want)), "row %zu: %g vs %g (tol %g)", i, d[i], want, tol);
  }
  cr_assert(err < 0.25 * var, "pq error %g, spread %g", err, var);
  free(prep);
  free(qv);
  free(d);
  free(back);
  free(codes);
  free(store);
  free(x);
  qv__quant_free(q);
}

Test(quant, pq8_l2) { check_pq(8, QV_METRIC_L2); }
Test(quant, pq8_ip) { check_pq(8, QV_METRIC_IP); }
Test(quant, pq4_l2) { check_pq(4, QV_METRIC_L2); }
Test(quant, pq4_ip) { check_pq(4, QV_METRIC_IP); }

Test(quant, pq_bad_config_named) {
  qv_quant_cfg cfg = {.kind = QV_QUANT_PQ, .pq_m = 7, .pq_bits = 8};
  qv_quant *q = NULL;
  char err[256];
  cr_assert_eq(qv__quant_new(qv__mem_default(), QV_METRIC_L2, 32, &cfg, &q, err, sizeof err), QV_INVALID);
  cr_assert(strstr(err, "pq_m"), "%s", err);
  cfg.pq_m = 8;
  cfg.pq_bits = 5;
  cr_assert_eq(qv__quant_new(qv__mem_default(), QV_METRIC_L2, 32, &cfg, &q, err, sizeof err), QV_INVALID);
  cr_assert(strstr(err, "pq_bits"), "%s", err);
}

Test(quant, fastscan_simd_equals_scalar) {
  cr_assert(__builtin_cpu_supports("avx2"), "this test needs an AVX2 CPU to compare the two paths");
  /* odd pq_m (padded to even), and a pq_m whose 300 pairs pass one 16-bit flush (256 pairs) */
  uint32_t ms[] = {7, 16, 600};
  for (size_t t = 0; t < 3; t++) {
    uint32_t m = ms[t], dim = m * 2;
    float *x = clustered(600, dim);
    qv_quant *q = mk(QV_QUANT_PQ, QV_METRIC_L2, dim, m, 4, 5);
    cr_assert_eq(qv__quant_train(q, x, 600), QV_OK);
    uint8_t *blk = malloc(32 * q->code_bytes);
    for (size_t i = 0; i < 32 * q->code_bytes; i++) blk[i] = (uint8_t)urand();
    void *prep = prep_buf(q);
    for (int r = 0; r < 20; r++) {
      qv__quant_prepare(q, x + (size_t)r * dim, prep);
      uint32_t a[32], b[32];
      qv__pq4_block_sums(q, prep, blk, 0, a);
      qv__pq4_block_sums(q, prep, blk, 1, b);
      cr_assert_eq(memcmp(a, b, sizeof a), 0, "pq_m %u query %d", m, r);
      /* and the scalar sum is what the byte tables say */
      const uint8_t *bt = (const uint8_t *)prep + 64;
      uint8_t code[512];
      for (int v = 0; v < 32; v++) {
        qv__quant_get(q, blk, (size_t)v, code);
        unsigned s = 0;
        for (uint32_t k = 0; k < (m + 1) / 2 * 2; k++)
          s += bt[(k / 2) * 32 + (k & 1) * 16 + ((code[k / 2] >> (4 * (k & 1))) & 15u)];
        cr_assert_eq(a[v], s, "pq_m %u vector %d", m, v);
      }
    }
    free(prep);
    free(blk);
    free(x);
    qv__quant_free(q);
  }
}

/* The estimator of <x - c, q - c> (through l2) averaged over random rotations: unbiased. */
Test(quant, rabitq_unbiased_and_bounded) {
  const uint32_t dim = 64;
  float x[64], qv[64];
  for (int i = 0; i < 64; i++) {
    x[i] = (float)gauss();
    qv[i] = x[i] + 0.8f * (float)gauss();
  }
  float truth = l2(x, qv, dim);
  const int runs = 300;
  double sum = 0, sum2 = 0;
  int inside = 0;
  for (int r = 0; r < runs; r++) {
    qv_quant *q = mk(QV_QUANT_RABITQ, QV_METRIC_L2, dim, 0, 0, 1000 + (uint64_t)r);
    cr_assert_eq(qv__quant_train(q, x, 1), QV_OK);
    uint8_t code[64];
    cr_assert_eq(qv__quant_encode(q, x, 1, NULL, code), QV_OK);
    void *prep = prep_buf(q);
    qv__quant_prepare(q, qv, prep);
    float est, bound, sc;
    qv__rabitq_estimate(q, prep, code, &est, &bound);
    qv__quant_scan(q, prep, code, 1, &sc);
    cr_assert_eq(est, sc);
    double e = (double)est - truth;
    sum += e;
    sum2 += e * e;
    inside += fabs(e) <= bound;
    free(prep);
    qv__quant_free(q);
  }
  double mean = sum / runs, sd = sqrt(sum2 / runs - mean * mean);
  cr_assert(fabs(mean) < 4 * sd / sqrt(runs), "bias %g with sd %g over %d rotations", mean, sd, runs);
  cr_assert(sd > 0, "estimates do not vary with the rotation");
  cr_assert(inside >= runs * 97 / 100, "error bound held in %d of %d", inside, runs);
}

/* Residual codes: estimates against many vectors, with a center, for l2 and ip. */
static void rabitq_centered(qv_metric m) {
  const uint32_t dim = 100; /* padded to 128 */
  const size_t n = 400;
  float *x = clustered(n, dim), *qv = clustered(1, dim);
  qv_quant *q = mk(QV_QUANT_RABITQ, m, dim, 0, 0, 9);
  cr_assert_eq(qv__quant_train(q, x, n), QV_OK);
  cr_assert_eq(qv__quant_set_centers(q, x, 2), QV_OK);
  int32_t *cen = malloc(n * sizeof *cen);
  for (size_t i = 0; i < n; i++) cen[i] = (int32_t)(i % 2);
  uint8_t *codes = malloc(n * q->code_bytes);
  cr_assert_eq(qv__quant_encode(q, x, n, cen, codes), QV_OK);
  void *prep = prep_buf(q);
  qv__quant_prepare(q, qv, prep);
  int inside = 0;
  double bias = 0;
  for (int c = 0; c < 2; c++) {
    qv__quant_recenter(q, prep, c);
    for (size_t i = (size_t)c; i < n; i += 2) {
      float est, bound;
      qv__rabitq_estimate(q, prep, codes + i * q->code_bytes, &est, &bound);
      float want = m == QV_METRIC_L2 ? l2(x + i * dim, qv, dim) : 1.0f - dot(x + i * dim, qv, dim);
      inside += fabsf(est - want) <= bound + 1e-3f * fabsf(want);
      bias += est - want;
    }
  }
  cr_assert(inside >= (int)n * 95 / 100, "bound held for %d of %zu", inside, n);
  free(prep);
  free(codes);
  free(cen);
  free(qv);
  free(x);
  qv__quant_free(q);
}

Test(quant, rabitq_centered_l2) { rabitq_centered(QV_METRIC_L2); }
Test(quant, rabitq_centered_ip) { rabitq_centered(QV_METRIC_IP); }

Test(quant, binary_hamming) {
  const uint32_t dim = 100;
  const size_t n = 300;
  float *x = malloc(n * dim * sizeof *x);
  for (size_t i = 0; i < n * dim; i++) x[i] = urand() & 1 ? 1.0f : -1.0f;
  for (int simd = 0; simd < 2; simd++) {
    qv_quant *q = mk(QV_QUANT_BINARY, QV_METRIC_L2, dim, 0, 0, 1);
    q->simd = simd && __builtin_cpu_supports("popcnt");
    cr_assert_eq(qv__quant_train(q, x, n), QV_OK);
    uint8_t *codes = malloc(n * q->code_bytes);
    cr_assert_eq(qv__quant_encode(q, x, n, NULL, codes), QV_OK);
    void *prep = prep_buf(q);
    float d[300];
    qv__quant_prepare(q, x, prep);
    qv__quant_scan(q, prep, codes, n, d);
    for (size_t i = 0; i < n; i++) {
      unsigned h = 0;
      for (size_t j = 0; j < dim; j++) h += (x[j] > 0) != (x[i * dim + j] > 0);
      cr_assert_eq(d[i], 4.0f * (float)h, "row %zu: %g for hamming %u", i, d[i], h);
      cr_assert_eq(d[i], l2(x, x + i * dim, dim)); /* exact on sign data */
    }
    free(prep);
    free(codes);
    qv__quant_free(q);
  }
  free(x);
}

Test(quant, state_round_trip) {
  qv_quant_kind kinds[] = {QV_QUANT_SQ8, QV_QUANT_SQ4, QV_QUANT_PQ, QV_QUANT_RABITQ, QV_QUANT_BINARY};
  const uint32_t dim = 16;
  float *x = clustered(400, dim);
  char path[] = "/tmp/qv_quant_state_XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  for (size_t k = 0; k < 5; k++) {
    qv_quant *a = mk(kinds[k], QV_METRIC_L2, dim, 4, 4, 11), *b = mk(kinds[k], QV_METRIC_L2, dim, 4, 4, 99);
    cr_assert_eq(qv__quant_train(a, x, 400), QV_OK);
    qv_ckpt_writer w;
    qv_ckpt_hdr h = {.kind_tag = 0x54534554, .payload_version = 1, .dim = dim};
    cr_assert_eq(qv__ckpt_begin(&w, qv__mem_default(), path, &h), QV_OK);
    qv__quant_state_write(a, &w);
    cr_assert_eq(qv__ckpt_commit(&w), QV_OK);
    qv_ckpt_hdr got;
    void *payload = NULL;
    cr_assert_eq(qv__ckpt_read(qv__mem_default(), path, &h, &got, &payload), QV_OK);
    cr_assert_eq(qv__quant_state_read(b, payload, (size_t)got.payload_len), QV_OK, "%s", qv__quant_name(kinds[k]));
    cr_assert_eq(qv__quant_state_read(b, payload, (size_t)got.payload_len + 1), QV_CORRUPT);
    qv__free_aligned(qv__mem_default(), payload);
    uint8_t ca[128], cb[128];
    cr_assert_eq(qv__quant_encode(a, x, 4, NULL, ca), QV_OK);
    cr_assert_eq(qv__quant_encode(b, x, 4, NULL, cb), QV_OK);
    cr_assert_eq(memcmp(ca, cb, 4 * a->code_bytes), 0, "%s codes differ after a reload", qv__quant_name(kinds[k]));
    qv__quant_free(a);
    qv__quant_free(b);
  }
  unlink(path);
  free(x);
}

/* the shared sq kernels (sq_kern.h): AVX2 and scalar give the same integer sums */
Test(quant, sq_kernels_simd_equals_scalar) {
  cr_assert(__builtin_cpu_supports("avx2"), "this test compares the AVX2 kernels: it needs an AVX2 CPU");
  size_t dims[] = {1, 7, 16, 31, 64, 100, 784, 1000};
  for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
    size_t dim = dims[t], d16 = (dim + 15) / 16 * 16, P = d16 / 2, stride = d16 + 5;
    int16_t *w = calloc(d16, sizeof *w);
    int8_t *wl = calloc(P, 1), *wh = calloc(P, 1);
    uint8_t *c = malloc(4 * stride);
    for (size_t i = 0; i < dim; i++) w[i] = (int16_t)((int)(urand() % 65535u) - 32767);
    for (size_t k = 0; k < P; k++) {
      wl[k] = (int8_t)((int)(urand() % 255u) - 127);
      wh[k] = (int8_t)((int)(urand() % 255u) - 127);
    }
    for (size_t i = 0; i < 4 * stride; i++) c[i] = (uint8_t)urand();
    int32_t a[4], b[4];
    qv__sq_dot16x4_avx2(w, c, stride, dim, a);
    qv__sq_dot16x4_scalar(w, c, stride, dim, b);
    cr_assert_arr_eq(a, b, sizeof a, "dot16x4 dim %zu", dim);
    cr_assert_eq(qv__sq_dot16_avx2(w, c, dim), qv__sq_dot16_scalar(w, c, dim), "dot16 dim %zu", dim);
    cr_assert_eq(qv__sq_dot16n_avx2(w, c, d16), qv__sq_dot16n_scalar(w, c, d16), "dot16n dim %zu", dim);
    qv__sq_dot16hlx4_avx2(w, c, c + 3, stride, d16, a);
    qv__sq_dot16hlx4_scalar(w, c, c + 3, stride, d16, b);
    cr_assert_arr_eq(a, b, sizeof a, "dot16hlx4 dim %zu", dim);
    qv__sq_dot8px4_avx2(wl, wh, c, stride, P, a);
    qv__sq_dot8px4_scalar(wl, wh, c, stride, P, b);
    cr_assert_arr_eq(a, b, sizeof a, "dot8px4 dim %zu", dim);
    cr_assert_eq(qv__sq_dot8p_avx2(wl, wh, c, P), qv__sq_dot8p_scalar(wl, wh, c, P), "dot8p dim %zu", dim);
    free(w);
    free(wl);
    free(wh);
    free(c);
  }
}
