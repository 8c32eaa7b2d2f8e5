/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * db.c -- qv_db: the data directory, its lock, the catalog of collections, checkpoints, and
 * the per-thread last-error message.
 *
 * Data directory layout:
 *   quiver.db (+ -wal, -shm)  the SQLite store (store/store_sqlite.c)
 *   LOCK                      flock()ed exclusively while a process has the db open; holds
 *                             that process's pid for the error message of a second opener
 *   index/<cid>.idx           index checkpoint files (checkpoint.h envelope)
 * An in-memory db (path NULL or "") has none of these: no SQLite, nothing survives close.
 *
 * Error messages: each thread has its own buffer per db (pthread key), so concurrent readers
 * never see each other's messages. All buffers are listed in db->errbufs and freed at close.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "col_int.h"

struct qv_errbuf {
  struct qv_errbuf *next;
  char msg[1024];
};

static struct qv_errbuf *errbuf_get(const qv_db *cdb) {
  qv_db *db = (qv_db *)(uintptr_t)cdb; /* the buffer list is bookkeeping, not state */
  struct qv_errbuf *b = pthread_getspecific(db->err_key);
  if (b) return b;
  b = calloc(1, sizeof *b); /* plain malloc: message buffers must not fail fault tests */
  if (!b) return NULL;
  pthread_mutex_lock(&db->err_mu);
  b->next = db->errbufs;
  db->errbufs = b;
  pthread_mutex_unlock(&db->err_mu);
  pthread_setspecific(db->err_key, b);
  return b;
}

qv_status qv__err(const qv_db *db, qv_status rc, const char *fmt, ...) {
  struct qv_errbuf *b = db ? errbuf_get(db) : NULL;
  if (!b) return rc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->msg, sizeof b->msg, fmt, ap);
  va_end(ap);
  return rc;
}

void qv__err_clear(const qv_db *db) {
  struct qv_errbuf *b = db ? pthread_getspecific(db->err_key) : NULL;
  if (b) b->msg[0] = 0;
}

const char *qv_db_errmsg(const qv_db *db) {
  if (!db) return "NULL database handle";
  struct qv_errbuf *b = pthread_getspecific(db->err_key);
  return b ? b->msg : "";
}

void qv_open_opts_init(qv_open_opts *o) {
  memset(o, 0, sizeof *o);
  o->sync = QV_SYNC_FULL;
}

const char *qv_db_path(const qv_db *db) { return db ? db->path : NULL; }

static qv_status lock_dir(qv_db *db, char *err, size_t errlen) {
  char file[4096];
  qv__fmt(file, sizeof file, "%s/LOCK", db->path);
  int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    qv__fmt(err, errlen, "cannot open %s: %s", file, strerror(errno));
    return QV_IO;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    if (n > 0) pid[strcspn(pid, "\n")] = 0;
    qv__fmt(err, errlen, "data directory %s is in use by another process%s%s%s", db->path,
            n > 0 ? " (pid " : "", n > 0 ? pid : "", n > 0 ? ")" : "");
    close(fd);
    return QV_BUSY;
  }
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) { /* informative only */
  }
  db->lock_fd = fd;
  return QV_OK;
}

static qv_status make_dirs(const char *path, char *err, size_t errlen) {
  char sub[4096];
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    qv__fmt(err, errlen, "cannot create data directory %s: %s", path, strerror(errno));
    return QV_IO;
  }
  qv__fmt(sub, sizeof sub, "%s/index", path);
  if (mkdir(sub, 0755) != 0 && errno != EEXIST) {
    qv__fmt(err, errlen, "cannot create %s: %s", sub, strerror(errno));
    return QV_IO;
  }
  return QV_OK;
}

/* Add c to the catalog array; takes over the caller's reference. */
qv_status qv__db_catalog_push(qv_db *db, qv_collection *c) {
  if (db->n_cols == db->cap_cols) {
    size_t nc = db->cap_cols ? db->cap_cols * 2 : 8;
    qv_collection **v = qv__realloc(&db->mem, db->cols, nc * sizeof *v);
    if (!v) return QV_NOMEM;
    db->cols = v;
    db->cap_cols = nc;
  }
  db->cols[db->n_cols++] = c;
  return QV_OK;
}

