/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * arena.h -- a collection's per-record byte strings (ids, packed metadata) in chunks that
 * never move, instead of one heap block per value.
 *
 * An entry is a length (LEB128 varint), its bytes and a NUL, in a block of whole 8-byte
 * granules; it is named by a 64-bit ref, (chunk number + 1) << 32 | granule offset, 0 being
 * "none". Chunks are allocated as the arena grows (4 KiB doubling up to 1 MiB, larger only for
 * an entry or batch that needs it) and are never moved or copied, so growth never holds two
 * copies. A freed block goes on a free list by size class (exact for blocks up to 64
 * granules, powers of two above: a block is allocated at its class's size) and the next
 * entry of that class reuses it, so churn does not grow the arena.
 *
 * Not thread-safe: the collection's lock protects it. Allocation cannot fail once reserved:
 * a writer reserves the batch's bytes (qv__arena_reserve, which may allocate) before its
 * COMMIT and allocates after it, where nothing may fail (write.c).
 */
#ifndef QV_ARENA_H
#define QV_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "qv_int.h"

#define QV_ARENA_CLASSES (64 + 32)

typedef struct qv_arena {
  unsigned char **chunks;   /* chunk i; never moves once allocated */
  uint64_t *chunk_size;     /* its bytes */
  uint32_t n_chunks, cap_chunks;
  uint64_t cur_used;        /* bytes used in the last chunk (the one being filled) */
  unsigned char *spare;     /* reserved next chunk, not yet in use */
  uint64_t spare_size;
  uint64_t free_head[QV_ARENA_CLASSES]; /* refs of free blocks, linked through their first 8 bytes */
  uint64_t bytes;           /* chunks + spare: what the arena holds from the allocator */
  uint64_t live;            /* bytes of blocks in use */
} qv_arena;

QV_INTERNAL void qv__arena_init(qv_arena *a);
QV_INTERNAL void qv__arena_free(const qv_mem *mem, qv_arena *a);
/* Bytes of the block an entry of len bytes takes (what to pass to reserve). */
QV_INTERNAL uint64_t qv__arena_block(size_t len);
/* Make sure entries whose blocks add up to `bytes` (sum of qv__arena_block) can be put
 * without allocating. QV_NOMEM otherwise (the arena is unchanged in what it holds). */
QV_INTERNAL qv_status qv__arena_reserve(const qv_mem *mem, qv_arena *a, uint64_t bytes);
/* Copy len bytes (+ NUL) into the arena; needs a reserve covering it. Never 0. */
QV_INTERNAL uint64_t qv__arena_put(qv_arena *a, const void *p, size_t len);
/* Release an entry (ref 0: nothing). */
QV_INTERNAL void qv__arena_del(qv_arena *a, uint64_t ref);
/* The bytes of an entry (NUL-terminated), and their length into *len when len is not NULL. */
QV_INTERNAL const unsigned char *qv__arena_get(const qv_arena *a, uint64_t ref, size_t *len);
/* Bytes the arena holds from the allocator, its chunk table included. */
QV_INTERNAL uint64_t qv__arena_footprint(const qv_arena *a);

#endif /* QV_ARENA_H */
