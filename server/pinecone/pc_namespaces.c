/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * pc_namespaces.c -- the namespace routes of the data plane (index.listNamespaces(),
 * createNamespace, describeNamespace, deleteNamespace in the client):
 *   GET    /data/{i}/namespaces?prefix=&limit=&paginationToken=
 *          -> {"namespaces": [{"name", "record_count"}], "pagination"?: {"next"}, "total_count"}
 *   POST   /data/{i}/namespaces {"name"}  -> 201 {"name", "record_count": 0}; 409 if it exists
 *   GET    /data/{i}/namespaces/{ns}      -> {"name", "record_count"}; 404 if absent
 *   DELETE /data/{i}/namespaces/{ns}      -> {} ; 404 if absent
 * A namespace is its quiver collection (pc.h), so every namespace that has one is listed,
 * empty ones included (describe_index_stats leaves those out, as Pinecone does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pc.h"

/* Records of the namespace's collection; rc QV_NOTFOUND when it has none. */
static qv_status ns_count(qsrv *s, const pc_index *ix, const char *ns, uint64_t *n) {
  qv_collection *c = NULL;
  qv_status rc = pc_ns_open(s, ix, ns, 0, &c);
  if (rc == QV_OK) rc = qv_collection_count(c, n);
  if (rc == QV_MISUSE) rc = QV_NOTFOUND; /* dropped meanwhile */
  qv_collection_release(c);
  return rc;
}

static void put_ns(sbuf *b, const char *name, uint64_t n) {
  sbuf_puts(b, "{\"name\":");
  sbuf_json_str(b, name);
  sbuf_printf(b, ",\"record_count\":%llu}", (unsigned long long)n);
}

static void list_ns(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  int bad = 0;
  char *prefix = pc_arg(rq, "prefix", &bad), *tok = pc_arg(rq, "paginationToken", &bad);
  char *lim = pc_arg(rq, "limit", &bad), *after = NULL, *next = NULL, **names = NULL;
  const char *last = NULL;
  size_t n = 0, limit = 100, shown = 0, total = 0;
  qv_status rc = QV_OK;
  sbuf b = {0};
  if (bad) {
    pc_err(rs, 400, "bad percent-encoding in the query string");
    goto done;
  }
  if (pc_page_args(rs, lim, tok, &limit, &after)) goto done;
  rc = pc_ns_list(rq->s, ix->name, &names, &n); /* sorted bytewise */
  if (rc != QV_OK) {
    pc_err_qv(rs, rq->s, rc);
    goto done;
  }
  sbuf_puts(&b, "{\"namespaces\":[");
  for (size_t i = 0; i < n; i++) {
    uint64_t cnt = 0;
    if (prefix && strncmp(names[i], prefix, strlen(prefix))) continue;
    total++;
    if (after && strcmp(names[i], after) <= 0) continue;
    if (shown == limit) {
      if (!next && !(next = pc_token_of(last))) b.oom = 1;
      continue;
    }
    rc = ns_count(rq->s, ix, names[i], &cnt);
    if (rc == QV_NOTFOUND) {
      rc = QV_OK;
      total--;
      continue;
    }
    if (rc != QV_OK) break;
    if (shown++) sbuf_putc(&b, ',');
    put_ns(&b, names[i], cnt);
    last = names[i];
  }
  if (rc != QV_OK) {
    sbuf_free(&b);
    pc_err_qv(rs, rq->s, rc);
    goto done;
  }
  sbuf_putc(&b, ']');
  if (next) {
    sbuf_puts(&b, ",\"pagination\":{\"next\":");
    sbuf_json_str(&b, next);
    sbuf_putc(&b, '}');
  }
  sbuf_printf(&b, ",\"total_count\":%zu}", total);
  sbuf_reply(&b, rs, 200);
done:
  pc_strings_free(names, n);
  free(prefix);
  free(tok);
  free(lim);
  free(after);
  free(next);
}

static void create_ns(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  json_t *body = pc_body(rq, rs, 0, 0);
  const char *name;
  qv_collection *c = NULL;
  qv_status rc;
  sbuf b = {0};
  if (!body) return;
  name = json_string_value(json_object_get(body, "name"));
  if (!name) {
    pc_err(rs, 400, "name: expected a string");
  } else if (pc_ns_check(name, rs) == 0) {
    pc_lock();
    rc = pc_ns_open(rq->s, ix, name, 0, &c);
    if (rc == QV_OK) {
      pc_err(rs, 409, "Namespace '%.100s' already exists", pc_ns_norm(name));
    } else if (rc != QV_NOTFOUND || (rc = pc_ns_open(rq->s, ix, name, 1, &c)) != QV_OK) {
      pc_err_qv(rs, rq->s, rc);
    } else {
      put_ns(&b, pc_ns_norm(name), 0);
      sbuf_reply(&b, rs, 201);
    }
    pc_unlock();
  }
  qv_collection_release(c);
  json_decref(body);
}

void pc_namespaces(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  const char *ns = rq->n_seg == 4 ? rq->seg[3] : NULL;
  char *full = NULL;
  uint64_t cnt = 0;
  qv_status rc;
  sbuf b = {0};
  if (rq->s->cluster) {
    pc_cl_namespaces(rq, rs, ix);
    return;
  }
  if (!ns) {
    if (rq->method == M_GET) list_ns(rq, rs, ix);
    else create_ns(rq, rs, ix);
    return;
  }
  if (pc_ns_check(ns, rs)) return;
  rc = ns_count(rq->s, ix, ns, &cnt);
  if (rc == QV_NOTFOUND) {
    pc_err(rs, 404, "Namespace '%.100s' not found", ns);
  } else if (rc != QV_OK) {
    pc_err_qv(rs, rq->s, rc);
  } else if (rq->method == M_GET) {
    put_ns(&b, pc_ns_norm(ns), cnt);
    sbuf_reply(&b, rs, 200);
  } else {
    pc_lock();
    rc = (full = pc_coll_name(ix->name, pc_ns_norm(ns))) ? qv_collection_delete(rq->s->db, full)
                                                        : QV_NOMEM;
    pc_unlock();
    if (rc == QV_NOTFOUND) pc_err(rs, 404, "Namespace '%.100s' not found", ns);
    else if (rc != QV_OK) pc_err_qv(rs, rq->s, rc);
    else srv_reply_text(rs, 200, "{}");
  }
  free(full);
}
