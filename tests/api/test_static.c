/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_static.c -- snapshot files: export of flat, rpforest, hnsw and hamming collections,
 * qv_static_open answering search, filtered query and get by id as the collection did;
 * truncated files (every length class), bit flips in the header and section table, a wrong
 * format version and damaged sections refused with QV_CORRUPT and a message; searches on an
 * unverified file with damaged sections never crash (run under ASan/UBSan in CI).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "api_db.h"

#define N 1200
#define DIM 16

static uint64_t g_rng = 99;
static float frand(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (float)(g_rng >> 40) / (float)(1u << 24) * 2.0f - 1.0f;
}

static float g_vecs[N * DIM];
static char g_path[128];
static const char *g_params; /* the kind's parameters for fill(), NULL: defaults */

static qv_collection *fill(qv_db *db, const char *name, const char *kind, qv_metric m) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = m == QV_METRIC_HAMMING ? DIM * 32 : DIM;
  o.metric = m;
  o.index = kind;
  o.params_json = g_params;
  o.metadata_json = "{\"owner\": \"tests\"}";
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, name, &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  static char idbuf[N][16], metabuf[N][32], docbuf[N][32];
  const char *ids[N], *metas[N], *docs[N];
  for (int i = 0; i < N; i++) {
    snprintf(idbuf[i], 16, "r%d", i);
    snprintf(metabuf[i], 32, "{\"g\": %d}", i % 4);
    snprintf(docbuf[i], 32, "document %d", i);
    ids[i] = idbuf[i];
    metas[i] = metabuf[i];
    docs[i] = docbuf[i];
  }
  qv_batch b = {.n = N, .ids = ids, .metadatas = metas, .documents = docs};
  if (m == QV_METRIC_HAMMING)
    b.bits = (const uint8_t *)g_vecs; /* DIM*32 bits = DIM*4 bytes per row */
  else
    b.embeddings = g_vecs;
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  /* a delete leaves a hole in the slots */
  const char *gone[] = {"r5"};
  cr_assert_eq(qv_collection_delete_records(c, gone, 1, NULL, NULL, 0, NULL), QV_OK);
  return c;
}

static void init(void) {
  for (int i = 0; i < N * DIM; i++) g_vecs[i] = frand();
  snprintf(g_path, sizeof g_path, "/tmp/qv_static_%d.qvs", (int)getpid());
}

static void fini(void) { unlink(g_path); }

TestSuite(snapshot, .init = init, .fini = fini);

static qv_results *q_col(qv_collection *c, const float *q, const char *where) {
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.where_json = where;
  qv_results *r = NULL;
  qv_status rc = qv_collection_metric(c) == QV_METRIC_HAMMING
                     ? qv_collection_query_bits(c, (const uint8_t *)q, 1, 8, &o, &r)
                     : qv_collection_query(c, q, 1, 8, &o, &r);
  cr_assert_eq(rc, QV_OK);
  return r;
}

static qv_results *q_st(qv_static *s, const float *q, const char *where, qv_metric m) {
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.where_json = where;
  qv_results *r = NULL;
  qv_status rc = m == QV_METRIC_HAMMING ? qv_static_query_bits(s, (const uint8_t *)q, 1, 8, &o, &r)
                                        : qv_static_query(s, q, 1, 8, &o, &r);
  cr_assert_eq(rc, QV_OK, "%s", qv_static_errmsg(s));
  return r;
}

static void same(const qv_results *a, const qv_results *b) {
  cr_assert_eq(qv_results_count(a, 0), qv_results_count(b, 0));
  for (size_t i = 0; i < qv_results_count(a, 0); i++) {
    cr_assert_str_eq(qv_results_id(a, 0, i), qv_results_id(b, 0, i));
    cr_assert_eq(qv_results_distance(a, 0, i), qv_results_distance(b, 0, i));
    cr_assert_str_eq(qv_results_metadata(a, 0, i), qv_results_metadata(b, 0, i));
    cr_assert_str_eq(qv_results_document(a, 0, i), qv_results_document(b, 0, i));
  }
}

