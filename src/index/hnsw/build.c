/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/hnsw/build.c -- neighbour selection, insertion, add / remove / hidden / publish, reserve (see hnsw.c for the design, hnsw_int.h for the structures).
 */
#include "hnsw_int.h"

/* ------------------------------------------------------------------ neighbour selection */

static int hit_cmp(const void *a, const void *b) { return qv__hit_cmp(a, b); }

/*
 * The heuristic of the paper's Algorithm 4 over c[0..n) (distance to the base node, id):
 * sorts c, then keeps a candidate only if it is closer to the base than to every candidate
 * already kept, up to m. Kept entries are moved to the front of c; returns their number.
 * A lean index compares decoded codes: candidate i is decoded into row `kept` of sc->dec,
 * where it stays if it is kept, so every kept candidate is decoded once (m <= M0 rows).
 */
static size_t select_heuristic(const qv_index *ix, scratch *sc, qv_hit *c, size_t n, size_t m) {
  qsort(c, n, sizeof *c, hit_cmp);
  if (n <= m) return n;
  size_t kept = 0, dim = ix->dim;
  for (size_t i = 0; i < n && kept < m; i++) {
    const float *v = sel_vec(ix, c[i].slot, ix->lean ? sc->dec + kept * dim : NULL);
    int good = 1;
    for (size_t j = 0; j < kept; j++) {
      const float *w = ix->lean ? sc->dec + j * dim : vec_of(ix, c[j].slot);
      if (dist_exact(ix, v, w) < c[i].dist) {
        good = 0;
        break;
      }
    }
    if (good) c[kept++] = c[i];
  }
  return kept;
}

/* Add link s -> t on lev (s's list), re-pruning s's list when full. Takes s's lock. */
static void add_link(const qv_index *ix, scratch *sc, uint32_t s, uint32_t t, int lev) {
  uint32_t mx = max_links(ix, lev);
  node_lock(ix, s);
  uint32_t *l = links_at(ix, s, lev);
  uint32_t n = l[0];
  for (uint32_t i = 0; i < n; i++)
    if (l[i + 1] == t) goto out;
  if (n < mx) {
    l[n + 1] = t;
    l[0] = n + 1;
    goto out;
  }
  {
    /* lean: s decoded into the last row of sc->dec, each candidate into row 0 (which the
     * heuristic overwrites afterwards) */
    float *tmp = ix->lean ? sc->dec : NULL;
    const float *vs = sel_vec(ix, s, ix->lean ? sc->dec + (size_t)ix->M0 * ix->dim : NULL);
    qv_hit *c = sc->sel;
    for (uint32_t i = 0; i < n; i++) {
      c[i].slot = l[i + 1];
      c[i].dist = dist_exact(ix, vs, sel_vec(ix, l[i + 1], tmp));
    }
    c[n].slot = t;
    c[n].dist = dist_exact(ix, vs, sel_vec(ix, t, tmp));
    size_t k = select_heuristic(ix, sc, c, n + 1, mx);
    for (size_t i = 0; i < k; i++) l[i + 1] = c[i].slot;
    l[0] = (uint32_t)k;
  }
out:
  node_unlock(ix, s);
}

/* ------------------------------------------------------------------ insertion */

/*
 * Insert node x (vector already written, lists empty, state set) into the graph; xv is its
 * float vector (a lean index keeps none: it comes from the batch).
 */
