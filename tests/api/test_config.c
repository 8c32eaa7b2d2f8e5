/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_config.c -- a collection's configuration (qv_collection_opts.config_json,
 * qv_collection_set_config, qv_collection_info.config_json): a JSON object a face keeps beside
 * the index parameters, apart from the metadata. Set at create, replaced and cleared, kept
 * across a rename and a reopen, refused (naming the field, nothing changed) when it is not a
 * JSON object, and invisible to callers built before the field (smaller struct_size).
 *
 * Public header only.
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <quiver.h>

#include "api_db.h"

#define EF "{\"embedding_function\":{\"type\":\"known\",\"name\":\"default\",\"config\":{}},\"resize_factor\":1.5}"

static void expect(qv_collection *c, const char *config, const char *meta) {
  qv_collection_info in;
  memset(&in, 0, sizeof in);
  in.struct_size = sizeof in;
  cr_assert_eq(qv_collection_info_get(c, &in), QV_OK);
  if (config) cr_assert_str_eq(in.config_json ? in.config_json : "(null)", config);
  else cr_assert_null(in.config_json, "%s", in.config_json);
  if (meta) cr_assert_str_eq(in.metadata_json ? in.metadata_json : "(null)", meta);
  else cr_assert_null(in.metadata_json, "%s", in.metadata_json);
  qv_collection_info_free(&in);
}

static void lifecycle(int persistent) {
  qv_db *db = open_db(persistent);
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 2;
  o.metadata_json = "{\"owner\":\"t\"}";
  o.config_json = EF;
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "cfg", &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  expect(c, EF, "{\"owner\":\"t\"}");
  /* metadata and configuration change apart */
  cr_assert_eq(qv_collection_set_metadata(c, NULL), QV_OK);
  expect(c, EF, NULL);
  cr_assert_eq(qv_collection_set_config(c, "{\"ef_search\":77}"), QV_OK, "%s", qv_db_errmsg(db));
  expect(c, "{\"ef_search\":77}", NULL);
  /* refused: not JSON, not an object; nothing changes */
  static const char *const bad[] = {"{\"a\":", "[1,2]", "\"text\"", "{\"a\":1,\"a\":2}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(qv_collection_set_config(c, bad[i]), QV_INVALID, "%s", bad[i]);
    cr_assert(strncmp(qv_db_errmsg(db), "config: ", 8) == 0, "%s: %s", bad[i], qv_db_errmsg(db));
    expect(c, "{\"ef_search\":77}", NULL);
  }
  qv_collection_opts_init(&o);
  o.config_json = "[]";
  qv_collection *x = NULL;
  cr_assert_eq(qv_collection_create(db, "bad", &o, &x), QV_INVALID);
  cr_assert(strstr(qv_db_errmsg(db), "config: must be a JSON object"), "%s", qv_db_errmsg(db));
  cr_assert_eq(qv_collection_get(db, "bad", &x), QV_NOTFOUND);
  cr_assert_eq(qv_collection_get_or_create(db, "bad", &o, &x, NULL), QV_INVALID);
  /* get_or_create of an existing collection leaves its configuration alone */
  o.config_json = "{\"other\":true}";
  int created = 1;
  cr_assert_eq(qv_collection_get_or_create(db, "cfg", &o, &x, &created), QV_OK);
  cr_assert_eq(created, 0);
  expect(x, "{\"ef_search\":77}", NULL);
  qv_collection_release(x);
  /* a rename keeps it, and so does a reopen */
  qv_collection_release(c);
  cr_assert_eq(qv_collection_rename(db, "cfg", "cfg2"), QV_OK);
  if (persistent) db = reopen(db);
  cr_assert_eq(qv_collection_get(db, "cfg2", &c), QV_OK);
  expect(c, "{\"ef_search\":77}", NULL);
  cr_assert_eq(qv_collection_set_config(c, NULL), QV_OK);
  expect(c, NULL, NULL);
  qv_collection_release(c);
  if (persistent) {
    db = reopen(db);
    cr_assert_eq(qv_collection_get(db, "cfg2", &c), QV_OK);
    expect(c, NULL, NULL);
    qv_collection_release(c);
  }
  close_db(db);
}

Test(config, lifecycle_in_memory) { lifecycle(0); }
Test(config, lifecycle_on_disk) { lifecycle(1); }

Test(config, read_only_database_refuses_a_change) {
  qv_db *db = open_db(1);
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.config_json = "{\"a\":1}";
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "ro", &o, &c), QV_OK);
  qv_collection_release(c);
  qv_db_close(db);
  qv_open_opts oo;
  qv_open_opts_init(&oo);
  oo.read_only = 1;
  cr_assert_eq(qv_db_open(tmpdir, &oo, &db), QV_OK);
  cr_assert_eq(qv_collection_get(db, "ro", &c), QV_OK);
  expect(c, "{\"a\":1}", NULL);
  cr_assert_eq(qv_collection_set_config(c, "{\"a\":2}"), QV_MISUSE);
  expect(c, "{\"a\":1}", NULL);
  qv_collection_release(c);
  close_db(db);
}

Test(config, older_callers_structs) {
  qv_db *db = open_db(0);
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.config_json = "{\"a\":1}";
  o.struct_size = (uint32_t)offsetof(qv_collection_opts, config_json); /* built before the field */
  qv_collection *c = NULL;
  cr_assert_eq(qv_collection_create(db, "old", &o, &c), QV_OK, "%s", qv_db_errmsg(db));
  expect(c, NULL, NULL);
  cr_assert_eq(qv_collection_set_config(c, "{\"b\":2}"), QV_OK);
  /* an info struct without the field: filled up to local_name, nothing written past it */
  struct {
    qv_collection_info in;
    char guard[64];
  } old;
  memset(&old, 0x5a, sizeof old);
  old.in.struct_size = (uint32_t)offsetof(qv_collection_info, config_json);
  cr_assert_eq(qv_collection_info_get(c, &old.in), QV_OK);
  cr_assert_str_eq(old.in.local_name, "old");
  const unsigned char *tail = (const unsigned char *)&old.in + offsetof(qv_collection_info, config_json);
  for (size_t i = 0; i < sizeof old - offsetof(qv_collection_info, config_json); i++)
    cr_assert_eq(tail[i], 0x5a, "byte %zu past the caller's struct was written", i);
  qv_collection_info_free(&old.in); /* frees only what it has (ASan: no leak, no bad free) */
  expect(c, "{\"b\":2}", NULL);
  qv_collection_release(c);
  close_db(db);
}
