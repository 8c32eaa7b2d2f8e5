/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/rpforest/rpforest.c -- a random-projection forest ("rpforest"), Annoy's algorithm.
 *
 * Trees. Each of n_trees trees splits the records recursively by hyperplanes until a leaf
 * holds at most leaf_k records (Annoy's rule by default: dim + 2). A split is chosen as Annoy
 * does: two records sampled at random seed an online two-means over 200 sampled records
 * (squared euclidean), and the hyperplane is the perpendicular bisector of the two means
 * (unit normal v, offset a = -v.(p+q)/2). A split leaving more than 95% on one side is tried
 * again (3 attempts); after that the node is a "random" split (no plane: records go left or
 * right by a hash of their slot, queries descend both sides). Hamming collections split on
 * one bit (a record goes right when the bit is set), chosen among 20 random bits.
 *
 * Search (Annoy's): one priority queue over all trees, seeded with every root at +inf; a
 * node pushes its children with priority min(p, margin) and min(p, -margin) (hamming: p and
 * p - 1); leaves are drained until search_k candidates were seen (duplicates included, 0 =
 * n_trees * k). The unique candidates are ranked by their exact distance in the metric
 * (l2, ip, cosine, l1: the trees are built in euclidean geometry and serve them all; ip uses
 * the raw margin, without Annoy's extra dimension) and the predicate filters them. A leaf's
 * new candidates are gathered first (bitmap or hash seen-set), then their distances computed
 * with the rows a few candidates ahead prefetched.
 *
 * Codes (parameter codes = "sq8", the default for l2, ip and cosine): each row also has an
 * 8-bit scalar code (quant/sq8.h: per-dimension range, dim + 4 bytes, the range widened while
 * the index is small and every code re-made then). A leaf's candidates are scored on their
 * codes (a quarter of the bytes of a float row, integer dot products), the rerank * k best
 * (at least RP_RERANK_MIN) are kept and re-ranked on the floats at the end, so the answers'
 * distances are exact. rerank = 0 scores on the floats (as does codes = "none").
 *
 * Live writes. add() of a batch at least as large as the index rebuilds every tree top-down
 * over all records (on n_threads threads, one tree at a time each; every tree has its own
 * random stream, so the forest does not depend on the thread count); smaller batches insert
 * each record into each tree's leaf and split a leaf that overflows (the same split code on
 * the leaf's records). remove() routes the record's vector down each tree and takes it out of
 * its leaf (routing is deterministic: margin > 0 goes right, random splits hash the slot), so
 * there are no tombstones; a replaced vector is removed and re-inserted. add() is all or
 * nothing (see rp_add), so the collection's retry of a failed write builds the same forest.
 *
 * Memory: nodes (child refs: >= 0 a node, < 0 the leaf ~ref; a; info), one plane of dim
 * floats per node, leaves (offset, count, capacity into one item pool) and the item pool.
 * A leaf that outgrows its capacity moves to the end of the pool; the pool is compacted when
 * more than half of it is abandoned. serialize() writes a compact copy (depth-first order).
 *
 * Payload (checkpoint envelope tag "RPFT", and snapshot files), little-endian, sections
 * 64-byte aligned in this order: head (128 bytes), live bitmap (u64 words), vectors
 * (n_slots rows of dim floats), roots (n_trees i32), nodes (16 bytes each), planes (n_nodes x
 * dim floats; none for hamming), leaves (16 bytes each), items (u32 slots); layout 2 only:
 * the codes' range (dim f32 lo, dim f32 hi) and the codes (n_slots x (f32 squared norm of
 * the decoded row, dim u8)). Head:
 *   0 u32 layout version (1: no codes; 2: codes)  4 u32 dim  8 u32 metric  12 u32 n_trees
 *  16 u32 leaf_k  20 u32 code bits (0 in layout 1, 8 in layout 2)  24 u64 n_slots  32 u64 count
 *  40 u64 n_nodes  48 u64 n_leaves  56 u64 n_items
 *  64..127 u64 offsets of live, vecs, roots, nodes, planes, leaves, items, and the total length.
 * Offsets are recomputed from the counts and must match (layout 2's two extra sections follow
 * the items at the next 64-byte boundaries). A forest without codes is written as layout 1,
 * so files without codes are the same as before codes existed; layout 1 is read as before. open_mapped() searches the payload
 * in place; it checks every reference it follows, so a damaged payload cannot crash it.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "dist.h"
#include "index.h"
#include "sq8.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "rpforest payloads are little-endian");

#define RP_TAG ((uint32_t)'R' | (uint32_t)'P' << 8 | (uint32_t)'F' << 16 | (uint32_t)'T' << 24)
#define RP_LAYOUT 1u  /* payload without codes (what every earlier version wrote) */
#define RP_LAYOUT2 2u /* + the 8-bit codes' range and the codes (see the head's comment) */
#define RP_RERANK_MIN 32u /* at least this many candidates re-ranked on floats (see rp_search) */
#define RP_HEAD 128u
#define RP_RANDOM UINT32_MAX /* node.info of a random split */
#define RP_TWO_MEANS_STEPS 200
#define RP_SPLIT_ATTEMPTS 3
#define RP_MAX_TREES 10000
enum { P_TREES, P_LEAF, P_SEARCH_K, P_SEED, P_CODES, P_RERANK, P_ENTRY_CAP, P_MIN_LEAVES }; /* rp_params order */

typedef struct rp_node {
  int32_t child[2]; /* >= 0: node index; < 0: ~leaf index */
  float a;          /* plane offset; random split: the hash salt */
  uint32_t info;    /* 0: plane; RP_RANDOM; hamming: the bit */
} rp_node;

typedef struct rp_leaf {
  uint32_t off, n, cap, pad;
} rp_leaf;

typedef struct rp_forest {
  int32_t *roots;
  rp_node *nodes;
  float *planes;
  rp_leaf *leaves;
  uint32_t *items;
  size_t n_nodes, nodes_cap, n_leaves, leaves_cap, n_items, items_cap, items_dead;
} rp_forest;

/* One entry of an add()'s undo log: what an existing leaf, child reference, root or item was
   before the add changed it (new nodes, leaves and items are appended, so truncating the
   counts takes them back). */
enum { RP_U_LEAF, RP_U_CHILD0, RP_U_CHILD1, RP_U_ROOT, RP_U_ITEM };
typedef struct rp_undo {
  uint32_t kind, idx;
  union {
    rp_leaf leaf;
    int32_t ref;
    uint32_t item;
  } old;
} rp_undo;

struct qv_index {
  const qv_mem *mem;
  const qv_kernels *kern;
  qv_metric metric;
  uint32_t dim;
  int n_threads;
  uint32_t n_trees, leaf_k, search_k;
  uint64_t seed, epoch; /* epoch: bumps at each rebuild so trees differ between rebuilds */
  uint64_t rng;         /* for incremental splits */
  int ro;               /* attached to a mapped payload: read-only */
  float *vecs;          /* cap rows (64-byte aligned block) */
  uint64_t *live;
  size_t cap, n_slots, count;
  rp_forest f;
  rp_undo *undo; /* the undo log of the add() in progress (NULL outside one) */
  size_t undo_n, undo_cap;
  int logging;
  /* 8-bit codes of the rows (l2, ip, cosine with codes=8): leaf candidates are scored on them
     and the best rerank*k re-ranked on the floats. codes: cap rows of q8.code_bytes (owned),
     or the mapped section; NULL without codes. */
  int sq8;
  hnsw_sq8 q8;
  unsigned char *codes;
  uint32_t rerank;
  double entry_cap;    /* the search stops at search_k distinct or entry_cap * search_k entries */
  uint32_t min_leaves; /* ... but not before it drained this many leaves */
};

/* ------------------------------------------------------------------ small helpers */

static inline size_t row_floats(const qv_index *ix) { return ix->dim; }
static inline const float *row_of(const qv_index *ix, size_t slot) { return ix->vecs + slot * ix->dim; }
static inline int is_live(const qv_index *ix, size_t s) { return (int)((ix->live[s >> 6] >> (s & 63)) & 1u); }
static inline size_t words_for(size_t bits) { return (bits + 63) / 64; }
static inline int hamming(const qv_index *ix) { return ix->metric == QV_METRIC_HAMMING; }

static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static inline uint64_t rnd(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return mix64(*s);
}

static inline size_t rnd_below(uint64_t *s, size_t n) { return (size_t)(rnd(s) % n); }

/* Bit b of a packed row, numpy's packbits order (most significant bit first). */
static inline int bit_of(const float *v, uint32_t b) {
  return (((const uint8_t *)v)[b >> 3] >> (7 - (b & 7))) & 1;
}

static inline int hash_side(uint32_t slot, size_t node, float salt) {
  return (int)(mix64(((uint64_t)slot << 32) ^ (uint64_t)node ^ ((uint64_t)(uint32_t)salt << 48)) & 1);
}

/* Which child of node ni a record (slot, v) belongs to. */
static inline int side_of(const qv_index *ix, const rp_forest *f, size_t ni, uint32_t slot, const float *v) {
  const rp_node *nd = &f->nodes[ni];
  if (nd->info == RP_RANDOM) return hash_side(slot, ni, nd->a);
  if (hamming(ix)) return bit_of(v, nd->info);
  return ix->kern->dot(f->planes + ni * ix->dim, v, ix->dim) + nd->a > 0.0f;
}

static void forest_free(const qv_mem *mem, rp_forest *f) {
  qv__free(mem, f->roots);
  qv__free(mem, f->nodes);
  qv__free_aligned(mem, f->planes);
  qv__free(mem, f->leaves);
  qv__free(mem, f->items);
  memset(f, 0, sizeof *f);
}

/* Grow *p (elements of size sz, capacity *cap) to hold need elements. */
static int grow(const qv_mem *mem, void **p, size_t *cap, size_t need, size_t sz) {
  if (need <= *cap) return 1;
  size_t c = *cap ? *cap : 16;
  while (c < need) c += c / 2 + 16;
  if (c > SIZE_MAX / sz) return 0;
  void *q = qv__realloc(mem, *p, c * sz);
  if (!q) return 0;
  *p = q;
  *cap = c;
  return 1;
}

/* New node index, its plane zeroed; -1 on NOMEM. */
static long new_node(const qv_index *ix, rp_forest *f) {
  if (f->n_nodes >= INT32_MAX) return -1;
  if (f->n_nodes == f->nodes_cap) {
    size_t cap = f->nodes_cap;
    if (!grow(ix->mem, (void **)&f->nodes, &cap, f->n_nodes + 1, sizeof *f->nodes)) return -1;
    if (!hamming(ix)) {
      float *pl = qv__malloc_aligned(ix->mem, cap * ix->dim * sizeof(float));
      if (!pl) return -1;
      if (f->planes) memcpy(pl, f->planes, f->n_nodes * ix->dim * sizeof(float));
      qv__free_aligned(ix->mem, f->planes);
      f->planes = pl;
    }
    f->nodes_cap = cap;
  }
  size_t ni = f->n_nodes++;
  memset(&f->nodes[ni], 0, sizeof f->nodes[ni]);
  if (f->planes) memset(f->planes + ni * ix->dim, 0, ix->dim * sizeof(float));
  return (long)ni;
}

/* Room for n more items at the end of the pool. */
static int items_room(const qv_index *ix, rp_forest *f, size_t n) {
  if (f->n_items + n > UINT32_MAX) return 0;
  return grow(ix->mem, (void **)&f->items, &f->items_cap, f->n_items + n, sizeof *f->items);
}

/* New leaf holding items[0..n); -1 on NOMEM. */
static long new_leaf(const qv_index *ix, rp_forest *f, const uint32_t *items, size_t n) {
  size_t cap = n + n / 4 + 2;
  if (cap > ix->leaf_k + 1) cap = ix->leaf_k + 1 > n ? ix->leaf_k + 1 : n;
  if (f->n_leaves >= INT32_MAX) return -1;
  if (!grow(ix->mem, (void **)&f->leaves, &f->leaves_cap, f->n_leaves + 1, sizeof *f->leaves)) return -1;
  if (!items_room(ix, f, cap)) return -1;
  rp_leaf *l = &f->leaves[f->n_leaves];
  l->off = (uint32_t)f->n_items;
  l->n = (uint32_t)n;
  l->cap = (uint32_t)cap;
  l->pad = 0;
  if (n) memcpy(f->items + f->n_items, items, n * sizeof *items);
  f->n_items += cap;
  return (long)f->n_leaves++;
}

/* ------------------------------------------------------------------ building */

/* Per-builder state: a random stream and scratch for two-means. */
typedef struct rp_ctx {
  const qv_index *ix;
  rp_forest *f;
  uint64_t rng;
  float *p, *q; /* dim floats each */
  uint8_t *side; /* side of each item of the subtree being split (as many as its items) */
  int failed;
} rp_ctx;

/* Annoy's two_means: online 2-means over RP_TWO_MEANS_STEPS sampled records, into c->p, c->q. */
static void two_means(rp_ctx *c, const uint32_t *items, size_t n) {
  const qv_index *ix = c->ix;
  size_t dim = ix->dim;
  size_t i = rnd_below(&c->rng, n), j = rnd_below(&c->rng, n - 1);
  j += j >= i;
  memcpy(c->p, row_of(ix, items[i]), dim * sizeof(float));
  memcpy(c->q, row_of(ix, items[j]), dim * sizeof(float));
  float ic = 1, jc = 1;
  for (int l = 0; l < RP_TWO_MEANS_STEPS; l++) {
    const float *x = row_of(ix, items[rnd_below(&c->rng, n)]);
    float di = ic * ix->kern->l2sq(c->p, x, dim), dj = jc * ix->kern->l2sq(c->q, x, dim);
    if (di < dj) {
      for (size_t z = 0; z < dim; z++) c->p[z] = (c->p[z] * ic + x[z]) / (ic + 1);
      ic++;
    } else if (dj < di) {
      for (size_t z = 0; z < dim; z++) c->q[z] = (c->q[z] * jc + x[z]) / (jc + 1);
      jc++;
    }
  }
}

/* Side of every item for node ni into c->side; returns how many go right (side 1). */
static size_t count_right(rp_ctx *c, size_t ni, const uint32_t *items, size_t n) {
  size_t r = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t sd = (uint8_t)side_of(c->ix, c->f, ni, items[i], row_of(c->ix, items[i]));
    c->side[i] = sd;
    r += sd;
  }
  return r;
}

