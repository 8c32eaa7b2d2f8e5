/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_fault_loops.c -- every public write operation under every injected fault (issue 15).
 *
 * For each operation (add, upsert, update, delete, compact, checkpoint, create, drop, rename,
 * and open itself;
 * the record operations on an HNSW and a flat collection, plus IVF and rpforest in the full
 * run) and each fault class of faultlib.h (allocation once, allocation from N on, SQLite
 * read, write, fsync, disk full, index-file layer), for N = 1, 2, ... until the operation
 * runs without reaching the N-th call:
 *   - a fresh database is set up without faults, the fault is armed, the operation runs;
 *   - while the fault is still armed, a read of the whole state either fails or gives the
 *     state before or after the operation (never a degraded answer: a query that quietly
 *     lost candidates, records visible to get but not to query);
 *   - disarmed: the state is the one after the operation if it returned QV_OK, else the one
 *     before or after it (all or nothing);
 *   - closed and reopened: the same rule; every block the allocator handed out is freed.
 * "State": the collection list and, for each collection, every record (id, embedding bits,
 * metadata, document), exact and approximate k-NN answers for fixed queries.
 *
 * CI (ctest) runs the fast subset (HNSW and flat, allocation failures from N on, every N up
 * to 12 then steps of N/5); QV_FAULT_FULL=1 runs every kind, mode and N (docs/TESTING.md).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <quiver.h>

#include "faultlib.h"

#define DIM 8

static int full_run(void) {
  const char *e = getenv("QV_FAULT_FULL");
  return e && *e && strcmp(e, "0") != 0;
}

/* ------------------------------------------------------------------ data */

static void vec_of(int i, float *v) {
  for (int j = 0; j < DIM; j++) v[j] = (float)(((i * 37 + j * 11) % 23) - 11) / 4.0f + (float)j * 0.01f;
}

/* n records "<p><from..from+n>" with embeddings, metadata and documents. */
static qv_status put(qv_db *db, const char *col, int mode, const char *p, int from, int n) {
  qv_collection *c = NULL;
  qv_status rc = qv_collection_get(db, col, &c);
  if (rc) return rc;
  char (*idb)[16] = calloc((size_t)n, 16), (*mb)[64] = calloc((size_t)n, 64), (*db_)[48] = calloc((size_t)n, 48);
  const char **ids = calloc((size_t)n, sizeof *ids), **metas = calloc((size_t)n, sizeof *metas),
             **docs = calloc((size_t)n, sizeof *docs);
  float *emb = calloc((size_t)n * DIM, sizeof *emb);
  for (int i = 0; i < n; i++) {
    int k = from + i;
    snprintf(idb[i], 16, "%s%d", p, k);
    snprintf(mb[i], 64, "{\"k\":%d,\"t\":\"%s\",\"m\":%d}", k, k % 2 ? "odd" : "even", mode);
    snprintf(db_[i], 48, "document %s%d mode %d", p, k, mode);
    ids[i] = idb[i];
    metas[i] = mb[i];
    docs[i] = db_[i];
    vec_of(k * 3 + mode, emb + (size_t)i * DIM);
  }
  qv_batch b = {0, (size_t)n, ids, emb, metas, docs, 0};
  if (mode == 0) rc = qv_collection_add(c, &b, QV_CONFLICT_ERROR);
  else if (mode == 1) rc = qv_collection_upsert(c, &b);
  else rc = qv_collection_update(c, &b, 0);
  qv_collection_release(c);
  free(idb);
  free(mb);
  free(db_);
  free(ids);
  free(metas);
  free(docs);
  free(emb);
  return rc;
}

static qv_status mkcol(qv_db *db, const char *name, const char *kind, qv_metric m) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = DIM;
  o.metric = m;
  o.index = kind;
  qv_collection *c = NULL;
  qv_status rc = qv_collection_create(db, name, &o, &c);
  qv_collection_release(c);
  return rc;
}

static const char *const kinds_all[] = {"hnsw", "flat", "ivf", "rpforest"};
static const char *const cols_all[] = {"h", "f", "i", "r"};

static int n_kinds(void) { return full_run() ? 4 : 2; }