static void insert_node(qv_index *ix, scratch *sc, uint32_t x, const float *xv) {
  int lx = ix->level[x];
  pthread_mutex_lock(&ix->glock);
  int maxl = ix->max_level;
  uint32_t ep = ix->ep;
  int hold = lx > maxl;
  if (maxl < 0 || ep == x) {
    ix->ep = x;
    ix->max_level = lx;
    pthread_mutex_unlock(&ix->glock);
    return;
  }
  if (!hold) pthread_mutex_unlock(&ix->glock);

  qctx qc = {xv, NULL, NULL, NULL, x, 1};
  /* traverse on codes; select on exact distances (lean: on x's float against the codes) */
  if (ix->sq8 && (ix->build_codes || ix->lean)) {
    hnsw_sq8_prepare(&ix->q8, qc.q, sc->qprep);
    qc.qprep = sc->qprep;
  }
  uint32_t cur = ep;
  float dcur = tdist(ix, &qc, cur);
  for (int lev = maxl; lev > lx; lev--) hnsw_greedy_level(ix, &qc, sc, lev, &cur, &dcur);
  for (int lev = lx < maxl ? lx : maxl; lev >= 0; lev--) {
    size_t n = hnsw_search_level(ix, &qc, sc, cur, dcur, ix->efc, lev);
    if (!n) continue;
    qv_hit *c = sc->sel;
    memcpy(c, sc->res, n * sizeof *c);
    if (qc.qprep && !ix->lean) /* lean: the float x code distances of the search stand */
      for (size_t i = 0; i < n; i++) c[i].dist = dist_exact(ix, qc.q, vec_of(ix, c[i].slot));
    size_t k = select_heuristic(ix, sc, c, n, ix->M); /* sorted: c[0] is the closest */
    cur = c[0].slot;
    dcur = qc.qprep ? tdist(ix, &qc, cur) : c[0].dist;
    /* x's own list: the selection, plus links concurrent inserts may already have made */
    uint32_t sel[MAX_M];
    for (size_t i = 0; i < k; i++) sel[i] = c[i].slot;
    for (size_t i = 0; i < k; i++) add_link(ix, sc, x, sel[i], lev);
    for (size_t i = 0; i < k; i++) add_link(ix, sc, sel[i], x, lev);
  }
  if (hold) {
    ix->ep = x;
    ix->max_level = lx;
    pthread_mutex_unlock(&ix->glock);
  }
}

/* ------------------------------------------------------------------ add */

/* The public entry (ep_pub, max_level_pub): the highest-level node that is not hidden. */
static void public_entry(qv_index *ix) {
  int best = -1;
  uint32_t who = 0;
  for (uint32_t s = 0; s < ix->n_hw; s++)
    if ((ix->state[s] == ST_LIVE || ix->state[s] == ST_DEAD) && (int)ix->level[s] > best) {
      best = ix->level[s];
      who = s;
    }
  ix->max_level_pub = best;
  ix->ep_pub = who;
}

/*
 * Pick a new entry point: the highest-level non-empty node other than x and not marked in
 * skip[0..n_skip) (nodes whose lists were just cleared), or none (max_level -1).
 */
static void reset_entry(qv_index *ix, uint32_t x, const uint8_t *skip, size_t n_skip) {
  int best = -1;
  uint32_t who = 0;
  for (uint32_t s = 0; s < ix->n_hw; s++) {
    if (s == x || ix->state[s] == ST_EMPTY || (s < n_skip && skip[s])) continue;
    if ((int)ix->level[s] > best) {
      best = ix->level[s];
      who = s;
    }
  }
  ix->max_level = best;
  ix->ep = best < 0 ? 0 : who;
}

/*
 * Detach node x before its vector changes: every old neighbour n that links back to x drops
 * the link and takes instead the closest of x's other old neighbours it does not link yet.
 * Then x's own lists are emptied. Single-threaded (called before the parallel phase).
 */
static void detach_node(qv_index *ix, scratch *sc, uint32_t x) {
  float *tmp = ix->lean ? sc->dec : NULL, *nrow = ix->lean ? sc->dec + (size_t)ix->M0 * ix->dim : NULL;
  uint32_t old[MAX_M * 2];
  for (int lev = 0; lev <= ix->level[x]; lev++) {
    uint32_t *lx = links_at(ix, x, lev);
    uint32_t no = lx[0];
    memcpy(old, lx + 1, no * sizeof *old);
    lx[0] = 0;
    for (uint32_t i = 0; i < no; i++) {
      uint32_t n = old[i];
      uint32_t *ln = links_at(ix, n, lev);
      uint32_t cnt = ln[0], pos = UINT32_MAX;
      for (uint32_t j = 0; j < cnt; j++)
        if (ln[j + 1] == x) pos = j;
      if (pos == UINT32_MAX) continue;
      ln[pos + 1] = ln[cnt];
      ln[0] = --cnt;
      const float *vn = sel_vec(ix, n, nrow);
      float bd = INFINITY;
      uint32_t best = UINT32_MAX;
      for (uint32_t j = 0; j < no; j++) {
        uint32_t c = old[j];
        if (c == n) continue;
        int have = 0;
        for (uint32_t t = 0; t < cnt; t++)
          if (ln[t + 1] == c) {
            have = 1;
            break;
          }
        if (have) continue;
        float d = dist_exact(ix, vn, sel_vec(ix, c, tmp));
        if (d < bd) {
          bd = d;
          best = c;
        }
      }
      if (best != UINT32_MAX) {
        ln[cnt + 1] = best;
        ln[0] = cnt + 1;
      }
    }
  }
  if (ix->ep == x) reset_entry(ix, x, NULL, 0);
}

