/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_records.c -- API tests of record writes and get: add / upsert / update / delete
 * semantics (metadata merge with null removal, fields kept when not given, conflicts), get by
 * ids / filter / limit / offset / include bits, insertion order, and every kind of bad input:
 * the right status, a message naming the field and the batch position, and the collection
 * exactly as it was (count, every record, query results), in memory and on disk.
 *
 * Public header only.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <quiver.h>

/* ------------------------------------------------------------------ helpers */

#define D 3

#include "api_db.h"

static qv_collection *new_col(qv_db *db, const char *name, uint32_t dim, qv_metric m) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = dim;
  o.metric = m;
  qv_collection *c = NULL;
  qv_status rc = qv_collection_create(db, name, &o, &c);
  cr_assert_eq(rc, QV_OK, "create %s: %s", name, qv_db_errmsg(db));
  return c;
}

static qv_batch mkb(size_t n, const char *const *ids, const float *emb, const char *const *metas,
                    const char *const *docs) {
  qv_batch b;
  memset(&b, 0, sizeof b);
  b.n = n;
  b.ids = ids;
  b.embeddings = emb;
  b.metadatas = metas;
  b.documents = docs;
  return b;
}

/* Everything observable about a collection, as text: count, every record, a query. */
static char *snapshot(qv_db *db, qv_collection *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_not_null(f);
  uint64_t n = 0;
  cr_assert_eq(qv_collection_count(c, &n), QV_OK);
  uint32_t dim = qv_collection_dim(c);
  fprintf(f, "count=%llu dim=%u\n", (unsigned long long)n, dim);
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS;
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK, "snapshot get: %s", qv_db_errmsg(db));
  cr_assert_eq(qv_results_count(r, 0), n, "get all returns %zu records, count says %llu", qv_results_count(r, 0),
               (unsigned long long)n);
  for (size_t i = 0; i < qv_results_count(r, 0); i++) {
    const char *m = qv_results_metadata(r, 0, i), *d = qv_results_document(r, 0, i);
    fprintf(f, "%s|%s|%s|", qv_results_id(r, 0, i), m ? m : "-", d ? d : "-");
    const float *e = qv_results_embedding(r, 0, i);
    for (uint32_t j = 0; e && j < dim; j++) fprintf(f, "%a,", (double)e[j]);
    fputc('\n', f);
  }
  qv_results_free(r);
  if (dim && n) {
    float *q = calloc(dim, sizeof *q);
    for (uint32_t j = 0; j < dim; j++) q[j] = 0.25f * (float)(j + 1);
    cr_assert_eq(qv_collection_query(c, q, 1, (size_t)n + 1, NULL, &r), QV_OK, "snapshot query: %s",
                 qv_db_errmsg(db));
    for (size_t i = 0; i < qv_results_count(r, 0); i++)
      fprintf(f, "q:%s %a\n", qv_results_id(r, 0, i), (double)qv_results_distance(r, 0, i));
    qv_results_free(r);
    free(q);
  }
  fclose(f);
  return buf;
}

static const float seed_emb[4 * D] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
static const char *const seed_ids[4] = {"r0", "r1", "r2", "r3"};
static const char *const seed_metas[4] = {"{\"i\":0,\"tag\":\"a\"}", "{\"i\":1,\"tag\":\"b\"}",
                                          "{\"i\":2,\"tag\":\"a\"}", NULL};
static const char *const seed_docs[4] = {"doc zero", "doc one", NULL, "doc three"};

static void seed(qv_db *db, qv_collection *c) {
  qv_batch b = mkb(4, seed_ids, seed_emb, seed_metas, seed_docs);
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "seed: %s", qv_db_errmsg(db));
}

enum { OP_ADD, OP_ADD_IGNORE, OP_UPSERT, OP_UPDATE, OP_UPDATE_IGNORE };

static qv_status run_op(qv_collection *c, int op, const qv_batch *b) {
  switch (op) {
  case OP_ADD: return qv_collection_add(c, b, QV_CONFLICT_ERROR);
  case OP_ADD_IGNORE: return qv_collection_add(c, b, QV_CONFLICT_IGNORE);
  case OP_UPSERT: return qv_collection_upsert(c, b);
  case OP_UPDATE: return qv_collection_update(c, b, 0);
  default: return qv_collection_update(c, b, 1);
  }
}

static const char *op_name(int op) {
  static const char *const n[] = {"add", "add(ignore)", "upsert", "update", "update(ignore_missing)"};
  return n[op];
}

/* The batch must be refused with want, a message containing every non-NULL substring, and no change. */
static void refused(qv_db *db, qv_collection *c, int op, const qv_batch *b, qv_status want, const char *sub1,
                    const char *sub2) {
  char *before = snapshot(db, c);
  qv_status rc = run_op(c, op, b);
  const char *msg = qv_db_errmsg(db);
  cr_assert_eq(rc, want, "%s: got %s (%s), want %s", op_name(op), qv_status_name(rc), msg, qv_status_name(want));
  if (sub1) cr_assert(strstr(msg, sub1), "%s: message \"%s\" lacks \"%s\"", op_name(op), msg, sub1);
  if (sub2) cr_assert(strstr(msg, sub2), "%s: message \"%s\" lacks \"%s\"", op_name(op), msg, sub2);
  char *after = snapshot(db, c);
  cr_assert_str_eq(after, before, "%s refused with %s but the collection changed", op_name(op), qv_status_name(rc));
  free(before);
  free(after);
}

