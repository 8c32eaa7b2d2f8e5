/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_db.c -- API tests of the database handle: versions, the status table, open in memory
 * and on disk, reopen restoring everything (collections, parameters, metadata, records, uuids,
 * identical query results, with and without the index files), the directory lock (QV_BUSY),
 * open errors through errbuf, read-only mode, per-thread error messages, a custom allocator,
 * and a write that returned QV_OK surviving kill -9.
 *
 * Public header only.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <quiver.h>

static char tmpdir[64];

static const char *make_tmp(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/qv_db_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  return tmpdir;
}

static void rm_tmp(void) {
  if (!tmpdir[0]) return;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) cr_log_warn("could not remove %s", tmpdir);
  tmpdir[0] = 0;
}

static qv_db *open_at(const char *path) {
  qv_db *db = NULL;
  char err[512] = "";
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.errbuf = err;
  o.errbuf_len = sizeof err;
  qv_status rc = qv_db_open(path, &o, &db);
  cr_assert_eq(rc, QV_OK, "open %s: %s: %s", path ? path : "(memory)", qv_status_name(rc), err);
  return db;
}

/* Everything observable about every collection of db, as text. */
static char *dump_db(qv_db *db) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  char **names = NULL;
  size_t n = 0;
  cr_assert_eq(qv_collection_list(db, &names, &n), QV_OK);
  for (size_t k = 0; k < n; k++) {
    qv_collection *c = NULL;
    cr_assert_eq(qv_collection_get(db, names[k], &c), QV_OK);
    qv_collection_info in = {.struct_size = sizeof in};
    cr_assert_eq(qv_collection_info_get(c, &in), QV_OK);
    fprintf(f, "[%s] uuid=%s meta=%s dim=%u metric=%s index=%s params=%s count=%llu\n", in.name, in.uuid,
            in.metadata_json ? in.metadata_json : "-", in.dim, qv_metric_name(in.metric), in.index, in.params_json,
            (unsigned long long)in.count);
    qv_get_opts g;
    qv_get_opts_init(&g);
    g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS;
    qv_results *r = NULL;
    cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK, "%s", qv_db_errmsg(db));
    for (size_t i = 0; i < qv_results_count(r, 0); i++) {
      const char *m = qv_results_metadata(r, 0, i), *d = qv_results_document(r, 0, i);
      fprintf(f, "%s|%s|%s|", qv_results_id(r, 0, i), m ? m : "-", d ? d : "-");
      const float *e = qv_results_embedding(r, 0, i);
      for (uint32_t j = 0; e && j < in.dim; j++) fprintf(f, "%a,", (double)e[j]);
      fputc('\n', f);
    }
    qv_results_free(r);
    if (in.dim && in.count) {
      float *q = calloc(2 * in.dim, sizeof *q);
      for (uint32_t j = 0; j < 2 * in.dim; j++) q[j] = (float)j * 0.37f - 1.0f;
      qv_query_opts o;
      qv_query_opts_init(&o);
      o.include = QV_INCLUDE_DISTANCES | QV_INCLUDE_EMBEDDINGS;
      o.exact = 1;
      cr_assert_eq(qv_collection_query(c, q, 2, 1000, &o, &r), QV_OK, "%s", qv_db_errmsg(db));
      for (size_t qi = 0; qi < 2; qi++)
        for (size_t i = 0; i < qv_results_count(r, qi); i++)
          fprintf(f, "q%zu:%s %a\n", qi, qv_results_id(r, qi, i), (double)qv_results_distance(r, qi, i));
      qv_results_free(r);
      o.where_json = "{\"k\":{\"$gte\":3}}";
      cr_assert_eq(qv_collection_query(c, q, 1, 5, &o, &r), QV_OK, "%s", qv_db_errmsg(db));
      for (size_t i = 0; i < qv_results_count(r, 0); i++)
        fprintf(f, "f:%s %a\n", qv_results_id(r, 0, i), (double)qv_results_distance(r, 0, i));
      qv_results_free(r);
      free(q);
    }
    qv_collection_info_free(&in);
    qv_collection_release(c);
  }
  qv_strings_free(names);
  fclose(f);
  return buf;
}

