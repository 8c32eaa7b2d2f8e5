/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cluster/kmeans.c -- k-means over a collection (qv_collection_kmeans, contract in quiver.h).
 *
 * The records (all, or those matching the filters) are copied out under the read lock, in
 * insertion order, as the index holds them (unit vectors for cosine); the clustering then
 * runs without any lock. Lloyd iterations as faiss does them:
 *   assignment  blocks of rows against all centroids with one cblas_sgemm each (OpenBLAS
 *               spreads it over the cores): ||x||^2 - 2 x.c + ||c||^2, or 1 - x.c for the
 *               spherical form (unit centroids);
 *   update      each centroid the mean of its members (renormalised when spherical); an empty
 *               cluster takes half of the largest one (its centroid copied and both nudged
 *               apart by 1/1024 in alternate directions, faiss's rule).
 * Initialisation is k-means++ (D^2 sampling) or k random points; nredo runs from different
 * seeds keep the lowest inertia. With max_points a random sample trains and every record is
 * then assigned to the final centroids, its distance recomputed with the exact kernel.
 * label_key writes the labels through qv_collection_update() (one atomic batch, metadata
 * merged per key) after the lock is released.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adv_int.h"
#include "dist.h"

#define KM_EPS (1.0f / 1024.0f)

void qv_kmeans_opts_init(qv_kmeans_opts *o) {
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->niter = 20;
  o->nredo = 1;
  o->seed = 1234;
  o->spherical = -1;
}

void qv_kmeans_result_free(qv_kmeans_result *r) {
  if (!r) return;
  for (size_t i = 0; r->ids && i < r->n; i++) free(r->ids[i]);
  for (uint32_t j = 0; r->nearest && j < r->k; j++) free(r->nearest[j]);
  free(r->ids);
  free(r->nearest);
  free(r->centroids);
  free(r->labels);
  free(r->distances);
  free(r->sizes);
  free(r);
}

/* splitmix64 */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

typedef struct km {
  const float *X; /* n x d */
  const float *xn; /* ||x||^2 */
  size_t n, d, k;
  int spherical;
  float *S;       /* blk x k scores */
  size_t blk;
  float *cn;      /* ||c||^2 */
} km;

/* Assign every row of X to its nearest centroid; returns the inertia. */
static double assign(const km *m, const float *C, uint32_t *labels, float *dist) {
  size_t n = m->n, d = m->d, k = m->k;
  double inertia = 0;
  if (!m->spherical)
    for (size_t j = 0; j < k; j++) {
      double s = 0;
      for (size_t l = 0; l < d; l++) s += (double)C[j * d + l] * C[j * d + l];
      m->cn[j] = (float)s;
    }
  for (size_t b0 = 0; b0 < n; b0 += m->blk) {
    size_t mb = n - b0 < m->blk ? n - b0 : m->blk;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)mb, (int)k, (int)d, 1.0f, m->X + b0 * d, (int)d, C,
                (int)d, 0.0f, m->S, (int)k);
    for (size_t i = 0; i < mb; i++) {
      const float *s = m->S + i * k;
      float best = INFINITY;
      uint32_t bj = 0;
      if (m->spherical) {
        for (size_t j = 0; j < k; j++)
          if (1.0f - s[j] < best) best = 1.0f - s[j], bj = (uint32_t)j;
      } else {
        for (size_t j = 0; j < k; j++) {
          float v = m->cn[j] - 2.0f * s[j];
          if (v < best) best = v, bj = (uint32_t)j;
        }
        best += m->xn[b0 + i];
        if (best < 0) best = 0;
      }
      labels[b0 + i] = bj;
      dist[b0 + i] = best;
      inertia += best;
    }
  }
  return inertia;
}

static void normalize_rows(float *C, size_t k, size_t d) {
  for (size_t j = 0; j < k; j++) qv__normalize(C + j * d, d);
}

/* Centroids = means of their members; empty clusters split the largest. */
static void update(const km *m, const uint32_t *labels, float *C, double *sums, size_t *counts) {
  size_t n = m->n, d = m->d, k = m->k;
  memset(sums, 0, k * d * sizeof *sums);
  memset(counts, 0, k * sizeof *counts);
  for (size_t i = 0; i < n; i++) {
    const float *x = m->X + i * d;
    double *s = sums + (size_t)labels[i] * d;
    counts[labels[i]]++;
    for (size_t l = 0; l < d; l++) s[l] += x[l];
  }
  for (size_t j = 0; j < k; j++)
    if (counts[j])
      for (size_t l = 0; l < d; l++) C[j * d + l] = (float)(sums[j * d + l] / (double)counts[j]);
  for (size_t j = 0; j < k; j++) {
    if (counts[j]) continue;
    size_t big = 0;
    for (size_t t = 1; t < k; t++)
      if (counts[t] > counts[big]) big = t;
    if (counts[big] < 2) break; /* nothing left to split */
    memcpy(C + j * d, C + big * d, d * sizeof *C);
    for (size_t l = 0; l < d; l++) {
      float up = l % 2 ? 1.0f + KM_EPS : 1.0f - KM_EPS, down = l % 2 ? 1.0f - KM_EPS : 1.0f + KM_EPS;
      C[j * d + l] *= up;
      C[big * d + l] *= down;
    }
    counts[j] = counts[big] / 2;
    counts[big] -= counts[j];
  }
  if (m->spherical) normalize_rows(C, k, d);
}