static qv_results *get_all(qv_db *db, qv_collection *c, unsigned include) {
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.include = include;
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK, "get: %s", qv_db_errmsg(db));
  return r;
}

static qv_results *get_ids(qv_db *db, qv_collection *c, size_t n, const char *const *ids, unsigned include) {
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.ids = ids;
  g.n_ids = n;
  g.include = include;
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK, "get: %s", qv_db_errmsg(db));
  return r;
}

#define ALL (QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS)

/* Ids of r row 0 joined with ',' into buf. */
static const char *id_list(const qv_results *r, char *buf, size_t len) {
  buf[0] = 0;
  for (size_t i = 0; i < qv_results_count(r, 0); i++) {
    if (i) strncat(buf, ",", len - strlen(buf) - 1);
    strncat(buf, qv_results_id(r, 0, i), len - strlen(buf) - 1);
  }
  return buf;
}

static void expect_record(qv_db *db, qv_collection *c, const char *id, const float *emb, const char *meta,
                          const char *doc) {
  const char *ids[1] = {id};
  qv_results *r = get_ids(db, c, 1, ids, ALL);
  cr_assert_eq(qv_results_count(r, 0), 1, "record %s missing", id);
  const char *m = qv_results_metadata(r, 0, 0), *d = qv_results_document(r, 0, 0);
  if (meta) cr_assert(m && strcmp(m, meta) == 0, "%s metadata: got %s, want %s", id, m ? m : "NULL", meta);
  else cr_assert_null(m, "%s metadata: got %s, want NULL", id, m);
  if (doc) cr_assert(d && strcmp(d, doc) == 0, "%s document: got %s, want %s", id, d ? d : "NULL", doc);
  else cr_assert_null(d, "%s document: got %s, want NULL", id, d);
  const float *e = qv_results_embedding(r, 0, 0);
  cr_assert_not_null(e);
  for (uint32_t j = 0; j < qv_collection_dim(c); j++)
    cr_assert_float_eq(e[j], emb[j], 1e-6f, "%s embedding[%u]: got %g want %g", id, j, (double)e[j], (double)emb[j]);
  qv_results_free(r);
}

/* ------------------------------------------------------------------ add */

Test(add, roundtrip_in_insertion_order) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
  seed(db, c);
  cr_assert_str_eq(qv_db_errmsg(db), "", "a successful call leaves an empty message");
  qv_results *r = get_all(db, c, ALL);
  cr_assert_eq(qv_results_nq(r), 1);
  cr_assert_eq(qv_results_count(r, 0), 4);
  cr_assert_eq(qv_results_dim(r), D);
  for (size_t i = 0; i < 4; i++) {
    cr_assert_str_eq(qv_results_id(r, 0, i), seed_ids[i]);
    const char *m = qv_results_metadata(r, 0, i), *d = qv_results_document(r, 0, i);
    if (seed_metas[i]) cr_assert_str_eq(m, seed_metas[i]);
    else cr_assert_null(m);
    if (seed_docs[i]) cr_assert_str_eq(d, seed_docs[i]);
    else cr_assert_null(d);
    cr_assert_arr_eq(qv_results_embedding(r, 0, i), seed_emb + i * D, D * sizeof(float));
    cr_assert_float_eq(qv_results_distance(r, 0, i), 0.0f, 0.0f);
  }
  cr_assert_null(qv_results_id(r, 0, 4), "out of range hit gives NULL");
  cr_assert_null(qv_results_id(r, 1, 0), "out of range row gives NULL");
  cr_assert_eq(qv_results_count(r, 1), 0);
  qv_results_free(r);
  uint64_t n = 0;
  cr_assert_eq(qv_collection_count(c, &n), QV_OK);
  cr_assert_eq(n, 4);
  qv_collection_release(c);
  close_db(db);
}

Test(add, metadata_values_and_unicode) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
  const char *ids[3] = {"ключ-🙂", "b", "c"};
  const char *metas[3] = {"{\"s\":\"x\\\"y\",\"i\":-7,\"f\":2.5,\"b\":true,\"arr\":[1,2,3]}", "{}", NULL};
  const char *docs[3] = {"héllo wörld", "", NULL};
  float e[3 * D] = {0.5f, -1, 2, 0, 0, 0, 3, 3, 3};
  qv_batch b = mkb(3, ids, e, metas, docs);
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  expect_record(db, c, ids[0], e, "{\"arr\":[1,2,3],\"b\":true,\"f\":2.5,\"i\":-7,\"s\":\"x\\\"y\"}", docs[0]);
  expect_record(db, c, "b", e + D, NULL, ""); /* "{}" is no metadata; "" is a document */
  expect_record(db, c, "c", e + 2 * D, NULL, NULL);
  qv_collection_release(c);
  close_db(db);
}

