/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_index_ivf.c -- the ivf index kind through its vtable: recall against exact search on
 * clustered synthetic data for every quantizer, re-ranking through a vector source when the
 * floats are not resident, the untrained buffer (exact), explicit train(), removes and
 * replacements, predicates, runtime parameters, checkpoints (round trip, corrupt and
 * mismatched files refused).
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

static uint64_t g_rng = 4242;

static uint32_t urand(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(g_rng >> 33);
}
static float frand(void) { return (float)urand() / 2147483648.0f * 2.0f - 1.0f; }

#define DIM 32
#define N 6000

/* N vectors around 60 centers, then 100 queries from the same mixture. */
static float *clustered(size_t n, uint64_t seed) {
  uint64_t keep = g_rng;
  g_rng = 99; /* the same centers every call */
  float c[60 * DIM];
  for (size_t i = 0; i < 60 * DIM; i++) c[i] = frand();
  g_rng = seed ^ keep;
  float *v = malloc(n * DIM * sizeof *v);
  for (size_t i = 0; i < n; i++) {
    size_t k = urand() % 60;
    for (size_t j = 0; j < DIM; j++) v[i * DIM + j] = c[k * DIM + j] + 0.15f * frand();
  }
  return v;
}

/* the vector source of a test: rows of an array, slots with a NaN first element are absent */
static float *g_src;
static qv_status src_get(void *ctx, uint32_t slot, float *out) {
  (void)ctx;
  if (slot >= N || isnan(g_src[(size_t)slot * DIM])) return QV_NOTFOUND;
  memcpy(out, g_src + (size_t)slot * DIM, DIM * sizeof *out);
  return QV_OK;
}
static const qv_vec_source g_vsrc = {NULL, src_get, NULL};
/* the same rows through get_many (counted: the re-rank reads its candidates in batches) */
static size_t g_many_calls, g_many_rows;
static qv_status src_get_many(void *ctx, const uint32_t *slots, size_t n, float *out, qv_status *each) {
  g_many_calls++;
  g_many_rows += n;
  for (size_t i = 0; i < n; i++) each[i] = src_get(ctx, slots[i], out + i * DIM);
  return QV_OK;
}
static const qv_vec_source g_vsrc_many = {NULL, NULL, src_get_many};

static qv_index *make(const char *params, qv_metric m, int with_src) {
  qv_index_params p = {.mem = qv__mem_default(), .metric = m, .dim = DIM, .params_json = params, .n_threads = 1,
                       .vsrc = with_src == 2 ? &g_vsrc_many : with_src ? &g_vsrc : NULL};
  char err[256], *canon = NULL;
  cr_assert_eq(qv__params_canon(qv__mem_default(), qv__index_ivf.params, "ivf", params, &canon, err, sizeof err), QV_OK,
               "%s", err);
  qv__free(qv__mem_default(), canon);
  qv_index *ix = NULL;
  cr_assert_eq(qv__index_ivf.create(&p, &ix), QV_OK);
  return ix;
}

static void add_all(qv_index *ix, const float *v, size_t n) {
  uint32_t *slots = malloc(n * sizeof *slots);
  for (size_t i = 0; i < n; i++) slots[i] = (uint32_t)i;
  cr_assert_eq(qv__index_ivf.add(ix, slots, v, n), QV_OK);
  free(slots);
}

/* exact top-k over rows [0, n) (skipping NaN rows and those pred rejects) */
static size_t brute(const float *v, size_t n, const float *q, size_t k, qv_metric m, qv_slot_pred pred, qv_hit *out) {
  const qv_kernels *kern = qv__kernels();
  qv_topk t;
  qv__topk_init(&t, out, k);
  for (size_t i = 0; i < n; i++) {
    if (isnan(v[i * DIM]) || (pred && !pred(NULL, (uint32_t)i))) continue;
    qv__topk_push(&t, qv__metric_dist(kern, m, q, v + i * DIM, DIM), (uint32_t)i);
  }
  return qv__topk_finish(&t);
}

static double recall(const qv_index *ix, const float *v, size_t n, const float *qs, size_t nq, qv_metric m,
                     uint32_t ef, qv_slot_pred pred) {
  size_t hit = 0, tot = 0;
  for (size_t i = 0; i < nq; i++) {
    qv_hit got[10], want[10];
    size_t ng = 0;
    qv_search_req req = {qs + i * DIM, 10, ef, pred, NULL, NULL};
    cr_assert_eq(qv__index_ivf.search(ix, &req, got, &ng), QV_OK);
    size_t nw = brute(v, n, qs + i * DIM, 10, m, pred, want);
    for (size_t a = 0; a < nw; a++)
      for (size_t b = 0; b < ng; b++) hit += want[a].slot == got[b].slot;
    for (size_t b = 0; b < ng; b++) {
      cr_assert(!pred || pred(NULL, got[b].slot));
      cr_assert(!isnan(v[(size_t)got[b].slot * DIM]), "removed slot %u returned", got[b].slot);
    }
    tot += nw;
  }
  return (double)hit / (double)tot;
}

