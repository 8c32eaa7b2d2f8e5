/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_crash.c -- power cuts at every sync point: no acknowledged write lost (issue 15).
 *
 * The shim VFS of faultlib.h runs in crash mode: every SQLite write waits in memory until its
 * file's xSync, so the files on disk only ever hold what was made durable. At each sync point
 * (before that sync's data lands) the data directory is copied: the copy is what a power cut
 * at that instant leaves -- unsynced writes dropped, as SQLite's crash tests do (the index
 * checkpoint files are written with fsync + rename by checkpoint.c and copied as they are).
 *
 * A sequence of writes covering every public write operation runs once without the shim to
 * record the state after each step, then once in crash mode. Every copy must open cleanly
 * and hold the state after the last acknowledged (QV_OK) step, or after the step that was
 * in flight: nothing acknowledged lost, nothing half applied.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <quiver.h>

#include "faultlib.h"

#define DIM 8
#define MAX_CRASH 512

static void vec_of(int i, float *v) {
  for (int j = 0; j < DIM; j++) v[j] = (float)(((i * 29 + j * 13) % 19) - 9) / 3.0f + (float)j * 0.02f;
}

static qv_status put(qv_db *db, const char *col, int mode, const char *p, int from, int n) {
  qv_collection *c = NULL;
  qv_status rc = qv_collection_get(db, col, &c);
  if (rc) return rc;
  char idb[80][16], mb[80][64];
  const char *ids[80], *metas[80];
  float emb[80 * DIM];
  for (int i = 0; i < n; i++) {
    snprintf(idb[i], 16, "%s%d", p, from + i);
    snprintf(mb[i], 64, "{\"k\":%d,\"m\":%d}", from + i, mode);
    ids[i] = idb[i];
    metas[i] = mb[i];
    vec_of((from + i) * 5 + mode, emb + i * DIM);
  }
  qv_batch b = {0, (size_t)n, ids, emb, metas, NULL, 0};
  rc = mode == 0 ? qv_collection_add(c, &b, QV_CONFLICT_ERROR) : mode == 1 ? qv_collection_upsert(c, &b)
                                                                          : qv_collection_update(c, &b, 0);
  qv_collection_release(c);
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

static qv_status with(qv_db *db, const char *name, int what) {
  qv_collection *c = NULL;
  qv_status rc = qv_collection_get(db, name, &c);
  if (rc) return rc;
  if (what == 0) {
    const char *ids[3] = {"a3", "a9", "a40"};
    rc = qv_collection_delete_records(c, ids, 3, NULL, NULL, 0, NULL);
  } else if (what == 1) {
    rc = qv_collection_delete_records(c, NULL, 0, "{\"k\":{\"$gte\":60}}", NULL, 0, NULL);
  } else {
    rc = qv_collection_compact(c);
  }
  qv_collection_release(c);
  return rc;
}

static qv_status step(qv_db *db, int i) {
  switch (i) {
  case 0: return mkcol(db, "h", "hnsw", QV_METRIC_L2);
  case 1: return put(db, "h", 0, "a", 0, 70); /* >= 64 new records: the hidden-chunk path */
  case 2: return mkcol(db, "f", "flat", QV_METRIC_COSINE);
  case 3: return put(db, "f", 0, "b", 0, 20);
  case 4: return put(db, "h", 1, "a", 60, 15);
  case 5: return put(db, "h", 2, "a", 5, 10);
  case 6: return with(db, "h", 0);
  case 7: return with(db, "h", 2);
  case 8: return qv_db_checkpoint(db);
  case 9: return put(db, "f", 1, "b", 10, 20);
  case 10: return qv_collection_rename(db, "f", "g");
  case 11: return with(db, "h", 1);
  case 12: return mkcol(db, "i", "ivf", QV_METRIC_L2);
  case 13: return put(db, "i", 0, "c", 0, 40);
  case 14: return qv_collection_delete(db, "g");
  case 15: return put(db, "h", 0, "z", 0, 5);
  case 16: return qv_db_checkpoint(db);
  case 17: return put(db, "i", 2, "c", 0, 10);
  default: return QV_INVALID;
  }
}
#define N_STEPS 18

static char *state(qv_db *db) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  char **names = NULL;
  size_t nn = 0;
  int bad = qv_collection_list(db, &names, &nn) != QV_OK;
  for (size_t i = 0; !bad && i < nn; i++) {
    qv_collection *c = NULL;
    if (qv_collection_get(db, names[i], &c) != QV_OK) {
      bad = 1;
      break;
    }
    fprintf(f, "[%s]\n", names[i]);
    qv_get_opts g;
    qv_get_opts_init(&g);
    g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS;
    qv_results *r = NULL;
    if (qv_collection_get_records(c, &g, &r) == QV_OK) {
      for (size_t j = 0; j < qv_results_count(r, 0); j++) {
        const char *m = qv_results_metadata(r, 0, j);
        fprintf(f, "%s|%s|", qv_results_id(r, 0, j), m ? m : "-");
        const float *e = qv_results_embedding(r, 0, j);
        for (int d = 0; e && d < DIM; d++) fprintf(f, "%a,", (double)e[d]);
        fputc('\n', f);
      }
    } else {
      bad = 1;
    }
    qv_results_free(r);
    float q[DIM];
    vec_of(7, q);
    r = NULL;
    if (!bad && qv_collection_query(c, q, 1, 5, NULL, &r) == QV_OK) {
      for (size_t j = 0; j < qv_results_count(r, 0); j++)
        fprintf(f, "q:%s %.4f\n", qv_results_id(r, 0, j), (double)qv_results_distance(r, 0, j));
    } else {
      bad = 1;
    }
    qv_results_free(r);
    qv_collection_release(c);
  }
  qv_strings_free(names);
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  return buf;
}

