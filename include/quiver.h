/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quiver.h -- the whole public API of libquiver, an embeddable, durable vector database.
 *
 * If it is not declared here, it is not API. The CLI, the HTTP server and the Python module
 * are built against this header only.
 *
 * Model
 *   A qv_db is a data directory (persistent) or nothing (in-memory). It holds named
 *   collections. A collection has a dimension, a metric and an index kind; it stores records:
 *   a string id, a float32 embedding, metadata (a flat JSON object) and a document (text).
 *   SQLite is the source of truth; indexes are derived and rebuilt when lost.
 *
 * Conventions used in every contract below
 *   borrowed        read during the call only; the caller keeps ownership.
 *   owned by X      do not free; valid until the event named.
 *   caller owns     release with the named qv_*_free()/release() function.
 *   Every destructor accepts NULL. Out-parameters are set to NULL/0 on failure.
 *   Every fallible call returns a qv_status; on failure qv_db_errmsg() gives a message that
 *   names the offending field and, for batches, the position in the batch.
 *
 * Thread safety, one word per function:
 *   any              no shared state touched.
 *   concurrent-read  safe alongside any other call on the same db, reads and writes alike.
 *   write            serialised internally with other writes; runs alongside reads.
 *   exclusive        nothing else may run on the handle during the call.
 *
 * Versions with the same major number are ABI stable. The on-disk format version is
 * separate and stored in the files (docs/FORMAT.md).
 */
#ifndef QUIVER_H
#define QUIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define QV_API __declspec(dllexport)
#elif defined(__GNUC__)
#define QV_API __attribute__((visibility("default")))
#else
#define QV_API
#endif

#define QV_VERSION_MAJOR 0
#define QV_VERSION_MINOR 1
#define QV_VERSION_PATCH 0
#define QV_VERSION_STRING "0.1.0"
#define QV_VERSION_NUMBER (QV_VERSION_MAJOR * 1000000 + QV_VERSION_MINOR * 1000 + QV_VERSION_PATCH)

/** Version of the library actually linked (compare with QV_VERSION_NUMBER). Thread: any. */
QV_API int qv_libversion_number(void);
/** "0.1.0"-style version string of the linked library; static. Thread: any. */
QV_API const char *qv_libversion(void);

/* ------------------------------------------------------------------ Return codes */

/** Status codes. Values are explicit and append-only. */
typedef enum qv_status {
  QV_OK = 0,           /**< success */
  QV_ERROR = 1,        /**< generic failure not covered below */
  QV_NOMEM = 2,        /**< an allocation failed; nothing was changed */
  QV_INVALID = 3,      /**< bad argument: dimension mismatch, NaN, bad id, bad filter, ... */
  QV_NOTFOUND = 4,     /**< no such collection / record */
  QV_EXISTS = 5,       /**< collection or record id already exists */
  QV_IO = 6,           /**< the operating system or SQLite failed to read or write */
  QV_CORRUPT = 7,      /**< a file is damaged or of an unknown format version */
  QV_BUSY = 8,         /**< the data directory is locked by another process */
  QV_MISUSE = 9,       /**< API used wrongly: NULL handle, dropped collection, wrong order */
  QV_UNSUPPORTED = 10  /**< valid request that this build or index kind cannot do */
} qv_status;

/** Static, never-NULL name-free message for a status ("invalid argument"). Thread: any. */
QV_API const char *qv_status_str(qv_status rc);
/** Static symbolic name of a status ("QV_INVALID"). Thread: any. */
QV_API const char *qv_status_name(qv_status rc);
/** HTTP status the server uses for rc (400 for QV_INVALID, 404 for QV_NOTFOUND...). Thread: any. */
QV_API int qv_status_http(qv_status rc);

/* ------------------------------------------------------------------ Database */

typedef struct qv_db qv_db;
typedef struct qv_collection qv_collection;
typedef struct qv_results qv_results;

/** Allocator hooks; all three NULL means malloc/realloc/free. */
typedef struct qv_allocator {
  void *(*malloc_fn)(void *ud, size_t n);
  void *(*realloc_fn)(void *ud, void *p, size_t n);
  void (*free_fn)(void *ud, void *p);
  void *ud;
} qv_allocator;

