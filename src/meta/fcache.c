/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fcache.c -- the per-collection filter cache (see fcache.h for what and why).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "col_int.h"
#include "fcache.h"

#define FC_MAX 256                  /* cached bitmaps per collection ... */
#define FC_MAX_BYTES (64u << 20)    /* ... and at most this much bitmap memory */
#define FC_RECENT 1024              /* distinct filters remembered for admission */

struct qv_fent {
  atomic_int refs;    /* the cache's own reference + one per query using it */
  char *key;
  qv_filter *f;
  uint64_t *bits;
  uint64_t n_words;
  uint64_t count;
  uint64_t last_use;
};

struct qv_fcache {
  pthread_mutex_t mu;
  qv_fent *ent[FC_MAX];
  size_t n;
  uint64_t recent[FC_RECENT];
  size_t recent_pos;
  uint64_t tick;
};

qv_fcache *qv__fcache_new(const qv_mem *mem) {
  qv_fcache *fc = qv__calloc(mem, 1, sizeof *fc);
  if (fc) pthread_mutex_init(&fc->mu, NULL);
  return fc;
}

static void ent_free(const qv_mem *mem, qv_fent *e) {
  qv__filter_free(mem, e->f);
  qv__free(mem, e->bits);
  qv__free(mem, e->key);
  qv__free(mem, e);
}

static void ent_unref(const qv_mem *mem, qv_fent *e) {
  if (atomic_fetch_sub(&e->refs, 1) == 1) ent_free(mem, e);
}

void qv__fcache_free(const qv_mem *mem, qv_fcache *fc) {
  if (!fc) return;
  for (size_t i = 0; i < fc->n; i++) ent_unref(mem, fc->ent[i]);
  pthread_mutex_destroy(&fc->mu);
  qv__free(mem, fc);
}

static char *make_key(const qv_mem *mem, const char *where, const char *wdoc) {
  size_t a = where ? strlen(where) : 0, b = wdoc ? strlen(wdoc) : 0;
  char *k = qv__malloc(mem, a + b + 2);
  if (!k) return NULL;
  memcpy(k, where ? where : "", a);
  k[a] = '\x01';
  memcpy(k + a + 1, wdoc ? wdoc : "", b);
  k[a + b + 1] = 0;
  return k;
}

/* Evaluate the filter over every slot (caller holds c's lock). */
static qv_fent *build(qv_collection *c, char *key, const char *where, const char *wdoc) {
  const qv_mem *mem = &c->db->mem;
  char err[256];
  qv_fent *e = qv__calloc(mem, 1, sizeof *e);
  if (!e) return NULL;
  e->key = key;
  e->n_words = ((uint64_t)c->cap + 63) / 64 + 1;
  e->bits = qv__calloc(mem, e->n_words, sizeof *e->bits);
  if (!e->bits || qv__filter_parse(mem, where, wdoc, &e->f, err, sizeof err) != QV_OK || !e->f) {
    ent_free(mem, e);
    return NULL;
  }
  for (uint32_t s = 0; s < c->n_slots; s++)
    if (qv__col_match(c, e->f, s)) {
      e->bits[s >> 6] |= (uint64_t)1 << (s & 63);
      e->count++;
    }
  atomic_init(&e->refs, 2);
  return e;
}

qv_fent *qv__fcache_acquire(qv_collection *c, const char *where, const char *wdoc) {
  qv_fcache *fc = c->fcache;
  const qv_mem *mem = &c->db->mem;
  if (!fc) return NULL;
  char *key = make_key(mem, where, wdoc);
  if (!key) return NULL;
  uint64_t h = qv__idmap_hash(key);
  pthread_mutex_lock(&fc->mu);
  for (size_t i = 0; i < fc->n; i++)
    if (strcmp(fc->ent[i]->key, key) == 0) {
      qv_fent *e = fc->ent[i];
      atomic_fetch_add(&e->refs, 1);
      e->last_use = ++fc->tick;
      pthread_mutex_unlock(&fc->mu);
      qv__free(mem, key);
      return e;
    }
  int seen = 0;
  for (size_t i = 0; i < FC_RECENT && !seen; i++) seen = fc->recent[i] == h;
  if (!seen) fc->recent[fc->recent_pos++ % FC_RECENT] = h;
  pthread_mutex_unlock(&fc->mu);
  if (!seen) {
    qv__free(mem, key);
    return NULL;
  }
  qv_fent *e = build(c, key, where, wdoc); /* owns key from here */
  if (!e) return NULL;
  pthread_mutex_lock(&fc->mu);
  for (size_t i = 0; i < fc->n; i++)
    if (strcmp(fc->ent[i]->key, e->key) == 0) { /* another query built it meanwhile */
      qv_fent *other = fc->ent[i];
      atomic_fetch_add(&other->refs, 1);
      pthread_mutex_unlock(&fc->mu);
      ent_free(mem, e);
      return other;
    }
  uint64_t bytes = e->n_words * sizeof(uint64_t);
  while (fc->n && (fc->n == FC_MAX || (uint64_t)(fc->n + 1) * bytes > FC_MAX_BYTES)) {
    size_t lru = 0;
    for (size_t i = 1; i < fc->n; i++)
      if (fc->ent[i]->last_use < fc->ent[lru]->last_use) lru = i;
    ent_unref(mem, fc->ent[lru]);
    fc->ent[lru] = fc->ent[--fc->n];
  }
  e->last_use = ++fc->tick;
  fc->ent[fc->n++] = e;
  pthread_mutex_unlock(&fc->mu);
  return e;
}

void qv__fcache_release(qv_collection *c, qv_fent *e) {
  if (e) ent_unref(&c->db->mem, e);
}

struct qv_fent_view qv__fcache_view(const qv_fent *e) {
  struct qv_fent_view v = {e->bits, e->n_words, e->count};
  return v;
}

qv_status qv__fcache_reserve(qv_collection *c, uint32_t n_slots) {
  qv_fcache *fc = c->fcache;
  if (!fc) return QV_OK;
  uint64_t words = ((uint64_t)n_slots + 63) / 64 + 1;
  for (size_t i = 0; i < fc->n; i++) {
    qv_fent *e = fc->ent[i];
    if (e->n_words >= words) continue;
    uint64_t *b = qv__realloc(&c->db->mem, e->bits, words * sizeof *b);
    if (!b) return QV_NOMEM;
    memset(b + e->n_words, 0, (words - e->n_words) * sizeof *b);
    e->bits = b;
    e->n_words = words;
  }
  return QV_OK;
}

void qv__fcache_update(qv_collection *c, const uint32_t *slots, size_t n) {
  qv_fcache *fc = c->fcache;
  if (!fc) return;
  for (size_t i = 0; i < fc->n; i++) {
    qv_fent *e = fc->ent[i];
    for (size_t j = 0; j < n; j++) {
      uint32_t s = slots[j];
      assert((uint64_t)(s >> 6) < e->n_words);
      int was = qv__fbit(e->bits, s), now = qv__col_match(c, e->f, s);
      if (was == now) continue;
      e->bits[s >> 6] ^= (uint64_t)1 << (s & 63);
      if (now) e->count++;
      else e->count--;
    }
  }
}
