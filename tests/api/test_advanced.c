/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_advanced.c -- API tests of the advanced reads: range search (exact on flat, the
 * batch equal to single queries, the graph's answer inside the radius and close to the exact
 * set, limit, filters), combine / interpolate / centroid (against a brute force of the same
 * definition, inputs excluded), recommend (best-score exact on flat), MMR (lambda 1 is plain
 * top-k), k-means (blobs recovered, inertia = sum of distances, label_key persisted across a
 * reopen), and the argument errors naming their field.
 *
 * Public header only.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <quiver.h>

#include "api_db.h"

#define N 1200
#define DIM 12

static float X[N * DIM];
static char idbuf[N][16];
static const char *ids[N];

static float frand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((*s >> 40) & 0xFFFFFF) / (float)0x1000000 * 2.0f - 1.0f;
}

static void fill(uint64_t seed) {
  for (size_t i = 0; i < N * DIM; i++) X[i] = frand(&seed);
  for (size_t i = 0; i < N; i++) {
    snprintf(idbuf[i], sizeof idbuf[i], "%zu", i);
    ids[i] = idbuf[i];
  }
}

static qv_collection *make(qv_db *db, const char *name, qv_metric m, const char *k, const char *const *metas) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = DIM;
  o.metric = m;
  o.index = k;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, name, &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  qv_batch b = {.n = N, .ids = ids, .embeddings = X, .metadatas = metas};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  return c;
}

