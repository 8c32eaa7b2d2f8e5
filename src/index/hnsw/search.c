/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/hnsw/search.c -- searching one level (greedy and best-first), search and batch search (see hnsw.c for the design, hnsw_int.h for the structures).
 */
#include "hnsw_int.h"

/* ------------------------------------------------------------------ heaps */

/* Min-heap of candidates. If it cannot grow, the candidate is dropped and sc->dropped set:
 * an insertion goes on with a slightly worse choice of links, a search fails (QV_NOMEM). */
static void cand_push(const qv_mem *mem, scratch *sc, size_t *n, float d, uint32_t id) {
  if (*n == sc->ccap) {
    size_t nc = sc->ccap * 2;
    qv_hit *c = qv__realloc(mem, sc->cand, nc * sizeof *c);
    if (!c) {
      sc->dropped = 1;
      return;
    }
    sc->cand = c;
    sc->ccap = nc;
  }
  qv_hit *h = sc->cand;
  size_t i = (*n)++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (h[p].dist <= d) break;
    h[i] = h[p];
    i = p;
  }
  h[i].dist = d;
  h[i].slot = id;
}

static qv_hit cand_pop(scratch *sc, size_t *n) {
  qv_hit *h = sc->cand;
  qv_hit top = h[0], x = h[--(*n)];
  size_t i = 0, m = *n;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= m) break;
    if (c + 1 < m && h[c + 1].dist < h[c].dist) c++;
    if (x.dist <= h[c].dist) break;
    h[i] = h[c];
    i = c;
  }
  if (m) h[i] = x;
  return top;
}

/* ------------------------------------------------------------------ searching one level */

/* Greedy walk (ef = 1) on one upper level from *cur. */
QV_INTERNAL void hnsw_greedy_level(const qv_index *ix, const qctx *qc, scratch *sc, int lev, uint32_t *cur,
                         float *dcur) {
  int changed = 1, hide = !qc->build && ix->n_hidden;
  while (changed) {
    changed = 0;
    const uint32_t *nb;
    uint32_t n = read_links(ix, qc, *cur, lev, sc->ids, &nb);
    for (uint32_t i = 0; i < n; i++) {
      if (i + 1 < n) prefetch_vec(ix, qc, nb[i + 1]);
      if (hide && ix->state[nb[i]] == ST_HIDDEN) continue;
      float d = tdist(ix, qc, nb[i]);
      if (d < *dcur) {
        *dcur = d;
        *cur = nb[i];
        changed = 1;
      }
    }
  }
}

/*
 * The common case of a query's level-0 search: every node qualifies (no filter, no
 * tombstone, no hidden node), so one sorted array of the ef best (glass's "linear pool")
 * serves as both the candidate queue and the result set: the next node to expand is the
 * best one not expanded yet, and the search ends when all kept nodes are expanded -- the
 * same stopping rule as the two heaps (a candidate worse than the ef-th result is never
 * expanded). Inserting costs a binary search and a short memmove instead of two heap
 * pushes and a pop (bench/RESULTS.md section 19). Leaves the ef best sorted in sc->res;
 * returns their number.
 */
static size_t search_pool(const qv_index *ix, const qctx *qc, scratch *sc, uint32_t entry, float dentry,
                          size_t ef) {
  uint16_t *vis = sc->visited;
  qv_hit *P = sc->res;
  uint8_t *done = sc->done;
  visit_begin(sc);
  uint16_t ep = sc->epoch;
  vis[entry] = ep;
  P[0].dist = dentry;
  P[0].slot = entry;
  done[0] = 0;
  size_t size = 1, cur = 0;
  uint32_t todo[MAX_M * 2 + 1];
  float dd[MAX_M * 2 + 1];
  while (cur < size) {
    uint32_t c = P[cur].slot;
    done[cur] = 1;
    if (cur + 1 < size) __builtin_prefetch(links0(ix, P[cur + 1].slot), 0, 3);
    const uint32_t *l = links0(ix, c);
    uint32_t n = l[0], m = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t s = l[i + 1];
      if (vis[s] == ep) continue;
      vis[s] = ep;
      todo[m++] = s;
    }
    size_t lo = cur + 1;
    if (qc->qprep) {
      hnsw_sq8_dist_many(&ix->q8, qc->qprep, ix->l0 + ix->code_off, ix->bsz, todo, m, dd);
    } else {
      for (uint32_t i = 0; i < m && i < PF_AHEAD; i++) prefetch_vec(ix, qc, todo[i]);
      for (uint32_t i = 0; i < m; i++) {
        if (i + PF_AHEAD < m) prefetch_vec(ix, qc, todo[i + PF_AHEAD]);
        dd[i] = tdist(ix, qc, todo[i]);
      }
    }
    for (uint32_t i = 0; i < m; i++) {
      float d = dd[i];
      if (size == ef && !(d < P[size - 1].dist)) continue;
      size_t a = 0, b = size; /* first entry with a larger distance */
      while (a < b) {
        size_t mid = (a + b) / 2;
        if (P[mid].dist <= d) a = mid + 1;
        else b = mid;
      }
      size_t keep = size == ef ? size - 1 : size; /* the worst falls out of a full pool */
      memmove(P + a + 1, P + a, (keep - a) * sizeof *P);
      memmove(done + a + 1, done + a, keep - a);
      P[a].dist = d;
      P[a].slot = todo[i];
      done[a] = 0;
      size = keep + 1;
      if (a < lo) lo = a;
    }
    cur = lo;
    while (cur < size && done[cur]) cur++;
  }
  return size;
}

