/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_hnsw_exact.c -- a persistent HNSW collection of integer vectors has lossless codes
 * (docs/QUANTIZATION.md, "Lossless codes"): the checkpoint header says so (HNSW header field
 * sq8, bit 0x100, docs/FORMAT.md), across close / reopen and the write log; the answers equal
 * the exact scan's; one record that is not lossless clears it for good (deleted, checkpointed,
 * reopened: still clear), and the answers stay right.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <quiver.h>

#include "api_db.h"

enum { N = 2000, DIM = 32, NQ = 40, K = 10 };

static float vecs[(N + 1) * DIM], qs[NQ * DIM];
static char idbuf[N + 1][16];
static const char *ids[N + 1];

static void make_data(void) {
  uint64_t r = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < (size_t)(N + 1) * DIM; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    vecs[i] = (float)((r >> 11) % 256); /* pixels */
  }
  for (size_t i = 0; i < (size_t)NQ * DIM; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    qs[i] = (float)((r >> 11) % 256);
  }
  for (int i = 0; i <= N; i++) {
    snprintf(idbuf[i], sizeof idbuf[i], "r%d", i);
    ids[i] = idbuf[i];
  }
}

/* The lossless bit of the collection's index checkpoint (the only file in index/). */
static int ckpt_exact(void) {
  char dir[128], path[512];
  snprintf(dir, sizeof dir, "%s/index", tmpdir);
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  struct dirent *e;
  int found = 0;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".idx") && !strstr(e->d_name, ".tmp")) {
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      found++;
    }
  closedir(d);
  cr_assert_eq(found, 1);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  uint32_t sq8 = 0;
  cr_assert_eq(fseek(f, 64 + 28, SEEK_SET), 0); /* envelope, then file_hdr.sq8 */
  cr_assert_eq(fread(&sq8, 4, 1, f), 1);
  fclose(f);
  cr_assert_eq(sq8 & 0xff, 8u);
  return (sq8 & 0x100u) != 0;
}

/* The collection's answers against its exact scan: the same ids and distances. */
static void same_as_exact(qv_db *db, qv_collection *c) {
  qv_query_opts ex, ap;
  qv_query_opts_init(&ex);
  qv_query_opts_init(&ap);
  ex.exact = 1;
  ap.ef_search = 200;
  qv_results *a = NULL, *b = NULL;
  cr_assert_eq(qv_collection_query(c, qs, NQ, K, &ap, &a), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_query(c, qs, NQ, K, &ex, &b), QV_OK, "%s", qv_db_errmsg(db));
  for (size_t q = 0; q < NQ; q++) {
    cr_assert_eq(qv_results_count(a, q), qv_results_count(b, q));
    for (size_t i = 0; i < qv_results_count(a, q); i++)
      cr_assert_float_eq(qv_results_distance(a, q, i), qv_results_distance(b, q, i), 1e-3f, "query %zu rank %zu", q,
                         i);
  }
  qv_results_free(a);
  qv_results_free(b);
}

static void add(qv_db *db, qv_collection *c, int from, int to) {
  qv_batch b = {0, (size_t)(to - from), ids + from, vecs + (size_t)from * DIM, NULL, NULL, 0};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
}

Test(hnsw_exact, lossless_flag_through_checkpoints_and_reopen) {
  make_data();
  qv_db *db = open_db(1);
  qv_collection_opts o;
  qv_collection *c = NULL;
  qv_collection_opts_init(&o);
  o.dim = DIM;
  o.metric = QV_METRIC_L2;
  o.index = "hnsw";
  o.params_json = "{\"M\": 12}"; /* the default: sq8, keep_floats false */
  cr_assert_eq(qv_collection_create(db, "c", &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  add(db, c, 0, 1000);
  cr_assert_eq(qv_db_checkpoint(db), QV_OK);
  cr_assert(ckpt_exact(), "integer data: lossless codes");
  add(db, c, 1000, N); /* in the write log only */
  qv_collection_release(c);
  db = reopen(db); /* checkpoint + replay */
  cr_assert_eq(qv_collection_get(db, "c", &c), QV_OK);
  same_as_exact(db, c);
  cr_assert_eq(qv_db_checkpoint(db), QV_OK);
  cr_assert(ckpt_exact(), "still lossless after replay");
  /* one record off the grid, then gone again */
  vecs[(size_t)N * DIM + 5] = 7.25f;
  add(db, c, N, N + 1);
  size_t got = 0;
  cr_assert_eq(qv_collection_delete_records(c, ids + N, 1, NULL, NULL, 0, &got), QV_OK);
  cr_assert_eq(got, 1);
  cr_assert_eq(qv_db_checkpoint(db), QV_OK);
  cr_assert(!ckpt_exact(), "one inexact vector clears it, deleted or not");
  qv_collection_release(c);
  db = reopen(db);
  cr_assert_eq(qv_collection_get(db, "c", &c), QV_OK);
  add(db, c, N, N + 1); /* id r2000 again, now vecs row N holds 7.25: still inexact */
  cr_assert_eq(qv_db_checkpoint(db), QV_OK);
  cr_assert(!ckpt_exact(), "for good, across reopen");
  same_as_exact(db, c);
  qv_collection_release(c);
  close_db(db);
}
