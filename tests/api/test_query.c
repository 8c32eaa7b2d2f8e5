/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_query.c -- API tests of k-NN query: distances per metric against hand-computed values,
 * k and bad-input handling, batches equal to single queries, filters (Chroma semantics:
 * $ne/$nin match records lacking the key, int/float cross-compare, bools only with bools),
 * include bits, cosine returning the original embeddings, set_param, stats, and readers
 * running alongside a writer.
 *
 * Public header only.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <quiver.h>

/* ------------------------------------------------------------------ helpers */

#include "api_db.h"

static qv_collection *new_col_kind(qv_db *db, const char *name, uint32_t dim, qv_metric m, const char *k) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = dim;
  o.metric = m;
  o.index = k;
  qv_collection *c = NULL;
  qv_status rc = qv_collection_create(db, name, &o, &c);
  cr_assert_eq(rc, QV_OK, "create %s: %s", name, qv_db_errmsg(db));
  return c;
}

static qv_collection *new_col(qv_db *db, const char *name, uint32_t dim, qv_metric m) {
  return new_col_kind(db, name, dim, m, "flat");
}

static void add(qv_db *db, qv_collection *c, size_t n, const char *const *ids, const float *emb,
                const char *const *metas, const char *const *docs) {
  qv_batch b;
  memset(&b, 0, sizeof b);
  b.n = n;
  b.ids = ids;
  b.embeddings = emb;
  b.metadatas = metas;
  b.documents = docs;
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "add: %s", qv_db_errmsg(db));
}

static qv_results *query(qv_db *db, qv_collection *c, const float *q, size_t nq, size_t k, const qv_query_opts *o) {
  qv_results *r = NULL;
  qv_status rc = qv_collection_query(c, q, nq, k, o, &r);
  cr_assert_eq(rc, QV_OK, "query: %s", qv_db_errmsg(db));
  cr_assert_not_null(r);
  cr_assert_eq(qv_results_nq(r), nq);
  return r;
}

static const char *id_list(const qv_results *r, size_t q, char *buf, size_t len) {
  buf[0] = 0;
  for (size_t i = 0; i < qv_results_count(r, q); i++) {
    if (i) strncat(buf, ",", len - strlen(buf) - 1);
    strncat(buf, qv_results_id(r, q, i), len - strlen(buf) - 1);
  }
  return buf;
}

/* The reference distances, computed in double from the definitions in quiver.h. */
static double ref_dist(qv_metric m, const float *a, const float *b, uint32_t d) {
  double s = 0, na = 0, nb = 0;
  for (uint32_t i = 0; i < d; i++) {
    switch (m) {
    case QV_METRIC_L2: s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]); break;
    case QV_METRIC_IP: s += (double)a[i] * b[i]; break;
    case QV_METRIC_COSINE:
      s += (double)a[i] * b[i];
      na += (double)a[i] * a[i];
      nb += (double)b[i] * b[i];
      break;
    case QV_METRIC_L1: s += fabs((double)a[i] - b[i]); break;
    default: break; /* hamming: not a float metric */
    }
  }
  if (m == QV_METRIC_IP) return 1 - s;
  if (m == QV_METRIC_COSINE) return 1 - s / (sqrt(na) * sqrt(nb));
  return s;
}

static uint64_t rng = 88172645463325252ULL;
static float frand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* ------------------------------------------------------------------ distances */

/* Chroma's own example (chroma-v2.md section 10): stored [1,0,0], query [1,0.1,0]. */
Test(distance, chroma_example_values) {
  static const struct { qv_metric m; float want; } cases[] = {
      {QV_METRIC_L2, 0.01f}, {QV_METRIC_IP, 0.0f}, {QV_METRIC_COSINE, 0.004963f}, {QV_METRIC_L1, 0.1f}};
  for (size_t k = 0; k < 4; k++) {
    qv_db *db = open_db(0);
    qv_collection *c = new_col(db, "c", 3, cases[k].m);
    const char *ids[1] = {"a"};
    float e[3] = {1, 0, 0}, q[3] = {1, 0.1f, 0};
    add(db, c, 1, ids, e, NULL, NULL);
    qv_results *r = query(db, c, q, 1, 1, NULL);
    cr_assert_eq(qv_results_count(r, 0), 1);
    cr_assert_float_eq(qv_results_distance(r, 0, 0), cases[k].want, 2e-6f, "%s: got %.7f want %.7f",
                       qv_metric_name(cases[k].m), (double)qv_results_distance(r, 0, 0), (double)cases[k].want);
    qv_results_free(r);
    qv_collection_release(c);
    qv_db_close(db);
  }
}

