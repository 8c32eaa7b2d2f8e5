/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * advanced.c -- reads beyond top-k: range search (single and batch), vector arithmetic
 * (combine, interpolate, centroid), recommendation (average and best-score) and maximal
 * marginal relevance. Contracts in quiver.h.
 *
 * Every call is a session (adv_int.h): filters parsed, the collection's read lock held, input
 * records excluded through the slot predicate the indexes already take -- so an analogy's
 * inputs never use up one of the k places. Vectors of stored records are the index's prepared
 * vectors (unit length for cosine), which is what the arithmetic wants for cosine. The
 * planner follows query.c's: an approximate index answers a filter matching under 2% of the
 * records with an exact scan of the matches.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adv_int.h"
#include "dist.h"

#define ADV_MAX_K 100000
#define PLAN_SAMPLE 512
#define PLAN_EXACT_BELOW 0.02
#define BS_MAX_PAIRS 64 /* best-score: direction searches for at most this many (pos, neg) pairs */
/* best-score on l2/l1: how far out along p - n the direction searches start (far: the ranking
 * tends to v.(p - n), the pair's score; nearer: what the |v|^2 term still favours) */
static const float bs_reach[] = {4.0f, 64.0f};

/* ------------------------------------------------------------------ session */

qv_status qv__adv_begin(qv_collection *c, const char *where, const char *where_doc, qv_adv *a) {
  char err[512];
  memset(a, 0, sizeof *a);
  a->c = c;
  qv_status rc = qv__filter_parse(&c->db->mem, where, where_doc, &a->f, err, sizeof err);
  if (rc) return qv__err(c->db, rc, "%s", err);
  if ((rc = qv__col_rdlock_ready(c))) {
    qv__filter_free(&c->db->mem, a->f);
    a->f = NULL;
    return rc;
  }
  if (a->f && (a->fe = qv__fcache_acquire(c, where, where_doc))) {
    struct qv_fent_view v = qv__fcache_view(a->fe);
    a->bits = v.bits;
    a->n_words = v.n_words;
    a->count = v.count;
  }
  return QV_OK;
}

void qv__adv_end(qv_adv *a) {
  qv_collection *c = a->c;
  qv__fcache_release(c, a->fe);
  pthread_rwlock_unlock(&c->lock);
  qv__filter_free(&c->db->mem, a->f);
  qv__free(&c->db->mem, a->excl);
  memset(a, 0, sizeof *a);
}

static int cmp_u32(const void *x, const void *y) {
  uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
  return (a > b) - (a < b);
}

static int excluded(const qv_adv *a, uint32_t s) {
  return a->n_excl && bsearch(&s, a->excl, a->n_excl, sizeof s, cmp_u32) != NULL;
}

int qv__adv_match(const qv_adv *a, uint32_t s) {
  const qv_collection *c = a->c;
  if (excluded(a, s)) return 0;
  if (a->bits) return (uint64_t)(s >> 6) < a->n_words && qv__fbit(a->bits, s);
  return qv__col_match(c, a->f, s);
}

static int adv_pred(void *ctx, uint32_t s) { return qv__adv_match(ctx, s); }

/* Leave slot s out of every result of this session (kept sorted). */
static qv_status exclude_slot(qv_adv *a, uint32_t s) {
  if (excluded(a, s)) return QV_OK;
  if (a->n_excl == a->cap_excl) {
    size_t nc = a->cap_excl ? 2 * a->cap_excl : 8;
    uint32_t *g = qv__realloc(&a->c->db->mem, a->excl, nc * sizeof *g);
    if (!g) return QV_NOMEM;
    a->excl = g;
    a->cap_excl = nc;
  }
  a->excl[a->n_excl++] = s;
  qsort(a->excl, a->n_excl, sizeof *a->excl, cmp_u32);
  return QV_OK;
}

/* ------------------------------------------------------------------ search under a session */

static double selectivity(const qv_adv *a) {
  const qv_collection *c = a->c;
  if (a->bits) return c->count ? (double)a->count / (double)c->count : 0.0;
  size_t seen = 0, hit = 0;
  uint32_t n = c->n_slots, step = n > PLAN_SAMPLE ? n / PLAN_SAMPLE : 1;
  for (uint32_t s = 0; s < n; s += step) {
    if (!c->idref[s]) continue;
    seen++;
    hit += qv__col_match(c, a->f, s);
  }
  return seen ? (double)hit / (double)seen : 0.0;
}

/* Exact scan wanted: forced, or a selective filter on an approximate index. */
static int plan_exact(const qv_adv *a, const qv_query_opts *o) {
  if (o->exact) return 1;
  return a->f && (a->c->vt->caps & QV_IXCAP_APPROX) && selectivity(a) < PLAN_EXACT_BELOW;
}

/* The vector of live slot s: the index's, or the store's copy in buf (dim floats) when the
 * index does not keep floats resident; *v = NULL when s is not in the index. */
