/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_index_flat.c -- the exact index through its vtable: slot bookkeeping (add, replace,
 * remove, reuse, sparse slots), search against brute force with and without a predicate,
 * search_batch equal to per-query search to the bit (ids and distances, ties included, on
 * 0..255 integer data where the GEMM expansion alone is not exact), and checkpoints.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"
#include "index.h"

static uint64_t g_rng = 12345;

static uint32_t urand(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(g_rng >> 33);
}

static float frand(void) { return (float)urand() / 2147483648.0f * 2.0f - 1.0f; }

static qv_index *make(qv_metric m, uint32_t dim) {
  qv_index_params p = {.mem = qv__mem_default(), .metric = m, .dim = dim, .n_threads = 2};
  qv_index *ix = NULL;
  cr_assert_eq(qv__index_flat.create(&p, &ix), QV_OK);
  return ix;
}

/* n random vectors; integer pixels 0..255 when pixels, unit length for cosine. */
static float *make_vecs(size_t n, uint32_t dim, qv_metric m, int pixels) {
  float *v = malloc(n * dim * sizeof *v);
  for (size_t i = 0; i < n * dim; i++) v[i] = pixels ? (float)(urand() % 256) : frand();
  if (m == QV_METRIC_COSINE)
    for (size_t i = 0; i < n; i++) qv__normalize(v + i * dim, dim);
  return v;
}

static void add_all(qv_index *ix, const float *v, size_t n) {
  uint32_t *slots = malloc(n * sizeof *slots);
  for (size_t i = 0; i < n; i++) slots[i] = (uint32_t)i;
  cr_assert_eq(qv__index_flat.add(ix, slots, v, n), QV_OK);
  free(slots);
}

typedef struct brute_ctx {
  const uint8_t *alive;
  int even_only;
} brute_ctx;

static int pred_even(void *ctx, uint32_t slot) {
  (void)ctx;
  return slot % 2 == 0;
}

/* Brute force: all slots with alive[s] (and even if asked), sorted by (dist, slot). */
static size_t brute(const float *v, size_t n, uint32_t dim, qv_metric m, const float *q,
                    const brute_ctx *c, size_t k, qv_hit *out) {
  qv_hit *all = malloc(n * sizeof *all);
  size_t na = 0;
  for (size_t s = 0; s < n; s++) {
    if (!c->alive[s] || (c->even_only && s % 2)) continue;
    all[na].dist = qv__metric_dist(qv__kernels(), m, q, v + s * dim, dim);
    all[na++].slot = (uint32_t)s;
  }
  qsort(all, na, sizeof *all, qv__hit_cmp);
  size_t r = na < k ? na : k;
  memcpy(out, all, r * sizeof *out);
  free(all);
  return r;
}

static void assert_hits_eq(const qv_hit *a, size_t na, const qv_hit *b, size_t nb, const char *what) {
  cr_assert_eq(na, nb, "%s: %zu hits vs %zu", what, na, nb);
  for (size_t i = 0; i < na; i++) {
    cr_assert_eq(a[i].slot, b[i].slot, "%s: rank %zu slot %u vs %u", what, i, a[i].slot, b[i].slot);
    cr_assert(memcmp(&a[i].dist, &b[i].dist, sizeof(float)) == 0, "%s: rank %zu dist %.9g vs %.9g",
              what, i, (double)a[i].dist, (double)b[i].dist);
  }
}

Test(index_flat, vt_lookup) {
  cr_assert_eq(qv__index_find("flat"), &qv__index_flat);
  cr_assert_str_eq(qv__index_flat.name, "flat");
  cr_assert_eq(qv__index_find("hnsw"), &qv__index_hnsw);
  cr_assert_null(qv__index_find("nope"));
  cr_assert_null(qv__index_find(NULL));
  /* every registered kind declares what the collection needs to know of it */
  for (const qv_index_vt *const *k = qv__index_all(); *k; k++) {
    cr_assert_not_null((*k)->params, "%s", (*k)->name);
    cr_assert((*k)->metrics != 0, "%s", (*k)->name);
    cr_assert_not_null((*k)->create);
  }
}

Test(index_flat, create_rejects_bad_params) {
  qv_index_params p = {.mem = qv__mem_default(), .metric = QV_METRIC_L2, .dim = 0};
  qv_index *ix = (qv_index *)1;
  cr_assert_eq(qv__index_flat.create(&p, &ix), QV_INVALID);
  cr_assert_null(ix);
  qv__index_flat.destroy(NULL);
}

