/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_collections.c -- API tests of collections: create / get / get_by_uuid / get_or_create /
 * list (sorted) / rename / delete, name and option validation, QV_EXISTS, dropped handles
 * (QV_MISUSE), the dimension fixed by the first write (and persisted), collection metadata,
 * info, and index kinds (l1 on hnsw is QV_UNSUPPORTED).
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

#include "api_db.h"

static qv_collection *create(qv_db *db, const char *name, uint32_t dim) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = dim;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, name, &o, &c), QV_OK, "create %s: %s", name, qv_db_errmsg(db));
  cr_assert_not_null(c);
  return c;
}

static const char *list_str(qv_db *db, char *buf, size_t len) {
  char **names = NULL;
  size_t n = 99;
  cr_assert_eq(qv_collection_list(db, &names, &n), QV_OK);
  cr_assert_not_null(names);
  cr_assert_null(names[n], "NULL-terminated");
  buf[0] = 0;
  for (size_t i = 0; i < n; i++) {
    if (i) strncat(buf, ",", len - strlen(buf) - 1);
    strncat(buf, names[i], len - strlen(buf) - 1);
  }
  qv_strings_free(names);
  return buf;
}

static qv_status add1(qv_collection *c, const char *id, const float *e, uint32_t dim) {
  const char *ids[1] = {id};
  qv_batch b = {0, 1, ids, e, NULL, NULL, dim};
  return qv_collection_add(c, &b, QV_CONFLICT_ERROR);
}

Test(collections, opts_init_defaults) {
  qv_collection_opts o;
  memset(&o, 0x7f, sizeof o);
  qv_collection_opts_init(&o);
  cr_assert_eq(o.dim, 0);
  cr_assert_eq(o.metric, QV_METRIC_L2);
  cr_assert_str_eq(o.index, "flat");
  cr_assert_null(o.params_json);
  cr_assert_eq(o.struct_size, sizeof o);
  cr_assert_null(o.metadata_json);
}

Test(collections, create_get_uuid_info) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    qv_collection_opts o;
    qv_collection_opts_init(&o);
    o.dim = 4;
    o.metric = QV_METRIC_COSINE;
    o.metadata_json = "{\"owner\":\"me\",\"n\":3}";
    qv_collection *c = NULL;
    cr_assert_eq(qv_collection_create(db, "alpha", &o, &c), QV_OK, "%s", qv_db_errmsg(db));
    cr_assert_str_eq(qv_db_errmsg(db), "");
    qv_collection_info in;
    cr_assert_eq(qv_collection_info_get(c, &in), QV_OK);
    cr_assert_str_eq(in.name, "alpha");
    cr_assert_eq(strlen(in.uuid), 36);
    cr_assert(in.uuid[8] == '-' && in.uuid[13] == '-' && in.uuid[18] == '-' && in.uuid[23] == '-');
    cr_assert_str_eq(in.metadata_json, "{\"owner\":\"me\",\"n\":3}"); /* kept as given */
    cr_assert_eq(in.dim, 4);
    cr_assert_eq(in.metric, QV_METRIC_COSINE);
    cr_assert_str_eq(in.index, "flat");
    cr_assert_str_eq(in.params_json, "{}");
    cr_assert_eq(in.count, 0);
    char uuid[37];
    strcpy(uuid, in.uuid);
    qv_collection_info_free(&in);
    qv_collection_info_free(NULL);
    cr_assert_eq(qv_collection_dim(c), 4);
    cr_assert_eq(qv_collection_dim(NULL), 0);
    /* a second collection gets a different uuid */
    qv_collection *c2 = create(db, "beta", 0);
    cr_assert_eq(qv_collection_info_get(c2, &in), QV_OK);
    cr_assert_str_neq(in.uuid, uuid);
    cr_assert_null(in.metadata_json);
    qv_collection_info_free(&in);
    qv_collection_release(c2);
    qv_collection_release(c);
    if (p) db = reopen(db);
    cr_assert_eq(qv_collection_get(db, "alpha", &c), QV_OK);
    cr_assert_eq(qv_collection_get_by_uuid(db, uuid, &c2), QV_OK, "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_collection_info_get(c2, &in), QV_OK);
    cr_assert_str_eq(in.name, "alpha");
    cr_assert_str_eq(in.metadata_json, "{\"owner\":\"me\",\"n\":3}"); /* kept as given */
    cr_assert_eq(in.metric, QV_METRIC_COSINE);
    qv_collection_info_free(&in);
    qv_collection_release(c2);
    qv_collection_release(c);
    c = (qv_collection *)&in;
    cr_assert_eq(qv_collection_get(db, "gamma", &c), QV_NOTFOUND);
    cr_assert_null(c);
    cr_assert(strstr(qv_db_errmsg(db), "gamma"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_collection_get_by_uuid(db, "00000000-0000-4000-8000-000000000000", &c), QV_NOTFOUND);
    cr_assert_eq(qv_collection_get(db, NULL, &c), QV_INVALID);
    cr_assert_eq(qv_collection_get_by_uuid(db, NULL, &c), QV_INVALID);
    cr_assert_eq(qv_collection_get(NULL, "alpha", &c), QV_MISUSE);
    cr_assert_eq(qv_collection_get(db, "alpha", NULL), QV_MISUSE);
    cr_assert_eq(qv_collection_create(db, "x", NULL, NULL), QV_MISUSE);
    cr_assert_eq(qv_collection_create(NULL, "x", NULL, &c), QV_MISUSE);
    cr_assert_eq(qv_collection_info_get(NULL, &in), QV_MISUSE);
    qv_collection_release(NULL);
    close_db(db);
  }
}

