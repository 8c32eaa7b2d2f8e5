/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * store/store_catalog.c -- tenants and databases in the SQLite store, and the one-time
 * migration of a format-2 file (whose server kept them as records of a reserved collection).
 *
 * Tables (format 3, created with the rest of the schema by store_sqlite.c):
 *   tenants(name TEXT PRIMARY KEY)
 *   databases(tenant TEXT, name TEXT, uuid TEXT UNIQUE, metadata TEXT, PRIMARY KEY(tenant, name))
 * Both hold the default tenant and database (UUID all zeros) from the start. A collection's
 * database is not a column: it is in its name (core/catalog.c), so the collections table and
 * every statement on it are as in format 2.
 *
 * Every function here but the migration runs inside the caller's transaction.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define SERVER_CATALOG "__quiver_server_catalog" /* format 2's quiver serve */
#define ZERO_UUID "00000000-0000-0000-0000-000000000000"
#define IS_DEFAULT_DB "(tenant='default_tenant' AND name='default_database')" /* never deleted */

static qv_status cat_fail(qv_store *s, sqlite3 *h, const char *what) {
  int code = sqlite3_errcode(h);
  qv__store_set_err(s, what, sqlite3_errmsg(h));
  if (code == SQLITE_NOMEM) return QV_NOMEM;
  if (code == SQLITE_CONSTRAINT) return QV_EXISTS;
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return QV_BUSY;
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return QV_CORRUPT;
  return QV_IO;
}

/* Prepare sql on the writer and bind up to four texts (NULL binds NULL). */
static qv_status prep(qv_store *s, const char *sql, const char *const *texts, int n, sqlite3_stmt **st,
                      const char *what) {
  sqlite3 *w = qv__store_writer(s);
  *st = NULL;
  if (sqlite3_prepare_v2(w, sql, -1, st, NULL) != SQLITE_OK) return cat_fail(s, w, what);
  for (int i = 0; i < n; i++) {
    int r = texts[i] ? sqlite3_bind_text(*st, i + 1, texts[i], -1, SQLITE_STATIC) : sqlite3_bind_null(*st, i + 1);
    if (r != SQLITE_OK) {
      qv__store_set_err(s, what, sqlite3_errstr(r));
      sqlite3_finalize(*st);
      *st = NULL;
      return r == SQLITE_NOMEM ? QV_NOMEM : QV_IO;
    }
  }
  return QV_OK;
}

/* Run a statement that returns no rows; *changes (may be NULL) gets the rows it changed. */
static qv_status exec_texts(qv_store *s, const char *sql, const char *const *texts, int n, const char *what,
                            int *changes) {
  sqlite3_stmt *st;
  qv_status rc = prep(s, sql, texts, n, &st, what);
  if (rc) return rc;
  if (sqlite3_step(st) != SQLITE_DONE) rc = cat_fail(s, qv__store_writer(s), what);
  else if (changes) *changes = sqlite3_changes(qv__store_writer(s));
  sqlite3_finalize(st);
  return rc;
}

qv_status qv__store_tenant_insert(qv_store *s, const char *t) {
  const char *v[1] = {t};
  return exec_texts(s, "INSERT INTO tenants(name) VALUES(?1)", v, 1, "creating the tenant", NULL);
}

qv_status qv__store_tenant_delete(qv_store *s, const char *t) {
  const char *v[1] = {t};
  qv_status rc = exec_texts(s, "DELETE FROM databases WHERE tenant=?1 AND NOT " IS_DEFAULT_DB, v, 1,
                            "deleting the tenant's databases", NULL);
  if (rc == QV_OK)
    rc = exec_texts(s, "DELETE FROM tenants WHERE name=?1 AND name<>'default_tenant'", v, 1, "deleting the tenant", NULL);
  return rc;
}

qv_status qv__store_database_insert(qv_store *s, const qv_store_database *d) {
  const char *v[4] = {d->tenant, d->name, d->uuid, d->metadata_json};
  return exec_texts(s, "INSERT INTO databases(tenant, name, uuid, metadata) VALUES(?1,?2,?3,?4)", v, 4,
                    "creating the database", NULL);
}

