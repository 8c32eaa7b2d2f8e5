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
 * Error messages: each thread has its own message per db (thread-local slots, see below), so
 * concurrent readers never see each other's messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "col_int.h"

/* Each thread keeps the messages of the last QV_ERR_SLOTS databases it got an error from, in
 * thread-local storage: nothing is allocated, so nothing outlives the thread (a server with a
 * thread per connection used to keep 1 KiB per exited thread until close), and nothing fails
 * under an allocation fault. A db is known by a serial number that is never reused, so a db
 * opened at a freed handle's address never sees the old handle's message. A thread that gets
 * errors from more than QV_ERR_SLOTS databases in turn loses the oldest message. */
#define QV_ERR_SLOTS 8
struct qv_errslot {
  uint64_t serial; /* 0: free */
  char msg[1024];
};
static _Thread_local struct qv_errslot tl_err[QV_ERR_SLOTS];
static _Thread_local unsigned tl_err_next;
static _Atomic uint64_t db_serials;

static struct qv_errslot *errslot_find(const qv_db *db) {
  for (unsigned i = 0; i < QV_ERR_SLOTS; i++)
    if (tl_err[i].serial == db->err_serial) return &tl_err[i];
  return NULL;
}

qv_status qv__err(const qv_db *db, qv_status rc, const char *fmt, ...) {
  if (!db) return rc;
  struct qv_errslot *b = errslot_find(db);
  for (unsigned i = 0; !b && i < QV_ERR_SLOTS; i++)
    if (tl_err[i].serial == 0) b = &tl_err[i];
  if (!b) b = &tl_err[tl_err_next++ % QV_ERR_SLOTS];
  b->serial = db->err_serial;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->msg, sizeof b->msg, fmt, ap);
  va_end(ap);
  return rc;
}

void qv__err_clear(const qv_db *db) {
  struct qv_errslot *b = db ? errslot_find(db) : NULL;
  if (b) b->msg[0] = 0;
}

const char *qv_db_errmsg(const qv_db *db) {
  if (!db) return "NULL database handle";
  struct qv_errslot *b = errslot_find(db);
  return b ? b->msg : "";
}

void qv_open_opts_init(qv_open_opts *o) {
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->sync = QV_SYNC_FULL;
}

void qv__log(const qv_db *db, qv_log_level level, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (db && db->log) {
    db->log(db->log_ud, level, msg);
    return;
  }
  static const char *const names[] = {"error", "warning", "info"};
  fprintf(stderr, "quiver: %s: %s\n", (unsigned)level < 3 ? names[level] : "log", msg);
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
    o.index = rows[i].kind;
    o.params_json = rows[i].params_json;
    o.metadata_json = rows[i].metadata_json;
    o.config_json = rows[i].config_json;
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
    if (rc) rc = qv__db_skip_collection(db, rows[i].name, rows[i].cid, rc, qv_db_errmsg(db)); /* degraded open */
  }
  for (size_t i = 0; i < n; i++) {
    qv__free(&db->mem, rows[i].name);
    qv__free(&db->mem, rows[i].uuid);
    qv__free(&db->mem, rows[i].metadata_json);
    qv__free(&db->mem, rows[i].kind);
    qv__free(&db->mem, rows[i].params_json);
    qv__free(&db->mem, rows[i].config_json);
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

static void *checkpointer(void *arg);

qv_status qv_db_open(const char *path, const qv_open_opts *opts, qv_db **out) {
  qv_open_opts given;
  qv_status rc = QV_OK;
  char err[1024] = "";
  qv_db *db = NULL;
  if (!out) return QV_MISUSE;
  *out = NULL;
  qv_open_opts_init(&given);
  if (opts) qv__struct_in(&given, sizeof given, opts, QV__BASE_OPEN_OPTS);
  opts = &given;
  qv_mem mem;
  qv__mem_init(&mem, &opts->alloc);
  db = qv__calloc(&mem, 1, sizeof *db);
  if (!db) return QV_NOMEM;
  db->mem = mem;
  db->lock_fd = -1;
  db->n_threads = opts->n_threads > 0 ? opts->n_threads : env_threads();
  db->query_threads = opts->n_threads > 0 ? opts->n_threads : qv__ncpu();
  db->read_only = opts->read_only;
  db->log = opts->log;
  db->log_ud = opts->log_ud;
  db->next_cid = 1;
  pthread_mutex_init(&db->write_mu, NULL);
  pthread_mutex_init(&db->cat_mu, NULL);
  pthread_mutex_init(&db->ckpt_mu, NULL);
  pthread_mutex_init(&db->pos_mu, NULL);
  pthread_cond_init(&db->ckpt_cv, NULL);
  db->ckpt_every = opts->checkpoint_every ? opts->checkpoint_every : 100000;
  db->err_serial = atomic_fetch_add(&db_serials, 1) + 1;
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
    qv_store_migration mig;
    rc = qv__store_open(&db->mem, file, opts->sync == QV_SYNC_FULL, db->read_only, &db->store, &db->seq, &mig,
                        err, sizeof err);
    if (rc) goto cleanup;
    if (mig.from)
      qv__log(db, QV_LOG_INFO, "%s: migrated the store from format %d to format %d (once)%s%s", file, mig.from,
              qv__store_format_version(), mig.note[0] ? ": " : "", mig.note);
    if (mig.dropped_cid >= 0) { /* the dropped collection's index file, if it had one */
      qv__fmt(file, sizeof file, "%s/index/%lld.idx", path, (long long)mig.dropped_cid);
      remove(file);
    }
    if ((rc = qv__catalog_load(db))) {
      qv__fmt(err, sizeof err, "reading tenants and databases: %s", qv__store_errmsg(db->store));
      goto cleanup;
    }
    if ((rc = load_catalog(db, err, sizeof err))) goto cleanup;
    if ((rc = qv__pos_load(db))) {
      qv__fmt(err, sizeof err, "%s: reading positions: %s", file, qv__store_errmsg(db->store));
      goto cleanup;
    }
    if (!db->read_only && db->ckpt_every != UINT64_MAX) {
      if (pthread_create(&db->ckpt_thread, NULL, checkpointer, db) != 0) {
        qv__fmt(err, sizeof err, "cannot start the checkpoint thread");
        rc = QV_NOMEM;
        goto cleanup;
      }
      db->ckpt_running = 1;
    }
  }
  if (!db->store && (rc = qv__catalog_load(db))) goto cleanup; /* in-memory: the defaults */
  *out = db;
  db = NULL;
cleanup:
  if (db) {
    if (opts->errbuf && opts->errbuf_len) qv__fmt(opts->errbuf, opts->errbuf_len, "%s", err);
    qv_db_close(db);
  }
  return rc;
}