static void check_recall(const char *params, qv_metric m, double want, int with_src) {
  float *v = clustered(N, 1), *qs = clustered(100, 2);
  if (m == QV_METRIC_COSINE)
    for (size_t i = 0; i < N; i++) qv__normalize(v + i * DIM, DIM);
  if (m == QV_METRIC_COSINE)
    for (size_t i = 0; i < 100; i++) qv__normalize(qs + i * DIM, DIM);
  g_src = v;
  qv_index *ix = make(params, m, with_src);
  add_all(ix, v, N);
  double r = recall(ix, v, N, qs, 100, m, 0, NULL);
  cr_assert(r >= want, "%s: recall %.3f < %.3f", params, r, want);
  if (with_src && !strstr(params, "\"none\"")) cr_assert_null(qv__index_ivf.vector(ix, 5), "%s", params);
  qv_index_stats st;
  memset(&st, 0, sizeof st);
  qv__index_ivf.stats(ix, &st);
  cr_assert_eq(st.count, N);
  qv__index_ivf.destroy(ix);
  free(v);
  free(qs);
}

Test(ivf, recall_none) { check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"none\"}", QV_METRIC_L2, 0.95, 0); }
Test(ivf, recall_sq8) { check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"sq8\"}", QV_METRIC_L2, 0.95, 0); }
/* codes only: the high-nibble scan, then the best k * refine re-scored on all 8 bits */
Test(ivf, recall_sq8_refine) {
  check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"sq8\",\"rerank\":0,\"refine\":4}", QV_METRIC_L2, 0.95, 1);
}
/* tight clusters on the sphere: 4-bit coarse codes need more candidates (refine 20), then the
   floats of the vector source (rerank 2) */
Test(ivf, recall_sq8_refine_cosine) {
  check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"sq8\",\"rerank\":2,\"refine\":20}", QV_METRIC_COSINE, 0.95,
               1);
}
Test(ivf, recall_sq4) { check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"sq4\",\"rerank\":8}", QV_METRIC_L2, 0.95, 0); }
Test(ivf, recall_pq8) {
  check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"pq\",\"pq_m\":8,\"rerank\":8}", QV_METRIC_L2, 0.95, 0);
}
Test(ivf, recall_pq4_fastscan) {
  check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"pq\",\"pq_m\":16,\"pq_bits\":4,\"rerank\":8}", QV_METRIC_L2,
               0.95, 0);
}
Test(ivf, recall_rabitq) {
  check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"rabitq\",\"rerank\":8}", QV_METRIC_L2, 0.95, 0);
}
Test(ivf, recall_binary) {
  check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"binary\",\"rerank\":20}", QV_METRIC_L2, 0.6, 0);
}
Test(ivf, recall_cosine_none) { check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"none\"}", QV_METRIC_COSINE, 0.99, 0); }
Test(ivf, recall_cosine_pq) {
  check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"pq\",\"pq_m\":16,\"pq_bits\":4,\"rerank\":16}",
               QV_METRIC_COSINE, 0.95, 0);
}
Test(ivf, recall_ip_rabitq) {
  check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"rabitq\",\"rerank\":8}", QV_METRIC_IP, 0.9, 0);
}
/* floats not resident: re-ranking reads the vector source */
Test(ivf, rerank_from_source) {
  check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"pq\",\"pq_m\":16,\"pq_bits\":4,\"rerank\":8}", QV_METRIC_L2,
               0.95, 1);
}

/* the same through get_many: k * rerank = 80 candidates are two calls per query (64 + 16 rows) */
Test(ivf, rerank_from_source_batched) {
  g_many_calls = g_many_rows = 0;
  check_recall("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"pq\",\"pq_m\":16,\"pq_bits\":4,\"rerank\":8}", QV_METRIC_L2,
               0.95, 2);
  cr_assert_eq(g_many_calls, 200, "get_many calls %zu for 100 queries", g_many_calls);
  cr_assert_eq(g_many_rows, 8000, "rows %zu", g_many_rows);
}

