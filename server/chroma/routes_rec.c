/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * routes_rec.c -- the per-collection record routes (chroma-v2.md §8): dispatch, the three
 * writes (add 201, upsert, update), count, and the helpers reads share (include, filters).
 *
 * Chroma semantics on quiver calls:
 *   add     qv_collection_add(QV_CONFLICT_IGNORE): an existing id is a silent no-op;
 *   upsert  qv_collection_upsert: metadata merged per key;
 *   update  qv_collection_update(ignore_missing = 1); rows whose embedding is null keep their
 *           stored one (qv_batch.has_embedding), in the same batch: one transaction.
 * The dimension is checked here first so the message is Chroma's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"

int rec_check_dim(const srv_coll *sc, size_t dim, srv_resp *rs) {
  uint32_t have = qv_collection_dim(sc->c);
  if (qv_collection_metric(sc->c) == QV_METRIC_HAMMING) { /* rows of packed bytes */
    if (have / 8 == dim) return 0;
    srv_error(rs, 400, "Collection of %u-bit binary vectors expects rows of %u packed bytes (0..255), got %zu", have,
              have / 8, dim);
    return 1;
  }
  if (!have || have == dim) return 0;
  srv_error(rs, 400, "Collection expecting embedding with dimension of %u, got %zu", have, dim);
  return 1;
}

uint8_t *rec_packed_bits(const float *v, size_t n, size_t dim, const char *field, srv_resp *rs) {
  uint8_t *b = malloc(n && dim ? n * dim : 1);
  if (!b) {
    srv_error(rs, 500, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < n * dim; i++) {
    if (!(v[i] >= 0 && v[i] <= 255 && v[i] == (float)(int)v[i])) {
      srv_error(rs, 400, "%s[%zu][%zu]: a hamming collection takes packed bits, integers 0..255 (numpy.packbits)",
                field, i / dim, i % dim);
      free(b);
      return NULL;
    }
    b[i] = (uint8_t)v[i];
  }
  return b;
}

int rec_filter_text(json_t *body, const char *key, char **out, srv_resp *rs) {
  json_t *v = json_object_get(body, key);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_object(v)) {
    srv_error(rs, 400, "Invalid %s: expected an object", key);
    return -1;
  }
  if (!(*out = json_dumps(v, JSON_COMPACT))) {
    srv_error(rs, 500, "out of memory");
    return -1;
  }
  return 1;
}

int rec_parse_include(json_t *body, srv_include *inc, int is_query, srv_resp *rs) {
  json_t *arr = json_object_get(body, "include");
  static const char *const def_get[] = {"documents", "metadatas", NULL};
  static const char *const def_query[] = {"documents", "metadatas", "distances", NULL};
  memset(inc, 0, sizeof *inc);
  if (!arr) {
    const char *const *d = is_query ? def_query : def_get;
    inc->echo = json_array();
    for (; *d; d++) json_array_append_new(inc->echo, json_string(*d));
    arr = inc->echo;
  } else if (!json_is_array(arr)) {
    srv_error(rs, 422, "Failed to deserialize the JSON body: `include`: expected a list");
    return -1;
  } else {
    inc->echo = json_incref(arr);
  }
  for (size_t i = 0; i < json_array_size(arr); i++) {
    const char *s = json_string_value(json_array_get(arr, i));
    if (!s) s = "";
    if (!strcmp(s, "embeddings")) inc->emb = 1;
    else if (!strcmp(s, "documents")) inc->doc = 1;
    else if (!strcmp(s, "metadatas")) inc->meta = 1;
    else if (!strcmp(s, "distances")) inc->dist = is_query;
    else if (!strcmp(s, "uris")) inc->uris = 1;
    else {
      srv_error(rs, 422, "Failed to deserialize the JSON body: include[%zu]: unknown variant "
                         "`%.32s`, expected one of `distances`, `documents`, `embeddings`, "
                         "`metadatas`, `uris`", i, s);
      json_decref(inc->echo);
      inc->echo = NULL;
      return -1;
    }
  }
  inc->qv = (inc->emb ? QV_INCLUDE_EMBEDDINGS : 0u) | (inc->doc ? QV_INCLUDE_DOCUMENTS : 0u) |
            (inc->meta || inc->uris ? QV_INCLUDE_METADATAS : 0u) |
            (inc->dist ? QV_INCLUDE_DISTANCES : 0u);
  return 0;
}