/* ------------------------------------------------------------------ checkpoints */

/* The collections now in the catalog, each with a reference taken (release every one). */
static qv_collection **snapshot_cols(qv_db *db, size_t *n) {
  pthread_mutex_lock(&db->cat_mu);
  qv_collection **v = malloc((db->n_cols ? db->n_cols : 1) * sizeof *v);
  *n = 0;
  if (v)
    for (size_t i = 0; i < db->n_cols; i++) {
      v[(*n)++] = db->cols[i];
      atomic_fetch_add(&db->cols[i]->refs, 1);
    }
  pthread_mutex_unlock(&db->cat_mu);
  return v;
}

/* Checkpoint c if it is still in the catalog (its writers wait meanwhile). */
static qv_status checkpoint_one(qv_collection *c) {
  qv_status rc = QV_OK;
  pthread_mutex_lock(&c->wmu);
  if (!atomic_load(&c->dropped)) rc = qv__col_checkpoint(c);
  pthread_mutex_unlock(&c->wmu);
  return rc;
}

static void *checkpointer(void *arg) {
  qv_db *db = arg;
  for (;;) {
    pthread_mutex_lock(&db->ckpt_mu);
    while (!db->ckpt_wake && !db->ckpt_stop) pthread_cond_wait(&db->ckpt_cv, &db->ckpt_mu);
    int stop = db->ckpt_stop;
    db->ckpt_wake = 0;
    pthread_mutex_unlock(&db->ckpt_mu);
    if (stop) break;
    size_t n = 0;
    qv_collection **cols = snapshot_cols(db, &n);
    for (size_t i = 0; cols && i < n; i++) {
      if (atomic_load(&cols[i]->dirty) >= db->ckpt_every && checkpoint_one(cols[i]) != QV_OK)
        qv__log(db, QV_LOG_WARN, "background checkpoint of collection %s failed: %s", cols[i]->name,
                qv_db_errmsg(db));
      qv_collection_release(cols[i]);
    }
    free(cols);
  }
  return NULL;
}

void qv__db_note_writes(qv_db *db, qv_collection *c, size_t n) {
  uint64_t now = atomic_fetch_add(&c->dirty, n) + n;
  if (!db->ckpt_running || now < db->ckpt_every) return;
  pthread_mutex_lock(&db->ckpt_mu);
  db->ckpt_wake = 1;
  pthread_cond_signal(&db->ckpt_cv);
  pthread_mutex_unlock(&db->ckpt_mu);
}

static void stop_checkpointer(qv_db *db) {
  if (!db->ckpt_running) return;
  pthread_mutex_lock(&db->ckpt_mu);
  db->ckpt_stop = 1;
  pthread_cond_signal(&db->ckpt_cv);
  pthread_mutex_unlock(&db->ckpt_mu);
  pthread_join(db->ckpt_thread, NULL);
  db->ckpt_running = 0;
}

qv_status qv_db_checkpoint(qv_db *db) {
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  if (!db->store) return QV_OK;
  qv_status rc = QV_OK;
  size_t n = 0;
  qv_collection **cols = snapshot_cols(db, &n);
  if (!cols) return QV_NOMEM;
  for (size_t i = 0; i < n; i++) {
    qv_status r = checkpoint_one(cols[i]);
    if (r && rc == QV_OK) rc = r;
    qv_collection_release(cols[i]);
  }
  free(cols);
  return rc;
}

void qv_db_close(qv_db *db) {
  if (!db) return;
  stop_checkpointer(db);
  if (db->store && !db->read_only) qv_db_checkpoint(db);
  for (size_t i = 0; i < db->n_cols; i++) qv__col_free(db->cols[i]);
  qv__free(&db->mem, db->cols);
  qv__db_skipped_free(db);
  qv__catalog_free(db);
  qv__store_close(db->store);
  if (db->lock_fd >= 0) close(db->lock_fd); /* releases the flock */
  for (unsigned i = 0; i < QV_ERR_SLOTS; i++) /* the closing thread's slot is free again */
    if (tl_err[i].serial == db->err_serial) tl_err[i].serial = 0;
  pthread_mutex_destroy(&db->write_mu);
  pthread_mutex_destroy(&db->cat_mu);
  pthread_mutex_destroy(&db->ckpt_mu);
  qv__pos_free(db);
  pthread_mutex_destroy(&db->pos_mu);
  pthread_cond_destroy(&db->ckpt_cv);
  qv_mem mem = db->mem;
  qv__free(&mem, db->path);
  qv__free(&mem, db);
}
