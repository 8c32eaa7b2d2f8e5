/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/ivf/ivf.c -- the inverted-file index ("ivf"): a k-means coarse quantizer splits the
 * space into nlist cells; each cell's list holds the slots and the codes (any quant.h
 * quantizer) of the vectors assigned to it. A query scans the nprobe cells whose centroids are
 * nearest, scores the codes, and re-scores the best k * rerank candidates exactly.
 *
 * Training
 *   The centroids are learned (qv__kmeans, sgemm assignments, 10 iterations on at most 64
 *   points per centroid) together with the quantizer (ranges, codebooks or rotation) from the
 *   first `train_size` vectors (0: max(32 * nlist, 1024)), or from train(). Until then
 *   vectors are buffered as floats and searched exactly; the add that brings the buffer to
 *   train_size trains on all of it and moves it into the lists. Nothing is retrained later:
 *   vectors added afterwards are assigned to the nearest centroid and encoded with the
 *   learned quantizer (sq ranges clamp); a distribution that drifts far from the training
 *   sample calls for a new collection (or a rebuild of this one from its records).
 *
 * Lists and slots
 *   Per list: n, cap, slots[cap], codes (qv__quant_storage(cap) bytes, the quantizer's layout:
 *   interleaved blocks of 32 for FastScan). Per slot: its list and position (loc_list,
 *   loc_pos), so remove() is O(1): the list's last entry moves into the hole. Replacing a live
 *   slot is remove + insert.
 *
 * Floats
 *   With keep_floats (and always when the collection has no vector source: in-memory
 *   databases) the prepared float vectors stay resident, one row per slot, for vector() and
 *   re-ranking. Otherwise they are not kept: re-ranking reads candidates through the
 *   collection's vector source (index.h: the SQLite store) and vector() returns NULL (the
 *   collection then reads records from the store). With quantizer "none" the codes are the
 *   floats and distances are exact: no re-ranking, and vector() points into the list.
 *
 * Search
 *   Distances to all centroids (one *_many kernel pass), the nprobe nearest (l2 for every
 *   metric: the cells are l2 k-means cells; the vectors of cosine collections are unit
 *   length), then each list's codes scored in chunks (qv__quant_scan); candidates that pass
 *   the predicate enter a heap of k * rerank (at least k); those are re-scored with the
 *   metric's exact distance. The per-query `ef` (qv_query_opts.ef_search) of a search, when
 *   non-zero, is the number of cells to probe for that query (the kind's search-effort knob);
 *   0 uses the nprobe parameter. Scratch buffers come from a mutex-guarded pool.
 *
 * Checkpoint payload (checkpoint.h envelope, tag "IVF1", payload version 1, little-endian):
 *   head (64 bytes): u32 nlist, trained, quantizer kind, pq_m, pq_bits, keep_floats, code
 *   bytes, block; u64 n_slots, count, quantizer state bytes, n_buffered
 *   if trained: centroids (nlist * dim f32), quantizer state, then per list u32 n, u32 slots[n],
 *   codes (qv__quant_storage(n) bytes)
 *   u32 buffered slots[n_buffered], their floats (n_buffered * dim f32)
 *   if keep_floats: n_slots * dim f32 (the resident rows)
 *   load() checks every count, slot and length against the payload (QV_CORRUPT, never a crash)
 *   and that the fixed parameters match the collection's.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "dist.h"
#include "index.h"
#include "quant.h"
#include "sq_kern.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ivf checkpoints are little-endian");

#define IVF_TAG ((uint32_t)'I' | (uint32_t)'V' << 8 | (uint32_t)'F' << 16 | (uint32_t)'1' << 24)
#define IVF_PAYLOAD_VERSION 1u
#define LOC_NONE UINT32_MAX
#define LOC_BUF (UINT32_MAX - 1)
#define SCAN_CHUNK 256 /* codes scored per qv__quant_scan call (a multiple of 32) */
#define RR_CHUNK 64    /* re-rank rows read from the vector source per get_many call */
#define KM_PER_CENTROID 64
#define KM_ITERS 10
#define QUANT_SAMPLE 65536

enum { P_NLIST, P_NPROBE, P_QUANT, P_PQ_M, P_PQ_BITS, P_RERANK, P_KEEP, P_TRAIN, P_REFINE };

static const char *const quantizers[] = {"none", "sq8", "sq4", "pq", "rabitq", "binary", NULL};
static const qv_param_spec ivf_params[] = {
    {"nlist", QV_PT_UINT, 256, 1, 65536, NULL, 0, NULL, "cells of the k-means coarse quantizer"},
    {"nprobe", QV_PT_UINT, 16, 1, 65536, NULL, 1, NULL, "cells scanned per query (a query's ef_search overrides)"},
    {"quantizer", QV_PT_ENUM, 1, 0, 0, quantizers, 0, NULL,
     "codes in the lists: none (floats), sq8, sq4, pq, rabitq, binary"},
    {"pq_m", QV_PT_UINT, 0, 0, 65536, NULL, 0, NULL, "pq sub-vectors (must divide dim; 0: dim/8, dim/4 for 4 bits)"},
    {"pq_bits", QV_PT_UINT, 8, 4, 8, NULL, 0, NULL, "bits per pq code: 8 (tables) or 4 (FastScan)"},
    {"rerank", QV_PT_NUM, 4, 0, 1000, NULL, 1, NULL,
     "candidates re-scored exactly, as a multiple of k (0: code distances as they are)"},
    {"keep_floats", QV_PT_BOOL, 0, 0, 1, NULL, 0, NULL,
     "keep float vectors in memory (else re-ranking reads them from the store)"},
    {"train_size", QV_PT_UINT, 0, 0, 100000000, NULL, 0, NULL,
     "vectors buffered before training (0: max(32 * nlist, 1024))"},
    {"refine", QV_PT_NUM, 0, 0, 1000, NULL, 1, NULL,
     "sq8: scan the high 4 bits of each code, re-score the best k * refine on all 8 (0: scan all 8 bits)"},
    {NULL, QV_PT_UINT, 0, 0, 0, NULL, 0, NULL, NULL},
};

typedef struct ivf_list {
  uint32_t n, cap;
  uint32_t *slots;
  uint8_t *codes;
} ivf_list;

typedef struct scratch {
  struct scratch *next;
  void *prep;      /* quantizer prepared query */
  int16_t *pw;     /* dim: the query's int16 weights for the probe codes */
  float *buf;      /* dim floats (re-ranking), then SCAN_CHUNK distances */
  float *rr;       /* RR_CHUNK * dim floats: re-rank rows from the vector source (no resident floats) */
  qv_hit *probe;   /* nlist */
  float *pdist;    /* nlist: distances to the probe codes */
  qv_hit *cand;    /* cand_cap */
  size_t cand_cap;
} scratch;

struct qv_index {
  const qv_mem *mem;
  const qv_kernels *kern;
  qv_metric metric;
  uint32_t dim;
  const qv_vec_source *vsrc;
  uint32_t nlist, nprobe;
  double rerank, refine;
  int keep_floats; /* floats resident (the parameter, or forced without a vector source) */
  int keep_param;  /* the parameter as stored */
  size_t train_min;
  qv_quant_cfg qcfg;
  qv_quant *qz;
  int trained;
  float *cent; /* nlist * dim */
  /* the centroids as 8-bit codes, for probing (derived from cent, not saved): per-dimension
     range pc_lo / pc_scale over the centroids, nlist * dim code bytes, |c^|^2 per centroid */
  float *pc_lo, *pc_scale, *pc_norm, pc_wmax;
  uint8_t *pc_codes;
  qv_sq_i16_fn pc_dot;
  qv_sq_i16x4_fn pc_dot4;
  ivf_list *lists;
  uint32_t *loc_list, *loc_pos; /* cap_slots each */
  float *floats;                /* cap_slots * dim, when keep_floats or while untrained */
  uint8_t *code_tmp;            /* one code (code_bytes), for moves inside a list (writers only) */
  size_t cap_slots, n_slots, count, n_buf;
  pthread_mutex_t pool_lock;
  scratch *pool;
};

/* ------------------------------------------------------------------ parameters, life cycle */

static qv_status resolve(const qv_index_params *p, double *v) {
  char err[256];
  return qv__params_resolve(ivf_params, "ivf", p->params_json, NULL, 0, v, err, sizeof err);
}

static qv_status ivf_create(const qv_index_params *p, qv_index **out) {
  *out = NULL;
  if (!p || !p->mem || p->dim == 0) return QV_INVALID;
  if (p->metric != QV_METRIC_L2 && p->metric != QV_METRIC_IP && p->metric != QV_METRIC_COSINE) return QV_INVALID;
  double v[QV_MAX_PARAMS];
  qv_status rc = resolve(p, v);
  if (rc) return rc;
  if (v[P_PQ_BITS] != 4 && v[P_PQ_BITS] != 8) {
    if (p->err && p->errlen) qv__fmt(p->err, p->errlen, "pq_bits: %g is not 4 or 8", v[P_PQ_BITS]);
    return QV_INVALID;
  }
  qv_index *ix = qv__calloc(p->mem, 1, sizeof *ix);
  if (!ix) return QV_NOMEM;
  ix->mem = p->mem;
  ix->kern = qv__kernels();
  ix->metric = p->metric;
  ix->dim = p->dim;
  ix->vsrc = p->vsrc;
  ix->nlist = (uint32_t)v[P_NLIST];
  ix->nprobe = (uint32_t)v[P_NPROBE];
  ix->rerank = v[P_RERANK];
  ix->refine = v[P_REFINE];
  ix->keep_param = v[P_KEEP] != 0;
  ix->qcfg.kind = (qv_quant_kind)(int)v[P_QUANT];
  ix->qcfg.pq_m = (uint32_t)v[P_PQ_M];
  ix->qcfg.pq_bits = (uint32_t)v[P_PQ_BITS];
  ix->qcfg.seed = 0x1f5eed;
  ix->keep_floats = ix->keep_param || !p->vsrc;
  ix->train_min = v[P_TRAIN] > 0 ? (size_t)v[P_TRAIN] : (size_t)ix->nlist * 32;
  if (ix->train_min < 1024) ix->train_min = 1024;
  if (ix->train_min < ix->nlist) ix->train_min = ix->nlist;
  char err[256] = "";
  rc = qv__quant_new(p->mem, p->metric, p->dim, &ix->qcfg, &ix->qz, err, sizeof err);
  if (rc && err[0] && p->err && p->errlen) qv__fmt(p->err, p->errlen, "%s", err);
  if (rc == QV_OK && !(ix->lists = qv__calloc(p->mem, ix->nlist, sizeof *ix->lists))) rc = QV_NOMEM;
  if (rc == QV_OK && !(ix->code_tmp = qv__malloc(p->mem, ix->qz->code_bytes))) rc = QV_NOMEM;
  if (rc) {
    qv__quant_free(ix->qz);
    qv__free(p->mem, ix->lists);
    qv__free(p->mem, ix);
    return rc;
  }
  pthread_mutex_init(&ix->pool_lock, NULL);
  *out = ix;
  return QV_OK;
}

static void scratch_free(const qv_mem *mem, scratch *s) {
  if (!s) return;
  qv__free_aligned(mem, s->prep);
  qv__free(mem, s->pw);
  qv__free(mem, s->pdist);
  qv__free(mem, s->buf);
  qv__free(mem, s->rr);
  qv__free(mem, s->probe);
  qv__free(mem, s->cand);
  qv__free(mem, s);
}

static void ivf_destroy(qv_index *ix) {
  if (!ix) return;
  for (uint32_t l = 0; ix->lists && l < ix->nlist; l++) {
    qv__free(ix->mem, ix->lists[l].slots);
    qv__free(ix->mem, ix->lists[l].codes);
  }
  qv__free(ix->mem, ix->lists);
  qv__free(ix->mem, ix->code_tmp);
  qv__free(ix->mem, ix->cent);
  qv__free(ix->mem, ix->pc_lo);
  qv__free(ix->mem, ix->pc_codes);
  qv__free(ix->mem, ix->loc_list);
  qv__free(ix->mem, ix->loc_pos);
  qv__free_aligned(ix->mem, ix->floats);
  qv__quant_free(ix->qz);
  while (ix->pool) {
    scratch *n = ix->pool->next;
    scratch_free(ix->mem, ix->pool);
    ix->pool = n;
  }
  pthread_mutex_destroy(&ix->pool_lock);
  qv__free(ix->mem, ix);
}

/* ------------------------------------------------------------------ growth */

static int has_floats(const qv_index *ix) { return ix->keep_floats || !ix->trained; }

/* Slot arrays (and resident float rows) for slots [0, need). All or nothing. */
static qv_status grow_slots(qv_index *ix, size_t need) {
  if (need <= ix->cap_slots && (!has_floats(ix) || ix->floats || need == 0)) return QV_OK;
  size_t cap = ix->cap_slots;
  if (need > cap) {
    cap = cap * 2 > need ? cap * 2 : need;
    if (cap < 64) cap = 64;
  }
  if (cap > (size_t)UINT32_MAX - 2) return QV_NOMEM;
  size_t row = (size_t)ix->dim * sizeof(float);
  float *fl = NULL;
  if (has_floats(ix)) {
    if (cap > SIZE_MAX / row) return QV_NOMEM;
    fl = qv__malloc_aligned(ix->mem, cap * row);
    if (!fl) return QV_NOMEM;
    if (ix->floats) memcpy(fl, ix->floats, ix->cap_slots * row);
    memset((char *)fl + (ix->floats ? ix->cap_slots : 0) * row, 0, (cap - (ix->floats ? ix->cap_slots : 0)) * row);
  }
  uint32_t *ll = qv__realloc(ix->mem, ix->loc_list, cap * sizeof *ll);
  if (!ll) {
    qv__free_aligned(ix->mem, fl);
    return QV_NOMEM;
  }
  ix->loc_list = ll;
  uint32_t *lp = qv__realloc(ix->mem, ix->loc_pos, cap * sizeof *lp);
  if (!lp) {
    qv__free_aligned(ix->mem, fl);
    return QV_NOMEM;
  }
  ix->loc_pos = lp;
  for (size_t s = ix->cap_slots; s < cap; s++) {
    ll[s] = LOC_NONE;
    lp[s] = 0;
  }
  if (fl) {
    qv__free_aligned(ix->mem, ix->floats);
    ix->floats = fl;
  }
  ix->cap_slots = cap;
  return QV_OK;
}

static qv_status ivf_reserve(qv_index *ix, size_t n_slots) { return grow_slots(ix, n_slots); }

/* Room for `extra` more entries in list l (content unchanged on failure). */
static qv_status list_reserve(qv_index *ix, ivf_list *L, size_t extra) {
  size_t need = (size_t)L->n + extra;
  if (need <= L->cap) return QV_OK;
  /* doubling while small; an eighth more once a list is large (codes dominate the index's
     memory, and realloc of large blocks moves pages rather than bytes) */
  size_t grow = L->cap < 1024 ? L->cap * 2 : L->cap + L->cap / 8;
  size_t cap = grow > need ? grow : need;
  if (cap < 32) cap = 32;
  cap = (cap + 31) / 32 * 32;
  if (cap > UINT32_MAX) return QV_NOMEM;
  uint32_t *sl = qv__realloc(ix->mem, L->slots, cap * sizeof *sl);
  if (!sl) return QV_NOMEM;
  L->slots = sl;
  size_t old = qv__quant_storage(ix->qz, L->cap), nb = qv__quant_storage(ix->qz, cap);
  uint8_t *cd = qv__realloc(ix->mem, L->codes, nb);
  if (!cd) return QV_NOMEM;
  memset(cd + old, 0, nb - old);
  L->codes = cd;
  L->cap = (uint32_t)cap;
  return QV_OK;
}

/* ------------------------------------------------------------------ lists */

static void list_remove(qv_index *ix, uint32_t slot) {
  uint32_t l = ix->loc_list[slot], pos = ix->loc_pos[slot];
  ivf_list *L = &ix->lists[l];
  uint32_t last = L->n - 1;
  if (pos != last) {
    uint32_t moved = L->slots[last];
    qv__quant_get(ix->qz, L->codes, last, ix->code_tmp); /* through the layout (blocks) */
    qv__quant_put(ix->qz, L->codes, pos, ix->code_tmp);
    L->slots[pos] = moved;
    ix->loc_pos[moved] = pos;
  }
  L->n--;
  ix->loc_list[slot] = LOC_NONE;
}

/* Assign and encode n vectors and append them to their lists (all lists reserved first). */
static qv_status insert_coded(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n) {
  if (!n) return QV_OK;
  uint32_t *as = qv__malloc(ix->mem, n * sizeof *as);
  uint8_t *codes = qv__malloc(ix->mem, n * ix->qz->code_bytes);
  size_t *per = qv__calloc(ix->mem, ix->nlist, sizeof *per);
  qv_status rc = as && codes && per ? QV_OK : QV_NOMEM;
  if (rc == QV_OK) rc = qv__kmeans_assign(ix->mem, vecs, n, ix->dim, ix->cent, ix->nlist, as, NULL);
  if (rc == QV_OK) rc = qv__quant_encode(ix->qz, vecs, n, (const int32_t *)as, codes);
  if (rc == QV_OK) {
    for (size_t i = 0; i < n; i++) per[as[i]]++;
    for (uint32_t l = 0; l < ix->nlist && rc == QV_OK; l++)
      if (per[l]) rc = list_reserve(ix, &ix->lists[l], per[l]);
  }
  if (rc == QV_OK) {
    for (size_t i = 0; i < n; i++) {
      uint32_t s = slots[i];
      if (ix->loc_list[s] != LOC_NONE && ix->loc_list[s] != LOC_BUF) list_remove(ix, s); /* replaced */
      ivf_list *L = &ix->lists[as[i]];
      qv__quant_put(ix->qz, L->codes, L->n, codes + i * ix->qz->code_bytes);
      L->slots[L->n] = s;
      ix->loc_list[s] = as[i];
      ix->loc_pos[s] = L->n++;
    }
  }
  qv__free(ix->mem, as);
  qv__free(ix->mem, codes);
  qv__free(ix->mem, per);
  return rc;
}

/*
 * The probe codes of the centroids (see struct qv_index): probing scores the query against
 * nlist * dim bytes with int16 weights (sq_kern.h's dot16) instead of nlist * dim floats, a
 * quarter of the memory traffic per query. 8-bit centroids only order the cells.
 */
static qv_status build_probe(qv_index *ix) {
  size_t dim = ix->dim, nl = ix->nlist;
  float *lo = qv__malloc(ix->mem, (3 * dim + nl) * sizeof *lo);
  uint8_t *codes = qv__malloc(ix->mem, nl * dim);
  if (!lo || !codes) {
    qv__free(ix->mem, lo);
    qv__free(ix->mem, codes);
    return QV_NOMEM;
  }
  float *scale = lo + dim, *hi = scale + dim, *norm = hi + dim;
  for (size_t j = 0; j < dim; j++) lo[j] = hi[j] = ix->cent[j];
  for (size_t l = 1; l < nl; l++)
    for (size_t j = 0; j < dim; j++) {
      float v = ix->cent[l * dim + j];
      lo[j] = v < lo[j] ? v : lo[j];
      hi[j] = v > hi[j] ? v : hi[j];
    }
  for (size_t j = 0; j < dim; j++) scale[j] = (hi[j] - lo[j]) / 255.0f;
  for (size_t l = 0; l < nl; l++) {
    double xn = 0;
    for (size_t j = 0; j < dim; j++) {
      float t = scale[j] > 0 ? (ix->cent[l * dim + j] - lo[j]) / scale[j] : 0.0f;
      t = t < 0 ? 0 : t > 255.0f ? 255.0f : t;
      unsigned u = (unsigned)(t + 0.5f);
      codes[l * dim + j] = (uint8_t)u;
      double y = (double)lo[j] + (double)scale[j] * u;
      xn += y * y;
    }
    norm[l] = (float)xn;
  }
  qv__free(ix->mem, ix->pc_lo);
  qv__free(ix->mem, ix->pc_codes);
  ix->pc_lo = lo;
  ix->pc_scale = scale;
  ix->pc_norm = norm;
  ix->pc_codes = codes;
  double wm = 2147483647.0 / (255.0 * (double)dim);
  ix->pc_wmax = wm > 32767.0 ? 32767.0f : (float)floor(wm);
  ix->pc_dot = qv__sq_dot16_for(ix->kern->isa);
  ix->pc_dot4 = qv__sq_dot16x4_for(ix->kern->isa);
  return QV_OK;
}

/* Squared l2 from the query to every centroid's probe code (out: nlist floats). */
static void probe_dists(const qv_index *ix, const float *q, int16_t *w, float *out) {
  size_t dim = ix->dim, nl = ix->nlist;
  float mx = 0;
  double base = 0, qn = 0;
  for (size_t j = 0; j < dim; j++) {
    float t = fabsf(q[j] * ix->pc_scale[j]);
    mx = t > mx ? t : mx;
    base += (double)q[j] * ix->pc_lo[j];
    qn += (double)q[j] * q[j];
  }
  float ws = mx > 0 ? ix->pc_wmax / mx : 0.0f, inv = ws > 0 ? 1.0f / ws : 0.0f;
  for (size_t j = 0; j < dim; j++) {
    float t = q[j] * ix->pc_scale[j] * ws;
    w[j] = (int16_t)(t >= 0 ? t + 0.5f : t - 0.5f);
  }
  size_t l = 0;
  int32_t iw[4];
  for (; l + 4 <= nl; l += 4) {
    ix->pc_dot4(w, ix->pc_codes + l * dim, dim, dim, iw);
    for (size_t j = 0; j < 4; j++)
      out[l + j] = (float)qn - 2.0f * ((float)base + inv * (float)iw[j]) + ix->pc_norm[l + j];
  }
  for (; l < nl; l++)
    out[l] = (float)qn - 2.0f * ((float)base + inv * (float)ix->pc_dot(w, ix->pc_codes + l * dim, dim)) +
             ix->pc_norm[l];
}

/* Learn centroids and quantizer from n vectors (the buffer or a train() sample). */
static qv_status learn(qv_index *ix, const float *x, size_t n) {
  if (n < ix->nlist) return QV_INVALID;
  const qv_mem *mem = ix->mem;
  size_t dim = ix->dim, nk = (size_t)ix->nlist * KM_PER_CENTROID;
  if (nk > n) nk = n;
  float *sample = NULL;
  const float *ks = x;
  if (nk < n) { /* an even stride through the vectors */
    if (!(sample = qv__malloc(mem, nk * dim * sizeof *sample))) return QV_NOMEM;
    for (size_t i = 0; i < nk; i++) memcpy(sample + i * dim, x + (i * n / nk) * dim, dim * sizeof *sample);
    ks = sample;
  }
  float *cent = qv__malloc(mem, (size_t)ix->nlist * dim * sizeof *cent);
  qv_status rc = cent ? qv__kmeans(mem, ks, nk, dim, ix->nlist, KM_ITERS, 0xc0a45e, cent, NULL) : QV_NOMEM;
  qv__free(mem, sample);
  size_t nq = n < QUANT_SAMPLE ? n : QUANT_SAMPLE;
  float *qs = NULL;
  if (rc == QV_OK && nq < n) {
    if (!(qs = qv__malloc(mem, nq * dim * sizeof *qs))) rc = QV_NOMEM;
    else
      for (size_t i = 0; i < nq; i++) memcpy(qs + i * dim, x + (i * n / nq) * dim, dim * sizeof *qs);
  }
  if (rc == QV_OK && ix->qz->residual) { /* codes of x - centroid: learn from residuals */
    if (!qs) { /* the sample is all of x: copy it, the residuals overwrite it */
      if ((qs = qv__malloc(mem, nq * dim * sizeof *qs)))
        memcpy(qs, x, nq * dim * sizeof *qs);
      else
        rc = QV_NOMEM;
    }
    uint32_t *as = rc == QV_OK ? qv__malloc(mem, nq * sizeof *as) : NULL;
    if (rc == QV_OK && !as) rc = QV_NOMEM;
    if (rc == QV_OK) rc = qv__kmeans_assign(mem, qs, nq, dim, cent, ix->nlist, as, NULL);
    if (rc == QV_OK)
      for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < dim; j++) qs[i * dim + j] -= cent[(size_t)as[i] * dim + j];
    qv__free(mem, as);
  }
  if (rc == QV_OK) rc = qv__quant_train(ix->qz, qs ? qs : x, nq);
  qv__free(mem, qs);
  if (rc == QV_OK) rc = qv__quant_set_centers(ix->qz, cent, ix->nlist);
  if (rc) {
    qv__free(mem, cent);
    ix->qz->trained = 0;
    return rc;
  }
  qv__free(mem, ix->cent);
  ix->cent = cent;
  return build_probe(ix);
}

