/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index.h -- the index interface. An index maps slots (dense uint32 numbers the collection
 * hands out, one per live record, reused after deletes) to vectors and answers k-NN queries.
 *
 * Indexes are derived state: the collection (collection.c) rebuilds them from the records in
 * SQLite when their checkpoint file is missing or damaged.
 *
 * An index kind is a plug-in: one folder under src/index/ exporting one qv_index_vt, plus one
 * line in registry.c. Nothing else in the library or its faces names a kind's settings: they
 * are declared in the vtable's `params` table (params.h), travel as one JSON object (the
 * catalog column, qv_collection_opts.params_json, qv_collection_info.params_json, the CLI's
 * --param/--params, Python keyword arguments, the server's configuration), and reach create()
 * and load() as the canonical text in qv_index_params.params_json. `caps` tells the collection
 * what the kind can do (approximate? tombstones to compact? range search? trained? static?)
 * and `metrics` which metrics it supports, so no code outside the kind tests its name.
 *
 * Vectors handed to add() are already prepared by the collection (unit length for cosine),
 * and the distances search() returns are the metric's reported distances (dist.h:
 * qv__metric_dist), so the collection never post-processes them.
 *
 * Locking: the collection holds its rwlock in read mode around search()/vector()/stats() and
 * in write mode around add()/remove()/set_param()/save(). An index may parallelise inside a
 * single add() call (both cores), but need not be safe against concurrent add() calls.
 */
#ifndef QV_INDEX_H
#define QV_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "params.h"
#include "qv_int.h"
#include "topk.h"

typedef struct qv_index qv_index; /* each kind defines struct qv_index privately */

/*
 * Where an index can read a slot's prepared vector (unit length for cosine) when it does not
 * keep floats itself: re-ranking from codes, compaction and replay. The collection provides it
 * (from the index that keeps floats, or from the store). get() fills out (dim floats) and
 * returns QV_NOTFOUND for a slot without a record; safe to call from several threads.
 */
typedef struct qv_vec_source {
  void *ctx;
  qv_status (*get)(void *ctx, uint32_t slot, float *out);
  /* Optional (NULL: get() one by one): n slots at once into out (n * dim floats), each row's
   * status into each[i] (QV_OK, QV_NOTFOUND, or an error); one read transaction for all of
   * them, which is most of what a read costs (the HNSW re-rank of a lean index). Returns QV_OK
   * unless the batch as a whole failed. */
  qv_status (*get_many)(void *ctx, const uint32_t *slots, size_t n, float *out, qv_status *each);
} qv_vec_source;

typedef struct qv_index_params {
  const qv_mem *mem;
  qv_metric metric;
  uint32_t dim;
  const char *params_json;  /* the kind's canonical parameters (params.h); NULL = defaults */
  int n_threads;            /* threads an index may use inside add() / batch search */
  const qv_vec_source *vsrc;/* may be NULL (in-memory databases, tests) */
  char *err;                /* may be NULL: create() puts why a configuration does not fit here */
  size_t errlen;            /* ("KEY: reason", e.g. a parameter that does not suit dim) */
} qv_index_params;

/* What a kind can do (qv_index_vt.caps). */
enum {
  QV_IXCAP_APPROX = 1,     /* answers may miss true neighbours: the planner may scan instead */
  QV_IXCAP_TOMBSTONES = 2, /* deletes leave tombstones that compaction (core/compact.c) drops */
  QV_IXCAP_RANGE = 4,      /* range_search is provided */
  QV_IXCAP_TRAINED = 8,    /* needs train() (or learns from its first batch) before adds */
  QV_IXCAP_STATIC = 16     /* read-only once built (snapshot files) */
};

#define QV_METRIC_BIT(m) (1u << (unsigned)(m))

/* 1 if slot may appear in results (filter passed). Called from inside search(). */
typedef int (*qv_slot_pred)(void *ctx, uint32_t slot);

typedef struct qv_search_req {
  const float *q;     /* prepared query (unit length for cosine), dim floats */
  size_t k;
  uint32_t ef;        /* 0 = index default */
  qv_slot_pred pred;  /* NULL = every live slot qualifies */
  void *pred_ctx;
  const char *params; /* this query's runtime parameters (JSON, validated by the collection) or NULL */
} qv_search_req;