static double l2(const float *a, const float *b) {
  double s = 0;
  for (int j = 0; j < DIM; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
  return s;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* A radius between the want-th and the next nearest distance to q. */
static double radius_for(const float *q, int want) {
  static double d[N];
  for (int i = 0; i < N; i++) d[i] = l2(X + i * DIM, q);
  qsort(d, N, sizeof *d, cmp_double);
  return (d[want - 1] + d[want]) / 2;
}

/* Nearest record to q by brute force (l2), skipping skip[0..n_skip). */
static int brute_nearest(const double *q, const int *skip, int n_skip) {
  int best = -1;
  double bd = INFINITY;
  for (int i = 0; i < N; i++) {
    int skipped = 0;
    for (int s = 0; s < n_skip; s++) skipped |= skip[s] == i;
    if (skipped) continue;
    double d = 0;
    for (int j = 0; j < DIM; j++) d += (X[i * DIM + j] - q[j]) * (X[i * DIM + j] - q[j]);
    if (d < bd) bd = d, best = i;
  }
  return best;
}

Test(advanced, range_flat_exact_and_batch) {
  fill(1);
  qv_db *db = open_db(0);
  qv_collection *c = make(db, "c", QV_METRIC_L2, "flat", NULL);
  const float *q = X + 7 * DIM;
  for (int want = 1; want <= 100; want *= 10) {
    double r = radius_for(q, want);
    qv_results *res = NULL;
    cr_assert_eq(qv_collection_range_search(c, q, 1, (float)r, 0, NULL, &res), QV_OK, "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_results_count(res, 0), (size_t)want);
    for (size_t i = 0; i < qv_results_count(res, 0); i++) {
      int id = atoi(qv_results_id(res, 0, i));
      cr_assert_leq(l2(X + id * DIM, q), r * (1 + 1e-5));
      if (i) cr_assert_geq(qv_results_distance(res, 0, i), qv_results_distance(res, 0, i - 1));
    }
    qv_results_free(res);
  }
  /* limit keeps the nearest; batch rows equal single queries */
  qv_results *lim = NULL, *batch = NULL, *one = NULL;
  double r = radius_for(q, 50);
  cr_assert_eq(qv_collection_range_search(c, q, 1, (float)r, 5, NULL, &lim), QV_OK);
  cr_assert_eq(qv_results_count(lim, 0), 5);
  cr_assert_str_eq(qv_results_id(lim, 0, 0), "7");
  cr_assert_eq(qv_collection_range_search(c, X, 20, (float)r, 0, NULL, &batch), QV_OK);
  for (size_t i = 0; i < 20; i++) {
    cr_assert_eq(qv_collection_range_search(c, X + i * DIM, 1, (float)r, 0, NULL, &one), QV_OK);
    cr_assert_eq(qv_results_count(batch, i), qv_results_count(one, 0));
    for (size_t h = 0; h < qv_results_count(one, 0); h++)
      cr_assert_str_eq(qv_results_id(batch, i, h), qv_results_id(one, 0, h));
    qv_results_free(one);
  }
  qv_results_free(lim);
  qv_results_free(batch);
  /* errors name the field */
  qv_results *bad = NULL;
  cr_assert_eq(qv_collection_range_search(c, q, 1, NAN, 0, NULL, &bad), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "radius"));
  cr_assert_null(bad);
  qv_collection_release(c);
  close_db(db);
}

Test(advanced, range_hnsw_inside_radius_with_filter) {
  fill(2);
  static char mbuf[N][24];
  static const char *metas[N];
  for (int i = 0; i < N; i++) {
    snprintf(mbuf[i], sizeof mbuf[i], "{\"odd\": %d}", i % 2);
    metas[i] = mbuf[i];
  }
  qv_db *db = open_db(0);
  qv_collection *c = make(db, "h", QV_METRIC_L2, "hnsw", metas);
  size_t found = 0, total = 0;
  for (int qi = 0; qi < 20; qi++) {
    const float *q = X + qi * DIM;
    double r = radius_for(q, 80);
    qv_query_opts o;
    qv_query_opts_init(&o);
    o.where_json = "{\"odd\": 1}";
    qv_results *res = NULL;
    cr_assert_eq(qv_collection_range_search(c, q, 1, (float)r, 0, &o, &res), QV_OK, "%s", qv_db_errmsg(db));
    for (size_t i = 0; i < qv_results_count(res, 0); i++) {
      int id = atoi(qv_results_id(res, 0, i));
      cr_assert_eq(id % 2, 1);
      cr_assert_leq(qv_results_distance(res, 0, i), (float)r);
    }
    found += qv_results_count(res, 0);
    for (int i = 1; i < N; i += 2) total += l2(X + i * DIM, q) <= r;
    qv_results_free(res);
  }
  cr_assert_geq((double)found / (double)total, 0.95, "recall %zu / %zu", found, total);
  qv_collection_release(c);
  close_db(db);
}

Test(advanced, arithmetic_against_brute_force) {
  fill(3);
  qv_db *db = open_db(0);
  qv_collection *c = make(db, "c", QV_METRIC_L2, "flat", NULL);
  qv_results *r = NULL;
  /* analogy 1 - 2 + 3, inputs excluded */
  qv_vec_term t[3] = {{"1", NULL, 1}, {"2", NULL, -1}, {"3", NULL, 1}};
  cr_assert_eq(qv_collection_combine(c, t, 3, 1, 1, NULL, &r), QV_OK, "%s", qv_db_errmsg(db));
  double q[DIM];
  for (int j = 0; j < DIM; j++) q[j] = (double)X[1 * DIM + j] - X[2 * DIM + j] + X[3 * DIM + j];
  int skip[3] = {1, 2, 3};
  cr_assert_eq(atoi(qv_results_id(r, 0, 0)), brute_nearest(q, skip, 3));
  qv_results_free(r);
  /* interpolate halfway between a record and a vector: linear on l2 */
  qv_vec_term a = {"10", NULL, 0}, b = {NULL, X + 20 * DIM, 0};
  cr_assert_eq(qv_collection_interpolate(c, &a, &b, 0.5f, -1, 1, 1, NULL, &r), QV_OK);
  for (int j = 0; j < DIM; j++) q[j] = 0.5 * X[10 * DIM + j] + 0.5 * X[20 * DIM + j];
  int skip1[1] = {10};
  cr_assert_eq(atoi(qv_results_id(r, 0, 0)), brute_nearest(q, skip1, 1));
  qv_results_free(r);
  /* centroid of three */
  const char *cid[3] = {"4", "5", "6"};
  cr_assert_eq(qv_collection_centroid_search(c, cid, 3, 1, 1, NULL, &r), QV_OK);
  for (int j = 0; j < DIM; j++) q[j] = ((double)X[4 * DIM + j] + X[5 * DIM + j] + X[6 * DIM + j]) / 3;
  int skip3[3] = {4, 5, 6};
  cr_assert_eq(atoi(qv_results_id(r, 0, 0)), brute_nearest(q, skip3, 3));
  qv_results_free(r);
  /* an unknown id is QV_NOTFOUND naming its position */
  qv_vec_term badt[2] = {{"1", NULL, 1}, {"nope", NULL, 1}};
  cr_assert_eq(qv_collection_combine(c, badt, 2, 5, 1, NULL, &r), QV_NOTFOUND);
  cr_assert(strstr(qv_db_errmsg(db), "terms[1]"), "%s", qv_db_errmsg(db));
  cr_assert_null(r);
  qv_collection_release(c);
  close_db(db);
}

Test(advanced, recommend_best_score_flat_exact) {
  fill(4);
  qv_db *db = open_db(0);
  qv_collection *c = make(db, "c", QV_METRIC_L2, "flat", NULL);
  qv_vec_term pos[2] = {{"11", NULL, 1}, {"12", NULL, 1}}, neg[1] = {{"13", NULL, 1}};
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_recommend(c, pos, 2, neg, 1, 5, QV_RECOMMEND_BEST_SCORE, NULL, &r), QV_OK, "%s",
               qv_db_errmsg(db));
  /* brute force of the same score: max -d(pos) - max -d(neg) */
  double best = -INFINITY;
  int arg = -1;
  for (int i = 0; i < N; i++) {
    if (i == 11 || i == 12 || i == 13) continue;
    double bp = fmax(-l2(X + i * DIM, X + 11 * DIM), -l2(X + i * DIM, X + 12 * DIM));
    double s = bp + l2(X + i * DIM, X + 13 * DIM);
    if (s > best) best = s, arg = i;
  }
  cr_assert_eq(atoi(qv_results_id(r, 0, 0)), arg);
  cr_assert_float_eq(qv_results_distance(r, 0, 0), best, 1e-3 * fabs(best) + 1e-3);
  for (size_t i = 1; i < qv_results_count(r, 0); i++)
    cr_assert_leq(qv_results_distance(r, 0, i), qv_results_distance(r, 0, i - 1));
  qv_results_free(r);
  cr_assert_eq(qv_collection_recommend(c, pos, 0, NULL, 0, 5, QV_RECOMMEND_AVERAGE, NULL, &r), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "positive"));
  qv_collection_release(c);
  close_db(db);
}

