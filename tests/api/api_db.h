/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * api_db.h -- shared by the API tests: open an in-memory or a scratch-directory database,
 * reopen it, and close it removing the directory. Public header only. One scratch directory
 * per test process at a time (Criterion runs each test in its own process).
 */
#ifndef QV_TEST_API_DB_H
#define QV_TEST_API_DB_H

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <quiver.h>
#include <stdio.h>
#include <stdlib.h>

static char tmpdir[64];

/* persistent: a new directory under /tmp (synchronous=NORMAL: the tests never pull power). */
static inline qv_db *open_db(int persistent) {
  qv_db *db = NULL;
  const char *path = NULL;
  if (persistent) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qv_api_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    path = tmpdir;
  }
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.sync = QV_SYNC_NORMAL;
  cr_assert_eq(qv_db_open(path, &o, &db), QV_OK);
  cr_assert_not_null(db);
  return db;
}

static inline qv_db *reopen(qv_db *db) {
  qv_db_close(db);
  db = NULL;
  cr_assert_eq(qv_db_open(tmpdir, NULL, &db), QV_OK);
  return db;
}

static inline void close_db(qv_db *db) {
  qv_db_close(db);
  if (tmpdir[0]) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", tmpdir);
    tmpdir[0] = 0;
  }
}

#endif
