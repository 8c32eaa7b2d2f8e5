/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_update_mixed.c -- an update whose rows mix new embeddings and kept ones
 * (qv_batch.has_embedding) is one write: a bad row anywhere, the last one included, fails the
 * whole batch with a message naming the field and the batch position and changes nothing; a
 * good one changes every row at once (rows without a new vector keep their stored one, in
 * the index and on disk). For flat and hnsw, l2 and cosine (whose stored originals the kept
 * rows are re-read from), in memory and on disk across a reopen; hamming collections through
 * packed bits; and the rules: only an update may leave a row out, a row given needs vectors,
 * and a caller built before the field (smaller struct_size) has a vector in every row.
 *
 * Public header only.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <quiver.h>

#include "api_db.h"

#define D 4
#define N 5

static const char *const ids5[N] = {"r0", "r1", "r2", "r3", "r4"};

static void old_vec(int i, float *v) {
  for (int j = 0; j < D; j++) v[j] = (float)(i + 1) * (j == i % D ? 1.0f : 0.1f) + (float)j * 0.01f;
}
static void new_vec(int i, float *v) {
  for (int j = 0; j < D; j++) v[j] = -(float)(i + 2) * (j == (i + 1) % D ? 1.0f : 0.2f) - (float)j * 0.03f;
}

static qv_collection *setup(qv_db *db, const char *kind, qv_metric m) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = D;
  o.metric = m;
  o.index = kind;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "mixed", &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  float emb[N * D];
  char mb[N][32], dbuf[N][16];
  const char *metas[N], *docs[N];
  for (int i = 0; i < N; i++) {
    old_vec(i, emb + i * D);
    snprintf(mb[i], sizeof mb[i], "{\"k\":%d}", i);
    snprintf(dbuf[i], sizeof dbuf[i], "doc %d", i);
    metas[i] = mb[i];
    docs[i] = dbuf[i];
  }
  qv_batch b;
  memset(&b, 0, sizeof b);
  b.struct_size = sizeof b;
  b.n = N;
  b.ids = ids5;
  b.embeddings = emb;
  b.metadatas = metas;
  b.documents = docs;
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  return c;
}

/* Every record (id, embedding, metadata, document), in id order. */
static char *snapshot(qv_collection *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_not_null(f);
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.ids = ids5;
  g.n_ids = N;
  g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS;
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK);
  for (size_t i = 0; i < qv_results_count(r, 0); i++) {
    const float *e = qv_results_embedding(r, 0, i);
    const char *m = qv_results_metadata(r, 0, i), *d = qv_results_document(r, 0, i);
    fprintf(f, "%s:", qv_results_id(r, 0, i));
    for (int j = 0; e && j < D; j++) fprintf(f, " %.6g", e[j]);
    fprintf(f, " | %s | %s\n", m ? m : "-", d ? d : "-");
  }
  qv_results_free(r);
  fclose(f);
  return buf;
}

/* The nearest record to v and its distance. */
static void nearest(qv_collection *c, const float *v, char *id, size_t idlen, float *dist) {
  qv_query_opts q;
  qv_query_opts_init(&q);
  q.include = QV_INCLUDE_DISTANCES;
  q.exact = 1;
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_query(c, v, 1, 1, &q, &r), QV_OK);
  cr_assert_eq(qv_results_count(r, 0), 1);
  snprintf(id, idlen, "%s", qv_results_id(r, 0, 0));
  *dist = qv_results_distance(r, 0, 0);
  qv_results_free(r);
}

typedef struct mixed {
  float emb[N * D];
  unsigned char has[N];
  char mb[N][48];
  const char *metas[N];
  const char *ids[N];
  qv_batch b;
} mixed;

/* Rows 0, 2, 4 with new vectors, 1 and 3 keeping theirs (their slots hold NaN: never read);
 * every row new metadata. */
static void mixed_init(mixed *m) {
  memset(m, 0, sizeof *m);
  for (int i = 0; i < N; i++) {
    m->has[i] = (unsigned char)(i % 2 == 0);
    if (m->has[i]) new_vec(i, m->emb + i * D);
    else
      for (int j = 0; j < D; j++) m->emb[i * D + j] = NAN;
    snprintf(m->mb[i], sizeof m->mb[i], "{\"k\":%d,\"u\":true}", i + 10);
    m->metas[i] = m->mb[i];
    m->ids[i] = ids5[i];
  }
  m->b.struct_size = sizeof m->b;
  m->b.n = N;
  m->b.ids = m->ids;
  m->b.embeddings = m->emb;
  m->b.metadatas = m->metas;
  m->b.has_embedding = m->has;
}

