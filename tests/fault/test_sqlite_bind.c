/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_sqlite_bind.c -- every sqlite3_bind_* result is checked (store_sqlite.c).
 *
 * The test executable is linked with -Wl,--wrap for the five bind functions the store uses
 * (CMakeLists.txt), so the wrappers below sit between libquiver and SQLite. For each public
 * write (create, add, upsert, update, an update mixing rows with and without new embeddings,
 * delete, set_metadata, set_config, rename, drop, checkpoint) and for
 * a read that goes to SQLite (a cosine collection's stored embeddings), the N-th bind call
 * fails with SQLITE_NOMEM, for N = 1, 2, ... until the call runs without reaching a failure.
 * Each failed call must return QV_NOMEM with a message saying which bind failed, and leave
 * the database exactly as it was; after all steps the database reopens with the same contents.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <quiver.h>

/* ------------------------------------------------------------------ failing binds */

static long calls, fail_at, failed;

static int fault(void) {
  if (!fail_at) return 0;
  if (++calls != fail_at) return 0;
  failed++;
  return 1;
}

int __real_sqlite3_bind_int(sqlite3_stmt *, int, int);
int __real_sqlite3_bind_int64(sqlite3_stmt *, int, sqlite3_int64);
int __real_sqlite3_bind_text(sqlite3_stmt *, int, const char *, int, void (*)(void *));
int __real_sqlite3_bind_blob(sqlite3_stmt *, int, const void *, int, void (*)(void *));
int __real_sqlite3_bind_null(sqlite3_stmt *, int);
int __wrap_sqlite3_bind_int(sqlite3_stmt *, int, int);
int __wrap_sqlite3_bind_int64(sqlite3_stmt *, int, sqlite3_int64);
int __wrap_sqlite3_bind_text(sqlite3_stmt *, int, const char *, int, void (*)(void *));
int __wrap_sqlite3_bind_blob(sqlite3_stmt *, int, const void *, int, void (*)(void *));
int __wrap_sqlite3_bind_null(sqlite3_stmt *, int);

int __wrap_sqlite3_bind_int(sqlite3_stmt *st, int i, int v) {
  return fault() ? SQLITE_NOMEM : __real_sqlite3_bind_int(st, i, v);
}
int __wrap_sqlite3_bind_int64(sqlite3_stmt *st, int i, sqlite3_int64 v) {
  return fault() ? SQLITE_NOMEM : __real_sqlite3_bind_int64(st, i, v);
}
int __wrap_sqlite3_bind_text(sqlite3_stmt *st, int i, const char *t, int n, void (*d)(void *)) {
  return fault() ? SQLITE_NOMEM : __real_sqlite3_bind_text(st, i, t, n, d);
}
int __wrap_sqlite3_bind_blob(sqlite3_stmt *st, int i, const void *b, int n, void (*d)(void *)) {
  return fault() ? SQLITE_NOMEM : __real_sqlite3_bind_blob(st, i, b, n, d);
}
int __wrap_sqlite3_bind_null(sqlite3_stmt *st, int i) {
  return fault() ? SQLITE_NOMEM : __real_sqlite3_bind_null(st, i);
}

/* ------------------------------------------------------------------ snapshots */

static void cat(char **buf, size_t *len, size_t *cap, const char *s) {
  size_t n = strlen(s);
  if (*len + n + 1 > *cap) {
    *cap = (*len + n + 1) * 2;
    *buf = realloc(*buf, *cap);
    cr_assert_not_null(*buf);
  }
  memcpy(*buf + *len, s, n + 1);
  *len += n;
}

/* Every collection (name, metadata, count) and record (id, embedding, metadata, document). */
static char *snapshot(qv_db *db) {
  long saved = fail_at;
  fail_at = 0;
  char *buf = NULL, tmp[256];
  size_t len = 0, cap = 0;
  char **names = NULL;
  size_t n = 0;
  cat(&buf, &len, &cap, "");
  cr_assert_eq(qv_collection_list(db, &names, &n), QV_OK);
  for (size_t i = 0; i < n; i++) {
    qv_collection *c = NULL;
    cr_assert_eq(qv_collection_get(db, names[i], &c), QV_OK);
    qv_collection_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    cr_assert_eq(qv_collection_info_get(c, &info), QV_OK);
    snprintf(tmp, sizeof tmp, "[%s dim %u count %llu meta %s config %s]\n", info.name, info.dim,
             (unsigned long long)info.count, info.metadata_json ? info.metadata_json : "-",
             info.config_json ? info.config_json : "-");
    cat(&buf, &len, &cap, tmp);
    qv_get_opts o;
    qv_get_opts_init(&o);
    o.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS;
    qv_results *r = NULL;
    cr_assert_eq(qv_collection_get_records(c, &o, &r), QV_OK, "%s", qv_db_errmsg(db));
    for (size_t j = 0; j < qv_results_count(r, 0); j++) {
      snprintf(tmp, sizeof tmp, "%s:", qv_results_id(r, 0, j));
      cat(&buf, &len, &cap, tmp);
      const float *e = qv_results_embedding(r, 0, j);
      for (uint32_t k = 0; e && k < info.dim; k++) {
        snprintf(tmp, sizeof tmp, " %.9g", e[k]);
        cat(&buf, &len, &cap, tmp);
      }
      const char *m = qv_results_metadata(r, 0, j), *d = qv_results_document(r, 0, j);
      cat(&buf, &len, &cap, " | ");
      cat(&buf, &len, &cap, m ? m : "-");
      cat(&buf, &len, &cap, " | ");
      cat(&buf, &len, &cap, d ? d : "-");
      cat(&buf, &len, &cap, "\n");
    }
    qv_results_free(r);
    qv_collection_info_free(&info);
    qv_collection_release(c);
  }
  qv_strings_free(names);
  fail_at = saved;
  return buf;
}

/* ------------------------------------------------------------------ the loop */

typedef qv_status (*step_fn)(qv_db *db);

/* Fail the N-th bind of step for N = 1, 2, ... until it runs clean; returns how many failed. */
static long fault_step(qv_db *db, const char *name, step_fn step, int reads) {
  long n_failed = 0;
  for (long n = 1; n < 10000; n++) {
    char *before = snapshot(db);
    calls = 0;
    failed = 0;
    fail_at = n;
    qv_status rc = step(db);
    fail_at = 0;
    if (!failed) {
      cr_assert_eq(rc, QV_OK, "%s: without a failure: %s: %s", name, qv_status_name(rc), qv_db_errmsg(db));
      free(before);
      return n_failed;
    }
    n_failed++;
    cr_assert_eq(rc, QV_NOMEM, "%s, bind %ld failed: got %s (%s)", name, n, qv_status_name(rc), qv_db_errmsg(db));
    cr_assert(strstr(qv_db_errmsg(db), "binding a parameter"), "%s, bind %ld: message %s", name, n,
              qv_db_errmsg(db));
    if (!reads) {
      char *after = snapshot(db);
      cr_assert_str_eq(after, before, "%s, bind %ld failed: the database changed", name, n);
      free(after);
    }
    free(before);
  }
  cr_assert_fail("%s: never ran clean", name);
  return 0;
}

static const float emb[] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
static const char *const ids3[] = {"a", "b", "c"};
static const char *const metas3[] = {"{\"k\":1}", NULL, "{\"k\":3,\"s\":\"x\"}"};
static const char *const docs3[] = {"alpha", "beta", NULL};

static qv_status with_col(qv_db *db, const char *name, qv_status (*fn)(qv_collection *c)) {
  qv_collection *c = NULL;
  long saved = fail_at;
  fail_at = 0;
  qv_status rc = qv_collection_get(db, name, &c);
  fail_at = saved;
  if (rc) return rc;
  rc = fn(c);
  qv_collection_release(c);
  return rc;
}

static qv_status create_col(qv_db *db, const char *name, qv_metric metric) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 3;
  o.metric = metric;
  o.metadata_json = "{\"owner\":\"t\"}";
  qv_collection *c = NULL;
  qv_status rc = qv_collection_create(db, name, &o, &c);
  qv_collection_release(c);
  return rc;
}