/** Durability of acknowledged writes. */
typedef enum qv_sync {
  QV_SYNC_FULL = 0,   /**< fsync on every commit: survives power loss (default) */
  QV_SYNC_NORMAL = 1  /**< survives a crash of the process (kill -9), not of the OS */
} qv_sync;

/** Options for qv_db_open(). Fill with qv_open_opts_init(); fields are only ever appended. */
typedef struct qv_open_opts {
  qv_allocator alloc;  /**< allocator for libquiver's own memory */
  qv_sync sync;        /**< default QV_SYNC_FULL */
  char *errbuf;        /**< if set, an open failure writes its message here */
  size_t errbuf_len;
  int n_threads;       /**< threads for index builds and batch search. 0 = default: builds use
                            $QUIVER_THREADS, else $OMP_NUM_THREADS, else the CPU count; batch
                            search uses the CPU count */
  int read_only;       /**< open without taking the write lock; writes return QV_MISUSE */
} qv_open_opts;

/** Fill *o with defaults. Thread: any. */
QV_API void qv_open_opts_init(qv_open_opts *o);

/*
 * Open the database in directory path (created if missing), or an in-memory database when
 * path is NULL or "". opts may be NULL for defaults.
 *
 * On QV_OK *out is a new handle the caller owns; close it with qv_db_close(). On failure *out
 * is NULL and, if opts->errbuf is set, it holds the reason (the handle does not exist to ask).
 * Collections and records are restored; indexes are loaded from their checkpoint files and
 * catch up with newer writes, or are rebuilt from the records if a file is missing or damaged.
 * Errors: QV_IO, QV_CORRUPT (unknown format version), QV_BUSY (locked by another process),
 *         QV_NOMEM, QV_INVALID.
 * Thread: any.
 */
QV_API qv_status qv_db_open(const char *path, const qv_open_opts *opts, qv_db **out);

/*
 * Checkpoint every index and close. Release collection references before closing: close
 * frees every collection, so a reference still held becomes invalid (using or releasing it
 * afterwards is undefined). Accepts NULL. Thread: exclusive.
 */
QV_API void qv_db_close(qv_db *db);

/*
 * Message for the most recent failure of a call on db made by the calling thread, or "" if
 * it succeeded. Owned by db; valid until this thread's next call on db. Never NULL.
 * Thread: any.
 */
QV_API const char *qv_db_errmsg(const qv_db *db);

/** Write every index's checkpoint file now (also done on close). Thread: write. */
QV_API qv_status qv_db_checkpoint(qv_db *db);

/** Path of the data directory, or NULL for an in-memory db. Owned by db. Thread: any. */
QV_API const char *qv_db_path(const qv_db *db);

/* ------------------------------------------------------------------ Collections */

typedef enum qv_metric {
  QV_METRIC_L2 = 0,     /**< squared euclidean distance */
  QV_METRIC_IP = 1,     /**< 1 - dot(a, b) */
  QV_METRIC_COSINE = 2, /**< 1 - cos(a, b); vectors are normalised on the way in */
  QV_METRIC_L1 = 3      /**< sum |a_i - b_i| (manhattan) */
} qv_metric;

typedef enum qv_index_kind {
  QV_INDEX_FLAT = 0, /**< exact search */
  QV_INDEX_HNSW = 1  /**< hierarchical navigable small world graph (approximate) */
} qv_index_kind;

/** "l2", "ip", "cosine", "l1"; static. Thread: any. */
QV_API const char *qv_metric_name(qv_metric m);
/** Parse a metric name (also "euclidean", "angular", "dot", "manhattan"). Thread: any. */
QV_API qv_status qv_metric_parse(const char *name, qv_metric *out);
/** "flat", "hnsw"; static. Thread: any. */
QV_API const char *qv_index_name(qv_index_kind k);
/** Parse an index kind name. Thread: any. */
QV_API qv_status qv_index_parse(const char *name, qv_index_kind *out);

/** Options for creating a collection. Fill with qv_collection_opts_init(). Append-only. */
typedef struct qv_collection_opts {
  uint32_t dim;              /**< dimension; 0 = fixed by the first write */
  qv_metric metric;          /**< default QV_METRIC_L2 */
  qv_index_kind index;       /**< default QV_INDEX_FLAT */
  uint32_t hnsw_m;           /**< HNSW max neighbours per node on upper levels (M); default 16 */
  uint32_t hnsw_ef_construction; /**< default 200 */
  uint32_t hnsw_ef_search;   /**< per-collection default query ef; default 64 */
  const char *metadata_json; /**< collection metadata, a flat JSON object or NULL; borrowed */
} qv_collection_opts;