Test(collections, duplicate_is_exists) {
  qv_db *db = open_db(1);
  qv_collection *c = create(db, "dup", 3);
  qv_collection *c2 = (qv_collection *)db;
  cr_assert_eq(qv_collection_create(db, "dup", NULL, &c2), QV_EXISTS);
  cr_assert_null(c2);
  cr_assert(strstr(qv_db_errmsg(db), "dup"), "%s", qv_db_errmsg(db));
  qv_collection_release(c);
  db = reopen(db);
  cr_assert_eq(qv_collection_create(db, "dup", NULL, &c2), QV_EXISTS, "also after reopen");
  close_db(db);
}

Test(collections, get_or_create) {
  qv_db *db = open_db(0);
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 8;
  o.metric = QV_METRIC_IP;
  qv_collection *c = NULL;
  int created = -1;
  cr_assert_eq(qv_collection_get_or_create(db, "g", &o, &c, &created), QV_OK);
  cr_assert_eq(created, 1);
  qv_collection_release(c);
  o.dim = 2;
  o.metric = QV_METRIC_L1;
  cr_assert_eq(qv_collection_get_or_create(db, "g", &o, &c, &created), QV_OK);
  cr_assert_eq(created, 0);
  cr_assert_eq(qv_collection_dim(c), 8, "opts are ignored for an existing collection");
  qv_collection_info in;
  qv_collection_info_get(c, &in);
  cr_assert_eq(in.metric, QV_METRIC_IP);
  qv_collection_info_free(&in);
  qv_collection_release(c);
  cr_assert_eq(qv_collection_get_or_create(db, "h", NULL, &c, NULL), QV_OK);
  qv_collection_release(c);
  cr_assert_eq(qv_collection_get_or_create(db, "", NULL, &c, &created), QV_INVALID);
  cr_assert_eq(created, 0);
  o.metadata_json = "[1]";
  cr_assert_eq(qv_collection_get_or_create(db, "i", &o, &c, &created), QV_INVALID);
  cr_assert_null(c);
  char buf[128];
  cr_assert_str_eq(list_str(db, buf, sizeof buf), "g,h");
  qv_db_close(db);
}

Test(collections, list_sorted) {
  qv_db *db = open_db(1);
  char buf[256];
  cr_assert_str_eq(list_str(db, buf, sizeof buf), "");
  static const char *const names[] = {"m", "b", "Z", "a", "é", "aa", "b2"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) qv_collection_release(create(db, names[i], 2));
  cr_assert_str_eq(list_str(db, buf, sizeof buf), "Z,a,aa,b,b2,m,é");
  db = reopen(db);
  cr_assert_str_eq(list_str(db, buf, sizeof buf), "Z,a,aa,b,b2,m,é");
  char **v = NULL;
  size_t n = 0;
  cr_assert_eq(qv_collection_list(NULL, &v, &n), QV_MISUSE);
  cr_assert_eq(qv_collection_list(db, NULL, &n), QV_MISUSE);
  qv_strings_free(NULL);
  close_db(db);
}