static qv_status adv_vec(const qv_collection *c, uint32_t s, float *buf, const float **v) {
  *v = c->vt->vector(c->ix, s);
  if (!*v && buf && c->vt->contains(c->ix, s)) {
    qv_status rc = c->vsrc.get(c->vsrc.ctx, s, buf);
    if (rc) return rc; /* an error, not a candidate quietly left out */
    *v = buf;
  }
  return QV_OK;
}

/* k nearest matching slots to the prepared q. */
qv_status qv__adv_knn(const qv_adv *a, const float *q, size_t k, const qv_query_opts *o, qv_hit *out, size_t *n_out) {
  const qv_collection *c = a->c;
  *n_out = 0;
  if (!c->ix || !c->count || !k) return QV_OK;
  if (plan_exact(a, o) && (c->vt->caps & QV_IXCAP_APPROX)) {
    const qv_kernels *kern = qv__kernels();
    float *buf = NULL;
    qv_status rc = QV_OK;
    if (c->vt->contains && !(buf = qv__malloc_aligned(&c->db->mem, c->dim * sizeof *buf))) return QV_NOMEM;
    qv_topk t;
    qv__topk_init(&t, out, k);
    for (uint32_t s = 0; s < c->n_slots && rc == QV_OK; s++) {
      if (!qv__adv_match(a, s)) continue;
      const float *v;
      rc = adv_vec(c, s, buf, &v);
      if (rc == QV_OK && v) qv__topk_push(&t, qv__metric_dist(kern, c->metric, q, v, c->dim), s);
    }
    size_t n = qv__topk_finish(&t);
    qv__free_aligned(&c->db->mem, buf);
    if (rc == QV_OK) *n_out = n;
    return rc;
  }
  int pred = a->f || a->n_excl;
  qv_search_req req = {q, k, o->ef_search, pred ? adv_pred : NULL, (void *)(uintptr_t)a, o->search_params_json};
  return c->vt->search(c->ix, &req, out, n_out);
}

/* Every matching slot within radius of the prepared q, sorted, at most limit (0 = all). */
static qv_status range_one(const qv_adv *a, const float *q, float radius, size_t limit, const qv_query_opts *o,
                           qv_hit **out, size_t *n_out) {
  const qv_collection *c = a->c;
  const qv_mem *mem = &c->db->mem;
  *out = NULL;
  *n_out = 0;
  if (!c->ix || !c->count) return QV_OK;
  if (!plan_exact(a, o) && c->vt->range_search) {
    int pred = a->f || a->n_excl;
    qv_search_req req = {q, limit, o->ef_search, pred ? adv_pred : NULL, (void *)(uintptr_t)a, o->search_params_json};
    return c->vt->range_search(c->ix, &req, radius, mem, out, n_out);
  }
  const qv_kernels *kern = qv__kernels();
  qv_hit *h = NULL;
  size_t n = 0, cap = 0;
  float *buf = NULL;
  if (c->vt->contains && !(buf = qv__malloc_aligned(mem, c->dim * sizeof *buf))) return QV_NOMEM;
  for (uint32_t s = 0; s < c->n_slots; s++) {
    if (!qv__adv_match(a, s)) continue;
    const float *v;
    qv_status vrc = adv_vec(c, s, buf, &v);
    float d;
    if (vrc) {
      qv__free(mem, h);
      qv__free_aligned(mem, buf);
      return vrc;
    }
    if (!v || !((d = qv__metric_dist(kern, c->metric, q, v, c->dim)) <= radius)) continue;
    if (n == cap) {
      size_t nc = cap ? 2 * cap : 64;
      qv_hit *g = qv__realloc(mem, h, nc * sizeof *g);
      if (!g) {
        qv__free(mem, h);
        qv__free_aligned(mem, buf);
        return QV_NOMEM;
      }
      h = g;
      cap = nc;
    }
    h[n].dist = d;
    h[n++].slot = s;
  }
  qv__free_aligned(mem, buf);
  if (n) qsort(h, n, sizeof *h, qv__hit_cmp);
  if (limit && n > limit) n = limit;
  *out = h;
  *n_out = n;
  return QV_OK;
}

/* ------------------------------------------------------------------ arguments */

qv_status qv__adv_check(qv_collection *c, size_t k, const qv_query_opts **o, qv_query_opts *defaults,
                              qv_results **out) {
  if (!out) return QV_MISUSE;
  *out = NULL;
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv__err_clear(c->db);
  if (!*o) {
    qv_query_opts_init(defaults);
    *o = defaults;
  }
  if (k == 0) return qv__err(c->db, QV_INVALID, "k: must be at least 1");
  if (k > ADV_MAX_K) return qv__err(c->db, QV_INVALID, "k: %zu is larger than %d", k, ADV_MAX_K);
  if ((*o)->ef_search > 100000) return qv__err(c->db, QV_INVALID, "ef_search: %u is larger than 100000", (*o)->ef_search);
  if ((*o)->include & ~0xFu) return qv__err(c->db, QV_INVALID, "include: unknown bits 0x%x", (*o)->include & ~0xFu);
  return QV_OK;
}