static void fill(qv_db *db, const char *name, uint32_t dim, qv_metric m, const char *meta, size_t n) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = dim;
  o.metric = m;
  o.metadata_json = meta;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, name, &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  const char **ids = malloc(n * sizeof *ids), **metas = malloc(n * sizeof *metas), **docs = malloc(n * sizeof *docs);
  char(*ib)[16] = malloc(n * sizeof *ib), (*mb)[48] = malloc(n * sizeof *mb), (*db_)[32] = malloc(n * sizeof *db_);
  float *e = malloc(n * dim * sizeof *e);
  for (size_t i = 0; i < n; i++) {
    snprintf(ib[i], sizeof ib[i], "%s-%zu", name, i);
    snprintf(mb[i], sizeof mb[i], "{\"k\":%zu,\"f\":%zu.5,\"t\":\"%c\"}", i % 7, i, 'a' + (int)(i % 3));
    snprintf(db_[i], sizeof db_[i], "document %zu", i);
    ids[i] = ib[i];
    metas[i] = i % 5 == 4 ? NULL : mb[i];
    docs[i] = i % 4 == 3 ? NULL : db_[i];
    for (uint32_t j = 0; j < dim; j++) e[i * dim + j] = sinf((float)(i * dim + j)) * (float)(1 + i % 3);
  }
  qv_batch b = {0, n, ids, e, metas, docs, 0};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  qv_collection_release(c);
  free(ids);
  free(metas);
  free(docs);
  free(ib);
  free(mb);
  free(db_);
  free(e);
}

/* Create collections of every metric, write, update, delete; return the db still open. */
static qv_db *populate(const char *path) {
  qv_db *db = open_at(path);
  fill(db, "l2", 5, QV_METRIC_L2, "{\"owner\":\"me\",\"v\":1}", 60);
  fill(db, "ip", 4, QV_METRIC_IP, NULL, 30);
  fill(db, "cos", 7, QV_METRIC_COSINE, "{\"x\":[1,2]}", 40);
  fill(db, "l1", 3, QV_METRIC_L1, NULL, 20);
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "empty", &o, &c), QV_OK);
  qv_collection_release(c);
  /* updates and deletes, so that reopen must restore more than a plain add */
  cr_assert_eq(qv_collection_get(db, "l2", &c), QV_OK);
  const char *gone[3] = {"l2-3", "l2-10", "l2-11"};
  cr_assert_eq(qv_collection_delete_records(c, gone, 3, NULL, NULL, 0, NULL), QV_OK);
  const char *up[2] = {"l2-0", "l2-new"};
  const char *um[2] = {"{\"t\":null,\"z\":true}", "{\"k\":6}"};
  float ue[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
  qv_batch b = {0, 2, up, ue, um, NULL, 0};
  cr_assert_eq(qv_collection_upsert(c, &b), QV_OK, "%s", qv_db_errmsg(db));
  qv_collection_release(c);
  cr_assert_eq(qv_collection_get(db, "cos", &c), QV_OK);
  const char *ud[1] = {"changed document"};
  qv_batch b2 = {0, 1, up, NULL, NULL, ud, 0};
  const char *cid[1] = {"cos-5"};
  b2.ids = cid;
  cr_assert_eq(qv_collection_update(c, &b2, 0), QV_OK, "%s", qv_db_errmsg(db));
  qv_collection_release(c);
  return db;
}

/* ------------------------------------------------------------------ versions, status table */

Test(db, versions) {
  cr_assert_eq(qv_libversion_number(), QV_VERSION_NUMBER);
  cr_assert_str_eq(qv_libversion(), QV_VERSION_STRING);
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", QV_VERSION_MAJOR, QV_VERSION_MINOR, QV_VERSION_PATCH);
  cr_assert_str_eq(qv_libversion(), want);
}