QV_API void qv_collection_opts_init(qv_collection_opts *o);

/*
 * Create collection name (1..512 bytes of UTF-8, no control characters).
 * On QV_OK *out is a new reference the caller owns (qv_collection_release()).
 * Errors: QV_EXISTS, QV_INVALID (bad name, metric, parameters, metadata), QV_IO, QV_NOMEM.
 * Thread: write.
 */
QV_API qv_status qv_collection_create(qv_db *db, const char *name, const qv_collection_opts *opts,
                                      qv_collection **out);
/** Open an existing collection by name. Errors: QV_NOTFOUND. Thread: concurrent-read. */
QV_API qv_status qv_collection_get(qv_db *db, const char *name, qv_collection **out);
/** Open an existing collection by its UUID (36-char text). Errors: QV_NOTFOUND. Thread: concurrent-read. */
QV_API qv_status qv_collection_get_by_uuid(qv_db *db, const char *uuid, qv_collection **out);
/*
 * Open name if it exists (opts are then ignored, *created = 0), otherwise create it
 * (*created = 1). created may be NULL. Thread: write.
 */
QV_API qv_status qv_collection_get_or_create(qv_db *db, const char *name,
                                             const qv_collection_opts *opts, qv_collection **out,
                                             int *created);
/** Drop a reference from get/create. Accepts NULL. Thread: any (per reference). */
QV_API void qv_collection_release(qv_collection *c);

/*
 * Names of all collections, sorted. On QV_OK *names is a NULL-terminated array the caller
 * owns (qv_strings_free()) and *n its length. Thread: concurrent-read.
 */
QV_API qv_status qv_collection_list(qv_db *db, char ***names, size_t *n);
QV_API void qv_strings_free(char **names);

/** Rename. Errors: QV_NOTFOUND, QV_EXISTS, QV_INVALID. Thread: write. */
QV_API qv_status qv_collection_rename(qv_db *db, const char *name, const char *new_name);
/*
 * Delete a collection and all its records. References still held become "dropped": calls on
 * them return QV_MISUSE. Errors: QV_NOTFOUND. Thread: write.
 */
QV_API qv_status qv_collection_delete(qv_db *db, const char *name);

/** Replace the collection's metadata (JSON object text, or NULL to clear). Thread: write. */
QV_API qv_status qv_collection_set_metadata(qv_collection *c, const char *metadata_json);

/** Read-only description of a collection. Strings owned by the qv_collection_info. */
typedef struct qv_collection_info {
  char *name;
  char *uuid;
  char *metadata_json;   /**< NULL if none */
  uint32_t dim;          /**< 0 while not yet fixed */
  qv_metric metric;
  qv_index_kind index;
  uint32_t hnsw_m, hnsw_ef_construction, hnsw_ef_search;
  uint64_t count;        /**< live records */
} qv_collection_info;

/** Fill *out; release with qv_collection_info_free(). Thread: concurrent-read. */
QV_API qv_status qv_collection_info_get(qv_collection *c, qv_collection_info *out);
QV_API void qv_collection_info_free(qv_collection_info *info);

/** Index statistics (qv_collection_stats_get). */
typedef struct qv_index_stats {
  uint64_t count;          /**< live records */
  uint64_t n_slots;        /**< slots in use including tombstones */
  uint64_t n_tombstones;   /**< deleted slots not yet reclaimed */
  uint64_t mem_vectors;    /**< bytes held for vectors (incl. quantized copies) */
  uint64_t mem_graph;      /**< bytes held for graph links (0 for flat) */
  uint32_t max_level;      /**< HNSW top level (0 for flat) */
  uint64_t last_seq;       /**< sequence number of the newest write applied to the index */
  uint64_t checkpoint_seq; /**< sequence number in the last index checkpoint file */
} qv_index_stats;

QV_API qv_status qv_collection_stats_get(qv_collection *c, qv_index_stats *out);

/*
 * Set a query-time knob for this collection, e.g. "ef_search". Unknown names and values out
 * of range return QV_INVALID. ef_search is the collection's default from then on and, in a
 * persistent database opened read-write, is stored with the collection (it survives a
 * reopen); opened read-only, it lasts until the database is closed. Thread: write.
 */
