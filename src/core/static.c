/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * static.c -- snapshot files: a collection exported into one self-describing, checksummed,
 * versioned file (qv_collection_export), and the read-only reader that memory-maps it
 * (qv_static_open). The format is docs/FORMAT.md ("Snapshot files").
 *
 * Opening reads nothing proportional to the file's size: it maps the file (PROT_READ,
 * MAP_SHARED: processes that open the same file share its pages in the page cache), checks
 * the header and the section table (their own checksums, every offset and length against the
 * file's size and against the counts in the header), checks the small INFO section's
 * checksum, and attaches the index to its section in place (the kind's open_mapped(), O(1)).
 * The checksums of the big sections are checked by qv_static_verify() (or at open with
 * QV_STATIC_VERIFY); until then every read of them is bounds-checked, so a damaged file gives
 * an error or wrong answers, never a crash. A kind without open_mapped would be stored as a
 * whole checkpoint file and loaded, i.e. copied, on first use (hnsw snapshots written before
 * its mapped layout, index/hnsw/mapped.c, are such files and still open).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "col_int.h"
#include "dist.h"
#include "filter.h"
#include "index.h"
#include "meta.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "snapshot files are little-endian");

#define SNAP_MAGIC "QVSTATIC"
#define SNAP_VERSION 1u
#define SNAP_HEAD 128u
#define SNAP_ENTRY 32u
#define SNAP_FLAG_CKPT 1u /* the INDX section is a whole checkpoint file, loaded on first use */

enum { S_INFO, S_IDOF, S_IDST, S_IDHT, S_MTOF, S_MTST, S_DCOF, S_DCST, S_INDX, S_COUNT };
static const char snap_tags[S_COUNT][5] = {"INFO", "IDOF", "IDST", "IDHT", "MTOF", "MTST", "DCOF", "DCST", "INDX"};

static uint32_t tag_of(int i) {
  const char *t = snap_tags[i];
  return (uint32_t)(unsigned char)t[0] | (uint32_t)(unsigned char)t[1] << 8 | (uint32_t)(unsigned char)t[2] << 16 |
         (uint32_t)(unsigned char)t[3] << 24;
}

static uint32_t crc(uint32_t c, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n) { /* crc32_z takes z_size_t; chunk anyway for 32-bit builds */
    size_t m = n > (1u << 30) ? (1u << 30) : n;
    c = (uint32_t)crc32_z(c, b, (z_size_t)m);
    b += m;
    n -= m;
  }
  return c;
}

static uint64_t a64(uint64_t x) { return (x + 63) / 64 * 64; }

static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

typedef struct snap_sec {
  uint64_t off, len;
  uint32_t crc;
} snap_sec;

/* ------------------------------------------------------------------ export */

typedef struct snap_writer {
  FILE *f;
  uint64_t pos;
  uint32_t crc;
  int failed;
} snap_writer;

static void w_put(void *ctx, const void *p, size_t n) {
  snap_writer *w = ctx;
  if (w->failed || n == 0) return;
  if (fwrite(p, 1, n, w->f) != n) w->failed = 1;
  w->crc = crc(w->crc, p, n);
  w->pos += n;
}

static void w_pad(snap_writer *w) {
  static const unsigned char zero[64];
  uint64_t to = a64(w->pos);
  if (to > w->pos) {
    size_t n = (size_t)(to - w->pos);
    if (fwrite(zero, 1, n, w->f) != n) w->failed = 1;
    w->pos = to;
  }
}

static void w_begin(snap_writer *w, snap_sec *s) {
  w_pad(w);
  s->off = w->pos;
  w->crc = 0;
}

static void w_end(snap_writer *w, snap_sec *s) {
  s->len = w->pos - s->off;
  s->crc = w->crc;
}

/* One string table: offsets (n + 1 u64) then the bytes, each string with its NUL; NULL = empty
 * (s NULL: every one). */
static void w_strings(snap_writer *w, snap_sec *off_sec, snap_sec *str_sec, const char *const *s, size_t n) {
  uint64_t o = 0;
  w_begin(w, off_sec);
  w_put(w, &o, 8);
  for (size_t i = 0; i < n; i++) {
    o += s && s[i] ? strlen(s[i]) + 1 : 0;
    w_put(w, &o, 8);
  }
  w_end(w, off_sec);
  w_begin(w, str_sec);
  for (size_t i = 0; i < n; i++)
    if (s && s[i]) w_put(w, s[i], strlen(s[i]) + 1);
  w_end(w, str_sec);
}

static void put_u32(unsigned char *b, uint32_t v) { memcpy(b, &v, 4); }
static void put_u64(unsigned char *b, uint64_t v) { memcpy(b, &v, 8); }

/* Copy a file's bytes into the writer. */
static qv_status w_file(snap_writer *w, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return QV_IO;
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) w_put(w, buf, n);
  int err = ferror(f);
  fclose(f);
  return err ? QV_IO : QV_OK;
}

