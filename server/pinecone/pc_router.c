/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * pc_router.c -- the Pinecone listener (--pinecone-port): auth, routing, error bodies.
 *
 * Paths (the control plane at the root, each index's data plane under /data/{index}, which
 * is the `host` the control plane hands out):
 *   /indexes                         GET list, POST create
 *   /indexes/{name}                  GET describe, DELETE
 *   /data/{index}/vectors/upsert     POST
 *   /data/{index}/query              POST
 *   /data/{index}/vectors/fetch      GET  ?ids=..&ids=..&namespace=..
 *   /data/{index}/vectors/update     POST
 *   /data/{index}/vectors/delete     POST
 *   /data/{index}/vectors/list       GET  ?prefix=&limit=&paginationToken=&namespace=
 *   /data/{index}/describe_index_stats  POST (or GET)
 *   /data/{index}/namespaces         GET list (?prefix=&limit=&paginationToken=), POST create
 *   /data/{index}/namespaces/{ns}    GET describe, DELETE
 *
 * Errors: the client reads a top-level "message" from the body and picks its error class
 * from the status alone (400/403 PineconeBadRequestError, 401 PineconeAuthorizationError,
 * 404 PineconeNotFoundError, 409 PineconeConflictError, ...). Every 5xx is retried by the
 * client, so no user error is ever a 5xx. Data-plane bodies are Pinecone's RpcStatus
 * {"code", "message", "details"}; control-plane bodies its ErrorResponse {"status",
 * "error": {"code", "message"}}, plus the same text as a top-level "message" so the client
 * shows the text rather than the JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pc.h"

/* ------------------------------------------------------------------ errors */

static int grpc_code(int status) {
  switch (status) {
  case 400: return 3;  /* INVALID_ARGUMENT */
  case 401: return 16; /* UNAUTHENTICATED */
  case 403: return 7;  /* PERMISSION_DENIED */
  case 404: return 5;  /* NOT_FOUND */
  case 405: return 12; /* UNIMPLEMENTED */
  case 409: return 6;  /* ALREADY_EXISTS */
  case 413: return 8;  /* RESOURCE_EXHAUSTED */
  case 503: return 14; /* UNAVAILABLE */
  default: return status >= 500 ? 13 : 2; /* INTERNAL, UNKNOWN */
  }
}

static const char *control_code(int status) {
  switch (status) {
  case 400: return "INVALID_ARGUMENT";
  case 401: return "UNAUTHENTICATED";
  case 403: return "FORBIDDEN";
  case 404: return "NOT_FOUND";
  case 405: return "METHOD_NOT_ALLOWED";
  case 409: return "ALREADY_EXISTS";
  case 413: return "PAYLOAD_TOO_LARGE";
  default: return status >= 500 ? "INTERNAL" : "UNKNOWN";
  }
}

static void set_body(srv_resp *rs, int status, sbuf *b) {
  if (b->oom) {
    sbuf_free(b);
    srv_reply_text(rs, 500, "{\"code\":13,\"message\":\"out of memory\",\"details\":[]}");
    return;
  }
  free(rs->body);
  rs->status = status;
  rs->body = b->p;
  rs->len = b->len;
}

void pc_err(srv_resp *rs, int status, const char *fmt, ...) {
  char msg[1024];
  sbuf b = {0};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sbuf_printf(&b, "{\"code\":%d,\"message\":", grpc_code(status));
  sbuf_json_str(&b, msg);
  sbuf_puts(&b, ",\"details\":[]}");
  set_body(rs, status, &b);
}

void pc_cerr(srv_resp *rs, int status, const char *fmt, ...) {
  char msg[1024];
  sbuf b = {0};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sbuf_printf(&b, "{\"status\":%d,\"error\":{\"code\":\"%s\",\"message\":", status,
              control_code(status));
  sbuf_json_str(&b, msg);
  sbuf_puts(&b, "},\"message\":");
  sbuf_json_str(&b, msg);
  sbuf_putc(&b, '}');
  set_body(rs, status, &b);
}

void pc_err_qv(srv_resp *rs, qsrv *s, qv_status rc) {
  const char *msg = qv_db_errmsg(s->db);
  int status = qv_status_http(rc);
  if (!msg || !*msg) msg = qv_status_str(rc);
  if (status == 422) status = 400;
  pc_err(rs, status, "%s", msg);
}

json_t *pc_body(const srv_req *rq, srv_resp *rs, int allow_empty, int control) {
  srv_resp tmp = {0};
  json_t *j = srv_parse_body(rq, &tmp, allow_empty);
  json_t *e;
  const char *msg;
  if (j) return j;
  e = tmp.body ? json_loadb(tmp.body, tmp.len, 0, NULL) : NULL;
  msg = json_string_value(json_object_get(e, "message"));
  if (!msg) msg = "Failed to parse the request body as JSON";
  if (control) pc_cerr(rs, 400, "%s", msg);
  else pc_err(rs, 400, "%s", msg);
  json_decref(e);
  free(tmp.body);
  return NULL;
}

