/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * memstats.c -- the collection's own memory by component, for qv_collection_stats_get()
 * (docs/MEMORY.md has the formulas). The index reports its vectors, codes and graph; this
 * adds what the collection keeps per record:
 *   ids        per allocated slot 8 (id ref) + 8 (rowid), the id map's 4-byte table entries,
 *              the free-slot list, and the id arena as allocated (its chunks, free blocks and
 *              unused tail included, and its chunk table);
 *   metadata   per allocated slot 8 (ref) and the metadata arena as allocated;
 *   documents  once the collection has had a document: per allocated slot 8 (pointer), and
 *              per record with a document its heap block.
 * A heap block of n bytes is counted as glibc's malloc spends it: n + 8 rounded up to 16,
 * at least 32. Not counted: the filter cache and, in an in-memory database, the text index.
 */
#include <string.h>

#include "col_int.h"

/* Bytes a malloc(n) costs with glibc's allocator (8-byte header, 16-byte steps, 32 minimum). */
static uint64_t heap_block(size_t n) {
  uint64_t b = ((uint64_t)n + 8 + 15) & ~(uint64_t)15;
  return b < 32 ? 32 : b;
}

void qv__col_mem_stats(const qv_collection *c, qv_index_stats *st) {
  uint64_t ids = (uint64_t)c->cap * (sizeof *c->idref + sizeof *c->rids) + (uint64_t)c->idmap.cap * sizeof(uint32_t) +
                 (uint64_t)c->free_cap * sizeof(uint32_t) + qv__arena_footprint(&c->id_arena);
  uint64_t meta = (uint64_t)c->cap * sizeof *c->metaref + qv__arena_footprint(&c->meta_arena);
  uint64_t docs = c->docs ? (uint64_t)c->cap * sizeof *c->docs : 0;
  for (uint32_t s = 0; c->docs && s < c->n_slots; s++)
    if (c->idref[s] && c->docs[s]) docs += heap_block(strlen(c->docs[s]) + 1);
  st->mem_ids = ids;
  st->mem_metadata = meta;
  st->mem_documents = docs;
  if (c->onorm) st->mem_vectors += (uint64_t)c->cap * sizeof *c->onorm;
}
