/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * pc.h -- the Pinecone face of `quiver serve` (internal; the wire protocol is described in
 * shared/api/pinecone-data-plane.md, the mapping in docs/SERVER.md "Pinecone API").
 *
 * Files:
 *   pc_router.c   Api-Key auth, path dispatch, Pinecone-shaped error bodies, body parsing
 *   pc_control.c  the control plane: indexes create / describe / list / delete
 *   pc_ns.c       index records, namespace <-> quiver collection, metadata bookkeeping
 *   pc_filter.c   Pinecone's metadata filter language -> quiver `where` JSON
 *   pc_write.c    upsert, update, delete
 *   pc_read.c     query (dense, hybrid), fetch, list, describe_index_stats
 *   pc_fast.c     the common query body decoded without Jansson (the hot route)
 *   pc_namespaces.c  the namespace routes (list, create, describe, delete)
 *   pc_cluster.c  the same face in cluster mode (--cluster): catalog, write path, scatter reads
 *
 * Mapping onto quiver:
 *   - an index is the library's database "{name}" of tenant "pinecone" (so also the Chroma
 *     database {name} of tenant "pinecone"), its dimension, metric and deletion protection kept
 *     as that database's metadata; so that:
 *   - a namespace {ns} of index {name} is the quiver collection "pinecone/{name}/{ns}" (the
 *     default namespace -- "", absent or "__default__" -- is "__default__"), i.e. the Chroma
 *     collection {ns} of tenant "pinecone", database {name}. It is created on first write
 *     with the index's dimension and metric (cosine -> cosine, euclidean -> l2, dotproduct ->
 *     ip), HNSW.
 *   - record metadata is the user's metadata plus reserved keys (never shown to Pinecone
 *     callers, never reachable by their filters): PC_KEYS, the user's key names (so that
 *     $exists, $ne and $nin can test presence inside quiver's own filter), and PC_SPARSE, the
 *     sparse vector as one string: base64 of little-endian (uint32 index, float32 value)
 *     pairs sorted by index (a string because quiver prints every float of a metadata array
 *     in its shortest exact form, which made a hybrid scan cost ~200 us per record).
 *   - scores: cosine 1 - distance (= cos), dotproduct 1 - distance (= dot) plus the sparse
 *     dot product, euclidean the squared distance (lower is closer, as on Pinecone).
 */
#ifndef QV_PC_H
#define QV_PC_H

#include "srv.h"

#define PC_TENANT "pinecone"
#define PC_NS_DEFAULT "__default__"
#define PC_KEYS "__pc_keys"
#define PC_SPARSE "__pc_sparse"
#define PC_RESERVED "__pc_"
#define PC_MAX_TOPK 10000
#define PC_MAX_UPSERT 1000
#define PC_MAX_DIM 20000
#define PC_MAX_SPARSE 2048
#define PC_MAX_ID 512
#define PC_MAX_NS 400
#define PC_MAX_FETCH 1000

typedef enum pc_metric { PC_COSINE = 0, PC_EUCLIDEAN, PC_DOTPRODUCT } pc_metric;

typedef struct pc_index {
  char name[64];
  uint32_t dim;
  pc_metric metric;
  int protect;      /* deletion_protection "enabled" */
  char created[40];
} pc_index;

/* A sparse vector: n (index, value) pairs; idx/val malloc'd (or NULL when n == 0). */
typedef struct pc_sparse {
  size_t n;
  uint32_t *idx;
  float *val;
} pc_sparse;

/* ------------------------------------------------------------------ pc_router.c */

/* Data-plane error: status, body {"code": grpc code, "message": ..., "details": []}. */
void pc_err(srv_resp *rs, int status, const char *fmt, ...) SRV_PRINTF(3, 4);
/* Control-plane error: {"status": s, "error": {"code": NAME, "message": ...}, "message": ...}. */
void pc_cerr(srv_resp *rs, int status, const char *fmt, ...) SRV_PRINTF(3, 4);
/* Data-plane error from a failed quiver call (QV_INVALID -> 400, QV_NOTFOUND -> 404, ...). */
void pc_err_qv(srv_resp *rs, qsrv *s, qv_status rc);
/* The body as a JSON object ({} when empty and allow_empty); NULL after replying 400. The
 * error is written with pc_cerr when control, else pc_err. */
json_t *pc_body(const srv_req *rq, srv_resp *rs, int allow_empty, int control);
/* Percent-decode a raw query argument ('+' is a space); NULL on a bad escape or OOM. */
char *pc_arg_decode(const char *raw);
/* The decoded query argument name (malloc'd), NULL when absent; *bad set on a bad escape. */
char *pc_arg(const srv_req *rq, const char *name, int *bad);

/* ------------------------------------------------------------------ pc_control.c */

void pc_route_indexes(srv_req *rq, srv_resp *rs);                   /* /indexes */
void pc_route_index(srv_req *rq, srv_resp *rs, const char *name);   /* /indexes/{name} */

