/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/hnsw/hnsw.c -- the HNSW index (Malkov & Yashunin, "Efficient and robust approximate nearest
 * neighbor search using Hierarchical Navigable Small World graphs", 2016/2018).
 *
 * Graph layout
 *   Nodes are slots (uint32, handed out by the collection). Everything per node lives in
 *   arrays indexed by slot, grown geometrically:
 *     l0      one block of bsz bytes per node (bsz a multiple of 64, the arena 64-byte
 *             aligned, so every block starts on a cache line):
 *               u32 count | u32 ids[M0] | traversal vector
 *             M0 = 2*M. The traversal vector is the float vector itself (float mode; it
 *             starts on the next cache line) or an 8-bit scalar-quantized code (sq8 mode,
 *             the default; hnsw_sq8.h: f32 norm + one byte per dimension). Either way the
 *             vector a search touches sits right behind the neighbour list it came from.
 *             From 4 MiB up the arena is 2 MiB aligned and madvise(MADV_HUGEPAGE)d: a
 *             search touches nodes at random, and huge pages save a page walk on almost
 *             every one.
 *     vecs    sq8 mode only: the exact float vectors, one 64-byte aligned row per node, used
 *             for vector(), the exact re-rank and neighbour selection. In float mode vbase
 *             points at the vectors inside l0 (stride bsz).
 *     up      upper levels: one malloc'd array per node with level >= 1, holding level
 *             lists of (u32 count | u32 ids[M]) for levels 1..level.
 *     state   EMPTY (never added), LIVE, DEAD (tombstone); level: the node's top level.
 *
 * Levels
 *   A node's level is floor(-ln(u) / ln(M)) with u drawn from a hash of (slot, seed), capped
 *   at MAX_LEVEL, so the graph shape does not depend on insertion order or thread timing. A
 *   reused slot keeps its level (and its upper-link memory).
 *
 * Search
 *   Greedy descent (ef = 1) from the entry point through the upper levels, then a best-first
 *   search of level 0 with a min-heap of candidates and a bounded max-heap (topk.h) of
 *   results. Only nodes that are LIVE and pass the predicate enter the result heap; every
 *   node is traversed. The search stops when the result heap is full and the best candidate
 *   is worse than its worst entry, so a filtered search keeps going until it has ef matches
 *   (ef = max(ef, k)) or the reachable graph is exhausted. Visited nodes are tracked with
 *   epoch-stamped uint16 tags in a per-search scratch (a mutex-guarded pool), so concurrent
 *   searches never share state and nothing is cleared per query. The unvisited neighbours
 *   of an expanded node are gathered first, then their vectors are prefetched PF_AHEAD
 *   nodes ahead of the distance loop; the link list of the next candidate is prefetched
 *   while the current one is processed.
 *   In sq8 mode the search runs on codes and the ef results are re-ranked with exact float
 *   distances, so reported distances are exact. With AVX-512 VNNI the query is quantized to
 *   int8 once per search and a code distance costs one vpdpbusd per 64 dimensions
 *   (quant/sq8.c); without VNNI a float-query x u8-code kernel is used. Measured on
 *   Fashion-MNIST (60k x 784, M=16, ef=20, same recall): float traversal ~1.0x hnswlib
 *   built -march=native, sq8 float x u8 ~1.5x, sq8 VNNI ~2.2x.
 *
 * Neighbour selection
 *   Insertion as in the paper (Algorithm 1) with the heuristic of Algorithm 4 (keep a
 *   candidate only if it is closer to the new node than to every neighbour already kept),
 *   M links per level for the new node, lists of at most M (upper) / M0 (level 0) entries;
 *   a full neighbour list that receives a back link is re-pruned with the same heuristic.
 *   In sq8 mode the construction search traverses on codes too (QV_HNSW_BUILD_SQ8=0 turns
 *   that off), but the ef_construction candidates are re-scored exactly before selection,
 *   and the heuristic always compares exact float distances.
 *
 * Locking
 *   The collection serialises add/remove/save against searches (rwlock), so searches read
 *   the graph without locks. A large batch of new records comes in through add_hidden() in
 *   chunks, with searches running between them (never during one): its nodes are ST_HIDDEN.
 *   While any node is hidden a search starts from ep_pub, the entry point from before the
 *   first hidden add, and does not step onto hidden nodes on the upper levels; on level 0 it
 *   may pass through them (they are complete graph members) but never returns one, as with a
 *   filter. publish() makes the batch live at once. The graph's arrays can be grown in two
 *   steps (reserve_build() copies while searches run, reserve_install() swaps under the
 *   lock). Inside one add() the batch is inserted by n_threads threads;
 *   each node has a one-byte spinlock guarding its link lists (lists are copied out under
 *   the lock before they are walked), and glock guards the entry point / max level (a
 *   thread inserting above the current max level holds it for its whole insertion, as in
 *   hnswlib). All memory an insertion needs is allocated before the threads start, so add()
 *   is all-or-nothing on QV_NOMEM.
 *
 * Deletes and replacement
 *   remove() marks a tombstone: the node stays in the graph and is traversed, but never
 *   returned (it does not take a place in the result heap, so tombstones cost traversal
 *   time, not recall). add() on a LIVE slot (new embedding) or a DEAD slot (reuse) first
 *   detaches the node: each old neighbour that linked back to it drops that link and takes
 *   instead the closest of the node's other old neighbours (a cheap local repair that keeps
 *   the neighbourhood connected), then the node's lists are cleared, the new vector written,
 *   and the node is inserted again like a new one. Links that still point at the node from
 *   elsewhere now lead to its new position, which is harmless: distances are always
 *   computed on the current vector, so a stale vector can never be returned.
 *
 * File format (payload of a checkpoint.h envelope, tag "HNSW", payload version 1; all
 *   little-endian, every section starts at a 64-byte aligned payload offset):
 *     header   64 bytes, struct file_hdr below (M, M0, ef_construction, ef_search, n, entry
 *              point, max level, code width (0 or 8), block geometry, section sizes, n_live)
 *     state    u8[n]     EMPTY/LIVE/DEAD per slot
 *     level    u8[n]
 *     l0       n * bsz   the level-0 block array exactly as in memory
 *     vecs     n * vstride  (sq8 mode only)
 *     sq8      quantizer parameters: lo[dim], hi[dim] f32 (sq8 mode only)
 *     up       for each node with level >= 1, in slot order: level * (1 + M) u32
 *   load() reads the payload (checkpoint.h checks its crc) and copies the l0 / vecs
 *   sections whole into fresh huge-page arenas: no per-node parsing, only one validation
 *   pass over every link list, state and level. A bad count, id, level or entry point is
 *   QV_CORRUPT, never a crash. The quantizer parameters are stored, not re-learned, so a
 *   loaded index answers exactly like the one saved.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "checkpoint.h"