static int balanced(size_t right, size_t n) {
  size_t big = right > n - right ? right : n - right;
  return right > 0 && right < n && (double)big <= 0.95 * (double)n;
}

/* Choose node ni's split for items (Annoy's create_split with its imbalance retries). */
static void choose_split(rp_ctx *c, size_t ni, const uint32_t *items, size_t n) {
  const qv_index *ix = c->ix;
  rp_node *nd = &c->f->nodes[ni];
  size_t dim = ix->dim;
  for (int attempt = 0; attempt < RP_SPLIT_ATTEMPTS; attempt++) {
    size_t r = 0;
    if (hamming(ix)) {
      uint32_t nbits = ix->dim * 32;
      for (int t = 0; t < 20; t++) {
        nd->info = (uint32_t)rnd_below(&c->rng, nbits);
        r = count_right(c, ni, items, n);
        if (r > 0 && r < n) break;
      }
    } else {
      float *v = c->f->planes + ni * dim;
      two_means(c, items, n);
      double nn = 0;
      for (size_t z = 0; z < dim; z++) {
        v[z] = c->p[z] - c->q[z];
        nn += (double)v[z] * v[z];
      }
      if (nn <= 0) continue;
      float inv = (float)(1.0 / sqrt(nn));
      double a = 0;
      for (size_t z = 0; z < dim; z++) {
        v[z] *= inv;
        a += (double)v[z] * ((double)c->p[z] + c->q[z]) * 0.5;
      }
      nd->info = 0;
      nd->a = (float)-a;
      r = count_right(c, ni, items, n);
    }
    if (balanced(r, n)) return;
  }
  /* random split: no plane, sides by a salted hash of the slot */
  if (c->f->planes) memset(c->f->planes + ni * dim, 0, dim * sizeof(float));
  nd->info = RP_RANDOM;
  for (uint32_t salt = 0; salt < 64; salt++) {
    nd->a = (float)salt;
    size_t r = count_right(c, ni, items, n);
    if (r > 0 && r < n) return;
  }
}

/*
 * Build a subtree over items[0..n) (reordered in place) into c->f; *ref gets its reference.
 * Returns 0 on NOMEM (c->failed set).
 */
static int make_tree(rp_ctx *c, uint32_t *items, size_t n, int32_t *ref) {
  const qv_index *ix = c->ix;
  if (n <= ix->leaf_k) {
    long li = new_leaf(ix, c->f, items, n);
    if (li < 0) return !(c->failed = 1);
    *ref = (int32_t)~li;
    return 1;
  }
  long ni = new_node(ix, c->f);
  if (ni < 0) return !(c->failed = 1);
  choose_split(c, (size_t)ni, items, n); /* leaves every item's side in c->side */
  /* partition: side 0 first */
  size_t lo = 0, hi = n;
  while (lo < hi) {
    if (c->side[lo]) {
      --hi;
      uint32_t t = items[lo];
      items[lo] = items[hi];
      items[hi] = t;
      uint8_t sd = c->side[lo];
      c->side[lo] = c->side[hi];
      c->side[hi] = sd;
    } else {
      lo++;
    }
  }
  if (lo == 0 || lo == n) { /* could not split (all records alike): one big leaf */
    c->f->n_nodes--;
    long li = new_leaf(ix, c->f, items, n);
    if (li < 0) return !(c->failed = 1);
    *ref = (int32_t)~li;
    return 1;
  }
  int32_t r0, r1;
  if (!make_tree(c, items, lo, &r0) || !make_tree(c, items + lo, n - lo, &r1)) return 0;
  c->f->nodes[ni].child[0] = r0;
  c->f->nodes[ni].child[1] = r1;
  *ref = (int32_t)ni;
  return 1;
}

/* A full rebuild on threads: each worker builds whole trees into its own forest. */
typedef struct build_job {
  const qv_index *ix;
  const uint32_t *slots;
  size_t n;
  atomic_uint next;
  rp_forest *parts;  /* one per tree */
  atomic_int failed;
  uint64_t epoch; /* of the forest being built (ix->epoch + 1) */
} build_job;

static void *build_worker(void *arg) {
  build_job *job = arg;
  const qv_index *ix = job->ix;
  rp_ctx c = {.ix = ix};
  uint32_t *work = qv__malloc(ix->mem, (job->n ? job->n : 1) * sizeof *work);
  c.p = qv__malloc(ix->mem, ix->dim * sizeof(float));
  c.q = qv__malloc(ix->mem, ix->dim * sizeof(float));
  c.side = qv__malloc(ix->mem, job->n ? job->n : 1);
  if (!work || !c.p || !c.q || !c.side) atomic_store(&job->failed, 1);
  while (!atomic_load(&job->failed)) {
    unsigned t = atomic_fetch_add(&job->next, 1);
    if (t >= ix->n_trees) break;
    rp_forest *f = &job->parts[t];
    f->roots = qv__malloc(ix->mem, sizeof *f->roots);
    c.f = f;
    c.rng = mix64(ix->seed ^ mix64(job->epoch * 1000003ull + t));
    memcpy(work, job->slots, job->n * sizeof *work);
    if (!f->roots || !make_tree(&c, work, job->n, &f->roots[0])) atomic_store(&job->failed, 1);
  }
  qv__free(ix->mem, work);
  qv__free(ix->mem, c.p);
  qv__free(ix->mem, c.q);
  qv__free(ix->mem, c.side);
  return NULL;
}