/* Train on the buffered vectors and move them into the lists. */
static qv_status train_buffer(qv_index *ix) {
  const qv_mem *mem = ix->mem;
  size_t n = ix->n_buf, dim = ix->dim, j = 0;
  uint32_t *slots = qv__malloc(mem, (n ? n : 1) * sizeof *slots);
  float *vecs = qv__malloc(mem, (n ? n : 1) * dim * sizeof *vecs);
  qv_status rc = slots && vecs ? QV_OK : QV_NOMEM;
  for (size_t s = 0; rc == QV_OK && s < ix->n_slots; s++)
    if (ix->loc_list[s] == LOC_BUF) {
      slots[j] = (uint32_t)s;
      memcpy(vecs + j * dim, ix->floats + s * dim, dim * sizeof *vecs);
      j++;
    }
  if (rc == QV_OK) rc = learn(ix, vecs, n);
  if (rc == QV_OK) {
    ix->trained = 1;
    rc = insert_coded(ix, slots, vecs, n);
    if (rc) { /* back to buffering: nothing was moved */
      ix->trained = 0;
      for (uint32_t l = 0; l < ix->nlist; l++) ix->lists[l].n = 0;
      for (size_t i = 0; i < n; i++) ix->loc_list[slots[i]] = LOC_BUF;
    } else {
      ix->n_buf = 0;
      if (!ix->keep_floats) {
        qv__free_aligned(mem, ix->floats);
        ix->floats = NULL;
      }
    }
  }
  qv__free(mem, slots);
  qv__free(mem, vecs);
  return rc;
}