Test(db, status_table) {
  static const struct { qv_status rc; const char *name; int http; } tab[] = {
      {QV_OK, "QV_OK", 200},           {QV_ERROR, "QV_ERROR", 500},         {QV_NOMEM, "QV_NOMEM", 500},
      {QV_INVALID, "QV_INVALID", 400}, {QV_NOTFOUND, "QV_NOTFOUND", 404},   {QV_EXISTS, "QV_EXISTS", 409},
      {QV_IO, "QV_IO", 500},           {QV_CORRUPT, "QV_CORRUPT", 500},     {QV_BUSY, "QV_BUSY", 503},
      {QV_MISUSE, "QV_MISUSE", 400},   {QV_UNSUPPORTED, "QV_UNSUPPORTED", 501}};
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
    cr_assert_eq((int)tab[i].rc, (int)i, "values are explicit and dense");
    cr_assert_str_eq(qv_status_name(tab[i].rc), tab[i].name);
    cr_assert_eq(qv_status_http(tab[i].rc), tab[i].http, "%s", tab[i].name);
    const char *s = qv_status_str(tab[i].rc);
    cr_assert(s && *s, "%s has a message", tab[i].name);
    for (size_t j = 0; j < i; j++) cr_assert_str_neq(s, qv_status_str(tab[j].rc), "messages are distinct");
  }
  cr_assert_str_eq(qv_status_str(QV_INVALID), "invalid argument");
  static const int unknown[] = {-1, 11, 1000};
  for (size_t i = 0; i < 3; i++) {
    qv_status rc = (qv_status)unknown[i];
    cr_assert_not_null(qv_status_str(rc));
    cr_assert_str_eq(qv_status_name(rc), "QV_UNKNOWN");
    cr_assert_eq(qv_status_http(rc), 500);
  }
}

Test(db, names_and_parsers) {
  static const char *const mn[] = {"l2", "ip", "cosine", "l1"};
  for (int m = 0; m < 4; m++) {
    cr_assert_str_eq(qv_metric_name((qv_metric)m), mn[m]);
    qv_metric out = (qv_metric)99;
    cr_assert_eq(qv_metric_parse(mn[m], &out), QV_OK);
    cr_assert_eq(out, (qv_metric)m);
  }
  static const struct { const char *n; qv_metric m; } alias[] = {
      {"euclidean", QV_METRIC_L2}, {"angular", QV_METRIC_COSINE}, {"dot", QV_METRIC_IP}, {"manhattan", QV_METRIC_L1}};
  for (size_t i = 0; i < 4; i++) {
    qv_metric out = (qv_metric)99;
    cr_assert_eq(qv_metric_parse(alias[i].n, &out), QV_OK, "%s", alias[i].n);
    cr_assert_eq(out, alias[i].m);
  }
  qv_metric m;
  cr_assert_eq(qv_metric_parse("L2", &m), QV_INVALID);
  cr_assert_eq(qv_metric_parse("", &m), QV_INVALID);
  cr_assert_eq(qv_metric_parse(NULL, &m), QV_INVALID);
  cr_assert_not_null(qv_metric_name((qv_metric)42));
  /* the registry: every built-in kind by name, each describing its parameters */
  const char *const *kinds = qv_index_kinds();
  cr_assert_str_eq(kinds[0], "flat");
  cr_assert_str_eq(kinds[1], "hnsw");
  cr_assert_str_eq(kinds[2], "rpforest");
  cr_assert_str_eq(kinds[3], "ivf");
  cr_assert_null(kinds[4]);
  char *desc = NULL;
  cr_assert_eq(qv_index_params_describe("flat", &desc), QV_OK);
  cr_assert_str_eq(desc, "{}");
  free(desc);
  cr_assert_eq(qv_index_params_describe("hnsw", &desc), QV_OK);
  cr_assert_str_eq(desc, "{\"M\":16,\"ef_construction\":200,\"ef_search\":64,\"quantizer\":\"auto\",\"rerank\":3,"
                         "\"build_on_codes\":true,\"keep_floats\":false}");
  free(desc);
  cr_assert_eq(qv_index_params_describe("ivf-nope", &desc), QV_NOTFOUND);
  cr_assert_null(desc);
}

/* ------------------------------------------------------------------ open */

