/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_hnsw_lean.c -- an HNSW collection with keep_floats false (index/hnsw: no resident float
 * rows; the exact re-rank, get(include embeddings), compaction and the vector arithmetic read
 * the store's copy): recall against an exact scan, a reopen from a checkpoint plus the write
 * log, deletes and compaction, exact embeddings back, combine / range search / MMR /
 * recommend, cosine, snapshot export; an in-memory database keeps its floats.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <quiver.h>

#include "api_db.h"

enum { N = 3000, DIM = 32, NQ = 50, K = 10 };

static float vecs[N * DIM], qs[NQ * DIM];
static char idbuf[N][16];
static const char *ids[N];

static void make_data(void) {
  uint64_t r = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < (size_t)N * DIM; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    vecs[i] = (float)((double)(r >> 11) * 0x1p-53 - 0.5);
  }
  for (size_t i = 0; i < (size_t)NQ * DIM; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    qs[i] = (float)((double)(r >> 11) * 0x1p-53 - 0.5);
  }
  for (int i = 0; i < N; i++) {
    snprintf(idbuf[i], sizeof idbuf[i], "r%d", i);
    ids[i] = idbuf[i];
  }
}

static qv_collection *new_col(qv_db *db, const char *name, const char *kind, qv_metric m, const char *params) {
  qv_collection_opts o;
  qv_collection *c = NULL;
  qv_collection_opts_init(&o);
  o.dim = DIM;
  o.metric = m;
  o.index = kind;
  o.params_json = params;
  cr_assert_eq(qv_collection_create(db, name, &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  return c;
}

static void add_range(qv_db *db, qv_collection *c, int from, int to) {
  for (int i = from; i < to; i += 500) {
    size_t n = (size_t)(to - i < 500 ? to - i : 500);
    qv_batch b = {0, n, ids + i, vecs + (size_t)i * DIM, NULL, NULL, 0};
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  }
}

static qv_index_stats stats(qv_collection *c) {
  qv_index_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  cr_assert_eq(qv_collection_stats_get(c, &st), QV_OK);
  return st;
}

/* The index holds codes and no float rows. */
static void assert_lean(qv_collection *c) {
  qv_index_stats st = stats(c);
  cr_assert_gt(st.mem_codes, 0);
  cr_assert_eq(st.mem_vectors, st.mem_codes, "mem_vectors %llu, mem_codes %llu: float rows resident",
               (unsigned long long)st.mem_vectors, (unsigned long long)st.mem_codes);
}

/* recall@K of c against the exact scan of the same collection; distances equal the exact ones */
static double recall(qv_db *db, qv_collection *c) {
  qv_query_opts ex;
  qv_query_opts_init(&ex);
  ex.exact = 1;
  qv_results *a = NULL, *b = NULL;
  cr_assert_eq(qv_collection_query(c, qs, NQ, K, NULL, &a), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_query(c, qs, NQ, K, &ex, &b), QV_OK, "%s", qv_db_errmsg(db));
  size_t hit = 0, tot = 0;
  for (size_t q = 0; q < NQ; q++) {
    size_t na = qv_results_count(a, q), nb = qv_results_count(b, q);
    tot += nb;
    for (size_t i = 0; i < na; i++)
      for (size_t j = 0; j < nb; j++)
        if (strcmp(qv_results_id(a, q, i), qv_results_id(b, q, j)) == 0) {
          hit++;
          /* the re-rank is exact: the same record has the same distance both ways */
          cr_assert_float_eq(qv_results_distance(a, q, i), qv_results_distance(b, q, j), 1e-5f);
        }
  }
  qv_results_free(a);
  qv_results_free(b);
  return tot ? (double)hit / (double)tot : 0.0;
}

/* get(include embeddings) of ids[from, to) returns exactly the floats of vecs rows
 * [from + shift, to + shift) (l2: as given). */
static void check_embeddings_of(qv_db *db, qv_collection *c, int from, int to, int shift) {
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.ids = ids + from;
  g.n_ids = (size_t)(to - from);
  g.include = QV_INCLUDE_EMBEDDINGS;
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_results_count(r, 0), (size_t)(to - from));
  for (int i = from; i < to; i++) {
    const float *e = qv_results_embedding(r, 0, (size_t)(i - from));
    cr_assert_not_null(e);
    cr_assert_eq(memcmp(e, vecs + (size_t)(i + shift) * DIM, DIM * sizeof(float)), 0, "record %d: embedding differs",
                 i);
  }
  qv_results_free(r);
}

static void check_embeddings(qv_db *db, qv_collection *c, int from, int to) {
  check_embeddings_of(db, c, from, to, 0);
}

#define LEAN "{\"M\": 12, \"ef_search\": 64, \"keep_floats\": false}"

Test(hnsw_lean, recall_exact_distances_and_embeddings) {
  make_data();
  qv_db *db = open_db(1);
  qv_collection *c = new_col(db, "c", "hnsw", QV_METRIC_L2, LEAN);
  add_range(db, c, 0, N);
  assert_lean(c);
  double r = recall(db, c);
  cr_assert_geq(r, 0.93, "recall %.3f", r);
  check_embeddings(db, c, 100, 140);
  /* and the same collection keeping floats holds them (the parameter is what differs) */
  qv_collection *f = new_col(db, "f", "hnsw", QV_METRIC_L2, "{\"M\": 12, \"keep_floats\": true}");
  add_range(db, f, 0, 500);
  qv_index_stats st = stats(f);
  cr_assert_geq(st.mem_vectors, st.mem_codes + (uint64_t)500 * DIM * 4);
  qv_collection_release(f);
  qv_collection_release(c);
  close_db(db);
}

Test(hnsw_lean, in_memory_database_keeps_floats) {
  make_data();
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", "hnsw", QV_METRIC_L2, LEAN);
  add_range(db, c, 0, 1000);
  qv_index_stats st = stats(c);
  cr_assert_geq(st.mem_vectors, st.mem_codes + (uint64_t)1000 * DIM * 4, "no vector source: floats stay");
  check_embeddings(db, c, 0, 20);
  qv_collection_release(c);
  close_db(db);
}

/* trickled adds widen the quantizer's range batch after batch: every widening re-encodes the
 * stored codes (from the store's floats), and recall holds */
Test(hnsw_lean, trickled_adds_reencode) {
  make_data();
  qv_db *db = open_db(1);
  qv_collection *c = new_col(db, "c", "hnsw", QV_METRIC_L2, LEAN);
  for (int i = 0; i < N; i += 25) {
    qv_batch b = {0, 25, ids + i, vecs + (size_t)i * DIM, NULL, NULL, 0};
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  }
  assert_lean(c);
  double r = recall(db, c);
  cr_assert_geq(r, 0.93, "recall %.3f", r);
  qv_collection_release(c);
  close_db(db);
}

/* A reopen loads the checkpoint (payload without floats) and replays the writes after it. */
Test(hnsw_lean, reopen_checkpoint_and_replay) {
  make_data();
  qv_db *db = open_db(1);
  qv_collection *c = new_col(db, "c", "hnsw", QV_METRIC_L2, LEAN);
  qv_collection_release(c);
  qv_db_close(db);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) { /* the child writes, checkpoints, writes more and dies without closing */
    qv_db *d = NULL;
    qv_collection *cc = NULL;
    if (qv_db_open(tmpdir, NULL, &d) || qv_collection_get(d, "c", &cc)) _exit(2);
    for (int i = 0; i < 2000; i += 500) {
      qv_batch b = {0, 500, ids + i, vecs + (size_t)i * DIM, NULL, NULL, 0};
      if (qv_collection_add(cc, &b, QV_CONFLICT_ERROR)) _exit(3);
    }
    if (qv_db_checkpoint(d)) _exit(4);
    qv_batch b = {0, N - 2000, ids + 2000, vecs + (size_t)2000 * DIM, NULL, NULL, 0};
    if (qv_collection_add(cc, &b, QV_CONFLICT_ERROR)) _exit(5);
    size_t got = 0;
    if (qv_collection_delete_records(cc, ids, 10, NULL, NULL, 0, &got) || got != 10) _exit(6);
    _exit(0);
  }
  int st = 0;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
  db = NULL;
  cr_assert_eq(qv_db_open(tmpdir, NULL, &db), QV_OK);
  cr_assert_eq(qv_collection_get(db, "c", &c), QV_OK);
  cr_assert_eq(stats(c).count, N - 10);
  assert_lean(c);
  double r = recall(db, c);
  cr_assert_geq(r, 0.93, "recall %.3f after replay", r);
  check_embeddings(db, c, 2500, 2520);
  /* a clean close and reopen: the checkpoint alone */
  qv_collection_release(c);
  db = reopen(db);
  cr_assert_eq(qv_collection_get(db, "c", &c), QV_OK);
  cr_assert_eq(stats(c).count, N - 10);
  assert_lean(c);
  cr_assert_geq(recall(db, c), 0.93);
  qv_collection_release(c);
  close_db(db);
}