/* Initial centroids: k-means++ (init 0) or k distinct random rows (init 1). */
static qv_status init_centroids(const qv_mem *mem, const km *m, int init, uint64_t *rng, float *C) {
  size_t n = m->n, d = m->d, k = m->k;
  if (init == 1) {
    size_t *perm = qv__malloc(mem, n * sizeof *perm);
    if (!perm) return QV_NOMEM;
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t j = 0; j < k; j++) {
      size_t r = j + (size_t)(rng_next(rng) % (n - j)), t = perm[j];
      perm[j] = perm[r];
      perm[r] = t;
      memcpy(C + j * d, m->X + perm[j] * d, d * sizeof *C);
    }
    qv__free(mem, perm);
    return QV_OK;
  }
  const qv_kernels *kern = qv__kernels();
  float *D = qv__malloc(mem, n * sizeof *D);
  if (!D) return QV_NOMEM;
  size_t first = (size_t)(rng_next(rng) % n);
  memcpy(C, m->X + first * d, d * sizeof *C);
  for (size_t i = 0; i < n; i++) D[i] = INFINITY;
  for (size_t j = 1; j <= k; j++) {
    const float *c = C + (j - 1) * d;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
      const float *x = m->X + i * d;
      float v = m->spherical ? 1.0f - kern->dot(x, c, d) : kern->l2sq(x, c, d);
      if (v < 0) v = 0;
      if (v < D[i]) D[i] = v;
      total += D[i];
    }
    if (j == k) break;
    size_t pick = (size_t)(rng_next(rng) % n);
    if (total > 0) {
      double r = rng_unit(rng) * total, acc = 0;
      for (size_t i = 0; i < n; i++) {
        acc += D[i];
        if (acc >= r && D[i] > 0) {
          pick = i;
          break;
        }
      }
    }
    memcpy(C + j * d, m->X + pick * d, d * sizeof *C);
  }
  qv__free(mem, D);
  if (m->spherical) normalize_rows(C, k, d);
  return QV_OK;
}

/* One run: init, niter Lloyd iterations; C holds the final centroids; returns the inertia
 * of the final centroids over the rows of m. */
static qv_status run_once(const qv_mem *mem, const km *m, const qv_kmeans_opts *o, uint64_t seed, float *C,
                          uint32_t *labels, float *dist, double *sums, size_t *counts, double *inertia) {
  uint64_t rng = seed;
  qv_status rc = init_centroids(mem, m, o->init, &rng, C);
  if (rc) return rc;
  for (uint32_t it = 0; it < o->niter; it++) {
    assign(m, C, labels, dist);
    update(m, labels, C, sums, counts);
  }
  *inertia = assign(m, C, labels, dist);
  return QV_OK;
}

/* Append a JSON string literal of s. */
static size_t json_str(char *out, const char *s) {
  size_t n = 0;
  out[n++] = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      out[n++] = '\\';
      out[n++] = (char)*p;
    } else if (*p < 0x20) {
      n += (size_t)sprintf(out + n, "\\u%04x", *p);
    } else
      out[n++] = (char)*p;
  }
  out[n++] = '"';
  return n;
}

