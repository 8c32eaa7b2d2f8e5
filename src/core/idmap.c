/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * idmap.c -- id -> slot hash table (see idmap.h). Load factor is kept at or below 1/2.
 */
#include <string.h>

#include "idmap.h"

void qv__idmap_init(qv_idmap *m, const char *(*key)(const void *ctx, uint32_t slot), const void *ctx) {
  m->tab = NULL;
  m->cap = 0;
  m->n = 0;
  m->key = key;
  m->ctx = ctx;
}

const char *qv__idmap_strv_key(const void *ctx, uint32_t slot) { return ((const char *const *)ctx)[slot]; }

void qv__idmap_free(const qv_mem *mem, qv_idmap *m) {
  qv__free(mem, m->tab);
  m->tab = NULL;
  m->cap = m->n = 0;
}

/* FNV-1a with a final avalanche: ids are short, so this is cheap and spreads well. */
uint64_t qv__idmap_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

uint32_t qv__idmap_get(const qv_idmap *m, const char *id) {
  if (!m->cap) return QV_NO_SLOT;
  uint32_t mask = m->cap - 1, i = (uint32_t)qv__idmap_hash(id) & mask;
  for (;; i = (i + 1) & mask) {
    uint32_t e = m->tab[i];
    if (!e) return QV_NO_SLOT;
    if (strcmp(m->key(m->ctx, e - 1), id) == 0) return e - 1;
  }
}

static void insert_raw(uint32_t *tab, uint32_t cap, const qv_idmap *m, uint32_t slot) {
  uint32_t mask = cap - 1, i = (uint32_t)qv__idmap_hash(m->key(m->ctx, slot)) & mask;
  while (tab[i]) i = (i + 1) & mask;
  tab[i] = slot + 1;
}

qv_status qv__idmap_reserve(const qv_mem *mem, qv_idmap *m, uint32_t n_more) {
  uint64_t need = ((uint64_t)m->n + n_more) * 2;
  if (need <= m->cap) return QV_OK;
  uint64_t cap = m->cap ? m->cap : 64;
  while (cap < need) cap *= 2;
  if (cap > (1ULL << 31)) return QV_NOMEM;
  uint32_t *tab = qv__calloc(mem, (size_t)cap, sizeof *tab);
  if (!tab) return QV_NOMEM;
  for (uint32_t i = 0; i < m->cap; i++)
    if (m->tab[i]) insert_raw(tab, (uint32_t)cap, m, m->tab[i] - 1);
  qv__free(mem, m->tab);
  m->tab = tab;
  m->cap = (uint32_t)cap;
  return QV_OK;
}

void qv__idmap_put(qv_idmap *m, uint32_t slot) {
  assert(m->cap && (uint64_t)(m->n + 1) * 2 <= m->cap);
  insert_raw(m->tab, m->cap, m, slot);
  m->n++;
}

void qv__idmap_del(qv_idmap *m, const char *id) {
  uint32_t mask = m->cap - 1, i = (uint32_t)qv__idmap_hash(id) & mask;
  while (m->tab[i] && strcmp(m->key(m->ctx, m->tab[i] - 1), id) != 0) i = (i + 1) & mask;
  if (!m->tab[i]) return;
  /* backward-shift: pull later members of the probe run into the hole */
  uint32_t hole = i;
  for (uint32_t j = (i + 1) & mask; m->tab[j]; j = (j + 1) & mask) {
    uint32_t home = (uint32_t)qv__idmap_hash(m->key(m->ctx, m->tab[j] - 1)) & mask;
    /* move j into hole if home is not cyclically in (hole, j] */
    int in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!in_range) {
      m->tab[hole] = m->tab[j];
      hole = j;
    }
  }
  m->tab[hole] = 0;
  m->n--;
}