/* ------------------------------------------------------------------ writes */

static qv_status ivf_add(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n) {
  size_t need = 0, dim = ix->dim;
  for (size_t i = 0; i < n; i++)
    if ((size_t)slots[i] + 1 > need) need = (size_t)slots[i] + 1;
  qv_status rc = grow_slots(ix, need);
  if (rc) return rc;
  if (ix->trained) {
    rc = insert_coded(ix, slots, vecs, n);
    if (rc) return rc;
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t s = slots[i];
    if (has_floats(ix)) memcpy(ix->floats + (size_t)s * dim, vecs + i * dim, dim * sizeof(float));
    if (!ix->trained) {
      if (ix->loc_list[s] != LOC_BUF) {
        ix->loc_list[s] = LOC_BUF;
        ix->n_buf++;
        ix->count++;
      }
    }
    if (s + 1 > ix->n_slots) ix->n_slots = s + 1;
  }
  if (ix->trained) {
    /* count: slots that were not live before this call */
    size_t live = 0;
    for (uint32_t l = 0; l < ix->nlist; l++) live += ix->lists[l].n;
    ix->count = live;
  }
  if (!ix->trained && ix->n_buf >= ix->train_min) {
    rc = train_buffer(ix);
    if (rc == QV_NOMEM) return QV_OK; /* the vectors are in, buffered: training retries on the next add */
  }
  return rc == QV_INVALID ? QV_OK : rc;
}

