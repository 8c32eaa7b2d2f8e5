/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * catalog.c -- tenants and databases: every collection belongs to one database of one tenant
 * (quiver.h "tenants and databases"; docs/ARCHITECTURE.md "Tenants and databases").
 *
 * Representation: the collection's database is in its name. A plain name ("docs") is a
 * collection of the default database of the default tenant; "t/d/docs" one of database d of
 * tenant t. So the catalog of collections (store: the collections table; memory: db->cols)
 * is one namespace, every face sees every collection, and a name can only be created in a
 * database that exists. The tenants and databases themselves are rows of their own tables
 * (store/store_catalog.c), mirrored in db->tenants and db->dbs under cat_mu; the defaults
 * always exist: deleting one empties it (its collections, and for the default tenant its other
 * databases) and keeps it.
 *
 * Dropping a database (or a tenant) deletes its collections' rows and its own row in ONE
 * transaction, under the writer locks of every collection in it and db->write_mu, so nothing
 * can be created in it meanwhile; only after COMMIT are the in-memory handles marked dropped
 * and taken out of the catalog, as qv_collection_delete does for one.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "col_int.h"

#define ZERO_UUID "00000000-0000-0000-0000-000000000000"
#define DEFAULT_PREFIX QV_DEFAULT_TENANT "/" QV_DEFAULT_DATABASE "/"

/* ------------------------------------------------------------------ names */

/* "t/d/n" with exactly two '/' and no empty part: 1 and the part lengths, else 0. */
static int parse3(const char *name, size_t *tl, size_t *dl) {
  const char *a = strchr(name, '/'), *b = a ? strchr(a + 1, '/') : NULL;
  if (!a || !b || strchr(b + 1, '/') || a == name || b == a + 1 || !b[1]) return 0;
  *tl = (size_t)(a - name);
  *dl = (size_t)(b - a - 1);
  return 1;
}

const char *qv__name_canon(const char *name) {
  size_t pl = sizeof DEFAULT_PREFIX - 1;
  if (name && strncmp(name, DEFAULT_PREFIX, pl) == 0 && name[pl] && !strchr(name + pl, '/')) return name + pl;
  return name;
}

void qv__name_split(const char *name, char *buf, const char **t, const char **d, const char **local) {
  size_t tl, dl;
  if (!parse3(name, &tl, &dl)) {
    *t = QV_DEFAULT_TENANT;
    *d = QV_DEFAULT_DATABASE;
    *local = name;
    return;
  }
  memcpy(buf, name, tl);
  buf[tl] = 0;
  memcpy(buf + tl + 1, name + tl + 1, dl);
  buf[tl + 1 + dl] = 0;
  *t = buf;
  *d = buf + tl + 1;
  *local = name + tl + dl + 2;
}

static struct qv__database *find_db_locked(qv_db *db, const char *t, const char *n) {
  for (size_t i = 0; i < db->n_dbs; i++)
    if (!strcmp(db->dbs[i].tenant, t) && !strcmp(db->dbs[i].name, n)) return &db->dbs[i];
  return NULL;
}

static int find_tenant_locked(qv_db *db, const char *t) {
  for (size_t i = 0; i < db->n_tenants; i++)
    if (!strcmp(db->tenants[i], t)) return (int)i;
  return -1;
}

qv_status qv__name_check_new(qv_db *db, const char *what, const char *name, const char **canon) {
  qv_status rc = qv__check_name(db, what, name);
  if (rc) return rc;
  *canon = qv__name_canon(name);
  if (!strchr(*canon, '/')) return QV_OK;
  size_t tl, dl;
  if (!parse3(*canon, &tl, &dl))
    return qv__err(db, QV_INVALID,
                   "%s: '/' separates tenant, database and collection (\"tenant/database/name\", none empty); "
                   "got \"%.200s\"",
                   what, name);
  char *buf = malloc(strlen(*canon) + 1);
  const char *t, *d, *local;
  if (!buf) return QV_NOMEM;
  qv__name_split(*canon, buf, &t, &d, &local);
  if (!find_db_locked(db, t, d))
    rc = qv__err(db, QV_NOTFOUND, "%s: database %.200s of tenant %.200s does not exist", what, d, t);
  free(buf);
  return rc;
}

