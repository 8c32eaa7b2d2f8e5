/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * pc_control.c -- Pinecone's control plane, as much of it as the client needs to create,
 * describe, list and delete indexes and to resolve an index's data-plane host.
 *
 * An index is ready as soon as it exists (status.ready true, so the client's waitUntilReady
 * returns at its first poll). Its `host` is this listener, as the client reached it (the
 * request's Host header), with the scheme -- the client prepends https:// to a host without
 * one -- and the path /data/{name}: "http://127.0.0.1:5080/data/my-index".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pc.h"

/* "host:port" the client used, or the listener's address when the Host header is absent or
 * odd (only [A-Za-z0-9.:[]-] is echoed back). */
static void base_host(srv_req *rq, char *out, size_t cap) {
  const char *h = srv_req_header(rq, "Host");
  int ok = h && *h && strlen(h) < 200;
  for (const char *p = h; ok && *p; p++)
    ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
         strchr(".:[]-", *p) != NULL;
  if (ok) {
    snprintf(out, cap, "%s", h);
  } else {
    const char *host = rq->s->host;
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::") || !*host) host = "127.0.0.1";
    if (strchr(host, ':')) snprintf(out, cap, "[%s]:%d", host, rq->s->pc_port);
    else snprintf(out, cap, "%s:%d", host, rq->s->pc_port);
  }
}

/* The index catalog failed: quiver's message on one node; in cluster mode the catalog is the
 * NATS bucket (pc_cluster.c), which was not reachable. */
static void catalog_err(srv_req *rq, srv_resp *rs) {
  if (rq->s->cluster) pc_cerr(rs, 503, "the cluster catalog (NATS JetStream) is not reachable");
  else pc_cerr(rs, 500, "%s", qv_db_errmsg(rq->s->db));
}

static json_t *index_model(srv_req *rq, const pc_index *ix) {
  char host[256], url[400];
  base_host(rq, host, sizeof host);
  snprintf(url, sizeof url, "http://%s/data/%s", host, ix->name);
  return json_pack("{s:s,s:I,s:s,s:s,s:s,s:{s:{s:s,s:s}},s:{s:b,s:s},s:s,s:o}", "name", ix->name,
                   "dimension", (json_int_t)ix->dim, "metric", pc_metric_name(ix->metric), "host",
                   url, "deletion_protection", ix->protect ? "enabled" : "disabled", "spec",
                   "serverless", "cloud", "aws", "region", "us-east-1", "status", "ready", 1,
                   "state", "Ready", "vector_type", "dense", "tags", json_object());
}

static void reply_model(srv_req *rq, srv_resp *rs, int status, const pc_index *ix) {
  json_t *j = index_model(rq, ix);
  if (!j) pc_cerr(rs, 500, "out of memory");
  else srv_reply_json(rs, status, j);
}

static void list_indexes(srv_req *rq, srv_resp *rs) {
  pc_index *v = NULL;
  size_t n = 0;
  json_t *arr;
  qv_status rc = pc_index_list(rq->s, &v, &n);
  if (rc != QV_OK) {
    catalog_err(rq, rs);
    return;
  }
  arr = json_array();
  for (size_t i = 0; arr && i < n; i++)
    if (json_array_append_new(arr, index_model(rq, &v[i]))) {
      json_decref(arr);
      arr = NULL;
    }
  free(v);
  if (!arr) pc_cerr(rs, 500, "out of memory");
  else srv_reply_json(rs, 200, json_pack("{s:o}", "indexes", arr));
}

static void create_index(srv_req *rq, srv_resp *rs) {
  json_t *body = pc_body(rq, rs, 0, 1), *dim, *spec;
  const char *name, *metric, *vtype, *prot;
  pc_index ix;
  time_t now = time(NULL);
  struct tm tm;
  qv_status rc;
  if (!body) return;
  memset(&ix, 0, sizeof ix);
  name = json_string_value(json_object_get(body, "name"));
  metric = json_string_value(json_object_get(body, "metric"));
  vtype = json_string_value(json_object_get(body, "vector_type"));
  prot = json_string_value(json_object_get(body, "deletion_protection"));
  dim = json_object_get(body, "dimension");
  spec = json_object_get(body, "spec");
  if (!name || !pc_valid_index_name(name)) {
    pc_cerr(rs, 400, "Invalid index name '%.100s': it must consist of lower case alphanumeric "
                     "characters or '-', start and end with an alphanumeric character, and be 1 "
                     "to 45 characters long", name ? name : "");
  } else if (vtype && strcmp(vtype, "dense") != 0) {
    pc_cerr(rs, 400, "vector_type '%.40s' is not supported: quiver serves dense indexes only "
                     "(sparse values go with dense ones in a 'dotproduct' index)", vtype);
  } else if (!json_is_integer(dim) || json_integer_value(dim) < 1 ||
             json_integer_value(dim) > PC_MAX_DIM) {
    pc_cerr(rs, 400, "dimension: expected an integer from 1 to %d", PC_MAX_DIM);
  } else if (json_object_get(body, "metric") && !json_is_null(json_object_get(body, "metric")) &&
             (!metric || (strcmp(metric, "cosine") && strcmp(metric, "euclidean") &&
                          strcmp(metric, "dotproduct")))) {
    pc_cerr(rs, 400, "metric: expected 'cosine', 'euclidean' or 'dotproduct'");
  } else if (prot && strcmp(prot, "enabled") && strcmp(prot, "disabled")) {
    pc_cerr(rs, 400, "deletion_protection: expected 'enabled' or 'disabled'");
  } else if (!json_is_object(spec)) {
    pc_cerr(rs, 400, "spec: expected an object (e.g. {\"serverless\": {\"cloud\": \"aws\", "
                     "\"region\": \"us-east-1\"}})");
  } else {
    snprintf(ix.name, sizeof ix.name, "%s", name);
    ix.dim = (uint32_t)json_integer_value(dim);
    ix.metric = !metric || !strcmp(metric, "cosine") ? PC_COSINE
                : !strcmp(metric, "euclidean")       ? PC_EUCLIDEAN
                                                     : PC_DOTPRODUCT;
    ix.protect = prot && !strcmp(prot, "enabled");
    gmtime_r(&now, &tm);
    strftime(ix.created, sizeof ix.created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    rc = pc_index_put(rq->s, &ix);
    if (rc == QV_EXISTS) pc_cerr(rs, 409, "Resource %s already exists", name);
    else if (rc != QV_OK) catalog_err(rq, rs);
    else reply_model(rq, rs, 201, &ix);
  }
  json_decref(body);
}

void pc_route_indexes(srv_req *rq, srv_resp *rs) {
  if (rq->method == M_GET) list_indexes(rq, rs);
  else if (rq->method == M_POST) create_index(rq, rs);
  else pc_cerr(rs, 405, "Method not allowed on this route");
}

void pc_route_index(srv_req *rq, srv_resp *rs, const char *name) {
  pc_index ix;
  qv_status err = QV_OK;
  int found;
  if (rq->method != M_GET && rq->method != M_DELETE) {
    pc_cerr(rs, 405, "Method not allowed on this route");
    return;
  }
  found = pc_index_get(rq->s, name, &ix, &err);
  if (found < 0) {
    catalog_err(rq, rs);
  } else if (found == 0) {
    pc_cerr(rs, 404, "Resource %.100s not found", name);
  } else if (rq->method == M_GET) {
    reply_model(rq, rs, 200, &ix);
  } else if (ix.protect) {
    pc_cerr(rs, 403, "Deletion protection is enabled for this index. Disable deletion "
                     "protection before retrying.");
  } else {
    err = pc_index_drop(rq->s, name);
    if (err == QV_NOTFOUND) pc_cerr(rs, 404, "Resource %.100s not found", name);
    else if (err != QV_OK) catalog_err(rq, rs);
    else srv_reply_text(rs, 202, "");
  }
}