Test(add, id_length_limit) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
  char *longest = malloc(QV_MAX_ID_LEN + 2);
  memset(longest, 'x', QV_MAX_ID_LEN + 1);
  longest[QV_MAX_ID_LEN] = 0; /* exactly QV_MAX_ID_LEN bytes: allowed */
  const char *ids[1] = {longest};
  qv_batch b = mkb(1, ids, seed_emb, NULL, NULL);
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
  expect_record(db, c, longest, seed_emb, NULL, NULL);
  longest[QV_MAX_ID_LEN] = 'x';
  longest[QV_MAX_ID_LEN + 1] = 0; /* one byte more: refused */
  refused(db, c, OP_ADD, &b, QV_INVALID, "ids[0]", NULL);
  free(longest);
  qv_collection_release(c);
  close_db(db);
}

Test(add, empty_batch_is_a_no_op) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", 0, QV_METRIC_L2);
  qv_batch b = mkb(0, NULL, NULL, NULL, NULL);
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK);
  cr_assert_eq(qv_collection_upsert(c, &b), QV_OK);
  cr_assert_eq(qv_collection_update(c, &b, 0), QV_OK);
  cr_assert_eq(qv_collection_dim(c), 0, "an empty batch does not fix the dimension");
  qv_collection_release(c);
  close_db(db);
}

Test(add, conflict_error_fails_whole_batch) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
    seed(db, c);
    const char *ids[3] = {"n0", "n1", "r2"};
    float e[3 * D] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    qv_batch b = mkb(3, ids, e, NULL, NULL);
    refused(db, c, OP_ADD, &b, QV_EXISTS, "ids[2]", "r2");
    /* IGNORE: r2 untouched, n0 n1 added */
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_IGNORE), QV_OK, "%s", qv_db_errmsg(db));
    uint64_t n = 0;
    qv_collection_count(c, &n);
    cr_assert_eq(n, 6);
    expect_record(db, c, "r2", seed_emb + 2 * D, seed_metas[2], NULL);
    expect_record(db, c, "n1", e + D, NULL, NULL);
    /* adding the same batch again with IGNORE changes nothing */
    char *before = snapshot(db, c);
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_IGNORE), QV_OK);
    char *after = snapshot(db, c);
    cr_assert_str_eq(after, before);
    free(before);
    free(after);
    cr_assert_eq(qv_collection_add(c, &b, (qv_conflict)7), QV_INVALID);
    cr_assert(strstr(qv_db_errmsg(db), "on_conflict"), "%s", qv_db_errmsg(db));
    qv_collection_release(c);
    close_db(db);
  }
}

/* ------------------------------------------------------------------ bad input, every entry point */

