/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * catalog.c -- Chroma tenants and databases, which quiver has no notion of.
 *
 * They are records of the reserved quiver collection SRV_CATALOG (dimension 1, flat; the
 * embedding is a dummy [0]):
 *   id "tenant:{t}"        metadata {"kind":"tenant","name":t}
 *   id "database:{t}/{d}"  metadata {"kind":"database","tenant":t,"name":d,"id":uuid}
 * Existence checks are id lookups; creation is qv_collection_add with QV_CONFLICT_ERROR, so
 * two racing creates give one 200 and one 409 without any lock of our own. The default
 * tenant and database are (re)created at start-up with QV_CONFLICT_IGNORE; the default
 * database has the all-zero UUID, as on the reference server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

#define ZERO_UUID "00000000-0000-0000-0000-000000000000"

static const float dummy_vec[1] = {0.0f};

/* Add one catalog record with metadata m (a JSON object, reference kept by the caller). */
static qv_status put_record(qsrv *s, const char *id, json_t *m, qv_conflict on_conflict) {
  qv_status rc;
  char *text = json_dumps(m, JSON_COMPACT);
  const char *ids[1] = {id};
  const char *metas[1];
  qv_batch b;
  if (!text) return QV_NOMEM;
  metas[0] = text;
  memset(&b, 0, sizeof b);
  b.n = 1;
  b.ids = ids;
  b.embeddings = dummy_vec;
  b.dim = 1;
  b.metadatas = metas;
  rc = qv_collection_add(s->catalog, &b, on_conflict);
  free(text);
  return rc;
}

/* Fetch one catalog record by id; *r gets the results (caller frees) or NULL when absent. */
static qv_status get_record(qsrv *s, const char *id, qv_results **r) {
  qv_get_opts o;
  const char *ids[1] = {id};
  qv_status rc;
  qv_get_opts_init(&o);
  o.ids = ids;
  o.n_ids = 1;
  o.include = QV_INCLUDE_METADATAS;
  rc = qv_collection_get_records(s->catalog, &o, r);
  if (rc == QV_OK && qv_results_count(*r, 0) == 0) {
    qv_results_free(*r);
    *r = NULL;
  }
  return rc;
}

static char *db_key(const char *t, const char *d) {
  size_t n = strlen(t) + strlen(d) + 16;
  char *k = malloc(n);
  if (k) snprintf(k, n, "database:%s/%s", t, d);
  return k;
}

int srv_tenant_exists(qsrv *s, const char *t, qv_status *err) {
  qv_results *r = NULL;
  size_t n = strlen(t) + 8;
  char *k = malloc(n);
  qv_status rc;
  if (!k) {
    *err = QV_NOMEM;
    return -1;
  }
  snprintf(k, n, "tenant:%s", t);
  rc = get_record(s, k, &r);
  free(k);
  qv_results_free(r);
  if (rc != QV_OK) {
    *err = rc;
    return -1;
  }
  return r != NULL;
}

int srv_database_exists(qsrv *s, const char *t, const char *d, char uuid_out[37], qv_status *err) {
  qv_results *r = NULL;
  char *k = db_key(t, d);
  qv_status rc;
  if (!k) {
    *err = QV_NOMEM;
    return -1;
  }
  rc = get_record(s, k, &r);
  free(k);
  if (rc != QV_OK) {
    *err = rc;
    return -1;
  }
  if (!r) return 0;
  if (uuid_out) {
    json_t *m = json_loads(qv_results_metadata(r, 0, 0) ? qv_results_metadata(r, 0, 0) : "{}",
                           0, NULL);
    const char *u = json_string_value(json_object_get(m, "id"));
    snprintf(uuid_out, 37, "%s", u ? u : ZERO_UUID);
    json_decref(m);
  }
  qv_results_free(r);
  return 1;
}

qv_status srv_tenant_create(qsrv *s, const char *t) {
  size_t n = strlen(t) + 8;
  char *k = malloc(n);
  json_t *m = json_pack("{s:s,s:s}", "kind", "tenant", "name", t);
  qv_status rc = QV_NOMEM;
  if (k && m) {
    snprintf(k, n, "tenant:%s", t);
    rc = put_record(s, k, m, QV_CONFLICT_ERROR);
  }
  free(k);
  json_decref(m);
  return rc;
}

static qv_status database_put(qsrv *s, const char *t, const char *d, const char *uuid,
                              qv_conflict on_conflict) {
  char *k = db_key(t, d);
  json_t *m = json_pack("{s:s,s:s,s:s,s:s}", "kind", "database", "tenant", t, "name", d, "id", uuid);
  qv_status rc = QV_NOMEM;
  if (k && m) rc = put_record(s, k, m, on_conflict);
  free(k);
  json_decref(m);
  return rc;
}

qv_status srv_database_create(qsrv *s, const char *t, const char *d) {
  char uuid[37];
  srv_uuid4(uuid);
  return database_put(s, t, d, uuid, QV_CONFLICT_ERROR);
}