static qv_status ivf_train(qv_index *ix, const float *vecs, size_t n) {
  if (ix->trained) return QV_OK;
  if (n < ix->nlist) return QV_INVALID;
  qv_status rc = learn(ix, vecs, n);
  if (rc) return rc;
  ix->trained = 1;
  if (ix->n_buf) { /* buffered vectors move into the lists */
    size_t nb = ix->n_buf, j = 0;
    uint32_t *sl = qv__malloc(ix->mem, nb * sizeof *sl);
    float *v = qv__malloc(ix->mem, nb * ix->dim * sizeof *v);
    rc = sl && v ? QV_OK : QV_NOMEM;
    for (size_t s = 0; rc == QV_OK && s < ix->n_slots; s++)
      if (ix->loc_list[s] == LOC_BUF) {
        sl[j] = (uint32_t)s;
        memcpy(v + j * ix->dim, ix->floats + s * ix->dim, ix->dim * sizeof *v);
        j++;
      }
    if (rc == QV_OK) rc = insert_coded(ix, sl, v, nb);
    qv__free(ix->mem, sl);
    qv__free(ix->mem, v);
    if (rc) {
      ix->trained = 0;
      for (uint32_t l = 0; l < ix->nlist; l++) ix->lists[l].n = 0;
      for (size_t s = 0; s < ix->n_slots; s++)
        if (ix->loc_list[s] != LOC_NONE) ix->loc_list[s] = LOC_BUF;
      return rc;
    }
    ix->n_buf = 0;
  }
  if (!ix->keep_floats) {
    qv__free_aligned(ix->mem, ix->floats);
    ix->floats = NULL;
  }
  return QV_OK;
}