qv_status qv__store_database_delete(qv_store *s, const char *t, const char *name) {
  const char *v[2] = {t, name};
  return exec_texts(s, "DELETE FROM databases WHERE tenant=?1 AND name=?2 AND NOT " IS_DEFAULT_DB, v, 2,
                    "deleting the database", NULL);
}

qv_status qv__store_scope_orphans(qv_store *s, const char *t, const char *d) {
  /* names "t/d/x" (d given) or "t/any/x": exactly two '/', the first parts equal */
  size_t tl = strlen(t), dl = d ? strlen(d) : 0;
  char *prefix = malloc(tl + dl + 3);
  if (!prefix) return QV_NOMEM;
  if (d) snprintf(prefix, tl + dl + 3, "%s/%s/", t, d);
  else snprintf(prefix, tl + dl + 3, "%s/", t);
  const char *v[1] = {prefix};
  sqlite3_stmt *st;
  int64_t cids[64];
  size_t n = 0;
  qv_status rc = prep(s,
                      "SELECT cid, name FROM collections WHERE substr(name, 1, length(?1)) = ?1 ORDER BY cid", v, 1,
                      &st, "deleting the database's collections");
  int step = SQLITE_DONE;
  while (rc == QV_OK && n < 64 && (step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 1);
    const char *rest = name ? name + strlen(prefix) : NULL;
    if (!rest) continue;
    /* d given: rest is the local name (no '/'); a tenant: rest is "db/name" */
    const char *slash = strchr(rest, '/');
    if (d ? slash == NULL && *rest : slash && slash != rest && slash[1] && !strchr(slash + 1, '/'))
      cids[n++] = sqlite3_column_int64(st, 0);
  }
  if (rc == QV_OK && step != SQLITE_DONE && step != SQLITE_ROW)
    rc = cat_fail(s, qv__store_writer(s), "deleting the database's collections");
  sqlite3_finalize(st);
  free(prefix);
  for (size_t i = 0; rc == QV_OK && i < n; i++) rc = qv__store_col_delete(s, cids[i]);
  if (rc == QV_OK && n == 64) return qv__store_scope_orphans(s, t, d); /* more than one batch */
  return rc;
}

static char *dup_col(const qv_mem *mem, sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? qv__strdup(mem, (const char *)t) : NULL;
}

void qv__store_catalog_free(const qv_mem *mem, char **tenants, size_t n_tenants, qv_store_database *dbs,
                            size_t n_dbs) {
  for (size_t i = 0; tenants && i < n_tenants; i++) qv__free(mem, tenants[i]);
  qv__free(mem, tenants);
  for (size_t i = 0; dbs && i < n_dbs; i++) {
    qv__free(mem, dbs[i].tenant);
    qv__free(mem, dbs[i].name);
    qv__free(mem, dbs[i].uuid);
    qv__free(mem, dbs[i].metadata_json);
  }
  qv__free(mem, dbs);
}

qv_status qv__store_catalog_load(qv_store *s, const qv_mem *mem, char ***tenants, size_t *n_tenants,
                                 qv_store_database **dbs, size_t *n_dbs) {
  sqlite3 *w = qv__store_writer(s);
  sqlite3_stmt *st = NULL;
  qv_status rc = QV_OK;
  size_t cap = 0;
  int step;
  *tenants = NULL;
  *dbs = NULL;
  *n_tenants = *n_dbs = 0;
  if (sqlite3_prepare_v2(w, "SELECT name FROM tenants ORDER BY name", -1, &st, NULL) != SQLITE_OK)
    return cat_fail(s, w, "reading the tenants");
  while (rc == QV_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n_tenants == cap) {
      size_t nc = cap ? cap * 2 : 8;
      char **v = qv__realloc(mem, *tenants, nc * sizeof *v);
      if (!v) { rc = QV_NOMEM; break; }
      *tenants = v;
      cap = nc;
    }
    if (!((*tenants)[*n_tenants] = dup_col(mem, st, 0))) rc = QV_NOMEM;
    else (*n_tenants)++;
  }
  if (rc == QV_OK && step != SQLITE_DONE) rc = cat_fail(s, w, "reading the tenants");
  sqlite3_finalize(st);
  st = NULL;
  cap = 0;
  if (rc == QV_OK &&
      sqlite3_prepare_v2(w, "SELECT tenant, name, uuid, metadata FROM databases ORDER BY tenant, name", -1, &st,
                         NULL) != SQLITE_OK)
    rc = cat_fail(s, w, "reading the databases");
  while (rc == QV_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n_dbs == cap) {
      size_t nc = cap ? cap * 2 : 8;
      qv_store_database *v = qv__realloc(mem, *dbs, nc * sizeof *v);
      if (!v) { rc = QV_NOMEM; break; }
      *dbs = v;
      cap = nc;
    }
    qv_store_database *d = &(*dbs)[(*n_dbs)++];
    d->tenant = dup_col(mem, st, 0);
    d->name = dup_col(mem, st, 1);
    d->uuid = dup_col(mem, st, 2);
    d->metadata_json = dup_col(mem, st, 3);
    if (!d->tenant || !d->name || !d->uuid || (sqlite3_column_type(st, 3) != SQLITE_NULL && !d->metadata_json))
      rc = QV_NOMEM;
  }
  if (rc == QV_OK && step != SQLITE_DONE) rc = cat_fail(s, w, "reading the databases");
  sqlite3_finalize(st);
  if (rc) {
    qv__store_catalog_free(mem, *tenants, *n_tenants, *dbs, *n_dbs);
    *tenants = NULL;
    *dbs = NULL;
    *n_tenants = *n_dbs = 0;
  }
  return rc;
}