qv_status qv__adv_check_vec(const qv_collection *c, const float *v, const char *field, size_t i) {
  for (uint32_t j = 0; j < c->dim; j++)
    if (!isfinite(v[j]))
      return qv__err(c->db, QV_INVALID, "%s[%zu][%u]: %s is not allowed", field, i, j, isnan(v[j]) ? "NaN" : "infinity");
  return QV_OK;
}

/*
 * The prepared vector of a term into out (dim floats): a stored record's index vector (and
 * its slot into *slot), or the given vector, unit length for cosine. field/i name it.
 */
static qv_status term_vector(const qv_adv *a, const qv_vec_term *t, const char *field, size_t i, float *out,
                             uint32_t *slot) {
  const qv_collection *c = a->c;
  *slot = QV_NO_SLOT;
  if (t->id) {
    uint32_t s = qv__idmap_get(&c->idmap, t->id);
    const float *v = NULL;
    if (s != QV_NO_SLOT && c->ix) { /* the index's floats, or the store's copy (adv_vec) */
      qv_status rc = adv_vec(c, s, c->vt->contains ? out : NULL, &v);
      if (rc) return qv__err(c->db, rc, "%s[%zu]: reading the vector of '%s' failed", field, i, t->id);
    }
    if (!v) return qv__err(c->db, QV_NOTFOUND, "%s[%zu]: no record with id '%s'", field, i, t->id);
    if (v != out) memcpy(out, v, c->dim * sizeof(float));
    *slot = s;
    return QV_OK;
  }
  if (!t->vector) return qv__err(c->db, QV_INVALID, "%s[%zu]: neither an id nor a vector", field, i);
  qv_status rc = qv__adv_check_vec(c, t->vector, field, i);
  if (rc) return rc;
  memcpy(out, t->vector, c->dim * sizeof(float));
  if (c->metric == QV_METRIC_COSINE) qv__normalize(out, c->dim);
  return QV_OK;
}

/* Results (one row) from hits; include as asked, distances always (they carry the scores). */
qv_status qv__adv_results(const qv_adv *a, const qv_hit *h, size_t n, unsigned include, qv_results **out) {
  const qv_collection *c = a->c;
  qv_results *r = qv__results_new(&c->db->mem, 1, &n, c->dim, include | QV_INCLUDE_DISTANCES);
  if (!r) return QV_NOMEM;
  qv_status rc = QV_OK;
  for (size_t i = 0; i < n && rc == QV_OK; i++) rc = qv__col_fill_hit(c, r, i, h[i].slot, h[i].dist);
  if (rc) {
    qv_results_free(r);
    return rc;
  }
  *out = r;
  return QV_OK;
}

/* Search the prepared query q (normalised here for cosine) and make results. */
static qv_status search_results(qv_adv *a, float *q, size_t k, const qv_query_opts *o, qv_results **out) {
  const qv_collection *c = a->c;
  const qv_mem *mem = &c->db->mem;
  if (c->metric == QV_METRIC_COSINE) qv__normalize(q, c->dim);
  qv_hit *h = qv__malloc(mem, k * sizeof *h);
  size_t n = 0;
  if (!h) return QV_NOMEM;
  qv_status rc = qv__adv_knn(a, q, k, o, h, &n);
  if (rc == QV_OK) rc = qv__adv_results(a, h, n, o->include, out);
  qv__free(mem, h);
  return rc;
}

qv_status qv__adv_empty(const qv_collection *c, size_t nq, const qv_query_opts *o, qv_results **out) {
  const qv_mem *mem = &c->db->mem;
  size_t *counts = qv__calloc(mem, nq, sizeof *counts);
  if (!counts) return QV_NOMEM;
  *out = qv__results_new(mem, nq, counts, c->dim, o->include | QV_INCLUDE_DISTANCES);
  qv__free(mem, counts);
  return *out ? QV_OK : QV_NOMEM;
}

/* Finish a call: end the session, and make sure a failure carries a message. */
qv_status qv__adv_finish(qv_adv *a, qv_status rc) {
  qv_db *db = a->c->db;
  qv__adv_end(a);
  if (rc && !*qv_db_errmsg(db)) qv__err(db, rc, "%s", qv_status_str(rc));
  return rc;
}

/* ------------------------------------------------------------------ range search */

typedef struct rjob {
  const qv_adv *a;
  const float *qs;
  float radius;
  size_t limit;
  const qv_query_opts *o;
  qv_hit **hits;
  size_t *counts;
  size_t from, to;
  qv_status rc;
} rjob;

