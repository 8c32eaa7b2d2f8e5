/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_flat_fmnist.c -- the flat index is exact: on real Fashion-MNIST (first 20000 base
 * rows, 200 queries) every query's top 10 equals a double-precision brute force, for single
 * queries and for the batched (GEMM) path. Ties at the 10th distance count as hits.
 * Skipped with a message when the data has not been materialised (shared/data/prepare).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <quiver.h>
#include <stdio.h>
#include <stdlib.h>

#include "fvecs.h"

#define NB 20000
#define NQ 200
#define K 10

static float *base, *queries;
static uint32_t dim;
static double kth[NQ];      /* exact 10th smallest squared distance per query */

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void load(void) {
  char p1[4096], p2[4096];
  const char *bp = fmnist_path("base.fvecs", p1, sizeof p1), *qp = fmnist_path("query.fvecs", p2, sizeof p2);
  if (!bp || !qp) cr_assert_fail("Fashion-MNIST not materialised under $QV_SOURCE_DIR/.data (run shared/data/prepare; scripts/test.sh does)");
  size_t nb, nq;
  uint32_t d2;
  base = vecs_read(bp, NB, &dim, &nb);
  queries = vecs_read(qp, NQ, &d2, &nq);
  cr_assert(base && queries && nb == NB && nq == NQ && d2 == dim);
  double *d = malloc(NB * sizeof *d);
  for (size_t q = 0; q < NQ; q++) {
    for (size_t i = 0; i < NB; i++) {
      double s = 0;
      for (uint32_t j = 0; j < dim; j++) {
        double t = (double)queries[q * dim + j] - base[i * dim + j];
        s += t * t;
      }
      d[i] = s;
    }
    qsort(d, NB, sizeof *d, cmp_d);
    kth[q] = d[K - 1];
  }
  free(d);
}

static double exact_dist(size_t q, size_t i) {
  double s = 0;
  for (uint32_t j = 0; j < dim; j++) {
    double t = (double)queries[q * dim + j] - base[i * dim + j];
    s += t * t;
  }
  return s;
}

/* Hits whose exact distance is within the 10th-nearest distance. */
static size_t hits_of(const qv_results *r, size_t row, size_t q) {
  size_t h = 0;
  for (size_t i = 0; i < qv_results_count(r, row); i++) {
    long id = strtol(qv_results_id(r, row, i), NULL, 10);
    h += exact_dist(q, (size_t)id) <= kth[q];
  }
  return h;
}

static qv_collection *build(qv_db **db) {
  cr_assert_eq(qv_db_open(NULL, NULL, db), QV_OK);
  qv_collection *c = NULL;
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = dim;
  cr_assert_eq(qv_collection_create(*db, "fm", &o, &c), QV_OK);
  char **ids = malloc(NB * sizeof *ids);
  for (size_t i = 0; i < NB; i++) {
    ids[i] = malloc(16);
    snprintf(ids[i], 16, "%zu", i);
  }
  qv_batch b = {0, NB, (const char *const *)ids, base, NULL, NULL, 0};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(*db));
  for (size_t i = 0; i < NB; i++) free(ids[i]);
  free(ids);
  return c;
}

Test(recall, flat_is_exact_single_and_batch, .timeout = 300) {
  load();
  qv_db *db = NULL;
  qv_collection *c = build(&db);
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  size_t hit = 0;
  for (size_t q = 0; q < NQ; q++) {
    qv_results *r = NULL;
    cr_assert_eq(qv_collection_query(c, queries + q * dim, 1, K, &o, &r), QV_OK);
    cr_assert_eq(qv_results_count(r, 0), K);
    hit += hits_of(r, 0, q);
    qv_results_free(r);
  }
  cr_expect_eq(hit, (size_t)NQ * K, "single-query recall %.4f", (double)hit / (NQ * K));
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_query(c, queries, NQ, K, &o, &r), QV_OK);
  hit = 0;
  for (size_t q = 0; q < NQ; q++) hit += hits_of(r, q, q);
  cr_expect_eq(hit, (size_t)NQ * K, "batch recall %.4f", (double)hit / (NQ * K));
  qv_results_free(r);
  qv_collection_release(c);
  qv_db_close(db);
  free(base);
  free(queries);
}
