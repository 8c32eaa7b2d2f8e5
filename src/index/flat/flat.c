/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/flat/flat.c -- the exact ("flat") index: every query is compared with every live vector.
 *
 * Storage
 *   vecs   one contiguous, 64-byte aligned float array, row `slot` at vecs + slot*dim, for
 *          slots [0, cap). It lives in reserved address space (util/vbuf.h) and grows in
 *          place, pages committed as slots are needed, so growth never holds two copies; only
 *          an array that outgrows its reservation (about the machine's RAM) moves once, by
 *          copy. Rows past n_slots and rows of never-used slots are zero, removed rows keep
 *          their old (finite) values, so any row may be scanned. norms and live grow likewise.
 *   live   bitmap over [0, cap): bit set = the slot holds a live vector.
 *   norms  ||x||^2 per slot, for the GEMM form of l2 and for its error bound (max_norm2 is an
 *          upper bound of all norms ever stored; it never shrinks, which only loosens it).
 *   n_slots is one past the highest live slot (trailing dead slots are trimmed on remove).
 *
 * Single search: no predicate -> one pass of the *_many kernel over blocks of SCAN_BLOCK rows
 * into a stack buffer, then the live test and the top-k heap. With a predicate -> the predicate
 * is asked per live slot first, and only the passing slots are measured.
 *
 * Results are the k smallest (distance, slot) pairs in lexicographic order, so ties are broken
 * by the lower slot regardless of the order in which candidates are offered. That is what makes
 * search_batch() able to equal search() exactly.
 *
 * Batch search (l2, ip, cosine) is the blocked matrix-multiply form: for a block of queries and
 * a block of rows, cblas_sgemm gives q.x, and the approximate distance is ||x||^2 - 2 q.x
 * (+||q||^2) or 1 - q.x. Each query keeps its top-(k + margin) approximate candidates, which are
 * then re-ranked with the exact kernel (bit-identical to the one search() uses, see dist.h). A
 * float32 error bound then proves the result exact: if the k-th exact distance is below the
 * smallest approximate distance left out minus the bound, nothing left out could have entered
 * the top k; otherwise that query falls back to an exact scan. L1 has no GEMM form and batches
 * are plain scans split across threads. Threads (pthreads, the caller is one of them) take
 * blocks of BATCH_QB queries from an atomic counter; each runs its own single-threaded sgemm.
 *
 * Checkpoint payload (checkpoint.h envelope, tag "FLAT", payload version 1), host order
 * (little-endian only, asserted below):
 *   0  u64 n_slots   8 u64 count   16 u64 bitmap words   24 u64 vector offset   32..63 zero
 *   64 bitmap words (u64 each), zero padding to the vector offset (a multiple of 64)
 *   vector offset: n_slots * dim floats.
 * load() reads the payload straight into the reserved range of vecs (rows at the payload's
 * vector offset), so the loaded array is used in place and the first insert after a reopen
 * grows it in place too.
 */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "dist.h"
#include "flat_codes.h"
#include "index.h"
#include "vbuf.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "flat checkpoints are little-endian");

#define FLAT_TAG ((uint32_t)'F' | (uint32_t)'L' << 8 | (uint32_t)'A' << 16 | (uint32_t)'T' << 24)
#define FLAT_PAYLOAD_VERSION 1u
#define FLAT_PAYLOAD_HEAD 64u
#define FLAT_SNAPSHOT_CODES 2u /* snapshot payload of an l2 index: version 1's, head word 4 = the
                                   offset of the code section that follows (flat_codes.c) */
#define SCAN_BLOCK 256   /* rows per *_many call in a single-query scan */
#define BATCH_QB 128     /* queries per GEMM block */
#define BATCH_BB 1024    /* rows per GEMM block */
#define BATCH_MIN_NQ 8   /* below this, batch search is a loop of scans */

struct qv_index {
  const qv_mem *mem;
  const qv_kernels *kern;
  qv_metric metric;
  uint32_t dim;
  int n_threads;
  qv_vbuf vb_vecs, vb_norms, vb_live; /* reserved ranges holding the arrays (not when ro) */
  size_t vec_off;  /* byte offset of vecs in vb_vecs (a loaded payload's vector offset, or 0) */
  float *vecs;     /* cap * dim floats */
  float *norms;    /* cap floats */
  uint64_t *live;  /* (cap + 63) / 64 words */
  size_t n_slots, cap, count;
  float max_norm2;
  int ro; /* attached to a mapped payload (open_mapped): read-only, no norms, nothing owned */
  const unsigned char *codes; /* ro, l2, payload version 2: the code section (flat_codes.c) */
};

/* ------------------------------------------------------------------ small helpers */

static inline int is_live(const qv_index *ix, size_t slot) {
  return (int)((ix->live[slot >> 6] >> (slot & 63)) & 1u);
}

static inline size_t words_for(size_t bits) { return (bits + 63) / 64; }

/* a > b in (dist, slot) order. */
static inline int hit_gt(float ad, uint32_t as, float bd, uint32_t bs) {
  return ad > bd || (ad == bd && as > bs);
}

/*
 * Offer (d, slot) to a heap ordered by (dist, slot): keeps the k lexicographically smallest
 * pairs whatever the order of the offers (topk.h breaks ties by arrival instead).
 */
static void hit_offer(qv_topk *t, float d, uint32_t slot) {
  qv_hit *h = t->h;
  size_t i;
  if (t->n < t->k) {
    for (i = t->n++; i > 0; i = (i - 1) / 2) {
      size_t p = (i - 1) / 2;
      if (!hit_gt(d, slot, h[p].dist, h[p].slot)) break;
      h[i] = h[p];
    }
  } else {
    if (!hit_gt(h[0].dist, h[0].slot, d, slot)) return;
    for (i = 0;;) {
      size_t c = 2 * i + 1;
      if (c >= t->n) break;
      if (c + 1 < t->n && hit_gt(h[c + 1].dist, h[c + 1].slot, h[c].dist, h[c].slot)) c++;
      if (!hit_gt(h[c].dist, h[c].slot, d, slot)) break;
      h[i] = h[c];
      i = c;
    }
  }
  h[i].dist = d;
  h[i].slot = slot;
}

/* ------------------------------------------------------------------ lifetime */

static qv_status flat_create(const qv_index_params *p, qv_index **out) {
  *out = NULL;
  if (!p || !p->mem || p->dim == 0) return QV_INVALID;
  if (p->metric > QV_METRIC_HAMMING) return QV_INVALID;
  qv_index *ix = qv__calloc(p->mem, 1, sizeof *ix);
  if (!ix) return QV_NOMEM;
  ix->mem = p->mem;
  ix->kern = qv__kernels();
  ix->metric = p->metric;
  ix->dim = p->dim;
  ix->n_threads = p->n_threads;
  *out = ix;
  return QV_OK;
}

static void flat_destroy(qv_index *ix) {
  if (!ix) return;
  if (ix->ro) {
    qv__free(ix->mem, ix);
    return;
  }
  qv__vbuf_free(&ix->vb_vecs);
  qv__vbuf_free(&ix->vb_norms);
  qv__vbuf_free(&ix->vb_live);
  qv__free(ix->mem, ix);
}

/*
 * Room for more slots (reserve_build / reserve_install). In place: the pages are committed
 * by build (readers never look past n_slots) and install only records the new capacity.
 * Otherwise (first rows, or an array past its reservation): new reservations holding a copy.
 */
typedef struct flat_grown {
  size_t cap;
  int moved;                 /* 1: the vbufs below replace the index's */
  qv_vbuf vecs, norms, live;
} flat_grown;

static void flat_grown_free(const qv_mem *mem, flat_grown *g) {
  qv__vbuf_free(&g->vecs);
  qv__vbuf_free(&g->norms);
  qv__vbuf_free(&g->live);
  qv__free(mem, g);
}

/* Commit the three arrays of cap slots in the given vbufs (vecs at byte offset off). */
static qv_status commit_cap(const qv_vbuf *v, const qv_vbuf *n, const qv_vbuf *l, size_t off, size_t cap,
                            size_t row) {
  qv_status rc = qv__vbuf_commit(v, off + cap * row);
  if (rc == QV_OK) rc = qv__vbuf_commit(n, cap * sizeof(float));
  if (rc == QV_OK) rc = qv__vbuf_commit(l, words_for(cap) * sizeof(uint64_t));
  return rc;
}

/* 1 if cap slots fit in the index's reservations. */
static int fits(const qv_index *ix, size_t cap) {
  size_t row = (size_t)ix->dim * sizeof(float);
  return qv__vbuf_fits(&ix->vb_vecs, ix->vec_off + cap * row) && qv__vbuf_fits(&ix->vb_norms, cap * sizeof(float)) &&
         qv__vbuf_fits(&ix->vb_live, words_for(cap) * sizeof(uint64_t));
}

/*
 * Room for slots [0, need) in two steps: reserve_build commits pages (or, when the arrays must
 * move, copies into new ones) while searches read ix (no add or remove may run),
 * reserve_install makes them the index's.
 */
static qv_status flat_reserve_build(const qv_index *ix, size_t need, void **staged) {
  *staged = NULL;
  if (ix->ro) return QV_UNSUPPORTED;
  if (need <= ix->cap) return QV_OK;
  size_t row = (size_t)ix->dim * sizeof(float);
  if (need > SIZE_MAX / 2 / row || need > UINT32_MAX + (size_t)1) return QV_NOMEM;
  flat_grown *g = qv__calloc(ix->mem, 1, sizeof *g);
  if (!g) return QV_NOMEM;
  g->cap = need;
  qv_status rc;
  if (fits(ix, need)) {
    /* pages cost memory only once written: commit ahead geometrically, so that small adds
     * do not each make a system call */
    size_t ahead = ix->cap * 2 > need ? ix->cap * 2 : need;
    if (ahead < 64) ahead = 64;
    if (ahead <= UINT32_MAX + (size_t)1 && fits(ix, ahead)) g->cap = ahead;
    rc = commit_cap(&ix->vb_vecs, &ix->vb_norms, &ix->vb_live, ix->vec_off, g->cap, row);
  } else {
    size_t maxs = UINT32_MAX + (size_t)1;
    size_t bv = qv__vbuf_plan(need, row, maxs), bn = qv__vbuf_plan(need, sizeof(float), maxs);
    size_t bl = qv__vbuf_plan(words_for(need), sizeof(uint64_t), words_for(maxs));
    g->moved = 1;
    rc = qv__vbuf_reserve(&g->vecs, need * row, bv);
    if (rc == QV_OK) rc = qv__vbuf_reserve(&g->norms, need * sizeof(float), bn);
    if (rc == QV_OK) rc = qv__vbuf_reserve(&g->live, words_for(need) * sizeof(uint64_t), bl);
    if (rc == QV_OK) rc = commit_cap(&g->vecs, &g->norms, &g->live, 0, need, row);
    if (rc == QV_OK && ix->cap) {
      memcpy(g->vecs.base, ix->vecs, ix->cap * row);
      memcpy(g->norms.base, ix->norms, ix->cap * sizeof(float));
      memcpy(g->live.base, ix->live, words_for(ix->cap) * sizeof(uint64_t));
    }
  }
  if (rc != QV_OK) {
    flat_grown_free(ix->mem, g);
    return rc;
  }
  *staged = g;
  return QV_OK;
}

static void flat_reserve_install(qv_index *ix, void *staged) {
  flat_grown *g = staged;
  if (!g) return;
  size_t row = (size_t)ix->dim * sizeof(float);
  if (g->moved) {
    qv__vbuf_free(&ix->vb_vecs);
    qv__vbuf_free(&ix->vb_norms);
    qv__vbuf_free(&ix->vb_live);
    ix->vb_vecs = g->vecs;
    ix->vb_norms = g->norms;
    ix->vb_live = g->live;
    memset(&g->vecs, 0, sizeof g->vecs);
    memset(&g->norms, 0, sizeof g->norms);
    memset(&g->live, 0, sizeof g->live);
    ix->vec_off = 0;
    ix->vecs = ix->vb_vecs.base;
    ix->norms = ix->vb_norms.base;
    ix->live = ix->vb_live.base;
  }
  qv__vbuf_note(&ix->vb_vecs, ix->vec_off + g->cap * row);
  qv__vbuf_note(&ix->vb_norms, g->cap * sizeof(float));
  qv__vbuf_note(&ix->vb_live, words_for(g->cap) * sizeof(uint64_t));
  ix->cap = g->cap;
  flat_grown_free(ix->mem, g);
}

static void flat_reserve_drop(const qv_index *ix, void *staged) {
  if (staged) flat_grown_free(ix->mem, staged);
}

/* Make room for slots [0, need). All or nothing: on QV_NOMEM the index is unchanged. */
static qv_status ensure_cap(qv_index *ix, size_t need) {
  void *g;
  qv_status rc = flat_reserve_build(ix, need, &g);
  if (rc == QV_OK) flat_reserve_install(ix, g);
  return rc;
}

/* ------------------------------------------------------------------ writes */

static qv_status flat_reserve(qv_index *ix, size_t n_slots) { return ix->ro ? QV_UNSUPPORTED : ensure_cap(ix, n_slots); }


static qv_status flat_add(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n) {
  if (ix->ro) return QV_UNSUPPORTED;
  size_t need = 0, dim = ix->dim;
  for (size_t i = 0; i < n; i++)
    if ((size_t)slots[i] + 1 > need) need = (size_t)slots[i] + 1;
  qv_status rc = ensure_cap(ix, need);
  if (rc != QV_OK) return rc;
  for (size_t i = 0; i < n; i++) {
    size_t s = slots[i];
    float *row = ix->vecs + s * dim;
    memcpy(row, vecs + i * dim, dim * sizeof *row);
    float n2 = ix->kern->dot(row, row, dim);
    ix->norms[s] = n2;
    if (n2 > ix->max_norm2) ix->max_norm2 = n2;
    if (!is_live(ix, s)) {
      ix->live[s >> 6] |= (uint64_t)1 << (s & 63);
      ix->count++;
    }
    if (s + 1 > ix->n_slots) ix->n_slots = s + 1;
  }
  return QV_OK;
}

static qv_status flat_remove(qv_index *ix, uint32_t slot) {
  if (ix->ro) return QV_UNSUPPORTED;
  if (slot >= ix->n_slots || !is_live(ix, slot)) return QV_NOTFOUND;
  ix->live[slot >> 6] &= ~((uint64_t)1 << (slot & 63));
  ix->count--;
  while (ix->n_slots > 0 && !is_live(ix, ix->n_slots - 1)) ix->n_slots--;
  return QV_OK;
}

/* Valid until the next add() (which may move the array). */
static const float *flat_vector(const qv_index *ix, uint32_t slot) {
  if (slot >= ix->n_slots || !is_live(ix, slot)) return NULL;
  return ix->vecs + (size_t)slot * ix->dim;
}

static qv_status flat_set_param(qv_index *ix, const char *name, double value) {
  (void)ix;
  (void)name;
  (void)value;
  return QV_INVALID; /* the flat index has no knobs */
}

static void flat_stats(const qv_index *ix, qv_index_stats *out) {
  out->count = ix->count;
  out->n_slots = ix->n_slots;
  out->n_tombstones = ix->n_slots - ix->count;
  /* rows past n_slots are committed address space never written: they cost no memory */
  out->mem_vectors = (uint64_t)ix->n_slots * ix->dim * sizeof(float) + (uint64_t)ix->n_slots * sizeof(float);
  out->mem_graph = 0;
  out->max_level = 0;
}

/* ------------------------------------------------------------------ single search */

/* Exact scan of every live slot into t (no predicate): one *_many pass per block of rows. */
static void scan_all(const qv_index *ix, const float *q, qv_topk *t) {
  float buf[SCAN_BLOCK];
  size_t dim = ix->dim;
  float worst = qv__topk_worst(t);
  for (size_t b0 = 0; b0 < ix->n_slots; b0 += SCAN_BLOCK) {
    size_t m = ix->n_slots - b0 < SCAN_BLOCK ? ix->n_slots - b0 : SCAN_BLOCK;
    qv__metric_dist_many(ix->kern, ix->metric, q, ix->vecs + b0 * dim, m, dim, buf);
    for (size_t j = 0; j < m; j++) {
      if (buf[j] > worst || !is_live(ix, b0 + j)) continue;
      hit_offer(t, buf[j], (uint32_t)(b0 + j));
      worst = qv__topk_worst(t);
    }
  }
}

/* Exact scan of the live slots that pass pred. */
static void scan_pred(const qv_index *ix, const qv_search_req *req, qv_topk *t) {
  size_t dim = ix->dim, n_words = words_for(ix->n_slots);
  for (size_t w = 0; w < n_words; w++) {
    for (uint64_t bits = ix->live[w]; bits; bits &= bits - 1) {
      uint32_t slot = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));
      if (!req->pred(req->pred_ctx, slot)) continue;
      float d = qv__metric_dist(ix->kern, ix->metric, req->q, ix->vecs + (size_t)slot * dim, dim);
      hit_offer(t, d, slot);
    }
  }
}

