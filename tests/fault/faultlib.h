/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * faultlib.h -- test-only fault injection for the fault loops (tests/fault/test_fault_*.c).
 * Header-only: each test binary that includes it gets its own copy of the state.
 *
 * Three layers, each counted separately, armed for one operation at a time:
 *   - allocations: libquiver's allocator (qv_open_opts.alloc) fails the N-th call (FI_ALLOC,
 *     once) or every call from the N-th on (FI_ALLOC_STICKY: memory stays short);
 *   - SQLite I/O: a shim VFS registered as the default one (sqlite3_vfs_register(..., 1))
 *     forwards to the real default VFS and fails, from the N-th call of its kind on, xRead
 *     (SQLITE_IOERR_READ), xWrite (SQLITE_IOERR_WRITE), xSync (SQLITE_IOERR_FSYNC), or xWrite
 *     with SQLITE_FULL (the disk stays full);
 *   - the index-file layer (src/store/checkpoint.c and the other stdio users): the test
 *     binary is linked with -Wl,--wrap for fopen, fwrite, fread, fflush, fsync, rename,
 *     unlink and remove (CMakeLists.txt), and from the N-th such call on they fail with EIO.
 * The shim can also buffer every write until its file's xSync (crash mode): a copy of the
 * data directory taken at a sync point then holds exactly what had been made durable, which
 * is what a power cut at that point leaves (SQLite's crash-test idea, src/test6.c).
 * Nothing here is in libquiver: the default path is untouched.
 */
#ifndef QV_TEST_FAULTLIB_H
#define QV_TEST_FAULTLIB_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { FI_NONE, FI_ALLOC, FI_ALLOC_STICKY, FI_READ, FI_WRITE, FI_SYNC, FI_FULL, FI_FILE, FI_N_MODES };
static const char *const fi_mode_name[FI_N_MODES] = {"none", "alloc", "alloc-sticky", "read",
                                                     "write", "fsync", "disk-full", "index-file"};

static atomic_int fi_mode;
static atomic_long fi_n, fi_count, fi_hit, fi_live;

static void fi_arm(int mode, long n) {
  atomic_store(&fi_count, 0);
  atomic_store(&fi_hit, 0);
  atomic_store(&fi_n, n);
  atomic_store(&fi_mode, mode);
}
static void fi_disarm(void) { atomic_store(&fi_mode, FI_NONE); }

/* 1 if this call of class `mode` must fail. */
static int fi_fail(int mode) {
  if (atomic_load(&fi_mode) != mode) return 0;
  long c = atomic_fetch_add(&fi_count, 1) + 1, n = atomic_load(&fi_n);
  if (c == n || (mode != FI_ALLOC && c > n)) {
    atomic_fetch_add(&fi_hit, 1);
    return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------ allocator */

static void *fi_malloc(void *ud, size_t n) {
  (void)ud;
  if (fi_fail(FI_ALLOC) || fi_fail(FI_ALLOC_STICKY)) return NULL;
  void *p = malloc(n);
  if (p) atomic_fetch_add(&fi_live, 1);
  return p;
}
static void *fi_realloc(void *ud, void *p, size_t n) {
  (void)ud;
  if (fi_fail(FI_ALLOC) || fi_fail(FI_ALLOC_STICKY)) return NULL;
  void *q = realloc(p, n);
  if (q && !p) atomic_fetch_add(&fi_live, 1);
  return q;
}
static void fi_free(void *ud, void *p) {
  (void)ud;
  if (p) atomic_fetch_sub(&fi_live, 1);
  free(p);
}

/* ------------------------------------------------------------------ index-file layer (--wrap) */

FILE *__real_fopen(const char *path, const char *mode);
size_t __real_fwrite(const void *p, size_t size, size_t n, FILE *f);
size_t __real_fread(void *p, size_t size, size_t n, FILE *f);
int __real_fflush(FILE *f);
int __real_fsync(int fd);
int __real_rename(const char *a, const char *b);
int __real_unlink(const char *path);
int __real_remove(const char *path);
int __wrap_remove(const char *path);
FILE *__wrap_fopen(const char *path, const char *mode);
size_t __wrap_fwrite(const void *p, size_t size, size_t n, FILE *f);
size_t __wrap_fread(void *p, size_t size, size_t n, FILE *f);
int __wrap_fflush(FILE *f);
int __wrap_fsync(int fd);
int __wrap_rename(const char *a, const char *b);
int __wrap_unlink(const char *path);

FILE *__wrap_fopen(const char *path, const char *mode) {
  if (fi_fail(FI_FILE)) {
    errno = EIO;
    return NULL;
  }
  return __real_fopen(path, mode);
}
size_t __wrap_fwrite(const void *p, size_t size, size_t n, FILE *f) {
  if (fi_fail(FI_FILE)) {
    errno = EIO;
    return 0;
  }
  return __real_fwrite(p, size, n, f);
}
size_t __wrap_fread(void *p, size_t size, size_t n, FILE *f) {
  if (fi_fail(FI_FILE)) {
    errno = EIO;
    return 0;
  }
  return __real_fread(p, size, n, f);
}
int __wrap_fflush(FILE *f) {
  if (f && fi_fail(FI_FILE)) {
    errno = EIO;
    return EOF;
  }
  return __real_fflush(f);
}
int __wrap_fsync(int fd) {
  if (fi_fail(FI_FILE)) {
    errno = EIO;
    return -1;
  }
  return __real_fsync(fd);
}
int __wrap_rename(const char *a, const char *b) {
  if (fi_fail(FI_FILE)) {
    errno = EIO;
    return -1;
  }
  return __real_rename(a, b);
}
int __wrap_unlink(const char *path) {
  if (fi_fail(FI_FILE)) {
    errno = EIO;
    return -1;
  }
  return __real_unlink(path);
}

int __wrap_remove(const char *path) {
  if (fi_fail(FI_FILE)) {
    errno = EIO;
    return -1;
  }
  return __real_remove(path);
}

/* ------------------------------------------------------------------ the shim VFS */

typedef struct fi_pend {
  sqlite3_int64 off;
  int len;
  unsigned char *data;
} fi_pend;

/* Crash mode: the writes not yet synced of one file, shared by every handle open on it (as the
 * OS page cache is: another connection's read sees them; a sync of any handle makes them all
 * durable). Registered by path; a nameless (temporary) file has its own. Under fi_pend_mu. */
typedef struct fi_shared {
  struct fi_shared *next;
  char *path;
  int refs;
  fi_pend *pend;
  size_t n_pend, cap_pend;
} fi_shared;

typedef struct fi_file {
  sqlite3_file base;
  sqlite3_file *real; /* allocated right after this struct */
  int buffered;       /* crash mode: writes wait for xSync */
  fi_shared *sh;      /* buffered: the file's pending writes */
} fi_file;

static sqlite3_vfs *fi_real_vfs;
static sqlite3_vfs fi_vfs;
static sqlite3_io_methods fi_io;
static atomic_int fi_crash_mode;                  /* new files buffer their writes */
static void (*fi_sync_hook)(void);                /* crash mode: called at every sync point */
static pthread_mutex_t fi_pend_mu = PTHREAD_MUTEX_INITIALIZER;
static fi_shared *fi_shared_list;

static fi_shared *fi_shared_get(const char *path) { /* under fi_pend_mu */
  for (fi_shared *h = fi_shared_list; path && h; h = h->next)
    if (h->path && !strcmp(h->path, path)) {
      h->refs++;
      return h;
    }
  fi_shared *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  if (path && !(h->path = strdup(path))) {
    free(h);
    return NULL;
  }
  h->refs = 1;
  h->next = fi_shared_list;
  fi_shared_list = h;
  return h;
}

/* Write the file's pending writes through (under fi_pend_mu). */
static int fi_flush_locked(fi_file *f) {
  int rc = SQLITE_OK;
  fi_shared *h = f->sh;
  if (!h) return rc;
  for (size_t i = 0; i < h->n_pend; i++) {
    if (rc == SQLITE_OK) rc = f->real->pMethods->xWrite(f->real, h->pend[i].data, h->pend[i].len, h->pend[i].off);
    free(h->pend[i].data);
  }
  h->n_pend = 0;
  return rc;
}

static int fi_flush(fi_file *f) {
  pthread_mutex_lock(&fi_pend_mu);
  int rc = fi_flush_locked(f);
  pthread_mutex_unlock(&fi_pend_mu);
  return rc;
}

static int fi_close(sqlite3_file *pf) {
  fi_file *f = (fi_file *)pf;
  pthread_mutex_lock(&fi_pend_mu);
  if (f->sh && --f->sh->refs == 0) {
    fi_flush_locked(f); /* the last handle's clean close: what the OS would write back eventually */
    for (fi_shared **pp = &fi_shared_list; *pp; pp = &(*pp)->next)
      if (*pp == f->sh) {
        *pp = f->sh->next;
        break;
      }
    free(f->sh->pend);
    free(f->sh->path);
    free(f->sh);
  }
  f->sh = NULL;
  pthread_mutex_unlock(&fi_pend_mu);
  return f->real->pMethods->xClose(f->real);
}

static int fi_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off) {
  fi_file *f = (fi_file *)pf;
  if (fi_fail(FI_READ)) return SQLITE_IOERR_READ;
  pthread_mutex_lock(&fi_pend_mu);
  int rc = f->real->pMethods->xRead(f->real, buf, amt, off);
  if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) {
    pthread_mutex_unlock(&fi_pend_mu);
    return rc;
  }
  sqlite3_int64 end = 0;
  for (size_t i = 0; f->sh && i < f->sh->n_pend; i++) { /* later writes over earlier ones */
    const fi_pend *p = &f->sh->pend[i];
    sqlite3_int64 a = p->off > off ? p->off : off, b = p->off + p->len < off + amt ? p->off + p->len : off + amt;
    if (a < b) memcpy((unsigned char *)buf + (a - off), p->data + (a - p->off), (size_t)(b - a));
    if (p->off + p->len > end) end = p->off + p->len;
  }
  pthread_mutex_unlock(&fi_pend_mu);
  if (rc == SQLITE_IOERR_SHORT_READ && end >= off + amt) rc = SQLITE_OK;
  return rc;
}

static int fi_write(sqlite3_file *pf, const void *buf, int amt, sqlite3_int64 off) {
  fi_file *f = (fi_file *)pf;
  if (fi_fail(FI_WRITE)) return SQLITE_IOERR_WRITE;
  if (fi_fail(FI_FULL)) return SQLITE_FULL;
  if (!f->buffered) return f->real->pMethods->xWrite(f->real, buf, amt, off);
  unsigned char *d = malloc((size_t)amt);
  if (!d) return SQLITE_NOMEM;
  memcpy(d, buf, (size_t)amt);
  pthread_mutex_lock(&fi_pend_mu);
  fi_shared *h = f->sh;
  if (h->n_pend == h->cap_pend) {
    size_t nc = h->cap_pend ? 2 * h->cap_pend : 16;
    fi_pend *v = realloc(h->pend, nc * sizeof *v);
    if (!v) {
      pthread_mutex_unlock(&fi_pend_mu);
      free(d);
      return SQLITE_NOMEM;
    }
    h->pend = v;
    h->cap_pend = nc;
  }
  h->pend[h->n_pend++] = (fi_pend){off, amt, d};
  pthread_mutex_unlock(&fi_pend_mu);
  return SQLITE_OK;
}

static int fi_truncate(sqlite3_file *pf, sqlite3_int64 size) {
  fi_file *f = (fi_file *)pf;
  int rc = fi_flush(f);
  return rc ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int fi_sync(sqlite3_file *pf, int flags) {
  fi_file *f = (fi_file *)pf;
  if (fi_fail(FI_SYNC)) return SQLITE_IOERR_FSYNC;
  if (f->buffered && fi_sync_hook) fi_sync_hook(); /* the crash point: before this sync's data lands */
  int rc = fi_flush(f);
  return rc ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int fi_size(sqlite3_file *pf, sqlite3_int64 *size) {
  fi_file *f = (fi_file *)pf;
  pthread_mutex_lock(&fi_pend_mu);
  int rc = f->real->pMethods->xFileSize(f->real, size);
  for (size_t i = 0; rc == SQLITE_OK && f->sh && i < f->sh->n_pend; i++)
    if (f->sh->pend[i].off + f->sh->pend[i].len > *size) *size = f->sh->pend[i].off + f->sh->pend[i].len;
  pthread_mutex_unlock(&fi_pend_mu);
  return rc;
}

#define FI_FWD(name, proto, args)                                                                                  \
  static int fi_##name proto {                                                                                    \
    fi_file *f = (fi_file *)pf;                                                                                   \
    return f->real->pMethods->x##name args;                                                                       \
  }
FI_FWD(Lock, (sqlite3_file * pf, int l), (f->real, l))
FI_FWD(Unlock, (sqlite3_file * pf, int l), (f->real, l))
FI_FWD(CheckReservedLock, (sqlite3_file * pf, int *r), (f->real, r))
FI_FWD(FileControl, (sqlite3_file * pf, int op, void *arg), (f->real, op, arg))
FI_FWD(SectorSize, (sqlite3_file * pf), (f->real))
FI_FWD(DeviceCharacteristics, (sqlite3_file * pf), (f->real))
FI_FWD(ShmMap, (sqlite3_file * pf, int pg, int sz, int ext, void volatile **pp), (f->real, pg, sz, ext, pp))
FI_FWD(ShmLock, (sqlite3_file * pf, int off, int n, int fl), (f->real, off, n, fl))
FI_FWD(ShmUnmap, (sqlite3_file * pf, int del), (f->real, del))
static void fi_ShmBarrier(sqlite3_file *pf) {
  fi_file *f = (fi_file *)pf;
  f->real->pMethods->xShmBarrier(f->real);
}

static int fi_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *out_flags) {
  (void)vfs;
  fi_file *f = (fi_file *)pf;
  memset(f, 0, sizeof *f);
  f->real = (sqlite3_file *)(f + 1);
  int rc = fi_real_vfs->xOpen(fi_real_vfs, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    f->base.pMethods = NULL;
    return rc;
  }
  f->buffered = atomic_load(&fi_crash_mode);
  if (f->buffered) {
    pthread_mutex_lock(&fi_pend_mu);
    f->sh = fi_shared_get(name);
    pthread_mutex_unlock(&fi_pend_mu);
    if (!f->sh) {
      f->real->pMethods->xClose(f->real);
      f->base.pMethods = NULL;
      return SQLITE_NOMEM;
    }
  }
  f->base.pMethods = &fi_io;
  return SQLITE_OK;
}

static int fi_delete(sqlite3_vfs *v, const char *n, int sync) { (void)v; return fi_real_vfs->xDelete(fi_real_vfs, n, sync); }
static int fi_access(sqlite3_vfs *v, const char *n, int fl, int *r) { (void)v; return fi_real_vfs->xAccess(fi_real_vfs, n, fl, r); }
static int fi_fullpath(sqlite3_vfs *v, const char *n, int no, char *out) {
  (void)v;
  return fi_real_vfs->xFullPathname(fi_real_vfs, n, no, out);
}
static void *fi_dlopen(sqlite3_vfs *v, const char *n) { (void)v; return fi_real_vfs->xDlOpen(fi_real_vfs, n); }
static void fi_dlerror(sqlite3_vfs *v, int n, char *m) { (void)v; fi_real_vfs->xDlError(fi_real_vfs, n, m); }
static void (*fi_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return fi_real_vfs->xDlSym(fi_real_vfs, h, s); }
static void fi_dlclose(sqlite3_vfs *v, void *h) { (void)v; fi_real_vfs->xDlClose(fi_real_vfs, h); }
static int fi_random(sqlite3_vfs *v, int n, char *o) { (void)v; return fi_real_vfs->xRandomness(fi_real_vfs, n, o); }
static int fi_sleep(sqlite3_vfs *v, int us) { (void)v; return fi_real_vfs->xSleep(fi_real_vfs, us); }
static int fi_time(sqlite3_vfs *v, double *t) { (void)v; return fi_real_vfs->xCurrentTime(fi_real_vfs, t); }
static int fi_lasterr(sqlite3_vfs *v, int n, char *m) { (void)v; return fi_real_vfs->xGetLastError(fi_real_vfs, n, m); }
static int fi_time64(sqlite3_vfs *v, sqlite3_int64 *t) {
  (void)v;
  return fi_real_vfs->xCurrentTimeInt64(fi_real_vfs, t);
}

/* Registers the shim as the default VFS (once per process). */
static void fi_vfs_install(void) {
  if (fi_real_vfs) return;
  fi_real_vfs = sqlite3_vfs_find(NULL);
  fi_io = (sqlite3_io_methods){2, fi_close, fi_read, fi_write, fi_truncate, fi_sync, fi_size, fi_Lock,
                               fi_Unlock, fi_CheckReservedLock, fi_FileControl, fi_SectorSize,
                               fi_DeviceCharacteristics, fi_ShmMap, fi_ShmLock, fi_ShmBarrier, fi_ShmUnmap,
                               NULL, NULL}; /* version 2: no xFetch, so every read goes through fi_read */
  fi_vfs = (sqlite3_vfs){2, (int)sizeof(fi_file) + fi_real_vfs->szOsFile, fi_real_vfs->mxPathname, NULL,
                         "quiver-fault", NULL, fi_open, fi_delete, fi_access, fi_fullpath, fi_dlopen,
                         fi_dlerror, fi_dlsym, fi_dlclose, fi_random, fi_sleep, fi_time, fi_lasterr, fi_time64,
                         NULL, NULL, NULL};
  sqlite3_vfs_register(&fi_vfs, 1);
}

/* ------------------------------------------------------------------ directories */

static void fi_rmrf(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[1024];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) fi_rmrf(p);
    else __real_unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

/* Copies the regular files of src (not SQLite's -shm, rebuilt on open) into a fresh dst. */
static int fi_copydir(const char *src, const char *dst) {
  fi_rmrf(dst);
  if (mkdir(dst, 0700) != 0) return -1;
  DIR *d = opendir(src);
  if (!d) return -1;
  struct dirent *e;
  char a[1024], b[1024], buf[65536];
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    size_t nl = strlen(e->d_name);
    if (e->d_name[0] == '.' || (nl > 4 && !strcmp(e->d_name + nl - 4, "-shm"))) continue;
    snprintf(a, sizeof a, "%s/%s", src, e->d_name);
    snprintf(b, sizeof b, "%s/%s", dst, e->d_name);
    struct stat st;
    if (lstat(a, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    int in = open(a, O_RDONLY), out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
      if (write(out, buf, (size_t)n) != n) rc = -1;
    if (in < 0 || out < 0) rc = -1;
    if (in >= 0) close(in);
    if (out >= 0) close(out);
  }
  closedir(d);
  return rc;
}

/* A scratch directory on tmpfs when there is one (fsync is what makes many opens slow). */
static void fi_tmpdir(char *out, size_t n, const char *tag) {
  snprintf(out, n, "%s/qv_%s_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", tag);
  if (!mkdtemp(out)) out[0] = 0;
}

#endif /* QV_TEST_FAULTLIB_H */
