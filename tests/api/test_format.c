/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_format.c -- on-disk format versions are checked, not guessed (docs/FORMAT.md):
 * a quiver.db with a newer format version or a foreign application id is refused with
 * QV_CORRUPT and a message saying so, and nothing in it is changed; an index checkpoint
 * with an unknown envelope version is rebuilt from the records, answering as before.
 * The files are tampered with through SQLite itself and plain file I/O.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <quiver.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[64];

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w) {
  (void)s; (void)f; (void)w;
  return remove(p);
}

static void setup(void) {
  strcpy(dir, "/tmp/qv-format-XXXXXX");
  cr_assert(mkdtemp(dir));
}

static void teardown(void) { nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

/* A db with one flat collection of three records, closed (so its index is checkpointed). */
static void make_db(void) {
  qv_db *db = NULL;
  qv_collection *c = NULL;
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 2;
  cr_assert_eq(qv_db_open(dir, NULL, &db), QV_OK);
  cr_assert_eq(qv_collection_create(db, "c", &o, &c), QV_OK);
  const char *ids[] = {"a", "b", "c"};
  float emb[] = {0, 0, 1, 0, 0, 3};
  qv_batch b = {0, 3, ids, emb, NULL, NULL, 0};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK);
  qv_collection_release(c);
  qv_db_close(db);
}

static void sql(const char *stmt) {
  char file[128];
  snprintf(file, sizeof file, "%s/quiver.db", dir);
  sqlite3 *h = NULL;
  cr_assert_eq(sqlite3_open(file, &h), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(h, stmt, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
  sqlite3_close(h);
}

static qv_status open_err(char *err, size_t len) {
  qv_db *db = NULL;
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.errbuf = err;
  o.errbuf_len = len;
  qv_status rc = qv_db_open(dir, &o, &db);
  if (rc == QV_OK) qv_db_close(db);
  else cr_assert_null(db);
  return rc;
}

TestSuite(format, .init = setup, .fini = teardown);

Test(format, newer_format_version_is_refused) {
  make_db();
  sql("PRAGMA user_version = 4");
  char err[512] = "";
  cr_assert_eq(open_err(err, sizeof err), QV_CORRUPT);
  cr_expect(strstr(err, "unknown format version 4"), "message: %s", err);
  sql("PRAGMA user_version = 3"); /* untouched otherwise: back to version 3, it opens */
  cr_assert_eq(open_err(err, sizeof err), QV_OK, "%s", err);
}

Test(format, foreign_sqlite_file_is_refused) {
  sql("CREATE TABLE other(x)");
  char err[512] = "";
  cr_assert_eq(open_err(err, sizeof err), QV_CORRUPT);
  cr_expect(strstr(err, "not a quiver database"), "message: %s", err);
}

Test(format, unknown_index_envelope_version_is_rebuilt) {
  make_db();
  char file[128];
  snprintf(file, sizeof file, "%s/index/1.idx", dir);
  FILE *f = fopen(file, "r+b");
  cr_assert_not_null(f, "no checkpoint file %s", file);
  unsigned char v[4] = {99, 0, 0, 0}; /* envelope version at offset 8 */
  cr_assert_eq(fseek(f, 8, SEEK_SET), 0);
  cr_assert_eq(fwrite(v, 1, 4, f), 4);
  fclose(f);
  qv_db *db = NULL;
  qv_collection *c = NULL;
  cr_assert_eq(qv_db_open(dir, NULL, &db), QV_OK);
  cr_assert_eq(qv_collection_get(db, "c", &c), QV_OK);
  float q[] = {0.9f, 0};
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_query(c, q, 1, 3, NULL, &r), QV_OK);
  cr_assert_eq(qv_results_count(r, 0), 3);
  cr_expect_str_eq(qv_results_id(r, 0, 0), "b");
  cr_expect_str_eq(qv_results_id(r, 0, 1), "a");
  cr_expect_str_eq(qv_results_id(r, 0, 2), "c");
  qv_results_free(r);
  qv_index_stats st;
  cr_assert_eq(qv_collection_stats_get(c, &st), QV_OK);
  cr_expect_eq(st.checkpoint_seq, 0, "the bad checkpoint must not count as loaded");
  qv_collection_release(c);
  qv_db_close(db);
}