static void expect_refused(qv_db *db, qv_collection *c, mixed *m, qv_status want, const char *msg, const char *before) {
  cr_assert_eq(qv_collection_update(c, &m->b, 0), want, "expected %s: %s", qv_status_name(want), qv_db_errmsg(db));
  cr_assert(strstr(qv_db_errmsg(db), msg), "message \"%s\" does not name %s", qv_db_errmsg(db), msg);
  char *after = snapshot(c);
  cr_assert_str_eq(after, before, "a refused batch changed the collection");
  free(after);
}

static void run(const char *kind, qv_metric metric, int persistent) {
  qv_db *db = open_db(persistent);
  qv_collection *c = setup(db, kind, metric);
  char *before = snapshot(c);
  mixed m;

  /* a bad row at the end of the batch, three ways: metadata, a vector, a missing id */
  mixed_init(&m);
  m.metas[N - 1] = "{\"$reserved\":1}";
  expect_refused(db, c, &m, QV_INVALID, "metadatas[4]", before);
  mixed_init(&m);
  m.emb[(N - 1) * D + 2] = INFINITY;
  expect_refused(db, c, &m, QV_INVALID, "embeddings[4][2]", before);
  mixed_init(&m);
  m.ids[N - 1] = "absent";
  expect_refused(db, c, &m, QV_NOTFOUND, "ids[4]", before);

  /* the good one: every row changes, the kept vectors stay */
  mixed_init(&m);
  cr_assert_eq(qv_collection_update(c, &m.b, 0), QV_OK, "%s", qv_db_errmsg(db));
  for (int round = 0; round < 1 + persistent; round++) {
    if (round) { /* the same after a reopen: one transaction, on disk */
      qv_collection_release(c);
      db = reopen(db);
      cr_assert_eq(qv_collection_get(db, "mixed", &c), QV_OK);
    }
    char *now = snapshot(c);
    cr_assert_str_neq(now, before);
    for (int i = 0; i < N; i++) {
      char want[48], id[16];
      snprintf(want, sizeof want, "r%d:", i);
      const char *line = strstr(now, want);
      cr_assert_not_null(line, "%s", now);
      snprintf(want, sizeof want, "{\"k\":%d,\"u\":true} | doc %d", i + 10, i);
      cr_assert(strstr(line, want) && strstr(line, want) < strchr(line, '\n'), "row %d: %s", i, now);
      float v[D], dist;
      if (i % 2 == 0) new_vec(i, v);
      else old_vec(i, v);
      nearest(c, v, id, sizeof id, &dist);
      cr_assert_str_eq(id, ids5[i], "%s %s: row %d's vector is not the %s one", kind, qv_metric_name(metric), i,
                       i % 2 ? "kept" : "new");
      cr_assert_lt(fabsf(dist), 1e-4f, "row %d: distance %g", i, dist);
    }
    free(now);
  }
  free(before);
  qv_collection_release(c);
  close_db(db);
}

Test(update_mixed, flat_l2_memory) { run("flat", QV_METRIC_L2, 0); }
Test(update_mixed, flat_cosine_disk) { run("flat", QV_METRIC_COSINE, 1); }
Test(update_mixed, hnsw_l2_disk) { run("hnsw", QV_METRIC_L2, 1); }
Test(update_mixed, hnsw_cosine_disk) { run("hnsw", QV_METRIC_COSINE, 1); }
Test(update_mixed, hnsw_cosine_memory) { run("hnsw", QV_METRIC_COSINE, 0); }

