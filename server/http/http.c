/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * http.c -- libmicrohttpd glue: one request in, one JSON response out.
 *
 * libmicrohttpd calls on_request() several times per request: once when the headers are in
 * (we allocate a conn_ctx, check the declared Content-Length and may answer 413 at once),
 * once per chunk of body (appended to ctx->body, or discarded past the limit), and once more
 * with no data when the request is complete: only then is the request authenticated, routed
 * and answered. on_completed() frees the context, whatever happened to the connection.
 *
 * Invariants:
 *   - every response carries Content-Type: application/json (the Chroma client relies on it);
 *   - s->in_flight counts requests between their first callback and on_completed(), so the
 *     shutdown in main.c can wait for them after the listening socket is closed;
 *   - the URL is not unescaped by libmicrohttpd (unescape_none): each path segment is
 *     percent-decoded here, after splitting, so "%2F" inside a segment stays in the segment.
 *
 * Threading model (--threads): 0 = a thread per connection (the default: handlers block on
 * quiver calls and keep-alive clients each get their own core), N = an epoll thread pool.
 */
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "srv.h"

typedef struct conn_ctx {
  char *body;
  size_t len, cap;
  int too_big;      /* body exceeded max_body; answer 413 at the end */
  int answered;     /* a response was already queued (early 413) */
  struct timespec t0;
} conn_ctx;

static double elapsed(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) * 1e-9;
}

const char *srv_req_arg(const srv_req *rq, const char *name) {
  if (!rq->conn) return NULL;
  return MHD_lookup_connection_value((struct MHD_Connection *)rq->conn, MHD_GET_ARGUMENT_KIND,
                                     name);
}

const char *srv_req_header(const srv_req *rq, const char *name) {
  if (!rq->conn) return NULL;
  return MHD_lookup_connection_value((struct MHD_Connection *)rq->conn, MHD_HEADER_KIND, name);
}

typedef struct args_acc {
  const char *name;
  const char **out;
  size_t max, n;
} args_acc;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value) {
  args_acc *a = cls;
  (void)kind;
  if (key && strcmp(key, a->name) == 0) {
    if (a->n < a->max) a->out[a->n] = value ? value : "";
    a->n++;
  }
  return MHD_YES;
}

size_t srv_req_args(const srv_req *rq, const char *name, const char **out, size_t max) {
  args_acc a = {name, out, max, 0};
  if (!rq->conn) return 0;
  MHD_get_connection_values((struct MHD_Connection *)rq->conn, MHD_GET_ARGUMENT_KIND,
                            collect_arg, &a);
  return a.n;
}

/* ------------------------------------------------------------------ sending */

static enum MHD_Result send_resp(struct MHD_Connection *conn, srv_resp *rs) {
  struct MHD_Response *r;
  enum MHD_Result ret;
  if (!rs->body) { /* handlers that reply "{}" leave body NULL */
    rs->body = malloc(3);
    if (rs->body) {
      memcpy(rs->body, "{}", 3);
      rs->len = 2;
    }
  }
  if (rs->body)
    r = MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_MUST_FREE);
  else
    r = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
  if (!r) {
    free(rs->body);
    rs->body = NULL;
    free(rs->token);
    rs->token = NULL;
    return MHD_NO;
  }
  rs->body = NULL; /* owned by the response now */
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                          rs->content_type ? rs->content_type : "application/json");
  if (rs->token) { /* cluster writes: the read-your-writes token (server/cluster/cl_write.c) */
    MHD_add_response_header(r, "X-Quiver-Token", rs->token);
    free(rs->token);
    rs->token = NULL;
  }
  ret = MHD_queue_response(conn, (unsigned)rs->status, r);
  MHD_destroy_response(r);
  return ret;
}

/* A copy of s fit for a log line: at most 200 bytes, control characters replaced. */
static void log_safe(char *out, size_t cap, const char *s) {
  size_t i = 0;
  for (; s && *s && i + 1 < cap; s++) out[i++] = ((unsigned char)*s < 0x20) ? '?' : *s;
  out[i] = '\0';
}

static void finish(qsrv *s, conn_ctx *ctx, const char *method, const char *url, srv_resp *rs) {
  double sec = elapsed(&ctx->t0);
  srv_metrics_observe(s, rs->route, rs->status, sec);
  if (s->log_level >= SRV_LOG_INFO) {
    char m[16], u[201];
    log_safe(m, sizeof m, method);
    log_safe(u, sizeof u, url);
    srv_log(s, SRV_LOG_INFO, "%s %s %d %.2fms", m, u, rs->status, sec * 1e3);
  }
}

/* ------------------------------------------------------------------ auth */

