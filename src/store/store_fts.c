/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * store/store_fts.c -- full-text indexes of the documents, in the SQLite store.
 *
 * Per collection (cid) two external-content FTS5 tables over records.document:
 *   fts_<cid>   default tokenizer (unicode61): BM25 ranking (qv_collection_text_search); its
 *               scores are FTS5's own -bm25() over that collection's documents only;
 *   ftsg_<cid>  trigram tokenizer, case-sensitive: substring search of >= 3 characters,
 *               which is what where_document {"$contains": ...} means.
 * Three triggers on records (insert, delete, update of document, each guarded by cid) keep
 * both in step inside the transaction of the write itself, so the text index can never
 * disagree with the records after a crash; older builds writing the file keep it in step too.
 * Created with the collection (qv__store_col_insert), dropped before its records on delete;
 * a database created before this version gets them, filled from the records, when opened
 * read-write (qv__store_fts_migrate). Opened read-only, such a database has no text index
 * until it is opened read-write once (text search then reports QV_UNSUPPORTED).
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

qv_status qv__store_fts_create(qv_store *s, int64_t cid) {
  char sql[4096];
  long long c = (long long)cid;
  snprintf(sql, sizeof sql,
           "CREATE VIRTUAL TABLE IF NOT EXISTS fts_%lld USING fts5(document, content='records', content_rowid='rid');"
           "CREATE VIRTUAL TABLE IF NOT EXISTS ftsg_%lld USING fts5(document, content='records', content_rowid='rid',"
           " tokenize='trigram case_sensitive 1');"
           "CREATE TRIGGER IF NOT EXISTS fts_ai_%lld AFTER INSERT ON records"
           " WHEN new.cid=%lld AND new.document IS NOT NULL BEGIN"
           " INSERT INTO fts_%lld(rowid, document) VALUES(new.rid, new.document);"
           " INSERT INTO ftsg_%lld(rowid, document) VALUES(new.rid, new.document); END;"
           "CREATE TRIGGER IF NOT EXISTS fts_ad_%lld AFTER DELETE ON records"
           " WHEN old.cid=%lld AND old.document IS NOT NULL BEGIN"
           " INSERT INTO fts_%lld(fts_%lld, rowid, document) VALUES('delete', old.rid, old.document);"
           " INSERT INTO ftsg_%lld(ftsg_%lld, rowid, document) VALUES('delete', old.rid, old.document); END;"
           "CREATE TRIGGER IF NOT EXISTS fts_au_%lld AFTER UPDATE OF document ON records"
           " WHEN old.cid=%lld AND old.document IS NOT new.document BEGIN"
           " INSERT INTO fts_%lld(fts_%lld, rowid, document) SELECT 'delete', old.rid, old.document"
           "  WHERE old.document IS NOT NULL;"
           " INSERT INTO ftsg_%lld(ftsg_%lld, rowid, document) SELECT 'delete', old.rid, old.document"
           "  WHERE old.document IS NOT NULL;"
           " INSERT INTO fts_%lld(rowid, document) SELECT new.rid, new.document WHERE new.document IS NOT NULL;"
           " INSERT INTO ftsg_%lld(rowid, document) SELECT new.rid, new.document WHERE new.document IS NOT NULL;"
           " END;",
           c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c);
  sqlite3 *w = qv__store_writer(s);
  if (sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK) return fts_fail(s, w, "creating the text index");
  return QV_OK;
}

qv_status qv__store_fts_drop(qv_store *s, int64_t cid) {
  char sql[1024];
  long long c = (long long)cid;
  snprintf(sql, sizeof sql,
           "DROP TRIGGER IF EXISTS fts_ai_%lld; DROP TRIGGER IF EXISTS fts_ad_%lld; DROP TRIGGER IF EXISTS fts_au_%lld;"
           "DROP TABLE IF EXISTS fts_%lld; DROP TABLE IF EXISTS ftsg_%lld;",
           c, c, c, c, c);
  sqlite3 *w = qv__store_writer(s);
  if (sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK) return fts_fail(s, w, "dropping the text index");
  return QV_OK;
}

/* 1 if collection cid has its text index (asked on connection h). */
static int has_fts(sqlite3 *h, int64_t cid) {
  char name[64];
  sqlite3_stmt *st = NULL;
  int found = 0;
  snprintf(name, sizeof name, "fts_%lld", (long long)cid);
  if (sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
  }
  sqlite3_finalize(st);
  return found;
}

qv_status qv__store_fts_migrate(qv_store *s) {
  sqlite3 *w = qv__store_writer(s);
  sqlite3_stmt *st = NULL;
  int64_t cids[4096];
  size_t n = 0;
  qv_status rc = QV_OK;
  if (sqlite3_prepare_v2(w, "SELECT cid FROM collections ORDER BY cid", -1, &st, NULL) != SQLITE_OK)
    return fts_fail(s, w, "reading the catalog");
  while (sqlite3_step(st) == SQLITE_ROW && n < sizeof cids / sizeof cids[0]) {
    int64_t cid = sqlite3_column_int64(st, 0);
    if (!has_fts(w, cid)) cids[n++] = cid;
  }
  sqlite3_finalize(st);
  for (size_t i = 0; i < n && rc == QV_OK; i++) {
    char sql[512];
    long long c = (long long)cids[i];
    if (sqlite3_exec(w, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return fts_fail(s, w, "BEGIN");
    rc = qv__store_fts_create(s, cids[i]);
    snprintf(sql, sizeof sql,
             "INSERT INTO fts_%lld(rowid, document) SELECT rid, document FROM records WHERE cid=%lld AND document "
             "IS NOT NULL; INSERT INTO ftsg_%lld(rowid, document) SELECT rid, document FROM records WHERE cid=%lld "
             "AND document IS NOT NULL;",
             c, c, c, c);
    if (rc == QV_OK && sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK) rc = fts_fail(s, w, "filling the text index");
    if (rc == QV_OK && sqlite3_exec(w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) rc = fts_fail(s, w, "COMMIT");
    if (rc) sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
  }
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
  if (!has_fts(r, cid)) {
    qv__store_set_err(s, "text index", "this database has no text index yet: open it read-write once to build it");
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
