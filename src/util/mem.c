/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * mem.c -- allocator indirection. Every allocation libquiver makes itself goes through a
 * qv_mem, which is the caller's qv_allocator (qv_open_opts.alloc) or malloc. The fault tests
 * pass an allocator that fails the N-th call. Also small utilities with no better home.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "qv_int.h"

static void *std_malloc(void *ud, size_t n) { (void)ud; return malloc(n); }
static void *std_realloc(void *ud, void *p, size_t n) { (void)ud; return realloc(p, n); }
static void std_free(void *ud, void *p) { (void)ud; free(p); }

static const qv_mem default_mem = {std_malloc, std_realloc, std_free, NULL};

const qv_mem *qv__mem_default(void) { return &default_mem; }

void qv__mem_init(qv_mem *m, const qv_allocator *a) {
  if (a && a->malloc_fn && a->realloc_fn && a->free_fn) {
    m->malloc_fn = a->malloc_fn;
    m->realloc_fn = a->realloc_fn;
    m->free_fn = a->free_fn;
    m->ud = a->ud;
  } else {
    *m = default_mem;
  }
}

void *qv__malloc(const qv_mem *m, size_t n) { return m->malloc_fn(m->ud, n ? n : 1); }

void *qv__calloc(const qv_mem *m, size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  void *p = qv__malloc(m, count * size);
  if (p) memset(p, 0, count * size);
  return p;
}

void *qv__realloc(const qv_mem *m, void *p, size_t n) { return m->realloc_fn(m->ud, p, n ? n : 1); }

void qv__free(const qv_mem *m, void *p) {
  if (p) m->free_fn(m->ud, p);
}

char *qv__strndup(const qv_mem *m, const char *s, size_t n) {
  char *d = qv__malloc(m, n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

char *qv__strdup(const qv_mem *m, const char *s) { return s ? qv__strndup(m, s, strlen(s)) : NULL; }

/*
 * 64-byte alignment on top of any allocator: over-allocate, and keep the offset back to the
 * real block in the byte just before the aligned pointer.
 */
void *qv__malloc_aligned(const qv_mem *m, size_t n) {
  if (n > SIZE_MAX - 64) return NULL;
  unsigned char *raw = qv__malloc(m, n + 64);
  if (!raw) return NULL;
  size_t off = 64 - ((uintptr_t)raw & 63); /* 1..64 */
  unsigned char *p = raw + off;
  p[-1] = (unsigned char)off;
  return p;
}

void qv__free_aligned(const qv_mem *m, void *p) {
  if (!p) return;
  unsigned char *q = p;
  qv__free(m, q - q[-1]);
}

void qv__advise_huge(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
  const uintptr_t page = 4096;
  uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
  if (n >= ((size_t)4 << 20) && hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
  (void)p;
  (void)n;
#endif
}

void qv__fmt(char *buf, size_t len, const char *fmt, ...) {
  if (!buf || !len) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, len, fmt, ap);
  va_end(ap);
}

int qv__ncpu(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (int)n;
}

double qv__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ growable public structs */

void qv__struct_in(void *dst, size_t dst_size, const void *src, size_t base_size) {
  uint32_t given;
  memcpy(&given, src, sizeof given); /* every growable struct starts with uint32_t struct_size */
  size_t n = given >= base_size ? given : base_size; /* 0 (hand-filled) or nonsense: the base layout */
  if (n > dst_size) n = dst_size;
  memcpy(dst, src, n);
}

void qv__struct_out(void *dst, const void *src, size_t full_size, size_t base_size) {
  uint32_t want;
  memcpy(&want, dst, sizeof want);
  /* an output struct the caller did not initialise may hold anything: only a size between the
     base layout and ours is taken at its word */
  size_t n = want >= base_size && want <= full_size ? want : base_size;
  memcpy(dst, src, n);
  memcpy(dst, &want, sizeof want); /* the caller's struct_size stays as it was */
}

void qv__make_uuid(char out[37]) {
  unsigned char b[16];
  if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
    for (size_t i = 0; i < sizeof b; i++) b[i] = (unsigned char)rand();
  b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
           b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}
