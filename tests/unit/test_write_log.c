/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_write_log.c -- the write path of the storage engine round 2:
 *   - one collection's index work does not hold up another collection's writes (only the
 *     SQLite transaction is serialised database-wide);
 *   - checkpoints run in the background once enough records were written, so a crash
 *     replays a bounded tail;
 *   - deletes are in the write log: a database copied after deletes that no checkpoint holds
 *     (what a crash leaves) reopens without the deleted records in its index.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "col_int.h"

static char dir[64];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/qv-wlog-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s-copy", dir, dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(write_log, .init = setup, .fini = teardown, .timeout = 60);

static qv_collection *make(qv_db *db, const char *name, const char *index) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 4;
  o.index = index;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, name, &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  return c;
}

static qv_status add_range(qv_collection *c, int from, int to) {
  int n = to - from;
  char (*idbuf)[16] = malloc((size_t)n * sizeof *idbuf);
  const char **ids = malloc((size_t)n * sizeof *ids);
  float *v = malloc((size_t)n * 4 * sizeof *v);
  for (int i = 0; i < n; i++) {
    snprintf(idbuf[i], sizeof idbuf[i], "r%d", from + i);
    ids[i] = idbuf[i];
    for (int j = 0; j < 4; j++) v[i * 4 + j] = (float)((from + i) * 4 + j) * 0.001f + (float)j;
  }
  qv_batch b = {.n = (size_t)n, .ids = ids, .embeddings = v};
  qv_status rc = qv_collection_add(c, &b, QV_CONFLICT_ERROR);
  free(idbuf);
  free(ids);
  free(v);
  return rc;
}

/* ------------------------------------------------------------------ independent collections */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int in_apply, release_apply;
static qv_collection *held;

/* Inside the write to `held`, between its commit and its apply: hold it there. */
static void hold_apply(qv_collection *c) {
  if (c != held) return;
  pthread_mutex_lock(&gate_mu);
  in_apply = 1;
  pthread_cond_broadcast(&gate_cv);
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 20;
  while (!release_apply && pthread_cond_timedwait(&gate_cv, &gate_mu, &dl) == 0) {
  }
  pthread_mutex_unlock(&gate_mu);
}

static void *write_held(void *arg) {
  return (void *)(intptr_t)add_range(arg, 0, 10);
}

Test(write_log, other_collections_write_during_index_work) {
  qv_db *db = NULL;
  cr_assert_eq(qv_db_open(dir, NULL, &db), QV_OK);
  qv_collection *a = make(db, "a", "hnsw"), *b = make(db, "b", "flat");
  held = a;
  qv__test_pre_apply = hold_apply;
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, write_held, a), 0);
  pthread_mutex_lock(&gate_mu);
  while (!in_apply) pthread_cond_wait(&gate_cv, &gate_mu);
  pthread_mutex_unlock(&gate_mu);
  /* a's write is committed and stuck before its index work: b's writes, a new collection and
     a checkpoint of b go through meanwhile */
  cr_assert_eq(add_range(b, 0, 50), QV_OK, "%s", qv_db_errmsg(db));
  qv_collection *c = make(db, "c", "flat");
  cr_assert_eq(add_range(c, 0, 5), QV_OK);
  uint64_t n = 0;
  cr_assert_eq(qv_collection_count(b, &n), QV_OK);
  cr_assert_eq(n, 50);
  pthread_mutex_lock(&gate_mu);
  release_apply = 1;
  pthread_cond_broadcast(&gate_cv);
  pthread_mutex_unlock(&gate_mu);
  void *res = NULL;
  pthread_join(t, &res);
  qv__test_pre_apply = NULL;
  cr_assert_eq((qv_status)(intptr_t)res, QV_OK);
  cr_assert_eq(qv_collection_count(a, &n), QV_OK);
  cr_assert_eq(n, 10);
  qv_collection_release(a);
  qv_collection_release(b);
  qv_collection_release(c);
  qv_db_close(db);
}

/* ------------------------------------------------------------------ background checkpoints */