/* Concatenate per-tree forests into out (references renumbered). */
static int merge_parts(const qv_index *ix, rp_forest *parts, rp_forest *out) {
  size_t nn = 0, nl = 0, ni = 0, dim = ix->dim;
  for (uint32_t t = 0; t < ix->n_trees; t++) {
    nn += parts[t].n_nodes;
    nl += parts[t].n_leaves;
    ni += parts[t].n_items;
  }
  if (nn > INT32_MAX || nl > INT32_MAX || ni > UINT32_MAX) return 0;
  memset(out, 0, sizeof *out);
  out->roots = qv__malloc(ix->mem, ix->n_trees * sizeof *out->roots);
  out->nodes = qv__malloc(ix->mem, (nn ? nn : 1) * sizeof *out->nodes);
  out->leaves = qv__malloc(ix->mem, (nl ? nl : 1) * sizeof *out->leaves);
  out->items = qv__malloc(ix->mem, (ni ? ni : 1) * sizeof *out->items);
  if (!hamming(ix)) out->planes = qv__malloc_aligned(ix->mem, (nn ? nn : 1) * dim * sizeof(float));
  if (!out->roots || !out->nodes || !out->leaves || !out->items || (!hamming(ix) && !out->planes)) {
    forest_free(ix->mem, out);
    return 0;
  }
  out->nodes_cap = nn ? nn : 1;
  out->leaves_cap = nl ? nl : 1;
  out->items_cap = ni ? ni : 1;
  for (uint32_t t = 0; t < ix->n_trees; t++) {
    const rp_forest *p = &parts[t];
    int32_t nb = (int32_t)out->n_nodes, lb = (int32_t)out->n_leaves;
#define RENUM(r) ((r) >= 0 ? (r) + nb : ~(~(r) + lb))
    out->roots[t] = RENUM(p->roots[0]);
    for (size_t i = 0; i < p->n_nodes; i++) {
      rp_node nd = p->nodes[i];
      nd.child[0] = RENUM(nd.child[0]);
      nd.child[1] = RENUM(nd.child[1]);
      out->nodes[out->n_nodes + i] = nd;
    }
#undef RENUM
    if (out->planes) memcpy(out->planes + out->n_nodes * dim, p->planes, p->n_nodes * dim * sizeof(float));
    for (size_t i = 0; i < p->n_leaves; i++) {
      rp_leaf l = p->leaves[i];
      l.off += (uint32_t)out->n_items;
      out->leaves[out->n_leaves + i] = l;
    }
    memcpy(out->items + out->n_items, p->items, p->n_items * sizeof *p->items);
    out->n_nodes += p->n_nodes;
    out->n_leaves += p->n_leaves;
    out->n_items += p->n_items;
  }
  return 1;
}

static int pick_threads(const qv_index *ix) {
  int t = ix->n_threads > 0 ? ix->n_threads : qv__ncpu();
  if (t > (int)ix->n_trees) t = (int)ix->n_trees;
  if (t > 64) t = 64;
  return t < 1 ? 1 : t;
}

/* Rebuild every tree over the live slots; on failure the old forest (and epoch) stays. */
static qv_status rebuild(qv_index *ix) {
  size_t n = 0;
  uint32_t *slots = qv__malloc(ix->mem, (ix->count ? ix->count : 1) * sizeof *slots);
  rp_forest *parts = qv__calloc(ix->mem, ix->n_trees, sizeof *parts);
  qv_status rc = QV_NOMEM;
  if (!slots || !parts) goto out;
  for (size_t s = 0; s < ix->n_slots; s++)
    if (is_live(ix, s)) slots[n++] = (uint32_t)s;
  build_job job = {.ix = ix, .slots = slots, .n = n, .parts = parts, .epoch = ix->epoch + 1};
  atomic_init(&job.next, 0);
  atomic_init(&job.failed, 0);
  pthread_t tid[64];
  int started = 0, nt = pick_threads(ix);
  for (int i = 1; i < nt; i++) {
    if (pthread_create(&tid[started], NULL, build_worker, &job) != 0) break;
    started++;
  }
  build_worker(&job);
  for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
  rp_forest merged;
  if (!atomic_load(&job.failed) && merge_parts(ix, parts, &merged)) {
    forest_free(ix->mem, &ix->f);
    ix->f = merged;
    ix->epoch = job.epoch;
    rc = QV_OK;
  }
out:
  if (parts)
    for (uint32_t t = 0; t < ix->n_trees; t++) forest_free(ix->mem, &parts[t]);
  qv__free(ix->mem, parts);
  qv__free(ix->mem, slots);
  return rc;
}

/* ------------------------------------------------------------------ incremental writes */

/* Log an entry before the change it undoes; 0 on NOMEM (nothing changed yet). */
static int undo_push(qv_index *ix, uint32_t kind, size_t idx) {
  if (!ix->logging) return 1;
  if (!grow(ix->mem, (void **)&ix->undo, &ix->undo_cap, ix->undo_n + 1, sizeof *ix->undo)) return 0;
  rp_undo *u = &ix->undo[ix->undo_n++];
  memset(u, 0, sizeof *u);
  u->kind = kind;
  u->idx = (uint32_t)idx;
  const rp_forest *f = &ix->f;
  switch (kind) {
  case RP_U_LEAF: u->old.leaf = f->leaves[idx]; break;
  case RP_U_CHILD0: u->old.ref = f->nodes[idx].child[0]; break;
  case RP_U_CHILD1: u->old.ref = f->nodes[idx].child[1]; break;
  case RP_U_ROOT: u->old.ref = f->roots[idx]; break;
  default: u->old.item = f->items[idx]; break;
  }
  return 1;
}

/* Play the undo log backwards (no allocation). */
static void undo_apply(qv_index *ix) {
  rp_forest *f = &ix->f;
  while (ix->undo_n) {
    const rp_undo *u = &ix->undo[--ix->undo_n];
    switch (u->kind) {
    case RP_U_LEAF: f->leaves[u->idx] = u->old.leaf; break;
    case RP_U_CHILD0: f->nodes[u->idx].child[0] = u->old.ref; break;
    case RP_U_CHILD1: f->nodes[u->idx].child[1] = u->old.ref; break;
    case RP_U_ROOT: f->roots[u->idx] = u->old.ref; break;
    default: f->items[u->idx] = u->old.item; break;
    }
  }
}

/* Rewrite the item pool with every leaf's items contiguous (capacity kept). */
static int compact_items(const qv_index *ix, rp_forest *f) {
  size_t total = 0;
  for (size_t i = 0; i < f->n_leaves; i++) total += f->leaves[i].cap;
  uint32_t *p = qv__malloc(ix->mem, (total ? total : 1) * sizeof *p);
  if (!p) return 0;
  size_t off = 0;
  for (size_t i = 0; i < f->n_leaves; i++) {
    rp_leaf *l = &f->leaves[i];
    memcpy(p + off, f->items + l->off, l->n * sizeof *p);
    l->off = (uint32_t)off;
    off += l->cap;
  }
  qv__free(ix->mem, f->items);
  f->items = p;
  f->n_items = f->items_cap = total ? total : 1;
  f->n_items = total;
  f->items_dead = 0;
  return 1;
}

/* Append slot to leaf li (moving it to the end of the pool when full). */
static int leaf_append(qv_index *ix, rp_forest *f, size_t li, uint32_t slot) {
  if (!undo_push(ix, RP_U_LEAF, li)) return 0;
  rp_leaf *l = &f->leaves[li];
  if (l->n == l->cap) {
    size_t cap = l->cap ? (size_t)l->cap * 2 : 4;
    if (cap > ix->leaf_k + 1) cap = ix->leaf_k + 1 > l->n + 1u ? ix->leaf_k + 1 : l->n + 1u;
    if (!items_room(ix, f, cap)) return 0;
    l = &f->leaves[li];
    memmove(f->items + f->n_items, f->items + l->off, l->n * sizeof *f->items);
    f->items_dead += l->cap;
    l->off = (uint32_t)f->n_items;
    l->cap = (uint32_t)cap;
    f->n_items += cap;
  }
  f->items[l->off + l->n++] = slot;
  return 1;
}

/* Insert slot (vector v) into tree t, splitting its leaf when it overflows. */
static int tree_insert(qv_index *ix, rp_ctx *c, uint32_t t, uint32_t slot) {
  rp_forest *f = &ix->f;
  const float *v = row_of(ix, slot);
  long parent = -1;
  int pside = 0;
  int32_t ref = f->roots[t];
  while (ref >= 0) {
    parent = ref;
    pside = side_of(ix, f, (size_t)ref, slot, v);
    ref = f->nodes[ref].child[pside];
  }
  size_t li = (size_t)~ref;
  if (!leaf_append(ix, f, li, slot)) return 0;
  if (f->leaves[li].n <= ix->leaf_k) return 1;
  /* overflow: build a subtree over the leaf's records, then retire the leaf */
  size_t n = f->leaves[li].n;
  uint32_t *work = qv__malloc(ix->mem, n * sizeof *work);
  uint8_t *side = qv__malloc(ix->mem, n);
  if (!work || !side) {
    qv__free(ix->mem, work);
    qv__free(ix->mem, side);
    return 0;
  }
  memcpy(work, f->items + f->leaves[li].off, n * sizeof *work);
  int32_t sub;
  c->side = side;
  int ok = make_tree(c, work, n, &sub);
  c->side = NULL;
  qv__free(ix->mem, work);
  qv__free(ix->mem, side);
  if (!ok || !undo_push(ix, parent < 0 ? RP_U_ROOT : pside ? RP_U_CHILD1 : RP_U_CHILD0, parent < 0 ? t : (size_t)parent))
    return 0;
  f->items_dead += f->leaves[li].cap;
  f->leaves[li].n = f->leaves[li].cap = 0;
  if (parent < 0)
    f->roots[t] = sub;
  else
    f->nodes[parent].child[pside] = sub;
  return 1;
}

