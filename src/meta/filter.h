/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * filter.h -- Chroma `where` / `where_document` filters: parse once into an AST, then match
 * records (their parsed metadata and document) many times, e.g. inside a graph search.
 *
 * Grammar and semantics are those of ../shared/api/chroma-v2.md section 9: exactly one key
 * per object; $eq $ne $gt $gte $lt $lte $in $nin $contains $not_contains on metadata,
 * $contains $not_contains $regex $not_regex on documents (also as key "#document"), $and/$or.
 * Negative operators match records lacking the key. Ints and floats compare with each other;
 * bools only with bools, strings only with strings.
 */
#ifndef QV_FILTER_H
#define QV_FILTER_H

#include "meta.h"
#include "qv_int.h"

typedef struct qv_filter qv_filter;

/*
 * Parse where_json and/or where_document_json (either may be NULL or "null"; both are ANDed).
 * When both are absent *out is NULL and QV_OK is returned: no filter, everything matches.
 * On failure err names the problem and the path ("where.$and[1].price: $gt needs a number").
 * Errors: QV_INVALID, QV_NOMEM.
 */
QV_INTERNAL qv_status qv__filter_parse(const qv_mem *mem, const char *where_json,
                                       const char *where_document_json, qv_filter **out, char *err,
                                       size_t errlen);
/* 1 if a record with this packed metadata (meta.h; may be NULL) and document (may be NULL)
 * matches. f may be NULL. Allocates nothing. */
QV_INTERNAL int qv__filter_match_packed(const qv_filter *f, const unsigned char *meta, const char *doc);
/* The same for a parsed qv_meta, packed first (tests; 0 when that allocation fails). */
QV_INTERNAL int qv__filter_match(const qv_filter *f, const qv_meta *meta, const char *doc);
/* 1 if matching ever looks at the document. */
QV_INTERNAL int qv__filter_uses_document(const qv_filter *f);
QV_INTERNAL void qv__filter_free(const qv_mem *mem, qv_filter *f);
/* A document substring ($contains) every matching record must contain (the longest one
 * required through $and), or NULL; owned by f. */
QV_INTERNAL const char *qv__filter_doc_needle(const qv_filter *f);

#endif /* QV_FILTER_H */
