/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/hnsw/hnsw_int.h -- the HNSW index's private structures and the helpers its files share
 * (hnsw.c documents layout, search, selection, locking and the file format). Files:
 *   hnsw.c    the vtable, create / destroy / set_param / stats
 *   graph.c   node arenas and their growth, per-search scratch
 *   search.c  searching one level (also used by insertion), search / batch search
 *   build.c   neighbour selection, insertion, add / remove / hidden / publish, reserve
 *   io.c      save / load
 */
#ifndef QV_HNSW_INT_H
#define QV_HNSW_INT_H

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "dist.h"
#include "sq8.h"
#include "index.h"

static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

#define HNSW_TAG 0x57534e48u /* "HNSW" little-endian */
#define HNSW_PAYLOAD_VERSION 2u /* 2: with sq8 traversal codes, the file keeps no float copy of
                                    live nodes (they come from the vector source); 1 is still read */
#define HNSW_PAYLOAD_LEAN 3u /* 3: keep_floats false: no float rows at all, not even for
                                tombstones (header vstride 0); written only by a lean index */
#define HNSW_HDR_EXACT 0x100u /* io.c: file_hdr.sq8 flag, the index's codes are lossless (ix->exact) */
#define HNSW_MAP_VERSION 1u /* mapped.c: the graph laid out for a snapshot file, searched in place */
#define MAX_LEVEL 16
#ifndef HNSW_KEEP_FLOATS_DEFAULT
#define HNSW_KEEP_FLOATS_DEFAULT 0 /* parameter keep_floats (hnsw.c): persistent collections keep no float
                                      rows by default (docs/QUANTIZATION.md, "HNSW without resident floats") */
#endif
#define HNSW_RERANK_MIN 32 /* fewest candidates re-ranked exactly in sq8 mode (search.c) */
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
  uint8_t *done; /* search_pool: res[i] was expanded (rcap) */
  size_t rcap;
  uint32_t *ids; /* neighbour list copy / unvisited ids, MAX(M0,M)+1 */
  qv_hit *sel;   /* neighbour selection buffer */
  size_t selcap;
  void *qprep; /* prepared query for sq8 */
  float *dec;  /* lean (no float rows): (M0 + 1) * dim floats, decoded codes for neighbour
                  selection and the vector-source rows of the exact re-rank */
  struct scratch *next;
  int dropped;  /* a candidate was dropped (the heap could not grow): a search must not answer */
} scratch;

struct qv_index {
  qv_index_params p;
  const qv_mem *mem;
  const qv_kernels *kern;
  qv_dist_fn dfn; /* l2sq, dot or l1 */
  int one_minus;  /* ip / cosine: distance = 1 - dot */
  uint32_t dim, M, M0, efc, efs;
  double mult;
  int sq8;         /* bits of the traversal codes: 0 (float traversal), 8 or 4 */
  int build_codes; /* codes: construction searches traverse on codes too (parameter build_on_codes) */
  size_t rerank;   /* codes: exact re-rank of the rerank*k best by code distance (0: all ef; parameter rerank) */
  int exact;       /* codes lossless: every node added since the index was created decoded
                      to its vector bit for bit (sq8.c: hnsw_sq8_exact); cleared for good by
                      the first that does not, kept in the checkpoint header (io.c). Then the
                      re-rank decodes codes instead of reading floats, and ef has no 1.5 k floor
                      (search.c) */
  int lean;        /* no float rows (parameter keep_floats false, codes, a vector source):
                      selection on codes, the re-rank through p.vsrc, vector() NULL */
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
  /* mapped.c: attached to a snapshot's read-only mapping. state, level, l0 and vecs point
   * into it (never written, never freed), up is NULL and the upper lists are read through
   * map_upidx / map_up; read_links() and links_at() check what they read (untrusted bytes). */
  int mapped;
  const uint32_t *map_upidx, *map_up;
  uint64_t map_up_words;
};


/* ------------------------------------------------------------------ small helpers */

