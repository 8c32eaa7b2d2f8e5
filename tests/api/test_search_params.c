/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_search_params.c -- qv_query_opts.search_params_json: a query's own runtime parameters
 * (ivf's nprobe, hnsw's ef_search), checked against the kind's declared parameters (unknown
 * and build-time keys refused, naming the key), without changing the collection's values;
 * and an ivf collection whose floats stay in the store (persistent) answering, filtering,
 * returning embeddings and surviving a reopen.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <quiver.h>

#include "api_db.h"

#define DIM 16
#define N 3000

static uint64_t g_rng = 31;
static float frand(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)(g_rng >> 40) / 16777216.0f * 2.0f - 1.0f;
}

static qv_collection *ivf_col(qv_db *db, float *emb, char (*idbuf)[16]) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = DIM;
  o.index = "ivf";
  o.params_json = "{\"nlist\":64,\"nprobe\":1,\"quantizer\":\"sq8\",\"train_size\":1024}";
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "v", &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  float cent[20 * DIM];
  for (size_t i = 0; i < 20 * DIM; i++) cent[i] = frand();
  const char *ids[N];
  const char *metas[N];
  static char mbuf[N][24];
  for (size_t i = 0; i < N; i++) {
    for (size_t j = 0; j < DIM; j++) emb[i * DIM + j] = cent[(i % 20) * DIM + j] + 0.2f * frand();
    snprintf(idbuf[i], 16, "r%zu", i);
    snprintf(mbuf[i], 24, "{\"even\": %s}", i % 2 ? "false" : "true");
    ids[i] = idbuf[i];
    metas[i] = mbuf[i];
  }
  qv_batch b;
  memset(&b, 0, sizeof b);
  b.n = N;
  b.ids = ids;
  b.embeddings = emb;
  b.metadatas = metas;
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  return c;
}

/* hits of query i's top 10 that are in the exact top 10 */
static size_t hits(qv_collection *c, const float *emb, const float *q, const char *sp) {
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.search_params_json = sp;
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_query(c, q, 1, 10, &o, &r), QV_OK);
  float d[N];
  for (size_t i = 0; i < N; i++) {
    double s = 0;
    for (size_t j = 0; j < DIM; j++) s += ((double)emb[i * DIM + j] - q[j]) * ((double)emb[i * DIM + j] - q[j]);
    d[i] = (float)s;
  }
  float kth[10];
  for (int t = 0; t < 10; t++) kth[t] = INFINITY;
  for (size_t i = 0; i < N; i++) /* the 10 smallest, sorted */
    for (int t = 0; t < 10; t++)
      if (d[i] < kth[t]) {
        memmove(kth + t + 1, kth + t, (size_t)(9 - t) * sizeof *kth);
        kth[t] = d[i];
        break;
      }
  size_t h = 0;
  for (size_t i = 0; i < qv_results_count(r, 0); i++) {
    unsigned idx;
    cr_assert_eq(sscanf(qv_results_id(r, 0, i), "r%u", &idx), 1);
    h += d[idx] <= kth[9] * (1.0f + 1e-5f) + 1e-6f; /* a tie within rounding counts */
  }
  qv_results_free(r);
  return h;
}