static void *rjob_run(void *arg) {
  rjob *j = arg;
  for (size_t i = j->from; i < j->to && j->rc == QV_OK; i++)
    j->rc = range_one(j->a, j->qs + i * j->a->c->dim, j->radius, j->limit, j->o, &j->hits[i], &j->counts[i]);
  return NULL;
}

static qv_status range_many(const qv_adv *a, const float *qs, size_t nq, float radius, size_t limit,
                            const qv_query_opts *o, qv_hit **hits, size_t *counts) {
  int nt = o->n_threads > 0 ? o->n_threads : a->c->db->query_threads;
  if (nt < 1) nt = 1;
  if ((size_t)nt > nq) nt = (int)nq;
  if (nt > 64) nt = 64;
  rjob jobs[64];
  pthread_t th[64];
  int started[64] = {0};
  for (int t = 0; t < nt; t++) {
    jobs[t] = (rjob){a, qs, radius, limit, o, hits, counts, nq * (size_t)t / (size_t)nt,
                     nq * (size_t)(t + 1) / (size_t)nt, QV_OK};
    if (t > 0) started[t] = pthread_create(&th[t], NULL, rjob_run, &jobs[t]) == 0;
  }
  rjob_run(&jobs[0]);
  qv_status rc = jobs[0].rc;
  for (int t = 1; t < nt; t++) {
    if (started[t]) pthread_join(th[t], NULL);
    else rjob_run(&jobs[t]);
    if (jobs[t].rc && rc == QV_OK) rc = jobs[t].rc;
  }
  return rc;
}

qv_status qv_collection_range_search(qv_collection *c, const float *queries, size_t nq, float radius, size_t limit,
                                     const qv_query_opts *opts, qv_results **out) {
  qv_query_opts defaults;
  qv_status rc = qv__adv_check(c, 1, &opts, &defaults, out);
  if (rc) return rc;
  qv_db *db = c->db;
  const qv_mem *mem = &db->mem;
  if (!queries || nq == 0) return qv__err(db, QV_INVALID, "query_embeddings: at least one query is required");
  if (isnan(radius)) return qv__err(db, QV_INVALID, "radius: NaN is not allowed");
  if (limit > ADV_MAX_K) return qv__err(db, QV_INVALID, "limit: %zu is larger than %d", limit, ADV_MAX_K);
  qv_adv a;
  if ((rc = qv__adv_begin(c, opts->where_json, opts->where_document_json, &a))) return rc;
  float *qs = NULL;
  qv_hit **hits = qv__calloc(mem, nq, sizeof *hits);
  size_t *counts = qv__calloc(mem, nq, sizeof *counts);
  qv_results *r = NULL;
  if (!hits || !counts) {
    rc = QV_NOMEM;
    goto cleanup;
  }
  for (size_t i = 0; i < nq && c->dim; i++)
    if ((rc = qv__adv_check_vec(c, queries + i * c->dim, "query_embeddings", i))) goto cleanup;
  if (c->ix && c->count) {
    if (!(qs = qv__malloc_aligned(mem, nq * c->dim * sizeof(float)))) {
      rc = QV_NOMEM;
      goto cleanup;
    }
    memcpy(qs, queries, nq * c->dim * sizeof(float));
    if (c->metric == QV_METRIC_COSINE)
      for (size_t i = 0; i < nq; i++) qv__normalize(qs + i * c->dim, c->dim);
    if ((rc = range_many(&a, qs, nq, radius, limit, opts, hits, counts))) goto cleanup;
  }
  if (!(r = qv__results_new(mem, nq, counts, c->dim, opts->include | QV_INCLUDE_DISTANCES))) {
    rc = QV_NOMEM;
    goto cleanup;
  }
  for (size_t q = 0; q < nq && rc == QV_OK; q++)
    for (size_t i = 0; i < counts[q] && rc == QV_OK; i++)
      rc = qv__col_fill_hit(c, r, r->off[q] + i, hits[q][i].slot, hits[q][i].dist);
  if (rc == QV_OK) {
    *out = r;
    r = NULL;
  }
cleanup:
  qv_results_free(r);
  for (size_t i = 0; hits && i < nq; i++) qv__free(mem, hits[i]);
  qv__free(mem, hits);
  qv__free(mem, counts);
  qv__free_aligned(mem, qs);
  return qv__adv_finish(&a, rc);
}

/* ------------------------------------------------------------------ vector arithmetic */