static inline uint32_t *links0(const qv_index *ix, uint32_t s) {
  return (uint32_t *)(void *)(ix->l0 + (size_t)s * ix->bsz);
}
static const uint32_t hnsw_no_links[1]; /* an empty list */
/* A mapped node's lists at lev >= 1: an empty list if s has no such level or the file's offset
 * would leave the up section. */
static inline uint32_t *map_up_links(const qv_index *ix, uint32_t s, int lev) {
  uint64_t o = (uint64_t)ix->map_upidx[s] + (uint64_t)(lev - 1) * (ix->M + 1);
  if (lev > ix->level[s] || o + ix->M + 1 > ix->map_up_words) return (uint32_t *)(uintptr_t)hnsw_no_links;
  return (uint32_t *)(uintptr_t)(ix->map_up + o);
}
static inline uint32_t *links_at(const qv_index *ix, uint32_t s, int lev) {
  if (lev == 0) return links0(ix, s);
  return ix->mapped ? map_up_links(ix, s, lev) : ix->up[s] + (size_t)(lev - 1) * (ix->M + 1);
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

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

static inline int draw_level(const qv_index *ix, uint32_t slot) {
  uint64_t h = mix64(ix->seed ^ mix64((uint64_t)slot + 0x9e3779b97f4a7c15ull));
  double u = ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0); /* (0,1) */
  double l = -log(u) * ix->mult;
  return l >= MAX_LEVEL ? MAX_LEVEL : (int)l;
}



#define HUGE_PAGE ((size_t)2 << 20)

static inline void visit_begin(scratch *sc) {
  if (++sc->epoch == 0) {
    memset(sc->visited, 0, sc->vcap * sizeof *sc->visited);
    sc->epoch = 1;
  }
}

/* ------------------------------------------------------------------ what a search compares against */

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

/*
 * s's vector for neighbour selection: its float row, or in a lean index its code decoded
 * into buf (dim floats).
 */
static inline const float *sel_vec(const qv_index *ix, uint32_t s, float *buf) {
  if (!ix->lean) return vec_of(ix, s);
  hnsw_sq8_decode(&ix->q8, code_of(ix, s), buf);
  return buf;
}

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
  /* every line the bytes touch (code blocks are 16-byte aligned); the hardware prefetcher
   * follows past 1 KiB */
  uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, e = (uintptr_t)p + (n > 1024 ? 1024 : n);
  for (; a < e; a += 64) __builtin_prefetch((const void *)a, 0, 3);
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
  if (ix->mapped) { /* untrusted bytes: at most max_links ids, each a node that has level lev */
    uint32_t n = l[0] < max_links(ix, lev) ? l[0] : max_links(ix, lev), k = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t t = l[i + 1];
      if (t < ix->n_hw && ix->level[t] >= lev) buf[k++] = t;
    }
    *out = buf;
    return k;
  }
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

/* graph.c */
QV_INTERNAL void *hnsw_arena_alloc(const qv_mem *mem, size_t n, void **raw);
QV_INTERNAL void hnsw_collapse_huge(void *p, size_t n);
QV_INTERNAL void hnsw_scratch_free(const qv_mem *mem, scratch *sc);
QV_INTERNAL scratch *hnsw_scratch_get(qv_index *ix, size_t ef);
QV_INTERNAL void hnsw_scratch_put(qv_index *ix, scratch *sc);
QV_INTERNAL void hnsw_write_vector(qv_index *ix, uint32_t s, const float *v);
QV_INTERNAL void hnsw_grown_free(const qv_mem *mem, grown *g);
QV_INTERNAL qv_status hnsw_row(const qv_index *ix, uint32_t s, float *out);
QV_INTERNAL qv_status hnsw_grow_build(const qv_index *ix, uint32_t need, int exact, int arenas, grown *g);
QV_INTERNAL void hnsw_grow_install(qv_index *ix, grown *g);
QV_INTERNAL qv_status hnsw_grow(qv_index *ix, uint32_t need, int exact, int arenas);

