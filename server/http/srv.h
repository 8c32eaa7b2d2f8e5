/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * srv.h -- internal interface shared by the server's files (never installed).
 *
 * Layout of server/:
 *   main.c          options, signals, opening the data directory, life cycle
 *   http.c          libmicrohttpd glue: body accumulation and limits, auth, access log, replies
 *   router.c        path splitting and dispatch to the route handlers
 *   sbuf.c          a growable string buffer with JSON string/number writers
 *   json.c          request-body parsing (depth limit), error bodies, typed field readers
 *   catalog.c       tenants and databases: thin wrappers of the library's (qv_tenant_*, qv_database_*)
 *   routes_sys.c    heartbeat, version, pre-flight, healthcheck, identity, reset
 *   routes_tenant.c tenants and databases
 *   routes_coll.c   collections (create, list, get, modify, delete, stats)
 *   routes_rec.c    records (add, upsert, update, delete, get, query, count)
 *   records_out.c   writing get/query results as Chroma's column-wise JSON
 *   metrics.c       counters and latency histograms, /metrics in Prometheus text format
 *   pinecone/       the Pinecone API on --pinecone-port (pinecone/pc.h; docs/SERVER.md)
 *
 * Mapping onto quiver: Chroma tenants and databases are the library's. A Chroma collection
 * {name} in tenant {t}, database {d} is the quiver collection named "{t}/{d}/{name}", which
 * the library spells "{name}" in the default database (Chroma names cannot contain '/'): a
 * collection made by the CLI or Python is the default database's. Chroma configuration that quiver has no index
 * parameter for (embedding_function, resize_factor, ...) is the collection's configuration in the library's catalog
 * (qv_collection_opts.config_json), never part of its metadata.
 *
 * Threading: handlers run on libmicrohttpd's threads, many at once; everything here is either
 * read-only after start-up (qsrv options), atomic (metrics) or goes through quiver's own
 * thread-safe API. qv_db_errmsg() is per thread, so a handler reads it right after the call.
 */
#ifndef QV_SRV_H
#define QV_SRV_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "quiver.h"

#define SRV_DEFAULT_TENANT "default_tenant"
#define SRV_DEFAULT_DATABASE "default_database"
#define SRV_MAX_SEG 12       /* path segments */
#define SRV_MAX_DEPTH 64     /* JSON nesting depth of request bodies */
#define SRV_MAX_BATCH 5461   /* advertised in pre-flight and enforced (Chroma single-node value) */

#if defined(__GNUC__)
#define SRV_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SRV_PRINTF(f, a)
#endif

/* ------------------------------------------------------------------ metrics */

/* Route labels, for /metrics. Keep in sync with route_names in metrics.c. */
typedef enum srv_route {
  R_UNKNOWN = 0, R_HEARTBEAT, R_VERSION, R_PREFLIGHT, R_HEALTH, R_IDENTITY, R_RESET,
  R_TENANT_CREATE, R_TENANT_GET, R_DB_CREATE, R_DB_LIST, R_DB_GET, R_DB_DELETE,
  R_COLL_CREATE, R_COLL_LIST, R_COLL_COUNT, R_COLL_GET, R_COLL_GET_ID, R_COLL_MODIFY,
  R_COLL_DELETE, R_COLL_STATS, R_COLL_COMPACT, R_ADD, R_UPSERT, R_UPDATE, R_DELETE, R_GET, R_QUERY, R_COUNT,
  R_METRICS, R_V1, R_ADV,
  R_PC_CONTROL, R_PC_UPSERT, R_PC_QUERY, R_PC_FETCH, R_PC_UPDATE, R_PC_DELETE, R_PC_STATS,
  R_PC_LIST, R_PC_NAMESPACES, /* the Pinecone face (server/pinecone/) */
  R_N_ROUTES
} srv_route;

#define SRV_N_STATUS 16      /* distinct status classes counted (see metrics.c) */
#define SRV_N_BUCKETS 14     /* latency histogram buckets, +Inf excluded */