qv_status qv_collection_combine(qv_collection *c, const qv_vec_term *terms, size_t n_terms, size_t k,
                                int exclude_inputs, const qv_query_opts *opts, qv_results **out) {
  qv_query_opts defaults;
  qv_status rc = qv__adv_check(c, k, &opts, &defaults, out);
  if (rc) return rc;
  if (!terms || n_terms == 0) return qv__err(c->db, QV_INVALID, "terms: at least one term is required");
  for (size_t i = 0; i < n_terms; i++)
    if (!isfinite(terms[i].weight)) return qv__err(c->db, QV_INVALID, "terms[%zu]: the weight must be finite", i);
  qv_adv a;
  if ((rc = qv__adv_begin(c, opts->where_json, opts->where_document_json, &a))) return rc;
  const qv_mem *mem = &c->db->mem;
  uint32_t dim = c->dim;
  float *q = qv__calloc(mem, dim ? dim : 1, sizeof *q), *v = qv__malloc(mem, (dim ? dim : 1) * sizeof *v);
  if (!q || !v) rc = QV_NOMEM;
  for (size_t i = 0; rc == QV_OK && i < n_terms; i++) {
    uint32_t s;
    if (!dim) {
      if (terms[i].id) rc = qv__err(c->db, QV_NOTFOUND, "terms[%zu]: no record with id '%s'", i, terms[i].id);
      continue;
    }
    if ((rc = term_vector(&a, &terms[i], "terms", i, v, &s))) break;
    for (uint32_t j = 0; j < dim; j++) q[j] += terms[i].weight * v[j];
    if (exclude_inputs && s != QV_NO_SLOT) rc = exclude_slot(&a, s);
  }
  if (rc == QV_OK) rc = dim ? search_results(&a, q, k, opts, out) : qv__adv_empty(c, 1, opts, out);
  qv__free(mem, q);
  qv__free(mem, v);
  return qv__adv_finish(&a, rc);
}

qv_status qv_collection_interpolate(qv_collection *c, const qv_vec_term *ta, const qv_vec_term *tb, float t,
                                    int spherical, size_t k, int exclude_inputs, const qv_query_opts *opts,
                                    qv_results **out) {
  qv_query_opts defaults;
  qv_status rc = qv__adv_check(c, k, &opts, &defaults, out);
  if (rc) return rc;
  if (!ta || !tb) return qv__err(c->db, QV_INVALID, "%s: missing", ta ? "b" : "a");
  if (!isfinite(t)) return qv__err(c->db, QV_INVALID, "t: must be finite");
  if (spherical < 0) spherical = c->metric == QV_METRIC_COSINE;
  qv_adv a;
  if ((rc = qv__adv_begin(c, opts->where_json, opts->where_document_json, &a))) return rc;
  const qv_mem *mem = &c->db->mem;
  uint32_t dim = c->dim;
  if (!dim) {
    const qv_vec_term *idt = ta->id ? ta : tb->id ? tb : NULL;
    rc = idt ? qv__err(c->db, QV_NOTFOUND, "%s[0]: no record with id '%s'", idt == ta ? "a" : "b", idt->id)
             : qv__adv_empty(c, 1, opts, out);
    return qv__adv_finish(&a, rc);
  }
  float *va = qv__malloc(mem, dim * sizeof *va), *vb = qv__malloc(mem, dim * sizeof *vb);
  uint32_t sa, sb;
  if (!va || !vb) rc = QV_NOMEM;
  if (rc == QV_OK) rc = term_vector(&a, ta, "a", 0, va, &sa);
  if (rc == QV_OK) rc = term_vector(&a, tb, "b", 0, vb, &sb);
  if (rc == QV_OK && exclude_inputs && sa != QV_NO_SLOT) rc = exclude_slot(&a, sa);
  if (rc == QV_OK && exclude_inputs && sb != QV_NO_SLOT) rc = exclude_slot(&a, sb);
  if (rc == QV_OK) {
    double wa = 1.0 - t, wb = t;
    if (spherical) {
      /* slerp on the unit sphere: angle between the unit vectors, weights sin((1-t)w)/sin w... */
      double na = 0, nb = 0, dot = 0;
      for (uint32_t j = 0; j < dim; j++) {
        na += (double)va[j] * va[j];
        nb += (double)vb[j] * vb[j];
        dot += (double)va[j] * vb[j];
      }
      na = sqrt(na);
      nb = sqrt(nb);
      if (na > 0 && nb > 0) {
        double cs = dot / (na * nb);
        cs = cs > 1 ? 1 : cs < -1 ? -1 : cs;
        double w = acos(cs), sw = sin(w);
        if (sw > 1e-6) {
          wa = sin((1.0 - t) * w) / sw / na;
          wb = sin(t * w) / sw / nb;
        } else { /* (nearly) the same direction: linear on the unit vectors */
          wa = (1.0 - t) / na;
          wb = t / nb;
        }
      }
    }
    for (uint32_t j = 0; j < dim; j++) va[j] = (float)(wa * va[j] + wb * vb[j]);
    rc = search_results(&a, va, k, opts, out);
  }
  qv__free(mem, va);
  qv__free(mem, vb);
  return qv__adv_finish(&a, rc);
}