Test(index_flat, slots_add_replace_remove_reuse) {
  uint32_t dim = 5;
  qv_index *ix = make(QV_METRIC_L2, dim);
  float *v = make_vecs(10, dim, QV_METRIC_L2, 0);
  add_all(ix, v, 10);
  qv_index_stats st = {0};
  qv__index_flat.stats(ix, &st);
  cr_assert_eq(st.count, 10);
  cr_assert_eq(st.n_slots, 10);
  cr_assert_eq(st.n_tombstones, 0);
  cr_assert_geq(st.mem_vectors, 10 * dim * sizeof(float));
  cr_assert_eq(memcmp(qv__index_flat.vector(ix, 3), v + 3 * dim, dim * sizeof(float)), 0);

  /* replace slot 3 */
  float nv[5] = {9, 9, 9, 9, 9};
  uint32_t s3 = 3;
  cr_assert_eq(qv__index_flat.add(ix, &s3, nv, 1), QV_OK);
  qv__index_flat.stats(ix, &st);
  cr_assert_eq(st.count, 10);
  cr_assert_eq(memcmp(qv__index_flat.vector(ix, 3), nv, sizeof nv), 0);

  /* remove, double remove, out of range */
  cr_assert_eq(qv__index_flat.remove(ix, 3), QV_OK);
  cr_assert_eq(qv__index_flat.remove(ix, 3), QV_NOTFOUND);
  cr_assert_eq(qv__index_flat.remove(ix, 1000), QV_NOTFOUND);
  cr_assert_null(qv__index_flat.vector(ix, 3));
  cr_assert_null(qv__index_flat.vector(ix, 1000));
  qv__index_flat.stats(ix, &st);
  cr_assert_eq(st.count, 9);
  cr_assert_eq(st.n_tombstones, 1);

  /* removed slot never found: query exactly at nv */
  qv_hit out[10];
  size_t n_out;
  qv_search_req req = {.q = nv, .k = 10};
  cr_assert_eq(qv__index_flat.search(ix, &req, out, &n_out), QV_OK);
  cr_assert_eq(n_out, 9);
  for (size_t i = 0; i < n_out; i++) cr_assert_neq(out[i].slot, 3);

  /* reuse */
  cr_assert_eq(qv__index_flat.add(ix, &s3, nv, 1), QV_OK);
  cr_assert_eq(qv__index_flat.search(ix, &req, out, &n_out), QV_OK);
  cr_assert_eq(out[0].slot, 3);
  cr_assert_eq(out[0].dist, 0.0f);

  /* a sparse slot far away: the gap slots are dead slots below n_slots */
  uint32_t far = 5000;
  cr_assert_eq(qv__index_flat.add(ix, &far, nv, 1), QV_OK);
  qv__index_flat.stats(ix, &st);
  cr_assert_eq(st.count, 11);
  cr_assert_eq(st.n_slots, 5001);
  cr_assert_eq(qv__index_flat.search(ix, &req, out, &n_out), QV_OK);
  cr_assert_eq(n_out, 10);
  cr_assert(out[0].slot == 3 && out[1].slot == 5000 && out[1].dist == 0.0f);
  /* removing the top slot trims n_slots */
  cr_assert_eq(qv__index_flat.remove(ix, far), QV_OK);
  qv__index_flat.stats(ix, &st);
  cr_assert_eq(st.n_slots, 10);
  cr_assert_eq(qv__index_flat.set_param(ix, "ef_search", 10), QV_INVALID);
  qv__index_flat.destroy(ix);
  free(v);
}

Test(index_flat, empty_and_k_zero) {
  qv_index *ix = make(QV_METRIC_L2, 3);
  float q[3] = {0, 0, 0};
  qv_hit out[4];
  size_t n_out = 99, counts[2] = {9, 9};
  qv_search_req req = {.q = q, .k = 4};
  cr_assert_eq(qv__index_flat.search(ix, &req, out, &n_out), QV_OK);
  cr_assert_eq(n_out, 0);
  cr_assert_eq(qv__index_flat.search_batch(ix, q, 1, 4, 0, 2, out, counts), QV_OK);
  cr_assert_eq(counts[0], 0);
  float v[3] = {1, 1, 1};
  add_all(ix, v, 1);
  req.k = 0;
  cr_assert_eq(qv__index_flat.search(ix, &req, out, &n_out), QV_OK);
  cr_assert_eq(n_out, 0);
  qv__index_flat.destroy(ix);
}

