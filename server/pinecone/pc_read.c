/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * pc_read.c -- query, fetch, list and describe_index_stats on the Pinecone data plane.
 *
 * Query: a dense query is one qv_collection_query on the namespace's collection, with the
 * translated filter inside quiver's filtered search (topK honoured exactly; no post-filter).
 * Scores: cosine and dotproduct 1 - quiver's distance (cos, dot), euclidean the squared
 * distance itself (lower is closer, as Pinecone reports it).
 *
 * A hybrid query (sparseVector given; dotproduct indexes only, as on Pinecone) scores
 * dense dot + sparse dot, which no dense index can rank: it is an exact scan of the
 * namespace's matching records, page by page, keeping the topK best in a heap. Correct for
 * any data, linear in the namespace's size.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pc.h"

#define SCAN_PAGE 4096

static const char sparse_msg[] = "Index configuration does not support sparse values - only "
                                 "indexes that are configured to use the dotproduct metric "
                                 "support sparse values";

static double score_of(const pc_index *ix, float dist) {
  return ix->metric == PC_EUCLIDEAN ? (double)dist : 1.0 - (double)dist;
}

static void put_floats(sbuf *b, const float *v, size_t n) {
  sbuf_putc(b, '[');
  for (size_t i = 0; i < n; i++) {
    if (i) sbuf_putc(b, ',');
    sbuf_json_float(b, v[i]);
  }
  sbuf_putc(b, ']');
}

static void put_sparse(sbuf *b, const pc_sparse *sp) {
  sbuf_puts(b, "{\"indices\":[");
  for (size_t i = 0; i < sp->n; i++) sbuf_printf(b, i ? ",%u" : "%u", sp->idx[i]);
  sbuf_puts(b, "],\"values\":");
  put_floats(b, sp->val, sp->n);
  sbuf_putc(b, '}');
}

/* The fields of one record after its id: values, sparseValues, metadata, as asked
 * (metadata 2: only when the record has some). */
int pc_put_record(sbuf *b, const float *emb, size_t dim, const char *meta, int values, int metadata) {
  json_t *m;
  pc_sparse sp = {0};
  if (values && emb) {
    sbuf_puts(b, ",\"values\":");
    put_floats(b, emb, dim);
  }
  if (!values && !metadata) return 0;
  m = meta ? json_loads(meta, 0, NULL) : NULL;
  if (values && m) {
    if (pc_meta_sparse(m, &sp)) {
      json_decref(m);
      return -1;
    }
    if (sp.n) {
      sbuf_puts(b, ",\"sparseValues\":");
      put_sparse(b, &sp);
    }
    pc_sparse_free(&sp);
  }
  if (metadata) {
    json_t *u = pc_meta_user(meta);
    char *text = u ? json_dumps(u, JSON_COMPACT) : NULL;
    int show = u && (metadata == 1 || json_object_size(u));
    json_decref(u);
    if (!text) {
      json_decref(m);
      return -1;
    }
    if (show) {
      sbuf_puts(b, ",\"metadata\":");
      sbuf_puts(b, text);
    }
    free(text);
  }
  json_decref(m);
  return 0;
}

void pc_put_tail(sbuf *b, const char *ns) {
  sbuf_puts(b, ",\"namespace\":");
  sbuf_json_str(b, ns ? ns : "");
  sbuf_puts(b, ",\"usage\":{\"readUnits\":1}}");
}

static void reply_empty(srv_resp *rs, const char *head, const char *ns) {
  sbuf b = {0};
  sbuf_puts(&b, head);
  pc_put_tail(&b, ns);
  sbuf_reply(&b, rs, 200);
}

/* ------------------------------------------------------------------ query */

typedef pc_hit hit;

/* Min-heap on score (ties: the larger id is "smaller", so it goes first). */
static int worse(const hit *a, const hit *b) {
  if (a->score != b->score) return a->score < b->score;
  return strcmp(a->id, b->id) > 0;
}

static void sift_down(hit *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    hit t;
    if (l < n && worse(&h[l], &h[m])) m = l;
    if (r < n && worse(&h[r], &h[m])) m = r;
    if (m == i) return;
    t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

static void sift_up(hit *h, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    hit t;
    if (!worse(&h[i], &h[p])) return;
    t = h[i];
    h[i] = h[p];
    h[p] = t;
    i = p;
  }
}

static int cmp_id(const void *a, const void *b) {
  return strcmp(((const hit *)a)->id, ((const hit *)b)->id);
}

