/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * routes_adv.c -- native routes for the advanced reads, next to the Chroma record routes:
 *   POST B/collections/{id}/range_search   {"query_embeddings", "radius", "limit", "where", ...}
 *   POST B/collections/{id}/kmeans         {"k", "niter", "nredo", "seed", "spherical", ...}
 *   POST B/collections/{id}/combine        {"terms": [{"id"|"embedding", "weight"}...], ...}
 *   POST B/collections/{id}/interpolate    {"a", "b", "t", "spherical", ...}
 *   POST B/collections/{id}/centroid       {"ids": [...], ...}
 *   POST B/collections/{id}/recommend      {"positive": [...], "negative": [...], "strategy"}
 *   POST B/collections/{id}/mmr            {"query_embeddings": [q], "mmr_lambda", "fetch_k"}
 *   POST B/collections/{id}/text_search    {"text", "n_results", "where", ...}
 *   POST B/collections/{id}/hybrid_search  {"text", "query_embeddings": [q], "fusion", "alpha"}
 * All but kmeans answer in Chroma's query shape (lists of lists, "include" as for query;
 * recommend's, text_search's and hybrid_search's "distances" are scores, highest first). Errors: 400 for a malformed value
 * (naming the field), 404 for an unknown collection or record id, 422 for a wrong JSON type.
 * docs/SERVER.md documents the bodies.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"
#include "srv.h"

/* What every route reads: n_results, where, where_document, include, ef_search, exact. */
typedef struct adv_req {
  json_t *body;
  srv_coll sc;
  int have_sc;
  qv_query_opts qo;
  srv_include inc;
  char *where, *wdoc;
  size_t k;
  int exclude_inputs;
  /* vectors parsed from the body (freed at the end) */
  float *bufs[256];
  int n_bufs;
} adv_req;

static void adv_free(adv_req *a) {
  json_decref(a->body);
  json_decref(a->inc.echo);
  free(a->where);
  free(a->wdoc);
  for (int i = 0; i < a->n_bufs; i++) free(a->bufs[i]);
  if (a->have_sc) srv_coll_done(&a->sc);
}

static int opt_uint(json_t *body, const char *key, size_t *out, size_t max, srv_resp *rs) {
  long long v = 0;
  int got = srv_field_int(body, key, &v, rs);
  if (got == 1 && (v < 0 || (unsigned long long)v > max)) {
    srv_error(rs, 400, "`%s` must be an integer in [0, %zu]", key, max);
    return -1;
  }
  if (got == 1) *out = (size_t)v;
  return got;
}

/* Optional number field: 0 absent, 1 set, -1 replied. */
static int opt_num(json_t *body, const char *key, double *out, srv_resp *rs) {
  json_t *v = json_object_get(body, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v)) {
    srv_error(rs, 422, "`%s` must be a number", key);
    return -1;
  }
  *out = json_number_value(v);
  return 1;
}

/* Parse the body, resolve the collection, read the common fields. 0, or -1 after replying. */
static int adv_begin(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id, adv_req *a) {
  memset(a, 0, sizeof *a);
  a->k = 10;
  a->exclude_inputs = 1;
  qv_query_opts_init(&a->qo);
  if (!(a->body = srv_parse_body(rq, rs, 1))) return -1;
  if (srv_coll_by_uuid(rq, rs, t, d, id, &a->sc) != 0) return -1;
  a->have_sc = 1;
  long long ef = 0;
  if (opt_uint(a->body, "n_results", &a->k, 100000, rs) < 0 || rec_parse_include(a->body, &a->inc, 1, rs) < 0 ||
      rec_filter_text(a->body, "where", &a->where, rs) < 0 ||
      rec_filter_text(a->body, "where_document", &a->wdoc, rs) < 0 ||
      srv_field_bool(a->body, "exact", &a->qo.exact, rs) < 0 ||
      srv_field_bool(a->body, "exclude_inputs", &a->exclude_inputs, rs) < 0 ||
      srv_field_int(a->body, "ef_search", &ef, rs) < 0)
    return -1;
  if (ef < 0 || ef > 100000) {
    srv_error(rs, 400, "`ef_search` must be in [0, 100000]");
    return -1;
  }
  a->qo.ef_search = (uint32_t)ef;
  a->qo.where_json = a->where;
  a->qo.where_document_json = a->wdoc;
  a->qo.include = a->inc.qv | QV_INCLUDE_DISTANCES;
  return 0;
}