/* ------------------------------------------------------------------ format 2 -> 3 */

const char qv__store_catalog_schema[] =
    "CREATE TABLE IF NOT EXISTS tenants(name TEXT NOT NULL PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS databases(tenant TEXT NOT NULL, name TEXT NOT NULL, uuid TEXT NOT NULL UNIQUE,"
    " metadata TEXT, PRIMARY KEY(tenant, name));"
    "INSERT OR IGNORE INTO tenants(name) VALUES('default_tenant');"
    "INSERT OR IGNORE INTO databases(tenant, name, uuid) VALUES('default_tenant', 'default_database', '" ZERO_UUID
    "');";

/* Tenant t and database d of it, unless they exist (a new database gets a random UUID). */
static qv_status ensure_db(qv_store *s, const char *t, const char *d, const char *uuid, int *n_made) {
  char fresh[37];
  int made = 0;
  const char *vt[1] = {t};
  qv_status rc = exec_texts(s, "INSERT OR IGNORE INTO tenants(name) VALUES(?1)", vt, 1, "migrating the tenants", NULL);
  if (rc) return rc;
  if (!uuid) {
    qv__make_uuid(fresh);
    uuid = fresh;
  }
  const char *vd[3] = {t, d, uuid};
  rc = exec_texts(s,
                  "INSERT INTO databases(tenant, name, uuid) SELECT ?1, ?2, ?3 WHERE NOT EXISTS"
                  " (SELECT 1 FROM databases WHERE tenant=?1 AND name=?2)",
                  vd, 3, "migrating the databases", &made);
  if (rc == QV_EXISTS) { /* the catalog's UUID is taken by another database: give this one a new one */
    qv__make_uuid(fresh);
    vd[2] = fresh;
    rc = exec_texts(s, "INSERT INTO databases(tenant, name, uuid) VALUES(?1, ?2, ?3)", vd, 3,
                    "migrating the databases", &made);
  }
  if (n_made) *n_made += made;
  return rc;
}

/* Split "t/d/n" (exactly two '/', no empty part) into the three parts (malloc'd, one block). */
static int split3(const char *name, char **t, char **d, char **n) {
  const char *a = strchr(name, '/'), *b = a ? strchr(a + 1, '/') : NULL;
  if (!a || !b || strchr(b + 1, '/') || a == name || b == a + 1 || !b[1]) return 0;
  char *copy = strdup(name);
  if (!copy) return -1;
  copy[a - name] = 0;
  copy[b - name] = 0;
  *t = copy;
  *d = copy + (a - name) + 1;
  *n = copy + (b - name) + 1;
  return 1;
}

static int name_taken(qv_store *s, const char *name, qv_status *rc) {
  sqlite3_stmt *st;
  const char *v[1] = {name};
  int taken = 0;
  *rc = prep(s, "SELECT 1 FROM collections WHERE name=?1", v, 1, &st, "migrating the collection names");
  if (*rc) return 0;
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW) taken = 1;
  else if (step != SQLITE_DONE) *rc = cat_fail(s, qv__store_writer(s), "migrating the collection names");
  sqlite3_finalize(st);
  return taken;
}