static qv_status ivf_remove(qv_index *ix, uint32_t slot) {
  if (slot >= ix->n_slots || ix->loc_list[slot] == LOC_NONE) return QV_NOTFOUND;
  if (ix->loc_list[slot] == LOC_BUF) {
    ix->loc_list[slot] = LOC_NONE;
    ix->n_buf--;
  } else {
    list_remove(ix, slot);
  }
  ix->count--;
  while (ix->n_slots > 0 && ix->loc_list[ix->n_slots - 1] == LOC_NONE) ix->n_slots--;
  return QV_OK;
}

static int ivf_contains(const qv_index *ix, uint32_t slot) {
  return slot < ix->n_slots && ix->loc_list[slot] != LOC_NONE;
}

static const float *ivf_vector(const qv_index *ix, uint32_t slot) {
  if (!ivf_contains(ix, slot)) return NULL;
  if (has_floats(ix)) return ix->floats + (size_t)slot * ix->dim;
  if (ix->qcfg.kind == QV_QUANT_NONE) /* the code is the vector; valid until the next write */
    return (const float *)(const void *)(ix->lists[ix->loc_list[slot]].codes +
                                         (size_t)ix->loc_pos[slot] * ix->qz->code_bytes);
  return NULL;
}

static qv_status ivf_set_param(qv_index *ix, const char *name, double value) {
  if (strcmp(name, "nprobe") == 0 && value >= 1 && value <= 65536) {
    ix->nprobe = (uint32_t)value;
    return QV_OK;
  }
  if (strcmp(name, "rerank") == 0 && value >= 0 && value <= 1000) {
    ix->rerank = value;
    return QV_OK;
  }
  if (strcmp(name, "refine") == 0 && value >= 0 && value <= 1000) {
    ix->refine = value;
    return QV_OK;
  }
  return QV_INVALID;
}

static void ivf_stats(const qv_index *ix, qv_index_stats *out) {
  out->count = ix->count;
  out->n_slots = ix->n_slots;
  out->n_tombstones = 0;
  uint64_t codes = 0, ids = 0;
  for (uint32_t l = 0; l < ix->nlist; l++) {
    codes += qv__quant_storage(ix->qz, ix->lists[l].cap);
    ids += (uint64_t)ix->lists[l].cap * sizeof(uint32_t);
  }
  out->mem_vectors = codes + (ix->floats ? (uint64_t)ix->cap_slots * ix->dim * sizeof(float) : 0);
  out->mem_codes = codes;
  out->mem_graph = ids + (uint64_t)ix->cap_slots * 2 * sizeof(uint32_t) +
                   (ix->cent ? (uint64_t)ix->nlist * ix->dim * sizeof(float) : 0) +
                   (ix->pc_codes ? (uint64_t)ix->nlist * (ix->dim + 4) + 3 * (uint64_t)ix->dim * 4 : 0) +
                   (uint64_t)qv__quant_state_bytes(ix->qz) + ix->qz->aux_bytes;
  out->max_level = 0;
}