static int cmp_best(const void *a, const void *b) {
  const hit *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return strcmp(x->id, y->id);
}

/* Offer (score, id) to the heap of at most k; -1 on OOM. */
static int offer(hit *h, size_t *n, size_t k, double score, const char *id) {
  hit cand = {score, NULL};
  if (*n == k) {
    cand.id = (char *)(uintptr_t)id;
    if (!worse(&h[0], &cand)) return 0;
    free(h[0].id);
    if (!(h[0].id = strdup(id))) return -1;
    h[0].score = score;
    sift_down(h, *n, 0);
    return 0;
  }
  if (!(cand.id = strdup(id))) return -1;
  h[*n] = cand;
  sift_up(h, (*n)++);
  return 0;
}

/* Exact hybrid scan of c: the best k of dense dot + sparse dot, sorted best first. */
qv_status pc_hybrid_scan(qv_collection *c, const pc_qreq *q, hit **out, size_t *n_out) {
  hit *h = calloc(q->k, sizeof *h);
  size_t n = 0;
  qv_status rc = h ? QV_OK : QV_NOMEM;
  for (size_t off = 0; rc == QV_OK;) {
    qv_get_opts o;
    qv_results *r = NULL;
    size_t cnt;
    qv_get_opts_init(&o);
    o.where_json = q->where;
    o.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS;
    o.limit = SCAN_PAGE;
    o.offset = off;
    rc = qv_collection_get_records(c, &o, &r);
    if (rc != QV_OK) break;
    cnt = qv_results_count(r, 0);
    for (size_t i = 0; rc == QV_OK && i < cnt; i++) {
      const float *e = qv_results_embedding(r, 0, i);
      const char *mt = qv_results_metadata(r, 0, i);
      double s = 0;
      for (size_t d = 0; e && d < q->dim; d++) s += (double)e[d] * (double)q->vec[d];
      if (mt) {
        pc_sparse sp;
        if (pc_meta_sparse_text(mt, &sp)) rc = QV_NOMEM;
        else s += pc_sparse_dot(&q->sparse, &sp);
        pc_sparse_free(&sp);
      }
      if (rc == QV_OK && offer(h, &n, q->k, s, qv_results_id(r, 0, i))) rc = QV_NOMEM;
    }
    qv_results_free(r);
    if (cnt < SCAN_PAGE) break;
    off += cnt;
  }
  if (rc != QV_OK) {
    for (size_t i = 0; h && i < n; i++) free(h[i].id);
    free(h);
    return rc;
  }
  /* pages are read by offset: a write between two pages may shift a record into the next
   * page, so it can be offered twice; keep each id once (its score is the same both times) */
  qsort(h, n, sizeof *h, cmp_id);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    if (kept && !strcmp(h[kept - 1].id, h[i].id)) free(h[i].id);
    else h[kept++] = h[i];
  }
  n = kept;
  qsort(h, n, sizeof *h, cmp_best);
  *out = h;
  *n_out = n;
  return QV_OK;
}

static void reply_hybrid(srv_req *rq, srv_resp *rs, qv_collection *c, const pc_index *ix,
                         pc_qreq *q) {
  hit *h = NULL;
  size_t n = 0;
  qv_results *r = NULL;
  qv_status rc = pc_hybrid_scan(c, q, &h, &n);
  sbuf b = {0};
  if (rc == QV_OK && n && (q->inc_values || q->inc_meta)) {
    const char **ids = malloc(n * sizeof *ids);
    qv_get_opts o;
    qv_get_opts_init(&o);
    if (!ids) rc = QV_NOMEM;
    for (size_t i = 0; ids && i < n; i++) ids[i] = h[i].id;
    o.ids = ids;
    o.n_ids = n;
    o.include = QV_INCLUDE_METADATAS | (q->inc_values ? QV_INCLUDE_EMBEDDINGS : 0);
    if (rc == QV_OK) rc = qv_collection_get_records(c, &o, &r);
    free((void *)ids);
  }
  if (rc != QV_OK) {
    pc_err_qv(rs, rq->s, rc);
    goto done;
  }
  sbuf_puts(&b, "{\"matches\":[");
  for (size_t i = 0; i < n; i++) {
    size_t j = 0, m = r ? qv_results_count(r, 0) : 0;
    if (i) sbuf_putc(&b, ',');
    sbuf_puts(&b, "{\"id\":");
    sbuf_json_str(&b, h[i].id);
    sbuf_puts(&b, ",\"score\":");
    sbuf_json_float(&b, h[i].score);
    while (j < m && strcmp(qv_results_id(r, 0, j), h[i].id)) j++;
    if (j < m && pc_put_record(&b, qv_results_embedding(r, 0, j), ix->dim,
                            qv_results_metadata(r, 0, j), q->inc_values, q->inc_meta))
      b.oom = 1;
    sbuf_putc(&b, '}');
  }
  sbuf_putc(&b, ']');
  pc_put_tail(&b, q->ns);
  sbuf_reply(&b, rs, 200);
done:
  for (size_t i = 0; i < n; i++) free(h[i].id);
  free(h);
  qv_results_free(r);
}