static size_t search_dot(const qv_index *ix, const float *q, size_t k, qv_hit *out);

/* A mapped l2 snapshot: the code section picks the rows (a superset of the top k), the exact
 * kernel measures them, so t gets what scan_all would give. Else t is untouched. */
static qv_status codes_search(const qv_index *ix, const float *q, qv_topk *t) {
  uint32_t *cand;
  size_t n;
  qv_status rc = qv__flat_codes_candidates(ix->codes, ix->live, ix->n_slots, ix->dim, q, t->k, ix->mem, &cand, &n);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++)
    hit_offer(t, qv__metric_dist(ix->kern, ix->metric, q, ix->vecs + (size_t)cand[i] * ix->dim, ix->dim), cand[i]);
  qv__free(ix->mem, cand);
  return QV_OK;
}

static qv_status flat_search(const qv_index *ix, const qv_search_req *req, qv_hit *out,
                             size_t *n_out) {
  qv_topk t;
  *n_out = 0;
  if (req->k == 0 || ix->count == 0) return QV_OK;
  qv__topk_init(&t, out, req->k);
  if (req->pred)
    scan_pred(ix, req, &t);
  else if (ix->codes && codes_search(ix, req->q, &t) == QV_OK) {
  } else if (ix->metric == QV_METRIC_L2 && ix->norms) {
    *n_out = search_dot(ix, req->q, req->k, out);
    return QV_OK;
  } else
    scan_all(ix, req->q, &t);
  *n_out = qv__topk_finish(&t);
  return QV_OK;
}

