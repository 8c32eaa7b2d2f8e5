/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * collection.c -- collections: the catalog operations (create, get, list, rename, delete),
 * loading a collection at open (index checkpoint + replay of newer rows, or a rebuild), index
 * checkpoints, and the small accessors. Record writes are in write.c, reads in query.c.
 *
 * Slots: every live record owns one slot, a dense number that is its position in the index
 * and in the per-slot arrays. Deleted slots go on a free list and are reused by later inserts
 * (the index treats an add on a removed slot as a replacement). Slots are stored in SQLite, so
 * they survive reopen and an index checkpoint stays meaningful.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adv_int.h"
#include "col_int.h"
#include "dist.h"

/* ------------------------------------------------------------------ names, enums */

static const char *const metric_names[] = {"l2", "ip", "cosine", "l1", "hamming"};

const char *qv_metric_name(qv_metric m) { return (unsigned)m < 5 ? metric_names[m] : "unknown"; }

qv_status qv_metric_parse(const char *name, qv_metric *out) {
  static const struct { const char *n; qv_metric m; } tab[] = {
      {"l2", QV_METRIC_L2},         {"euclidean", QV_METRIC_L2}, {"ip", QV_METRIC_IP},
      {"dot", QV_METRIC_IP},        {"cosine", QV_METRIC_COSINE}, {"angular", QV_METRIC_COSINE},
      {"l1", QV_METRIC_L1},         {"manhattan", QV_METRIC_L1}, {"hamming", QV_METRIC_HAMMING}};
  for (size_t i = 0; name && i < sizeof tab / sizeof tab[0]; i++)
    if (strcmp(name, tab[i].n) == 0) {
      *out = tab[i].m;
      return QV_OK;
    }
  return QV_INVALID;
}

void qv_collection_opts_init(qv_collection_opts *o) {
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->metric = QV_METRIC_L2;
  o->index = "flat";
}

static void kinds_list(char *buf, size_t len) {
  size_t off = 0;
  const qv_index_vt *const *all = qv__index_all();
  buf[0] = 0;
  for (size_t i = 0; all[i] && off < len; i++) {
    int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", all[i]->name);
    if (w < 0) break;
    off += (size_t)w;
  }
}