Test(collections, name_validation) {
  qv_db *db = open_db(0);
  char n512[513], n513[514];
  memset(n512, 'n', 512);
  n512[512] = 0;
  memset(n513, 'n', 513);
  n513[513] = 0;
  static const char *const bad[] = {"", "a\x01" "b", "tab\there", "del\x7f", "nl\n", "\xff", "\xc0\x80",
                                    "\xed\xa0\x80", "ab\xe2\x82", "\xf4\x90\x80\x80"};
  qv_collection *c = NULL;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    qv_status rc = qv_collection_create(db, bad[i], NULL, &c);
    cr_assert_eq(rc, QV_INVALID, "bad name %zu: got %s", i, qv_status_name(rc));
    cr_assert(strstr(qv_db_errmsg(db), "name"), "bad name %zu: %s", i, qv_db_errmsg(db));
    cr_assert_null(c);
  }
  cr_assert_eq(qv_collection_create(db, NULL, NULL, &c), QV_INVALID);
  cr_assert_eq(qv_collection_create(db, n513, NULL, &c), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "512"), "%s", qv_db_errmsg(db));
  char buf[2048];
  cr_assert_str_eq(list_str(db, buf, sizeof buf), "", "nothing was created");
  static const char *const good[] = {"a", "with space", "ünïcødé", "emoji🙂", "dots.and-dashes_"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) qv_collection_release(create(db, good[i], 1));
  qv_collection_release(create(db, n512, 1));
  /* rename validates the new name the same way */
  cr_assert_eq(qv_collection_rename(db, "a", ""), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "new_name"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_rename(db, "a", "x\x02"), QV_INVALID);
  cr_assert_eq(qv_collection_rename(db, "a", n513), QV_INVALID);
  cr_assert_eq(qv_collection_rename(db, "a", "\xfe"), QV_INVALID);
  cr_assert_eq(qv_collection_rename(db, "a", NULL), QV_INVALID);
  cr_assert_eq(qv_collection_rename(db, NULL, "b"), QV_INVALID);
  qv_db_close(db);
}

Test(collections, option_validation) {
  qv_db *db = open_db(0);
  static const struct { int field; long value; const char *params, *msg; } cases[] = {
      {0, 99, NULL, "metric"}, {1, 7, NULL, "index"}, {2, 65537, NULL, "dim"},
      {3, 0, "{\"M\": 1}", "params.M: 1 is outside 2..256"}, {3, 0, "{\"M\": 257}", "M"},
      {3, 0, "{\"ef_construction\": 0}", "ef_construction"}, {3, 0, "{\"ef_search\": 0}", "ef_search"},
      {3, 0, "{\"ef_search\": 100001}", "ef_search"}, {3, 0, "{\"M\": 16.5}", "M: expected an integer"},
      {3, 0, "{\"M\": \"16\"}", "M: expected a number"}, {3, 0, "{\"bogus\": 1}", "bogus: unknown parameter"},
      {3, 0, "{\"quantizer\": \"pq9\"}", "quantizer: expected one of none, sq8, sq4, auto"},
      {3, 0, "[1]", "params: expected a JSON object"}, {3, 0, "{", "params: not valid JSON"},
      {3, 0, "{\"M\": 8, \"max_neighbors\": 8}", "M: given twice"},
      {4, 0, "{\"M\": 16}", "M: unknown parameter for index kind flat"}};
  qv_collection *c = NULL;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    qv_collection_opts o;
    qv_collection_opts_init(&o);
    switch (cases[i].field) {
    case 0: o.metric = (qv_metric)cases[i].value; break;
    case 1: o.index = "ivf-nope"; break;
    case 2: o.dim = (uint32_t)cases[i].value; break;
    case 3: o.index = "hnsw"; o.params_json = cases[i].params; break;
    default: o.params_json = cases[i].params; break;
    }
    qv_status rc = qv_collection_create(db, "x", &o, &c);
    cr_assert_eq(rc, QV_INVALID, "case %zu: got %s", i, qv_status_name(rc));
    cr_assert(strstr(qv_db_errmsg(db), cases[i].msg), "case %zu: %s", i, qv_db_errmsg(db));
    cr_assert_null(c);
  }
  static const char *const bad_meta[] = {"[1]", "{", "{\"a\":{\"b\":1}}", "\"s\"", "{\"a\":[]}", "{\"a\":null}"};
  for (size_t i = 0; i < sizeof bad_meta / sizeof bad_meta[0]; i++) {
    qv_collection_opts o;
    qv_collection_opts_init(&o);
    o.metadata_json = bad_meta[i];
    cr_assert_eq(qv_collection_create(db, "x", &o, &c), QV_INVALID, "metadata %s", bad_meta[i]);
    cr_assert(strstr(qv_db_errmsg(db), "metadata"), "%s", qv_db_errmsg(db));
  }
  char buf[64];
  cr_assert_str_eq(list_str(db, buf, sizeof buf), "");
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 65536;
  qv_collection_release((qv_collection_create(db, "maxdim", &o, &c), c));
  cr_assert_not_null(c);
  qv_db_close(db);
}