Test(db, open_in_memory) {
  qv_open_opts o;
  memset(&o, 0x5a, sizeof o);
  qv_open_opts_init(&o);
  cr_assert_eq(o.sync, QV_SYNC_FULL);
  cr_assert_null(o.alloc.malloc_fn);
  cr_assert_null(o.errbuf);
  cr_assert_eq(o.n_threads, 0);
  cr_assert_eq(o.read_only, 0);
  qv_db *db = NULL;
  cr_assert_eq(qv_db_open(NULL, NULL, &db), QV_OK);
  cr_assert_null(qv_db_path(db));
  cr_assert_str_eq(qv_db_errmsg(db), "");
  cr_assert_eq(qv_db_checkpoint(db), QV_OK);
  qv_db_close(db);
  cr_assert_eq(qv_db_open("", &o, &db), QV_OK);
  cr_assert_null(qv_db_path(db));
  qv_db_close(db);
  qv_db_close(NULL);
  cr_assert_eq(qv_db_open(NULL, NULL, NULL), QV_MISUSE);
  cr_assert_not_null(qv_db_errmsg(NULL));
  cr_assert_null(qv_db_path(NULL));
  cr_assert_eq(qv_db_checkpoint(NULL), QV_MISUSE);
  /* two in-memory databases are independent */
  qv_db *a = open_at(NULL), *b = open_at(NULL);
  fill(a, "x", 2, QV_METRIC_L2, NULL, 3);
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_get(b, "x", &c), QV_NOTFOUND);
  cr_assert_null(c);
  qv_db_close(a);
  qv_db_close(b);
}

Test(db, open_creates_directory) {
  const char *base = make_tmp();
  char path[128];
  snprintf(path, sizeof path, "%s/sub", base);
  qv_db *db = open_at(path);
  cr_assert_str_eq(qv_db_path(db), path);
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  cr_assert(S_ISDIR(st.st_mode));
  qv_db_close(db);
  rm_tmp();
}

Test(db, open_errors_through_errbuf) {
  const char *base = make_tmp();
  char err[512];
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.errbuf = err;
  o.errbuf_len = sizeof err;
  qv_db *db = (qv_db *)err;
  /* a path through a regular file */
  char file[128], path[160];
  snprintf(file, sizeof file, "%s/plainfile", base);
  FILE *f = fopen(file, "w");
  cr_assert_not_null(f);
  fclose(f);
  snprintf(path, sizeof path, "%s/inside", file);
  err[0] = 0;
  qv_status rc = qv_db_open(path, &o, &db);
  cr_assert_eq(rc, QV_IO, "got %s", qv_status_name(rc));
  cr_assert_null(db, "*out is NULL on failure");
  cr_assert(strstr(err, "plainfile"), "message names the path: %s", err);
  /* a path too long */
  char *longp = malloc(5000);
  memset(longp, 'a', 4999);
  longp[0] = '/';
  longp[4999] = 0;
  err[0] = 0;
  db = (qv_db *)err;
  rc = qv_db_open(longp, &o, &db);
  cr_assert_eq(rc, QV_INVALID, "got %s", qv_status_name(rc));
  cr_assert_null(db);
  cr_assert(strstr(err, "path"), "%s", err);
  free(longp);
  /* a tiny errbuf is respected */
  char small[8];
  memset(small, 'x', sizeof small);
  o.errbuf = small;
  o.errbuf_len = 4;
  cr_assert_eq(qv_db_open(path, &o, &db), QV_IO);
  cr_assert(memchr(small, 0, 4) != NULL, "errbuf terminated within errbuf_len");
  cr_assert_eq(small[4], 'x', "nothing written past errbuf_len");
  rm_tmp();
}

Test(db, second_open_is_busy) {
  const char *path = make_tmp();
  qv_db *a = open_at(path);
  char err[512] = "";
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.errbuf = err;
  o.errbuf_len = sizeof err;
  qv_db *b = (qv_db *)err;
  qv_status rc = qv_db_open(path, &o, &b);
  cr_assert_eq(rc, QV_BUSY, "got %s (%s)", qv_status_name(rc), err);
  cr_assert_null(b);
  cr_assert(strstr(err, path), "message names the directory: %s", err);
  /* the failed open must not have disturbed the first handle */
  fill(a, "c", 2, QV_METRIC_L2, NULL, 4);
  qv_db_close(a);
  b = open_at(path);
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_get(b, "c", &c), QV_OK);
  qv_collection_release(c);
  qv_db_close(b);
  rm_tmp();
}

