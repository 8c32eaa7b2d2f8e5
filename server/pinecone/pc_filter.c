/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * pc_filter.c -- Pinecone's metadata filter language, translated into an equivalent quiver
 * `where` filter (src/filter.c, reached through the public where_json), so that filtered
 * queries, deletes and stats run inside quiver's own filtered search with exact topK.
 *
 * Grammar: an object whose keys are "$and" / "$or" (a non-empty array of filters) or field
 * names; a field's value is a literal (implicit $eq) or an object of one or more operators,
 * ANDed: {"year": {"$gte": 2000, "$lt": 2010}}. Several keys in one object are ANDed.
 *
 * Where Pinecone's rules differ from quiver's, the translation spells Pinecone's out:
 *   - a list value (Pinecone lists hold strings) matches $eq / $in when any element does:
 *       {k: {$eq: v}}   ->  {$or: [{k: {$eq: v}}, {k: {$contains: v}}]}
 *       {k: {$in: L}}   ->  {$or: [{k: {$in: L'}} per type class of L, {k: {$contains: e}}...]}
 *   - $ne / $nin match only records that HAVE the field (quiver's match records without it),
 *     and a list matches when no element equals / is in the operand:
 *       {k: {$ne: v}}   ->  {$and: [has(k), {k: {$ne: v}}, {k: {$not_contains: v}}]}
 *       {k: {$nin: L}}  ->  {$and: [has(k), {k: {$nin: L'}}..., {k: {$not_contains: e}}...]}
 *   - $exists: has(k) is {PC_KEYS: {$contains: k}}, its negation {PC_KEYS: {$not_contains: k}}:
 *     every record written through this API lists its metadata keys in PC_KEYS (pc_ns.c).
 *   - $gt $gte $lt $lte take numbers only (as on Pinecone); they never match lists or strings.
 * Keys with the reserved prefix (PC_RESERVED) are refused, so user filters never see the
 * bookkeeping keys.
 */
#include <stdio.h>
#include <string.h>

#include "pc.h"

#define MAX_DEPTH 32

typedef struct fctx {
  char *err;
  size_t errlen;
} fctx;

static json_t *fail(fctx *c, const char *fmt, ...) SRV_PRINTF(2, 3);
static json_t *fail(fctx *c, const char *fmt, ...) {
  va_list ap;
  if (c->err[0]) return NULL; /* keep the innermost message */
  va_start(ap, fmt);
  vsnprintf(c->err, c->errlen, fmt, ap);
  va_end(ap);
  return NULL;
}

static int is_scalar(const json_t *v) {
  return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

/* {key: {op: v}} (v stolen when steal). */
static json_t *term(const char *key, const char *op, json_t *v) {
  return json_pack("{s:{s:O}}", key, op, v);
}

static json_t *has_key(const char *key, int yes) {
  return json_pack("{s:{s:s}}", PC_KEYS, yes ? "$contains" : "$not_contains", key);
}

/* Combine the terms of arr (stolen) with op: the single term itself, or {op: arr}. */
static json_t *combine(const char *op, json_t *arr) {
  json_t *one;
  if (!arr) return NULL;
  if (json_array_size(arr) == 1) {
    one = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return one;
  }
  return json_pack("{s:o}", op, arr);
}

/* Append t (stolen) to arr; -1 when t is NULL or on OOM. */
static int push(json_t *arr, json_t *t) { return t ? json_array_append_new(arr, t) : -1; }

/* Type class of a scalar: 0 string, 1 number, 2 bool. */
static int cls(const json_t *v) { return json_is_string(v) ? 0 : json_is_number(v) ? 1 : 2; }

/* $in / $nin of key over list: {key: {op: L'}} per type class, plus $contains/$not_contains
 * per element, appended to terms. */
static int list_terms(fctx *c, json_t *terms, const char *key, const char *op, json_t *list,
                      const char *elem_op) {
  size_t i;
  json_t *e;
  if (!json_is_array(list) || json_array_size(list) == 0) {
    fail(c, "filter: %s on '%.100s' needs a non-empty array", op, key);
    return -1;
  }
  json_array_foreach(list, i, e) {
    if (!is_scalar(e)) {
      fail(c, "filter: %s on '%.100s': element %zu must be a string, number or boolean", op,
           key, i);
      return -1;
    }
  }
  for (int k = 0; k < 3; k++) {
    json_t *group = json_array();
    if (!group) return -1;
    json_array_foreach(list, i, e) {
      if (cls(e) == k && json_array_append(group, e)) {
        json_decref(group);
        return -1;
      }
    }
    if (json_array_size(group) == 0) json_decref(group);
    else if (push(terms, json_pack("{s:{s:o}}", key, op, group))) return -1;
  }
  json_array_foreach(list, i, e) {
    if (push(terms, term(key, elem_op, e))) return -1;
  }
  return 0;
}

/* One operator on one field. */
static json_t *field_op(fctx *c, const char *key, const char *op, json_t *v) {
  json_t *terms;
  if (!strcmp(op, "$eq") || !strcmp(op, "$ne")) {
    int ne = op[1] == 'n';
    if (!is_scalar(v)) return fail(c, "filter: %s on '%.100s' needs a string, number or boolean", op, key);
    terms = json_array();
    if (!terms) return NULL;
    if (ne && push(terms, has_key(key, 1))) goto oom;
    if (push(terms, term(key, op, v)) || push(terms, term(key, ne ? "$not_contains" : "$contains", v)))
      goto oom;
    return combine(ne ? "$and" : "$or", terms);
  }
  if (!strcmp(op, "$gt") || !strcmp(op, "$gte") || !strcmp(op, "$lt") || !strcmp(op, "$lte")) {
    if (!json_is_number(v)) return fail(c, "filter: %s on '%.100s' needs a number", op, key);
    return term(key, op, v);
  }
  if (!strcmp(op, "$in") || !strcmp(op, "$nin")) {
    int nin = op[1] == 'n';
    terms = json_array();
    if (!terms) return NULL;
    if (nin && push(terms, has_key(key, 1))) goto oom;
    if (list_terms(c, terms, key, op, v, nin ? "$not_contains" : "$contains")) goto oom;
    return combine(nin ? "$and" : "$or", terms);
  }
  if (!strcmp(op, "$exists")) {
    if (!json_is_boolean(v)) return fail(c, "filter: $exists on '%.100s' needs true or false", key);
    return has_key(key, json_is_true(v));
  }
  return fail(c, "filter: unknown operator %.40s on '%.100s' (supported: $eq $ne $gt $gte $lt "
                 "$lte $in $nin $exists)", op, key);
oom:
  json_decref(terms);
  return NULL;
}

static json_t *translate(fctx *c, json_t *f, int depth);

/* "$and" / "$or": [filters]. */
static json_t *logic(fctx *c, const char *op, json_t *arr, int depth) {
  json_t *terms, *e;
  size_t i;
  if (!json_is_array(arr) || json_array_size(arr) == 0)
    return fail(c, "filter: %s needs a non-empty array of filters", op);
  if (!(terms = json_array())) return NULL;
  json_array_foreach(arr, i, e) {
    if (!json_is_object(e) || json_object_size(e) == 0) {
      json_decref(terms);
      return fail(c, "filter: %s[%zu] must be a non-empty object", op, i);
    }
    if (push(terms, translate(c, e, depth + 1))) {
      json_decref(terms);
      return NULL;
    }
  }
  return combine(op, terms);
}

/* A filter object (non-empty). */
static json_t *translate(fctx *c, json_t *f, int depth) {
  const char *key;
  json_t *v, *terms;
  if (depth > MAX_DEPTH) return fail(c, "filter: nested deeper than %d levels", MAX_DEPTH);
  if (!(terms = json_array())) return NULL;
  json_object_foreach(f, key, v) {
    json_t *t = NULL;
    if (!strcmp(key, "$and") || !strcmp(key, "$or")) {
      t = logic(c, key, v, depth);
    } else if (key[0] == '$') {
      t = fail(c, "filter: unknown operator %.40s at the top of a filter (a field name or $and "
                  "/ $or expected)", key);
    } else if (!*key || !strncmp(key, PC_RESERVED, strlen(PC_RESERVED)) || key[0] == '#') {
      t = fail(c, "filter: field name '%.100s' is not allowed", key);
    } else if (is_scalar(v)) {
      t = field_op(c, key, "$eq", v);
    } else if (json_is_object(v) && json_object_size(v) > 0) {
      json_t *ops = json_array(), *ov;
      const char *op;
      if (ops) {
        json_object_foreach(v, op, ov) {
          if (push(ops, field_op(c, key, op, ov))) {
            json_decref(ops);
            ops = NULL;
            break;
          }
        }
      }
      t = combine("$and", ops);
    } else {
      t = fail(c, "filter: field '%.100s' needs a string, number, boolean or an object of "
                  "operators", key);
    }
    if (push(terms, t)) {
      json_decref(terms);
      return NULL;
    }
  }
  return combine("$and", terms);
}

int pc_filter_translate(json_t *filter, char **out, char *err, size_t errlen) {
  fctx c = {err, errlen};
  json_t *w;
  *out = NULL;
  err[0] = '\0';
  if (!json_is_object(filter)) {
    snprintf(err, errlen, "filter: expected an object");
    return -1;
  }
  if (json_object_size(filter) == 0) return 0;
  w = translate(&c, filter, 0);
  if (!w) {
    if (!err[0]) snprintf(err, errlen, "out of memory translating the filter");
    return -1;
  }
  *out = json_dumps(w, JSON_COMPACT);
  json_decref(w);
  if (!*out) {
    snprintf(err, errlen, "out of memory translating the filter");
    return -1;
  }
  return 0;
}

int pc_filter_field(json_t *body, char **out, srv_resp *rs) {
  json_t *f = json_object_get(body, "filter");
  char err[512];
  *out = NULL;
  if (!f || json_is_null(f)) return 0;
  if (pc_filter_translate(f, out, err, sizeof err) == 0) return 0;
  pc_err(rs, 400, "%s", err);
  return -1;
}
