/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_hnsw_filtered_fmnist.c -- filtered search through the collection on real data.
 *
 * All 60000 Fashion-MNIST base vectors go into an HNSW collection with metadata
 * {"label": class, "bucket": row % 100}. Then, through the public API:
 *   - {"label": query's label} (10% selective, graph search with the filter as predicate):
 *     every hit has the label, and recall@10 against shared/data's gt_samelabel >= 0.95;
 *   - {"bucket": q % 100} (1% selective: the planner scans the matching records exactly):
 *     every query returns 10 hits, all matching, and they are the exact top 10;
 *   - the same collection reopened from disk answers identically (no rebuild: the stats'
 *     checkpoint sequence number equals the last write's).
 * Skipped when the data has not been materialised.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <math.h>
#include <quiver.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fvecs.h"

#define NQ 300
#define K 10

static float *base, *queries;
static int32_t *blabel, *qlabel, *gt;
static uint32_t dim, gt_w;
static size_t nb;

static void load(void) {
  char p[4096];
  const char *files[] = {"base.fvecs", "query.fvecs", "base_labels.ivecs", "query_labels.ivecs", "gt_samelabel.ivecs"};
  for (int i = 0; i < 5; i++)
    if (!fmnist_path(files[i], p, sizeof p)) cr_assert_fail("Fashion-MNIST file %s missing (run shared/data/prepare; scripts/test.sh does)", p);
  size_t n, nq2;
  uint32_t d;
  base = vecs_read(fmnist_path("base.fvecs", p, sizeof p), 60000, &dim, &nb);
  queries = vecs_read(fmnist_path("query.fvecs", p, sizeof p), NQ, &d, &n);
  blabel = vecs_read(fmnist_path("base_labels.ivecs", p, sizeof p), 60000, &d, &n);
  qlabel = vecs_read(fmnist_path("query_labels.ivecs", p, sizeof p), NQ, &d, &nq2);
  gt = vecs_read(fmnist_path("gt_samelabel.ivecs", p, sizeof p), NQ, &gt_w, &n);
  cr_assert(base && queries && blabel && qlabel && gt && nb == 60000 && gt_w >= K);
}

static qv_collection *fill(qv_db *db) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = dim;
  o.index = "hnsw";
  o.params_json = "{\"M\": 16, \"ef_construction\": 200, \"ef_search\": 64}";
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "fm", &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  enum { B = 10000 };
  char **ids = malloc(B * sizeof *ids), **metas = malloc(B * sizeof *metas);
  for (size_t i = 0; i < B; i++) {
    ids[i] = malloc(16);
    metas[i] = malloc(64);
  }
  for (size_t off = 0; off < nb; off += B) {
    for (size_t i = 0; i < B; i++) {
      snprintf(ids[i], 16, "%zu", off + i);
      snprintf(metas[i], 64, "{\"label\": %d, \"bucket\": %zu}", blabel[off + i], (off + i) % 100);
    }
    qv_batch b = {0, B, (const char *const *)ids, base + off * dim, (const char *const *)metas, NULL, 0};
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  }
  for (size_t i = 0; i < B; i++) {
    free(ids[i]);
    free(metas[i]);
  }
  free(ids);
  free(metas);
  return c;
}

static double l2(const float *a, const float *b) {
  double s = 0;
  for (uint32_t j = 0; j < dim; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
  return s;
}

/* The exact 10th distance among base rows with row % 100 == bucket. */
static double bucket_kth(const float *q, size_t bucket) {
  double best[K];
  for (int i = 0; i < K; i++) best[i] = INFINITY;
  for (size_t i = bucket; i < nb; i += 100) {
    double d = l2(q, base + i * dim);
    if (d >= best[K - 1]) continue;
    int j = K - 1;
    while (j > 0 && best[j - 1] > d) { best[j] = best[j - 1]; j--; }
    best[j] = d;
  }
  return best[K - 1];
}

/* Runs both filtered checks; returns the ids of the label-filtered answers for comparison. */
static char **check(qv_collection *c, qv_db *db) {
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES | QV_INCLUDE_METADATAS;
  char where[64];
  o.where_json = where;
  size_t hit = 0;
  char **answers = calloc(NQ * K, sizeof *answers);
  for (size_t q = 0; q < NQ; q++) {
    snprintf(where, sizeof where, "{\"label\": %d}", qlabel[q]);
    qv_results *r = NULL;
    cr_assert_eq(qv_collection_query(c, queries + q * dim, 1, K, &o, &r), QV_OK, "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_results_count(r, 0), K);
    for (size_t i = 0; i < K; i++) {
      long id = strtol(qv_results_id(r, 0, i), NULL, 10);
      cr_assert_eq(blabel[id], qlabel[q], "query %zu hit %ld has label %d", q, id, blabel[id]);
      for (size_t j = 0; j < K; j++) hit += gt[q * gt_w + j] == id;
      answers[q * K + i] = strdup(qv_results_id(r, 0, i));
    }
    qv_results_free(r);
  }
  double recall = (double)hit / (NQ * K);
  cr_expect_geq(recall, 0.95, "label-filtered recall@10 %.4f < 0.95", recall);
  for (size_t q = 0; q < NQ; q++) {
    snprintf(where, sizeof where, "{\"bucket\": %zu}", q % 100);
    qv_results *r = NULL;
    cr_assert_eq(qv_collection_query(c, queries + q * dim, 1, K, &o, &r), QV_OK);
    cr_assert_eq(qv_results_count(r, 0), K, "1%% filter: query %zu got %zu hits", q, qv_results_count(r, 0));
    double kth = bucket_kth(queries + q * dim, q % 100);
    for (size_t i = 0; i < K; i++) {
      long id = strtol(qv_results_id(r, 0, i), NULL, 10);
      cr_assert_eq((size_t)id % 100, q % 100);
      cr_assert_leq(l2(queries + q * dim, base + (size_t)id * dim), kth, "1%% filter: query %zu hit %zu not exact", q, i);
    }
    qv_results_free(r);
  }
  return answers;
}

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w) {
  (void)s; (void)f; (void)w;
  return remove(p);
}

Test(recall, hnsw_filtered_and_reopen, .timeout = 900) {
  load();
  char dir[] = "/tmp/qv-filtered-XXXXXX";
  cr_assert(mkdtemp(dir));
  qv_db *db = NULL;
  cr_assert_eq(qv_db_open(dir, NULL, &db), QV_OK);
  qv_collection *c = fill(db);
  char **a1 = check(c, db);
  qv_collection_release(c);
  qv_db_close(db);

  cr_assert_eq(qv_db_open(dir, NULL, &db), QV_OK);
  cr_assert_eq(qv_collection_get(db, "fm", &c), QV_OK);
  qv_index_stats st;
  cr_assert_eq(qv_collection_stats_get(c, &st), QV_OK);
  cr_expect_eq(st.checkpoint_seq, st.last_seq, "reopen replayed or rebuilt the index");
  cr_expect_eq(st.count, 60000);
  char **a2 = check(c, db);
  for (size_t i = 0; i < NQ * K; i++) {
    cr_expect_str_eq(a1[i], a2[i], "answer %zu differs after reopen", i);
    free(a1[i]);
    free(a2[i]);
  }
  free(a1);
  free(a2);
  qv_collection_release(c);
  qv_db_close(db);
  nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  free(base); free(queries); free(blabel); free(qlabel); free(gt);
}