#include "dist.h"
#include "sq8.h"
#include "index.h"

#define HNSW_TAG 0x57534e48u /* "HNSW" little-endian */
#define HNSW_PAYLOAD_VERSION 1u
#define MAX_LEVEL 16
#define MAX_M 512 /* max level-0 links; M (upper-level links) may be 2..MAX_M/2, as collection.c allows */
#define PAR_MIN_BATCH 64 /* smaller batches are inserted by the calling thread alone */
#ifndef PF_AHEAD
#define PF_AHEAD 2 /* vectors prefetched ahead of the distance loop */
#endif /* smaller batches are inserted by the calling thread alone */

/* HIDDEN: inserted by add_hidden(), in the graph but not yet a result; never saved (the
 * collection publishes before anything can checkpoint) */
enum { ST_EMPTY = 0, ST_LIVE = 1, ST_DEAD = 2, ST_HIDDEN = 3 };

typedef struct scratch {
  uint16_t *visited;
  size_t vcap;
  uint16_t epoch;
  qv_hit *cand; /* min-heap of candidates */
  size_t ccap;
  qv_hit *res; /* topk storage */
  size_t rcap;
  uint32_t *ids; /* neighbour list copy / unvisited ids, MAX(M0,M)+1 */
  qv_hit *sel;   /* neighbour selection buffer */
  size_t selcap;
  void *qprep; /* prepared query for sq8 */
  struct scratch *next;
} scratch;

struct qv_index {
  qv_index_params p;
  const qv_mem *mem;
  const qv_kernels *kern;
  qv_dist_fn dfn; /* l2sq, dot or l1 */
  int one_minus;  /* ip / cosine: distance = 1 - dot */
  uint32_t dim, M, M0, efc, efs;
  double mult;
  int sq8;
  int build_codes; /* sq8: construction searches traverse on codes too */
  size_t bsz, code_off, vstride;
  unsigned char *l0;
  unsigned char *vbase; /* float vectors: l0 + code_off (float mode) or vecs */
  unsigned char *vecs;  /* sq8 mode: own arena */
  void *l0_raw, *vecs_raw; /* the allocations behind l0 / vecs (arena_alloc) */
  void *adopted;           /* a loaded payload that l0 / vecs point into, or NULL */
  uint32_t cap;         /* slots allocated */
  uint32_t n_hw;        /* 1 + highest non-empty slot */
  uint8_t *state, *level;
  uint32_t **up;
  atomic_uchar *locks;
  uint32_t ep;
  int max_level; /* -1 when empty */
  uint64_t n_live, n_dead, n_hidden; /* n_hidden: ST_HIDDEN nodes, 0 outside a write */
  uint32_t ep_pub;   /* while n_hidden: the entry point and top level searches use, */
  int max_level_pub; /* a node that is not hidden (the entry before the first hidden add) */
  uint64_t seed;
  hnsw_sq8 q8;
  pthread_mutex_t glock;
  pthread_mutex_t pool_lock;
  scratch *pool;
};

/* ------------------------------------------------------------------ small helpers */

static inline uint32_t *links0(const qv_index *ix, uint32_t s) {
  return (uint32_t *)(void *)(ix->l0 + (size_t)s * ix->bsz);
}
static inline uint32_t *links_at(const qv_index *ix, uint32_t s, int lev) {
  return lev == 0 ? links0(ix, s) : ix->up[s] + (size_t)(lev - 1) * (ix->M + 1);
}
static inline const float *vec_of(const qv_index *ix, uint32_t s) {
  return (const float *)(const void *)(ix->vbase + (size_t)s * ix->vstride);
}
static inline const unsigned char *code_of(const qv_index *ix, uint32_t s) {
  return ix->l0 + (size_t)s * ix->bsz + ix->code_off;
}
static inline float dist_exact(const qv_index *ix, const float *a, const float *b) {
  float d = ix->dfn(a, b, ix->dim);
  return ix->one_minus ? 1.0f - d : d;
}
static inline uint32_t max_links(const qv_index *ix, int lev) { return lev == 0 ? ix->M0 : ix->M; }

static inline void node_lock(const qv_index *ix, uint32_t s) {
  atomic_uchar *l = &ix->locks[s];
  while (atomic_exchange_explicit(l, 1, memory_order_acquire))
    while (atomic_load_explicit(l, memory_order_relaxed)) {
    }
}
static inline void node_unlock(const qv_index *ix, uint32_t s) {
  atomic_store_explicit(&ix->locks[s], 0, memory_order_release);
}

static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

static int draw_level(const qv_index *ix, uint32_t slot) {
  uint64_t h = mix64(ix->seed ^ mix64((uint64_t)slot + 0x9e3779b97f4a7c15ull));
  double u = ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0); /* (0,1) */
  double l = -log(u) * ix->mult;
  return l >= MAX_LEVEL ? MAX_LEVEL : (int)l;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

#define HUGE_PAGE ((size_t)2 << 20)

/*
 * A big node array. Searches touch it at random, so from 4 MiB up it is 2 MiB aligned and
 * advised to use transparent huge pages: one TLB entry per 2 MiB instead of per 4 KiB
 * saves a page walk on nearly every node visited. *raw receives the block to free.
 */
