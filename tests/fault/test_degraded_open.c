/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_degraded_open.c -- one corrupt collection is reported and skipped; the rest of the
 * database opens (issue 15). The damage is done with SQLite directly, the way a bad disk, a
 * bad restore or a build without an index kind would leave it: an unknown index kind,
 * parameters the kind rejects, a record whose stored metadata is not JSON, and a garbage
 * index checkpoint file (that one is rebuilt from the records, not skipped). A skipped
 * collection can be dropped, which frees its name.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <quiver.h>

#define DIM 4

static char logbuf[8192];
static int n_errors;

static void on_log(void *ud, qv_log_level level, const char *msg) {
  (void)ud;
  if (level == QV_LOG_ERROR) n_errors++;
  size_t l = strlen(logbuf);
  snprintf(logbuf + l, sizeof logbuf - l, "%d %s\n", (int)level, msg);
}

static qv_status open_db(const char *dir, qv_db **db) {
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.log = on_log;
  o.n_threads = 1;
  return qv_db_open(dir, &o, db);
}

static void make(qv_db *db, const char *name, const char *kind, int n) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = DIM;
  o.index = kind;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, name, &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  char ib[32][8], mb[32][32];
  const char *ids[32], *metas[32];
  float e[32 * DIM];
  for (int i = 0; i < n; i++) {
    snprintf(ib[i], 8, "x%d", i);
    snprintf(mb[i], 32, "{\"i\":%d}", i);
    ids[i] = ib[i];
    metas[i] = mb[i];
    for (int j = 0; j < DIM; j++) e[i * DIM + j] = (float)(i * (j + 1) % 7);
  }
  qv_batch b = {0, (size_t)n, ids, e, metas, NULL, 0};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  qv_collection_release(c);
}

static void sql(const char *dir, const char *stmt) {
  char file[512];
  snprintf(file, sizeof file, "%s/quiver.db", dir);
  sqlite3 *h = NULL;
  cr_assert_eq(sqlite3_open(file, &h), SQLITE_OK);
  char *err = NULL;
  cr_assert_eq(sqlite3_exec(h, stmt, NULL, NULL, &err), SQLITE_OK, "%s: %s", stmt, err ? err : "");
  cr_assert_gt(sqlite3_changes(h), 0, "%s changed nothing", stmt);
  sqlite3_close(h);
}

static int64_t cid_of(const char *dir, const char *name) {
  char file[512];
  snprintf(file, sizeof file, "%s/quiver.db", dir);
  sqlite3 *h = NULL;
  sqlite3_stmt *st = NULL;
  cr_assert_eq(sqlite3_open(file, &h), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(h, "SELECT cid FROM collections WHERE name=?1", -1, &st, NULL), SQLITE_OK);
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  int64_t cid = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return cid;
}

static void check_good(qv_db *db, const char *name, int n) {
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_get(db, name, &c), QV_OK, "%s", name);
  uint64_t cnt = 0;
  cr_assert_eq(qv_collection_count(c, &cnt), QV_OK);
  cr_assert_eq(cnt, (uint64_t)n, "%s: %llu records", name, (unsigned long long)cnt);
  float q[DIM] = {3, 6, 2, 5}; /* = x3's vector */
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_query(c, q, 1, 3, NULL, &r), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_results_count(r, 0), 3);
  cr_assert_str_eq(qv_results_id(r, 0, 0), "x3");
  qv_results_free(r);
  qv_collection_release(c);
}

