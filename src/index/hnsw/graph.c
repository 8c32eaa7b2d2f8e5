/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/hnsw/graph.c -- node arenas and their growth, per-search scratch (see hnsw.c for the design, hnsw_int.h for the structures).
 */
#include <sys/mman.h>

#include "hnsw_int.h"


/*
 * A big node array. Searches touch it at random, so from 4 MiB up it is 2 MiB aligned and
 * advised to use transparent huge pages: one TLB entry per 2 MiB instead of per 4 KiB
 * saves a page walk on nearly every node visited. *raw receives the block to free.
 */
QV_INTERNAL void *hnsw_arena_alloc(const qv_mem *mem, size_t n, void **raw) {
  size_t align = n >= 2 * HUGE_PAGE ? HUGE_PAGE : 64;
  *raw = NULL;
  if (n > SIZE_MAX - align) return NULL;
  unsigned char *r = qv__malloc(mem, n + align);
  if (!r) return NULL;
  unsigned char *p = (unsigned char *)(((uintptr_t)r + align - 1) & ~(uintptr_t)(align - 1));
#ifdef MADV_HUGEPAGE
  if (align == HUGE_PAGE) (void)madvise(p, n & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
  *raw = r;
  return p;
}

#if defined(__linux__) && !defined(MADV_COLLAPSE)
#define MADV_COLLAPSE 25 /* Linux >= 6.1; older kernels answer EINVAL, which is harmless */
#endif

/*
 * A loaded arena was read into ordinary pages; ask the kernel to back its 2 MiB-aligned
 * interior with huge pages now (synchronously) rather than some day (khugepaged).
 */
QV_INTERNAL void hnsw_collapse_huge(void *p, size_t n) {
  uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
  uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);
  if (e <= a) return;
#ifdef MADV_HUGEPAGE
  (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#endif
#ifdef MADV_COLLAPSE
  (void)madvise((void *)a, e - a, MADV_COLLAPSE);
#endif
}

/* ------------------------------------------------------------------ scratch */

QV_INTERNAL void hnsw_scratch_free(const qv_mem *mem, scratch *sc) {
  if (!sc) return;
  qv__free(mem, sc->visited);
  qv__free(mem, sc->cand);
  qv__free(mem, sc->res);
  qv__free(mem, sc->done);
  qv__free(mem, sc->ids);
  qv__free(mem, sc->sel);
  qv__free_aligned(mem, sc->qprep);
  qv__free_aligned(mem, sc->dec);
  qv__free(mem, sc);
}

/* Make sc fit the index now (visited tags for every slot, heaps for ef). 0 on NOMEM. */
static int scratch_fit(const qv_index *ix, scratch *sc, size_t ef) {
  if (sc->vcap < ix->cap) {
    uint16_t *v = qv__calloc(ix->mem, ix->cap, sizeof *v);
    if (!v) return 0;
    qv__free(ix->mem, sc->visited);
    sc->visited = v;
    sc->vcap = ix->cap;
    sc->epoch = 0;
  }
  if (sc->rcap < ef) {
    qv_hit *r = qv__malloc(ix->mem, ef * sizeof *r);
    uint8_t *d = qv__malloc(ix->mem, ef);
    if (!r || !d) {
      qv__free(ix->mem, r);
      qv__free(ix->mem, d);
      return 0;
    }
    qv__free(ix->mem, sc->res);
    qv__free(ix->mem, sc->done);
    sc->res = r;
    sc->done = d;
    sc->rcap = ef;
  }
  size_t want_c = ef * 2 + ix->M0 + 64;
  if (sc->ccap < want_c) {
    qv_hit *c = qv__malloc(ix->mem, want_c * sizeof *c);
    if (!c) return 0;
    qv__free(ix->mem, sc->cand);
    sc->cand = c;
    sc->ccap = want_c;
  }
  size_t want_s = (ef > ix->M0 ? ef : ix->M0) + 1;
  if (sc->selcap < want_s) {
    qv_hit *s = qv__malloc(ix->mem, want_s * sizeof *s);
    if (!s) return 0;
    qv__free(ix->mem, sc->sel);
    sc->sel = s;
    sc->selcap = want_s;
  }
  if (!sc->ids) {
    sc->ids = qv__malloc(ix->mem, (ix->M0 + 1) * sizeof *sc->ids);
    if (!sc->ids) return 0;
  }
  if (ix->sq8 && !sc->qprep) {
    sc->qprep = qv__malloc_aligned(ix->mem, hnsw_sq8_query_bytes(&ix->q8));
    if (!sc->qprep) return 0;
  }
  if (ix->lean && !sc->dec) {
    sc->dec = qv__malloc_aligned(ix->mem, (size_t)(ix->M0 + 1) * ix->dim * sizeof(float));
    if (!sc->dec) return 0;
  }
  return 1;
}

QV_INTERNAL scratch *hnsw_scratch_get(qv_index *ix, size_t ef) {
  scratch *sc;
  pthread_mutex_lock(&ix->pool_lock);
  sc = ix->pool;
  if (sc) ix->pool = sc->next;
  pthread_mutex_unlock(&ix->pool_lock);
  if (!sc) {
    sc = qv__calloc(ix->mem, 1, sizeof *sc);
    if (!sc) return NULL;
  }
  if (!scratch_fit(ix, sc, ef)) {
    hnsw_scratch_free(ix->mem, sc);
    return NULL;
  }
  return sc;
}

QV_INTERNAL void hnsw_scratch_put(qv_index *ix, scratch *sc) {
  pthread_mutex_lock(&ix->pool_lock);
  sc->next = ix->pool;
  ix->pool = sc;
  pthread_mutex_unlock(&ix->pool_lock);
}

/* ------------------------------------------------------------------ storage growth */

QV_INTERNAL void hnsw_write_vector(qv_index *ix, uint32_t s, const float *v) {
  if (!ix->lean) memcpy(ix->vbase + (size_t)s * ix->vstride, v, (size_t)ix->dim * sizeof(float));
  if (!ix->sq8) return;
  unsigned char *code = ix->l0 + (size_t)s * ix->bsz + ix->code_off;
  hnsw_sq8_encode(&ix->q8, v, code);
  if (ix->exact && !hnsw_sq8_exact(&ix->q8, v, code)) ix->exact = 0; /* for good */
}


QV_INTERNAL void hnsw_grown_free(const qv_mem *mem, grown *g) {
  qv__free(mem, g->l0_raw);
  qv__free(mem, g->vecs_raw);
  qv__free(mem, g->state);
  qv__free(mem, g->level);
  qv__free(mem, g->up);
  qv__free(mem, (void *)(uintptr_t)g->locks);
  memset(g, 0, sizeof *g);
}

/*
 * Arrays for slots [0, need) holding a copy of ix's (which is only read: searches may run
 * meanwhile, but no add or remove). QV_OK with g->nc == 0 when ix already has room.
 */
QV_INTERNAL qv_status hnsw_grow_build(const qv_index *ix, uint32_t need, int exact, int arenas, grown *g) {
  memset(g, 0, sizeof *g);
  if (need <= ix->cap) return QV_OK;
  /* 1.5x growth for trickling adds; a big batch gets exactly what it needs */
  size_t nc = exact ? need : ix->cap ? (size_t)ix->cap + ix->cap / 2 : 1024;
  if (nc < need) nc = need;
  if (nc > (size_t)UINT32_MAX) nc = UINT32_MAX;
  if (nc > SIZE_MAX / ix->bsz || nc > SIZE_MAX / ix->vstride) return QV_NOMEM;
  g->arenas = arenas;
  if (arenas) {
    g->l0 = hnsw_arena_alloc(ix->mem, nc * ix->bsz, &g->l0_raw);
    if (ix->sq8 && !ix->lean) g->vecs = hnsw_arena_alloc(ix->mem, nc * ix->vstride, &g->vecs_raw);
  }
  g->state = qv__calloc(ix->mem, nc, 1);
  g->level = qv__calloc(ix->mem, nc, 1);
  g->up = qv__calloc(ix->mem, nc, sizeof *g->up);
  g->locks = qv__calloc(ix->mem, nc, sizeof *g->locks);
  if ((arenas && (!g->l0 || (ix->sq8 && !ix->lean && !g->vecs))) || !g->state || !g->level || !g->up || !g->locks) {
    hnsw_grown_free(ix->mem, g);
    return QV_NOMEM;
  }
  size_t old = ix->cap;
  if (old && arenas) {
    memcpy(g->l0, ix->l0, old * ix->bsz);
    if (ix->sq8 && !ix->lean) memcpy(g->vecs, ix->vecs, old * ix->vstride);
  }
  if (old) {
    memcpy(g->state, ix->state, old);
    memcpy(g->level, ix->level, old);
    memcpy(g->up, ix->up, old * sizeof *g->up);
  }
  if (arenas) memset(g->l0 + old * ix->bsz, 0, (nc - old) * ix->bsz);
  for (size_t i = 0; i < nc; i++) atomic_init(&g->locks[i], 0);
  g->nc = nc;
  return QV_OK;
}

/* Put g in place of ix's arrays and free those (exclusive access to ix). */
QV_INTERNAL void hnsw_grow_install(qv_index *ix, grown *g) {
  if (!g->nc) return;
  if (g->arenas) {
    qv__free(ix->mem, ix->l0_raw);
    qv__free(ix->mem, ix->vecs_raw);
    qv__free_aligned(ix->mem, ix->adopted);
    ix->adopted = NULL;
    ix->l0 = g->l0;
    ix->l0_raw = g->l0_raw;
    ix->vecs = g->vecs;
    ix->vecs_raw = g->vecs_raw;
    ix->vbase = ix->lean ? NULL : ix->sq8 ? g->vecs : g->l0 + ix->code_off;
  }
  qv__free(ix->mem, ix->state);
  qv__free(ix->mem, ix->level);
  qv__free(ix->mem, ix->up);
  qv__free(ix->mem, (void *)(uintptr_t)ix->locks);
  ix->state = g->state;
  ix->level = g->level;
  ix->up = g->up;
  ix->locks = g->locks;
  ix->cap = (uint32_t)g->nc;
  memset(g, 0, sizeof *g);
}

/*
 * The float row of a non-empty slot s into out (dim floats), for writers of files that carry
 * every float (save_standalone, serialize): the resident row, or in a lean index the vector
 * source's copy for a live node and the decoded code for a tombstone (its record is gone).
 */
QV_INTERNAL qv_status hnsw_row(const qv_index *ix, uint32_t s, float *out) {
  if (!ix->lean) {
    memcpy(out, vec_of(ix, s), (size_t)ix->dim * sizeof(float));
    return QV_OK;
  }
  if (ix->state[s] == ST_LIVE) {
    qv_status rc = ix->p.vsrc->get(ix->p.vsrc->ctx, s, out);
    if (rc != QV_NOTFOUND) return rc;
  }
  hnsw_sq8_decode(&ix->q8, code_of(ix, s), out);
  return QV_OK;
}

/* Make room for slots [0, need). */
QV_INTERNAL qv_status hnsw_grow(qv_index *ix, uint32_t need, int exact, int arenas) {
  grown g;
  qv_status rc = hnsw_grow_build(ix, need, exact, arenas, &g);
  if (rc == QV_OK) hnsw_grow_install(ix, &g);
  return rc;
}