static void round_trip(const char *kind, qv_metric m) {
  qv_db *db = open_db(1);
  qv_collection *c = fill(db, "c", kind, m);
  cr_assert_eq(qv_collection_export(c, g_path), QV_OK, "%s", qv_db_errmsg(db));
  char err[512];
  qv_static *s = NULL;
  cr_assert_eq(qv_static_open(g_path, QV_STATIC_VERIFY, &s, err, sizeof err), QV_OK, "%s", err);
  qv_collection_info in = {.struct_size = sizeof in};
  cr_assert_eq(qv_static_info(s, &in), QV_OK);
  cr_assert_eq(in.count, N - 1);
  cr_assert_eq(in.dim, m == QV_METRIC_HAMMING ? DIM * 32 : DIM);
  cr_assert_eq(in.metric, m);
  cr_assert_str_eq(in.index, kind);
  cr_assert_str_eq(in.name, "c");
  cr_assert_str_eq(in.metadata_json, "{\"owner\": \"tests\"}");
  qv_collection_info_free(&in);
  for (int i = 0; i < 20; i++) {
    const float *q = g_vecs + (size_t)(i * 37 % N) * DIM;
    qv_results *a = q_col(c, q, NULL), *b = q_st(s, q, NULL, m);
    same(a, b);
    qv_results_free(a);
    qv_results_free(b);
    a = q_col(c, q, "{\"g\": 2}");
    b = q_st(s, q, "{\"g\": 2}", m);
    if (strcmp(kind, "flat") == 0) same(a, b); /* approximate kinds may plan filtered queries differently */
    for (size_t j = 0; j < qv_results_count(b, 0); j++) cr_assert_str_eq(qv_results_metadata(b, 0, j), "{\"g\":2}");
    qv_results_free(a);
    qv_results_free(b);
  }
  /* get by id, a missing id, a deleted id, with embeddings */
  const char *want[] = {"r7", "nope", "r5", "r1199"};
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.ids = want;
  g.n_ids = 4;
  g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_DOCUMENTS;
  qv_results *r = NULL;
  cr_assert_eq(qv_static_get(s, &g, &r), QV_OK, "%s", qv_static_errmsg(s));
  cr_assert_eq(qv_results_count(r, 0), 2);
  cr_assert_str_eq(qv_results_id(r, 0, 0), "r7");
  cr_assert_str_eq(qv_results_document(r, 0, 1), "document 1199");
  if (m == QV_METRIC_L2) cr_assert(memcmp(qv_results_embedding(r, 0, 0), g_vecs + 7 * DIM, DIM * 4) == 0);
  qv_results_free(r);
  qv_get_opts_init(&g);
  g.where_json = "{\"g\": 3}";
  g.limit = 5;
  g.offset = 2;
  cr_assert_eq(qv_static_get(s, &g, &r), QV_OK);
  cr_assert_eq(qv_results_count(r, 0), 5);
  cr_assert_str_eq(qv_results_id(r, 0, 0), "r11");
  qv_results_free(r);
  /* bad input: a clear error */
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.where_json = "{\"g\": {\"$bogus\": 1}}";
  cr_assert_eq(qv_static_query(s, g_vecs, 1, 3, &o, &r), QV_INVALID);
  cr_assert(strlen(qv_static_errmsg(s)) > 0);
  /* a query's own runtime parameters (search_params_json) apply as on the collection */
  qv_query_opts_init(&o);
  o.search_params_json = "{\"bogus\": 1}";
  cr_assert_eq(m == QV_METRIC_HAMMING ? qv_static_query_bits(s, (const uint8_t *)g_vecs, 1, 3, &o, &r)
                                      : qv_static_query(s, g_vecs, 1, 3, &o, &r),
               QV_INVALID);
  cr_assert(strstr(qv_static_errmsg(s), "bogus") != NULL, "%s", qv_static_errmsg(s));
  if (strcmp(kind, "rpforest") == 0 && m == QV_METRIC_L2) {
    o.search_params_json = "{\"search_k\": 40, \"rerank\": 0, \"min_leaves\": 1, \"entry_cap\": 1}";
    qv_results *a = NULL, *b = NULL;
    cr_assert_eq(qv_collection_query(c, g_vecs + 9 * DIM, 1, 8, &o, &a), QV_OK);
    cr_assert_eq(qv_static_query(s, g_vecs + 9 * DIM, 1, 8, &o, &b), QV_OK, "%s", qv_static_errmsg(s));
    same(a, b);
    qv_results_free(a);
    qv_results_free(b);
  }
  qv_static_close(s);
  qv_collection_release(c);
  close_db(db);
}

