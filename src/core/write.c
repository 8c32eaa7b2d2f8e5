/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * write.c -- record writes: add, upsert, update, delete.
 *
 * Every batch goes through the same three phases, so that a batch is all or nothing:
 *   1. validate (no locks): ids, dimensions, finite values, metadata JSON, UTF-8. Errors name
 *      the field and the batch position ("embeddings[3][17]: NaN is not allowed").
 *   2. plan and prepare: resolve ids to slots, merge metadata, allocate every string, array
 *      slot and index vector the batch will need. Nothing visible changes.
 *   3. commit: one SQLite transaction with the next sequence number; only when COMMIT returns
 *      is the in-memory state (slot arrays, id map, index) changed, with steps that cannot
 *      fail except the index insertion itself.
 * An update may leave rows without a new vector (qv_batch.has_embedding, rows_given()): such a
 * row is planned like a metadata-only update of its record (the stored embedding is read back
 * to rewrite its row, keep_embedding()) inside the same batch, so Chroma's update with null
 * rows is one transaction too.
 *
 * Locks. The collection's c->wmu is held throughout, so writers of one collection (and its
 * drop, checkpoint, compaction) run one at a time and the collection's state cannot change
 * under a writer that only reads it. db->write_mu is held only around the SQLite transaction
 * (it serialises the one writer connection and the sequence numbers): the index work of one
 * collection -- insertion, compaction -- never holds up another collection's writes. The
 * collection's rwlock, which readers take shared, is taken exclusively only where readers
 * would see something move: fixing the dimension, growing arrays (realloc), and applying the
 * committed batch in memory. The SQLite transaction -- with its fsync, usually the longest
 * part of a small write -- runs while queries go on; they see the old state until the apply,
 * then the new one, never a mix, and a call returns only once its records are searchable.
 * One exception keeps the lock across the commit: in a persistent cosine collection a reader
 * fetches original embeddings from SQLite (the index holds unit vectors), so a batch that
 * replaces existing embeddings (or deletes, below) must not commit while a reader could read
 * a row ahead of the in-memory state.
 */
#include <math.h>
#include <string.h>

#include "col_int.h"
#include "dist.h"

typedef enum { W_ADD, W_UPSERT, W_UPDATE } wmode;

typedef struct wrec {
  uint32_t slot;
  int is_new;        /* takes a fresh slot */
  int skip;          /* ignored (existing id under QV_CONFLICT_IGNORE, missing id on update) */
  qv_meta *meta;     /* final metadata (owned until applied) */
  char *meta_json;   /* its JSON text for SQLite */
  char *doc;         /* final document copy, when given */
  int doc_given;
  char *id;          /* copy of the id for new records */
  const float *emb;  /* final original embedding row (batch or stored copy) */
  int emb_given;
  int64_t rid;       /* SQLite rowid of a new record */
  int meta_keep;     /* metadata not given: keep the existing */
} wrec;

typedef struct wbatch {
  qv_collection *c;
  const qv_batch *b;
  wmode mode;
  wrec *r;
  qv_meta **patch;   /* parsed metadata per record (NULL entries) */
  uint32_t dim;      /* the batch's row width */
  int dim_fixed_here;
  uint32_t *slots;   /* index add: slots and prepared vectors */
  float *vecs;
  const float *vecs_ext; /* the batch's own rows, when usable as they are */
  size_t n_vec;
  uint32_t n_taken_free, n_taken_new;
} wbatch;

static const char *mode_name(wmode m) { return m == W_ADD ? "add" : m == W_UPSERT ? "upsert" : "update"; }

/* ------------------------------------------------------------------ phase 1: validate */

static qv_status validate_ids(qv_db *db, const qv_batch *b) {
  qv_status rc = QV_OK;
  if (!b->ids) return qv__err(db, QV_INVALID, "ids: must not be NULL");
  for (size_t i = 0; i < b->n; i++) {
    const char *id = b->ids[i];
    if (!id || !*id) return qv__err(db, QV_INVALID, "ids[%zu]: id must be a non-empty string", i);
    size_t n = strlen(id);
    if (n > QV_MAX_ID_LEN) return qv__err(db, QV_INVALID, "ids[%zu]: id is longer than %d bytes", i, QV_MAX_ID_LEN);
    if (!qv__utf8_valid(id, n)) return qv__err(db, QV_INVALID, "ids[%zu]: id is not valid UTF-8", i);
  }
  /* duplicates within the batch: a temporary id map over the batch's own strings */
  char **keys = (char **)(uintptr_t)b->ids;
  qv_idmap m;
  qv__idmap_init(&m, &keys);
  if (b->n > UINT32_MAX / 4) return qv__err(db, QV_INVALID, "ids: batch of %zu records is too large", b->n);
  if ((rc = qv__idmap_reserve(&db->mem, &m, (uint32_t)b->n))) return rc;
  for (size_t i = 0; i < b->n && rc == QV_OK; i++) {
    uint32_t prev = qv__idmap_get(&m, b->ids[i]);
    if (prev != QV_NO_SLOT)
      rc = qv__err(db, QV_INVALID, "ids[%zu]: duplicate id \"%s\" (also at ids[%u])", i, b->ids[i], prev);
    else
      qv__idmap_put(&m, (uint32_t)i);
  }
  qv__idmap_free(&db->mem, &m);
  return rc;
}

/* 1 if row i of b carries a vector (b->has_embedding, update only). */
static int row_given(const qv_batch *b, size_t i) { return !b->has_embedding || b->has_embedding[i]; }