static qv_status s_create(qv_db *db) { return create_col(db, "v", QV_METRIC_COSINE); }
static qv_status add3(qv_collection *c) {
  qv_batch b = {0, 3, ids3, emb, metas3, docs3, 0};
  return qv_collection_add(c, &b, QV_CONFLICT_ERROR);
}
static qv_status s_add(qv_db *db) { return with_col(db, "v", add3); }
static qv_status upsert2(qv_collection *c) {
  static const char *const ids[] = {"b", "d"};
  static const char *const metas[] = {"{\"k\":20}", "{\"k\":4}"};
  qv_batch b = {0, 2, ids, emb + 6, metas, NULL, 0};
  return qv_collection_upsert(c, &b);
}
static qv_status s_upsert(qv_db *db) { return with_col(db, "v", upsert2); }
static qv_status update1(qv_collection *c) {
  static const char *const ids[] = {"a"};
  static const char *const metas[] = {"{\"k\":null,\"new\":true}"};
  static const char *const docs[] = {"alpha two"};
  qv_batch b = {0, 1, ids, NULL, metas, docs, 0};
  return qv_collection_update(c, &b, 0);
}
static qv_status s_update(qv_db *db) { return with_col(db, "v", update1); }
/* a, b, d: new vectors for a and d, b keeps its stored one (re-read from SQLite: cosine);
 * the binds of the last row fail too, and nothing of the first rows may stay */
