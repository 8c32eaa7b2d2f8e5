/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * rec_read.c -- get, query and delete by ids/filters (chroma-v2.md §8.4-8.6).
 *
 * query with `ids`: qv_query_opts has no id restriction, so the candidates are fetched with
 * qv_collection_get_records(ids, filters, embeddings) and ranked here, exactly, with the
 * collection's metric (the formulas of quiver.h). Everything else goes straight to quiver.
 * Native extras: `ef_search` (per-query HNSW beam) and `exact` (force an exact scan).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll_config.h"
#include "rec.h"

static int parse_sel(json_t *body, rec_sel *s, srv_resp *rs) {
  json_t *ids = NULL;
  int got;
  memset(s, 0, sizeof *s);
  got = srv_field_arr(body, "ids", &ids, rs);
  if (got < 0) return -1;
  s->has_ids = got;
  if (ids && rec_parse_ids(ids, &s->ids, &s->n_ids, 0, rs)) return -1;
  if (rec_filter_text(body, "where", &s->where, rs) < 0 ||
      rec_filter_text(body, "where_document", &s->wdoc, rs) < 0)
    return -1;
  return 0;
}

static void sel_free(rec_sel *s) {
  free(s->ids);
  free(s->where);
  free(s->wdoc);
}

/* Optional non-negative integer field; 0 absent, 1 set, -1 replied. */
static int opt_uint(json_t *body, const char *key, size_t *out, srv_resp *rs) {
  long long v = 0;
  int got = srv_field_int(body, key, &v, rs);
  if (got == 1 && v < 0) {
    srv_error(rs, 400, "`%s` must be a non-negative integer", key);
    return -1;
  }
  if (got == 1) *out = (size_t)v;
  return got;
}

static void reply_results(srv_resp *rs, const rec_view *v, const srv_include *inc, int nested) {
  sbuf b = {0};
  rec_write_view(&b, v, inc, nested);
  sbuf_reply(&b, rs, 200);
}

/* ------------------------------------------------------------------ get */

void rec_get(srv_req *rq, srv_resp *rs, srv_coll *sc, json_t *body) {
  rec_sel s;
  srv_include inc = {0};
  size_t limit = 0, offset = 0;
  int has_limit;
  qv_get_opts o;
  qv_results *r = NULL;
  qv_status rc;
  rec_view v;
  if (parse_sel(body, &s, rs) || rec_parse_include(body, &inc, 0, rs)) goto cleanup;
  if ((has_limit = opt_uint(body, "limit", &limit, rs)) < 0 || opt_uint(body, "offset", &offset, rs) < 0)
    goto cleanup;
  memset(&v, 0, sizeof v);
  if ((has_limit && limit == 0) || (s.has_ids && s.n_ids == 0)) { /* nothing can match */
    reply_results(rs, &v, &inc, 0);
    goto cleanup;
  }
  qv_get_opts_init(&o);
  o.ids = s.ids;
  o.n_ids = s.n_ids;
  o.where_json = s.where;
  o.where_document_json = s.wdoc;
  o.limit = limit;
  o.offset = offset;
  o.include = inc.qv;
  o.storage_order = 1; /* Chroma returns records in insertion order, also by ids */
  rc = qv_collection_get_records(sc->c, &o, &r);
  if (rc != QV_OK) {
    srv_error_qv(rs, rq->s, rc);
    goto cleanup;
  }
  v.r = r;
  v.nq = 1;
  reply_results(rs, &v, &inc, 0);
cleanup:
  qv_results_free(r);
  json_decref(inc.echo);
  sel_free(&s);
}

/* ------------------------------------------------------------------ delete */

void rec_delete(srv_req *rq, srv_resp *rs, srv_coll *sc, json_t *body) {
  rec_sel s;
  size_t limit = 0, n_del = 0;
  int has_limit;
  qv_status rc;
  char buf[48];
  if (parse_sel(body, &s, rs) || (has_limit = opt_uint(body, "limit", &limit, rs)) < 0) goto cleanup;
  if (has_limit && !s.where && !s.wdoc) {
    srv_error(rs, 400, "limit can only be specified when a where clause is provided");
    goto cleanup;
  }
  if (s.has_ids && s.n_ids == 0 && !s.where && !s.wdoc) {
    srv_error(rs, 400, "ids must not be empty when no where clause is provided");
    goto cleanup;
  }
  if (s.n_ids || s.where || s.wdoc) {
    rc = qv_collection_delete_records(sc->c, s.ids, s.n_ids, s.where, s.wdoc, limit, &n_del);
    if (rc != QV_OK) {
      srv_error_qv(rs, rq->s, rc);
      goto cleanup;
    }
    if (!s.where && !s.wdoc) n_del = s.n_ids; /* Chroma counts the ids asked for */
  }
  snprintf(buf, sizeof buf, "{\"deleted\":%zu}", n_del);
  srv_reply_text(rs, 200, buf);
cleanup:
  sel_free(&s);
}