/* ------------------------------------------------------------------ pc_ns.c */

const char *pc_metric_name(pc_metric m);
/* 1 found (*out filled), 0 absent, -1 on a quiver error (*err). */
int pc_index_get(qsrv *s, const char *name, pc_index *out, qv_status *err);
qv_status pc_index_put(qsrv *s, const pc_index *ix);            /* QV_EXISTS when taken */
qv_status pc_index_drop(qsrv *s, const char *name);             /* QV_NOTFOUND when absent */
/* Every index, sorted by name: a malloc'd array of *n entries (NULL when none). */
qv_status pc_index_list(qsrv *s, pc_index **out, size_t *n);
/* 1 if name is a valid index name (1..45 of [a-z0-9-], alphanumeric ends). */
int pc_valid_index_name(const char *name);

/* The namespace as reported: "" and NULL are PC_NS_DEFAULT. */
const char *pc_ns_norm(const char *ns);
/* "pinecone/{index}/{ns}" (malloc'd) for a normalised ns, or NULL on OOM. */
char *pc_coll_name(const char *index, const char *ns);
/* Check a namespace name: 0 ok, -1 after replying 400. */
int pc_ns_check(const char *ns, srv_resp *rs);
/* Open the namespace's collection; create it when create (with the index's dim and metric).
 * QV_NOTFOUND when absent and !create. */
qv_status pc_ns_open(qsrv *s, const pc_index *ix, const char *ns, int create, qv_collection **out);
/* Names of the index's namespaces (sorted, malloc'd array of malloc'd strings; free with
 * pc_strings_free), *n of them. */
qv_status pc_ns_list(qsrv *s, const char *index, char ***out, size_t *n);
void pc_strings_free(char **v, size_t n);

/* Parse {"indices": [...], "values": [...]} at field (for messages); 0, or -1 after 400. */
int pc_sparse_parse(json_t *j, const char *field, pc_sparse *out, srv_resp *rs);
void pc_sparse_free(pc_sparse *sp);
/* Sparse dot product of a (sorted by index) with b (any order). */
double pc_sparse_dot(const pc_sparse *a_sorted, const pc_sparse *b);
void pc_sparse_sort(pc_sparse *sp);

/* Check user metadata of vector i (object of string, number, bool, list of strings; no
 * reserved keys). 0, or -1 after replying 400. */
int pc_meta_check(json_t *m, const char *where, srv_resp *rs);
/* The stored metadata object for user metadata um (may be NULL) and sparse sp (may be NULL
 * or empty). When old (the record's stored metadata object) is given, every key of old not
 * set here is set to null, so quiver's per-key merge replaces the whole record. New ref. */
json_t *pc_meta_store(json_t *um, const pc_sparse *sp, json_t *old);
/* User metadata of a stored metadata text (reserved keys removed), new ref ({} if none). */
json_t *pc_meta_user(const char *stored);
/* The sparse vector kept in a stored metadata object (n == 0 when none); -1 on OOM. */
int pc_meta_sparse(json_t *stored, pc_sparse *out);
/* The same from stored metadata text as quiver writes it (compact), without parsing it. */
int pc_meta_sparse_text(const char *stored, pc_sparse *out);

/* ------------------------------------------------------------------ pc_filter.c */

/* Translate a Pinecone filter into quiver `where` JSON text (malloc'd in *out; NULL for an
 * empty filter {}). 0, or -1 with a message in err. */
int pc_filter_translate(json_t *filter, char **out, char *err, size_t errlen);
/* The body's "filter" field translated: 0 ok (*out NULL when absent), -1 after 400. */
int pc_filter_field(json_t *body, char **out, srv_resp *rs);

/* ------------------------------------------------------------------ routes */

/* Resolve the data-plane index of the path; 0, or -1 after replying 404/500. */
int pc_data_index(srv_req *rq, srv_resp *rs, const char *name, pc_index *out);

/* The Pinecone face's write lock (pc_write.c): held around read-then-write sequences and
 * namespace drops. */
void pc_lock(void);
void pc_unlock(void);

void pc_upsert(srv_req *rq, srv_resp *rs, const pc_index *ix);
void pc_update(srv_req *rq, srv_resp *rs, const pc_index *ix);
void pc_delete(srv_req *rq, srv_resp *rs, const pc_index *ix);
void pc_query(srv_req *rq, srv_resp *rs, const pc_index *ix);
void pc_fetch(srv_req *rq, srv_resp *rs, const pc_index *ix);
void pc_list(srv_req *rq, srv_resp *rs, const pc_index *ix);
void pc_stats(srv_req *rq, srv_resp *rs, const pc_index *ix);
/* Pagination tokens: the hex of the last name/id handed out (malloc'd); parse gives NULL
 * when the token is malformed. pc_read.c */