/* ------------------------------------------------------------------ batch search */

typedef struct batch_job {
  const qv_index *ix;
  const float *qs;
  size_t nq, k, k2;  /* k2 = candidates kept per query from the GEMM scores */
  size_t qb;         /* queries per GEMM block, <= BATCH_QB */
  qv_hit *out;
  size_t *n_out;
  int use_gemm;
  atomic_size_t next; /* next work unit (query block for GEMM, query otherwise) */
  atomic_size_t n_fallback; /* queries the bound could not prove (0 on Fashion-MNIST); for debugging */
  atomic_int failed;
} batch_job;

/* Scratch of one worker for GEMM blocks. */
typedef struct batch_scratch {
  float *scores; /* BATCH_QB * BATCH_BB */
  float *qn;     /* BATCH_QB */
  qv_hit *cand;  /* BATCH_QB * k2 */
  qv_topk *heaps;
} batch_scratch;

static void scratch_free(const qv_mem *mem, batch_scratch *s) {
  qv__free(mem, s->scores);
  qv__free(mem, s->qn);
  qv__free(mem, s->cand);
  qv__free(mem, s->heaps);
}

static qv_status scratch_alloc(const qv_mem *mem, size_t k2, batch_scratch *s) {
  s->scores = qv__calloc(mem, (size_t)BATCH_QB * BATCH_BB, sizeof *s->scores);
  s->qn = qv__calloc(mem, BATCH_QB, sizeof *s->qn);
  s->cand = qv__calloc(mem, (size_t)BATCH_QB * k2, sizeof *s->cand);
  s->heaps = qv__calloc(mem, BATCH_QB, sizeof *s->heaps);
  if (s->scores && s->qn && s->cand && s->heaps) return QV_OK;
  scratch_free(mem, s);
  return QV_NOMEM;
}

