/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fcache.h -- a collection's filter cache: for filters used more than once, the set of
 * matching slots as a bitmap, kept exact across writes.
 *
 * Lucene keeps bitsets of frequently used filters for the same reason: a filtered graph
 * search tests its predicate on thousands of nodes, and evaluating a filter against a
 * record's metadata chases several pointers per node, while a bit test in a bitmap of n/8
 * bytes stays in cache. The bitmap also gives the planner the exact selectivity and lets a
 * low-selectivity query scan only the matching slots.
 *
 * Admission: a filter (by its where / where_document text) gets a bitmap the second time it is
 * seen among the last FC_RECENT distinct filters, so one-off filters never pay for a full
 * evaluation. At most FC_MAX entries and FC_MAX_BYTES of bitmaps (least recently used
 * evicted): 256 filters of a 60k-record collection take 2 MB.
 * Freshness: every write updates every cached bitmap for the slots it touched (writers hold
 * the collection's write lock, so no reader looks at a bitmap while it changes).
 * Lifetime: entries are reference counted; a query holds its entry until it returns.
 */
#ifndef QV_FCACHE_H
#define QV_FCACHE_H

#include <stdint.h>

#include "qv_int.h"

typedef struct qv_fcache qv_fcache;
typedef struct qv_fent qv_fent;

struct qv_fent_view {
  const uint64_t *bits; /* bit s set: slot s is live and matches */
  uint64_t n_words;
  uint64_t count;       /* bits set */
};

QV_INTERNAL qv_fcache *qv__fcache_new(const qv_mem *mem);
QV_INTERNAL void qv__fcache_free(const qv_mem *mem, qv_fcache *fc);
/*
 * The cached bitmap for this filter text, building it if it qualifies; NULL when not cached
 * (the caller evaluates the filter per record). Caller holds c's read lock; release the
 * entry with qv__fcache_release before dropping it.
 */
struct qv_collection;
QV_INTERNAL qv_fent *qv__fcache_acquire(struct qv_collection *c, const char *where, const char *where_doc);
QV_INTERNAL void qv__fcache_release(struct qv_collection *c, qv_fent *e);
QV_INTERNAL struct qv_fent_view qv__fcache_view(const qv_fent *e);
/* Slots whose metadata/document changed or were deleted (caller holds the write lock). */
QV_INTERNAL void qv__fcache_update(struct qv_collection *c, const uint32_t *slots, size_t n);
/* Grow every bitmap to cover n_slots (before an apply that cannot fail). */
QV_INTERNAL qv_status qv__fcache_reserve(struct qv_collection *c, uint32_t n_slots);

static inline int qv__fbit(const uint64_t *bits, uint32_t s) { return (int)((bits[s >> 6] >> (s & 63)) & 1); }

#endif /* QV_FCACHE_H */
