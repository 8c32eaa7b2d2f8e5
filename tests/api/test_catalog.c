/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_catalog.c -- tenants and databases (quiver.h "tenants and databases"): the defaults
 * always exist, creation and lookups with errors naming the field, collection names and their
 * database, a database drop is one transaction (a failure in the middle leaves everything),
 * and a format-2 directory written by the 0.2 server (tests/fixtures/format2-server) is
 * migrated once, with a log line.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <sched.h>
#include <string.h>

#include "api_db.h"

static qv_collection *mk(qv_db *db, const char *name) {
  qv_collection *c = NULL;
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 2;
  cr_assert_eq(qv_collection_create(db, name, &o, &c), QV_OK, "%s: %s", name, qv_db_errmsg(db));
  const char *ids[] = {"a", "b"};
  float e[] = {1, 2, 3, 4};
  qv_batch b = {0, 2, ids, e, NULL, NULL, 0};
  cr_assert_eq(qv_collection_add(c, &b, QV_CONFLICT_ERROR), QV_OK);
  return c;
}

/* The strings joined with ',' into buf. */
static const char *join(char **v, size_t n, char *buf, size_t len) {
  buf[0] = 0;
  for (size_t i = 0; i < n; i++) {
    if (i) strncat(buf, ",", len - strlen(buf) - 1);
    strncat(buf, v[i], len - strlen(buf) - 1);
  }
  qv_strings_free(v);
  return buf;
}

static const char *dbs_of(qv_db *db, const char *t, char *buf, size_t len) {
  char **v = NULL;
  size_t n = 0;
  cr_assert_eq(qv_database_list(db, t, &v, &n), QV_OK, "%s", qv_db_errmsg(db));
  return join(v, n, buf, len);
}

static const char *cols_of(qv_db *db, const char *t, const char *d, char *buf, size_t len) {
  char **v = NULL;
  size_t n = 0;
  cr_assert_eq(qv_collection_list_in(db, t, d, &v, &n), QV_OK, "%s", qv_db_errmsg(db));
  return join(v, n, buf, len);
}

Test(catalog, defaults_always_exist) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    char buf[256];
    cr_assert_eq(qv_tenant_get(db, QV_DEFAULT_TENANT), QV_OK);
    qv_database_info in = {.struct_size = sizeof in};
    cr_assert_eq(qv_database_get(db, QV_DEFAULT_TENANT, QV_DEFAULT_DATABASE, &in), QV_OK);
    cr_assert_str_eq(in.uuid, "00000000-0000-0000-0000-000000000000");
    cr_assert_str_eq(in.tenant, "default_tenant");
    cr_assert_null(in.metadata_json);
    qv_database_info_free(&in);
    cr_assert_str_eq(dbs_of(db, QV_DEFAULT_TENANT, buf, sizeof buf), "default_database");
    char **v = NULL;
    size_t n = 0;
    cr_assert_eq(qv_tenant_list(db, &v, &n), QV_OK);
    cr_assert_str_eq(join(v, n, buf, sizeof buf), "default_tenant");
    /* deleting them empties them and keeps them */
    qv_collection_release(mk(db, "x1"));
    size_t dropped = 9;
    cr_assert_eq(qv_database_delete(db, QV_DEFAULT_TENANT, QV_DEFAULT_DATABASE, &dropped), QV_OK);
    cr_assert_eq(dropped, 1);
    cr_assert_str_eq(cols_of(db, QV_DEFAULT_TENANT, QV_DEFAULT_DATABASE, buf, sizeof buf), "");
    cr_assert_eq(qv_tenant_delete(db, QV_DEFAULT_TENANT), QV_OK);
    cr_assert_eq(qv_tenant_get(db, QV_DEFAULT_TENANT), QV_OK);
    cr_assert_str_eq(dbs_of(db, QV_DEFAULT_TENANT, buf, sizeof buf), "default_database");
    if (p) db = reopen(db);
    cr_assert_eq(qv_database_get(db, QV_DEFAULT_TENANT, QV_DEFAULT_DATABASE, &in), QV_OK);
    qv_database_info_free(&in);
    close_db(db);
  }
}

