/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * query.c -- reads: k-NN query (single and batch) with the filter planner, and get.
 *
 * Planner (one query with a filter). The filter's selectivity s is estimated by evaluating it
 * on up to PLAN_SAMPLE live slots spread evenly over the slot range. Then:
 *   - flat index, or opts->exact: exact scan, the filter tested per slot before any distance;
 *   - approximate index and s < PLAN_EXACT_BELOW (2%): exact scan over the matching slots. A
 *     graph search that must collect k matches visits on the order of ef/s nodes (each a
 *     random memory access plus a full distance), so below ~2% it costs more than testing the
 *     filter on every record (a few ns each) and computing distances for the s*n matches.
 *     It is also the only way to guarantee k results when k matching records exist but are
 *     scattered where the graph would not reach them;
 *   - otherwise: graph search with the filter as a predicate evaluated during the traversal.
 * Without a filter the index answers directly. Batches without a filter go to the index's
 * search_batch when it has one (flat: blocked GEMM), else queries are spread over threads.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "adv_int.h"
#include "col_int.h"
#include "dist.h"

#define PLAN_SAMPLE 512
#define PLAN_EXACT_BELOW 0.02
#define QV_MAX_K 100000

void qv_get_opts_init(qv_get_opts *o) {
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->include = QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS;
}

void qv_query_opts_init(qv_query_opts *o) {
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->include = QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS | QV_INCLUDE_DISTANCES;
}

/* A query's filter: the parsed filter, and its cached bitmap when there is one (fcache.h). */
typedef struct pred_ctx {
  const qv_collection *c;
  const qv_filter *f;     /* NULL: no filter */
  const uint64_t *bits;   /* NULL: evaluate f per record */
  uint64_t n_words, count;
  const uint64_t *cand;   /* NULL, or the only slots that may match (docidx.c); f decides */
  uint64_t cand_words, cand_count;
} pred_ctx;

static inline int in_cand(const pred_ctx *p, uint32_t s) {
  return (uint64_t)(s >> 6) < p->cand_words && qv__fbit(p->cand, s);
}

static int slot_pred(void *ctx, uint32_t s) {
  const pred_ctx *p = ctx;
  const qv_collection *c = p->c;
  if (p->bits) return (uint64_t)(s >> 6) < p->n_words && qv__fbit(p->bits, s);
  if (p->cand && !in_cand(p, s)) return 0;
  return qv__col_match(c, p->f, s);
}

/* Fraction of live records that match f, from an even sample of slots. */
static double estimate_selectivity(const qv_collection *c, const qv_filter *f) {
  size_t seen = 0, hit = 0;
  uint32_t n = c->n_slots;
  uint32_t step = n > PLAN_SAMPLE ? n / PLAN_SAMPLE : 1;
  for (uint32_t s = 0; s < n; s += step) {
    if (!c->idref[s]) continue;
    seen++;
    hit += qv__col_match(c, f, s);
  }
  return seen ? (double)hit / (double)seen : 0.0;
}

/* Distance to live slot s pushed into t. An index that does not keep every float resident
 * (contains()) has the vector read from the store into buf (dim floats, allocated by the
 * caller). A vector that cannot be read is an error, never a silently missing candidate. */
static qv_status push_slot(const qv_collection *c, const qv_kernels *kern, const float *q, uint32_t s, float *buf,
                           qv_topk *t) {
  const float *v = c->vt->vector(c->ix, s);
  if (!v && c->vt->contains && c->vt->contains(c->ix, s)) { /* floats not resident: from the store */
    qv_status rc = c->vsrc.get(c->vsrc.ctx, s, buf);
    if (rc) return rc;
    v = buf;
  }
  if (v) qv__topk_push(t, qv__metric_dist(kern, c->metric, q, v, c->dim), s);
  return QV_OK;
}

