/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_hnsw_exact.c -- lossless codes (index/hnsw: ix->exact, quant/sq8.c: the integer grid).
 * Integer data encodes exactly on both code widths; such an index answers without reading the
 * vector source, with the same ids and bit-identical distances as the re-rank on the source's
 * floats; one vector that its code does not hold clears the flag for good (after removing it,
 * after save / load); a range widened past the grid clears it; checkpoints keep it.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hnsw_int.h"
#include "index.h"

#define DIM 24
#define NB 2000
#define NQ 50
#define K 10

static const qv_index_vt *vt = &qv__index_hnsw;

static uint64_t rng_state;
static uint32_t urand(uint32_t n) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)((rng_state >> 33) % n);
}

/* integer vectors: dims 0..15 in 0..255 (pixels), 16..19 in 0..9, 20..23 in -100..27 */
static float *int_data(size_t n, uint64_t seed, uint32_t levels) {
  rng_state = seed;
  float *x = malloc(n * DIM * sizeof *x);
  for (size_t i = 0; i < n; i++)
    for (int j = 0; j < DIM; j++) {
      uint32_t span = j < 16 ? levels : j < 20 ? 10 : 128;
      if (span > levels) span = levels;
      x[i * DIM + j] = (float)urand(span) - (j >= 20 ? (float)span / 2 : 0.0f);
    }
  return x;
}

static const float *g_rows;
static size_t g_nrows, g_reads;
static qv_status rows_get(void *ctx, uint32_t s, float *out) {
  (void)ctx;
  g_reads++;
  if (!g_rows || s >= g_nrows) return QV_NOTFOUND;
  memcpy(out, g_rows + (size_t)s * DIM, DIM * sizeof(float));
  return QV_OK;
}
static const qv_vec_source rows_src = {NULL, rows_get};

#define LEAN8 "{\"M\":16,\"ef_construction\":80,\"quantizer\":\"sq8\",\"keep_floats\":false}"
#define LEAN4 "{\"M\":16,\"ef_construction\":80,\"quantizer\":\"sq4\",\"keep_floats\":false}"
#define KEEP8 "{\"M\":16,\"ef_construction\":80,\"quantizer\":\"sq8\",\"keep_floats\":true}"

static qv_index *build(qv_metric m, const char *json, const float *x, size_t n) {
  qv_index_params p = {qv__mem_default(), m, DIM, json, 1, &rows_src, NULL, 0};
  qv_index *ix = NULL;
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  uint32_t *slots = malloc(n * sizeof *slots);
  for (size_t i = 0; i < n; i++) slots[i] = (uint32_t)i;
  cr_assert_eq(vt->add(ix, slots, x, n), QV_OK);
  free(slots);
  return ix;
}

/*
 * ix (exact) and ref (the same graph, exact cleared: the re-rank reads the source) give the
 * same ids and bit-identical distances, equal to the kernel's distance on the stored floats;
 * ix reads nothing from the source.
 */
static void same_answers(qv_index *ix, qv_index *ref, const float *x, const float *q, uint32_t ef) {
  cr_assert(ix->exact);
  ref->exact = 0;
  for (size_t i = 0; i < NQ; i++) {
    qv_hit a[K], b[K];
    size_t na = 0, nb = 0;
    qv_search_req req = {q + i * DIM, K, ef, NULL, NULL, NULL};
    size_t reads = g_reads;
    cr_assert_eq(vt->search(ix, &req, a, &na), QV_OK);
    cr_assert_eq(g_reads, reads, "an exact index read the vector source");
    cr_assert_eq(vt->search(ref, &req, b, &nb), QV_OK);
    cr_assert(!ref->lean || g_reads > reads, "the reference re-ranked from the source");
    cr_assert_eq(na, nb);
    for (size_t j = 0; j < na; j++) {
      cr_assert_eq(a[j].slot, b[j].slot, "query %zu rank %zu", i, j);
      cr_assert_eq(memcmp(&a[j].dist, &b[j].dist, sizeof(float)), 0, "%.9g vs %.9g", a[j].dist, b[j].dist);
      float e = dist_exact(ix, q + i * DIM, x + (size_t)a[j].slot * DIM);
      cr_assert_eq(memcmp(&a[j].dist, &e, sizeof(float)), 0, "%.9g vs float %.9g", a[j].dist, e);
    }
  }
}

