/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_write_locking.c -- readers run while a writer commits (src/write.c "Locks").
 *
 * The hook qv__test_pre_apply runs inside a write, after its SQLite COMMIT and before the
 * in-memory apply. From there the test starts a reader thread on the same collection and
 * waits for it with a deadline:
 *   - normally the reader must finish (the collection lock is not held across the commit)
 *     and must see the old state: no record of the batch, every record it deletes;
 *   - in a persistent cosine collection, a batch replacing existing embeddings (or a delete)
 *     keeps the lock across the commit, so the reader must still be waiting; it finishes
 *     after the write and then sees the new state.
 * After each write returns, its records are visible at once. A large batch of new records
 * goes into the HNSW graph hidden, in chunks with the lock released in between
 * (qv__test_between_chunks): a reader there runs and sees none of the batch, although its
 * vectors are the nearest to the reader's query.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "col_int.h"

static char dir[64];
static qv_db *db;
static qv_collection *col;

typedef struct probe {
  qv_collection *c;
  const char *id;     /* the id the reader looks up */
  int done;           /* the reader finished */
  uint64_t count;     /* what it saw */
  size_t found;       /* 1 if it found id */
  size_t hits;        /* k-NN results */
  size_t new_hits;    /* ... of them with an id starting with 'n' (the batch being written) */
  qv_status rc;
} probe;

static probe pr;
static int expect_blocked; /* the hook expects the reader to wait for the writer */
static int hook_ran;
static pthread_t reader;

