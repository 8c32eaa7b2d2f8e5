/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * docidx.c -- where_document {"$contains": s} answered through the trigram FTS5 table of the
 * SQLite store (store/store_fts.c) instead of a strstr over every document in memory.
 *
 * The table gives the records whose document contains s (case-sensitive trigram phrase:
 * a substring test, for s of 3 or more characters); as a bitmap over slots it is a candidate
 * set, and the full filter is still evaluated on each candidate (so every other condition,
 * and exact substring semantics, hold as before). The index sees committed writes, the
 * memory state those applied so far: a candidate whose slot is not live yet is dropped by the
 * full evaluation; an update committed but not yet applied in memory is judged on its new
 * document. Shorter needles, in-memory databases and filters without a required $contains
 * scan as before. The index is built the first time a collection is asked such a filter
 * (qv__doc_index_prepare, before the collection lock is taken), then kept by triggers.
 */
#include <string.h>

#include "adv_int.h"
#include "col_int.h"

typedef struct cand_ctx {
  const qv_collection *c;
  uint64_t *bits;
  uint64_t n_words, count;
} cand_ctx;

static int take(void *ctx, uint32_t slot, const char *id, double score) {
  cand_ctx *k = ctx;
  (void)id;
  (void)score;
  if ((uint64_t)(slot >> 6) < k->n_words && !((k->bits[slot >> 6] >> (slot & 63)) & 1u)) {
    k->bits[slot >> 6] |= (uint64_t)1 << (slot & 63);
    k->count++;
  }
  return 1;
}

/* Characters (UTF-8 code points) in s. */
static size_t n_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

void qv__doc_index_prepare(qv_collection *c, const qv_filter *f) {
  const char *needle = qv__filter_doc_needle(f);
  if (!needle || !c->db->store || c->db->read_only || n_chars(needle) < 3) return;
  if (qv__text_ensure(c, 1)) qv__err_clear(c->db); /* no index: the scan answers */
}

uint64_t *qv__doc_candidates(const qv_collection *c, const qv_filter *f, uint64_t *n_words, uint64_t *count) {
  const char *needle = qv__filter_doc_needle(f);
  const qv_mem *mem = &c->db->mem;
  if (!needle || !c->db->store || n_chars(needle) < 3) return NULL;
  size_t len = strlen(needle);
  char *match = qv__malloc(mem, 2 * len + 3), *p = match;
  if (!match) return NULL;
  *p++ = '"';
  for (const char *s = needle; *s; s++) {
    if (*s == '"') *p++ = '"';
    *p++ = *s;
  }
  *p++ = '"';
  *p = '\0';
  cand_ctx k = {c, NULL, ((uint64_t)c->n_slots + 63) / 64, 0};
  k.bits = qv__calloc(mem, k.n_words ? k.n_words : 1, sizeof *k.bits);
  qv_status rc = k.bits ? qv__store_fts_query(c->db->store, c->cid, 1, match, take, &k) : QV_NOMEM;
  qv__free(mem, match);
  if (rc) { /* no index (old file opened read-only), or SQLite failed: the scan answers */
    qv__free(mem, k.bits);
    return NULL;
  }
  *n_words = k.n_words;
  *count = k.count;
  return k.bits;
}