QV_API qv_status qv_collection_set_param(qv_collection *c, const char *name, double value);

/*
 * Rebuild the collection's HNSW graph over its live records, dropping the tombstones that
 * deletes leave (qv_index_stats.n_tombstones): they are traversed by every search, so a
 * collection that deletes more than it adds slows down (and loses some recall) until then.
 * Searches run on the old graph during the rebuild; writes wait. Done automatically after a
 * delete that leaves tombstones >= half the live records (and >= 256); this call does it
 * whenever asked. A no-op for flat collections (they keep no tombstones in a graph). The new
 * graph reaches the index checkpoint at the next qv_db_checkpoint() or close. Thread: write.
 */
QV_API qv_status qv_collection_compact(qv_collection *c);

/** Dimension (0 while unset). Thread: any. */
QV_API uint32_t qv_collection_dim(const qv_collection *c);
/** Number of live records. Thread: concurrent-read. */
QV_API qv_status qv_collection_count(qv_collection *c, uint64_t *out);

/* ------------------------------------------------------------------ Writes */

/*
 * A batch of n records, column-wise. Every pointer is borrowed.
 *   ids         n non-empty strings of at most QV_MAX_ID_LEN bytes, distinct within the batch.
 *   embeddings  n * dim floats, row-major, or NULL (update: keep; add/upsert: required).
 *   metadatas   n JSON-object texts or NULL entries, or NULL for none. Values: string,
 *               integer, float, bool, or arrays of one of those. In update/upsert a key set to
 *               null removes it; other keys are merged into the existing metadata.
 *   documents   n strings or NULL entries, or NULL for none.
 */
typedef struct qv_batch {
  size_t n;
  const char *const *ids;
  const float *embeddings;
  const char *const *metadatas;
  const char *const *documents;
  uint32_t dim; /**< floats per embedding row; 0 = the collection's dim. A collection created
                     with dim 0 takes this value from its first write with embeddings. */
} qv_batch;

#define QV_MAX_ID_LEN 1024

/** What add does with an id that already exists. */
typedef enum qv_conflict {
  QV_CONFLICT_ERROR = 0,  /**< the whole batch fails with QV_EXISTS (default) */
  QV_CONFLICT_IGNORE = 1  /**< existing ids are skipped silently (Chroma's add) */
} qv_conflict;

/*
 * Add a batch. All or nothing: on any error nothing is written and the message names the
 * field and the batch position ("embeddings[3][17]: NaN is not allowed").
 * A record is visible to queries when this returns QV_OK, and survives a crash.
 * Errors: QV_INVALID, QV_EXISTS, QV_IO, QV_NOMEM, QV_MISUSE. Thread: write.
 */
QV_API qv_status qv_collection_add(qv_collection *c, const qv_batch *b, qv_conflict on_conflict);
/** Insert new ids, replace existing ones (metadata merged per key). Thread: write. */
QV_API qv_status qv_collection_upsert(qv_collection *c, const qv_batch *b);
/*
 * Update existing records, only the fields given. Ids that do not exist fail the batch with
 * QV_NOTFOUND unless ignore_missing is set (Chroma skips them). Thread: write.
 */
QV_API qv_status qv_collection_update(qv_collection *c, const qv_batch *b, int ignore_missing);

/*
 * Delete records: the ids given (NULL/0 for none), intersected with the filters when given.
 * With neither ids nor filters nothing is deleted. limit 0 = no limit (filters only).
 * *n_deleted (may be NULL) receives the number of records actually removed.
 * Errors: QV_INVALID (bad filter). Thread: write.
 */
QV_API qv_status qv_collection_delete_records(qv_collection *c, const char *const *ids, size_t n_ids,
                                              const char *where_json, const char *where_document_json,
                                              size_t limit, size_t *n_deleted);

/* ------------------------------------------------------------------ Reads */

/** Fields to return with results (bit set). */
enum {
  QV_INCLUDE_EMBEDDINGS = 1,
  QV_INCLUDE_METADATAS = 2,
  QV_INCLUDE_DOCUMENTS = 4,
  QV_INCLUDE_DISTANCES = 8
};