/* ------------------------------------------------------------------ query arguments */

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char *pc_arg_decode(const char *raw) {
  size_t n = strlen(raw), o = 0;
  char *out = malloc(n + 1);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (raw[i] == '%') {
      int hi = i + 2 < n ? hexv(raw[i + 1]) : -1;
      int lo = i + 2 < n ? hexv(raw[i + 2]) : -1;
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
        free(out);
        return NULL;
      }
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[o++] = raw[i] == '+' ? ' ' : raw[i];
    }
  }
  out[o] = '\0';
  return out;
}

char *pc_arg(const srv_req *rq, const char *name, int *bad) {
  const char *raw = srv_req_arg(rq, name);
  char *v;
  if (!raw) return NULL;
  v = pc_arg_decode(raw);
  if (!v) *bad = 1;
  return v;
}

/* ------------------------------------------------------------------ routing */

static int eq(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* The Api-Key header against the server's token, in constant time. */
static int authorized(srv_req *rq) {
  qsrv *s = rq->s;
  const char *v;
  if (!s->token) return 1;
  v = srv_req_header(rq, "Api-Key");
  return v && srv_ct_equal(s->token, s->token_len, v, strlen(v));
}

int pc_data_index(srv_req *rq, srv_resp *rs, const char *name, pc_index *out) {
  qv_status err = QV_OK;
  int found = pc_index_get(rq->s, name, out, &err);
  if (found == 1) return 0;
  if (found == 0) pc_err(rs, 404, "Index '%.100s' not found", name);
  else if (rq->s->cluster) pc_err(rs, 503, "the cluster catalog (NATS JetStream) is not reachable");
  else pc_err_qv(rs, rq->s, err);
  return -1;
}

/* /data/{index}/... */
static void data_routes(srv_req *rq, srv_resp *rs) {
  static const struct {
    const char *a, *b; /* one or two path segments after /data/{index} */
    srv_route route;
    int method, alt;   /* alt: a second accepted method, or 0 */
    void (*fn)(srv_req *, srv_resp *, const pc_index *);
  } tab[] = {
      {"vectors", "upsert", R_PC_UPSERT, M_POST, 0, pc_upsert},
      {"query", NULL, R_PC_QUERY, M_POST, 0, pc_query},
      {"vectors", "fetch", R_PC_FETCH, M_GET, 0, pc_fetch},
      {"vectors", "update", R_PC_UPDATE, M_POST, 0, pc_update},
      {"vectors", "delete", R_PC_DELETE, M_POST, 0, pc_delete},
      {"vectors", "list", R_PC_LIST, M_GET, 0, pc_list},
      {"describe_index_stats", NULL, R_PC_STATS, M_POST, M_GET, pc_stats},
  };
  int n = rq->n_seg;
  if (eq(rq->seg[2], "namespaces") && n <= 4) {
    pc_index ix;
    int m = rq->method;
    rs->route = R_PC_NAMESPACES;
    if (n == 3 ? m != M_GET && m != M_POST : m != M_GET && m != M_DELETE)
      pc_err(rs, 405, "Method not allowed on this route");
    else if (pc_data_index(rq, rs, rq->seg[1], &ix) == 0)
      pc_namespaces(rq, rs, &ix);
    return;
  }
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
    pc_index ix;
    if (n != (tab[i].b ? 4 : 3) || !eq(rq->seg[2], tab[i].a) || (tab[i].b && !eq(rq->seg[3], tab[i].b)))
      continue;
    rs->route = tab[i].route;
    if (rq->method != tab[i].method && rq->method != tab[i].alt) {
      pc_err(rs, 405, "Method not allowed on this route");
      return;
    }
    if (pc_data_index(rq, rs, rq->seg[1], &ix) == 0) tab[i].fn(rq, rs, &ix);
    return;
  }
  pc_err(rs, 404, "Not found: no such route");
}

void pc_handle(srv_req *rq, srv_resp *rs, const char *url, int path_ok, int too_big) {
  int control = strncmp(url, "/data/", 6) != 0;
  if (too_big) {
    if (control) pc_cerr(rs, 413, "Payload too large: the body exceeds the server's --max-body");
    else pc_err(rs, 413, "Payload too large: the body exceeds the server's --max-body");
    return;
  }
  rs->route = R_PC_CONTROL;
  if (!path_ok) {
    pc_err(rs, 400, "Invalid request path");
  } else if (!authorized(rq)) {
    if (control) pc_cerr(rs, 401, "Invalid API Key: missing or wrong Api-Key header");
    else pc_err(rs, 401, "Invalid API Key: missing or wrong Api-Key header");
  } else if (rq->n_seg == 1 && eq(rq->seg[0], "indexes")) {
    pc_route_indexes(rq, rs);
  } else if (rq->n_seg == 2 && eq(rq->seg[0], "indexes")) {
    pc_route_index(rq, rs, rq->seg[1]);
  } else if (rq->n_seg >= 3 && eq(rq->seg[0], "data")) {
    data_routes(rq, rs);
  } else if (control) {
    pc_cerr(rs, 404, "Not found: no such route");
  } else {
    pc_err(rs, 404, "Not found: no such route");
  }
}