/* One bad batch for each kind of bad input; checked for add, upsert and update, in memory and on disk. */
Test(bad_input, every_kind_refused_and_nothing_changes) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
    seed(db, c);
    /* ids of existing records (so update would otherwise succeed) and fresh ones */
    const char *ok_ids[4] = {"r0", "r1", "r2", "r3"};
    float e[4 * D] = {9, 9, 9, 8, 8, 8, 7, 7, 7, 6, 6, 6};
    const char *metas[4] = {"{\"z\":1}", "{\"z\":2}", "{\"z\":3}", "{\"z\":4}"};
    const char *docs[4] = {"new0", "new1", "new2", "new3"};
    char too_long[QV_MAX_ID_LEN + 2];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = 0;

    for (int op = OP_ADD; op <= OP_UPDATE_IGNORE; op++) {
      qv_batch b;
      /* NULL batch */
      refused(db, c, op, NULL, QV_INVALID, "batch", NULL);
      /* ids NULL */
      b = mkb(4, NULL, e, metas, docs);
      refused(db, c, op, &b, QV_INVALID, "ids", NULL);
      /* one NULL id */
      const char *ids_null[4] = {"r0", "r1", NULL, "r3"};
      b = mkb(4, ids_null, e, metas, docs);
      refused(db, c, op, &b, QV_INVALID, "ids[2]", NULL);
      /* empty id */
      const char *ids_empty[4] = {"r0", "", "r2", "r3"};
      b = mkb(4, ids_empty, e, metas, docs);
      refused(db, c, op, &b, QV_INVALID, "ids[1]", NULL);
      /* id too long */
      const char *ids_long[4] = {"r0", "r1", "r2", too_long};
      b = mkb(4, ids_long, e, metas, docs);
      refused(db, c, op, &b, QV_INVALID, "ids[3]", NULL);
      /* invalid UTF-8 ids: stray byte, overlong encoding, surrogate, truncated sequence */
      const char *bad_utf8[4] = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "ab\xe2\x82"};
      for (size_t k = 0; k < 4; k++) {
        const char *ids_u[4] = {"r0", "r1", "r2", "r3"};
        ids_u[k] = bad_utf8[k];
        char want[16];
        snprintf(want, sizeof want, "ids[%zu]", k);
        b = mkb(4, ids_u, e, metas, docs);
        refused(db, c, op, &b, QV_INVALID, want, "UTF-8");
      }
      /* duplicate ids within the batch */
      const char *ids_dup[4] = {"r0", "r1", "r2", "r0"};
      b = mkb(4, ids_dup, e, metas, docs);
      refused(db, c, op, &b, QV_INVALID, "ids[3]", "duplicate");
      /* NaN, +Inf, -Inf at [i][j] */
      float bad[4 * D];
      static const struct { size_t i, j; const char *w; } nf[] = {
          {1, 0, "embeddings[1][0]"}, {3, 2, "embeddings[3][2]"}, {0, 1, "embeddings[0][1]"}};
      for (size_t k = 0; k < 3; k++) {
        memcpy(bad, e, sizeof bad);
        bad[nf[k].i * D + nf[k].j] = k == 0 ? NAN : k == 1 ? INFINITY : -INFINITY;
        b = mkb(4, ok_ids, bad, metas, docs);
        refused(db, c, op, &b, QV_INVALID, nf[k].w, k == 0 ? "NaN" : NULL);
      }
      /* wrong dimension */
      float wide[4 * (D + 1)] = {0};
      b = mkb(4, ok_ids, wide, metas, docs);
      b.dim = D + 1;
      refused(db, c, op, &b, QV_INVALID, "embeddings", "dimension");
      /* metadata: not an object, nested, bad JSON, null in add, empty array, mixed array, bad key */
      static const struct { size_t i; const char *json; } bm[] = {
          {3, "[1,2]"}, {1, "{\"a\":{\"b\":1}}"}, {0, "{\"a\":"}, {2, "\"str\""}, {1, "{\"a\":[]}"},
          {2, "{\"a\":[1,\"x\"]}"}, {0, "{\"a\":[[1]]}"}, {3, "{\"\":1}"}, {1, "{\"$a\":1}"}, {2, "nul"}};
      for (size_t k = 0; k < sizeof bm / sizeof bm[0]; k++) {
        const char *m2[4] = {metas[0], metas[1], metas[2], metas[3]};
        m2[bm[k].i] = bm[k].json;
        char want[32];
        snprintf(want, sizeof want, "metadatas[%zu]", bm[k].i);
        b = mkb(4, ok_ids, e, m2, docs);
        refused(db, c, op, &b, QV_INVALID, want, NULL);
      }
      if (op == OP_ADD || op == OP_ADD_IGNORE) {
        const char *m3[4] = {metas[0], metas[1], "{\"a\":null}", metas[3]};
        const char *fresh[4] = {"f0", "f1", "f2", "f3"};
        b = mkb(4, fresh, e, m3, docs);
        refused(db, c, op, &b, QV_INVALID, "metadatas[2]", NULL);
      }
      /* document not valid UTF-8 */
      const char *d2[4] = {docs[0], "ok\xfe", docs[2], docs[3]};
      b = mkb(4, ok_ids, e, metas, d2);
      refused(db, c, op, &b, QV_INVALID, "documents[1]", NULL);
      /* embeddings missing: required by add and upsert */
      if (op <= OP_UPSERT) {
        const char *fresh[2] = {"f0", "f1"};
        b = mkb(2, fresh, NULL, NULL, NULL);
        refused(db, c, op, &b, QV_INVALID, "embeddings", NULL);
      }
    }
    /* update of a missing id: NOTFOUND names it; nothing of the batch applied */
    const char *ids_missing[4] = {"r0", "r1", "nope", "r3"};
    qv_batch b = mkb(4, ids_missing, e, metas, docs);
    refused(db, c, OP_UPDATE, &b, QV_NOTFOUND, "ids[2]", "nope");
    /* with ignore_missing the others are updated */
    cr_assert_eq(qv_collection_update(c, &b, 1), QV_OK, "%s", qv_db_errmsg(db));
    expect_record(db, c, "r1", e + D, "{\"i\":1,\"tag\":\"b\",\"z\":2}", "new1");
    uint64_t n = 0;
    qv_collection_count(c, &n);
    cr_assert_eq(n, 4, "update never inserts");
    /* the collection still works after all those refusals */
    const char *fresh[1] = {"after"};
    b = mkb(1, fresh, e, NULL, NULL);
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK, "%s", qv_db_errmsg(db));
    qv_collection_count(c, &n);
    cr_assert_eq(n, 5);
    qv_collection_release(c);
    close_db(db);
  }
}

/* A failure late in a batch (position 3 of 4) must not leave positions 0..2 applied. */
Test(bad_input, late_failure_is_all_or_nothing) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    qv_collection *c = new_col(db, "c", D, QV_METRIC_COSINE);
    seed(db, c);
    const char *ids[4] = {"x0", "x1", "x2", "r1"};
    float e[4 * D] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3};
    qv_batch b = mkb(4, ids, e, NULL, NULL);
    refused(db, c, OP_ADD, &b, QV_EXISTS, "ids[3]", NULL);
    const char *uids[4] = {"r0", "r1", "r2", "zz"};
    b = mkb(4, uids, e, NULL, NULL);
    refused(db, c, OP_UPDATE, &b, QV_NOTFOUND, "ids[3]", NULL);
    qv_collection_release(c);
    close_db(db);
  }
}