/* Tenant and database names: non-empty, at most max bytes of UTF-8, no '/' or control character. */
static qv_status check_part(const qv_db *db, const char *what, const char *s, size_t max) {
  if (!s) return qv__err(db, QV_INVALID, "%s: must not be NULL", what);
  size_t n = strlen(s);
  if (!n) return qv__err(db, QV_INVALID, "%s: must not be empty", what);
  if (n > max) return qv__err(db, QV_INVALID, "%s: longer than %zu bytes", what, max);
  if (!qv__utf8_valid(s, n)) return qv__err(db, QV_INVALID, "%s: not valid UTF-8", what);
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return qv__err(db, QV_INVALID, "%s: control character at byte %zu", what, i);
    if (s[i] == '/') return qv__err(db, QV_INVALID, "%s: must not contain '/' (byte %zu)", what, i);
  }
  return QV_OK;
}
#define CHECK_TENANT(db, t) check_part(db, "tenant", t, 256)
#define CHECK_DBNAME(db, n) check_part(db, "name", n, 512)

/* ------------------------------------------------------------------ in memory */

static int is_default_db(const char *t, const char *n) {
  return !strcmp(t, QV_DEFAULT_TENANT) && !strcmp(n, QV_DEFAULT_DATABASE);
}

/* Insert tenant t (sorted); takes over t. */
static qv_status push_tenant(qv_db *db, char *t) {
  if (db->n_tenants == db->cap_tenants) {
    size_t nc = db->cap_tenants ? db->cap_tenants * 2 : 8;
    char **v = qv__realloc(&db->mem, db->tenants, nc * sizeof *v);
    if (!v) return QV_NOMEM;
    db->tenants = v;
    db->cap_tenants = nc;
  }
  size_t i = 0;
  while (i < db->n_tenants && strcmp(db->tenants[i], t) < 0) i++;
  memmove(&db->tenants[i + 1], &db->tenants[i], (db->n_tenants - i) * sizeof *db->tenants);
  db->tenants[i] = t;
  db->n_tenants++;
  return QV_OK;
}

static int cmp_db(const struct qv__database *a, const char *t, const char *n) {
  int c = strcmp(a->tenant, t);
  return c ? c : strcmp(a->name, n);
}

/* Insert a database entry (sorted); takes over its strings. */
static qv_status push_db(qv_db *db, const struct qv__database *e) {
  if (db->n_dbs == db->cap_dbs) {
    size_t nc = db->cap_dbs ? db->cap_dbs * 2 : 8;
    struct qv__database *v = qv__realloc(&db->mem, db->dbs, nc * sizeof *v);
    if (!v) return QV_NOMEM;
    db->dbs = v;
    db->cap_dbs = nc;
  }
  size_t i = 0;
  while (i < db->n_dbs && cmp_db(&db->dbs[i], e->tenant, e->name) < 0) i++;
  memmove(&db->dbs[i + 1], &db->dbs[i], (db->n_dbs - i) * sizeof *db->dbs);
  db->dbs[i] = *e;
  db->n_dbs++;
  return QV_OK;
}

static void db_entry_free(qv_db *db, struct qv__database *e) {
  qv__free(&db->mem, e->tenant);
  qv__free(&db->mem, e->name);
  qv__free(&db->mem, e->metadata_json);
}

static void remove_db_locked(qv_db *db, struct qv__database *e) {
  size_t i = (size_t)(e - db->dbs);
  db_entry_free(db, e);
  memmove(&db->dbs[i], &db->dbs[i + 1], (db->n_dbs - i - 1) * sizeof *db->dbs);
  db->n_dbs--;
}