static qv_status update_mixed(qv_collection *c) {
  static const char *const ids[] = {"a", "b", "d"};
  static const char *const metas[] = {"{\"m\":1}", "{\"m\":2}", "{\"m\":3}"};
  static const float e[] = {0, 1, 1, -1, -1, -1, 1, 1, 0};
  static const unsigned char has[] = {1, 0, 1};
  qv_batch b;
  memset(&b, 0, sizeof b);
  b.struct_size = sizeof b;
  b.n = 3;
  b.ids = ids;
  b.embeddings = e;
  b.metadatas = metas;
  b.has_embedding = has;
  return qv_collection_update(c, &b, 0);
}
static qv_status s_update_mixed(qv_db *db) { return with_col(db, "v", update_mixed); }
static qv_status delete1(qv_collection *c) {
  static const char *const ids[] = {"c"};
  size_t n = 0;
  qv_status rc = qv_collection_delete_records(c, ids, 1, NULL, NULL, 0, &n);
  return rc == QV_OK && n != 1 ? QV_ERROR : rc;
}
static qv_status s_delete(qv_db *db) { return with_col(db, "v", delete1); }
static qv_status setmeta(qv_collection *c) { return qv_collection_set_metadata(c, "{\"owner\":\"u\",\"n\":2}"); }
static qv_status s_setmeta(qv_db *db) { return with_col(db, "v", setmeta); }
static qv_status setconfig(qv_collection *c) { return qv_collection_set_config(c, "{\"embedding_function\":null}"); }
static qv_status s_setconfig(qv_db *db) { return with_col(db, "v", setconfig); }
static qv_status s_rename(qv_db *db) { return qv_collection_rename(db, "v", "w"); }
static qv_status s_create_x(qv_db *db) { return create_col(db, "x", QV_METRIC_L2); }
static qv_status s_drop(qv_db *db) { return qv_collection_delete(db, "x"); }
static qv_status s_checkpoint(qv_db *db) { return qv_db_checkpoint(db); }
static qv_status get_embs(qv_collection *c) {
  qv_get_opts o;
  qv_get_opts_init(&o);
  o.include = QV_INCLUDE_EMBEDDINGS;
  qv_results *r = NULL;
  qv_status rc = qv_collection_get_records(c, &o, &r);
  if (rc == QV_OK && qv_results_count(r, 0) != 3) rc = QV_ERROR;
  qv_results_free(r);
  return rc;
}
static qv_status s_get_embeddings(qv_db *db) { return with_col(db, "w", get_embs); }

Test(sqlite_bind, every_bind_failure_is_reported_and_changes_nothing, .timeout = 120) {
  char dir[] = "/tmp/qv_bind_XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  qv_db *db = NULL;
  cr_assert_eq(qv_db_open(dir, NULL, &db), QV_OK);
  struct {
    const char *name;
    step_fn fn;
    int reads;
  } steps[] = {
      {"create", s_create, 0},     {"add", s_add, 0},         {"upsert", s_upsert, 0},
      {"update", s_update, 0},     {"update mixed", s_update_mixed, 0}, {"delete", s_delete, 0},
      {"set_metadata", s_setmeta, 0}, {"set_config", s_setconfig, 0},
      {"rename", s_rename, 0},     {"create x", s_create_x, 0}, {"drop", s_drop, 0},
      {"checkpoint", s_checkpoint, 0}, {"get embeddings (cosine)", s_get_embeddings, 1},
  };
  long total = 0;
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    long n = fault_step(db, steps[i].name, steps[i].fn, steps[i].reads);
    if (strcmp(steps[i].name, "checkpoint") != 0) /* the checkpoint writes files, not rows */
      cr_assert_gt(n, 0, "%s: no bind was ever reached: the wrappers are not in place", steps[i].name);
    total += n;
  }
  char *before = snapshot(db);
  qv_db_close(db);
  db = NULL;
  cr_assert_eq(qv_db_open(dir, NULL, &db), QV_OK);
  char *after = snapshot(db);
  cr_assert_str_eq(after, before, "the database reopened differently");
  cr_assert(strstr(after, "[w dim 3 count 3 meta {\"owner\":\"u\",\"n\":2} config {\"embedding_function\":null}]"),
            "%s", after);
  cr_assert(strstr(after, "b: 0 0 1 | {\"k\":20,\"m\":2}"), "b kept its embedding: %s", after);
  free(before);
  free(after);
  qv_db_close(db);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
  cr_log_info("%ld bind failures injected", total);
}