/* Offer one row of GEMM scores (rows b0 .. b0+mb) to query i's candidate heap. */
static void select_row(const qv_index *ix, const float *row, size_t b0, size_t mb, qv_topk *t) {
  float worst = qv__topk_worst(t);
  const float *xn = ix->norms + b0;
  int l2 = ix->metric == QV_METRIC_L2;
  for (size_t j = 0; j < mb; j++) {
    float s = l2 ? row[j] + xn[j] : 1.0f + row[j];
    if (s < worst && is_live(ix, b0 + j)) {
      qv__topk_push(t, s, (uint32_t)(b0 + j));
      worst = qv__topk_worst(t);
    }
  }
}

/*
 * Re-rank query q's candidates exactly into out (room for k) and prove the result exact; when
 * the float32 bound cannot prove it, rescan exactly. Returns the number of hits.
 */
static size_t rerank(batch_job *job, const float *q, float qn, qv_topk *cand, qv_hit *out) {
  const qv_index *ix = job->ix;
  qv_topk t;
  qv__topk_init(&t, out, job->k);
  for (size_t c = 0; c < cand->n; c++) {
    uint32_t s = cand->h[c].slot;
    hit_offer(&t, qv__metric_dist(ix->kern, ix->metric, q, ix->vecs + (size_t)s * ix->dim, ix->dim), s);
  }
  if (ix->count > cand->n) { /* some live slots were left out */
    int proven = 0;
    if (cand->n == job->k2) {
      /* Every live slot left out scored >= a_last; |approx - exact| <= tol for all of them. */
      float a_last = cand->h[0].dist + (ix->metric == QV_METRIC_L2 ? qn : 0.0f);
      double u = FLT_EPSILON / 2, d = (double)ix->dim + 8;
      double tol = 2 * u * d * (2.0 * ((double)qn + ix->max_norm2) + fabs((double)a_last) + 1.0);
      proven = (double)t.h[0].dist < (double)a_last - tol; /* false for NaN */
    }
    if (!proven) {
      atomic_fetch_add(&job->n_fallback, 1);
      qv__topk_init(&t, out, job->k);
      scan_all(ix, q, &t);
    }
  }
  return qv__topk_finish(&t);
}

