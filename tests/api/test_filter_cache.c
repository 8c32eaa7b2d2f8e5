/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_filter_cache.c -- a filter used repeatedly is answered from a cached bitmap of matching
 * records (src/fcache.h); those answers must stay exactly those of evaluating the filter
 * afresh, across adds, metadata updates, upserts, deletes and slot reuse, on flat and HNSW.
 * A filter text seen for the first time is never cached, so a text made unique (extra spaces)
 * gives the reference answer through the per-record path.
 */
#include <criterion/criterion.h>
#include <quiver.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIM 8
#define N 400

static unsigned rng = 12345;
static float frand(void) {
  rng = rng * 1103515245u + 12345u;
  return (float)((rng >> 8) & 0xffff) / 65536.0f;
}

static void add_range(qv_collection *c, int from, int to, int tag_mod) {
  static char ids[N][16], metas[N][64];
  const char *idp[N], *mp[N];
  float emb[N * DIM];
  int n = 0;
  for (int i = from; i < to; i++, n++) {
    snprintf(ids[n], sizeof ids[n], "r%d", i);
    snprintf(metas[n], sizeof metas[n], "{\"tag\": \"t%d\", \"n\": %d}", i % tag_mod, i);
    idp[n] = ids[n];
    mp[n] = metas[n];
    for (int j = 0; j < DIM; j++) emb[n * DIM + j] = frand();
  }
  qv_batch b = {0, (size_t)n, idp, emb, mp, NULL, 0};
  cr_assert_eq(qv_collection_upsert(c, &b), QV_OK);
}

/* Query with where (cached after repeats) and with a never-seen spelling of it: same answer. */
static void compare(qv_collection *c, const char *where_fmt, int arg, int round) {
  static int uniq = 0;
  char where[256], fresh[512];
  snprintf(where, sizeof where, where_fmt, arg);
  int pad = ++uniq;
  snprintf(fresh, sizeof fresh, "%*s%s", pad, "", where);
  float q[DIM];
  for (int j = 0; j < DIM; j++) q[j] = frand();
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  o.ef_search = 400;
  o.exact = 1; /* exact both ways: the answers must be identical, not just close */
  for (int rep = 0; rep < 3; rep++) { /* the 2nd and 3rd use hit the cache */
    qv_results *a = NULL, *b = NULL;
    o.where_json = where;
    cr_assert_eq(qv_collection_query(c, q, 1, 20, &o, &a), QV_OK);
    o.where_json = fresh;
    cr_assert_eq(qv_collection_query(c, q, 1, 20, &o, &b), QV_OK);
    cr_assert_eq(qv_results_count(a, 0), qv_results_count(b, 0), "round %d rep %d %s", round, rep, where);
    for (size_t i = 0; i < qv_results_count(a, 0); i++)
      cr_assert_str_eq(qv_results_id(a, 0, i), qv_results_id(b, 0, i), "round %d rep %d %s hit %zu", round, rep,
                       where, i);
    qv_results_free(a);
    qv_results_free(b);
  }
}

static void churn_and_check(const char *kind) {
  qv_db *db = NULL;
  qv_collection *c = NULL;
  qv_collection_opts co;
  qv_collection_opts_init(&co);
  co.dim = DIM;
  co.index = kind;
  cr_assert_eq(qv_db_open(NULL, NULL, &db), QV_OK);
  cr_assert_eq(qv_collection_create(db, "c", &co, &c), QV_OK);
  add_range(c, 0, N / 2, 5);
  for (int round = 0; round < 6; round++) {
    compare(c, "{\"tag\": \"t%d\"}", round % 5, round);
    compare(c, "{\"$and\": [{\"tag\": {\"$in\": [\"t1\", \"t2\"]}}, {\"n\": {\"$lt\": %d}}]}", 100 + 40 * round, round);
    switch (round % 3) {
      case 0: add_range(c, N / 2 + round * 20, N / 2 + round * 20 + 20, 5); break; /* new records */
      case 1: add_range(c, 0, 60, 3); break;                                       /* tags change */
      default: {
        size_t del = 0;
        char w[64];
        snprintf(w, sizeof w, "{\"n\": {\"$lt\": %d}}", 30 + round);
        cr_assert_eq(qv_collection_delete_records(c, NULL, 0, w, NULL, 0, &del), QV_OK);
        cr_assert_gt(del, 0);
        add_range(c, 0, 10, 2); /* reuses freed slots */
      }
    }
  }
  qv_collection_release(c);
  qv_db_close(db);
}

Test(filter_cache, flat_matches_fresh_evaluation) { churn_and_check("flat"); }
Test(filter_cache, hnsw_matches_fresh_evaluation) { churn_and_check("hnsw"); }
