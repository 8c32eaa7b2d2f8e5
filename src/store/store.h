/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * store.h -- the SQLite store, quiver's source of truth (schema: see store/store_sqlite.c).
 * One writer connection (used under db->write_mu) and one read connection (under its own
 * mutex) for fetching stored embeddings. Every write batch runs in one transaction and gets
 * the next sequence number; a write is acknowledged only after COMMIT returns.
 */
#ifndef QV_STORE_H
#define QV_STORE_H

#include <stdint.h>

#include "qv_int.h"

typedef struct qv_store qv_store;

/* One catalog row. Strings owned by the caller after load (qv__free). */
typedef struct qv_store_col {
  int64_t cid;
  char *name;
  char *uuid;
  char *metadata_json;
  uint32_t dim;
  int metric;
  char *kind;             /* index kind name */
  char *params_json;      /* the kind's canonical parameters */
  char *config_json;      /* a face's configuration (quiver.h qv_collection_opts.config_json), or NULL */
} qv_store_col;

/* One record row as handed to / read from the store. */
typedef struct qv_store_rec {
  int64_t rid;             /* out on insert */
  uint32_t slot;
  const char *id;
  const float *emb;        /* dim floats */
  const char *meta_json;   /* NULL = none */
  const char *doc;         /* NULL = none */
} qv_store_rec;

/* What opening did to an older file: from = the format version migrated from (0: none);
 * note = what the format 2 -> 3 and 3 -> 4 steps did, for the log line; dropped_cid = the collection it
 * dropped (format 2's server catalog: its index file is to be removed), else -1. */
typedef struct qv_store_migration {
  int from;
  int64_t dropped_cid;
  char note[1024];
} qv_store_migration;

/* Open (creating or migrating the schema, *mig says what was migrated). */
QV_INTERNAL qv_status qv__store_open(const qv_mem *mem, const char *file, int sync_full, int read_only,
                                     qv_store **out, uint64_t *seq, qv_store_migration *mig, char *err,
                                     size_t errlen);
QV_INTERNAL int qv__store_format_version(void);
QV_INTERNAL void qv__store_close(qv_store *s);
QV_INTERNAL const char *qv__store_errmsg(qv_store *s);

QV_INTERNAL qv_status qv__store_begin(qv_store *s);
QV_INTERNAL qv_status qv__store_commit(qv_store *s, uint64_t seq);
QV_INTERNAL void qv__store_rollback(qv_store *s);
/* Positions (quiver.h qv_db_position_get): qv_info rows 'pos:' || key. put runs inside the
 * caller's transaction; scan calls fn for every stored one. */
QV_INTERNAL qv_status qv__store_pos_put(qv_store *s, const char *key, uint64_t value);
typedef qv_status (*qv_store_pos_fn)(void *ctx, const char *key, uint64_t value);
QV_INTERNAL qv_status qv__store_pos_scan(qv_store *s, qv_store_pos_fn fn, void *ctx);

QV_INTERNAL qv_status qv__store_col_insert(qv_store *s, qv_store_col *c); /* sets c->cid */
QV_INTERNAL qv_status qv__store_col_update(qv_store *s, const qv_store_col *c);
QV_INTERNAL qv_status qv__store_col_delete(qv_store *s, int64_t cid);
/* All catalog rows; caller frees each's strings and the array with qv__free. */
QV_INTERNAL qv_status qv__store_col_list(qv_store *s, qv_store_col **out, size_t *n);

QV_INTERNAL qv_status qv__store_rec_insert(qv_store *s, int64_t cid, uint32_t dim, qv_store_rec *r,
                                           uint64_t seq);
/* Replace all fields of row rid (emb, meta_json, doc as given; NULL meta/doc store NULL). */
QV_INTERNAL qv_status qv__store_rec_replace(qv_store *s, int64_t rid, uint32_t dim, const qv_store_rec *r,
                                            uint64_t seq);
/* Delete row rid and log the delete (slot, id) with the batch's sequence number. */
QV_INTERNAL qv_status qv__store_rec_delete(qv_store *s, int64_t cid, int64_t rid, uint32_t slot, const char *id,
                                           uint64_t seq);
/* Drop a collection's logged deletes at or below upto_seq (its index checkpoint holds them). */
QV_INTERNAL qv_status qv__store_log_prune(qv_store *s, int64_t cid, uint64_t upto_seq);
/* The collection's logged deletes newer than after_seq, oldest first. */
typedef qv_status (*qv_store_del_fn)(void *ctx, uint64_t seq, uint32_t slot, const char *id);
QV_INTERNAL qv_status qv__store_log_deletes(qv_store *s, int64_t cid, uint64_t after_seq, qv_store_del_fn fn,
                                            void *ctx);