static qv_status validate_embeddings(qv_db *db, const qv_batch *b, uint32_t dim) {
  for (size_t i = 0; i < b->n; i++) {
    if (!row_given(b, i)) continue; /* not read */
    const float *row = b->embeddings + i * dim;
    for (uint32_t j = 0; j < dim; j++)
      if (!isfinite(row[j]))
        return qv__err(db, QV_INVALID, "embeddings[%zu][%u]: %s is not allowed", i, j,
                       isnan(row[j]) ? "NaN" : "infinity");
  }
  return QV_OK;
}

static qv_status validate_docs_and_meta(wbatch *w) {
  qv_db *db = w->c->db;
  const qv_batch *b = w->b;
  char err[256];
  if (b->documents)
    for (size_t i = 0; i < b->n; i++)
      if (b->documents[i] && !qv__utf8_valid(b->documents[i], strlen(b->documents[i])))
        return qv__err(db, QV_INVALID, "documents[%zu]: not valid UTF-8", i);
  if (!b->metadatas) return QV_OK;
  w->patch = qv__calloc(&db->mem, b->n, sizeof *w->patch);
  if (!w->patch) return QV_NOMEM;
  for (size_t i = 0; i < b->n; i++) {
    if (!b->metadatas[i]) continue;
    qv_status rc = qv__meta_parse(&db->mem, b->metadatas[i], w->mode != W_ADD, &w->patch[i], err, sizeof err);
    if (rc) return qv__err(db, rc, "metadatas[%zu]: %s", i, err);
  }
  return QV_OK;
}

static qv_status validate(wbatch *w) {
  qv_collection *c = w->c;
  qv_db *db = c->db;
  const qv_batch *b = w->b;
  qv_status rc;
  if (!b) return qv__err(db, QV_INVALID, "batch: must not be NULL");
  if (b->n == 0) return QV_OK;
  if ((rc = validate_ids(db, b))) return rc;
  if (!b->embeddings && w->mode != W_UPDATE)
    return qv__err(db, QV_INVALID, "embeddings: required for %s", mode_name(w->mode));
  w->dim = b->dim ? b->dim : c->dim;
  if (b->embeddings) {
    if (!w->dim) return qv__err(db, QV_INVALID, "embeddings: dimension unknown (collection has none yet; set batch dim)");
    if (w->dim > 65536) return qv__err(db, QV_INVALID, "embeddings: dimension %u is larger than 65536", w->dim);
    if (c->dim && w->dim != c->dim)
      return qv__err(db, QV_INVALID, "embeddings[0]: dimension %u does not match the collection's %u", w->dim, c->dim);
    if (c->metric != QV_METRIC_HAMMING && (rc = validate_embeddings(db, b, w->dim))) return rc;
  }
  return validate_docs_and_meta(w);
}

/* ------------------------------------------------------------------ phase 2: plan */

static qv_status take_slot(wbatch *w, uint32_t *slot) {
  qv_collection *c = w->c;
  if (w->n_taken_free < c->n_free) {
    *slot = c->free_slots[c->n_free - 1 - w->n_taken_free++];
    return QV_OK;
  }
  if ((uint64_t)c->n_slots + w->n_taken_new >= UINT32_MAX - 1) return QV_NOMEM;
  *slot = c->n_slots + w->n_taken_new++;
  return QV_OK;
}

static qv_status plan_one(wbatch *w, size_t i, qv_conflict conflict, int ignore_missing) {
  qv_collection *c = w->c;
  qv_db *db = c->db;
  const qv_batch *b = w->b;
  wrec *r = &w->r[i];
  uint32_t slot = qv__idmap_get(&c->idmap, b->ids[i]);
  if (w->mode == W_ADD && slot != QV_NO_SLOT) {
    if (conflict == QV_CONFLICT_IGNORE) { r->skip = 1; return QV_OK; }
    return qv__err(db, QV_EXISTS, "ids[%zu]: id \"%s\" already exists", i, b->ids[i]);
  }
  if (w->mode == W_UPDATE && slot == QV_NO_SLOT) {
    if (ignore_missing) { r->skip = 1; return QV_OK; }
    return qv__err(db, QV_NOTFOUND, "ids[%zu]: no record with id \"%s\"", i, b->ids[i]);
  }
  qv_status rc;
  r->is_new = slot == QV_NO_SLOT;
  if (r->is_new) {
    if ((rc = take_slot(w, &slot))) return rc;
    if (!(r->id = qv__strdup(&db->mem, b->ids[i]))) return QV_NOMEM;
  }
  r->slot = slot;
  const qv_meta *old = r->is_new ? NULL : c->metas[slot];
  const qv_meta *patch = w->patch ? w->patch[i] : NULL;
  if (patch) {
    if ((rc = qv__meta_merge(&db->mem, old, patch, &r->meta)))
      return rc == QV_NOMEM ? rc : qv__err(db, rc, "metadatas[%zu]: more than 1024 keys after merging", i);
    if (r->meta->n == 0) {
      qv__meta_free(&db->mem, r->meta);
      r->meta = NULL;
    }
    if (r->meta && !(r->meta_json = qv__meta_to_json(&db->mem, r->meta))) return QV_NOMEM;
  } else {
    r->meta_keep = 1; /* no metadata given: the record keeps what it has */
    if (old && !(r->meta_json = qv__meta_to_json(&db->mem, old))) return QV_NOMEM;
  }
  r->doc_given = b->documents && b->documents[i];
  if (r->doc_given && !(r->doc = qv__strdup(&db->mem, b->documents[i]))) return QV_NOMEM;
  r->emb_given = b->embeddings != NULL && row_given(b, i);
  if (r->emb_given) r->emb = b->embeddings + i * w->dim;
  return QV_OK;
}