/* search (and with a predicate) vs brute force, every metric, k above and below count. */
static void check_search(qv_metric m) {
  uint32_t dim = 23;
  size_t n = 700;
  qv_index *ix = make(m, dim);
  float *v = make_vecs(n, dim, m, 0);
  add_all(ix, v, n);
  uint8_t *alive = malloc(n);
  memset(alive, 1, n);
  for (uint32_t s = 0; s < n; s += 7) {
    cr_assert_eq(qv__index_flat.remove(ix, s), QV_OK);
    alive[s] = 0;
  }
  size_t n_live = 0;
  for (size_t s = 0; s < n; s++) n_live += alive[s];
  const size_t ks[] = {1, 10, 100, n_live, n_live + 50};
  qv_hit *got = malloc((n + 50) * sizeof *got), *want = malloc((n + 50) * sizeof *want);
  for (int qi = 0; qi < 5; qi++) {
    float *q = make_vecs(1, dim, m, 0);
    for (size_t ki = 0; ki < 5; ki++) {
      for (int even = 0; even < 2; even++) {
        brute_ctx c = {alive, even};
        qv_search_req req = {.q = q, .k = ks[ki], .pred = even ? pred_even : NULL};
        size_t ng, nw = brute(v, n, dim, m, q, &c, ks[ki], want);
        cr_assert_eq(qv__index_flat.search(ix, &req, got, &ng), QV_OK);
        assert_hits_eq(got, ng, want, nw, even ? "pred" : "nopred");
      }
    }
    free(q);
  }
  free(got);
  free(want);
  free(alive);
  free(v);
  qv__index_flat.destroy(ix);
}

Test(index_flat, search_l2) { check_search(QV_METRIC_L2); }
Test(index_flat, search_ip) { check_search(QV_METRIC_IP); }
Test(index_flat, search_cosine) { check_search(QV_METRIC_COSINE); }
Test(index_flat, search_l1) { check_search(QV_METRIC_L1); }

/*
 * search_batch == search, bit for bit. Pixel data (0..255) with many duplicated rows, so the
 * GEMM scores are inexact and ties at the k-th place are common.
 */
static void check_batch(qv_metric m, int pixels, int n_threads) {
  uint32_t dim = 49;
  size_t n = 3000, nq = 300, k = 10;
  qv_index *ix = make(m, dim);
  float *v = make_vecs(n, dim, m, pixels);
  for (size_t i = 0; i < n; i += 3) memcpy(v + i * dim, v + (i / 3) * dim, dim * sizeof *v);
  add_all(ix, v, n);
  for (uint32_t s = 5; s < n; s += 11) qv__index_flat.remove(ix, s);
  float *qs = make_vecs(nq, dim, m, pixels);
  for (size_t i = 0; i < nq; i += 4) memcpy(qs + i * dim, v + (i * 7) * dim, dim * sizeof *v);
  qv_hit *bo = malloc(nq * k * sizeof *bo), one[10];
  size_t *bn = malloc(nq * sizeof *bn), n_one;
  cr_assert_eq(qv__index_flat.search_batch(ix, qs, nq, k, 0, n_threads, bo, bn), QV_OK);
  for (size_t i = 0; i < nq; i++) {
    qv_search_req req = {.q = qs + i * dim, .k = k};
    cr_assert_eq(qv__index_flat.search(ix, &req, one, &n_one), QV_OK);
    char what[64];
    snprintf(what, sizeof what, "metric %d query %zu", (int)m, i);
    assert_hits_eq(bo + i * k, bn[i], one, n_one, what);
  }
  free(bo);
  free(bn);
  free(qs);
  free(v);
  qv__index_flat.destroy(ix);
}

Test(index_flat, batch_l2_pixels) { check_batch(QV_METRIC_L2, 1, 2); }
Test(index_flat, batch_l2_pixels_1thread) { check_batch(QV_METRIC_L2, 1, 1); }
Test(index_flat, batch_l2) { check_batch(QV_METRIC_L2, 0, 2); }
Test(index_flat, batch_ip) { check_batch(QV_METRIC_IP, 0, 2); }
Test(index_flat, batch_ip_pixels) { check_batch(QV_METRIC_IP, 1, 2); }
Test(index_flat, batch_cosine) { check_batch(QV_METRIC_COSINE, 0, 2); }
Test(index_flat, batch_l1) { check_batch(QV_METRIC_L1, 1, 2); }