/* Exact k-NN over every live slot that passes the filter (if any), through the index's vectors. */
static qv_status exact_scan(const qv_collection *c, const float *q, size_t k, const pred_ctx *pc, qv_hit *out,
                            size_t *n_out) {
  const qv_kernels *kern = qv__kernels();
  const qv_mem *mem = &c->db->mem;
  float *buf = NULL;
  qv_status rc = QV_OK;
  qv_topk t;
  *n_out = 0;
  if (c->vt->contains && !(buf = qv__malloc_aligned(mem, c->dim * sizeof *buf))) return QV_NOMEM;
  qv__topk_init(&t, out, k);
  if (pc->bits) { /* only the matching slots */
    for (uint64_t w = 0; w < pc->n_words && rc == QV_OK; w++)
      for (uint64_t b = pc->bits[w]; b && rc == QV_OK; b &= b - 1)
        rc = push_slot(c, kern, q, (uint32_t)(w * 64 + (uint64_t)__builtin_ctzll(b)), buf, &t);
  } else if (pc->cand) { /* only the candidates, each judged by the filter */
    for (uint64_t w = 0; w < pc->cand_words && rc == QV_OK; w++)
      for (uint64_t b = pc->cand[w]; b && rc == QV_OK; b &= b - 1) {
        uint32_t s = (uint32_t)(w * 64 + (uint64_t)__builtin_ctzll(b));
        if (qv__col_match(c, pc->f, s)) rc = push_slot(c, kern, q, s, buf, &t);
      }
  } else {
    for (uint32_t s = 0; s < c->n_slots && rc == QV_OK; s++)
      if (qv__col_match(c, pc->f, s)) rc = push_slot(c, kern, q, s, buf, &t);
  }
  qv__free_aligned(mem, buf);
  size_t n = qv__topk_finish(&t);
  if (rc == QV_OK) *n_out = n;
  return rc;
}

/* One prepared query -> hits (room for k). */
static qv_status search_one(const qv_collection *c, const float *q, size_t k, const pred_ctx *pc,
                            const qv_query_opts *o, qv_hit *out, size_t *n_out) {
  int exact = o->exact;
  if (pc->f && !exact) {
    double sel = pc->bits ? (c->count ? (double)pc->count / (double)c->count : 0.0)
                 : pc->cand ? (c->count ? (double)pc->cand_count / (double)c->count : 0.0)
                            : estimate_selectivity(c, pc->f);
    /* flat: with a bitmap, scanning only the matches beats testing every row */
    exact = !(c->vt->caps & QV_IXCAP_APPROX) ? (pc->bits || pc->cand) : sel < PLAN_EXACT_BELOW;
  }
  if (exact && ((c->vt->caps & QV_IXCAP_APPROX) || pc->bits || pc->cand)) {
    return exact_scan(c, q, k, pc, out, n_out);
  }
  qv_search_req req = {q, k, o->ef_search, pc->f ? slot_pred : NULL, (void *)(uintptr_t)pc, o->search_params_json};
  return c->vt->search(c->ix, &req, out, n_out);
}

typedef struct qjob {
  const qv_collection *c;
  const float *qs;
  size_t k;
  const pred_ctx *pc;
  const qv_query_opts *o;
  qv_hit *hits;       /* nq * k */
  size_t *counts;
  size_t from, to;
  qv_status rc;
} qjob;

static void *qjob_run(void *arg) {
  qjob *j = arg;
  for (size_t i = j->from; i < j->to && j->rc == QV_OK; i++)
    j->rc = search_one(j->c, j->qs + i * j->c->dim, j->k, j->pc, j->o, j->hits + i * j->k, &j->counts[i]);
  return NULL;
}