static qv_status load_catalog(qv_db *db, char *err, size_t errlen) {
  qv_store_col *rows = NULL;
  size_t n = 0;
  qv_status rc = qv__store_col_list(db->store, &rows, &n);
  if (rc) {
    qv__fmt(err, errlen, "%s", qv__store_errmsg(db->store));
    return rc;
  }
  for (size_t i = 0; i < n && rc == QV_OK; i++) {
    qv_collection_opts o;
    qv_collection_opts_init(&o);
    o.dim = rows[i].dim;
    o.metric = (qv_metric)rows[i].metric;
    o.index = (qv_index_kind)rows[i].kind;
    o.hnsw_m = rows[i].m;
    o.hnsw_ef_construction = rows[i].ef_construction;
    o.hnsw_ef_search = rows[i].ef_search;
    o.metadata_json = rows[i].metadata_json;
    qv_collection *c = NULL;
    rc = qv__col_new(db, rows[i].name, &o, &c);
    if (rc == QV_OK) {
      c->cid = rows[i].cid;
      memcpy(c->uuid, rows[i].uuid, strnlen(rows[i].uuid, 36));
      rc = qv__col_load(c);
      if (rc == QV_OK) rc = qv__db_catalog_push(db, c);
      if (rc) {
        qv__fmt(err, errlen, "collection %s: %s", rows[i].name, qv_db_errmsg(db));
        qv__col_free(c);
      }
    } else {
      qv__fmt(err, errlen, "collection %s: %s", rows[i].name, qv_db_errmsg(db));
    }
  }
  for (size_t i = 0; i < n; i++) {
    qv__free(&db->mem, rows[i].name);
    qv__free(&db->mem, rows[i].uuid);
    qv__free(&db->mem, rows[i].metadata_json);
  }
  qv__free(&db->mem, rows);
  return rc;
}

/* Default build threads: $QUIVER_THREADS, else $OMP_NUM_THREADS (the convention BLAS and
 * benchmark harnesses use), else every CPU. */
static int env_threads(void) {
  const char *v = getenv("QUIVER_THREADS");
  if (!v || !*v) v = getenv("OMP_NUM_THREADS");
  long n = v ? strtol(v, NULL, 10) : 0;
  return n > 0 && n <= 1024 ? (int)n : qv__ncpu();
}

qv_status qv_db_open(const char *path, const qv_open_opts *opts, qv_db **out) {
  qv_open_opts defaults;
  qv_status rc = QV_OK;
  char err[1024] = "";
  qv_db *db = NULL;
  if (!out) return QV_MISUSE;
  *out = NULL;
  if (!opts) {
    qv_open_opts_init(&defaults);
    opts = &defaults;
  }
  qv_mem mem;
  qv__mem_init(&mem, &opts->alloc);
  db = qv__calloc(&mem, 1, sizeof *db);
  if (!db) return QV_NOMEM;
  db->mem = mem;
  db->lock_fd = -1;
  db->n_threads = opts->n_threads > 0 ? opts->n_threads : env_threads();
  db->query_threads = opts->n_threads > 0 ? opts->n_threads : qv__ncpu();
  db->read_only = opts->read_only;
  db->next_cid = 1;
  pthread_mutex_init(&db->write_mu, NULL);
  pthread_mutex_init(&db->cat_mu, NULL);
  pthread_mutex_init(&db->err_mu, NULL);
  if (pthread_key_create(&db->err_key, NULL) != 0) {
    qv__free(&mem, db);
    return QV_NOMEM;
  }
  if (path && *path) {
    char file[4096];
    if (strlen(path) > 3000) {
      qv__fmt(err, sizeof err, "path: longer than 3000 bytes");
      rc = QV_INVALID;
      goto cleanup;
    }
    db->path = qv__strdup(&db->mem, path);
    if (!db->path) { rc = QV_NOMEM; goto cleanup; }
    if ((rc = make_dirs(path, err, sizeof err))) goto cleanup;
    if (!db->read_only && (rc = lock_dir(db, err, sizeof err))) goto cleanup;
    qv__fmt(file, sizeof file, "%s/quiver.db", path);
    rc = qv__store_open(&db->mem, file, opts->sync == QV_SYNC_FULL, &db->store, &db->seq, err, sizeof err);
    if (rc) goto cleanup;
    if ((rc = load_catalog(db, err, sizeof err))) goto cleanup;
  }
  *out = db;
  db = NULL;
cleanup:
  if (db) {
    if (opts->errbuf && opts->errbuf_len) qv__fmt(opts->errbuf, opts->errbuf_len, "%s", err);
    qv_db_close(db);
  }
  return rc;
}

qv_status qv_db_checkpoint(qv_db *db) {
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  if (!db->store) return QV_OK;
  qv_status rc = QV_OK;
  pthread_mutex_lock(&db->write_mu);
  for (size_t i = 0; i < db->n_cols; i++) {
    qv_status r = qv__col_checkpoint(db->cols[i]);
    if (r && rc == QV_OK) rc = r;
  }
  pthread_mutex_unlock(&db->write_mu);
  return rc;
}

void qv_db_close(qv_db *db) {
  if (!db) return;
  if (db->store && !db->read_only) qv_db_checkpoint(db);
  for (size_t i = 0; i < db->n_cols; i++) qv__col_free(db->cols[i]);
  qv__free(&db->mem, db->cols);
  qv__store_close(db->store);
  if (db->lock_fd >= 0) close(db->lock_fd); /* releases the flock */
  pthread_key_delete(db->err_key);
  for (struct qv_errbuf *b = db->errbufs, *nx; b; b = nx) {
    nx = b->next;
    free(b);
  }
  pthread_mutex_destroy(&db->write_mu);
  pthread_mutex_destroy(&db->cat_mu);
  pthread_mutex_destroy(&db->err_mu);
  qv_mem mem = db->mem;
  qv__free(&mem, db->path);
  qv__free(&mem, db);
}