Test(hnsw_lean, deletes_updates_and_compaction) {
  make_data();
  qv_db *db = open_db(1);
  qv_collection *c = new_col(db, "c", "hnsw", QV_METRIC_L2, LEAN);
  add_range(db, c, 0, N);
  size_t got = 0;
  cr_assert_eq(qv_collection_delete_records(c, ids, 400, NULL, NULL, 0, &got), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(got, 400);
  cr_assert_eq(stats(c).n_tombstones, 400);
  /* new embeddings for 100 live records: their nodes are re-inserted from the batch's floats */
  qv_batch up = {0, 100, ids + 1000, vecs + (size_t)2000 * DIM, NULL, NULL, 0};
  cr_assert_eq(qv_collection_upsert(c, &up), QV_OK, "%s", qv_db_errmsg(db));
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_query(c, vecs + (size_t)2000 * DIM, 1, 2, NULL, &r), QV_OK);
  cr_assert_eq(qv_results_count(r, 0), 2);
  cr_assert_float_eq(qv_results_distance(r, 0, 0), 0.0f, 1e-6f);
  cr_assert_float_eq(qv_results_distance(r, 0, 1), 0.0f, 1e-6f); /* r1000 and r2000 */
  qv_results_free(r);
  cr_assert_eq(qv_collection_compact(c), QV_OK, "%s", qv_db_errmsg(db));
  qv_index_stats st = stats(c);
  cr_assert_eq(st.n_tombstones, 0);
  cr_assert_eq(st.count, N - 400);
  assert_lean(c);
  cr_assert_geq(recall(db, c), 0.93);
  for (int i = 400; i < N; i += 97) { /* every record kept finds itself, none deleted comes back */
    cr_assert_eq(qv_collection_query(c, vecs + (size_t)i * DIM, 1, 5, NULL, &r), QV_OK);
    int self = 0;
    for (size_t j = 0; j < qv_results_count(r, 0); j++) {
      const char *id = qv_results_id(r, 0, j);
      cr_assert_geq(atoi(id + 1), 400, "deleted %s returned", id);
      self += strcmp(id, ids[i]) == 0;
    }
    cr_assert(self || (i >= 1000 && i < 1100), "r%d does not find itself", i);
    qv_results_free(r);
  }
  check_embeddings_of(db, c, 1000, 1010, 1000); /* the upserted rows: now r2000..r2009's vectors */
  qv_collection_release(c);
  close_db(db);
}