/* Hand-computed: stored a=[1,2,3] b=[-1,0,2] c=[0,0,1]; query q=[1,1,1]. */
Test(distance, hand_computed_per_metric) {
  const float e[9] = {1, 2, 3, -1, 0, 2, 0, 0, 1}, q[3] = {1, 1, 1};
  const char *ids[3] = {"a", "b", "c"};
  /* l2: a (0+1+4)=5, b (4+1+1)=6, c (1+1+0)=2     -> c,a,b
     ip: 1-6=-5, 1-1=0, 1-1=0                       -> a, then b/c tie
     cosine: a 1-6/(sqrt14*sqrt3)=0.0741799, b 1-1/(sqrt5*sqrt3)=0.7418011, c 1-1/sqrt3=0.4226497 -> a,c,b
     l1: a 0+1+2=3, b 2+1+1=4, c 1+1+0=2            -> c,a,b */
  static const struct { qv_metric m; const char *order; float d[3]; } cases[] = {
      {QV_METRIC_L2, "c,a,b", {2, 5, 6}},
      {QV_METRIC_COSINE, "a,c,b", {0.0741799f, 0.4226497f, 0.7418011f}},
      {QV_METRIC_L1, "c,a,b", {2, 3, 4}},
      {QV_METRIC_IP, NULL, {-5, 0, 0}},
  };
  for (int p = 0; p < 2; p++)
    for (size_t k = 0; k < 4; k++) {
      qv_db *db = open_db(p);
      qv_collection *c = new_col(db, "c", 3, cases[k].m);
      add(db, c, 3, ids, e, NULL, NULL);
      qv_results *r = query(db, c, q, 1, 3, NULL);
      char buf[64];
      if (cases[k].order) cr_assert_str_eq(id_list(r, 0, buf, sizeof buf), cases[k].order, "%s", qv_metric_name(cases[k].m));
      else cr_assert_str_eq(qv_results_id(r, 0, 0), "a");
      for (size_t i = 0; i < 3; i++)
        cr_assert_float_eq(qv_results_distance(r, 0, i), cases[k].d[i], 1e-5f, "%s hit %zu: %.7f vs %.7f",
                           qv_metric_name(cases[k].m), i, (double)qv_results_distance(r, 0, i), (double)cases[k].d[i]);
      qv_results_free(r);
      qv_collection_release(c);
      close_db(db);
    }
}

/* Random data, every metric, awkward dims: distances equal the double-precision reference and are sorted. */
Test(distance, random_against_reference) {
  static const uint32_t dims[] = {1, 7, 17, 64};
  for (size_t di = 0; di < 4; di++)
    for (int m = 0; m < 4; m++) {
      uint32_t d = dims[di];
      size_t n = 50;
      qv_db *db = open_db(0);
      qv_collection *c = new_col(db, "c", d, (qv_metric)m);
      float *e = malloc(n * d * sizeof *e), q[64];
      char names[50][8];
      const char *ids[50];
      for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "%zu", i);
        ids[i] = names[i];
        for (uint32_t j = 0; j < d; j++) e[i * d + j] = frand();
      }
      for (uint32_t j = 0; j < d; j++) q[j] = frand();
      add(db, c, n, ids, e, NULL, NULL);
      qv_results *r = query(db, c, q, 1, n, NULL);
      cr_assert_eq(qv_results_count(r, 0), n);
      double prev = -INFINITY;
      for (size_t i = 0; i < n; i++) {
        size_t row = (size_t)atoi(qv_results_id(r, 0, i));
        double want = ref_dist((qv_metric)m, q, e + row * d, d), got = qv_results_distance(r, 0, i);
        cr_assert(fabs(got - want) <= 1e-4 * (1 + fabs(want)), "%s dim %u id %zu: got %.7g want %.7g",
                  qv_metric_name((qv_metric)m), d, row, got, want);
        cr_assert(got >= prev - 1e-5, "%s: results not sorted at %zu", qv_metric_name((qv_metric)m), i);
        prev = got;
      }
      qv_results_free(r);
      free(e);
      qv_collection_release(c);
      qv_db_close(db);
    }
}

/* Cosine normalises for the index but returns the embeddings exactly as given. */
Test(distance, cosine_returns_original_embeddings) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    qv_collection *c = new_col(db, "cos", 3, QV_METRIC_COSINE);
    const char *ids[2] = {"a", "b"};
    float e[6] = {3, 4, 0, 0, 0, 10};
    add(db, c, 2, ids, e, NULL, NULL);
    for (int round = 0; round < 2; round++) {
      qv_query_opts o;
      qv_query_opts_init(&o);
      o.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_DISTANCES;
      float q[3] = {6, 8, 0};
      qv_results *r = query(db, c, q, 1, 2, &o);
      cr_assert_str_eq(qv_results_id(r, 0, 0), "a");
      cr_assert_float_eq(qv_results_distance(r, 0, 0), 0.0f, 1e-6f);
      cr_assert_float_eq(qv_results_distance(r, 0, 1), 1.0f, 1e-6f);
      cr_assert_arr_eq(qv_results_embedding(r, 0, 0), e, sizeof(float) * 3, "persistent=%d round %d", p, round);
      cr_assert_arr_eq(qv_results_embedding(r, 0, 1), e + 3, sizeof(float) * 3);
      qv_results_free(r);
      qv_get_opts g;
      qv_get_opts_init(&g);
      g.include = QV_INCLUDE_EMBEDDINGS;
      cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK);
      cr_assert_arr_eq(qv_results_embedding(r, 0, 0), e, sizeof(float) * 3);
      cr_assert_arr_eq(qv_results_embedding(r, 0, 1), e + 3, sizeof(float) * 3);
      qv_results_free(r);
      /* metadata-only update must not replace the original by the normalised vector */
      const char *metas[1] = {"{\"m\":1}"};
      qv_batch b;
      memset(&b, 0, sizeof b);
      b.n = 1;
      b.ids = ids;
      b.metadatas = metas;
      cr_assert_eq(qv_collection_update(c, &b, 0), QV_OK, "%s", qv_db_errmsg(db));
      if (p) {
        qv_collection_release(c);
        db = reopen(db);
        cr_assert_eq(qv_collection_get(db, "cos", &c), QV_OK);
      }
    }
    qv_collection_release(c);
    close_db(db);
  }
}