int qv__utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  while (p < e) {
    unsigned c = *p;
    size_t len;
    uint32_t cp;
    if (c < 0x80) { p++; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return 0;
    if ((size_t)(e - p) < len) return 0;
    for (size_t i = 1; i < len; i++) {
      if ((p[i] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    p += len;
  }
  return 1;
}

qv_status qv__check_name(const qv_db *db, const char *what, const char *name) {
  if (!name || !*name) return qv__err(db, QV_INVALID, "%s: must not be empty", what);
  size_t n = strlen(name);
  if (n > 512) return qv__err(db, QV_INVALID, "%s: longer than 512 bytes", what);
  if (!qv__utf8_valid(name, n)) return qv__err(db, QV_INVALID, "%s: not valid UTF-8", what);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
      return qv__err(db, QV_INVALID, "%s: control character at byte %zu", what, i);
  return QV_OK;
}


/* The vector source handed to indexes: the store's copy of a record's embedding, prepared. */
static qv_status vsrc_get(void *ctx, uint32_t slot, float *out) {
  qv_collection *c = ctx;
  if (slot >= c->n_slots || !c->ids[slot] || !c->db->store) return QV_NOTFOUND;
  qv_status rc = qv__store_rec_embedding(c->db->store, c->rids[slot], c->dim, out);
  if (rc == QV_OK && c->metric == QV_METRIC_COSINE) qv__normalize(out, c->dim);
  return rc;
}

/* vsrc_get for n slots, one read transaction per chunk of rows (qv_vec_source.get_many). */
static qv_status vsrc_get_many(void *ctx, const uint32_t *slots, size_t n, float *out, qv_status *each) {
  qv_collection *c = ctx;
  if (!c->db->store) return QV_NOTFOUND;
  int64_t rids[64];
  for (size_t i0 = 0; i0 < n; i0 += 64) {
    size_t m = n - i0 < 64 ? n - i0 : 64;
    for (size_t i = 0; i < m; i++) {
      uint32_t s = slots[i0 + i];
      rids[i] = s < c->n_slots && c->ids[s] ? c->rids[s] : 0;
    }
    qv_status rc = qv__store_rec_embeddings(c->db->store, rids, m, c->dim, out + i0 * c->dim, each + i0);
    if (rc) return rc;
    if (c->metric == QV_METRIC_COSINE)
      for (size_t i = 0; i < m; i++)
        if (each[i0 + i] == QV_OK) qv__normalize(out + (i0 + i) * c->dim, c->dim);
  }
  return QV_OK;
}

/* ------------------------------------------------------------------ life cycle */

qv_status qv__col_new(qv_db *db, const char *name, const qv_collection_opts *o, qv_collection **out) {
  *out = NULL;
  if ((unsigned)o->metric > QV_METRIC_HAMMING) return qv__err(db, QV_INVALID, "metric: unknown value %d", (int)o->metric);
  const char *kind = o->index ? o->index : "flat";
  const qv_index_vt *vt = qv__index_find(kind);
  if (!vt) {
    char known[256];
    kinds_list(known, sizeof known);
    return qv__err(db, QV_INVALID, "index: unknown kind \"%.64s\" (this build has: %s)", kind, known);
  }
  if (o->dim > 65536) return qv__err(db, QV_INVALID, "dim: %u is larger than 65536", o->dim);
  if (o->metric == QV_METRIC_HAMMING && (o->dim == 0 || o->dim % 8))
    return qv__err(db, QV_INVALID, "dim: a hamming collection needs its number of bits, a multiple of 8 (got %u)",
                   o->dim);
  if (!(vt->metrics & QV_METRIC_BIT(o->metric)))
    return qv__err(db, QV_UNSUPPORTED, "metric: %s is not supported by index kind %s", qv_metric_name(o->metric),
                   vt->name);
  char perr[512];
  char *canon = NULL;
  qv_status prc = qv__params_canon(&db->mem, vt->params, vt->name, o->params_json, &canon, perr, sizeof perr);
  if (prc == QV_NOMEM) return QV_NOMEM;
  if (prc) return qv__err(db, prc, "params.%s", perr);
  qv_collection *c = qv__calloc(&db->mem, 1, sizeof *c);
  if (!c) {
    qv__free(&db->mem, canon);
    return QV_NOMEM;
  }
  c->params = canon;
  c->db = db;
  atomic_init(&c->refs, 1);
  atomic_init(&c->dropped, 0);
  c->fcache = qv__fcache_new(&db->mem);
  c->name = qv__strdup(&db->mem, name);
  c->metadata_json = o->metadata_json ? qv__strdup(&db->mem, o->metadata_json) : NULL;
  c->config_json = o->config_json ? qv__strdup(&db->mem, o->config_json) : NULL;
  if (!c->fcache || !c->name || (o->metadata_json && !c->metadata_json) || (o->config_json && !c->config_json)) {
    qv__fcache_free(&db->mem, c->fcache);
    qv__free(&db->mem, c->name);
    qv__free(&db->mem, c->metadata_json);
    qv__free(&db->mem, c->config_json);
    qv__free(&db->mem, c->params);
    qv__free(&db->mem, c);
    return QV_NOMEM;
  }
  c->dim = o->metric == QV_METRIC_HAMMING ? (o->dim + 31) / 32 : o->dim;
  c->bits = o->metric == QV_METRIC_HAMMING ? o->dim : 0;
  c->metric = o->metric;
  c->vt = vt;
  c->next_rid = 1;
  /* Writer-preferring: glibc's default rwlock prefers readers, so a steady stream of queries
     starved writes indefinitely (tests/api/test_query.c concurrency). No path takes c->lock
     for reading twice in one thread, which is what the non-recursive kind requires. */
  pthread_rwlockattr_t la;
  pthread_rwlockattr_init(&la);
  pthread_rwlockattr_setkind_np(&la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&c->lock, &la);
  pthread_rwlockattr_destroy(&la);
  pthread_mutex_init(&c->wmu, NULL);
  qv__idmap_init(&c->idmap, &c->ids);
  c->vsrc.ctx = c;
  c->vsrc.get = vsrc_get;
  c->vsrc.get_many = vsrc_get_many;
  qv__make_uuid(c->uuid);
  *out = c;
  return QV_OK;
}

void qv__col_free(qv_collection *c) {
  if (!c) return;
  const qv_mem *mem = &c->db->mem;
  if (c->ix) c->vt->destroy(c->ix);
  for (uint32_t s = 0; s < c->n_slots; s++) {
    qv__free(mem, c->ids[s]);
    qv__meta_free(mem, c->metas[s]);
    qv__free(mem, c->docs[s]);
  }
  qv__free(mem, c->ids);
  qv__free(mem, c->metas);
  qv__free(mem, c->docs);
  qv__free(mem, c->rids);
  qv__free(mem, c->onorm);
  qv__free(mem, c->free_slots);
  qv__col_pend_free(c);
  qv__idmap_free(mem, &c->idmap);
  qv__fcache_free(mem, c->fcache);
  qv__text_free(c); /* text.c */
  qv__free(mem, c->name);
  qv__free(mem, c->metadata_json);
  qv__free(mem, c->config_json);
  qv__free(mem, c->params);
  pthread_rwlock_destroy(&c->lock);
  pthread_mutex_destroy(&c->wmu);
  qv__free(mem, c);
}

void qv_collection_release(qv_collection *c) {
  if (!c) return;
  if (atomic_fetch_sub(&c->refs, 1) == 1) qv__col_free(c);
}

void qv__col_index_params(const qv_collection *c, qv_index_params *p) {
  memset(p, 0, sizeof *p);
  p->mem = &c->db->mem;
  p->metric = c->metric;
  p->dim = c->dim;
  p->params_json = c->params;
  p->n_threads = c->db->n_threads;
  p->vsrc = c->db->store ? &c->vsrc : NULL;
}

qv_status qv__col_ensure_index(qv_collection *c) {
  if (c->ix || !c->dim) return QV_OK;
  qv_index_params p;
  char why[256] = "";
  qv__col_index_params(c, &p);
  p.err = why;
  p.errlen = sizeof why;
  qv_status rc = c->vt->create(&p, &c->ix);
  if (rc && why[0]) return qv__err(c->db, rc, "params.%s", why);
  if (rc) return qv__err(c->db, rc, "creating the %s index failed", c->vt->name);
  return QV_OK;
}

char *qv__col_index_path(const qv_collection *c) {
  size_t n = strlen(c->db->path) + 64;
  char *p = qv__malloc(&c->db->mem, n);
  if (p) snprintf(p, n, "%s/index/%lld.idx", c->db->path, (long long)c->cid);
  return p;
}

/* Per-slot arrays long enough for slot `need - 1`. */
qv_status qv__col_grow(qv_collection *c, uint32_t need) {
  /* in-memory cosine keeps the original norms in c->onorm; it can be missing with arrays
     already allocated when a first write that fixed the dimension failed (write.c unfix_dim) */
  int need_norms = !c->db->store && c->metric == QV_METRIC_COSINE && c->dim && !c->onorm;
  if (need <= c->cap && !need_norms) return QV_OK;
  const qv_mem *mem = &c->db->mem;
  uint64_t cap = c->cap ? c->cap : 64;
  while (cap < need) cap += cap / 2 + 64;
  if (cap > UINT32_MAX - 1) return QV_NOMEM;
  void *p;
  if (!(p = qv__realloc(mem, c->ids, cap * sizeof *c->ids))) return QV_NOMEM;
  c->ids = p;
  if (!(p = qv__realloc(mem, c->metas, cap * sizeof *c->metas))) return QV_NOMEM;
  c->metas = p;
  if (!(p = qv__realloc(mem, c->docs, cap * sizeof *c->docs))) return QV_NOMEM;
  c->docs = p;
  if (!(p = qv__realloc(mem, c->rids, cap * sizeof *c->rids))) return QV_NOMEM;
  c->rids = p;
  if (!c->db->store && c->metric == QV_METRIC_COSINE && c->dim) {
    float *o = qv__realloc(mem, c->onorm, cap * sizeof *o);
    if (!o) return QV_NOMEM;
    c->onorm = o;
  }
  for (uint64_t i = c->cap; i < cap; i++) {
    c->ids[i] = NULL;
    c->metas[i] = NULL;
    c->docs[i] = NULL;
    c->rids[i] = 0;
  }
  c->cap = (uint32_t)cap;
  return QV_OK;
}

/* ------------------------------------------------------------------ load at open */

/*
 * Opening a collection: (1) the records are read without their embeddings (ids, metadata,
 * documents, slots), noting each slot's sequence number; (2) the index checkpoint is loaded --
 * an index that keeps no copy of the floats in its file reads them through the vector source,
 * which works now that every slot's row is known; (3) the write log newer than the checkpoint
 * is replayed (logged deletes, then rows written since). If there is no usable checkpoint,
 * the index is rebuilt from a second scan that reads only slots and embeddings.
 */
typedef struct load_ctx {
  qv_collection *c;
  uint64_t *seqs;       /* per slot: the row's sequence number (freed after the load) */
  uint32_t *bslots;     /* rebuild batch */
  float *bvecs;
  size_t n_batch;
} load_ctx;

#define LOAD_BATCH 4096

static qv_status flush_batch(load_ctx *L) {
  qv_collection *c = L->c;
  if (!L->n_batch) return QV_OK;
  qv_status rc = c->vt->add(c->ix, L->bslots, L->bvecs, L->n_batch);
  L->n_batch = 0;
  return rc ? qv__err(c->db, rc, "rebuilding the index failed") : QV_OK;
}

static qv_status load_row(void *ctx, const qv_store_rec *r, uint64_t seq) {
  load_ctx *L = ctx;
  qv_collection *c = L->c;
  const qv_mem *mem = &c->db->mem;
  char err[256];
  if (r->slot >= UINT32_MAX - 1) return qv__err(c->db, QV_CORRUPT, "record %s: bad slot", r->id);
  uint32_t old_cap = c->cap;
  qv_status rc = qv__col_grow(c, r->slot + 1);
  if (rc) return rc;
  if (c->cap != old_cap) {
    uint64_t *v = qv__realloc(mem, L->seqs, (size_t)c->cap * sizeof *v);
    if (!v) return QV_NOMEM;
    memset(v + old_cap, 0, (size_t)(c->cap - old_cap) * sizeof *v);
    L->seqs = v;
  }
  if (c->ids[r->slot]) return qv__err(c->db, QV_CORRUPT, "records %s and %s share slot %u", c->ids[r->slot], r->id, r->slot);
  if ((rc = qv__idmap_reserve(mem, &c->idmap, 1))) return rc;
  qv_meta *m = NULL;
  if (r->meta_json && (rc = qv__meta_parse(mem, r->meta_json, 0, &m, err, sizeof err)))
    return qv__err(c->db, rc == QV_NOMEM ? rc : QV_CORRUPT, "record %s: stored metadata: %s", r->id, err);
  char *id = qv__strdup(mem, r->id), *doc = r->doc ? qv__strdup(mem, r->doc) : NULL;
  if (!id || (r->doc && !doc)) {
    qv__free(mem, id);
    qv__free(mem, doc);
    qv__meta_free(mem, m);
    return QV_NOMEM;
  }
  c->ids[r->slot] = id;
  c->metas[r->slot] = m;
  c->docs[r->slot] = doc;
  c->rids[r->slot] = r->rid;
  L->seqs[r->slot] = seq;
  qv__idmap_put(&c->idmap, r->slot);
  c->count++;
  if (r->slot >= c->n_slots) c->n_slots = r->slot + 1;
  if (seq > c->last_seq) c->last_seq = seq;
  return QV_OK;
}

/* Rebuild: one row's embedding into the batch for the fresh index. */
static qv_status rebuild_row(void *ctx, const qv_store_rec *r, uint64_t seq) {
  load_ctx *L = ctx;
  qv_collection *c = L->c;
  (void)seq;
  float *v = L->bvecs + L->n_batch * c->dim;
  memcpy(v, r->emb, c->dim * sizeof(float));
  if (c->metric == QV_METRIC_COSINE) qv__normalize(v, c->dim);
  L->bslots[L->n_batch++] = r->slot;
  return L->n_batch == LOAD_BATCH ? flush_batch(L) : QV_OK;
}

/* Try the checkpoint file; on any failure other than "no file" say so and rebuild. */
static int try_load_index(qv_collection *c) {
  qv_index_params p;
  qv__col_index_params(c, &p);
  char *path = qv__col_index_path(c);
  if (!path) return 0;
  uint64_t seq = 0;
  qv_index *ix = NULL;
  qv_status rc = c->vt->load(&p, path, &ix, &seq);
  if (rc == QV_OK && seq > c->db->seq) {
    c->vt->destroy(ix);
    ix = NULL;
    rc = QV_CORRUPT;
  }
  if (rc != QV_OK && rc != QV_NOTFOUND)
    qv__log(c->db, QV_LOG_WARN, "collection %s: index file %s unusable (%s); rebuilding it from the records", c->name,
            path, qv_status_str(rc));
  qv__free(&c->db->mem, path);
  if (rc != QV_OK) return 0;
  c->ix = ix;
  c->ckpt_seq = seq;
  return 1;
}

/* Whether the index holds slot (kinds without resident floats say so through contains()). */
static int ix_holds(const qv_collection *c, uint32_t slot) {
  return c->vt->contains ? c->vt->contains(c->ix, slot) : c->vt->vector(c->ix, slot) != NULL;
}

/* A logged delete newer than the checkpoint: its slot leaves the index unless a newer record
 * took it over (that record is replayed after the deletes). */
static qv_status replay_delete(void *ctx, uint64_t seq, uint32_t slot, const char *id) {
  qv_collection *c = ctx;
  (void)id;
  if (seq > c->last_seq) c->last_seq = seq;
  if ((slot >= c->n_slots || !c->ids[slot]) && ix_holds(c, slot)) c->vt->remove(c->ix, slot);
  return QV_OK;
}

/* Replay the write log newer than the checkpoint: deletes, then rows written since. */
static qv_status catch_up(load_ctx *L) {
  qv_collection *c = L->c;
  qv_status lrc = qv__store_log_deletes(c->db->store, c->cid, c->ckpt_seq, replay_delete, c);
  if (lrc) return qv__err(c->db, lrc, "%s", qv__store_errmsg(c->db->store));
  /* A consistency net for checkpoints older than the log (format 1 had none): any slot the
     index holds without a record is dropped too. */
  qv_index_stats st;
  memset(&st, 0, sizeof st);
  c->vt->stats(c->ix, &st);
  for (uint64_t s = 0; s < st.n_slots; s++)
    if ((s >= c->n_slots || !c->ids[s]) && ix_holds(c, (uint32_t)s)) c->vt->remove(c->ix, (uint32_t)s);
  float *v = qv__malloc_aligned(&c->db->mem, c->dim * sizeof(float));
  if (!v) return QV_NOMEM;
  qv_status rc = QV_OK;
  for (uint32_t s = 0; s < c->n_slots && rc == QV_OK; s++) {
    if (!c->ids[s] || L->seqs[s] <= c->ckpt_seq) continue;
    rc = qv__store_rec_embedding(c->db->store, c->rids[s], c->dim, v);
    if (rc) {
      qv__err(c->db, rc, "%s", qv__store_errmsg(c->db->store));
      break;
    }
    if (c->metric == QV_METRIC_COSINE) qv__normalize(v, c->dim);
    /* always re-added: an index whose floats come from the store already shows the new vector
       through vector(), while its graph and codes were built from the old one */
    rc = c->vt->add(c->ix, &s, v, 1);
  }
  qv__free_aligned(&c->db->mem, v);
  return rc;
}

qv_status qv__col_load(qv_collection *c) {
  load_ctx L;
  memset(&L, 0, sizeof L);
  L.c = c;
  qv_status rc = QV_OK;
  const qv_mem *mem = &c->db->mem;
  rc = qv__store_rec_scan(c->db->store, c->cid, c->dim, 0, load_row, &L);
  if (rc) {
    if (!*qv_db_errmsg(c->db)) qv__err(c->db, rc, "%s", qv__store_errmsg(c->db->store));
    goto cleanup;
  }
  if (c->dim) {
    if (try_load_index(c)) {
      rc = catch_up(&L);
    } else {
      c->ckpt_seq = 0;
      if ((rc = qv__col_ensure_index(c))) goto cleanup;
      L.bslots = qv__malloc(mem, LOAD_BATCH * sizeof *L.bslots);
      L.bvecs = qv__malloc_aligned(mem, (size_t)LOAD_BATCH * c->dim * sizeof(float));
      if (!L.bslots || !L.bvecs) { rc = QV_NOMEM; goto cleanup; }
      rc = qv__store_rec_scan(c->db->store, c->cid, c->dim, 2, rebuild_row, &L);
      if (rc) {
        if (!*qv_db_errmsg(c->db)) qv__err(c->db, rc, "%s", qv__store_errmsg(c->db->store));
        goto cleanup;
      }
      rc = flush_batch(&L);
    }
  }
  if (rc) goto cleanup;
  for (uint32_t s = c->n_slots; s-- > 0;) /* free list: lowest slot reused first */
    if (!c->ids[s]) {
      if (c->n_free == c->free_cap) {
        uint32_t nc = c->free_cap ? c->free_cap * 2 : 64;
        uint32_t *f = qv__realloc(mem, c->free_slots, nc * sizeof *f);
        if (!f) { rc = QV_NOMEM; goto cleanup; }
        c->free_slots = f;
        c->free_cap = nc;
      }
      c->free_slots[c->n_free++] = s;
    }
  if (c->ckpt_seq > c->last_seq) c->last_seq = c->ckpt_seq; /* pruned deletes leave no row behind */
cleanup:
  qv__free(mem, L.seqs);
  qv__free(mem, L.bslots);
  qv__free_aligned(mem, L.bvecs);
  return rc;
}

qv_status qv__col_checkpoint(qv_collection *c) {
  if (!c->db->store || !c->ix) return QV_OK;
  qv_status crc = qv__col_catch_up(c); /* never a checkpoint that lacks committed records */
  if (crc) return crc;
  pthread_rwlock_rdlock(&c->lock);
  qv_status rc = QV_OK;
  if (c->ckpt_seq != c->last_seq || c->last_seq == 0) {
    char *path = qv__col_index_path(c);
    if (!path) rc = QV_NOMEM;
    else {
      rc = c->vt->save(c->ix, path, c->last_seq);
      if (rc == QV_OK) {
        c->ckpt_seq = c->last_seq;
        atomic_store(&c->dirty, 0);
        /* the checkpoint holds every delete up to here: the log no longer needs them */
        if (!c->db->read_only) {
          /* a failed prune is reported, though the checkpoint itself stands (the rows it
             leaves are pruned by the next one) */
          pthread_mutex_lock(&c->db->write_mu);
          if ((rc = qv__store_log_prune(c->db->store, c->cid, c->ckpt_seq)) != QV_OK)
            qv__err(c->db, rc, "collection %s: pruning the delete log: %s", c->name, qv__store_errmsg(c->db->store));
          pthread_mutex_unlock(&c->db->write_mu);
        }
      } else {
        qv__err(c->db, rc, "collection %s: writing index checkpoint %s failed", c->name, path);
      }
      qv__free(&c->db->mem, path);
    }
  }
  pthread_rwlock_unlock(&c->lock);
  return rc;
}

/* ------------------------------------------------------------------ catalog */

static qv_collection *find_locked(qv_db *db, const char *name, const char *uuid) {
  for (size_t i = 0; i < db->n_cols; i++) {
    qv_collection *c = db->cols[i];
    if ((name && strcmp(c->name, name) == 0) || (uuid && strcmp(c->uuid, uuid) == 0)) return c;
  }
  return NULL;
}

static qv_status lookup(qv_db *db, const char *name, const char *uuid, qv_collection **out) {
  pthread_mutex_lock(&db->cat_mu);
  qv_collection *c = find_locked(db, name, uuid);
  if (c) atomic_fetch_add(&c->refs, 1);
  pthread_mutex_unlock(&db->cat_mu);
  *out = c;
  if (!c) return uuid ? qv__err(db, QV_NOTFOUND, "collection with id %s does not exist", uuid)
                      : qv__err(db, QV_NOTFOUND, "collection %s does not exist", name);
  return QV_OK;
}

qv_status qv_collection_get(qv_db *db, const char *name, qv_collection **out) {
  if (!out) return QV_MISUSE;
  *out = NULL;
  if (!db || !name) return db ? qv__err(db, QV_INVALID, "name: must not be NULL") : QV_MISUSE;
  qv__err_clear(db);
  return lookup(db, qv__name_canon(name), NULL, out);
}

qv_status qv_collection_get_by_uuid(qv_db *db, const char *uuid, qv_collection **out) {
  if (!out) return QV_MISUSE;
  *out = NULL;
  if (!db || !uuid) return db ? qv__err(db, QV_INVALID, "uuid: must not be NULL") : QV_MISUSE;
  qv__err_clear(db);
  return lookup(db, NULL, uuid, out);
}

static void store_col_row(qv_collection *c, qv_store_col *row) {
  memset(row, 0, sizeof *row);
  row->cid = c->cid;
  row->name = c->name;
  row->uuid = c->uuid;
  row->metadata_json = c->metadata_json;
  row->config_json = c->config_json;
  row->dim = QV__PUBDIM(c);
  row->metric = (int)c->metric;
  row->kind = (char *)(uintptr_t)c->vt->name;
  row->params_json = c->params;
}

/* Write the catalog row inside the caller's transaction. */
qv_status qv__col_store_row(qv_collection *c) {
  qv_store_col row;
  store_col_row(c, &row);
  return qv__store_col_update(c->db->store, &row);
}

/* Persist a changed catalog row in its own transaction (under write_mu). */
qv_status qv__col_persist(qv_collection *c) {
  qv_db *db = c->db;
  if (!db->store) return QV_OK;
  qv_store_col row;
  store_col_row(c, &row);
  qv_status rc = qv__store_begin(db->store);
  if (rc == QV_OK) rc = qv__store_col_update(db->store, &row);
  if (rc == QV_OK) rc = qv__store_commit(db->store, db->seq);
  else qv__store_rollback(db->store);
  if (rc) return qv__err(db, rc, "%s", qv__store_errmsg(db->store));
  return QV_OK;
}

static qv_status validate_metadata_json(qv_db *db, const char *json) {
  if (!json) return QV_OK;
  char err[256];
  qv_meta *m = NULL;
  qv_status rc = qv__meta_parse(&db->mem, json, 0, &m, err, sizeof err);
  qv__meta_free(&db->mem, m);
  return rc ? qv__err(db, rc, "metadata: %s", err) : QV_OK;
}

static qv_status create_locked(qv_db *db, const char *name, const qv_collection_opts *o, qv_collection **out) {
  qv_collection *c = NULL;
  qv_status rc = qv__col_new(db, name, o, &c);
  if (rc) return rc;
  if (db->store) {
    qv_store_col row;
    store_col_row(c, &row);
    rc = qv__store_begin(db->store);
    if (rc == QV_OK) rc = qv__store_col_insert(db->store, &row);
    if (rc == QV_OK) rc = qv__store_commit(db->store, db->seq);
    else qv__store_rollback(db->store);
    if (rc) {
      qv__err(db, rc, "%s", qv__store_errmsg(db->store));
      goto cleanup;
    }
    c->cid = row.cid;
  } else {
    c->cid = db->next_cid++;
  }
  if ((rc = qv__col_ensure_index(c))) goto cleanup;
  pthread_mutex_lock(&db->cat_mu);
  rc = qv__db_catalog_push(db, c);
  if (rc == QV_OK) atomic_fetch_add(&c->refs, 1);
  pthread_mutex_unlock(&db->cat_mu);
  if (rc) goto cleanup;
  *out = c;
  return QV_OK;
cleanup:
  if (db->store && c->cid) { /* undo the catalog row */
    qv__store_begin(db->store);
    if (qv__store_col_delete(db->store, c->cid) == QV_OK) qv__store_commit(db->store, db->seq);
    else qv__store_rollback(db->store);
  }
  qv__col_free(c);
  return rc;
}

qv_status qv_collection_create(qv_db *db, const char *name, const qv_collection_opts *opts, qv_collection **out) {
  qv_collection_opts given;
  if (!out) return QV_MISUSE;
  *out = NULL;
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  qv_collection_opts_init(&given);
  if (opts) qv__struct_in(&given, sizeof given, opts, QV__BASE_COLLECTION_OPTS);
  opts = &given;
  qv_status rc = qv__check_name(db, "name", name);
  if (rc == QV_OK) rc = validate_metadata_json(db, opts->metadata_json);
  if (rc == QV_OK) rc = qv__config_check(db, "config", opts->config_json);
  if (rc) return rc;
  pthread_mutex_lock(&db->write_mu);
  pthread_mutex_lock(&db->cat_mu);
  const char *canon = name;
  rc = qv__name_check_new(db, "name", name, &canon);
  int exists = rc == QV_OK && find_locked(db, canon, NULL) != NULL;
  pthread_mutex_unlock(&db->cat_mu);
  if (rc == QV_OK)
    rc = exists ? qv__err(db, QV_EXISTS, "collection %s already exists", name) : create_locked(db, canon, opts, out);
  pthread_mutex_unlock(&db->write_mu);
  return rc;
}

qv_status qv_collection_get_or_create(qv_db *db, const char *name, const qv_collection_opts *opts, qv_collection **out,
                                      int *created) {
  qv_collection_opts given;
  if (created) *created = 0;
  if (!out) return QV_MISUSE;
  *out = NULL;
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  qv_collection_opts_init(&given);
  if (opts) qv__struct_in(&given, sizeof given, opts, QV__BASE_COLLECTION_OPTS);
  opts = &given;
  qv_status rc = qv__check_name(db, "name", name);
  if (rc) return rc;
  pthread_mutex_lock(&db->write_mu);
  pthread_mutex_lock(&db->cat_mu);
  const char *canon = qv__name_canon(name);
  qv_collection *c = find_locked(db, canon, NULL);
  if (c) atomic_fetch_add(&c->refs, 1);
  else rc = qv__name_check_new(db, "name", name, &canon);
  pthread_mutex_unlock(&db->cat_mu);
  if (c) {
    *out = c;
  } else if (rc) {
    /* a qualified name of a database that does not exist, or a malformed one */
  } else if (db->read_only) {
    rc = qv__err(db, QV_MISUSE, "database is open read-only");
  } else if ((rc = validate_metadata_json(db, opts->metadata_json)) == QV_OK &&
             (rc = qv__config_check(db, "config", opts->config_json)) == QV_OK) {
    rc = create_locked(db, canon, opts, out);
    if (rc == QV_OK && created) *created = 1;
  }
  pthread_mutex_unlock(&db->write_mu);
  return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

qv_status qv_collection_list(qv_db *db, char ***names, size_t *n) {
  if (!names || !n) return QV_MISUSE;
  *names = NULL;
  *n = 0;
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  pthread_mutex_lock(&db->cat_mu);
  size_t len = db->n_cols;
  char **v = calloc(len + 1, sizeof *v); /* caller frees with qv_strings_free: plain malloc */
  int ok = v != NULL;
  for (size_t i = 0; ok && i < len; i++) ok = (v[i] = strdup(db->cols[i]->name)) != NULL;
  pthread_mutex_unlock(&db->cat_mu);
  if (!ok) {
    qv_strings_free(v);
    return QV_NOMEM;
  }
  qsort(v, len, sizeof *v, cmp_str);
  *names = v;
  *n = len;
  return QV_OK;
}

void qv_strings_free(char **names) {
  if (!names) return;
  for (char **p = names; *p; p++) free(*p);
  free(names);
}

qv_status qv_collection_rename(qv_db *db, const char *name, const char *new_name) {
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  qv_status rc = qv__check_name(db, "new_name", new_name);
  if (rc) return rc;
  if (!name) return qv__err(db, QV_INVALID, "name: must not be NULL");
  name = qv__name_canon(name);
  char *copy = qv__strdup(&db->mem, qv__name_canon(new_name));
  if (!copy) return QV_NOMEM;
  pthread_mutex_lock(&db->write_mu);
  pthread_mutex_lock(&db->cat_mu);
  const char *canon = copy;
  qv_collection *c = find_locked(db, name, NULL);
  if (!c) rc = qv__err(db, QV_NOTFOUND, "collection %s does not exist", name);
  else if ((rc = qv__name_check_new(db, "new_name", copy, &canon)) != QV_OK) {
    /* a qualified name of a database that does not exist, or a malformed one */
  } else if (strcmp(name, copy) != 0 && find_locked(db, copy, NULL))
    rc = qv__err(db, QV_EXISTS, "collection %s already exists", new_name);
  pthread_mutex_unlock(&db->cat_mu);
  if (rc == QV_OK) {
    char *old = c->name;
    pthread_mutex_lock(&db->cat_mu);
    c->name = copy;
    pthread_mutex_unlock(&db->cat_mu);
    rc = qv__col_persist(c);
    pthread_mutex_lock(&db->cat_mu);
    if (rc) {
      c->name = old;
    } else {
      copy = old; /* freed below */
    }
    pthread_mutex_unlock(&db->cat_mu);
  }
  pthread_mutex_unlock(&db->write_mu);
  qv__free(&db->mem, copy);
  return rc;
}

qv_status qv_collection_delete(qv_db *db, const char *name) {
  if (!db) return QV_MISUSE;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  if (!name) return qv__err(db, QV_INVALID, "name: must not be NULL");
  name = qv__name_canon(name);
  qv_status rc = QV_OK;
  pthread_mutex_lock(&db->cat_mu);
  qv_collection *c = find_locked(db, name, NULL);
  if (c) atomic_fetch_add(&c->refs, 1); /* ours, while we wait for its writers */
  pthread_mutex_unlock(&db->cat_mu);
  if (!c) { /* a collection the open skipped (degraded.c) is dropped from the store alone */
    pthread_mutex_lock(&db->write_mu);
    rc = qv__db_drop_skipped(db, name);
    pthread_mutex_unlock(&db->write_mu);
    if (rc == QV_NOTFOUND) rc = qv__err(db, QV_NOTFOUND, "collection %s does not exist", name);
    return rc;
  }
  pthread_mutex_lock(&c->wmu); /* writes to it in flight finish first */
  pthread_mutex_lock(&db->write_mu);
  if (atomic_load(&c->dropped)) rc = qv__err(db, QV_NOTFOUND, "collection %s does not exist", name);
  if (rc == QV_OK && db->store) {
    rc = qv__store_begin(db->store);
    if (rc == QV_OK) rc = qv__store_col_delete(db->store, c->cid);
    if (rc == QV_OK) rc = qv__store_commit(db->store, db->seq);
    else qv__store_rollback(db->store);
    if (rc) qv__err(db, rc, "%s", qv__store_errmsg(db->store));
  }
  int dropped = 0;
  if (rc == QV_OK) {
    if (db->store) {
      char *path = qv__col_index_path(c);
      if (path) remove(path);
      qv__free(&db->mem, path);
    }
    pthread_mutex_lock(&db->cat_mu);
    for (size_t i = 0; i < db->n_cols; i++)
      if (db->cols[i] == c) {
        memmove(&db->cols[i], &db->cols[i + 1], (db->n_cols - i - 1) * sizeof *db->cols);
        db->n_cols--;
        break;
      }
    pthread_mutex_unlock(&db->cat_mu);
    atomic_store(&c->dropped, 1);
    pthread_rwlock_wrlock(&c->lock); /* wait for reads in flight */
    pthread_rwlock_unlock(&c->lock);
    dropped = 1;
  }
  pthread_mutex_unlock(&db->write_mu);
  pthread_mutex_unlock(&c->wmu);
  if (dropped) qv_collection_release(c); /* the catalog's reference */
  qv_collection_release(c);              /* ours */
  return rc;
}

qv_status qv__col_check(const qv_collection *c) {
  if (!c) return QV_MISUSE;
  if (atomic_load(&c->dropped)) return qv__err(c->db, QV_MISUSE, "collection %s has been deleted", c->name);
  return QV_OK;
}

qv_status qv_collection_set_metadata(qv_collection *c, const char *metadata_json) {
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv_db *db = c->db;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  if ((rc = validate_metadata_json(db, metadata_json))) return rc;
  char *copy = metadata_json ? qv__strdup(&db->mem, metadata_json) : NULL;
  if (metadata_json && !copy) return QV_NOMEM;
  pthread_mutex_lock(&db->write_mu);
  pthread_mutex_lock(&db->cat_mu);
  char *old = c->metadata_json;
  c->metadata_json = copy;
  pthread_mutex_unlock(&db->cat_mu);
  rc = qv__col_persist(c);
  pthread_mutex_lock(&db->cat_mu);
  if (rc) {
    c->metadata_json = old;
    old = copy;
  }
  pthread_mutex_unlock(&db->cat_mu);
  pthread_mutex_unlock(&db->write_mu);
  qv__free(&db->mem, old);
  return rc;
}

qv_status qv_collection_info_get(qv_collection *c, qv_collection_info *out) {
  if (!out) return QV_MISUSE;
  qv_collection_info in;
  memset(&in, 0, sizeof in);
  qv__struct_out(out, &in, sizeof in, QV__BASE_COLLECTION_INFO); /* zero what the caller sees */
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv__err_clear(c->db);
  pthread_mutex_lock(&c->db->cat_mu);
  in.name = strdup(c->name);
  in.uuid = strdup(c->uuid);
  in.metadata_json = c->metadata_json ? strdup(c->metadata_json) : NULL;
  in.config_json = c->config_json ? strdup(c->config_json) : NULL;
  char *buf = malloc(strlen(c->name) + 1);
  const char *t = NULL, *d = NULL, *local = NULL;
  if (buf) qv__name_split(c->name, buf, &t, &d, &local);
  in.tenant = buf ? strdup(t) : NULL;
  in.database = buf ? strdup(d) : NULL;
  in.local_name = buf ? strdup(local) : NULL;
  free(buf);
  pthread_mutex_unlock(&c->db->cat_mu);
  pthread_rwlock_rdlock(&c->lock);
  in.dim = QV__PUBDIM(c);
  in.metric = c->metric;
  in.index = strdup(c->vt->name);
  in.params_json = strdup(c->params);
  in.count = c->count;
  pthread_rwlock_unlock(&c->lock);
  if (!in.name || !in.uuid || (c->metadata_json && !in.metadata_json) || !in.index || !in.params_json ||
      !in.tenant || !in.database || !in.local_name || (c->config_json && !in.config_json)) {
    in.struct_size = sizeof in; /* free them all */
    qv_collection_info_free(&in);
    return QV_NOMEM;
  }
  uint32_t want = out->struct_size;
  qv__struct_out(out, &in, sizeof in, QV__BASE_COLLECTION_INFO);
  if (want < offsetof(qv_collection_info, local_name) + sizeof in.local_name || want > sizeof in) {
    free(in.tenant); /* an older caller's struct has no room for them */
    free(in.database);
    free(in.local_name);
  }
  if (want < offsetof(qv_collection_info, config_json) + sizeof in.config_json || want > sizeof in)
    free(in.config_json); /* nor for this one */
  return QV_OK;
}

void qv_collection_info_free(qv_collection_info *info) {
  if (!info) return;
  free(info->name);
  free(info->uuid);
  free(info->metadata_json);
  free(info->index);
  free(info->params_json);
  uint32_t size = info->struct_size;
  info->name = info->uuid = info->metadata_json = info->index = info->params_json = NULL;
  if (size >= offsetof(qv_collection_info, local_name) + sizeof info->local_name &&
      size <= sizeof *info) { /* a struct with them (as qv__struct_out decides) */
    free(info->tenant);
    free(info->database);
    free(info->local_name);
    info->tenant = info->database = info->local_name = NULL;
  }
  if (size >= offsetof(qv_collection_info, config_json) + sizeof info->config_json && size <= sizeof *info) {
    free(info->config_json);
    info->config_json = NULL;
  }
  info->struct_size = size;
}

qv_status qv_collection_stats_get(qv_collection *c, qv_index_stats *out) {
  if (!out) return QV_MISUSE;
  qv_index_stats st;
  memset(&st, 0, sizeof st);
  qv__struct_out(out, &st, sizeof st, QV__BASE_INDEX_STATS);
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv__err_clear(c->db);
  pthread_rwlock_rdlock(&c->lock);
  if (c->ix) c->vt->stats(c->ix, &st);
  qv__col_mem_stats(c, &st);
  st.count = c->count;
  st.last_seq = c->last_seq;
  st.checkpoint_seq = c->ckpt_seq;
  pthread_rwlock_unlock(&c->lock);
  if (st.count)
    st.bytes_per_record = (st.mem_vectors + st.mem_graph + st.mem_ids + st.mem_metadata + st.mem_documents +
                           st.count / 2) / st.count;
  qv__struct_out(out, &st, sizeof st, QV__BASE_INDEX_STATS);
  return QV_OK;
}

qv_status qv_collection_set_params(qv_collection *c, const char *params_json) {
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv_db *db = c->db;
  qv__err_clear(db);
  if (!params_json) return qv__err(db, QV_INVALID, "params: must not be NULL");
  /* runtime parameters are persisted when the database is writable */
  int persist = db->store && !db->read_only;
  pthread_mutex_lock(&c->wmu); /* one change to the collection at a time */
  const qv_param_spec *spec = c->vt->params;
  size_t np = qv__params_count(spec);
  double cur[QV_MAX_PARAMS], want[QV_MAX_PARAMS];
  char perr[512];
  rc = qv__params_resolve(spec, c->vt->name, c->params, NULL, 0, cur, perr, sizeof perr);
  if (rc == QV_OK) rc = qv__params_resolve(spec, c->vt->name, params_json, cur, 1, want, perr, sizeof perr);
  if (rc) {
    pthread_mutex_unlock(&c->wmu);
    return rc == QV_NOMEM ? rc : qv__err(db, rc, "params.%s", perr);
  }
  char *canon = qv__params_format(&db->mem, spec, want);
  if (!canon) {
    pthread_mutex_unlock(&c->wmu);
    return QV_NOMEM;
  }
  pthread_rwlock_wrlock(&c->lock);
  size_t done = 0;
  for (; done < np && rc == QV_OK; done++)
    if (want[done] != cur[done] && c->ix) rc = c->vt->set_param(c->ix, spec[done].name, want[done]);
  char *old = c->params;
  if (rc == QV_OK) {
    pthread_mutex_lock(&db->write_mu);
    c->params = canon;
    if (persist && (rc = qv__col_persist(c))) c->params = old; /* qv__col_persist's message */
    pthread_mutex_unlock(&db->write_mu);
  } else {
    qv__err(db, rc, "params.%s: the index refused the value", spec[done - 1].name);
  }
  if (rc) { /* undo what the index took */
    for (size_t i = 0; i < done && i < np; i++)
      if (want[i] != cur[i] && c->ix) c->vt->set_param(c->ix, spec[i].name, cur[i]);
    old = canon;
  }
  pthread_rwlock_unlock(&c->lock);
  pthread_mutex_unlock(&c->wmu);
  qv__free(&db->mem, old);
  return rc;
}

qv_status qv_collection_set_param(qv_collection *c, const char *name, double value) {
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  if (!name) return qv__err(c->db, QV_INVALID, "name: must not be NULL");
  if (!isfinite(value)) return qv__err(c->db, QV_INVALID, "%s: %g is not a finite number", name, value);
  if (strchr(name, '"') || strchr(name, '\\')) return qv__err(c->db, QV_INVALID, "%s: unknown parameter", name);
  int i = qv__params_find(c->vt->params, name);
  char json[640];
  if (i >= 0 && c->vt->params[i].type == QV_PT_BOOL)
    snprintf(json, sizeof json, "{\"%.512s\": %s}", name, value != 0 ? "true" : "false");
  else
    snprintf(json, sizeof json, "{\"%.512s\": %.17g}", name, value);
  return qv_collection_set_params(c, json);
}

uint32_t qv_collection_dim(const qv_collection *c) { return c ? QV__PUBDIM(c) : 0; }
qv_metric qv_collection_metric(const qv_collection *c) { return c ? c->metric : QV_METRIC_L2; }

qv_status qv_collection_count(qv_collection *c, uint64_t *out) {
  if (!out) return QV_MISUSE;
  *out = 0;
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  pthread_rwlock_rdlock(&c->lock);
  *out = c->count;
  pthread_rwlock_unlock(&c->lock);
  return QV_OK;
}
