/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_hnsw_graph.c -- the graph-search changes of issue 18: the integer traversal kernels
 * (quant/sq8.c) against the float-query kernels they replace, the exact re-rank limit, and
 * loading files written with 64-byte float rows (before the 16-byte stride).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dist.h"
#include "index.h"
#include "sq8.h"

static const qv_index_vt *vt = &qv__index_hnsw;
static uint64_t rs = 88172645463325252ull;
static float frand(void) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (float)((rs >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* The integer kernel (dot16 on AVX2, dot8 on VNNI) and the float-query kernel agree to within
 * the query quantization, for every tail length. */
static void check_kernels(qv_metric m) {
  static const uint32_t dims[] = {1, 3, 4, 5, 7, 8, 12, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 784};
  for (size_t t = 0; t < sizeof dims / sizeof *dims; t++) {
    uint32_t dim = dims[t];
    size_t n = 64;
    float *x = malloc(n * dim * sizeof *x), *q = malloc(dim * sizeof *q);
    for (size_t i = 0; i < n * dim; i++) x[i] = frand();
    for (uint32_t i = 0; i < dim; i++) q[i] = frand();
    setenv("QV_HNSW_VNNI", "1", 1);
    hnsw_sq8 a, b;
    cr_assert_eq(hnsw_sq8_init(&a, qv__mem_default(), m, dim, 8), 0);
    setenv("QV_HNSW_VNNI", "0", 1);
    cr_assert_eq(hnsw_sq8_init(&b, qv__mem_default(), m, dim, 8), 0);
    unsetenv("QV_HNSW_VNNI");
    cr_assert_null(b.dot8);
    cr_assert_null(b.dot16);
    hnsw_sq8_maybe_train(&a, x, n, 0);
    hnsw_sq8_maybe_train(&b, x, n, 0);
    /* both kernels get exactly the code (they must not read past it: ASan catches it; the
     * float-query kernels used to read up to dim_pad bytes) */
    unsigned char *code = malloc(4 + dim), *padded = malloc(4 + dim);
    void *pa = qv__malloc_aligned(qv__mem_default(), hnsw_sq8_query_bytes(&a));
    void *pb = qv__malloc_aligned(qv__mem_default(), hnsw_sq8_query_bytes(&b));
    hnsw_sq8_prepare(&a, q, pa);
    hnsw_sq8_prepare(&b, q, pb);
    for (size_t r = 0; r < n; r++) {
      hnsw_sq8_encode(&a, x + r * dim, code);
      memcpy(padded, code, 4 + dim);
      float da = hnsw_sq8_dist(&a, pa, code), db = hnsw_sq8_dist(&b, pb, padded);
      float scale = 0;
      for (uint32_t i = 0; i < dim; i++) scale += fabsf(q[i]) * (fabsf(x[r * dim + i]) + 1.0f);
      /* dot16: 12-bit weights, relative error ~ 1/4094 of the largest weight per dimension;
       * dot8 (VNNI): 8-bit weights */
      float tol = (a.dot8 ? 2e-2f : 2e-3f) * scale + 1e-4f;
      cr_assert(fabsf(da - db) <= tol, "metric %d dim %u row %zu: %g vs %g (tol %g)", m, dim, r, da, db, tol);
    }
    if (!strcmp(qv__kernels()->isa, "avx2") || !strcmp(qv__kernels()->isa, "avx512"))
      cr_assert(a.dot8 || a.dot16, "an integer kernel is used on %s", qv__kernels()->isa);
    qv__free_aligned(qv__mem_default(), pa);
    qv__free_aligned(qv__mem_default(), pb);
    free(code);
    free(padded);
    hnsw_sq8_free(&a, qv__mem_default());
    hnsw_sq8_free(&b, qv__mem_default());
    free(x);
    free(q);
  }
}

Test(hnsw_graph, int_kernels_l2) { check_kernels(QV_METRIC_L2); }
Test(hnsw_graph, int_kernels_ip) { check_kernels(QV_METRIC_IP); }

#define DIM 20 /* 80-byte rows: 16-byte stride 80, the old 64-byte stride 128 */
#define NB 2000

/* The rows a collection would hand the index through its vector source (slot = row). */
static const float *g_rows;
static size_t g_nrows;
static qv_status rows_get(void *ctx, uint32_t s, float *out) {
  (void)ctx;
  if (!g_rows || s >= g_nrows) return QV_NOTFOUND;
  memcpy(out, g_rows + (size_t)s * DIM, DIM * sizeof(float));
  return QV_OK;
}
static const qv_vec_source rows_src = {NULL, rows_get, NULL};

static qv_index_params params(void) {
  qv_index_params p = {qv__mem_default(), QV_METRIC_L2, DIM,
                       "{\"M\":8,\"ef_construction\":80,\"ef_search\":64,\"quantizer\":\"sq8\",\"keep_floats\":true}", 2, &rows_src};
  return p;
}

static float *data(size_t n) {
  float *x = malloc(n * DIM * sizeof *x);
  for (size_t i = 0; i < n * DIM; i++) x[i] = frand();
  return x;
}

static qv_index *build(const float *x, size_t n) {
  qv_index_params p = params();
  qv_index *ix = NULL;
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  uint32_t *sl = malloc(n * sizeof *sl);
  for (size_t i = 0; i < n; i++) sl[i] = (uint32_t)i;
  cr_assert_eq(vt->add(ix, sl, x, n), QV_OK);
  free(sl);
  return ix;
}

/* the index's file header (io.c), to rewrite a file in the older row stride */
typedef struct file_hdr {
  uint32_t m, m0, efc, efs, n, ep;
  int32_t max_level;
  uint32_t sq8, bsz, code_off, vstride, q8_bytes;
  uint64_t up_words, n_live;
} file_hdr;

static size_t a64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Rewrite the sq8 index file src (payload v2: no float rows) as dst in payload v1, with the
 * float rows of x (as 0.1 wrote them) at stride new_stride. */
static void restride(const char *src, const char *dst, uint32_t new_stride, const float *x) {
  qv_ckpt_hdr want = {0x57534e48u, 2, DIM, QV_METRIC_L2, 0, 0}, got;
  void *pl = NULL;
  cr_assert_eq(qv__ckpt_read(qv__mem_default(), src, &want, &got, &pl), QV_OK);
  const unsigned char *p = pl;
  file_hdr h;
  memcpy(&h, p, sizeof h);
  cr_assert_eq(h.sq8, 8);
  cr_assert_eq(h.vstride, 80, "rows are written with the 16-byte stride");
  size_t n = h.n, o_state = 64, o_level = a64(o_state + n), o_l0 = a64(o_level + n), o_vecs = a64(o_l0 + n * h.bsz);
  size_t o_q8 = o_vecs, o_up = a64(o_q8 + h.q8_bytes);
  file_hdr h2 = h;
  h2.vstride = new_stride;
  size_t n_vecs = a64(o_vecs + n * new_stride), n_q8 = a64(n_vecs + h.q8_bytes), total = n_q8 + h.up_words * 4;
  unsigned char *out = calloc(1, total);
  memcpy(out, &h2, sizeof h2);
  memcpy(out + 64, p + 64, o_vecs - 64); /* state, level, l0 */
  for (size_t s = 0; s < n; s++) memcpy(out + o_vecs + s * new_stride, x + s * DIM, DIM * sizeof(float));
  memcpy(out + n_vecs, p + o_q8, h.q8_bytes);
  memcpy(out + n_q8, p + o_up, h.up_words * 4);
  qv_ckpt_hdr ch = {0x57534e48u, 1, DIM, QV_METRIC_L2, got.seq, total};
  qv_ckpt_writer w;
  cr_assert_eq(qv__ckpt_begin(&w, qv__mem_default(), dst, &ch), QV_OK);
  qv__ckpt_write(&w, out, total);
  cr_assert_eq(qv__ckpt_commit(&w), QV_OK);
  free(out);
  qv__free_aligned(qv__mem_default(), pl);
}

Test(hnsw_graph, loads_files_with_64_byte_rows) {
  float *x = data(NB), *q = data(50), *more = data(300);
  g_rows = x;
  g_nrows = NB;
  qv_index *ix = build(x, NB);
  char a[128], b[128], c[128];
  snprintf(a, sizeof a, "/tmp/qv_test_hnsw_graph_%d_a", (int)getpid());
  snprintf(b, sizeof b, "/tmp/qv_test_hnsw_graph_%d_b", (int)getpid());
  snprintf(c, sizeof c, "/tmp/qv_test_hnsw_graph_%d_c", (int)getpid());
  cr_assert_eq(vt->save(ix, a, 5), QV_OK);
  restride(a, b, 128, x); /* the layout before: 64-byte aligned rows */
  restride(a, c, 96, x);  /* neither layout: refused */
  qv_index_params p = params();
  qv_index *old = NULL, *bad = NULL;
  cr_assert_eq(vt->load(&p, b, &old, NULL), QV_OK);
  cr_assert_eq(vt->load(&p, c, &bad, NULL), QV_CORRUPT);
  cr_assert_null(bad);
  for (size_t i = 0; i < 50; i++) {
    qv_hit g1[10], g2[10];
    size_t n1, n2;
    qv_search_req req = {q + i * DIM, 10, 40, NULL, NULL, NULL};
    vt->search(ix, &req, g1, &n1);
    vt->search(old, &req, g2, &n2);
    cr_assert_eq(n1, n2);
    for (size_t j = 0; j < n1; j++) {
      cr_assert_eq(g1[j].slot, g2[j].slot);
      cr_assert_eq(g1[j].dist, g2[j].dist);
    }
  }
  /* it keeps its stride as it grows */
  uint32_t sl[300];
  for (uint32_t i = 0; i < 300; i++) sl[i] = NB + i;
  cr_assert_eq(vt->add(old, sl, more, 300), QV_OK);
  for (uint32_t s = 0; s < NB + 300; s += 7) {
    const float *v = vt->vector(old, s);
    cr_assert_not_null(v);
    cr_assert_eq(memcmp(v, s < NB ? x + (size_t)s * DIM : more + (size_t)(s - NB) * DIM, DIM * sizeof(float)), 0);
  }
  vt->destroy(old);
  vt->destroy(ix);
  unlink(a);
  unlink(b);
  unlink(c);
  free(x);
  free(q);
  free(more);
}

/* Re-ranking only the 3k best by code distance finds (nearly) what re-ranking all ef does. */
Test(hnsw_graph, rerank_limit_keeps_recall) {
  float *x = data(NB), *q = data(100);
  qv_index *ix = build(x, NB);
  cr_assert_eq(vt->set_param(ix, "rerank", -1), QV_INVALID);
  cr_assert_eq(vt->set_param(ix, "rerank", 2.5), QV_INVALID);
  size_t same = 0, tot = 0;
  for (size_t i = 0; i < 100; i++) {
    qv_hit g1[10], g2[10];
    size_t n1, n2;
    qv_search_req req = {q + i * DIM, 10, 200, NULL, NULL, NULL};
    cr_assert_eq(vt->set_param(ix, "rerank", 0), QV_OK);
    vt->search(ix, &req, g1, &n1);
    cr_assert_eq(vt->set_param(ix, "rerank", 3), QV_OK);
    vt->search(ix, &req, g2, &n2);
    cr_assert_eq(n1, 10);
    cr_assert_eq(n2, 10);
    for (size_t j = 0; j < n2; j++) {
      /* reported distances stay exact */
      float d = qv__metric_dist(qv__kernels(), QV_METRIC_L2, q + i * DIM, x + (size_t)g2[j].slot * DIM, DIM);
      cr_assert_float_eq(g2[j].dist, d, 1e-4f * (1 + d));
      for (size_t t = 0; t < n1; t++) same += g1[t].slot == g2[j].slot;
    }
    tot += 10;
  }
  cr_log_info("rerank 3k vs all ef=200: %zu/%zu of the results agree", same, tot);
  cr_assert(same >= tot * 97 / 100, "%zu/%zu", same, tot);
  vt->destroy(ix);
  free(x);
  free(q);
}