/* ------------------------------------------------------------------ k and bad input */

static const float base4[12] = {0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3};
static const char *const ids4[4] = {"p0", "p1", "p2", "p3"};
static const char *const metas4[4] = {"{\"n\":0,\"s\":\"x\",\"b\":true,\"arr\":[\"red\",\"blue\"]}",
                                      "{\"n\":1.0,\"s\":\"y\",\"b\":false}", "{\"n\":2,\"arr\":[1,2]}", NULL};
static const char *const docs4[4] = {"the quick brown fox", "lazy dog", NULL, "Quick fox"};

static qv_collection *setup4(qv_db *db) {
  qv_collection *c = new_col(db, "c", 3, QV_METRIC_L2);
  add(db, c, 4, ids4, base4, metas4, docs4);
  return c;
}

Test(query, k_larger_than_count_and_k_zero) {
  qv_db *db = open_db(0);
  qv_collection *c = setup4(db);
  float q[3] = {0, 0, 0};
  qv_results *r = query(db, c, q, 1, 100, NULL);
  char buf[128];
  cr_assert_str_eq(id_list(r, 0, buf, sizeof buf), "p0,p1,p2,p3");
  cr_assert_float_eq(qv_results_distance(r, 0, 3), 9.0f, 1e-6f);
  qv_results_free(r);
  r = query(db, c, q, 1, 2, NULL);
  cr_assert_str_eq(id_list(r, 0, buf, sizeof buf), "p0,p1");
  qv_results_free(r);
  r = (qv_results *)buf;
  cr_assert_eq(qv_collection_query(c, q, 1, 0, NULL, &r), QV_INVALID);
  cr_assert_null(r);
  cr_assert(strstr(qv_db_errmsg(db), "n_results"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_query(c, q, 1, 100001, NULL, &r), QV_INVALID);
  cr_assert_eq(qv_collection_query(c, NULL, 1, 1, NULL, &r), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "query_embeddings"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_query(c, q, 0, 1, NULL, &r), QV_INVALID);
  cr_assert_eq(qv_collection_query(c, q, 1, 1, NULL, NULL), QV_MISUSE);
  cr_assert_eq(qv_collection_query(NULL, q, 1, 1, NULL, &r), QV_MISUSE);
  qv_query_opts o;
  qv_query_opts_init(&o);
  cr_assert_eq(o.include, (unsigned)(QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS | QV_INCLUDE_DISTANCES));
  cr_assert_eq(o.ef_search, 0);
  cr_assert_eq(o.exact, 0);
  o.include = 0x20;
  cr_assert_eq(qv_collection_query(c, q, 1, 1, &o, &r), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "include"), "%s", qv_db_errmsg(db));
  qv_query_opts_init(&o);
  o.ef_search = 100001;
  cr_assert_eq(qv_collection_query(c, q, 1, 1, &o, &r), QV_INVALID);
  qv_query_opts_init(&o);
  o.where_json = "{\"n\":{\"$gt\":\"x\"}}";
  cr_assert_eq(qv_collection_query(c, q, 1, 1, &o, &r), QV_INVALID);
  cr_assert_null(r);
  qv_query_opts_init(&o);
  o.where_document_json = "{\"$contains\":5}";
  cr_assert_eq(qv_collection_query(c, q, 1, 1, &o, &r), QV_INVALID);
  qv_collection_release(c);
  qv_db_close(db);
}

Test(query, nan_and_inf_refused_with_position) {
  qv_db *db = open_db(0);
  qv_collection *c = setup4(db);
  float q[9] = {0, NAN, 0, 0, 0, 0, 0, 0, 0};
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_query(c, q, 1, 2, NULL, &r), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "query_embeddings[0][1]"), "%s", qv_db_errmsg(db));
  cr_assert_null(r);
  q[1] = 0;
  q[8] = -INFINITY;
  cr_assert_eq(qv_collection_query(c, q, 3, 2, NULL, &r), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "query_embeddings[2][2]"), "%s", qv_db_errmsg(db));
  qv_collection_release(c);
  qv_db_close(db);
}

/* A NaN query is bad input whether or not the collection has records yet. */
Test(query, nan_refused_on_empty_collection) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", 3, QV_METRIC_L2);
  float q[3] = {NAN, 0, 0};
  qv_results *r = NULL;
  qv_status rc = qv_collection_query(c, q, 1, 2, NULL, &r);
  cr_assert_eq(rc, QV_INVALID, "NaN query on an empty collection: got %s", qv_status_name(rc));
  qv_results_free(r);
  qv_collection_release(c);
  qv_db_close(db);
}