/** Options for qv_collection_get_records(). Fill with qv_get_opts_init(). Append-only. */
typedef struct qv_get_opts {
  const char *const *ids;         /**< NULL for all; borrowed */
  size_t n_ids;
  const char *where_json;         /**< Chroma `where` filter or NULL */
  const char *where_document_json;/**< Chroma `where_document` filter or NULL */
  size_t limit;                   /**< 0 = no limit */
  size_t offset;
  unsigned include;               /**< QV_INCLUDE_* bits; default METADATAS|DOCUMENTS */
  int storage_order;              /**< 1: results by ids in insertion order, as Chroma does */
} qv_get_opts;

QV_API void qv_get_opts_init(qv_get_opts *o);

/*
 * Get records by ids and/or filter, in insertion order (by ids: in the order asked, missing
 * ids skipped; or in insertion order with opts->storage_order). limit/offset apply to that
 * order. The result has one "query" (qv_results_nq() == 1).
 * On QV_OK *out is a new qv_results the caller owns (qv_results_free()).
 * Errors: QV_INVALID (bad filter), QV_NOMEM. Thread: concurrent-read.
 */
QV_API qv_status qv_collection_get_records(qv_collection *c, const qv_get_opts *opts, qv_results **out);

/** Options for qv_collection_query(). Fill with qv_query_opts_init(). Append-only. */
typedef struct qv_query_opts {
  const char *where_json;
  const char *where_document_json;
  unsigned include;   /**< default METADATAS|DOCUMENTS|DISTANCES */
  uint32_t ef_search; /**< 0 = the collection's default */
  int exact;          /**< 1 forces an exact scan even on an approximate index */
  int n_threads;      /**< for batches: 0 = the db's default */
} qv_query_opts;

QV_API void qv_query_opts_init(qv_query_opts *o);

/*
 * k nearest records to each of the nq query vectors (queries is nq * dim floats, borrowed),
 * best first, optionally restricted by filters. Distances as Chroma reports them: l2 squared,
 * ip 1 - dot, cosine 1 - cos, l1 sum of |differences|. Fewer than k results when fewer
 * records match. opts may be NULL.
 * On QV_OK *out is a new qv_results the caller owns.
 * Errors: QV_INVALID (k == 0, dim mismatch, NaN, bad filter), QV_NOMEM. Thread: concurrent-read.
 */
QV_API qv_status qv_collection_query(qv_collection *c, const float *queries, size_t nq, size_t k,
                                     const qv_query_opts *opts, qv_results **out);

/* ------------------------------------------------------------------ Results */

/** Number of query rows (1 for get). Thread: any. */
QV_API size_t qv_results_nq(const qv_results *r);
/** Number of hits for query row q. */
QV_API size_t qv_results_count(const qv_results *r, size_t q);
/** Id of hit i of row q; owned by r. */
QV_API const char *qv_results_id(const qv_results *r, size_t q, size_t i);
/** Distance of hit i of row q (0 when distances were not requested). */
QV_API float qv_results_distance(const qv_results *r, size_t q, size_t i);
/** Embedding (dim floats) of hit i, or NULL if not included; owned by r. */
QV_API const float *qv_results_embedding(const qv_results *r, size_t q, size_t i);
/** Metadata JSON object text of hit i, NULL if none or not included; owned by r. */
QV_API const char *qv_results_metadata(const qv_results *r, size_t q, size_t i);
/** Document of hit i, NULL if none or not included; owned by r. */
QV_API const char *qv_results_document(const qv_results *r, size_t q, size_t i);
/** Dimension of the embeddings in r. */
QV_API uint32_t qv_results_dim(const qv_results *r);
/** Include bits the results were made with. */
QV_API unsigned qv_results_include(const qv_results *r);
QV_API void qv_results_free(qv_results *r);

/* ------------------------------------------------------------------ Advanced queries */
/*
 * Beyond top-k: range search, k-means, vector arithmetic, recommendation,
 * diversity (MMR). Every call here takes the usual qv_query_opts (may be NULL): where /
 * where_document filters, include bits, ef_search, exact, n_threads. Results are qv_results as
 * for qv_collection_query(). Errors: QV_INVALID (bad argument, naming the field), QV_NOTFOUND
 * (an id that does not exist), QV_NOMEM. Thread: concurrent-read unless said otherwise.
 */