static void *arena_alloc(const qv_mem *mem, size_t n, void **raw) {
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
static void collapse_huge(void *p, size_t n) {
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

/* ------------------------------------------------------------------ heaps */

/* Min-heap of candidates. Never fails: if it cannot grow, the candidate is dropped. */
static void cand_push(const qv_mem *mem, scratch *sc, size_t *n, float d, uint32_t id) {
  if (*n == sc->ccap) {
    size_t nc = sc->ccap * 2;
    qv_hit *c = qv__realloc(mem, sc->cand, nc * sizeof *c);
    if (!c) return;
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

/* ------------------------------------------------------------------ scratch */

static void scratch_free(const qv_mem *mem, scratch *sc) {
  if (!sc) return;
  qv__free(mem, sc->visited);
  qv__free(mem, sc->cand);
  qv__free(mem, sc->res);
  qv__free(mem, sc->ids);
  qv__free(mem, sc->sel);
  qv__free_aligned(mem, sc->qprep);
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
    if (!r) return 0;
    qv__free(ix->mem, sc->res);
    sc->res = r;
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
  return 1;
}

static scratch *scratch_get(qv_index *ix, size_t ef) {
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
    scratch_free(ix->mem, sc);
    return NULL;
  }
  return sc;
}

static void scratch_put(qv_index *ix, scratch *sc) {
  pthread_mutex_lock(&ix->pool_lock);
  sc->next = ix->pool;
  ix->pool = sc;
  pthread_mutex_unlock(&ix->pool_lock);
}

static inline void visit_begin(scratch *sc) {
  if (++sc->epoch == 0) {
    memset(sc->visited, 0, sc->vcap * sizeof *sc->visited);
    sc->epoch = 1;
  }
}

/* ------------------------------------------------------------------ searching one level */

/*
 * What a search compares against: the float query (exact distances on the float vectors)
 * or, in sq8 mode at query time, the prepared query against the codes in the l0 blocks.
 */
typedef struct qctx {
  const float *q;
  const void *qprep; /* non-NULL: traverse on sq8 codes */
  qv_slot_pred pred;
  void *pred_ctx;
  uint32_t self;    /* build: the node being inserted (never a result), else UINT32_MAX */
  int build;        /* copy link lists under the node locks; any non-EMPTY node qualifies */
} qctx;

static inline float tdist(const qv_index *ix, const qctx *qc, uint32_t s) {
  if (qc->qprep) return hnsw_sq8_dist(&ix->q8, qc->qprep, code_of(ix, s));
  return dist_exact(ix, qc->q, vec_of(ix, s));
}

static inline void prefetch_vec(const qv_index *ix, const qctx *qc, uint32_t s) {
  const char *p;
  size_t n;
  if (qc->qprep) {
    p = (const char *)code_of(ix, s);
    n = ix->q8.code_bytes;
  } else {
    p = (const char *)vec_of(ix, s);
    n = (size_t)ix->dim * sizeof(float);
  }
  if (n > 1024) n = 1024; /* the hardware prefetcher follows the rest */
  for (size_t o = 0; o < n; o += 64) __builtin_prefetch(p + o, 0, 3);
}

static inline int qualifies(const qv_index *ix, const qctx *qc, uint32_t s) {
  if (qc->build) return s != qc->self;
  if (ix->state[s] != ST_LIVE) return 0;
  return !qc->pred || qc->pred(qc->pred_ctx, s);
}

/* Copy s's list at lev into buf (under the node lock while building); returns the count. */
static inline uint32_t read_links(const qv_index *ix, const qctx *qc, uint32_t s, int lev,
                                  uint32_t *buf, const uint32_t **out) {
  const uint32_t *l = links_at(ix, s, lev);
  if (!qc->build) {
    *out = l + 1;
    return l[0];
  }
  node_lock(ix, s);
  uint32_t n = l[0];
  memcpy(buf, l + 1, n * sizeof *buf);
  node_unlock(ix, s);
  *out = buf;
  return n;
}

/* Greedy walk (ef = 1) on one upper level from *cur. */
static void greedy_level(const qv_index *ix, const qctx *qc, scratch *sc, int lev, uint32_t *cur,
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
 * Best-first search of level lev from entry (dentry its distance), keeping up to ef
 * qualifying nodes in sc->res as a topk heap. Returns the number kept.
 */
static size_t search_level(const qv_index *ix, const qctx *qc, scratch *sc, uint32_t entry,
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
    for (uint32_t i = 0; i < m && i < PF_AHEAD; i++) prefetch_vec(ix, qc, todo[i]);
    for (uint32_t i = 0; i < m; i++) {
      uint32_t s = todo[i];
      if (i + PF_AHEAD < m) prefetch_vec(ix, qc, todo[i + PF_AHEAD]);
      float d = tdist(ix, qc, s);
      if (d < qv__topk_worst(&res)) {
        cand_push(mem, sc, &nc, d, s);
        if (qualifies(ix, qc, s)) qv__topk_push(&res, d, s);
      }
    }
  }
  return res.n;
}

/* ------------------------------------------------------------------ neighbour selection */

static int hit_cmp(const void *a, const void *b) { return qv__hit_cmp(a, b); }

/*
 * The heuristic of the paper's Algorithm 4 over c[0..n) (distance to the base node, id):
 * sorts c, then keeps a candidate only if it is closer to the base than to every candidate
 * already kept, up to m. Kept entries are moved to the front of c; returns their number.
 */
static size_t select_heuristic(const qv_index *ix, qv_hit *c, size_t n, size_t m) {
  qsort(c, n, sizeof *c, hit_cmp);
  if (n <= m) return n;
  size_t kept = 0;
  for (size_t i = 0; i < n && kept < m; i++) {
    const float *v = vec_of(ix, c[i].slot);
    int good = 1;
    for (size_t j = 0; j < kept; j++) {
      if (dist_exact(ix, v, vec_of(ix, c[j].slot)) < c[i].dist) {
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
    const float *vs = vec_of(ix, s);
    qv_hit *c = sc->sel;
    for (uint32_t i = 0; i < n; i++) {
      c[i].slot = l[i + 1];
      c[i].dist = dist_exact(ix, vs, vec_of(ix, l[i + 1]));
    }
    c[n].slot = t;
    c[n].dist = dist_exact(ix, vs, vec_of(ix, t));
    size_t k = select_heuristic(ix, c, n + 1, mx);
    for (size_t i = 0; i < k; i++) l[i + 1] = c[i].slot;
    l[0] = (uint32_t)k;
  }
out:
  node_unlock(ix, s);
}

/* ------------------------------------------------------------------ insertion */

/* Insert node x (vector already written, lists empty, state set) into the graph. */
static void insert_node(qv_index *ix, scratch *sc, uint32_t x) {
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

  qctx qc = {vec_of(ix, x), NULL, NULL, NULL, x, 1};
  if (ix->sq8 && ix->build_codes) { /* traverse on codes; select on exact distances */
    hnsw_sq8_prepare(&ix->q8, qc.q, sc->qprep);
    qc.qprep = sc->qprep;
  }
  uint32_t cur = ep;
  float dcur = tdist(ix, &qc, cur);
  for (int lev = maxl; lev > lx; lev--) greedy_level(ix, &qc, sc, lev, &cur, &dcur);
  for (int lev = lx < maxl ? lx : maxl; lev >= 0; lev--) {
    size_t n = search_level(ix, &qc, sc, cur, dcur, ix->efc, lev);
    if (!n) continue;
    qv_hit *c = sc->sel;
    memcpy(c, sc->res, n * sizeof *c);
    if (qc.qprep)
      for (size_t i = 0; i < n; i++) c[i].dist = dist_exact(ix, qc.q, vec_of(ix, c[i].slot));
    size_t k = select_heuristic(ix, c, n, ix->M); /* sorted: c[0] is the closest */
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

/* ------------------------------------------------------------------ storage growth */

static void write_vector(qv_index *ix, uint32_t s, const float *v) {
  memcpy(ix->vbase + (size_t)s * ix->vstride, v, (size_t)ix->dim * sizeof(float));
  if (ix->sq8) hnsw_sq8_encode(&ix->q8, v, (unsigned char *)ix->l0 + (size_t)s * ix->bsz + ix->code_off);
}

/* Grown node arrays, built from an index but not yet installed in it. */
typedef struct grown {
  size_t nc;
  int arenas;
  unsigned char *l0, *vecs;
  void *l0_raw, *vecs_raw;
  uint8_t *state, *level;
  uint32_t **up;
  atomic_uchar *locks;
} grown;

static void grown_free(const qv_mem *mem, grown *g) {
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
static qv_status grow_build(const qv_index *ix, uint32_t need, int exact, int arenas, grown *g) {
  memset(g, 0, sizeof *g);
  if (need <= ix->cap) return QV_OK;
  /* 1.5x growth for trickling adds; a big batch gets exactly what it needs */
  size_t nc = exact ? need : ix->cap ? (size_t)ix->cap + ix->cap / 2 : 1024;
  if (nc < need) nc = need;
  if (nc > (size_t)UINT32_MAX) nc = UINT32_MAX;
  if (nc > SIZE_MAX / ix->bsz || nc > SIZE_MAX / ix->vstride) return QV_NOMEM;
  g->arenas = arenas;
  if (arenas) {
    g->l0 = arena_alloc(ix->mem, nc * ix->bsz, &g->l0_raw);
    if (ix->sq8) g->vecs = arena_alloc(ix->mem, nc * ix->vstride, &g->vecs_raw);
  }
  g->state = qv__calloc(ix->mem, nc, 1);
  g->level = qv__calloc(ix->mem, nc, 1);
  g->up = qv__calloc(ix->mem, nc, sizeof *g->up);
  g->locks = qv__calloc(ix->mem, nc, sizeof *g->locks);
  if ((arenas && (!g->l0 || (ix->sq8 && !g->vecs))) || !g->state || !g->level || !g->up || !g->locks) {
    grown_free(ix->mem, g);
    return QV_NOMEM;
  }
  size_t old = ix->cap;
  if (old && arenas) {
    memcpy(g->l0, ix->l0, old * ix->bsz);
    if (ix->sq8) memcpy(g->vecs, ix->vecs, old * ix->vstride);
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
static void grow_install(qv_index *ix, grown *g) {
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
    ix->vbase = ix->sq8 ? g->vecs : g->l0 + ix->code_off;
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

/* Make room for slots [0, need). */
static qv_status grow(qv_index *ix, uint32_t need, int exact, int arenas) {
  grown g;
  qv_status rc = grow_build(ix, need, exact, arenas, &g);
  if (rc == QV_OK) grow_install(ix, &g);
  return rc;
}

/* ------------------------------------------------------------------ create / destroy */

static void geometry(qv_index *ix) {
  size_t links = (size_t)(ix->M0 + 1) * sizeof(uint32_t);
  if (ix->sq8) {
    ix->code_off = links;
    ix->bsz = align64(links + ix->q8.code_bytes);
    ix->vstride = align64((size_t)ix->dim * sizeof(float));
  } else {
    ix->code_off = align64(links); /* the float vector starts on a cache line */
    ix->bsz = align64(ix->code_off + (size_t)ix->dim * sizeof(float));
    ix->vstride = ix->bsz;
  }
}

static qv_status hnsw_new(const qv_index_params *p, uint32_t m, int sq8, qv_index **out) {
  *out = NULL;
  if (!p || !p->mem || p->dim == 0 || p->dim > (1u << 20)) return QV_INVALID;
  if (m < 2 || m > MAX_M / 2) return QV_INVALID;
  if (p->metric != QV_METRIC_L2 && p->metric != QV_METRIC_IP && p->metric != QV_METRIC_COSINE &&
      p->metric != QV_METRIC_L1)
    return QV_INVALID;
  qv_index *ix = qv__calloc(p->mem, 1, sizeof *ix);
  if (!ix) return QV_NOMEM;
  ix->p = *p;
  ix->mem = p->mem;
  ix->kern = qv__kernels();
  ix->dim = p->dim;
  ix->M = m;
  ix->M0 = 2 * m;
  ix->efc = p->ef_construction ? p->ef_construction : 200;
  ix->efs = p->ef_search ? p->ef_search : 64;
  ix->mult = 1.0 / log((double)m);
  ix->max_level = -1;
  ix->seed = 0x5eed0f9a11c0ffeeull;
  switch (p->metric) {
  case QV_METRIC_L2: ix->dfn = ix->kern->l2sq; break;
  case QV_METRIC_L1: ix->dfn = ix->kern->l1; break;
  default: ix->dfn = ix->kern->dot; ix->one_minus = 1; break;
  }
  ix->sq8 = sq8 && p->metric != QV_METRIC_L1 ? sq8 : 0;
  {
    const char *e = getenv("QV_HNSW_BUILD_SQ8");
    ix->build_codes = e && *e ? atoi(e) != 0 : 1;
  }
  if (ix->sq8 && hnsw_sq8_init(&ix->q8, p->mem, p->metric, p->dim, (uint32_t)sq8) != 0) {
    qv__free(p->mem, ix);
    return QV_NOMEM;
  }
  geometry(ix);
  pthread_mutex_init(&ix->glock, NULL);
  pthread_mutex_init(&ix->pool_lock, NULL);
  *out = ix;
  return QV_OK;
}

/* Code width of the traversal copy: 0 (float traversal) or 8 bits. QV_HNSW_SQ8=0/8 overrides. */
static int sq8_wanted(void) {
  const char *e = getenv("QV_HNSW_SQ8");
  int v = e && *e ? atoi(e) : HNSW_SQ8_DEFAULT;
  return v ? 8 : 0;
}

static qv_status hnsw_create(const qv_index_params *p, qv_index **out) {
  if (!out) return QV_INVALID;
  return hnsw_new(p, p ? (p->m ? p->m : 16) : 16, sq8_wanted(), out);
}

static void hnsw_destroy(qv_index *ix) {
  if (!ix) return;
  const qv_mem *mem = ix->mem;
  for (uint32_t s = 0; s < ix->cap; s++) qv__free(mem, ix->up[s]);
  qv__free(mem, ix->l0_raw);
  qv__free(mem, ix->vecs_raw);
  qv__free_aligned(mem, ix->adopted);
  qv__free(mem, ix->state);
  qv__free(mem, ix->level);
  qv__free(mem, ix->up);
  qv__free(mem, (void *)(uintptr_t)ix->locks);
  while (ix->pool) {
    scratch *n = ix->pool->next;
    scratch_free(mem, ix->pool);
    ix->pool = n;
  }
  hnsw_sq8_free(&ix->q8, mem);
  pthread_mutex_destroy(&ix->glock);
  pthread_mutex_destroy(&ix->pool_lock);
  qv__free(mem, ix);
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
static void detach_node(qv_index *ix, uint32_t x) {
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
      const float *vn = vec_of(ix, n);
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
        float d = dist_exact(ix, vn, vec_of(ix, c));
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
    insert_node(j->ix, wa->sc, j->order[i]);
  }
  return NULL;
}

/* Insert order[0..n) with up to nt threads (the calling thread is one of them). */
static void insert_all(qv_index *ix, scratch **sc, int nt, const uint32_t *order, size_t n) {
  size_t i0 = 0;
  if (ix->max_level < 0 && n) insert_node(ix, sc[0], order[i0++]);
  build_job job = {ix, order + i0, n - i0, 0};
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
  if ((rc = grow(ix, maxs + 1, 0, 1)) != QV_OK) return rc;
  if (hidden && !ix->n_hidden) { /* searches keep entering the graph they know */
    ix->ep_pub = ix->ep;
    ix->max_level_pub = ix->max_level;
  }
  rc = QV_NOMEM;
  order = qv__malloc(ix->mem, n * sizeof *order);
  seen = qv__calloc(ix->mem, (size_t)maxs + 1, 1);
  fresh_up = qv__calloc(ix->mem, n, sizeof *fresh_up);
  if (!order || !seen || !fresh_up) goto cleanup;
  for (int t = 0; t < nt; t++)
    if (!(sc[t] = scratch_get(ix, ix->efc))) goto cleanup;
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
  if (ix->sq8 && train && hnsw_sq8_maybe_train(&ix->q8, train, n_train, ix->n_live + ix->n_dead + ix->n_hidden)) {
    /* the quantizer was (re)trained on this batch: re-encode what is already stored */
    for (uint32_t s = 0; s < ix->n_hw; s++)
      if (ix->state[s] != ST_EMPTY)
        hnsw_sq8_encode(&ix->q8, vec_of(ix, s), ix->l0 + (size_t)s * ix->bsz + ix->code_off);
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
      detach_node(ix, s);
      if (ix->state[s] == ST_DEAD) ix->n_dead--;
      else if (ix->state[s] == ST_LIVE) ix->n_live--;
      else ix->n_hidden--;
    }
    links0(ix, s)[0] = 0;
    for (int lev = 1; lev <= ix->level[s]; lev++) links_at(ix, s, lev)[0] = 0;
    write_vector(ix, s, v);
    ix->state[s] = hidden ? ST_HIDDEN : ST_LIVE;
    ix->n_live += !hidden;
    ix->n_hidden += hidden;
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
  }
  insert_all(ix, sc, nt, order, m);
  rc = QV_OK;
cleanup:
  for (int t = 0; t < nt; t++)
    if (sc[t]) scratch_put(ix, sc[t]);
  if (fresh_up)
    for (size_t i = 0; i < n; i++) qv__free(ix->mem, fresh_up[i]);
  qv__free(ix->mem, fresh_up);
  qv__free(ix->mem, seen);
  qv__free(ix->mem, order);
  return rc;
}

static qv_status hnsw_add(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n) {
  return add_impl(ix, slots, vecs, n, 0, vecs, n);
}

static qv_status hnsw_add_hidden(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n,
                                 const float *train, size_t n_train) {
  return add_impl(ix, slots, vecs, n, 1, train, n_train);
}

static void hnsw_publish(qv_index *ix, const uint32_t *slots, size_t n) {
  for (size_t i = 0; ix && i < n; i++)
    if (slots[i] < ix->cap && ix->state[slots[i]] == ST_HIDDEN) {
      ix->state[slots[i]] = ST_LIVE;
      ix->n_live++;
      ix->n_hidden--;
    }
}

static qv_status hnsw_remove(qv_index *ix, uint32_t slot) {
  if (!ix) return QV_INVALID;
  if (slot >= ix->cap || ix->state[slot] != ST_LIVE) return QV_NOTFOUND;
  ix->state[slot] = ST_DEAD;
  ix->n_live--;
  ix->n_dead++;
  return QV_OK;
}

static const float *hnsw_vector(const qv_index *ix, uint32_t slot) {
  if (!ix || slot >= ix->cap || ix->state[slot] != ST_LIVE) return NULL;
  return vec_of(ix, slot);
}

/* ------------------------------------------------------------------ search */

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
  for (int lev = top; lev > 0; lev--) greedy_level(ix, &qc, sc, lev, &cur, &dcur);
  size_t n = search_level(ix, &qc, sc, cur, dcur, ef, 0);
  const qv_hit *r = sc->res;
  /* the k best of the ef found (with SQ8, re-ranked on exact distances), then sorted: a
   * bounded heap costs about one comparison per candidate, a sort of all ef ~log2(ef) */
  qv_topk best;
  qv__topk_init(&best, out, k);
  for (size_t i = 0; i < n; i++) {
    float d = r[i].dist;
    if (ix->sq8) {
      if (i + 1 < n) __builtin_prefetch(vec_of(ix, r[i + 1].slot), 0, 3);
      d = dist_exact(ix, q, vec_of(ix, r[i].slot));
    }
    if (d <= qv__topk_worst(&best)) qv__topk_push(&best, d, r[i].slot);
  }
  *n_out = qv__topk_finish(&best);
  return QV_OK;
}

static qv_status hnsw_search(const qv_index *ix, const qv_search_req *req, qv_hit *out, size_t *n_out) {
  if (!n_out) return QV_INVALID;
  *n_out = 0;
  if (!ix || !req || !req->q || !out || req->k == 0) return QV_INVALID;
  if (ix->max_level < 0 || ix->n_live == 0) return QV_OK;
  size_t ef = req->ef ? req->ef : ix->efs;
  if (ef < req->k) ef = req->k;
  qv_index *mix = (qv_index *)(uintptr_t)ix; /* the scratch pool is internally locked */
  scratch *sc = scratch_get(mix, ef);
  if (!sc) return QV_NOMEM;
  qv_status rc = search_one(ix, sc, req->q, req->k, ef, req->pred, req->pred_ctx, out, n_out);
  scratch_put(mix, sc);
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
} batch_job;

static void *batch_worker(void *arg) {
  batch_job *j = arg;
  qv_index *mix = (qv_index *)(uintptr_t)j->ix;
  scratch *sc = scratch_get(mix, j->ef);
  if (!sc) {
    atomic_store(&j->failed, 1);
    return NULL;
  }
  for (;;) {
    size_t i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (i >= j->nq) break;
    search_one(j->ix, sc, j->qs + i * j->ix->dim, j->k, j->ef, NULL, NULL, j->out + i * j->k,
               &j->n_out[i]);
  }
  scratch_put(mix, sc);
  return NULL;
}

static qv_status hnsw_search_batch(const qv_index *ix, const float *qs, size_t nq, size_t k,
                                   uint32_t ef, int n_threads, qv_hit *out, size_t *n_out) {
  if (!ix || (nq && (!qs || !out || !n_out)) || k == 0) return QV_INVALID;
  for (size_t i = 0; i < nq; i++) n_out[i] = 0;
  if (!nq || ix->max_level < 0 || ix->n_live == 0) return QV_OK;
  size_t e = ef ? ef : ix->efs;
  if (e < k) e = k;
  batch_job j = {ix, qs, nq, k, e, out, n_out, 0, 0};
  atomic_init(&j.next, 0);
  atomic_init(&j.failed, 0);
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
  return atomic_load(&j.failed) && atomic_load(&j.next) < nq ? QV_NOMEM : QV_OK;
}

static qv_status hnsw_set_param(qv_index *ix, const char *name, double value) {
  if (!ix || !name) return QV_INVALID;
  if (strcmp(name, "ef_search") == 0 || strcmp(name, "ef") == 0) {
    if (!(value >= 1 && value <= 1e6) || value != floor(value)) return QV_INVALID;
    ix->efs = (uint32_t)value;
    return QV_OK;
  }
  if (strcmp(name, "ef_construction") == 0) {
    if (!(value >= 1 && value <= 1e6) || value != floor(value)) return QV_INVALID;
    ix->efc = (uint32_t)value;
    return QV_OK;
  }
  return QV_INVALID;
}

static void hnsw_stats(const qv_index *ix, qv_index_stats *out) {
  if (!out) return;
  memset(out, 0, sizeof *out);
  if (!ix) return;
  out->count = ix->n_live;
  out->n_slots = ix->n_live + ix->n_dead;
  out->n_tombstones = ix->n_dead;
  out->max_level = ix->max_level < 0 ? 0 : (uint32_t)ix->max_level;
  uint64_t links = (uint64_t)ix->cap * (ix->M0 + 1) * 4 + (uint64_t)ix->cap * (2 + sizeof(void *) + 1);
  for (uint32_t s = 0; s < ix->n_hw; s++)
    if (ix->up[s]) links += (uint64_t)ix->level[s] * (ix->M + 1) * 4;
  out->mem_graph = links;
  out->mem_vectors = (uint64_t)ix->cap * (ix->sq8 ? ix->vstride + (ix->bsz - ix->code_off)
                                                  : ix->bsz - ix->code_off);
}

/* ------------------------------------------------------------------ save / load */

typedef struct file_hdr {
  uint32_t m, m0, efc, efs;
  uint32_t n;         /* slots stored (n_hw) */
  uint32_t ep;
  int32_t max_level;
  uint32_t sq8;
  uint32_t bsz, code_off, vstride, q8_bytes;
  uint64_t up_words;  /* u32 words in the up section */
  uint64_t n_live;
} file_hdr;

_Static_assert(sizeof(file_hdr) == 64, "file_hdr is one 64-byte section");

typedef struct layout {
  size_t off_state, off_level, off_l0, off_vecs, off_q8, off_up, total;
} layout;

/* Section offsets for h; 0 on overflow. */
static int make_layout(const file_hdr *h, layout *L) {
  size_t n = h->n, t = 64;
  if (h->bsz && n > SIZE_MAX / 4 / h->bsz) return 0;
  if (h->vstride && n > SIZE_MAX / 4 / h->vstride) return 0;
  if (h->up_words > SIZE_MAX / 8) return 0;
  L->off_state = t;
  t = align64(t + n);
  L->off_level = t;
  t = align64(t + n);
  L->off_l0 = t;
  t = align64(t + n * h->bsz);
  L->off_vecs = t;
  if (h->sq8) t = align64(t + n * h->vstride);
  L->off_q8 = t;
  t = align64(t + h->q8_bytes);
  L->off_up = t;
  t += (size_t)h->up_words * 4;
  L->total = t;
  return 1;
}

static qv_status hnsw_save(const qv_index *ix, const char *path, uint64_t seq) {
  if (!ix || !path) return QV_INVALID;
  if (ix->n_hidden) return QV_MISUSE; /* a write is between add_hidden() and publish() */
  file_hdr h;
  memset(&h, 0, sizeof h);
  h.m = ix->M;
  h.m0 = ix->M0;
  h.efc = ix->efc;
  h.efs = ix->efs;
  h.n = ix->n_hw;
  h.ep = ix->ep;
  h.max_level = ix->max_level;
  h.sq8 = (uint32_t)ix->sq8;
  h.bsz = (uint32_t)ix->bsz;
  h.code_off = (uint32_t)ix->code_off;
  h.vstride = (uint32_t)ix->vstride;
  h.q8_bytes = ix->sq8 ? (uint32_t)hnsw_sq8_params_bytes(&ix->q8) : 0;
  for (uint32_t s = 0; s < ix->n_hw; s++) h.up_words += (uint64_t)ix->level[s] * (ix->M + 1);
  h.n_live = ix->n_live;
  layout L;
  if (!make_layout(&h, &L)) return QV_INVALID;

  qv_ckpt_hdr ch = {HNSW_TAG, HNSW_PAYLOAD_VERSION, ix->dim, (uint32_t)ix->p.metric, seq, L.total};
  qv_ckpt_writer w;
  qv_status rc = qv__ckpt_begin(&w, ix->mem, path, &ch);
  if (rc != QV_OK) return rc;
  static const unsigned char zeros[64];
  size_t pos = 0;
#define PAD_TO(off)                                                                                \
  do {                                                                                             \
    qv__ckpt_write(&w, zeros, (off) - pos);                                                        \
    pos = (off);                                                                                   \
  } while (0)
  qv__ckpt_write(&w, &h, sizeof h);
  pos = 64;
  PAD_TO(L.off_state);
  qv__ckpt_write(&w, ix->state, h.n);
  pos += h.n;
  PAD_TO(L.off_level);
  qv__ckpt_write(&w, ix->level, h.n);
  pos += h.n;
  PAD_TO(L.off_l0);
  qv__ckpt_write(&w, ix->l0, (size_t)h.n * ix->bsz);
  pos += (size_t)h.n * ix->bsz;
  PAD_TO(L.off_vecs);
  if (ix->sq8) {
    qv__ckpt_write(&w, ix->vecs, (size_t)h.n * ix->vstride);
    pos += (size_t)h.n * ix->vstride;
  }
  PAD_TO(L.off_q8);
  if (ix->sq8) {
    hnsw_sq8_params_write(&ix->q8, &w);
    pos += h.q8_bytes;
  }
  PAD_TO(L.off_up);
#undef PAD_TO
  for (uint32_t s = 0; s < ix->n_hw; s++)
    if (ix->level[s]) qv__ckpt_write(&w, ix->up[s], (size_t)ix->level[s] * (ix->M + 1) * 4);
  return qv__ckpt_commit(&w);
}

static int valid_list(const qv_index *ix, const uint32_t *l, uint32_t mx, uint32_t self, int lev) {
  if (l[0] > mx) return 0;
  for (uint32_t i = 0; i < l[0]; i++) {
    uint32_t t = l[i + 1];
    if (t >= ix->n_hw || t == self || ix->state[t] == ST_EMPTY || ix->level[t] < lev) return 0;
  }
  return 1;
}

/* Validate the loaded node arrays (l0 already copied in) and take over the upper links. */
static qv_status load_nodes(qv_index *ix, const file_hdr *h, const layout *L, unsigned char *pl) {
  uint32_t n = h->n;
  memcpy(ix->state, pl + L->off_state, n);
  memcpy(ix->level, pl + L->off_level, n);
  ix->n_hw = n;
  const uint32_t *up = (const uint32_t *)(const void *)(pl + L->off_up);
  uint64_t used = 0, live = 0, dead = 0;
  for (uint32_t s = 0; s < n; s++) {
    uint8_t st = ix->state[s], lv = ix->level[s];
    if (st > ST_DEAD || lv > MAX_LEVEL || (int)lv > h->max_level) return QV_CORRUPT;
    if (st == ST_EMPTY && lv) return QV_CORRUPT;
    live += st == ST_LIVE;
    dead += st == ST_DEAD;
    if (!lv) continue;
    size_t words = (size_t)lv * (ix->M + 1);
    if (used + words > h->up_words) return QV_CORRUPT;
    ix->up[s] = qv__malloc(ix->mem, words * 4);
    if (!ix->up[s]) return QV_NOMEM;
    memcpy(ix->up[s], up + used, words * 4);
    used += words;
  }
  if (used != h->up_words || live != h->n_live) return QV_CORRUPT;
  ix->n_live = live;
  ix->n_dead = dead;
  for (uint32_t s = 0; s < n; s++) {
    if (ix->state[s] == ST_EMPTY) {
      if (links0(ix, s)[0]) return QV_CORRUPT;
      continue;
    }
    for (int lev = 0; lev <= ix->level[s]; lev++)
      if (!valid_list(ix, links_at(ix, s, lev), max_links(ix, lev), s, lev)) return QV_CORRUPT;
  }
  if (live + dead == 0) {
    if (h->max_level != -1) return QV_CORRUPT;
  } else if (h->ep >= n || ix->state[h->ep] == ST_EMPTY || (int)ix->level[h->ep] != h->max_level) {
    return QV_CORRUPT;
  }
  ix->ep = h->ep;
  ix->max_level = h->max_level;
  return QV_OK;
}

static qv_status hnsw_load(const qv_index_params *p, const char *path, qv_index **out, uint64_t *seq) {
  if (!out) return QV_INVALID;
  *out = NULL;
  if (!p || !path) return QV_INVALID;
  qv_ckpt_hdr want = {HNSW_TAG, HNSW_PAYLOAD_VERSION, p->dim, (uint32_t)p->metric, 0, 0}, got;
  void *payload = NULL;
  qv_index *ix = NULL;
  qv_status rc = qv__ckpt_read(p->mem, path, &want, &got, &payload);
  if (rc != QV_OK) return rc;
  unsigned char *pl = payload;
  file_hdr h;
  layout L;
  rc = QV_CORRUPT;
  if (got.payload_version != HNSW_PAYLOAD_VERSION || got.payload_len < 64) goto fail;
  memcpy(&h, pl, sizeof h);
  if (h.m < 2 || h.m > MAX_M / 2 || h.m0 != 2 * h.m || h.n > (1u << 31) || (h.sq8 != 0 && h.sq8 != 8) ||
      h.max_level < -1 || h.max_level > MAX_LEVEL || (p->m && p->m != h.m))
    goto fail;
  if (!make_layout(&h, &L) || L.total != got.payload_len) goto fail;
  rc = hnsw_new(p, h.m, (int)h.sq8, &ix);
  if (rc != QV_OK) goto fail;
  rc = QV_CORRUPT;
  if ((uint32_t)ix->sq8 != h.sq8 || ix->bsz != h.bsz || ix->code_off != h.code_off ||
      ix->vstride != h.vstride)
    goto fail;
  if (h.sq8 && hnsw_sq8_params_read(&ix->q8, pl + L.off_q8, h.q8_bytes) != 0) goto fail;
  if (h.efc) ix->efc = h.efc;
  if (h.n == 0) {
    if (h.max_level != -1) goto fail;
    qv__free_aligned(p->mem, payload);
    payload = NULL;
  } else {
    /* per-node arrays of exactly n slots; the block arrays stay where they were read */
    rc = grow(ix, h.n, 1, 0);
    if (rc != QV_OK) goto fail;
    ix->l0 = pl + L.off_l0;
    ix->vecs = h.sq8 ? pl + L.off_vecs : NULL;
    ix->vbase = ix->sq8 ? ix->vecs : ix->l0 + ix->code_off;
    ix->adopted = payload;
    payload = NULL;
    rc = load_nodes(ix, &h, &L, pl);
    if (rc != QV_OK) goto fail;
    collapse_huge(ix->l0, (size_t)h.n * ix->bsz);
  }
  if (seq) *seq = got.seq;
  *out = ix;
  return QV_OK;
fail:
  hnsw_destroy(ix);
  qv__free_aligned(p->mem, payload);
  return rc;
}

/*
 * Grow the node arrays before the collection commits a batch, so that add() can then only
 * fail on its small per-call scratch allocations.
 */
static qv_status hnsw_reserve(qv_index *ix, size_t n_slots) {
  if (n_slots > UINT32_MAX) return QV_NOMEM;
  return grow(ix, (uint32_t)n_slots, 0, 1);
}

/* reserve() in two steps: the copy into bigger arrays runs while searches go on. */
static qv_status hnsw_reserve_build(const qv_index *ix, size_t n_slots, void **staged) {
  *staged = NULL;
  if (n_slots > UINT32_MAX) return QV_NOMEM;
  grown g;
  qv_status rc = grow_build(ix, (uint32_t)n_slots, 0, 1, &g);
  if (rc || !g.nc) return rc;
  grown *h = qv__malloc(ix->mem, sizeof *h);
  if (!h) {
    grown_free(ix->mem, &g);
    return QV_NOMEM;
  }
  *h = g;
  *staged = h;
  return QV_OK;
}

static void hnsw_reserve_install(qv_index *ix, void *staged) {
  if (!staged) return;
  grow_install(ix, staged);
  qv__free(ix->mem, staged);
}

static void hnsw_reserve_drop(const qv_index *ix, void *staged) {
  if (!staged) return;
  grown_free(ix->mem, staged);
  qv__free(ix->mem, staged);
}

const qv_index_vt qv__index_hnsw = {
    "hnsw",         hnsw_create,       hnsw_destroy,   hnsw_add,  hnsw_remove, hnsw_vector,
    hnsw_search,    hnsw_search_batch, hnsw_set_param, hnsw_save, hnsw_load,   hnsw_stats,
    hnsw_reserve,   hnsw_add_hidden,   hnsw_publish,   hnsw_reserve_build, hnsw_reserve_install,
    hnsw_reserve_drop, qv__hnsw_range_search,
};