Test(query, empty_and_dimless_collections) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", 0, QV_METRIC_L2);
  float q[6] = {1, 2, 3, 4, 5, 6};
  qv_results *r = query(db, c, q, 2, 5, NULL);
  cr_assert_eq(qv_results_count(r, 0), 0);
  cr_assert_eq(qv_results_count(r, 1), 0);
  qv_results_free(r);
  qv_collection_release(c);
  c = new_col(db, "d", 3, QV_METRIC_L2);
  add(db, c, 1, ids4, base4, NULL, NULL);
  size_t nd = 0;
  cr_assert_eq(qv_collection_delete_records(c, ids4, 1, NULL, NULL, 0, &nd), QV_OK);
  cr_assert_eq(nd, 1);
  r = query(db, c, q, 2, 5, NULL);
  cr_assert_eq(qv_results_count(r, 0) + qv_results_count(r, 1), 0, "a deleted record is never returned");
  qv_results_free(r);
  qv_collection_release(c);
  qv_db_close(db);
}

Test(query, include_bits) {
  qv_db *db = open_db(0);
  qv_collection *c = setup4(db);
  float q[3] = {0, 0.5f, 0};
  for (unsigned inc = 0; inc < 16; inc++) {
    qv_query_opts o;
    qv_query_opts_init(&o);
    o.include = inc;
    qv_results *r = query(db, c, q, 1, 1, &o);
    cr_assert_str_eq(qv_results_id(r, 0, 0), "p0");
    cr_assert_eq(qv_results_include(r), inc);
    cr_assert_eq(qv_results_embedding(r, 0, 0) != NULL, (inc & QV_INCLUDE_EMBEDDINGS) != 0);
    cr_assert_eq(qv_results_metadata(r, 0, 0) != NULL, (inc & QV_INCLUDE_METADATAS) != 0);
    cr_assert_eq(qv_results_document(r, 0, 0) != NULL, (inc & QV_INCLUDE_DOCUMENTS) != 0);
    cr_assert_float_eq(qv_results_distance(r, 0, 0), (inc & QV_INCLUDE_DISTANCES) ? 0.25f : 0.0f, 1e-6f,
                       "include %u", inc);
    if (inc & QV_INCLUDE_EMBEDDINGS) {
      cr_assert_eq(qv_results_dim(r), 3);
      cr_assert_arr_eq(qv_results_embedding(r, 0, 0), base4, 3 * sizeof(float));
    }
    qv_results_free(r);
  }
  qv_collection_release(c);
  qv_db_close(db);
}

/* ------------------------------------------------------------------ filters */

Test(filter, chroma_semantics) {
  qv_db *db = open_db(0);
  qv_collection *c = setup4(db);
  float q[3] = {0, 0, 0};
  static const struct { const char *where, *wdoc, *want; } cases[] = {
      {"{\"s\":\"x\"}", NULL, "p0"},
      {"{\"s\":{\"$eq\":\"y\"}}", NULL, "p1"},
      {"{\"s\":{\"$ne\":\"x\"}}", NULL, "p1,p2,p3"},          /* lacking the key matches $ne */
      {"{\"s\":{\"$nin\":[\"x\",\"y\"]}}", NULL, "p2,p3"},    /* and $nin */
      {"{\"s\":{\"$in\":[\"y\",\"x\"]}}", NULL, "p0,p1"},
      {"{\"n\":1}", NULL, "p1"},                               /* int literal matches stored 1.0 */
      {"{\"n\":2.0}", NULL, "p2"},                             /* float literal matches stored int 2 */
      {"{\"n\":{\"$in\":[1,2]}}", NULL, "p1,p2"},
      {"{\"n\":{\"$gt\":0}}", NULL, "p1,p2"},
      {"{\"n\":{\"$gte\":1}}", NULL, "p1,p2"},
      {"{\"n\":{\"$lt\":1}}", NULL, "p0"},
      {"{\"n\":{\"$lte\":1.5}}", NULL, "p0,p1"},
      {"{\"n\":{\"$ne\":1}}", NULL, "p0,p2,p3"},
      {"{\"b\":true}", NULL, "p0"},
      {"{\"b\":1}", NULL, ""},                                 /* bools only match bools */
      {"{\"n\":true}", NULL, ""},
      {"{\"s\":{\"$in\":[1]}}", NULL, ""},                     /* strings only match strings */
      {"{\"arr\":{\"$contains\":\"red\"}}", NULL, "p0"},
      {"{\"arr\":{\"$contains\":2}}", NULL, "p2"},
      {"{\"arr\":{\"$not_contains\":\"red\"}}", NULL, "p1,p2,p3"},
      {"{\"s\":{\"$contains\":\"x\"}}", NULL, ""},             /* scalar never $contains */
      {"{\"arr\":\"red\"}", NULL, ""},                         /* primitive vs array: no match */
      {"{\"$and\":[{\"n\":{\"$gte\":0}},{\"n\":{\"$lt\":2}}]}", NULL, "p0,p1"},
      {"{\"$or\":[{\"s\":\"x\"},{\"n\":2}]}", NULL, "p0,p2"},
      {"{\"$or\":[{\"$and\":[{\"s\":\"y\"},{\"b\":false}]},{\"missing\":{\"$ne\":1}}]}", NULL, "p0,p1,p2,p3"},
      {NULL, "{\"$contains\":\"fox\"}", "p0,p3"},
      {NULL, "{\"$contains\":\"quick\"}", "p0"},               /* case-sensitive */
      {NULL, "{\"$not_contains\":\"fox\"}", "p1,p2"},          /* no document matches $not_contains */
      {NULL, "{\"$or\":[{\"$contains\":\"dog\"},{\"$contains\":\"Quick\"}]}", "p1,p3"},
      {NULL, "{\"$and\":[{\"$contains\":\"fox\"},{\"$contains\":\"brown\"}]}", "p0"},
      {"{\"#document\":{\"$contains\":\"lazy\"}}", NULL, "p1"},
      {"{\"n\":{\"$gte\":1}}", "{\"$contains\":\"fox\"}", ""},  /* where AND where_document */
      {"{\"n\":{\"$lte\":1}}", "{\"$contains\":\"fox\"}", "p0"},
  };
  char buf[128], buf2[128];
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    qv_query_opts o;
    qv_query_opts_init(&o);
    o.where_json = cases[k].where;
    o.where_document_json = cases[k].wdoc;
    qv_results *r = NULL;
    qv_status rc = qv_collection_query(c, q, 1, 10, &o, &r);
    cr_assert_eq(rc, QV_OK, "case %zu %s %s: %s", k, cases[k].where, cases[k].wdoc, qv_db_errmsg(db));
    cr_assert_str_eq(id_list(r, 0, buf, sizeof buf), cases[k].want, "query case %zu: where %s where_document %s", k,
                     cases[k].where, cases[k].wdoc);
    qv_results_free(r);
    /* get with the same filter agrees (insertion order == distance order here) */
    qv_get_opts g;
    qv_get_opts_init(&g);
    g.where_json = cases[k].where;
    g.where_document_json = cases[k].wdoc;
    cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK);
    cr_assert_str_eq(id_list(r, 0, buf2, sizeof buf2), cases[k].want, "get case %zu", k);
    qv_results_free(r);
  }
  /* k smaller than the matches: the nearest matching ones */
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.where_json = "{\"s\":{\"$ne\":\"x\"}}";
  float q2[3] = {0, 0, 2.9f};
  qv_results *r = query(db, c, q2, 1, 2, &o);
  cr_assert_str_eq(id_list(r, 0, buf, sizeof buf), "p3,p1"); /* 0.01, then p1 9.41 < p2 12.41 */
  qv_results_free(r);
  qv_collection_release(c);
  qv_db_close(db);
}