static qv_status setup(qv_db *db) {
  qv_status rc = QV_OK;
  for (int k = 0; k < n_kinds() && rc == QV_OK; k++) {
    rc = mkcol(db, cols_all[k], kinds_all[k], k == 1 ? QV_METRIC_COSINE : QV_METRIC_L2);
    if (rc == QV_OK) rc = put(db, cols_all[k], 0, "a", 0, 24);
  }
  if (rc == QV_OK) rc = qv_db_checkpoint(db); /* index files on disk: drop, rename and open touch them */
  if (rc == QV_OK) rc = put(db, "h", 1, "a", 22, 4); /* and a tail for the log to replay */
  return rc;
}

/* ------------------------------------------------------------------ state */

static int state_col(qv_db *db, const char *name, FILE *f) {
  qv_collection *c = NULL;
  if (qv_collection_get(db, name, &c) != QV_OK) return -1;
  /* approximate answers are part of the state: exhaustive at this size for HNSW (ef >= n),
     IVF before training and flat; not for the rpforest (50 trees, search_k = 50 * k visits a
     few leaves), whose answers depend on its trees: its add() is all or nothing and its
     random streams go back with it, so a write that failed and was retried (the collection's
     catch-up) must build the same forest as one that did not fail */
  int bad = 0;
  uint64_t n = 0;
  if (qv_collection_count(c, &n) != QV_OK) bad = 1;
  fprintf(f, "[%s] n=%llu\n", name, (unsigned long long)n);
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS;
  qv_results *r = NULL;
  if (!bad && qv_collection_get_records(c, &g, &r) == QV_OK) {
    for (size_t i = 0; i < qv_results_count(r, 0); i++) {
      const char *m = qv_results_metadata(r, 0, i), *d = qv_results_document(r, 0, i);
      fprintf(f, "%s|%s|%s|", qv_results_id(r, 0, i), m ? m : "-", d ? d : "-");
      const float *e = qv_results_embedding(r, 0, i);
      for (uint32_t j = 0; e && j < DIM; j++) fprintf(f, "%a,", (double)e[j]);
      fputc('\n', f);
    }
  } else {
    bad = 1;
  }
  qv_results_free(r);
  for (int exact = 0; exact < 2 && !bad; exact++) {
    float q[2 * DIM];
    vec_of(5, q);
    vec_of(1000, q + DIM);
    qv_query_opts o;
    qv_query_opts_init(&o);
    o.exact = exact;
    o.n_threads = 1;
    r = NULL;
    if (qv_collection_query(c, q, 2, 6, &o, &r) != QV_OK) {
      bad = 1;
      break;
    }
    for (size_t qi = 0; qi < 2; qi++)
      for (size_t i = 0; i < qv_results_count(r, qi); i++)
        fprintf(f, "q%d.%zu:%s %.4f\n", exact, qi, qv_results_id(r, qi, i), (double)qv_results_distance(r, qi, i));
    qv_results_free(r);
  }
  qv_collection_release(c);
  return bad ? -1 : 0;
}

/* The whole state as text, or NULL when a read failed. */
static char *state(qv_db *db) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  char **names = NULL;
  size_t nn = 0;
  int bad = qv_collection_list(db, &names, &nn) != QV_OK;
  for (size_t i = 0; !bad && i < nn; i++) {
    fprintf(f, "collection %s\n", names[i]);
    if (state_col(db, names[i], f)) bad = 1;
  }
  qv_strings_free(names);
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* ------------------------------------------------------------------ operations */

typedef struct op {
  char name[40];
  const char *col;
  qv_status (*fn)(qv_db *db, const char *col);
} op;

static qv_status op_add(qv_db *db, const char *col) { return put(db, col, 0, "n", 100, 70); } /* >= 64: hidden chunks */
static qv_status op_add_small(qv_db *db, const char *col) { return put(db, col, 0, "s", 200, 5); }
static qv_status op_upsert(qv_db *db, const char *col) { return put(db, col, 1, "a", 18, 12); } /* 6 old, 6 new */
static qv_status op_update(qv_db *db, const char *col) { return put(db, col, 2, "a", 3, 9); }
static qv_status op_delete(qv_db *db, const char *col) {
  qv_collection *c = NULL;
  qv_status rc = qv_collection_get(db, col, &c);
  if (rc) return rc;
  const char *ids[4] = {"a1", "a7", "nope", "a20"};
  rc = qv_collection_delete_records(c, ids, 4, NULL, NULL, 0, NULL);
  qv_collection_release(c);
  return rc;
}
static qv_status op_delete_where(qv_db *db, const char *col) {
  qv_collection *c = NULL;
  qv_status rc = qv_collection_get(db, col, &c);
  if (rc) return rc;
  rc = qv_collection_delete_records(c, NULL, 0, "{\"k\":{\"$gt\":19}}", NULL, 0, NULL);
  qv_collection_release(c);
  return rc;
}
static qv_status op_compact(qv_db *db, const char *col) {
  qv_collection *c = NULL;
  qv_status rc = qv_collection_get(db, col, &c);
  if (rc) return rc;
  rc = qv_collection_compact(c);
  qv_collection_release(c);
  return rc;
}
static qv_status op_checkpoint(qv_db *db, const char *col) {
  (void)col;
  return qv_db_checkpoint(db);
}
static qv_status op_create(qv_db *db, const char *col) {
  (void)col;
  return mkcol(db, "new", "hnsw", QV_METRIC_IP);
}
static qv_status op_drop(qv_db *db, const char *col) { return qv_collection_delete(db, col); }
static qv_status op_rename(qv_db *db, const char *col) { return qv_collection_rename(db, col, "renamed"); }