static qv_status write_labels(qv_collection *c, const char *key, const qv_kmeans_result *r) {
  size_t klen = strlen(key) * 6 + 2, per = klen + 32;
  char *buf = malloc(r->n * per + 1);
  const char **metas = malloc(r->n * sizeof *metas);
  qv_status rc = QV_NOMEM;
  if (buf && metas) {
    char *p = buf;
    for (size_t i = 0; i < r->n; i++) {
      metas[i] = p;
      *p++ = '{';
      p += json_str(p, key);
      p += sprintf(p, ":%u}", r->labels[i]);
      *p++ = '\0';
    }
    qv_batch b = {.n = r->n, .ids = (const char *const *)r->ids, .metadatas = metas};
    rc = qv_collection_update(c, &b, 1); /* records deleted meanwhile are skipped */
  } else
    qv__err(c->db, rc, "label_key: out of memory");
  free(buf);
  free(metas);
  return rc;
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

typedef struct rid_slot {
  int64_t rid;
  uint32_t slot;
} rid_slot;

static int cmp_rid(const void *a, const void *b) {
  int64_t x = ((const rid_slot *)a)->rid, y = ((const rid_slot *)b)->rid;
  return (x > y) - (x < y);
}

/* The matching records' ids and vectors, insertion order (caller frees with free()). */
static qv_status gather(qv_collection *c, const qv_kmeans_opts *o, qv_kmeans_result *r, float **X) {
  qv_adv a;
  qv_status rc = qv__adv_begin(c, o->where_json, o->where_document_json, &a);
  if (rc) return rc;
  const qv_mem *mem = &c->db->mem;
  size_t d = c->dim, n = 0;
  rid_slot *v = qv__malloc(mem, (c->count ? c->count : 1) * sizeof *v);
  if (!v) rc = QV_NOMEM;
  for (uint32_t s = 0; rc == QV_OK && c->ix && s < c->n_slots && n < c->count; s++)
    if (qv__adv_match(&a, s) && (c->vt->contains ? c->vt->contains(c->ix, s) : c->vt->vector(c->ix, s) != NULL))
      v[n++] = (rid_slot){c->rids[s], s};
  if (rc == QV_OK) {
    qsort(v, n, sizeof *v, cmp_rid);
    r->n = n;
    r->dim = (uint32_t)d;
    *X = malloc((n ? n : 1) * (d ? d : 1) * sizeof **X);
    r->ids = calloc(n ? n : 1, sizeof *r->ids);
    if (!*X || !r->ids) rc = QV_NOMEM;
    for (size_t i = 0; rc == QV_OK && i < n; i++) {
      const float *x = c->vt->vector(c->ix, v[i].slot);
      if (x) memcpy(*X + i * d, x, d * sizeof **X);
      else rc = c->vsrc.get(c->vsrc.ctx, v[i].slot, *X + i * d); /* no resident floats: the store's */
      if (rc == QV_OK && !(r->ids[i] = strdup(qv__col_id(c, v[i].slot)))) rc = QV_NOMEM;
    }
  }
  qv__free(mem, v);
  qv__adv_end(&a);
  return rc;
}

qv_status qv_collection_kmeans(qv_collection *c, const qv_kmeans_opts *opts, qv_kmeans_result **out) {
  if (!out) return QV_MISUSE;
  *out = NULL;
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv_db *db = c->db;
  qv__err_clear(db);
  if (!opts) return qv__err(db, QV_INVALID, "opts: k is required");
  qv_kmeans_opts given;
  qv_kmeans_opts_init(&given);
  qv__struct_in(&given, sizeof given, opts, sizeof(qv_kmeans_opts)); /* base: 0.2.0's layout */
  const qv_kmeans_opts *o = &given;
  if (o->k == 0) return qv__err(db, QV_INVALID, "k: must be at least 1");
  if (o->niter == 0 || o->niter > 100000) return qv__err(db, QV_INVALID, "niter: must be in [1, 100000]");
  if (o->nredo == 0 || o->nredo > 1000) return qv__err(db, QV_INVALID, "nredo: must be in [1, 1000]");
  if (o->spherical < -1 || o->spherical > 1) return qv__err(db, QV_INVALID, "spherical: must be -1, 0 or 1");
  if (o->init != 0 && o->init != 1) return qv__err(db, QV_INVALID, "init: must be 0 (k-means++) or 1 (random)");
  if (o->label_key && (!*o->label_key || !qv__utf8_valid(o->label_key, strlen(o->label_key))))
    return qv__err(db, QV_INVALID, "label_key: must be a non-empty UTF-8 string");
  if (o->label_key && db->read_only) return qv__err(db, QV_MISUSE, "label_key: the database is read-only");
  int spherical = o->spherical < 0 ? c->metric == QV_METRIC_COSINE : o->spherical;
  qv_kmeans_result *r = calloc(1, sizeof *r);
  float *X = NULL, *Xs = NULL, *xn = NULL, *S = NULL, *C = NULL, *best = NULL, *dist = NULL, *cn = NULL;
  uint32_t *labels = NULL;
  double *sums = NULL;
  size_t *counts = NULL, *pick = NULL;
  if (!r) return QV_NOMEM;
  if ((rc = gather(c, o, r, &X))) goto cleanup;
  size_t n = r->n, d = r->dim, k = o->k;
  r->k = o->k;
  if (k > n) {
    rc = qv__err(db, QV_INVALID, "k: %zu clusters for %zu records", k, n);
    goto cleanup;
  }
  /* the training rows: all, or a sample of max_points */
  uint64_t rng = o->seed ^ 0x5DEECE66Dull;
  size_t nt = o->max_points && o->max_points < n ? o->max_points : n;
  if (nt < k) nt = k;
  const float *T = X;
  if (nt < n) {
    if (!(pick = malloc(n * sizeof *pick)) || !(Xs = malloc(nt * d * sizeof *Xs))) goto nomem;
    for (size_t i = 0; i < n; i++) pick[i] = i;
    for (size_t i = 0; i < nt; i++) {
      size_t j = i + (size_t)(rng_next(&rng) % (n - i)), t = pick[i];
      pick[i] = pick[j];
      pick[j] = t;
    }
    qsort(pick, nt, sizeof *pick, cmp_size);
    for (size_t i = 0; i < nt; i++) memcpy(Xs + i * d, X + pick[i] * d, d * sizeof *Xs);
    T = Xs;
  }
  size_t nmax = n > nt ? n : nt;
  size_t blk = (size_t)1 << 22;
  blk = blk / k < 256 ? 256 : blk / k;
  if (blk > nmax) blk = nmax;
  if (!(xn = malloc(nmax * sizeof *xn)) || !(S = malloc(blk * k * sizeof *S)) || !(C = malloc(k * d * sizeof *C)) ||
      !(best = malloc(k * d * sizeof *best)) || !(dist = malloc(nmax * sizeof *dist)) ||
      !(cn = malloc(k * sizeof *cn)) || !(labels = malloc(nmax * sizeof *labels)) ||
      !(sums = malloc(k * d * sizeof *sums)) || !(counts = malloc(k * sizeof *counts)))
    goto nomem;
  const qv_kernels *kern = qv__kernels();
  for (size_t i = 0; i < nt; i++) xn[i] = kern->dot(T + i * d, T + i * d, d);
  km m = {T, xn, nt, d, k, spherical, S, blk, cn};
  double best_inertia = INFINITY;
  for (uint32_t redo = 0; redo < o->nredo; redo++) {
    double inertia;
    if ((rc = run_once(&db->mem, &m, o, o->seed + 0x9E3779B97F4A7C15ull * redo, C, labels, dist, sums, counts,
                       &inertia)))
      goto cleanup;
    if (inertia < best_inertia) {
      best_inertia = inertia;
      memcpy(best, C, k * d * sizeof *C);
    }
  }
  /* every record to the final centroids, distances with the exact kernel */
  for (size_t i = 0; i < n; i++) xn[i] = kern->dot(X + i * d, X + i * d, d);
  km all = {X, xn, n, d, k, spherical, S, blk, cn};
  assign(&all, best, labels, dist);
  if (!(r->labels = malloc((n ? n : 1) * sizeof *r->labels)) || !(r->distances = malloc((n ? n : 1) * sizeof *r->distances)) ||
      !(r->sizes = calloc(k, sizeof *r->sizes)) || !(r->nearest = calloc(k, sizeof *r->nearest)))
    goto nomem;
  r->centroids = best;
  best = NULL;
  r->inertia = 0;
  size_t *near = counts; /* reuse: index of the closest member per cluster */
  for (size_t j = 0; j < k; j++) near[j] = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    const float *x = X + i * d, *cc = r->centroids + (size_t)labels[i] * d;
    float dv = spherical ? 1.0f - kern->dot(x, cc, d) : kern->l2sq(x, cc, d);
    r->labels[i] = labels[i];
    r->distances[i] = dv;
    r->inertia += dv;
    r->sizes[labels[i]]++;
    if (near[labels[i]] == SIZE_MAX || dv < r->distances[near[labels[i]]]) near[labels[i]] = i;
  }
  for (size_t j = 0; j < k; j++)
    if (near[j] != SIZE_MAX && !(r->nearest[j] = strdup(r->ids[near[j]]))) goto nomem;
  if (o->label_key && n && (rc = write_labels(c, o->label_key, r))) goto cleanup;
  *out = r;
  r = NULL;
  goto cleanup;
nomem:
  rc = qv__err(db, QV_NOMEM, "kmeans: out of memory");
cleanup:
  if (rc && !*qv_db_errmsg(db)) qv__err(db, rc, "%s", qv_status_str(rc));
  qv_kmeans_result_free(r);
  free(X);
  free(Xs);
  free(xn);
  free(S);
  free(C);
  free(best);
  free(dist);
  free(cn);
  free(labels);
  free(sums);
  free(counts);
  free(pick);
  return rc;
}