Test(bad_input, null_and_dropped_handles) {
  qv_batch b = mkb(1, seed_ids, seed_emb, NULL, NULL);
  cr_assert_eq(qv_collection_add(NULL, &b, QV_CONFLICT_ERROR), QV_MISUSE);
  cr_assert_eq(qv_collection_upsert(NULL, &b), QV_MISUSE);
  cr_assert_eq(qv_collection_update(NULL, &b, 0), QV_MISUSE);
  size_t nd = 99;
  cr_assert_eq(qv_collection_delete_records(NULL, seed_ids, 1, NULL, NULL, 0, &nd), QV_MISUSE);
  cr_assert_eq(nd, 0);
  qv_results *r = (qv_results *)&b;
  cr_assert_eq(qv_collection_get_records(NULL, NULL, &r), QV_MISUSE);
  cr_assert_null(r, "out-parameter set to NULL on failure");
  uint64_t n = 7;
  cr_assert_eq(qv_collection_count(NULL, &n), QV_MISUSE);
  cr_assert_eq(n, 0);

  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
  seed(db, c);
  cr_assert_eq(qv_collection_get_records(c, NULL, NULL), QV_MISUSE);
  cr_assert_eq(qv_collection_count(c, NULL), QV_MISUSE);
  cr_assert_eq(qv_collection_delete(db, "c"), QV_OK);
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_MISUSE);
  cr_assert(strstr(qv_db_errmsg(db), "deleted"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_upsert(c, &b), QV_MISUSE);
  cr_assert_eq(qv_collection_update(c, &b, 1), QV_MISUSE);
  cr_assert_eq(qv_collection_delete_records(c, seed_ids, 1, NULL, NULL, 0, NULL), QV_MISUSE);
  r = (qv_results *)&b;
  cr_assert_eq(qv_collection_get_records(c, NULL, &r), QV_MISUSE);
  cr_assert_null(r);
  cr_assert_eq(qv_collection_count(c, &n), QV_MISUSE);
  qv_collection_release(c);
  close_db(db);
}

/* ------------------------------------------------------------------ upsert */

Test(upsert, inserts_new_and_merges_existing) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
    seed(db, c);
    const char *ids[3] = {"r0", "new", "r3"};
    float e[3 * D] = {5, 5, 5, 6, 6, 6, 7, 7, 7};
    const char *metas[3] = {"{\"tag\":null,\"x\":\"y\"}", "{\"k\":1}", NULL};
    const char *docs[3] = {NULL, "new doc", "replaced"};
    qv_batch b = mkb(3, ids, e, metas, docs);
    cr_assert_eq(qv_collection_upsert(c, &b), QV_OK, "%s", qv_db_errmsg(db));
    expect_record(db, c, "r0", e, "{\"i\":0,\"x\":\"y\"}", "doc zero"); /* tag removed, x merged, doc kept */
    expect_record(db, c, "new", e + D, "{\"k\":1}", "new doc");
    expect_record(db, c, "r3", e + 2 * D, NULL, "replaced");
    expect_record(db, c, "r1", seed_emb + D, seed_metas[1], "doc one");
    uint64_t n = 0;
    qv_collection_count(c, &n);
    cr_assert_eq(n, 5);
    qv_results *r = get_all(db, c, 0);
    char buf[256];
    cr_assert_str_eq(id_list(r, buf, sizeof buf), "r0,r1,r2,r3,new", "upsert keeps an existing record's place");
    qv_results_free(r);
    qv_collection_release(c);
    close_db(db);
  }
}

Test(upsert, null_metadata_value_on_new_record_is_dropped) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
  const char *ids[1] = {"n"};
  const char *metas[1] = {"{\"a\":null,\"b\":2}"};
  qv_batch b = mkb(1, ids, seed_emb, metas, NULL);
  cr_assert_eq(qv_collection_upsert(c, &b), QV_OK, "%s", qv_db_errmsg(db));
  expect_record(db, c, "n", seed_emb, "{\"b\":2}", NULL);
  qv_collection_release(c);
  close_db(db);
}

/* ------------------------------------------------------------------ update */