Test(search_params, ivf_nprobe_per_query) {
  qv_db *db = open_db(1);
  float *emb = malloc(N * DIM * sizeof *emb);
  char(*idbuf)[16] = malloc(N * sizeof *idbuf);
  qv_collection *c = ivf_col(db, emb, idbuf);
  size_t h1 = 0, h64 = 0, again = 0;
  for (int i = 0; i < 30; i++) {
    float q[DIM];
    for (size_t j = 0; j < DIM; j++) q[j] = emb[(size_t)(i * 97) * DIM + j] + 0.05f * frand();
    h1 += hits(c, emb, q, NULL);
    h64 += hits(c, emb, q, "{\"nprobe\": 64}");
    again += hits(c, emb, q, NULL);
  }
  cr_assert_eq(h64, 300, "every cell probed: exact (sq8 codes re-ranked): %zu of 300", h64);
  cr_assert(h1 < h64, "nprobe 1: %zu of 300", h1);
  /* refine per query: the high-nibble scan, the best 10 * 20 on all 8 bits, then the floats */
  size_t hr = 0;
  for (int i = 0; i < 30; i++) {
    float q[DIM];
    for (size_t j = 0; j < DIM; j++) q[j] = emb[(size_t)(i * 97) * DIM + j] + 0.05f * frand();
    hr += hits(c, emb, q, "{\"nprobe\": 64, \"refine\": 20}");
  }
  cr_assert(hr >= 290, "refine 20, every cell: %zu of 300", hr);
  cr_assert_eq(again, h1, "the per-query value did not stick");
  /* refused: unknown keys, build-time keys, bad values -- each named */
  qv_query_opts o;
  qv_query_opts_init(&o);
  qv_results *r = NULL;
  const char *bad[][2] = {{"{\"nlist\": 8}", "search_params.nlist"},
                          {"{\"bogus\": 1}", "search_params.bogus"},
                          {"{\"nprobe\": 0}", "search_params.nprobe"},
                          {"{\"refine\": -1}", "search_params.refine"},
                          {"[1]", "search_params"}};
  for (int i = 0; i < 5; i++) {
    o.search_params_json = bad[i][0];
    cr_assert_eq(qv_collection_query(c, emb, 1, 5, &o, &r), QV_INVALID, "%s", bad[i][0]);
    cr_assert(strstr(qv_db_errmsg(db), bad[i][1]), "%s: %s", bad[i][0], qv_db_errmsg(db));
  }
  /* a filter (exact scan from the store: the index keeps no floats), and embeddings back */
  o.search_params_json = NULL;
  o.where_json = "{\"even\": true}";
  o.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_DISTANCES;
  o.exact = 1;
  cr_assert_eq(qv_collection_query(c, emb + 4 * DIM, 1, 5, &o, &r), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_results_count(r, 0), 5);
  cr_assert_str_eq(qv_results_id(r, 0, 0), "r4");
  cr_assert_eq(qv_results_distance(r, 0, 0), 0.0f);
  qv_results_free(r);
  qv_collection_release(c);
  db = reopen(db);
  cr_assert_eq(qv_collection_get(db, "v", &c), QV_OK);
  uint64_t cnt = 0;
  cr_assert_eq(qv_collection_count(c, &cnt), QV_OK);
  cr_assert_eq(cnt, N);
  h64 = 0;
  for (int i = 0; i < 10; i++) h64 += hits(c, emb, emb + (size_t)(i * 211) * DIM, "{\"nprobe\": 64}");
  cr_assert_eq(h64, 100);
  qv_collection_release(c);
  close_db(db);
  free(emb);
  free(idbuf);
}

Test(search_params, hnsw_ef_and_flat_refusal) {
  qv_db *db = open_db(0);
  qv_collection_opts co;
  qv_collection_opts_init(&co);
  co.dim = 4;
  co.index = "flat";
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "f", &co, &c), QV_OK);
  float v[4] = {1, 2, 3, 4};
  const char *id = "a";
  qv_batch b;
  memset(&b, 0, sizeof b);
  b.n = 1;
  b.ids = &id;
  b.embeddings = v;
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK);
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.search_params_json = "{\"ef_search\": 10}";
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_query(c, v, 1, 1, &o, &r), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "ef_search: unknown parameter for index kind flat"), "%s", qv_db_errmsg(db));
  qv_collection_release(c);
  co.index = "hnsw";
  cr_assert_eq(qv_collection_create(db, "h", &co, &c), QV_OK);
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK);
  cr_assert_eq(qv_collection_query(c, v, 1, 1, &o, &r), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_str_eq(qv_results_id(r, 0, 0), "a");
  qv_results_free(r);
  o.search_params_json = "{\"M\": 8}";
  cr_assert_eq(qv_collection_query(c, v, 1, 1, &o, &r), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "search_params.M"), "%s", qv_db_errmsg(db));
  qv_collection_release(c);
  close_db(db);
}
