/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * meta.h -- a record's metadata, parsed once from JSON and kept in memory for filtering.
 *
 * Metadata is a flat JSON object whose values are string, integer, float, bool, or a
 * non-empty array whose elements are all one of those types (not nested). Integers and
 * floats stay distinct (as in Chroma) but compare with each other in filters. A qv_meta is
 * one allocation; keys are kept sorted bytewise so lookups are a binary search.
 */
#ifndef QV_META_H
#define QV_META_H

#include <stddef.h>
#include <stdint.h>

#include "qv_int.h"

typedef enum qv_mtype {
  QV_MT_NULL = 0, /* only in an update patch: "remove this key" */
  QV_MT_BOOL = 1,
  QV_MT_INT = 2,
  QV_MT_FLOAT = 3,
  QV_MT_STR = 4,
  QV_MT_ARRAY = 5
} qv_mtype;

typedef struct qv_mval {
  uint8_t type;     /* qv_mtype */
  uint8_t elem;     /* element qv_mtype when type == QV_MT_ARRAY */
  uint32_t len;     /* bytes of a string (without NUL); elements of an array */
  union {
    int b;
    int64_t i;
    double f;
    const char *s;              /* NUL-terminated, inside the qv_meta block */
    const struct qv_mval *arr;  /* len scalars, inside the qv_meta block */
  } u;
} qv_mval;

typedef struct qv_meta {
  uint32_t n;          /* number of keys */
  size_t bytes;        /* total size of the allocation (for memory stats) */
  const char **keys;   /* n keys, sorted with strcmp */
  qv_mval *vals;       /* vals[i] belongs to keys[i] */
} qv_meta;

/*
 * Parse a JSON object. allow_null: accept null values (update patches); otherwise null is an
 * error. An empty object gives a qv_meta with n == 0. Limits: key 1..256 bytes, string value
 * at most 64 KiB, at most 1024 keys and 4096 array elements.
 * On failure *out is NULL and err holds a message naming the key ("key \"a\": nested objects
 * are not allowed"); callers prefix the batch position.
 * Errors: QV_INVALID, QV_NOMEM.
 */
QV_INTERNAL qv_status qv__meta_parse(const qv_mem *mem, const char *json, int allow_null, qv_meta **out,
                                     char *err, size_t errlen);
/* base with patch applied key by key (null values remove keys). base may be NULL. */
QV_INTERNAL qv_status qv__meta_merge(const qv_mem *mem, const qv_meta *base, const qv_meta *patch,
                                     qv_meta **out);
/* Compact JSON text with keys in sorted order; caller frees with qv__free. NULL on NOMEM. */
QV_INTERNAL char *qv__meta_to_json(const qv_mem *mem, const qv_meta *m);
/* Value for key, or NULL. m may be NULL. */
QV_INTERNAL const qv_mval *qv__meta_get(const qv_meta *m, const char *key);
QV_INTERNAL void qv__meta_free(const qv_mem *mem, qv_meta *m);

#endif /* QV_META_H */
