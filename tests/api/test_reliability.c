/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_reliability.c -- API tests of issue 15's smaller items: a thread's error message costs
 * nothing once the thread is gone (no per-thread buffer kept until close), and qv_db_health
 * answers from the store itself (a database file removed or damaged behind the handle's back
 * is reported, not hidden behind an always-ready answer).
 *
 * Public header only.
 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_db.h"

static void *fail_once(void *arg) {
  qv_db *db = arg;
  qv_collection *c = NULL;
  qv_status rc = qv_collection_get(db, "no-such-collection", &c);
  if (rc != QV_NOTFOUND || !strstr(qv_db_errmsg(db), "no-such-collection")) return (void *)1;
  return NULL;
}

/* Many short-lived threads, each with its own failed call (and so its own message): the heap
 * does not grow with the number of threads that have come and gone. Before the fix every
 * thread left a 1 KiB buffer behind until qv_db_close, so a server with a thread per
 * connection grew by 1 KiB per failed request. */
Test(errmsg, thread_exit_frees_the_message) {
  qv_db *db = open_db(0);
  enum { ROUNDS = 40, PER = 50 };
  size_t before = 0;
  for (int r = 0; r < ROUNDS; r++) {
    pthread_t th[PER];
    for (int i = 0; i < PER; i++) cr_assert_eq(pthread_create(&th[i], NULL, fail_once, db), 0);
    for (int i = 0; i < PER; i++) {
      void *ret = (void *)2;
      pthread_join(th[i], &ret);
      cr_assert_null(ret, "thread %d of round %d: wrong status or message", i, r);
    }
    if (r == 1) before = mallinfo2().uordblks; /* after warm-up (thread stacks, caches) */
  }
  size_t after = mallinfo2().uordblks;
  size_t grown = after > before ? after - before : 0;
  /* 38 rounds x 50 threads x 1 KiB = 1.9 MB if each thread left its buffer behind */
  cr_assert_lt(grown, 256 * 1024, "heap grew by %zu bytes over %d exited threads", grown, (ROUNDS - 2) * PER);
  close_db(db);
}

/* A message set on one db is not seen through another (nor through a db reopened later at
 * the same address), and each thread sees only its own. */
Test(errmsg, per_db_and_per_thread) {
  qv_db *a = NULL, *b = NULL;
  cr_assert_eq(qv_db_open(NULL, NULL, &a), QV_OK);
  cr_assert_eq(qv_db_open(NULL, NULL, &b), QV_OK);
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_get(a, "missing-a", &c), QV_NOTFOUND);
  cr_assert(strstr(qv_db_errmsg(a), "missing-a"));
  cr_assert_str_empty(qv_db_errmsg(b));
  cr_assert_eq(qv_collection_get(b, "missing-b", &c), QV_NOTFOUND);
  cr_assert(strstr(qv_db_errmsg(a), "missing-a"), "a's message survives b's error: %s", qv_db_errmsg(a));
  cr_assert(strstr(qv_db_errmsg(b), "missing-b"));
  pthread_t th;
  void *ret = (void *)2;
  cr_assert_eq(pthread_create(&th, NULL, fail_once, a), 0);
  pthread_join(th, &ret);
  cr_assert_null(ret);
  cr_assert(strstr(qv_db_errmsg(a), "missing-a"), "another thread's error is not ours: %s", qv_db_errmsg(a));
  qv_db_close(a);
  qv_db_close(b);
  for (int i = 0; i < 20; i++) { /* fresh handles never inherit an old message */
    cr_assert_eq(qv_db_open(NULL, NULL, &a), QV_OK);
    cr_assert_str_empty(qv_db_errmsg(a), "round %d: %s", i, qv_db_errmsg(a));
    cr_assert_eq(qv_collection_get(a, "gone", &c), QV_NOTFOUND);
    qv_db_close(a);
  }
}

Test(health, in_memory_and_fresh_disk_db_are_healthy) {
  qv_db *db = open_db(0);
  cr_assert_eq(qv_db_health(db), QV_OK, "%s", qv_db_errmsg(db));
  close_db(db);
  db = open_db(1);
  cr_assert_eq(qv_db_health(db), QV_OK, "%s", qv_db_errmsg(db));
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 2;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "c", &o, &c), QV_OK);
  qv_collection_release(c);
  cr_assert_eq(qv_db_health(db), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_db_health(NULL), QV_MISUSE);
  close_db(db);
}

Test(health, removed_database_file_is_reported) {
  qv_db *db = open_db(1);
  char file[128], moved[160];
  snprintf(file, sizeof file, "%s/quiver.db", tmpdir);
  snprintf(moved, sizeof moved, "%s/quiver.db.moved", tmpdir);
  cr_assert_eq(rename(file, moved), 0);
  qv_status rc = qv_db_health(db);
  cr_assert_neq(rc, QV_OK, "a database whose file is gone is not healthy");
  cr_assert(strstr(qv_db_errmsg(db), "quiver.db"), "the message names the file: %s", qv_db_errmsg(db));
  cr_assert_eq(rename(moved, file), 0);
  cr_assert_eq(qv_db_health(db), QV_OK, "%s", qv_db_errmsg(db));
  close_db(db);
}

Test(health, damaged_header_is_reported) {
  qv_db *db = open_db(1);
  char file[128];
  snprintf(file, sizeof file, "%s/quiver.db", tmpdir);
  FILE *f = fopen(file, "r+b");
  cr_assert_not_null(f);
  char junk[100];
  memset(junk, 'x', sizeof junk);
  cr_assert_eq(fwrite(junk, 1, sizeof junk, f), sizeof junk);
  fclose(f);
  qv_status rc = qv_db_health(db);
  cr_assert_neq(rc, QV_OK, "a database file with a destroyed header is not healthy");
  cr_assert_neq(qv_db_errmsg(db)[0], 0);
  close_db(db);
}
