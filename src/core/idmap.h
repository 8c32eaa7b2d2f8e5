/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * idmap.h -- record id (string) -> slot, an open-addressing hash table with linear probing
 * and backward-shift deletion (no tombstones, so lookups never degrade after churn).
 * The table stores slots only; the key strings live with the owner (the collection's id
 * arena), which the table reads through the key function given at init. Not thread-safe: the collection's lock
 * protects it.
 */
#ifndef QV_IDMAP_H
#define QV_IDMAP_H

#include <stdint.h>

#include "qv_int.h"

#define QV_NO_SLOT UINT32_MAX

typedef struct qv_idmap {
  uint32_t *tab;   /* slot + 1, 0 = empty */
  uint32_t cap;    /* power of two */
  uint32_t n;
  const char *(*key)(const void *ctx, uint32_t slot); /* the id of slot */
  const void *ctx;
} qv_idmap;

QV_INTERNAL void qv__idmap_init(qv_idmap *m, const char *(*key)(const void *ctx, uint32_t slot), const void *ctx);
/* A key function over an array of strings (ctx: the const char *const * array). */
QV_INTERNAL const char *qv__idmap_strv_key(const void *ctx, uint32_t slot);
QV_INTERNAL void qv__idmap_free(const qv_mem *mem, qv_idmap *m);
QV_INTERNAL uint64_t qv__idmap_hash(const char *s);
/* Slot of id, or QV_NO_SLOT. */
QV_INTERNAL uint32_t qv__idmap_get(const qv_idmap *m, const char *id);
/* Make room for n more entries (so that put cannot fail). */
QV_INTERNAL qv_status qv__idmap_reserve(const qv_mem *mem, qv_idmap *m, uint32_t n_more);
/* Insert slot under key(slot); the id must not be present. Needs reserve() first. */
QV_INTERNAL void qv__idmap_put(qv_idmap *m, uint32_t slot);
/* Remove id (present). */
QV_INTERNAL void qv__idmap_del(qv_idmap *m, const char *id);

#endif /* QV_IDMAP_H */