Test(snapshot, flat) { round_trip("flat", QV_METRIC_L2); }
Test(snapshot, rpforest) { round_trip("rpforest", QV_METRIC_L2); }
Test(snapshot, hnsw) { round_trip("hnsw", QV_METRIC_COSINE); }
Test(snapshot, hnsw_l2) { round_trip("hnsw", QV_METRIC_L2); }
Test(snapshot, hnsw_ip_floats) {
  g_params = "{\"quantizer\": \"none\"}"; /* float traversal: the vectors inside the level-0 blocks */
  round_trip("hnsw", QV_METRIC_IP);
  g_params = NULL;
}
Test(snapshot, hamming_flat) { round_trip("flat", QV_METRIC_HAMMING); }
Test(snapshot, hamming_rpforest) { round_trip("rpforest", QV_METRIC_HAMMING); }
Test(snapshot, l1_rpforest) { round_trip("rpforest", QV_METRIC_L1); }

static unsigned char *slurp(size_t *len) {
  FILE *f = fopen(g_path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*len);
  cr_assert_eq(fread(b, 1, *len, f), *len);
  fclose(f);
  return b;
}

static void spill(const unsigned char *b, size_t len) {
  FILE *f = fopen(g_path, "wb");
  cr_assert_eq(fwrite(b, 1, len, f), len);
  fclose(f);
}

static qv_status try_open(const char *expect_in_msg) {
  char err[512] = "";
  qv_static *s = NULL;
  qv_status rc = qv_static_open(g_path, 0, &s, err, sizeof err);
  if (rc == QV_OK) {
    qv_static_close(s);
  } else {
    cr_assert_null(s);
    cr_assert(strstr(err, g_path) != NULL, "message names the file: %s", err);
    if (expect_in_msg) cr_assert(strstr(err, expect_in_msg) != NULL, "expected '%s' in: %s", expect_in_msg, err);
  }
  return rc;
}

static void damage(const char *kind) {
  qv_db *db = open_db(1);
  qv_collection *c = fill(db, "c", kind, QV_METRIC_L2);
  cr_assert_eq(qv_collection_export(c, g_path), QV_OK);
  qv_collection_release(c);
  close_db(db);
  size_t len;
  unsigned char *b = slurp(&len);
  /* truncated anywhere: refused */
  size_t cuts[] = {0, 1, 64, 127, 128, 200, 448, len / 3, len / 2, len - 64, len - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    spill(b, cuts[i]);
    cr_assert_eq(try_open(NULL), QV_CORRUPT, "truncated to %zu accepted", cuts[i]);
  }
  spill(b, len - 1);
  try_open("truncated");
  /* one flipped bit anywhere in the header or the section table: refused */
  for (size_t off = 0; off < 128 + 9 * 32; off++) {
    b[off] ^= 0x10;
    spill(b, len);
    cr_assert_eq(try_open(NULL), QV_CORRUPT, "flip at %zu accepted", off);
    b[off] ^= 0x10;
  }
  /* another format version (header checksum made valid again): refused, saying so */
  uint32_t v = 2, hc;
  memcpy(b + 8, &v, 4);
  hc = (uint32_t)crc32(0, b, 124);
  memcpy(b + 124, &hc, 4);
  spill(b, len);
  cr_assert_eq(try_open("unsupported snapshot format version 2"), QV_CORRUPT);
  v = 1;
  memcpy(b + 8, &v, 4);
  hc = (uint32_t)crc32(0, b, 124);
  memcpy(b + 124, &hc, 4);
  spill(b, len);
  cr_assert_eq(try_open(NULL), QV_OK);
  /* damaged sections: opening without verification works, verification refuses, searches never crash */
  uint64_t rng = 5;
  for (int round = 0; round < 60; round++) {
    rng = rng * 6364136223846793005ull + 1;
    size_t off = 448 + (size_t)(rng >> 20) % (len - 448);
    unsigned char old = b[off];
    b[off] ^= (unsigned char)(1 + (rng >> 8) % 255);
    spill(b, len);
    char err[512];
    qv_static *s = NULL;
    if (qv_static_open(g_path, 0, &s, err, sizeof err) == QV_OK) {
      cr_assert_eq(qv_static_verify(s), QV_CORRUPT, "damage at %zu not detected by verify", off);
      cr_assert(strstr(qv_static_errmsg(s), "checksum") != NULL);
      qv_results *r = NULL;
      qv_query_opts o;
      qv_query_opts_init(&o);
      o.where_json = "{\"g\": 1}";
      if (qv_static_query(s, g_vecs, 1, 5, round % 2 ? &o : NULL, &r) == QV_OK) qv_results_free(r);
      const char *ids[] = {"r3", "r900"};
      qv_get_opts g;
      qv_get_opts_init(&g);
      g.ids = ids;
      g.n_ids = 2;
      if (qv_static_get(s, &g, &r) == QV_OK) qv_results_free(r);
      qv_static_close(s);
    }
    cr_assert_eq(qv_static_open(g_path, QV_STATIC_VERIFY, &s, err, sizeof err), QV_CORRUPT);
    b[off] = old;
  }
  free(b);
  /* not a snapshot at all, and no file */
  spill((const unsigned char *)"hello, this is not a snapshot file at all......................................................................................................", 140);
  cr_assert_eq(try_open("bad magic"), QV_CORRUPT);
  unlink(g_path);
  cr_assert_eq(try_open(NULL), QV_NOTFOUND);
}