static size_t build_ops(op *v) {
  size_t n = 0;
  for (int k = 0; k < n_kinds(); k++) {
    const char *c = cols_all[k];
    struct {
      const char *what;
      qv_status (*fn)(qv_db *, const char *);
    } rec[] = {{"add", op_add}, {"add-small", op_add_small}, {"upsert", op_upsert}, {"update", op_update},
               {"delete", op_delete}, {"delete-where", op_delete_where}, {"compact", op_compact}};
    for (size_t i = 0; i < sizeof rec / sizeof rec[0]; i++) {
      snprintf(v[n].name, sizeof v[n].name, "%s(%s)", rec[i].what, kinds_all[k]);
      v[n].col = c;
      v[n++].fn = rec[i].fn;
    }
  }
  snprintf(v[n].name, sizeof v[n].name, "checkpoint");
  v[n].col = NULL;
  v[n++].fn = op_checkpoint;
  snprintf(v[n].name, sizeof v[n].name, "create");
  v[n].col = NULL;
  v[n++].fn = op_create;
  snprintf(v[n].name, sizeof v[n].name, "drop(hnsw)");
  v[n].col = "h";
  v[n++].fn = op_drop;
  snprintf(v[n].name, sizeof v[n].name, "rename(flat)");
  v[n].col = "f";
  v[n++].fn = op_rename;
  snprintf(v[n].name, sizeof v[n].name, "open");
  v[n].col = NULL;
  v[n++].fn = NULL; /* fault_loop closes and opens under the fault */
  return n;
}

/* ------------------------------------------------------------------ the loop */

static char report[32768];
static int n_violations;

static void violation(const char *opname, int mode, long n, const char *what, const char *detail) {
  char key[200];
  snprintf(key, sizeof key, "[%s/%s] %s", opname, fi_mode_name[mode], what);
  n_violations++;
  if (strstr(report, key)) return;
  size_t len = strlen(report);
  snprintf(report + len, sizeof report - len, "%s (first at N=%ld): %.300s\n", key, n, detail ? detail : "");
}

static qv_status open_db(const char *dir, qv_db **db) {
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.alloc.malloc_fn = fi_malloc;
  o.alloc.realloc_fn = fi_realloc;
  o.alloc.free_fn = fi_free;
  o.n_threads = 1;
  o.checkpoint_every = 0;
  return qv_db_open(dir, &o, db);
}