static void check_width(const char *json, uint32_t levels, qv_metric m) {
  float *x = int_data(NB, 5, levels), *q = int_data(NQ, 6, levels);
  g_rows = x;
  g_nrows = NB;
  qv_index *ix = build(m, json, x, NB), *ref = build(m, json, x, NB);
  cr_assert(ix->exact, "integer data on the grid");
  for (size_t s = 0; s < NB; s += 97) {
    float dec[DIM];
    hnsw_sq8_decode(&ix->q8, code_of(ix, (uint32_t)s), dec);
    cr_assert_eq(memcmp(dec, x + s * DIM, sizeof dec), 0, "slot %zu decodes to its vector", s);
  }
  same_answers(ix, ref, x, q, 64);
  vt->destroy(ix);
  vt->destroy(ref);
  free(x);
  free(q);
}

Test(hnsw_exact, sq8_l2_same_answers_without_reads) { check_width(LEAN8, 256, QV_METRIC_L2); }
Test(hnsw_exact, sq8_ip_same_answers_without_reads) { check_width(LEAN8, 256, QV_METRIC_IP); }
Test(hnsw_exact, sq4_l2_same_answers_without_reads) { check_width(LEAN4, 16, QV_METRIC_L2); }
Test(hnsw_exact, keep_floats_same_answers) { check_width(KEEP8, 256, QV_METRIC_L2); }

/* Without the 1.5 k floor an exact index searches a pool of ef = k, and still answers k. */
Test(hnsw_exact, ef_k_answers_k) {
  float *x = int_data(NB, 7, 256), *q = int_data(NQ, 8, 256);
  g_rows = x;
  g_nrows = NB;
  qv_index *ix = build(QV_METRIC_L2, LEAN8, x, NB);
  cr_assert(ix->exact);
  for (size_t i = 0; i < NQ; i++) {
    qv_hit a[K];
    size_t na = 0;
    qv_search_req req = {q + i * DIM, K, K, NULL, NULL, NULL};
    cr_assert_eq(vt->search(ix, &req, a, &na), QV_OK);
    cr_assert_eq(na, K);
    for (size_t j = 1; j < na; j++) cr_assert_leq(a[j - 1].dist, a[j].dist);
  }
  vt->destroy(ix);
  free(x);
  free(q);
}

/* Float data (and cosine's unit vectors) is not on any grid. */
Test(hnsw_exact, float_data_is_not_exact) {
  float *x = int_data(NB, 9, 256);
  for (size_t i = 0; i < NB * DIM; i++) x[i] = x[i] * 0.37f + 0.01f;
  g_rows = x;
  g_nrows = NB;
  qv_index *ix = build(QV_METRIC_L2, LEAN8, x, NB);
  cr_assert(!ix->exact);
  vt->destroy(ix);
  float *y = int_data(NB, 9, 256);
  g_rows = y; /* the index holds unit vectors (the collection normalises cosine data) */
  for (size_t i = 0; i < NB; i++) {
    double s = 0;
    for (int j = 0; j < DIM; j++) s += (double)y[i * DIM + j] * y[i * DIM + j];
    for (int j = 0; j < DIM && s > 0; j++) y[i * DIM + j] = (float)(y[i * DIM + j] / sqrt(s));
  }
  ix = build(QV_METRIC_COSINE, LEAN8, y, NB);
  cr_assert(!ix->exact);
  vt->destroy(ix);
  free(x);
  free(y);
}

static void save_load(qv_index **ix, const char *json) {
  char path[] = "/tmp/qv_hnsw_exact_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  cr_assert_eq(vt->save(*ix, path, 7), QV_OK);
  vt->destroy(*ix);
  qv_index_params p = {qv__mem_default(), QV_METRIC_L2, DIM, json, 1, &rows_src, NULL, 0};
  uint64_t seq = 0;
  *ix = NULL;
  cr_assert_eq(vt->load(&p, path, ix, &seq), QV_OK);
  cr_assert_eq(seq, 7);
  unlink(path);
}