Test(advanced, mmr_lambda_one_is_topk) {
  fill(5);
  qv_db *db = open_db(0);
  qv_collection *c = make(db, "c", QV_METRIC_COSINE, "hnsw", NULL);
  qv_results *plain = NULL, *m1 = NULL, *m5 = NULL;
  cr_assert_eq(qv_collection_query(c, X, 1, 6, NULL, &plain), QV_OK);
  cr_assert_eq(qv_collection_query_mmr(c, X, 6, 1.0f, 30, NULL, &m1), QV_OK);
  cr_assert_eq(qv_collection_query_mmr(c, X, 6, 0.3f, 30, NULL, &m5), QV_OK);
  cr_assert_eq(qv_results_count(m1, 0), 6);
  int differs = 0;
  for (size_t i = 0; i < 6; i++) {
    cr_assert_str_eq(qv_results_id(plain, 0, i), qv_results_id(m1, 0, i));
    differs |= strcmp(qv_results_id(plain, 0, i), qv_results_id(m5, 0, i)) != 0;
  }
  cr_assert(differs, "lambda 0.3 should diversify");
  cr_assert_str_eq(qv_results_id(m5, 0, 0), qv_results_id(plain, 0, 0)); /* the first pick is the nearest */
  qv_results_free(plain);
  qv_results_free(m1);
  qv_results_free(m5);
  qv_results *bad = NULL;
  cr_assert_eq(qv_collection_query_mmr(c, X, 6, 1.5f, 30, NULL, &bad), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "mmr_lambda"));
  qv_collection_release(c);
  close_db(db);
}

Test(advanced, kmeans_blobs_and_label_key_persist) {
  /* 4 well separated blobs of 100 */
  fill(0); /* for the ids; the first 400 rows are replaced by the blobs */
  uint64_t s = 9;
  for (int i = 0; i < 400; i++)
    for (int j = 0; j < DIM; j++) X[i * DIM + j] = frand(&s) + (j == i / 100 ? 50.0f : 0.0f);
  qv_db *db = open_db(1);
  qv_collection_opts co;
  qv_collection_opts_init(&co);
  co.dim = DIM;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "k", &co, &c), QV_OK);
  qv_batch b = {.n = 400, .ids = ids, .embeddings = X};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK);
  qv_kmeans_opts o;
  qv_kmeans_opts_init(&o);
  o.k = 4;
  o.seed = 5;
  o.label_key = "cl";
  qv_kmeans_result *r = NULL;
  cr_assert_eq(qv_collection_kmeans(c, &o, &r), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(r->n, 400);
  double sum = 0;
  for (size_t i = 0; i < r->n; i++) {
    sum += r->distances[i];
    cr_assert_eq(r->labels[i], r->labels[(i / 100) * 100], "record %zu split from its blob", i);
  }
  cr_assert_float_eq(r->inertia, sum, 1e-6 * sum);
  for (uint32_t j = 0; j < 4; j++) {
    cr_assert_eq(r->sizes[j], 100);
    cr_assert_not_null(r->nearest[j]);
  }
  uint32_t label7 = r->labels[7];
  qv_kmeans_result_free(r);
  qv_collection_release(c);
  db = reopen(db);
  cr_assert_eq(qv_collection_get(db, "k", &c), QV_OK);
  qv_get_opts g;
  qv_get_opts_init(&g);
  const char *want[1] = {"7"};
  g.ids = want;
  g.n_ids = 1;
  qv_results *got = NULL;
  cr_assert_eq(qv_collection_get_records(c, &g, &got), QV_OK);
  char expect[32];
  snprintf(expect, sizeof expect, "\"cl\":%u", label7);
  cr_assert(strstr(qv_results_metadata(got, 0, 0), expect), "%s", qv_results_metadata(got, 0, 0));
  qv_results_free(got);
  /* k larger than the records */
  o.k = 401;
  o.label_key = NULL;
  cr_assert_eq(qv_collection_kmeans(c, &o, &r), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "k:"));
  cr_assert_null(r);
  qv_collection_release(c);
  close_db(db);
}