typedef struct srv_metrics {
  uint64_t requests[R_N_ROUTES][SRV_N_STATUS];   /* atomically incremented */
  uint64_t buckets[R_N_ROUTES][SRV_N_BUCKETS + 1];
  uint64_t lat_sum_us[R_N_ROUTES];
  uint64_t body_bytes;
} srv_metrics;

/* ------------------------------------------------------------------ server state */

typedef struct qsrv {
  qv_db *db;
  const char *data_dir;
  const char *host;
  int port;
  int threads;          /* 0 = a thread per connection, else a thread pool of this size */
  size_t max_body;
  const char *token;    /* NULL = no auth */
  size_t token_len;
  int log_level;        /* 0 error, 1 warn, 2 info (access log), 3 debug */
  int allow_reset;
  unsigned conn_timeout;
  unsigned max_conns;
  int in_flight;        /* requests between start and completion (atomic) */
  srv_metrics metrics;
  int pc_port;          /* --pinecone-port: the Pinecone face's listener, 0 = off */
  struct srv_face {     /* libmicrohttpd's per-daemon closure: which API a listener speaks */
    struct qsrv *s;
    int pinecone;
  } faces[2];
  struct cluster *cluster; /* --cluster: server/cluster/ (cluster.h), NULL on a single node */
} qsrv;

enum { SRV_LOG_ERROR = 0, SRV_LOG_WARN, SRV_LOG_INFO, SRV_LOG_DEBUG };

void srv_log(const qsrv *s, int level, const char *fmt, ...) SRV_PRINTF(3, 4);

/* ------------------------------------------------------------------ requests and replies */

enum { M_GET = 1, M_POST, M_PUT, M_DELETE, M_OTHER };

typedef struct srv_req {
  qsrv *s;
  int method;
  char *seg[SRV_MAX_SEG];   /* percent-decoded path segments, owned by http.c */
  int n_seg;
  const char *body;         /* NUL-terminated, body_len bytes; "" when none */
  size_t body_len;
  void *conn;               /* struct MHD_Connection *, for srv_req_arg(); NULL: no arguments */
  int internal;             /* made by the cluster code for this node's own handlers */
} srv_req;

typedef struct srv_resp {
  int status;
  char *body;               /* malloc'd JSON text; NULL means "{}" */
  size_t len;
  srv_route route;
  const char *content_type; /* NULL = application/json (every route but /metrics) */
  char *token;              /* malloc'd: sent as X-Quiver-Token (cluster writes), freed by http.c */
} srv_resp;

/* Query-string argument name (decoded), or NULL. Owned by the connection. http.c */
const char *srv_req_arg(const srv_req *rq, const char *name);
/* Every value of a repeated query argument (raw, not decoded), up to max; their number
 * (which may exceed max). http.c */
size_t srv_req_args(const srv_req *rq, const char *name, const char **out, size_t max);
/* Request header, or NULL. http.c */
const char *srv_req_header(const srv_req *rq, const char *name);

/* Start libmicrohttpd on s->host:s->port (an opaque daemon handle, NULL on failure); stop
 * accepting new connections; stop (closes every connection). http.c */
void *srv_http_start(qsrv *s);
/* The same for the Pinecone face on s->pc_port (requests go to pc_handle()). */
void *srv_http_start_pinecone(qsrv *s);
void srv_http_quiesce(void *daemon);
void srv_http_stop(void *daemon);

/* Route the request to its handler and fill rs. router.c */
void srv_dispatch(srv_req *rq, srv_resp *rs);
/* The Pinecone face: auth (Api-Key), routing, Pinecone-shaped errors; path_ok 0 when the
 * path could not be split, too_big when the body exceeded --max-body (rq may then be NULL).
 * pinecone/pc_router.c */
void pc_handle(srv_req *rq, srv_resp *rs, const char *url, int path_ok, int too_big);

/* ------------------------------------------------------------------ sbuf.c */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;         /* sticky: an allocation failed, contents are incomplete */
} sbuf;

