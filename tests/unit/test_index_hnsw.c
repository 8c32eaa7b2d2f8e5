/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_index_hnsw.c -- white-box tests of the HNSW index through its vtable (index.h):
 * recall against brute force for l2/ip/cosine in float and sq8 mode, predicates (10% and
 * 1% selective), tombstones, replacement of live slots, reuse of removed slots, save/load
 * round trips, corrupt and missing files, stats, parameters, batch search. Random data with
 * fixed seeds; thresholds leave room for the small nondeterminism of the 2-thread build.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "dist.h"
#include "index.h"

#define DIM 24
#define NB 3000
#define NQ 100
#define K 10

static const qv_index_vt *vt = &qv__index_hnsw;

static uint64_t rng_state;
static double urand(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}
static float nrand(void) { /* clustered-ish data: a normal via Box-Muller */
  double u = urand() + 1e-12, v = urand();
  return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

static void normalize(float *v, size_t dim) {
  double s = 0;
  for (size_t i = 0; i < dim; i++) s += (double)v[i] * v[i];
  float r = s > 0 ? (float)(1 / sqrt(s)) : 0;
  for (size_t i = 0; i < dim; i++) v[i] *= r;
}

/* n vectors around 20 fixed random centres, so the graph has structure as real data does */
static float *make_data(size_t n, uint64_t seed, qv_metric m) {
  float cent[20][DIM];
  rng_state = 1 + (uint64_t)m; /* the same centres for base, queries and updates */
  for (int c = 0; c < 20; c++)
    for (int j = 0; j < DIM; j++) cent[c][j] = 3 * nrand();
  rng_state = seed;
  float *x = malloc(n * DIM * sizeof *x);
  for (size_t i = 0; i < n; i++) {
    int c = (int)(urand() * 20);
    for (int j = 0; j < DIM; j++) x[i * DIM + j] = cent[c][j] + nrand();
    if (m == QV_METRIC_COSINE) normalize(x + i * DIM, DIM);
  }
  return x;
}

/* The traversal quantizer is a stored parameter of the kind: tests choose it per build. These
 * tests keep float rows (keep_floats true; the lean index: test_hnsw_lean.c). */
static const char *g_params = "{\"M\":16,\"ef_construction\":100,\"ef_search\":64,\"quantizer\":\"sq8\",\"keep_floats\":true}";
static void use_sq8(int on) {
  g_params = on ? "{\"M\":16,\"ef_construction\":100,\"ef_search\":64,\"quantizer\":\"sq8\",\"keep_floats\":true}"
                : "{\"M\":16,\"ef_construction\":100,\"ef_search\":64,\"quantizer\":\"none\"}";
}

/* The vector source a collection gives its index: here, the rows of the test's data (slot =
 * row). A v2 checkpoint with codes reads live nodes' floats from it on load. */
static const float *g_rows;
static size_t g_nrows;
static qv_status rows_get(void *ctx, uint32_t s, float *out) {
  (void)ctx;
  if (!g_rows || s >= g_nrows) return QV_NOTFOUND;
  memcpy(out, g_rows + (size_t)s * DIM, DIM * sizeof(float));
  return QV_OK;
}
static const qv_vec_source rows_src = {NULL, rows_get, NULL};
static void use_rows(const float *x, size_t n) {
  g_rows = x;
  g_nrows = n;
}

static qv_index_params params(qv_metric m, int threads) {
  qv_index_params p = {qv__mem_default(), m, DIM, g_params, threads, &rows_src};
  return p;
}

static qv_index *build(qv_metric m, const float *x, size_t n, int threads) {
  qv_index_params p = params(m, threads);
  qv_index *ix = NULL;
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  uint32_t *slots = malloc(n * sizeof *slots);
  for (size_t i = 0; i < n; i++) slots[i] = (uint32_t)i;
  cr_assert_eq(vt->add(ix, slots, x, n), QV_OK);
  free(slots);
  return ix;
}

typedef struct live_set {
  const float *x; /* current vector of each slot */
  const uint8_t *alive;
  int (*pred)(void *, uint32_t);
  void *pctx;
} live_set;

/* exact top-k slots of q over the qualifying slots */
static size_t brute(qv_metric m, const live_set *ls, size_t n, const float *q, size_t k, qv_hit *out) {
  qv_topk t;
  qv__topk_init(&t, out, k);
  for (size_t i = 0; i < n; i++) {
    if (ls->alive && !ls->alive[i]) continue;
    if (ls->pred && !ls->pred(ls->pctx, (uint32_t)i)) continue;
    qv__topk_push(&t, qv__metric_dist(qv__kernels(), m, q, ls->x + i * DIM, DIM), (uint32_t)i);
  }
  return qv__topk_finish(&t);
}

/* mean recall@k of the index against brute force over queries qs */
static double recall(qv_metric m, qv_index *ix, const live_set *ls, size_t n, const float *qs,
                     size_t nq, uint32_t ef) {
  size_t hits = 0, total = 0;
  for (size_t i = 0; i < nq; i++) {
    qv_hit got[K], want[K];
    size_t ng = 0;
    qv_search_req req = {qs + i * DIM, K, ef, ls->pred, ls->pctx, NULL};
    cr_assert_eq(vt->search(ix, &req, got, &ng), QV_OK);
    size_t nw = brute(m, ls, n, qs + i * DIM, K, want);
    cr_assert_eq(ng, nw, "query %zu: %zu results, %zu qualify", i, ng, nw);
    for (size_t a = 0; a < ng; a++) {
      if (a) cr_assert(got[a].dist >= got[a - 1].dist, "results sorted");
      for (size_t b = 0; b < nw; b++)
        if (got[a].slot == want[b].slot) {
          hits++;
          break;
        }
    }
    total += nw;
  }
  return total ? (double)hits / (double)total : 1.0;
}

static void check_recall(qv_metric m, int sq8, int threads, double min_recall) {
  use_sq8(sq8);
  float *x = make_data(NB, 42 + (uint64_t)m, m);
  float *q = make_data(NQ, 4242 + (uint64_t)m, m);
  qv_index *ix = build(m, x, NB, threads);
  live_set ls = {x, NULL, NULL, NULL};
  double r = recall(m, ix, &ls, NB, q, NQ, 12);
  cr_log_info("metric %d sq8 %d threads %d: recall@10 %.4f", m, sq8, threads, r);
  cr_assert(r >= min_recall, "metric %d sq8 %d: recall %.4f < %.2f", m, sq8, r, min_recall);
  /* distances are the metric's own, exact even in sq8 mode */
  qv_hit got[K];
  size_t ng;
  qv_search_req req = {q, K, 64, NULL, NULL, NULL};
  vt->search(ix, &req, got, &ng);
  for (size_t i = 0; i < ng; i++) {
    float d = qv__metric_dist(qv__kernels(), m, q, x + got[i].slot * DIM, DIM);
    cr_assert_float_eq(got[i].dist, d, 1e-4f * (1 + fabsf(d)));
  }
  vt->destroy(ix);
  free(x);
  free(q);
}

Test(hnsw, recall_l2) { check_recall(QV_METRIC_L2, 0, 1, 0.93); }
Test(hnsw, recall_ip) { check_recall(QV_METRIC_IP, 0, 1, 0.93); }
Test(hnsw, recall_cosine) { check_recall(QV_METRIC_COSINE, 0, 1, 0.93); }
Test(hnsw, recall_l2_sq8) { check_recall(QV_METRIC_L2, 1, 1, 0.93); }
Test(hnsw, recall_ip_sq8) { check_recall(QV_METRIC_IP, 1, 1, 0.93); }
Test(hnsw, recall_cosine_sq8) { check_recall(QV_METRIC_COSINE, 1, 1, 0.93); }
Test(hnsw, recall_l1) { check_recall(QV_METRIC_L1, 0, 1, 0.93); }
Test(hnsw, recall_l2_two_threads) { check_recall(QV_METRIC_L2, 1, 2, 0.93); }

/* the other traversal kernels: each test is its own process, so the environment can pick them */
Test(hnsw, recall_l2_sq8_no_vnni) {
  setenv("QV_HNSW_VNNI", "0", 1);
  check_recall(QV_METRIC_L2, 1, 1, 0.93);
}
Test(hnsw, recall_ip_sq8_avx2) {
  setenv("QV_ISA", "avx2", 1);
  check_recall(QV_METRIC_IP, 1, 1, 0.93);
}
Test(hnsw, recall_l2_sq8_scalar) {
  setenv("QV_ISA", "scalar", 1);
  check_recall(QV_METRIC_L2, 1, 1, 0.93);
}
static int pred_mod(void *ctx, uint32_t s) {
  uint32_t mod = *(const uint32_t *)ctx;
  return s % mod == 3;
}

static void check_pred(uint32_t mod, double min_recall) {
  float *x = make_data(NB, 7, QV_METRIC_L2);
  float *q = make_data(NQ, 77, QV_METRIC_L2);
  qv_index *ix = build(QV_METRIC_L2, x, NB, 2);
  live_set ls = {x, NULL, pred_mod, &mod};
  /* recall() already asserts k results (k qualify) and compares with the filtered truth */
  double r = recall(QV_METRIC_L2, ix, &ls, NB, q, NQ, 32);
  cr_log_info("1/%u selective: recall %.4f", mod, r);
  cr_assert(r >= min_recall, "1/%u selective: recall %.4f", mod, r);
  for (size_t i = 0; i < NQ; i++) {
    qv_hit got[K];
    size_t ng;
    qv_search_req req = {q + i * DIM, K, 10, pred_mod, &mod, NULL};
    vt->search(ix, &req, got, &ng);
    cr_assert_eq(ng, K);
    for (size_t a = 0; a < ng; a++) cr_assert_eq(got[a].slot % mod, 3u);
  }
  vt->destroy(ix);
  free(x);
  free(q);
}

Test(hnsw, predicate_10pct) { check_pred(10, 0.95); }
Test(hnsw, predicate_1pct) { check_pred(100, 0.90); }

Test(hnsw, predicate_fewer_than_k) {
  float *x = make_data(500, 8, QV_METRIC_L2);
  qv_index *ix = build(QV_METRIC_L2, x, 500, 1);
  uint32_t mod = 100; /* slots 3, 103, 203, 303, 403 */
  qv_hit got[K];
  size_t ng;
  qv_search_req req = {x, K, 16, pred_mod, &mod, NULL};
  cr_assert_eq(vt->search(ix, &req, got, &ng), QV_OK);
  cr_assert_eq(ng, 5);
  vt->destroy(ix);
  free(x);
}

Test(hnsw, remove_never_returned) {
  float *x = make_data(NB, 9, QV_METRIC_L2);
  float *q = make_data(NQ, 99, QV_METRIC_L2);
  qv_index *ix = build(QV_METRIC_L2, x, NB, 2);
  uint8_t *alive = malloc(NB);
  memset(alive, 1, NB);
  rng_state = 5;
  size_t nrem = 0;
  for (uint32_t s = 0; s < NB; s++)
    if (urand() < 0.3) {
      cr_assert_eq(vt->remove(ix, s), QV_OK);
      alive[s] = 0;
      nrem++;
    }
  for (uint32_t s = 0; s < NB; s++)
    if (!alive[s]) {
      cr_assert_eq(vt->remove(ix, s), QV_NOTFOUND, "double remove must fail");
      break;
    }
  cr_assert_null(vt->vector(ix, alive[1] ? NB + 5 : 1));
  live_set ls = {x, alive, NULL, NULL};
  double r = recall(QV_METRIC_L2, ix, &ls, NB, q, NQ, 64);
  cr_assert(r >= 0.95, "recall with 30%% tombstones %.4f", r);
  for (size_t i = 0; i < NQ; i++) {
    qv_hit got[K];
    size_t ng;
    qv_search_req req = {q + i * DIM, K, 10, NULL, NULL, NULL};
    vt->search(ix, &req, got, &ng);
    cr_assert_eq(ng, K);
    for (size_t a = 0; a < ng; a++) cr_assert(alive[got[a].slot], "removed slot %u returned", got[a].slot);
  }
  qv_index_stats st;
  vt->stats(ix, &st);
  cr_assert_eq(st.count, NB - nrem);
  cr_assert_eq(st.n_tombstones, nrem);
  cr_assert_eq(st.n_slots, NB);
  vt->destroy(ix);
  free(alive);
  free(x);
  free(q);
}

/* Replace 30% of the live vectors and reuse every removed slot: no stale vector surfaces. */
Test(hnsw, replace_and_reuse) {
  float *x = make_data(NB, 11, QV_METRIC_L2);
  float *other = make_data(NB, 12, QV_METRIC_L2);
  float *q = make_data(NQ, 111, QV_METRIC_L2);
  qv_index *ix = build(QV_METRIC_L2, x, NB, 2);
  uint8_t *alive = malloc(NB);
  memset(alive, 1, NB);
  rng_state = 6;
  uint32_t *slots = malloc(NB * sizeof *slots);
  size_t nu = 0;
  for (uint32_t s = 0; s < NB; s++) {
    double u = urand();
    if (u < 0.1) {
      vt->remove(ix, s);
      alive[s] = 0;
    } else if (u < 0.4) {
      slots[nu++] = s;
    }
  }
  /* updates in several batches, each slot gets the vector of another data set */
  float *nv = malloc(nu * DIM * sizeof *nv);
  for (size_t i = 0; i < nu; i++) {
    memcpy(nv + i * DIM, other + slots[i] * DIM, DIM * sizeof(float));
    memcpy(x + slots[i] * DIM, nv + i * DIM, DIM * sizeof(float));
  }
  for (size_t i = 0; i < nu; i += 100) cr_assert_eq(vt->add(ix, slots + i, nv + i * DIM, nu - i < 100 ? nu - i : 100), QV_OK);
  live_set ls = {x, alive, NULL, NULL};
  double r = recall(QV_METRIC_L2, ix, &ls, NB, q, NQ, 64);
  cr_assert(r >= 0.95, "recall after churn %.4f", r);
  size_t n_found = 0;
  for (size_t i = 0; i < nu; i++) {
    /* the new vector finds its own slot at distance 0; the vector() is the new one */
    qv_hit got[K];
    size_t ng;
    qv_search_req req = {nv + i * DIM, K, 32, NULL, NULL, NULL};
    vt->search(ix, &req, got, &ng);
    int found = 0;
    for (size_t a = 0; a < ng; a++) {
      float d = qv__metric_dist(qv__kernels(), QV_METRIC_L2, nv + i * DIM, x + got[a].slot * DIM, DIM);
      cr_assert_float_eq(got[a].dist, d, 1e-3f * (1 + d), "stale distance for slot %u", got[a].slot);
      cr_assert(alive[got[a].slot]);
      found |= got[a].slot == slots[i];
    }
    n_found += found;
    cr_assert_eq(memcmp(vt->vector(ix, slots[i]), nv + i * DIM, DIM * sizeof(float)), 0);
  }
  cr_assert(n_found >= nu * 99 / 100, "only %zu of %zu updated slots found by their new vector", n_found, nu);
  /* reuse every removed slot */
  size_t nr = 0;
  for (uint32_t s = 0; s < NB; s++)
    if (!alive[s]) slots[nr++] = s;
  float *rv = make_data(nr, 13, QV_METRIC_L2);
  for (size_t i = 0; i < nr; i++) memcpy(x + slots[i] * DIM, rv + i * DIM, DIM * sizeof(float));
  cr_assert_eq(vt->add(ix, slots, rv, nr), QV_OK);
  memset(alive, 1, NB);
  qv_index_stats st;
  vt->stats(ix, &st);
  cr_assert_eq(st.count, NB);
  cr_assert_eq(st.n_tombstones, 0);
  r = recall(QV_METRIC_L2, ix, &ls, NB, q, NQ, 64);
  cr_assert(r >= 0.95, "recall after reuse %.4f", r);
  vt->destroy(ix);
  free(rv);
  free(nv);
  free(slots);
  free(alive);
  free(x);
  free(other);
  free(q);
}

Test(hnsw, sparse_slots_and_single_adds) {
  float *x = make_data(400, 14, QV_METRIC_L2);
  qv_index_params p = params(QV_METRIC_L2, 1);
  qv_index *ix;
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  for (uint32_t i = 0; i < 400; i++) {
    uint32_t s = i * 7 + 1000; /* slots need not be dense */
    cr_assert_eq(vt->add(ix, &s, x + i * DIM, 1), QV_OK);
    qv_hit got[1];
    size_t ng;
    qv_search_req req = {x + i * DIM, 1, 16, NULL, NULL, NULL};
    cr_assert_eq(vt->search(ix, &req, got, &ng), QV_OK);
    cr_assert_eq(ng, 1);
    cr_assert_eq(got[0].slot, s, "just added vector is searchable");
  }
  cr_assert_null(vt->vector(ix, 3));
  cr_assert_not_null(vt->vector(ix, 1007));
  vt->destroy(ix);
  free(x);
}

Test(hnsw, empty_and_params) {
  qv_index_params p = params(QV_METRIC_L2, 1);
  qv_index *ix;
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  float q[DIM] = {0};
  qv_hit got[K];
  size_t ng = 99;
  qv_search_req req = {q, K, 0, NULL, NULL, NULL};
  cr_assert_eq(vt->search(ix, &req, got, &ng), QV_OK);
  cr_assert_eq(ng, 0);
  cr_assert_eq(vt->set_param(ix, "ef_search", 100), QV_OK);
  cr_assert_eq(vt->set_param(ix, "ef_search", 0), QV_INVALID);
  cr_assert_eq(vt->set_param(ix, "ef_search", 1.5), QV_INVALID);
  cr_assert_eq(vt->set_param(ix, "bogus", 1), QV_INVALID);
  cr_assert_eq(vt->remove(ix, 5), QV_NOTFOUND);
  float bad[DIM] = {NAN};
  uint32_t s = 0;
  cr_assert_eq(vt->add(ix, &s, bad, 1), QV_INVALID);
  qv_index_stats st;
  vt->stats(ix, &st);
  cr_assert_eq(st.count, 0);
  cr_assert_eq(st.max_level, 0);
  vt->destroy(ix);
  p.params_json = "{\"M\":1}";
  cr_assert_eq(vt->create(&p, &ix), QV_INVALID);
  cr_assert_null(ix);
  p.params_json = "{\"M\":256}"; /* the largest M the kind accepts */
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  vt->destroy(ix);
  p.params_json = "{\"M\":257}";
  cr_assert_eq(vt->create(&p, &ix), QV_INVALID);
  p.params_json = "{\"quantizer\":\"none\"}";
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  vt->destroy(ix);
}

Test(hnsw, stats) {
  float *x = make_data(NB, 15, QV_METRIC_L2);
  qv_index *ix = build(QV_METRIC_L2, x, NB, 1);
  qv_index_stats st;
  vt->stats(ix, &st);
  cr_assert_eq(st.count, NB);
  cr_assert_eq(st.n_slots, NB);
  cr_assert_eq(st.n_tombstones, 0);
  cr_assert(st.mem_vectors >= (uint64_t)NB * DIM * 4);
  cr_assert(st.mem_graph >= (uint64_t)NB * 33 * 4);
  cr_assert(st.max_level >= 1 && st.max_level <= 16);
  vt->remove(ix, 17);
  vt->stats(ix, &st);
  cr_assert_eq(st.count, NB - 1);
  cr_assert_eq(st.n_tombstones, 1);
  vt->destroy(ix);
  free(x);
}

Test(hnsw, batch_matches_single) {
  float *x = make_data(NB, 16, QV_METRIC_L2);
  float *q = make_data(NQ, 166, QV_METRIC_L2);
  qv_index *ix = build(QV_METRIC_L2, x, NB, 2);
  qv_hit *out = malloc(NQ * K * sizeof *out);
  size_t nout[NQ];
  cr_assert_eq(vt->search_batch(ix, q, NQ, K, 40, 2, out, nout), QV_OK);
  for (size_t i = 0; i < NQ; i++) {
    qv_hit got[K];
    size_t ng;
    qv_search_req req = {q + i * DIM, K, 40, NULL, NULL, NULL};
    vt->search(ix, &req, got, &ng);
    cr_assert_eq(ng, nout[i]);
    for (size_t a = 0; a < ng; a++) cr_assert_eq(got[a].slot, out[i * K + a].slot);
  }
  free(out);
  vt->destroy(ix);
  free(x);
  free(q);
}

static char *tmp_path(const char *name) {
  static char buf[256];
  snprintf(buf, sizeof buf, "/tmp/qv_test_hnsw_%d_%s", (int)getpid(), name);
  return buf;
}

static void check_roundtrip(int sq8) {
  use_sq8(sq8);
  float *x = make_data(NB, 17, QV_METRIC_L2);
  float *q = make_data(NQ, 177, QV_METRIC_L2);
  use_rows(x, NB);
  qv_index *ix = build(QV_METRIC_L2, x, NB, 2);
  for (uint32_t s = 0; s < NB; s += 13) vt->remove(ix, s);
  const char *path = tmp_path("rt.idx");
  cr_assert_eq(vt->save(ix, path, 1234), QV_OK);
  qv_index_params p = params(QV_METRIC_L2, 2);
  qv_index *ix2 = NULL;
  uint64_t seq = 0;
  cr_assert_eq(vt->load(&p, path, &ix2, &seq), QV_OK);
  cr_assert_eq(seq, 1234);
  qv_index_stats a, b;
  vt->stats(ix, &a);
  vt->stats(ix2, &b);
  cr_assert_eq(a.count, b.count);
  cr_assert_eq(a.n_tombstones, b.n_tombstones);
  cr_assert_eq(a.max_level, b.max_level);
  for (size_t i = 0; i < NQ; i++) {
    qv_hit g1[K], g2[K];
    size_t n1, n2;
    qv_search_req req = {q + i * DIM, K, 40, NULL, NULL, NULL};
    vt->search(ix, &req, g1, &n1);
    vt->search(ix2, &req, g2, &n2);
    cr_assert_eq(n1, n2);
    for (size_t j = 0; j < n1; j++) {
      cr_assert_eq(g1[j].slot, g2[j].slot);
      cr_assert_eq(g1[j].dist, g2[j].dist);
    }
  }
  /* the loaded index keeps working: grow it past the adopted arena, reuse, remove */
  float *more = make_data(500, 18, QV_METRIC_L2);
  uint32_t sl[500];
  for (uint32_t i = 0; i < 500; i++) sl[i] = i < 100 ? i * 13 : NB + i;
  cr_assert_eq(vt->add(ix2, sl, more, 500), QV_OK);
  qv_hit g[1];
  size_t ng;
  qv_search_req req = {more + 499 * DIM, 1, 32, NULL, NULL, NULL};
  vt->search(ix2, &req, g, &ng);
  cr_assert_eq(ng, 1);
  cr_assert_eq(g[0].slot, sl[499]);
  vt->destroy(ix2);
  vt->destroy(ix);
  unlink(path);
  free(more);
  free(x);
  free(q);
}

Test(hnsw, save_load_roundtrip) { check_roundtrip(0); }
Test(hnsw, save_load_roundtrip_sq8) { check_roundtrip(1); }

/* With codes, the file keeps no float copy of live nodes (the store has them): it is smaller
 * than the floats themselves, and loading without a vector source is refused, not guessed. */
Test(hnsw, sq8_file_holds_no_live_floats) {
  use_sq8(1);
  float *x = make_data(NB, 29, QV_METRIC_L2);
  use_rows(x, NB);
  qv_index *ix = build(QV_METRIC_L2, x, NB, 1);
  const char *path = tmp_path("nofloats.idx");
  cr_assert_eq(vt->save(ix, path, 1), QV_OK);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  unsigned char *buf = malloc(8u << 20);
  size_t len = fread(buf, 1, 8u << 20, f);
  fclose(f);
  for (uint32_t s = 0; s < NB; s += 101) /* no live row's bytes anywhere in the file */
    cr_assert_null(memmem(buf, len, x + (size_t)s * DIM, DIM * sizeof(float)), "slot %u's floats are in the file", s);
  free(buf);
  qv_index_params p = params(QV_METRIC_L2, 1);
  p.vsrc = NULL;
  qv_index *ix2 = (qv_index *)1;
  cr_assert_eq(vt->load(&p, path, &ix2, NULL), QV_UNSUPPORTED);
  cr_assert_null(ix2);
  p.vsrc = &rows_src;
  cr_assert_eq(vt->load(&p, path, &ix2, NULL), QV_OK);
  for (uint32_t s = 0; s < NB; s += 97)
    cr_assert(memcmp(vt->vector(ix2, s), x + (size_t)s * DIM, DIM * sizeof(float)) == 0, "slot %u", s);
  vt->destroy(ix2);
  vt->destroy(ix);
  unlink(path);
  free(x);
}

Test(hnsw, save_load_empty) {
  qv_index_params p = params(QV_METRIC_IP, 1);
  qv_index *ix, *ix2;
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  const char *path = tmp_path("empty.idx");
  cr_assert_eq(vt->save(ix, path, 7), QV_OK);
  cr_assert_eq(vt->load(&p, path, &ix2, NULL), QV_OK);
  qv_index_stats st;
  vt->stats(ix2, &st);
  cr_assert_eq(st.count, 0);
  vt->destroy(ix2);
  vt->destroy(ix);
  unlink(path);
}

/* Patch the payload and fix both crcs, so that only the index's own validation can object. */
static void rewrite_with_valid_crc(const char *path, size_t payload_off, const void *bytes, size_t n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  size_t sz = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(sz);
  cr_assert_eq(fread(b, 1, sz, f), sz);
  fclose(f);
  memcpy(b + 64 + payload_off, bytes, n);
  uint32_t pc = (uint32_t)crc32_z(crc32_z(0, NULL, 0), b + 64, sz - 64);
  memcpy(b + 48, &pc, 4);
  uint32_t hc = (uint32_t)crc32_z(0, b, 52);
  memcpy(b + 52, &hc, 4);
  f = fopen(path, "wb");
  fwrite(b, 1, sz, f);
  fclose(f);
  free(b);
}

Test(hnsw, corrupt_and_missing_files) {
  use_sq8(0);
  float *x = make_data(500, 19, QV_METRIC_L2);
  qv_index *ix = build(QV_METRIC_L2, x, 500, 1);
  qv_index_params p = params(QV_METRIC_L2, 1);
  qv_index *ix2 = (qv_index *)1;
  const char *path = tmp_path("bad.idx");
  unlink(path);
  cr_assert_eq(vt->load(&p, path, &ix2, NULL), QV_NOTFOUND);
  cr_assert_null(ix2);
  cr_assert_eq(vt->save(ix, path, 1), QV_OK);

  /* a flipped payload byte: the envelope's crc catches it */
  FILE *f = fopen(path, "r+b");
  fseek(f, 64 + 1000, SEEK_SET);
  int c = fgetc(f);
  fseek(f, 64 + 1000, SEEK_SET);
  fputc(c ^ 0x55, f);
  fclose(f);
  cr_assert_eq(vt->load(&p, path, &ix2, NULL), QV_CORRUPT);
  cr_assert_null(ix2);

  /* a valid crc over bad content: an out-of-range neighbour id, a bad count, bad header */
  const size_t l0_off = 1088; /* header 64, state 64..564 -> 576, level 576..1076 -> 1088 */
  uint32_t big = 1000000, cnt = 1000;
  struct {
    size_t off;
    const void *p;
    size_t n;
  } cases[] = {
      {l0_off + 4, &big, 4},             /* node 0, first neighbour */
      {l0_off, &cnt, 4},                 /* node 0 neighbour count */
      {64 + 3, "\x07", 1},               /* state of slot 3 */
      {64 + 512 + 5, "\x1f", 1},         /* level of slot 5 */
      {20, &big, 4},                     /* entry point */
      {0, &big, 4},                      /* M */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cr_assert_eq(vt->save(ix, path, 1), QV_OK);
    rewrite_with_valid_crc(path, cases[i].off, cases[i].p, cases[i].n);
    cr_assert_eq(vt->load(&p, path, &ix2, NULL), QV_CORRUPT, "case %zu", i);
    cr_assert_null(ix2);
  }

  /* truncated file */
  cr_assert_eq(vt->save(ix, path, 1), QV_OK);
  cr_assert_eq(truncate(path, 64 + 100), 0);
  cr_assert_eq(vt->load(&p, path, &ix2, NULL), QV_CORRUPT);

  /* params mismatch: another dim or metric */
  cr_assert_eq(vt->save(ix, path, 1), QV_OK);
  qv_index_params p2 = p;
  p2.dim = DIM + 1;
  cr_assert_eq(vt->load(&p2, path, &ix2, NULL), QV_CORRUPT);
  p2 = p;
  p2.metric = QV_METRIC_IP;
  cr_assert_eq(vt->load(&p2, path, &ix2, NULL), QV_CORRUPT);
  unlink(path);
  vt->destroy(ix);
  free(x);
}

/* One batch re-adds every slot (the entry point included) and one gives a new slot twice. */
Test(hnsw, readd_everything_and_duplicates) {
  float *x = make_data(NB, 21, QV_METRIC_L2);
  float *y = make_data(NB, 22, QV_METRIC_L2);
  float *q = make_data(NQ, 222, QV_METRIC_L2);
  qv_index *ix = build(QV_METRIC_L2, x, NB, 2);
  uint32_t *slots = malloc(NB * sizeof *slots);
  for (uint32_t i = 0; i < NB; i++) slots[i] = NB - 1 - i;
  float *yr = malloc(NB * DIM * sizeof *yr); /* slot s gets y[s] */
  for (uint32_t i = 0; i < NB; i++) memcpy(yr + i * DIM, y + slots[i] * DIM, DIM * sizeof(float));
  cr_assert_eq(vt->add(ix, slots, yr, NB), QV_OK);
  live_set ls = {y, NULL, NULL, NULL};
  double r = recall(QV_METRIC_L2, ix, &ls, NB, q, NQ, 32);
  cr_assert(r >= 0.95, "recall after re-adding everything %.4f", r);
  /* duplicates: new slot NB given twice, the last vector wins */
  uint32_t dup[3] = {NB, NB + 1, NB};
  float dv[3 * DIM];
  memcpy(dv, x, DIM * sizeof(float));
  memcpy(dv + DIM, x + DIM, DIM * sizeof(float));
  memcpy(dv + 2 * DIM, x + 2 * DIM, DIM * sizeof(float));
  cr_assert_eq(vt->add(ix, dup, dv, 3), QV_OK);
  cr_assert_eq(memcmp(vt->vector(ix, NB), x + 2 * DIM, DIM * sizeof(float)), 0);
  qv_index_stats st;
  vt->stats(ix, &st);
  cr_assert_eq(st.count, NB + 2);
  free(yr);
  free(slots);
  vt->destroy(ix);
  free(x);
  free(y);
  free(q);
}

/* ------------------------------------------------------------------ allocation failures */

typedef struct fail_alloc {
  long countdown; /* the allocation that makes this reach 0 fails; < 0 never */
} fail_alloc;

static void *f_malloc(void *ud, size_t n) {
  fail_alloc *f = ud;
  if (f->countdown >= 0 && f->countdown-- == 0) return NULL;
  return malloc(n);
}
static void *f_realloc(void *ud, void *p, size_t n) {
  fail_alloc *f = ud;
  if (f->countdown >= 0 && f->countdown-- == 0) return NULL;
  return realloc(p, n);
}
static void f_free(void *ud, void *p) {
  (void)ud;
  free(p);
}

/* Fail the N-th allocation for N = 0, 1, ...: every call reports QV_NOMEM or works, a failed
 * add() leaves the index as it was, and nothing leaks (under ASan). */
Test(hnsw, allocation_failures) {
  float *x = make_data(600, 23, QV_METRIC_L2);
  use_rows(x, 600);
  fail_alloc fa = {-1};
  qv_mem mem = {f_malloc, f_realloc, f_free, &fa};
  const char *path = tmp_path("fault.idx");
  int completed = 0;
  for (long n = 0; n < 400 && !completed; n++) {
    qv_index_params p = params(QV_METRIC_L2, 2);
    p.mem = &mem;
    qv_index *ix = NULL, *ix2 = NULL;
    uint32_t slots[600];
    for (uint32_t i = 0; i < 600; i++) slots[i] = i;
    fa.countdown = -1;
    if (vt->create(&p, &ix) != QV_OK) continue;
    cr_assert_eq(vt->add(ix, slots, x, 300), QV_OK);
    fa.countdown = n;
    qv_status rc = vt->add(ix, slots + 300, x + 300 * DIM, 300);
    cr_assert(rc == QV_OK || rc == QV_NOMEM, "add: %d", rc);
    qv_index_stats st;
    vt->stats(ix, &st);
    cr_assert_eq(st.count, rc == QV_OK ? 600u : 300u, "a failed add changed nothing");
    qv_hit got[K];
    size_t ng = 0;
    qv_search_req req = {x + 310 * DIM, K, 32, NULL, NULL, NULL};
    rc = vt->search(ix, &req, got, &ng);
    cr_assert(rc == QV_OK || rc == QV_NOMEM);
    if (rc == QV_OK) cr_assert_eq(ng, K);
    rc = vt->save(ix, path, 1);
    cr_assert(rc == QV_OK || rc == QV_NOMEM || rc == QV_IO, "save: %d", rc);
    if (rc == QV_OK) {
      rc = vt->load(&p, path, &ix2, NULL);
      cr_assert(rc == QV_OK || rc == QV_NOMEM, "load: %d", rc);
      cr_assert(rc == QV_OK || ix2 == NULL);
      if (rc == QV_OK && fa.countdown >= 0) {
        /* the countdown never fired: every step succeeded */
      }
    }
    completed = fa.countdown >= 0; /* this N was beyond every allocation made */
    vt->destroy(ix2);
    vt->destroy(ix);
  }
  cr_assert(completed, "never got past all allocations");
  unlink(path);
  free(x);
}

/*
 * add_hidden/publish: nodes added hidden (in chunks, into fresh and removed slots) are part
 * of the graph but never returned, have no vector() and are not counted, until published;
 * then the index answers like one built with a single add(). save() refuses while any node
 * is hidden; a live slot cannot be added hidden.
 */
Test(hnsw, hidden_then_publish) {
  use_sq8(1);
  const size_t n0 = 1000, n1 = NB - 1000;
  float *x = make_data(NB, 77, QV_METRIC_L2);
  float *q = make_data(NQ, 7777, QV_METRIC_L2);
  qv_index *ix = build(QV_METRIC_L2, x, n0, 2);
  cr_assert_eq(vt->remove(ix, 10), QV_OK); /* a removed slot, reused hidden below */
  uint32_t *slots = malloc((n1 + 1) * sizeof *slots);
  float *v = malloc((n1 + 1) * DIM * sizeof *v);
  for (size_t i = 0; i < n1; i++) slots[i] = (uint32_t)(n0 + i);
  slots[n1] = 10;
  memcpy(v, x + n0 * DIM, n1 * DIM * sizeof *v);
  memcpy(v + n1 * DIM, x + 10 * DIM, DIM * sizeof *v);
  for (size_t off = 0; off <= n1; off += 128) {
    size_t m = n1 + 1 - off < 128 ? n1 + 1 - off : 128;
    cr_assert_eq(vt->add_hidden(ix, slots + off, v + off * DIM, m, off ? NULL : v, n1 + 1), QV_OK);
    /* between chunks: only the first n0 - 1 live slots are ever returned */
    for (size_t i = 0; i < 10; i++) {
      qv_hit got[K];
      size_t ng;
      qv_search_req req = {x + (n0 + off + i % m) * DIM, K, 40, NULL, NULL, NULL}; /* a hidden vector itself */
      cr_assert_eq(vt->search(ix, &req, got, &ng), QV_OK);
      cr_assert_eq(ng, K);
      for (size_t a = 0; a < ng; a++)
        cr_assert(got[a].slot < n0 && got[a].slot != 10, "hidden slot %u returned", got[a].slot);
    }
  }
  cr_assert_null(vt->vector(ix, (uint32_t)n0));
  cr_assert_null(vt->vector(ix, 10));
  qv_index_stats st;
  vt->stats(ix, &st);
  cr_assert_eq(st.count, n0 - 1);
  char path[] = "/tmp/qv_hnsw_hidden_XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  cr_assert_eq(vt->save(ix, path, 1), QV_MISUSE, "saved an index with hidden nodes");
  cr_assert_eq(vt->add_hidden(ix, slots, v, 1, NULL, 0), QV_INVALID, "a hidden slot added again");
  uint32_t live = 5;
  cr_assert_eq(vt->add_hidden(ix, &live, x + 5 * DIM, 1, NULL, 0), QV_INVALID, "a live slot added hidden");
  vt->publish(ix, slots, n1 + 1);
  vt->stats(ix, &st);
  cr_assert_eq(st.count, NB);
  cr_assert_eq(st.n_tombstones, 0);
  cr_assert_not_null(vt->vector(ix, (uint32_t)n0));
  live_set ls = {x, NULL, NULL, NULL};
  double r = recall(QV_METRIC_L2, ix, &ls, NB, q, NQ, 40);
  cr_assert(r >= 0.95, "recall after publish %.4f", r);
  cr_assert_eq(vt->save(ix, path, 1), QV_OK);
  unlink(path);
  vt->destroy(ix);
  free(slots);
  free(v);
  free(x);
  free(q);
}

/* reserve in two steps: build (index only read, searches still answer), install or drop. */
Test(hnsw, reserve_build_install_drop) {
  use_sq8(1);
  float *x = make_data(NB, 55, QV_METRIC_L2);
  float *q = make_data(NQ, 5555, QV_METRIC_L2);
  qv_index *ix = build(QV_METRIC_L2, x, 1000, 2);
  void *staged = NULL;
  cr_assert_eq(vt->reserve_build(ix, 10, &staged), QV_OK);
  cr_assert_null(staged, "room already: nothing to stage");
  cr_assert_eq(vt->reserve_build(ix, NB, &staged), QV_OK);
  cr_assert_not_null(staged);
  live_set ls = {x, NULL, NULL, NULL};
  double r0 = recall(QV_METRIC_L2, ix, &ls, 1000, q, NQ, 40); /* the old arrays still serve */
  vt->reserve_install(ix, staged);
  double r1 = recall(QV_METRIC_L2, ix, &ls, 1000, q, NQ, 40);
  cr_assert_float_eq(r0, r1, 1e-12, "the installed copy answers differently: %.4f vs %.4f", r0, r1);
  uint32_t *slots = malloc(NB * sizeof *slots);
  for (size_t i = 0; i < NB; i++) slots[i] = (uint32_t)i;
  cr_assert_eq(vt->add(ix, slots + 1000, x + 1000 * DIM, NB - 1000), QV_OK);
  double r2 = recall(QV_METRIC_L2, ix, &ls, NB, q, NQ, 40);
  cr_assert(r2 >= 0.95, "recall after growing %.4f", r2);
  cr_assert_eq(vt->reserve_build(ix, 4 * NB, &staged), QV_OK);
  cr_assert_not_null(staged);
  vt->reserve_drop(ix, staged); /* ASan's leak check sees a missed free */
  cr_assert_eq(recall(QV_METRIC_L2, ix, &ls, NB, q, NQ, 40), r2);
  vt->destroy(ix);
  free(slots);
  free(x);
  free(q);
}