/* The stored embedding of an existing record whose row is rewritten without a new one. */
static qv_status keep_embedding(wbatch *w, wrec *r, float *buf) {
  qv_collection *c = w->c;
  if (c->db->store) {
    qv_status rc = qv__store_rec_embedding(c->db->store, c->rids[r->slot], c->dim, buf);
    if (rc) return qv__err(c->db, rc, "%s", qv__store_errmsg(c->db->store));
    r->emb = buf;
    return QV_OK;
  }
  r->emb = c->vt->vector(c->ix, r->slot); /* in-memory, not cosine: the index holds the original */
  return r->emb ? QV_OK : qv__err(c->db, QV_ERROR, "record without a vector in the index");
}

/* Prepared (normalised for cosine) vectors for the index, for every record given one. */
static qv_status prepare_vectors(wbatch *w) {
  qv_collection *c = w->c;
  const qv_mem *mem = &c->db->mem;
  size_t n = 0;
  for (size_t i = 0; i < w->b->n; i++) n += !w->r[i].skip && w->r[i].emb_given;
  if (!n) return QV_OK;
  w->slots = qv__malloc(mem, n * sizeof *w->slots);
  if (!w->slots) return QV_NOMEM;
  /* the batch's rows as they are, no copy -- when the store holds them: should the index
     insertion fail after COMMIT, it catches up later from the store's rows (in memory, the
     copy is what it catches up from) */
  if (n == w->b->n && c->metric != QV_METRIC_COSINE && c->db->store) {
    for (size_t i = 0; i < n; i++) w->slots[i] = w->r[i].slot;
    w->n_vec = n;
    w->vecs_ext = w->b->embeddings;
    return QV_OK;
  }
  w->vecs = qv__malloc_aligned(mem, n * w->dim * sizeof(float));
  if (!w->vecs) return QV_NOMEM;
  for (size_t i = 0; i < w->b->n; i++) {
    const wrec *r = &w->r[i];
    if (r->skip || !r->emb_given) continue;
    float *v = w->vecs + w->n_vec * w->dim;
    memcpy(v, r->emb, w->dim * sizeof(float));
    if (c->metric == QV_METRIC_COSINE) qv__normalize(v, w->dim);
    w->slots[w->n_vec++] = r->slot;
  }
  return QV_OK;
}

/* ------------------------------------------------------------------ phase 3: commit + apply */

static qv_status write_sql(wbatch *w, uint64_t seq, float *kept) {
  qv_collection *c = w->c;
  qv_store *s = c->db->store;
  qv_status rc = qv__store_begin(s);
  if (rc == QV_OK && w->dim_fixed_here) rc = qv__col_store_row(c);
  for (size_t i = 0; i < w->b->n && rc == QV_OK; i++) {
    wrec *r = &w->r[i];
    if (r->skip) continue;
    qv_store_rec rec = {0, r->slot, r->is_new ? r->id : c->ids[r->slot], r->emb, r->meta_json,
                        r->doc_given ? r->doc : (r->is_new ? NULL : c->docs[r->slot])};
    if (r->is_new) {
      rc = qv__store_rec_insert(s, c->cid, c->dim, &rec, seq);
      r->rid = rec.rid;
    } else {
      if (!rec.emb && (rc = keep_embedding(w, r, kept)) == QV_OK) rec.emb = r->emb;
      if (rc == QV_OK) rc = qv__store_rec_replace(s, c->rids[r->slot], c->dim, &rec, seq);
    }
  }
  if (rc == QV_OK && w->b->position_key) rc = qv__store_pos_put(s, w->b->position_key, w->b->position);
  if (rc == QV_OK) rc = qv__store_commit(s, seq);
  else qv__store_rollback(s);
  if (rc && !*qv_db_errmsg(c->db)) qv__err(c->db, rc, "%s", qv__store_errmsg(s));
  return rc;
}

/* The prepared vectors, row i for w->slots[i]: the batch's own rows or w->vecs. */
static const float *prepared_vecs(const wbatch *w) { return w->vecs_ext ? w->vecs_ext : w->vecs; }

/*
 * Readers of a persistent cosine collection fetch original embeddings from SQLite, so its
 * writes that replace or delete stored rows keep the lock across COMMIT (see top).
 */
/* Readers of c read the store's rows, not only the index: cosine (the stored original), or an
 * index that keeps no float rows (its exact re-rank reads the store: hnsw keep_floats=false, ivf
 * without keep_floats). A delete or a replaced embedding must then hold the exclusive lock across
 * its COMMIT, or a reader could find a live slot whose row is already gone. Asked by the
 * collection's one writer (wmu), so the slot arrays and the index hold still. */
static int readers_read_store(const qv_collection *c) {
  if (!c->db->store) return 0;
  if (c->metric == QV_METRIC_COSINE) return 1;
  if (!c->ix || !c->vt->vector) return 0;
  for (uint32_t s = 0; s < c->n_slots; s++) /* the first live slot tells */
    if (c->ids[s] && (!c->vt->contains || c->vt->contains(c->ix, s))) return c->vt->vector(c->ix, s) == NULL;
  return 0;
}

static float norm_of(const float *v, uint32_t dim) {
  double s = 0;
  for (uint32_t i = 0; i < dim; i++) s += (double)v[i] * v[i];
  return (float)sqrt(s);
}