/* One vector (array of numbers) of the collection's dimension. 0, or -1 after replying. */
static int parse_vec(adv_req *a, json_t *v, const char *field, float **out, srv_resp *rs) {
  size_t n = json_array_size(v), dim = a->sc.info.dim;
  if (a->n_bufs == (int)(sizeof a->bufs / sizeof a->bufs[0])) {
    srv_error(rs, 400, "%s: too many vectors in one request", field);
    return -1;
  }
  if (dim && n != dim) {
    srv_error(rs, 400, "%s: %zu values for a collection of dimension %zu", field, n, dim);
    return -1;
  }
  float *f = malloc((n ? n : 1) * sizeof *f);
  if (!f) {
    srv_error(rs, 500, "out of memory");
    return -1;
  }
  a->bufs[a->n_bufs++] = f;
  for (size_t i = 0; i < n; i++) {
    json_t *x = json_array_get(v, i);
    if (!json_is_number(x)) {
      srv_error(rs, 422, "%s[%zu]: expected a number", field, i);
      return -1;
    }
    f[i] = (float)json_number_value(x);
  }
  *out = f;
  return 0;
}

/* An id (string) or a vector (array) into t. 0, or -1 after replying. */
static int parse_term(adv_req *a, json_t *v, const char *field, qv_vec_term *t, srv_resp *rs) {
  memset(t, 0, sizeof *t);
  t->weight = 1.0f;
  if (json_is_string(v)) {
    t->id = json_string_value(v);
    return 0;
  }
  if (json_is_array(v)) {
    float *f = NULL;
    if (parse_vec(a, v, field, &f, rs) < 0) return -1;
    t->vector = f;
    return 0;
  }
  srv_error(rs, 422, "%s: expected a record id (string) or an embedding (array)", field);
  return -1;
}