/* ------------------------------------------------------------------ writes */

static void rec_write(srv_req *rq, srv_resp *rs, srv_coll *sc, json_t *body, int kind) {
  rec_batch rb;
  if (rec_batch_parse(&rb, body, kind, rs) == 0) rec_write_batch(rq, rs, sc, &rb, kind);
  rec_batch_free(&rb);
}

void rec_write_batch(srv_req *rq, srv_resp *rs, srv_coll *sc, rec_batch *rbp, int kind) {
  uint8_t *bits = NULL;
  const rec_batch rb = *rbp;
  qv_batch qb;
  qv_status rc;
  if (rb.emb && rec_check_dim(sc, rb.dim, rs)) goto cleanup;
  if (rb.n == 0) { /* nothing to do; Chroma accepts an empty batch */
    srv_reply_text(rs, kind == BATCH_ADD ? 201 : 200, "{}");
    goto cleanup;
  }
  memset(&qb, 0, sizeof qb);
  qb.struct_size = sizeof qb; /* has_embedding is read */
  qb.n = rb.n;
  qb.ids = rb.ids;
  qb.embeddings = rb.emb;
  qb.dim = (uint32_t)rb.dim;
  qb.metadatas = (const char *const *)rb.metas;
  qb.documents = rb.docs;
  qb.has_embedding = rb.emb ? rb.has_emb : NULL; /* null rows of an update (zeros in rb.emb) */
  if (rb.emb && qv_collection_metric(sc->c) == QV_METRIC_HAMMING) {
    if (!(bits = rec_packed_bits(rb.emb, rb.n, rb.dim, "embeddings", rs))) goto cleanup;
    qb.bits = bits;
    qb.embeddings = NULL;
    qb.dim = 0;
  }
  if (kind == BATCH_ADD) rc = qv_collection_add(sc->c, &qb, QV_CONFLICT_IGNORE);
  else if (kind == BATCH_UPSERT) rc = qv_collection_upsert(sc->c, &qb);
  else rc = qv_collection_update(sc->c, &qb, 1);
  if (rc == QV_MISUSE) srv_error(rs, 404, "Collection [%s] does not exist", sc->info.uuid);
  else if (rc != QV_OK) srv_error_qv(rs, rq->s, rc);
  else srv_reply_text(rs, kind == BATCH_ADD ? 201 : 200, "{}");
cleanup:
  free(bits);
}

static void rec_count(srv_req *rq, srv_resp *rs, srv_coll *sc) {
  uint64_t n = 0;
  char buf[32];
  qv_status rc = qv_collection_count(sc->c, &n);
  if (rc != QV_OK) {
    srv_error_qv(rs, rq->s, rc);
    return;
  }
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)n);
  srv_reply_text(rs, 200, buf);
}

void route_records(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id,
                   srv_route op) {
  srv_coll sc;
  json_t *body = NULL;
  if (srv_coll_by_uuid(rq, rs, t, d, id, &sc) != 0) return;
  if (op == R_COUNT) {
    rec_count(rq, rs, &sc);
    goto cleanup;
  }
  if (op == R_QUERY && rec_query_fast(rq, rs, &sc)) goto cleanup;
  if ((op == R_ADD || op == R_UPSERT) && rec_write_fast(rq, rs, &sc, op == R_ADD ? BATCH_ADD : BATCH_UPSERT))
    goto cleanup;
  if (!(body = srv_parse_body(rq, rs, op == R_GET || op == R_DELETE))) goto cleanup;
  switch (op) {
  case R_ADD: rec_write(rq, rs, &sc, body, BATCH_ADD); break;
  case R_UPSERT: rec_write(rq, rs, &sc, body, BATCH_UPSERT); break;
  case R_UPDATE: rec_write(rq, rs, &sc, body, BATCH_UPDATE); break;
  case R_DELETE: rec_delete(rq, rs, &sc, body); break;
  case R_GET: rec_get(rq, rs, &sc, body); break;
  case R_QUERY: rec_query(rq, rs, &sc, body); break;
  default: srv_error(rs, 404, "Not found: no such route");
  }
cleanup:
  json_decref(body);
  srv_coll_done(&sc);
}