typedef struct build_job {
  qv_index *ix;
  const uint32_t *order;
  const float *const *xv; /* xv[i]: order[i]'s float vector (in the batch) */
  size_t n;
  atomic_size_t next;
} build_job;

typedef struct worker_arg {
  build_job *job;
  scratch *sc;
} worker_arg;

static void *build_worker(void *arg) {
  worker_arg *wa = arg;
  build_job *j = wa->job;
  for (;;) {
    size_t i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (i >= j->n) break;
    insert_node(j->ix, wa->sc, j->order[i], j->xv[i]);
  }
  return NULL;
}

/* Insert order[0..n) with up to nt threads (the calling thread is one of them). */
static void insert_all(qv_index *ix, scratch **sc, int nt, const uint32_t *order, const float *const *xv,
                       size_t n) {
  size_t i0 = 0;
  if (ix->max_level < 0 && n) {
    insert_node(ix, sc[0], order[i0], xv[i0]);
    i0++;
  }
  build_job job = {ix, order + i0, xv + i0, n - i0, 0};
  atomic_init(&job.next, 0);
  worker_arg wa[64];
  pthread_t th[64];
  int started = 0;
  for (int t = 1; t < nt; t++) {
    wa[t].job = &job;
    wa[t].sc = sc[t];
    if (pthread_create(&th[t], NULL, build_worker, &wa[t]) != 0) break;
    started = t;
  }
  wa[0].job = &job;
  wa[0].sc = sc[0];
  build_worker(&wa[0]);
  for (int t = 1; t <= started; t++) pthread_join(th[t], NULL);
}

/*
 * add() and add_hidden(): hidden nodes join the graph as ST_HIDDEN. The sq8 quantizer learns
 * from train[0..n_train) (add(): the batch itself; add_hidden(): the whole batch on its first
 * chunk, nothing on the others).
 */