/*
 * One l2 query in the dot form: ||x||^2 - 2 q.x per row (the norms are kept anyway) costs one
 * FMA per lane instead of a subtract and an FMA, which measured faster on a memory-bound scan.
 * The best k2 rows by that score are re-ranked with the exact kernel and the result proven
 * exact by the same float32 bound as the batch path (else rescanned), so the answers are
 * those of scan_all, bit for bit.
 */
static size_t search_dot(const qv_index *ix, const float *q, size_t k, qv_hit *out) {
  size_t k2 = k + (k > 16 ? k : 16);
  qv_hit small[256];
  qv_hit *cbuf = k2 <= 256 ? small : qv__malloc(ix->mem, k2 * sizeof *cbuf);
  if (!cbuf) { /* no memory for candidates: the plain scan needs none */
    qv_topk t;
    qv__topk_init(&t, out, k);
    scan_all(ix, q, &t);
    return qv__topk_finish(&t);
  }
  float buf[SCAN_BLOCK];
  size_t dim = ix->dim;
  qv_topk cand;
  qv__topk_init(&cand, cbuf, k2);
  for (size_t b0 = 0; b0 < ix->n_slots; b0 += SCAN_BLOCK) {
    size_t m = ix->n_slots - b0 < SCAN_BLOCK ? ix->n_slots - b0 : SCAN_BLOCK;
    ix->kern->dot_many(q, ix->vecs + b0 * dim, m, dim, buf);
    for (size_t j = 0; j < m; j++) buf[j] *= -2.0f;
    select_row(ix, buf, b0, m, &cand);
  }
  batch_job job;
  memset(&job, 0, sizeof job);
  job.ix = ix;
  job.k = k;
  job.k2 = k2;
  size_t n = rerank(&job, q, ix->kern->dot(q, q, dim), &cand, out);
  if (cbuf != small) qv__free(ix->mem, cbuf);
  return n;
}

/* One block of queries [q0, q0+nb) against all rows, through sgemm. */
static void gemm_block(batch_job *job, batch_scratch *s, size_t q0, size_t nb) {
  const qv_index *ix = job->ix;
  size_t dim = ix->dim;
  const float *qb = job->qs + q0 * dim;
  float alpha = ix->metric == QV_METRIC_L2 ? -2.0f : -1.0f;
  for (size_t i = 0; i < nb; i++) {
    s->qn[i] = ix->kern->dot(qb + i * dim, qb + i * dim, dim);
    qv__topk_init(&s->heaps[i], s->cand + i * job->k2, job->k2);
  }
  for (size_t b0 = 0; b0 < ix->n_slots; b0 += BATCH_BB) {
    size_t mb = ix->n_slots - b0 < BATCH_BB ? ix->n_slots - b0 : BATCH_BB;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)mb, (int)dim, alpha, qb,
                (int)dim, ix->vecs + b0 * dim, (int)dim, 0.0f, s->scores, (int)mb);
    for (size_t i = 0; i < nb; i++) select_row(ix, s->scores + i * mb, b0, mb, &s->heaps[i]);
  }
  for (size_t i = 0; i < nb; i++) {
    size_t qi = q0 + i;
    job->n_out[qi] = rerank(job, qb + i * dim, s->qn[i], &s->heaps[i], job->out + qi * job->k);
  }
}

static void run_gemm(batch_job *job) {
  batch_scratch s;
  if (scratch_alloc(job->ix->mem, job->k2, &s) != QV_OK) {
    atomic_store(&job->failed, 1);
    return;
  }
  for (;;) {
    size_t q0 = atomic_fetch_add(&job->next, job->qb);
    if (q0 >= job->nq) break;
    size_t nb = job->nq - q0 < job->qb ? job->nq - q0 : job->qb;
    gemm_block(job, &s, q0, nb);
  }
  scratch_free(job->ix->mem, &s);
}

static void run_scans(batch_job *job) {
  for (;;) {
    size_t qi = atomic_fetch_add(&job->next, 1);
    if (qi >= job->nq) break;
    qv_topk t;
    qv__topk_init(&t, job->out + qi * job->k, job->k);
    scan_all(job->ix, job->qs + qi * job->ix->dim, &t);
    job->n_out[qi] = qv__topk_finish(&t);
  }
}

static void *batch_worker(void *arg) {
  batch_job *job = arg;
  if (job->use_gemm)
    run_gemm(job);
  else
    run_scans(job);
  return NULL;
}

