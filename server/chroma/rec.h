/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * rec.h -- record-route internals shared by rec_batch.c, routes_rec.c, rec_read.c and
 * records_out.c.
 */
#ifndef QV_REC_H
#define QV_REC_H

#include "srv.h"

/* The request's record columns, decoded; see rec_batch.c. */
typedef struct rec_batch {
  size_t n;
  const char **ids;        /* borrowed from the JSON body */
  float *emb;              /* n * dim floats (rows without an embedding are zero), or NULL */
  unsigned char *has_emb;  /* per row: 1 if an embedding was given (update allows null rows) */
  size_t dim;
  char **metas;            /* per row: JSON object text or NULL; NULL array when none given */
  const char **docs;       /* per row: borrowed or NULL; NULL array when none given */
} rec_batch;

enum { BATCH_ADD = 0, BATCH_UPSERT, BATCH_UPDATE };

/* Parse ids/embeddings/documents/uris/metadatas of a write body. 0, or -1 after replying. */
int rec_batch_parse(rec_batch *b, json_t *body, int kind, srv_resp *rs);
void rec_batch_free(rec_batch *b);
/* The metadatas (and uris) of body into b->metas, checked as Chroma does. 0, or -1 replied. */
int rec_batch_metas(rec_batch *b, json_t *body, int kind, srv_resp *rs);
/* One row per id (the first for add, the last otherwise), order kept. 0, or -1 replied. */
int rec_batch_dedupe(rec_batch *b, int keep_last, srv_resp *rs);
/* Write a decoded batch to the collection and reply (routes_rec.c). */
void rec_write_batch(srv_req *rq, srv_resp *rs, srv_coll *sc, rec_batch *rb, int kind);
/* The common add/upsert body parsed without Jansson for its floats (query_fast.c): 1 if
 * answered, 0 to take the general path. */
int rec_write_fast(srv_req *rq, srv_resp *rs, srv_coll *sc, int kind);

/*
 * Parse one embeddings array (list of number arrays or base64 strings; null rows allowed
 * when allow_null) of exactly n rows into a new n*dim buffer. 0, or -1 after replying.
 */
int rec_parse_embeddings(json_t *arr, size_t n, int allow_null, float **out,
                         unsigned char **has, size_t *dim, const char *field, srv_resp *rs);
/* Ids array (non-empty strings, at most SRV_MAX_BATCH when limit). New array of borrowed
 * pointers in *out (NULL when n == 0). 0, or -1 after replying. */
int rec_parse_ids(json_t *arr, const char ***out, size_t *n, int limit, srv_resp *rs);
/* Include list (absent -> def bits; null or bad -> 422). 0, or -1 after replying. */
int rec_parse_include(json_t *body, srv_include *inc, int is_query, srv_resp *rs);
/* where / where_document as JSON text (malloc'd) or NULL when absent/null; -1 replied. */
int rec_filter_text(json_t *body, const char *key, char **out, srv_resp *rs);

/* Chroma's message when dim does not match the collection's. 1 if it replied. */
int rec_check_dim(const srv_coll *sc, size_t dim, srv_resp *rs);
/* Hamming collections: n rows of dim numbers, each an integer 0..255, as packed bytes
   (malloc'd), or NULL with a 400 naming field[row][column]. */
uint8_t *rec_packed_bits(const float *v, size_t n, size_t dim, const char *field, srv_resp *rs);

/* Ids and filters of get, delete and query; see rec_read.c. */
typedef struct rec_sel {
  const char **ids;
  size_t n_ids;
  int has_ids;
  char *where, *wdoc;
} rec_sel;

/* A decoded query body (rec_read.c parses it from JSON, query_fast.c from the text). */
typedef struct query_req {
  float *q;          /* nq * dim floats */
  size_t nq, dim, k;
  rec_sel sel;
  srv_include inc;
  uint32_t ef;
  int exact;
} query_req;

/* Answer a decoded query (dimension check, empty cases, ids or index). */
void rec_query_run(srv_req *rq, srv_resp *rs, srv_coll *sc, query_req *qr);
/* The common query body, parsed without Jansson: 1 if answered, 0 to take the general path. */
int rec_query_fast(srv_req *rq, srv_resp *rs, srv_coll *sc);

void rec_get(srv_req *rq, srv_resp *rs, srv_coll *sc, json_t *body);
void rec_query(srv_req *rq, srv_resp *rs, srv_coll *sc, json_t *body);
void rec_delete(srv_req *rq, srv_resp *rs, srv_coll *sc, json_t *body);

/* A read-only view of hits to write: a qv_results as it is, or (perm != NULL) rows of a
 * one-row qv_results picked and ranked by the server (query restricted to ids). */
typedef struct rec_view {
  const qv_results *r;
  size_t nq;
  const size_t *n_hits;       /* perm only: hits per query */
  size_t *const *perm;        /* perm[q][i] = index into row 0 of r */
  float *const *dist;         /* dist[q][i] */
} rec_view;

void rec_write_view(sbuf *b, const rec_view *v, const srv_include *inc, int nested);

#endif /* QV_REC_H */
