/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/* vbuf.c -- arrays grown in place inside reserved address space (vbuf.h). */
#include "vbuf.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

size_t qv__vbuf_test_cap;

static size_t page_size(void) {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? (size_t)p : 4096;
}

static size_t round_pages(size_t n) {
  size_t p = page_size();
  if (n > SIZE_MAX - p) return SIZE_MAX / p * p;
  return (n + p - 1) / p * p;
}

size_t qv__vbuf_plan(size_t need, size_t elem, size_t max_elems) {
  if (elem == 0) return 0;
  long pages = sysconf(_SC_PHYS_PAGES);
  size_t ram = pages > 0 ? (size_t)pages * page_size() : (size_t)1 << 32;
  size_t n = ram / elem;
  if (n > max_elems) n = max_elems;
  size_t twice = need > SIZE_MAX / 2 ? SIZE_MAX : 2 * need;
  if (n < twice) n = twice;
  if (n < 64) n = 64;
  if (n > SIZE_MAX / elem) n = SIZE_MAX / elem;
  return n * elem;
}

qv_status qv__vbuf_reserve(qv_vbuf *b, size_t bytes_min, size_t bytes_max) {
  memset(b, 0, sizeof *b);
  if (bytes_max < bytes_min) bytes_max = bytes_min;
  size_t lo = round_pages(bytes_min ? bytes_min : 1), want = round_pages(bytes_max);
  if (qv__vbuf_test_cap && want > qv__vbuf_test_cap) want = lo > qv__vbuf_test_cap ? lo : round_pages(qv__vbuf_test_cap);
  for (;;) {
    void *p = mmap(NULL, want, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
      b->base = p;
      b->reserved = want;
#ifdef MADV_HUGEPAGE
      if (want >= ((size_t)4 << 20)) (void)madvise(p, want, MADV_HUGEPAGE);
#endif
      return QV_OK;
    }
    if (want <= lo) return QV_NOMEM;
    want = round_pages(want / 2);
    if (want < lo) want = lo;
  }
}

qv_status qv__vbuf_commit(const qv_vbuf *b, size_t bytes) {
  if (bytes == 0) return QV_OK;
  if (!b->base || bytes > b->reserved) return QV_NOMEM;
  size_t to = round_pages(bytes);
  if (to <= b->committed) return QV_OK;
  if (mprotect((char *)b->base + b->committed, to - b->committed, PROT_READ | PROT_WRITE) != 0) return QV_NOMEM;
  return QV_OK;
}

void qv__vbuf_free(qv_vbuf *b) {
  if (b->base) (void)munmap(b->base, b->reserved);
  memset(b, 0, sizeof *b);
}

void qv__vbuf_note(qv_vbuf *b, size_t bytes) {
  size_t to = round_pages(bytes);
  if (to > b->committed) b->committed = to;
}