Test(update, only_given_fields_change) {
  for (int p = 0; p < 2; p++) {
    for (int metric = 0; metric < 4; metric++) {
      qv_db *db = open_db(p);
      qv_collection *c = new_col(db, "c", D, (qv_metric)metric);
      seed(db, c);
      /* metadata only: merged key by key, null removes, embedding and document kept */
      const char *ids[2] = {"r0", "r3"};
      const char *metas[2] = {"{\"i\":10,\"tag\":null,\"new\":[\"p\",\"q\"]}", "{\"only\":false}"};
      qv_batch b = mkb(2, ids, NULL, metas, NULL);
      cr_assert_eq(qv_collection_update(c, &b, 0), QV_OK, "%s", qv_db_errmsg(db));
      expect_record(db, c, "r0", seed_emb, "{\"i\":10,\"new\":[\"p\",\"q\"]}", "doc zero");
      expect_record(db, c, "r3", seed_emb + 3 * D, "{\"only\":false}", "doc three");
      /* document only */
      const char *docs[2] = {"changed", NULL};
      b = mkb(2, ids, NULL, NULL, docs);
      cr_assert_eq(qv_collection_update(c, &b, 0), QV_OK, "%s", qv_db_errmsg(db));
      expect_record(db, c, "r0", seed_emb, "{\"i\":10,\"new\":[\"p\",\"q\"]}", "changed");
      expect_record(db, c, "r3", seed_emb + 3 * D, "{\"only\":false}", "doc three");
      /* embedding only */
      float e[2 * D] = {-1, -2, -3, 0.5f, 0.25f, 0.125f};
      b = mkb(2, ids, e, NULL, NULL);
      cr_assert_eq(qv_collection_update(c, &b, 0), QV_OK, "%s", qv_db_errmsg(db));
      expect_record(db, c, "r0", e, "{\"i\":10,\"new\":[\"p\",\"q\"]}", "changed");
      expect_record(db, c, "r3", e + D, "{\"only\":false}", "doc three");
      /* removing every key leaves no metadata; "{}" changes nothing */
      const char *m2[2] = {"{\"i\":null,\"new\":null}", "{}"};
      b = mkb(2, ids, NULL, m2, NULL);
      cr_assert_eq(qv_collection_update(c, &b, 0), QV_OK, "%s", qv_db_errmsg(db));
      expect_record(db, c, "r0", e, NULL, "changed");
      expect_record(db, c, "r3", e + D, "{\"only\":false}", "doc three");
      /* the updated embedding is what queries see */
      qv_results *r = NULL;
      cr_assert_eq(qv_collection_query(c, e, 1, 1, NULL, &r), QV_OK);
      cr_assert_str_eq(qv_results_id(r, 0, 0), "r0", "metric %s", qv_metric_name((qv_metric)metric));
      qv_results_free(r);
      qv_collection_release(c);
      close_db(db);
    }
  }
}

/* ------------------------------------------------------------------ delete */

static size_t del(qv_db *db, qv_collection *c, size_t n_ids, const char *const *ids, const char *where,
                  const char *wdoc, size_t limit) {
  size_t nd = 12345;
  qv_status rc = qv_collection_delete_records(c, ids, n_ids, where, wdoc, limit, &nd);
  cr_assert_eq(rc, QV_OK, "delete: %s", qv_db_errmsg(db));
  return nd;
}

static void expect_ids(qv_db *db, qv_collection *c, const char *want) {
  qv_results *r = get_all(db, c, 0);
  char buf[512];
  cr_assert_str_eq(id_list(r, buf, sizeof buf), want);
  uint64_t n = 0;
  qv_collection_count(c, &n);
  cr_assert_eq(n, qv_results_count(r, 0));
  qv_results_free(r);
}

Test(delete, by_ids_filter_both_and_limit) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
    seed(db, c);
    /* neither ids nor filter: nothing */
    cr_assert_eq(del(db, c, 0, NULL, NULL, NULL, 0), 0);
    expect_ids(db, c, "r0,r1,r2,r3");
    /* ids: missing skipped, duplicates once */
    const char *ids[4] = {"r1", "ghost", "r1", "r3"};
    cr_assert_eq(del(db, c, 4, ids, NULL, NULL, 0), 2);
    expect_ids(db, c, "r0,r2");
    cr_assert_eq(del(db, c, 4, ids, NULL, NULL, 0), 0, "deleting again deletes nothing");
    /* back to four */
    qv_batch b = mkb(4, seed_ids, seed_emb, seed_metas, seed_docs);
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_IGNORE), QV_OK);
    expect_ids(db, c, "r0,r2,r1,r3");
    /* ids and filter: intersection */
    const char *ids2[3] = {"r0", "r1", "r3"};
    cr_assert_eq(del(db, c, 3, ids2, "{\"tag\":\"a\"}", NULL, 0), 1);
    expect_ids(db, c, "r2,r1,r3");
    /* where_document only */
    cr_assert_eq(del(db, c, 0, NULL, NULL, "{\"$contains\":\"three\"}", 0), 1);
    expect_ids(db, c, "r2,r1");
    /* filter with limit */
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_IGNORE), QV_OK);
    expect_ids(db, c, "r2,r1,r0,r3");
    cr_assert_eq(del(db, c, 0, NULL, "{\"i\":{\"$gte\":0}}", NULL, 2), 2);
    uint64_t n = 0;
    qv_collection_count(c, &n);
    cr_assert_eq(n, 2);
    /* $ne matches records without the key (r3 has no metadata) */
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_IGNORE), QV_OK);
    cr_assert_eq(del(db, c, 0, NULL, "{\"tag\":{\"$ne\":\"a\"}}", NULL, 0), 2);
    qv_results *r = get_all(db, c, QV_INCLUDE_METADATAS);
    for (size_t i = 0; i < qv_results_count(r, 0); i++)
      cr_assert(strstr(qv_results_metadata(r, 0, i), "\"tag\":\"a\""));
    cr_assert_eq(qv_results_count(r, 0), 2);
    qv_results_free(r);
    qv_collection_release(c);
    close_db(db);
  }
}