Test(ivf, nprobe_and_per_query_ef) {
  float *v = clustered(N, 1), *qs = clustered(100, 2);
  qv_index *ix = make("{\"nlist\":64,\"nprobe\":1,\"quantizer\":\"none\"}", QV_METRIC_L2, 0);
  add_all(ix, v, N);
  double r1 = recall(ix, v, N, qs, 100, QV_METRIC_L2, 0, NULL);
  double r64 = recall(ix, v, N, qs, 100, QV_METRIC_L2, 64, NULL); /* every cell: exact */
  cr_assert_eq(r64, 1.0);
  cr_assert(r1 < r64, "nprobe 1: %.3f", r1);
  cr_assert_eq(qv__index_ivf.set_param(ix, "nprobe", 64), QV_OK);
  cr_assert_eq(recall(ix, v, N, qs, 100, QV_METRIC_L2, 0, NULL), 1.0);
  cr_assert_eq(qv__index_ivf.set_param(ix, "nlist", 3), QV_INVALID);
  /* a query's own parameters: nprobe 64 for this query only */
  qv_hit got[10], want[10];
  size_t ng;
  cr_assert_eq(qv__index_ivf.set_param(ix, "nprobe", 1), QV_OK);
  for (size_t i = 0; i < 100; i++) {
    qv_search_req req = {qs + i * DIM, 10, 0, NULL, NULL, "{\"nprobe\":64}"};
    cr_assert_eq(qv__index_ivf.search(ix, &req, got, &ng), QV_OK);
    cr_assert_eq(ng, brute(v, N, qs + i * DIM, 10, QV_METRIC_L2, NULL, want));
    /* every cell: the exact neighbours (distances equal up to the kernels' rounding) */
    for (size_t j = 0; j < ng; j++)
      cr_assert(fabsf(got[j].dist - want[j].dist) <= 1e-5f * (1.0f + want[j].dist), "query %zu rank %zu", i, j);
  }
  cr_assert_eq(recall(ix, v, N, qs, 100, QV_METRIC_L2, 0, NULL), r1); /* the collection's value again */
  qv__index_ivf.destroy(ix);
  free(v);
  free(qs);
}

Test(ivf, untrained_buffer_is_exact_then_trains) {
  float *v = clustered(N, 1), *qs = clustered(20, 2);
  qv_index *ix = make("{\"nlist\":32,\"nprobe\":32,\"quantizer\":\"sq8\",\"train_size\":2000}", QV_METRIC_L2, 0);
  add_all(ix, v, 500); /* below train_size: buffered */
  for (size_t i = 0; i < 20; i++) {
    qv_hit got[10], want[10];
    size_t ng;
    qv_search_req req = {qs + i * DIM, 10, 0, NULL, NULL, NULL};
    cr_assert_eq(qv__index_ivf.search(ix, &req, got, &ng), QV_OK);
    cr_assert_eq(ng, brute(v, 500, qs + i * DIM, 10, QV_METRIC_L2, NULL, want));
    for (size_t j = 0; j < ng; j++) cr_assert_eq(got[j].slot, want[j].slot);
  }
  uint32_t slots[1500];
  for (uint32_t i = 0; i < 1500; i++) slots[i] = 500 + i;
  cr_assert_eq(qv__index_ivf.add(ix, slots, v + 500 * DIM, 1500), QV_OK); /* reaches train_size */
  qv_index_stats st;
  memset(&st, 0, sizeof st);
  qv__index_ivf.stats(ix, &st);
  cr_assert_eq(st.count, 2000);
  cr_assert(st.mem_graph > 32u * DIM * 4, "centroids counted once trained");
  cr_assert(recall(ix, v, 2000, qs, 20, QV_METRIC_L2, 0, NULL) >= 0.98);
  qv__index_ivf.destroy(ix);
  free(v);
  free(qs);
}

Test(ivf, explicit_train) {
  float *v = clustered(N, 1), *qs = clustered(50, 2);
  qv_index *ix = make("{\"nlist\":64,\"nprobe\":16,\"quantizer\":\"pq\",\"pq_bits\":4,\"pq_m\":16,\"rerank\":8}", QV_METRIC_L2, 0);
  cr_assert_eq(qv__index_ivf.train(ix, v, 10), QV_INVALID); /* fewer than nlist */
  cr_assert_eq(qv__index_ivf.train(ix, v, 3000), QV_OK);
  add_all(ix, v, 100); /* trained: straight into the lists */
  add_all(ix, v, N);
  double r = recall(ix, v, N, qs, 50, QV_METRIC_L2, 0, NULL);
  cr_assert(r >= 0.95, "recall %.3f", r);
  qv__index_ivf.destroy(ix);
  free(v);
  free(qs);
}