Test(collections, l1_on_hnsw_unsupported) {
  qv_db *db = open_db(0);
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.index = "hnsw";
  o.metric = QV_METRIC_L1;
  o.dim = 4;
  qv_collection *c = NULL;
  qv_status rc = qv_collection_create(db, "h", &o, &c);
  cr_assert_eq(rc, QV_UNSUPPORTED, "got %s: %s", qv_status_name(rc), qv_db_errmsg(db));
  cr_assert_null(c);
  cr_assert_eq(qv_status_http(rc), 501);
  /* hnsw with another metric; the parameters come back canonical, every default filled in */
  o.metric = QV_METRIC_COSINE;
  o.params_json = "{\"max_neighbors\": 12}";
  rc = qv_collection_create(db, "h", &o, &c);
  cr_assert_eq(rc, QV_OK, "got %s: %s", qv_status_name(rc), qv_db_errmsg(db));
  qv_collection_info in = {.struct_size = sizeof in};
  cr_assert_eq(qv_collection_info_get(c, &in), QV_OK);
  cr_assert_str_eq(in.index, "hnsw");
  cr_assert_str_eq(in.params_json, "{\"M\":12,\"ef_construction\":200,\"ef_search\":64,\"quantizer\":\"auto\","
                                      "\"rerank\":3,\"build_on_codes\":true,\"keep_floats\":false}");
  qv_collection_info_free(&in);
  qv_collection_release(c);
  qv_db_close(db);
}