/* ------------------------------------------------------------------ batches */

Test(query, batch_equals_single_queries) {
  for (int metric = 0; metric < 4; metric++) {
    qv_db *db = open_db(0);
    const uint32_t d = 16;
    const size_t n = 300, nq = 7, k = 10;
    qv_collection *c = new_col(db, "c", d, (qv_metric)metric);
    float *e = malloc(n * d * sizeof *e), qs[7 * 16];
    char (*names)[16] = malloc(n * sizeof *names);
    const char **ids = malloc(n * sizeof *ids), **metas = malloc(n * sizeof *metas);
    char (*mbuf)[32] = malloc(n * sizeof *mbuf);
    for (size_t i = 0; i < n; i++) {
      snprintf(names[i], sizeof names[i], "id%zu", i);
      snprintf(mbuf[i], sizeof mbuf[i], "{\"m\":%zu}", i % 3);
      ids[i] = names[i];
      metas[i] = mbuf[i];
      for (uint32_t j = 0; j < d; j++) e[i * d + j] = frand();
    }
    for (size_t j = 0; j < nq * d; j++) qs[j] = frand();
    add(db, c, n, ids, e, metas, NULL);
    for (int filtered = 0; filtered < 2; filtered++)
      for (int nt = 0; nt < 3; nt++) {
        qv_query_opts o;
        qv_query_opts_init(&o);
        o.include = QV_INCLUDE_DISTANCES | QV_INCLUDE_METADATAS;
        o.n_threads = nt;
        if (filtered) o.where_json = "{\"m\":{\"$ne\":1}}";
        qv_results *rb = query(db, c, qs, nq, k, &o);
        for (size_t qi = 0; qi < nq; qi++) {
          qv_results *rs = query(db, c, qs + qi * d, 1, k, &o);
          cr_assert_eq(qv_results_count(rb, qi), k);
          cr_assert_eq(qv_results_count(rs, 0), k);
          for (size_t i = 0; i < k; i++) {
            float db_ = qv_results_distance(rb, qi, i), ds = qv_results_distance(rs, 0, i);
            cr_assert_float_eq(db_, ds, 1e-4f * (1 + fabsf(ds)), "%s q%zu hit %zu: batch %g single %g",
                               qv_metric_name((qv_metric)metric), qi, i, (double)db_, (double)ds);
            if (strcmp(qv_results_id(rb, qi, i), qv_results_id(rs, 0, i)) != 0)
              cr_assert_float_eq(db_, ds, 1e-5f, "%s q%zu hit %zu: ids differ without a tie",
                                 qv_metric_name((qv_metric)metric), qi, i);
            if (filtered) cr_assert(strstr(qv_results_metadata(rb, qi, i), "\"m\":1") == NULL);
            size_t row = (size_t)atoi(qv_results_id(rs, 0, i) + 2);
            double want = ref_dist((qv_metric)metric, qs + qi * d, e + row * d, d);
            cr_assert(fabs(ds - want) <= 1e-4 * (1 + fabs(want)), "reference distance");
          }
          qv_results_free(rs);
        }
        qv_results_free(rb);
      }
    free(e);
    free(names);
    free(ids);
    free(metas);
    free(mbuf);
    qv_collection_release(c);
    qv_db_close(db);
  }
}