/* ------------------------------------------------------------------ search */

static size_t cand_want(const qv_index *ix, size_t k, double rerank) {
  if (ix->qcfg.kind == QV_QUANT_NONE || rerank <= 1.0) return k;
  double c = ceil((double)k * rerank);
  return c > 1e7 ? (size_t)1e7 : (size_t)c;
}

static scratch *scratch_get(const qv_index *ix, size_t cand) {
  qv_index *mix = (qv_index *)(uintptr_t)ix; /* the pool is the only mutable part */
  pthread_mutex_lock(&mix->pool_lock);
  scratch *s = mix->pool;
  if (s) mix->pool = s->next;
  pthread_mutex_unlock(&mix->pool_lock);
  if (!s) {
    s = qv__calloc(ix->mem, 1, sizeof *s);
    if (!s) return NULL;
    s->prep = qv__malloc_aligned(ix->mem, ix->qz->prep_bytes + 64);
    s->buf = qv__malloc(ix->mem, ((size_t)ix->dim + SCAN_CHUNK) * sizeof *s->buf);
    s->probe = qv__malloc(ix->mem, (size_t)ix->nlist * sizeof *s->probe);
    s->pw = qv__malloc(ix->mem, (size_t)ix->dim * sizeof *s->pw);
    s->pdist = qv__malloc(ix->mem, (size_t)ix->nlist * sizeof *s->pdist);
    /* trained (the only state that searches lists): whether floats are resident is fixed */
    if (!ix->floats) s->rr = qv__malloc(ix->mem, (size_t)RR_CHUNK * ix->dim * sizeof *s->rr);
    if (!s->prep || !s->buf || !s->probe || !s->pw || !s->pdist || (!ix->floats && !s->rr)) {
      scratch_free(ix->mem, s);
      return NULL;
    }
  }
  if (s->cand_cap < cand) {
    qv_hit *c = qv__realloc(ix->mem, s->cand, cand * sizeof *c);
    if (!c) {
      scratch_free(ix->mem, s);
      return NULL;
    }
    s->cand = c;
    s->cand_cap = cand;
  }
  return s;
}

static void scratch_put(const qv_index *ix, scratch *s) {
  qv_index *mix = (qv_index *)(uintptr_t)ix;
  pthread_mutex_lock(&mix->pool_lock);
  s->next = mix->pool;
  mix->pool = s;
  pthread_mutex_unlock(&mix->pool_lock);
}

/* Exact search of the buffered (untrained) vectors. */
static void search_buffer(const qv_index *ix, const qv_search_req *req, qv_topk *t) {
  for (size_t s = 0; s < ix->n_slots; s++) {
    if (ix->loc_list[s] != LOC_BUF || (req->pred && !req->pred(req->pred_ctx, (uint32_t)s))) continue;
    qv__topk_push(t, qv__metric_dist(ix->kern, ix->metric, req->q, ix->floats + s * ix->dim, ix->dim), (uint32_t)s);
  }
}