/* Run batch_worker on n_threads threads (the caller is one of them). */
static void run_threads(batch_job *job, int n_threads) {
  pthread_t tid[64];
  int started = 0;
  if (n_threads > 64) n_threads = 64;
  for (int i = 1; i < n_threads; i++) {
    if (pthread_create(&tid[started], NULL, batch_worker, job) != 0) break; /* run with fewer */
    started++;
  }
  batch_worker(job);
  for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
}

/* Threads for `units` work units: the caller's wish, else the index's, else the CPU count. */
static int pick_threads(const qv_index *ix, int n_threads, size_t units) {
  int t = n_threads > 0 ? n_threads : ix->n_threads > 0 ? ix->n_threads : qv__ncpu();
  if ((size_t)t > units) t = (int)units;
  return t < 1 ? 1 : t;
}

static qv_status flat_search_batch(const qv_index *ix, const float *qs, size_t nq, size_t k,
                                   uint32_t ef, int n_threads, qv_hit *out, size_t *n_out) {
  (void)ef;
  memset(n_out, 0, nq * sizeof *n_out);
  if (nq == 0 || k == 0 || ix->count == 0) return QV_OK;
  batch_job job = {.ix = ix, .qs = qs, .nq = nq, .k = k, .out = out, .n_out = n_out};
  atomic_init(&job.next, 0);
  atomic_init(&job.n_fallback, 0);
  atomic_init(&job.failed, 0);
  job.use_gemm = ix->norms && ix->metric != QV_METRIC_L1 && ix->metric != QV_METRIC_HAMMING && nq >= BATCH_MIN_NQ && ix->dim <= INT32_MAX &&
                 ix->n_slots >= 2 * (size_t)BATCH_MIN_NQ;
  job.k2 = k + (k > 16 ? k : 16);
  int t = pick_threads(ix, n_threads, nq);
  /* blocks small enough that every thread gets one, large enough to amortise the packing */
  job.qb = (nq + (size_t)t - 1) / (size_t)t;
  job.qb = job.qb > BATCH_QB ? BATCH_QB : job.qb < BATCH_MIN_NQ ? BATCH_MIN_NQ : job.qb;
  if (job.use_gemm) t = pick_threads(ix, n_threads, (nq + job.qb - 1) / job.qb);
  /*
   * With our own threads, each sgemm runs single-threaded in its worker (measured faster here
   * than one multi-threaded sgemm per block with serial selection: ~450 vs ~390 QPS on 2 cores).
   * The OpenBLAS setting is process-global, so it is restored afterwards.
   */
  int blas_prev = openblas_get_num_threads();
  if (job.use_gemm && t > 1) openblas_set_num_threads(1);
  run_threads(&job, t);
  if (job.use_gemm && t > 1) openblas_set_num_threads(blas_prev);
  if (atomic_load(&job.failed)) {
    memset(n_out, 0, nq * sizeof *n_out);
    return QV_NOMEM;
  }
  return QV_OK;
}

/* ------------------------------------------------------------------ checkpoint */

typedef struct flat_head {
  uint64_t n_slots, count, n_words, vec_off;
  uint64_t reserved[4];
} flat_head;

static uint64_t vec_offset(uint64_t n_words) {
  return (FLAT_PAYLOAD_HEAD + n_words * 8 + 63) / 64 * 64;
}

static qv_status flat_save(const qv_index *ix, const char *path, uint64_t seq) {
  static const unsigned char zero[64];
  qv_ckpt_writer w;
  qv_ckpt_hdr hdr = {.kind_tag = FLAT_TAG, .payload_version = FLAT_PAYLOAD_VERSION,
                     .dim = ix->dim, .metric = (uint32_t)ix->metric, .seq = seq};
  flat_head head = {.n_slots = ix->n_slots, .count = ix->count, .n_words = words_for(ix->n_slots)};
  head.vec_off = vec_offset(head.n_words);
  qv_status rc = qv__ckpt_begin(&w, ix->mem, path, &hdr);
  if (rc != QV_OK) return rc;
  qv__ckpt_write(&w, &head, sizeof head);
  qv__ckpt_write(&w, ix->live, head.n_words * 8);
  qv__ckpt_write(&w, zero, head.vec_off - FLAT_PAYLOAD_HEAD - head.n_words * 8);
  qv__ckpt_write(&w, ix->vecs, ix->n_slots * ix->dim * sizeof(float));
  return qv__ckpt_commit(&w);
}

/* Check a loaded payload's own header and bitmap against its length; QV_CORRUPT if off. */
static qv_status check_payload(const unsigned char *p, uint64_t len, uint32_t dim, flat_head *h) {
  if (len < FLAT_PAYLOAD_HEAD) return QV_CORRUPT;
  memcpy(h, p, sizeof *h);
  if (h->n_slots > UINT32_MAX + (uint64_t)1 || h->count > h->n_slots) return QV_CORRUPT;
  if (h->n_words != words_for(h->n_slots) || h->vec_off != vec_offset(h->n_words)) return QV_CORRUPT;
  uint64_t row = (uint64_t)dim * sizeof(float);
  if (h->n_slots > (UINT64_MAX - h->vec_off) / row) return QV_CORRUPT;
  if (len != h->vec_off + h->n_slots * row) return QV_CORRUPT;
  const uint64_t *live = (const uint64_t *)(const void *)(p + FLAT_PAYLOAD_HEAD);
  uint64_t pop = 0;
  for (uint64_t w = 0; w < h->n_words; w++) pop += (uint64_t)__builtin_popcountll(live[w]);
  if (h->n_slots % 64 && (live[h->n_words - 1] >> (h->n_slots % 64))) return QV_CORRUPT;
  if (h->n_slots && !((live[h->n_words - 1] >> ((h->n_slots - 1) % 64)) & 1)) return QV_CORRUPT;
  return pop == h->count ? QV_OK : QV_CORRUPT;
}