static int even(void *ctx, uint32_t slot) {
  (void)ctx;
  return (slot & 1) == 0;
}

Test(ivf, removes_replacements_filters) {
  float *v = clustered(N, 1), *qs = clustered(50, 2);
  g_src = v;
  qv_index *ix = make("{\"nlist\":64,\"nprobe\":16,\"quantizer\":\"pq\",\"pq_m\":16,\"pq_bits\":4}", QV_METRIC_L2, 1);
  add_all(ix, v, N);
  /* remove every third slot */
  size_t live = N;
  for (uint32_t s = 0; s < N; s += 3) {
    cr_assert_eq(qv__index_ivf.remove(ix, s), QV_OK);
    cr_assert_eq(qv__index_ivf.remove(ix, s), QV_NOTFOUND);
    cr_assert_eq(qv__index_ivf.contains(ix, s), 0);
    v[(size_t)s * DIM] = NAN;
    live--;
  }
  cr_assert(recall(ix, v, N, qs, 50, QV_METRIC_L2, 0, NULL) >= 0.95);
  /* replace 200 live vectors by copies of queries: each must come back first for its query */
  for (uint32_t i = 0; i < 50; i++) {
    uint32_t s = 1 + 3 * i;
    memcpy(v + (size_t)s * DIM, qs + (size_t)i * DIM, DIM * sizeof(float));
    cr_assert_eq(qv__index_ivf.add(ix, &s, qs + (size_t)i * DIM, 1), QV_OK);
  }
  qv_index_stats st;
  memset(&st, 0, sizeof st);
  qv__index_ivf.stats(ix, &st);
  cr_assert_eq(st.count, live);
  for (uint32_t i = 0; i < 50; i++) {
    qv_hit got[10];
    size_t ng;
    qv_search_req req = {qs + i * DIM, 10, 0, NULL, NULL, NULL};
    cr_assert_eq(qv__index_ivf.search(ix, &req, got, &ng), QV_OK);
    cr_assert_eq(got[0].slot, 1 + 3 * i, "query %u: got slot %u", i, got[0].slot);
    cr_assert(got[0].dist < 1e-5f);
  }
  /* a removed slot comes back when re-added */
  uint32_t s0 = 0;
  memcpy(v, qs, DIM * sizeof(float));
  cr_assert_eq(qv__index_ivf.add(ix, &s0, qs, 1), QV_OK);
  cr_assert(qv__index_ivf.contains(ix, 0));
  cr_assert(recall(ix, v, N, qs, 50, QV_METRIC_L2, 0, even) >= 0.9);
  qv__index_ivf.destroy(ix);
  free(v);
  free(qs);
}

static char *tmp_path(void) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/qv_ivf_%d_XXXXXX", (int)getpid());
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  close(fd);
  return path;
}

static void round_trip(const char *params, int with_src, int trained) {
  float *v = clustered(N, 1), *qs = clustered(30, 2);
  g_src = v;
  qv_index *ix = make(params, QV_METRIC_L2, with_src);
  add_all(ix, v, trained ? N : 300);
  for (uint32_t s = 5; s < 300; s += 7) {
    cr_assert_eq(qv__index_ivf.remove(ix, s), QV_OK);
    v[(size_t)s * DIM] = NAN;
  }
  char *path = tmp_path();
  cr_assert_eq(qv__index_ivf.save(ix, path, 77), QV_OK);
  qv_index_params p = {.mem = qv__mem_default(), .metric = QV_METRIC_L2, .dim = DIM, .params_json = params,
                       .vsrc = with_src ? &g_vsrc : NULL};
  qv_index *b = NULL;
  uint64_t seq = 0;
  cr_assert_eq(qv__index_ivf.load(&p, path, &b, &seq), QV_OK, "%s", params);
  cr_assert_eq(seq, 77);
  for (size_t i = 0; i < 30; i++) {
    qv_hit ga[10], gb[10];
    size_t na, nb;
    qv_search_req req = {qs + i * DIM, 10, 0, NULL, NULL, NULL};
    cr_assert_eq(qv__index_ivf.search(ix, &req, ga, &na), QV_OK);
    cr_assert_eq(qv__index_ivf.search(b, &req, gb, &nb), QV_OK);
    cr_assert_eq(na, nb);
    for (size_t j = 0; j < na; j++) {
      cr_assert_eq(ga[j].slot, gb[j].slot);
      cr_assert_eq(ga[j].dist, gb[j].dist);
    }
  }
  qv_index_stats sa, sb;
  memset(&sa, 0, sizeof sa);
  memset(&sb, 0, sizeof sb);
  qv__index_ivf.stats(ix, &sa);
  qv__index_ivf.stats(b, &sb);
  cr_assert_eq(sa.count, sb.count);
  cr_assert_eq(sa.n_slots, sb.n_slots);
  /* the loaded index keeps working: removes and adds */
  uint32_t s = 1;
  cr_assert_eq(qv__index_ivf.remove(b, s), QV_OK);
  cr_assert_eq(qv__index_ivf.add(b, &s, v + DIM, 1), QV_OK);
  qv__index_ivf.destroy(b);
  /* other fixed parameters: refused */
  p.params_json = "{\"nlist\":32,\"quantizer\":\"sq8\"}";
  cr_assert_eq(qv__index_ivf.load(&p, path, &b, &seq), QV_CORRUPT);
  /* a flipped byte anywhere in the payload: refused */
  FILE *f = fopen(path, "r+b");
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, QV_CKPT_HEADER + (len - QV_CKPT_HEADER) / 2, SEEK_SET);
  int c = fgetc(f);
  fseek(f, -1, SEEK_CUR);
  fputc(c ^ 0x5a, f);
  fclose(f);
  p.params_json = params;
  cr_assert_eq(qv__index_ivf.load(&p, path, &b, &seq), QV_CORRUPT);
  unlink(path);
  cr_assert_eq(qv__index_ivf.load(&p, path, &b, &seq), QV_NOTFOUND);
  qv__index_ivf.destroy(ix);
  free(v);
  free(qs);
}