char *pc_token_of(const char *last);
char *pc_token_parse(const char *token);
/* A list route's `limit` (1..100, default left as is) and `paginationToken` (*after, malloc'd):
 * 0, or -1 with the 400 written to rs. pc_read.c */
int pc_page_args(srv_resp *rs, const char *lim, const char *tok, size_t *limit, char **after);
/* /data/{i}/namespaces[/{ns}]: list, create, describe, delete. pc_namespaces.c */
void pc_namespaces(srv_req *rq, srv_resp *rs, const pc_index *ix);

/* A decoded query (pc_read.c from JSON, pc_fast.c from the text). */
typedef struct pc_qreq {
  float *vec;          /* dim floats (malloc'd), or NULL when by id */
  size_t dim;
  const char *id;      /* query by a stored record's vector */
  const char *ns;
  size_t k;
  int inc_values, inc_meta;
  char *where;         /* translated filter or NULL */
  pc_sparse sparse;    /* n == 0: none */
} pc_qreq;

void pc_query_run(srv_req *rq, srv_resp *rs, const pc_index *ix, pc_qreq *q);
/* The common query body without Jansson: 1 answered, 0 to take the general path. */
int pc_query_fast(srv_req *rq, srv_resp *rs, const pc_index *ix);

/* ------------------------------------------------------------------ shared with cluster mode */

/* A vector of an upsert body (pc_write.c). */
typedef struct pc_up_rec {
  const char *id;
  json_t *meta;      /* borrowed from the body, or NULL */
  pc_sparse sp;
  int skip;          /* an earlier duplicate of a later id in the batch */
} pc_up_rec;

/* Write k records into c the Pinecone way (each replaces the stored record whole): ids,
 * rows (k x dim), user metadata um[i] (NULL: none), sparse sps[i] (NULL or empty: none);
 * with pos_key the batch also stores position (pos_key, pos). pc_write.c */
qv_status pc_upsert_records(qv_collection *c, const char *const *ids, const float *rows, uint32_t dim,
                            json_t *const *um, const pc_sparse *const *sps, size_t k, const char *pos_key,
                            uint64_t pos);
/* Update in c the record id, or every record matching where: values (dim floats) and sparse sp
 * replace, set merges into the metadata (each may be NULL). *matched: records found; nothing is
 * written when dry or none matched (*wrote 0), else the batch also stores (pos_key, pos) when
 * pos_key is given. pc_write.c */
qv_status pc_update_records(qv_collection *c, const char *id, const char *where, json_t *set, const pc_sparse *sp,
                            const float *values, uint32_t dim, int dry, const char *pos_key, uint64_t pos,
                            size_t *matched, int *wrote);
/* One record's fields after its id (values, sparseValues, metadata; metadata 2: only when it
 * has some); -1 on OOM. pc_read.c */
int pc_put_record(sbuf *b, const float *emb, size_t dim, const char *meta, int values, int metadata);
/* ,"namespace":ns,"usage":{...}} closing a data-plane answer. pc_read.c */
void pc_put_tail(sbuf *b, const char *ns);
/* The list answer from every id of the namespace (ids reordered in place). pc_read.c */
void pc_list_reply(srv_resp *rs, const char *ns, const char **ids, size_t n, const char *prefix, const char *after,
                   size_t limit);
/* A hit of a hybrid scan; the scan itself (best first). pc_read.c */
typedef struct pc_hit {
  double score;
  char *id;
} pc_hit;
qv_status pc_hybrid_scan(qv_collection *c, const pc_qreq *q, pc_hit **out, size_t *n_out);

/* Cluster mode (pc_cluster.c): the same routes over the cluster's catalog, write path and
 * scatter-gather reads; pc_ns.c, pc_write.c, pc_read.c and pc_namespaces.c hand over when
 * s->cluster is set. The index functions answer like their single-node twins. */
int pc_cl_index_get(qsrv *s, const char *name, pc_index *out, qv_status *err);
qv_status pc_cl_index_put(qsrv *s, const pc_index *ix);
qv_status pc_cl_index_drop(qsrv *s, const char *name);
qv_status pc_cl_index_list(qsrv *s, pc_index **out, size_t *n);
void pc_cl_upsert(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *ns, pc_up_rec *recs, const float *emb,
                  size_t n);
void pc_cl_update(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *ns, const char *id, const char *where,
                  json_t *set, const pc_sparse *sp, const float *values, int dry);
void pc_cl_delete(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *ns, const char *const *ids, size_t n,
                  const char *where, int del_all);
void pc_cl_query_run(srv_req *rq, srv_resp *rs, const pc_index *ix, pc_qreq *q);
void pc_cl_fetch(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *ns, char **ids, size_t n);
void pc_cl_list(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *ns, const char *prefix, const char *after,
                size_t limit);
void pc_cl_stats(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *where);
void pc_cl_namespaces(srv_req *rq, srv_resp *rs, const pc_index *ix);

#endif /* QV_PC_H */