/* A second process is refused too, and gets the lock once the first one is gone. */
Test(db, busy_across_processes) {
  const char *path = make_tmp();
  qv_db *a = open_at(path);
  pid_t pid = fork();
  if (pid == 0) {
    qv_db *b = NULL;
    _exit(qv_db_open(path, NULL, &b) == QV_BUSY && b == NULL ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child should see QV_BUSY");
  qv_db_close(a);
  pid = fork();
  if (pid == 0) {
    qv_db *b = NULL;
    qv_status rc = qv_db_open(path, NULL, &b);
    qv_db_close(b);
    _exit(rc == QV_OK ? 0 : 1);
  }
  waitpid(pid, &st, 0);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child opens after close");
  rm_tmp();
}

/* ------------------------------------------------------------------ reopen */

Test(db, reopen_restores_everything) {
  const char *path = make_tmp();
  qv_db *db = populate(path);
  char *before = dump_db(db);
  char **names = NULL;
  size_t n = 0;
  cr_assert_eq(qv_collection_list(db, &names, &n), QV_OK);
  cr_assert_eq(n, 5);
  qv_strings_free(names);
  qv_db_close(db);
  for (int round = 0; round < 2; round++) {
    db = open_at(path);
    char *after = dump_db(db);
    cr_assert_str_eq(after, before, "round %d", round);
    free(after);
    qv_db_close(db);
  }
  free(before);
  rm_tmp();
}

/* Writes after the last checkpoint, without a clean close in between, are caught up on reopen. */
Test(db, reopen_catches_up_after_checkpoint) {
  const char *path = make_tmp();
  qv_db *db = populate(path);
  cr_assert_eq(qv_db_checkpoint(db), QV_OK);
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_get(db, "l2", &c), QV_OK);
  const char *gone[2] = {"l2-20", "l2-21"};
  cr_assert_eq(qv_collection_delete_records(c, gone, 2, NULL, NULL, 0, NULL), QV_OK);
  const char *ids[2] = {"late-1", "l2-22"};
  float e[10] = {1, 1, 1, 1, 1, -2, -2, -2, -2, -2};
  qv_batch b = {0, 2, ids, e, NULL, NULL, 0};
  cr_assert_eq(qv_collection_upsert(c, &b), QV_OK);
  qv_collection_release(c);
  char *before = dump_db(db);
  /* simulate the crash in this process: copy the directory as it is now, without closing */
  char copy[160], cmd[400];
  snprintf(copy, sizeof copy, "%s-copy", path);
  snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && rm -f '%s/LOCK'", path, copy, copy);
  cr_assert_eq(system(cmd), 0);
  qv_db *db2 = open_at(copy);
  char *after = dump_db(db2);
  cr_assert_str_eq(after, before);
  qv_db_close(db2);
  qv_db_close(db);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", copy);
  if (system(cmd) != 0) cr_log_warn("cleanup failed");
  free(before);
  free(after);
  rm_tmp();
}

static void for_each_index_file(const char *path, int corrupt) {
  char dir[160];
  snprintf(dir, sizeof dir, "%s/index", path);
  DIR *d = opendir(dir);
  cr_assert_not_null(d, "%s/index exists", path);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char f[512];
    snprintf(f, sizeof f, "%s/%s", dir, e->d_name);
    if (corrupt) {
      FILE *fp = fopen(f, "r+b");
      cr_assert_not_null(fp);
      fseek(fp, 40, SEEK_SET);
      fputs("garbage garbage garbage", fp);
      fclose(fp);
    } else {
      cr_assert_eq(unlink(f), 0);
    }
    n++;
  }
  closedir(d);
  cr_assert(n > 0, "index files were written");
}

