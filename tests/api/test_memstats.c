/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_memstats.c -- memory by component in qv_collection_stats_get() (docs/MEMORY.md): ids,
 * metadata and documents follow their formulas (ids and metadata in arenas whose freed blocks
 * are reused), bytes_per_record is the rounded sum over the records, HNSW's sq8 codes are a part of mem_vectors, and a caller built against the older
 * struct (struct_size without the new fields) gets them left untouched.
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <quiver.h>

#define N 100
#define DIM 8

static uint64_t heap(size_t n) { /* docs/MEMORY.md: glibc's block for n bytes */
  uint64_t b = ((uint64_t)n + 8 + 15) & ~(uint64_t)15;
  return b < 32 ? 32 : b;
}

static qv_collection *filled(qv_db *db, const char *index, int with_meta) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = DIM;
  o.index = index;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, index, &o, &c), QV_OK);
  static char idb[N][16], metb[N][32], docb[N][48];
  const char *ids[N], *metas[N], *docs[N];
  float v[N * DIM];
  for (int i = 0; i < N; i++) {
    snprintf(idb[i], sizeof idb[i], "id%03d", i);
    snprintf(metb[i], sizeof metb[i], "{\"k\": %d}", i);
    snprintf(docb[i], sizeof docb[i], "document number %d of the test", i);
    ids[i] = idb[i];
    metas[i] = metb[i];
    docs[i] = docb[i];
    for (int j = 0; j < DIM; j++) v[i * DIM + j] = (float)((i * 31 + j * 7) % 17) - 8.0f;
  }
  qv_batch b = {.struct_size = sizeof b, .n = N, .ids = ids, .embeddings = v, .dim = DIM,
                .metadatas = with_meta ? metas : NULL, .documents = with_meta ? docs : NULL};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK);
  return c;
}

Test(memstats, components_and_bytes_per_record) {
  qv_db *db = NULL;
  cr_assert_eq(qv_db_open(NULL, NULL, &db), QV_OK);
  qv_collection *c = filled(db, "flat", 1), *bare = filled(db, "hnsw", 0);
  qv_index_stats s = {.struct_size = sizeof s};
  cr_assert_eq(qv_collection_stats_get(c, &s), QV_OK);
  cr_assert_eq(s.count, N);
  /* per record: the id "id007" (length byte, 5 bytes, NUL) takes one 8-byte granule of the id
     arena (whose first chunk is 4 KiB), plus 16 per slot and the id map */
  cr_assert_geq(s.mem_ids, N * (8 + 16) + 4 * N);
  cr_assert_lt(s.mem_ids, N * (8 + 16) * 2 + 8 * N + 4096 + 1024);
  uint64_t docs = 0;
  for (int i = 0; i < N; i++) {
    char d[48];
    snprintf(d, sizeof d, "document number %d of the test", i);
    docs += heap(strlen(d) + 1);
  }
  cr_assert_geq(s.mem_documents, docs + 8 * N);
  cr_assert_lt(s.mem_documents, docs + 8 * 2 * N + 1024);
  /* {"k": i} packed: count, key length, "k", tag, zigzag varint: 5-6 bytes, one granule */
  cr_assert_geq(s.mem_metadata, N * (8 + 8));
  cr_assert_lt(s.mem_metadata, N * 8 * 2 + N * 8 + 4096 + 1024);
  cr_assert_geq(s.mem_vectors, N * (DIM * 4 + 4));
  cr_assert_eq(s.mem_codes, 0, "flat keeps no codes");
  uint64_t sum = s.mem_vectors + s.mem_graph + s.mem_ids + s.mem_metadata + s.mem_documents;
  cr_assert_eq(s.bytes_per_record, (sum + N / 2) / N);

  qv_index_stats h = {.struct_size = sizeof h};
  cr_assert_eq(qv_collection_stats_get(bare, &h), QV_OK);
  cr_assert_gt(h.mem_codes, 0, "hnsw's sq8 traversal codes");
  cr_assert_lt(h.mem_codes, h.mem_vectors, "codes are a part of mem_vectors");
  cr_assert_gt(h.mem_graph, 0);
  cr_assert_lt(h.mem_documents, s.mem_documents, "no documents: only their slot pointers");

  /* an older caller's struct ends before mem_codes: nothing past it is written */
  unsigned char raw[sizeof(qv_index_stats)];
  memset(raw, 0xA5, sizeof raw);
  uint32_t old = (uint32_t)offsetof(qv_index_stats, mem_codes);
  memcpy(raw, &old, sizeof old);
  cr_assert_eq(qv_collection_stats_get(c, (qv_index_stats *)(void *)raw), QV_OK);
  for (size_t i = old; i < sizeof raw; i++) cr_assert_eq(raw[i], 0xA5, "byte %zu written", i);
  qv_index_stats *o = (qv_index_stats *)(void *)raw;
  cr_assert_eq(o->count, N);

  /* deleting records gives their documents' blocks back; their ids' and metadata's arena
     blocks go to free lists, and new records of the same sizes take them: no growth */
  const char *gone[] = {"id000", "id001", "id002", "id003"};
  size_t nd = 0;
  cr_assert_eq(qv_collection_delete_records(c, gone, 4, NULL, NULL, 0, &nd), QV_OK);
  qv_index_stats after = {.struct_size = sizeof after};
  cr_assert_eq(qv_collection_stats_get(c, &after), QV_OK);
  cr_assert_lt(after.mem_documents, s.mem_documents);
  const char *fresh[] = {"nw000", "nw001", "nw002", "nw003"};
  const char *fm[] = {"{\"k\": 90}", "{\"k\": 91}", "{\"k\": 92}", "{\"k\": 93}"};
  float fv[4 * DIM] = {0};
  qv_batch fb = {.struct_size = sizeof fb, .n = 4, .ids = fresh, .embeddings = fv, .dim = DIM, .metadatas = fm};
  for (int round = 0; round < 50; round++) { /* churn: the same four records, deleted and added again */
    cr_assert_eq(qv_collection_add(c, &fb, QV_CONFLICT_ERROR), QV_OK);
    cr_assert_eq(qv_collection_delete_records(c, fresh, 4, NULL, NULL, 0, &nd), QV_OK);
    cr_assert_eq(nd, 4);
  }
  cr_assert_eq(qv_collection_add(c, &fb, QV_CONFLICT_ERROR), QV_OK);
  qv_index_stats churned = {.struct_size = sizeof churned};
  cr_assert_eq(qv_collection_stats_get(c, &churned), QV_OK);
  cr_assert_eq(churned.count, N);
  cr_assert_eq(churned.mem_ids, after.mem_ids, "ids: freed blocks reused");
  cr_assert_eq(churned.mem_metadata, s.mem_metadata, "metadata: freed blocks reused");
  cr_assert_eq(after.mem_metadata, s.mem_metadata, "a delete keeps the arena (its blocks wait for reuse)");
  qv_collection_release(c);
  qv_collection_release(bare);
  qv_db_close(db);
}