typedef struct qv_index_vt {
  const char *name;
  unsigned caps;                  /* QV_IXCAP_* */
  unsigned metrics;               /* QV_METRIC_BIT() of each metric the kind supports */
  const qv_param_spec *params;    /* the kind's parameters, NULL-name terminated */
  qv_status (*create)(const qv_index_params *p, qv_index **out);
  void (*destroy)(qv_index *ix);
  /*
   * Insert or replace n vectors: slots[i] gets vecs[i*dim .. +dim). A slot may be new (any
   * value, the index grows), live (the vector is replaced), or previously removed (reused).
   * All or nothing on QV_NOMEM.
   */
  qv_status (*add)(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n);
  /* Remove a live slot; it never appears in results again until re-added. */
  qv_status (*remove)(qv_index *ix, uint32_t slot);
  /* The stored (prepared) vector of a live slot, or NULL. */
  const float *(*vector)(const qv_index *ix, uint32_t slot);
  /*
   * Up to req->k nearest live slots passing req->pred, best first, into out (room for k).
   * *n_out = number written. Must not allocate per call beyond small scratch.
   */
  qv_status (*search)(const qv_index *ix, const qv_search_req *req, qv_hit *out, size_t *n_out);
  /*
   * Optional (NULL = the collection loops over search() on its threads): nq queries at once,
   * no predicate, out has nq*k entries, n_out[nq] counts.
   */
  qv_status (*search_batch)(const qv_index *ix, const float *qs, size_t nq, size_t k, uint32_t ef,
                            int n_threads, qv_hit *out, size_t *n_out);
  /* Change a runtime parameter (one marked `runtime` in params; already validated). */
  qv_status (*set_param)(qv_index *ix, const char *name, double value);
  /* Write a checkpoint file at path (atomically: tmp + rename) recording seq. */
  qv_status (*save)(const qv_index *ix, const char *path, uint64_t seq);
  /*
   * Load a checkpoint written by save() with the same params (dim, metric...). QV_CORRUPT on a
   * bad magic, version, checksum or params mismatch; QV_NOTFOUND if the file does not exist.
   */
  qv_status (*load)(const qv_index_params *p, const char *path, qv_index **out, uint64_t *seq);
  void (*stats)(const qv_index *ix, qv_index_stats *out);
  /*
   * Make room for slots [0, n_slots) so that a following add() of slots in that range cannot
   * fail for lack of memory (the collection calls it before committing a batch). NULL when an
   * index's add() never allocates.
   */
  qv_status (*reserve)(qv_index *ix, size_t n_slots);
  /*
   * Optional (NULL: the collection inserts a batch in one add() under its exclusive lock).
   * add() for slots that are not live, whose nodes join the structure hidden: searches may
   * traverse them but never return them, vector() gives NULL, stats do not count them. The
   * collection inserts a large batch of new records this way in chunks, letting readers run
   * between chunks, then makes the whole batch live at once with publish(). train/n_train:
   * on the first chunk of a batch, all of the batch's vectors, for what an index learns from
   * a batch as a whole (the sq8 quantizer's ranges, as one add() of the batch would); NULL
   * on the later chunks.
   */
  qv_status (*add_hidden)(qv_index *ix, const uint32_t *slots, const float *vecs, size_t n,
                          const float *train, size_t n_train);
  /* Make hidden slots live (slots that are not hidden are left alone). */
  void (*publish)(qv_index *ix, const uint32_t *slots, size_t n);
  /*
   * Optional: reserve() in two steps, so that copying into bigger arrays does not keep
   * searches waiting. reserve_build() only reads ix -- searches may run, adds and removes may
   * not -- and returns the grown arrays in *staged (NULL when ix has room already);
   * reserve_install() (exclusive access) puts them in place and frees the old ones;
   * reserve_drop() frees staged arrays that will not be installed.
   */
  qv_status (*reserve_build)(const qv_index *ix, size_t n_slots, void **staged);
  void (*reserve_install)(qv_index *ix, void *staged);
  void (*reserve_drop)(const qv_index *ix, void *staged);
  /*
   * Optional (NULL: nothing to learn, or learnt from the first add()). Learn what the kind
   * needs from a sample of n prepared vectors (ranges, codebooks, centroids) before adds.
   */
  qv_status (*train)(qv_index *ix, const float *vecs, size_t n);
  /*
   * Optional (NULL: the collection scans exactly). Every live slot passing req->pred with
   * distance <= radius, best first, at most req->k of them when req->k > 0 (the nearest).
   * *out is allocated with mem (the caller frees it, also when *n_out is 0). Exact indexes
   * return the exact set; approximate ones say how they bound recall.
   */
  qv_status (*range_search)(const qv_index *ix, const qv_search_req *req, float radius, const qv_mem *mem,
                            qv_hit **out, size_t *n_out);
  /*
   * Optional, for snapshot files (core/static.c, docs/FORMAT.md). serialize() writes the
   * kind's payload -- the bytes a checkpoint holds after its envelope -- through put() and
   * sets *payload_version. open_mapped() attaches a read-only index to such a payload in
   * memory (a mapped file, 64-byte aligned) without copying it: O(1) apart from checks of its
   * header; the payload's contents are not trusted (every access is bounds-checked, so a
   * damaged payload gives wrong answers or QV_CORRUPT, never a crash). The bytes must outlive
   * the index; add/remove on it return QV_UNSUPPORTED. A kind without them goes into snapshot
   * files as a whole checkpoint file, loaded (copied) on first use.
   */
  qv_status (*serialize)(const qv_index *ix, void (*put)(void *ctx, const void *p, size_t n), void *ctx,
                         uint32_t *payload_version);
  qv_status (*open_mapped)(const qv_index_params *p, uint32_t payload_version, const void *payload,
                           uint64_t len, qv_index **out);
  /*
   * Optional (NULL: save() already writes such a file). A checkpoint that load() can read
   * without a vector source (every float inside): what a snapshot file embeds.
   */
  qv_status (*save_standalone)(const qv_index *ix, const char *path, uint64_t seq);
  /*
   * Optional (NULL: vector() != NULL tells). 1 if slot is live in the index; for kinds whose
   * vector() may be NULL for a live slot (floats not resident: ivf).
   */
  int (*contains)(const qv_index *ix, uint32_t slot);
} qv_index_vt;

QV_INTERNAL extern const qv_index_vt qv__index_flat;
QV_INTERNAL extern const qv_index_vt qv__index_hnsw;
/* index/hnsw/range.c: HNSW range search by expanding k (see qv_collection_range_search). */
QV_INTERNAL qv_status qv__hnsw_range_search(const qv_index *ix, const qv_search_req *req, float radius,
                                            const qv_mem *mem, qv_hit **out, size_t *n_out);
QV_INTERNAL extern const qv_index_vt qv__index_rpforest;
QV_INTERNAL extern const qv_index_vt qv__index_ivf;

/* The vtable of the kind called name, or NULL if no such kind is built in. */
QV_INTERNAL const qv_index_vt *qv__index_find(const char *name);
/* The registered kinds, NULL-terminated. */
QV_INTERNAL const qv_index_vt *const *qv__index_all(void);

#endif /* QV_INDEX_H */