Test(ivf, persist_pq4_no_floats) {
  round_trip("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"pq\",\"pq_m\":16,\"pq_bits\":4}", 1, 1);
}
Test(ivf, persist_rabitq_keep_floats) {
  round_trip("{\"nlist\":64,\"nprobe\":8,\"quantizer\":\"rabitq\",\"keep_floats\":true}", 1, 1);
}
Test(ivf, persist_untrained) { round_trip("{\"nlist\":64,\"quantizer\":\"sq4\"}", 1, 0); }
Test(ivf, persist_none) { round_trip("{\"nlist\":64,\"quantizer\":\"none\"}", 0, 1); }

/* Payloads with a valid envelope but inconsistent content: refused, never a crash. */
Test(ivf, structurally_bad_payloads) {
  const char *params = "{\"nlist\":4,\"quantizer\":\"none\",\"train_size\":1024}";
  qv_index_params p = {.mem = qv__mem_default(), .metric = QV_METRIC_L2, .dim = DIM, .params_json = params};
  char *path = tmp_path();
  for (int variant = 0; variant < 5; variant++) {
    qv_ckpt_writer w;
    qv_ckpt_hdr hdr = {.kind_tag = (uint32_t)'I' | (uint32_t)'V' << 8 | (uint32_t)'F' << 16 | (uint32_t)'1' << 24,
                       .payload_version = 1, .dim = DIM, .metric = QV_METRIC_L2, .seq = 1};
    cr_assert_eq(qv__ckpt_begin(&w, qv__mem_default(), path, &hdr), QV_OK);
    uint32_t h32[8] = {4, 0, 0, 0, 8, 0, DIM * 4, 1};
    uint64_t h64[4] = {3, 2, 0, 2}; /* n_slots 3, count 2, no state, 2 buffered */
    if (variant == 1) h64[1] = 4;    /* count > n_slots */
    if (variant == 2) h32[0] = 5;    /* nlist differs */
    qv__ckpt_write(&w, h32, sizeof h32);
    qv__ckpt_write(&w, h64, sizeof h64);
    uint32_t slots[2] = {0, variant == 3 ? 9u : 2u}; /* 3: slot beyond n_slots */
    if (variant == 4) slots[1] = 0;                    /* 4: the same slot twice */
    qv__ckpt_write(&w, slots, sizeof slots);
    float fl[2 * DIM] = {0};
    qv__ckpt_write(&w, fl, sizeof fl);
    cr_assert_eq(qv__ckpt_commit(&w), QV_OK);
    qv_index *b = NULL;
    uint64_t seq;
    qv_status rc = qv__index_ivf.load(&p, path, &b, &seq);
    if (variant == 0) {
      cr_assert_eq(rc, QV_OK);
      cr_assert(qv__index_ivf.contains(b, 2) && !qv__index_ivf.contains(b, 1));
      qv__index_ivf.destroy(b);
    } else {
      cr_assert_eq(rc, QV_CORRUPT, "variant %d", variant);
    }
  }
  unlink(path);
}