/* The stored vector of id, into a new q->vec; 1 found, 0 absent, -1 error (rc). */
static int vector_of(qv_collection *c, const char *id, pc_qreq *q, size_t dim, qv_status *rc) {
  qv_get_opts o;
  qv_results *r = NULL;
  const char *ids[1] = {id};
  const float *e;
  int found = 0;
  qv_get_opts_init(&o);
  o.ids = ids;
  o.n_ids = 1;
  o.include = QV_INCLUDE_EMBEDDINGS;
  *rc = qv_collection_get_records(c, &o, &r);
  if (*rc != QV_OK) return -1;
  e = qv_results_count(r, 0) ? qv_results_embedding(r, 0, 0) : NULL;
  if (e) {
    if (!(q->vec = malloc(dim * sizeof *q->vec))) {
      *rc = QV_NOMEM;
      found = -1;
    } else {
      memcpy(q->vec, e, dim * sizeof *q->vec);
      q->dim = dim;
      found = 1;
    }
  }
  qv_results_free(r);
  return found;
}

void pc_query_run(srv_req *rq, srv_resp *rs, const pc_index *ix, pc_qreq *q) {
  qv_collection *c = NULL;
  qv_results *r = NULL;
  qv_query_opts o;
  qv_status rc;
  sbuf b = {0};
  size_t n;
  if (rq->s->cluster) {
    pc_cl_query_run(rq, rs, ix, q);
    return;
  }
  rc = pc_ns_open(rq->s, ix, q->ns, 0, &c);
  if (rc == QV_NOTFOUND) {
    reply_empty(rs, "{\"matches\":[]", q->ns);
    return;
  }
  if (rc != QV_OK) {
    pc_err_qv(rs, rq->s, rc);
    return;
  }
  if (q->id) {
    int f = vector_of(c, q->id, q, ix->dim, &rc);
    if (f <= 0) {
      if (f < 0) pc_err_qv(rs, rq->s, rc);
      else reply_empty(rs, "{\"matches\":[]", q->ns);
      goto done;
    }
  }
  if (q->sparse.n) {
    reply_hybrid(rq, rs, c, ix, q);
    goto done;
  }
  qv_query_opts_init(&o);
  o.where_json = q->where;
  o.include = QV_INCLUDE_DISTANCES | (q->inc_values ? QV_INCLUDE_EMBEDDINGS : 0) |
              (q->inc_values || q->inc_meta ? QV_INCLUDE_METADATAS : 0);
  rc = qv_collection_query(c, q->vec, 1, q->k, &o, &r);
  if (rc != QV_OK) {
    pc_err_qv(rs, rq->s, rc);
    goto done;
  }
  n = qv_results_count(r, 0);
  sbuf_puts(&b, "{\"matches\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) sbuf_putc(&b, ',');
    sbuf_puts(&b, "{\"id\":");
    sbuf_json_str(&b, qv_results_id(r, 0, i));
    sbuf_puts(&b, ",\"score\":");
    sbuf_json_float(&b, score_of(ix, qv_results_distance(r, 0, i)));
    if (pc_put_record(&b, qv_results_embedding(r, 0, i), ix->dim, qv_results_metadata(r, 0, i),
                   q->inc_values, q->inc_meta))
      b.oom = 1;
    sbuf_putc(&b, '}');
  }
  sbuf_putc(&b, ']');
  pc_put_tail(&b, q->ns);
  sbuf_reply(&b, rs, 200);
done:
  qv_results_free(r);
  qv_collection_release(c);
}

static int opt_bool(json_t *body, const char *key, int *out, srv_resp *rs) {
  json_t *v = json_object_get(body, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) {
    pc_err(rs, 400, "%s: expected a boolean", key);
    return -1;
  }
  *out = json_is_true(v);
  return 0;
}