/* 1 if the request carries the server's token (x-chroma-token or Authorization: Bearer). */
static int authorized(qsrv *s, struct MHD_Connection *conn) {
  const char *v;
  if (!s->token) return 1;
  v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-chroma-token");
  if (v && srv_ct_equal(s->token, s->token_len, v, strlen(v))) return 1;
  v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (v && strncasecmp(v, "Bearer ", 7) == 0) {
    v += 7;
    while (*v == ' ') v++;
    if (srv_ct_equal(s->token, s->token_len, v, strlen(v))) return 1;
  }
  return 0;
}

/* heartbeat (and its alias GET /api/v2) is the one route open without a token. */
static int is_public(const char *url) {
  return strcmp(url, "/api/v2/heartbeat") == 0 || strcmp(url, "/api/v2") == 0 ||
         strcmp(url, "/api/v2/") == 0;
}

/* ------------------------------------------------------------------ path */

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decode s[0..n) into a new string; NULL on bad escape, NUL byte or OOM. */
static char *decode_seg(const char *s, size_t n) {
  char *out = malloc(n + 1);
  size_t o = 0;
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      int hi = i + 2 < n ? hexv(s[i + 1]) : -1;
      int lo = i + 2 < n ? hexv(s[i + 2]) : -1;
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
        free(out);
        return NULL;
      }
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  return out;
}

/* Split url into decoded segments; empty segments are skipped. 0 ok, -1 bad/too many. */
static int split_path(srv_req *rq, const char *url) {
  const char *p = url;
  while (*p) {
    const char *e;
    while (*p == '/') p++;
    if (!*p) break;
    e = strchr(p, '/');
    if (!e) e = p + strlen(p);
    if (rq->n_seg == SRV_MAX_SEG) return -1;
    rq->seg[rq->n_seg] = decode_seg(p, (size_t)(e - p));
    if (!rq->seg[rq->n_seg]) return -1;
    rq->n_seg++;
    p = e;
  }
  return 0;
}

static int method_code(const char *m) {
  if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) return M_GET;
  if (!strcmp(m, "POST")) return M_POST;
  if (!strcmp(m, "PUT")) return M_PUT;
  if (!strcmp(m, "DELETE")) return M_DELETE;
  return M_OTHER;
}

/* ------------------------------------------------------------------ the request callback */

static void handle(qsrv *s, int pinecone, struct MHD_Connection *conn, const char *url,
                   const char *method, conn_ctx *ctx, srv_resp *rs) {
  srv_req rq;
  memset(&rq, 0, sizeof rq);
  rq.s = s;
  rq.conn = conn;
  rq.method = method_code(method);
  rq.body = ctx->body ? ctx->body : "";
  rq.body_len = ctx->len;
  if (pinecone) {
    pc_handle(&rq, rs, url, split_path(&rq, url) == 0, ctx->too_big);
  } else if (ctx->too_big) {
    srv_error(rs, 413, "Payload too large: the body exceeds %zu bytes", s->max_body);
  } else if (!is_public(url) && !authorized(s, conn)) {
    srv_error(rs, 401, "Unauthorized: missing or invalid token (x-chroma-token or "
                       "Authorization: Bearer)");
  } else if (split_path(&rq, url) != 0) {
    srv_error(rs, 400, "Invalid request path");
  } else {
    srv_dispatch(&rq, rs);
  }
  for (int i = 0; i < rq.n_seg; i++) free(rq.seg[i]);
}

/* Append a chunk of body, or note that the limit is exceeded and drop it. */
static void take_body(qsrv *s, conn_ctx *ctx, const char *data, size_t n) {
  if (ctx->too_big) return;
  if (ctx->len + n > s->max_body) {
    ctx->too_big = 1;
    free(ctx->body);
    ctx->body = NULL;
    ctx->len = ctx->cap = 0;
    return;
  }
  if (ctx->len + n + 1 > ctx->cap) {
    size_t cap = ctx->cap ? ctx->cap : 4096;
    char *p;
    while (cap < ctx->len + n + 1) cap *= 2;
    p = realloc(ctx->body, cap);
    if (!p) { /* treat as too big: the client gets a clear 413 rather than a reset */
      ctx->too_big = 1;
      return;
    }
    ctx->body = p;
    ctx->cap = cap;
  }
  memcpy(ctx->body + ctx->len, data, n);
  ctx->len += n;
  ctx->body[ctx->len] = '\0';
}