Test(snapshot, damaged_flat) { damage("flat"); }
Test(snapshot, damaged_rpforest) { damage("rpforest"); }
Test(snapshot, damaged_hnsw) { damage("hnsw"); }

/* The INDX section's offset and length, from the section table (entry 8). */
static void indx_of(const unsigned char *b, uint64_t *off, uint64_t *len) {
  memcpy(off, b + 128 + 8 * 32 + 8, 8);
  memcpy(len, b + 128 + 8 * 32 + 16, 8);
}

/*
 * An HNSW graph searched in place trusts nothing it reads: the whole graph payload past its
 * head overwritten (ids out of range, huge counts, upper-list offsets past the end, garbage
 * codes), opened without verification, then searched with and without a filter: answers or
 * errors, never an access outside the mapping (ASan/UBSan in CI).
 */
static void garbage_graph(const char *params) {
  g_params = params;
  qv_db *db = open_db(1);
  qv_collection *c = fill(db, "c", "hnsw", QV_METRIC_L2);
  cr_assert_eq(qv_collection_export(c, g_path), QV_OK, "%s", qv_db_errmsg(db));
  qv_collection_release(c);
  close_db(db);
  g_params = NULL;
  size_t len;
  unsigned char *orig = slurp(&len), *b = malloc(len);
  uint64_t xo, xl;
  indx_of(orig, &xo, &xl);
  cr_assert(xo + xl <= len && xl > 256);
  uint64_t rng = 17;
  for (int pattern = 0; pattern < 4; pattern++) {
    memcpy(b, orig, len);
    /* the graph head (mapped.c): offsets of state, level, l0, vecs, q8, upidx, up at 80; the
     * entry point at 32. Everything but the head, the quantizer's ranges and the entry point's
     * level is overwritten (those are checked at open). */
    uint64_t so[7];
    uint32_t ep;
    memcpy(so, b + xo + 80, sizeof so);
    memcpy(&ep, b + xo + 32, 4);
    for (uint64_t o = xo + so[0]; o + 4 <= xo + xl; o += 4) {
      if (o >= xo + so[4] && o < xo + so[5]) continue;
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      uint32_t w = pattern == 0 ? 0xFFFFFFFFu : pattern == 1 ? (uint32_t)(rng >> 32)
                 : pattern == 2 ? (uint32_t)(rng >> 32) % (2 * N) : (uint32_t)(rng >> 61);
      memcpy(b + o, &w, 4);
    }
    memcpy(b + xo + so[1] + ep, orig + xo + so[1] + ep, 1);
    spill(b, len);
    char err[512];
    qv_static *s = NULL;
    cr_assert_eq(qv_static_open(g_path, 0, &s, err, sizeof err), QV_OK, "%s", err);
    for (int i = 0; i < 20; i++) {
      qv_query_opts o;
      qv_query_opts_init(&o);
      o.where_json = "{\"g\": 1}";
      qv_results *r = NULL;
      if (qv_static_query(s, g_vecs + (size_t)i * DIM, 1, 5, i % 2 ? &o : NULL, &r) == QV_OK) qv_results_free(r);
    }
    cr_assert_eq(qv_static_verify(s), QV_CORRUPT);
    qv_static_close(s);
  }
  free(orig);
  free(b);
}