/* search.c */
QV_INTERNAL void hnsw_greedy_level(const qv_index *ix, const qctx *qc, scratch *sc, int lev, uint32_t *cur,
                                   float *dcur);
QV_INTERNAL size_t hnsw_search_level(const qv_index *ix, const qctx *qc, scratch *sc, uint32_t entry,
                                     float dentry, size_t ef, int lev);
QV_INTERNAL qv_status hnsw_search(const qv_index *ix, const qv_search_req *req, qv_hit *out, size_t *n_out);
QV_INTERNAL qv_status hnsw_search_batch(const qv_index *ix, const float *qs, size_t nq, size_t k,
                                        uint32_t ef, int n_threads, qv_hit *out, size_t *n_out);

/* build.c */
QV_INTERNAL qv_status hnsw_add(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n);
QV_INTERNAL qv_status hnsw_add_hidden(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n,
                                      const float *train, size_t n_train);
QV_INTERNAL void hnsw_publish(qv_index *ix, const uint32_t *slots, size_t n);
QV_INTERNAL qv_status hnsw_remove(qv_index *ix, uint32_t slot);
QV_INTERNAL const float *hnsw_vector(const qv_index *ix, uint32_t slot);
QV_INTERNAL int hnsw_contains(const qv_index *ix, uint32_t slot);
QV_INTERNAL qv_status hnsw_reserve(qv_index *ix, size_t n_slots);
QV_INTERNAL qv_status hnsw_reserve_build(const qv_index *ix, size_t n_slots, void **staged);
QV_INTERNAL void hnsw_reserve_install(qv_index *ix, void *staged);
QV_INTERNAL void hnsw_reserve_drop(const qv_index *ix, void *staged);

/* io.c */
QV_INTERNAL qv_status hnsw_save(const qv_index *ix, const char *path, uint64_t seq);
QV_INTERNAL qv_status hnsw_save_standalone(const qv_index *ix, const char *path, uint64_t seq);
QV_INTERNAL qv_status hnsw_load(const qv_index_params *p, const char *path, qv_index **out, uint64_t *seq);

/* mapped.c */
QV_INTERNAL qv_status hnsw_serialize(const qv_index *ix, void (*put)(void *ctx, const void *p, size_t n), void *ctx,
                                     uint32_t *payload_version);
QV_INTERNAL qv_status hnsw_open_mapped(const qv_index_params *p, uint32_t payload_version, const void *payload,
                                       uint64_t len, qv_index **out);

/* hnsw.c */
QV_INTERNAL qv_status hnsw_new(const qv_index_params *p, uint32_t m, int sq8, qv_index **out);
/* The kind's parameters from p->params_json, in the order of hnsw.c's table. */
enum { P_M, P_EFC, P_EFS, P_QUANT, P_RERANK, P_BUILD_CODES, P_KEEP_FLOATS };
/*
 * Code width of the quantizer parameter's choice (none, sq8, sq4, auto): 0, 8 or 4 bits. auto
 * (the default) is 8 bits at every dimension. 4-bit codes halve the code memory and keep
 * recall on Fashion-MNIST, but steer badly on anisotropic data -- Fashion-MNIST's first 100
 * principal axes (0.80 recall@10 at ef 80) and a 256-d gaussian mixture with uneven
 * per-dimension spread (0.84 at ef 80, where 8-bit codes reach 1.0): bench/RESULTS.md
 * section 19. So sq4 is opt-in until the width can be chosen from the data itself.
 */
static inline int hnsw_quant_bits(double choice, uint32_t dim) {
  (void)dim;
  if (choice == 3) return 8;
  return choice == 1 ? 8 : choice == 2 ? 4 : 0;
}
static inline size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }
QV_INTERNAL qv_status hnsw_resolve(const qv_index_params *p, double *v);
QV_INTERNAL void hnsw_destroy(qv_index *ix);

#endif /* QV_HNSW_INT_H */