static int same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* One operation under one fault class, N = 1, 2, ...; returns the number of failures injected. */
static long fault_loop(const op *o, int mode, const char *dir) {
  char *before = NULL, *after = NULL;
  qv_db *db = NULL;
  long n, tried = 0;
  /* the full run tries every N; the fast one every N up to 12, then ever wider steps */
  for (n = 0; n < 20000; n = full_run() || n < 12 ? n + 1 : n + n / 5) {
    fi_rmrf(dir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    atomic_store(&fi_live, 0);
    cr_assert_eq(open_db(dir, &db), QV_OK);
    cr_assert_eq(setup(db), QV_OK, "%s", qv_db_errmsg(db));
    if (n == 0) before = state(db);
    qv_status rc;
    if (!o->fn) { /* "open": close, then open under the fault (SQLite and index-file reads) */
      qv_db_close(db);
      db = NULL;
      if (n) fi_arm(mode, n);
      rc = open_db(dir, &db);
      if (rc != QV_OK && db) violation(o->name, mode, n, "a failed open left a handle", NULL);
    } else {
      if (n) fi_arm(mode, n);
      rc = o->fn(db, o->col);
    }
    long hit = atomic_load(&fi_hit); /* failures the operation itself met */
    char *armed = NULL;
    if (n && mode != FI_FILE && db) armed = state(db); /* still armed: fails or answers right */
    fi_disarm();
    char err[320];
    snprintf(err, sizeof err, "%s: %s", qv_status_name(rc), db ? qv_db_errmsg(db) : "(no handle)");
    if (!db) { /* the open failed cleanly: the directory must still open to the same state */
      free(armed);
      if (!hit) violation(o->name, mode, n, "failed without a fault", err);
      qv_status orc = open_db(dir, &db);
      char *re = orc == QV_OK ? state(db) : NULL;
      if (!same(re, before)) violation(o->name, mode, n, "state after a failed open is wrong", re ? re : err);
      free(re);
      if (db) qv_db_close(db);
      db = NULL;
      if (atomic_load(&fi_live) != 0) violation(o->name, mode, n, "allocator blocks leaked", NULL);
      tried++;
      if (!hit) break;
      continue;
    }
    char *live = state(db);
    if (n == 0) {
      cr_assert_eq(rc, QV_OK, "%s without faults: %s", o->name, err);
      after = live;
      live = NULL;
    } else {
      if (rc != QV_OK && !hit) violation(o->name, mode, n, "failed without a fault", err);
      if (rc == QV_OK ? !same(live, after) : !(same(live, before) || same(live, after)))
        violation(o->name, mode, n, rc == QV_OK ? "QV_OK but the state is not the one after" : "partly applied", err);
      if (armed && !(same(armed, before) || same(armed, after)))
        violation(o->name, mode, n, "a read under the fault answered neither state", armed);
      if (rc == QV_OK && armed && same(armed, before) && !same(before, after))
        violation(o->name, mode, n, "QV_OK but a read still gave the state before", err);
    }
    qv_db_close(db);
    db = NULL;
    if (n) { /* reopened: what was acknowledged is there, nothing half */
      qv_status orc = open_db(dir, &db);
      if (orc != QV_OK) {
        violation(o->name, mode, n, "reopen failed", qv_status_name(orc));
      } else {
        char *re = state(db);
        if (rc == QV_OK ? !same(re, after) : !(same(re, before) || same(re, after)))
          violation(o->name, mode, n, "reopened state is wrong", re ? re : "(a read failed)");
        free(re);
        qv_db_close(db);
        db = NULL;
      }
    }
    if (atomic_load(&fi_live) != 0) violation(o->name, mode, n, "allocator blocks leaked", NULL);
    free(armed);
    free(live);
    if (n && !hit) break; /* the operation ran without reaching the N-th call */
    tried += n > 0;
  }
  free(before);
  free(after);
  return tried;
}

static void run_modes(const int *modes, size_t n_modes) {
  fi_vfs_install();
  char dir[128];
  fi_tmpdir(dir, sizeof dir, "loops");
  cr_assert(dir[0], "a scratch directory");
  op ops[64];
  size_t n_ops = build_ops(ops);
  long total = 0;
  const char *only = getenv("QV_FAULT_OPS"); /* e.g. "add(rpforest)": operations whose name contains it */
  for (size_t m = 0; m < n_modes; m++)
    for (size_t i = 0; i < n_ops; i++) {
      if (only && *only && !strstr(ops[i].name, only)) continue;
      long n = fault_loop(&ops[i], modes[m], dir);
      total += n;
      cr_log_info("%-18s %-12s %ld failure points", ops[i].name, fi_mode_name[modes[m]], n);
    }
  fi_rmrf(dir);
  cr_log_info("%ld failure points, %d violations", total, n_violations);
  cr_assert(total > 0);
  cr_assert_eq(n_violations, 0, "%d violations:\n%s", n_violations, report);
}

Test(fault_loops, memory, .timeout = 1800) {
  int modes[] = {FI_ALLOC_STICKY, FI_ALLOC};
  run_modes(modes, full_run() ? 2 : 1);
}

Test(fault_loops, sqlite_io, .timeout = 1800) {
  int modes[] = {FI_SYNC, FI_FULL, FI_WRITE, FI_READ};
  run_modes(modes, 4);
}

Test(fault_loops, index_files, .timeout = 1800) {
  int modes[] = {FI_FILE};
  run_modes(modes, 1);
}
