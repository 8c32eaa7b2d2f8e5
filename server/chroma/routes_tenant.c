/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * routes_tenant.c -- tenants and databases (chroma-v2.md §6), stored by catalog.c.
 */
#include <stdio.h>
#include <string.h>

#include "srv.h"

/* Read the required {"name": string} body; NULL after replying. *j must be json_decref'd. */
static const char *body_name(srv_req *rq, srv_resp *rs, json_t **j) {
  const char *name = NULL;
  int got;
  *j = srv_parse_body(rq, rs, 0);
  if (!*j) return NULL;
  got = srv_field_str(*j, "name", &name, rs);
  if (got == 0) srv_error(rs, 422, "Failed to deserialize the JSON body: missing field `name`");
  return got == 1 ? name : NULL;
}

void route_tenant_create(srv_req *rq, srv_resp *rs) {
  json_t *j = NULL;
  const char *t = body_name(rq, rs, &j);
  qv_status rc;
  if (!t) goto cleanup;
  if (!srv_valid_tenant(t)) {
    srv_error(rs, 400, "Invalid tenant name [%.256s]: 3 to 256 characters, no '/'", t);
    goto cleanup;
  }
  rc = srv_tenant_create(rq->s, t);
  if (rc == QV_EXISTS) srv_error(rs, 409, "Tenant [%.256s] already exists", t);
  else if (rc != QV_OK) srv_error_qv(rs, rq->s, rc);
  else srv_reply_text(rs, 200, "{}");
cleanup:
  json_decref(j);
}

void route_tenant_get(srv_req *rq, srv_resp *rs, const char *t) {
  qv_status err = QV_OK;
  int ex = srv_valid_tenant(t) ? srv_tenant_exists(rq->s, t, &err) : 0;
  if (ex < 0) {
    srv_error_qv(rs, rq->s, err);
  } else if (!ex) {
    srv_error(rs, 404, "Tenant [%.256s] not found", t);
  } else {
    json_t *o = json_pack("{s:s,s:n}", "name", t, "resource_name");
    srv_reply_json(rs, 200, o);
  }
}

/* 1 if tenant t exists; otherwise replies 404 (or the error) and returns 0. */
static int need_tenant(srv_req *rq, srv_resp *rs, const char *t) {
  qv_status err = QV_OK;
  int ex = srv_valid_tenant(t) ? srv_tenant_exists(rq->s, t, &err) : 0;
  if (ex < 0) srv_error_qv(rs, rq->s, err);
  else if (!ex) srv_error(rs, 404, "Tenant [%.256s] not found", t);
  return ex == 1;
}

void route_db_create(srv_req *rq, srv_resp *rs, const char *t) {
  json_t *j = NULL;
  const char *d = body_name(rq, rs, &j);
  qv_status rc;
  if (!d) goto cleanup;
  if (!srv_valid_name(d)) {
    srv_error(rs, 400, "Invalid database name [%.512s]: 3 to 512 characters of [a-zA-Z0-9._-], "
                       "starting and ending with a letter or digit",
              d);
    goto cleanup;
  }
  if (!need_tenant(rq, rs, t)) goto cleanup;
  rc = srv_database_create(rq->s, t, d);
  if (rc == QV_EXISTS) srv_error(rs, 409, "Database [%.512s] already exists", d);
  else if (rc != QV_OK) srv_error_qv(rs, rq->s, rc);
  else srv_reply_text(rs, 200, "{}");
cleanup:
  json_decref(j);
}

void route_db_list(srv_req *rq, srv_resp *rs, const char *t) {
  size_t limit = (size_t)-1, offset = 0, n;
  qv_status err = QV_OK;
  json_t *all, *page;
  if (srv_arg_uint(rq, "limit", &limit, rs) < 0 || srv_arg_uint(rq, "offset", &offset, rs) < 0)
    return;
  all = srv_database_list(rq->s, t, &err);
  if (!all) {
    srv_error_qv(rs, rq->s, err);
    return;
  }
  page = json_array();
  n = json_array_size(all);
  for (size_t i = offset; page && i < n && i - offset < limit; i++)
    json_array_append(page, json_array_get(all, i));
  json_decref(all);
  srv_reply_json(rs, 200, page);
}

void route_db_get(srv_req *rq, srv_resp *rs, const char *t, const char *d) {
  char uuid[37];
  qv_status err = QV_OK;
  int ex;
  if (strlen(d) < 3) {
    srv_error(rs, 400, "Invalid database name [%s]: at least 3 characters", d);
    return;
  }
  ex = srv_valid_tenant(t) && srv_valid_name(d) ? srv_database_exists(rq->s, t, d, uuid, &err) : 0;
  if (ex < 0) {
    srv_error_qv(rs, rq->s, err);
  } else if (!ex) {
    srv_error(rs, 404, "Database [%.512s] not found. Are you sure it exists?", d);
  } else {
    json_t *o = json_pack("{s:s,s:s,s:s}", "id", uuid, "name", d, "tenant", t);
    srv_reply_json(rs, 200, o);
  }
}

void route_db_delete(srv_req *rq, srv_resp *rs, const char *t, const char *d) {
  qv_status rc = QV_NOTFOUND;
  if (srv_valid_tenant(t) && srv_valid_name(d)) rc = srv_database_delete(rq->s, t, d);
  if (rc == QV_NOTFOUND) srv_error(rs, 404, "Database [%.512s] not found", d);
  else if (rc != QV_OK) srv_error_qv(rs, rq->s, rc);
  else srv_reply_text(rs, 200, "{}");
}