static qv_status search_many(const qv_collection *c, const float *qs, size_t nq, size_t k, const pred_ctx *pc,
                             const qv_query_opts *o, qv_hit *hits, size_t *counts) {
  int nt = o->n_threads > 0 ? o->n_threads : c->db->query_threads;
  if (nq > 1 && !pc->f && !o->exact && c->vt->search_batch && !o->search_params_json)
    return c->vt->search_batch(c->ix, qs, nq, k, o->ef_search, nt, hits, counts);
  if ((size_t)nt > nq) nt = (int)nq;
  if (nt > 64) nt = 64;
  qjob jobs[64];
  pthread_t th[64];
  int started[64] = {0};
  for (int t = 0; t < nt; t++) {
    jobs[t] = (qjob){c, qs, k, pc, o, hits, counts, nq * (size_t)t / (size_t)nt, nq * (size_t)(t + 1) / (size_t)nt, QV_OK};
    if (t > 0) started[t] = pthread_create(&th[t], NULL, qjob_run, &jobs[t]) == 0;
  }
  if (nt > 0) qjob_run(&jobs[0]);
  qv_status rc = nt > 0 ? jobs[0].rc : QV_OK;
  for (int t = 1; t < nt; t++) {
    if (started[t]) pthread_join(th[t], NULL);
    else qjob_run(&jobs[t]); /* could not start a thread: do its share here */
    if (jobs[t].rc && rc == QV_OK) rc = jobs[t].rc;
  }
  return rc;
}

/* The original embedding of a live slot. */
static qv_status slot_embedding(const qv_collection *c, uint32_t s, float *out) {
  if (c->onorm) { /* in-memory cosine: the unit vector scaled back (equal within rounding) */
    const float *u = c->vt->vector(c->ix, s);
    if (!u) return qv__err(c->db, QV_ERROR, "record %s has no vector in the index", qv__col_id(c, s));
    for (uint32_t j = 0; j < c->dim; j++) out[j] = u[j] * c->onorm[s];
    return QV_OK;
  }
  if (c->db->store && c->metric == QV_METRIC_COSINE) {
    qv_status rc = qv__store_rec_embedding(c->db->store, c->rids[s], c->dim, out);
    return rc ? qv__err(c->db, rc, "%s", qv__store_errmsg(c->db->store)) : QV_OK;
  }
  const float *v = c->vt->vector(c->ix, s);
  if (!v && c->db->store) { /* an index that does not keep floats: the stored original */
    qv_status rc = qv__store_rec_embedding(c->db->store, c->rids[s], c->dim, out);
    return rc ? qv__err(c->db, rc, "%s", qv__store_errmsg(c->db->store)) : QV_OK;
  }
  if (!v) return qv__err(c->db, QV_ERROR, "record %s has no vector in the index", qv__col_id(c, s));
  memcpy(out, v, c->dim * sizeof(float));
  return QV_OK;
}

/* Copy the requested fields of slot s into hit i of r. */
static qv_status fill_hit(const qv_collection *c, qv_results *r, size_t i, uint32_t s, float dist) {
  const qv_mem *mem = &c->db->mem;
  if (!(r->ids[i] = qv__strdup(mem, qv__col_id(c, s)))) return QV_NOMEM;
  r->dists[i] = (r->include & QV_INCLUDE_DISTANCES) ? dist : 0.0f;
  if (r->embs) {
    qv_status rc = slot_embedding(c, s, r->embs + i * r->dim);
    if (rc) return rc;
  }
  if (r->metas && c->metaref[s] && !(r->metas[i] = qv__meta_packed_json(mem, qv__col_meta(c, s)))) return QV_NOMEM;
  if (r->docs && qv__col_doc(c, s) && !(r->docs[i] = qv__strdup(mem, qv__col_doc(c, s)))) return QV_NOMEM;
  return QV_OK;
}

static qv_status parse_filter(qv_db *db, const char *where, const char *where_doc, qv_filter **f) {
  char err[512];
  qv_status rc = qv__filter_parse(&db->mem, where, where_doc, f, err, sizeof err);
  return rc ? qv__err(db, rc, "%s", err) : QV_OK;
}

static qv_status check_queries(const qv_collection *c, const float *qs, size_t nq) {
  if (c->metric == QV_METRIC_HAMMING) return QV_OK; /* bit patterns, not numbers */
  for (size_t i = 0; i < nq; i++)
    for (uint32_t j = 0; j < c->dim; j++)
      if (!isfinite(qs[i * c->dim + j]))
        return qv__err(c->db, QV_INVALID, "query_embeddings[%zu][%u]: %s is not allowed", i, j,
                       isnan(qs[i * c->dim + j]) ? "NaN" : "infinity");
  return QV_OK;
}

