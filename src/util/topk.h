/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * topk.h -- a bounded max-heap that keeps the k smallest (distance, slot) pairs.
 *
 * Header-only and inline: it sits in the innermost loop of every search. The caller owns the
 * storage (k entries), so a search allocates nothing per query. Invariant: h[0] is the worst
 * kept hit once the heap is full; qv__topk_worst() is +inf until then, so the loop can test
 * `d < worst` before paying for a push. Order is (distance, slot): ties go to the smaller
 * slot, so every search path (single, batch, threaded) keeps the same hits.
 */
#ifndef QV_TOPK_H
#define QV_TOPK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct qv_hit {
  float dist;
  uint32_t slot;
} qv_hit;

typedef struct qv_topk {
  qv_hit *h;
  size_t k;
  size_t n;
} qv_topk;

static inline void qv__topk_init(qv_topk *t, qv_hit *buf, size_t k) {
  t->h = buf;
  t->k = k;
  t->n = 0;
}

static inline float qv__topk_worst(const qv_topk *t) {
  return t->n < t->k ? INFINITY : t->h[0].dist;
}

/* a comes after b in result order */
static inline int qv__hit_after(float da, uint32_t sa, float db, uint32_t sb) {
  return da > db || (da == db && sa > sb);
}

static inline void qv__topk_sift_down(qv_hit *h, size_t n, size_t i) {
  qv_hit x = h[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && qv__hit_after(h[c + 1].dist, h[c + 1].slot, h[c].dist, h[c].slot)) c++;
    if (!qv__hit_after(h[c].dist, h[c].slot, x.dist, x.slot)) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

/* Offer (d, slot). Keeps the k smallest in (distance, slot) order. */
static inline void qv__topk_push(qv_topk *t, float d, uint32_t slot) {
  if (t->n < t->k) {
    size_t i = t->n++;
    while (i > 0) {
      size_t p = (i - 1) / 2;
      if (!qv__hit_after(d, slot, t->h[p].dist, t->h[p].slot)) break;
      t->h[i] = t->h[p];
      i = p;
    }
    t->h[i].dist = d;
    t->h[i].slot = slot;
  } else if (qv__hit_after(t->h[0].dist, t->h[0].slot, d, slot)) {
    t->h[0].dist = d;
    t->h[0].slot = slot;
    qv__topk_sift_down(t->h, t->n, 0);
  }
}

static inline int qv__hit_cmp(const void *a, const void *b) {
  const qv_hit *x = (const qv_hit *)a, *y = (const qv_hit *)b;
  if (x->dist < y->dist) return -1;
  if (x->dist > y->dist) return 1;
  return (x->slot > y->slot) - (x->slot < y->slot);
}

/*
 * Sort the kept hits best first (ascending distance, then slot). Returns the count. The
 * heap is already half the work: heapsort's second phase moves the worst to the end n - 1
 * times, with inline comparisons (no qsort callback per comparison). Before the heap is full
 * its n entries are a heap as well.
 */
static inline size_t qv__topk_finish(qv_topk *t) {
  for (size_t i = t->n; i > 1; i--) {
    qv_hit worst = t->h[0];
    t->h[0] = t->h[i - 1];
    t->h[i - 1] = worst;
    qv__topk_sift_down(t->h, i - 1, 0);
  }
  return t->n;
}

#endif /* QV_TOPK_H */