Test(index_flat, batch_small_and_k_large) {
  uint32_t dim = 8;
  qv_index *ix = make(QV_METRIC_L2, dim);
  float *v = make_vecs(20, dim, QV_METRIC_L2, 0);
  add_all(ix, v, 20);
  float *qs = make_vecs(12, dim, QV_METRIC_L2, 0);
  qv_hit *bo = malloc(12 * 30 * sizeof *bo), one[30];
  size_t bn[12], n_one;
  cr_assert_eq(qv__index_flat.search_batch(ix, qs, 12, 30, 0, 0, bo, bn), QV_OK);
  for (size_t i = 0; i < 12; i++) {
    qv_search_req req = {.q = qs + i * dim, .k = 30};
    cr_assert_eq(qv__index_flat.search(ix, &req, one, &n_one), QV_OK);
    cr_assert_eq(n_one, 20);
    assert_hits_eq(bo + i * 30, bn[i], one, n_one, "k>count");
  }
  free(bo);
  free(qs);
  free(v);
  qv__index_flat.destroy(ix);
}

/* ------------------------------------------------------------------ checkpoints */

static char g_dir[64], g_path[128];

static void ck_setup(void) {
  strcpy(g_dir, "/tmp/qv_flat_XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
  snprintf(g_path, sizeof g_path, "%s/flat.qvi", g_dir);
}

static void ck_teardown(void) {
  unlink(g_path);
  rmdir(g_dir);
}

TestSuite(flat_ckpt, .init = ck_setup, .fini = ck_teardown);

static qv_index *saved_index(uint32_t dim, size_t n, float **vout) {
  qv_index *ix = make(QV_METRIC_L2, dim);
  float *v = make_vecs(n, dim, QV_METRIC_L2, 0);
  add_all(ix, v, n);
  for (uint32_t s = 0; s < n; s += 5) qv__index_flat.remove(ix, s);
  cr_assert_eq(qv__index_flat.save(ix, g_path, 777), QV_OK);
  *vout = v;
  return ix;
}

static qv_status load(qv_metric m, uint32_t dim, qv_index **out, uint64_t *seq) {
  qv_index_params p = {.mem = qv__mem_default(), .metric = m, .dim = dim, .n_threads = 1};
  return qv__index_flat.load(&p, g_path, out, seq);
}

Test(flat_ckpt, round_trip) {
  float *v;
  qv_index *a = saved_index(31, 500, &v), *b = NULL;
  uint64_t seq = 0;
  cr_assert_eq(load(QV_METRIC_L2, 31, &b, &seq), QV_OK);
  cr_assert_eq(seq, 777);
  qv_index_stats sa = {0}, sb = {0};
  qv__index_flat.stats(a, &sa);
  qv__index_flat.stats(b, &sb);
  cr_assert_eq(sa.count, sb.count);
  cr_assert_eq(sa.n_slots, sb.n_slots);
  cr_assert_eq(sa.n_tombstones, sb.n_tombstones);
  for (uint32_t s = 0; s < 500; s++) {
    const float *x = qv__index_flat.vector(a, s), *y = qv__index_flat.vector(b, s);
    cr_assert_eq(x == NULL, y == NULL);
    if (x) cr_assert_eq(memcmp(x, y, 31 * sizeof(float)), 0);
  }
  qv_hit ha[20], hb[20];
  size_t na, nb;
  qv_search_req req = {.q = v + 7 * 31, .k = 20};
  qv__index_flat.search(a, &req, ha, &na);
  qv__index_flat.search(b, &req, hb, &nb);
  assert_hits_eq(ha, na, hb, nb, "loaded");
  /* the loaded index keeps working: grow it past its loaded capacity */
  float *w = make_vecs(600, 31, QV_METRIC_L2, 0);
  uint32_t *slots = malloc(600 * sizeof *slots);
  for (uint32_t i = 0; i < 600; i++) slots[i] = 400 + i;
  cr_assert_eq(qv__index_flat.add(b, slots, w, 600), QV_OK);
  cr_assert_eq(memcmp(qv__index_flat.vector(b, 999), w + 599 * 31, 31 * sizeof(float)), 0);
  cr_assert_eq(memcmp(qv__index_flat.vector(b, 1), v + 31, 31 * sizeof(float)), 0);
  free(slots);
  free(w);
  free(v);
  qv__index_flat.destroy(a);
  qv__index_flat.destroy(b);
}

Test(flat_ckpt, empty_index) {
  qv_index *a = make(QV_METRIC_IP, 4), *b = NULL;
  cr_assert_eq(qv__index_flat.save(a, g_path, 1), QV_OK);
  uint64_t seq;
  cr_assert_eq(load(QV_METRIC_IP, 4, &b, &seq), QV_OK);
  qv_index_stats st = {0};
  qv__index_flat.stats(b, &st);
  cr_assert_eq(st.count, 0);
  float v[4] = {1, 2, 3, 4};
  uint32_t s = 0;
  cr_assert_eq(qv__index_flat.add(b, &s, v, 1), QV_OK);
  qv__index_flat.destroy(a);
  qv__index_flat.destroy(b);
}

Test(flat_ckpt, corrupt_byte) {
  float *v;
  qv_index *a = saved_index(16, 300, &v), *b = (qv_index *)1;
  FILE *f = fopen(g_path, "r+b");
  fseek(f, 64 + 200 * 64 + 5, SEEK_SET);
  int c = fgetc(f);
  fseek(f, -1, SEEK_CUR);
  fputc(c ^ 0x01, f);
  fclose(f);
  uint64_t seq;
  cr_assert_eq(load(QV_METRIC_L2, 16, &b, &seq), QV_CORRUPT);
  cr_assert_null(b);
  free(v);
  qv__index_flat.destroy(a);
}

Test(flat_ckpt, missing) {
  qv_index *b = (qv_index *)1;
  uint64_t seq;
  cr_assert_eq(load(QV_METRIC_L2, 16, &b, &seq), QV_NOTFOUND);
  cr_assert_null(b);
}

Test(flat_ckpt, wrong_params) {
  float *v;
  qv_index *a = saved_index(16, 50, &v), *b = NULL;
  uint64_t seq;
  cr_assert_eq(load(QV_METRIC_L2, 17, &b, &seq), QV_CORRUPT);
  cr_assert_eq(load(QV_METRIC_IP, 16, &b, &seq), QV_CORRUPT);
  cr_assert_null(b);
  free(v);
  qv__index_flat.destroy(a);
}

/* reserve in two steps: build (the index only read, searches still answer), install, drop. */
Test(index_flat, reserve_build_install_drop) {
  const uint32_t dim = 16;
  const size_t n0 = 100, n1 = 500;
  const qv_index_vt *vt = &qv__index_flat;
  float *v = make_vecs(n1, dim, QV_METRIC_L2, 0);
  qv_index *ix = make(QV_METRIC_L2, dim);
  add_all(ix, v, n0);
  void *staged = NULL;
  cr_assert_eq(vt->reserve_build(ix, 10, &staged), QV_OK);
  cr_assert_null(staged, "room already: nothing to stage");
  cr_assert_eq(vt->reserve_build(ix, n1, &staged), QV_OK);
  cr_assert_not_null(staged);
  qv_hit a[10], b[10];
  size_t na = 0, nb = 0;
  qv_search_req req = {v + 7 * dim, 10, 0, NULL, NULL, NULL};
  cr_assert_eq(vt->search(ix, &req, a, &na), QV_OK); /* the old arrays still serve */
  vt->reserve_install(ix, staged);
  cr_assert_eq(vt->search(ix, &req, b, &nb), QV_OK);
  cr_assert_eq(na, 10);
  cr_assert_eq(nb, na);
  for (size_t i = 0; i < na; i++) {
    cr_assert_eq(a[i].slot, b[i].slot);
    cr_assert_float_eq(a[i].dist, b[i].dist, 0.0f);
  }
  cr_assert_eq(a[0].slot, 7);
  add_all(ix, v, n1); /* slots 0..n1-1 fit without another growth */
  req.q = v + 400 * dim;
  cr_assert_eq(vt->search(ix, &req, b, &nb), QV_OK);
  cr_assert_eq(b[0].slot, 400);
  cr_assert_eq(vt->reserve_build(ix, 4 * n1, &staged), QV_OK);
  cr_assert_not_null(staged);
  vt->reserve_drop(ix, staged); /* ASan's leak check sees a missed free */
  qv_index_stats st;
  vt->stats(ix, &st);
  cr_assert_eq(st.count, n1);
  vt->destroy(ix);
  free(v);
}