Test(update_mixed, only_an_update_leaves_rows_out) {
  qv_db *db = open_db(0);
  qv_collection *c = setup(db, "flat", QV_METRIC_L2);
  char *before = snapshot(c);
  mixed m;
  mixed_init(&m);
  static const char *const fresh[N] = {"n0", "n1", "n2", "n3", "n4"};
  m.b.ids = fresh;
  cr_assert_eq(qv_collection_add(c, &m.b, QV_CONFLICT_ERROR), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "embeddings[1]: required for add"), "%s", qv_db_errmsg(db));
  m.b.ids = m.ids;
  cr_assert_eq(qv_collection_upsert(c, &m.b), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "embeddings[1]: required for upsert"), "%s", qv_db_errmsg(db));
  /* a row given needs vectors */
  m.b.embeddings = NULL;
  cr_assert_eq(qv_collection_update(c, &m.b, 0), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "has_embedding[0]"), "%s", qv_db_errmsg(db));
  char *after = snapshot(c);
  cr_assert_str_eq(after, before);
  free(after);
  /* no row given: a metadata-only update, vectors untouched */
  memset(m.has, 0, sizeof m.has);
  cr_assert_eq(qv_collection_update(c, &m.b, 0), QV_OK, "%s", qv_db_errmsg(db));
  for (int i = 0; i < N; i++) {
    float v[D], dist;
    char id[16];
    old_vec(i, v);
    nearest(c, v, id, sizeof id, &dist);
    cr_assert_str_eq(id, ids5[i]);
    cr_assert_lt(fabsf(dist), 1e-4f);
  }
  /* every row given: as without the field */
  mixed_init(&m);
  memset(m.has, 1, sizeof m.has);
  for (int i = 0; i < N; i++) new_vec(i, m.emb + i * D);
  cr_assert_eq(qv_collection_upsert(c, &m.b), QV_OK, "%s", qv_db_errmsg(db));
  free(before);
  qv_collection_release(c);
  close_db(db);
}

Test(update_mixed, an_older_callers_batch_has_a_vector_in_every_row) {
  qv_db *db = open_db(0);
  qv_collection *c = setup(db, "flat", QV_METRIC_L2);
  mixed m;
  mixed_init(&m);
  for (int i = 0; i < N; i++) new_vec(i, m.emb + i * D);
  m.b.struct_size = (uint32_t)offsetof(qv_batch, has_embedding); /* built before the field */
  cr_assert_eq(qv_collection_update(c, &m.b, 0), QV_OK, "%s", qv_db_errmsg(db));
  for (int i = 0; i < N; i++) { /* row 1 and 3 too: has_embedding was not read */
    float v[D], dist;
    char id[16];
    new_vec(i, v);
    nearest(c, v, id, sizeof id, &dist);
    cr_assert_str_eq(id, ids5[i]);
    cr_assert_lt(fabsf(dist), 1e-4f);
  }
  qv_collection_release(c);
  close_db(db);
}

Test(update_mixed, hamming_rows_keep_their_bits) {
  qv_db *db = open_db(1);
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 16;
  o.metric = QV_METRIC_HAMMING;
  o.index = "flat";
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "bits", &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  static const char *const ids[3] = {"a", "b", "c"};
  uint8_t bits[6] = {0x00, 0x00, 0xF0, 0xF0, 0xFF, 0xFF};
  qv_batch b;
  memset(&b, 0, sizeof b);
  b.struct_size = sizeof b;
  b.n = 3;
  b.ids = ids;
  b.bits = bits;
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  uint8_t upd[6] = {0x0F, 0x0F, 0xAA, 0xAA, 0x01, 0x01}; /* row 1 is not read */
  unsigned char has[3] = {1, 0, 1};
  const char *metas[3] = {"{\"x\":1}", "{\"x\":2}", "{\"x\":3}"};
  b.bits = upd;
  b.has_embedding = has;
  b.metadatas = metas;
  cr_assert_eq(qv_collection_update(c, &b, 0), QV_OK, "%s", qv_db_errmsg(db));
  qv_collection_release(c);
  db = reopen(db);
  cr_assert_eq(qv_collection_get(db, "bits", &c), QV_OK);
  const uint8_t want[3][2] = {{0x0F, 0x0F}, {0xF0, 0xF0}, {0x01, 0x01}};
  for (int i = 0; i < 3; i++) {
    qv_query_opts q;
    qv_query_opts_init(&q);
    q.include = QV_INCLUDE_DISTANCES | QV_INCLUDE_METADATAS;
    qv_results *r = NULL;
    cr_assert_eq(qv_collection_query_bits(c, want[i], 1, 1, &q, &r), QV_OK, "%s", qv_db_errmsg(db));
    cr_assert_str_eq(qv_results_id(r, 0, 0), ids[i]);
    cr_assert_float_eq(qv_results_distance(r, 0, 0), 0.0f, 1e-6f);
    cr_assert_str_eq(qv_results_metadata(r, 0, 0), metas[i]);
    qv_results_free(r);
  }
  qv_collection_release(c);
  close_db(db);
}