static qv_status rename_col(qv_store *s, long long cid, const char *to) {
  char id[32];
  snprintf(id, sizeof id, "%lld", cid);
  const char *v[2] = {to, id};
  return exec_texts(s, "UPDATE collections SET name=?1 WHERE cid=CAST(?2 AS INTEGER)", v, 2,
                    "migrating the collection names", NULL);
}

/* Append "; text" to the migration's note. */
static void note(qv_store_migration *m, const char *text) {
  size_t len = strlen(m->note);
  if (len + 1 < sizeof m->note) snprintf(m->note + len, sizeof m->note - len, "; %s", text);
}

/* The server catalog's tenants, databases and Pinecone indexes into the tables, then drop it. */
static qv_status migrate_server_catalog(qv_store *s, qv_store_migration *m, int *n_t, int *n_d) {
  sqlite3_stmt *st = NULL;
  const char *v[1] = {SERVER_CATALOG};
  long long cid = -1;
  qv_status rc = prep(s, "SELECT cid FROM collections WHERE name=?1", v, 1, &st, "migrating the server catalog");
  if (rc) return rc;
  if (sqlite3_step(st) == SQLITE_ROW) cid = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (cid < 0) return QV_OK;
  char id[32];
  snprintf(id, sizeof id, "%lld", cid);
  const char *vc[1] = {id};
  /* tenants first, then databases (a database record names its tenant), then the Pinecone
     indexes: each one's record becomes its database's metadata */
  rc = prep(s,
            "SELECT json_extract(metadata, '$.kind'), json_extract(metadata, '$.tenant'),"
            " json_extract(metadata, '$.name'), json_extract(metadata, '$.id'), metadata FROM records"
            " WHERE cid=CAST(?1 AS INTEGER) AND json_valid(metadata) ORDER BY CASE json_extract(metadata, '$.kind')"
            " WHEN 'tenant' THEN 0 WHEN 'database' THEN 1 ELSE 2 END, rid",
            vc, 1, &st, "migrating the server catalog");
  if (rc) return rc;
  int step;
  while (rc == QV_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *kind = (const char *)sqlite3_column_text(st, 0);
    const char *t = (const char *)sqlite3_column_text(st, 1);
    const char *name = (const char *)sqlite3_column_text(st, 2);
    const char *uuid = (const char *)sqlite3_column_text(st, 3);
    const char *meta = (const char *)sqlite3_column_text(st, 4);
    if (!kind || !name || !*name || strchr(name, '/')) continue;
    if (!strcmp(kind, "tenant")) {
      int made = 0;
      const char *vt[1] = {name};
      rc = exec_texts(s, "INSERT OR IGNORE INTO tenants(name) VALUES(?1)", vt, 1, "migrating the tenants", &made);
      *n_t += made;
    } else if (!strcmp(kind, "database") && t && *t && !strchr(t, '/')) {
      rc = ensure_db(s, t, name, uuid && strlen(uuid) == 36 ? uuid : NULL, n_d);
    } else if (!strcmp(kind, "pinecone_index")) {
      rc = ensure_db(s, "pinecone", name, NULL, n_d);
      const char *vm[2] = {meta, name};
      if (rc == QV_OK)
        rc = exec_texts(s, "UPDATE databases SET metadata=?1 WHERE tenant='pinecone' AND name=?2", vm, 2,
                        "migrating the Pinecone indexes", NULL);
    }
  }
  if (rc == QV_OK && step != SQLITE_DONE) rc = cat_fail(s, qv__store_writer(s), "migrating the server catalog");
  sqlite3_finalize(st);
  if (rc) return rc;
  if ((rc = qv__store_fts_drop(s, cid))) return rc;
  static const char *const drops[] = {"DELETE FROM records WHERE cid=CAST(?1 AS INTEGER)",
                                      "DELETE FROM deletes WHERE cid=CAST(?1 AS INTEGER)",
                                      "DELETE FROM collections WHERE cid=CAST(?1 AS INTEGER)"};
  for (size_t i = 0; rc == QV_OK && i < 3; i++) rc = exec_texts(s, drops[i], vc, 1, "dropping the server catalog", NULL);
  if (rc == QV_OK) {
    m->dropped_cid = cid;
    note(m, "dropped the server's catalog collection " SERVER_CATALOG);
  }
  return rc;
}

