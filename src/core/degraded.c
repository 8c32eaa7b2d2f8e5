/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * degraded.c -- degraded open: a collection whose stored data cannot be loaded (an unknown
 * index kind, parameters its kind rejects, a corrupt record row) is skipped instead of failing
 * the whole qv_db_open. It is reported through the log callback (QV_LOG_ERROR) and listed by
 * qv_db_skipped_collections(); its rows stay in the store untouched, and its name stays taken.
 * Failures that say nothing about the collection's own data -- out of memory, I/O errors --
 * still fail the open, as a retry may succeed.
 */
#include <stdlib.h>
#include <string.h>

#include "col_int.h"

qv_status qv__db_skip_collection(qv_db *db, const char *name, qv_status rc, const char *why) {
  if (rc == QV_NOMEM || rc == QV_IO) return rc;
  char line[1200];
  qv__fmt(line, sizeof line, "%s: %s (%s)", name, why && *why ? why : qv_status_str(rc), qv_status_name(rc));
  qv__log(db, QV_LOG_ERROR, "skipped a collection that cannot be loaded (the rest of the database is open): %s", line);
  char **v = qv__realloc(&db->mem, db->skipped, (db->n_skipped + 2) * sizeof *v);
  if (!v) return QV_NOMEM;
  db->skipped = v;
  if (!(v[db->n_skipped] = qv__strdup(&db->mem, line))) return QV_NOMEM;
  v[++db->n_skipped] = NULL;
  qv__err_clear(db);
  return QV_OK;
}

void qv__db_skipped_free(qv_db *db) {
  for (size_t i = 0; i < db->n_skipped; i++) qv__free(&db->mem, db->skipped[i]);
  qv__free(&db->mem, db->skipped);
  db->skipped = NULL;
  db->n_skipped = 0;
}

qv_status qv_db_skipped_collections(qv_db *db, char ***entries, size_t *n) {
  if (!entries || !n) return QV_MISUSE;
  *entries = NULL;
  *n = 0;
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  char **v = calloc(db->n_skipped + 1, sizeof *v); /* qv_strings_free: plain malloc */
  if (!v) return QV_NOMEM;
  for (size_t i = 0; i < db->n_skipped; i++)
    if (!(v[i] = strdup(db->skipped[i]))) {
      qv_strings_free(v);
      return QV_NOMEM;
    }
  *entries = v;
  *n = db->n_skipped;
  return QV_OK;
}