static char live_dir[128], crash_root[128];
static int n_crash, acked, acked_at[MAX_CRASH];

static void on_sync(void) {
  if (n_crash >= MAX_CRASH) return;
  char d[256];
  snprintf(d, sizeof d, "%s/%d", crash_root, n_crash);
  if (fi_copydir(live_dir, d) == 0) acked_at[n_crash++] = acked;
}

static qv_sync sync_mode = QV_SYNC_FULL;

static qv_status open_db(const char *dir, qv_db **db) {
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.n_threads = 1;
  o.checkpoint_every = 0;
  o.sync = sync_mode;
  return qv_db_open(dir, &o, db);
}

/* Runs the steps with a copy at every sync point; returns how many copies lost or half
 * applied an acknowledged step (details in msg). */
static int crash_run(char *msg, size_t msg_len, int *n_points) {
  fi_vfs_install();
  n_crash = 0;
  char ref_dir[128];
  fi_tmpdir(ref_dir, sizeof ref_dir, "crashref");
  fi_tmpdir(live_dir, sizeof live_dir, "crashlive");
  fi_tmpdir(crash_root, sizeof crash_root, "crashcopies");
  cr_assert(ref_dir[0] && live_dir[0] && crash_root[0]);

  /* the reference: the state after each step, writes straight through */
  char *ref[N_STEPS + 1];
  qv_db *db = NULL;
  cr_assert_eq(open_db(ref_dir, &db), QV_OK);
  ref[0] = state(db);
  for (int i = 0; i < N_STEPS; i++) {
    cr_assert_eq(step(db, i), QV_OK, "reference step %d: %s", i, qv_db_errmsg(db));
    ref[i + 1] = state(db);
    cr_assert_not_null(ref[i + 1]);
  }
  qv_db_close(db);

  /* the same steps with writes held back until their sync, a copy taken at every sync */
  atomic_store(&fi_crash_mode, 1);
  fi_sync_hook = on_sync;
  cr_assert_eq(open_db(live_dir, &db), QV_OK);
  acked = 0;
  for (int i = 0; i < N_STEPS; i++) {
    cr_assert_eq(step(db, i), QV_OK, "step %d: %s", i, qv_db_errmsg(db));
    acked = i + 1;
  }
  qv_db_close(db);
  fi_sync_hook = NULL;
  atomic_store(&fi_crash_mode, 0);

  int bad = 0;
  msg[0] = 0;
  for (int k = 0; k < n_crash; k++) {
    char d[256];
    snprintf(d, sizeof d, "%s/%d", crash_root, k);
    qv_status rc = open_db(d, &db);
    char *st = rc == QV_OK ? state(db) : NULL;
    int a = acked_at[k];
    int ok = st && (strcmp(st, ref[a]) == 0 || (a < N_STEPS && strcmp(st, ref[a + 1]) == 0));
    if (!ok) {
      bad++;
      size_t l = strlen(msg);
      snprintf(msg + l, msg_len - l, "crash at sync %d (%d steps acknowledged): %s\n", k, a,
               rc != QV_OK ? qv_status_name(rc) : !st ? "a read failed" : "state is neither");
    }
    free(st);
    if (db) qv_db_close(db);
    db = NULL;
  }
  for (int i = 0; i <= N_STEPS; i++) free(ref[i]);
  fi_rmrf(ref_dir);
  fi_rmrf(live_dir);
  fi_rmrf(crash_root);
  *n_points = n_crash;
  return bad;
}

Test(crash, no_acknowledged_write_lost, .timeout = 600) {
  char msg[4096];
  int n = 0, bad = crash_run(msg, sizeof msg, &n);
  cr_log_info("sync full: %d sync points, %d steps, %d bad copies", n, N_STEPS, bad);
  cr_assert(n > N_STEPS, "a sync point per write at least (%d)", n);
  cr_assert_eq(bad, 0, "%s", msg);
}

/* The harness can fail: with sync normal, WAL commits are not synced, and a power cut loses
 * acknowledged writes -- which the copies must show. */
Test(crash, detects_lost_writes_under_sync_normal, .timeout = 600) {
  char msg[4096];
  int n = 0;
  sync_mode = QV_SYNC_NORMAL;
  int bad = crash_run(msg, sizeof msg, &n);
  cr_log_info("sync normal: %d sync points, %d bad copies", n, bad);
  cr_assert(bad > 0, "no copy lost an acknowledged write under sync normal (%d sync points)", n);
}
