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
  uint8_t packed;   /* an array read from packed metadata: u.raw holds its encoded elements */
  uint32_t len;     /* bytes of a string (without NUL); elements of an array */
  union {
    int b;
    int64_t i;
    double f;
    const char *s;              /* NUL-terminated inside a qv_meta block; from packed
                                   metadata: len bytes, not terminated */
    const struct qv_mval *arr;  /* len scalars, inside the qv_meta block */
    const unsigned char *raw;   /* packed: the first encoded element (qv__meta_packed_elem) */
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

/*
 * Packed metadata: what a collection keeps per record (in its arena, src/core/arena.h), one
 * compact byte string the filter reads in place:
 *
 *   varint n, then n entries in key order (bytewise): varint key length, key bytes, one tag
 *   byte (qv_mtype | element qv_mtype << 4), the value:
 *     bool 1 byte; int zigzag varint; float 8 bytes (host order); string varint length +
 *     bytes; array varint count, varint bytes of the elements, the elements, each encoded
 *     as its scalar type (a lookup steps over any value without decoding it).
 *
 * Host order only: packed metadata lives in memory, never on disk (the store keeps JSON).
 */
/* Bytes of m packed (m NULL or without keys: 1). */
QV_INTERNAL size_t qv__meta_packed_size(const qv_meta *m);
/* Pack m into out (qv__meta_packed_size(m) bytes). */
QV_INTERNAL void qv__meta_pack_into(const qv_meta *m, unsigned char *out);
/* Packed m in a new block (*len its bytes); QV_NOMEM. */
QV_INTERNAL qv_status qv__meta_pack(const qv_mem *mem, const qv_meta *m, unsigned char **out, size_t *len);
/* The qv_meta of packed metadata (for merging); QV_NOMEM. */
QV_INTERNAL qv_status qv__meta_unpack(const qv_mem *mem, const unsigned char *p, qv_meta **out);
/* Compact JSON text of packed metadata, as qv__meta_to_json gives for its qv_meta. */
QV_INTERNAL char *qv__meta_packed_json(const qv_mem *mem, const unsigned char *p);
/* Value of key (klen bytes) in packed metadata p (NULL: none): 1 and *out, 0 if absent. A
 * string points into p (len bytes, not NUL-terminated); an array has packed = 1 and u.raw. */
QV_INTERNAL int qv__meta_packed_get(const unsigned char *p, const char *key, size_t klen, qv_mval *out);
/* Decode one element of a packed array (element type elem) into *out; returns the next one. */
QV_INTERNAL const unsigned char *qv__meta_packed_elem(const unsigned char *p, uint8_t elem, qv_mval *out);

#endif /* QV_META_H */