/* qv__ckpt_read_to's buffer: the payload at the start of vb_vecs, reserved with room to grow. */
static void *load_buf(void *ctx, uint64_t len) {
  qv_index *ix = ctx;
  size_t row = (size_t)ix->dim * sizeof(float);
  if (len > SIZE_MAX / 4) return NULL;
  size_t room = qv__vbuf_plan((size_t)len / row, row, UINT32_MAX + (size_t)1);
  if (room > SIZE_MAX - (size_t)len) return NULL;
  if (qv__vbuf_reserve(&ix->vb_vecs, (size_t)len, (size_t)len + room) != QV_OK) return NULL;
  if (qv__vbuf_commit(&ix->vb_vecs, (size_t)len) != QV_OK) return NULL;
  qv__vbuf_note(&ix->vb_vecs, (size_t)len);
  return ix->vb_vecs.base;
}

static qv_status flat_load(const qv_index_params *p, const char *path, qv_index **out, uint64_t *seq) {
  qv_ckpt_hdr expect = {.kind_tag = FLAT_TAG, .dim = p->dim, .metric = (uint32_t)p->metric}, got;
  void *buf = NULL;
  qv_index *ix = NULL;
  flat_head h;
  *out = NULL;
  qv_status rc = flat_create(p, &ix);
  if (rc != QV_OK) return rc;
  rc = qv__ckpt_read_to(path, &expect, &got, load_buf, ix, &buf);
  if (rc != QV_OK) goto cleanup;
  const unsigned char *payload = buf;
  rc = got.payload_version == FLAT_PAYLOAD_VERSION ? check_payload(payload, got.payload_len, p->dim, &h)
                                                   : QV_CORRUPT;
  if (rc != QV_OK) goto cleanup;
  size_t cap = (size_t)h.n_slots, maxs = UINT32_MAX + (size_t)1;
  rc = qv__vbuf_reserve(&ix->vb_norms, cap * sizeof(float), qv__vbuf_plan(cap, sizeof(float), maxs));
  if (rc == QV_OK)
    rc = qv__vbuf_reserve(&ix->vb_live, words_for(cap) * 8, qv__vbuf_plan(words_for(cap), 8, words_for(maxs)));
  if (rc == QV_OK) rc = qv__vbuf_commit(&ix->vb_norms, cap * sizeof(float));
  if (rc == QV_OK) rc = qv__vbuf_commit(&ix->vb_live, words_for(cap) * 8);
  if (rc != QV_OK) goto cleanup;
  qv__vbuf_note(&ix->vb_norms, cap * sizeof(float));
  qv__vbuf_note(&ix->vb_live, words_for(cap) * 8);
  ix->norms = ix->vb_norms.base;
  ix->live = ix->vb_live.base;
  memcpy(ix->live, payload + FLAT_PAYLOAD_HEAD, words_for(cap) * 8);
  ix->vec_off = (size_t)h.vec_off; /* a multiple of 64 from a page-aligned base */
  ix->vecs = (float *)(void *)((unsigned char *)ix->vb_vecs.base + ix->vec_off);
  ix->n_slots = ix->cap = cap;
  ix->count = (size_t)h.count;
  for (size_t s = 0; s < cap; s++) {
    const float *row = ix->vecs + s * ix->dim;
    ix->norms[s] = ix->kern->dot(row, row, ix->dim);
    if (is_live(ix, s) && ix->norms[s] > ix->max_norm2) ix->max_norm2 = ix->norms[s];
  }
  if (seq) *seq = got.seq;
  *out = ix;
  ix = NULL;
cleanup:
  flat_destroy(ix); /* frees the payload's reservation too */
  return rc;
}

/* ------------------------------------------------------------------ range search */

/* Exact range search: the scan of search() keeping every distance <= radius. */
static qv_status flat_range_search(const qv_index *ix, const qv_search_req *req, float radius, const qv_mem *mem,
                                   qv_hit **out, size_t *n_out) {
  float buf[SCAN_BLOCK];
  size_t dim = ix->dim, n = 0, cap = 0;
  qv_hit *h = NULL;
  /* the *_many kernels may round differently from the single one: a loose first test, then
   * the single kernel decides (the distance search() with a predicate reports) */
  float loose = radius + 1e-4f * fabsf(radius) + 1e-5f;
  *out = NULL;
  *n_out = 0;
  for (size_t b0 = 0; b0 < ix->n_slots; b0 += SCAN_BLOCK) {
    size_t m = ix->n_slots - b0 < SCAN_BLOCK ? ix->n_slots - b0 : SCAN_BLOCK;
    qv__metric_dist_many(ix->kern, ix->metric, req->q, ix->vecs + b0 * dim, m, dim, buf);
    for (size_t j = 0; j < m; j++) {
      uint32_t slot = (uint32_t)(b0 + j);
      if (!(buf[j] <= loose) || !is_live(ix, slot)) continue;
      float d = qv__metric_dist(ix->kern, ix->metric, req->q, ix->vecs + (size_t)slot * dim, dim);
      if (!(d <= radius) || (req->pred && !req->pred(req->pred_ctx, slot))) continue;
      if (n == cap) {
        size_t nc = cap ? 2 * cap : 64;
        qv_hit *g = qv__realloc(mem, h, nc * sizeof *g);
        if (!g) {
          qv__free(mem, h);
          return QV_NOMEM;
        }
        h = g;
        cap = nc;
      }
      h[n].dist = d;
      h[n++].slot = slot;
    }
  }
  if (n) qsort(h, n, sizeof *h, qv__hit_cmp);
  if (req->k && n > req->k) n = req->k;
  *out = h;
  *n_out = n;
  return QV_OK;
}