qv_status qv_collection_centroid_search(qv_collection *c, const char *const *ids, size_t n_ids, size_t k,
                                        int exclude_inputs, const qv_query_opts *opts, qv_results **out) {
  if (!ids || n_ids == 0) {
    qv_status rc = qv__col_check(c);
    if (rc) return rc;
    if (out) *out = NULL;
    return qv__err(c->db, QV_INVALID, "ids: at least one id is required");
  }
  const qv_mem *mem = &c->db->mem;
  qv_vec_term *terms = qv__calloc(mem, n_ids, sizeof *terms);
  if (!terms) return QV_NOMEM;
  for (size_t i = 0; i < n_ids; i++) {
    if (!ids[i]) {
      qv__free(mem, terms);
      if (out) *out = NULL;
      return qv__err(c->db, QV_INVALID, "ids[%zu]: must not be NULL", i);
    }
    terms[i].id = ids[i];
    terms[i].weight = 1.0f / (float)n_ids;
  }
  qv_status rc = qv_collection_combine(c, terms, n_ids, k, exclude_inputs, opts, out);
  if (rc && strstr(qv_db_errmsg(c->db), "terms[")) { /* name the argument the caller used */
    char msg[600];
    const char *m = qv_db_errmsg(c->db);
    snprintf(msg, sizeof msg, "ids%s", m + 5);
    qv__err(c->db, rc, "%s", msg);
  }
  qv__free(mem, terms);
  return rc;
}

/* ------------------------------------------------------------------ recommendation */

/* Similarity in the collection's metric: the dot product for ip and cosine, -distance else. */
static float sim_of(const qv_collection *c, const qv_kernels *kern, const float *x, const float *y) {
  return (c->metric == QV_METRIC_IP || c->metric == QV_METRIC_COSINE) ? kern->dot(x, y, c->dim)
                                                                     : -qv__metric_dist(kern, c->metric, x, y, c->dim);
}

static int cmp_u32_slot(const void *x, const void *y) {
  uint32_t a = ((const qv_hit *)x)->slot, b = ((const qv_hit *)y)->slot;
  return (a > b) - (a < b);
}

static int cmp_score_desc(const void *x, const void *y) {
  const qv_hit *a = x, *b = y;
  if (a->dist > b->dist) return -1;
  if (a->dist < b->dist) return 1;
  return (a->slot > b->slot) - (a->slot < b->slot);
}