Test(delete, bad_input_refused_nothing_deleted) {
  qv_db *db = open_db(1);
  qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
  seed(db, c);
  char *before = snapshot(db, c);
  size_t nd = 5;
  static const char *const bad_where[] = {"{", "[]", "{\"a\":1,\"b\":2}", "{\"$foo\":[]}", "{\"a\":{\"$gt\":\"x\"}}",
                                          "{\"a\":{\"$in\":[]}}", "{}", "{\"$and\":{}}"};
  for (size_t i = 0; i < sizeof bad_where / sizeof bad_where[0]; i++) {
    qv_status rc = qv_collection_delete_records(c, NULL, 0, bad_where[i], NULL, 0, &nd);
    cr_assert_eq(rc, QV_INVALID, "where %s: got %s", bad_where[i], qv_status_name(rc));
    cr_assert_eq(nd, 0);
    cr_assert(strlen(qv_db_errmsg(db)) > 0, "where %s: empty message", bad_where[i]);
  }
  cr_assert_eq(qv_collection_delete_records(c, seed_ids, 2, NULL, "{\"$contains\":1}", 0, &nd), QV_INVALID);
  cr_assert_eq(qv_collection_delete_records(c, NULL, 0, NULL, "{\"$bogus\":\"x\"}", 0, &nd), QV_INVALID);
  const char *ids[3] = {"r0", NULL, "r1"};
  cr_assert_eq(qv_collection_delete_records(c, ids, 3, NULL, NULL, 0, &nd), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "ids[1]"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_delete_records(c, NULL, 3, NULL, NULL, 0, &nd), QV_INVALID);
  char *after = snapshot(db, c);
  cr_assert_str_eq(after, before);
  free(before);
  free(after);
  qv_collection_release(c);
  close_db(db);
}

Test(delete, slot_reuse_keeps_insertion_order) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
    seed(db, c);
    const char *gone[2] = {"r1", "r0"};
    cr_assert_eq(del(db, c, 2, gone, NULL, NULL, 0), 2);
    const char *ids[3] = {"e", "f", "g"};
    float e[3 * D] = {1, 0, 1, 0, 1, 1, 2, 2, 2};
    qv_batch b = mkb(3, ids, e, NULL, NULL);
    cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK);
    expect_ids(db, c, "r2,r3,e,f,g");
    expect_record(db, c, "e", e, NULL, NULL);
    expect_record(db, c, "f", e + D, NULL, NULL);
    expect_record(db, c, "r3", seed_emb + 3 * D, NULL, "doc three");
    /* the old records are gone from queries too */
    qv_results *r = NULL;
    cr_assert_eq(qv_collection_query(c, seed_emb, 1, 10, NULL, &r), QV_OK);
    cr_assert_eq(qv_results_count(r, 0), 5);
    for (size_t i = 0; i < 5; i++) cr_assert_str_neq(qv_results_id(r, 0, i), "r0");
    qv_results_free(r);
    qv_collection_release(c);
    close_db(db);
  }
}

/* ------------------------------------------------------------------ get */

Test(get, by_ids_in_order_missing_skipped) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
  seed(db, c);
  const char *ids[5] = {"r3", "nope", "r0", "r2", ""};
  qv_results *r = get_ids(db, c, 5, ids, ALL);
  char buf[256];
  cr_assert_str_eq(id_list(r, buf, sizeof buf), "r3,r0,r2");
  cr_assert_arr_eq(qv_results_embedding(r, 0, 1), seed_emb, D * sizeof(float));
  qv_results_free(r);
  /* ids and a filter: intersection, still in the asked order */
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.ids = ids;
  g.n_ids = 5;
  g.where_json = "{\"tag\":\"a\"}";
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK);
  cr_assert_str_eq(id_list(r, buf, sizeof buf), "r0,r2");
  qv_results_free(r);
  /* n_ids 0 with a non-NULL array: no ids asked, nothing returned */
  g.where_json = NULL;
  g.n_ids = 0;
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK);
  cr_assert_eq(qv_results_count(r, 0), 0);
  qv_results_free(r);
  qv_collection_release(c);
  close_db(db);
}