/* A new entry (strings copied with db->mem). */
static qv_status make_entry(qv_db *db, const char *t, const char *n, const char *uuid, const char *meta,
                            struct qv__database *e) {
  memset(e, 0, sizeof *e);
  e->tenant = qv__strdup(&db->mem, t);
  e->name = qv__strdup(&db->mem, n);
  e->metadata_json = meta ? qv__strdup(&db->mem, meta) : NULL;
  snprintf(e->uuid, sizeof e->uuid, "%s", uuid);
  if (!e->tenant || !e->name || (meta && !e->metadata_json)) {
    db_entry_free(db, e);
    return QV_NOMEM;
  }
  return QV_OK;
}

qv_status qv__catalog_load(qv_db *db) {
  if (!db->store) {
    char *t = qv__strdup(&db->mem, QV_DEFAULT_TENANT);
    struct qv__database e;
    if (!t) return QV_NOMEM;
    if (push_tenant(db, t)) {
      qv__free(&db->mem, t);
      return QV_NOMEM;
    }
    if (make_entry(db, QV_DEFAULT_TENANT, QV_DEFAULT_DATABASE, ZERO_UUID, NULL, &e)) return QV_NOMEM;
    if (push_db(db, &e)) {
      db_entry_free(db, &e);
      return QV_NOMEM;
    }
    return QV_OK;
  }
  char **tenants = NULL;
  qv_store_database *rows = NULL;
  size_t nt = 0, nd = 0;
  qv_status rc = qv__store_catalog_load(db->store, &db->mem, &tenants, &nt, &rows, &nd);
  if (rc) return rc;
  for (size_t i = 0; rc == QV_OK && i < nt; i++) {
    rc = push_tenant(db, tenants[i]);
    if (rc == QV_OK) tenants[i] = NULL;
  }
  for (size_t i = 0; rc == QV_OK && i < nd; i++) {
    struct qv__database e;
    memset(&e, 0, sizeof e);
    e.tenant = rows[i].tenant;
    e.name = rows[i].name;
    e.metadata_json = rows[i].metadata_json;
    snprintf(e.uuid, sizeof e.uuid, "%s", rows[i].uuid);
    rc = push_db(db, &e);
    if (rc == QV_OK) rows[i].tenant = rows[i].name = rows[i].metadata_json = NULL;
  }
  qv__store_catalog_free(&db->mem, tenants, nt, rows, nd);
  return rc;
}

void qv__catalog_free(qv_db *db) {
  for (size_t i = 0; i < db->n_tenants; i++) qv__free(&db->mem, db->tenants[i]);
  qv__free(&db->mem, db->tenants);
  for (size_t i = 0; i < db->n_dbs; i++) db_entry_free(db, &db->dbs[i]);
  qv__free(&db->mem, db->dbs);
  db->tenants = NULL;
  db->dbs = NULL;
  db->n_tenants = db->n_dbs = db->cap_tenants = db->cap_dbs = 0;
}

/* Run one store change in its own transaction (caller holds write_mu). */
typedef qv_status (*store_fn)(qv_store *s, const void *arg);
static qv_status in_txn(qv_db *db, store_fn fn, const void *arg) {
  if (!db->store) return QV_OK;
  qv_status rc = qv__store_begin(db->store);
  if (rc == QV_OK) rc = fn(db->store, arg);
  if (rc == QV_OK) rc = qv__store_commit(db->store, db->seq);
  else qv__store_rollback(db->store);
  return rc;
}

static qv_status st_tenant_insert(qv_store *s, const void *arg) { return qv__store_tenant_insert(s, arg); }
static qv_status st_db_insert(qv_store *s, const void *arg) { return qv__store_database_insert(s, arg); }

/* Strings as malloc'd NULL-terminated array (qv_strings_free). */
static qv_status strings_out(char **v, size_t len, char ***names, size_t *n) {
  *names = v;
  *n = len;
  return QV_OK;
}

/* ------------------------------------------------------------------ tenants */