/*
 * Best-first search of level lev from entry (dentry its distance), keeping up to ef
 * qualifying nodes in sc->res as a topk heap. Returns the number kept.
 */
QV_INTERNAL size_t hnsw_search_level(const qv_index *ix, const qctx *qc, scratch *sc, uint32_t entry,
                           float dentry, size_t ef, int lev) {
  const qv_mem *mem = ix->mem;
  uint16_t *vis = sc->visited;
  qv_topk res;
  size_t nc = 0;
  visit_begin(sc);
  uint16_t ep = sc->epoch;
  qv__topk_init(&res, sc->res, ef);
  if (qc->self != UINT32_MAX) vis[qc->self] = ep;
  vis[entry] = ep;
  cand_push(mem, sc, &nc, dentry, entry);
  if (qualifies(ix, qc, entry)) qv__topk_push(&res, dentry, entry);
  uint32_t todo[MAX_M * 2 + 1];
  float dd[MAX_M * 2 + 1];
  while (nc) {
    qv_hit c = sc->cand[0];
    if (c.dist > qv__topk_worst(&res)) break;
    cand_pop(sc, &nc);
    if (nc) __builtin_prefetch(links_at(ix, sc->cand[0].slot, lev), 0, 3);
    const uint32_t *nb;
    uint32_t n = read_links(ix, qc, c.slot, lev, sc->ids, &nb);
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t s = nb[i];
      if (vis[s] == ep) continue;
      vis[s] = ep;
      todo[m++] = s;
    }
    if (qc->qprep) /* codes: the distances of the whole list in one call, the kernel inlined */
      hnsw_sq8_dist_many(&ix->q8, qc->qprep, ix->l0 + ix->code_off, ix->bsz, todo, m, dd);
    else
      for (uint32_t i = 0; i < m && i < PF_AHEAD; i++) prefetch_vec(ix, qc, todo[i]);
    for (uint32_t i = 0; i < m; i++) {
      uint32_t s = todo[i];
      float d;
      if (qc->qprep) {
        d = dd[i];
      } else {
        if (i + PF_AHEAD < m) prefetch_vec(ix, qc, todo[i + PF_AHEAD]);
        d = tdist(ix, qc, s);
      }
      if (d < qv__topk_worst(&res)) {
        cand_push(mem, sc, &nc, d, s);
        if (qualifies(ix, qc, s)) qv__topk_push(&res, d, s);
      }
    }
  }
  return res.n;
}

/* ------------------------------------------------------------------ search */

#define RR_AHEAD 2 /* float rows prefetched ahead of the exact re-rank */

/* Prefetch every cache line of s's float row (the re-rank reads all of it). */
static inline void prefetch_rows(const qv_index *ix, uint32_t s) {
  const char *p = (const char *)vec_of(ix, s);
  size_t n = (size_t)ix->dim * sizeof(float);
  if (n > 1024) n = 1024;
  for (size_t o = 0; o < n; o += 64) __builtin_prefetch(p + o, 0, 3);
}