/* ------------------------------------------------------------------ params and stats */

Test(params, set_param_flat) {
  qv_db *db = open_db(0);
  qv_collection *c = setup4(db);
  cr_assert_eq(qv_collection_set_param(c, "ef_search", 10), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "ef_search"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_set_param(c, "bogus", 1), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "bogus"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_set_param(c, NULL, 1), QV_INVALID);
  cr_assert_eq(qv_collection_set_param(NULL, "ef_search", 1), QV_MISUSE);
  qv_collection_release(c);
  qv_db_close(db);
}

/* The value of integer parameter key in a collection's params_json. */
static long param_of(qv_collection *c, const char *key) {
  qv_collection_info info = {.struct_size = sizeof info};
  cr_assert_eq(qv_collection_info_get(c, &info), QV_OK);
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *at = strstr(info.params_json, pat);
  cr_assert_not_null(at, "%s not in %s", key, info.params_json);
  long v = strtol(at + strlen(pat), NULL, 10);
  qv_collection_info_free(&info);
  return v;
}

Test(params, set_param_hnsw) {
  qv_db *db = open_db(0);
  for (uint32_t dim = 0; dim <= 3; dim += 3) {
    char name[16];
    snprintf(name, sizeof name, "h%u", dim);
    qv_collection *c = new_col_kind(db, name, dim, QV_METRIC_L2, "hnsw");
    cr_assert_eq(qv_collection_set_param(c, "ef_search", 10), QV_OK, "%s", qv_db_errmsg(db));
    cr_assert_eq(param_of(c, "ef_search"), 10);
    static const double bad[] = {0, -1, 1.5, 100001, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
      cr_assert_eq(qv_collection_set_param(c, "ef_search", bad[i]), QV_INVALID, "dim %u ef_search %g", dim, bad[i]);
    qv_status rc = qv_collection_set_param(c, "bogus", 1);
    cr_assert_eq(rc, QV_INVALID, "dim %u: unknown parameter: got %s", dim, qv_status_name(rc));
    /* build-time parameters are fixed; several runtime ones change together or not at all */
    cr_assert_eq(qv_collection_set_params(c, "{\"M\": 32}"), QV_INVALID);
    cr_assert(strstr(qv_db_errmsg(db), "M: fixed when the collection was created"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_collection_set_params(c, "{\"M\": 16, \"ef_search\": 20}"), QV_OK, "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_collection_set_params(c, "{\"ef_search\": 30, \"ef_construction\": 0}"), QV_INVALID);
    cr_assert_eq(param_of(c, "ef_search"), 20);
    cr_assert_eq(qv_collection_set_params(c, "{\"ef_search\": 30, \"ef_construction\": 50}"), QV_OK);
    cr_assert_eq(param_of(c, "ef_search"), 30);
    cr_assert_eq(param_of(c, "ef_construction"), 50);
    qv_collection_release(c);
  }
  qv_db_close(db);
}

/* ef_search set on a persistent collection survives a reopen, with data or before any. */
Test(params, set_param_persists) {
  qv_db *db = open_db(1);
  qv_collection *c = new_col_kind(db, "h", 3, QV_METRIC_L2, "hnsw");
  qv_collection *e = new_col_kind(db, "empty", 0, QV_METRIC_L2, "hnsw");
  const char *ids[] = {"a", "b"};
  const float emb[] = {1, 0, 0, 0, 1, 0};
  qv_batch b = {0, 2, ids, emb, NULL, NULL, 0};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_set_param(c, "ef_search", 321), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_set_param(e, "ef_search", 77), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_set_param(c, "ef_search", 0), QV_INVALID); /* refused: 321 stays */
  qv_collection_release(c);
  qv_collection_release(e);
  db = reopen(db);
  const char *names[] = {"h", "empty"};
  const uint32_t want[] = {321, 77};
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(qv_collection_get(db, names[i], &c), QV_OK);
    cr_assert_eq(param_of(c, "ef_search"), want[i], "%s: ef_search after reopen", names[i]);
    qv_collection_release(c);
  }
  close_db(db);
}

