/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_compact.c -- rebuilding a decayed HNSW graph (src/compact.c): automatically after
 * heavy deletes and on demand, answers unchanged, survives a reopen, searches go on during it.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <quiver.h>

#include "api_db.h"

enum { N = 2000, DIM = 16 };

static float vecs[N * DIM];
static int n_rec = N; /* records a test's collection starts with */
static char idbuf[N][16];
static const char *ids[N];

static void make_data(void) {
  uint64_t r = 88172645463325252u;
  for (size_t i = 0; i < (size_t)N * DIM; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    vecs[i] = (float)((double)(r >> 11) * 0x1p-53 - 0.5);
  }
  for (int i = 0; i < N; i++) {
    snprintf(idbuf[i], sizeof idbuf[i], "r%d", i);
    ids[i] = idbuf[i];
  }
}

static qv_collection *new_col(qv_db *db, const char *kind) {
  qv_collection_opts o;
  qv_collection *c = NULL;
  qv_collection_opts_init(&o);
  o.dim = DIM;
  o.index = kind;
  o.params_json = strcmp(kind, "hnsw") == 0 ? "{\"ef_search\": 100}" : NULL;
  cr_assert_eq(qv_collection_create(db, "c", &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  qv_batch b = {0, (size_t)n_rec, ids, vecs, NULL, NULL, 0};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  return c;
}

/* Delete ids [from, to) in batches of 100. */
static void delete_range(qv_db *db, qv_collection *c, int from, int to) {
  for (int i = from; i < to; i += 100) {
    size_t n = (size_t)(to - i < 100 ? to - i : 100), got = 0;
    cr_assert_eq(qv_collection_delete_records(c, ids + i, n, NULL, NULL, 0, &got), QV_OK, "%s", qv_db_errmsg(db));
    cr_assert_eq(got, n);
  }
}

static qv_index_stats stats(qv_collection *c) {
  qv_index_stats st;
  cr_assert_eq(qv_collection_stats_get(c, &st), QV_OK);
  return st;
}

/* Every record in [live_from, n_rec) finds itself first; no result is a deleted one. */
static void check_answers(qv_db *db, qv_collection *c, int live_from) {
  int self = 0;
  for (int i = live_from; i < n_rec; i++) {
    qv_results *r = NULL;
    cr_assert_eq(qv_collection_query(c, vecs + (size_t)i * DIM, 1, 10, NULL, &r), QV_OK, "%s", qv_db_errmsg(db));
    size_t k = qv_results_count(r, 0);
    cr_assert_eq(k, (size_t)(n_rec - live_from) < 10 ? (size_t)(n_rec - live_from) : 10);
    self += strcmp(qv_results_id(r, 0, 0), ids[i]) == 0;
    for (size_t j = 0; j < k; j++)
      cr_assert_geq(atoi(qv_results_id(r, 0, j) + 1), live_from, "deleted %s returned", qv_results_id(r, 0, j));
    qv_results_free(r);
  }
  cr_assert_geq(self, (n_rec - live_from) * 99 / 100, "only %d of %d records find themselves", self,
                n_rec - live_from);
}

Test(compact, automatic_after_heavy_deletes) {
  make_data();
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "hnsw");
  delete_range(db, c, 0, 200); /* under the 256 minimum: tombstones stay */
  cr_assert_eq(stats(c).n_tombstones, 200);
  check_answers(db, c, 200);
  delete_range(db, c, 200, 1500);
  qv_index_stats st = stats(c);
  cr_assert_eq(st.count, N - 1500);
  /* rebuilt whenever tombstones reached half the live nodes: never left that high */
  cr_assert(st.n_tombstones < 256 || 2 * st.n_tombstones < st.count, "%llu tombstones for %llu live",
            (unsigned long long)st.n_tombstones, (unsigned long long)st.count);
  cr_assert_eq(st.n_slots, st.count + st.n_tombstones);
  check_answers(db, c, 1500);
  /* the slots compaction kept are reused as before */
  qv_batch b = {0, 200, ids, vecs, NULL, NULL, 0};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(stats(c).count, N - 1300);
  qv_collection_release(c);
  close_db(db);
}

Test(compact, on_demand_and_noops) {
  make_data();
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "hnsw");
  cr_assert_eq(qv_collection_compact(c), QV_OK); /* nothing to drop */
  delete_range(db, c, 0, 100);
  cr_assert_eq(stats(c).n_tombstones, 100);
  cr_assert_eq(qv_collection_compact(c), QV_OK);
  qv_index_stats st = stats(c);
  cr_assert_eq(st.n_tombstones, 0);
  cr_assert_eq(st.count, N - 100);
  check_answers(db, c, 100);
  qv_collection_release(c);
  cr_assert_eq(qv_collection_compact(NULL), QV_MISUSE);
  cr_assert_eq(qv_collection_delete(db, "c"), QV_OK);
  /* flat: no graph, nothing to do */
  c = new_col(db, "flat");
  delete_range(db, c, 0, 1000);
  cr_assert_eq(qv_collection_compact(c), QV_OK);
  check_answers(db, c, 1000);
  qv_collection_release(c);
  close_db(db);
}