static qv_status search_one(const qv_index *cix, scratch *sc, const float *q, size_t k, size_t ef,
                            qv_slot_pred pred, void *pctx, qv_hit *out, size_t *n_out) {
  const qv_index *ix = cix;
  qctx qc = {q, NULL, pred, pctx, UINT32_MAX, 0};
  if (ix->sq8) {
    hnsw_sq8_prepare(&ix->q8, q, sc->qprep);
    qc.qprep = sc->qprep;
  }
  uint32_t cur = ix->n_hidden ? ix->ep_pub : ix->ep;
  int top = ix->n_hidden ? ix->max_level_pub : ix->max_level;
  if (top < 0) {
    *n_out = 0;
    return QV_OK;
  }
  float dcur = tdist(ix, &qc, cur);
  for (int lev = top; lev > 0; lev--) hnsw_greedy_level(ix, &qc, sc, lev, &cur, &dcur);
  sc->dropped = 0;
  /* the linear pool reads links unchecked: not for a snapshot's untrusted mapped graph */
  size_t n = pred || ix->n_dead || ix->n_hidden || ix->mapped ? hnsw_search_level(ix, &qc, sc, cur, dcur, ef, 0)
                                                              : search_pool(ix, &qc, sc, cur, dcur, ef);
  if (sc->dropped) { /* an answer without the dropped candidates would be quietly worse */
    *n_out = 0;
    return QV_NOMEM;
  }
  const qv_hit *r = sc->res;
  /* at least HNSW_RERANK_MIN candidates: with few dimensions the 8-bit codes are coarse, and
     a k of 1 or 2 would otherwise re-rank too few to find the true nearest (measured: 4-d
     collinear data, k 1, lost the exact match) */
  size_t n_rr = ix->rerank * k < HNSW_RERANK_MIN ? HNSW_RERANK_MIN : ix->rerank * k;
  if (ix->sq8 && ix->rerank && n > n_rr) {
    /* re-rank only the n_rr best by code distance: each re-ranked candidate costs a
     * float vector fetched from memory (dim*4 bytes), the rest were only steering */
    qv_topk pre;
    qv__topk_init(&pre, sc->sel, n_rr);
    for (size_t i = 0; i < n; i++)
      if (r[i].dist <= qv__topk_worst(&pre)) qv__topk_push(&pre, r[i].dist, r[i].slot);
    n = pre.n;
    r = sc->sel;
  }
  /* the k best of the ef found (with SQ8, re-ranked on exact distances), then sorted: a
   * bounded heap costs about one comparison per candidate, a sort of all ef ~log2(ef) */
  qv_topk best;
  qv__topk_init(&best, out, k);
  if (ix->lean && ix->exact) { /* lossless codes: a candidate's decoded code is its float
                                  vector bit for bit, so no store read (the same distances) */
    float *row = sc->dec;
    for (size_t i = 0; i < n; i++) {
      hnsw_sq8_decode(&ix->q8, code_of(ix, r[i].slot), row);
      float d = dist_exact(ix, q, row);
      if (d <= qv__topk_worst(&best)) qv__topk_push(&best, d, r[i].slot);
    }
    *n_out = qv__topk_finish(&best);
    return QV_OK;
  }
  if (ix->lean) { /* no float rows: the candidates' floats come from the store, M0 + 1 rows
                     (sc->dec) per batch read */
    const qv_vec_source *vs = ix->p.vsrc;
    size_t chunk = ix->M0 + 1;
    qv_status each[MAX_M + 1];
    uint32_t ids[MAX_M + 1];
    for (size_t i0 = 0; i0 < n; i0 += chunk) {
      size_t m = n - i0 < chunk ? n - i0 : chunk;
      qv_status rc = QV_OK;
      for (size_t i = 0; i < m; i++) ids[i] = r[i0 + i].slot;
      if (vs->get_many) {
        rc = vs->get_many(vs->ctx, ids, m, sc->dec, each);
      } else {
        for (size_t i = 0; i < m; i++) each[i] = vs->get(vs->ctx, ids[i], sc->dec + i * ix->dim);
      }
      for (size_t i = 0; i < m && rc == QV_OK; i++) {
        if (each[i] == QV_NOTFOUND) continue; /* the record is gone (the collection drops the slot) */
        if (each[i] != QV_OK) rc = each[i];
        float d = dist_exact(ix, q, sc->dec + i * ix->dim);
        if (rc == QV_OK && d <= qv__topk_worst(&best)) qv__topk_push(&best, d, ids[i]);
      }
      if (rc != QV_OK) {
        *n_out = 0;
        return rc;
      }
    }
    *n_out = qv__topk_finish(&best);
    return QV_OK;
  }
  for (size_t i = 0; i < n && ix->sq8; i++)
    if (i < RR_AHEAD) prefetch_rows(ix, r[i].slot);
  for (size_t i = 0; i < n; i++) {
    float d = r[i].dist;
    if (ix->sq8) {
      if (i + RR_AHEAD < n) prefetch_rows(ix, r[i + RR_AHEAD].slot);
      d = dist_exact(ix, q, vec_of(ix, r[i].slot));
    }
    if (d <= qv__topk_worst(&best)) qv__topk_push(&best, d, r[i].slot);
  }
  *n_out = qv__topk_finish(&best);
  return QV_OK;
}