/* The committed batch's records into the collection's arrays (under the exclusive lock). */
static void apply_records(wbatch *w, uint64_t seq) {
  qv_collection *c = w->c;
  const qv_mem *mem = &c->db->mem;
  c->n_free -= w->n_taken_free;
  for (size_t i = 0; i < w->b->n; i++) {
    wrec *r = &w->r[i];
    if (r->skip) continue;
    uint32_t s = r->slot;
    if (r->is_new) {
      c->ids[s] = r->id;
      r->id = NULL;
      c->rids[s] = c->db->store ? r->rid : c->next_rid++;
      qv__idmap_put(&c->idmap, s);
      c->count++;
      if (s >= c->n_slots) c->n_slots = s + 1;
    }
    if (!r->meta_keep) {
      qv__meta_free(mem, c->metas[s]);
      c->metas[s] = r->meta;
      r->meta = NULL;
    }
    if (r->doc_given || r->is_new) {
      qv__free(mem, c->docs[s]);
      c->docs[s] = r->doc;
      r->doc = NULL;
    }
    if (c->onorm && r->emb_given) c->onorm[s] = norm_of(r->emb, c->dim);
    qv__fcache_update(c, &s, 1);
  }
  c->last_seq = seq;
}

/*
 * The prepared vectors split into those of new records (fresh: into slots the index holds no
 * live node for) and those replacing live ones, each list in batch order. Returns 0, or -1
 * when the copies cannot be allocated (the caller then inserts everything in one go).
 */
typedef struct vsplit {
  const uint32_t *fs, *es;
  const float *fv, *ev;
  size_t n_fresh, n_ex;
  uint32_t *own_s;
  float *own_v;
} vsplit;

static int split_fresh(wbatch *w, vsplit *v) {
  const qv_mem *mem = &w->c->db->mem;
  const float *vecs = prepared_vecs(w);
  size_t d = w->dim, jf = 0, je, j = 0;
  memset(v, 0, sizeof *v);
  for (size_t i = 0; i < w->b->n; i++)
    if (!w->r[i].skip && w->r[i].emb_given) v->n_fresh += w->r[i].is_new;
  v->n_ex = w->n_vec - v->n_fresh;
  if (!v->n_ex) { /* the usual bulk add: the prepared arrays as they are */
    v->fs = w->slots;
    v->fv = vecs;
    return 0;
  }
  v->own_s = qv__malloc(mem, w->n_vec * sizeof *v->own_s);
  v->own_v = qv__malloc_aligned(mem, w->n_vec * d * sizeof(float));
  if (!v->own_s || !v->own_v) return -1;
  je = v->n_fresh;
  for (size_t i = 0; i < w->b->n; i++) {
    const wrec *r = &w->r[i];
    if (r->skip || !r->emb_given) continue;
    size_t to = r->is_new ? jf++ : je++;
    v->own_s[to] = w->slots[j];
    memcpy(v->own_v + to * d, vecs + j * d, d * sizeof(float));
    j++;
  }
  v->fs = v->own_s;
  v->fv = v->own_v;
  v->es = v->own_s + v->n_fresh;
  v->ev = v->own_v + v->n_fresh * d;
  return 0;
}

/*
 * Make the committed batch visible in memory; only the index insertion can fail. Called
 * without the collection lock unless `locked`; returns with it released.
 *
 * A large batch of new records goes into the index hidden (add_hidden), HIDDEN_CHUNK at a
 * time under the exclusive lock, so queries run between chunks instead of waiting for the
 * whole insertion; they cannot return the hidden nodes. The last step, under the lock, fills
 * the collection's arrays, replaces changed vectors and publishes the hidden nodes: readers
 * see the whole batch at once.
 */
#define HIDDEN_CHUNK 64 /* = PAR_MIN_BATCH in index/hnsw/hnsw.c: a chunk still uses both cores */

static qv_status apply(wbatch *w, uint64_t seq, int locked) {
  qv_collection *c = w->c;
  const qv_mem *mem = &c->db->mem;
  qv_status rc = QV_OK;
  vsplit v;
  size_t done = 0;
  int chunked = 0;
  memset(&v, 0, sizeof v);
  if (!locked && c->vt->add_hidden && w->n_vec >= HIDDEN_CHUNK)
    chunked = split_fresh(w, &v) == 0 && v.n_fresh >= HIDDEN_CHUNK;
  for (size_t off = 0; chunked && off < v.n_fresh && rc == QV_OK; off += HIDDEN_CHUNK) {
    size_t m = v.n_fresh - off < HIDDEN_CHUNK ? v.n_fresh - off : HIDDEN_CHUNK;
    pthread_rwlock_wrlock(&c->lock);
    rc = c->vt->add_hidden(c->ix, v.fs + off, v.fv + off * w->dim, m,
                           off ? NULL : prepared_vecs(w), w->n_vec);
    pthread_rwlock_unlock(&c->lock);
    if (qv__test_between_chunks) qv__test_between_chunks(c);
    if (rc == QV_OK) done = off + m;
  }
  if (!locked) pthread_rwlock_wrlock(&c->lock);
  apply_records(w, seq);
  if (!chunked) {
    if (w->n_vec) rc = c->vt->add(c->ix, w->slots, prepared_vecs(w), w->n_vec);
  } else {
    if (rc == QV_OK && v.n_ex) rc = c->vt->add(c->ix, v.es, v.ev, v.n_ex);
    c->vt->publish(c->ix, v.fs, done);
  }
  if (rc) { /* committed: nothing may fail now. The batch's index work waits in buffers
               allocated before the COMMIT (no allocation here), readers see `behind` */
    c->pend_slots = w->slots;
    c->pend_vecs = w->vecs; /* NULL when vecs_ext: the store has the rows */
    c->pend_n = w->n_vec;
    w->slots = NULL;
    w->vecs = NULL;
    atomic_store(&c->behind, 1);
  }
  pthread_rwlock_unlock(&c->lock);
  qv__free(mem, v.own_s);
  qv__free_aligned(mem, v.own_v);
  if (rc && (rc = qv__col_catch_up(c)) != QV_OK) /* c->wmu is held: catch up before returning */
    qv__log(c->db, QV_LOG_WARN,
            "collection %s: index insertion of a committed batch failed (%s); searches wait for it to catch up",
            c->name, qv_status_str(rc));
  return QV_OK;
}