Test(degraded_open, corrupt_collections_are_skipped_and_reported) {
  char dir[] = "/tmp/qv_degraded_XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  qv_db *db = NULL;
  cr_assert_eq(open_db(dir, &db), QV_OK);
  make(db, "good1", "hnsw", 12);
  make(db, "badkind", "hnsw", 5);
  make(db, "badparams", "hnsw", 5);
  make(db, "badrow", "flat", 5);
  make(db, "good2", "flat", 9);
  cr_assert_eq(qv_db_checkpoint(db), QV_OK);
  qv_db_close(db);

  sql(dir, "UPDATE collections SET kind='nosuchkind' WHERE name='badkind'");
  sql(dir, "UPDATE collections SET params='{\"M\":-5}' WHERE name='badparams'");
  sql(dir, "UPDATE records SET metadata='{broken' WHERE id='x2' AND cid=(SELECT cid FROM collections WHERE name='badrow')");
  char ix[600];
  snprintf(ix, sizeof ix, "%s/index/%lld.idx", dir, (long long)cid_of(dir, "good2"));
  FILE *f = fopen(ix, "r+b");
  cr_assert_not_null(f, "%s", ix);
  cr_assert_eq(fwrite("garbage!garbage!garbage!", 1, 24, f), 24u);
  fclose(f);

  for (int round = 0; round < 2; round++) { /* and again: skipping changed nothing on disk */
    logbuf[0] = 0;
    n_errors = 0;
    db = NULL;
    cr_assert_eq(open_db(dir, &db), QV_OK, "the rest of the database opens (round %d)", round);
    char **names = NULL;
    size_t n = 0;
    cr_assert_eq(qv_collection_list(db, &names, &n), QV_OK);
    cr_assert_eq(n, 2u);
    cr_assert_str_eq(names[0], "good1");
    cr_assert_str_eq(names[1], "good2");
    qv_strings_free(names);
    cr_assert_eq(qv_db_skipped_collections(db, &names, &n), QV_OK);
    cr_assert_eq(n, 3u);
    cr_assert_null(names[3]);
    const char *want[3] = {"badkind: ", "badparams: ", "badrow: "};
    for (int i = 0; i < 3; i++) {
      int found = 0;
      for (size_t j = 0; j < n; j++) found |= strncmp(names[j], want[i], strlen(want[i])) == 0;
      cr_assert(found, "%s listed", want[i]);
    }
    for (size_t j = 0; j < n; j++) cr_log_info("skipped %s", names[j]);
    qv_strings_free(names);
    cr_assert_eq(n_errors, 3, "one error line per skipped collection:\n%s", logbuf);
    cr_assert(strstr(logbuf, "badkind") && strstr(logbuf, "badparams") && strstr(logbuf, "badrow"), "%s", logbuf);
    if (round == 0) cr_assert(strstr(logbuf, "unusable"), "the bad checkpoint is reported too:\n%s", logbuf);
    check_good(db, "good1", 12 + round);
    check_good(db, "good2", 9);
    /* the healthy part stays writable; a skipped name stays taken (until dropped: below) */
    qv_collection *c = NULL;
    cr_assert_eq(qv_collection_get(db, "good1", &c), QV_OK);
    char id[16];
    snprintf(id, sizeof id, "new%d", round);
    const char *ids[1] = {id};
    float e[DIM] = {9, 9, 9, 9};
    qv_batch b = {0, 1, ids, e, NULL, NULL, 0};
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
    qv_collection_release(c);
    cr_assert_eq(qv_collection_get(db, "badrow", &c), QV_NOTFOUND);
    qv_collection_opts o;
    qv_collection_opts_init(&o);
    o.dim = DIM;
    cr_assert_neq(qv_collection_create(db, "badrow", &o, &c), QV_OK, "a skipped collection's name stays taken");
    cr_assert_null(c);
    qv_db_close(db);
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

Test(degraded_open, no_skips_on_a_healthy_database) {
  char dir[] = "/tmp/qv_degraded_XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  qv_db *db = NULL;
  cr_assert_eq(open_db(dir, &db), QV_OK);
  make(db, "only", "flat", 4);
  qv_db_close(db);
  cr_assert_eq(open_db(dir, &db), QV_OK);
  char **names = NULL;
  size_t n = 7;
  cr_assert_eq(qv_db_skipped_collections(db, &names, &n), QV_OK);
  cr_assert_eq(n, 0u);
  cr_assert_null(names[0]);
  qv_strings_free(names);
  cr_assert_eq(qv_db_skipped_collections(NULL, &names, &n), QV_MISUSE);
  qv_db_close(db);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

static long long count_sql(const char *dir, const char *query, int64_t cid) {
  char file[512];
  snprintf(file, sizeof file, "%s/quiver.db", dir);
  sqlite3 *h = NULL;
  sqlite3_stmt *st = NULL;
  cr_assert_eq(sqlite3_open(file, &h), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(h, query, -1, &st, NULL), SQLITE_OK, "%s", query);
  sqlite3_bind_int64(st, 1, cid);
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  long long v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return v;
}

/* A skipped collection can be dropped: its records, log and row go, its index file goes, it
 * leaves the skipped list and its name can be used again; the others are untouched. */
Test(degraded_open, a_skipped_collection_can_be_dropped) {
  char dir[] = "/tmp/qv_degraded_XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  qv_db *db = NULL;
  cr_assert_eq(open_db(dir, &db), QV_OK);
  make(db, "good1", "hnsw", 12);
  make(db, "badkind", "hnsw", 5);
  make(db, "badrow", "flat", 7);
  cr_assert_eq(qv_db_checkpoint(db), QV_OK);
  qv_db_close(db);
  sql(dir, "UPDATE collections SET kind='nosuchkind' WHERE name='badkind'");
  sql(dir, "UPDATE records SET metadata='{broken' WHERE id='x2' AND cid=(SELECT cid FROM collections WHERE name='badrow')");
  int64_t kind_cid = cid_of(dir, "badkind"), row_cid = cid_of(dir, "badrow");
  const char *recs = "SELECT count(*) FROM records WHERE cid=?1";
  const char *cols = "SELECT count(*) FROM collections WHERE cid=?1";
  cr_assert_eq(count_sql(dir, recs, row_cid), 7);
  char ix[600];
  snprintf(ix, sizeof ix, "%s/index/%lld.idx", dir, (long long)kind_cid);
  cr_assert_eq(access(ix, F_OK), 0, "badkind has a checkpoint file: %s", ix);

  cr_assert_eq(open_db(dir, &db), QV_OK);
  char **names = NULL;
  size_t n = 0;
  cr_assert_eq(qv_db_skipped_collections(db, &names, &n), QV_OK);
  cr_assert_eq(n, 2u);
  qv_strings_free(names);
  cr_assert_eq(qv_collection_delete(db, "badrow"), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_delete(db, "badrow"), QV_NOTFOUND, "dropped once only");
  cr_assert(strstr(qv_db_errmsg(db), "badrow"), "%s", qv_db_errmsg(db));
  cr_assert_eq(count_sql(dir, recs, row_cid), 0, "its records are gone");
  cr_assert_eq(count_sql(dir, cols, row_cid), 0, "its catalog row is gone");
  cr_assert_eq(qv_db_skipped_collections(db, &names, &n), QV_OK);
  cr_assert_eq(n, 1u);
  cr_assert(strncmp(names[0], "badkind: ", 9) == 0, "%s", names[0]);
  cr_assert_null(names[1]);
  qv_strings_free(names);
  cr_assert_eq(qv_collection_delete(db, "badkind"), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(count_sql(dir, recs, kind_cid), 0);
  cr_assert_neq(access(ix, F_OK), 0, "its index file is gone: %s", ix);
  cr_assert_eq(qv_db_skipped_collections(db, &names, &n), QV_OK);
  cr_assert_eq(n, 0u);
  qv_strings_free(names);
  /* the names are free again; the healthy collection did not change */
  make(db, "badrow", "flat", 3);
  check_good(db, "good1", 12);
  qv_db_close(db);

  logbuf[0] = 0;
  n_errors = 0;
  cr_assert_eq(open_db(dir, &db), QV_OK);
  cr_assert_eq(n_errors, 0, "nothing is skipped any more:\n%s", logbuf);
  cr_assert_eq(qv_collection_list(db, &names, &n), QV_OK);
  cr_assert_eq(n, 2u);
  cr_assert_str_eq(names[0], "badrow");
  cr_assert_str_eq(names[1], "good1");
  qv_strings_free(names);
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_get(db, "badrow", &c), QV_OK);
  uint64_t cnt = 0;
  cr_assert_eq(qv_collection_count(c, &cnt), QV_OK);
  cr_assert_eq(cnt, 3u, "the new badrow has its own 3 records, none of the old 7");
  qv_collection_release(c);
  check_good(db, "good1", 12);
  qv_db_close(db);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}