static qv_status ivf_search(const qv_index *ix, const qv_search_req *req, qv_hit *out, size_t *n_out) {
  *n_out = 0;
  if (req->k == 0 || ix->count == 0) return QV_OK;
  qv_topk t;
  if (!ix->trained) {
    qv__topk_init(&t, out, req->k);
    search_buffer(ix, req, &t);
    *n_out = qv__topk_finish(&t);
    return QV_OK;
  }
  size_t np = req->ef ? req->ef : ix->nprobe;
  double rerank = ix->rerank, refine = ix->refine;
  if (req->params) { /* this query's own nprobe / rerank / refine (the collection checked the keys) */
    double v[QV_MAX_PARAMS], base[QV_MAX_PARAMS] = {0};
    char err[256];
    base[P_NPROBE] = (double)np;
    base[P_RERANK] = rerank;
    base[P_REFINE] = refine;
    if (qv__params_resolve(ivf_params, "ivf", req->params, base, 1, v, err, sizeof err) != QV_OK) return QV_INVALID;
    np = (size_t)v[P_NPROBE];
    rerank = v[P_RERANK];
    refine = v[P_REFINE];
  }
  size_t kc = cand_want(ix, req->k, rerank), kr = 0;
  if (refine > 0 && qv__quant_has_coarse(ix->qz)) { /* coarse scan, then the full codes of kr */
    double c = ceil((double)req->k * refine);
    kr = c > 1e7 ? (size_t)1e7 : (size_t)c;
    if (kr < kc) kr = kc;
  }
  scratch *s = scratch_get(ix, kc + kr);
  if (!s) return QV_NOMEM;
  size_t dim = ix->dim;
  /* the nprobe nearest cells */
  if (np > ix->nlist) np = ix->nlist;
  float *dbuf = s->buf + dim;
  qv_topk pt;
  qv__topk_init(&pt, s->probe, np);
  probe_dists(ix, req->q, s->pw, s->pdist);
  for (uint32_t l = 0; l < ix->nlist; l++)
    if (s->pdist[l] < qv__topk_worst(&pt)) qv__topk_push(&pt, s->pdist[l], l);
  size_t nprobed = qv__topk_finish(&pt);
  /* codes of the probed lists */
  qv_topk ct;
  qv_hit *cand = s->cand;
  qv__topk_init(&ct, cand, kr ? kr : kc);
  qv__quant_prepare(ix->qz, req->q, s->prep);
  for (size_t p = 0; p < nprobed; p++) {
    uint32_t l = s->probe[p].slot;
    const ivf_list *L = &ix->lists[l];
    if (p + 1 < nprobed) { /* the start of the next list streams in while this one is scanned */
      const ivf_list *N = &ix->lists[s->probe[p + 1].slot];
      size_t nb = qv__quant_storage(ix->qz, N->n);
      for (size_t o = 0; o < nb && o < 4096; o += 64) __builtin_prefetch(N->codes + o);
    }
    if (!L->n) continue;
    qv__quant_recenter(ix->qz, s->prep, (int32_t)l);
    for (uint32_t i0 = 0; i0 < L->n; i0 += SCAN_CHUNK) {
      size_t m = L->n - i0 < SCAN_CHUNK ? L->n - i0 : SCAN_CHUNK;
      if (kr)
        qv__quant_scan_coarse(ix->qz, s->prep, L->codes + qv__quant_storage(ix->qz, i0), m, dbuf);
      else
        qv__quant_scan(ix->qz, s->prep, L->codes + qv__quant_storage(ix->qz, i0), m, dbuf);
      float worst = qv__topk_worst(&ct);
      for (size_t j = 0; j < m; j++) {
        if (dbuf[j] > worst) continue; /* ties: the heap keeps the lower slot */
        uint32_t slot = L->slots[i0 + j];
        if (req->pred && !req->pred(req->pred_ctx, slot)) continue;
        qv__topk_push(&ct, dbuf[j], slot);
        worst = qv__topk_worst(&ct);
      }
    }
  }
  if (kr) { /* the coarse scan's best kr, re-scored with their full codes, give the kc */
    size_t n1 = ct.n;
    cand = s->cand + kr;
    qv__topk_init(&ct, cand, kc);
    for (size_t c = 0; c < n1; c++) { /* their codes are scattered: ask for all of them first */
      uint32_t slot = s->cand[c].slot;
      qv__quant_prefetch(ix->qz, ix->lists[ix->loc_list[slot]].codes, ix->loc_pos[slot]);
    }
    for (size_t c = 0; c < n1; c++) {
      uint32_t slot = s->cand[c].slot;
      const ivf_list *L = &ix->lists[ix->loc_list[slot]];
      qv__topk_push(&ct, qv__quant_rescore(ix->qz, s->prep, L->codes, ix->loc_pos[slot]), slot);
    }
  }
  size_t nc = ct.n;
  qv_status rc = QV_OK;
  if (kc == req->k) { /* exact codes, or no re-ranking: the code distances as they are */
    *n_out = qv__topk_finish(&ct);
    memcpy(out, cand, *n_out * sizeof *out);
  } else if (ix->floats) {
    qv__topk_init(&t, out, req->k);
    for (size_t c = 0; c < nc; c++) {
      uint32_t slot = cand[c].slot;
      qv__topk_push(&t, qv__metric_dist(ix->kern, ix->metric, req->q, ix->floats + (size_t)slot * dim, dim), slot);
    }
    *n_out = qv__topk_finish(&t);
  } else { /* floats from the vector source: RR_CHUNK rows per call (one read transaction) */
    const qv_vec_source *vs = ix->vsrc;
    uint32_t ids[RR_CHUNK];
    qv_status each[RR_CHUNK];
    qv__topk_init(&t, out, req->k);
    for (size_t c0 = 0; c0 < nc && rc == QV_OK; c0 += RR_CHUNK) {
      size_t m = nc - c0 < RR_CHUNK ? nc - c0 : RR_CHUNK;
      for (size_t i = 0; i < m; i++) ids[i] = cand[c0 + i].slot;
      if (vs->get_many)
        rc = vs->get_many(vs->ctx, ids, m, s->rr, each);
      else
        for (size_t i = 0; i < m; i++) each[i] = vs->get(vs->ctx, ids[i], s->rr + i * dim);
      for (size_t i = 0; i < m && rc == QV_OK; i++) {
        if (each[i] == QV_NOTFOUND) continue; /* the record is gone (the collection drops the slot) */
        if (each[i] != QV_OK) {
          rc = each[i];
          break;
        }
        qv__topk_push(&t, qv__metric_dist(ix->kern, ix->metric, req->q, s->rr + i * dim, dim), ids[i]);
      }
    }
    *n_out = rc ? 0 : qv__topk_finish(&t);
  }
  scratch_put(ix, s);
  return rc;
}

/* ------------------------------------------------------------------ checkpoint */

typedef struct ivf_head {
  uint32_t nlist, trained, qkind, pq_m, pq_bits, keep_floats, code_bytes, block;
  uint64_t n_slots, count, state_bytes, n_buf;
} ivf_head;

static qv_status ivf_save(const qv_index *ix, const char *path, uint64_t seq) {
  qv_ckpt_writer w;
  qv_ckpt_hdr hdr = {.kind_tag = IVF_TAG, .payload_version = IVF_PAYLOAD_VERSION, .dim = ix->dim,
                     .metric = (uint32_t)ix->metric, .seq = seq};
  ivf_head h = {.nlist = ix->nlist, .trained = (uint32_t)ix->trained, .qkind = (uint32_t)ix->qcfg.kind,
                .pq_m = ix->qz->cfg.pq_m, .pq_bits = ix->qcfg.pq_bits, .keep_floats = (uint32_t)ix->keep_floats,
                .code_bytes = (uint32_t)ix->qz->code_bytes, .block = (uint32_t)ix->qz->block,
                .n_slots = ix->n_slots, .count = ix->count,
                .state_bytes = ix->trained ? qv__quant_state_bytes(ix->qz) : 0, .n_buf = ix->n_buf};
  qv_status rc = qv__ckpt_begin(&w, ix->mem, path, &hdr);
  if (rc) return rc;
  qv__ckpt_write(&w, &h, sizeof h);
  if (ix->trained) {
    qv__ckpt_write(&w, ix->cent, (size_t)ix->nlist * ix->dim * sizeof(float));
    qv__quant_state_write(ix->qz, &w);
    for (uint32_t l = 0; l < ix->nlist; l++) {
      const ivf_list *L = &ix->lists[l];
      qv__ckpt_write(&w, &L->n, sizeof L->n);
      if (L->n) {
        qv__ckpt_write(&w, L->slots, (size_t)L->n * sizeof *L->slots);
        qv__ckpt_write(&w, L->codes, qv__quant_storage(ix->qz, L->n));
      }
    }
  }
  for (size_t s = 0; s < ix->n_slots; s++)
    if (ix->loc_list[s] == LOC_BUF) {
      uint32_t s32 = (uint32_t)s;
      qv__ckpt_write(&w, &s32, sizeof s32);
    }
  for (size_t s = 0; s < ix->n_slots; s++)
    if (ix->loc_list[s] == LOC_BUF) qv__ckpt_write(&w, ix->floats + s * ix->dim, ix->dim * sizeof(float));
  if (ix->keep_floats && ix->trained && ix->n_slots)
    qv__ckpt_write(&w, ix->floats, ix->n_slots * ix->dim * sizeof(float));
  return qv__ckpt_commit(&w);
}