/* ------------------------------------------------------------------ snapshot files */

/* The checkpoint payload through put() (snapshot files embed it; docs/FORMAT.md). */
static qv_status flat_serialize(const qv_index *ix, void (*put)(void *, const void *, size_t), void *ctx,
                                uint32_t *version) {
  static const unsigned char zero[64];
  flat_head head = {.n_slots = ix->n_slots, .count = ix->count, .n_words = words_for(ix->n_slots)};
  head.vec_off = vec_offset(head.n_words);
  int codes = ix->metric == QV_METRIC_L2; /* version 2: the code section follows (flat_codes.c) */
  uint64_t vec_end = head.vec_off + (uint64_t)ix->n_slots * ix->dim * sizeof(float);
  if (codes) head.reserved[0] = (vec_end + 63) / 64 * 64;
  put(ctx, &head, sizeof head);
  put(ctx, ix->live, head.n_words * 8);
  put(ctx, zero, head.vec_off - FLAT_PAYLOAD_HEAD - head.n_words * 8);
  put(ctx, ix->vecs, ix->n_slots * ix->dim * sizeof(float));
  *version = FLAT_PAYLOAD_VERSION;
  if (!codes) return QV_OK;
  put(ctx, zero, (size_t)(head.reserved[0] - vec_end));
  *version = FLAT_SNAPSHOT_CODES;
  return qv__flat_codes_write(ix->vecs, ix->live, ix->n_slots, ix->dim, ix->mem, put, ctx);
}

/*
 * Search a payload in place (a mapped snapshot file): O(1) checks of its head against its
 * length, the bitmap and rows used where they lie. Without norms, l2 queries take the plain
 * scan (same answers) and batches skip the GEMM form.
 */
static qv_status flat_open_mapped(const qv_index_params *p, uint32_t version, const void *payload, uint64_t len,
                                  qv_index **out) {
  *out = NULL;
  flat_head h;
  if ((version != FLAT_PAYLOAD_VERSION && version != FLAT_SNAPSHOT_CODES) || ((uintptr_t)payload & 63) ||
      len < FLAT_PAYLOAD_HEAD)
    return QV_CORRUPT;
  memcpy(&h, payload, sizeof h);
  uint64_t row = (uint64_t)p->dim * sizeof(float);
  if (h.n_slots > UINT32_MAX + (uint64_t)1 || h.count > h.n_slots || h.n_words != words_for(h.n_slots) ||
      h.vec_off != vec_offset(h.n_words) || row == 0 || h.n_slots > (UINT64_MAX - h.vec_off) / row)
    return QV_CORRUPT;
  uint64_t vec_end = h.vec_off + h.n_slots * row, code_off = (vec_end + 63) / 64 * 64;
  if (version == FLAT_PAYLOAD_VERSION ? len != vec_end
                                      : p->metric != QV_METRIC_L2 || h.reserved[0] != code_off ||
                                            len != code_off + qv__flat_codes_bytes(h.n_slots, p->dim) ||
                                            !qv__flat_codes_check((const unsigned char *)payload + code_off, p->dim))
    return QV_CORRUPT;
  qv_index *ix = NULL;
  qv_status rc = flat_create(p, &ix);
  if (rc) return rc;
  ix->ro = 1;
  ix->live = (uint64_t *)(uintptr_t)((const char *)payload + FLAT_PAYLOAD_HEAD);
  ix->vecs = (float *)(uintptr_t)((const char *)payload + h.vec_off);
  ix->n_slots = ix->cap = (size_t)h.n_slots;
  ix->count = (size_t)h.count;
  if (version == FLAT_SNAPSHOT_CODES) ix->codes = (const unsigned char *)payload + code_off;
  *out = ix;
  return QV_OK;
}

/* ------------------------------------------------------------------ registry */

static const qv_param_spec flat_params[] = {{NULL, QV_PT_UINT, 0, 0, 0, NULL, 0, NULL, NULL}};

const qv_index_vt qv__index_flat = {
    .name = "flat",
    .caps = QV_IXCAP_RANGE,
    .metrics = QV_METRIC_BIT(QV_METRIC_L2) | QV_METRIC_BIT(QV_METRIC_IP) | QV_METRIC_BIT(QV_METRIC_COSINE) |
               QV_METRIC_BIT(QV_METRIC_L1) | QV_METRIC_BIT(QV_METRIC_HAMMING),
    .params = flat_params,
    .create = flat_create,
    .destroy = flat_destroy,
    .add = flat_add,
    .remove = flat_remove,
    .vector = flat_vector,
    .search = flat_search,
    .search_batch = flat_search_batch,
    .set_param = flat_set_param,
    .save = flat_save,
    .load = flat_load,
    .stats = flat_stats,
    .reserve = flat_reserve,
    .reserve_build = flat_reserve_build,
    .reserve_install = flat_reserve_install,
    .reserve_drop = flat_reserve_drop,
    .range_search = flat_range_search,
    .serialize = flat_serialize,
    .open_mapped = flat_open_mapped,
};