qv_status qv_tenant_create(qv_db *db, const char *tenant) {
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  qv_status rc = CHECK_TENANT(db, tenant);
  if (rc) return rc;
  char *copy = qv__strdup(&db->mem, tenant);
  if (!copy) return QV_NOMEM;
  pthread_mutex_lock(&db->write_mu);
  pthread_mutex_lock(&db->cat_mu);
  int exists = find_tenant_locked(db, tenant) >= 0;
  pthread_mutex_unlock(&db->cat_mu);
  if (exists) rc = qv__err(db, QV_EXISTS, "tenant %.256s already exists", tenant);
  else if ((rc = in_txn(db, st_tenant_insert, tenant))) qv__err(db, rc, "%s", qv__store_errmsg(db->store));
  if (rc == QV_OK) {
    pthread_mutex_lock(&db->cat_mu);
    rc = push_tenant(db, copy);
    pthread_mutex_unlock(&db->cat_mu);
    /* out of memory here leaves the row without its mirror until the next open: say so */
    if (rc == QV_OK) copy = NULL;
    else qv__err(db, rc, "tenant %.256s was stored but is not visible until the database is reopened", tenant);
  }
  pthread_mutex_unlock(&db->write_mu);
  qv__free(&db->mem, copy);
  return rc;
}

qv_status qv_tenant_get(qv_db *db, const char *tenant) {
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  qv_status rc = CHECK_TENANT(db, tenant);
  if (rc) return rc;
  pthread_mutex_lock(&db->cat_mu);
  int found = find_tenant_locked(db, tenant) >= 0;
  pthread_mutex_unlock(&db->cat_mu);
  return found ? QV_OK : qv__err(db, QV_NOTFOUND, "tenant %.256s does not exist", tenant);
}

qv_status qv_tenant_list(qv_db *db, char ***names, size_t *n) {
  if (!names || !n) return QV_MISUSE;
  *names = NULL;
  *n = 0;
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  pthread_mutex_lock(&db->cat_mu);
  size_t len = db->n_tenants;
  char **v = calloc(len + 1, sizeof *v);
  int ok = v != NULL;
  for (size_t i = 0; ok && i < len; i++) ok = (v[i] = strdup(db->tenants[i])) != NULL;
  pthread_mutex_unlock(&db->cat_mu);
  if (!ok) {
    qv_strings_free(v);
    return QV_NOMEM;
  }
  return strings_out(v, len, names, n);
}

/* ------------------------------------------------------------------ databases */

qv_status qv_database_create(qv_db *db, const char *tenant, const char *name, const char *metadata_json,
                             char uuid_out[37]) {
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  qv_status rc = CHECK_TENANT(db, tenant);
  if (rc == QV_OK) rc = CHECK_DBNAME(db, name);
  if (rc) return rc;
  if (metadata_json) {
    char err[256];
    qv_meta *m = NULL;
    rc = qv__meta_parse(&db->mem, metadata_json, 0, &m, err, sizeof err);
    qv__meta_free(&db->mem, m);
    if (rc) return qv__err(db, rc, "metadata_json: %s", err);
  }
  char uuid[37];
  qv__make_uuid(uuid);
  struct qv__database e;
  if (make_entry(db, tenant, name, uuid, metadata_json, &e)) return QV_NOMEM;
  pthread_mutex_lock(&db->write_mu);
  pthread_mutex_lock(&db->cat_mu);
  int has_tenant = find_tenant_locked(db, tenant) >= 0, exists = find_db_locked(db, tenant, name) != NULL;
  pthread_mutex_unlock(&db->cat_mu);
  if (!has_tenant) rc = qv__err(db, QV_NOTFOUND, "tenant: %.256s does not exist", tenant);
  else if (exists) rc = qv__err(db, QV_EXISTS, "database %.512s of tenant %.256s already exists", name, tenant);
  else {
    qv_store_database row = {e.tenant, e.name, e.uuid, e.metadata_json};
    if ((rc = in_txn(db, st_db_insert, &row))) qv__err(db, rc, "%s", qv__store_errmsg(db->store));
  }
  if (rc == QV_OK) {
    pthread_mutex_lock(&db->cat_mu);
    rc = push_db(db, &e);
    pthread_mutex_unlock(&db->cat_mu);
    if (rc) qv__err(db, rc, "database %.512s was stored but is not visible until the database is reopened", name);
  }
  pthread_mutex_unlock(&db->write_mu);
  if (rc) db_entry_free(db, &e);
  else if (uuid_out) memcpy(uuid_out, uuid, 37);
  return rc;
}

