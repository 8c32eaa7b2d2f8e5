/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_format.c -- on-disk format versions are checked, not guessed (docs/FORMAT.md):
 * a quiver.db with a newer format version or a foreign application id is refused with
 * QV_CORRUPT and a message saying so, and nothing in it is changed; an index checkpoint
 * with an unknown envelope version is rebuilt from the records, answering as before; a
 * format-3 file (config in the reserved metadata key) is migrated to format 4 once.
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
  sql("PRAGMA user_version = 5");
  char err[512] = "";
  cr_assert_eq(open_err(err, sizeof err), QV_CORRUPT);
  cr_expect(strstr(err, "unknown format version 5"), "message: %s", err);
  sql("PRAGMA user_version = 4"); /* untouched otherwise: back to version 4, it opens */
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

/* ------------------------------------------------------------------ format 3 -> 4 */

static char logbuf[4096];
static void log_cb(void *ud, qv_log_level level, const char *msg) {
  (void)ud;
  (void)level;
  strncat(logbuf, msg, sizeof logbuf - strlen(logbuf) - 2);
  strcat(logbuf, "\n");
}

/* The config and metadata of collection name, "config | metadata" ("-" for none). */
static void col_state(qv_db *db, const char *name, char *out, size_t len) {
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_get(db, name, &c), QV_OK, "%s", name);
  qv_collection_info in;
  memset(&in, 0, sizeof in);
  in.struct_size = sizeof in;
  cr_assert_eq(qv_collection_info_get(c, &in), QV_OK);
  snprintf(out, len, "%s | %s", in.config_json ? in.config_json : "-", in.metadata_json ? in.metadata_json : "-");
  qv_collection_info_free(&in);
  qv_collection_release(c);
}

Test(format, format3_config_key_is_migrated_once) {
  make_db(); /* collection "c"; three more, then the file is made format 3 as the 0.3 server left it */
  qv_db *db = NULL;
  cr_assert_eq(qv_db_open(dir, NULL, &db), QV_OK);
  const char *names[] = {"both", "only", "user"};
  for (int i = 0; i < 3; i++) {
    qv_collection_opts o;
    qv_collection_opts_init(&o);
    o.dim = 2;
    qv_collection *c = NULL;
    cr_assert_eq(qv_collection_create(db, names[i], &o, &c), QV_OK);
    qv_collection_release(c);
  }
  qv_db_close(db);
  sql("ALTER TABLE collections DROP COLUMN config;"
      "UPDATE collections SET metadata = json_object('owner', 'x', '__quiver_config',"
      " '{\"embedding_function\":{\"name\":\"default\"},\"ef_search\":50}') WHERE name = 'both';"
      "UPDATE collections SET metadata = json_object('__quiver_config', '{\"resize_factor\":1.5}') WHERE name = 'only';"
      "UPDATE collections SET metadata = json_object('__quiver_config', 'not a configuration', 'k', 1)"
      " WHERE name = 'user';"
      "PRAGMA user_version = 3;");
  /* read-only: refused until opened for writing once */
  char err[512] = "";
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.read_only = 1;
  o.errbuf = err;
  o.errbuf_len = sizeof err;
  cr_assert_eq(qv_db_open(dir, &o, &db), QV_CORRUPT);
  cr_assert(strstr(err, "format version 3 needs a one-time migration to version 4"), "%s", err);
  qv_open_opts_init(&o);
  o.log = log_cb;
  logbuf[0] = 0;
  cr_assert_eq(qv_db_open(dir, &o, &db), QV_OK);
  cr_assert(strstr(logbuf, "migrated the store from format 3 to format 4 (once): the configuration of 2 collections "
                           "moved from the metadata key __quiver_config to the catalog's config column"),
            "%s", logbuf);
  char st[512];
  col_state(db, "both", st, sizeof st);
  cr_assert_str_eq(st, "{\"embedding_function\":{\"name\":\"default\"},\"ef_search\":50} | {\"owner\":\"x\"}");
  col_state(db, "only", st, sizeof st);
  cr_assert_str_eq(st, "{\"resize_factor\":1.5} | -");
  col_state(db, "user", st, sizeof st); /* not the server's: left as it was */
  cr_assert_str_eq(st, "- | {\"__quiver_config\":\"not a configuration\",\"k\":1}");
  col_state(db, "c", st, sizeof st);
  cr_assert_str_eq(st, "- | -");
  qv_collection *c = NULL;
  uint64_t n = 0;
  cr_assert_eq(qv_collection_get(db, "c", &c), QV_OK);
  cr_assert_eq(qv_collection_count(c, &n), QV_OK);
  cr_assert_eq(n, 3);
  qv_collection_release(c);
  qv_db_close(db);
  logbuf[0] = 0;
  cr_assert_eq(qv_db_open(dir, &o, &db), QV_OK);
  cr_assert_null(strstr(logbuf, "migrated"), "once: %s", logbuf);
  col_state(db, "both", st, sizeof st);
  cr_assert_str_eq(st, "{\"embedding_function\":{\"name\":\"default\"},\"ef_search\":50} | {\"owner\":\"x\"}");
  qv_db_close(db);
}