void pc_query(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  json_t *body, *k, *vec, *id, *ns, *spj;
  pc_qreq q;
  if (pc_query_fast(rq, rs, ix)) return;
  if (!(body = pc_body(rq, rs, 0, 0))) return;
  memset(&q, 0, sizeof q);
  k = json_object_get(body, "topK");
  vec = json_object_get(body, "vector");
  id = json_object_get(body, "id");
  ns = json_object_get(body, "namespace");
  spj = json_object_get(body, "sparseVector");
  if (vec && json_is_null(vec)) vec = NULL;
  if (id && json_is_null(id)) id = NULL;
  if (ns && json_is_null(ns)) ns = NULL;
  if (spj && json_is_null(spj)) spj = NULL;
  if (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > PC_MAX_TOPK) {
    pc_err(rs, 400, "topK: required, an integer from 1 to %d", PC_MAX_TOPK);
  } else if (json_object_get(body, "queries")) {
    pc_err(rs, 400, "queries: the deprecated batch form is not supported; send one vector or id");
  } else if (vec && id) {
    pc_err(rs, 400, "Cannot provide both 'id' and 'vector' at the same time");
  } else if (!vec && !id) {
    pc_err(rs, 400, "one of vector or id is required (this index is dense)");
  } else if (id && (!json_is_string(id) || !*json_string_value(id))) {
    pc_err(rs, 400, "id: expected a non-empty string");
  } else if (ns && !json_is_string(ns)) {
    pc_err(rs, 400, "namespace: expected a string");
  } else if (spj && ix->metric != PC_DOTPRODUCT) {
    pc_err(rs, 400, "sparseVector: %s", sparse_msg);
  } else if (!(ns && pc_ns_check(json_string_value(ns), rs)) &&
             !opt_bool(body, "includeValues", &q.inc_values, rs) &&
             !opt_bool(body, "includeMetadata", &q.inc_meta, rs) &&
             !(spj && pc_sparse_parse(spj, "sparseVector", &q.sparse, rs)) &&
             !pc_filter_field(body, &q.where, rs)) {
    q.k = (size_t)json_integer_value(k);
    q.ns = ns ? json_string_value(ns) : NULL;
    q.id = id ? json_string_value(id) : NULL;
    if (vec) {
      size_t n = json_array_size(vec);
      if (!json_is_array(vec) || n != ix->dim) {
        pc_err(rs, 400, "vector: Vector dimension %zu does not match the dimension of the index %u",
               n, ix->dim);
        goto done;
      }
      if (!(q.vec = malloc(n * sizeof *q.vec))) {
        pc_err(rs, 500, "out of memory");
        goto done;
      }
      for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(vec, i);
        double d = json_number_value(e);
        if (!json_is_number(e) || !isfinite(d) || fabs(d) > 3.4e38) {
          pc_err(rs, 400, "vector[%zu]: expected a finite number", i);
          goto done;
        }
        q.vec[i] = (float)d;
      }
      q.dim = n;
    }
    pc_query_run(rq, rs, ix, &q);
  }
done:
  free(q.vec);
  free(q.where);
  pc_sparse_free(&q.sparse);
  json_decref(body);
}

/* ------------------------------------------------------------------ fetch */