/* ------------------------------------------------------------------ an index behind the store */

void qv__col_pend_free(qv_collection *c) {
  const qv_mem *mem = &c->db->mem;
  qv__free(mem, c->pend_slots);
  qv__free_aligned(mem, c->pend_vecs);
  c->pend_slots = NULL;
  c->pend_vecs = NULL;
  c->pend_n = 0;
  atomic_store(&c->behind, 0);
}

/* The pending batch into the index (c->wmu held). All or nothing: add() leaves the index as
 * it was on failure, so a failed catch-up is retried by the next call. */
qv_status qv__col_catch_up(qv_collection *c) {
  if (!atomic_load(&c->behind)) return QV_OK;
  const qv_mem *mem = &c->db->mem;
  const float *vecs = c->pend_vecs;
  float *own = NULL;
  qv_status rc = QV_OK;
  if (!vecs) { /* the store's rows, prepared as the index wants them */
    if (!(own = qv__malloc_aligned(mem, (c->pend_n ? c->pend_n : 1) * c->dim * sizeof(float)))) rc = QV_NOMEM;
    for (size_t i = 0; rc == QV_OK && i < c->pend_n; i++)
      rc = c->vsrc.get(c->vsrc.ctx, c->pend_slots[i], own + i * c->dim);
    vecs = own;
  }
  if (rc == QV_OK) {
    pthread_rwlock_wrlock(&c->lock);
    rc = c->pend_n ? c->vt->add(c->ix, c->pend_slots, vecs, c->pend_n) : QV_OK;
    if (rc == QV_OK) qv__col_pend_free(c);
    pthread_rwlock_unlock(&c->lock);
  }
  qv__free_aligned(mem, own);
  return rc;
}

/* For readers: QV_OK once no committed write is missing from the index (no lock held). */
qv_status qv__col_ready(qv_collection *c) {
  if (!atomic_load(&c->behind)) return QV_OK;
  pthread_mutex_lock(&c->wmu);
  qv_status rc = qv__col_catch_up(c);
  pthread_mutex_unlock(&c->wmu);
  if (rc)
    return qv__err(c->db, rc == QV_NOTFOUND ? QV_ERROR : rc,
                   "collection %s: its index is behind a committed write and cannot catch up yet (%s); retry",
                   c->name, qv_status_str(rc));
  return QV_OK;
}

/* pthread_rwlock_rdlock(&c->lock) once the index holds every committed write (see above). */
qv_status qv__col_rdlock_ready(qv_collection *c) {
  for (;;) {
    pthread_rwlock_rdlock(&c->lock);
    if (!atomic_load(&c->behind)) return QV_OK;
    pthread_rwlock_unlock(&c->lock);
    qv_status rc = qv__col_ready(c);
    if (rc) return rc;
  }
}

static void wbatch_free(wbatch *w) {
  const qv_mem *mem = &w->c->db->mem;
  if (w->r)
    for (size_t i = 0; i < w->b->n; i++) {
      qv__meta_free(mem, w->r[i].meta);
      qv__free(mem, w->r[i].meta_json);
      qv__free(mem, w->r[i].doc);
      qv__free(mem, w->r[i].id);
    }
  if (w->patch)
    for (size_t i = 0; i < w->b->n; i++) qv__meta_free(mem, w->patch[i]);
  qv__free(mem, w->patch);
  qv__free(mem, w->r);
  qv__free(mem, w->slots);
  qv__free_aligned(mem, w->vecs);
}

/* Fix the collection's dimension from its first write with embeddings (takes the lock). */
static qv_status fix_dim(wbatch *w) {
  qv_collection *c = w->c;
  if (c->dim || !w->b->embeddings) return QV_OK;
  pthread_rwlock_wrlock(&c->lock);
  c->dim = w->dim;
  w->dim_fixed_here = 1;
  qv_status rc = qv__col_ensure_index(c);
  if (rc) {
    c->dim = 0;
    w->dim_fixed_here = 0;
  }
  pthread_rwlock_unlock(&c->lock);
  return rc;
}

static void unfix_dim(wbatch *w) {
  qv_collection *c = w->c;
  if (!w->dim_fixed_here) return;
  pthread_rwlock_wrlock(&c->lock);
  c->vt->destroy(c->ix);
  c->ix = NULL;
  qv__free(&c->db->mem, c->onorm);
  c->onorm = NULL;
  c->dim = 0;
  pthread_rwlock_unlock(&c->lock);
}

/*
 * Room for n_new more slots in every array a reader walks. Reallocs happen under the lock;
 * an index that can (reserve_build) copies its bigger arrays before it, while queries run.
 */
static qv_status grow_for(qv_collection *c, uint32_t n_new, uint32_t n_batch) {
  qv_status rc = QV_OK;
  void *staged = NULL;
  if (c->vt->reserve_build) rc = c->vt->reserve_build(c->ix, c->n_slots + n_new, &staged);
  if (rc) return rc;
  pthread_rwlock_wrlock(&c->lock);
  rc = qv__idmap_reserve(&c->db->mem, &c->idmap, n_batch);
  if (rc == QV_OK) rc = qv__col_grow(c, c->n_slots + n_new);
  if (rc == QV_OK && c->vt->reserve_build) {
    c->vt->reserve_install(c->ix, staged);
    staged = NULL;
  } else if (rc == QV_OK && c->vt->reserve) {
    rc = c->vt->reserve(c->ix, c->n_slots + n_new);
  }
  if (rc == QV_OK) rc = qv__fcache_reserve(c, c->n_slots + n_new);
  pthread_rwlock_unlock(&c->lock);
  if (staged) c->vt->reserve_drop(c->ix, staged);
  return rc;
}