Test(catalog, create_get_list_and_errors_name_the_field) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    char buf[256], uuid[37] = "";
    cr_assert_eq(qv_tenant_create(db, "acme"), QV_OK);
    cr_assert_eq(qv_tenant_create(db, "acme"), QV_EXISTS);
    cr_assert_eq(qv_tenant_create(db, "a/b"), QV_INVALID);
    cr_assert(strstr(qv_db_errmsg(db), "tenant: must not contain '/'"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_tenant_create(db, ""), QV_INVALID);
    cr_assert(strstr(qv_db_errmsg(db), "tenant: must not be empty"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_tenant_get(db, "nobody"), QV_NOTFOUND);
    cr_assert_eq(qv_database_create(db, "nobody", "prod", NULL, NULL), QV_NOTFOUND);
    cr_assert(strstr(qv_db_errmsg(db), "tenant: nobody does not exist"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_database_create(db, "acme", "pr\x01od", NULL, NULL), QV_INVALID);
    cr_assert(strstr(qv_db_errmsg(db), "name: control character at byte 2"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_database_create(db, "acme", "prod", "[1]", NULL), QV_INVALID);
    cr_assert(strstr(qv_db_errmsg(db), "metadata_json:"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_database_create(db, "acme", "prod", "{\"k\":1}", uuid), QV_OK);
    cr_assert_eq(strlen(uuid), 36);
    cr_assert_eq(qv_database_create(db, "acme", "prod", NULL, NULL), QV_EXISTS);
    cr_assert_eq(qv_database_create(db, "acme", "dev", NULL, NULL), QV_OK);
    cr_assert_str_eq(dbs_of(db, "acme", buf, sizeof buf), "dev,prod");
    cr_assert_eq(qv_database_list(db, "nobody", &(char **){NULL}, &(size_t){0}), QV_NOTFOUND);
    if (p) db = reopen(db);
    qv_database_info in = {.struct_size = sizeof in};
    cr_assert_eq(qv_database_get(db, "acme", "prod", &in), QV_OK);
    cr_assert_str_eq(in.uuid, uuid);
    cr_assert_str_eq(in.metadata_json, "{\"k\":1}");
    qv_database_info_free(&in);
    cr_assert_eq(qv_database_get(db, "acme", "nope", &in), QV_NOTFOUND);
    cr_assert_str_eq(dbs_of(db, "acme", buf, sizeof buf), "dev,prod");
    cr_assert_eq(qv_tenant_get(db, "acme"), QV_OK);
    close_db(db);
  }
}

Test(catalog, collections_belong_to_one_database) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    char buf[256];
    qv_collection *c = NULL;
    qv_collection_opts o;
    qv_collection_opts_init(&o);
    qv_collection_release(mk(db, "plain"));
    /* a qualified name needs its database, and exactly two '/' */
    cr_assert_eq(qv_collection_create(db, "acme/prod/items", &o, &c), QV_NOTFOUND);
    cr_assert(strstr(qv_db_errmsg(db), "name: database prod of tenant acme does not exist"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_collection_get_or_create(db, "acme/prod/items", &o, &c, NULL), QV_NOTFOUND);
    cr_assert_eq(qv_collection_create(db, "a/b", &o, &c), QV_INVALID);
    cr_assert(strstr(qv_db_errmsg(db), "name: '/' separates tenant, database and collection"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_collection_create(db, "a//b", &o, &c), QV_INVALID);
    cr_assert_eq(qv_collection_create(db, "a/b/c/d", &o, &c), QV_INVALID);
    cr_assert_eq(qv_tenant_create(db, "acme"), QV_OK);
    cr_assert_eq(qv_database_create(db, "acme", "prod", NULL, NULL), QV_OK);
    qv_collection_release(mk(db, "acme/prod/items"));
    qv_collection_release(mk(db, "acme/prod/plain")); /* the same local name in another database */
    /* the default database's qualified spelling is the plain name */
    cr_assert_eq(qv_collection_create(db, "default_tenant/default_database/plain", &o, &c), QV_EXISTS);
    qv_collection_release(mk(db, "default_tenant/default_database/other"));
    cr_assert_eq(qv_collection_get(db, "other", &c), QV_OK);
    qv_collection_info in = {.struct_size = sizeof in};
    cr_assert_eq(qv_collection_info_get(c, &in), QV_OK);
    cr_assert_str_eq(in.name, "other");
    cr_assert_str_eq(in.tenant, "default_tenant");
    cr_assert_str_eq(in.database, "default_database");
    cr_assert_str_eq(in.local_name, "other");
    qv_collection_info_free(&in);
    qv_collection_release(c);
    cr_assert_eq(qv_collection_get(db, "acme/prod/items", &c), QV_OK);
    cr_assert_eq(qv_collection_info_get(c, &in), QV_OK);
    cr_assert_str_eq(in.tenant, "acme");
    cr_assert_str_eq(in.database, "prod");
    cr_assert_str_eq(in.local_name, "items");
    qv_collection_info_free(&in);
    qv_collection_release(c);
    /* an older caller's struct (the 0.2.0 layout) gets no tenant fields, and nothing leaks */
    struct {
      qv_collection_info head;
    } old;
    memset(&old, 0xAB, sizeof old);
    old.head.struct_size = (uint32_t)offsetof(qv_collection_info, tenant);
    cr_assert_eq(qv_collection_get(db, "plain", &c), QV_OK);
    cr_assert_eq(qv_collection_info_get(c, &old.head), QV_OK);
    cr_assert_str_eq(old.head.name, "plain");
    qv_collection_info_free(&old.head);
    qv_collection_release(c);
    cr_assert_str_eq(cols_of(db, QV_DEFAULT_TENANT, QV_DEFAULT_DATABASE, buf, sizeof buf), "other,plain");
    cr_assert_str_eq(cols_of(db, "acme", "prod", buf, sizeof buf), "items,plain");
    cr_assert_eq(qv_collection_list_in(db, "acme", "dev", &(char **){NULL}, &(size_t){0}), QV_NOTFOUND);
    /* rename across databases, into an existing one only */
    cr_assert_eq(qv_collection_rename(db, "other", "acme/dev/other"), QV_NOTFOUND);
    cr_assert(strstr(qv_db_errmsg(db), "new_name: database dev of tenant acme"), "%s", qv_db_errmsg(db));
    cr_assert_eq(qv_collection_rename(db, "default_tenant/default_database/other", "acme/prod/moved"), QV_OK);
    if (p) db = reopen(db);
    cr_assert_str_eq(cols_of(db, "acme", "prod", buf, sizeof buf), "items,moved,plain");
    cr_assert_str_eq(cols_of(db, QV_DEFAULT_TENANT, QV_DEFAULT_DATABASE, buf, sizeof buf), "plain");
    char **all = NULL;
    size_t n = 0;
    cr_assert_eq(qv_collection_list(db, &all, &n), QV_OK);
    cr_assert_str_eq(join(all, n, buf, sizeof buf), "acme/prod/items,acme/prod/moved,acme/prod/plain,plain");
    cr_assert_eq(qv_collection_delete(db, "default_tenant/default_database/plain"), QV_OK);
    cr_assert_eq(qv_collection_get(db, "plain", &c), QV_NOTFOUND);
    close_db(db);
  }
}

Test(catalog, database_delete_drops_its_collections_at_once) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    char buf[256];
    cr_assert_eq(qv_tenant_create(db, "acme"), QV_OK);
    cr_assert_eq(qv_database_create(db, "acme", "prod", NULL, NULL), QV_OK);
    cr_assert_eq(qv_database_create(db, "acme", "dev", NULL, NULL), QV_OK);
    qv_collection *held = mk(db, "acme/prod/c1");
    qv_collection_release(mk(db, "acme/prod/c2"));
    qv_collection_release(mk(db, "acme/prod/c3"));
    qv_collection_release(mk(db, "acme/dev/c1"));
    qv_collection_release(mk(db, "keep"));
    size_t dropped = 0;
    cr_assert_eq(qv_database_delete(db, "acme", "prod", &dropped), QV_OK);
    cr_assert_eq(dropped, 3);
    uint64_t cnt = 0;
    cr_assert_eq(qv_collection_count(held, &cnt), QV_MISUSE, "a held handle is dropped");
    qv_collection_release(held);
    cr_assert_eq(qv_database_delete(db, "acme", "prod", NULL), QV_NOTFOUND);
    cr_assert_eq(qv_database_get(db, "acme", "prod", &(qv_database_info){.struct_size = sizeof(qv_database_info)}),
                 QV_NOTFOUND);
    /* the same name again is a new, empty database */
    cr_assert_eq(qv_database_create(db, "acme", "prod", NULL, NULL), QV_OK);
    cr_assert_str_eq(cols_of(db, "acme", "prod", buf, sizeof buf), "");
    if (p) db = reopen(db);
    char **all = NULL;
    size_t n = 0;
    cr_assert_eq(qv_collection_list(db, &all, &n), QV_OK);
    cr_assert_str_eq(join(all, n, buf, sizeof buf), "acme/dev/c1,keep");
    /* a tenant drop takes its databases with it */
    cr_assert_eq(qv_tenant_delete(db, "acme"), QV_OK);
    cr_assert_eq(qv_tenant_get(db, "acme"), QV_NOTFOUND);
    cr_assert_eq(qv_collection_get(db, "acme/dev/c1", &(qv_collection *){NULL}), QV_NOTFOUND);
    if (p) db = reopen(db);
    cr_assert_eq(qv_collection_list(db, &all, &n), QV_OK);
    cr_assert_str_eq(join(all, n, buf, sizeof buf), "keep");
    cr_assert_eq(qv_tenant_get(db, "acme"), QV_NOTFOUND);
    close_db(db);
  }
}

static void sql_exec(const char *dir, const char *stmt) {
  char file[256];
  snprintf(file, sizeof file, "%s/quiver.db", dir);
  sqlite3 *h = NULL;
  cr_assert_eq(sqlite3_open(file, &h), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(h, stmt, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
  sqlite3_close(h);
}

/* A failure in the middle of a drop (the third collection's row cannot be deleted) rolls the
 * whole drop back: every collection, record and the database itself are still there, in the
 * store (after reopen) and in memory. */
Test(catalog, a_failed_database_delete_changes_nothing) {
  qv_db *db = open_db(1);
  char buf[256];
  cr_assert_eq(qv_tenant_create(db, "acme"), QV_OK);
  cr_assert_eq(qv_database_create(db, "acme", "prod", NULL, NULL), QV_OK);
  for (int i = 0; i < 3; i++) {
    char name[32];
    snprintf(name, sizeof name, "acme/prod/c%d", i);
    qv_collection_release(mk(db, name));
  }
  qv_db_close(db);
  sql_exec(tmpdir, "CREATE TRIGGER boom BEFORE DELETE ON collections WHEN old.name='acme/prod/c2' "
                   "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
  cr_assert_eq(qv_db_open(tmpdir, NULL, &db), QV_OK);
  cr_assert_neq(qv_database_delete(db, "acme", "prod", NULL), QV_OK);
  cr_assert_str_eq(cols_of(db, "acme", "prod", buf, sizeof buf), "c0,c1,c2");
  qv_collection *c = NULL;
  uint64_t cnt = 0;
  cr_assert_eq(qv_collection_get(db, "acme/prod/c0", &c), QV_OK);
  cr_assert_eq(qv_collection_count(c, &cnt), QV_OK);
  cr_assert_eq(cnt, 2);
  qv_collection_release(c);
  qv_db_close(db);
  sql_exec(tmpdir, "DROP TRIGGER boom");
  cr_assert_eq(qv_db_open(tmpdir, NULL, &db), QV_OK);
  cr_assert_str_eq(cols_of(db, "acme", "prod", buf, sizeof buf), "c0,c1,c2");
  cr_assert_eq(qv_collection_get(db, "acme/prod/c1", &c), QV_OK);
  cr_assert_eq(qv_collection_count(c, &cnt), QV_OK);
  cr_assert_eq(cnt, 2, "its records survived the failed drop");
  qv_collection_release(c);
  cr_assert_eq(qv_database_delete(db, "acme", "prod", NULL), QV_OK);
  cr_assert_eq(qv_collection_list_in(db, "acme", "prod", &(char **){NULL}, &(size_t){0}), QV_NOTFOUND);
  close_db(db);
}

/* ------------------------------------------------------------------ upgrade */

static char logbuf[8192];
static void log_cb(void *ud, qv_log_level level, const char *msg) {
  (void)ud;
  (void)level;
  strncat(logbuf, msg, sizeof logbuf - strlen(logbuf) - 2);
  strcat(logbuf, "\n");
}

static qv_db *open_logged(const char *dir) {
  qv_db *db = NULL;
  qv_open_opts o;
  qv_open_opts_init(&o);
  o.log = log_cb;
  logbuf[0] = 0;
  cr_assert_eq(qv_db_open(dir, &o, &db), QV_OK);
  return db;
}

Test(catalog, format2_server_directory_is_migrated_once) {
  const char *src = getenv("QV_SOURCE_DIR");
  cr_assert(src, "QV_SOURCE_DIR is not set (ctest sets it)");
  snprintf(tmpdir, sizeof tmpdir, "/tmp/qv_api_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  char cmd[1024], buf[512];
  snprintf(cmd, sizeof cmd, "cp -r '%s/tests/fixtures/format2-server/.' '%s/'", src, tmpdir);
  cr_assert_eq(system(cmd), 0);
  qv_db *db = open_logged(tmpdir);
  cr_assert(strstr(logbuf, "migrated the store from format 2 to format 4 (once)"), "%s", logbuf);
  cr_assert(strstr(logbuf, "the configuration of 1 collection moved from the metadata key __quiver_config"), "%s",
            logbuf);
  cr_assert(strstr(logbuf, "2 tenants, 4 databases added"), "%s", logbuf);
  cr_assert(strstr(logbuf, "renamed shared.local"), "%s", logbuf);
  char **v = NULL;
  size_t n = 0;
  cr_assert_eq(qv_tenant_list(db, &v, &n), QV_OK);
  cr_assert_str_eq(join(v, n, buf, sizeof buf), "acme,default_tenant,pinecone");
  cr_assert_str_eq(dbs_of(db, "acme", buf, sizeof buf), "dev,prod");
  cr_assert_str_eq(dbs_of(db, QV_DEFAULT_TENANT, buf, sizeof buf), "default_database,empty-db");
  cr_assert_str_eq(cols_of(db, QV_DEFAULT_TENANT, QV_DEFAULT_DATABASE, buf, sizeof buf),
                   "alpha,cli_only,shared,shared.local");
  cr_assert_str_eq(cols_of(db, "acme", "prod", buf, sizeof buf), "items");
  cr_assert_str_eq(cols_of(db, "pinecone", "pidx", buf, sizeof buf), "__default__,ns1");
  qv_database_info in = {.struct_size = sizeof in};
  cr_assert_eq(qv_database_get(db, "acme", "prod", &in), QV_OK);
  cr_assert_str_eq(in.uuid, "de0455e0-9c8d-4c58-9f83-1615a5c3eaba", "the catalog's UUID is kept");
  qv_database_info_free(&in);
  cr_assert_eq(qv_database_get(db, "pinecone", "pidx", &in), QV_OK);
  cr_assert(in.metadata_json && strstr(in.metadata_json, "\"kind\":\"pinecone_index\""), "%s", in.metadata_json);
  qv_database_info_free(&in);
  cr_assert_eq(qv_collection_get(db, "__quiver_server_catalog", &(qv_collection *){NULL}), QV_NOTFOUND);
  uint64_t cnt = 0;
  qv_collection *c = NULL;
  const char *counts[][2] = {{"alpha", "4"}, {"shared", "2"}, {"shared.local", "0"}, {"cli_only", "3"},
                             {"acme/prod/items", "3"}};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    cr_assert_eq(qv_collection_get(db, counts[i][0], &c), QV_OK, "%s", counts[i][0]);
    cr_assert_eq(qv_collection_count(c, &cnt), QV_OK);
    cr_assert_eq(cnt, (uint64_t)atoi(counts[i][1]), "%s: %llu", counts[i][0], (unsigned long long)cnt);
    qv_collection_release(c);
  }
  /* the 0.2 server's configuration is the collection's configuration, not its metadata */
  qv_collection_info ci = {.struct_size = sizeof ci};
  cr_assert_eq(qv_collection_get(db, "alpha", &c), QV_OK);
  cr_assert_eq(qv_collection_info_get(c, &ci), QV_OK);
  cr_assert_str_eq(ci.metadata_json, "{\"owner\":\"fixture\"}");
  cr_assert_str_eq(ci.config_json, "{\"embedding_function\":{\"type\":\"known\",\"name\":\"default\",\"config\":{}}}");
  qv_collection_info_free(&ci);
  qv_collection_release(c);
  qv_db_close(db);
  db = open_logged(tmpdir);
  cr_assert_null(strstr(logbuf, "migrated"), "once: %s", logbuf);
  close_db(db);
}

/* ------------------------------------------------------------------ concurrency */

#include <pthread.h>

typedef struct racer {
  qv_db *db;
  int id;
  int made;
} racer;

static void *create_loop(void *arg) {
  racer *r = arg;
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 2;
  for (int i = 0; i < 60; i++) {
    char name[64];
    snprintf(name, sizeof name, "acme/prod/t%d-%d", r->id, i);
    qv_collection *c = NULL;
    qv_status rc = qv_collection_create(r->db, name, &o, &c);
    cr_assert(rc == QV_OK || rc == QV_NOTFOUND, "%s: %s", name, qv_status_name(rc));
    if (rc == QV_OK) {
      const char *ids[] = {"a"};
      float e[] = {1, 2};
      qv_batch b = {0, 1, ids, e, NULL, NULL, 0};
      qv_status arc = qv_collection_add(c, &b, QV_CONFLICT_ERROR);
      cr_assert(arc == QV_OK || arc == QV_MISUSE, "add: %s", qv_status_name(arc)); /* MISUSE: dropped */
      r->made++;
      qv_collection_release(c);
    }
  }
  return NULL;
}

/* No collection of a dropped database survives a drop racing with its creation, in memory or
 * in the store. */
Test(catalog, a_drop_racing_with_creates_leaves_no_orphan) {
  for (int p = 0; p < 2; p++) {
    qv_db *db = open_db(p);
    cr_assert_eq(qv_tenant_create(db, "acme"), QV_OK);
    cr_assert_eq(qv_database_create(db, "acme", "prod", NULL, NULL), QV_OK);
    racer r[2] = {{db, 0, 0}, {db, 1, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&th[i], NULL, create_loop, &r[i]), 0);
    size_t dropped = 0;
    for (int spins = 0; spins < 100000 && r[0].made + r[1].made < 10; spins++) sched_yield();
    cr_assert_eq(qv_database_delete(db, "acme", "prod", &dropped), QV_OK, "%s", qv_db_errmsg(db));
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    cr_assert_geq(dropped, 1);
    if (p) db = reopen(db);
    char **all = NULL;
    size_t n = 0;
    cr_assert_eq(qv_collection_list(db, &all, &n), QV_OK);
    for (size_t i = 0; i < n; i++) cr_assert_fail("orphan collection %s", all[i]);
    qv_strings_free(all);
    cr_assert_eq(qv_database_get(db, "acme", "prod", &(qv_database_info){.struct_size = sizeof(qv_database_info)}),
                 QV_NOTFOUND);
    close_db(db);
  }
}

/* A collection a degraded open skipped (its data unreadable) goes with its database too. */
Test(catalog, a_skipped_collection_goes_with_its_database) {
  qv_db *db = open_db(1);
  cr_assert_eq(qv_tenant_create(db, "acme"), QV_OK);
  cr_assert_eq(qv_database_create(db, "acme", "prod", NULL, NULL), QV_OK);
  qv_collection_release(mk(db, "acme/prod/good"));
  qv_collection_release(mk(db, "acme/prod/bad"));
  qv_collection_release(mk(db, "keep"));
  qv_db_close(db);
  sql_exec(tmpdir, "UPDATE collections SET params='{not json' WHERE name='acme/prod/bad'");
  cr_assert_eq(qv_db_open(tmpdir, NULL, &db), QV_OK);
  char **sk = NULL;
  size_t n = 0;
  cr_assert_eq(qv_db_skipped_collections(db, &sk, &n), QV_OK);
  cr_assert_eq(n, 1);
  qv_strings_free(sk);
  cr_assert_eq(qv_database_delete(db, "acme", "prod", NULL), QV_OK);
  qv_db_close(db);
  cr_assert_eq(qv_db_open(tmpdir, NULL, &db), QV_OK);
  cr_assert_eq(qv_db_skipped_collections(db, &sk, &n), QV_OK);
  cr_assert_eq(n, 0, "the skipped collection's row was deleted with its database");
  qv_strings_free(sk);
  char buf[128];
  char **all = NULL;
  cr_assert_eq(qv_collection_list(db, &all, &n), QV_OK);
  cr_assert_str_eq(join(all, n, buf, sizeof buf), "keep");
  close_db(db);
}