void pc_fetch(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  const char *raw[PC_MAX_FETCH];
  char **ids = NULL, *ns = NULL;
  size_t n = srv_req_args(rq, "ids", raw, PC_MAX_FETCH);
  int bad = 0;
  qv_collection *c = NULL;
  qv_results *r = NULL;
  qv_get_opts o;
  qv_status rc;
  sbuf b = {0};
  ns = pc_arg(rq, "namespace", &bad);
  if (bad) {
    pc_err(rs, 400, "namespace: bad percent-encoding");
    goto done;
  }
  if (ns && pc_ns_check(ns, rs)) goto done;
  if (n == 0) {
    pc_err(rs, 400, "ids: at least one id is required (?ids=a&ids=b)");
    goto done;
  }
  if (n > PC_MAX_FETCH) {
    pc_err(rs, 400, "ids: %zu ids in one request, more than the %d allowed", n, PC_MAX_FETCH);
    goto done;
  }
  if (!(ids = calloc(n, sizeof *ids))) {
    pc_err(rs, 500, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++)
    if (!(ids[i] = pc_arg_decode(raw[i])) || !*ids[i]) {
      pc_err(rs, 400, "ids[%zu]: bad percent-encoding or empty id", i);
      goto done;
    }
  if (rq->s->cluster) {
    pc_cl_fetch(rq, rs, ix, ns, ids, n);
    goto done;
  }
  rc = pc_ns_open(rq->s, ix, ns, 0, &c);
  if (rc == QV_NOTFOUND) {
    reply_empty(rs, "{\"vectors\":{}", ns);
    goto done;
  }
  if (rc == QV_OK) {
    qv_get_opts_init(&o);
    o.ids = (const char *const *)ids;
    o.n_ids = n;
    o.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS;
    rc = qv_collection_get_records(c, &o, &r);
  }
  if (rc != QV_OK) {
    pc_err_qv(rs, rq->s, rc);
    goto done;
  }
  sbuf_puts(&b, "{\"vectors\":{");
  for (size_t i = 0; i < qv_results_count(r, 0); i++) {
    const char *id = qv_results_id(r, 0, i);
    const char *m = qv_results_metadata(r, 0, i);
    if (i) sbuf_putc(&b, ',');
    sbuf_json_str(&b, id);
    sbuf_puts(&b, ":{\"id\":");
    sbuf_json_str(&b, id);
    if (pc_put_record(&b, qv_results_embedding(r, 0, i), ix->dim, m, 1, 2)) b.oom = 1;
    sbuf_putc(&b, '}');
  }
  sbuf_putc(&b, '}');
  pc_put_tail(&b, ns);
  sbuf_reply(&b, rs, 200);
done:
  for (size_t i = 0; ids && i < n; i++) free(ids[i]);
  free(ids);
  free(ns);
  qv_results_free(r);
  qv_collection_release(c);
}

/* ------------------------------------------------------------------ list */

static int cmp_strp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *pc_token_of(const char *s) {
  static const char hx[] = "0123456789abcdef";
  size_t n = strlen(s);
  char *o = malloc(2 * n + 1);
  if (!o) return NULL;
  for (size_t i = 0; i < n; i++) {
    o[2 * i] = hx[(unsigned char)s[i] >> 4];
    o[2 * i + 1] = hx[(unsigned char)s[i] & 15];
  }
  o[2 * n] = '\0';
  return o;
}

/* Decode a token made by hex_of; NULL if malformed. */
char *pc_token_parse(const char *t) {
  size_t n = strlen(t);
  char *o;
  if (n == 0 || n % 2 || n > 2 * PC_MAX_ID) return NULL;
  if (!(o = malloc(n / 2 + 1))) return NULL;
  for (size_t i = 0; i < n; i += 2) {
    int v = 0;
    for (int k = 0; k < 2; k++) {
      char c = t[i + k];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) {
        free(o);
        return NULL;
      }
      v = v * 16 + d;
    }
    if (!v) {
      free(o);
      return NULL;
    }
    o[i / 2] = (char)v;
  }
  o[n / 2] = '\0';
  return o;
}

int pc_page_args(srv_resp *rs, const char *lim, const char *tok, size_t *limit, char **after) {
  if (lim) {
    char *e;
    unsigned long long x = strtoull(lim, &e, 10);
    if (!*lim || *e || *lim == '-' || x < 1 || x > 100) {
      pc_err(rs, 400, "limit: expected an integer from 1 to 100");
      return -1;
    }
    *limit = (size_t)x;
  }
  if (tok && *tok && !(*after = pc_token_parse(tok))) {
    pc_err(rs, 400, "paginationToken: not a token this server handed out");
    return -1;
  }
  return 0;
}

void pc_list_reply(srv_resp *rs, const char *ns, const char **v, size_t total, const char *prefix, const char *after,
                   size_t limit) {
  size_t n = 0, start = 0, end, plen = prefix ? strlen(prefix) : 0;
  char *next = NULL;
  sbuf b = {0};
  for (size_t i = 0; i < total; i++) {
    const char *id = v[i];
    if (plen && strncmp(id, prefix, plen)) continue;
    if (after && strcmp(id, after) <= 0) continue;
    v[n++] = id;
  }
  qsort(v, n, sizeof *v, cmp_strp);
  end = start + limit < n ? start + limit : n;
  sbuf_puts(&b, "{\"vectors\":[");
  for (size_t i = start; i < end; i++) {
    sbuf_puts(&b, i > start ? ",{\"id\":" : "{\"id\":");
    sbuf_json_str(&b, v[i]);
    sbuf_putc(&b, '}');
  }
  sbuf_putc(&b, ']');
  if (end < n) {
    if (!(next = pc_token_of(v[end - 1]))) b.oom = 1;
    sbuf_puts(&b, ",\"pagination\":{\"next\":");
    sbuf_json_str(&b, next);
    sbuf_putc(&b, '}');
  }
  pc_put_tail(&b, ns);
  sbuf_reply(&b, rs, 200);
  free(next);
}