void (*qv__test_pre_apply)(qv_collection *c) = NULL;
void (*qv__test_between_chunks)(qv_collection *c) = NULL;

/* Phases 2 and 3, under c->wmu; takes the collection lock and db->write_mu where needed (see top). */
static qv_status run_batch(wbatch *w, qv_conflict conflict, int ignore_missing) {
  qv_collection *c = w->c;
  qv_db *db = c->db;
  const qv_batch *b = w->b;
  float *kept = NULL;
  int locked = 0;
  qv_status rc = qv__col_catch_up(c); /* an earlier batch's index work first */
  if (rc) return qv__err(db, rc, "collection %s: the index could not catch up with an earlier write (%s)", c->name,
                         qv_status_str(rc));
  if ((rc = fix_dim(w))) return rc;
  if (c->dim && b->embeddings && w->dim != c->dim) {
    rc = qv__err(db, QV_INVALID, "embeddings[0]: dimension %u does not match the collection's %u", w->dim, c->dim);
    goto fail;
  }
  if (!(w->r = qv__calloc(&db->mem, b->n, sizeof *w->r))) { rc = QV_NOMEM; goto fail; }
  for (size_t i = 0; i < b->n && rc == QV_OK; i++) rc = plan_one(w, i, conflict, ignore_missing);
  if (rc) goto fail;
  size_t n_write = 0;
  int replaces_emb = 0;
  for (size_t i = 0; i < b->n; i++) {
    n_write += !w->r[i].skip;
    replaces_emb |= !w->r[i].skip && !w->r[i].is_new && w->r[i].emb_given;
  }
  if (!n_write) { /* every record skipped: nothing to commit, the dimension stays unset (rc is QV_OK) */
    if (b->position_key) rc = qv__pos_commit_alone(db, b->position_key, b->position);
    goto fail;
  }
  if ((rc = grow_for(c, w->n_taken_new, (uint32_t)b->n))) goto fail;
  if ((rc = prepare_vectors(w))) goto fail;
  if (db->store && c->dim && !(kept = qv__malloc(&db->mem, c->dim * sizeof(float)))) { rc = QV_NOMEM; goto fail; }
  if (readers_read_store(c) && replaces_emb) {
    pthread_rwlock_wrlock(&c->lock);
    locked = 1;
  }
  pthread_mutex_lock(&db->write_mu);
  uint64_t seq = db->seq + 1;
  if (db->store && (rc = write_sql(w, seq, kept))) {
    pthread_mutex_unlock(&db->write_mu);
    goto fail;
  }
  db->seq = seq;
  /* committed: the mirror must follow (a failed allocation here leaves it stale until reopen) */
  if (b->position_key && qv__pos_note(db, b->position_key, b->position) != QV_OK)
    qv__log(db, QV_LOG_WARN, "out of memory recording position %s", b->position_key);
  pthread_mutex_unlock(&db->write_mu);
  if (qv__test_pre_apply) qv__test_pre_apply(c);
  rc = apply(w, seq, locked); /* releases the lock */
  qv__free(&db->mem, kept);
  return rc;
fail:
  if (locked) pthread_rwlock_unlock(&c->lock);
  qv__free(&db->mem, kept);
  unfix_dim(w);
  return rc;
}

/*
 * Binary vectors. A hamming collection takes packed bits (b->bits, dim / 8 bytes a row) and
 * keeps each row as ceil(dim / 32) 32-bit words, zero padded, the row width every other
 * layer (index, store) sees; *conv is that copy and b->embeddings points at it. Other
 * collections refuse bits; hamming ones refuse float embeddings.
 */
static qv_status bits_in(qv_collection *c, qv_batch *b, float **conv) {
  qv_db *db = c->db;
  *conv = NULL;
  if (c->metric != QV_METRIC_HAMMING) {
    if (b->bits) return qv__err(db, QV_INVALID, "bits: packed bits are only for hamming collections (%s is %s)",
                                c->name, qv_metric_name(c->metric));
    return QV_OK;
  }
  if (b->embeddings)
    return qv__err(db, QV_INVALID, "embeddings: %s is a hamming collection; pass packed bits (bits)", c->name);
  if (!b->bits) return QV_OK; /* update without vectors; add/upsert fail in validate() */
  if (b->dim && b->dim != c->bits)
    return qv__err(db, QV_INVALID, "bits[0]: dimension %u does not match the collection's %u bits", b->dim, c->bits);
  size_t nb = c->bits / 8, row = (size_t)c->dim * 4;
  if (b->n > SIZE_MAX / row) return QV_NOMEM;
  unsigned char *p = qv__malloc_aligned(&db->mem, b->n ? b->n * row : row);
  if (!p) return QV_NOMEM;
  memset(p, 0, b->n * row);
  for (size_t i = 0; i < b->n; i++)
    if (row_given(b, i)) memcpy(p + i * row, b->bits + i * nb, nb);
  *conv = (float *)(void *)p;
  b->embeddings = *conv;
  b->dim = c->dim;
  return QV_OK;
}

/*
 * b->has_embedding (rows without a new vector): only an update may leave one out, and a row
 * given needs embeddings or bits. Normalised: NULL when every row has a vector; embeddings
 * and bits NULL when none has (a metadata/document-only update).
 */