/* Every "t/d/n" collection name: its database exists; "default_tenant/default_database/n"
 * becomes "n" (a collection already named "n" -- made by the library or CLI, invisible to
 * the old server -- becomes "n.local", or "n.local2", ...). */
static qv_status migrate_names(qv_store *s, qv_store_migration *m, int *n_d, int *n_moved) {
  sqlite3_stmt *st = NULL;
  qv_status rc = prep(s, "SELECT cid, name FROM collections WHERE instr(name, '/') > 0 ORDER BY cid", NULL, 0, &st,
                      "migrating the collection names");
  if (rc) return rc;
  int step;
  while (rc == QV_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
    long long cid = sqlite3_column_int64(st, 0);
    const char *name = (const char *)sqlite3_column_text(st, 1);
    char *t = NULL, *d = NULL, *n = NULL;
    int sp = name ? split3(name, &t, &d, &n) : -1;
    if (sp < 0) { rc = QV_NOMEM; break; }
    if (sp == 0) continue; /* one '/' or more than two: a plain name of the default database */
    if (strcmp(t, "default_tenant") || strcmp(d, "default_database")) {
      rc = ensure_db(s, t, d, NULL, n_d);
    } else {
      if (name_taken(s, n, &rc) && rc == QV_OK) {
        size_t len = strlen(n) + 32;
        char *alt = malloc(len);
        if (!alt) rc = QV_NOMEM;
        for (int k = 1; alt && rc == QV_OK; k++) {
          if (k == 1) snprintf(alt, len, "%s.local", n);
          else snprintf(alt, len, "%s.local%d", n, k);
          if (!name_taken(s, alt, &rc) && rc == QV_OK) {
            sqlite3_stmt *q;
            const char *v[1] = {n};
            rc = prep(s, "SELECT cid FROM collections WHERE name=?1", v, 1, &q, "migrating the collection names");
            if (rc == QV_OK && sqlite3_step(q) == SQLITE_ROW) rc = rename_col(s, sqlite3_column_int64(q, 0), alt);
            sqlite3_finalize(q);
            if (rc == QV_OK) {
              char msg[600];
              snprintf(msg, sizeof msg, "collection %.200s, which the server did not see, renamed %.220s "
                                        "(the server's collection keeps the name)", n, alt);
              note(m, msg);
            }
            break;
          }
        }
        free(alt);
      }
      if (rc == QV_OK) rc = rename_col(s, cid, n);
      if (rc == QV_OK) (*n_moved)++;
    }
    free(t);
  }
  if (rc == QV_OK && step != SQLITE_DONE) rc = cat_fail(s, qv__store_writer(s), "migrating the collection names");
  sqlite3_finalize(st);
  return rc;
}

qv_status qv__store_migrate_2_to_3(qv_store *s, qv_store_migration *m) {
  sqlite3 *w = qv__store_writer(s);
  int n_t = 0, n_d = 0, n_moved = 0;
  char sql[sizeof qv__store_catalog_schema + 64];
  snprintf(sql, sizeof sql, "BEGIN IMMEDIATE;%s", qv__store_catalog_schema);
  if (sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK) {
    qv_status rc = cat_fail(s, w, "migrating format 2 to 3");
    sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  m->note[0] = 0;
  m->dropped_cid = -1;
  qv_status rc = migrate_server_catalog(s, m, &n_t, &n_d);
  if (rc == QV_OK) rc = migrate_names(s, m, &n_d, &n_moved);
  if (rc == QV_OK && sqlite3_exec(w, "PRAGMA user_version=3; COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    rc = cat_fail(s, w, "migrating format 2 to 3");
  if (rc) {
    sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
    m->dropped_cid = -1;
    return rc;
  }
  char head[160];
  snprintf(head, sizeof head, "tenants and databases are the library's (%d tenants, %d databases added), %d collections "
                              "moved into the default database",
           n_t, n_d, n_moved);
  size_t hl = strlen(head), nl = strlen(m->note);
  if (hl + nl + 1 <= sizeof m->note) {
    memmove(m->note + hl, m->note, nl + 1);
    memcpy(m->note, head, hl);
  }
  return QV_OK;
}