/* Delete every quiver collection whose name starts with prefix. */
static qv_status drop_prefixed(qsrv *s, const char *prefix) {
  char **names = NULL;
  size_t n = 0, plen = strlen(prefix);
  qv_status rc = qv_collection_list(s->db, &names, &n);
  if (rc != QV_OK) return rc;
  for (size_t i = 0; i < n && rc == QV_OK; i++) {
    if (strncmp(names[i], prefix, plen) != 0) continue;
    rc = qv_collection_delete(s->db, names[i]);
    if (rc == QV_NOTFOUND) rc = QV_OK; /* dropped concurrently */
  }
  qv_strings_free(names);
  return rc;
}

qv_status srv_database_delete(qsrv *s, const char *t, const char *d) {
  char *k = db_key(t, d);
  size_t n = strlen(t) + strlen(d) + 3, n_del = 0;
  char *prefix = malloc(n);
  qv_status rc = QV_NOMEM;
  const char *ids[1];
  if (!k || !prefix) goto cleanup;
  snprintf(prefix, n, "%s/%s/", t, d);
  ids[0] = k;
  rc = qv_collection_delete_records(s->catalog, ids, 1, NULL, NULL, 0, &n_del);
  if (rc != QV_OK) goto cleanup;
  if (n_del == 0) {
    rc = QV_NOTFOUND;
    goto cleanup;
  }
  rc = drop_prefixed(s, prefix);
cleanup:
  free(k);
  free(prefix);
  return rc;
}

static int cmp_db_name(const void *a, const void *b) {
  json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  return strcmp(json_string_value(json_object_get(x, "name")),
                json_string_value(json_object_get(y, "name")));
}

/* The Database object {id, name, tenant} of one catalog metadata text, or NULL. */
static json_t *db_object(const char *meta) {
  json_t *m = meta ? json_loads(meta, 0, NULL) : NULL;
  json_t *o = NULL;
  const char *id = json_string_value(json_object_get(m, "id"));
  const char *name = json_string_value(json_object_get(m, "name"));
  const char *t = json_string_value(json_object_get(m, "tenant"));
  if (id && name && t) o = json_pack("{s:s,s:s,s:s}", "id", id, "name", name, "tenant", t);
  json_decref(m);
  return o;
}

json_t *srv_database_list(qsrv *s, const char *t, qv_status *err) {
  qv_get_opts o;
  qv_results *r = NULL;
  json_t *where = json_pack("{s:[{s:s},{s:s}]}", "$and", "kind", "database", "tenant", t);
  char *wtext = where ? json_dumps(where, JSON_COMPACT) : NULL;
  json_t **items = NULL, *arr = NULL;
  size_t n = 0, k = 0;
  *err = QV_NOMEM;
  if (!wtext) goto cleanup;
  qv_get_opts_init(&o);
  o.where_json = wtext;
  o.include = QV_INCLUDE_METADATAS;
  *err = qv_collection_get_records(s->catalog, &o, &r);
  if (*err != QV_OK) goto cleanup;
  n = qv_results_count(r, 0);
  items = calloc(n + 1, sizeof *items);
  *err = QV_NOMEM;
  if (!items) goto cleanup;
  for (size_t i = 0; i < n; i++)
    if ((items[k] = db_object(qv_results_metadata(r, 0, i)))) k++;
  qsort(items, k, sizeof *items, cmp_db_name);
  arr = json_array();
  for (size_t i = 0; arr && i < k; i++) json_array_append(arr, items[i]);
  if (arr) *err = QV_OK;
cleanup:
  for (size_t i = 0; items && i < k; i++) json_decref(items[i]);
  free(items);
  qv_results_free(r);
  free(wtext);
  json_decref(where);
  return arr;
}

static qv_status ensure_defaults(qsrv *s) {
  qv_status rc = srv_tenant_create(s, SRV_DEFAULT_TENANT);
  if (rc != QV_OK && rc != QV_EXISTS) return rc;
  return database_put(s, SRV_DEFAULT_TENANT, SRV_DEFAULT_DATABASE, ZERO_UUID, QV_CONFLICT_IGNORE);
}

qv_status srv_catalog_init(qsrv *s) {
  qv_collection_opts o;
  qv_status rc;
  qv_collection_opts_init(&o);
  o.dim = 1;
  o.metric = QV_METRIC_L2;
  o.index = "flat";
  rc = qv_collection_get_or_create(s->db, SRV_CATALOG, &o, &s->catalog, NULL);
  if (rc != QV_OK) return rc;
  return ensure_defaults(s);
}

/* Server collections are the ones with a '/' in their name; the catalog handle survives. */
qv_status srv_catalog_reset(qsrv *s) {
  char **names = NULL;
  size_t n = 0, n_del = 0;
  qv_status rc = qv_collection_list(s->db, &names, &n);
  if (rc != QV_OK) return rc;
  for (size_t i = 0; i < n && rc == QV_OK; i++) {
    if (!strchr(names[i], '/')) continue;
    rc = qv_collection_delete(s->db, names[i]);
    if (rc == QV_NOTFOUND) rc = QV_OK;
  }
  qv_strings_free(names);
  if (rc != QV_OK) return rc;
  rc = qv_collection_delete_records(s->catalog, NULL, 0,
                                    "{\"kind\":{\"$in\":[\"tenant\",\"database\"]}}", NULL, 0,
                                    &n_del);
  if (rc != QV_OK) return rc;
  return ensure_defaults(s);
}