Test(params, hnsw_exact_and_filtered_agree_with_flat) {
  qv_db *db = open_db(0);
  const uint32_t d = 8;
  const size_t n = 400;
  qv_collection *h = new_col_kind(db, "h", d, QV_METRIC_L2, "hnsw");
  qv_collection *f = new_col(db, "f", d, QV_METRIC_L2);
  float *e = malloc(n * d * sizeof *e);
  char (*names)[16] = malloc(n * sizeof *names), (*mb)[32] = malloc(n * sizeof *mb);
  const char **ids = malloc(n * sizeof *ids), **metas = malloc(n * sizeof *metas);
  for (size_t i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "%zu", i);
    snprintf(mb[i], sizeof mb[i], "{\"g\":%zu}", i % 100);
    ids[i] = names[i];
    metas[i] = mb[i];
    for (uint32_t j = 0; j < d; j++) e[i * d + j] = frand();
  }
  add(db, h, n, ids, e, metas, NULL);
  add(db, f, n, ids, e, metas, NULL);
  float q[8];
  for (uint32_t j = 0; j < d; j++) q[j] = frand();
  static const char *const wheres[] = {NULL, "{\"g\":7}", "{\"g\":{\"$lt\":50}}"};
  for (size_t w = 0; w < 3; w++)
    for (int exact = 0; exact < 2; exact++) {
      if (!exact && !wheres[w]) continue; /* approximate and unfiltered: recall is tested elsewhere */
      qv_query_opts o;
      qv_query_opts_init(&o);
      o.where_json = wheres[w];
      o.exact = exact;
      o.ef_search = 400;
      qv_results *rh = query(db, h, q, 1, 5, &o), *rf = query(db, f, q, 1, 5, &o);
      char b1[128], b2[128];
      cr_assert_str_eq(id_list(rh, 0, b1, sizeof b1), id_list(rf, 0, b2, sizeof b2), "where %s exact %d", wheres[w],
                       exact);
      qv_results_free(rh);
      qv_results_free(rf);
    }
  free(e);
  free(names);
  free(mb);
  free(ids);
  free(metas);
  qv_collection_release(h);
  qv_collection_release(f);
  qv_db_close(db);
}

Test(stats, counts_slots_and_sequences) {
  qv_db *db = open_db(1);
  qv_collection *c = setup4(db);
  qv_index_stats s;
  cr_assert_eq(qv_collection_stats_get(c, &s), QV_OK);
  cr_assert_eq(s.count, 4);
  cr_assert_eq(s.n_slots, 4);
  cr_assert_eq(s.n_tombstones, 0);
  cr_assert(s.mem_vectors >= 4 * 3 * sizeof(float));
  cr_assert_eq(s.mem_graph, 0);
  uint64_t seq1 = s.last_seq;
  cr_assert(seq1 > 0);
  size_t nd = 0;
  const char *gone[1] = {"p1"};
  cr_assert_eq(qv_collection_delete_records(c, gone, 1, NULL, NULL, 0, &nd), QV_OK);
  cr_assert_eq(qv_collection_stats_get(c, &s), QV_OK);
  cr_assert_eq(s.count, 3);
  cr_assert_eq(s.n_tombstones, s.n_slots - 3);
  cr_assert(s.last_seq > seq1);
  cr_assert_eq(qv_db_checkpoint(db), QV_OK);
  cr_assert_eq(qv_collection_stats_get(c, &s), QV_OK);
  cr_assert_eq(s.checkpoint_seq, s.last_seq);
  cr_assert_eq(qv_collection_stats_get(c, NULL), QV_MISUSE);
  cr_assert_eq(qv_collection_stats_get(NULL, &s), QV_MISUSE);
  qv_collection_release(c);
  close_db(db);
}

/* ------------------------------------------------------------------ concurrency */

#define CW_DIM 8
#define CW_BATCHES 60
#define CW_BATCH 20

typedef struct conc {
  qv_db *db;
  qv_collection *c;
  atomic_int phase; /* 0: adds and updates only, 1: deletes too, 2: done */
  atomic_int errors;
  atomic_long ops;
  char first_error[256];
  pthread_mutex_t mu;
} conc;

static void conc_fail(conc *x, const char *what, const char *msg) {
  pthread_mutex_lock(&x->mu);
  if (atomic_fetch_add(&x->errors, 1) == 0) snprintf(x->first_error, sizeof x->first_error, "%s: %s", what, msg);
  pthread_mutex_unlock(&x->mu);
}

static void row_for(long k, float *v) {
  for (int j = 0; j < CW_DIM; j++) v[j] = (float)k + 0.001f * (float)j;
}

/* Every hit must be internally consistent: id wK has metadata n=K, document docK, embedding row_for(K). */
static void check_hits(conc *x, const qv_results *r, const char *what) {
  for (size_t q = 0; q < qv_results_nq(r); q++)
    for (size_t i = 0; i < qv_results_count(r, q); i++) {
      const char *id = qv_results_id(r, q, i), *m = qv_results_metadata(r, q, i), *d = qv_results_document(r, q, i);
      long k = strtol(id + 1, NULL, 10);
      char want_m[48], want_d[32];
      snprintf(want_m, sizeof want_m, "{\"n\":%ld,", k);
      snprintf(want_d, sizeof want_d, "doc%ld", k);
      const float *e = qv_results_embedding(r, q, i);
      if (!m || !strstr(m, want_m) || !d || strcmp(d, want_d) != 0 || !e || e[0] != (float)k)
        conc_fail(x, what, id);
    }
}