Test(get, filters_limit_offset) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
  seed(db, c);
  static const struct { const char *where, *wdoc; size_t limit, offset; const char *want; } cases[] = {
      {NULL, NULL, 0, 0, "r0,r1,r2,r3"},
      {NULL, NULL, 2, 0, "r0,r1"},
      {NULL, NULL, 2, 1, "r1,r2"},
      {NULL, NULL, 0, 3, "r3"},
      {NULL, NULL, 0, 4, ""},
      {NULL, NULL, 5, 100, ""},
      {"{\"tag\":\"a\"}", NULL, 0, 0, "r0,r2"},
      {"{\"tag\":{\"$eq\":\"b\"}}", NULL, 0, 0, "r1"},
      {"{\"tag\":{\"$ne\":\"a\"}}", NULL, 0, 0, "r1,r3"},
      {"{\"tag\":{\"$nin\":[\"a\",\"b\"]}}", NULL, 0, 0, "r3"},
      {"{\"tag\":{\"$in\":[\"b\",\"zz\"]}}", NULL, 0, 0, "r1"},
      {"{\"i\":{\"$gt\":0}}", NULL, 0, 0, "r1,r2"},
      {"{\"i\":{\"$gte\":1.0}}", NULL, 0, 0, "r1,r2"},
      {"{\"i\":{\"$lt\":1.5}}", NULL, 0, 0, "r0,r1"},
      {"{\"i\":{\"$lte\":0}}", NULL, 0, 0, "r0"},
      {"{\"$or\":[{\"i\":0},{\"i\":2}]}", NULL, 0, 0, "r0,r2"},
      {"{\"$and\":[{\"tag\":\"a\"},{\"i\":{\"$gt\":0}}]}", NULL, 0, 0, "r2"},
      {"{\"tag\":\"a\"}", NULL, 1, 1, "r2"},
      {NULL, "{\"$contains\":\"doc\"}", 0, 0, "r0,r1,r3"},
      {NULL, "{\"$contains\":\"Doc\"}", 0, 0, ""},
      {NULL, "{\"$not_contains\":\"one\"}", 0, 0, "r0,r2,r3"},
      {"{\"tag\":\"a\"}", "{\"$contains\":\"doc\"}", 0, 0, "r0"},
      {"null", "null", 0, 0, "r0,r1,r2,r3"},
  };
  char buf[256];
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    qv_get_opts g;
    qv_get_opts_init(&g);
    g.where_json = cases[k].where;
    g.where_document_json = cases[k].wdoc;
    g.limit = cases[k].limit;
    g.offset = cases[k].offset;
    qv_results *r = NULL;
    qv_status rc = qv_collection_get_records(c, &g, &r);
    cr_assert_eq(rc, QV_OK, "case %zu: %s", k, qv_db_errmsg(db));
    cr_assert_str_eq(id_list(r, buf, sizeof buf), cases[k].want, "case %zu (where %s, doc %s, limit %zu, offset %zu)", k,
                     cases[k].where, cases[k].wdoc, cases[k].limit, cases[k].offset);
    qv_results_free(r);
  }
  qv_collection_release(c);
  close_db(db);
}

Test(get, include_bits) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
  seed(db, c);
  for (unsigned inc = 0; inc < 16; inc++) {
    qv_get_opts g;
    qv_get_opts_init(&g);
    g.include = inc;
    qv_results *r = NULL;
    cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK);
    cr_assert_eq(qv_results_count(r, 0), 4);
    cr_assert_eq(qv_results_include(r) & 7u, inc & 7u, "include %u", inc);
    const float *e = qv_results_embedding(r, 0, 0);
    const char *m = qv_results_metadata(r, 0, 0), *d = qv_results_document(r, 0, 0);
    cr_assert_eq(e != NULL, (inc & QV_INCLUDE_EMBEDDINGS) != 0, "include %u: embeddings", inc);
    cr_assert_eq(m != NULL, (inc & QV_INCLUDE_METADATAS) != 0, "include %u: metadatas", inc);
    cr_assert_eq(d != NULL, (inc & QV_INCLUDE_DOCUMENTS) != 0, "include %u: documents", inc);
    cr_assert_not_null(qv_results_id(r, 0, 0), "ids are always returned");
    cr_assert_float_eq(qv_results_distance(r, 0, 0), 0.0f, 0.0f);
    qv_results_free(r);
  }
  qv_get_opts g;
  qv_get_opts_init(&g);
  cr_assert_eq(g.include, (unsigned)(QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS), "default include");
  cr_assert_eq(g.limit, 0);
  cr_assert_null(g.ids);
  g.include = 0x10;
  qv_results *r = (qv_results *)&g;
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_INVALID);
  cr_assert_null(r);
  cr_assert(strstr(qv_db_errmsg(db), "include"), "%s", qv_db_errmsg(db));
  qv_collection_release(c);
  close_db(db);
}

Test(get, bad_input) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", D, QV_METRIC_L2);
  seed(db, c);
  qv_get_opts g;
  qv_results *r = NULL;
  qv_get_opts_init(&g);
  g.n_ids = 2; /* ids NULL */
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "ids"), "%s", qv_db_errmsg(db));
  const char *ids[3] = {"r0", "r1", NULL};
  g.ids = ids;
  g.n_ids = 3;
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "ids[2]"), "%s", qv_db_errmsg(db));
  qv_get_opts_init(&g);
  g.where_json = "{\"tag\":";
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_INVALID);
  cr_assert(strlen(qv_db_errmsg(db)) > 0);
  cr_assert_null(r);
  g.where_json = NULL;
  g.where_document_json = "{\"$contains\":\"a\",\"$not_contains\":\"b\"}";
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_INVALID);
  qv_collection_release(c);
  close_db(db);
}

Test(get, empty_and_dimless_collection) {
  qv_db *db = open_db(0);
  qv_collection *c = new_col(db, "c", 0, QV_METRIC_L2);
  qv_results *r = get_all(db, c, ALL);
  cr_assert_eq(qv_results_nq(r), 1);
  cr_assert_eq(qv_results_count(r, 0), 0);
  qv_results_free(r);
  qv_results_free(NULL);
  cr_assert_eq(qv_results_nq(NULL), 0);
  cr_assert_eq(qv_results_count(NULL, 0), 0);
  cr_assert_null(qv_results_id(NULL, 0, 0));
  qv_collection_release(c);
  close_db(db);
}