/* Take slot (routed by its current vector) out of every tree's leaf; 0 on NOMEM (undo log). */
static int trees_remove(qv_index *ix, uint32_t slot) {
  rp_forest *f = &ix->f;
  const float *v = row_of(ix, slot);
  for (uint32_t t = 0; t < ix->n_trees && f->roots; t++) {
    int32_t ref = f->roots[t];
    while (ref >= 0) ref = f->nodes[ref].child[side_of(ix, f, (size_t)ref, slot, v)];
    rp_leaf *l = &f->leaves[~ref];
    uint32_t *it = f->items + l->off;
    for (uint32_t i = 0; i < l->n; i++)
      if (it[i] == slot) {
        if (!undo_push(ix, RP_U_LEAF, (size_t)~ref) || !undo_push(ix, RP_U_ITEM, l->off + i)) return 0;
        it[i] = it[--l->n];
        break;
      }
  }
  return 1;
}

/* ------------------------------------------------------------------ lifetime */

static const char *const rp_code_kinds[] = {"none", "sq8", NULL};
static const qv_param_spec rp_params[] = {
    {"n_trees", QV_PT_UINT, 50, 1, RP_MAX_TREES, NULL, 0, NULL, "trees in the forest (more: better recall, bigger index)"},
    {"leaf_size", QV_PT_UINT, 0, 0, 100000, NULL, 0, NULL,
     "most records in a leaf; 0 = Annoy's rule (dim + 2, at least 8)"},
    {"search_k", QV_PT_UINT, 0, 0, 100000000, NULL, 1, NULL,
     "distinct candidates a query scores (a record met in several trees counts once; Annoy counts every "
     "leaf entry); 0 = n_trees * k (Annoy's default); see entry_cap and min_leaves"},
    {"seed", QV_PT_UINT, 1, 0, 4294967295.0, NULL, 0, NULL, "seed of the random splits"},
    {"codes", QV_PT_ENUM, 1, 0, 0, rp_code_kinds, 0, NULL,
     "sq8: leaf candidates are scored on 8-bit codes of the rows, then re-ranked on the floats (l2, ip, "
     "cosine; dim + 4 more bytes a row); none: on the floats only"},
    {"rerank", QV_PT_UINT, 4, 0, 1000000, NULL, 1, NULL,
     "with codes: the rerank*k best by code distance (at least 32) are re-ranked on the floats; 0: no codes at query time"},
    {"entry_cap", QV_PT_NUM, 2, 1, 1000000, NULL, 1, NULL,
     "the search also stops once entry_cap * search_k leaf entries (repeats included) were read; 1 = Annoy's count"},
    {"min_leaves", QV_PT_UINT, 2, 1, 1000000, NULL, 1, NULL,
     "leaves a query drains at least, whatever search_k (1 = Annoy's rule)"},
    {NULL, QV_PT_UINT, 0, 0, 0, NULL, 0, NULL, NULL},
};

static qv_status rp_create(const qv_index_params *p, qv_index **out) {
  *out = NULL;
  if (!p || !p->mem || p->dim == 0 || p->dim > (1u << 20)) return QV_INVALID;
  if (p->metric > QV_METRIC_HAMMING) return QV_INVALID;
  double v[QV_MAX_PARAMS];
  char err[256];
  if (qv__params_resolve(rp_params, "rpforest", p->params_json, NULL, 0, v, err, sizeof err)) return QV_INVALID;
  qv_index *ix = qv__calloc(p->mem, 1, sizeof *ix);
  if (!ix) return QV_NOMEM;
  ix->mem = p->mem;
  ix->kern = qv__kernels();
  ix->metric = p->metric;
  ix->dim = p->dim;
  ix->n_threads = p->n_threads;
  ix->n_trees = (uint32_t)v[P_TREES];
  ix->leaf_k = v[P_LEAF] > 0 ? (uint32_t)v[P_LEAF] : ix->dim + 2;
  if (ix->leaf_k < 8) ix->leaf_k = 8;
  ix->search_k = (uint32_t)v[P_SEARCH_K];
  ix->seed = (uint64_t)v[P_SEED];
  ix->rng = mix64(ix->seed ^ 0x5eedull);
  ix->rerank = (uint32_t)v[P_RERANK];
  ix->entry_cap = v[P_ENTRY_CAP];
  ix->min_leaves = (uint32_t)v[P_MIN_LEAVES];
  ix->sq8 = v[P_CODES] == 1 && (p->metric == QV_METRIC_L2 || p->metric == QV_METRIC_IP || p->metric == QV_METRIC_COSINE);
  if (ix->sq8 && hnsw_sq8_init(&ix->q8, p->mem, p->metric, p->dim, 8) != 0) {
    qv__free(p->mem, ix);
    return QV_NOMEM;
  }
  ix->f.roots = qv__calloc(p->mem, ix->n_trees, sizeof *ix->f.roots);
  if (!ix->f.roots) {
    hnsw_sq8_free(&ix->q8, p->mem);
    qv__free(p->mem, ix);
    return QV_NOMEM;
  }
  /* every tree starts as one empty leaf */
  for (uint32_t t = 0; t < ix->n_trees; t++) {
    long li = new_leaf(ix, &ix->f, NULL, 0);
    if (li < 0) {
      forest_free(p->mem, &ix->f);
      hnsw_sq8_free(&ix->q8, p->mem);
      qv__free(p->mem, ix);
      return QV_NOMEM;
    }
    ix->f.roots[t] = (int32_t)~li;
  }
  *out = ix;
  return QV_OK;
}

static void rp_destroy(qv_index *ix) {
  if (!ix) return;
  if (!ix->ro) {
    qv__free_aligned(ix->mem, ix->vecs);
    qv__free(ix->mem, ix->live);
    qv__free_aligned(ix->mem, ix->codes);
    forest_free(ix->mem, &ix->f);
  }
  hnsw_sq8_free(&ix->q8, ix->mem);
  qv__free(ix->mem, ix->undo);
  qv__free(ix->mem, ix);
}

static qv_status ensure_cap(qv_index *ix, size_t need) {
  if (need <= ix->cap) return QV_OK;
  size_t cap = ix->cap * 2 > need ? ix->cap * 2 : need;
  if (cap < 64) cap = 64;
  size_t row = row_floats(ix) * sizeof(float);
  if (cap > SIZE_MAX / row || cap > UINT32_MAX + (size_t)1) return QV_NOMEM;
  size_t cb = ix->sq8 ? ix->q8.code_bytes : 0;
  float *v = qv__malloc_aligned(ix->mem, cap * row);
  uint64_t *l = qv__calloc(ix->mem, words_for(cap), sizeof *l);
  unsigned char *c = cb ? qv__malloc_aligned(ix->mem, cap * cb) : NULL;
  if (!v || !l || (cb && !c)) {
    qv__free_aligned(ix->mem, v);
    qv__free(ix->mem, l);
    qv__free_aligned(ix->mem, c);
    return QV_NOMEM;
  }
  if (ix->cap) {
    memcpy(v, ix->vecs, ix->cap * row);
    memcpy(l, ix->live, words_for(ix->cap) * sizeof *l);
    if (cb) memcpy(c, ix->codes, ix->cap * cb);
  }
  memset((char *)v + ix->cap * row, 0, (cap - ix->cap) * row);
  if (cb) memset(c + ix->cap * cb, 0, (cap - ix->cap) * cb);
  qv__free_aligned(ix->mem, ix->vecs);
  qv__free(ix->mem, ix->live);
  qv__free_aligned(ix->mem, ix->codes);
  ix->vecs = v;
  ix->live = l;
  ix->codes = c;
  ix->cap = cap;
  return QV_OK;
}

static qv_status rp_reserve(qv_index *ix, size_t n_slots) {
  if (ix->ro) return QV_UNSUPPORTED;
  return ensure_cap(ix, n_slots);
}

/*
 * add() is all or nothing: on failure the index is as it was (records, vectors, trees, the
 * random streams), so the collection's retry builds the same forest as a first try would.
 * Before anything changes, the rows the batch overwrites are copied; a bulk rebuild replaces
 * the forest only once the new one is complete; incremental inserts log what they change in
 * existing leaves, child references and roots (new nodes, leaves and items are appended and
 * go with the counts).
 */
