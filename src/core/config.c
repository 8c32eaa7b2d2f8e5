/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * config.c -- a collection's configuration as a face keeps it (quiver.h
 * qv_collection_opts.config_json, qv_collection_set_config).
 *
 * The Chroma face has settings quiver has no field for (embedding_function, resize_factor,
 * sync_threshold, a modified ef_search); the library keeps them, as one JSON object text,
 * in the catalog beside the index parameters (store format 4: collections.config), so they
 * are never part of the user's metadata. The library checks that the text is a JSON object
 * and otherwise keeps it as given: what it means is the face's business.
 */
#include <jansson.h>
#include <string.h>

#include "col_int.h"

qv_status qv__config_check(qv_db *db, const char *field, const char *json) {
  if (!json) return QV_OK;
  json_error_t e;
  json_t *j = json_loads(json, JSON_REJECT_DUPLICATES, &e);
  int obj = json_is_object(j);
  json_decref(j);
  if (!j) return qv__err(db, QV_INVALID, "%s: not valid JSON (%s at position %d)", field, e.text, e.position);
  if (!obj) return qv__err(db, QV_INVALID, "%s: must be a JSON object", field);
  return QV_OK;
}

qv_status qv_collection_set_config(qv_collection *c, const char *config_json) {
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv_db *db = c->db;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  if ((rc = qv__config_check(db, "config", config_json))) return rc;
  char *copy = config_json ? qv__strdup(&db->mem, config_json) : NULL;
  if (config_json && !copy) return QV_NOMEM;
  pthread_mutex_lock(&db->write_mu);
  pthread_mutex_lock(&db->cat_mu);
  char *old = c->config_json;
  c->config_json = copy;
  pthread_mutex_unlock(&db->cat_mu);
  rc = qv__col_persist(c); /* the catalog row, in its own transaction */
  pthread_mutex_lock(&db->cat_mu);
  if (rc) {
    c->config_json = old;
    old = copy;
  }
  pthread_mutex_unlock(&db->cat_mu);
  pthread_mutex_unlock(&db->write_mu);
  qv__free(&db->mem, old);
  return rc;
}