/*
 * Every record within radius of each of the nq queries (distance <= radius, distances as
 * qv_collection_query() reports them), nearest first; at most limit per query (0 = all, the
 * nearest limit when capped). Flat: the exact set. HNSW: approximate -- the graph is searched
 * for the k nearest with ef = max(2k, ef_search), k doubling from 64 until the k-th hit lies
 * beyond the radius (or the limit is reached), so the result is the in-radius prefix of an
 * approximate k-NN answer: its recall is the index's k-NN recall at that ef (>= 0.95 on
 * Fashion-MNIST at default build settings, bench/RESULTS.md). opts->exact = 1 forces the exact
 * scan. A filter matching under 2% of the records is answered by an exact scan of the matches.
 * Batches (nq > 1) run over opts->n_threads threads (0 = the db's default).
 */
QV_API qv_status qv_collection_range_search(qv_collection *c, const float *queries, size_t nq, float radius,
                                            size_t limit, const qv_query_opts *opts, qv_results **out);

/* One term of a vector expression: a stored record (id) or a given vector, with a weight. */
typedef struct qv_vec_term {
  const char *id;      /**< id of a stored record, or NULL to use vector; borrowed */
  const float *vector; /**< dim floats when id is NULL; borrowed */
  float weight;        /**< used by qv_collection_combine() */
} qv_vec_term;

/*
 * k nearest records to sum(weight_i * v_i) where v_i is each term's vector -- for cosine
 * collections the unit vector (the analogy king - man + woman is three terms with weights
 * 1, -1, 1). Records named by id terms are left out of the results when exclude_inputs is set.
 */
QV_API qv_status qv_collection_combine(qv_collection *c, const qv_vec_term *terms, size_t n_terms, size_t k,
                                       int exclude_inputs, const qv_query_opts *opts, qv_results **out);
/*
 * k nearest records to the point at t (0 = a, 1 = b; any finite t) between a and b: linear
 * interpolation, or spherical (slerp of the unit vectors) when spherical is 1; spherical -1
 * means "1 for cosine collections, else 0". Inputs given by id are excluded when exclude_inputs.
 */
QV_API qv_status qv_collection_interpolate(qv_collection *c, const qv_vec_term *a, const qv_vec_term *b, float t,
                                           int spherical, size_t k, int exclude_inputs,
                                           const qv_query_opts *opts, qv_results **out);
/* k nearest records to the mean of the records ids (unit vectors for cosine). */
QV_API qv_status qv_collection_centroid_search(qv_collection *c, const char *const *ids, size_t n_ids, size_t k,
                                               int exclude_inputs, const qv_query_opts *opts,
                                               qv_results **out);

typedef enum qv_recommend_strategy {
  QV_RECOMMEND_AVERAGE = 0,   /**< search for avg(pos) + (avg(pos) - avg(neg)) (avg(pos) without negatives) */
  QV_RECOMMEND_BEST_SCORE = 1 /**< score = max sim to a positive - max sim to a negative */
} qv_recommend_strategy;

/*
 * Recommend k records from positive examples (n_pos >= 1) and negative ones (may be 0), each
 * an id or a vector (weights ignored). qv_results_distance() holds the score, higher first:
 * similarity is 1 - distance for ip and cosine (the dot product) and -distance for l2 and l1.
 * AVERAGE scores each hit by its similarity to the averaged query. BEST_SCORE ranks records by
 * best positive similarity minus best negative similarity (best positive alone without
 * negatives): on a flat collection every record is scored; on a graph the candidates are the
 * max(10 k, 100) nearest to each positive and to the direction each (positive, negative) pair
 * scores along (p - n for ip/cosine, p + 4 (p - n) and p + 64 (p - n) for l2/l1; up to 64
 * pairs), each scored
 * exactly. Example records are never returned.
 */
QV_API qv_status qv_collection_recommend(qv_collection *c, const qv_vec_term *positive, size_t n_pos,
                                         const qv_vec_term *negative, size_t n_neg, size_t k,
                                         qv_recommend_strategy strategy, const qv_query_opts *opts,
                                         qv_results **out);

/*
 * Maximal marginal relevance: fetch_k nearest records (0 = max(4 k, 20)), then k of them
 * chosen greedily by lambda * sim(q, d) - (1 - lambda) * max sim(d, chosen), with sim =
 * -distance in the collection's metric. lambda in [0, 1] (1 = plain top-k order). Distances
 * are the distances to the query, in selection order. One query.
 */