/*
 * The candidate list size of a search for k: at least k, and with codes at least 1.5 k (as
 * glass sizes its pool before the re-rank): when ef is k, the code distances alone decide
 * which k reach the exact re-rank, and their error drops true neighbours (PCA-100 cosine,
 * ef = k = 10: recall 0.890 on 8-bit codes against 0.941 on floats).
 */
static size_t code_ef(const qv_index *ix, size_t ef, size_t k) {
  /* lossless codes (ix->exact): the code distances differ from the exact ones only by the
   * query's integer weights, so the floor's reason is gone */
  size_t lo = ix->sq8 && !ix->exact ? k + (k + 1) / 2 : k;
  return ef < lo ? lo : ef;
}

QV_INTERNAL qv_status hnsw_search(const qv_index *ix, const qv_search_req *req, qv_hit *out, size_t *n_out) {
  if (!n_out) return QV_INVALID;
  *n_out = 0;
  if (!ix || !req || !req->q || !out || req->k == 0) return QV_INVALID;
  if (ix->max_level < 0 || ix->n_live == 0) return QV_OK;
  size_t ef = code_ef(ix, req->ef ? req->ef : ix->efs, req->k);
  qv_index *mix = (qv_index *)(uintptr_t)ix; /* the scratch pool is internally locked */
  scratch *sc = hnsw_scratch_get(mix, ef);
  if (!sc) return QV_NOMEM;
  qv_status rc = search_one(ix, sc, req->q, req->k, ef, req->pred, req->pred_ctx, out, n_out);
  hnsw_scratch_put(mix, sc);
  return rc;
}

typedef struct batch_job {
  const qv_index *ix;
  const float *qs;
  size_t nq, k, ef;
  qv_hit *out;
  size_t *n_out;
  atomic_size_t next;
  atomic_int failed;
  atomic_int qerr; /* a query failed (its status: QV_NOMEM, or a vector-source error): the
                      batch does not answer */
} batch_job;

static void *batch_worker(void *arg) {
  batch_job *j = arg;
  qv_index *mix = (qv_index *)(uintptr_t)j->ix;
  scratch *sc = hnsw_scratch_get(mix, j->ef);
  if (!sc) {
    atomic_store(&j->failed, 1);
    return NULL;
  }
  for (;;) {
    size_t i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (i >= j->nq) break;
    qv_status rc = search_one(j->ix, sc, j->qs + i * j->ix->dim, j->k, j->ef, NULL, NULL, j->out + i * j->k,
                              &j->n_out[i]);
    if (rc != QV_OK) atomic_store(&j->qerr, (int)rc);
  }
  hnsw_scratch_put(mix, sc);
  return NULL;
}

QV_INTERNAL qv_status hnsw_search_batch(const qv_index *ix, const float *qs, size_t nq, size_t k,
                                   uint32_t ef, int n_threads, qv_hit *out, size_t *n_out) {
  if (!ix || (nq && (!qs || !out || !n_out)) || k == 0) return QV_INVALID;
  for (size_t i = 0; i < nq; i++) n_out[i] = 0;
  if (!nq || ix->max_level < 0 || ix->n_live == 0) return QV_OK;
  size_t e = code_ef(ix, ef ? ef : ix->efs, k);
  batch_job j = {ix, qs, nq, k, e, out, n_out, 0, 0, 0};
  atomic_init(&j.next, 0);
  atomic_init(&j.failed, 0);
  atomic_init(&j.qerr, 0);
  int nt = n_threads > 0 ? n_threads : qv__ncpu();
  if ((size_t)nt > nq) nt = (int)nq;
  if (nt > 64) nt = 64;
  pthread_t th[64];
  int started = 0;
  for (int t = 1; t < nt; t++) {
    if (pthread_create(&th[t], NULL, batch_worker, &j) != 0) break;
    started = t;
  }
  batch_worker(&j);
  for (int t = 1; t <= started; t++) pthread_join(th[t], NULL);
  if (atomic_load(&j.qerr)) return (qv_status)atomic_load(&j.qerr);
  return atomic_load(&j.failed) && atomic_load(&j.next) < nq ? QV_NOMEM : QV_OK;
}