static qv_status query_locked(const qv_collection *c, const float *queries, size_t nq, size_t k, const pred_ctx *pc,
                              const qv_query_opts *o, qv_results **out) {
  const qv_mem *mem = &c->db->mem;
  qv_status rc = QV_OK;
  float *qs = NULL;
  qv_hit *hits = NULL;
  size_t *counts = qv__calloc(mem, nq, sizeof *counts);
  qv_results *r = NULL;
  if (!counts) return QV_NOMEM;
  /* bad input even when there is nothing to search (c->dim 0: the row width is unknown) */
  if ((rc = check_queries(c, queries, nq))) goto cleanup;
  if (c->ix && c->count) {
    if (k > c->count) k = c->count;
    qs = qv__malloc_aligned(mem, nq * c->dim * sizeof(float));
    hits = qv__malloc(mem, nq * k * sizeof *hits);
    if (!qs || !hits) { rc = QV_NOMEM; goto cleanup; }
    memcpy(qs, queries, nq * c->dim * sizeof(float));
    if (c->metric == QV_METRIC_COSINE)
      for (size_t i = 0; i < nq; i++) qv__normalize(qs + i * c->dim, c->dim);
    if (nq == 1) rc = search_one(c, qs, k, pc, o, hits, &counts[0]);
    else rc = search_many(c, qs, nq, k, pc, o, hits, counts);
    if (rc) {
      if (!*qv_db_errmsg(c->db)) qv__err(c->db, rc, "search failed");
      goto cleanup;
    }
  }
  if (!(r = qv__results_new(mem, nq, counts, c->dim, o->include))) { rc = QV_NOMEM; goto cleanup; }
  for (size_t q = 0; q < nq && rc == QV_OK; q++)
    for (size_t i = 0; i < counts[q] && rc == QV_OK; i++)
      rc = fill_hit(c, r, r->off[q] + i, hits[q * k + i].slot, hits[q * k + i].dist);
  if (rc) goto cleanup;
  *out = r;
  r = NULL;
cleanup:
  qv_results_free(r);
  qv__free(mem, counts);
  qv__free(mem, hits);
  qv__free_aligned(mem, qs);
  return rc;
}

static qv_status query_impl(qv_collection *c, const float *queries, size_t nq, size_t k, const qv_query_opts *opts,
                           qv_results **out);

qv_status qv_collection_query(qv_collection *c, const float *queries, size_t nq, size_t k, const qv_query_opts *opts,
                              qv_results **out) {
  if (!out) return QV_MISUSE;
  *out = NULL;
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv__err_clear(c->db);
  if (c->metric == QV_METRIC_HAMMING)
    return qv__err(c->db, QV_INVALID, "query_embeddings: %s is a hamming collection; query with packed bits", c->name);
  return query_impl(c, queries, nq, k, opts, out);
}

qv_status qv_collection_query_bits(qv_collection *c, const uint8_t *queries, size_t nq, size_t k,
                                   const qv_query_opts *opts, qv_results **out) {
  if (!out) return QV_MISUSE;
  *out = NULL;
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv__err_clear(c->db);
  if (c->metric != QV_METRIC_HAMMING)
    return qv__err(c->db, QV_INVALID, "query_bits: %s is not a hamming collection (%s)", c->name,
                   qv_metric_name(c->metric));
  if (!queries || nq == 0) return qv__err(c->db, QV_INVALID, "query_embeddings: at least one query is required");
  size_t nb = c->bits / 8, row = (size_t)c->dim * 4;
  if (nq > SIZE_MAX / row) return QV_NOMEM;
  unsigned char *p = qv__malloc_aligned(&c->db->mem, nq * row);
  if (!p) return QV_NOMEM;
  memset(p, 0, nq * row);
  for (size_t i = 0; i < nq; i++) memcpy(p + i * row, queries + i * nb, nb);
  rc = query_impl(c, (const float *)(const void *)p, nq, k, opts, out);
  qv__free_aligned(&c->db->mem, p);
  return rc;
}