static qv_status rows_given(qv_db *db, qv_batch *b, wmode mode) {
  size_t n_given = 0, first_missing = SIZE_MAX, first_given = SIZE_MAX;
  if (!b->has_embedding) return QV_OK;
  for (size_t i = 0; i < b->n; i++) {
    if (!b->has_embedding[i]) {
      if (first_missing == SIZE_MAX) first_missing = i;
    } else {
      if (first_given == SIZE_MAX) first_given = i;
      n_given++;
    }
  }
  if (n_given == b->n) {
    b->has_embedding = NULL;
    return QV_OK;
  }
  if (mode != W_UPDATE)
    return qv__err(db, QV_INVALID, "embeddings[%zu]: required for %s (has_embedding[%zu] is 0: only an update keeps "
                   "a record's stored embedding)", first_missing, mode_name(mode), first_missing);
  if (!n_given) {
    b->embeddings = NULL;
    b->bits = NULL;
    b->has_embedding = NULL;
    return QV_OK;
  }
  if (!b->embeddings && !b->bits)
    return qv__err(db, QV_INVALID, "has_embedding[%zu]: set, but the batch has neither embeddings nor bits",
                   first_given);
  return QV_OK;
}

static qv_status write_batch(qv_collection *c, const qv_batch *bin, wmode mode, qv_conflict conflict,
                             int ignore_missing) {
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv_batch given, *b = NULL;
  if (bin) {
    memset(&given, 0, sizeof given);
    qv__struct_in(&given, sizeof given, bin, QV__BASE_BATCH);
    b = &given;
  }
  qv_db *db = c->db;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  float *conv = NULL; /* hamming: the packed bits in rows of c->dim 32-bit words */
  if (b && (rc = rows_given(db, b, mode))) return rc;
  if (b && (rc = bits_in(c, b, &conv))) return rc;
  wbatch w;
  memset(&w, 0, sizeof w);
  w.c = c;
  w.b = b;
  w.mode = mode;
  pthread_rwlock_rdlock(&c->lock); /* c->dim is stable under any lock */
  rc = validate(&w);
  pthread_rwlock_unlock(&c->lock);
  if (rc == QV_OK && b->position_key) rc = qv__pos_check(db, b->position_key);
  if (rc == QV_OK && !b->n && b->position_key) rc = qv__pos_commit_alone(db, b->position_key, b->position);
  if (rc == QV_OK && b->n) {
    pthread_mutex_lock(&c->wmu);
    rc = atomic_load(&c->dropped) ? qv__err(db, QV_MISUSE, "collection %s has been deleted", c->name)
                                  : run_batch(&w, conflict, ignore_missing);
    pthread_mutex_unlock(&c->wmu);
    if (rc == QV_OK) qv__db_note_writes(db, c, b->n);
  }
  if (b) wbatch_free(&w);
  qv__free_aligned(&db->mem, conv);
  if (rc && !*qv_db_errmsg(db)) qv__err(db, rc, "%s", qv_status_str(rc));
  return rc;
}

qv_status qv_collection_add(qv_collection *c, const qv_batch *b, qv_conflict on_conflict) {
  if (c && on_conflict != QV_CONFLICT_ERROR && on_conflict != QV_CONFLICT_IGNORE)
    return qv__err(c->db, QV_INVALID, "on_conflict: unknown value %d", (int)on_conflict);
  return write_batch(c, b, W_ADD, on_conflict, 0);
}

qv_status qv_collection_upsert(qv_collection *c, const qv_batch *b) { return write_batch(c, b, W_UPSERT, QV_CONFLICT_ERROR, 0); }

qv_status qv_collection_update(qv_collection *c, const qv_batch *b, int ignore_missing) {
  return write_batch(c, b, W_UPDATE, QV_CONFLICT_ERROR, ignore_missing);
}

/* ------------------------------------------------------------------ delete */

static qv_status delete_slots(qv_collection *c, const uint32_t *slots, size_t n, const char *pos_key,
                              uint64_t pos) {
  qv_db *db = c->db;
  const qv_mem *mem = &db->mem;
  qv_status rc = QV_OK;
  if (!n) return pos_key ? qv__pos_commit_alone(db, pos_key, pos) : QV_OK;
  if (c->n_free + n > c->free_cap) {
    size_t nc = c->free_cap ? c->free_cap : 64;
    while (nc < c->n_free + n) nc *= 2;
    uint32_t *f = qv__realloc(mem, c->free_slots, nc * sizeof *f);
    if (!f) return QV_NOMEM;
    c->free_slots = f;
    c->free_cap = (uint32_t)nc;
  }
  int locked = readers_read_store(c);
  if (locked) pthread_rwlock_wrlock(&c->lock);
  pthread_mutex_lock(&db->write_mu);
  uint64_t seq = db->seq + 1;
  if (db->store) {
    rc = qv__store_begin(db->store);
    for (size_t i = 0; i < n && rc == QV_OK; i++)
      rc = qv__store_rec_delete(db->store, c->cid, c->rids[slots[i]], slots[i], c->ids[slots[i]], seq);
    if (rc == QV_OK && pos_key) rc = qv__store_pos_put(db->store, pos_key, pos);
    if (rc == QV_OK) rc = qv__store_commit(db->store, seq);
    else qv__store_rollback(db->store);
    if (rc) {
      pthread_mutex_unlock(&db->write_mu);
      if (locked) pthread_rwlock_unlock(&c->lock);
      return qv__err(db, rc, "%s", qv__store_errmsg(db->store));
    }
  }
  db->seq = seq;
  if (pos_key && qv__pos_note(db, pos_key, pos) != QV_OK)
    qv__log(db, QV_LOG_WARN, "out of memory recording position %s", pos_key);
  pthread_mutex_unlock(&db->write_mu);
  if (qv__test_pre_apply) qv__test_pre_apply(c);
  if (!locked) pthread_rwlock_wrlock(&c->lock);
  c->last_seq = seq;
  for (size_t i = 0; i < n; i++) {
    uint32_t s = slots[i];
    if (c->ix) c->vt->remove(c->ix, s);
    qv__idmap_del(&c->idmap, c->ids[s]);
    qv__free(mem, c->ids[s]);
    qv__meta_free(mem, c->metas[s]);
    qv__free(mem, c->docs[s]);
    c->ids[s] = NULL;
    c->metas[s] = NULL;
    c->docs[s] = NULL;
    c->free_slots[c->n_free++] = s;
    c->count--;
  }
  qv__fcache_update(c, slots, n);
  pthread_rwlock_unlock(&c->lock);
  return QV_OK;
}

