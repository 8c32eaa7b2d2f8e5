/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * store/store_fts.c -- full-text indexes of the documents, in the SQLite store.
 *
 * Per collection (cid) up to two external-content FTS5 tables over records.document:
 *   fts_<cid>   default tokenizer (unicode61): BM25 ranking (qv_collection_text_search); its
 *               scores are FTS5's own -bm25() over that collection's documents only;
 *   ftsg_<cid>  trigram tokenizer, case-sensitive: substring search of >= 3 characters,
 *               which is what where_document {"$contains": ...} means.
 * Each is built on first use (qv__store_fts_ensure: one transaction creates it, its three
 * triggers and fills it from the records) and from then on kept in step by its triggers on
 * records (insert, delete, update of document, each guarded by cid) inside the transaction of
 * every write, so it can never disagree with the records after a crash; older builds writing
 * the file keep it in step too. Built lazily because keeping it costs: on the project VM an
 * FTS5 table maintained by trigger takes ingest of documented records from ~60k to ~5k
 * records/s (both tables: ~2k/s), while a bulk build runs at ~25k documents/s. Collections
 * that never use text search or where_document pay nothing. Dropped (before the records) with
 * the collection. A read-only database cannot build one: text search then reports
 * QV_UNSUPPORTED and where_document scans as before.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

static qv_status fts_fail(qv_store *s, sqlite3 *h, const char *what) {
  int code = sqlite3_errcode(h);
  qv__store_set_err(s, what, sqlite3_errmsg(h));
  if (code == SQLITE_NOMEM) return QV_NOMEM;
  if (code == SQLITE_ERROR) return QV_INVALID; /* an FTS5 query syntax error, mostly */
  return QV_IO;
}

/* Create one of collection cid's text tables (trigram 0: fts_<cid>, 1: ftsg_<cid>) and its
 * triggers, inside the caller's transaction. */
static qv_status fts_create(qv_store *s, int64_t cid, int trigram) {
  char sql[4096];
  long long c = (long long)cid;
  const char *t = trigram ? "ftsg" : "fts";
  snprintf(sql, sizeof sql,
           "CREATE VIRTUAL TABLE IF NOT EXISTS %s_%lld USING fts5(document, content='records', content_rowid='rid'%s);"
           "CREATE TRIGGER IF NOT EXISTS %s_ai_%lld AFTER INSERT ON records"
           " WHEN new.cid=%lld AND new.document IS NOT NULL BEGIN"
           " INSERT INTO %s_%lld(rowid, document) VALUES(new.rid, new.document); END;"
           "CREATE TRIGGER IF NOT EXISTS %s_ad_%lld AFTER DELETE ON records"
           " WHEN old.cid=%lld AND old.document IS NOT NULL BEGIN"
           " INSERT INTO %s_%lld(%s_%lld, rowid, document) VALUES('delete', old.rid, old.document); END;"
           "CREATE TRIGGER IF NOT EXISTS %s_au_%lld AFTER UPDATE OF document ON records"
           " WHEN old.cid=%lld AND old.document IS NOT new.document BEGIN"
           " INSERT INTO %s_%lld(%s_%lld, rowid, document) SELECT 'delete', old.rid, old.document"
           "  WHERE old.document IS NOT NULL;"
           " INSERT INTO %s_%lld(rowid, document) SELECT new.rid, new.document WHERE new.document IS NOT NULL;"
           " END;"
           "INSERT INTO %s_%lld(rowid, document) SELECT rid, document FROM records WHERE cid=%lld AND document IS NOT NULL;",
           t, c, trigram ? ", tokenize='trigram case_sensitive 1'" : "",
           t, c, c, t, c,
           t, c, c, t, c, t, c,
           t, c, c, t, c, t, c, t, c,
           t, c, c);
  sqlite3 *w = qv__store_writer(s);
  if (sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK) return fts_fail(s, w, "creating the text index");
  return QV_OK;
}

qv_status qv__store_fts_drop(qv_store *s, int64_t cid) {
  char sql[1024];
  long long c = (long long)cid;
  snprintf(sql, sizeof sql,
           "DROP TRIGGER IF EXISTS fts_ai_%lld; DROP TRIGGER IF EXISTS fts_ad_%lld; DROP TRIGGER IF EXISTS fts_au_%lld;"
           "DROP TRIGGER IF EXISTS ftsg_ai_%lld; DROP TRIGGER IF EXISTS ftsg_ad_%lld; DROP TRIGGER IF EXISTS ftsg_au_%lld;"
           "DROP TABLE IF EXISTS fts_%lld; DROP TABLE IF EXISTS ftsg_%lld;",
           c, c, c, c, c, c, c, c);
  sqlite3 *w = qv__store_writer(s);
  if (sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK) return fts_fail(s, w, "dropping the text index");
  return QV_OK;
}

/* 1 if collection cid has this text table (asked on connection h). */
static int has_fts(sqlite3 *h, int64_t cid, int trigram) {
  char name[64];
  sqlite3_stmt *st = NULL;
  int found = 0;
  snprintf(name, sizeof name, "%s_%lld", trigram ? "ftsg" : "fts", (long long)cid);
  if (sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
  }
  sqlite3_finalize(st);
  return found;
}

qv_status qv__store_fts_ensure(qv_store *s, int64_t cid, int trigram) {
  sqlite3 *w = qv__store_writer(s);
  if (has_fts(w, cid, trigram)) return QV_OK;
  if (sqlite3_exec(w, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return fts_fail(s, w, "BEGIN");
  qv_status rc = fts_create(s, cid, trigram);
  if (rc == QV_OK && sqlite3_exec(w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) rc = fts_fail(s, w, "COMMIT");
  if (rc) sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

qv_status qv__store_fts_query(qv_store *s, int64_t cid, int trigram, const char *match, qv_fts_row_fn fn, void *ctx) {
  pthread_mutex_t *mu;
  sqlite3 *r = qv__store_reader(s, &mu);
  char sql[512];
  long long c = (long long)cid;
  sqlite3_stmt *st = NULL;
  qv_status rc = QV_OK;
  if (trigram)
    snprintf(sql, sizeof sql, "SELECT r.slot, r.id, 0.0 FROM ftsg_%lld f JOIN records r ON r.rid=f.rowid "
             "WHERE ftsg_%lld MATCH ?1", c, c);
  else
    snprintf(sql, sizeof sql, "SELECT r.slot, r.id, -bm25(fts_%lld) FROM fts_%lld JOIN records r ON "
             "r.rid=fts_%lld.rowid WHERE fts_%lld MATCH ?1 ORDER BY bm25(fts_%lld)", c, c, c, c, c);
  pthread_mutex_lock(mu);
  if (!has_fts(r, cid, trigram)) {
    qv__store_set_err(s, "text index", "this collection has no text index yet, and a read-only database cannot build it");
    rc = QV_UNSUPPORTED;
    goto done;
  }
  if (sqlite3_prepare_v2(r, sql, -1, &st, NULL) != SQLITE_OK) {
    rc = fts_fail(s, r, "text search");
    goto done;
  }
  sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 1);
    if (!id) {
      rc = QV_NOMEM;
      break;
    }
    int more = fn(ctx, (uint32_t)sqlite3_column_int64(st, 0), id, sqlite3_column_double(st, 2));
    if (!more) break;
  }
  if (rc == QV_OK && step != SQLITE_ROW && step != SQLITE_DONE) rc = fts_fail(s, r, "text search");
done:
  sqlite3_finalize(st);
  pthread_mutex_unlock(mu);
  return rc;
}