/* Index files are derived: lost or damaged, they are rebuilt from the records with identical results. */
Test(db, reopen_rebuilds_lost_or_damaged_index) {
  for (int corrupt = 0; corrupt < 2; corrupt++) {
    const char *path = make_tmp();
    qv_db *db = populate(path);
    char *before = dump_db(db);
    qv_db_close(db);
    for_each_index_file(path, corrupt);
    db = open_at(path);
    char *after = dump_db(db);
    cr_assert_str_eq(after, before, "%s index files", corrupt ? "damaged" : "deleted");
    free(after);
    qv_db_close(db);
    free(before);
    rm_tmp();
  }
}

/* A batch acknowledged with QV_OK survives kill -9 of the process. */
Test(db, acknowledged_write_survives_kill) {
  const char *path = make_tmp();
  pid_t pid = fork();
  if (pid == 0) {
    qv_db *db = NULL;
    qv_open_opts o;
    qv_open_opts_init(&o);
    o.sync = QV_SYNC_NORMAL;
    if (qv_db_open(path, &o, &db) != QV_OK) _exit(2);
    qv_collection_opts co;
    qv_collection_opts_init(&co);
    qv_collection *c = NULL;
    if (qv_collection_create(db, "k", &co, &c) != QV_OK) _exit(3);
    const char *ids[2] = {"a", "b"};
    const char *metas[2] = {"{\"x\":1}", NULL};
    float e[4] = {1, 2, 3, 4};
    qv_batch b = {0, 2, ids, e, metas, NULL, 2};
    if (qv_collection_add(c, &b, QV_CONFLICT_ERROR) != QV_OK) _exit(4);
    const char *gone[1] = {"b"};
    if (qv_collection_delete_records(c, gone, 1, NULL, NULL, 0, NULL) != QV_OK) _exit(5);
    kill(getpid(), SIGKILL);
    _exit(6);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %d", st);
  qv_db *db = open_at(path);
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_get(db, "k", &c), QV_OK);
  cr_assert_eq(qv_collection_dim(c), 2, "dimension fixed by the first write is durable");
  uint64_t n = 0;
  cr_assert_eq(qv_collection_count(c, &n), QV_OK);
  cr_assert_eq(n, 1);
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS;
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK);
  cr_assert_str_eq(qv_results_id(r, 0, 0), "a");
  cr_assert_str_eq(qv_results_metadata(r, 0, 0), "{\"x\":1}");
  float want[2] = {1, 2};
  cr_assert_arr_eq(qv_results_embedding(r, 0, 0), want, sizeof want);
  qv_results_free(r);
  float q[2] = {1, 2};
  cr_assert_eq(qv_collection_query(c, q, 1, 5, NULL, &r), QV_OK);
  cr_assert_eq(qv_results_count(r, 0), 1);
  qv_results_free(r);
  qv_collection_release(c);
  qv_db_close(db);
  rm_tmp();
}

Test(db, read_only) {
  const char *path = make_tmp();
  qv_db *db = populate(path);
  char *before = dump_db(db);
  qv_db_close(db);
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.read_only = 1;
  cr_assert_eq(qv_db_open(path, &o, &db), QV_OK);
  char *after = dump_db(db);
  cr_assert_str_eq(after, before);
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "new", NULL, &c), QV_MISUSE);
  cr_assert(strstr(qv_db_errmsg(db), "read-only"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_get_or_create(db, "new", NULL, &c, NULL), QV_MISUSE);
  cr_assert_eq(qv_collection_rename(db, "l2", "l3"), QV_MISUSE);
  cr_assert_eq(qv_collection_delete(db, "l2"), QV_MISUSE);
  cr_assert_eq(qv_collection_get(db, "l2", &c), QV_OK);
  const char *ids[1] = {"zz"};
  float e[5] = {0};
  qv_batch b = {0, 1, ids, e, NULL, NULL, 0};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_MISUSE);
  cr_assert_eq(qv_collection_upsert(c, &b), QV_MISUSE);
  cr_assert_eq(qv_collection_update(c, &b, 1), QV_MISUSE);
  cr_assert_eq(qv_collection_delete_records(c, ids, 1, NULL, NULL, 0, NULL), QV_MISUSE);
  cr_assert_eq(qv_collection_set_metadata(c, NULL), QV_MISUSE);
  qv_collection_release(c);
  free(after);
  after = dump_db(db);
  cr_assert_str_eq(after, before);
  qv_db_close(db);
  db = open_at(path);
  free(after);
  after = dump_db(db);
  cr_assert_str_eq(after, before, "nothing changed on disk");
  qv_db_close(db);
  free(before);
  free(after);
  rm_tmp();
}