/* A bounds-checked reader over the payload. */
typedef struct rd {
  const unsigned char *p;
  uint64_t len, off;
  int bad;
} rd;

static const void *take(rd *r, uint64_t n) {
  if (r->bad || n > r->len - r->off) {
    r->bad = 1;
    return NULL;
  }
  const void *p = r->p + r->off;
  r->off += n;
  return p;
}

static qv_status ivf_load(const qv_index_params *p, const char *path, qv_index **out, uint64_t *seq) {
  qv_ckpt_hdr expect = {.kind_tag = IVF_TAG, .dim = p->dim, .metric = (uint32_t)p->metric}, got;
  void *payload = NULL;
  qv_index *ix = NULL;
  *out = NULL;
  qv_status rc = ivf_create(p, &ix);
  if (rc) return rc;
  rc = qv__ckpt_read(p->mem, path, &expect, &got, &payload);
  if (rc) goto done;
  rc = QV_CORRUPT;
  if (got.payload_version != IVF_PAYLOAD_VERSION) goto done;
  rd r = {payload, got.payload_len, 0, 0};
  const ivf_head *hp = take(&r, sizeof(ivf_head));
  if (!hp) goto done;
  ivf_head h = *hp;
  size_t dim = p->dim;
  if (h.nlist != ix->nlist || h.qkind != (uint32_t)ix->qcfg.kind || h.pq_m != ix->qz->cfg.pq_m ||
      h.pq_bits != ix->qcfg.pq_bits || h.code_bytes != ix->qz->code_bytes || h.block != ix->qz->block ||
      h.trained > 1 || h.count > h.n_slots || h.n_slots > (uint64_t)UINT32_MAX - 2 || h.n_buf > h.count ||
      (h.trained && h.n_buf))
    goto done;
  ix->keep_floats = ix->keep_floats || h.keep_floats; /* a file written with floats keeps them */
  ix->trained = (int)h.trained;
  if ((rc = grow_slots(ix, (size_t)h.n_slots))) goto done;
  rc = QV_CORRUPT;
  uint64_t placed = 0;
  if (h.trained) {
    const float *c = take(&r, (uint64_t)ix->nlist * dim * sizeof(float));
    if (!c || h.state_bytes != qv__quant_state_bytes(ix->qz)) goto done;
    const unsigned char *st = take(&r, h.state_bytes);
    if (!st) goto done;
    if (!(ix->cent = qv__malloc(p->mem, (size_t)ix->nlist * dim * sizeof(float)))) {
      rc = QV_NOMEM;
      goto done;
    }
    memcpy(ix->cent, c, (size_t)ix->nlist * dim * sizeof(float));
    for (size_t i = 0; i < (size_t)ix->nlist * dim; i++)
      if (!isfinite(ix->cent[i])) goto done;
    if ((rc = qv__quant_state_read(ix->qz, st, (size_t)h.state_bytes))) goto done;
    if ((rc = qv__quant_set_centers(ix->qz, ix->cent, ix->nlist))) goto done;
    if ((rc = build_probe(ix))) goto done;
    rc = QV_CORRUPT;
    for (uint32_t l = 0; l < ix->nlist; l++) {
      const uint32_t *np = take(&r, sizeof(uint32_t));
      if (!np || *np > h.count - placed) goto done;
      uint32_t n = *np;
      ivf_list *L = &ix->lists[l];
      if (!n) continue;
      const uint32_t *sl = take(&r, (uint64_t)n * sizeof(uint32_t));
      const unsigned char *cd = take(&r, qv__quant_storage(ix->qz, n));
      if (!sl || !cd) goto done;
      if ((rc = list_reserve(ix, L, n))) goto done;
      rc = QV_CORRUPT;
      memcpy(L->slots, sl, (size_t)n * sizeof *sl);
      memcpy(L->codes, cd, qv__quant_storage(ix->qz, n));
      L->n = n;
      for (uint32_t i = 0; i < n; i++) {
        uint32_t s = sl[i];
        if (s >= h.n_slots || ix->loc_list[s] != LOC_NONE) goto done;
        ix->loc_list[s] = l;
        ix->loc_pos[s] = i;
      }
      placed += n;
    }
  }
  const uint32_t *bs = take(&r, h.n_buf * sizeof(uint32_t));
  const float *bf = take(&r, h.n_buf * dim * sizeof(float));
  if (!bs || !bf) goto done;
  for (uint64_t i = 0; i < h.n_buf; i++) {
    uint32_t s = bs[i];
    if (s >= h.n_slots || ix->loc_list[s] != LOC_NONE) goto done;
    ix->loc_list[s] = LOC_BUF;
    memcpy(ix->floats + (size_t)s * dim, bf + i * dim, dim * sizeof(float));
  }
  placed += h.n_buf;
  if (h.keep_floats && h.trained && h.n_slots) {
    const float *fl = take(&r, h.n_slots * dim * sizeof(float));
    if (!fl) goto done;
    memcpy(ix->floats, fl, (size_t)h.n_slots * dim * sizeof(float));
  }
  if (r.bad || r.off != r.len || placed != h.count) goto done;
  if (h.n_slots && ix->loc_list[h.n_slots - 1] == LOC_NONE) goto done;
  if (ix->keep_floats && h.trained && !h.keep_floats && h.n_slots) goto done; /* floats wanted, not in the file */
  ix->n_slots = (size_t)h.n_slots;
  ix->count = (size_t)h.count;
  ix->n_buf = (size_t)h.n_buf;
  if (seq) *seq = got.seq;
  *out = ix;
  ix = NULL;
  rc = QV_OK;
done:
  qv__free_aligned(p->mem, payload);
  ivf_destroy(ix);
  return rc;
}

/* ------------------------------------------------------------------ registry */

const qv_index_vt qv__index_ivf = {
    .name = "ivf",
    .caps = QV_IXCAP_APPROX | QV_IXCAP_TRAINED,
    .metrics = QV_METRIC_BIT(QV_METRIC_L2) | QV_METRIC_BIT(QV_METRIC_IP) | QV_METRIC_BIT(QV_METRIC_COSINE),
    .params = ivf_params,
    .create = ivf_create,
    .destroy = ivf_destroy,
    .add = ivf_add,
    .remove = ivf_remove,
    .vector = ivf_vector,
    .search = ivf_search,
    .set_param = ivf_set_param,
    .save = ivf_save,
    .load = ivf_load,
    .stats = ivf_stats,
    .reserve = ivf_reserve,
    .train = ivf_train,
    .contains = ivf_contains,
};