qv_status qv_database_get(qv_db *db, const char *tenant, const char *name, qv_database_info *out) {
  if (!out) return QV_MISUSE;
  qv_database_info in;
  memset(&in, 0, sizeof in);
  qv__struct_out(out, &in, sizeof in, QV__BASE_DATABASE_INFO);
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  qv_status rc = CHECK_TENANT(db, tenant);
  if (rc == QV_OK) rc = CHECK_DBNAME(db, name);
  if (rc) return rc;
  pthread_mutex_lock(&db->cat_mu);
  struct qv__database *e = find_db_locked(db, tenant, name);
  if (e) {
    in.tenant = strdup(e->tenant);
    in.name = strdup(e->name);
    in.uuid = strdup(e->uuid);
    in.metadata_json = e->metadata_json ? strdup(e->metadata_json) : NULL;
    if (!in.tenant || !in.name || !in.uuid || (e->metadata_json && !in.metadata_json)) rc = QV_NOMEM;
  }
  pthread_mutex_unlock(&db->cat_mu);
  if (!e) return qv__err(db, QV_NOTFOUND, "database %.512s of tenant %.256s does not exist", name, tenant);
  if (rc) {
    qv_database_info_free(&in);
    return rc;
  }
  qv__struct_out(out, &in, sizeof in, QV__BASE_DATABASE_INFO);
  return QV_OK;
}

void qv_database_info_free(qv_database_info *info) {
  if (!info) return;
  free(info->tenant);
  free(info->name);
  free(info->uuid);
  free(info->metadata_json);
  info->tenant = info->name = info->uuid = info->metadata_json = NULL;
}

qv_status qv_database_list(qv_db *db, const char *tenant, char ***names, size_t *n) {
  if (!names || !n) return QV_MISUSE;
  *names = NULL;
  *n = 0;
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  qv_status rc = CHECK_TENANT(db, tenant);
  if (rc) return rc;
  pthread_mutex_lock(&db->cat_mu);
  if (find_tenant_locked(db, tenant) < 0) {
    pthread_mutex_unlock(&db->cat_mu);
    return qv__err(db, QV_NOTFOUND, "tenant %.256s does not exist", tenant);
  }
  char **v = calloc(db->n_dbs + 1, sizeof *v);
  size_t len = 0;
  int ok = v != NULL;
  for (size_t i = 0; ok && i < db->n_dbs; i++)
    if (!strcmp(db->dbs[i].tenant, tenant)) ok = (v[len++] = strdup(db->dbs[i].name)) != NULL;
  pthread_mutex_unlock(&db->cat_mu);
  if (!ok) {
    qv_strings_free(v);
    return QV_NOMEM;
  }
  return strings_out(v, len, names, n); /* db->dbs is sorted by (tenant, name) */
}

/* 1 if canonical collection name lies in tenant t (and database d, unless d is NULL). */
static int in_scope(const char *name, const char *t, const char *d) {
  char buf[1100];
  char *b = strlen(name) < sizeof buf ? buf : malloc(strlen(name) + 1);
  const char *ct, *cd, *local;
  if (!b) return 0;
  qv__name_split(name, b, &ct, &cd, &local);
  int in = !strcmp(ct, t) && (!d || !strcmp(cd, d));
  if (b != buf) free(b);
  return in;
}

static int cmp_cid(const void *a, const void *b) {
  int64_t x = (*(qv_collection *const *)a)->cid, y = (*(qv_collection *const *)b)->cid;
  return x < y ? -1 : x > y;
}

/* The collections of the scope, each with a reference taken, sorted by cid (cat_mu held). */
static qv_status scope_cols_locked(qv_db *db, const char *t, const char *d, qv_collection ***out, size_t *n) {
  qv_collection **v = malloc((db->n_cols ? db->n_cols : 1) * sizeof *v);
  *out = NULL;
  *n = 0;
  if (!v) return QV_NOMEM;
  for (size_t i = 0; i < db->n_cols; i++)
    if (in_scope(db->cols[i]->name, t, d)) {
      v[(*n)++] = db->cols[i];
      atomic_fetch_add(&db->cols[i]->refs, 1);
    }
  qsort(v, *n, sizeof *v, cmp_cid);
  *out = v;
  return QV_OK;
}