void sbuf_put(sbuf *b, const char *s, size_t n);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_putc(sbuf *b, char c);
void sbuf_printf(sbuf *b, const char *fmt, ...) SRV_PRINTF(2, 3);
void sbuf_json_str(sbuf *b, const char *s);          /* quoted, escaped; NULL -> null */
/* "%.{p}g" of f for the fewest p in 6..9 that reads back (fltfmt.c); length, or -1 when it
 * cannot decide exactly and the caller must use printf. */
int srv_fmt_float(char out[32], float f);
/* The query fast path's number reader (query_fast.c): s[0..n) must be one JSON number and
 * s[n] readable (NUL). 0 and *out == (float)strtod(s) on success; -1 if not a JSON number,
 * not a finite float, over 63 characters, or an integer literal of 19+ digits (Jansson's
 * int64 range decides those): the request then takes the Jansson path. */
int srv_parse_number(const char *s, size_t n, float *out);
/* The query path's reader of the usual numbers (SSE2): bytes taken, or -1 when it leaves the
 * token to srv_parse_number's reader; s must have SRV_FAST_NUM_READ readable bytes. */
#define SRV_FAST_NUM_READ 48
int srv_fast_number(const char *s, float *out);
void sbuf_json_float(sbuf *b, double v);             /* shortest float32 text; non-finite -> null */
void sbuf_free(sbuf *b);
/* Hand the buffer to rs as its body (status given); on OOM replies 500 instead. */
void sbuf_reply(sbuf *b, srv_resp *rs, int status);

/* ------------------------------------------------------------------ json.c */

/* Reply {"error": name-for-status, "message": printf(fmt)}. */
void srv_error(srv_resp *rs, int status, const char *fmt, ...) SRV_PRINTF(3, 4);
/* Reply with quiver's status mapped by qv_status_http() and qv_db_errmsg() as message. */
void srv_error_qv(srv_resp *rs, qsrv *s, qv_status rc);
/* Reply with j dumped compactly (reference stolen). */
void srv_reply_json(srv_resp *rs, int status, json_t *j);
/* Reply with a literal JSON text. */
void srv_reply_text(srv_resp *rs, int status, const char *text);

/*
 * Parse the request body as a JSON object. An empty body gives {} when allow_empty.
 * Malformed JSON or too deep -> 400; not an object -> 422. Returns NULL after replying.
 */
json_t *srv_parse_body(const srv_req *rq, srv_resp *rs, int allow_empty);

/*
 * Typed optional-field readers. Each returns 0 when the field is absent or null (*out left
 * as the caller's default), 1 when present and valid, -1 after replying 422 on a wrong type.
 */
int srv_field_str(json_t *obj, const char *key, const char **out, srv_resp *rs);
int srv_field_bool(json_t *obj, const char *key, int *out, srv_resp *rs);
int srv_field_int(json_t *obj, const char *key, long long *out, srv_resp *rs);
int srv_field_obj(json_t *obj, const char *key, json_t **out, srv_resp *rs);
int srv_field_arr(json_t *obj, const char *key, json_t **out, srv_resp *rs);

/* Base64 (RFC 4648, padded) of little-endian float32 into out[0..dim); -1 if malformed. */
int srv_b64_floats(const char *s, float **out, size_t *dim);

/* Query argument name as an unsigned integer: 0 absent (*out unchanged), 1 ok, -1 replied 400. */
int srv_arg_uint(const srv_req *rq, const char *name, size_t *out, srv_resp *rs);
/* 1 if t is an acceptable tenant name (3..256 bytes, no '/', no control characters). */
int srv_valid_tenant(const char *t);
/* 1 if name follows Chroma's collection/database name rules. */
int srv_valid_name(const char *name);
/* 1 if s looks like a UUID (8-4-4-4-12 hex). */
int srv_valid_uuid(const char *s);
/* Random version-4 UUID text into out[37]. */
void srv_uuid4(char out[37]);
/* Constant-time equality of a and b (lengths may differ). */
int srv_ct_equal(const char *a, size_t alen, const char *b, size_t blen);

/* ------------------------------------------------------------------ catalog.c */