qv_status qv_collection_recommend(qv_collection *c, const qv_vec_term *positive, size_t n_pos,
                                  const qv_vec_term *negative, size_t n_neg, size_t k,
                                  qv_recommend_strategy strategy, const qv_query_opts *opts, qv_results **out) {
  qv_query_opts defaults;
  qv_status rc = qv__adv_check(c, k, &opts, &defaults, out);
  if (rc) return rc;
  if (!positive || n_pos == 0) return qv__err(c->db, QV_INVALID, "positive: at least one example is required");
  if (n_neg && !negative) return qv__err(c->db, QV_INVALID, "negative: NULL with %zu examples", n_neg);
  if (strategy != QV_RECOMMEND_AVERAGE && strategy != QV_RECOMMEND_BEST_SCORE)
    return qv__err(c->db, QV_INVALID, "strategy: must be average or best_score");
  qv_adv a;
  if ((rc = qv__adv_begin(c, opts->where_json, opts->where_document_json, &a))) return rc;
  const qv_mem *mem = &c->db->mem;
  uint32_t dim = c->dim;
  if (!dim) {
    for (size_t i = 0; rc == QV_OK && i < n_pos + n_neg; i++) {
      const qv_vec_term *t = i < n_pos ? &positive[i] : &negative[i - n_pos];
      if (t->id)
        rc = qv__err(c->db, QV_NOTFOUND, "%s[%zu]: no record with id '%s'", i < n_pos ? "positive" : "negative",
                     i < n_pos ? i : i - n_pos, t->id);
    }
    if (rc == QV_OK) rc = qv__adv_empty(c, 1, opts, out);
    return qv__adv_finish(&a, rc);
  }
  size_t n_ex = n_pos + n_neg;
  float *ex = qv__malloc(mem, n_ex * dim * sizeof *ex);
  qv_hit *h = NULL;
  if (!ex) rc = QV_NOMEM;
  for (size_t i = 0; rc == QV_OK && i < n_ex; i++) {
    uint32_t s;
    int pos = i < n_pos;
    rc = term_vector(&a, pos ? &positive[i] : &negative[i - n_pos], pos ? "positive" : "negative",
                     pos ? i : i - n_pos, ex + i * dim, &s);
    if (rc == QV_OK && s != QV_NO_SLOT) rc = exclude_slot(&a, s);
  }
  const float *P = ex, *N = ex + n_pos * dim;
  const qv_kernels *kern = qv__kernels();
  if (rc == QV_OK && strategy == QV_RECOMMEND_AVERAGE) {
    float *q = qv__calloc(mem, dim, sizeof *q);
    size_t n = 0;
    if (!q || !(h = qv__malloc(mem, k * sizeof *h))) rc = QV_NOMEM;
    if (rc == QV_OK) {
      for (size_t i = 0; i < n_pos; i++)
        for (uint32_t j = 0; j < dim; j++) q[j] += P[i * dim + j] / (float)n_pos;
      if (n_neg) {
        for (uint32_t j = 0; j < dim; j++) {
          float an = 0;
          for (size_t i = 0; i < n_neg; i++) an += N[i * dim + j] / (float)n_neg;
          q[j] = 2.0f * q[j] - an;
        }
      }
      if (c->metric == QV_METRIC_COSINE) qv__normalize(q, dim);
      rc = qv__adv_knn(&a, q, k, opts, h, &n);
      float *vb = NULL; /* an index without resident floats: the store's copy (adv_vec) */
      if (rc == QV_OK && c->vt->contains && !(vb = qv__malloc_aligned(mem, dim * sizeof *vb))) rc = QV_NOMEM;
      for (size_t i = 0; rc == QV_OK && i < n; i++) {
        const float *v;
        rc = adv_vec(c, h[i].slot, vb, &v);
        h[i].dist = v ? sim_of(c, kern, q, v) : -INFINITY;
      }
      qv__free_aligned(mem, vb);
      if (rc == QV_OK) {
        qsort(h, n, sizeof *h, cmp_score_desc);
        rc = qv__adv_results(&a, h, n, opts->include, out);
      }
    }
    qv__free(mem, q);
  } else if (rc == QV_OK) {
    /*
     * Candidates. Flat (or an exact plan): every matching record. A graph: the neighbourhood
     * of each positive, and for each (positive, negative) pair of the direction the score
     * grows in -- for ip and cosine the score of a pair is v.(p - n), whose best records are
     * the nearest to p - n; for l2 it is 2 v.(p - n) + const, best approached from points
     * out along p - n (p + r (p - n), r in bs_reach). Each candidate is then scored exactly.
     */
    size_t fetch = 10 * k > 100 ? 10 * k : 100;
    if (fetch > c->count) fetch = c->count;
    int dot = c->metric == QV_METRIC_IP || c->metric == QV_METRIC_COSINE;
    size_t n_reach = dot ? 1 : sizeof bs_reach / sizeof bs_reach[0];
    size_t n_pairs = n_pos * n_neg > BS_MAX_PAIRS ? 0 : n_pos * n_neg * n_reach;
    int all = !(c->vt->caps & QV_IXCAP_APPROX) || plan_exact(&a, opts);
    size_t cap = all ? c->n_slots : (n_pos + n_pairs) * fetch, n = 0;
    qv_hit *cand = qv__malloc(mem, (cap ? cap : 1) * sizeof *cand);
    float *dq = qv__malloc(mem, dim * sizeof *dq);
    /* a wider beam: the direction queries lie outside the data, where a greedy graph walk
     * needs more room to reach the extreme records */
    qv_query_opts wide = *opts;
    if (wide.ef_search < 2 * fetch) wide.ef_search = (uint32_t)(2 * fetch < 100000 ? 2 * fetch : 100000);
    if (!cand || !dq) rc = QV_NOMEM;
    if (rc == QV_OK && all) {
      for (uint32_t s = 0; s < c->n_slots; s++)
        if (qv__adv_match(&a, s)) cand[n++].slot = s;
    }
    for (size_t i = 0; rc == QV_OK && !all && i < n_pos + n_pairs; i++) {
      size_t got = 0;
      const float *qv = P + i * dim;
      if (i >= n_pos) {
        size_t pair = (i - n_pos) / n_reach;
        float reach = bs_reach[(i - n_pos) % n_reach];
        const float *p = P + (pair / n_neg) * dim, *ng = N + (pair % n_neg) * dim;
        for (uint32_t j = 0; j < dim; j++) dq[j] = dot ? p[j] - ng[j] : p[j] + reach * (p[j] - ng[j]);
        if (c->metric == QV_METRIC_COSINE) qv__normalize(dq, dim);
        qv = dq;
      }
      rc = qv__adv_knn(&a, qv, fetch, &wide, cand + n, &got);
      n += got;
    }
    qv__free(mem, dq);
    if (rc == QV_OK) {
      qsort(cand, n, sizeof *cand, cmp_u32_slot);
      size_t m = 0;
      for (size_t i = 0; i < n; i++)
        if (m == 0 || cand[m - 1].slot != cand[i].slot) cand[m++] = cand[i];
      n = m;
      float *vb = NULL; /* an index without resident floats: the store's copy (adv_vec) */
      if (c->vt->contains && !(vb = qv__malloc_aligned(mem, dim * sizeof *vb))) rc = QV_NOMEM;
      for (size_t i = 0; rc == QV_OK && i < n; i++) {
        const float *v;
        rc = adv_vec(c, cand[i].slot, vb, &v);
        float bp = -INFINITY, bn = -INFINITY;
        for (size_t p = 0; v && p < n_pos; p++) {
          float s = sim_of(c, kern, P + p * dim, v);
          if (s > bp) bp = s;
        }
        for (size_t p = 0; v && p < n_neg; p++) {
          float s = sim_of(c, kern, N + p * dim, v);
          if (s > bn) bn = s;
        }
        cand[i].dist = !v ? -INFINITY : n_neg ? bp - bn : bp;
      }
      qv__free_aligned(mem, vb);
      qsort(cand, n, sizeof *cand, cmp_score_desc);
      if (rc == QV_OK) rc = qv__adv_results(&a, cand, n < k ? n : k, opts->include, out);
    }
    qv__free(mem, cand);
  }
  qv__free(mem, h);
  qv__free(mem, ex);
  return qv__adv_finish(&a, rc);
}