/* ------------------------------------------------------------------ query */

static int parse_query(json_t *body, query_req *qr, srv_resp *rs) {
  json_t *qe = NULL;
  long long k = 10, ef = 0;
  int got = srv_field_arr(body, "query_embeddings", &qe, rs);
  if (got == 0) srv_error(rs, 422, "Failed to deserialize the JSON body: missing field `query_embeddings`");
  if (got <= 0) return -1;
  qr->nq = json_array_size(qe);
  if (qr->nq > SRV_MAX_BATCH) {
    srv_error(rs, 400, "%zu query embeddings exceed the maximum batch size %d", qr->nq, SRV_MAX_BATCH);
    return -1;
  }
  if (rec_parse_embeddings(qe, qr->nq, 0, &qr->q, NULL, &qr->dim, "query_embeddings", rs)) return -1;
  if (srv_field_int(body, "n_results", &k, rs) < 0 || srv_field_int(body, "ef_search", &ef, rs) < 0 ||
      srv_field_bool(body, "exact", &qr->exact, rs) < 0)
    return -1;
  if (k < 0 || k > 0xffffffffLL) {
    srv_error(rs, 422, "Failed to deserialize the JSON body: n_results: expected a u32, got %lld", k);
    return -1;
  }
  if (ef < 0 || ef > 1000000) {
    srv_error(rs, 400, "ef_search must be between 1 and 1000000");
    return -1;
  }
  qr->k = (size_t)k;
  qr->ef = (uint32_t)ef;
  if (parse_sel(body, &qr->sel, rs) || rec_parse_include(body, &qr->inc, 1, rs)) return -1;
  return 0;
}

/* Distance of a to b under metric m, as quiver.h defines it. */
static float distance(qv_metric m, const float *a, const float *b, size_t dim) {
  double s = 0, na = 0, nb = 0;
  for (size_t i = 0; i < dim; i++) {
    double x = a[i], y = b[i];
    switch (m) {
    case QV_METRIC_L2: s += (x - y) * (x - y); break;
    case QV_METRIC_L1: s += fabs(x - y); break;
    default: s += x * y; na += x * x; nb += y * y;
    }
  }
  if (m == QV_METRIC_IP) return (float)(1.0 - s);
  if (m == QV_METRIC_COSINE) return (na > 0 && nb > 0) ? (float)(1.0 - s / sqrt(na * nb)) : 1.0f;
  return (float)s;
}

/* Sort perm by dist (insertion sort over small candidate lists is fine up to ~thousands). */
static void rank(size_t *perm, float *dist, size_t n) {
  for (size_t i = 1; i < n; i++) {
    size_t p = perm[i];
    float dv = dist[i];
    size_t j = i;
    for (; j > 0 && dist[j - 1] > dv; j--) {
      perm[j] = perm[j - 1];
      dist[j] = dist[j - 1];
    }
    perm[j] = p;
    dist[j] = dv;
  }
}