/* First call for a request: context, and the early 413 on a declared oversize body. */
static enum MHD_Result on_first(qsrv *s, int pinecone, struct MHD_Connection *conn,
                                const char *url, const char *method, void **con_cls) {
  conn_ctx *ctx = calloc(1, sizeof *ctx);
  const char *cl;
  if (!ctx) return MHD_NO;
  clock_gettime(CLOCK_MONOTONIC, &ctx->t0);
  *con_cls = ctx;
  __atomic_add_fetch(&s->in_flight, 1, __ATOMIC_SEQ_CST);
  cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl && strtoull(cl, NULL, 10) > s->max_body) {
    srv_resp rs = {0};
    rs.route = R_UNKNOWN;
    if (pinecone) pc_handle(NULL, &rs, url, 1, 1);
    else srv_error(&rs, 413, "Payload too large: the body exceeds %zu bytes", s->max_body);
    ctx->answered = 1;
    finish(s, ctx, method, url, &rs);
    return send_resp(conn, &rs);
  }
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  struct srv_face *face = cls;
  qsrv *s = face->s;
  conn_ctx *ctx = *con_cls;
  srv_resp rs = {0};
  (void)version;
  if (!ctx) return on_first(s, face->pinecone, conn, url, method, con_cls);
  if (*upload_data_size) {
    if (!ctx->answered) take_body(s, ctx, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (ctx->answered) return MHD_YES;
  ctx->answered = 1;
  rs.status = 500;
  rs.route = R_UNKNOWN;
  handle(s, face->pinecone, conn, url, method, ctx, &rs);
  finish(s, ctx, method, url, &rs);
  return send_resp(conn, &rs);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  qsrv *s = ((struct srv_face *)cls)->s;
  conn_ctx *ctx = *con_cls;
  (void)conn;
  (void)toe;
  if (!ctx) return;
  free(ctx->body);
  free(ctx);
  *con_cls = NULL;
  __atomic_sub_fetch(&s->in_flight, 1, __ATOMIC_SEQ_CST);
}

/* Leave the URL and arguments as they came: segments are decoded after splitting. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  (void)c;
  return strlen(s);
}

SRV_PRINTF(2, 0) static void mhd_log(void *cls, const char *fmt, va_list ap) {
  qsrv *s = cls;
  char msg[512];
  if (s->log_level < SRV_LOG_DEBUG) return;
  vsnprintf(msg, sizeof msg, fmt, ap);
  srv_log(s, SRV_LOG_DEBUG, "libmicrohttpd: %s", msg);
}

/* ------------------------------------------------------------------ daemon */

/*
 * libmicrohttpd's per-connection memory pool holds the request line and headers (so it bounds
 * them: about 14 KiB fit, the same order as Node's 16 KiB default; more gets 431) and the read
 * buffer bodies stream through. libmicrohttpd zeroes the pool on every request, so its size is
 * a per-request cost: 64 KiB was ~100k instructions of memset per query, more than our whole
 * handler; 16 KiB is a quarter of that.
 */
#define SRV_CONN_MEMORY (16 * 1024)
/* The Pinecone listener's: its fetch route takes up to 1000 ids as repeated query arguments,
 * and libmicrohttpd keeps the whole request line plus a record per argument in this pool
 * (a 56-byte record each): 16 KiB holds about 200 short ids, 128 KiB 1000 UUIDs. */
#define SRV_PC_CONN_MEMORY (128 * 1024)

/* Resolve host:port into *ss; 0 ok. */
static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
  struct addrinfo hints, *ai = NULL;
  char portstr[16];
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  snprintf(portstr, sizeof portstr, "%d", port);
  if (getaddrinfo(host, portstr, &hints, &ai) != 0 || !ai) return -1;
  memcpy(ss, ai->ai_addr, ai->ai_addrlen);
  *len = ai->ai_addrlen;
  freeaddrinfo(ai);
  return 0;
}

static void *start(qsrv *s, int port, int pinecone) {
  struct srv_face *face = &s->faces[pinecone ? 1 : 0];
  struct sockaddr_storage ss;
  socklen_t sslen;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  unsigned pool = 0;
  face->s = s;
  face->pinecone = pinecone;
  if (resolve(s->host, port, &ss, &sslen) != 0) {
    srv_log(s, SRV_LOG_ERROR, "cannot resolve host '%s'", s->host);
    return NULL;
  }
  if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  if (s->threads > 0) {
    flags |= MHD_USE_EPOLL;
    pool = (unsigned)s->threads;
  } else {
    flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
  }
  return MHD_start_daemon(
      flags, (uint16_t)port, NULL, NULL, on_request, face,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
      MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, face,
      MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->conn_timeout,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->max_conns,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(pinecone ? SRV_PC_CONN_MEMORY : SRV_CONN_MEMORY),
      pool ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool,
      MHD_OPTION_END);
}

void *srv_http_start(qsrv *s) { return start(s, s->port, 0); }

void *srv_http_start_pinecone(qsrv *s) { return start(s, s->pc_port, 1); }

void srv_http_quiesce(void *d) {
  MHD_socket fd = MHD_quiesce_daemon(d);
  if (fd != MHD_INVALID_SOCKET) close(fd);
}

void srv_http_stop(void *d) { MHD_stop_daemon(d); }