static qv_status rp_add(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n) {
  if (ix->ro) return QV_UNSUPPORTED;
  size_t need = 0, dim = ix->dim;
  for (size_t i = 0; i < n; i++)
    if ((size_t)slots[i] + 1 > need) need = (size_t)slots[i] + 1;
  qv_status rc = ensure_cap(ix, need);
  if (rc != QV_OK) return rc;
  size_t before = ix->count, old_slots = ix->n_slots, n_old = 0;
  int bulk = n >= before && n > ix->leaf_k;
  for (size_t i = 0; i < n; i++) n_old += slots[i] < old_slots;
  /* the state to go back to: old rows of slots below n_slots, and which slots were live */
  uint8_t *was = qv__malloc(ix->mem, n ? n : 1);
  float *old = qv__malloc(ix->mem, (n_old ? n_old : 1) * dim * sizeof(float));
  /* the codes' range before this batch (dim_pad floats each of lo, hi, scale) */
  size_t nq8 = ix->sq8 ? (size_t)ix->q8.dim_pad * 3 : 0;
  float *oldq = nq8 ? qv__malloc(ix->mem, nq8 * sizeof(float)) : NULL;
  int old_trained = ix->q8.trained, retrained = 0;
  rp_ctx c = {.ix = ix, .f = &ix->f, .rng = ix->rng};
  if (!bulk) {
    c.p = qv__malloc(ix->mem, dim * sizeof(float));
    c.q = qv__malloc(ix->mem, dim * sizeof(float));
  }
  if (!was || !old || (nq8 && !oldq) || (!bulk && (!c.p || !c.q))) {
    rc = QV_NOMEM;
    goto out;
  }
  if (nq8) {
    memcpy(oldq, ix->q8.lo, nq8 * sizeof(float));
    /* the range widens to the batch while the index is small; then every code is re-made */
    retrained = hnsw_sq8_maybe_train(&ix->q8, vecs, n, ix->count);
    if (retrained)
      for (size_t s = 0; s < ix->n_slots; s++)
        if (is_live(ix, s)) hnsw_sq8_encode(&ix->q8, row_of(ix, s), ix->codes + s * ix->q8.code_bytes);
  }
  for (size_t i = 0, j = 0; i < n; i++) {
    was[i] = (uint8_t)(slots[i] < old_slots && is_live(ix, slots[i]));
    if (slots[i] < old_slots) memcpy(old + j++ * dim, row_of(ix, slots[i]), dim * sizeof(float));
  }
  const rp_forest saved = ix->f;
  ix->undo_n = 0;
  ix->logging = !bulk;
  size_t applied = 0;
  for (; applied < n && rc == QV_OK; applied++) {
    size_t s = slots[applied];
    if (is_live(ix, s)) {
      if (!bulk && !trees_remove(ix, (uint32_t)s)) {
        rc = QV_NOMEM;
        break;
      }
    } else {
      ix->live[s >> 6] |= (uint64_t)1 << (s & 63);
      ix->count++;
    }
    memcpy(ix->vecs + s * dim, vecs + applied * dim, dim * sizeof(float));
    if (ix->sq8) hnsw_sq8_encode(&ix->q8, row_of(ix, s), ix->codes + s * ix->q8.code_bytes);
    if (s + 1 > ix->n_slots) ix->n_slots = s + 1;
  }
  if (rc == QV_OK && bulk) rc = rebuild(ix);
  for (size_t i = 0; i < n && rc == QV_OK && !bulk; i++)
    for (uint32_t t = 0; t < ix->n_trees && rc == QV_OK; t++)
      if (!tree_insert(ix, &c, t, slots[i])) rc = QV_NOMEM;
  if (rc != QV_OK) { /* back to the state before, in reverse order */
    undo_apply(ix);
    ix->f.n_nodes = saved.n_nodes;
    ix->f.n_leaves = saved.n_leaves;
    ix->f.n_items = saved.n_items;
    ix->f.items_dead = saved.items_dead;
    size_t j = n_old;
    for (size_t i = n; i-- > 0;) {
      size_t s = slots[i];
      if (s < old_slots) memcpy(ix->vecs + s * dim, old + --j * dim, dim * sizeof(float));
      if (i >= applied) continue;
      if (was[i]) ix->live[s >> 6] |= (uint64_t)1 << (s & 63);
      else ix->live[s >> 6] &= ~((uint64_t)1 << (s & 63));
    }
    ix->count = before;
    ix->n_slots = old_slots;
    if (nq8) { /* the codes again from the restored rows and range (encoding allocates nothing) */
      memcpy(ix->q8.lo, oldq, nq8 * sizeof(float));
      ix->q8.trained = old_trained;
      size_t cb = ix->q8.code_bytes;
      if (retrained) {
        for (size_t s = 0; s < ix->n_slots; s++)
          if (is_live(ix, s)) hnsw_sq8_encode(&ix->q8, row_of(ix, s), ix->codes + s * cb);
      } else {
        for (size_t i = 0; i < n; i++)
          if (slots[i] < old_slots) hnsw_sq8_encode(&ix->q8, row_of(ix, slots[i]), ix->codes + (size_t)slots[i] * cb);
      }
    }
  } else if (!bulk) {
    ix->rng = c.rng;
  }
out:
  ix->logging = 0;
  ix->undo_n = 0;
  if (ix->undo_cap > 4096) { /* keep a small log between adds */
    qv__free(ix->mem, ix->undo);
    ix->undo = NULL;
    ix->undo_cap = 0;
  }
  qv__free(ix->mem, was);
  qv__free(ix->mem, old);
  qv__free(ix->mem, oldq);
  qv__free(ix->mem, c.p);
  qv__free(ix->mem, c.q);
  if (rc == QV_OK && ix->f.items_dead > 4096 && ix->f.items_dead * 2 > ix->f.n_items) compact_items(ix, &ix->f);
  return rc;
}

static qv_status rp_remove(qv_index *ix, uint32_t slot) {
  if (ix->ro) return QV_UNSUPPORTED;
  if (slot >= ix->n_slots || !is_live(ix, slot)) return QV_NOTFOUND;
  trees_remove(ix, slot); /* not logging: cannot fail */
  ix->live[slot >> 6] &= ~((uint64_t)1 << (slot & 63));
  ix->count--;
  while (ix->n_slots > 0 && !is_live(ix, ix->n_slots - 1)) ix->n_slots--;
  return QV_OK;
}

static const float *rp_vector(const qv_index *ix, uint32_t slot) {
  if (slot >= ix->n_slots || !is_live(ix, slot)) return NULL;
  return row_of(ix, slot);
}

static qv_status rp_set_param(qv_index *ix, const char *name, double value) {
  if (strcmp(name, "search_k") == 0 || strcmp(name, "ef_search") == 0) {
    if (!(value >= 0 && value <= 1e8) || value != floor(value)) return QV_INVALID;
    ix->search_k = (uint32_t)value;
    return QV_OK;
  }
  if (strcmp(name, "rerank") == 0) {
    if (!(value >= 0 && value <= 1e6) || value != floor(value)) return QV_INVALID;
    ix->rerank = (uint32_t)value;
    return QV_OK;
  }
  if (strcmp(name, "entry_cap") == 0) {
    if (!(value >= 1 && value <= 1e6)) return QV_INVALID;
    ix->entry_cap = value;
    return QV_OK;
  }
  if (strcmp(name, "min_leaves") == 0) {
    if (!(value >= 1 && value <= 1e6) || value != floor(value)) return QV_INVALID;
    ix->min_leaves = (uint32_t)value;
    return QV_OK;
  }
  return QV_INVALID;
}

static void rp_stats(const qv_index *ix, qv_index_stats *out) {
  out->count = ix->count;
  out->n_slots = ix->n_slots;
  out->n_tombstones = 0;
  uint64_t rows = ix->ro ? ix->n_slots : ix->cap;
  out->mem_codes = ix->codes ? rows * ix->q8.code_bytes : 0;
  out->mem_vectors = rows * ix->dim * sizeof(float) + out->mem_codes;
  const rp_forest *f = &ix->f;
  out->mem_graph = (uint64_t)f->n_nodes * (sizeof(rp_node) + (hamming(ix) ? 0 : ix->dim * sizeof(float))) +
                   (uint64_t)f->n_leaves * sizeof(rp_leaf) + (uint64_t)f->n_items * 4 + ix->n_trees * 4ull;
  out->max_level = 0;
}

/* ------------------------------------------------------------------ search */

typedef struct pq_ent {
  float pri;
  int32_t ref;
} pq_ent;

typedef struct pqueue {
  pq_ent *h;
  size_t n, cap;
  pq_ent *small;
  const qv_mem *mem;
} pqueue;

static int pq_push(pqueue *q, float pri, int32_t ref) {
  if (q->n == q->cap) {
    size_t cap = q->cap * 2;
    pq_ent *h = qv__malloc(q->mem, cap * sizeof *h);
    if (!h) return 0;
    memcpy(h, q->h, q->n * sizeof *h);
    if (q->h != q->small) qv__free(q->mem, q->h);
    q->h = h;
    q->cap = cap;
  }
  size_t i = q->n++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (q->h[p].pri >= pri) break;
    q->h[i] = q->h[p];
    i = p;
  }
  q->h[i].pri = pri;
  q->h[i].ref = ref;
  return 1;
}

static pq_ent pq_pop(pqueue *q) {
  pq_ent top = q->h[0], last = q->h[--q->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= q->n) break;
    if (c + 1 < q->n && q->h[c + 1].pri > q->h[c].pri) c++;
    if (q->h[c].pri <= last.pri) break;
    q->h[i] = q->h[c];
    i = c;
  }
  if (q->n) q->h[i] = last;
  return top;
}

/* Seen-set of slots: a bitmap over n_slots (small indexes) or an open-addressing table. */
typedef struct seen_set {
  uint64_t *bits;
  uint32_t *tab; /* UINT32_MAX = empty */
  size_t mask;
} seen_set;

/* 1 if slot was not seen before (and marks it). */
static inline int seen_add(seen_set *s, uint32_t slot) {
  if (s->bits) {
    uint64_t m = (uint64_t)1 << (slot & 63);
    if (s->bits[slot >> 6] & m) return 0;
    s->bits[slot >> 6] |= m;
    return 1;
  }
  size_t h = (size_t)(slot * 2654435761u) & s->mask;
  while (s->tab[h] != UINT32_MAX) {
    if (s->tab[h] == slot) return 0;
    h = (h + 1) & s->mask;
  }
  s->tab[h] = slot;
  return 1;
}

/* Double the hash table (rehashing every slot); 0 on NOMEM (the old table stays). */
static int seen_grow(const qv_mem *mem, seen_set *s) {
  size_t n = (s->mask + 1) * 2;
  uint32_t *t = qv__malloc(mem, n * sizeof *t);
  if (!t) return 0;
  memset(t, 0xff, n * sizeof *t);
  seen_set g = {NULL, t, n - 1};
  for (size_t i = 0; i <= s->mask; i++)
    if (s->tab[i] != UINT32_MAX) seen_add(&g, s->tab[i]);
  qv__free(mem, s->tab);
  *s = g;
  return 1;
}

#define RP_BATCH 256u /* candidates gathered before their distances */
#define RP_AHEAD 4u   /* rows prefetched ahead of the distance being computed */

static inline void prefetch_row(const float *row, size_t bytes) {
  const char *a = (const char *)row, *e = a + bytes;
  for (; a < e; a += 64) __builtin_prefetch(a, 0, 3);
}