/* query restricted to ids: fetch the candidates, rank them here. */
static void query_by_ids(srv_req *rq, srv_resp *rs, srv_coll *sc, query_req *qr) {
  qv_get_opts o;
  qv_results *r = NULL;
  size_t n = 0, **perm = NULL, *n_hits = NULL;
  float **dist = NULL;
  rec_view v;
  qv_status rc;
  qv_get_opts_init(&o);
  o.ids = qr->sel.ids;
  o.n_ids = qr->sel.n_ids;
  o.where_json = qr->sel.where;
  o.where_document_json = qr->sel.wdoc;
  o.include = qr->inc.qv | QV_INCLUDE_EMBEDDINGS;
  rc = qv_collection_get_records(sc->c, &o, &r);
  if (rc != QV_OK) {
    srv_error_qv(rs, rq->s, rc);
    return;
  }
  n = qv_results_count(r, 0);
  perm = calloc(qr->nq + 1, sizeof *perm);
  dist = calloc(qr->nq + 1, sizeof *dist);
  n_hits = calloc(qr->nq + 1, sizeof *n_hits);
  if (!perm || !dist || !n_hits) goto oom;
  for (size_t q = 0; q < qr->nq; q++) {
    if (!(perm[q] = malloc((n + 1) * sizeof **perm)) || !(dist[q] = malloc((n + 1) * sizeof **dist)))
      goto oom;
    for (size_t i = 0; i < n; i++) {
      const float *e = qv_results_embedding(r, 0, i);
      perm[q][i] = i;
      dist[q][i] = e ? distance(sc->info.metric, qr->q + q * qr->dim, e, qr->dim) : INFINITY;
    }
    rank(perm[q], dist[q], n);
    n_hits[q] = n < qr->k ? n : qr->k;
  }
  memset(&v, 0, sizeof v);
  v.r = r;
  v.nq = qr->nq;
  v.n_hits = n_hits;
  v.perm = perm;
  v.dist = dist;
  reply_results(rs, &v, &qr->inc, 1);
  goto cleanup;
oom:
  srv_error(rs, 500, "out of memory");
cleanup:
  for (size_t q = 0; q < qr->nq; q++) {
    if (perm) free(perm[q]);
    if (dist) free(dist[q]);
  }
  free(perm);
  free(dist);
  free(n_hits);
  qv_results_free(r);
}

/* An answer with nq empty rows (empty collection, empty id list). */
static void reply_empty(srv_resp *rs, const query_req *qr) {
  size_t *zeros = calloc(qr->nq + 1, sizeof *zeros);
  rec_view v;
  memset(&v, 0, sizeof v);
  if (!zeros) {
    srv_error(rs, 500, "out of memory");
    return;
  }
  v.nq = qr->nq;
  v.n_hits = zeros;
  v.perm = (size_t *const *)(void *)&zeros; /* never read: every row has 0 hits */
  reply_results(rs, &v, &qr->inc, 1);
  free(zeros);
}

static void query_index(srv_req *rq, srv_resp *rs, srv_coll *sc, query_req *qr) {
  qv_query_opts o;
  qv_results *r = NULL;
  qv_status rc;
  rec_view v;
  qv_query_opts_init(&o);
  o.where_json = qr->sel.where;
  o.where_document_json = qr->sel.wdoc;
  o.include = qr->inc.qv;
  o.ef_search = qr->ef ? qr->ef : cfg_ef_search(sc->info.config_json);
  o.exact = qr->exact;
  if (qv_collection_metric(sc->c) == QV_METRIC_HAMMING) { /* rows of packed bytes */
    uint8_t *bits = rec_packed_bits(qr->q, qr->nq, qr->dim, "query_embeddings", rs);
    if (!bits) return;
    rc = qv_collection_query_bits(sc->c, bits, qr->nq, qr->k, &o, &r);
    free(bits);
  } else {
    rc = qv_collection_query(sc->c, qr->q, qr->nq, qr->k, &o, &r);
  }
  if (rc != QV_OK) {
    srv_error_qv(rs, rq->s, rc);
    return;
  }
  memset(&v, 0, sizeof v);
  v.r = r;
  v.nq = qr->nq;
  reply_results(rs, &v, &qr->inc, 1);
  qv_results_free(r);
}

void rec_query_run(srv_req *rq, srv_resp *rs, srv_coll *sc, query_req *qr) {
  if (qr->nq && rec_check_dim(sc, qr->dim, rs)) return;
  if (qr->k > 1000) { /* never let a huge n_results size quiver's buffers */
    uint64_t n = 0;
    if (qv_collection_count(sc->c, &n) == QV_OK && n < qr->k) qr->k = n ? (size_t)n : 1;
  }
  if (qr->nq == 0 || qr->k == 0 || qv_collection_dim(sc->c) == 0 ||
      (qr->sel.has_ids && qr->sel.n_ids == 0))
    reply_empty(rs, qr);
  else if (qr->sel.has_ids)
    query_by_ids(rq, rs, sc, qr);
  else
    query_index(rq, rs, sc, qr);
}

void rec_query(srv_req *rq, srv_resp *rs, srv_coll *sc, json_t *body) {
  query_req qr;
  memset(&qr, 0, sizeof qr);
  if (parse_query(body, &qr, rs) == 0) rec_query_run(rq, rs, sc, &qr);
  free(qr.q);
  json_decref(qr.inc.echo);
  sel_free(&qr.sel);
}
