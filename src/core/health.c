/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * health.c -- qv_db_health: is the database still readable from disk? The store's own
 * connections would keep answering from their page cache and an open file descriptor after the
 * file was removed or overwritten, so the check reads the file itself: the SQLite header by
 * pread, then the catalog through a fresh read-only connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "col_int.h"

#define QV_HEALTH_APP_ID 0x51564442 /* "QVDB", store_sqlite.c */

static qv_status sql_check(qv_db *db, const char *file) {
  sqlite3 *h = NULL;
  sqlite3_stmt *st = NULL;
  qv_status rc = QV_OK;
  int src = sqlite3_open_v2(file, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
  if (src != SQLITE_OK) {
    rc = qv__err(db, QV_IO, "%s: cannot open: %s", file, h ? sqlite3_errmsg(h) : sqlite3_errstr(src));
    goto out;
  }
  sqlite3_busy_timeout(h, 2000);
  src = sqlite3_prepare_v2(h,
                           "SELECT (SELECT application_id FROM pragma_application_id),"
                           " (SELECT count(*) FROM collections), (SELECT value FROM qv_info WHERE key='seq')",
                           -1, &st, NULL);
  if (src == SQLITE_OK) src = sqlite3_step(st);
  if (src != SQLITE_ROW) {
    int code = sqlite3_errcode(h);
    rc = qv__err(db, code == SQLITE_NOTADB || code == SQLITE_CORRUPT ? QV_CORRUPT : QV_IO, "%s: cannot read: %s",
                 file, sqlite3_errmsg(h));
    goto out;
  }
  if (sqlite3_column_int64(st, 0) != QV_HEALTH_APP_ID)
    rc = qv__err(db, QV_CORRUPT, "%s: not a quiver database any more (application_id 0x%llx)", file,
                 (unsigned long long)sqlite3_column_int64(st, 0));
out:
  sqlite3_finalize(st);
  sqlite3_close(h);
  return rc;
}

qv_status qv_db_health(qv_db *db) {
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  if (!db->store) return QV_OK; /* in memory: nothing on disk to lose */
  char file[4096];
  qv__fmt(file, sizeof file, "%s/quiver.db", db->path);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return qv__err(db, QV_IO, "%s: %s", file, strerror(errno));
  char hdr[16];
  ssize_t got = pread(fd, hdr, sizeof hdr, 0);
  int err = errno;
  close(fd);
  if (got < 0) return qv__err(db, QV_IO, "%s: reading the header: %s", file, strerror(err));
  if (got != (ssize_t)sizeof hdr || memcmp(hdr, "SQLite format 3", 16) != 0)
    return qv__err(db, QV_CORRUPT, "%s: the SQLite header is missing or damaged", file);
  return sql_check(db, file);
}
