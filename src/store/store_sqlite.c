/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * store/store_sqlite.c -- the SQLite store: quiver's source of truth.
 *
 * File: <datadir>/quiver.db, WAL journal. PRAGMA application_id = 0x51564442 ("QVDB") marks a
 * quiver database; PRAGMA user_version is the on-disk format version (QV_FORMAT_VERSION). A
 * file with another application_id or a newer user_version is refused with QV_CORRUPT.
 *
 * Schema (format 4):
 *   qv_info(key TEXT PRIMARY KEY, value)        'seq' = newest sequence number; 'pos:NAME' =
 *               the position NAME (qv_db_position_get), written in the transaction of the
 *               batch that carried it (no format change: older libraries ignore the rows)
 *   collections(cid INTEGER PRIMARY KEY, name TEXT UNIQUE, uuid TEXT UNIQUE, dim, metric,
 *               kind TEXT, params TEXT, metadata TEXT, config TEXT)
 *               kind is the index kind's name, params its parameters as one canonical JSON
 *               object (index/params.h): the catalog never names a kind's settings. config
 *               is a face's configuration of the collection (a JSON object or NULL), kept
 *               as given (format 4).
 *   records(rid INTEGER PRIMARY KEY, cid, slot, id TEXT, seq, metadata TEXT, document TEXT,
 *           embedding BLOB)                     UNIQUE INDEX (cid, id)
 *   deletes(seq, cid, slot, id TEXT)            the write log's deletes: a removed record leaves
 *               this row, stamped with its batch's sequence number, so replay after a crash
 *               (and, later, log shipping) sees deletes as well as writes. Rows at or below a
 *               collection's index checkpoint are pruned when the checkpoint is written.
 *   tenants, databases                  tenants and databases (store_catalog.c; format 3).
 * Format 3 had no config column: the Chroma face kept its configuration in the collection
 * metadata under the key "__quiver_config"; it is migrated once, in one transaction
 * (qv__store_migrate_3_to_4, store_config.c).
 * Format 2 (0.2.x) had no tenants and databases tables: `quiver serve` kept them as records of
 * a reserved collection and named its collections "tenant/database/name"; it is migrated once,
 * in one transaction (qv__store_migrate_2_to_3).
 * Format 1 (0.1.x) had integer kind and the HNSW settings as columns (m, ef_construction,
 * ef_search) and no deletes table; it is migrated once, in one transaction, when opened for
 * writing (migrate_1_to_2).
 * The embedding column is last so that scans that skip it never touch its overflow pages.
 * rid orders records by insertion (an upsert of an existing id keeps its rid). slot is the
 * record's position in the in-memory index; it is stable across reopen, so an index
 * checkpoint file stays valid.
 *
 * Sequence numbers: every committed write batch bumps qv_info.seq inside its transaction and
 * stamps the rows it wrote with it. An index checkpoint records the seq it contains; on open,
 * rows with a larger seq are replayed into it (collection.c).
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

#define QV_FORMAT_VERSION 4
#define QV_APP_ID 0x51564442

enum {
  ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_SEQ, ST_COL_INS, ST_COL_UPD, ST_COL_DEL, ST_COL_DEL_RECS,
  ST_COL_DEL_LOG, ST_REC_INS, ST_REC_REPL, ST_REC_DEL, ST_LOG_DEL, ST_LOG_PRUNE, ST_POS, ST_N
};