/* The flag survives a checkpoint; one inexact vector clears it for good. */
Test(hnsw_exact, one_inexact_vector_clears_for_good) {
  float *x = int_data(NB + 1, 11, 256), *q = int_data(NQ, 12, 256);
  g_rows = x;
  g_nrows = NB;
  qv_index *ix = build(QV_METRIC_L2, LEAN8, x, NB);
  cr_assert(ix->exact);
  save_load(&ix, LEAN8);
  cr_assert(ix->exact, "kept by the checkpoint");
  qv_index *ref = build(QV_METRIC_L2, LEAN8, x, NB);
  same_answers(ix, ref, x, q, 40);
  vt->destroy(ref);
  /* one vector off the grid (inside the range: 0.5 is between two steps) */
  float *v = x + (size_t)NB * DIM;
  v[3] = 10.5f;
  g_nrows = NB + 1;
  uint32_t s = NB;
  cr_assert_eq(vt->add(ix, &s, v, 1), QV_OK);
  cr_assert(!ix->exact);
  cr_assert_eq(vt->remove(ix, s), QV_OK);
  cr_assert(!ix->exact, "removing it does not bring it back");
  v[3] = 10.0f; /* the slot rewritten with an exact vector: still off */
  cr_assert_eq(vt->add(ix, &s, v, 1), QV_OK);
  cr_assert(!ix->exact);
  save_load(&ix, LEAN8);
  cr_assert(!ix->exact, "nor does a checkpoint");
  /* the source's floats are read again, and the answers stay right */
  size_t reads = g_reads;
  qv_hit a[K];
  size_t na = 0;
  qv_search_req req = {q, K, 40, NULL, NULL, NULL};
  cr_assert_eq(vt->search(ix, &req, a, &na), QV_OK);
  cr_assert_gt(g_reads, reads);
  for (size_t j = 0; j < na; j++) {
    float e = dist_exact(ix, q, x + (size_t)a[j].slot * DIM);
    cr_assert_eq(memcmp(&a[j].dist, &e, sizeof(float)), 0);
  }
  vt->destroy(ix);
  free(x);
  free(q);
}

/* An update that moves a vector off the grid clears it too (add on a live slot). */
Test(hnsw_exact, inexact_update_clears) {
  float *x = int_data(NB, 13, 256);
  g_rows = x;
  g_nrows = NB;
  qv_index *ix = build(QV_METRIC_L2, KEEP8, x, NB);
  cr_assert(ix->exact);
  float v[DIM];
  memcpy(v, x + 5 * DIM, sizeof v);
  v[0] = -0.0f; /* bit for bit: a negative zero does not come back from a code */
  uint32_t s = 5;
  cr_assert_eq(vt->add(ix, &s, v, 1), QV_OK);
  cr_assert(!ix->exact);
  vt->destroy(ix);
  free(x);
}

/*
 * While the index is small a batch may widen the range: integer dimensions stay on the grid
 * (the re-encoded nodes still decode exactly) until one spans more than 255 steps.
 */
Test(hnsw_exact, widening_keeps_grid_until_too_wide) {
  float *x = int_data(NB, 15, 256);
  for (size_t i = 0; i < 500; i++)
    for (int j = 0; j < 16; j++) x[i * DIM + j] = floorf(x[i * DIM + j] / 4) + 20; /* 20..83 first */
  g_rows = x;
  g_nrows = NB;
  qv_index_params p = {qv__mem_default(), QV_METRIC_L2, DIM, LEAN8, 1, &rows_src, NULL, 0};
  qv_index *ix = NULL;
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  uint32_t slots[NB];
  for (uint32_t i = 0; i < NB; i++) slots[i] = i;
  cr_assert_eq(vt->add(ix, slots, x, 500), QV_OK);
  cr_assert(ix->exact);
  cr_assert_eq(ix->q8.lo[0], 20.0f);
  cr_assert_eq(ix->q8.scale[0], 1.0f);
  cr_assert_eq(vt->add(ix, slots + 500, x + 500 * DIM, NB - 500), QV_OK); /* lo moves down to 0 */
  cr_assert(ix->exact);
  cr_assert_eq(ix->q8.lo[0], 0.0f);
  for (uint32_t s = 0; s < NB; s += 37) {
    float dec[DIM];
    hnsw_sq8_decode(&ix->q8, code_of(ix, s), dec);
    cr_assert_eq(memcmp(dec, x + (size_t)s * DIM, sizeof dec), 0, "slot %u re-encoded exactly", s);
  }
  float v[DIM];
  memcpy(v, x, sizeof v);
  v[0] = 300.0f; /* 0..300: more than 255 steps, dimension 0 leaves the grid */
  uint32_t s = 1;
  cr_assert_eq(vt->add(ix, &s, v, 1), QV_OK);
  cr_assert(!ix->exact);
  vt->destroy(ix);
  free(x);
}