static qv_status rp_search(const qv_index *ix, const qv_search_req *req, qv_hit *out, size_t *n_out) {
  *n_out = 0;
  if (req->k == 0 || ix->count == 0) return QV_OK;
  const rp_forest *f = &ix->f;
  size_t k = req->k, dim = ix->dim;
  uint64_t search_k = req->ef ? req->ef : ix->search_k;
  uint32_t rerank = ix->rerank, min_leaves = ix->min_leaves;
  double entry_cap = ix->entry_cap;
  if (req->params) { /* this query's own search_k / rerank (the collection checked the keys) */
    double v[QV_MAX_PARAMS], base[QV_MAX_PARAMS] = {0};
    char err[256];
    for (size_t i = 0; rp_params[i].name; i++) base[i] = rp_params[i].def;
    base[P_SEARCH_K] = (double)search_k;
    base[P_RERANK] = rerank;
    base[P_ENTRY_CAP] = entry_cap;
    base[P_MIN_LEAVES] = min_leaves;
    if (qv__params_resolve(rp_params, "rpforest", req->params, base, 1, v, err, sizeof err) != QV_OK)
      return QV_INVALID;
    search_k = (uint64_t)v[P_SEARCH_K];
    rerank = (uint32_t)v[P_RERANK];
    entry_cap = v[P_ENTRY_CAP];
    min_leaves = (uint32_t)v[P_MIN_LEAVES];
  }
  if (!search_k) search_k = (uint64_t)ix->n_trees * k;
  /* seen-set: the unique candidates are about search_k plus one leaf, or min_leaves leaves (the
     hash table grows when it is half full: a leaf of identical records may exceed leaf_k) */
  uint64_t bound = search_k + ix->leaf_k + 1;
  if (bound < (uint64_t)min_leaves * ix->leaf_k + 1) bound = (uint64_t)min_leaves * ix->leaf_k + 1;
  if (bound > ix->n_slots) bound = ix->n_slots;
  size_t tab = 64;
  while (tab < 2 * bound) tab *= 2;
  seen_set seen = {0};
  size_t bitmap_words = words_for(ix->n_slots);
  void *mem;
  if (bitmap_words * 8 <= tab * 4) {
    mem = seen.bits = qv__calloc(ix->mem, bitmap_words ? bitmap_words : 1, 8);
  } else {
    mem = seen.tab = qv__malloc(ix->mem, tab * 4);
    if (seen.tab) memset(seen.tab, 0xff, tab * 4);
    seen.mask = tab - 1;
  }
  if (!mem) return QV_NOMEM;
  /* with codes: the leaves' candidates are scored on them into pre (the n_rr best), and only
     those are re-ranked on the floats at the end */
  const int coded = ix->codes && rerank;
  size_t n_rr = coded ? (size_t)rerank * k : 0;
  if (n_rr < RP_RERANK_MIN) n_rr = RP_RERANK_MIN;
  if (n_rr > ix->count) n_rr = ix->count; /* never more than there are records */
  void *prep = NULL;
  qv_hit *pre_buf = NULL;
  qv_topk pre = {0};
  if (coded) {
    prep = qv__malloc_aligned(ix->mem, hnsw_sq8_query_bytes(&ix->q8));
    pre_buf = qv__malloc(ix->mem, n_rr * sizeof *pre_buf);
    if (!prep || !pre_buf) {
      qv__free_aligned(ix->mem, prep);
      qv__free(ix->mem, pre_buf);
      qv__free(ix->mem, mem);
      return QV_NOMEM;
    }
    hnsw_sq8_prepare(&ix->q8, req->q, prep);
    qv__topk_init(&pre, pre_buf, n_rr);
  }
  pq_ent small[256];
  pqueue q = {small, 0, 256, small, ix->mem};
  uint32_t cand[RP_BATCH];
  float cd[RP_BATCH];
  const size_t row_bytes = dim * sizeof(float);
  qv_status rc = QV_OK;
  const float init = hamming(ix) ? 16777216.0f : INFINITY;
  for (uint32_t t = 0; t < ix->n_trees && rc == QV_OK; t++)
    if (!pq_push(&q, init, f->roots[t])) rc = QV_NOMEM;
  qv_topk top;
  qv__topk_init(&top, out, k);
  uint64_t seen_n = 0, budget = (uint64_t)f->n_nodes + f->n_leaves + ix->n_trees;
  uint32_t nbits = ix->dim * 32;
  /* search_k counts distinct candidates (seen_n); the leaf entries read, repeats included
     (Annoy's count), stop the search at entry_cap * search_k; and at least min_leaves leaves */
  double cap = entry_cap * (double)search_k;
  uint64_t entries = 0, entry_max = cap >= 1.8e19 ? UINT64_MAX : (uint64_t)cap, n_drained = 0;
  while (rc == QV_OK && q.n && ((seen_n < search_k && entries < entry_max) || n_drained < min_leaves) && budget--) {
    pq_ent e = pq_pop(&q);
    if (e.ref < 0) {
      size_t li = (size_t)~e.ref;
      if (li >= f->n_leaves) continue;
      rp_leaf l = f->leaves[li];
      if ((uint64_t)l.off + l.n > f->n_items) continue; /* damaged payload */
      entries += l.n;
      n_drained++;
      const uint32_t *it = f->items + l.off;
      /* the leaf's new candidates first, then their distances with the rows a few ahead
         prefetched (the rows are scattered: the scan waits on memory, not on arithmetic) */
      for (uint32_t i0 = 0; i0 < l.n; i0 += RP_BATCH) {
        uint32_t nb = 0, end = l.n - i0 < RP_BATCH ? l.n : i0 + RP_BATCH;
        for (uint32_t i = i0; i < end; i++) {
          uint32_t s = it[i];
          if (seen.tab && 2 * (seen_n + 1) > seen.mask + 1) {
            if (!seen_grow(ix->mem, &seen)) {
              rc = QV_NOMEM;
              break;
            }
            mem = seen.tab;
          }
          if (s >= ix->n_slots || !is_live(ix, s) || !seen_add(&seen, s)) continue;
          seen_n++;
          if (req->pred && !req->pred(req->pred_ctx, s)) continue;
          cand[nb++] = s;
        }
        if (coded) {
          hnsw_sq8_dist_many(&ix->q8, prep, ix->codes, ix->q8.code_bytes, cand, nb, cd);
          for (uint32_t j = 0; j < nb; j++)
            if (cd[j] <= qv__topk_worst(&pre)) qv__topk_push(&pre, cd[j], cand[j]);
          continue;
        }
        for (uint32_t j = 0; j < nb && j < RP_AHEAD; j++) prefetch_row(row_of(ix, cand[j]), row_bytes);
        for (uint32_t j = 0; j < nb; j++) {
          if (j + RP_AHEAD < nb) prefetch_row(row_of(ix, cand[j + RP_AHEAD]), row_bytes);
          float d = qv__metric_dist(ix->kern, ix->metric, req->q, row_of(ix, cand[j]), dim);
          if (d < qv__topk_worst(&top)) qv__topk_push(&top, d, cand[j]);
        }
      }
      continue;
    }
    if ((size_t)e.ref >= f->n_nodes) continue;
    const rp_node *nd = &f->nodes[e.ref];
    float p0, p1;
    if (nd->info == RP_RANDOM) {
      p0 = p1 = e.pri < 0 ? e.pri : 0;
    } else if (hamming(ix)) {
      if (nd->info >= nbits) continue;
      int b = bit_of(req->q, nd->info);
      p1 = b ? e.pri : e.pri - 1;
      p0 = b ? e.pri - 1 : e.pri;
    } else {
      float m = ix->kern->dot(f->planes + (size_t)e.ref * dim, req->q, dim) + nd->a;
      p1 = e.pri < m ? e.pri : m;
      p0 = e.pri < -m ? e.pri : -m;
    }
    if (!pq_push(&q, p1, nd->child[1]) || !pq_push(&q, p0, nd->child[0])) rc = QV_NOMEM;
  }
  if (coded) { /* the exact re-rank of the best by code distance */
    for (size_t j = 0; j < pre.n && j < RP_AHEAD; j++) prefetch_row(row_of(ix, pre_buf[j].slot), row_bytes);
    for (size_t j = 0; j < pre.n; j++) {
      if (j + RP_AHEAD < pre.n) prefetch_row(row_of(ix, pre_buf[j + RP_AHEAD].slot), row_bytes);
      float d = qv__metric_dist(ix->kern, ix->metric, req->q, row_of(ix, pre_buf[j].slot), dim);
      if (d < qv__topk_worst(&top)) qv__topk_push(&top, d, pre_buf[j].slot);
    }
    qv__free_aligned(ix->mem, prep);
    qv__free(ix->mem, pre_buf);
  }
  if (q.h != small) qv__free(ix->mem, q.h);
  qv__free(ix->mem, mem);
  if (rc != QV_OK) return rc;
  *n_out = qv__topk_finish(&top);
  return QV_OK;
}

/* ------------------------------------------------------------------ payload */

typedef struct rp_head {
  uint32_t layout, dim, metric, n_trees, leaf_k, codes; /* codes: 0 (layout 1), 8 (layout 2) */
  uint64_t n_slots, count, n_nodes, n_leaves, n_items;
  uint64_t off_live, off_vecs, off_roots, off_nodes, off_planes, off_leaves, off_items, total;
} rp_head;
_Static_assert(sizeof(rp_head) == RP_HEAD, "rpforest head is 128 bytes");

static uint64_t a64(uint64_t x) { return (x + 63) / 64 * 64; }

/* Fill the offsets from the counts; 0 when they overflow. */
static int layout(rp_head *h) {
  uint64_t row = (uint64_t)h->dim * 4;
  if (h->n_slots > UINT32_MAX + 1ull || h->n_nodes > INT32_MAX || h->n_leaves > INT32_MAX ||
      h->n_items > UINT32_MAX || h->n_trees == 0 || h->n_trees > RP_MAX_TREES || h->dim == 0 || h->dim > (1u << 20))
    return 0;
  uint64_t planes = h->metric == QV_METRIC_HAMMING ? 0 : h->n_nodes * row;
  h->off_live = RP_HEAD;
  h->off_vecs = a64(h->off_live + words_for(h->n_slots) * 8);
  h->off_roots = a64(h->off_vecs + h->n_slots * row);
  h->off_nodes = a64(h->off_roots + (uint64_t)h->n_trees * 4);
  h->off_planes = a64(h->off_nodes + h->n_nodes * sizeof(rp_node));
  h->off_leaves = a64(h->off_planes + planes);
  h->off_items = a64(h->off_leaves + h->n_leaves * sizeof(rp_leaf));
  h->total = h->off_items + h->n_items * 4;
  if (h->layout == RP_LAYOUT2) { /* + the codes' range (lo, hi: dim floats each) and n_slots codes */
    if (h->codes != 8 || (h->metric != QV_METRIC_L2 && h->metric != QV_METRIC_IP && h->metric != QV_METRIC_COSINE))
      return 0;
    h->total = a64(a64(h->total) + (uint64_t)h->dim * 8) + h->n_slots * ((uint64_t)h->dim + 4);
  } else if (h->layout != RP_LAYOUT || h->codes != 0) {
    return 0;
  }
  return 1;
}