Test(compact, persists_and_read_only_refuses) {
  make_data();
  qv_db *db = open_db(1);
  qv_collection *c = new_col(db, "hnsw");
  delete_range(db, c, 0, 100);
  cr_assert_eq(qv_db_checkpoint(db), QV_OK);
  qv_index_stats st = stats(c);
  cr_assert_eq(st.checkpoint_seq, st.last_seq);
  cr_assert_eq(qv_collection_compact(c), QV_OK);
  st = stats(c);
  cr_assert_eq(st.n_tombstones, 0);
  cr_assert_eq(st.checkpoint_seq, 0, "the checkpoint file holds the old graph");
  qv_collection_release(c);
  db = reopen(db); /* close checkpoints the compacted graph */
  cr_assert_eq(qv_collection_get(db, "c", &c), QV_OK);
  st = stats(c);
  cr_assert_eq(st.n_tombstones, 0);
  cr_assert_eq(st.checkpoint_seq, st.last_seq, "loaded from the checkpoint, not rebuilt");
  check_answers(db, c, 100);
  delete_range(db, c, 100, 1200); /* automatic, then kept by the close */
  st = stats(c);
  cr_assert(st.n_tombstones < 256 || 2 * st.n_tombstones < st.count);
  uint64_t tomb = st.n_tombstones;
  qv_collection_release(c);
  qv_db_close(db);
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.read_only = 1;
  cr_assert_eq(qv_db_open(tmpdir, &o, &db), QV_OK);
  cr_assert_eq(qv_collection_get(db, "c", &c), QV_OK);
  cr_assert_eq(stats(c).n_tombstones, tomb);
  cr_assert_eq(qv_collection_compact(c), QV_MISUSE);
  check_answers(db, c, 1200);
  qv_collection_release(c);
  close_db(db);
}

/* Searches while deletes trigger rebuilds: every one succeeds with a full answer. */
typedef struct reader {
  qv_collection *c;
  atomic_int stop;
  long queries, failures;
} reader;

static void *read_loop(void *arg) {
  reader *rd = arg;
  for (size_t i = 0; !atomic_load(&rd->stop); i++) {
    qv_results *r = NULL;
    if (qv_collection_query(rd->c, vecs + (i % N) * DIM, 1, 5, NULL, &r) != QV_OK || qv_results_count(r, 0) != 5)
      rd->failures++;
    qv_results_free(r);
    rd->queries++;
  }
  return NULL;
}

Test(compact, searches_run_during_rebuilds) {
  make_data();
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "hnsw");
  reader rd = {c, 0, 0, 0};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, read_loop, &rd), 0);
  for (int round = 0; round < 3; round++) {
    delete_range(db, c, 0, 1800);
    qv_batch b = {0, 1800, ids, vecs, NULL, NULL, 0};
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_collection_compact(c), QV_OK);
  }
  atomic_store(&rd.stop, 1);
  pthread_join(t, NULL);
  cr_assert_gt(rd.queries, 0);
  cr_assert_eq(rd.failures, 0, "%ld of %ld searches failed", rd.failures, rd.queries);
  check_answers(db, c, 0);
  qv_collection_release(c);
  close_db(db);
}

/* ------------------------------------------------------------------ allocation failures */

static atomic_long fc_calls, fc_fail_at;
static atomic_int fc_armed;

static int fc_fail(void) {
  return atomic_load(&fc_armed) && atomic_fetch_add(&fc_calls, 1) + 1 == atomic_load(&fc_fail_at);
}
static void *fc_malloc(void *ud, size_t n) { return (void)ud, fc_fail() ? NULL : malloc(n); }
static void *fc_realloc(void *ud, void *p, size_t n) { return (void)ud, fc_fail() ? NULL : realloc(p, n); }
static void fc_free(void *ud, void *p) { (void)ud, free(p); }

/* The ids of 50 queries' top 10, as one string. */
static char *answers(qv_collection *c) {
  size_t cap = 50 * 10 * 8 + 1, len = 0;
  char *out = calloc(1, cap);
  for (int i = 0; i < 50; i++) {
    qv_results *r = NULL;
    cr_assert_eq(qv_collection_query(c, vecs + (size_t)(i * 37 % n_rec) * DIM, 1, 10, NULL, &r), QV_OK);
    for (size_t j = 0; j < qv_results_count(r, 0); j++)
      len += (size_t)snprintf(out + len, cap - len, "%s,", qv_results_id(r, 0, j));
    qv_results_free(r);
  }
  return out;
}

/* The k-th allocation of a rebuild fails, for every k: QV_NOMEM and the old graph answering
 * as before, or a finished rebuild; never anything in between (leaks: the ASan build). */
Test(compact, allocation_failures_keep_the_old_graph, .timeout = 300) {
  make_data();
  n_rec = 400;
  int refused = 0;
  for (long k = 1;; k++) {
    qv_open_opts o;
    qv_db *db = NULL;
    qv_collection *c;
    qv_open_opts_init(&o);
    o.alloc.malloc_fn = fc_malloc;
    o.alloc.realloc_fn = fc_realloc;
    o.alloc.free_fn = fc_free;
    o.n_threads = 1;
    cr_assert_eq(qv_db_open(NULL, &o, &db), QV_OK);
    c = new_col(db, "hnsw");
    delete_range(db, c, 0, 100);
    char *before = answers(c);
    atomic_store(&fc_calls, 0);
    atomic_store(&fc_fail_at, k);
    atomic_store(&fc_armed, 1);
    qv_status rc = qv_collection_compact(c);
    atomic_store(&fc_armed, 0);
    int hit = atomic_load(&fc_calls) >= k;
    if (rc == QV_OK) {
      cr_assert_eq(stats(c).n_tombstones, 0, "k %ld", k);
      check_answers(db, c, 100);
    } else {
      cr_assert_eq(rc, QV_NOMEM, "k %ld: %s", k, qv_status_name(rc));
      refused++;
      cr_assert_eq(stats(c).n_tombstones, 100, "k %ld", k);
      char *after = answers(c);
      cr_assert_str_eq(after, before, "k %ld: answers changed after a failed rebuild", k);
      free(after);
    }
    free(before);
    qv_collection_release(c);
    qv_db_close(db);
    if (!hit) break; /* k passed the rebuild's last allocation */
  }
  cr_assert_gt(refused, 0, "no allocation failure reached the rebuild");
}