static qv_status export_locked(qv_collection *c, const char *path) {
  qv_db *db = c->db;
  const qv_mem *mem = &db->mem;
  size_t n = c->n_slots;
  qv_status rc = QV_OK;
  char **metas = qv__calloc(mem, n ? n : 1, sizeof *metas);
  const char **ids = qv__calloc(mem, n ? n : 1, sizeof *ids);
  uint32_t *tab = NULL;
  char *tmp = NULL, *ixtmp = NULL;
  FILE *f = NULL;
  if (!metas || !ids) {
    qv__free(mem, metas);
    qv__free(mem, ids);
    return QV_NOMEM;
  }
  for (size_t s = 0; s < n; s++) {
    ids[s] = qv__col_id(c, (uint32_t)s);
    if (ids[s] && c->metaref[s] && !(metas[s] = qv__meta_packed_json(mem, qv__col_meta(c, (uint32_t)s)))) {
      rc = QV_NOMEM;
      goto out;
    }
  }
  size_t tsize = 64;
  while (tsize < 2 * (c->count + 1)) tsize *= 2;
  tab = qv__malloc(mem, tsize * sizeof *tab);
  size_t plen = strlen(path);
  tmp = qv__malloc(mem, plen + 8);
  ixtmp = qv__malloc(mem, plen + 8);
  if (!tab || !tmp || !ixtmp) {
    rc = QV_NOMEM;
    goto out;
  }
  memset(tab, 0xff, tsize * sizeof *tab);
  for (size_t s = 0; s < n; s++) {
    if (!ids[s]) continue;
    size_t h = (size_t)fnv1a(ids[s], strlen(ids[s])) & (tsize - 1);
    while (tab[h] != UINT32_MAX) h = (h + 1) & (tsize - 1);
    tab[h] = (uint32_t)s;
  }
  snprintf(tmp, plen + 8, "%s.tmp", path);
  snprintf(ixtmp, plen + 8, "%s.ix", path);
  if (!(f = fopen(tmp, "wb"))) {
    rc = qv__err(db, QV_IO, "export: cannot create %s: %s", tmp, strerror(errno));
    goto out;
  }
  snap_writer w = {.f = f};
  snap_sec sec[S_COUNT];
  memset(sec, 0, sizeof sec);
  unsigned char head[SNAP_HEAD + S_COUNT * SNAP_ENTRY];
  memset(head, 0, sizeof head);
  if (fwrite(head, 1, sizeof head, f) != sizeof head) w.failed = 1;
  w.pos = sizeof head;
  /* INFO: name, params, metadata, NUL-terminated each */
  w_begin(&w, &sec[S_INFO]);
  w_put(&w, c->name, strlen(c->name) + 1);
  w_put(&w, c->params, strlen(c->params) + 1);
  w_put(&w, c->metadata_json ? c->metadata_json : "", c->metadata_json ? strlen(c->metadata_json) + 1 : 1);
  w_end(&w, &sec[S_INFO]);
  w_strings(&w, &sec[S_IDOF], &sec[S_IDST], ids, n);
  w_begin(&w, &sec[S_IDHT]);
  w_put(&w, tab, tsize * sizeof *tab);
  w_end(&w, &sec[S_IDHT]);
  w_strings(&w, &sec[S_MTOF], &sec[S_MTST], (const char *const *)metas, n);
  w_strings(&w, &sec[S_DCOF], &sec[S_DCST], (const char *const *)c->docs, n);
  uint32_t pver = 0, flags = 0;
  w_begin(&w, &sec[S_INDX]);
  if (c->ix && c->vt->serialize) {
    rc = c->vt->serialize(c->ix, w_put, &w, &pver);
  } else if (c->ix) { /* a whole checkpoint file */
    flags |= SNAP_FLAG_CKPT;
    rc = c->vt->save_standalone ? c->vt->save_standalone(c->ix, ixtmp, c->last_seq)
                                : c->vt->save(c->ix, ixtmp, c->last_seq);
    if (rc == QV_OK) rc = w_file(&w, ixtmp);
    unlink(ixtmp);
  }
  w_end(&w, &sec[S_INDX]);
  if (rc) {
    qv__err(db, rc, "export: writing the %s index failed", c->vt->name);
    goto out;
  }
  /* header and section table */
  memcpy(head, SNAP_MAGIC, 8);
  put_u32(head + 8, SNAP_VERSION);
  put_u32(head + 12, SNAP_HEAD);
  put_u32(head + 16, QV__PUBDIM(c));
  put_u32(head + 20, (uint32_t)c->metric);
  put_u32(head + 24, c->dim);
  put_u32(head + 28, S_COUNT);
  put_u64(head + 32, c->count);
  put_u64(head + 40, n);
  put_u64(head + 48, w.pos);
  put_u32(head + 56, pver);
  put_u32(head + 60, flags);
  snprintf((char *)head + 64, 32, "%s", c->vt->name);
  for (int i = 0; i < S_COUNT; i++) {
    unsigned char *e = head + SNAP_HEAD + (size_t)i * SNAP_ENTRY;
    put_u32(e, tag_of(i));
    put_u64(e + 8, sec[i].off);
    put_u64(e + 16, sec[i].len);
    put_u32(e + 24, sec[i].crc);
  }
  put_u32(head + 96, crc(0, head + SNAP_HEAD, S_COUNT * SNAP_ENTRY));
  put_u32(head + 124, crc(0, head, 124));
  if (!w.failed && (fseek(f, 0, SEEK_SET) != 0 || fwrite(head, 1, sizeof head, f) != sizeof head)) w.failed = 1;
  if (!w.failed && (fflush(f) != 0 || fsync(fileno(f)) != 0)) w.failed = 1;
  if (fclose(f) != 0) w.failed = 1;
  f = NULL;
  if (w.failed || rename(tmp, path) != 0) {
    rc = qv__err(db, QV_IO, "export: writing %s failed: %s", path, strerror(errno));
    goto out;
  }
out:
  if (f) fclose(f);
  if (rc && tmp) unlink(tmp);
  for (size_t s = 0; s < n; s++) qv__free(mem, metas[s]);
  qv__free(mem, metas);
  qv__free(mem, ids);
  qv__free(mem, tab);
  qv__free(mem, tmp);
  qv__free(mem, ixtmp);
  return rc;
}