static qv_status add_impl(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n, int hidden,
                          const float *train, size_t n_train) {
  if (!ix || (n && (!slots || !vecs))) return QV_INVALID;
  if (!n) return QV_OK;
  if (hidden)
    for (size_t i = 0; i < n; i++)
      if (slots[i] < ix->cap && (ix->state[slots[i]] == ST_LIVE || ix->state[slots[i]] == ST_HIDDEN))
        return QV_INVALID;
  qv_status rc = QV_NOMEM;
  uint32_t *order = NULL;
  const float **xv = NULL; /* xv[i]: the batch's vector of order[i] */
  float *old_q = NULL;     /* lean: the quantizer's lo / hi / scale before this batch trained it */
  uint8_t *seen = NULL;
  uint32_t **fresh_up = NULL; /* upper-link arrays allocated by this call */
  scratch *sc[64] = {0};
  int nt = ix->p.n_threads > 0 ? ix->p.n_threads : qv__ncpu();
  if (nt > 64) nt = 64;
  if (n < PAR_MIN_BATCH) nt = 1;

  uint32_t maxs = 0;
  for (size_t i = 0; i < n; i++)
    if (slots[i] > maxs) maxs = slots[i];
  if (maxs == UINT32_MAX) return QV_INVALID;
  for (size_t i = 0; i < (size_t)n * ix->dim; i++)
    if (!isfinite(vecs[i])) return QV_INVALID;
  if ((rc = hnsw_grow(ix, maxs + 1, 0, 1)) != QV_OK) return rc;
  if (hidden && !ix->n_hidden) { /* searches keep entering the graph they know */
    ix->ep_pub = ix->ep;
    ix->max_level_pub = ix->max_level;
  }
  rc = QV_NOMEM;
  order = qv__malloc(ix->mem, n * sizeof *order);
  xv = qv__malloc(ix->mem, n * sizeof *xv);
  seen = qv__calloc(ix->mem, (size_t)maxs + 1, 1);
  fresh_up = qv__calloc(ix->mem, n, sizeof *fresh_up);
  if (!order || !xv || !seen || !fresh_up) goto cleanup;
  for (int t = 0; t < nt; t++)
    if (!(sc[t] = hnsw_scratch_get(ix, ix->efc))) goto cleanup;
  /* allocate every upper-link array first: after this point nothing can fail. Backwards,
   * like the pass below, so a slot given twice is allocated at its last occurrence. */
  for (size_t i = n; i-- > 0;) {
    uint32_t s = slots[i];
    if (ix->state[s] != ST_EMPTY || seen[s]) continue;
    seen[s] = 1;
    int lv = draw_level(ix, s);
    if (lv > 0) {
      fresh_up[i] = qv__calloc(ix->mem, (size_t)lv * (ix->M + 1), sizeof(uint32_t));
      if (!fresh_up[i]) goto cleanup;
    }
  }
  uint64_t stored = ix->n_live + ix->n_dead + ix->n_hidden;
  if (ix->lean && train && stored) { /* re-encoding below decodes with the range codes were made with */
    size_t nq = (size_t)ix->q8.dim_pad * 3;
    /* + room for one code (chk below) */
    if (!(old_q = qv__malloc(ix->mem, nq * sizeof *old_q + ix->q8.code_bytes))) goto cleanup;
    memcpy(old_q, ix->q8.lo, nq * sizeof *old_q);
  }
  if (ix->sq8 && train && hnsw_sq8_maybe_train(&ix->q8, train, n_train, stored)) {
    /* the quantizer was (re)trained on this batch: re-encode what is already stored. A lean
     * index re-encodes a live node from the vector source's exact floats (codes made from
     * codes would add one rounding per widening, and ranges widen often while an index is
     * small), and a node without a record (a tombstone) or a failed read from its old code
     * decoded with the old range, which the new range contains. */
    hnsw_sq8 oq = ix->q8;
    if (old_q) {
      oq.lo = old_q;
      oq.hi = old_q + oq.dim_pad;
      oq.scale = old_q + 2 * (size_t)oq.dim_pad;
    }
    for (uint32_t s = 0; s < ix->n_hw; s++) {
      if (ix->state[s] == ST_EMPTY) continue;
      unsigned char *code = ix->l0 + (size_t)s * ix->bsz + ix->code_off;
      if (!ix->lean) {
        hnsw_sq8_encode(&ix->q8, vec_of(ix, s), code);
        if (ix->exact && ix->state[s] != ST_DEAD && !hnsw_sq8_exact(&ix->q8, vec_of(ix, s), code)) ix->exact = 0;
        continue;
      }
      /* the source's floats only if they are this node's: encoded with the old range they
       * must give its code (a slot being rewritten by the batch may already map to another
       * record in the collection) */
      float *buf = sc[0]->dec;
      unsigned char *chk = (unsigned char *)(old_q + 3 * (size_t)oq.dim_pad);
      int from_src = ix->state[s] == ST_LIVE && ix->p.vsrc->get(ix->p.vsrc->ctx, s, buf) == QV_OK;
      if (from_src) {
        hnsw_sq8_encode(&oq, buf, chk);
        from_src = memcmp(chk + 4, code + 4, ix->q8.code_bytes - 4) == 0;
      }
      if (!from_src) hnsw_sq8_decode(&oq, code, buf);
      hnsw_sq8_encode(&ix->q8, buf, code);
      /* while exact, a node's old code decoded is its vector too; the new grid must hold it */
      if (ix->exact && ix->state[s] != ST_DEAD && !hnsw_sq8_exact(&ix->q8, buf, code)) ix->exact = 0;
    }
  }
  memset(seen, 0, (size_t)maxs + 1);
  size_t m = 0;
  for (size_t i = n; i-- > 0;) { /* the last occurrence of a duplicated slot wins */
    uint32_t s = slots[i];
    if (seen[s]) continue;
    seen[s] = 1;
    const float *v = vecs + i * ix->dim;
    if (ix->state[s] == ST_EMPTY) {
      int lv = draw_level(ix, s);
      ix->level[s] = (uint8_t)lv;
      ix->up[s] = fresh_up[i];
      fresh_up[i] = NULL;
      if (s >= ix->n_hw) ix->n_hw = s + 1;
    } else {
      detach_node(ix, sc[0], s);
      if (ix->state[s] == ST_DEAD) ix->n_dead--;
      else if (ix->state[s] == ST_LIVE) ix->n_live--;
      else ix->n_hidden--;
    }
    links0(ix, s)[0] = 0;
    for (int lev = 1; lev <= ix->level[s]; lev++) links_at(ix, s, lev)[0] = 0;
    hnsw_write_vector(ix, s, v);
    ix->state[s] = hidden ? ST_HIDDEN : ST_LIVE;
    ix->n_live += !hidden;
    ix->n_hidden += hidden;
    xv[m] = v;
    order[m++] = s;
  }
  /* an entry point whose lists were cleared above cannot lead anywhere: pick another one */
  if (ix->max_level >= 0 && ix->ep <= maxs && seen[ix->ep]) reset_entry(ix, UINT32_MAX, seen, (size_t)maxs + 1);
  if (hidden && ix->max_level_pub >= 0 && ix->state[ix->ep_pub] == ST_HIDDEN) public_entry(ix);
  /* insert in batch order (the loop above ran backwards) */
  for (size_t i = 0; i < m / 2; i++) {
    uint32_t t = order[i];
    order[i] = order[m - 1 - i];
    order[m - 1 - i] = t;
    const float *tv = xv[i];
    xv[i] = xv[m - 1 - i];
    xv[m - 1 - i] = tv;
  }
  insert_all(ix, sc, nt, order, xv, m);
  rc = QV_OK;
cleanup:
  for (int t = 0; t < nt; t++)
    if (sc[t]) hnsw_scratch_put(ix, sc[t]);
  if (fresh_up)
    for (size_t i = 0; i < n; i++) qv__free(ix->mem, fresh_up[i]);
  qv__free(ix->mem, fresh_up);
  qv__free(ix->mem, seen);
  qv__free(ix->mem, order);
  qv__free(ix->mem, xv);
  qv__free(ix->mem, old_q);
  return rc;
}