QV_API qv_status qv_collection_query_mmr(qv_collection *c, const float *query, size_t k, float lambda,
                                         size_t fetch_k, const qv_query_opts *opts, qv_results **out);

/*
 * Full-text search of the documents: the k records whose documents best match text by BM25
 * (SQLite FTS5, default unicode61 tokenizer), highest score first; qv_results_distance()
 * holds the score, FTS5's -bm25() computed over this collection's documents. text is a list
 * of words (whitespace-separated; any of them may match); a single word scores exactly as
 * FTS5's query for it. Filters apply. Persistent databases build the collection's text index
 * in SQLite on its first text read (a pass over its documents; thread: write for that call),
 * then keep it in step with every write (which makes writes of documents slower: see
 * bench/RESULTS.md); an in-memory database, or a read-only one without the index, builds it
 * in memory on the first text read after a write. where_document {"$contains": s} (s of 3 or
 * more characters) likewise builds and uses a trigram index on persistent databases.
 * Errors: QV_INVALID (no words).
 */
QV_API qv_status qv_collection_text_search(qv_collection *c, const char *text, size_t k, const qv_query_opts *opts,
                                           qv_results **out);

typedef enum qv_fusion {
  QV_FUSION_RRF = 0,     /**< alpha / (60 + vector rank) + (1 - alpha) / (60 + text rank) */
  QV_FUSION_WEIGHTED = 1 /**< alpha * normalised vector similarity + (1 - alpha) * normalised BM25 */
} qv_fusion;

/*
 * Hybrid search: max(4 k, 50) candidates from the vector side (query, dim floats) and as many
 * from BM25 (text), fused (qv_fusion; alpha in [0, 1] weighs the vector side; min-max
 * normalisation over each side's candidates for WEIGHTED), k best first; the distance field
 * holds the fused score.
 */
QV_API qv_status qv_collection_hybrid_search(qv_collection *c, const char *text, const float *query, size_t k,
                                             qv_fusion fusion, float alpha, const qv_query_opts *opts,
                                             qv_results **out);

/* Options for qv_collection_kmeans(). Fill with qv_kmeans_opts_init(). Append-only. */
typedef struct qv_kmeans_opts {
  uint32_t k;                      /**< clusters, >= 1 (no default) */
  uint32_t niter;                  /**< iterations per run; default 20 */
  uint32_t nredo;                  /**< runs from different seeds, the lowest inertia kept; default 1 */
  uint64_t seed;                   /**< default 1234; the same seed gives the same clustering */
  int spherical;                   /**< -1 (default): 1 for cosine collections; 1: unit centroids,
                                        distance 1 - dot; 0: squared euclidean */
  int init;                        /**< 0 (default): k-means++; 1: k random records (as faiss) */
  const char *where_json;          /**< cluster only the records that match; borrowed */
  const char *where_document_json;
  size_t max_points;               /**< train on a random sample of this many (0 = all); every
                                        record is still assigned */
  const char *label_key;           /**< if set, write each record's cluster number into its
                                        metadata under this key, in one atomic update */
} qv_kmeans_opts;

QV_API void qv_kmeans_opts_init(qv_kmeans_opts *o);

/* The clustering. All arrays owned by the result (qv_kmeans_result_free()). */
typedef struct qv_kmeans_result {
  uint32_t k, dim;
  float *centroids;   /**< k * dim */
  size_t n;           /**< records clustered */
  char **ids;         /**< n ids, insertion order */
  uint32_t *labels;   /**< n cluster numbers */
  float *distances;   /**< n distances to their centroid (squared l2, or 1 - dot) */
  double inertia;     /**< sum of distances */
  uint64_t *sizes;    /**< k cluster sizes */
  char **nearest;     /**< k ids: the record closest to each centroid (NULL if empty) */
} qv_kmeans_result;

/*
 * k-means over the collection (or the records matching the filters) with OpenBLAS for the
 * assignments. Errors: QV_INVALID (k == 0 or more than the records, bad filter or label_key),
 * QV_NOMEM, and with label_key the errors of qv_collection_update(). Thread: concurrent-read
 * (write with label_key).
 */
QV_API qv_status qv_collection_kmeans(qv_collection *c, const qv_kmeans_opts *opts, qv_kmeans_result **out);
QV_API void qv_kmeans_result_free(qv_kmeans_result *r);

#ifdef __cplusplus
}
#endif
#endif /* QUIVER_H */