qv_status qv_collection_export(qv_collection *c, const char *path) {
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv__err_clear(c->db);
  if (!path || !*path) return qv__err(c->db, QV_INVALID, "path: must not be empty");
  if ((rc = qv__col_ready(c))) return rc;
  pthread_mutex_lock(&c->db->write_mu);
  pthread_rwlock_rdlock(&c->lock);
  rc = atomic_load(&c->behind) ? qv__err(c->db, QV_ERROR, "collection %s: a write is still entering the index; retry", c->name)
                               : qv__col_ensure_index(c);
  if (rc == QV_OK) rc = export_locked(c, path);
  pthread_rwlock_unlock(&c->lock);
  pthread_mutex_unlock(&c->db->write_mu);
  if (rc && !*qv_db_errmsg(c->db)) qv__err(c->db, rc, "export: %s", qv_status_str(rc));
  return rc;
}

/* ------------------------------------------------------------------ reader */

struct qv_static {
  const qv_mem *mem;
  const unsigned char *base;
  uint64_t size;
  uint32_t dim, row, flags, pver;
  qv_metric metric;
  uint64_t count, n_slots;
  char kind[33];
  const char *name, *params, *metadata;
  snap_sec sec[S_COUNT];
  const qv_index_vt *vt;
  qv_index *ix;           /* NULL until first use for checkpoint-stored kinds */
  pthread_once_t once;
  qv_status load_rc;
  const qv_kernels *kern;
  pthread_mutex_t err_mu;
  char err[512];
};

static qv_status serr(qv_static *s, qv_status rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static qv_status serr(qv_static *s, qv_status rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&s->err_mu);
  vsnprintf(s->err, sizeof s->err, fmt, ap);
  pthread_mutex_unlock(&s->err_mu);
  va_end(ap);
  return rc;
}

static uint32_t get_u32(const unsigned char *b) {
  uint32_t v;
  memcpy(&v, b, 4);
  return v;
}

static uint64_t get_u64(const unsigned char *b) {
  uint64_t v;
  memcpy(&v, b, 8);
  return v;
}

/* String i of a table (offsets section o, bytes section t): NULL if empty or damaged; *len without the NUL. */
static const char *str_at(const qv_static *s, int o, int t, uint64_t i, size_t *len) {
  if (i >= s->n_slots) return NULL;
  const unsigned char *offs = s->base + s->sec[o].off;
  uint64_t a = get_u64(offs + i * 8), b = get_u64(offs + (i + 1) * 8);
  if (a >= b || b > s->sec[t].len) return NULL;
  const char *p = (const char *)s->base + s->sec[t].off + a;
  if (p[b - a - 1] != '\0') return NULL;
  if (len) *len = strnlen(p, (size_t)(b - a - 1));
  return p;
}

