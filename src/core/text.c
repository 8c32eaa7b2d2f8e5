/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * text.c -- full-text reads: BM25 text search and hybrid (text + vector) search.
 *
 * Persistent databases: the collection's FTS5 table in the SQLite store (store/store_fts.c),
 * built from the records on the first text read, then kept in step by triggers in the write
 * transactions (a database opened read-only whose collection has no such table yet uses the
 * in-memory index below). In-memory databases
 * have no store; they get an equivalent in-memory SQLite FTS5 table of the collection's
 * documents, (re)built on the first text read after a write (its rowid is the slot), so both
 * kinds give the same scores. That rebuild costs a pass over the documents, once per write
 * followed by a text read.
 *
 * The text is a list of words: each becomes an FTS5 string ("word", quotes doubled), joined
 * with OR -- any word matches, BM25 ranks. A single word is the FTS5 query `word`, so scores
 * are exactly FTS5's -bm25() for it (higher is better).
 *
 * Hybrid search takes max(4 k, 50) candidates from each side (vector k-NN with the planner,
 * BM25) and fuses them: RRF, score = alpha / (60 + vector rank) + (1 - alpha) / (60 + text
 * rank) (ranks from 1; a side that did not return the record adds 0); or weighted, score =
 * alpha * (dmax - d) / (dmax - dmin) + (1 - alpha) * (s - smin) / (smax - smin) over each
 * side's candidates (a side with one distinct value gives 1).
 */
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adv_int.h"
#include "dist.h"

#define RRF_K 60.0

/* ------------------------------------------------------------------ the match expression */

/* "w1" OR "w2" ... of the whitespace-separated words of text (malloc'd), or NULL (none / OOM). */
static char *match_expr(const qv_mem *mem, const char *text, int *n_words) {
  size_t n = strlen(text);
  char *out = qv__malloc(mem, 3 * n + 8 * (n / 2 + 1) + 1), *p = out;
  *n_words = 0;
  if (!out) return NULL;
  const char *s = text;
  while (*s) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v') s++;
    if (!*s) break;
    if (*n_words) p += sprintf(p, " OR ");
    *p++ = '"';
    while (*s && !(*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')) {
      if (*s == '"') *p++ = '"';
      *p++ = *s++;
    }
    *p++ = '"';
    (*n_words)++;
  }
  *p = '\0';
  return out;
}

/* ------------------------------------------------------------------ in-memory text index */

typedef struct mem_fts {
  sqlite3 *db;
  uint64_t seq;  /* c->last_seq it was built at */
  int built;
} mem_fts;

static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER; /* every in-memory text index */

void qv__text_free(qv_collection *c) {
  mem_fts *m = c->text;
  if (!m) return;
  sqlite3_close(m->db);
  qv__free(&c->db->mem, m);
  c->text = NULL;
}

