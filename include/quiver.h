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
 *
 * Growable structs. Every options, batch, info and stats struct starts with `struct_size`.
 * The *_init() functions set it to sizeof the struct as this header declares it; a struct
 * filled by hand (designated initialisers) may leave it 0, which means the layout of 0.2.0,
 * the first release with the field. Fields are only ever appended, and the library reads (or,
 * for info and stats, writes) only the first struct_size bytes, so a program built against an
 * older header keeps working with a newer library.
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
typedef enum qv_log_level { QV_LOG_ERROR = 0, QV_LOG_WARN = 1, QV_LOG_INFO = 2 } qv_log_level;
/** Where the library's log lines go (an index rebuilt, a format migrated...). */
typedef void (*qv_log_fn)(void *ud, qv_log_level level, const char *msg);

typedef struct qv_open_opts {
  uint32_t struct_size; /**< sizeof(qv_open_opts); set by qv_open_opts_init() */
  qv_allocator alloc;  /**< allocator for libquiver's own memory */
  qv_sync sync;        /**< default QV_SYNC_FULL */
  char *errbuf;        /**< if set, an open failure writes its message here */
  size_t errbuf_len;
  int n_threads;       /**< threads for index builds and batch search. 0 = default: builds use
                            $QUIVER_THREADS, else $OMP_NUM_THREADS, else the CPU count; batch
                            search uses the CPU count */
  int read_only;       /**< open without taking the write lock; writes return QV_MISUSE */
  qv_log_fn log;       /**< NULL: lines go to stderr as "quiver: LEVEL: message" */
  void *log_ud;
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

/** "l2", "ip", "cosine", "l1"; static. Thread: any. */
QV_API const char *qv_metric_name(qv_metric m);
/** Parse a metric name (also "euclidean", "angular", "dot", "manhattan"). Thread: any. */
QV_API qv_status qv_metric_parse(const char *name, qv_metric *out);
/*
 * Index kinds are plug-ins known by name: "flat" (exact search) and "hnsw" (hierarchical
 * navigable small world graph, approximate) in this build. Each declares its parameters; a
 * collection stores them as one JSON object (qv_collection_opts.params_json,
 * qv_collection_info.params_json).
 */
/** The names of the index kinds built in, NULL-terminated; static. Thread: any. */
QV_API const char *const *qv_index_kinds(void);
/*
 * Every parameter of index kind `kind` with its default, as a JSON object text the caller
 * frees with free() ("hnsw": {"M":16,"ef_construction":200,"ef_search":64,...}).
 * Errors: QV_NOTFOUND (no such kind). Thread: any.
 */
QV_API qv_status qv_index_params_describe(const char *kind, char **json_out);

/** Options for creating a collection. Fill with qv_collection_opts_init(). Append-only. */
typedef struct qv_collection_opts {
  uint32_t struct_size;      /**< sizeof(qv_collection_opts); set by qv_collection_opts_init() */
  uint32_t dim;              /**< dimension; 0 = fixed by the first write */
  qv_metric metric;          /**< default QV_METRIC_L2 */
  const char *index;         /**< index kind name (qv_index_kinds()); NULL = "flat"; borrowed */
  /** The kind's parameters as a JSON object ({"M": 32, "ef_search": 100}), NULL = defaults.
      Validated by the kind: an unknown key, a wrong type or a value out of range is QV_INVALID
      naming the key. Borrowed. */
  const char *params_json;
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
  uint32_t struct_size;  /**< set by the caller (sizeof, or 0 for the 0.2.0 layout) */
  char *name;
  char *uuid;
  char *metadata_json;   /**< NULL if none */
  uint32_t dim;          /**< 0 while not yet fixed */
  qv_metric metric;
  char *index;           /**< index kind name */
  char *params_json;     /**< the kind's parameters, every one with its current value */
  uint64_t count;        /**< live records */
} qv_collection_info;

/** Fill *out (set out->struct_size first); release with qv_collection_info_free().
    Thread: concurrent-read. */
QV_API qv_status qv_collection_info_get(qv_collection *c, qv_collection_info *out);
QV_API void qv_collection_info_free(qv_collection_info *info);

/** Index statistics (qv_collection_stats_get; set struct_size first, or 0). */
typedef struct qv_index_stats {
  uint32_t struct_size;
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
 * Change query-time parameters of the collection's index kind, given as a JSON object
 * ({"ef_search": 128}). Only parameters the kind marks as query-time may change; unknown
 * names, build-time parameters and values out of range return QV_INVALID naming the key, and
 * nothing changes. The values are the collection's defaults from then on and, in a persistent
 * database opened read-write, are stored with the collection (they survive a reopen); opened
 * read-only, they last until the database is closed. Thread: write.
 */
QV_API qv_status qv_collection_set_params(qv_collection *c, const char *params_json);
/** qv_collection_set_params() for one numeric parameter. Thread: write. */
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
  uint32_t struct_size; /**< sizeof(qv_batch) or 0 */
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
  uint32_t struct_size;           /**< set by qv_get_opts_init() */
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
  uint32_t struct_size; /**< set by qv_query_opts_init() */
  const char *where_json;
  const char *where_document_json;
  unsigned include;   /**< default METADATAS|DOCUMENTS|DISTANCES */
  uint32_t ef_search; /**< 0 = the collection's default */
  int exact;          /**< 1 forces an exact scan even on an approximate index */
  int n_threads;      /**< for batches: 0 = the db's default */
  /** the index kind's query-time parameters for this call only, a JSON object such as
      {"nprobe": 8, "rerank": 2} (runtime parameters only); NULL = the collection's values */
  const char *search_params_json;
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

#ifdef __cplusplus
}
#endif
#endif /* QUIVER_H */