static const char *id_at(const qv_static *s, uint64_t slot, size_t *len) { return str_at(s, S_IDOF, S_IDST, slot, len); }

static void st_fail(char *errbuf, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void st_fail(char *errbuf, size_t errlen, const char *path, const char *fmt, ...) {
  if (!errbuf || !errlen) return;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(errbuf, errlen, "%s: %s", path, msg);
}

/* Header and section table: bounded work, whatever the file's size. */
static qv_status check_layout(qv_static *s, const char *path, char *eb, size_t el) {
  const unsigned char *h = s->base;
  if (s->size < SNAP_HEAD || memcmp(h, SNAP_MAGIC, 8) != 0) {
    st_fail(eb, el, path, "not a quiver snapshot file (bad magic)");
    return QV_CORRUPT;
  }
  if (get_u32(h + 124) != crc(0, h, 124)) {
    st_fail(eb, el, path, "header checksum mismatch (file damaged)");
    return QV_CORRUPT;
  }
  uint32_t ver = get_u32(h + 8);
  if (ver != SNAP_VERSION) {
    st_fail(eb, el, path, "unsupported snapshot format version %u (this library reads version %u)", ver, SNAP_VERSION);
    return QV_CORRUPT;
  }
  uint64_t flen = get_u64(h + 48);
  if (flen != s->size) {
    st_fail(eb, el, path, "file is %llu bytes, its header says %llu (truncated or extended)",
            (unsigned long long)s->size, (unsigned long long)flen);
    return QV_CORRUPT;
  }
  s->dim = get_u32(h + 16);
  s->metric = (qv_metric)get_u32(h + 20);
  s->row = get_u32(h + 24);
  s->count = get_u64(h + 32);
  s->n_slots = get_u64(h + 40);
  s->pver = get_u32(h + 56);
  s->flags = get_u32(h + 60);
  memcpy(s->kind, h + 64, 32);
  s->kind[32] = '\0';
  if (get_u32(h + 12) != SNAP_HEAD || get_u32(h + 28) != S_COUNT || (unsigned)s->metric > QV_METRIC_HAMMING ||
      s->dim == 0 || s->dim > 65536 || s->row != (s->metric == QV_METRIC_HAMMING ? (s->dim + 31) / 32 : s->dim) ||
      (s->metric == QV_METRIC_HAMMING && s->dim % 8) || s->count > s->n_slots || s->n_slots > UINT32_MAX ||
      (s->flags & ~SNAP_FLAG_CKPT)) {
    st_fail(eb, el, path, "header fields out of range (file damaged)");
    return QV_CORRUPT;
  }
  if (s->size < SNAP_HEAD + S_COUNT * SNAP_ENTRY ||
      get_u32(h + 96) != crc(0, h + SNAP_HEAD, S_COUNT * SNAP_ENTRY)) {
    st_fail(eb, el, path, "section table checksum mismatch (file damaged)");
    return QV_CORRUPT;
  }
  for (int i = 0; i < S_COUNT; i++) {
    const unsigned char *e = h + SNAP_HEAD + (size_t)i * SNAP_ENTRY;
    snap_sec *x = &s->sec[i];
    x->off = get_u64(e + 8);
    x->len = get_u64(e + 16);
    x->crc = get_u32(e + 24);
    if (get_u32(e) != tag_of(i) || x->off % 64 || x->off < SNAP_HEAD + S_COUNT * SNAP_ENTRY || x->off > s->size ||
        x->len > s->size - x->off) {
      st_fail(eb, el, path, "section %s out of the file's bounds (file damaged)", snap_tags[i]);
      return QV_CORRUPT;
    }
  }
  uint64_t offs = (s->n_slots + 1) * 8;
  uint64_t tl = s->sec[S_IDHT].len / 4;
  if (s->sec[S_IDOF].len != offs || s->sec[S_MTOF].len != offs || s->sec[S_DCOF].len != offs || tl < 64 ||
      (tl & (tl - 1)) || s->sec[S_IDHT].len % 4 || s->sec[S_INFO].len > (1u << 24)) {
    st_fail(eb, el, path, "section sizes do not match the header (file damaged)");
    return QV_CORRUPT;
  }
  /* INFO is small: checked now, and its three strings located */
  const snap_sec *in = &s->sec[S_INFO];
  if (crc(0, s->base + in->off, in->len) != in->crc) {
    st_fail(eb, el, path, "section INFO checksum mismatch (file damaged)");
    return QV_CORRUPT;
  }
  const char *p = (const char *)s->base + in->off, *end = p + in->len;
  const char *str[3];
  for (int i = 0; i < 3; i++) {
    const char *z = p < end ? memchr(p, 0, (size_t)(end - p)) : NULL;
    if (!z) {
      st_fail(eb, el, path, "section INFO malformed (file damaged)");
      return QV_CORRUPT;
    }
    str[i] = p;
    p = z + 1;
  }
  s->name = str[0];
  s->params = str[1];
  s->metadata = *str[2] ? str[2] : NULL;
  return QV_OK;
}

static void index_params(const qv_static *s, qv_index_params *p) {
  memset(p, 0, sizeof *p);
  p->mem = s->mem;
  p->metric = s->metric;
  p->dim = s->row;
  p->params_json = s->params;
  p->n_threads = 1;
}

/* Checkpoint-stored kinds: load the embedded checkpoint through an anonymous memory file. */
static __thread qv_static *t_loading;
static void load_once(void) {
  qv_static *s = t_loading;
  const snap_sec *x = &s->sec[S_INDX];
  int fd = memfd_create("quiver-static-index", MFD_CLOEXEC);
  if (fd < 0) {
    s->load_rc = QV_IO;
    return;
  }
  const unsigned char *p = s->base + x->off;
  uint64_t left = x->len;
  while (left) {
    ssize_t w = write(fd, p, left > (1u << 30) ? (1u << 30) : (size_t)left);
    if (w <= 0) {
      close(fd);
      s->load_rc = QV_IO;
      return;
    }
    p += w;
    left -= (uint64_t)w;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  qv_index_params ip;
  index_params(s, &ip);
  uint64_t seq;
  s->load_rc = s->vt->load(&ip, path, &s->ix, &seq);
  close(fd);
}

static qv_status need_index(qv_static *s) {
  if (s->ix) return QV_OK;
  if (!(s->flags & SNAP_FLAG_CKPT)) return serr(s, QV_CORRUPT, "index section unusable");
  /* pthread_once takes no argument: the thread-local hands the handle over */
  t_loading = s;
  pthread_once(&s->once, load_once);
  t_loading = NULL;
  if (s->load_rc) return serr(s, s->load_rc, "the %s index in the snapshot cannot be loaded (%s)", s->kind,
                              qv_status_str(s->load_rc));
  return QV_OK;
}

qv_status qv_static_open(const char *path, unsigned flags, qv_static **out, char *errbuf, size_t errlen) {
  if (errbuf && errlen) errbuf[0] = '\0';
  if (!out) return QV_MISUSE;
  *out = NULL;
  if (!path || !*path) {
    st_fail(errbuf, errlen, "(null)", "path: must not be empty");
    return QV_INVALID;
  }
  if (flags & ~(unsigned)QV_STATIC_VERIFY) {
    st_fail(errbuf, errlen, path, "flags: unknown bits 0x%x", flags & ~(unsigned)QV_STATIC_VERIFY);
    return QV_INVALID;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    st_fail(errbuf, errlen, path, "%s", strerror(errno));
    return errno == ENOENT ? QV_NOTFOUND : QV_IO;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    st_fail(errbuf, errlen, path, "not a regular file");
    close(fd);
    return QV_IO;
  }
  if ((uint64_t)st.st_size < SNAP_HEAD) {
    st_fail(errbuf, errlen, path, "file is %lld bytes: too short for a snapshot (truncated?)", (long long)st.st_size);
    close(fd);
    return QV_CORRUPT;
  }
  void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED) {
    st_fail(errbuf, errlen, path, "mmap: %s", strerror(errno));
    return QV_IO;
  }
  const qv_mem *mem = qv__mem_default();
  qv_static *s = qv__calloc(mem, 1, sizeof *s);
  if (!s) {
    munmap(m, (size_t)st.st_size);
    return QV_NOMEM;
  }
  s->mem = mem;
  s->base = m;
  s->size = (uint64_t)st.st_size;
  s->kern = qv__kernels();
  pthread_mutex_init(&s->err_mu, NULL);
  s->once = (pthread_once_t)PTHREAD_ONCE_INIT;
  qv_status rc = check_layout(s, path, errbuf, errlen);
  if (rc == QV_OK && !(s->vt = qv__index_find(s->kind))) {
    st_fail(errbuf, errlen, path, "index kind \"%s\" is not built into this library", s->kind);
    rc = QV_CORRUPT;
  }
  if (rc == QV_OK && !(s->flags & SNAP_FLAG_CKPT)) {
    qv_index_params ip;
    index_params(s, &ip);
    rc = s->vt->open_mapped ? s->vt->open_mapped(&ip, s->pver, s->base + s->sec[S_INDX].off, s->sec[S_INDX].len, &s->ix)
                            : QV_CORRUPT;
    if (rc) st_fail(errbuf, errlen, path, "the %s index section is damaged or of another version (%s)", s->kind,
                    qv_status_str(rc));
  }
  if (rc == QV_OK && (flags & QV_STATIC_VERIFY) && (rc = qv_static_verify(s)) != QV_OK)
    st_fail(errbuf, errlen, path, "%s", s->err);
  if (rc) {
    qv_static_close(s);
    return rc;
  }
  *out = s;
  return QV_OK;
}

void qv_static_close(qv_static *s) {
  if (!s) return;
  if (s->ix) s->vt->destroy(s->ix);
  if (s->base) munmap((void *)(uintptr_t)s->base, (size_t)s->size);
  pthread_mutex_destroy(&s->err_mu);
  qv__free(s->mem, s);
}

const char *qv_static_errmsg(const qv_static *s) { return s ? s->err : "no handle"; }

qv_status qv_static_verify(qv_static *s) {
  if (!s) return QV_MISUSE;
  for (int i = 0; i < S_COUNT; i++)
    if (crc(0, s->base + s->sec[i].off, s->sec[i].len) != s->sec[i].crc)
      return serr(s, QV_CORRUPT, "section %s: checksum mismatch (file damaged)", snap_tags[i]);
  /* the string tables' offsets: non-decreasing, inside their sections */
  static const int tables[3][2] = {{S_IDOF, S_IDST}, {S_MTOF, S_MTST}, {S_DCOF, S_DCST}};
  for (int t = 0; t < 3; t++) {
    const unsigned char *o = s->base + s->sec[tables[t][0]].off;
    uint64_t prev = 0;
    for (uint64_t i = 0; i <= s->n_slots; i++) {
      uint64_t v = get_u64(o + i * 8);
      if (v < prev || v > s->sec[tables[t][1]].len) return serr(s, QV_CORRUPT, "section %s: offsets out of order", snap_tags[tables[t][0]]);
      prev = v;
    }
  }
  return QV_OK;
}

qv_status qv_static_info(qv_static *s, qv_collection_info *out) {
  if (!s || !out) return QV_MISUSE;
  qv_collection_info in;
  memset(&in, 0, sizeof in);
  in.name = strdup(s->name);
  in.uuid = strdup("");
  in.metadata_json = s->metadata ? strdup(s->metadata) : NULL;
  in.dim = s->dim;
  in.metric = s->metric;
  in.index = strdup(s->kind);
  in.params_json = strdup(s->params);
  in.count = s->count;
  if (!in.name || !in.uuid || (s->metadata && !in.metadata_json) || !in.index || !in.params_json) {
    qv_collection_info_free(&in);
    return QV_NOMEM;
  }
  qv__struct_out(out, &in, sizeof in, QV__BASE_COLLECTION_INFO);
  return QV_OK;
}

/* A record's metadata parsed (NULL if none or damaged); the caller frees it. */
static qv_meta *meta_of(const qv_static *s, uint64_t slot) {
  const char *j = str_at(s, S_MTOF, S_MTST, slot, NULL);
  qv_meta *m = NULL;
  char err[64];
  if (j && qv__meta_parse(s->mem, j, 0, &m, err, sizeof err) != QV_OK) m = NULL;
  return m;
}

static int record_matches(const qv_static *s, const qv_filter *f, uint64_t slot) {
  if (!id_at(s, slot, NULL)) return 0;
  if (!f) return 1;
  qv_meta *m = meta_of(s, slot);
  int ok = qv__filter_match(f, m, str_at(s, S_DCOF, S_DCST, slot, NULL));
  qv__meta_free(s->mem, m);
  return ok;
}

typedef struct st_pred {
  const qv_static *s;
  const qv_filter *f;
} st_pred;

static int st_slot_pred(void *ctx, uint32_t slot) {
  const st_pred *p = ctx;
  return record_matches(p->s, p->f, slot);
}

/* Copy the requested fields of slot into hit i of r. */
static qv_status fill(qv_static *s, qv_results *r, size_t i, uint32_t slot, float dist) {
  size_t len;
  const char *id = id_at(s, slot, &len);
  if (!id) return serr(s, QV_CORRUPT, "record at slot %u has no id (file damaged)", slot);
  if (!(r->ids[i] = qv__strndup(s->mem, id, len))) return QV_NOMEM;
  r->dists[i] = (r->include & QV_INCLUDE_DISTANCES) ? dist : 0.0f;
  if (r->embs) {
    const float *v = s->vt->vector(s->ix, slot);
    if (v) memcpy(r->embs + (size_t)i * r->dim, v, (size_t)r->dim * sizeof(float));
  }
  const char *m = str_at(s, S_MTOF, S_MTST, slot, &len);
  if (r->metas && m && !(r->metas[i] = qv__strndup(s->mem, m, len))) return QV_NOMEM;
  const char *d = str_at(s, S_DCOF, S_DCST, slot, &len);
  if (r->docs && d && !(r->docs[i] = qv__strndup(s->mem, d, len))) return QV_NOMEM;
  return QV_OK;
}

static qv_status st_parse_filter(qv_static *s, const char *where, const char *wdoc, qv_filter **f) {
  char err[512];
  qv_status rc = qv__filter_parse(s->mem, where, wdoc, f, err, sizeof err);
  return rc ? serr(s, rc, "%s", err) : QV_OK;
}

/* queries: nq rows of s->row words, already prepared (cosine: unit length). */
static qv_status st_query(qv_static *s, const float *qs, size_t nq, size_t k, const qv_query_opts *o, qv_results **out) {
  qv_filter *f = NULL;
  qv_status rc = st_parse_filter(s, o->where_json, o->where_document_json, &f);
  if (rc) return rc;
  if ((rc = need_index(s))) {
    qv__filter_free(s->mem, f);
    return rc;
  }
  if (o->search_params_json) { /* the kind's runtime parameters for this call, as on a collection */
    double vals[QV_MAX_PARAMS];
    char perr[256];
    if (qv__params_resolve(s->vt->params, s->vt->name, o->search_params_json, NULL, 1, vals, perr, sizeof perr)) {
      qv__filter_free(s->mem, f);
      return serr(s, QV_INVALID, "search_params_json: %s", perr);
    }
  }
  if (k > s->count) k = s->count ? s->count : 1;
  qv_hit *hits = qv__malloc(s->mem, nq * k * sizeof *hits);
  size_t *counts = qv__calloc(s->mem, nq, sizeof *counts);
  qv_results *r = NULL;
  if (!hits || !counts) rc = QV_NOMEM;
  st_pred pc = {s, f};
  for (size_t q = 0; q < nq && rc == QV_OK && s->count; q++) {
    qv_search_req req = {qs + q * s->row, k, o->ef_search, f ? st_slot_pred : NULL, &pc, o->search_params_json};
    rc = s->vt->search(s->ix, &req, hits + q * k, &counts[q]);
    if (rc) serr(s, rc, "search failed");
  }
  if (rc == QV_OK && !(r = qv__results_new(s->mem, nq, counts, s->row, o->include))) rc = QV_NOMEM;
  for (size_t q = 0; q < nq && rc == QV_OK; q++)
    for (size_t i = 0; i < counts[q] && rc == QV_OK; i++)
      rc = fill(s, r, r->off[q] + i, hits[q * k + i].slot, hits[q * k + i].dist);
  qv__free(s->mem, hits);
  qv__free(s->mem, counts);
  qv__filter_free(s->mem, f);
  if (rc) {
    qv_results_free(r);
    return rc;
  }
  *out = r;
  return QV_OK;
}

static qv_status st_query_common(qv_static *s, size_t nq, size_t k, const qv_query_opts *opts, qv_query_opts *o) {
  qv_query_opts_init(o);
  if (opts) qv__struct_in(o, sizeof *o, opts, QV__BASE_QUERY_OPTS);
  if (k == 0) return serr(s, QV_INVALID, "n_results: must be at least 1");
  if (nq == 0) return serr(s, QV_INVALID, "query_embeddings: at least one query is required");
  if (o->include & ~0xFu) return serr(s, QV_INVALID, "include: unknown bits 0x%x", o->include & ~0xFu);
  return QV_OK;
}

qv_status qv_static_query(qv_static *s, const float *queries, size_t nq, size_t k, const qv_query_opts *opts,
                          qv_results **out) {
  if (!s || !out) return QV_MISUSE;
  *out = NULL;
  qv_query_opts o;
  qv_status rc = st_query_common(s, nq, k, opts, &o);
  if (rc) return rc;
  if (!queries) return serr(s, QV_INVALID, "query_embeddings: must not be NULL");
  if (s->metric == QV_METRIC_HAMMING)
    return serr(s, QV_INVALID, "query_embeddings: the snapshot is a hamming collection; query with packed bits");
  for (size_t i = 0; i < nq * s->row; i++)
    if (!isfinite(queries[i]))
      return serr(s, QV_INVALID, "query_embeddings[%zu][%zu]: %s is not allowed", i / s->row, i % s->row,
                  isnan(queries[i]) ? "NaN" : "infinity");
  float *qs = qv__malloc_aligned(s->mem, nq * s->row * sizeof(float));
  if (!qs) return QV_NOMEM;
  memcpy(qs, queries, nq * s->row * sizeof(float));
  if (s->metric == QV_METRIC_COSINE)
    for (size_t i = 0; i < nq; i++) qv__normalize(qs + i * s->row, s->row);
  rc = st_query(s, qs, nq, k, &o, out);
  qv__free_aligned(s->mem, qs);
  return rc;
}

qv_status qv_static_query_bits(qv_static *s, const uint8_t *queries, size_t nq, size_t k, const qv_query_opts *opts,
                               qv_results **out) {
  if (!s || !out) return QV_MISUSE;
  *out = NULL;
  qv_query_opts o;
  qv_status rc = st_query_common(s, nq, k, opts, &o);
  if (rc) return rc;
  if (!queries) return serr(s, QV_INVALID, "query_bits: must not be NULL");
  if (s->metric != QV_METRIC_HAMMING) return serr(s, QV_INVALID, "query_bits: the snapshot is not a hamming collection");
  size_t nb = s->dim / 8, row = (size_t)s->row * 4;
  unsigned char *p = qv__malloc_aligned(s->mem, nq * row);
  if (!p) return QV_NOMEM;
  memset(p, 0, nq * row);
  for (size_t i = 0; i < nq; i++) memcpy(p + i * row, queries + i * nb, nb);
  rc = st_query(s, (const float *)(const void *)p, nq, k, &o, out);
  qv__free_aligned(s->mem, p);
  return rc;
}

/* Slot of id, or UINT32_MAX. Bounded probing of the mapped hash table. */
static uint32_t lookup(const qv_static *s, const char *id) {
  size_t n = strlen(id), tl = s->sec[S_IDHT].len / 4;
  const unsigned char *tab = s->base + s->sec[S_IDHT].off;
  size_t h = (size_t)fnv1a(id, n) & (tl - 1);
  for (size_t probe = 0; probe < tl; probe++, h = (h + 1) & (tl - 1)) {
    uint32_t slot = get_u32(tab + h * 4);
    if (slot == UINT32_MAX) return UINT32_MAX;
    size_t len;
    const char *got = id_at(s, slot, &len);
    if (got && len == n && memcmp(got, id, n) == 0) return slot;
  }
  return UINT32_MAX;
}

qv_status qv_static_get(qv_static *s, const qv_get_opts *opts, qv_results **out) {
  if (!s || !out) return QV_MISUSE;
  *out = NULL;
  qv_get_opts o;
  qv_get_opts_init(&o);
  if (opts) qv__struct_in(&o, sizeof o, opts, QV__BASE_GET_OPTS);
  if (o.include & ~0xFu) return serr(s, QV_INVALID, "include: unknown bits 0x%x", o.include & ~0xFu);
  qv_filter *f = NULL;
  qv_status rc = st_parse_filter(s, o.where_json, o.where_document_json, &f);
  if (rc) return rc;
  if ((o.include & QV_INCLUDE_EMBEDDINGS) && (rc = need_index(s))) {
    qv__filter_free(s->mem, f);
    return rc;
  }
  size_t cap = o.ids ? o.n_ids : (size_t)s->n_slots, n = 0, skipped = 0;
  uint32_t *slots = qv__malloc(s->mem, (cap ? cap : 1) * sizeof *slots);
  if (!slots) rc = QV_NOMEM;
  for (size_t i = 0; rc == QV_OK && i < cap; i++) {
    uint32_t slot;
    if (o.ids) {
      if (!o.ids[i]) {
        rc = serr(s, QV_INVALID, "ids[%zu]: must not be NULL", i);
        break;
      }
      slot = lookup(s, o.ids[i]);
      if (slot == UINT32_MAX) continue;
    } else {
      slot = (uint32_t)i;
    }
    if (!record_matches(s, f, slot)) continue;
    if (skipped < o.offset) {
      skipped++;
      continue;
    }
    slots[n++] = slot;
    if (o.limit && n == o.limit) break;
  }
  qv_results *r = NULL;
  unsigned inc = o.include & ~(unsigned)QV_INCLUDE_DISTANCES;
  if (rc == QV_OK && !(r = qv__results_new(s->mem, 1, &n, s->row, inc))) rc = QV_NOMEM;
  for (size_t i = 0; rc == QV_OK && i < n; i++) rc = fill(s, r, i, slots[i], 0.0f);
  qv__free(s->mem, slots);
  qv__filter_free(s->mem, f);
  if (rc) {
    qv_results_free(r);
    return rc;
  }
  *out = r;
  return QV_OK;
}