static qv_status query_impl(qv_collection *c, const float *queries, size_t nq, size_t k, const qv_query_opts *opts,
                           qv_results **out) {
  qv_query_opts given;
  qv_status rc;
  qv_db *db = c->db;
  qv_query_opts_init(&given);
  if (opts) qv__struct_in(&given, sizeof given, opts, QV__BASE_QUERY_OPTS);
  opts = &given;
  if (k == 0) return qv__err(db, QV_INVALID, "n_results: must be at least 1");
  if (k > QV_MAX_K) return qv__err(db, QV_INVALID, "n_results: %zu is larger than %d", k, QV_MAX_K);
  if (!queries || nq == 0) return qv__err(db, QV_INVALID, "query_embeddings: at least one query is required");
  if (opts->ef_search > 100000) return qv__err(db, QV_INVALID, "ef_search: %u is larger than 100000", opts->ef_search);
  if (opts->include & ~0xFu) return qv__err(db, QV_INVALID, "include: unknown bits 0x%x", opts->include & ~0xFu);
  if (given.search_params_json) { /* the kind's runtime parameters only, checked once per call */
    char perr[512];
    double vals[QV_MAX_PARAMS], unset[QV_MAX_PARAMS];
    for (size_t i = 0; i < QV_MAX_PARAMS; i++) unset[i] = NAN;
    rc = qv__params_resolve(c->vt->params, c->vt->name, given.search_params_json, unset, 1, vals, perr, sizeof perr);
    if (rc) return qv__err(db, rc, "search_params.%s", perr);
    /* the generic knob travels as ef (every kind reads it); the index reads the rest itself */
    int ef_at = qv__params_find(c->vt->params, "ef_search");
    if (ef_at >= 0 && !isnan(vals[ef_at])) given.ef_search = (uint32_t)vals[ef_at];
  }
  qv_filter *f = NULL;
  if ((rc = parse_filter(db, opts->where_json, opts->where_document_json, &f))) return rc;
  qv__doc_index_prepare(c, f); /* docidx.c: before the lock */
  if ((rc = qv__col_rdlock_ready(c))) {
    qv__filter_free(&db->mem, f);
    return rc;
  }
  pred_ctx pc = {c, f, NULL, 0, 0, NULL, 0, 0};
  qv_fent *fe = f ? qv__fcache_acquire(c, opts->where_json, opts->where_document_json) : NULL;
  uint64_t *cand = NULL;
  if (fe) {
    struct qv_fent_view v = qv__fcache_view(fe);
    pc.bits = v.bits;
    pc.n_words = v.n_words;
    pc.count = v.count;
  } else if (f) {
    pc.cand = cand = qv__doc_candidates(c, f, &pc.cand_words, &pc.cand_count);
  }
  rc = query_locked(c, queries, nq, k, &pc, opts, out);
  qv__free(&db->mem, cand);
  qv__fcache_release(c, fe);
  pthread_rwlock_unlock(&c->lock);
  qv__filter_free(&db->mem, f);
  if (rc && !*qv_db_errmsg(db)) qv__err(db, rc, "%s", qv_status_str(rc));
  return rc;
}

/* ------------------------------------------------------------------ get */

typedef struct rid_slot {
  int64_t rid;
  uint32_t slot;
} rid_slot;

static int cmp_rid(const void *a, const void *b) {
  int64_t x = ((const rid_slot *)a)->rid, y = ((const rid_slot *)b)->rid;
  return (x > y) - (x < y);
}