static void release_all(qv_collection **v, size_t n) {
  for (size_t i = 0; i < n; i++) qv_collection_release(v[i]);
  free(v);
}

typedef struct drop_arg {
  const char *t, *d;
  qv_collection **cols;
  size_t n;
} drop_arg;

static qv_status st_drop(qv_store *s, const void *argp) {
  const drop_arg *a = argp;
  qv_status rc = QV_OK;
  for (size_t i = 0; rc == QV_OK && i < a->n; i++) rc = qv__store_col_delete(s, a->cols[i]->cid);
  /* and those a degraded open skipped (not in memory; the default database's are plain names
     and stay, as the database does) */
  if (rc == QV_OK && !(a->d && is_default_db(a->t, a->d))) rc = qv__store_scope_orphans(s, a->t, a->d);
  if (rc == QV_OK) rc = a->d ? qv__store_database_delete(s, a->t, a->d) : qv__store_tenant_delete(s, a->t);
  return rc;
}

/*
 * Drop tenant t (d NULL) or database d of t, with every collection in it, in one transaction.
 * The scope's collections are locked (their writers, in cid order), then write_mu; a
 * collection created or renamed into the scope before write_mu was taken shows up in the
 * second look, and the locks are taken again with it.
 */
static qv_status drop_scope(qv_db *db, const char *t, const char *d, size_t *n_dropped) {
  qv_collection **cols = NULL;
  size_t n = 0;
  qv_status rc = QV_OK;
  for (int attempt = 0;; attempt++) {
    pthread_mutex_lock(&db->cat_mu);
    int exists = d ? find_db_locked(db, t, d) != NULL : find_tenant_locked(db, t) >= 0;
    rc = exists ? scope_cols_locked(db, t, d, &cols, &n) : QV_NOTFOUND;
    pthread_mutex_unlock(&db->cat_mu);
    if (rc == QV_NOTFOUND)
      return d ? qv__err(db, rc, "database %.512s of tenant %.256s does not exist", d, t)
               : qv__err(db, rc, "tenant %.256s does not exist", t);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) pthread_mutex_lock(&cols[i]->wmu);
    pthread_mutex_lock(&db->write_mu);
    qv_collection **now = NULL;
    size_t n_now = 0;
    pthread_mutex_lock(&db->cat_mu);
    exists = d ? find_db_locked(db, t, d) != NULL : find_tenant_locked(db, t) >= 0;
    rc = exists ? scope_cols_locked(db, t, d, &now, &n_now) : QV_NOTFOUND;
    pthread_mutex_unlock(&db->cat_mu);
    int same = rc == QV_OK && n_now == n;
    for (size_t i = 0; same && i < n; i++) same = now[i] == cols[i];
    release_all(now, n_now);
    if (rc == QV_NOTFOUND) /* dropped by another call meanwhile */
      d ? qv__err(db, rc, "database %.512s of tenant %.256s does not exist", d, t)
        : qv__err(db, rc, "tenant %.256s does not exist", t);
    if (rc != QV_OK || same) break; /* the locks are released below */
    pthread_mutex_unlock(&db->write_mu);
    for (size_t i = n; i-- > 0;) pthread_mutex_unlock(&cols[i]->wmu);
    release_all(cols, n);
    cols = NULL;
    n = 0;
    if (attempt == 100) return qv__err(db, QV_BUSY, "collections kept being created in it meanwhile; try again");
  }
  if (rc == QV_OK) {
    drop_arg a = {t, d, cols, n};
    rc = in_txn(db, st_drop, &a);
    if (rc) qv__err(db, rc, "%s", qv__store_errmsg(db->store));
  }
  if (rc == QV_OK) {
    for (size_t i = 0; db->store && i < n; i++) {
      char *path = qv__col_index_path(cols[i]);
      if (path) remove(path);
      qv__free(&db->mem, path);
    }
    pthread_mutex_lock(&db->cat_mu);
    size_t k = 0;
    for (size_t i = 0; i < db->n_cols; i++) {
      int gone = 0;
      for (size_t j = 0; j < n && !gone; j++) gone = db->cols[i] == cols[j];
      if (!gone) db->cols[k++] = db->cols[i];
    }
    db->n_cols = k;
    if (d) {
      if (!is_default_db(t, d)) remove_db_locked(db, find_db_locked(db, t, d));
    } else {
      for (size_t i = db->n_dbs; i-- > 0;)
        if (!strcmp(db->dbs[i].tenant, t) && !is_default_db(t, db->dbs[i].name)) remove_db_locked(db, &db->dbs[i]);
      int ti = find_tenant_locked(db, t);
      if (strcmp(t, QV_DEFAULT_TENANT) != 0) {
        qv__free(&db->mem, db->tenants[ti]);
        memmove(&db->tenants[ti], &db->tenants[ti + 1], (db->n_tenants - (size_t)ti - 1) * sizeof *db->tenants);
        db->n_tenants--;
      }
    }
    pthread_mutex_unlock(&db->cat_mu);
    for (size_t i = 0; i < n; i++) {
      atomic_store(&cols[i]->dropped, 1);
      pthread_rwlock_wrlock(&cols[i]->lock); /* wait for reads in flight */
      pthread_rwlock_unlock(&cols[i]->lock);
    }
    if (n_dropped) *n_dropped = n;
  }
  pthread_mutex_unlock(&db->write_mu);
  for (size_t i = n; i-- > 0;) pthread_mutex_unlock(&cols[i]->wmu);
  for (size_t i = 0; rc == QV_OK && i < n; i++) qv_collection_release(cols[i]); /* the catalog's reference */
  release_all(cols, n);                                                          /* ours */
  return rc;
}