static const char *const stmt_sql[ST_N] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SEQ] = "INSERT OR REPLACE INTO qv_info(key, value) VALUES('seq', ?1)",
    [ST_COL_INS] = "INSERT INTO collections(name, uuid, dim, metric, kind, params, metadata, config) "
                   "VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    [ST_COL_UPD] = "UPDATE collections SET name=?1, uuid=?2, dim=?3, metric=?4, kind=?5, params=?6, "
                   "metadata=?7, config=?8 WHERE cid=?9",
    [ST_COL_DEL] = "DELETE FROM collections WHERE cid=?1",
    [ST_COL_DEL_RECS] = "DELETE FROM records WHERE cid=?1",
    [ST_COL_DEL_LOG] = "DELETE FROM deletes WHERE cid=?1",
    [ST_REC_INS] = "INSERT INTO records(cid, slot, id, seq, metadata, document, embedding) "
                   "VALUES(?1,?2,?3,?4,?5,?6,?7)",
    [ST_REC_REPL] = "UPDATE records SET slot=?2, seq=?3, metadata=?4, document=?5, embedding=?6 "
                    "WHERE rid=?1",
    [ST_REC_DEL] = "DELETE FROM records WHERE rid=?1",
    [ST_LOG_DEL] = "INSERT INTO deletes(seq, cid, slot, id) VALUES(?1,?2,?3,?4)",
    [ST_LOG_PRUNE] = "DELETE FROM deletes WHERE cid=?1 AND seq<=?2",
    [ST_POS] = "INSERT OR REPLACE INTO qv_info(key, value) VALUES('pos:' || ?1, ?2)",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS qv_info(key TEXT PRIMARY KEY, value);"
    "CREATE TABLE IF NOT EXISTS collections(cid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " uuid TEXT NOT NULL UNIQUE, dim INTEGER NOT NULL, metric INTEGER NOT NULL,"
    " kind TEXT NOT NULL, params TEXT NOT NULL, metadata TEXT, config TEXT);"
    "CREATE TABLE IF NOT EXISTS records(rid INTEGER PRIMARY KEY, cid INTEGER NOT NULL,"
    " slot INTEGER NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, metadata TEXT,"
    " document TEXT, embedding BLOB NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS records_cid_id ON records(cid, id);"
    "CREATE TABLE IF NOT EXISTS deletes(seq INTEGER NOT NULL, cid INTEGER NOT NULL, slot INTEGER NOT NULL,"
    " id TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS deletes_cid_seq ON deletes(cid, seq);";