/* Offsets of layout 2's range and codes sections. */
static uint64_t off_q8(const rp_head *h) { return a64(h->off_items + h->n_items * 4); }
static uint64_t off_codes(const rp_head *h) { return a64(off_q8(h) + (uint64_t)h->dim * 8); }

static void put_pad(void (*put)(void *, const void *, size_t), void *ctx, uint64_t *pos, uint64_t to) {
  static const unsigned char zero[64];
  while (*pos < to) {
    size_t n = to - *pos > 64 ? 64 : (size_t)(to - *pos);
    put(ctx, zero, n);
    *pos += n;
  }
}

/* Walk tree refs depth-first, numbering nodes and leaves in visiting order. */
static void dfs_number(const rp_forest *f, int32_t root, uint32_t *nmap, uint32_t *lmap, size_t *nn, size_t *nl,
                       uint64_t *ni, int32_t *stack) {
  size_t sp = 0;
  stack[sp++] = root;
  while (sp) {
    int32_t r = stack[--sp];
    if (r < 0) {
      lmap[~r] = (uint32_t)(*nl)++;
      *ni += f->leaves[~r].n;
    } else {
      nmap[r] = (uint32_t)(*nn)++;
      stack[sp++] = f->nodes[r].child[1];
      stack[sp++] = f->nodes[r].child[0];
    }
  }
}

static uint32_t payload_layout(const qv_index *ix) {
  return ix->sq8 && ix->q8.trained && ix->codes ? RP_LAYOUT2 : RP_LAYOUT;
}

static qv_status rp_serialize(const qv_index *ix, void (*put)(void *, const void *, size_t), void *ctx,
                              uint32_t *version) {
  const rp_forest *f = &ix->f;
  uint32_t *nmap = qv__malloc(ix->mem, (f->n_nodes + 1) * sizeof *nmap);
  uint32_t *lmap = qv__malloc(ix->mem, (f->n_leaves + 1) * sizeof *lmap);
  uint32_t *nrev = qv__malloc(ix->mem, (f->n_nodes + 1) * sizeof *nrev);
  uint32_t *lrev = qv__malloc(ix->mem, (f->n_leaves + 1) * sizeof *lrev);
  int32_t *stack = qv__malloc(ix->mem, (f->n_nodes + f->n_leaves + 2) * sizeof *stack);
  qv_status rc = QV_NOMEM;
  if (!nmap || !lmap || !nrev || !lrev || !stack) goto out;
  size_t nn = 0, nl = 0;
  uint64_t ni = 0;
  /* only what the roots reach is written (leaves retired by splits are not) */
  for (size_t i = 0; i < f->n_nodes; i++) nmap[i] = nrev[i] = UINT32_MAX;
  for (size_t i = 0; i < f->n_leaves; i++) lmap[i] = lrev[i] = UINT32_MAX;
  for (uint32_t t = 0; t < ix->n_trees; t++) dfs_number(f, f->roots[t], nmap, lmap, &nn, &nl, &ni, stack);
  for (size_t i = 0; i < f->n_nodes; i++)
    if (nmap[i] != UINT32_MAX) nrev[nmap[i]] = (uint32_t)i;
  for (size_t i = 0; i < f->n_leaves; i++)
    if (lmap[i] != UINT32_MAX) lrev[lmap[i]] = (uint32_t)i;
  /* layout 2 (with the codes) only when there are codes to write: a forest without them is
     written as layout 1, which every earlier reader opens */
  int with_codes = payload_layout(ix) == RP_LAYOUT2;
  rp_head h = {.layout = with_codes ? RP_LAYOUT2 : RP_LAYOUT, .codes = with_codes ? 8u : 0u, .dim = ix->dim, .metric = (uint32_t)ix->metric, .n_trees = ix->n_trees,
               .leaf_k = ix->leaf_k, .n_slots = ix->n_slots, .count = ix->count, .n_nodes = nn, .n_leaves = nl,
               .n_items = ni};
  if (!layout(&h)) {
    rc = QV_INVALID;
    goto out;
  }
  uint64_t pos = 0, row = (uint64_t)ix->dim * 4;
  put(ctx, &h, sizeof h);
  pos = sizeof h;
  put(ctx, ix->live, words_for(ix->n_slots) * 8);
  pos += words_for(ix->n_slots) * 8;
  put_pad(put, ctx, &pos, h.off_vecs);
  put(ctx, ix->vecs, ix->n_slots * row);
  pos += ix->n_slots * row;
  put_pad(put, ctx, &pos, h.off_roots);
#define REF(r) ((r) >= 0 ? (int32_t)nmap[r] : (int32_t)~lmap[~(r)])
  for (uint32_t t = 0; t < ix->n_trees; t++) {
    int32_t r = REF(f->roots[t]);
    put(ctx, &r, 4);
  }
  pos += (uint64_t)ix->n_trees * 4;
  put_pad(put, ctx, &pos, h.off_nodes);
  for (size_t i = 0; i < nn; i++) {
    rp_node nd = f->nodes[nrev[i]];
    nd.child[0] = REF(nd.child[0]);
    nd.child[1] = REF(nd.child[1]);
    put(ctx, &nd, sizeof nd);
  }
#undef REF
  pos += nn * sizeof(rp_node);
  put_pad(put, ctx, &pos, h.off_planes);
  if (!hamming(ix)) {
    for (size_t i = 0; i < nn; i++) put(ctx, f->planes + (size_t)nrev[i] * ix->dim, row);
    pos += nn * row;
  }
  put_pad(put, ctx, &pos, h.off_leaves);
  uint32_t off = 0;
  for (size_t i = 0; i < nl; i++) {
    rp_leaf l = f->leaves[lrev[i]];
    l.off = off;
    l.cap = l.n;
    off += l.n;
    put(ctx, &l, sizeof l);
  }
  pos += nl * sizeof(rp_leaf);
  put_pad(put, ctx, &pos, h.off_items);
  for (size_t i = 0; i < nl; i++) {
    const rp_leaf *l = &f->leaves[lrev[i]];
    put(ctx, f->items + l->off, (size_t)l->n * 4);
  }
  pos = h.off_items + ni * 4;
  if (with_codes) {
    put_pad(put, ctx, &pos, off_q8(&h));
    put(ctx, ix->q8.lo, (size_t)ix->dim * 4);
    put(ctx, ix->q8.hi, (size_t)ix->dim * 4);
    pos += (uint64_t)ix->dim * 8;
    put_pad(put, ctx, &pos, off_codes(&h));
    put(ctx, ix->codes, ix->n_slots * ix->q8.code_bytes);
  }
  *version = h.layout;
  rc = QV_OK;
out:
  qv__free(ix->mem, nmap);
  qv__free(ix->mem, lmap);
  qv__free(ix->mem, nrev);
  qv__free(ix->mem, lrev);
  qv__free(ix->mem, stack);
  return rc;
}

/* Check a payload's head against the index parameters and its length (O(1)). */
static qv_status check_head(const qv_index_params *p, const void *payload, uint64_t len, rp_head *h) {
  if (len < RP_HEAD) return QV_CORRUPT;
  memcpy(h, payload, sizeof *h);
  rp_head e = *h;
  if (h->dim != p->dim || h->metric != (uint32_t)p->metric || !layout(&e))
    return QV_CORRUPT;
  if (memcmp(&e, h, sizeof e) != 0 || h->total != len || h->count > h->n_slots) return QV_CORRUPT;
  if (h->leaf_k == 0) return QV_CORRUPT;
  return QV_OK;
}

static qv_status rp_open_mapped(const qv_index_params *p, uint32_t version, const void *payload, uint64_t len,
                                qv_index **out) {
  *out = NULL;
  rp_head h;
  if ((version != RP_LAYOUT && version != RP_LAYOUT2) || ((uintptr_t)payload & 63)) return QV_CORRUPT;
  qv_status rc = check_head(p, payload, len, &h);
  if (rc) return rc;
  if (h.layout != version) return QV_CORRUPT;
  qv_index *ix = qv__calloc(p->mem, 1, sizeof *ix);
  if (!ix) return QV_NOMEM;
  const char *b = payload;
  ix->mem = p->mem;
  ix->kern = qv__kernels();
  ix->metric = p->metric;
  ix->dim = p->dim;
  ix->ro = 1;
  ix->n_trees = h.n_trees;
  ix->leaf_k = h.leaf_k;
  ix->rerank = (uint32_t)rp_params[P_RERANK].def;
  ix->entry_cap = rp_params[P_ENTRY_CAP].def;
  ix->min_leaves = (uint32_t)rp_params[P_MIN_LEAVES].def;
  double v[QV_MAX_PARAMS];
  char err[256];
  if (qv__params_resolve(rp_params, "rpforest", p->params_json, NULL, 0, v, err, sizeof err) == QV_OK) {
    ix->search_k = (uint32_t)v[P_SEARCH_K];
    ix->rerank = (uint32_t)v[P_RERANK];
    ix->entry_cap = v[P_ENTRY_CAP];
    ix->min_leaves = (uint32_t)v[P_MIN_LEAVES];
  }
  if (h.codes) { /* the range is copied (and checked: finite, lo <= hi); the codes stay mapped */
    if (hnsw_sq8_init(&ix->q8, p->mem, p->metric, p->dim, 8) != 0) {
      qv__free(p->mem, ix);
      return QV_NOMEM;
    }
    int bad = hnsw_sq8_params_read(&ix->q8, b + off_q8(&h), (size_t)h.dim * 8) != 0;
    for (uint32_t i = 0; i < h.dim && !bad; i++) bad = !isfinite(ix->q8.scale[i]); /* hi - lo overflowed */
    if (bad) {
      hnsw_sq8_free(&ix->q8, p->mem);
      qv__free(p->mem, ix);
      return QV_CORRUPT;
    }
    ix->sq8 = 1;
    ix->codes = (unsigned char *)(uintptr_t)(b + off_codes(&h));
  }
  ix->n_slots = ix->cap = (size_t)h.n_slots;
  ix->count = (size_t)h.count;
  ix->live = (uint64_t *)(uintptr_t)(b + h.off_live);
  ix->vecs = (float *)(uintptr_t)(b + h.off_vecs);
  ix->f.roots = (int32_t *)(uintptr_t)(b + h.off_roots);
  ix->f.nodes = (rp_node *)(uintptr_t)(b + h.off_nodes);
  ix->f.planes = hamming(ix) ? NULL : (float *)(uintptr_t)(b + h.off_planes);
  ix->f.leaves = (rp_leaf *)(uintptr_t)(b + h.off_leaves);
  ix->f.items = (uint32_t *)(uintptr_t)(b + h.off_items);
  ix->f.n_nodes = (size_t)h.n_nodes;
  ix->f.n_leaves = (size_t)h.n_leaves;
  ix->f.n_items = (size_t)h.n_items;
  *out = ix;
  return QV_OK;
}