/* Iterate a collection's rows in rid order. with_emb: 1 also reads the embedding column; 2
 * reads only slots, sequence numbers and embeddings (id "", no metadata or document). */
typedef qv_status (*qv_store_row_fn)(void *ctx, const qv_store_rec *r, uint64_t seq);
QV_INTERNAL qv_status qv__store_rec_scan(qv_store *s, int64_t cid, uint32_t dim, int with_emb,
                                         qv_store_row_fn fn, void *ctx);
/* Read the stored embedding of row rid into out (dim floats), via the read connection. */
QV_INTERNAL qv_status qv__store_rec_embedding(qv_store *s, int64_t rid, uint32_t dim, float *out);
/* The same for n rows in one read transaction: rids[i] <= 0 gives each[i] = QV_NOTFOUND,
 * every other row its status (QV_OK, QV_CORRUPT...). QV_OK unless the batch failed. */
QV_INTERNAL qv_status qv__store_rec_embeddings(qv_store *s, const int64_t *rids, size_t n, uint32_t dim, float *out,
                                               qv_status *each);

/* ------------------------------------------------------------------ tenants and databases
 * (store_catalog.c); all but the migration inside the caller's transaction */

typedef struct qv_store_database {
  char *tenant, *name, *uuid, *metadata_json; /* metadata_json may be NULL */
} qv_store_database;

/* The tables and default rows (for a new file and the migration). */
QV_INTERNAL extern const char qv__store_catalog_schema[];
QV_INTERNAL qv_status qv__store_tenant_insert(qv_store *s, const char *t);
/* The tenant and its databases' rows (not their collections: the caller deletes those); the
 * default tenant's and database's rows are never deleted. */
QV_INTERNAL qv_status qv__store_tenant_delete(qv_store *s, const char *t);
QV_INTERNAL qv_status qv__store_database_insert(qv_store *s, const qv_store_database *d);
QV_INTERNAL qv_status qv__store_database_delete(qv_store *s, const char *t, const char *name);
/* Delete the rows (and records, logs, text tables) of every collection still named in database
 * d of tenant t (or in any database of t when d is NULL): those a degraded open skipped. */
QV_INTERNAL qv_status qv__store_scope_orphans(qv_store *s, const char *t, const char *d);
/* Every tenant and database (allocated with mem; free with qv__store_catalog_free). */
QV_INTERNAL qv_status qv__store_catalog_load(qv_store *s, const qv_mem *mem, char ***tenants, size_t *n_tenants,
                                             qv_store_database **dbs, size_t *n_dbs);
QV_INTERNAL void qv__store_catalog_free(const qv_mem *mem, char **tenants, size_t n_tenants, qv_store_database *dbs,
                                        size_t n_dbs);
/* Format 2 -> 3 in one transaction: the tables, the server catalog's records moved into them,
 * qualified names of the default database made plain. */
QV_INTERNAL qv_status qv__store_migrate_2_to_3(qv_store *s, qv_store_migration *m);
/* Format 3 -> 4 in one transaction (store_config.c): the collections' config column, filled
 * from the format-3 server's reserved metadata key. */
QV_INTERNAL qv_status qv__store_migrate_3_to_4(qv_store *s, qv_store_migration *m);

/* ------------------------------------------------------------------ text index (store_fts.c) */

/* The connections, for store_fts.c (the reader only under *mu). */
struct sqlite3;
QV_INTERNAL struct sqlite3 *qv__store_writer(qv_store *s);
#include <pthread.h>
QV_INTERNAL struct sqlite3 *qv__store_reader(qv_store *s, pthread_mutex_t **mu);
/* Set the store's message to "what: msg". */
QV_INTERNAL void qv__store_set_err(qv_store *s, const char *what, const char *msg);

/* Drop collection cid's text tables and triggers (inside the caller's transaction). */
QV_INTERNAL qv_status qv__store_fts_drop(qv_store *s, int64_t cid);
/* Build collection cid's BM25 (trigram 0) or trigram (1) table if missing, filled from its
 * records, in its own transaction on the writer: the caller holds db->write_mu (and no
 * collection lock). */
QV_INTERNAL qv_status qv__store_fts_ensure(qv_store *s, int64_t cid, int trigram);
/* Rows matching an FTS5 MATCH expression on the BM25 table (trigram 0: best first, score =
 * -bm25) or the trigram table (trigram 1: any order, score 0). fn returns 0 to stop. On the
 * read connection: sees committed writes. QV_INVALID on a bad expression, QV_UNSUPPORTED when
 * the collection has no text index. */
typedef int (*qv_fts_row_fn)(void *ctx, uint32_t slot, const char *id, double score);
QV_INTERNAL qv_status qv__store_fts_query(qv_store *s, int64_t cid, int trigram, const char *match, qv_fts_row_fn fn,
                                          void *ctx);

#endif /* QV_STORE_H */