/* A list of ids/vectors (weighted: of {"id"|"embedding", "weight"} or [x, weight]). */
static int parse_terms(adv_req *a, const char *key, int weighted, int required, qv_vec_term **out, size_t *n,
                       srv_resp *rs) {
  json_t *arr = NULL;
  int got = srv_field_arr(a->body, key, &arr, rs);
  *out = NULL;
  *n = 0;
  if (got < 0) return -1;
  if (!got || json_array_size(arr) == 0) {
    if (!required) return 0;
    srv_error(rs, 400, "`%s`: at least one entry is required", key);
    return -1;
  }
  size_t len = json_array_size(arr);
  qv_vec_term *t = calloc(len, sizeof *t);
  if (!t) {
    srv_error(rs, 500, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    char field[64];
    json_t *x = json_array_get(arr, i), *w = NULL;
    snprintf(field, sizeof field, "%s[%zu]", key, i);
    if (weighted && json_is_object(x)) {
      json_t *id = json_object_get(x, "id"), *emb = json_object_get(x, "embedding");
      w = json_object_get(x, "weight");
      x = id && !json_is_null(id) ? id : emb;
      if (!x) {
        free(t);
        srv_error(rs, 400, "%s: give \"id\" or \"embedding\"", field);
        return -1;
      }
    } else if (weighted && json_is_array(x) && json_array_size(x) == 2 && !json_is_number(json_array_get(x, 0))) {
      w = json_array_get(x, 1);
      x = json_array_get(x, 0);
    }
    if (parse_term(a, x, field, &t[i], rs) < 0) {
      free(t);
      return -1;
    }
    if (w && !json_is_null(w)) {
      if (!json_is_number(w)) {
        free(t);
        srv_error(rs, 422, "%s: the weight must be a number", field);
        return -1;
      }
      t[i].weight = (float)json_number_value(w);
    }
  }
  *out = t;
  *n = len;
  return 0;
}

static void reply_results(srv_resp *rs, const qv_results *r, const srv_include *inc) {
  sbuf b = {0};
  rec_view v = {r, qv_results_nq(r), NULL, NULL, NULL};
  rec_write_view(&b, &v, inc, 1);
  sbuf_reply(&b, rs, 200);
}

static void finish(srv_req *rq, srv_resp *rs, adv_req *a, qv_status st, qv_results *r) {
  if (st != QV_OK) srv_error_qv(rs, rq->s, st);
  else reply_results(rs, r, &a->inc);
  qv_results_free(r);
}

/* ------------------------------------------------------------------ the routes */

static void do_range(srv_req *rq, srv_resp *rs, adv_req *a) {
  json_t *qe = NULL;
  double radius = NAN;
  size_t limit = 0, dim = 0;
  float *q = NULL;
  if (srv_field_arr(a->body, "query_embeddings", &qe, rs) < 0 || opt_num(a->body, "radius", &radius, rs) < 0 ||
      opt_uint(a->body, "limit", &limit, 100000, rs) < 0)
    return;
  if (!qe || json_array_size(qe) == 0) {
    srv_error(rs, 400, "`query_embeddings`: at least one is required");
    return;
  }
  if (isnan(radius)) {
    srv_error(rs, 400, "`radius` is required");
    return;
  }
  size_t nq = json_array_size(qe);
  if (rec_parse_embeddings(qe, nq, 0, &q, NULL, &dim, "query_embeddings", rs) < 0) return;
  if (rec_check_dim(&a->sc, dim, rs)) {
    free(q);
    return;
  }
  qv_results *r = NULL;
  qv_status st = qv_collection_range_search(a->sc.c, q, nq, (float)radius, limit, &a->qo, &r);
  free(q);
  finish(rq, rs, a, st, r);
}

static void do_mmr(srv_req *rq, srv_resp *rs, adv_req *a) {
  json_t *qe = NULL;
  double lambda = 0.5;
  size_t fetch_k = 0, dim = 0;
  float *q = NULL;
  if (srv_field_arr(a->body, "query_embeddings", &qe, rs) < 0 || opt_num(a->body, "mmr_lambda", &lambda, rs) < 0 ||
      opt_uint(a->body, "fetch_k", &fetch_k, 100000, rs) < 0)
    return;
  if (!qe || json_array_size(qe) != 1) {
    srv_error(rs, 400, "`query_embeddings`: exactly one is required");
    return;
  }
  if (rec_parse_embeddings(qe, 1, 0, &q, NULL, &dim, "query_embeddings", rs) < 0) return;
  if (rec_check_dim(&a->sc, dim, rs)) {
    free(q);
    return;
  }
  qv_results *r = NULL;
  qv_status st = qv_collection_query_mmr(a->sc.c, q, a->k, (float)lambda, fetch_k, &a->qo, &r);
  free(q);
  finish(rq, rs, a, st, r);
}

static void do_combine(srv_req *rq, srv_resp *rs, adv_req *a) {
  qv_vec_term *t = NULL;
  size_t n = 0;
  if (parse_terms(a, "terms", 1, 1, &t, &n, rs) < 0) return;
  qv_results *r = NULL;
  qv_status st = qv_collection_combine(a->sc.c, t, n, a->k, a->exclude_inputs, &a->qo, &r);
  free(t);
  finish(rq, rs, a, st, r);
}

static void do_interpolate(srv_req *rq, srv_resp *rs, adv_req *a) {
  qv_vec_term ta, tb;
  double t = NAN;
  int spherical = -1;
  json_t *ja = json_object_get(a->body, "a"), *jb = json_object_get(a->body, "b");
  if (opt_num(a->body, "t", &t, rs) < 0 || srv_field_bool(a->body, "spherical", &spherical, rs) < 0) return;
  if (!ja || !jb) {
    srv_error(rs, 400, "`a` and `b` are required");
    return;
  }
  if (isnan(t)) {
    srv_error(rs, 400, "`t` is required");
    return;
  }
  if (parse_term(a, ja, "a", &ta, rs) < 0 || parse_term(a, jb, "b", &tb, rs) < 0) return;
  qv_results *r = NULL;
  qv_status st = qv_collection_interpolate(a->sc.c, &ta, &tb, (float)t, spherical, a->k, a->exclude_inputs, &a->qo, &r);
  finish(rq, rs, a, st, r);
}

static void do_centroid(srv_req *rq, srv_resp *rs, adv_req *a) {
  json_t *ids = NULL;
  const char **v = NULL;
  size_t n = 0;
  if (srv_field_arr(a->body, "ids", &ids, rs) < 0) return;
  if (!ids || json_array_size(ids) == 0) {
    srv_error(rs, 400, "`ids`: at least one id is required");
    return;
  }
  if (rec_parse_ids(ids, &v, &n, 0, rs)) return;
  qv_results *r = NULL;
  qv_status st = qv_collection_centroid_search(a->sc.c, v, n, a->k, a->exclude_inputs, &a->qo, &r);
  free(v);
  finish(rq, rs, a, st, r);
}

static void do_recommend(srv_req *rq, srv_resp *rs, adv_req *a) {
  qv_vec_term *pos = NULL, *neg = NULL;
  size_t np = 0, nn = 0;
  const char *strategy = "average";
  qv_recommend_strategy s = QV_RECOMMEND_AVERAGE;
  if (srv_field_str(a->body, "strategy", &strategy, rs) < 0) return;
  if (!strcmp(strategy, "best_score")) s = QV_RECOMMEND_BEST_SCORE;
  else if (strcmp(strategy, "average")) {
    srv_error(rs, 400, "`strategy` must be \"average\" or \"best_score\"");
    return;
  }
  if (parse_terms(a, "positive", 0, 1, &pos, &np, rs) < 0) return;
  if (parse_terms(a, "negative", 0, 0, &neg, &nn, rs) < 0) {
    free(pos);
    return;
  }
  qv_results *r = NULL;
  qv_status st = qv_collection_recommend(a->sc.c, pos, np, neg, nn, a->k, s, &a->qo, &r);
  free(pos);
  free(neg);
  finish(rq, rs, a, st, r);
}

static void do_kmeans(srv_req *rq, srv_resp *rs, adv_req *a) {
  qv_kmeans_opts o;
  size_t k = 0, niter = 20, nredo = 1, maxp = 0;
  long long seed = 1234;
  const char *init = "kmeans++", *label = NULL;
  qv_kmeans_opts_init(&o);
  if (opt_uint(a->body, "k", &k, UINT32_MAX, rs) < 0 || opt_uint(a->body, "niter", &niter, 100000, rs) < 0 ||
      opt_uint(a->body, "nredo", &nredo, 1000, rs) < 0 || opt_uint(a->body, "max_points", &maxp, SIZE_MAX, rs) < 0 ||
      srv_field_int(a->body, "seed", &seed, rs) < 0 || srv_field_bool(a->body, "spherical", &o.spherical, rs) < 0 ||
      srv_field_str(a->body, "init", &init, rs) < 0 || srv_field_str(a->body, "label_key", &label, rs) < 0)
    return;
  if (!k) {
    srv_error(rs, 400, "`k` is required (at least 1)");
    return;
  }
  if (!strcmp(init, "random")) o.init = 1;
  else if (strcmp(init, "kmeans++") && strcmp(init, "k-means++"))
    {
    srv_error(rs, 400, "`init` must be \"kmeans++\" or \"random\"");
    return;
  }
  o.k = (uint32_t)k;
  o.niter = (uint32_t)niter;
  o.nredo = (uint32_t)nredo;
  o.seed = (uint64_t)seed;
  o.max_points = maxp;
  o.where_json = a->where;
  o.where_document_json = a->wdoc;
  o.label_key = label;
  qv_kmeans_result *r = NULL;
  qv_status st = qv_collection_kmeans(a->sc.c, &o, &r);
  if (st != QV_OK) {
    srv_error_qv(rs, rq->s, st);
    return;
  }
  sbuf b = {0};
  sbuf_printf(&b, "{\"k\":%u,\"dim\":%u,\"inertia\":%.17g,\"centroids\":[", r->k, r->dim, r->inertia);
  for (uint32_t j = 0; j < r->k; j++) {
    sbuf_puts(&b, j ? ",[" : "[");
    for (uint32_t l = 0; l < r->dim; l++) {
      if (l) sbuf_putc(&b, ',');
      sbuf_json_float(&b, r->centroids[(size_t)j * r->dim + l]);
    }
    sbuf_putc(&b, ']');
  }
  sbuf_puts(&b, "],\"sizes\":[");
  for (uint32_t j = 0; j < r->k; j++) sbuf_printf(&b, j ? ",%llu" : "%llu", (unsigned long long)r->sizes[j]);
  sbuf_puts(&b, "],\"nearest\":[");
  for (uint32_t j = 0; j < r->k; j++) {
    if (j) sbuf_putc(&b, ',');
    sbuf_json_str(&b, r->nearest[j]);
  }
  sbuf_puts(&b, "],\"ids\":[");
  for (size_t i = 0; i < r->n; i++) {
    if (i) sbuf_putc(&b, ',');
    sbuf_json_str(&b, r->ids[i]);
  }
  sbuf_puts(&b, "],\"labels\":[");
  for (size_t i = 0; i < r->n; i++) sbuf_printf(&b, i ? ",%u" : "%u", r->labels[i]);
  sbuf_puts(&b, "],\"distances\":[");
  for (size_t i = 0; i < r->n; i++) {
    if (i) sbuf_putc(&b, ',');
    sbuf_json_float(&b, r->distances[i]);
  }
  sbuf_puts(&b, "]}");
  qv_kmeans_result_free(r);
  sbuf_reply(&b, rs, 200);
}

static void do_text(srv_req *rq, srv_resp *rs, adv_req *a) {
  const char *text = NULL;
  if (srv_field_str(a->body, "text", &text, rs) < 0) return;
  if (!text) {
    srv_error(rs, 400, "`text` is required");
    return;
  }
  qv_results *r = NULL;
  qv_status st = qv_collection_text_search(a->sc.c, text, a->k, &a->qo, &r);
  finish(rq, rs, a, st, r);
}

static void do_hybrid(srv_req *rq, srv_resp *rs, adv_req *a) {
  const char *text = NULL, *fusion = "rrf";
  json_t *qe = NULL;
  double alpha = 0.5;
  size_t dim = 0;
  float *q = NULL;
  if (srv_field_str(a->body, "text", &text, rs) < 0 || srv_field_str(a->body, "fusion", &fusion, rs) < 0 ||
      opt_num(a->body, "alpha", &alpha, rs) < 0 || srv_field_arr(a->body, "query_embeddings", &qe, rs) < 0)
    return;
  if (!text) {
    srv_error(rs, 400, "`text` is required");
    return;
  }
  qv_fusion fu = QV_FUSION_RRF;
  if (!strcmp(fusion, "weighted")) fu = QV_FUSION_WEIGHTED;
  else if (strcmp(fusion, "rrf")) {
    srv_error(rs, 400, "`fusion` must be \"rrf\" or \"weighted\"");
    return;
  }
  if (!qe || json_array_size(qe) != 1) {
    srv_error(rs, 400, "`query_embeddings`: exactly one is required");
    return;
  }
  if (rec_parse_embeddings(qe, 1, 0, &q, NULL, &dim, "query_embeddings", rs) < 0) return;
  if (rec_check_dim(&a->sc, dim, rs)) {
    free(q);
    return;
  }
  qv_results *r = NULL;
  qv_status st = qv_collection_hybrid_search(a->sc.c, text, q, a->k, fu, (float)alpha, &a->qo, &r);
  free(q);
  finish(rq, rs, a, st, r);
}

int route_adv(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id, const char *op) {
  static const struct {
    const char *name;
    void (*fn)(srv_req *, srv_resp *, adv_req *);
  } tab[] = {
      {"range_search", do_range}, {"kmeans", do_kmeans},       {"combine", do_combine}, {"interpolate", do_interpolate},
      {"centroid", do_centroid},  {"recommend", do_recommend}, {"mmr", do_mmr},
      {"text_search", do_text},   {"hybrid_search", do_hybrid},
  };
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
    if (strcmp(op, tab[i].name)) continue;
    rs->route = R_ADV;
    if (rq->method != M_POST) {
      srv_error(rs, 405, "Method not allowed on this route");
      return 1;
    }
    adv_req a;
    if (adv_begin(rq, rs, t, d, id, &a) == 0) tab[i].fn(rq, rs, &a);
    adv_free(&a);
    return 1;
  }
  return 0;
}