static void *reader(void *arg) {
  conc *x = arg;
  uint64_t last = 0;
  unsigned seed = (unsigned)(uintptr_t)pthread_self();
  while (atomic_load(&x->phase) < 2) {
    int phase = atomic_load(&x->phase);
    uint64_t n = 0;
    if (qv_collection_count(x->c, &n) != QV_OK) conc_fail(x, "count", qv_db_errmsg(x->db));
    if (phase == 0 && atomic_load(&x->phase) == 0 && n < last) conc_fail(x, "count went down", "");
    last = n;
    float q[2 * CW_DIM];
    row_for((long)(rand_r(&seed) % (CW_BATCHES * CW_BATCH)), q);
    row_for((long)(rand_r(&seed) % (CW_BATCHES * CW_BATCH)), q + CW_DIM);
    qv_query_opts o;
    qv_query_opts_init(&o);
    o.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS | QV_INCLUDE_DISTANCES;
    o.n_threads = 1;
    if (rand_r(&seed) % 2) o.where_json = "{\"n\":{\"$gte\":100}}";
    qv_results *r = NULL;
    size_t nq = 1 + (size_t)(rand_r(&seed) % 2);
    if (qv_collection_query(x->c, q, nq, 5, &o, &r) != QV_OK) conc_fail(x, "query", qv_db_errmsg(x->db));
    else {
      check_hits(x, r, "query");
      if (n >= 5 && !o.where_json && qv_results_count(r, 0) == 0) conc_fail(x, "query", "no hits");
    }
    qv_results_free(r);
    qv_get_opts g;
    qv_get_opts_init(&g);
    g.include = o.include;
    g.limit = 10;
    g.offset = (size_t)(rand_r(&seed) % 50);
    if (qv_collection_get_records(x->c, &g, &r) != QV_OK) conc_fail(x, "get", qv_db_errmsg(x->db));
    else check_hits(x, r, "get");
    qv_results_free(r);
    atomic_fetch_add(&x->ops, 1);
  }
  return NULL;
}

static void writer_run(conc *x) {
  float e[CW_BATCH * CW_DIM];
  char names[CW_BATCH][16], metas[CW_BATCH][48], docs[CW_BATCH][32];
  const char *ids[CW_BATCH], *mp[CW_BATCH], *dp[CW_BATCH];
  for (int phase = 0; phase < 2; phase++) {
    for (long bi = 0; bi < CW_BATCHES; bi++) {
      for (int i = 0; i < CW_BATCH; i++) {
        long k = bi * CW_BATCH + i;
        snprintf(names[i], sizeof names[i], "w%ld", k);
        snprintf(metas[i], sizeof metas[i], "{\"n\":%ld,\"phase\":%d}", k, phase);
        snprintf(docs[i], sizeof docs[i], "doc%ld", k);
        ids[i] = names[i];
        mp[i] = metas[i];
        dp[i] = docs[i];
        row_for(k, e + i * CW_DIM);
      }
      qv_batch b;
      memset(&b, 0, sizeof b);
      b.n = CW_BATCH;
      b.ids = ids;
      b.embeddings = e;
      b.metadatas = mp;
      b.documents = dp;
      qv_status rc = phase == 0 ? qv_collection_add(x->c, &b, QV_CONFLICT_ERROR) : qv_collection_upsert(x->c, &b);
      if (rc) conc_fail(x, "write", qv_db_errmsg(x->db));
      if (phase == 0 && bi % 3 == 2) { /* rewrite a previous batch in place: count unchanged */
        for (int i = 0; i < CW_BATCH; i++) {
          long k = (bi - 1) * CW_BATCH + i;
          snprintf(names[i], sizeof names[i], "w%ld", k);
          snprintf(metas[i], sizeof metas[i], "{\"n\":%ld,\"v\":2}", k);
          snprintf(docs[i], sizeof docs[i], "doc%ld", k);
          row_for(k, e + i * CW_DIM);
        }
        if (qv_collection_update(x->c, &b, 0)) conc_fail(x, "update", qv_db_errmsg(x->db));
      }
      if (phase == 1) {
        char wh[64];
        snprintf(wh, sizeof wh, "{\"n\":{\"$lt\":%ld}}", bi * CW_BATCH / 2);
        if (qv_collection_delete_records(x->c, NULL, 0, wh, NULL, 7, NULL)) conc_fail(x, "delete", qv_db_errmsg(x->db));
      }
    }
    atomic_store(&x->phase, phase + 1);
  }
}

static void concurrency_case(int persistent) {
  conc x;
  memset(&x, 0, sizeof x);
  pthread_mutex_init(&x.mu, NULL);
  x.db = open_db(persistent);
  x.c = new_col(x.db, "c", CW_DIM, QV_METRIC_L2);
  pthread_t th[4];
  for (int i = 0; i < 4; i++) cr_assert_eq(pthread_create(&th[i], NULL, reader, &x), 0);
  writer_run(&x);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  cr_assert_eq(atomic_load(&x.errors), 0, "%d errors, first: %s", atomic_load(&x.errors), x.first_error);
  cr_assert(atomic_load(&x.ops) > 0);
  /* final state is consistent */
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS;
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_get_records(x.c, &g, &r), QV_OK);
  check_hits(&x, r, "final get");
  uint64_t n = 0;
  qv_collection_count(x.c, &n);
  cr_assert_eq(n, qv_results_count(r, 0));
  qv_results_free(r);
  cr_assert_eq(atomic_load(&x.errors), 0, "%s", x.first_error);
  qv_collection_release(x.c);
  close_db(x.db);
  pthread_mutex_destroy(&x.mu);
}

Test(concurrency, readers_with_writer_in_memory, .timeout = 60) { concurrency_case(0); }
Test(concurrency, readers_with_writer_on_disk, .timeout = 60) { concurrency_case(1); }