/* ------------------------------------------------------------------ error messages per thread */

typedef struct errctx {
  qv_db *db;
  pthread_barrier_t *bar;
  char seen[256];
} errctx;

static void *fail_in_thread(void *arg) {
  errctx *x = arg;
  qv_collection *c = NULL;
  qv_status rc = qv_collection_get(x->db, "no-such-collection-in-thread", &c);
  pthread_barrier_wait(x->bar); /* both threads have failed */
  pthread_barrier_wait(x->bar); /* main has made its own calls */
  snprintf(x->seen, sizeof x->seen, "%d:%s", (int)rc, qv_db_errmsg(x->db));
  return NULL;
}

Test(db, errmsg_is_per_thread) {
  qv_db *db = open_at(NULL);
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, 2);
  errctx x = {db, &bar, ""};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, fail_in_thread, &x), 0);
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "", NULL, &c), QV_INVALID);
  pthread_barrier_wait(&bar);
  cr_assert(strstr(qv_db_errmsg(db), "name"), "main's own message: %s", qv_db_errmsg(db));
  cr_assert_null(strstr(qv_db_errmsg(db), "no-such"), "not the other thread's: %s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_create(db, "ok", NULL, &c), QV_OK);
  cr_assert_str_eq(qv_db_errmsg(db), "", "success clears this thread's message");
  pthread_barrier_wait(&bar);
  pthread_join(th, NULL);
  cr_assert(strstr(x.seen, "4:") == x.seen, "%s", x.seen);
  cr_assert(strstr(x.seen, "no-such-collection-in-thread"), "the thread kept its message: %s", x.seen);
  pthread_barrier_destroy(&bar);
  qv_collection_release(c);
  qv_db_close(db);
}

/* ------------------------------------------------------------------ allocator hooks */

static atomic_long live, calls;

static void *cnt_malloc(void *ud, size_t n) {
  (void)ud;
  void *p = malloc(n);
  if (p) atomic_fetch_add(&live, 1);
  atomic_fetch_add(&calls, 1);
  return p;
}
static void *cnt_realloc(void *ud, void *p, size_t n) {
  (void)ud;
  void *q = realloc(p, n);
  if (q && !p) atomic_fetch_add(&live, 1);
  atomic_fetch_add(&calls, 1);
  return q;
}
static void cnt_free(void *ud, void *p) {
  (void)ud;
  if (p) atomic_fetch_sub(&live, 1);
  free(p);
}

Test(db, custom_allocator_sees_everything_and_balances) {
  for (int p = 0; p < 2; p++) {
    const char *path = p ? make_tmp() : NULL;
    qv_open_opts o;
    qv_open_opts_init(&o);
    o.alloc.malloc_fn = cnt_malloc;
    o.alloc.realloc_fn = cnt_realloc;
    o.alloc.free_fn = cnt_free;
    atomic_store(&live, 0);
    atomic_store(&calls, 0);
    for (int round = 0; round < 2; round++) {
      qv_db *db = NULL;
      cr_assert_eq(qv_db_open(path, &o, &db), QV_OK);
      if (round == 0) fill(db, "a", 6, QV_METRIC_COSINE, "{\"m\":1}", 50);
      char *d = dump_db(db);
      free(d);
      qv_db_close(db);
      cr_assert(atomic_load(&calls) > 0, "the allocator was used");
      cr_assert_eq(atomic_load(&live), 0, "persistent=%d round %d: %ld blocks leaked", p, round, atomic_load(&live));
    }
    rm_tmp();
  }
}