QV_INTERNAL qv_status hnsw_add(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n) {
  if (ix && ix->mapped) return QV_UNSUPPORTED; /* a snapshot's read-only graph */
  return add_impl(ix, slots, vecs, n, 0, vecs, n);
}

QV_INTERNAL qv_status hnsw_add_hidden(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n,
                                 const float *train, size_t n_train) {
  if (ix && ix->mapped) return QV_UNSUPPORTED;
  return add_impl(ix, slots, vecs, n, 1, train, n_train);
}

QV_INTERNAL void hnsw_publish(qv_index *ix, const uint32_t *slots, size_t n) {
  for (size_t i = 0; ix && i < n; i++)
    if (slots[i] < ix->cap && ix->state[slots[i]] == ST_HIDDEN) {
      ix->state[slots[i]] = ST_LIVE;
      ix->n_live++;
      ix->n_hidden--;
    }
}

QV_INTERNAL qv_status hnsw_remove(qv_index *ix, uint32_t slot) {
  if (!ix) return QV_INVALID;
  if (ix->mapped) return QV_UNSUPPORTED;
  if (slot >= ix->cap || ix->state[slot] != ST_LIVE) return QV_NOTFOUND;
  ix->state[slot] = ST_DEAD;
  ix->n_live--;
  ix->n_dead++;
  return QV_OK;
}

/* NULL in a lean index: the collection reads the store's copy (contains() says it is live). */
QV_INTERNAL const float *hnsw_vector(const qv_index *ix, uint32_t slot) {
  if (!ix || ix->lean || slot >= ix->cap || ix->state[slot] != ST_LIVE) return NULL;
  return vec_of(ix, slot);
}

QV_INTERNAL int hnsw_contains(const qv_index *ix, uint32_t slot) {
  return ix && slot < ix->cap && ix->state[slot] == ST_LIVE;
}


/*
 * Grow the node arrays before the collection commits a batch, so that add() can then only
 * fail on its small per-call scratch allocations.
 */
QV_INTERNAL qv_status hnsw_reserve(qv_index *ix, size_t n_slots) {
  if (ix && ix->mapped) return QV_UNSUPPORTED;
  if (n_slots > UINT32_MAX) return QV_NOMEM;
  return hnsw_grow(ix, (uint32_t)n_slots, 0, 1);
}

/* reserve() in two steps: the copy into bigger arrays runs while searches go on. */
QV_INTERNAL qv_status hnsw_reserve_build(const qv_index *ix, size_t n_slots, void **staged) {
  *staged = NULL;
  if (n_slots > UINT32_MAX) return QV_NOMEM;
  grown g;
  qv_status rc = hnsw_grow_build(ix, (uint32_t)n_slots, 0, 1, &g);
  if (rc || !g.nc) return rc;
  grown *h = qv__malloc(ix->mem, sizeof *h);
  if (!h) {
    hnsw_grown_free(ix->mem, &g);
    return QV_NOMEM;
  }
  *h = g;
  *staged = h;
  return QV_OK;
}

QV_INTERNAL void hnsw_reserve_install(qv_index *ix, void *staged) {
  if (!staged) return;
  hnsw_grow_install(ix, staged);
  qv__free(ix->mem, staged);
}

QV_INTERNAL void hnsw_reserve_drop(const qv_index *ix, void *staged) {
  if (!staged) return;
  hnsw_grown_free(ix->mem, staged);
  qv__free(ix->mem, staged);
}
