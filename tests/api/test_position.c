/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_position.c -- positions stored with write batches (qv_batch.position_key,
 * qv_delete_opts.position_key, qv_db_position_set/get): they survive reopen, are written by
 * batches that end up writing nothing, are not written by a batch that fails, and a batch
 * written with a position is visible exactly when its position is (kill -9 between batches).
 *
 * Public header only.
 */
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_db.h"

static qv_collection *make(qv_db *db) {
  qv_collection_opts o;
  qv_collection *c = NULL;
  qv_collection_opts_init(&o);
  o.dim = 2;
  cr_assert_eq(qv_collection_create(db, "c", &o, &c), QV_OK);
  return c;
}

static qv_status put(qv_collection *c, const char *id, float x, const char *key, uint64_t pos) {
  const char *ids[1] = {id};
  float v[2] = {x, 1};
  qv_batch b;
  memset(&b, 0, sizeof b);
  b.struct_size = sizeof b;
  b.n = 1;
  b.ids = ids;
  b.embeddings = v;
  b.position_key = key;
  b.position = pos;
  return qv_collection_upsert(c, &b);
}

static uint64_t pos_of(qv_db *db, const char *key) {
  uint64_t v = 99;
  cr_assert_eq(qv_db_position_get(db, key, &v), QV_OK, "%s: %s", key, qv_db_errmsg(db));
  return v;
}

static void check_lifecycle(int persistent) {
  qv_db *db = open_db(persistent);
  uint64_t v = 7;
  cr_assert_eq(qv_db_position_get(db, "log/a", &v), QV_NOTFOUND);
  cr_assert_eq(v, 0);
  qv_collection *c = make(db);
  cr_assert_eq(put(c, "x", 1, "log/a", 5), QV_OK);
  cr_assert_eq(pos_of(db, "log/a"), 5);
  cr_assert_eq(put(c, "y", 2, "log/b", 1), QV_OK);
  cr_assert_eq(pos_of(db, "log/a"), 5);
  cr_assert_eq(pos_of(db, "log/b"), 1);
  /* an add whose every record is skipped still stores its position */
  {
    const char *ids[1] = {"x"};
    float e[2] = {3, 3};
    qv_batch b;
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    b.n = 1, b.ids = ids, b.embeddings = e, b.position_key = "log/a", b.position = 6;
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_IGNORE), QV_OK);
    cr_assert_eq(pos_of(db, "log/a"), 6);
  }
  /* a failing batch stores nothing */
  {
    const char *ids[1] = {"z"};
    float e[2] = {NAN, 1};
    qv_batch b;
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    b.n = 1, b.ids = ids, b.embeddings = e, b.position_key = "log/a", b.position = 7;
    cr_assert_eq(qv_collection_upsert(c, &b), QV_INVALID);
    cr_assert_eq(pos_of(db, "log/a"), 6);
  }
  /* deletes: with matches, and with none */
  {
    qv_delete_opts d;
    size_t n = 9;
    const char *ids[1] = {"y"};
    qv_delete_opts_init(&d);
    d.ids = ids, d.n_ids = 1, d.position_key = "log/b", d.position = 2;
    cr_assert_eq(qv_collection_delete_ex(c, &d, &n), QV_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(pos_of(db, "log/b"), 2);
    d.position = 3;
    cr_assert_eq(qv_collection_delete_ex(c, &d, &n), QV_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(pos_of(db, "log/b"), 3);
    d.ids = NULL, d.n_ids = 0, d.where_json = "{\"nope\": 1}", d.position = 4;
    cr_assert_eq(qv_collection_delete_ex(c, &d, &n), QV_OK);
    cr_assert_eq(pos_of(db, "log/b"), 4);
  }
  cr_assert_eq(qv_db_position_set(db, "alone", 42), QV_OK);
  cr_assert_eq(pos_of(db, "alone"), 42);
  qv_collection_release(c);
  if (persistent) {
    uint64_t n = 0;
    db = reopen(db);
    cr_assert_eq(pos_of(db, "log/a"), 6);
    cr_assert_eq(pos_of(db, "log/b"), 4);
    cr_assert_eq(pos_of(db, "alone"), 42);
    cr_assert_eq(qv_collection_get(db, "c", &c), QV_OK);
    cr_assert_eq(qv_collection_count(c, &n), QV_OK);
    cr_assert_eq(n, 1);
    qv_collection_release(c);
  }
  close_db(db);
}

Test(position, in_memory) { check_lifecycle(0); }
Test(position, persistent_survives_reopen) { check_lifecycle(1); }

Test(position, bad_keys_name_the_field) {
  qv_db *db = open_db(0);
  uint64_t v;
  qv_collection *c = make(db);
  cr_assert_eq(qv_db_position_set(db, "", 1), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "position_key"));
  cr_assert_eq(qv_db_position_get(db, "a\nb", &v), QV_INVALID);
  cr_assert_eq(put(c, "x", 1, "", 1), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "position_key"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_db_position_get(db, "", &v), QV_INVALID);
  qv_collection_release(c);
  close_db(db);
}

/* A child writes record i with position i in a loop and is killed at a random moment: after
 * reopen, the records present are exactly 0..position. */
Test(position, agrees_with_data_after_kill9, .timeout = 60) {
  qv_db *db = open_db(1);
  qv_collection *c = make(db);
  qv_collection_release(c);
  qv_db_close(db);
  pid_t pid = fork();
  cr_assert_neq(pid, -1);
  if (pid == 0) {
    qv_db *d = NULL;
    qv_collection *cc = NULL;
    if (qv_db_open(tmpdir, NULL, &d) != QV_OK || qv_collection_get(d, "c", &cc) != QV_OK) _exit(3);
    for (uint64_t i = 1; i < 100000; i++) {
      char id[32];
      snprintf(id, sizeof id, "r%llu", (unsigned long long)i);
      if (put(cc, id, (float)i, "log", i) != QV_OK) _exit(4);
    }
    _exit(0);
  }
  usleep(300 * 1000);
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  cr_assert(WIFSIGNALED(st), "the writer ended by itself (status %d)", st);
  cr_assert_eq(qv_db_open(tmpdir, NULL, &db), QV_OK);
  uint64_t p = 0, n = 0;
  qv_status rc = qv_db_position_get(db, "log", &p);
  cr_assert(rc == QV_OK || rc == QV_NOTFOUND);
  cr_assert_eq(qv_collection_get(db, "c", &c), QV_OK);
  cr_assert_eq(qv_collection_count(c, &n), QV_OK);
  cr_assert_eq(n, p, "%llu records but position %llu", (unsigned long long)n, (unsigned long long)p);
  cr_log_info("killed after %llu batches", (unsigned long long)p);
  qv_collection_release(c);
  close_db(db);
}