Test(snapshot, hnsw_garbage_graph) { garbage_graph(NULL); }
Test(snapshot, hnsw_garbage_graph_floats) { garbage_graph("{\"quantizer\": \"none\"}"); }

/*
 * An l2 flat snapshot scans its code section first and re-ranks what the bound keeps with the
 * exact kernel: the answers must be the collection's exact ones, also on data full of ties and
 * near ties (rows on a coarse grid, many of them duplicated) and for k from 1 to 50.
 */
Test(snapshot, flat_codes_exact) {
  enum { G_N = 3000, G_DIM = 12 };
  static float v[G_N * G_DIM];
  uint64_t r = 3;
  for (int i = 0; i < G_N * G_DIM; i++) {
    r = r * 6364136223846793005ull + 1442695040888963407ull;
    v[i] = (float)((r >> 40) % 5) * 0.25f + (i % 7 == 0 ? 1e-4f * (float)((r >> 20) % 3) : 0.0f);
  }
  for (int i = 0; i < G_N / 10; i++) memcpy(v + (size_t)(G_N - 1 - i) * G_DIM, v + (size_t)i * G_DIM, G_DIM * 4);
  qv_db *db = open_db(1);
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = G_DIM;
  o.metric = QV_METRIC_L2;
  o.index = "flat";
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "g", &o, &c), QV_OK);
  static char idbuf[G_N][16];
  static const char *ids[G_N];
  for (int i = 0; i < G_N; i++) {
    snprintf(idbuf[i], 16, "g%d", i);
    ids[i] = idbuf[i];
  }
  qv_batch b = {.n = G_N, .ids = ids, .embeddings = v};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK);
  cr_assert_eq(qv_collection_export(c, g_path), QV_OK, "%s", qv_db_errmsg(db));
  char err[512];
  qv_static *s = NULL;
  cr_assert_eq(qv_static_open(g_path, QV_STATIC_VERIFY, &s, err, sizeof err), QV_OK, "%s", err);
  size_t ks[] = {1, 3, 10, 50};
  for (int qi = 0; qi < 40; qi++) {
    float q[G_DIM];
    for (int d = 0; d < G_DIM; d++) {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      q[d] = qi % 2 ? v[(size_t)(qi * 71 % G_N) * G_DIM + d] : (float)((r >> 40) % 1000) / 800.0f - 0.1f;
    }
    size_t k = ks[qi % 4];
    qv_results *x = NULL, *y = NULL;
    cr_assert_eq(qv_collection_query(c, q, 1, k, NULL, &x), QV_OK);
    cr_assert_eq(qv_static_query(s, q, 1, k, NULL, &y), QV_OK);
    cr_assert_eq(qv_results_count(x, 0), k);
    cr_assert_eq(qv_results_count(y, 0), k);
    for (size_t j = 0; j < k; j++) {
      cr_assert_str_eq(qv_results_id(x, 0, j), qv_results_id(y, 0, j), "query %d k %zu rank %zu", qi, k, j);
      cr_assert_eq(qv_results_distance(x, 0, j), qv_results_distance(y, 0, j));
    }
    qv_results_free(x);
    qv_results_free(y);
  }
  qv_static_close(s);
  qv_collection_release(c);
  close_db(db);
}