/* BM25 of one term as FTS5 computes it (k1 1.2, b 0.75, idf floored at 1e-6), for the
 * documents below: the expected scores, independent of SQLite. Documents are lists of
 * lowercase words separated by single spaces. */
static double bm25_term(const char *const *docs, int n, const char *term, int which) {
  int df = 0, total = 0, tf = 0, len = 0;
  for (int i = 0; i < n; i++) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", docs[i]);
    int l = 0, hit = 0;
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
      l++;
      if (!strcmp(tok, term)) hit++;
    }
    total += l;
    df += hit > 0;
    if (i == which) tf = hit, len = l;
  }
  double idf = log((n - df + 0.5) / (df + 0.5));
  if (idf <= 0) idf = 1e-6;
  double avgdl = (double)total / n;
  return idf * (tf * 2.2) / (tf + 1.2 * (1 - 0.75 + 0.75 * len / avgdl));
}

static void text_checks(int persistent) {
  static const char *docs[] = {"red apple pie", "green apple", "red car", "blue sky and red sun", "pear",
                               "plum", "kiwi", "lime"};
  static const char *tid[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
  float emb[8 * 2];
  for (int i = 0; i < 8; i++) emb[2 * i] = (float)i, emb[2 * i + 1] = 1.0f;
  qv_db *db = open_db(persistent);
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 2;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "t", &o, &c), QV_OK);
  qv_batch b = {.n = 8, .ids = tid, .embeddings = emb, .documents = docs};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK);
  if (persistent) {
    qv_collection_release(c);
    db = reopen(db);
    cr_assert_eq(qv_collection_get(db, "t", &c), QV_OK);
  }
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_text_search(c, "red", 10, NULL, &r), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_results_count(r, 0), 3);
  const char *order[3] = {"c", "a", "d"}; /* shorter documents first */
  int idx[3] = {2, 0, 3};
  for (int i = 0; i < 3; i++) {
    cr_assert_str_eq(qv_results_id(r, 0, (size_t)i), order[i]);
    double want = bm25_term(docs, 8, "red", idx[i]);
    cr_assert_float_eq(qv_results_distance(r, 0, (size_t)i), want, 1e-5 * want, "%s: %g vs %g", order[i],
                       qv_results_distance(r, 0, (size_t)i), want);
  }
  qv_results_free(r);
  /* hybrid: RRF of text rank 1 (c) and vector rank 1 (d, at [3, 1]) */
  float q[2] = {3.0f, 1.0f};
  cr_assert_eq(qv_collection_hybrid_search(c, "red", q, 2, QV_FUSION_RRF, 0.5f, NULL, &r), QV_OK);
  cr_assert_eq(qv_results_count(r, 0), 2);
  cr_assert_str_eq(qv_results_id(r, 0, 0), "c"); /* text 1 + vector 2 beats vector 1 + text 3 */
  cr_assert_str_eq(qv_results_id(r, 0, 1), "d");
  qv_results_free(r);
  /* where_document through the index (persistent) or the scan: the same records */
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.where_document_json = "{\"$contains\": \"ed ca\"}";
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK);
  cr_assert_eq(qv_results_count(r, 0), 1);
  cr_assert_str_eq(qv_results_id(r, 0, 0), "c");
  qv_results_free(r);
  cr_assert_eq(qv_collection_text_search(c, " ", 10, NULL, &r), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "text"));
  qv_collection_release(c);
  close_db(db);
}

Test(advanced, text_search_memory) { text_checks(0); }
Test(advanced, text_search_persistent) { text_checks(1); }
