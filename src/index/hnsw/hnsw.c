/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/hnsw/hnsw.c -- the HNSW index (Malkov & Yashunin, "Efficient and robust approximate nearest
 * neighbor search using Hierarchical Navigable Small World graphs", 2016/2018).
 *
 * Graph layout
 *   Nodes are slots (uint32, handed out by the collection). Everything per node lives in
 *   arrays indexed by slot, grown geometrically:
 *     l0      one block of bsz bytes per node:
 *               u32 count | u32 ids[M0] | traversal vector
 *             M0 = 2*M. The traversal vector is the float vector itself (float mode; it
 *             starts on the next cache line, bsz a multiple of 64) or a scalar-quantized
 *             code (quant/sq8.h: f32 norm + one byte per dimension with sq8, one nibble with
 *             sq4; bsz a multiple of 16 -- files with 64-byte blocks still load). quantizer
 *             auto (the default) takes sq8; sq4 is opt-in (hnsw_int.h: hnsw_quant_bits).
 *             Either way the vector a search touches sits right behind the neighbour list
 *             it came from.
 *             From 4 MiB up the arena is 2 MiB aligned and madvise(MADV_HUGEPAGE)d: a
 *             search touches nodes at random, and huge pages save a page walk on almost
 *             every one.
 *     vecs    sq8 mode only: the exact float vectors, one 16-byte aligned row per node, used
 *             for vector(), the exact re-rank and neighbour selection. In float mode vbase
 *             points at the vectors inside l0 (stride bsz). Absent in a lean index (below).
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
 *   while the current one is processed. With codes, the distances of one expanded node's
 *   unvisited neighbours are computed in one call (hnsw_sq8_dist_many: the kernel inlined,
 *   the prefetches inside), and ef is at least 1.5 k (search.c: code_ef). A query whose every
 *   node qualifies (no filter, no tombstone, no hidden node) searches level 0 on one sorted
 *   array of the ef best (search.c: search_pool) instead of the two heaps.
 *   In sq8 mode the search runs on codes and the best rerank*k of the ef results (by code
 *   distance; parameter rerank, 3 by default, 0 = all ef) are re-ranked with exact
 *   float distances, so reported distances are exact. Each re-ranked candidate costs a whole
 *   float row from memory; at ef=80 on a 100-d set the limit cuts simulated LL misses per
 *   query by 26% with the same recall (bench/RESULTS.md section 7). The query is turned into
 *   integer weights once per search: int8 with AVX-512 VNNI (one vpdpbusd per 64 dimensions),
 *   int16 (12-bit) on AVX2 (vpmaddwd per 16 dimensions; half the instructions of the
 *   float-query x u8 kernel at 784-d, same recall); without either, a float-query x u8
 *   kernel is used (quant/sq8.c; QV_HNSW_VNNI=0 forces it). Measured on Fashion-MNIST
 *   (60k x 784, M=16, ef=20, same recall, AVX-512 machine): float traversal ~1.0x hnswlib
 *   built -march=native, sq8 float x u8 ~1.5x, sq8 VNNI ~2.2x.
 *
 * Neighbour selection
 *   Insertion as in the paper (Algorithm 1) with the heuristic of Algorithm 4 (keep a
 *   candidate only if it is closer to the new node than to every neighbour already kept),
 *   M links per level for the new node, lists of at most M (upper) / M0 (level 0) entries;
 *   a full neighbour list that receives a back link is re-pruned with the same heuristic.
 *   With codes the construction search traverses on codes too (parameter build_on_codes;
 *   false turns that off), but the ef_construction candidates are re-scored exactly before selection,
 *   and the heuristic always compares exact float distances.
 *
 * Without resident floats (parameter keep_floats false; "lean")
 *   With codes and a vector source (a persistent database: the collection reads a record's
 *   prepared float from the SQLite store), an index with keep_floats false has no vecs array:
 *   a node costs its level-0 block (links + code) and upper lists. Then
 *   - the exact re-rank reads its candidates' floats through the source, all of them in one
 *     call (qv_vec_source.get_many: one read transaction), the same rerank * k (at least
 *     HNSW_RERANK_MIN; 0 = all ef) as with floats, so answers and distances are the same
 *     kind; each candidate costs a store read (a few microseconds, bench/RESULTS.md);
 *   - insertion traverses on codes (build_on_codes is implied) and keeps the float x code
 *     distances of its search for selection; the heuristic, re-pruning a full list and
 *     detaching a node compare decoded codes (sq8_decode into scratch: both sides are stored
 *     nodes);
 *   - vector() is NULL and contains() tells a live slot: the collection reads embeddings,
 *     compaction input and vector-arithmetic terms from the store;
 *   - when a batch widens the quantizer's range (while the index is small, sq8.c), a live
 *     node is re-encoded from the source's exact floats when they encode (old range) to its
 *     code -- mid-write, a slot the batch rewrites may map to another record already --, and
 *     a node without a record
 *     (tombstone) or whose read fails from its old code decoded with the old range (each such
 *     re-encoding adds at most half a step of rounding; the range only grows, so the decoded
 *     value is inside it);
 *   - lossless codes (ix->exact: every vector added decoded bit for bit from its code, which
 *     integer data on the quantizer's integer grid gives, sq8.h): the re-rank decodes codes
 *     instead of reading the source -- the same ids and distances, no store read -- and ef
 *     has no 1.5 k floor; one vector that is not lossless clears it for good (the flag is in
 *     the checkpoint header; docs/QUANTIZATION.md, "Lossless codes");
 *   - the checkpoint is payload version 3 (io.c: no float rows, not even tombstones'), and
 *     snapshot files get every row from the source (mapped.c).
 *   Without a vector source (in-memory databases) the floats stay, whatever the parameter.
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
#include "hnsw_int.h"

/* ------------------------------------------------------------------ create / destroy */

static void geometry(qv_index *ix) {
  size_t links = (size_t)(ix->M0 + 1) * sizeof(uint32_t);
  if (ix->sq8) {
    ix->code_off = links;
    /* 16-byte blocks, not 64: at 100-d and M=16 a block is 236 bytes, 64-byte alignment made
     * it 256 (+3% of the index, the difference between 1.11x and 1.09x hnswlib's memory); a
     * block then spans one more cache line at most, and prefetches cover exactly its lines.
     * Files written with 64-byte blocks (before) load with their own stride (io.c). */
    ix->bsz = align16(links + ix->q8.code_bytes);
    /* rows 16-byte aligned, not 64: at dim 100 a 64-byte stride would pad 400 bytes to 448
     * (+7% of the index) for rows only the re-rank reads; the kernels load unaligned.
     * Files written with 64-byte rows (before) load with their own stride (io.c). */
    ix->vstride = ((size_t)ix->dim * sizeof(float) + 15) & ~(size_t)15;
  } else {
    ix->code_off = align64(links); /* the float vector starts on a cache line */
    ix->bsz = align64(ix->code_off + (size_t)ix->dim * sizeof(float));
    ix->vstride = ix->bsz;
  }
}

/* The kind's parameters (index/params.h): what the catalog stores as its JSON object. */
static const char *const quantizers[] = {"none", "sq8", "sq4", "auto", NULL};
static const qv_param_spec hnsw_params[] = {
    {"M", QV_PT_UINT, 16, 2, MAX_M / 2, NULL, 0, "max_neighbors",
     "links per node on the upper levels (2*M on level 0)"},
    {"ef_construction", QV_PT_UINT, 200, 1, 100000, NULL, 1, "construction_ef", "candidate list size while inserting"},
    {"ef_search", QV_PT_UINT, 64, 1, 100000, NULL, 1, "search_ef", "default candidate list size of a query"},
    {"quantizer", QV_PT_ENUM, 3, 0, 0, quantizers, 0, NULL,
     "traversal codes kept in the adjacency blocks: none (floats), sq8 (8-bit scalar), sq4 (4-bit "
     "scalar; opt-in: it loses recall on anisotropic data) or auto (sq8)"},
    {"rerank", QV_PT_UINT, 3, 0, 1000000, NULL, 1, NULL,
     "with codes: re-rank the rerank*k best by code distance on exact floats (0: all ef)"},
    {"build_on_codes", QV_PT_BOOL, 1, 0, 1, NULL, 1, NULL,
     "with codes: construction searches traverse on the codes too (selection is exact)"},
    {"keep_floats", QV_PT_BOOL, HNSW_KEEP_FLOATS_DEFAULT, 0, 1, NULL, 0, NULL,
     "with codes: keep a resident float row per node; false (persistent databases only) re-ranks "
     "from the store and selects neighbours on the codes"},
    {NULL, QV_PT_UINT, 0, 0, 0, NULL, 0, NULL, NULL},
};

/* Resolve p->params_json; QV_INVALID if it does not validate (the collection checked it). */
qv_status hnsw_resolve(const qv_index_params *p, double *v) {
  char err[256];
  return qv__params_resolve(hnsw_params, "hnsw", p->params_json, NULL, 0, v, err, sizeof err);
}

QV_INTERNAL qv_status hnsw_new(const qv_index_params *p, uint32_t m, int sq8, qv_index **out) {
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
  double v[QV_MAX_PARAMS];
  if (hnsw_resolve(p, v) != QV_OK) {
    qv__free(p->mem, ix);
    return QV_INVALID;
  }
  ix->efc = (uint32_t)v[P_EFC];
  ix->efs = (uint32_t)v[P_EFS];
  ix->mult = 1.0 / log((double)m);
  ix->max_level = -1;
  ix->seed = 0x5eed0f9a11c0ffeeull;
  switch (p->metric) {
  case QV_METRIC_L2: ix->dfn = ix->kern->l2sq; break;
  case QV_METRIC_L1: ix->dfn = ix->kern->l1; break;
  default: ix->dfn = ix->kern->dot; ix->one_minus = 1; break;
  }
  ix->sq8 = sq8 && p->metric != QV_METRIC_L1 ? sq8 : 0;
  ix->rerank = (size_t)v[P_RERANK];
  ix->build_codes = v[P_BUILD_CODES] != 0;
  /* floats stay resident without codes (they are the traversal vectors) and without a vector
   * source (an in-memory database: nowhere else to read them from), as ivf does */
  ix->lean = ix->sq8 && v[P_KEEP_FLOATS] == 0 && p->vsrc;
  ix->exact = ix->sq8 != 0; /* nothing added yet: every code is lossless */
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

static qv_status hnsw_create(const qv_index_params *p, qv_index **out) {
  if (!out) return QV_INVALID;
  *out = NULL;
  if (!p) return QV_INVALID;
  double v[QV_MAX_PARAMS];
  qv_status rc = hnsw_resolve(p, v);
  if (rc) return rc;
  /* code width of the traversal copy: 0 (float traversal), 8 or 4 bits, the stored parameter */
  return hnsw_new(p, (uint32_t)v[P_M], hnsw_quant_bits(v[P_QUANT], p->dim), out);
}

QV_INTERNAL void hnsw_destroy(qv_index *ix) {
  if (!ix) return;
  const qv_mem *mem = ix->mem;
  if (ix->mapped) { /* mapped.c: these point into a snapshot's mapping */
    ix->state = ix->level = NULL;
    ix->cap = 0;
  }
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
    hnsw_scratch_free(mem, ix->pool);
    ix->pool = n;
  }
  hnsw_sq8_free(&ix->q8, mem);
  pthread_mutex_destroy(&ix->glock);
  pthread_mutex_destroy(&ix->pool_lock);
  qv__free(mem, ix);
}

static qv_status hnsw_set_param(qv_index *ix, const char *name, double value) {
  if (!ix || !name) return QV_INVALID;
  if (strcmp(name, "ef_search") == 0 || strcmp(name, "ef") == 0) {
    if (!(value >= 1 && value <= 1e6) || value != floor(value)) return QV_INVALID;
    ix->efs = (uint32_t)value;
    return QV_OK;
  }
  if (strcmp(name, "rerank") == 0) { /* sq8: re-rank the rerank*k best exactly; 0 = all ef */
    if (!(value >= 0 && value <= 1e6) || value != floor(value)) return QV_INVALID;
    ix->rerank = (size_t)value;
    return QV_OK;
  }
  if (strcmp(name, "build_on_codes") == 0) {
    if (value != 0 && value != 1) return QV_INVALID;
    ix->build_codes = value != 0;
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
    if (ix->mapped || ix->up[s]) links += (uint64_t)ix->level[s] * (ix->M + 1) * 4;
  out->mem_graph = links;
  out->mem_vectors = (uint64_t)ix->cap * (ix->sq8 ? (ix->lean ? 0 : ix->vstride) + (ix->bsz - ix->code_off)
                                                  : ix->bsz - ix->code_off);
  out->mem_codes = ix->sq8 ? (uint64_t)ix->cap * (ix->bsz - ix->code_off) : 0;
}


const qv_index_vt qv__index_hnsw = {
    .name = "hnsw",
    .caps = QV_IXCAP_APPROX | QV_IXCAP_TOMBSTONES | QV_IXCAP_RANGE,
    .metrics = QV_METRIC_BIT(QV_METRIC_L2) | QV_METRIC_BIT(QV_METRIC_IP) | QV_METRIC_BIT(QV_METRIC_COSINE),
    .params = hnsw_params,
    .create = hnsw_create,
    .destroy = hnsw_destroy,
    .add = hnsw_add,
    .remove = hnsw_remove,
    .vector = hnsw_vector,
    .search = hnsw_search,
    .search_batch = hnsw_search_batch,
    .set_param = hnsw_set_param,
    .save = hnsw_save,
    .load = hnsw_load,
    .stats = hnsw_stats,
    .reserve = hnsw_reserve,
    .add_hidden = hnsw_add_hidden,
    .publish = hnsw_publish,
    .reserve_build = hnsw_reserve_build,
    .reserve_install = hnsw_reserve_install,
    .reserve_drop = hnsw_reserve_drop,
    .range_search = qv__hnsw_range_search,
    .contains = hnsw_contains,
    .save_standalone = hnsw_save_standalone,
    .serialize = hnsw_serialize,
    .open_mapped = hnsw_open_mapped,
};
