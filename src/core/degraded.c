/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * degraded.c -- degraded open: a collection whose stored data cannot be loaded (an unknown
 * index kind, parameters its kind rejects, a corrupt record row) is skipped instead of failing
 * the whole qv_db_open. It is reported through the log callback (QV_LOG_ERROR) and listed by
 * qv_db_skipped_collections(); its rows stay in the store untouched, and its name stays taken
 * until qv_collection_delete() drops it (qv__db_drop_skipped: its rows in one transaction,
 * then its index file). Failures that say nothing about the collection's own data -- out of
 * memory, I/O errors -- still fail the open, as a retry may succeed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "col_int.h"

qv_status qv__db_skip_collection(qv_db *db, const char *name, int64_t cid, qv_status rc, const char *why) {
  if (rc == QV_NOMEM || rc == QV_IO) return rc;
  char line[1200];
  qv__fmt(line, sizeof line, "%s: %s (%s)", name, why && *why ? why : qv_status_str(rc), qv_status_name(rc));
  qv__log(db, QV_LOG_ERROR, "skipped a collection that cannot be loaded (the rest of the database is open): %s", line);
  char **v = qv__realloc(&db->mem, db->skipped, (db->n_skipped + 2) * sizeof *v);
  if (!v) return QV_NOMEM;
  db->skipped = v;
  v = qv__realloc(&db->mem, db->skipped_names, (db->n_skipped + 1) * sizeof *v);
  if (!v) return QV_NOMEM;
  db->skipped_names = v;
  int64_t *cids = qv__realloc(&db->mem, db->skipped_cids, (db->n_skipped + 1) * sizeof *cids);
  if (!cids) return QV_NOMEM;
  db->skipped_cids = cids;
  char *l = qv__strdup(&db->mem, line), *nm = qv__strdup(&db->mem, name);
  if (!l || !nm) {
    qv__free(&db->mem, l);
    qv__free(&db->mem, nm);
    return QV_NOMEM;
  }
  db->skipped[db->n_skipped] = l;
  db->skipped_names[db->n_skipped] = nm;
  db->skipped_cids[db->n_skipped] = cid;
  db->skipped[++db->n_skipped] = NULL;
  qv__err_clear(db);
  return QV_OK;
}

void qv__db_skipped_free(qv_db *db) {
  for (size_t i = 0; i < db->n_skipped; i++) {
    qv__free(&db->mem, db->skipped[i]);
    qv__free(&db->mem, db->skipped_names[i]);
  }
  qv__free(&db->mem, db->skipped);
  qv__free(&db->mem, db->skipped_names);
  qv__free(&db->mem, db->skipped_cids);
  db->skipped = db->skipped_names = NULL;
  db->skipped_cids = NULL;
  db->n_skipped = 0;
}

qv_status qv__db_drop_skipped(qv_db *db, const char *name) {
  pthread_mutex_lock(&db->cat_mu);
  size_t i = 0;
  while (i < db->n_skipped && strcmp(db->skipped_names[i], name) != 0) i++;
  int64_t cid = i < db->n_skipped ? db->skipped_cids[i] : 0;
  pthread_mutex_unlock(&db->cat_mu);
  if (i == db->n_skipped || !db->store) return QV_NOTFOUND; /* only write_mu holders change the list */
  qv_status rc = qv__store_begin(db->store);
  if (rc == QV_OK) rc = qv__store_col_delete(db->store, cid);
  if (rc == QV_OK) rc = qv__store_commit(db->store, db->seq);
  else qv__store_rollback(db->store);
  if (rc) return qv__err(db, rc, "%s", qv__store_errmsg(db->store));
  size_t n = strlen(db->path) + 64; /* the file qv__col_index_path names */
  char *path = qv__malloc(&db->mem, n);
  if (path) {
    snprintf(path, n, "%s/index/%lld.idx", db->path, (long long)cid);
    remove(path);
    qv__free(&db->mem, path);
  }
  qv__log(db, QV_LOG_INFO, "dropped the skipped collection %s", name);
  pthread_mutex_lock(&db->cat_mu);
  qv__free(&db->mem, db->skipped[i]);
  qv__free(&db->mem, db->skipped_names[i]);
  size_t rest = db->n_skipped - i - 1;
  memmove(&db->skipped[i], &db->skipped[i + 1], (rest + 1) * sizeof *db->skipped); /* and the NULL */
  memmove(&db->skipped_names[i], &db->skipped_names[i + 1], rest * sizeof *db->skipped_names);
  memmove(&db->skipped_cids[i], &db->skipped_cids[i + 1], rest * sizeof *db->skipped_cids);
  db->n_skipped--;
  pthread_mutex_unlock(&db->cat_mu);
  return QV_OK;
}

qv_status qv_db_skipped_collections(qv_db *db, char ***entries, size_t *n) {
  if (!entries || !n) return QV_MISUSE;
  *entries = NULL;
  *n = 0;
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  pthread_mutex_lock(&db->cat_mu); /* qv_collection_delete may drop one meanwhile */
  size_t count = db->n_skipped;
  char **v = calloc(count + 1, sizeof *v); /* qv_strings_free: plain malloc */
  for (size_t i = 0; v && i < count; i++)
    if (!(v[i] = strdup(db->skipped[i]))) {
      qv_strings_free(v);
      v = NULL;
    }
  pthread_mutex_unlock(&db->cat_mu);
  if (!v) return QV_NOMEM;
  *entries = v;
  *n = count;
  return QV_OK;
}