/* 1/0 when the tenant / database exists, -1 on error (rc in *err). */
int srv_tenant_exists(qsrv *s, const char *t, qv_status *err);
int srv_database_exists(qsrv *s, const char *t, const char *d, char uuid_out[37], qv_status *err);
qv_status srv_tenant_create(qsrv *s, const char *t);
qv_status srv_database_create(qsrv *s, const char *t, const char *d);
qv_status srv_database_delete(qsrv *s, const char *t, const char *d);
/* Database objects of tenant t sorted by name, as a JSON array (new reference) or NULL. */
json_t *srv_database_list(qsrv *s, const char *t, qv_status *err);
/* Drop every tenant, database and collection; the default tenant and database stay, empty. */
qv_status srv_catalog_reset(qsrv *s);
/* Forget the Pinecone face's cached index records of a database of tenant (or of every one
 * when database is NULL, or of any tenant when tenant is NULL): called after they are
 * dropped through the Chroma face. pinecone/pc_ns.c */
void pc_cache_forget(const char *tenant, const char *database);

/* ------------------------------------------------------------------ collections */

/* A resolved collection: handle, its info, and the Chroma-visible name inside info.name. */
typedef struct srv_coll {
  qv_collection *c;
  qv_collection_info info;
  const char *short_name;   /* info.local_name: the name inside its database */
} srv_coll;

/*
 * Resolve the collection {id} of tenant t / database d for a record route or PUT.
 * Bad UUID -> 400, unknown or in another database -> 404. Returns 0, or -1 after replying.
 */
int srv_coll_by_uuid(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id,
                     srv_coll *out);
void srv_coll_done(srv_coll *sc);
/* Write the Chroma Collection object of sc (tenant t, database d) into b. */
void srv_coll_write(sbuf *b, const srv_coll *sc, const char *t, const char *d);

/* ------------------------------------------------------------------ route handlers */

void route_heartbeat(srv_req *rq, srv_resp *rs);
void route_version(srv_req *rq, srv_resp *rs);
void route_preflight(srv_req *rq, srv_resp *rs);
void route_healthcheck(srv_req *rq, srv_resp *rs);
void route_identity(srv_req *rq, srv_resp *rs);
void route_reset(srv_req *rq, srv_resp *rs);
void route_metrics(srv_req *rq, srv_resp *rs);

void route_tenant_create(srv_req *rq, srv_resp *rs);
void route_tenant_get(srv_req *rq, srv_resp *rs, const char *t);
void route_db_create(srv_req *rq, srv_resp *rs, const char *t);
void route_db_list(srv_req *rq, srv_resp *rs, const char *t);
void route_db_get(srv_req *rq, srv_resp *rs, const char *t, const char *d);
void route_db_delete(srv_req *rq, srv_resp *rs, const char *t, const char *d);

void route_coll_create(srv_req *rq, srv_resp *rs, const char *t, const char *d);
void route_coll_list(srv_req *rq, srv_resp *rs, const char *t, const char *d);
void route_coll_count(srv_req *rq, srv_resp *rs, const char *t, const char *d);
void route_coll_get(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *name);
void route_coll_get_id(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id);
void route_coll_modify(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id);
void route_coll_delete(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *name);
void route_coll_stats(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id);
/* POST …/collections/{id}/compact: qv_collection_compact, then the stats body. */
void route_coll_compact(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id);

/* Native advanced reads (server/native/routes_adv.c): 1 if op is one of them (then
 * answered), 0 to let the record routes try. */
int route_adv(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id, const char *op);

/* op is the last path segment: add, upsert, update, delete, get, query, count. */
void route_records(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id,
                   srv_route op);

/* ------------------------------------------------------------------ records */

/* Include set parsed from a request ("uris" is Chroma-only: read from metadata). */
typedef struct srv_include {
  unsigned qv;       /* QV_INCLUDE_* bits to ask quiver for */
  int emb, doc, meta, dist, uris;
  json_t *echo;      /* the include array to echo back (a reference the request owns) */
  const char *echo_text; /* or that array as compact JSON text, when echo is NULL */
} srv_include;

/* ------------------------------------------------------------------ metrics.c */

void srv_metrics_observe(qsrv *s, srv_route route, int status, double seconds);

#endif /* QV_SRV_H */