/* ------------------------------------------------------------------ MMR */

qv_status qv_collection_query_mmr(qv_collection *c, const float *query, size_t k, float lambda, size_t fetch_k,
                                  const qv_query_opts *opts, qv_results **out) {
  qv_query_opts defaults;
  qv_status rc = qv__adv_check(c, k, &opts, &defaults, out);
  if (rc) return rc;
  if (!query) return qv__err(c->db, QV_INVALID, "query_embeddings: a query is required");
  if (!(lambda >= 0.0f && lambda <= 1.0f)) return qv__err(c->db, QV_INVALID, "mmr_lambda: must be in [0, 1]");
  if (fetch_k == 0) fetch_k = 4 * k > 20 ? 4 * k : 20;
  if (fetch_k < k) return qv__err(c->db, QV_INVALID, "fetch_k: %zu is smaller than k %zu", fetch_k, k);
  if (fetch_k > ADV_MAX_K) return qv__err(c->db, QV_INVALID, "fetch_k: %zu is larger than %d", fetch_k, ADV_MAX_K);
  if (c->dim && (rc = qv__adv_check_vec(c, query, "query_embeddings", 0))) return rc;
  qv_adv a;
  if ((rc = qv__adv_begin(c, opts->where_json, opts->where_document_json, &a))) return rc;
  const qv_mem *mem = &c->db->mem;
  uint32_t dim = c->dim;
  if (!dim || !c->count) return qv__adv_finish(&a, qv__adv_empty(c, 1, opts, out));
  float *q = qv__malloc(mem, dim * sizeof *q), *best = NULL;
  qv_hit *h = qv__malloc(mem, fetch_k * sizeof *h), *sel = qv__malloc(mem, k * sizeof *sel);
  size_t n = 0, ns = 0;
  if (!q || !h || !sel || !(best = qv__malloc(mem, fetch_k * sizeof *best))) rc = QV_NOMEM;
  if (rc == QV_OK) {
    memcpy(q, query, dim * sizeof *q);
    if (c->metric == QV_METRIC_COSINE) qv__normalize(q, dim);
    rc = qv__adv_knn(&a, q, fetch_k, opts, h, &n);
  }
  float *pb = NULL, *vb = NULL; /* an index without resident floats: the store's copies (adv_vec) */
  if (rc == QV_OK && c->vt->contains && (!(pb = qv__malloc_aligned(mem, dim * sizeof *pb)) ||
                                         !(vb = qv__malloc_aligned(mem, dim * sizeof *vb))))
    rc = QV_NOMEM;
  if (rc == QV_OK) {
    const qv_kernels *kern = qv__kernels();
    /* best[i]: max similarity of candidate i to the chosen ones (-inf before the first) */
    for (size_t i = 0; i < n; i++) best[i] = -INFINITY;
    while (ns < k && n > 0) {
      size_t pick = 0;
      double pick_score = -INFINITY;
      for (size_t i = 0; i < n; i++) {
        double div = ns ? (double)best[i] : 0.0;
        double score = lambda * -(double)h[i].dist - (1.0 - lambda) * div;
        if (score > pick_score || i == 0) {
          pick_score = score;
          pick = i;
        }
      }
      sel[ns++] = h[pick];
      const float *pv;
      rc = adv_vec(c, h[pick].slot, pb, &pv);
      h[pick] = h[n - 1];
      best[pick] = best[n - 1];
      n--;
      for (size_t i = 0; rc == QV_OK && pv && i < n; i++) {
        const float *v;
        rc = adv_vec(c, h[i].slot, vb, &v);
        float s = v ? -qv__metric_dist(kern, c->metric, pv, v, dim) : -INFINITY;
        if (s > best[i]) best[i] = s;
      }
      if (rc) break;
    }
    if (rc == QV_OK) rc = qv__adv_results(&a, sel, ns, opts->include, out);
  }
  qv__free_aligned(mem, pb);
  qv__free_aligned(mem, vb);
  qv__free(mem, q);
  qv__free(mem, h);
  qv__free(mem, sel);
  qv__free(mem, best);
  return qv__adv_finish(&a, rc);
}
