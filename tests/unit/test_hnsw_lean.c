/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_hnsw_lean.c -- the HNSW index with keep_floats false (index/hnsw): no float rows, the
 * exact re-rank through the vector source, selection on decoded codes; recall against brute
 * force, re-encoding when the quantizer's range widens (live nodes from the source's floats,
 * tombstones from their old codes), checkpoint payload v3 (no floats) and its loads into lean
 * and float-keeping indexes, lean loads of v2 files, standalone files, vector-source errors.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"
#include "hnsw_int.h"
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
static float nrand(void) {
  double u = urand() + 1e-12, v = urand();
  return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* n vectors around 20 random centres (scale: the spread of the coordinates) */
static float *make_data(size_t n, uint64_t seed, qv_metric m, float scale) {
  float cent[20][DIM];
  rng_state = 7;
  for (int c = 0; c < 20; c++)
    for (int j = 0; j < DIM; j++) cent[c][j] = 3 * nrand();
  rng_state = seed;
  float *x = malloc(n * DIM * sizeof *x);
  for (size_t i = 0; i < n; i++) {
    int c = (int)(urand() * 20);
    double s = 0;
    for (int j = 0; j < DIM; j++) {
      x[i * DIM + j] = scale * (cent[c][j] + nrand());
      s += (double)x[i * DIM + j] * x[i * DIM + j];
    }
    if (m == QV_METRIC_COSINE)
      for (int j = 0; j < DIM; j++) x[i * DIM + j] = (float)(x[i * DIM + j] / sqrt(s));
  }
  return x;
}

/* The vector source: rows of a test array (slot = row); g_fail makes every read fail. */
static const float *g_rows;
static size_t g_nrows;
static qv_status g_fail;
static size_t g_reads;
static qv_status rows_get(void *ctx, uint32_t s, float *out) {
  (void)ctx;
  g_reads++;
  if (g_fail) return g_fail;
  if (!g_rows || s >= g_nrows) return QV_NOTFOUND;
  memcpy(out, g_rows + (size_t)s * DIM, DIM * sizeof(float));
  return QV_OK;
}
static const qv_vec_source rows_src = {NULL, rows_get};

#define LEAN "{\"M\":16,\"ef_construction\":100,\"ef_search\":64,\"quantizer\":\"sq8\",\"keep_floats\":false}"
#define KEEP "{\"M\":16,\"ef_construction\":100,\"ef_search\":64,\"quantizer\":\"sq8\",\"keep_floats\":true}"

static qv_index_params params(qv_metric m, const char *json, int threads) {
  qv_index_params p = {qv__mem_default(), m, DIM, json, threads, &rows_src, NULL, 0};
  return p;
}

static qv_index *build(qv_metric m, const char *json, const float *x, size_t n, int threads) {
  qv_index_params p = params(m, json, threads);
  qv_index *ix = NULL;
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  uint32_t *slots = malloc(n * sizeof *slots);
  for (size_t i = 0; i < n; i++) slots[i] = (uint32_t)i;
  cr_assert_eq(vt->add(ix, slots, x, n), QV_OK);
  free(slots);
  return ix;
}

static float exact_dist(qv_metric m, const float *a, const float *b) {
  double s = 0;
  for (int j = 0; j < DIM; j++) s += m == QV_METRIC_L2 ? (double)(a[j] - b[j]) * (a[j] - b[j]) : (double)a[j] * b[j];
  return m == QV_METRIC_L2 ? (float)s : (float)(1.0 - s);
}

/* recall@K against brute force over the live rows (alive[s] != 0, NULL = all) */
static double recall(const qv_index *ix, qv_metric m, const float *x, const float *q, const uint8_t *alive) {
  size_t hit = 0;
  for (size_t i = 0; i < NQ; i++) {
    float best[K];
    for (int j = 0; j < K; j++) best[j] = INFINITY;
    for (size_t s = 0; s < NB; s++) {
      if (alive && !alive[s]) continue;
      float d = exact_dist(m, q + i * DIM, x + s * DIM);
      if (d < best[K - 1]) {
        int j = K - 1;
        while (j > 0 && best[j - 1] > d) {
          best[j] = best[j - 1];
          j--;
        }
        best[j] = d;
      }
    }
    qv_hit got[K];
    size_t n = 0;
    qv_search_req req = {q + i * DIM, K, 64, NULL, NULL, NULL};
    cr_assert_eq(vt->search(ix, &req, got, &n), QV_OK);
    for (size_t j = 0; j < n; j++) {
      cr_assert(!alive || alive[got[j].slot], "slot %u removed but returned", got[j].slot);
      /* reported distances are exact (the re-rank read the source's floats) */
      float e = exact_dist(m, q + i * DIM, x + (size_t)got[j].slot * DIM);
      cr_assert(fabsf(got[j].dist - e) <= 1e-4f * (1 + fabsf(e)), "%g vs %g", got[j].dist, e);
      hit += got[j].dist <= best[K - 1] * (1 + 1e-6f) + 1e-6f;
    }
  }
  return (double)hit / (NQ * K);
}

static void check_recall(qv_metric m, int threads) {
  float *x = make_data(NB, 11, m, 1), *q = make_data(NQ, 12, m, 1);
  g_rows = x;
  g_nrows = NB;
  g_fail = QV_OK;
  qv_index *ix = build(m, LEAN, x, NB, threads);
  qv_index_stats st;
  vt->stats(ix, &st);
  cr_assert_eq(st.mem_vectors, st.mem_codes, "no float rows");
  cr_assert_gt(st.mem_codes, 0);
  cr_assert_null(vt->vector(ix, 5));
  cr_assert(vt->contains(ix, 5));
  cr_assert(!vt->contains(ix, NB + 5));
  double r = recall(ix, m, x, q, NULL);
  /* the same data keeping floats: the lean graph is about as good */
  qv_index *kx = build(m, KEEP, x, NB, threads);
  vt->stats(kx, &st);
  cr_assert_geq(st.mem_vectors, st.mem_codes + (uint64_t)NB * DIM * 4);
  double rk = recall(kx, m, x, q, NULL);
  cr_log_info("metric %d: recall lean %.3f, keep_floats %.3f", m, r, rk);
  /* inner product on vectors of unequal norms is the hard case for any graph: 0.9 both ways */
  cr_assert_geq(r, m == QV_METRIC_IP ? 0.87 : 0.93, "metric %d: recall %.3f (keep_floats %.3f)", m, r, rk);
  cr_assert_geq(r, rk - 0.03, "lean %.3f vs keep_floats %.3f", r, rk);
  vt->destroy(kx);
  vt->destroy(ix);
  free(x);
  free(q);
}

Test(hnsw_lean, recall_l2) { check_recall(QV_METRIC_L2, 1); }
Test(hnsw_lean, recall_l2_two_threads) { check_recall(QV_METRIC_L2, 2); }
Test(hnsw_lean, recall_ip) { check_recall(QV_METRIC_IP, 2); }
Test(hnsw_lean, recall_cosine) { check_recall(QV_METRIC_COSINE, 2); }

/* Without a vector source the floats stay whatever the parameter says. */
Test(hnsw_lean, no_source_keeps_floats) {
  float *x = make_data(500, 3, QV_METRIC_L2, 1);
  qv_index_params p = params(QV_METRIC_L2, LEAN, 1);
  p.vsrc = NULL;
  qv_index *ix = NULL;
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  uint32_t slots[500];
  for (uint32_t i = 0; i < 500; i++) slots[i] = i;
  cr_assert_eq(vt->add(ix, slots, x, 500), QV_OK);
  cr_assert_not_null(vt->vector(ix, 7));
  cr_assert_eq(memcmp(vt->vector(ix, 7), x + 7 * DIM, DIM * sizeof(float)), 0);
  vt->destroy(ix);
  free(x);
}

/*
 * Batches whose values grow past the quantizer's range re-encode the stored codes: a live
 * node's code is then exactly the encoding of its float under the final range (it was read
 * from the source), a tombstone's within a step of its float (decoded, re-encoded).
 */
Test(hnsw_lean, widening_range_reencodes) {
  size_t n1 = 600;
  float *x = make_data(NB, 21, QV_METRIC_L2, 1);
  for (size_t i = n1; i < NB; i++)
    for (int j = 0; j < DIM; j++) x[i * DIM + j] *= 4; /* the later batches reach 4x further */
  g_rows = x;
  g_nrows = NB;
  g_fail = QV_OK;
  qv_index_params p = params(QV_METRIC_L2, LEAN, 1);
  qv_index *ix = NULL;
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  uint32_t slots[NB];
  for (uint32_t i = 0; i < NB; i++) slots[i] = i;
  cr_assert_eq(vt->add(ix, slots, x, n1), QV_OK);
  cr_assert_eq(vt->remove(ix, 3), QV_OK);
  g_nrows = n1; /* slot 3's record is gone from the source too */
  g_rows = x;
  float lo0 = ix->q8.lo[0], hi0 = ix->q8.hi[0];
  for (size_t at = n1; at < NB; at += 400) {
    size_t m = NB - at < 400 ? NB - at : 400;
    g_nrows = at + m;
    cr_assert_eq(vt->add(ix, slots + at, x + at * DIM, m), QV_OK);
  }
  cr_assert(ix->q8.lo[0] < lo0 || ix->q8.hi[0] > hi0, "the range did not widen");
  unsigned char *want = malloc(ix->q8.code_bytes);
  float dec[DIM];
  for (uint32_t s = 0; s < n1; s += 7) {
    if (s == 3) continue;
    hnsw_sq8_encode(&ix->q8, x + (size_t)s * DIM, want);
    cr_assert_eq(memcmp(want, code_of(ix, s), ix->q8.code_bytes), 0, "slot %u: code not re-encoded from its floats",
                 s);
  }
  hnsw_sq8_decode(&ix->q8, code_of(ix, 3), dec);
  /* each of the 6 later batches may widen the range once: half a step of rounding each time,
   * half a step from the first encoding */
  for (int j = 0; j < DIM; j++)
    cr_assert_leq(fabsf(dec[j] - x[3 * DIM + j]), 3.51f * ix->q8.scale[j], "dimension %d", j);
  free(want);
  /* and the graph answers well */
  uint8_t alive[NB];
  memset(alive, 1, sizeof alive);
  alive[3] = 0;
  float *q = make_data(NQ, 22, QV_METRIC_L2, 2);
  double r = recall(ix, QV_METRIC_L2, x, q, alive);
  cr_assert_geq(r, 0.90, "recall %.3f", r);
  vt->destroy(ix);
  free(x);
  free(q);
}

static char *tmp_path(const char *name) {
  static char buf[256];
  snprintf(buf, sizeof buf, "/tmp/qv_test_hnsw_lean_%d_%s", (int)getpid(), name);
  return buf;
}

static uint32_t file_payload_version(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  unsigned char h[64];
  cr_assert_eq(fread(h, 1, 64, f), 64);
  fclose(f);
  return (uint32_t)h[16] | (uint32_t)h[17] << 8 | (uint32_t)h[18] << 16 | (uint32_t)h[19] << 24;
}

static long file_size(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}

/* Same answers (slots and distances) from two indexes. */
static void same_answers(const qv_index *a, const qv_index *b, const float *q) {
  for (size_t i = 0; i < NQ; i++) {
    qv_hit g1[K], g2[K];
    size_t n1 = 0, n2 = 0;
    qv_search_req req = {q + i * DIM, K, 40, NULL, NULL, NULL};
    cr_assert_eq(vt->search(a, &req, g1, &n1), QV_OK);
    cr_assert_eq(vt->search(b, &req, g2, &n2), QV_OK);
    cr_assert_eq(n1, n2);
    for (size_t j = 0; j < n1; j++) {
      cr_assert_eq(g1[j].slot, g2[j].slot, "query %zu rank %zu", i, j);
      cr_assert_eq(g1[j].dist, g2[j].dist);
    }
  }
}

Test(hnsw_lean, checkpoint_v3_loads_lean_and_with_floats) {
  float *x = make_data(NB, 31, QV_METRIC_L2, 1), *q = make_data(NQ, 32, QV_METRIC_L2, 1);
  g_rows = x;
  g_nrows = NB;
  g_fail = QV_OK;
  qv_index *ix = build(QV_METRIC_L2, LEAN, x, NB, 2);
  for (uint32_t s = 0; s < NB; s += 17) cr_assert_eq(vt->remove(ix, s), QV_OK);
  const char *path = tmp_path("v3.idx");
  cr_assert_eq(vt->save(ix, path, 77), QV_OK);
  cr_assert_eq(file_payload_version(path), HNSW_PAYLOAD_LEAN);
  /* graph + codes only: no row's floats anywhere, tombstones' neither */
  long len = file_size(path);
  FILE *f = fopen(path, "rb");
  unsigned char *buf = malloc((size_t)len);
  cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  for (uint32_t s = 0; s < NB; s += 17)
    cr_assert_null(memmem(buf, (size_t)len, x + (size_t)s * DIM, DIM * sizeof(float)), "slot %u's floats", s);
  free(buf);
  /* lean load: the same index */
  qv_index_params p = params(QV_METRIC_L2, LEAN, 2);
  qv_index *a = NULL;
  uint64_t seq = 0;
  cr_assert_eq(vt->load(&p, path, &a, &seq), QV_OK);
  cr_assert_eq(seq, 77);
  cr_assert(a->lean);
  same_answers(ix, a, q);
  /* into an index keeping floats: live rows from the source, tombstones decoded */
  p = params(QV_METRIC_L2, KEEP, 2);
  qv_index *b = NULL;
  cr_assert_eq(vt->load(&p, path, &b, NULL), QV_OK);
  cr_assert(!b->lean);
  for (uint32_t s = 1; s < NB; s += 17)
    cr_assert_eq(memcmp(vt->vector(b, s), x + (size_t)s * DIM, DIM * sizeof(float)), 0, "slot %u", s);
  same_answers(ix, b, q);
  /* without a source there are no floats to be had */
  p.vsrc = NULL;
  qv_index *c = (qv_index *)1;
  cr_assert_eq(vt->load(&p, path, &c, NULL), QV_UNSUPPORTED);
  cr_assert_null(c);
  /* the loaded lean index goes on: adds past its loaded arena, reuse of a tombstone */
  float *more = make_data(300, 33, QV_METRIC_L2, 1);
  float *all = malloc((size_t)(NB + 300) * DIM * sizeof *all);
  memcpy(all, x, (size_t)NB * DIM * sizeof *all);
  uint32_t sl[300];
  for (uint32_t i = 0; i < 300; i++) {
    sl[i] = i == 0 ? 17 : NB + i;
    memcpy(all + (size_t)sl[i] * DIM, more + (size_t)i * DIM, DIM * sizeof *all);
  }
  g_rows = all;
  g_nrows = NB + 300;
  cr_assert_eq(vt->add(a, sl, more, 300), QV_OK);
  for (uint32_t i = 0; i < 300; i += 29) {
    qv_hit g[1];
    size_t ng = 0;
    qv_search_req req = {more + (size_t)i * DIM, 1, 40, NULL, NULL, NULL};
    cr_assert_eq(vt->search(a, &req, g, &ng), QV_OK);
    cr_assert_eq(ng, 1);
    cr_assert_eq(g[0].slot, sl[i]);
    cr_assert_float_eq(g[0].dist, 0.0f, 1e-6f);
  }
  vt->destroy(a);
  vt->destroy(b);
  vt->destroy(ix);
  unlink(path);
  free(all);
  free(more);
  free(x);
  free(q);
}

/* A v2 file (written keeping floats, tombstones' floats inside) loads into a lean index. */
Test(hnsw_lean, lean_loads_v2_file) {
  float *x = make_data(NB, 41, QV_METRIC_IP, 1), *q = make_data(NQ, 42, QV_METRIC_IP, 1);
  g_rows = x;
  g_nrows = NB;
  g_fail = QV_OK;
  qv_index *ix = build(QV_METRIC_IP, KEEP, x, NB, 1);
  for (uint32_t s = 0; s < NB; s += 23) cr_assert_eq(vt->remove(ix, s), QV_OK);
  const char *path = tmp_path("v2.idx");
  cr_assert_eq(vt->save(ix, path, 5), QV_OK);
  cr_assert_eq(file_payload_version(path), HNSW_PAYLOAD_VERSION);
  qv_index_params p = params(QV_METRIC_IP, LEAN, 1);
  qv_index *a = NULL;
  cr_assert_eq(vt->load(&p, path, &a, NULL), QV_OK);
  cr_assert(a->lean);
  cr_assert_null(vt->vector(a, 1));
  qv_index_stats st;
  vt->stats(a, &st);
  cr_assert_eq(st.mem_vectors, st.mem_codes);
  same_answers(ix, a, q);
  vt->destroy(a);
  vt->destroy(ix);
  unlink(path);
  free(x);
  free(q);
}

/* A standalone file (for snapshots) of a lean index carries every float: read back without
 * a source, live rows are the source's, tombstones their decoded codes. */
Test(hnsw_lean, standalone_file_carries_floats) {
  float *x = make_data(NB, 51, QV_METRIC_L2, 1), *q = make_data(NQ, 52, QV_METRIC_L2, 1);
  g_rows = x;
  g_nrows = NB;
  g_fail = QV_OK;
  qv_index *ix = build(QV_METRIC_L2, LEAN, x, NB, 1);
  cr_assert_eq(vt->remove(ix, 10), QV_OK);
  const char *path = tmp_path("sa.idx");
  cr_assert_eq(vt->save_standalone(ix, path, 9), QV_OK);
  cr_assert_eq(file_payload_version(path), 1);
  qv_index_params p = params(QV_METRIC_L2, KEEP, 1);
  p.vsrc = NULL;
  qv_index *a = NULL;
  cr_assert_eq(vt->load(&p, path, &a, NULL), QV_OK);
  for (uint32_t s = 0; s < NB; s += 31)
    if (s != 10) cr_assert_eq(memcmp(vt->vector(a, s), x + (size_t)s * DIM, DIM * sizeof(float)), 0, "slot %u", s);
  same_answers(ix, a, q);
  vt->destroy(a);
  /* a source that fails makes the file fail, not hold zeros */
  g_fail = QV_IO;
  cr_assert_eq(vt->save_standalone(ix, path, 9), QV_IO);
  g_fail = QV_OK;
  vt->destroy(ix);
  unlink(path);
  free(x);
  free(q);
}

/* The re-rank reads only its candidates from the source (rerank * k, at least 32), and a
 * failing source fails the search instead of answering from codes. */
Test(hnsw_lean, rerank_reads_and_source_errors) {
  float *x = make_data(NB, 61, QV_METRIC_L2, 1), *q = make_data(NQ, 62, QV_METRIC_L2, 1);
  g_rows = x;
  g_nrows = NB;
  g_fail = QV_OK;
  qv_index *ix = build(QV_METRIC_L2, LEAN, x, NB, 1);
  qv_hit got[K];
  size_t n = 0;
  qv_search_req req = {q, K, 100, NULL, NULL, NULL};
  g_reads = 0;
  cr_assert_eq(vt->search(ix, &req, got, &n), QV_OK);
  cr_assert_eq(n, K);
  cr_assert_eq(g_reads, 32, "%zu reads for rerank 3 x k 10", g_reads);
  cr_assert_eq(vt->set_param(ix, "rerank", 0), QV_OK); /* 0: every one of the ef candidates */
  g_reads = 0;
  cr_assert_eq(vt->search(ix, &req, got, &n), QV_OK);
  cr_assert_eq(g_reads, 100);
  g_fail = QV_IO;
  cr_assert_eq(vt->search(ix, &req, got, &n), QV_IO);
  cr_assert_eq(n, 0);
  qv_hit *many = malloc(NQ * K * sizeof *many);
  size_t nout[NQ];
  cr_assert_eq(vt->search_batch(ix, q, NQ, K, 40, 2, many, nout), QV_IO);
  g_fail = QV_OK;
  cr_assert_eq(vt->search_batch(ix, q, NQ, K, 40, 2, many, nout), QV_OK);
  free(many);
  vt->destroy(ix);
  free(x);
  free(q);
}
