/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * catalog.c -- Chroma tenants and databases: the library's own (quiver.h "tenants and
 * databases"; qv_tenant_*, qv_database_*), so that whatever a face creates every face sees,
 * a database drop is one transaction, and the default tenant and database always exist (the
 * default database with the all-zero UUID, as on the reference server). These wrappers only
 * translate to the shapes the routes (and server/cluster/) want.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

int srv_tenant_exists(qsrv *s, const char *t, qv_status *err) {
  qv_status rc = qv_tenant_get(s->db, t);
  if (rc == QV_OK) return 1;
  if (rc == QV_NOTFOUND || rc == QV_INVALID) return 0;
  *err = rc;
  return -1;
}

int srv_database_exists(qsrv *s, const char *t, const char *d, char uuid_out[37], qv_status *err) {
  qv_database_info in = {.struct_size = sizeof in};
  qv_status rc = qv_database_get(s->db, t, d, &in);
  if (rc == QV_NOTFOUND || rc == QV_INVALID) return 0;
  if (rc != QV_OK) {
    *err = rc;
    return -1;
  }
  if (uuid_out) snprintf(uuid_out, 37, "%s", in.uuid);
  qv_database_info_free(&in);
  return 1;
}

qv_status srv_tenant_create(qsrv *s, const char *t) { return qv_tenant_create(s->db, t); }

qv_status srv_database_create(qsrv *s, const char *t, const char *d) {
  return qv_database_create(s->db, t, d, NULL, NULL);
}

qv_status srv_database_delete(qsrv *s, const char *t, const char *d) {
  qv_status rc = qv_database_delete(s->db, t, d, NULL);
  if (rc == QV_OK) pc_cache_forget(t, d); /* it may have been a Pinecone index */
  return rc;
}

json_t *srv_database_list(qsrv *s, const char *t, qv_status *err) {
  char **names = NULL;
  size_t n = 0;
  json_t *arr;
  *err = qv_database_list(s->db, t, &names, &n);
  if (*err == QV_NOTFOUND || *err == QV_INVALID) { /* an unknown tenant has no databases */
    *err = QV_OK;
    return json_array();
  }
  if (*err != QV_OK) return NULL;
  arr = json_array();
  for (size_t i = 0; arr && i < n; i++) {
    char uuid[37];
    qv_status e = QV_OK;
    if (srv_database_exists(s, t, names[i], uuid, &e) != 1) continue; /* dropped meanwhile */
    if (json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "id", uuid, "name", names[i], "tenant", t))) {
      json_decref(arr);
      arr = NULL;
    }
  }
  qv_strings_free(names);
  if (!arr) *err = QV_NOMEM;
  return arr;
}

qv_status srv_catalog_reset(qsrv *s) {
  char **tenants = NULL;
  size_t n = 0;
  qv_status rc = qv_tenant_list(s->db, &tenants, &n);
  /* every tenant, each in one transaction; the default tenant and database stay, emptied */
  for (size_t i = 0; rc == QV_OK && i < n; i++) {
    rc = qv_tenant_delete(s->db, tenants[i]);
    if (rc == QV_NOTFOUND) rc = QV_OK; /* deleted concurrently */
  }
  qv_strings_free(tenants);
  pc_cache_forget(NULL, NULL);
  return rc;
}