static void *read_once(void *arg) {
  probe *p = arg;
  float q[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  qv_results *r = NULL;
  qv_get_opts go;
  p->rc = qv_collection_count(p->c, &p->count);
  if (p->rc == QV_OK) p->rc = qv_collection_query(p->c, q, 1, 5, NULL, &r);
  if (p->rc == QV_OK) {
    p->hits = qv_results_count(r, 0);
    p->new_hits = 0;
    for (size_t i = 0; i < p->hits; i++) p->new_hits += qv_results_id(r, 0, i)[0] == 'n';
    qv_results_free(r);
    qv_get_opts_init(&go);
    go.ids = &p->id;
    go.n_ids = 1;
    go.include = QV_INCLUDE_EMBEDDINGS;
    p->rc = qv_collection_get_records(p->c, &go, &r);
  }
  if (p->rc == QV_OK) {
    p->found = qv_results_count(r, 0);
    qv_results_free(r);
  }
  __atomic_store_n(&p->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

/* Wait up to ms for the reader of p; 1 if it finished. */
static int wait_reader(probe *p, int ms) {
  for (int i = 0; i < ms; i++) {
    if (__atomic_load_n(&p->done, __ATOMIC_SEQ_CST)) return 1;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return __atomic_load_n(&p->done, __ATOMIC_SEQ_CST);
}

/* Never asserts itself: a failed assertion here would leave the writer's locks held. */
static int reader_waited, reader_overlapped;

static void hook(qv_collection *c) {
  hook_ran = 1;
  pr.c = c;
  pr.done = 0;
  if (pthread_create(&reader, NULL, read_once, &pr) != 0) return;
  if (expect_blocked) {
    reader_overlapped = wait_reader(&pr, 300); /* must stay 0: the lock is held */
  } else {
    reader_waited = !wait_reader(&pr, 5000);  /* must stay 0: no lock is held */
    if (!reader_waited) pthread_join(reader, NULL);
  }
}

static void open_col_p(qv_metric metric, const char *kind, const char *params_json) {
  qv_open_opts o;
  qv_collection_opts co;
  snprintf(dir, sizeof dir, "/tmp/qv_wlock_XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  qv_open_opts_init(&o);
  o.sync = QV_SYNC_FULL; /* a real fsync inside the commit */
  cr_assert_eq(qv_db_open(dir, &o, &db), QV_OK);
  qv_collection_opts_init(&co);
  co.dim = 4;
  co.metric = metric;
  co.index = kind;
  co.params_json = params_json;
  cr_assert_eq(qv_collection_create(db, "c", &co, &col), QV_OK);
}

static void open_col(qv_metric metric, const char *kind) { open_col_p(metric, kind, NULL); }

static void teardown(void) {
  char cmd[96];
  qv__test_pre_apply = NULL;
  if (col) qv_collection_release(col);
  if (db) qv_db_close(db);
  col = NULL;
  db = NULL;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void add_rows(int from, int n, float shift) {
  char ids[64][16];
  const char *idp[64];
  float emb[64 * 4];
  qv_batch b = {0, 0};
  for (int i = 0; i < n; i++) {
    snprintf(ids[i], sizeof ids[i], "r%d", from + i);
    idp[i] = ids[i];
    for (int j = 0; j < 4; j++) emb[i * 4 + j] = (float)((from + i) % 7) * 0.1f + (float)j * 0.01f + shift;
  }
  b.n = (size_t)n;
  b.ids = idp;
  b.embeddings = emb;
  cr_assert_eq(qv_collection_upsert(col, &b), QV_OK, "%s", qv_db_errmsg(db));
}

static void check_after(uint64_t want_count, const char *id, size_t want_found) {
  uint64_t n = 0;
  qv_results *r = NULL;
  qv_get_opts go;
  cr_assert_eq(qv_collection_count(col, &n), QV_OK);
  cr_assert_eq(n, want_count);
  qv_get_opts_init(&go);
  go.ids = &id;
  go.n_ids = 1;
  cr_assert_eq(qv_collection_get_records(col, &go, &r), QV_OK);
  cr_assert_eq(qv_results_count(r, 0), want_found, "%s after the write", id);
  qv_results_free(r);
}

static void readers_run_during_commit(qv_metric metric, const char *kind, const char *params_json) {
  open_col_p(metric, kind, params_json);
  add_rows(0, 50, 0.0f);
  /* add: the reader sees the 50 old records and not r50 */
  pr.id = "r50";
  qv__test_pre_apply = hook;
  add_rows(50, 10, 0.0f);
  cr_assert(hook_ran);
  cr_assert_not(reader_waited, "the reader waited for the writer's commit");
  cr_assert_eq(pr.rc, QV_OK, "rc %d: %s", (int)pr.rc, qv_db_errmsg(db));
  cr_assert_eq(pr.count, 50);
  cr_assert_eq(pr.found, 0, "the reader saw a record of an unapplied batch");
  cr_assert_eq(pr.hits, 5);
  check_after(60, "r50", 1);
  /* delete: the reader still sees r3 */
  const char *del[] = {"r3"};
  pr.id = "r3";
  hook_ran = 0;
  cr_assert_eq(qv_collection_delete_records(col, del, 1, NULL, NULL, 0, NULL), QV_OK);
  cr_assert(hook_ran);
  cr_assert_not(reader_waited, "the reader waited for the writer's commit (delete)");
  cr_assert_eq(pr.rc, QV_OK);
  cr_assert_eq(pr.count, 60);
  cr_assert_eq(pr.found, 1, "the reader lost a record before its delete was applied");
  check_after(59, "r3", 0);
}

/* readers see the index's floats: deletes do not keep them out (keep_floats true; without
 * resident floats the store is read, below) */
Test(write_locking, readers_run_during_commit_l2_hnsw, .fini = teardown) {
  readers_run_during_commit(QV_METRIC_L2, "hnsw", "{\"keep_floats\":true}"); /* floats resident: no store reads */
}

/* An HNSW collection without resident floats (the default) re-ranks from the store: a delete
 * keeps readers out until the index has applied it (as cosine collections do), adds do not. */
Test(write_locking, lean_hnsw_delete_blocks_until_applied, .fini = teardown) {
  open_col(QV_METRIC_L2, "hnsw");
  add_rows(0, 20, 0.0f);
  pr.id = "r20";
  qv__test_pre_apply = hook;
  add_rows(20, 5, 0.0f);
  cr_assert(hook_ran);
  cr_assert_not(reader_waited, "the reader waited for the writer's commit (add)");
  cr_assert_eq(pr.rc, QV_OK, "reader: %s", qv_status_str(pr.rc));
  cr_assert_eq(pr.count, 20);
  cr_assert_eq(pr.found, 0);
  const char *del[] = {"r4"};
  pr.id = "r4";
  hook_ran = 0;
  expect_blocked = 1;
  cr_assert_eq(qv_collection_delete_records(col, del, 1, NULL, NULL, 0, NULL), QV_OK);
  cr_assert(hook_ran);
  pthread_join(reader, NULL);
  cr_assert_not(reader_overlapped, "a reader ran during the delete's commit");
  cr_assert_eq(pr.rc, QV_OK, "reader after delete: %s", qv_status_str(pr.rc));
  cr_assert_eq(pr.count, 24);
  cr_assert_eq(pr.found, 0);
}

Test(write_locking, readers_run_during_commit_ip_flat, .fini = teardown) {
  readers_run_during_commit(QV_METRIC_IP, "flat", NULL);
}

/* Adds to a persistent cosine collection still let readers in (no stored row is replaced). */
Test(write_locking, cosine_add_does_not_block, .fini = teardown) {
  open_col(QV_METRIC_COSINE, "hnsw");
  add_rows(0, 20, 0.0f);
  pr.id = "r20";
  qv__test_pre_apply = hook;
  add_rows(20, 5, 0.0f);
  cr_assert(hook_ran);
  cr_assert_not(reader_waited, "the reader waited for the writer's commit");
  cr_assert_eq(pr.count, 20);
  cr_assert_eq(pr.found, 0);
  check_after(25, "r20", 1);
}

/* Replacing embeddings or deleting in a collection whose readers read the store's rows (cosine:
 * the stored original; an index that keeps no floats: its exact re-rank) keeps readers out until
 * the batch is applied. */
static void replace_blocks_until_applied(qv_metric metric, const char *params_json) {
  open_col_p(metric, "hnsw", params_json);
  add_rows(0, 20, 0.0f);
  pr.id = "r4";
  expect_blocked = 1;
  qv__test_pre_apply = hook;
  add_rows(0, 10, 0.5f); /* r0..r9 get new embeddings */
  cr_assert(hook_ran);
  pthread_join(reader, NULL);
  cr_assert_not(reader_overlapped, "a reader ran while the writer held the lock across its commit");
  cr_assert(pr.done);
  cr_assert_eq(pr.rc, QV_OK, "reader: %s", qv_status_str(pr.rc));
  cr_assert_eq(pr.count, 20);
  cr_assert_eq(pr.found, 1);
  /* and a delete likewise */
  const char *del[] = {"r4"};
  hook_ran = 0;
  cr_assert_eq(qv_collection_delete_records(col, del, 1, NULL, NULL, 0, NULL), QV_OK);
  cr_assert(hook_ran);
  pthread_join(reader, NULL);
  cr_assert_not(reader_overlapped, "a reader ran during the delete's commit");
  cr_assert_eq(pr.rc, QV_OK, "reader after delete: %s", qv_status_str(pr.rc));
  cr_assert_eq(pr.count, 19);
  cr_assert_eq(pr.found, 0);
}

Test(write_locking, cosine_replace_blocks_until_applied, .fini = teardown) {
  replace_blocks_until_applied(QV_METRIC_COSINE, NULL);
}

Test(write_locking, lean_hnsw_replace_blocks_until_applied, .fini = teardown) {
  replace_blocks_until_applied(QV_METRIC_L2, "{\"keep_floats\":false}");
}

/* Between the chunks of a large insertion, readers run and see none of the batch. */
static int n_chunk_calls, chunk_reader_waited;
static probe chunk_pr[16];

static void chunk_hook(qv_collection *c) {
  if (n_chunk_calls >= 16) return;
  probe *p = &chunk_pr[n_chunk_calls++];
  pthread_t t;
  p->c = c;
  p->id = "n7";
  p->done = 0;
  if (pthread_create(&t, NULL, read_once, p) != 0) return;
  if (!wait_reader(p, 5000)) chunk_reader_waited = 1;
  pthread_join(t, NULL);
}

Test(write_locking, large_batch_hidden_between_chunks, .fini = teardown) {
  enum { N = 600 };
  static char ids[N][16];
  static const char *idp[N];
  static float emb[N * 4];
  qv_batch b = {0, 0};
  open_col(QV_METRIC_L2, "hnsw");
  add_rows(0, 50, 0.0f);
  for (int i = 0; i < N; i++) { /* all nearer to the reader's query (0.5, ...) than any old row */
    snprintf(ids[i], sizeof ids[i], "n%d", i);
    idp[i] = ids[i];
    for (int j = 0; j < 4; j++) emb[i * 4 + j] = 0.5f + (float)(i % 13) * 1e-4f;
  }
  b.n = N;
  b.ids = idp;
  b.embeddings = emb;
  qv__test_between_chunks = chunk_hook;
  cr_assert_eq(qv_collection_add(col, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  qv__test_between_chunks = NULL;
  cr_assert_geq(n_chunk_calls, 4, "only %d chunks", n_chunk_calls);
  cr_assert_not(chunk_reader_waited, "a reader waited between chunks");
  for (int i = 0; i < n_chunk_calls; i++) {
    cr_assert_eq(chunk_pr[i].rc, QV_OK);
    cr_assert_eq(chunk_pr[i].count, 50, "chunk %d: count %llu", i, (unsigned long long)chunk_pr[i].count);
    cr_assert_eq(chunk_pr[i].found, 0, "chunk %d: a record of the batch was found", i);
    cr_assert_eq(chunk_pr[i].hits, 5);
    cr_assert_eq(chunk_pr[i].new_hits, 0, "chunk %d: a hidden node was returned", i);
  }
  /* after the call: the whole batch, and it is what the query finds first */
  check_after(50 + N, "n7", 1);
  pr.c = col;
  pr.id = "n599";
  read_once(&pr);
  cr_assert_eq(pr.found, 1);
  cr_assert_eq(pr.new_hits, 5);
}