/* Format 1 -> 2: the catalog's HNSW columns become the kind's name and a params object. */
static const char migrate_1_to_2_sql[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE collections RENAME TO collections_v1;"
    "CREATE TABLE collections(cid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " uuid TEXT NOT NULL UNIQUE, dim INTEGER NOT NULL, metric INTEGER NOT NULL,"
    " kind TEXT NOT NULL, params TEXT NOT NULL, metadata TEXT);"
    "INSERT INTO collections(cid, name, uuid, dim, metric, kind, params, metadata)"
    " SELECT cid, name, uuid, dim, metric, CASE kind WHEN 1 THEN 'hnsw' ELSE 'flat' END,"
    " CASE kind WHEN 1 THEN json_object('M', m, 'ef_construction', ef_construction, 'ef_search', ef_search)"
    " ELSE '{}' END, metadata FROM collections_v1 ORDER BY cid;"
    "DROP TABLE collections_v1;"
    "CREATE TABLE deletes(seq INTEGER NOT NULL, cid INTEGER NOT NULL, slot INTEGER NOT NULL, id TEXT NOT NULL);"
    "CREATE INDEX deletes_cid_seq ON deletes(cid, seq);"
    "PRAGMA user_version=2;"
    "COMMIT;";

int qv__store_format_version(void) { return QV_FORMAT_VERSION; }

struct qv_store {
  const qv_mem *mem;
  sqlite3 *w;            /* writer */
  sqlite3 *r;            /* reader (embeddings for results) */
  sqlite3_stmt *st[ST_N];
  sqlite3_stmt *emb;     /* on r */
  sqlite3_stmt *r_begin, *r_commit; /* on r: one read transaction around several embeddings */
  pthread_mutex_t r_mu;  /* the reader is shared by concurrent queries */
  char err[512];
};

static qv_status sql_fail(qv_store *s, sqlite3 *h, const char *what) {
  int code = sqlite3_errcode(h);
  qv__fmt(s->err, sizeof s->err, "%s: %s", what, sqlite3_errmsg(h));
  if (code == SQLITE_NOMEM) return QV_NOMEM;
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return QV_CORRUPT;
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return QV_BUSY;
  if (code == SQLITE_CONSTRAINT) return QV_EXISTS;
  return QV_IO;
}

const char *qv__store_errmsg(qv_store *s) { return s->err; }

static int64_t pragma_int(sqlite3 *h, const char *sql) {
  sqlite3_stmt *st = NULL;
  int64_t v = -1;
  if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* Create the schema in a new file, or check that an existing one is ours and readable;
 * migrate an older format once (not when opened read-only; mig says what was done). */
static qv_status check_or_init(qv_store *s, int read_only, qv_store_migration *mig) {
  int64_t app = pragma_int(s->w, "PRAGMA application_id");
  int64_t ver = pragma_int(s->w, "PRAGMA user_version");
  int64_t n_tables = pragma_int(s->w, "SELECT count(*) FROM sqlite_master");
  if (app < 0 || ver < 0 || n_tables < 0) return sql_fail(s, s->w, "reading the database header");
  if (app == 0 && ver == 0 && n_tables == 0) {
    char sql[sizeof schema_sql + 1024];
    qv__fmt(sql, sizeof sql, "BEGIN;%s%sPRAGMA application_id=%d;PRAGMA user_version=%d;COMMIT;",
            schema_sql, qv__store_catalog_schema, QV_APP_ID, QV_FORMAT_VERSION);
    if (sqlite3_exec(s->w, sql, NULL, NULL, NULL) != SQLITE_OK) return sql_fail(s, s->w, "creating the schema");
    return QV_OK;
  }
  if (app != QV_APP_ID) {
    qv__fmt(s->err, sizeof s->err, "not a quiver database (application_id 0x%llx)", (unsigned long long)app);
    return QV_CORRUPT;
  }
  if (ver >= 1 && ver <= 3) {
    if (read_only) {
      qv__fmt(s->err, sizeof s->err,
              "format version %lld needs a one-time migration to version %d: open the database for writing once",
              (long long)ver, QV_FORMAT_VERSION);
      return QV_CORRUPT;
    }
    if (ver == 1 && sqlite3_exec(s->w, migrate_1_to_2_sql, NULL, NULL, NULL) != SQLITE_OK) {
      qv_status rc = sql_fail(s, s->w, "migrating format 1 to 2");
      sqlite3_exec(s->w, "ROLLBACK", NULL, NULL, NULL);
      return rc;
    }
    /* 2 -> 3 and 3 -> 4 each in a transaction of its own: a crash in between leaves a file of
       the format before, which the next open goes on from */
    qv_status rc = ver <= 2 ? qv__store_migrate_2_to_3(s, mig) : QV_OK;
    if (rc == QV_OK) rc = qv__store_migrate_3_to_4(s, mig);
    if (rc) return rc;
    mig->from = (int)ver;
    return QV_OK;
  }
  if (ver != QV_FORMAT_VERSION) {
    qv__fmt(s->err, sizeof s->err, "unknown format version %lld (this build reads versions 1 to %d)",
            (long long)ver, QV_FORMAT_VERSION);
    return QV_CORRUPT;
  }
  return QV_OK;
}

static qv_status open_conn(qv_store *s, const char *file, int flags, sqlite3 **h) {
  if (sqlite3_open_v2(file, h, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
    return *h ? sql_fail(s, *h, file) : QV_NOMEM;
  sqlite3_busy_timeout(*h, 5000);
  sqlite3_extended_result_codes(*h, 0);
  return QV_OK;
}

qv_status qv__store_open(const qv_mem *mem, const char *file, int sync_full, int read_only, qv_store **out,
                         uint64_t *seq, qv_store_migration *mig, char *err, size_t errlen) {
  qv_status rc = QV_OK;
  qv_store *s = qv__calloc(mem, 1, sizeof *s);
  *out = NULL;
  if (!s) return QV_NOMEM;
  s->mem = mem;
  pthread_mutex_init(&s->r_mu, NULL);
  rc = open_conn(s, file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &s->w);
  if (rc) goto cleanup;
  /* A new file gets 16 KiB pages: a record row is dominated by its embedding (3 KiB at 784
     dims), and with 4 KiB pages one row would take a page to itself (a third of the file
     wasted). Ignored for an existing file; must come before WAL is switched on. */
  if (sqlite3_exec(s->w, "PRAGMA page_size=16384", NULL, NULL, NULL) != SQLITE_OK) {
    rc = sql_fail(s, s->w, "setting the page size");
    goto cleanup;
  }
  if (sqlite3_exec(s->w, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
    rc = sql_fail(s, s->w, "enabling WAL");
    goto cleanup;
  }
  mig->from = 0;
  mig->dropped_cid = -1;
  mig->note[0] = 0;
  /* the WAL is checkpointed into the file every 256 pages (4 MiB at 16 KiB pages, SQLite's
     default bound with its default 4 KiB pages), so a busy database does not keep 16 MiB of WAL */
  if (sqlite3_exec(s->w, "PRAGMA wal_autocheckpoint=256", NULL, NULL, NULL) != SQLITE_OK) {
    rc = sql_fail(s, s->w, "setting the WAL checkpoint interval");
    goto cleanup;
  }
  if ((rc = check_or_init(s, read_only, mig))) goto cleanup;
  if (sqlite3_exec(s->w, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL, NULL,
                   NULL) != SQLITE_OK) {
    rc = sql_fail(s, s->w, "setting synchronous");
    goto cleanup;
  }
  for (int i = 0; i < ST_N; i++)
    if (sqlite3_prepare_v3(s->w, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK) {
      rc = sql_fail(s, s->w, "preparing statements");
      goto cleanup;
    }
  rc = open_conn(s, file, SQLITE_OPEN_READONLY, &s->r);
  if (rc) goto cleanup;
  /* the reader maps the file: an embedding read (results, and the exact re-rank of indexes
   * that keep no floats resident) then copies its row out of the page cache instead of
   * pread()ing a whole 16 KiB page into SQLite's own cache first -- about half the cost of a
   * row (bench/RESULTS.md, "HNSW without resident floats"). SQLite caps it at its compiled
   * SQLITE_MAX_MMAP_SIZE and reads the rest of a larger file as before. The mapped pages are
   * the kernel's page cache (clean, shared, reclaimable), counted in RSS once touched. */
  if (sqlite3_exec(s->r, "PRAGMA mmap_size=1099511627776", NULL, NULL, NULL) != SQLITE_OK) {
    rc = sql_fail(s, s->r, "mapping the database file");
    goto cleanup;
  }
  if (sqlite3_prepare_v3(s->r, "SELECT embedding FROM records WHERE rid=?1", -1, SQLITE_PREPARE_PERSISTENT,
                         &s->emb, NULL) != SQLITE_OK ||
      sqlite3_prepare_v3(s->r, "BEGIN", -1, SQLITE_PREPARE_PERSISTENT, &s->r_begin, NULL) != SQLITE_OK ||
      sqlite3_prepare_v3(s->r, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &s->r_commit, NULL) != SQLITE_OK) {
    rc = sql_fail(s, s->r, "preparing statements");
    goto cleanup;
  }
  int64_t v = pragma_int(s->w, "SELECT value FROM qv_info WHERE key='seq'");
  *seq = v > 0 ? (uint64_t)v : 0;
  *out = s;
  s = NULL;
cleanup:
  if (s) {
    qv__fmt(err, errlen, "%s", s->err);
    qv__store_close(s);
  }
  return rc;
}

void qv__store_close(qv_store *s) {
  if (!s) return;
  for (int i = 0; i < ST_N; i++) sqlite3_finalize(s->st[i]);
  sqlite3_finalize(s->emb);
  sqlite3_finalize(s->r_begin);
  sqlite3_finalize(s->r_commit);
  sqlite3_close(s->r);
  sqlite3_close(s->w);
  pthread_mutex_destroy(&s->r_mu);
  qv__free(s->mem, s);
}

/* Run a prepared statement that returns no rows, then reset it. */
static qv_status run(qv_store *s, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  qv_status out = QV_OK;
  if (rc != SQLITE_DONE) out = sql_fail(s, s->w, what);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return out;
}

/* Binding: every sqlite3_bind_* result is checked; the first failure is reported by bind_done(). */
typedef struct binder {
  qv_store *s;
  sqlite3_stmt *st;
  int rc;
} binder;

static void b_text(binder *b, int i, const char *t) {
  int r = t ? sqlite3_bind_text(b->st, i, t, -1, SQLITE_STATIC) : sqlite3_bind_null(b->st, i);
  if (r != SQLITE_OK && b->rc == SQLITE_OK) b->rc = r;
}
static void b_int(binder *b, int i, int64_t v) {
  int r = sqlite3_bind_int64(b->st, i, (sqlite3_int64)v);
  if (r != SQLITE_OK && b->rc == SQLITE_OK) b->rc = r;
}
static void b_blob(binder *b, int i, const void *p, size_t n) {
  int r = n > (size_t)INT32_MAX ? SQLITE_TOOBIG : sqlite3_bind_blob(b->st, i, p, (int)n, SQLITE_STATIC);
  if (r != SQLITE_OK && b->rc == SQLITE_OK) b->rc = r;
}
/* Run the bound statement (run()), or report the binding failure and reset it. */
static qv_status bind_run(binder *b, const char *what) {
  if (b->rc != SQLITE_OK) {
    qv__fmt(b->s->err, sizeof b->s->err, "%s: binding a parameter failed: %s", what, sqlite3_errstr(b->rc));
    sqlite3_reset(b->st);
    sqlite3_clear_bindings(b->st);
    return b->rc == SQLITE_NOMEM ? QV_NOMEM : b->rc == SQLITE_TOOBIG ? QV_INVALID : QV_IO;
  }
  return run(b->s, b->st, what);
}

qv_status qv__store_begin(qv_store *s) { return run(s, s->st[ST_BEGIN], "BEGIN"); }

qv_status qv__store_commit(qv_store *s, uint64_t seq) {
  binder b = {s, s->st[ST_SEQ], SQLITE_OK};
  b_int(&b, 1, (int64_t)seq);
  qv_status rc = bind_run(&b, "writing the sequence number");
  if (rc == QV_OK) rc = run(s, s->st[ST_COMMIT], "COMMIT");
  if (rc != QV_OK) qv__store_rollback(s);
  return rc;
}

qv_status qv__store_pos_put(qv_store *s, const char *key, uint64_t value) {
  binder b = {s, s->st[ST_POS], SQLITE_OK};
  b_text(&b, 1, key);
  b_int(&b, 2, (int64_t)value);
  return bind_run(&b, "writing a position");
}

qv_status qv__store_pos_scan(qv_store *s, qv_store_pos_fn fn, void *ctx) {
  sqlite3_stmt *st = NULL;
  qv_status rc = QV_OK;
  if (sqlite3_prepare_v2(s->w, "SELECT substr(key, 5), value FROM qv_info WHERE substr(key, 1, 4) = 'pos:'", -1,
                         &st, NULL) != SQLITE_OK)
    return sql_fail(s, s->w, "reading positions");
  int r;
  while (rc == QV_OK && (r = sqlite3_step(st)) == SQLITE_ROW)
    rc = fn(ctx, (const char *)sqlite3_column_text(st, 0), (uint64_t)sqlite3_column_int64(st, 1));
  if (rc == QV_OK && r != SQLITE_DONE) rc = sql_fail(s, s->w, "reading positions");
  sqlite3_finalize(st);
  return rc;
}

void qv__store_rollback(qv_store *s) {
  if (!sqlite3_get_autocommit(s->w)) {
    sqlite3_step(s->st[ST_ROLLBACK]);
    sqlite3_reset(s->st[ST_ROLLBACK]);
  }
}

static void bind_col(binder *b, const qv_store_col *c) {
  b_text(b, 1, c->name);
  b_text(b, 2, c->uuid);
  b_int(b, 3, c->dim);
  b_int(b, 4, c->metric);
  b_text(b, 5, c->kind);
  b_text(b, 6, c->params_json ? c->params_json : "{}");
  b_text(b, 7, c->metadata_json);
  b_text(b, 8, c->config_json);
}

qv_status qv__store_col_insert(qv_store *s, qv_store_col *c) {
  binder b = {s, s->st[ST_COL_INS], SQLITE_OK};
  bind_col(&b, c);
  qv_status rc = bind_run(&b, "creating the collection");
  if (rc == QV_OK) c->cid = sqlite3_last_insert_rowid(s->w);
  return rc;
}

qv_status qv__store_col_update(qv_store *s, const qv_store_col *c) {
  binder b = {s, s->st[ST_COL_UPD], SQLITE_OK};
  bind_col(&b, c);
  b_int(&b, 9, c->cid);
  return bind_run(&b, "updating the collection");
}

qv_status qv__store_col_delete(qv_store *s, int64_t cid) {
  qv_status frc = qv__store_fts_drop(s, cid); /* before the records: no trigger work */
  if (frc) return frc;
  static const int sts[] = {ST_COL_DEL_RECS, ST_COL_DEL_LOG, ST_COL_DEL};
  static const char *const what[] = {"deleting the collection's records", "deleting the collection's log",
                                     "deleting the collection"};
  for (size_t i = 0; i < 3; i++) {
    binder b = {s, s->st[sts[i]], SQLITE_OK};
    b_int(&b, 1, cid);
    qv_status rc = bind_run(&b, what[i]);
    if (rc) return rc;
  }
  return QV_OK;
}

static char *col_text(const qv_mem *mem, sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? qv__strdup(mem, (const char *)t) : NULL;
}

qv_status qv__store_col_list(qv_store *s, qv_store_col **out, size_t *n) {
  sqlite3_stmt *st = NULL;
  qv_store_col *v = NULL;
  size_t len = 0, cap = 0;
  qv_status rc = QV_OK;
  *out = NULL;
  *n = 0;
  if (sqlite3_prepare_v2(s->w,
                         "SELECT cid, name, uuid, dim, metric, kind, params, metadata, config "
                         "FROM collections ORDER BY cid",
                         -1, &st, NULL) != SQLITE_OK)
    return sql_fail(s, s->w, "reading the catalog");
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (len == cap) {
      size_t nc = cap ? cap * 2 : 8;
      qv_store_col *nv = qv__realloc(s->mem, v, nc * sizeof *nv);
      if (!nv) { rc = QV_NOMEM; goto cleanup; }
      v = nv;
      cap = nc;
    }
    qv_store_col *c = &v[len++];
    memset(c, 0, sizeof *c);
    c->cid = sqlite3_column_int64(st, 0);
    c->name = col_text(s->mem, st, 1);
    c->uuid = col_text(s->mem, st, 2);
    c->dim = (uint32_t)sqlite3_column_int64(st, 3);
    c->metric = sqlite3_column_int(st, 4);
    c->kind = col_text(s->mem, st, 5);
    c->params_json = col_text(s->mem, st, 6);
    int has_meta = sqlite3_column_type(st, 7) != SQLITE_NULL, has_cfg = sqlite3_column_type(st, 8) != SQLITE_NULL;
    c->metadata_json = col_text(s->mem, st, 7);
    c->config_json = col_text(s->mem, st, 8);
    if (!c->name || !c->uuid || !c->kind || !c->params_json || (has_meta && !c->metadata_json) ||
        (has_cfg && !c->config_json)) {
      rc = QV_NOMEM;
      goto cleanup;
    }
  }
  if (step != SQLITE_DONE) rc = sql_fail(s, s->w, "reading the catalog");
cleanup:
  sqlite3_finalize(st);
  if (rc) {
    for (size_t i = 0; i < len; i++) {
      qv__free(s->mem, v[i].name);
      qv__free(s->mem, v[i].uuid);
      qv__free(s->mem, v[i].metadata_json);
      qv__free(s->mem, v[i].kind);
      qv__free(s->mem, v[i].params_json);
      qv__free(s->mem, v[i].config_json);
    }
    qv__free(s->mem, v);
    return rc;
  }
  *out = v;
  *n = len;
  return QV_OK;
}

qv_status qv__store_rec_insert(qv_store *s, int64_t cid, uint32_t dim, qv_store_rec *r, uint64_t seq) {
  binder b = {s, s->st[ST_REC_INS], SQLITE_OK};
  b_int(&b, 1, cid);
  b_int(&b, 2, r->slot);
  b_text(&b, 3, r->id);
  b_int(&b, 4, (int64_t)seq);
  b_text(&b, 5, r->meta_json);
  b_text(&b, 6, r->doc);
  b_blob(&b, 7, r->emb, (size_t)dim * sizeof(float));
  qv_status rc = bind_run(&b, "inserting a record");
  if (rc == QV_OK) r->rid = sqlite3_last_insert_rowid(s->w);
  return rc;
}

qv_status qv__store_rec_replace(qv_store *s, int64_t rid, uint32_t dim, const qv_store_rec *r, uint64_t seq) {
  binder b = {s, s->st[ST_REC_REPL], SQLITE_OK};
  b_int(&b, 1, rid);
  b_int(&b, 2, r->slot);
  b_int(&b, 3, (int64_t)seq);
  b_text(&b, 4, r->meta_json);
  b_text(&b, 5, r->doc);
  b_blob(&b, 6, r->emb, (size_t)dim * sizeof(float));
  return bind_run(&b, "updating a record");
}

qv_status qv__store_rec_delete(qv_store *s, int64_t cid, int64_t rid, uint32_t slot, const char *id, uint64_t seq) {
  binder b = {s, s->st[ST_REC_DEL], SQLITE_OK};
  b_int(&b, 1, rid);
  qv_status rc = bind_run(&b, "deleting a record");
  if (rc) return rc;
  binder l = {s, s->st[ST_LOG_DEL], SQLITE_OK};
  b_int(&l, 1, (int64_t)seq);
  b_int(&l, 2, cid);
  b_int(&l, 3, slot);
  b_text(&l, 4, id);
  return bind_run(&l, "logging a delete");
}

qv_status qv__store_log_prune(qv_store *s, int64_t cid, uint64_t upto_seq) {
  binder b = {s, s->st[ST_LOG_PRUNE], SQLITE_OK};
  b_int(&b, 1, cid);
  b_int(&b, 2, (int64_t)upto_seq);
  return bind_run(&b, "pruning the delete log");
}

qv_status qv__store_log_deletes(qv_store *s, int64_t cid, uint64_t after_seq, qv_store_del_fn fn, void *ctx) {
  sqlite3_stmt *st = NULL;
  qv_status rc = QV_OK;
  if (sqlite3_prepare_v2(s->w, "SELECT seq, slot, id FROM deletes WHERE cid=?1 AND seq>?2 ORDER BY seq", -1, &st,
                         NULL) != SQLITE_OK)
    return sql_fail(s, s->w, "reading the delete log");
  binder b = {s, st, SQLITE_OK};
  b_int(&b, 1, cid);
  b_int(&b, 2, (int64_t)after_seq);
  if (b.rc != SQLITE_OK) {
    sqlite3_finalize(st);
    qv__fmt(s->err, sizeof s->err, "reading the delete log: binding a parameter failed: %s", sqlite3_errstr(b.rc));
    return b.rc == SQLITE_NOMEM ? QV_NOMEM : QV_IO;
  }
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 2);
    if (!id) { rc = QV_NOMEM; break; }
    if ((rc = fn(ctx, (uint64_t)sqlite3_column_int64(st, 0), (uint32_t)sqlite3_column_int64(st, 1), id))) break;
  }
  if (rc == QV_OK && step != SQLITE_DONE) rc = sql_fail(s, s->w, "reading the delete log");
  sqlite3_finalize(st);
  return rc;
}

qv_status qv__store_rec_scan(qv_store *s, int64_t cid, uint32_t dim, int with_emb, qv_store_row_fn fn,
                             void *ctx) {
  sqlite3_stmt *st = NULL;
  qv_status rc = QV_OK;
  const char *sql = with_emb == 2 ? "SELECT rid, slot, '', seq, NULL, NULL, embedding FROM records "
                                    "WHERE cid=?1 ORDER BY rid"
                    : with_emb ? "SELECT rid, slot, id, seq, metadata, document, embedding FROM records "
                                 "WHERE cid=?1 ORDER BY rid"
                               : "SELECT rid, slot, id, seq, metadata, document FROM records "
                                 "WHERE cid=?1 ORDER BY rid";
  if (sqlite3_prepare_v2(s->w, sql, -1, &st, NULL) != SQLITE_OK) return sql_fail(s, s->w, "reading records");
  int brc = sqlite3_bind_int64(st, 1, cid);
  if (brc != SQLITE_OK) {
    qv__fmt(s->err, sizeof s->err, "reading records: binding a parameter failed: %s", sqlite3_errstr(brc));
    rc = brc == SQLITE_NOMEM ? QV_NOMEM : QV_IO;
    goto cleanup;
  }
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    qv_store_rec r;
    r.rid = sqlite3_column_int64(st, 0);
    r.slot = (uint32_t)sqlite3_column_int64(st, 1);
    r.id = (const char *)sqlite3_column_text(st, 2);
    uint64_t seq = (uint64_t)sqlite3_column_int64(st, 3);
    r.meta_json = (const char *)sqlite3_column_text(st, 4);
    r.doc = (const char *)sqlite3_column_text(st, 5);
    r.emb = NULL;
    if (with_emb) {
      r.emb = sqlite3_column_blob(st, 6);
      if ((size_t)sqlite3_column_bytes(st, 6) != (size_t)dim * sizeof(float)) {
        qv__fmt(s->err, sizeof s->err, "record %lld: stored embedding has %d bytes, expected %zu",
                (long long)r.rid, sqlite3_column_bytes(st, 6), (size_t)dim * sizeof(float));
        rc = QV_CORRUPT;
        goto cleanup;
      }
    }
    if (!r.id) { rc = QV_NOMEM; goto cleanup; }
    if ((rc = fn(ctx, &r, seq))) goto cleanup;
  }
  if (step != SQLITE_DONE) rc = sql_fail(s, s->w, "reading records");
cleanup:
  sqlite3_finalize(st);
  return rc;
}

/* One embedding through the reader (s->r_mu held). */
static qv_status emb_locked(qv_store *s, int64_t rid, uint32_t dim, float *out) {
  qv_status rc = QV_OK;
  int brc = sqlite3_bind_int64(s->emb, 1, rid);
  if (brc != SQLITE_OK) {
    qv__fmt(s->err, sizeof s->err, "reading an embedding: binding a parameter failed: %s", sqlite3_errstr(brc));
    sqlite3_reset(s->emb);
    return brc == SQLITE_NOMEM ? QV_NOMEM : QV_IO;
  }
  int step = sqlite3_step(s->emb);
  if (step == SQLITE_ROW && (size_t)sqlite3_column_bytes(s->emb, 0) == (size_t)dim * sizeof(float))
    memcpy(out, sqlite3_column_blob(s->emb, 0), (size_t)dim * sizeof(float));
  else if (step == SQLITE_ROW || step == SQLITE_DONE) {
    qv__fmt(s->err, sizeof s->err, "record %lld: stored embedding missing or damaged", (long long)rid);
    rc = QV_CORRUPT;
  } else
    rc = sql_fail(s, s->r, "reading an embedding");
  sqlite3_reset(s->emb);
  return rc;
}

qv_status qv__store_rec_embedding(qv_store *s, int64_t rid, uint32_t dim, float *out) {
  pthread_mutex_lock(&s->r_mu);
  qv_status rc = emb_locked(s, rid, dim, out);
  pthread_mutex_unlock(&s->r_mu);
  return rc;
}

/* Several rows in one read transaction: without it each row starts and ends its own (the WAL
 * read lock taken and dropped with fcntl), which costs about as much as the row itself. */
qv_status qv__store_rec_embeddings(qv_store *s, const int64_t *rids, size_t n, uint32_t dim, float *out,
                                   qv_status *each) {
  pthread_mutex_lock(&s->r_mu);
  int tx = n > 1 && sqlite3_step(s->r_begin) == SQLITE_DONE;
  sqlite3_reset(s->r_begin);
  for (size_t i = 0; i < n; i++)
    each[i] = rids[i] > 0 ? emb_locked(s, rids[i], dim, out + i * dim) : QV_NOTFOUND;
  qv_status rc = QV_OK;
  if (tx && sqlite3_step(s->r_commit) != SQLITE_DONE) rc = sql_fail(s, s->r, "ending a read transaction");
  sqlite3_reset(s->r_commit);
  pthread_mutex_unlock(&s->r_mu);
  return rc;
}

/* For store_fts.c. */
sqlite3 *qv__store_writer(qv_store *s) { return s->w; }

sqlite3 *qv__store_reader(qv_store *s, pthread_mutex_t **mu) {
  *mu = &s->r_mu;
  return s->r;
}

void qv__store_set_err(qv_store *s, const char *what, const char *msg) { qv__fmt(s->err, sizeof s->err, "%s: %s", what, msg); }
