/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * qv_int.h -- internal definitions shared by the files of libquiver. Included only in src/.
 *
 * QV_INTERNAL marks functions that cross files inside the library but are not API (hidden by
 * -fvisibility=hidden; the name prefix is qv__<module>_<verb>). qv_mem is the allocator every
 * internal module takes, so that a caller-supplied allocator (and the fault-injection tests)
 * reach all of libquiver's own allocations.
 */
#ifndef QV_INT_H
#define QV_INT_H

#include <assert.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "quiver.h"

#define QV_INTERNAL __attribute__((visibility("hidden")))

#if defined(__GNUC__)
#define QV_LIKELY(x) __builtin_expect(!!(x), 1)
#define QV_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define QV_LIKELY(x) (x)
#define QV_UNLIKELY(x) (x)
#endif

/* The allocator of one db. Never NULL inside the library: qv__mem_default() when no db. */
typedef struct qv_mem {
  void *(*malloc_fn)(void *ud, size_t n);
  void *(*realloc_fn)(void *ud, void *p, size_t n);
  void (*free_fn)(void *ud, void *p);
  void *ud;
} qv_mem;

QV_INTERNAL const qv_mem *qv__mem_default(void);
QV_INTERNAL void qv__mem_init(qv_mem *m, const qv_allocator *a);
QV_INTERNAL void *qv__malloc(const qv_mem *m, size_t n);
QV_INTERNAL void *qv__calloc(const qv_mem *m, size_t count, size_t size); /* overflow-checked */
QV_INTERNAL void *qv__realloc(const qv_mem *m, void *p, size_t n);
QV_INTERNAL void qv__free(const qv_mem *m, void *p);
QV_INTERNAL char *qv__strdup(const qv_mem *m, const char *s);
QV_INTERNAL char *qv__strndup(const qv_mem *m, const char *s, size_t n);
/* 64-byte aligned block (for vectors); free with qv__free_aligned. */
QV_INTERNAL void *qv__malloc_aligned(const qv_mem *m, size_t n);
QV_INTERNAL void qv__free_aligned(const qv_mem *m, void *p);

/* Advise transparent huge pages for the page-aligned interior of a block of 4 MiB or more
 * (big arrays scanned or walked at random); advisory, failures ignored. */
QV_INTERNAL void qv__advise_huge(void *p, size_t n);

/* snprintf into a fixed error buffer; never overflows, always terminates. */
QV_INTERNAL void qv__fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Growable public structs (quiver.h: struct_size). qv__struct_in() copies the caller's struct
 * into dst, which the caller has already filled with defaults: struct_size bytes of it, or the
 * 0.2.0 layout's size when struct_size is 0 (or smaller than that layout), never more than
 * dst_size. qv__struct_out() copies a filled result back: struct_size bytes when that lies
 * between the base layout and ours, else the base layout. The base sizes below are frozen: a field appended later
 * changes sizeof, not them.
 */
QV_INTERNAL void qv__struct_in(void *dst, size_t dst_size, const void *src, size_t base_size);
QV_INTERNAL void qv__struct_out(void *dst, const void *src, size_t full_size, size_t base_size);
#define QV__BASE_OPEN_OPTS sizeof(qv_open_opts)
#define QV__BASE_COLLECTION_OPTS offsetof(qv_collection_opts, config_json) /* config_json came later */
#define QV__BASE_COLLECTION_INFO offsetof(qv_collection_info, tenant) /* tenant, database, local_name came later */
#define QV__BASE_DATABASE_INFO sizeof(qv_database_info)
#define QV__BASE_INDEX_STATS offsetof(qv_index_stats, mem_codes)
#define QV__BASE_BATCH offsetof(qv_batch, position_key) /* position_key and position came later */
#define QV__BASE_GET_OPTS sizeof(qv_get_opts)
#define QV__BASE_QUERY_OPTS sizeof(qv_query_opts)

/* Log a line through the db's callback (or stderr). db may be NULL. */
QV_INTERNAL void qv__log(const qv_db *db, qv_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Number of online CPUs (at least 1). */
QV_INTERNAL int qv__ncpu(void);

/* Monotonic clock in seconds. */
QV_INTERNAL double qv__now(void);
/* A random (version 4) UUID, 36 characters and a NUL. */
QV_INTERNAL void qv__make_uuid(char out[37]);

#endif /* QV_INT_H */