/* cosine: the stored (unit) floats are the store's normalized copy; distances exact */
Test(hnsw_lean, cosine) {
  make_data();
  qv_db *db = open_db(1);
  qv_collection *c = new_col(db, "c", "hnsw", QV_METRIC_COSINE, LEAN);
  add_range(db, c, 0, N);
  assert_lean(c);
  double r = recall(db, c);
  cr_assert_geq(r, 0.93, "recall %.3f", r);
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.ids = ids + 5;
  g.n_ids = 1;
  g.include = QV_INCLUDE_EMBEDDINGS;
  qv_results *res = NULL;
  cr_assert_eq(qv_collection_get_records(c, &g, &res), QV_OK);
  const float *e = qv_results_embedding(res, 0, 0);
  for (int j = 0; j < DIM; j++) cr_assert_float_eq(e[j], vecs[5 * DIM + j], 1e-6f); /* the original */
  qv_results_free(res);
  qv_collection_release(c);
  close_db(db);
}

/* vector arithmetic, range search, MMR and recommendation agree with a flat collection */
Test(hnsw_lean, advanced_reads_match_flat) {
  make_data();
  qv_db *db = open_db(1);
  qv_collection *c = new_col(db, "c", "hnsw", QV_METRIC_L2, "{\"M\": 16, \"ef_search\": 200, \"keep_floats\": false}");
  qv_collection *f = new_col(db, "f", "flat", QV_METRIC_L2, NULL);
  add_range(db, c, 0, N);
  add_range(db, f, 0, N);
  qv_vec_term t[3] = {{ids[1], NULL, 1.0f}, {ids[2], NULL, -1.0f}, {ids[3], NULL, 1.0f}};
  qv_results *a = NULL, *b = NULL;
  cr_assert_eq(qv_collection_combine(c, t, 3, 5, 1, NULL, &a), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_combine(f, t, 3, 5, 1, NULL, &b), QV_OK);
  cr_assert_eq(qv_results_count(a, 0), 5);
  cr_assert_str_eq(qv_results_id(a, 0, 0), qv_results_id(b, 0, 0));
  cr_assert_float_eq(qv_results_distance(a, 0, 0), qv_results_distance(b, 0, 0), 1e-4f);
  qv_results_free(a);
  qv_results_free(b);
  /* range: the radius of the 8th neighbour of a stored vector */
  cr_assert_eq(qv_collection_query(f, vecs + 7 * DIM, 1, 8, NULL, &b), QV_OK);
  float rad = qv_results_distance(b, 0, 7);
  qv_results_free(b);
  cr_assert_eq(qv_collection_range_search(c, vecs + 7 * DIM, 1, rad, 0, NULL, &a), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_range_search(f, vecs + 7 * DIM, 1, rad, 0, NULL, &b), QV_OK);
  cr_assert_eq(qv_results_count(a, 0), qv_results_count(b, 0));
  for (size_t i = 0; i < qv_results_count(a, 0); i++)
    cr_assert_float_eq(qv_results_distance(a, 0, i), qv_results_distance(b, 0, i), 1e-4f);
  qv_results_free(a);
  qv_results_free(b);
  /* MMR at lambda 0.5: the diversity term reads the candidates' floats (from the store) */
  cr_assert_eq(qv_collection_query_mmr(c, qs, 5, 0.5f, 20, NULL, &a), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_query_mmr(f, qs, 5, 0.5f, 20, NULL, &b), QV_OK);
  cr_assert_eq(qv_results_count(a, 0), 5);
  for (size_t i = 0; i < 5; i++) cr_assert_str_eq(qv_results_id(a, 0, i), qv_results_id(b, 0, i));
  qv_results_free(a);
  qv_results_free(b);
  /* recommend, both strategies: scores come from the candidates' floats */
  qv_vec_term pos[2] = {{ids[10], NULL, 1}, {ids[11], NULL, 1}}, neg[1] = {{ids[12], NULL, 1}};
  for (int s = 0; s < 2; s++) {
    cr_assert_eq(qv_collection_recommend(c, pos, 2, neg, 1, 5, (qv_recommend_strategy)s, NULL, &a), QV_OK, "%s",
                 qv_db_errmsg(db));
    cr_assert_eq(qv_collection_recommend(f, pos, 2, neg, 1, 5, (qv_recommend_strategy)s, NULL, &b), QV_OK);
    cr_assert_eq(qv_results_count(a, 0), 5);
    cr_assert(isfinite(qv_results_distance(a, 0, 0)), "strategy %d: score %g", s, qv_results_distance(a, 0, 0));
    cr_assert_str_eq(qv_results_id(a, 0, 0), qv_results_id(b, 0, 0), "strategy %d", s);
    cr_assert_float_eq(qv_results_distance(a, 0, 0), qv_results_distance(b, 0, 0), 1e-4f);
    qv_results_free(a);
    qv_results_free(b);
  }
  qv_collection_release(f);
  qv_collection_release(c);
  close_db(db);
}