Test(write_log, background_checkpoint_after_enough_writes) {
  qv_db *db = NULL;
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.checkpoint_every = 100;
  cr_assert_eq(qv_db_open(dir, &o, &db), QV_OK);
  qv_collection *c = make(db, "h", "hnsw");
  cr_assert_eq(add_range(c, 0, 40), QV_OK);
  qv_index_stats st = {.struct_size = sizeof st};
  cr_assert_eq(qv_collection_stats_get(c, &st), QV_OK);
  cr_assert_eq(st.checkpoint_seq, 0, "below the threshold nothing is written");
  cr_assert_eq(add_range(c, 40, 140), QV_OK);
  uint64_t want = st.last_seq + 1; /* the second batch */
  for (int i = 0; i < 400; i++) { /* up to 20 s: the thread runs as soon as it is woken */
    cr_assert_eq(qv_collection_stats_get(c, &st), QV_OK);
    if (st.checkpoint_seq >= want) break;
    usleep(50000);
  }
  cr_assert_eq(st.checkpoint_seq, want, "checkpoint seq %llu, want %llu", (unsigned long long)st.checkpoint_seq,
               (unsigned long long)want);
  char path[128];
  snprintf(path, sizeof path, "%s/index/1.idx", dir);
  cr_assert_eq(access(path, F_OK), 0, "the checkpoint file exists before close");
  qv_collection_release(c);
  qv_db_close(db);
}

/* ------------------------------------------------------------------ deletes in the log */

static size_t knn_ids(qv_collection *c, const float *q, char ids[][16], size_t k) {
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_query(c, q, 1, k, NULL, &r), QV_OK);
  size_t n = qv_results_count(r, 0);
  for (size_t i = 0; i < n; i++) snprintf(ids[i], 16, "%s", qv_results_id(r, 0, i));
  qv_results_free(r);
  return n;
}

Test(write_log, deletes_after_the_checkpoint_are_replayed) {
  qv_db *db = NULL;
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.checkpoint_every = UINT64_MAX;
  cr_assert_eq(qv_db_open(dir, &o, &db), QV_OK);
  qv_collection *c = make(db, "h", "hnsw");
  cr_assert_eq(add_range(c, 0, 300), QV_OK);
  cr_assert_eq(qv_db_checkpoint(db), QV_OK);
  /* after the checkpoint: delete r0..r9, re-add r5 with a new vector, delete r20 */
  const char *del[10];
  char buf[10][8];
  for (int i = 0; i < 10; i++) {
    snprintf(buf[i], sizeof buf[i], "r%d", i);
    del[i] = buf[i];
  }
  size_t n = 0;
  cr_assert_eq(qv_collection_delete_records(c, del, 10, NULL, NULL, 0, &n), QV_OK);
  cr_assert_eq(n, 10);
  const char *id5 = "r5";
  float v5[4] = {100, 100, 100, 100};
  qv_batch b5 = {.n = 1, .ids = &id5, .embeddings = v5};
  cr_assert_eq(qv_collection_add(c, &b5, QV_CONFLICT_ERROR), QV_OK);
  const char *id20 = "r20";
  cr_assert_eq(qv_collection_delete_records(c, &id20, 1, NULL, NULL, 0, &n), QV_OK);
  /* what a crash leaves: the store as committed, the checkpoint from before the deletes */
  char cmd[256];
  snprintf(cmd, sizeof cmd, "cp -r %s %s-copy && rm -f %s-copy/LOCK", dir, dir, dir);
  cr_assert_eq(system(cmd), 0);
  qv_collection_release(c);
  qv_db_close(db);

  char copy[96];
  snprintf(copy, sizeof copy, "%s-copy", dir);
  cr_assert_eq(qv_db_open(copy, &o, &db), QV_OK, "reopen");
  cr_assert_eq(qv_collection_get(db, "h", &c), QV_OK);
  uint64_t cnt = 0;
  cr_assert_eq(qv_collection_count(c, &cnt), QV_OK);
  cr_assert_eq(cnt, 290);
  qv_index_stats st = {.struct_size = sizeof st};
  cr_assert_eq(qv_collection_stats_get(c, &st), QV_OK);
  cr_assert_eq(st.count, 290, "the index holds exactly the live records");
  char got[20][16];
  for (int i = 0; i < 25; i++) { /* queries at the deleted vectors never return them */
    float q[4];
    for (int j = 0; j < 4; j++) q[j] = (float)(i * 4 + j) * 0.001f + (float)j;
    size_t k = knn_ids(c, q, got, 5);
    for (size_t h = 0; h < k; h++) {
      int num = atoi(got[h] + 1);
      cr_assert(!((num < 10 && num != 5) || num == 20), "query %d returned deleted %s", i, got[h]);
    }
  }
  float q5[4] = {100, 100, 100, 100};
  cr_assert_eq(knn_ids(c, q5, got, 1), 1);
  cr_assert_str_eq(got[0], "r5", "the re-added record is found at its new vector");
  qv_collection_release(c);
  qv_db_close(db);
}