/* The AVX2 decode gives the scalar loop's floats bit for bit (on any grid, not only 1-steps). */
Test(hnsw_exact, avx2_decode_matches_scalar) {
  hnsw_sq8 q;
  uint32_t dim = 37; /* a tail past the 8-wide steps */
  cr_assert_eq(hnsw_sq8_init(&q, qv__mem_default(), QV_METRIC_L2, dim, 8), 0);
  rng_state = 3;
  float *v = malloc(200 * dim * sizeof *v);
  for (size_t i = 0; i < 200 * dim; i++) v[i] = (float)urand(100000) * 0.0137f - 511.3f;
  hnsw_sq8_maybe_train(&q, v, 200, 0);
  unsigned char code[4 + 37];
  float a[37], b[37];
  for (size_t r = 0; r < 200; r++) {
    hnsw_sq8_encode(&q, v + r * dim, code);
    q.dec_avx2 = 0;
    hnsw_sq8_decode(&q, code, a);
    q.dec_avx2 = 1;
    if (!__builtin_cpu_supports("avx2")) q.dec_avx2 = 0;
    hnsw_sq8_decode(&q, code, b);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "row %zu", r);
  }
  free(v);
  hnsw_sq8_free(&q, qv__mem_default());
}

/*
 * The vectorised query preparation gives the scalar loop's integer weights (8-bit: int16 in
 * dimension order; 4-bit: in the nibble lanes), so the code distances do not change.
 */
static void check_prepare(uint32_t bits, uint32_t dim) {
  hnsw_sq8 q;
  cr_assert_eq(hnsw_sq8_init(&q, qv__mem_default(), QV_METRIC_L2, dim, bits), 0);
  rng_state = 17;
  float *v = malloc(300 * dim * sizeof *v);
  for (size_t i = 0; i < 300 * dim; i++) v[i] = (float)urand(100000) * 0.0137f - 511.3f;
  hnsw_sq8_maybe_train(&q, v, 300, 0);
  void *a = aligned_alloc(64, hnsw_sq8_query_bytes(&q)), *b = aligned_alloc(64, hnsw_sq8_query_bytes(&q));
  for (size_t r = 0; r < 20; r++) {
    const float *x = v + r * dim;
    memset(a, 0x55, hnsw_sq8_query_bytes(&q));
    memset(b, 0x77, hnsw_sq8_query_bytes(&q));
    hnsw_sq8_prepare(&q, x, a);
    const int16_t *wa = (const int16_t *)(const void *)((const float *)a + 16);
    int16_t *wb = (int16_t *)(void *)((float *)b + 16);
    if (bits == 4) { /* the scalar path: no lane table */
      uint32_t *lane = q.lane4;
      q.lane4 = NULL;
      hnsw_sq8_prepare(&q, x, b);
      q.lane4 = lane;
    } else { /* the scalar formula */
      float mx = 0;
      for (uint32_t i = 0; i < dim; i++)
        if (fabsf(x[i] * q.scale[i]) > mx) mx = fabsf(x[i] * q.scale[i]);
      float ws = q.w_max / mx;
      for (uint32_t i = 0; i < q.dim_pad; i++) wb[i] = i < dim ? (int16_t)lrintf(x[i] * q.scale[i] * ws) : 0;
      ((float *)b)[1] = 1.0f / ws;
    }
    cr_assert_eq(memcmp(wa, wb, q.dim_pad * sizeof *wa), 0, "bits %u dim %u row %zu", bits, dim, r);
    cr_assert_eq(((const float *)a)[1], ((const float *)b)[1]);
  }
  free(a);
  free(b);
  free(v);
  hnsw_sq8_free(&q, qv__mem_default());
}

Test(hnsw_exact, vector_prepare_same_weights) {
  check_prepare(8, 37);
  check_prepare(8, 784);
  check_prepare(4, 37);
  check_prepare(4, 784);
  check_prepare(4, 64);
}