Test(collections, rename) {
  qv_db *db = open_db(1);
  qv_collection *a = create(db, "a", 2);
  qv_collection_release(create(db, "b", 2));
  float e[2] = {1, 2};
  cr_assert_eq(add1(a, "r", e, 0), QV_OK);
  cr_assert_eq(qv_collection_rename(db, "a", "b"), QV_EXISTS);
  cr_assert(strstr(qv_db_errmsg(db), "b"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_rename(db, "nope", "c"), QV_NOTFOUND);
  cr_assert_eq(qv_collection_rename(db, "a", "a"), QV_OK, "renaming to itself is a no-op");
  cr_assert_eq(qv_collection_rename(db, "a", "c"), QV_OK, "%s", qv_db_errmsg(db));
  char buf[64];
  cr_assert_str_eq(list_str(db, buf, sizeof buf), "b,c");
  qv_collection *x = NULL;
  cr_assert_eq(qv_collection_get(db, "a", &x), QV_NOTFOUND);
  /* the held handle follows the rename */
  qv_collection_info in;
  cr_assert_eq(qv_collection_info_get(a, &in), QV_OK);
  cr_assert_str_eq(in.name, "c");
  cr_assert_eq(in.count, 1);
  qv_collection_info_free(&in);
  cr_assert_eq(add1(a, "s", e, 0), QV_OK);
  qv_collection_release(a);
  cr_assert_eq(qv_collection_rename(db, "c", "a"), QV_OK, "the old name is free again");
  cr_assert_eq(qv_collection_rename(db, "a", "c"), QV_OK);
  db = reopen(db);
  cr_assert_str_eq(list_str(db, buf, sizeof buf), "b,c");
  cr_assert_eq(qv_collection_get(db, "c", &x), QV_OK);
  uint64_t n = 0;
  qv_collection_count(x, &n);
  cr_assert_eq(n, 2);
  qv_collection_release(x);
  cr_assert_eq(qv_collection_rename(NULL, "a", "b"), QV_MISUSE);
  close_db(db);
}

Test(collections, delete_and_dropped_handles) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    qv_collection *c = create(db, "d", 2);
    float e[2] = {1, 2};
    cr_assert_eq(add1(c, "r", e, 0), QV_OK);
    qv_collection_info in;
    qv_collection_info_get(c, &in);
    char uuid[37];
    strcpy(uuid, in.uuid);
    qv_collection_info_free(&in);
    qv_collection *c2 = NULL;
    cr_assert_eq(qv_collection_get(db, "d", &c2), QV_OK);
    cr_assert_eq(qv_collection_delete(db, "d"), QV_OK, "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_collection_delete(db, "d"), QV_NOTFOUND);
    cr_assert(strstr(qv_db_errmsg(db), "d"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_collection_delete(db, NULL), QV_INVALID);
    cr_assert_eq(qv_collection_delete(NULL, "d"), QV_MISUSE);
    qv_collection *x = NULL;
    cr_assert_eq(qv_collection_get(db, "d", &x), QV_NOTFOUND);
    cr_assert_eq(qv_collection_get_by_uuid(db, uuid, &x), QV_NOTFOUND);
    /* every call on a dropped handle is QV_MISUSE */
    uint64_t n = 5;
    qv_results *r = (qv_results *)&n;
    qv_index_stats st;
    cr_assert_eq(add1(c, "s", e, 0), QV_MISUSE);
    cr_assert(strstr(qv_db_errmsg(db), "deleted"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_collection_count(c2, &n), QV_MISUSE);
    cr_assert_eq(n, 0);
    cr_assert_eq(qv_collection_query(c, e, 1, 1, NULL, &r), QV_MISUSE);
    cr_assert_null(r);
    cr_assert_eq(qv_collection_get_records(c, NULL, &r), QV_MISUSE);
    cr_assert_eq(qv_collection_info_get(c, &in), QV_MISUSE);
    cr_assert_null(in.name);
    cr_assert_eq(qv_collection_stats_get(c, &st), QV_MISUSE);
    cr_assert_eq(qv_collection_set_param(c, "ef_search", 5), QV_MISUSE);
    cr_assert_eq(qv_collection_set_metadata(c, "{\"a\":1}"), QV_MISUSE);
    cr_assert_eq(qv_collection_delete_records(c, NULL, 0, "{\"a\":1}", NULL, 0, NULL), QV_MISUSE);
    qv_collection_release(c);
    qv_collection_release(c2);
    /* the name can be used again: a new, empty collection */
    c = create(db, "d", 3);
    cr_assert_eq(qv_collection_info_get(c, &in), QV_OK);
    cr_assert_str_neq(in.uuid, uuid);
    cr_assert_eq(in.count, 0);
    cr_assert_eq(in.dim, 3);
    qv_collection_info_free(&in);
    qv_collection_release(c);
    if (p) {
      db = reopen(db);
      cr_assert_eq(qv_collection_get(db, "d", &c), QV_OK);
      cr_assert_eq(qv_collection_count(c, &n), QV_OK);
      cr_assert_eq(n, 0, "the deleted collection's records did not come back");
      cr_assert_eq(qv_collection_dim(c), 3);
      qv_collection_release(c);
    }
    close_db(db);
  }
}

Test(collections, dim_fixed_by_first_write) {
  qv_db *db = open_db(1);
  qv_collection *c = create(db, "z", 0);
  cr_assert_eq(qv_collection_dim(c), 0);
  float e[8] = {1, 2, 3, 4, 5, 6, 7, 8}, bad[3] = {1, NAN, 3};
  /* no dimension anywhere */
  cr_assert_eq(add1(c, "a", e, 0), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "dim"), "%s", qv_db_errmsg(db));
  /* failed first writes leave the dimension unset */
  cr_assert_eq(add1(c, "a", bad, 3), QV_INVALID);
  cr_assert_eq(qv_collection_dim(c), 0);
  const char *ids[1] = {"ghost"};
  qv_batch ub = {0, 1, ids, e, NULL, NULL, 5};
  cr_assert_eq(qv_collection_update(c, &ub, 0), QV_NOTFOUND);
  cr_assert_eq(qv_collection_dim(c), 0, "a refused update does not fix the dimension");
  cr_assert_eq(qv_collection_update(c, &ub, 1), QV_OK);
  cr_assert_eq(qv_collection_dim(c), 0, "an update that wrote nothing does not fix the dimension");
  /* the first successful write fixes it */
  cr_assert_eq(add1(c, "a", e, 3), QV_OK, "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_dim(c), 3);
  cr_assert_eq(add1(c, "b", e, 4), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "dimension"), "%s", qv_db_errmsg(db));
  cr_assert_eq(add1(c, "b", e + 3, 0), QV_OK, "batch dim 0 means the collection's");
  cr_assert_eq(add1(c, "c", e, 3), QV_OK);
  qv_collection_release(c);
  db = reopen(db);
  cr_assert_eq(qv_collection_get(db, "z", &c), QV_OK);
  cr_assert_eq(qv_collection_dim(c), 3, "persisted");
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_query(c, e + 3, 1, 1, NULL, &r), QV_OK);
  cr_assert_str_eq(qv_results_id(r, 0, 0), "b");
  qv_results_free(r);
  qv_collection_release(c);
  close_db(db);
}