/* A snapshot of a lean collection carries the floats (read from the store): it answers with
 * exact distances on its own. */
Test(hnsw_lean, snapshot_export) {
  make_data();
  qv_db *db = open_db(1);
  qv_collection *c = new_col(db, "c", "hnsw", QV_METRIC_L2, LEAN);
  add_range(db, c, 0, 1500);
  size_t got = 0;
  cr_assert_eq(qv_collection_delete_records(c, ids, 5, NULL, NULL, 0, &got), QV_OK);
  char path[128];
  snprintf(path, sizeof path, "%s/snap.qvs", tmpdir);
  cr_assert_eq(qv_collection_export(c, path), QV_OK, "%s", qv_db_errmsg(db));
  qv_static *s = NULL;
  char err[256];
  cr_assert_eq(qv_static_open(path, QV_STATIC_VERIFY, &s, err, sizeof err), QV_OK, "%s", err);
  qv_results *a = NULL, *b = NULL;
  cr_assert_eq(qv_static_query(s, qs, 5, K, NULL, &a), QV_OK);
  cr_assert_eq(qv_collection_query(c, qs, 5, K, NULL, &b), QV_OK);
  for (size_t q = 0; q < 5; q++) {
    cr_assert_str_eq(qv_results_id(a, q, 0), qv_results_id(b, q, 0));
    cr_assert_float_eq(qv_results_distance(a, q, 0), qv_results_distance(b, q, 0), 1e-5f);
  }
  qv_results_free(a);
  qv_results_free(b);
  qv_static_close(s);
  qv_collection_release(c);
  close_db(db);
}