qv_status qv_database_delete(qv_db *db, const char *tenant, const char *name, size_t *n_dropped) {
  if (n_dropped) *n_dropped = 0;
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  qv_status rc = CHECK_TENANT(db, tenant);
  if (rc == QV_OK) rc = CHECK_DBNAME(db, name);
  if (rc) return rc;
  return drop_scope(db, tenant, name, n_dropped);
}

qv_status qv_tenant_delete(qv_db *db, const char *tenant) {
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  qv_status rc = CHECK_TENANT(db, tenant);
  if (rc) return rc;
  return drop_scope(db, tenant, NULL, NULL);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

qv_status qv_collection_list_in(qv_db *db, const char *tenant, const char *database, char ***names, size_t *n) {
  if (!names || !n) return QV_MISUSE;
  *names = NULL;
  *n = 0;
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  qv_status rc = CHECK_TENANT(db, tenant);
  if (rc == QV_OK) rc = check_part(db, "database", database, 512);
  if (rc) return rc;
  pthread_mutex_lock(&db->cat_mu);
  if (!find_db_locked(db, tenant, database)) {
    pthread_mutex_unlock(&db->cat_mu);
    return qv__err(db, QV_NOTFOUND, "database %.512s of tenant %.256s does not exist", database, tenant);
  }
  char **v = calloc(db->n_cols + 1, sizeof *v);
  size_t len = 0;
  int ok = v != NULL;
  for (size_t i = 0; ok && i < db->n_cols; i++) {
    const char *name = db->cols[i]->name;
    char *buf = malloc(strlen(name) + 1);
    const char *t, *d, *local;
    if (!buf) {
      ok = 0;
      break;
    }
    qv__name_split(name, buf, &t, &d, &local);
    if (!strcmp(t, tenant) && !strcmp(d, database)) ok = (v[len++] = strdup(local)) != NULL;
    free(buf);
  }
  pthread_mutex_unlock(&db->cat_mu);
  if (!ok) {
    qv_strings_free(v);
    return QV_NOMEM;
  }
  qsort(v, len, sizeof *v, cmp_str);
  return strings_out(v, len, names, n);
}