/* Matching slots in result order: the ids' order when given, else insertion order. */
static qv_status get_targets(const qv_collection *c, const qv_get_opts *o, const qv_filter *f, uint32_t **out,
                             size_t *n_out) {
  uint64_t cw = 0, cn = 0;
  uint64_t *cand = !o->ids && f ? qv__doc_candidates(c, f, &cw, &cn) : NULL; /* docidx.c */
  const qv_mem *mem = &c->db->mem;
  size_t cap = o->ids ? o->n_ids : c->count;
  rid_slot *v = qv__malloc(mem, (cap ? cap : 1) * sizeof *v);
  size_t n = 0;
  if (!v) {
    qv__free(mem, cand);
    return QV_NOMEM;
  }
  if (o->ids) {
    for (size_t i = 0; i < o->n_ids; i++) {
      uint32_t s = qv__idmap_get(&c->idmap, o->ids[i]);
      if (s == QV_NO_SLOT || !qv__col_match(c, f, s)) continue;
      v[n++] = (rid_slot){c->rids[s], s};
    }
    if (o->storage_order) qsort(v, n, sizeof *v, cmp_rid);
  } else if (cand) { /* only the records the text index names, each judged by the filter */
    for (uint64_t w = 0; w < cw; w++)
      for (uint64_t b = cand[w]; b && n < cap; b &= b - 1) {
        uint32_t s = (uint32_t)(w * 64 + (uint64_t)__builtin_ctzll(b));
        if (qv__col_match(c, f, s)) v[n++] = (rid_slot){c->rids[s], s};
      }
    qsort(v, n, sizeof *v, cmp_rid);
  } else {
    for (uint32_t s = 0; s < c->n_slots && n < cap; s++)
      if (qv__col_match(c, f, s)) v[n++] = (rid_slot){c->rids[s], s};
    qsort(v, n, sizeof *v, cmp_rid);
  }
  qv__free(mem, cand);
  uint32_t *slots = qv__malloc(mem, (n ? n : 1) * sizeof *slots);
  if (!slots) {
    qv__free(mem, v);
    return QV_NOMEM;
  }
  size_t from = o->offset < n ? o->offset : n;
  size_t len = n - from;
  if (o->limit && o->limit < len) len = o->limit;
  for (size_t i = 0; i < len; i++) slots[i] = v[from + i].slot;
  qv__free(mem, v);
  *out = slots;
  *n_out = len;
  return QV_OK;
}

qv_status qv_collection_get_records(qv_collection *c, const qv_get_opts *opts, qv_results **out) {
  qv_get_opts given;
  if (!out) return QV_MISUSE;
  *out = NULL;
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv_db *db = c->db;
  qv__err_clear(db);
  qv_get_opts_init(&given);
  if (opts) qv__struct_in(&given, sizeof given, opts, QV__BASE_GET_OPTS);
  opts = &given;
  if (!opts->ids && opts->n_ids) return qv__err(db, QV_INVALID, "ids: NULL with n_ids %zu", opts->n_ids);
  for (size_t i = 0; opts->ids && i < opts->n_ids; i++)
    if (!opts->ids[i]) return qv__err(db, QV_INVALID, "ids[%zu]: must not be NULL", i);
  if (opts->include & ~0xFu) return qv__err(db, QV_INVALID, "include: unknown bits 0x%x", opts->include & ~0xFu);
  qv_filter *f = NULL;
  if ((rc = parse_filter(db, opts->where_json, opts->where_document_json, &f))) return rc;
  if (!opts->ids) qv__doc_index_prepare(c, f); /* docidx.c: before the lock */
  uint32_t *slots = NULL;
  size_t n = 0;
  qv_results *r = NULL;
  if ((rc = qv__col_rdlock_ready(c))) {
    qv__filter_free(&db->mem, f);
    return rc;
  }
  rc = get_targets(c, opts, f, &slots, &n);
  if (rc == QV_OK && !(r = qv__results_new(&db->mem, 1, &n, c->dim, opts->include & ~(unsigned)QV_INCLUDE_DISTANCES)))
    rc = QV_NOMEM;
  for (size_t i = 0; rc == QV_OK && i < n; i++) rc = fill_hit(c, r, i, slots[i], 0.0f);
  pthread_rwlock_unlock(&c->lock);
  qv__free(&db->mem, slots);
  qv__filter_free(&db->mem, f);
  if (rc) {
    qv_results_free(r);
    if (!*qv_db_errmsg(db)) qv__err(db, rc, "%s", qv_status_str(rc));
    return rc;
  }
  *out = r;
  return QV_OK;
}

/* For the other read paths (advanced.c): one hit's requested fields, as query() fills them. */
qv_status qv__col_fill_hit(const qv_collection *c, qv_results *r, size_t i, uint32_t s, float dist) {
  return fill_hit(c, r, i, s, dist);
}
