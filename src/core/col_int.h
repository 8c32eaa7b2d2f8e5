/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * col_int.h -- the structs behind qv_db, qv_collection and qv_results, shared by db.c,
 * collection.c, query.c and results.c. Nothing outside those files includes it.
 *
 * Locking, outermost first:
 *   c->wmu           serialises the writes to one collection (records, compaction,
 *                    checkpoint, drop, parameter changes): its state only changes under it.
 *   db->write_mu     serialises the SQLite writer connection and the sequence numbers: held
 *                    around each transaction (records and catalog), never around index work.
 *   db->cat_mu       protects the catalog array (lookups by name/uuid, refcounts' owner list).
 *   c->lock          rwlock over a collection's in-memory state (slot arrays, id map, index):
 *                    reads hold it shared; a write holds it exclusive only to grow arrays and
 *                    to apply a batch SQLite has committed (write.c), so readers never see a
 *                    state SQLite does not have; a compaction only to swap the index in.
 *   db->read_mu      the SQLite read connection (fetching embeddings for results).
 * Per-slot arrays (ids, metas, docs, rids) are indexed by slot; ids[slot] == NULL means free.
 */
#ifndef QV_COL_INT_H
#define QV_COL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "fcache.h"
#include "filter.h"
#include "idmap.h"
#include "index.h"
#include "meta.h"
#include "qv_int.h"
#include "store.h"

/* The dimension the API shows: bits for hamming collections, floats otherwise. */
#define QV__PUBDIM(c) ((c)->metric == QV_METRIC_HAMMING ? (c)->bits : (c)->dim)

struct qv_collection {
  qv_db *db;
  atomic_int refs;       /* db holds one; every get/create hands out one more */
  atomic_int dropped;    /* deleted: calls return QV_MISUSE */
  int64_t cid;           /* SQLite catalog id; in-memory dbs count from 1 */
  char *name;
  char uuid[37];
  char *metadata_json;   /* NULL if none */
  char *config_json;     /* a face's configuration (qv_collection_set_config), NULL if none */
  uint32_t dim;          /* 0 until fixed; row width in floats (hamming: ceil(bits / 32) words) */
  qv_metric metric;
  uint32_t bits;         /* hamming: the dimension in bits (the public dim); 0 otherwise */
  char *params;          /* the index kind's canonical parameters (index/params.h) */
  qv_vec_source vsrc;    /* the store's embeddings, for indexes that do not keep floats */

  pthread_mutex_t wmu;   /* one writer of this collection at a time (see above) */
  pthread_rwlock_t lock;
  const qv_index_vt *vt;
  qv_index *ix;          /* NULL until dim is known */
  uint32_t n_slots;      /* slots ever used (high-water mark) */
  uint32_t cap;          /* allocated length of the per-slot arrays */
  char **ids;
  qv_meta **metas;
  char **docs;
  int64_t *rids;         /* SQLite rowid: stable insertion order; in-memory: a counter */
  float *onorm;          /* in-memory cosine only: each vector's original norm (the index
                            holds unit vectors; unit * onorm gives the original back) */
  uint32_t *free_slots;
  uint32_t n_free, free_cap;
  qv_idmap idmap;
  qv_fcache *fcache;     /* bitmaps of repeated filters (fcache.h) */
  uint64_t count;
  uint64_t last_seq;     /* newest write applied */
  uint64_t ckpt_seq;     /* seq in the last checkpoint file written or loaded */
  atomic_uint_fast64_t dirty; /* records written since the last checkpoint (background trigger) */
  int64_t next_rid;      /* in-memory dbs */
  void *text;            /* in-memory dbs: the text index text.c builds (NULL until used) */
  /* The index behind the store (write.c): a committed batch whose index insertion failed
     (out of memory) waits here, in buffers allocated before its COMMIT; every later read or
     write of the collection makes the index catch up first, or fails without an answer. */
  atomic_int behind;
  uint32_t *pend_slots;
  float *pend_vecs;      /* aligned; NULL: read back through vsrc (the store's rows) */
  size_t pend_n;
};

struct qv_db {
  qv_mem mem;
  char *path;            /* NULL: in-memory */
  qv_store *store;       /* NULL: in-memory */
  int lock_fd;
  int n_threads;         /* index builds */
  int query_threads;     /* batch search */
  int read_only;
  qv_log_fn log;         /* NULL: stderr */
  void *log_ud;
  uint64_t seq;          /* newest sequence number */
  pthread_mutex_t write_mu;
  pthread_mutex_t cat_mu;
  qv_collection **cols;
  size_t n_cols, cap_cols;
  /* background checkpoints (db.c): a thread that checkpoints a collection once `dirty`
     reaches ckpt_every records, so a crash replays a bounded tail of the log */
  uint64_t ckpt_every;   /* 0: never in the background */
  pthread_t ckpt_thread;
  int ckpt_running, ckpt_stop, ckpt_wake;
  pthread_mutex_t ckpt_mu;
  pthread_cond_t ckpt_cv;
  int64_t next_cid;      /* in-memory dbs */
  uint64_t err_serial;   /* never reused: names this db's thread-local error slots (db.c) */
  /* positions (position.c): named values written with batches, mirrored here under pos_mu */
  struct qv__pos *pos;
  size_t n_pos, cap_pos;
  pthread_mutex_t pos_mu;
  char **skipped;        /* degraded open (degraded.c): "name: reason" of each collection
                            that could not be loaded; NULL-terminated, or NULL */
  char **skipped_names;  /* their names and store ids, for qv_collection_delete; all three */
  int64_t *skipped_cids; /* change under cat_mu (and write_mu) after the open */
  size_t n_skipped;
  /* tenants and databases (catalog.c), sorted by name / (tenant, name); under cat_mu,
     changed under write_mu as well */
  char **tenants;
  size_t n_tenants, cap_tenants;
  struct qv__database *dbs;
  size_t n_dbs, cap_dbs;
};

/* catalog.c */
struct qv__database {
  char *tenant;
  char *name;
  char *metadata_json;   /* NULL if none */
  char uuid[37];
};
/* Load the store's tenants and databases (open), or make the defaults (in-memory db). */
QV_INTERNAL qv_status qv__catalog_load(qv_db *db);
QV_INTERNAL void qv__catalog_free(qv_db *db);
/* The canonical spelling of a collection name for a lookup: the default database's
 * qualified form "default_tenant/default_database/x" is "x" (a pointer into name). */
QV_INTERNAL const char *qv__name_canon(const char *name);
/* Check a name to be created (what: the field, "name" or "new_name"): a plain name, or
 * "t/d/n" of an existing database (QV_NOTFOUND otherwise). Call under cat_mu. *canon points
 * into name. */
QV_INTERNAL qv_status qv__name_check_new(qv_db *db, const char *what, const char *name, const char **canon);
/* The tenant, database and local name of a canonical collection name: *t and *d point to
 * static strings or into buf (at least strlen(name) + 1 bytes); *local into name. */
QV_INTERNAL void qv__name_split(const char *name, char *buf, const char **t, const char **d, const char **local);
/* A random version-4 UUID (collection.c). */

/* position.c */
struct qv__pos {
  char *key;
  uint64_t value;
};
/* QV_INVALID (message set) unless key is a usable position name. */
QV_INTERNAL qv_status qv__pos_check(qv_db *db, const char *key);
/* Load the stored positions (open); free them (close). */
QV_INTERNAL qv_status qv__pos_load(qv_db *db);
QV_INTERNAL void qv__pos_free(qv_db *db);
/* Record key = value in memory after its transaction committed (QV_NOMEM possible). */
QV_INTERNAL qv_status qv__pos_note(qv_db *db, const char *key, uint64_t value);
/* A transaction that stores only the position, for a batch that writes nothing. Takes
 * db->write_mu itself. */
QV_INTERNAL qv_status qv__pos_commit_alone(qv_db *db, const char *key, uint64_t value);

/* Results: one block of arrays, strings in an arena. */
struct qv_results {
  const qv_mem *mem;
  size_t nq;
  size_t *off;           /* nq + 1 offsets into the hit arrays */
  char **ids;
  float *dists;
  float *embs;           /* total * dim, or NULL */
  char **metas;          /* or NULL */
  char **docs;           /* or NULL */
  uint32_t dim;
  unsigned include;
};

/* Set the calling thread's message for db and return rc. */
QV_INTERNAL qv_status qv__err(const qv_db *db, qv_status rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
QV_INTERNAL void qv__err_clear(const qv_db *db);

/* db.c: count n records written to c; wakes the background checkpointer past the threshold. */
QV_INTERNAL void qv__db_note_writes(qv_db *db, qv_collection *c, size_t n);
/* db.c: append c to the catalog (caller holds cat_mu or is the opener); takes a ref. */
QV_INTERNAL qv_status qv__db_catalog_push(qv_db *db, qv_collection *c);
/* degraded.c: a collection that failed to load with rc is skipped (logged, listed) when rc
 * says its own data is bad, not the machine (QV_NOMEM, QV_IO); returns QV_OK then. */
QV_INTERNAL qv_status qv__db_skip_collection(qv_db *db, const char *name, int64_t cid, qv_status rc,
                                            const char *why);
QV_INTERNAL void qv__db_skipped_free(qv_db *db);
/* degraded.c: drop the skipped collection called name (caller holds write_mu): its rows go in
 * one transaction, then its index file, and it leaves the skipped list, so the name is free.
 * QV_NOTFOUND (no message) when no skipped collection has that name. */
QV_INTERNAL qv_status qv__db_drop_skipped(qv_db *db, const char *name);

/* collection.c */
QV_INTERNAL qv_status qv__col_new(qv_db *db, const char *name, const qv_collection_opts *o,
                                  qv_collection **out);
QV_INTERNAL void qv__col_free(qv_collection *c);
QV_INTERNAL qv_status qv__col_ensure_index(qv_collection *c);
QV_INTERNAL qv_status qv__col_load(qv_collection *c);
QV_INTERNAL qv_status qv__col_checkpoint(qv_collection *c);
QV_INTERNAL char *qv__col_index_path(const qv_collection *c);
QV_INTERNAL qv_status qv__col_grow(qv_collection *c, uint32_t need);
/* The index parameters of c (kind-specific knobs, metric, dim, build threads). */
QV_INTERNAL void qv__col_index_params(const qv_collection *c, qv_index_params *p);
/* compact.c: 1 when c's HNSW graph carries enough tombstones to be rebuilt (caller holds
 * c->wmu); the rebuild itself, readers running meanwhile (caller holds c->wmu). */
QV_INTERNAL int qv__col_decayed(qv_collection *c);
QV_INTERNAL qv_status qv__col_compact_locked(qv_collection *c);
/* Test hook (NULL in use): called by a writer after its SQLite commit and before it applies
 * the batch in memory, holding c->wmu but not the collection lock (write.c). */
QV_INTERNAL extern void (*qv__test_pre_apply)(qv_collection *c);
/* Test hook (NULL in use): called after each chunk of a large batch went into the index
 * hidden, with the collection lock released (write.c apply()). */
QV_INTERNAL extern void (*qv__test_between_chunks)(qv_collection *c);
QV_INTERNAL qv_status qv__col_persist(qv_collection *c);
/* config.c: QV_OK if json is NULL or the text of a JSON object, else QV_INVALID naming field. */
QV_INTERNAL qv_status qv__config_check(qv_db *db, const char *field, const char *json);
QV_INTERNAL qv_status qv__col_store_row(qv_collection *c);
/* QV_MISUSE (with message) if c is NULL or dropped. */
QV_INTERNAL qv_status qv__col_check(const qv_collection *c);
/* write.c: the index caught up with every committed write (catch_up: c->wmu held). */
QV_INTERNAL qv_status qv__col_ready(qv_collection *c);
QV_INTERNAL qv_status qv__col_catch_up(qv_collection *c);
QV_INTERNAL void qv__col_pend_free(qv_collection *c);
QV_INTERNAL qv_status qv__col_rdlock_ready(qv_collection *c);
/* Validate a Chroma-ish name. */
QV_INTERNAL qv_status qv__check_name(const qv_db *db, const char *what, const char *name);
QV_INTERNAL int qv__utf8_valid(const char *s, size_t n);

/* 1 if slot s holds a live record that matches f (f NULL: every live record). Callers hold
 * c->lock. The one definition of "matches" that scans, gets, deletes and the filter cache use. */
static inline int qv__col_match(const qv_collection *c, const qv_filter *f, uint32_t s) {
  return s < c->n_slots && c->ids[s] && (!f || qv__filter_match(f, c->metas[s], c->docs[s]));
}

/* memstats.c: the collection's own memory by component into st (ids, metadata, documents,
 * and the in-memory cosine norms into mem_vectors); caller holds c->lock. */
QV_INTERNAL void qv__col_mem_stats(const qv_collection *c, qv_index_stats *st);

/* query.c: fill hit i of r from slot s (the requested fields; caller holds c->lock). */
QV_INTERNAL qv_status qv__col_fill_hit(const qv_collection *c, qv_results *r, size_t i, uint32_t s, float dist);

/* results.c */
QV_INTERNAL qv_results *qv__results_new(const qv_mem *mem, size_t nq, const size_t *counts,
                                        uint32_t dim, unsigned include);

#endif /* QV_COL_INT_H */
