/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * position.c -- positions: named 64-bit values a caller stores in the same SQLite transaction
 * as a write batch (qv_batch.position_key, qv_delete_opts.position_key) or alone
 * (qv_db_position_set), and reads back after a restart (qv_db_position_get).
 *
 * What for: a process that applies an external, ordered log (a replicated stream) into a
 * database stores the log offset it has applied with each batch; after a crash the offset and
 * the data agree, so it resumes exactly after the last applied batch (exactly-once apply).
 *
 * Stored as qv_info rows 'pos:' || key (store_sqlite.c); mirrored in db->pos under pos_mu,
 * updated after COMMIT returned. In-memory databases keep only the mirror.
 */
#include <string.h>

#include "col_int.h"
#include "store.h"

#define QV_POS_MAX_KEY 256

qv_status qv__pos_check(qv_db *db, const char *key) {
  if (!key || !*key) return qv__err(db, QV_INVALID, "position_key: must be a non-empty string");
  if (strlen(key) > QV_POS_MAX_KEY)
    return qv__err(db, QV_INVALID, "position_key: longer than %d bytes", QV_POS_MAX_KEY);
  for (const unsigned char *p = (const unsigned char *)key; *p; p++)
    if (*p < 0x20) return qv__err(db, QV_INVALID, "position_key: control character at byte %zu", (size_t)(p - (const unsigned char *)key));
  return QV_OK;
}

static struct qv__pos *find(qv_db *db, const char *key) {
  for (size_t i = 0; i < db->n_pos; i++)
    if (!strcmp(db->pos[i].key, key)) return &db->pos[i];
  return NULL;
}

qv_status qv__pos_note(qv_db *db, const char *key, uint64_t value) {
  qv_status rc = QV_OK;
  pthread_mutex_lock(&db->pos_mu);
  struct qv__pos *p = find(db, key);
  if (p) {
    p->value = value;
  } else {
    if (db->n_pos == db->cap_pos) {
      size_t nc = db->cap_pos ? db->cap_pos * 2 : 8;
      struct qv__pos *np = qv__realloc(&db->mem, db->pos, nc * sizeof *np);
      if (!np) rc = QV_NOMEM;
      else db->pos = np, db->cap_pos = nc;
    }
    char *k = rc == QV_OK ? qv__strdup(&db->mem, key) : NULL;
    if (rc == QV_OK && !k) rc = QV_NOMEM;
    if (rc == QV_OK) {
      db->pos[db->n_pos].key = k;
      db->pos[db->n_pos++].value = value;
    }
  }
  pthread_mutex_unlock(&db->pos_mu);
  return rc;
}

static qv_status load_one(void *ctx, const char *key, uint64_t value) {
  return key ? qv__pos_note(ctx, key, value) : QV_OK;
}

qv_status qv__pos_load(qv_db *db) { return db->store ? qv__store_pos_scan(db->store, load_one, db) : QV_OK; }

void qv__pos_free(qv_db *db) {
  for (size_t i = 0; i < db->n_pos; i++) qv__free(&db->mem, db->pos[i].key);
  qv__free(&db->mem, db->pos);
  db->pos = NULL;
  db->n_pos = db->cap_pos = 0;
}

qv_status qv__pos_commit_alone(qv_db *db, const char *key, uint64_t value) {
  qv_status rc = QV_OK;
  pthread_mutex_lock(&db->write_mu);
  if (db->store) {
    rc = qv__store_begin(db->store);
    if (rc == QV_OK) rc = qv__store_pos_put(db->store, key, value);
    if (rc == QV_OK) rc = qv__store_commit(db->store, db->seq); /* rolls back on failure */
    else qv__store_rollback(db->store);
    if (rc) qv__err(db, rc, "%s", qv__store_errmsg(db->store));
  }
  if (rc == QV_OK) rc = qv__pos_note(db, key, value);
  pthread_mutex_unlock(&db->write_mu);
  return rc;
}

qv_status qv_db_position_set(qv_db *db, const char *key, uint64_t value) {
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  qv_status rc = qv__pos_check(db, key);
  return rc ? rc : qv__pos_commit_alone(db, key, value);
}

qv_status qv_db_position_get(qv_db *db, const char *key, uint64_t *out) {
  if (out) *out = 0;
  if (!db || !out) return QV_MISUSE;
  qv__err_clear(db);
  qv_status rc = qv__pos_check(db, key);
  if (rc) return rc;
  pthread_mutex_lock(&db->pos_mu);
  struct qv__pos *p = find(db, key);
  if (p) *out = p->value;
  pthread_mutex_unlock(&db->pos_mu);
  return p ? QV_OK : qv__err(db, QV_NOTFOUND, "no position named '%s'", key);
}