/* Full structural check of an attached payload (checkpoint loads: the index becomes writable). */
static qv_status check_structure(const qv_index *ix) {
  const rp_forest *f = &ix->f;
  uint64_t pop = 0;
  for (size_t w = 0; w < words_for(ix->n_slots); w++) pop += (uint64_t)__builtin_popcountll(ix->live[w]);
  if (pop != ix->count) return QV_CORRUPT;
  if (ix->n_slots % 64 && (ix->live[words_for(ix->n_slots) - 1] >> (ix->n_slots % 64))) return QV_CORRUPT;
  /* depth-first order: children have larger numbers, so there are no cycles */
  for (uint32_t t = 0; t < ix->n_trees; t++) {
    int32_t r = f->roots[t];
    if (r >= 0 ? (size_t)r >= f->n_nodes : (size_t)~r >= f->n_leaves) return QV_CORRUPT;
  }
  for (size_t i = 0; i < f->n_nodes; i++)
    for (int c = 0; c < 2; c++) {
      int32_t r = f->nodes[i].child[c];
      if (r >= 0 ? ((size_t)r >= f->n_nodes || (size_t)r <= i) : (size_t)~r >= f->n_leaves) return QV_CORRUPT;
    }
  for (size_t i = 0; i < f->n_leaves; i++) {
    const rp_leaf *l = &f->leaves[i];
    if ((uint64_t)l->off + l->n > f->n_items || l->cap != l->n) return QV_CORRUPT;
  }
  for (size_t i = 0; i < f->n_items; i++)
    if (f->items[i] >= ix->n_slots || !is_live(ix, f->items[i])) return QV_CORRUPT;
  return QV_OK;
}

/* A writable copy of an attached payload's arrays, with codes when want_codes (made from the
   rows when the payload has none, dropped when it has some and they are not wanted). */
static qv_status own_copy(qv_index *ix, int want_codes) {
  qv_index t = *ix;
  rp_forest *f = &ix->f;
  size_t row = ix->dim * sizeof(float);
  ix->cap = 0;
  ix->vecs = NULL;
  ix->live = NULL;
  ix->codes = NULL;
  memset(f, 0, sizeof *f);
  ix->ro = 0;
  if (t.sq8 && !want_codes) {
    hnsw_sq8_free(&ix->q8, ix->mem);
    ix->sq8 = 0;
  } else if (!t.sq8 && want_codes) {
    if (hnsw_sq8_init(&ix->q8, ix->mem, ix->metric, ix->dim, 8) != 0) return QV_NOMEM;
    ix->sq8 = 1;
  }
  qv_status rc = ensure_cap(ix, t.n_slots ? t.n_slots : 1);
  if (rc) return rc;
  memcpy(ix->vecs, t.vecs, t.n_slots * row);
  memcpy(ix->live, t.live, words_for(t.n_slots) * 8);
  if (ix->sq8 && t.codes) {
    memcpy(ix->codes, t.codes, t.n_slots * ix->q8.code_bytes);
  } else if (ix->sq8) { /* a payload written without codes: the range from the live rows */
    for (size_t s = 0; s < t.n_slots; s++)
      if (is_live(ix, s)) hnsw_sq8_maybe_train(&ix->q8, row_of(ix, s), 1, 0);
    for (size_t s = 0; s < t.n_slots; s++)
      if (is_live(ix, s)) hnsw_sq8_encode(&ix->q8, row_of(ix, s), ix->codes + s * ix->q8.code_bytes);
  }
  f->roots = qv__malloc(ix->mem, ix->n_trees * 4);
  f->nodes = qv__malloc(ix->mem, (t.f.n_nodes + 1) * sizeof *f->nodes);
  f->leaves = qv__malloc(ix->mem, (t.f.n_leaves + 1) * sizeof *f->leaves);
  f->items = qv__malloc(ix->mem, (t.f.n_items + 1) * 4);
  if (!hamming(ix)) f->planes = qv__malloc_aligned(ix->mem, (t.f.n_nodes + 1) * row);
  if (!f->roots || !f->nodes || !f->leaves || !f->items || (!hamming(ix) && !f->planes)) return QV_NOMEM;
  memcpy(f->roots, t.f.roots, ix->n_trees * 4);
  memcpy(f->nodes, t.f.nodes, t.f.n_nodes * sizeof *f->nodes);
  memcpy(f->leaves, t.f.leaves, t.f.n_leaves * sizeof *f->leaves);
  memcpy(f->items, t.f.items, t.f.n_items * 4);
  if (f->planes) memcpy(f->planes, t.f.planes, t.f.n_nodes * row);
  f->n_nodes = t.f.n_nodes;
  f->nodes_cap = t.f.n_nodes + 1;
  f->n_leaves = t.f.n_leaves;
  f->leaves_cap = t.f.n_leaves + 1;
  f->n_items = f->items_cap = t.f.n_items;
  f->items_cap = t.f.n_items + 1;
  return QV_OK;
}

static void ckpt_put(void *ctx, const void *p, size_t n) { qv__ckpt_write(ctx, p, n); }

static qv_status rp_save(const qv_index *ix, const char *path, uint64_t seq) {
  qv_ckpt_writer w;
  qv_ckpt_hdr hdr = {.kind_tag = RP_TAG, .payload_version = payload_layout(ix), .dim = ix->dim,
                     .metric = (uint32_t)ix->metric, .seq = seq};
  qv_status rc = qv__ckpt_begin(&w, ix->mem, path, &hdr);
  if (rc != QV_OK) return rc;
  uint32_t ver;
  rc = rp_serialize(ix, ckpt_put, &w, &ver);
  if (rc != QV_OK) {
    qv__ckpt_abort(&w);
    return rc;
  }
  return qv__ckpt_commit(&w);
}

static qv_status rp_load(const qv_index_params *p, const char *path, qv_index **out, uint64_t *seq) {
  qv_ckpt_hdr expect = {.kind_tag = RP_TAG, .dim = p->dim, .metric = (uint32_t)p->metric}, got;
  void *payload = NULL;
  qv_index *ix = NULL;
  *out = NULL;
  qv_status rc = qv__ckpt_read(p->mem, path, &expect, &got, &payload);
  if (rc != QV_OK) return rc;
  double v[QV_MAX_PARAMS];
  char err[256];
  rc = qv__params_resolve(rp_params, "rpforest", p->params_json, NULL, 0, v, err, sizeof err) ? QV_INVALID : QV_OK;
  if (rc == QV_OK) rc = rp_open_mapped(p, got.payload_version, payload, got.payload_len, &ix);
  if (rc == QV_OK && ix->n_trees != (uint32_t)v[P_TREES]) rc = QV_CORRUPT; /* built with other parameters */
  if (rc == QV_OK) rc = check_structure(ix);
  if (rc == QV_OK) {
    ix->rerank = (uint32_t)v[P_RERANK];
    rc = own_copy(ix, v[P_CODES] == 1 && (p->metric == QV_METRIC_L2 || p->metric == QV_METRIC_IP ||
                                     p->metric == QV_METRIC_COSINE));
    ix->seed = (uint64_t)v[P_SEED];
    ix->rng = mix64(ix->seed ^ 0x5eedull ^ got.seq);
    ix->n_threads = p->n_threads;
    if (rc == QV_OK) {
      *out = ix;
      if (seq) *seq = got.seq;
      ix = NULL;
    }
  }
  if (ix && !ix->ro) {
    rp_destroy(ix);
  } else if (ix) {
    hnsw_sq8_free(&ix->q8, p->mem);
    qv__free(p->mem, ix);
  }
  qv__free_aligned(p->mem, payload);
  return rc;
}

const qv_index_vt qv__index_rpforest = {
    .name = "rpforest",
    .caps = QV_IXCAP_APPROX,
    .metrics = QV_METRIC_BIT(QV_METRIC_L2) | QV_METRIC_BIT(QV_METRIC_IP) | QV_METRIC_BIT(QV_METRIC_COSINE) |
               QV_METRIC_BIT(QV_METRIC_L1) | QV_METRIC_BIT(QV_METRIC_HAMMING),
    .params = rp_params,
    .create = rp_create,
    .destroy = rp_destroy,
    .add = rp_add,
    .remove = rp_remove,
    .vector = rp_vector,
    .search = rp_search,
    .set_param = rp_set_param,
    .save = rp_save,
    .load = rp_load,
    .stats = rp_stats,
    .reserve = rp_reserve,
    .serialize = rp_serialize,
    .open_mapped = rp_open_mapped,
};