/* In memory, with cosine: the first write of a dim-0 collection fixes the dimension too. */
Test(collections, dim_fixed_by_first_write_cosine_in_memory) {
  qv_db *db = open_db(0);
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.metric = QV_METRIC_COSINE;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "z", &o, &c), QV_OK);
  float bad[2] = {INFINITY, 1}, e[2] = {3, 4};
  cr_assert_eq(add1(c, "a", bad, 2), QV_INVALID);
  cr_assert_eq(add1(c, "a", e, 2), QV_OK);
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.include = QV_INCLUDE_EMBEDDINGS;
  qv_results *r = NULL;
  cr_assert_eq(qv_collection_get_records(c, &g, &r), QV_OK);
  cr_assert_arr_eq(qv_results_embedding(r, 0, 0), e, sizeof e, "original, not normalised");
  qv_results_free(r);
  qv_collection_release(c);
  qv_db_close(db);
}

Test(collections, set_metadata) {
  qv_db *db = open_db(1);
  qv_collection *c = create(db, "m", 2);
  cr_assert_eq(qv_collection_set_metadata(c, "{\"a\":1,\"b\":\"x\"}"), QV_OK, "%s", qv_db_errmsg(db));
  qv_collection_info in;
  qv_collection_info_get(c, &in);
  cr_assert_str_eq(in.metadata_json, "{\"a\":1,\"b\":\"x\"}");
  qv_collection_info_free(&in);
  cr_assert_eq(qv_collection_set_metadata(c, "{\"a\":{}}"), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "metadata"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_set_metadata(c, "nope"), QV_INVALID);
  qv_collection_info_get(c, &in);
  cr_assert_str_eq(in.metadata_json, "{\"a\":1,\"b\":\"x\"}", "unchanged after a refused set");
  qv_collection_info_free(&in);
  qv_collection_release(c);
  db = reopen(db);
  cr_assert_eq(qv_collection_get(db, "m", &c), QV_OK);
  qv_collection_info_get(c, &in);
  cr_assert_str_eq(in.metadata_json, "{\"a\":1,\"b\":\"x\"}", "persisted");
  qv_collection_info_free(&in);
  cr_assert_eq(qv_collection_set_metadata(c, NULL), QV_OK);
  qv_collection_info_get(c, &in);
  cr_assert_null(in.metadata_json);
  qv_collection_info_free(&in);
  qv_collection_release(c);
  db = reopen(db);
  cr_assert_eq(qv_collection_get(db, "m", &c), QV_OK);
  qv_collection_info_get(c, &in);
  cr_assert_null(in.metadata_json, "clearing persisted");
  qv_collection_info_free(&in);
  qv_collection_release(c);
  cr_assert_eq(qv_collection_set_metadata(NULL, NULL), QV_MISUSE);
  close_db(db);
}

/* Many collections, each with its own records: operations on one never touch another. */
Test(collections, isolation) {
  qv_db *db = open_db(1);
  for (int i = 0; i < 12; i++) {
    char name[16];
    snprintf(name, sizeof name, "c%02d", i);
    qv_collection *c = create(db, name, 2);
    for (int j = 0; j <= i; j++) {
      char id[16];
      snprintf(id, sizeof id, "r%d", j);
      float e[2] = {(float)i, (float)j};
      cr_assert_eq(add1(c, id, e, 0), QV_OK);
    }
    qv_collection_release(c);
  }
  cr_assert_eq(qv_collection_delete(db, "c05"), QV_OK);
  db = reopen(db);
  for (int i = 0; i < 12; i++) {
    char name[16];
    snprintf(name, sizeof name, "c%02d", i);
    qv_collection *c = NULL;
    qv_status rc = qv_collection_get(db, name, &c);
    if (i == 5) {
      cr_assert_eq(rc, QV_NOTFOUND);
      continue;
    }
    cr_assert_eq(rc, QV_OK);
    uint64_t n = 0;
    qv_collection_count(c, &n);
    cr_assert_eq(n, (uint64_t)i + 1, "%s", name);
    qv_collection_release(c);
  }
  close_db(db);
}