/* Slots to delete: the ids given (all of them when no filter), or matching the filter. */
static qv_status delete_targets(qv_collection *c, const char *const *ids, size_t n_ids, const qv_filter *f,
                                size_t limit, uint32_t **out, size_t *n_out) {
  const qv_mem *mem = &c->db->mem;
  size_t cap = ids ? n_ids : c->count;
  uint32_t *v = qv__malloc(mem, (cap ? cap : 1) * sizeof *v);
  uint64_t *taken = ids ? qv__calloc(mem, (size_t)c->n_slots / 64 + 1, sizeof *taken) : NULL;
  size_t n = 0;
  if (!v || (ids && !taken)) {
    qv__free(mem, v);
    qv__free(mem, taken);
    return QV_NOMEM;
  }
  if (ids) {
    for (size_t i = 0; i < n_ids; i++) {
      uint32_t s = qv__idmap_get(&c->idmap, ids[i]);
      if (s == QV_NO_SLOT || !qv__col_match(c, f, s)) continue;
      if (qv__fbit(taken, s)) continue; /* the same id twice is deleted once */
      taken[s >> 6] |= (uint64_t)1 << (s & 63);
      v[n++] = s;
      if (limit && n == limit) break;
    }
    qv__free(mem, taken);
  } else {
    for (uint32_t s = 0; s < c->n_slots && n < cap; s++) {
      if (!qv__col_match(c, f, s)) continue;
      v[n++] = s;
      if (limit && n == limit) break;
    }
  }
  *out = v;
  *n_out = n;
  return QV_OK;
}

qv_status qv_collection_delete_records(qv_collection *c, const char *const *ids, size_t n_ids, const char *where_json,
                                       const char *where_document_json, size_t limit, size_t *n_deleted) {
  qv_delete_opts o;
  qv_delete_opts_init(&o);
  o.ids = ids;
  o.n_ids = n_ids;
  o.where_json = where_json;
  o.where_document_json = where_document_json;
  o.limit = limit;
  return qv_collection_delete_ex(c, &o, n_deleted);
}

void qv_delete_opts_init(qv_delete_opts *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
}

qv_status qv_collection_delete_ex(qv_collection *c, const qv_delete_opts *opts, size_t *n_deleted) {
  if (n_deleted) *n_deleted = 0;
  qv_status rc = qv__col_check(c);
  if (rc) return rc;
  qv_delete_opts o;
  qv_delete_opts_init(&o);
  if (opts) qv__struct_in(&o, sizeof o, opts, sizeof o);
  const char *const *ids = o.ids;
  size_t n_ids = o.n_ids, limit = o.limit;
  const char *where_json = o.where_json, *where_document_json = o.where_document_json;
  qv_db *db = c->db;
  qv__err_clear(db);
  if (db->read_only) return qv__err(db, QV_MISUSE, "database is open read-only");
  if (o.position_key && (rc = qv__pos_check(db, o.position_key))) return rc;
  if (!ids && n_ids) return qv__err(db, QV_INVALID, "ids: NULL with n_ids %zu", n_ids);
  for (size_t i = 0; ids && i < n_ids; i++)
    if (!ids[i]) return qv__err(db, QV_INVALID, "ids[%zu]: must not be NULL", i);
  qv_filter *f = NULL;
  char err[512];
  if ((rc = qv__filter_parse(&db->mem, where_json, where_document_json, &f, err, sizeof err)))
    return qv__err(db, rc, "%s", err);
  if (!ids && !f) /* neither ids nor a filter: nothing (but the position) */
    return o.position_key ? qv__pos_commit_alone(db, o.position_key, o.position) : QV_OK;
  uint32_t *slots = NULL;
  size_t n = 0;
  pthread_mutex_lock(&c->wmu); /* the state delete_targets reads only changes under it */
  if (atomic_load(&c->dropped)) rc = qv__err(db, QV_MISUSE, "collection %s has been deleted", c->name);
  if (rc == QV_OK && (rc = qv__col_catch_up(c)) != QV_OK)
    qv__err(db, rc, "collection %s: the index could not catch up with an earlier write (%s)", c->name,
            qv_status_str(rc));
  if (rc == QV_OK) rc = delete_targets(c, ids, n_ids, f, limit, &slots, &n);
  if (rc == QV_OK) rc = delete_slots(c, slots, n, o.position_key, o.position); /* takes the collection lock itself */
  /* the delete is committed whatever happens here: a failed rebuild keeps the old graph */
  if (rc == QV_OK && n && qv__col_decayed(c) && qv__col_compact_locked(c) != QV_OK) qv__err_clear(db);
  pthread_mutex_unlock(&c->wmu);
  if (rc == QV_OK && n) qv__db_note_writes(db, c, n);
  if (rc == QV_OK && n_deleted) *n_deleted = n;
  qv__free(&db->mem, slots);
  qv__filter_free(&db->mem, f);
  if (rc && !*qv_db_errmsg(db)) qv__err(db, rc, "%s", qv_status_str(rc));
  return rc;
}
