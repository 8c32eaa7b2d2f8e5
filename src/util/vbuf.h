/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * vbuf.h -- arrays that grow in place: a range of address space is reserved once
 * (mmap PROT_NONE, MAP_NORESERVE: no memory, no commit charge) and pages are made
 * readable/writable as the array grows (mprotect). The array never moves while it stays
 * inside its reservation, so growing it never holds an old and a new copy at once, and
 * readers may keep using it while a writer commits more pages. Fresh pages read as zero.
 *
 * The reservation is sized by qv__vbuf_reserve_for(): enough for `max_elems` elements, but
 * at most about the machine's physical memory (so that many collections fit in the address
 * space); when an array outgrows its reservation the owner falls back to a bigger vbuf and
 * one copy (qv__vbuf_fits() says when). These blocks do not come from the caller's
 * qv_allocator: they are address space, not heap. A failed mmap/mprotect is QV_NOMEM.
 */
#ifndef QV_VBUF_H
#define QV_VBUF_H

#include <stddef.h>

#include "qv_int.h"

typedef struct qv_vbuf {
  void *base;        /* page-aligned start of the reservation, NULL if none */
  size_t reserved;   /* bytes of address space reserved */
  size_t committed;  /* bytes from base that are readable and writable (page multiple) */
} qv_vbuf;

/* Reserve room for `bytes_max` bytes (rounded up to pages), committing nothing yet. When the
 * address space is short, smaller reservations down to `bytes_min` are tried. */
QV_INTERNAL qv_status qv__vbuf_reserve(qv_vbuf *b, size_t bytes_min, size_t bytes_max);
/* The reservation qv__vbuf_reserve should ask for to hold `need` elements of `elem` bytes
 * and room to grow: max(2 * need, min(max_elems, physical memory / elem)) elements. */
QV_INTERNAL size_t qv__vbuf_plan(size_t need, size_t elem, size_t max_elems);
/* 1 if `bytes` fit in b's reservation. */
static inline int qv__vbuf_fits(const qv_vbuf *b, size_t bytes) { return b->base && bytes <= b->reserved; }
/* Make [0, bytes) readable and writable (bytes <= reserved). Idempotent; never moves. Does
 * not change b->committed (so a caller holding b const may call it while others read):
 * qv__vbuf_note() records it once the owner installs the new size. */
QV_INTERNAL qv_status qv__vbuf_commit(const qv_vbuf *b, size_t bytes);
QV_INTERNAL void qv__vbuf_note(qv_vbuf *b, size_t bytes);
/* Test hook: when nonzero, reservations are at most this many bytes (so that tests reach
 * the owners' move-by-copy path with small arrays). 0 in use. */
QV_INTERNAL extern size_t qv__vbuf_test_cap;
/* Release the reservation (NULL-safe on an empty vbuf). */
QV_INTERNAL void qv__vbuf_free(qv_vbuf *b);

#endif /* QV_VBUF_H */