/* Build (or rebuild after writes) the in-memory index; caller holds mem_mu and c->lock shared. */
static qv_status mem_build(qv_collection *c, mem_fts **out) {
  mem_fts *m = c->text;
  if (!m) {
    if (!(m = qv__calloc(&c->db->mem, 1, sizeof *m))) return QV_NOMEM;
    c->text = m;
  }
  if (m->built && m->seq == c->last_seq) {
    *out = m;
    return QV_OK;
  }
  sqlite3_close(m->db);
  m->db = NULL;
  m->built = 0;
  sqlite3_stmt *ins = NULL;
  if (sqlite3_open_v2(":memory:", &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(m->db, "CREATE VIRTUAL TABLE fts USING fts5(document); BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(m->db, "INSERT INTO fts(rowid, document) VALUES(?1, ?2)", -1, &ins, NULL) != SQLITE_OK)
    goto fail;
  for (uint32_t s = 0; s < c->n_slots; s++) {
    if (!c->idref[s] || !qv__col_doc(c, s)) continue;
    sqlite3_bind_int64(ins, 1, s);
    sqlite3_bind_text(ins, 2, qv__col_doc(c, s), -1, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE) goto fail;
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  ins = NULL;
  if (sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto fail;
  m->built = 1;
  m->seq = c->last_seq;
  *out = m;
  return QV_OK;
fail:
  qv__err(c->db, QV_NOMEM, "text index (in memory): %s", m->db ? sqlite3_errmsg(m->db) : "cannot open");
  sqlite3_finalize(ins);
  sqlite3_close(m->db);
  m->db = NULL;
  return QV_NOMEM;
}

/* ------------------------------------------------------------------ the persistent index */

qv_status qv__text_ensure(qv_collection *c, int trigram) {
  qv_db *db = c->db;
  if (!db->store || db->read_only) return QV_OK;
  pthread_mutex_lock(&db->write_mu);
  qv_status rc = atomic_load(&c->dropped) ? QV_OK : qv__store_fts_ensure(db->store, c->cid, trigram);
  pthread_mutex_unlock(&db->write_mu);
  return rc ? qv__err(db, rc, "%s", qv__store_errmsg(db->store)) : QV_OK;
}

/* ------------------------------------------------------------------ BM25 hits */

typedef struct text_ctx {
  const qv_adv *a;
  qv_hit *h;   /* dist = the BM25 score (higher is better) */
  size_t n, k;
} text_ctx;

static int take_row(void *ctx, uint32_t slot, const char *id, double score) {
  text_ctx *t = ctx;
  const qv_collection *c = t->a->c;
  /* the read connection may see a commit not yet applied in memory: trust only live slots
   * that still hold this id */
  if (slot < c->n_slots && c->idref[slot] && (!id || strcmp(qv__col_id(c, slot), id) == 0) && qv__adv_match(t->a, slot)) {
    t->h[t->n].dist = (float)score;
    t->h[t->n++].slot = slot;
  }
  return t->n < t->k;
}

/* The k best BM25 hits matching the session's filters into h (room for k), best first. */
static qv_status text_hits(qv_adv *a, const char *text, size_t k, qv_hit *h, size_t *n_out) {
  qv_collection *c = a->c;
  const qv_mem *mem = &c->db->mem;
  int n_words;
  *n_out = 0;
  char *match = match_expr(mem, text, &n_words);
  if (!match) return QV_NOMEM;
  if (!n_words) {
    qv__free(mem, match);
    return qv__err(c->db, QV_INVALID, "text: no words to search for");
  }
  text_ctx t = {a, h, 0, k};
  qv_status rc = QV_OK;
  int in_memory = !c->db->store;
  if (c->db->store) {
    rc = qv__store_fts_query(c->db->store, c->cid, 0, match, take_row, &t);
    if (rc == QV_UNSUPPORTED) { /* read-only and never built: the in-memory index answers */
      rc = QV_OK;
      t.n = 0;
      in_memory = 1;
    } else if (rc)
      qv__err(c->db, rc, "%s", qv__store_errmsg(c->db->store));
  }
  if (in_memory) {
    mem_fts *m;
    pthread_mutex_lock(&mem_mu);
    rc = mem_build(c, &m);
    sqlite3_stmt *st = NULL;
    if (rc == QV_OK &&
        sqlite3_prepare_v2(m->db, "SELECT rowid, -bm25(fts) FROM fts WHERE fts MATCH ?1 ORDER BY bm25(fts)", -1, &st,
                           NULL) != SQLITE_OK)
      rc = qv__err(c->db, QV_ERROR, "text search: %s", sqlite3_errmsg(m->db));
    if (rc == QV_OK) {
      sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
      int step;
      while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (!take_row(&t, (uint32_t)sqlite3_column_int64(st, 0), NULL, sqlite3_column_double(st, 1))) break;
      if (step != SQLITE_ROW && step != SQLITE_DONE) rc = qv__err(c->db, QV_INVALID, "text: %s", sqlite3_errmsg(m->db));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&mem_mu);
  }
  qv__free(mem, match);
  *n_out = t.n;
  return rc;
}

qv_status qv_collection_text_search(qv_collection *c, const char *text, size_t k, const qv_query_opts *opts,
                                    qv_results **out) {
  qv_query_opts defaults;
  qv_status rc = qv__adv_check(c, k, &opts, &defaults, out);
  if (rc) return rc;
  if (!text) return qv__err(c->db, QV_INVALID, "text: required");
  if ((rc = qv__text_ensure(c, 0))) return rc;
  qv_adv a;
  if ((rc = qv__adv_begin(c, opts->where_json, opts->where_document_json, &a))) return rc;
  const qv_mem *mem = &c->db->mem;
  qv_hit *h = qv__malloc(mem, k * sizeof *h);
  size_t n = 0;
  if (!h) rc = QV_NOMEM;
  if (rc == QV_OK) rc = text_hits(&a, text, k, h, &n);
  if (rc == QV_OK) rc = qv__adv_results(&a, h, n, opts->include, out);
  qv__free(mem, h);
  return qv__adv_finish(&a, rc);
}

/* ------------------------------------------------------------------ hybrid */

typedef struct fused {
  uint32_t slot;
  int vrank, trank; /* 1-based; 0 = absent */
  float d, s;
} fused;

static int cmp_fused_slot(const void *x, const void *y) {
  uint32_t a = ((const fused *)x)->slot, b = ((const fused *)y)->slot;
  return (a > b) - (a < b);
}

static int cmp_hit_desc(const void *x, const void *y) {
  const qv_hit *a = x, *b = y;
  if (a->dist > b->dist) return -1;
  if (a->dist < b->dist) return 1;
  return (a->slot > b->slot) - (a->slot < b->slot);
}

qv_status qv_collection_hybrid_search(qv_collection *c, const char *text, const float *query, size_t k,
                                      qv_fusion fusion, float alpha, const qv_query_opts *opts, qv_results **out) {
  qv_query_opts defaults;
  qv_status rc = qv__adv_check(c, k, &opts, &defaults, out);
  if (rc) return rc;
  if (!text) return qv__err(c->db, QV_INVALID, "text: required");
  if (!query) return qv__err(c->db, QV_INVALID, "query_embeddings: a query vector is required");
  if (fusion != QV_FUSION_RRF && fusion != QV_FUSION_WEIGHTED)
    return qv__err(c->db, QV_INVALID, "fusion: must be rrf or weighted");
  if (!(alpha >= 0.0f && alpha <= 1.0f)) return qv__err(c->db, QV_INVALID, "alpha: must be in [0, 1]");
  if (c->dim && (rc = qv__adv_check_vec(c, query, "query_embeddings", 0))) return rc;
  if ((rc = qv__text_ensure(c, 0))) return rc;
  qv_adv a;
  if ((rc = qv__adv_begin(c, opts->where_json, opts->where_document_json, &a))) return rc;
  const qv_mem *mem = &c->db->mem;
  size_t fetch = 4 * k > 50 ? 4 * k : 50, nv = 0, nt = 0;
  qv_hit *vh = qv__malloc(mem, fetch * sizeof *vh), *th = qv__malloc(mem, fetch * sizeof *th);
  fused *f = qv__malloc(mem, 2 * fetch * sizeof *f);
  float *q = qv__malloc(mem, (c->dim ? c->dim : 1) * sizeof *q);
  if (!vh || !th || !f || !q) rc = QV_NOMEM;
  if (rc == QV_OK) rc = text_hits(&a, text, fetch, th, &nt);
  if (rc == QV_OK && c->dim && c->count) {
    memcpy(q, query, c->dim * sizeof *q);
    if (c->metric == QV_METRIC_COSINE) qv__normalize(q, c->dim);
    rc = qv__adv_knn(&a, q, fetch, opts, vh, &nv);
  }
  if (rc == QV_OK) {
    size_t n = 0;
    for (size_t i = 0; i < nv; i++) f[n++] = (fused){vh[i].slot, (int)i + 1, 0, vh[i].dist, 0};
    for (size_t i = 0; i < nt; i++) f[n++] = (fused){th[i].slot, 0, (int)i + 1, 0, th[i].dist};
    qsort(f, n, sizeof *f, cmp_fused_slot);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
      if (m && f[m - 1].slot == f[i].slot) {
        if (f[i].vrank) f[m - 1].vrank = f[i].vrank, f[m - 1].d = f[i].d;
        if (f[i].trank) f[m - 1].trank = f[i].trank, f[m - 1].s = f[i].s;
      } else
        f[m++] = f[i];
    }
    float dmin = nv ? vh[0].dist : 0, dmax = nv ? vh[nv - 1].dist : 0;
    float smax = nt ? th[0].dist : 0, smin = nt ? th[nt - 1].dist : 0;
    qv_hit *out_h = qv__malloc(mem, (m ? m : 1) * sizeof *out_h);
    if (!out_h) rc = QV_NOMEM;
    for (size_t i = 0; rc == QV_OK && i < m; i++) {
      double score;
      if (fusion == QV_FUSION_RRF) {
        score = (f[i].vrank ? alpha / (RRF_K + f[i].vrank) : 0.0) + (f[i].trank ? (1.0 - alpha) / (RRF_K + f[i].trank) : 0.0);
      } else {
        double vs = !f[i].vrank ? 0.0 : dmax > dmin ? (dmax - f[i].d) / (dmax - dmin) : 1.0;
        double ts = !f[i].trank ? 0.0 : smax > smin ? (f[i].s - smin) / (smax - smin) : 1.0;
        score = alpha * vs + (1.0 - alpha) * ts;
      }
      out_h[i].dist = (float)score;
      out_h[i].slot = f[i].slot;
    }
    if (rc == QV_OK) {
      qsort(out_h, m, sizeof *out_h, cmp_hit_desc);
      rc = qv__adv_results(&a, out_h, m < k ? m : k, opts->include, out);
    }
    qv__free(mem, out_h);
  }
  qv__free(mem, vh);
  qv__free(mem, th);
  qv__free(mem, f);
  qv__free(mem, q);
  return qv__adv_finish(&a, rc);
}