void pc_list(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  int bad = 0;
  char *ns = pc_arg(rq, "namespace", &bad), *prefix = pc_arg(rq, "prefix", &bad);
  char *tok = pc_arg(rq, "paginationToken", &bad), *after = NULL;
  char *lim = pc_arg(rq, "limit", &bad);
  const char **v = NULL;
  size_t limit = 100, n;
  qv_collection *c = NULL;
  qv_results *r = NULL;
  qv_get_opts o;
  qv_status rc;
  if (bad) {
    pc_err(rs, 400, "bad percent-encoding in the query string");
    goto done;
  }
  if (ns && pc_ns_check(ns, rs)) goto done;
  if (pc_page_args(rs, lim, tok, &limit, &after)) goto done;
  if (rq->s->cluster) {
    pc_cl_list(rq, rs, ix, ns, prefix, after, limit);
    goto done;
  }
  rc = pc_ns_open(rq->s, ix, ns, 0, &c);
  if (rc == QV_NOTFOUND) {
    reply_empty(rs, "{\"vectors\":[]", ns);
    goto done;
  }
  if (rc == QV_OK) {
    qv_get_opts_init(&o);
    o.include = 0;
    rc = qv_collection_get_records(c, &o, &r);
  }
  if (rc != QV_OK) {
    pc_err_qv(rs, rq->s, rc);
    goto done;
  }
  n = qv_results_count(r, 0);
  if (n && !(v = malloc(n * sizeof *v))) {
    pc_err(rs, 500, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) v[i] = qv_results_id(r, 0, i);
  pc_list_reply(rs, ns, v, n, prefix, after, limit);
done:
  free((void *)v);
  free(ns);
  free(prefix);
  free(tok);
  free(lim);
  free(after);
  qv_results_free(r);
  qv_collection_release(c);
}

/* ------------------------------------------------------------------ describe_index_stats */

void pc_stats(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  json_t *body = pc_body(rq, rs, 1, 0);
  char *where = NULL, **names = NULL;
  size_t n = 0, total = 0, shown = 0;
  qv_status rc;
  sbuf b = {0};
  if (!body) return;
  if (pc_filter_field(body, &where, rs)) goto done;
  if (rq->s->cluster) {
    pc_cl_stats(rq, rs, ix, where);
    goto done;
  }
  rc = pc_ns_list(rq->s, ix->name, &names, &n);
  sbuf_puts(&b, "{\"namespaces\":{");
  for (size_t i = 0; rc == QV_OK && i < n; i++) {
    qv_collection *c = NULL;
    uint64_t cnt = 0;
    char *full = pc_coll_name(ix->name, names[i]);
    rc = full ? qv_collection_get(rq->s->db, full, &c) : QV_NOMEM;
    free(full);
    if (rc == QV_NOTFOUND) { /* dropped meanwhile */
      rc = QV_OK;
      continue;
    }
    if (rc == QV_OK && !where) {
      rc = qv_collection_count(c, &cnt);
    } else if (rc == QV_OK) {
      qv_get_opts o;
      qv_results *r = NULL;
      qv_get_opts_init(&o);
      o.where_json = where;
      o.include = 0;
      rc = qv_collection_get_records(c, &o, &r);
      if (rc == QV_OK) cnt = qv_results_count(r, 0);
      qv_results_free(r);
    }
    qv_collection_release(c);
    if (rc == QV_MISUSE) { /* dropped between get and count */
      rc = QV_OK;
      continue;
    }
    if (rc != QV_OK || cnt == 0) continue;
    if (shown++) sbuf_putc(&b, ',');
    sbuf_json_str(&b, names[i]);
    sbuf_printf(&b, ":{\"vectorCount\":%llu}", (unsigned long long)cnt);
    total += cnt;
  }
  if (rc != QV_OK) {
    sbuf_free(&b);
    pc_err_qv(rs, rq->s, rc);
    goto done;
  }
  sbuf_printf(&b, "},\"dimension\":%u,\"indexFullness\":0,\"totalVectorCount\":%zu,"
                  "\"metric\":\"%s\",\"vectorType\":\"dense\"}",
              ix->dim, total, pc_metric_name(ix->metric));
  sbuf_reply(&b, rs, 200);
done:
  pc_strings_free(names, n);
  free(where);
  json_decref(body);
}
