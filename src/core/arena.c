/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * arena.c -- chunked, non-moving storage of per-record byte strings (see arena.h).
 */
#include <string.h>

#include "arena.h"

#define GRAN 8u
#define CHUNK_MIN ((uint64_t)4 << 10)
#define CHUNK_MAX ((uint64_t)1 << 20)
#define EXACT 64u /* classes 0..63: blocks of 1..64 granules */

static size_t varint_size(size_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* Granules of an entry's block before rounding to its class. */
static uint64_t raw_granules(size_t len) { return ((uint64_t)varint_size(len) + len + 1 + GRAN - 1) / GRAN; }

/* Size class of a block of g granules, and the granules the class allocates. */
static unsigned size_class(uint64_t g, uint64_t *cls_g) {
  if (g <= EXACT) {
    *cls_g = g;
    return (unsigned)g - 1;
  }
  unsigned k = 7; /* 2^7 = 128 granules: the first power class */
  while (((uint64_t)1 << k) < g) k++;
  *cls_g = (uint64_t)1 << k;
  return EXACT + (k - 7);
}

uint64_t qv__arena_block(size_t len) {
  uint64_t g;
  size_class(raw_granules(len), &g);
  return g * GRAN;
}

void qv__arena_init(qv_arena *a) { memset(a, 0, sizeof *a); }

void qv__arena_free(const qv_mem *mem, qv_arena *a) {
  for (uint32_t i = 0; i < a->n_chunks; i++) qv__free(mem, a->chunks[i]);
  qv__free(mem, a->chunks);
  qv__free(mem, a->chunk_size);
  qv__free(mem, a->spare);
  qv__arena_init(a);
}

static unsigned char *at(const qv_arena *a, uint64_t ref) {
  return a->chunks[(ref >> 32) - 1] + (ref & 0xffffffffu) * GRAN;
}

qv_status qv__arena_reserve(const qv_mem *mem, qv_arena *a, uint64_t bytes) {
  if (!bytes) return QV_OK;
  if (a->n_chunks == a->cap_chunks) {
    if (a->cap_chunks >= UINT32_MAX / 2 - 1) return QV_NOMEM;
    uint32_t nc = a->cap_chunks ? a->cap_chunks * 2 : 8;
    unsigned char **c = qv__realloc(mem, a->chunks, nc * sizeof *c);
    if (!c) return QV_NOMEM;
    a->chunks = c;
    uint64_t *s = qv__realloc(mem, a->chunk_size, nc * sizeof *s);
    if (!s) return QV_NOMEM;
    a->chunk_size = s;
    a->cap_chunks = nc;
  }
  if (a->n_chunks && a->chunk_size[a->n_chunks - 1] - a->cur_used >= bytes) return QV_OK;
  if (a->spare && a->spare_size >= bytes) return QV_OK;
  uint64_t size = a->bytes < CHUNK_MIN ? CHUNK_MIN : a->bytes > CHUNK_MAX ? CHUNK_MAX : a->bytes;
  if (size < bytes) size = (bytes + GRAN - 1) / GRAN * GRAN;
  if (size / GRAN > UINT32_MAX || size != (uint64_t)(size_t)size) return QV_NOMEM;
  unsigned char *p = qv__malloc(mem, (size_t)size);
  if (!p) return QV_NOMEM;
  if (a->spare) {
    qv__free(mem, a->spare);
    a->bytes -= a->spare_size;
  }
  a->spare = p;
  a->spare_size = size;
  a->bytes += size;
  return QV_OK;
}

uint64_t qv__arena_put(qv_arena *a, const void *p, size_t len) {
  uint64_t g, ref;
  unsigned cls = size_class(raw_granules(len), &g);
  uint64_t block = g * GRAN;
  if (a->free_head[cls]) {
    ref = a->free_head[cls];
    memcpy(&a->free_head[cls], at(a, ref), sizeof ref);
  } else {
    if (!a->n_chunks || a->chunk_size[a->n_chunks - 1] - a->cur_used < block) {
      /* reserve() made room: the spare chunk takes the rest of the batch */
      assert(a->spare && a->spare_size >= block && a->n_chunks < a->cap_chunks);
      a->chunks[a->n_chunks] = a->spare;
      a->chunk_size[a->n_chunks] = a->spare_size;
      a->n_chunks++;
      a->spare = NULL;
      a->spare_size = 0;
      a->cur_used = 0;
    }
    ref = ((uint64_t)a->n_chunks << 32) | (a->cur_used / GRAN);
    a->cur_used += block;
  }
  unsigned char *d = at(a, ref);
  size_t v = len;
  do {
    *d++ = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    v >>= 7;
  } while (v);
  memcpy(d, p, len);
  d[len] = 0;
  a->live += block;
  return ref;
}

const unsigned char *qv__arena_get(const qv_arena *a, uint64_t ref, size_t *len) {
  const unsigned char *d = at(a, ref);
  size_t v = 0;
  unsigned sh = 0;
  for (;; sh += 7) {
    unsigned char b = *d++;
    v |= (size_t)(b & 0x7f) << sh;
    if (!(b & 0x80)) break;
  }
  if (len) *len = v;
  return d;
}

void qv__arena_del(qv_arena *a, uint64_t ref) {
  if (!ref) return;
  size_t len;
  uint64_t g;
  qv__arena_get(a, ref, &len);
  unsigned cls = size_class(raw_granules(len), &g);
  memcpy(at(a, ref), &a->free_head[cls], sizeof ref);
  a->free_head[cls] = ref;
  a->live -= g * GRAN;
}

uint64_t qv__arena_footprint(const qv_arena *a) {
  return a->bytes + (uint64_t)a->cap_chunks * (sizeof *a->chunks + sizeof *a->chunk_size);
}
