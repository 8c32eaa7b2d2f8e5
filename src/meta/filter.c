/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * filter.c -- Chroma `where` / `where_document` filters (chroma-v2.md section 9).
 *
 * Parsing turns the JSON into a tree of fnode, all carved from one bump arena owned by the
 * qv_filter (so a filter is a handful of blocks from the qv_mem, freed together). Everything
 * that can be decided once is decided at parse time: the operator becomes one opcode, the
 * operand becomes a qv_mval of its final type (integral floats become ints, so the common
 * int-vs-int compare is one instruction), regexes are compiled, keys are interned.
 *
 * qv__filter_match_packed runs per visited node inside a graph search, so it allocates
 * nothing, touches no JSON and compares no operator names: a switch on the opcode, a scan of
 * the record's packed metadata (meta.h: keys in order, so it stops at the first greater
 * key), one typed comparison.
 *
 * Semantics, exactly as in the spec:
 *   - negative operators ($ne $nin $not_contains, document $not_contains/$not_regex) are
 *     NOT(positive): records lacking the key, or with another type, or with no document
 *     match them;
 *   - ints and floats compare with each other exactly (no truncation quirk); bools only
 *     equal bools; strings only strings; scalar operators never match array values;
 *   - metadata $contains tests membership in an array value; on "#document" it is a
 *     case-sensitive substring test;
 *   - $regex is POSIX extended syntax (regcomp REG_EXTENDED|REG_NOSUB), compiled once;
 *     backreferences are rejected (Rust's regex has none, and they make matching exponential).
 *
 * Hostile input is bounded: $and/$or nesting depth, total terms, regex length.
 */
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#include "filter.h"

#define FILTER_MAX_DEPTH 64      /* nested $and/$or */
#define FILTER_MAX_TERMS 100000  /* nodes + $in elements */
#define FILTER_MAX_REGEX 4096    /* bytes of one pattern */
#define FILTER_MAX_REGEX_COST 20000.0 /* estimated automaton nodes of one pattern */
#define ARENA_FIRST 1024

/* Opcodes: one per operator and target, each handled by one case in match_node. */
enum {
  F_AND,
  F_OR,
  F_EQ,
  F_NE,
  F_GT,
  F_GTE,
  F_LT,
  F_LTE,
  F_IN,
  F_NIN,
  F_HAS,     /* metadata $contains: array value has an element equal to v */
  F_NOT_HAS,
  F_DOC_HAS, /* document substring */
  F_DOC_NOT_HAS,
  F_DOC_RE,
  F_DOC_NOT_RE
};

typedef struct fnode {
  uint8_t op;
  uint32_t n;        /* children of AND/OR */
  const char *key;   /* metadata key (interned) */
  uint32_t klen;     /* its bytes */
  union {
    struct fnode *kids;
    const regex_t *re;
  } p;
  qv_mval v;         /* operand: scalar, QV_MT_ARRAY for $in/$nin, string for documents */
} fnode;

typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  max_align_t data[];
} chunk;

typedef struct regex_ent {
  regex_t re;
  struct regex_ent *next;
} regex_ent;

struct qv_filter {
  fnode *root;
  int uses_doc;
  chunk *chunks;
  regex_ent *regexes; /* compiled, to regfree */
};

/* ------------------------------------------------------------------ matching */

/* Exact three-way compare of an int64 with a finite double. */
static inline int cmp_i_d(int64_t i, double d) {
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  int64_t t = (int64_t)d; /* in range: truncation is defined */
  if (i != t) return i < t ? -1 : 1;
  double fr = d - (double)t;
  return fr > 0 ? -1 : fr < 0 ? 1 : 0;
}

/* a, b both QV_MT_INT or QV_MT_FLOAT. */
static inline int cmp_num(const qv_mval *a, const qv_mval *b) {
  if (a->type == QV_MT_INT) {
    if (QV_LIKELY(b->type == QV_MT_INT)) return (a->u.i > b->u.i) - (a->u.i < b->u.i);
    return cmp_i_d(a->u.i, b->u.f);
  }
  if (b->type == QV_MT_FLOAT) return (a->u.f > b->u.f) - (a->u.f < b->u.f);
  return -cmp_i_d(b->u.i, a->u.f);
}

static inline int is_num(const qv_mval *v) { return v->type == QV_MT_INT || v->type == QV_MT_FLOAT; }

/* Scalar equality with the filter's rules; a (from the record) may be anything. */
static inline int val_eq(const qv_mval *a, const qv_mval *b) {
  switch (b->type) {
  case QV_MT_STR: return a->type == QV_MT_STR && a->len == b->len && memcmp(a->u.s, b->u.s, b->len) == 0;
  case QV_MT_BOOL: return a->type == QV_MT_BOOL && !a->u.b == !b->u.b;
  default: return is_num(a) && cmp_num(a, b) == 0;
  }
}

static int in_list(const qv_mval *a, const qv_mval *list) {
  for (uint32_t i = 0; i < list->len; i++)
    if (val_eq(a, &list->u.arr[i])) return 1;
  return 0;
}

static int array_has(const qv_mval *a, const qv_mval *v) {
  if (!a || a->type != QV_MT_ARRAY) return 0;
  if (a->packed) { /* a record's packed array: decode the elements in place */
    const unsigned char *p = a->u.raw;
    qv_mval e;
    for (uint32_t i = 0; i < a->len; i++) {
      p = qv__meta_packed_elem(p, a->elem, &e);
      if (val_eq(&e, v)) return 1;
    }
    return 0;
  }
  for (uint32_t i = 0; i < a->len; i++)
    if (val_eq(&a->u.arr[i], v)) return 1;
  return 0;
}

static inline int scalar_eq(const qv_mval *a, const qv_mval *v) { return a && val_eq(a, v); }

static inline int num_cmp_ok(const qv_mval *a, const qv_mval *v, int op) {
  if (!a || !is_num(a)) return 0;
  int c = cmp_num(a, v);
  switch (op) {
  case F_GT: return c > 0;
  case F_GTE: return c >= 0;
  case F_LT: return c < 0;
  default: return c <= 0;
  }
}

static int match_node(const fnode *n, const unsigned char *m, const char *doc) {
  const qv_mval *a;
  qv_mval val;
  switch (n->op) {
  case F_AND:
    for (uint32_t i = 0; i < n->n; i++)
      if (!match_node(&n->p.kids[i], m, doc)) return 0;
    return 1;
  case F_OR:
    for (uint32_t i = 0; i < n->n; i++)
      if (match_node(&n->p.kids[i], m, doc)) return 1;
    return 0;
  case F_DOC_HAS: return doc && strstr(doc, n->v.u.s) != NULL;
  case F_DOC_NOT_HAS: return !doc || strstr(doc, n->v.u.s) == NULL;
  case F_DOC_RE: return doc && regexec(n->p.re, doc, 0, NULL, 0) == 0;
  case F_DOC_NOT_RE: return !doc || regexec(n->p.re, doc, 0, NULL, 0) != 0;
  default: break;
  }
  a = qv__meta_packed_get(m, n->key, n->klen, &val) ? &val : NULL;
  switch (n->op) {
  case F_EQ: return scalar_eq(a, &n->v);
  case F_NE: return !scalar_eq(a, &n->v);
  case F_GT:
  case F_GTE:
  case F_LT:
  case F_LTE: return num_cmp_ok(a, &n->v, n->op);
  case F_IN: return a && in_list(a, &n->v);
  case F_NIN: return !(a && in_list(a, &n->v));
  case F_HAS: return array_has(a, &n->v);
  case F_NOT_HAS: return !array_has(a, &n->v);
  default: assert(0); return 0;
  }
}

int qv__filter_match_packed(const qv_filter *f, const unsigned char *meta, const char *doc) {
  if (!f) return 1;
  return match_node(f->root, meta, doc);
}

int qv__filter_match(const qv_filter *f, const qv_meta *meta, const char *doc) {
  if (!f) return 1;
  if (!meta) return match_node(f->root, NULL, doc);
  unsigned char buf[512], *p = buf;
  size_t n = qv__meta_packed_size(meta);
  if (n > sizeof buf && !(p = qv__malloc(qv__mem_default(), n))) return 0;
  qv__meta_pack_into(meta, p);
  int r = match_node(f->root, p, doc);
  if (p != buf) qv__free(qv__mem_default(), p);
  return r;
}

int qv__filter_uses_document(const qv_filter *f) { return f ? f->uses_doc : 0; }

void qv__filter_free(const qv_mem *mem, qv_filter *f) {
  if (!f) return;
  for (regex_ent *r = f->regexes; r; r = r->next) regfree(&r->re);
  for (chunk *c = f->chunks, *next; c; c = next) {
    next = c->next;
    qv__free(mem, c);
  }
  qv__free(mem, f);
}

/* ------------------------------------------------------------------ parse context */

typedef struct pctx {
  const qv_mem *mem;
  qv_filter *f;
  json_t *interned; /* key -> arena copy (as integer), to share key strings */
  char *err;
  size_t errlen;
  char path[320];
  size_t plen;
  size_t terms;
  int depth;
  int doc_mode; /* parsing where_document (vs where) */
} pctx;

static void *arena_alloc(pctx *c, size_t n) {
  chunk *ch = c->f->chunks;
  n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
  if (!ch || ch->cap - ch->used < n) {
    size_t cap = ch ? ch->cap * 2 : ARENA_FIRST;
    if (cap < n) cap = n;
    chunk *nc = qv__malloc(c->mem, sizeof(chunk) + cap);
    if (!nc) return NULL;
    nc->next = ch;
    nc->used = 0;
    nc->cap = cap;
    c->f->chunks = ch = nc;
  }
  void *p = (char *)ch->data + ch->used;
  ch->used += n;
  return p;
}

static char *arena_str(pctx *c, const char *s, size_t len) {
  char *d = arena_alloc(c, len + 1);
  if (!d) return NULL;
  memcpy(d, s, len);
  d[len] = 0;
  return d;
}

/* "path: message" into the caller's buffer; always returns QV_INVALID. */
static qv_status perr(pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static qv_status perr(pctx *c, const char *fmt, ...) {
  if (c->err && c->errlen) {
    int k = snprintf(c->err, c->errlen, "%s: ", c->path);
    if (k > 0 && (size_t)k < c->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
      va_end(ap);
    }
  }
  return QV_INVALID;
}

/* Append to the path (truncating with "..." if long); returns the length to restore. */
static size_t path_push(pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(pctx *c, const char *fmt, ...) {
  size_t old = c->plen, room = sizeof c->path - old;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(c->path + old, room, fmt, ap);
  va_end(ap);
  if (k < 0) k = 0;
  if ((size_t)k >= room) {
    memcpy(c->path + sizeof c->path - 4, "...", 4);
    c->plen = sizeof c->path - 1;
  } else {
    c->plen = old + (size_t)k;
  }
  return old;
}

static void path_pop(pctx *c, size_t old) {
  c->plen = old;
  c->path[old] = 0;
}

static qv_status count_terms(pctx *c, size_t n) {
  c->terms += n;
  if (c->terms > FILTER_MAX_TERMS) return perr(c, "filter has more than %d terms", FILTER_MAX_TERMS);
  return QV_OK;
}

static const char *intern_key(pctx *c, const char *key) {
  json_t *hit = json_object_get(c->interned, key);
  if (hit) return (const char *)(uintptr_t)json_integer_value(hit);
  char *s = arena_str(c, key, strlen(key));
  if (!s) return NULL;
  json_t *iv = json_integer((json_int_t)(uintptr_t)s);
  if (!iv || json_object_set_new(c->interned, key, iv) != 0) return NULL;
  return s;
}

/* ------------------------------------------------------------------ operands */

static const char *jtype(const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER:
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a bool";
  default: return "null";
  }
}

static int j_is_scalar(const json_t *j) { return json_is_string(j) || json_is_number(j) || json_is_boolean(j); }

/* Same "JSON type" in the sense of $in: string, number (int or real) or bool. */
static int j_class(const json_t *j) {
  return json_is_string(j) ? 1 : json_is_number(j) ? 2 : json_is_boolean(j) ? 3 : 0;
}

/* Scalar JSON -> qv_mval; integral floats in int64 range become ints (comparison is exact). */
static qv_status set_scalar(pctx *c, qv_mval *v, const json_t *j) {
  memset(v, 0, sizeof *v);
  if (json_is_string(j)) {
    v->type = QV_MT_STR;
    v->len = (uint32_t)json_string_length(j);
    if (!(v->u.s = arena_str(c, json_string_value(j), v->len))) return QV_NOMEM;
  } else if (json_is_integer(j)) {
    v->type = QV_MT_INT;
    v->u.i = json_integer_value(j);
  } else if (json_is_real(j)) {
    double d = json_real_value(j);
    if (!isfinite(d)) return perr(c, "non-finite numbers are not allowed");
    if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
      v->type = QV_MT_INT;
      v->u.i = (int64_t)d;
    } else {
      v->type = QV_MT_FLOAT;
      v->u.f = d;
    }
  } else {
    v->type = QV_MT_BOOL;
    v->u.b = json_is_true(j);
  }
  return QV_OK;
}

static qv_status set_list(pctx *c, qv_mval *v, const char *opname, const json_t *arr) {
  size_t n = json_array_size(arr), i;
  if (!json_is_array(arr) || n == 0) return perr(c, "%s needs a non-empty array", opname);
  int cls = j_class(json_array_get(arr, 0));
  for (i = 0; i < n; i++) {
    const json_t *e = json_array_get(arr, i);
    if (!j_is_scalar(e))
      return perr(c, "%s: element %zu is %s; elements must be strings, numbers or bools", opname, i, jtype(e));
    if (j_class(e) != cls)
      return perr(c, "%s: all elements must have the same type (element %zu is %s, element 0 %s)", opname, i,
                  jtype(e), jtype(json_array_get(arr, 0)));
  }
  qv_status rc = count_terms(c, n);
  if (rc != QV_OK) return rc;
  qv_mval *elems = arena_alloc(c, n * sizeof *elems);
  if (!elems) return QV_NOMEM;
  for (i = 0; i < n; i++)
    if ((rc = set_scalar(c, &elems[i], json_array_get(arr, i))) != QV_OK) return rc;
  memset(v, 0, sizeof *v);
  v->type = QV_MT_ARRAY;
  v->len = (uint32_t)n;
  v->u.arr = elems;
  return QV_OK;
}

/* ------------------------------------------------------------------ documents */

/* Index just past the bracket expression starting at s[i] == '['. */
static size_t skip_bracket(const char *s, size_t len, size_t i) {
  i++;
  if (i < len && s[i] == '^') i++;
  if (i < len && s[i] == ']') i++; /* a leading ']' is literal */
  while (i < len && s[i] != ']') {
    if (s[i] == '[' && i + 1 < len && (s[i + 1] == ':' || s[i + 1] == '.' || s[i + 1] == '=')) {
      char end = s[i + 1];
      i += 2;
      while (i + 1 < len && !(s[i] == end && s[i + 1] == ']')) i++;
      i += 2;
      continue;
    }
    i++;
  }
  return i + 1;
}

/* Largest count of a {m}, {m,} or {m,n} at s[i] == '{' (0 if not a bound); *end past '}';
 * *opt: how many of the copies are optional (n - m). */
static double bound_count(const char *s, size_t len, size_t i, size_t *end, double *opt) {
  double lo = 0, hi = -1;
  size_t j = i + 1;
  while (j < len && s[j] >= '0' && s[j] <= '9') lo = lo * 10 + (s[j++] - '0');
  if (j < len && s[j] == ',') {
    j++;
    if (j < len && s[j] >= '0' && s[j] <= '9') {
      hi = 0;
      while (j < len && s[j] >= '0' && s[j] <= '9') hi = hi * 10 + (s[j++] - '0');
    } else {
      hi = lo + 1; /* {m,}: m copies then a star */
    }
  }
  if (j >= len || s[j] != '}') return 0;
  *end = j + 1;
  *opt = hi > lo ? hi - lo : 0;
  return hi > lo ? hi : lo;
}

/*
 * Rough size of the automaton glibc builds: it expands a+ to aa* and a{m,n} to m..n copies,
 * so nested quantifiers grow exponentially ("((a{99}){99}){99}", "((((a*)*)*)*)..."), and
 * stacked ones ("a+++", "a?**") blow up its epsilon closures; those are refused outright
 * (they mean nothing that one quantifier does not; a single '?' after a quantifier is let
 * through, as Rust's lazy marker). The n - m optional copies of a{m,n} nest ("(a(a(a)?)?)?"),
 * and their epsilon closures cost memory quadratic in n - m (about 8 MB at 1000, 1.5 GB at
 * 19600, found by fuzz_filter), so they count (n - m)^2 / 50 on top.
 * Returns the estimate, saturating, or -1 if stacked.
 */
static double regex_cost(const char *s, size_t len) {
  double stack[FILTER_MAX_DEPTH], cur = 0, last = 0;
  int depth = 0, quant = 0; /* 1: previous token was a quantifier; 2: and then a '?' */
  for (size_t i = 0; i < len && cur < 1e12;) {
    size_t end = i + 1;
    double k = 0, opt = 0;
    int is_quant = s[i] == '*' || s[i] == '+' || s[i] == '?' ||
                   (s[i] == '{' && (k = bound_count(s, len, i, &end, &opt)) > 0);
    if (is_quant && quant && !(quant == 1 && s[i] == '?')) return -1;
    quant = is_quant ? (quant ? 2 : 1) : 0;
    switch (is_quant ? 'q' : s[i]) {
    case '(':
      if (depth == FILTER_MAX_DEPTH) return 1e12;
      stack[depth++] = cur;
      cur = 0;
      last = 0;
      break;
    case ')':
      last = cur + 1;
      cur = depth ? stack[--depth] + last : last;
      break;
    case 'q':
      if (k == 0) k = 1; /* '*', '+', '?': one more copy */
      cur += last * k + opt * opt / 50;
      last = last * (k + 1) + opt * opt / 50;
      break;
    case '[': end = skip_bracket(s, len, i); last = 1; cur += 1; break;
    case '\\': end = i + 2; last = 1; cur += 1; break;
    default: end = i + 1; last = 1; cur += 1; break;
    }
    i = end;
  }
  while (depth) cur += stack[--depth];
  return cur;
}

/*
 * Refuse what POSIX regcomp would accept but should not run here: backreferences (Rust's
 * regex, which Chroma uses, has none; they make matching exponential), very long patterns,
 * and patterns whose compiled form would explode (see regex_cost).
 */
static qv_status check_regex_text(pctx *c, const char *s, size_t len) {
  if (len > FILTER_MAX_REGEX) return perr(c, "regex of %zu bytes is longer than %d", len, FILTER_MAX_REGEX);
  for (size_t i = 0; i + 1 < len; i++) {
    if (s[i] != '\\') continue;
    if (s[i + 1] >= '1' && s[i + 1] <= '9') return perr(c, "invalid regex: backreferences are not supported");
    i++;
  }
  double cost = regex_cost(s, len);
  if (cost < 0) return perr(c, "invalid regex: repetition operators must not be stacked");
  if (cost > FILTER_MAX_REGEX_COST) return perr(c, "regex is too complex (too many repetitions)");
  return QV_OK;
}

static qv_status compile_regex(pctx *c, fnode *n, const char *pat, size_t len) {
  qv_status rc = check_regex_text(c, pat, len);
  if (rc != QV_OK) return rc;
  regex_ent *r = arena_alloc(c, sizeof *r);
  if (!r) return QV_NOMEM;
  int e = regcomp(&r->re, pat, REG_EXTENDED | REG_NOSUB);
  if (e != 0) {
    char msg[128];
    regerror(e, &r->re, msg, sizeof msg);
    regfree(&r->re);
    return perr(c, "invalid regex: %s", msg);
  }
  r->next = c->f->regexes;
  c->f->regexes = r;
  n->p.re = &r->re;
  return QV_OK;
}

static const struct {
  const char *name;
  uint8_t op;
} doc_ops[] = {
    {"$contains", F_DOC_HAS}, {"$not_contains", F_DOC_NOT_HAS}, {"$regex", F_DOC_RE}, {"$not_regex", F_DOC_NOT_RE}};

static int doc_op(const char *name) {
  for (size_t i = 0; i < sizeof doc_ops / sizeof doc_ops[0]; i++)
    if (strcmp(name, doc_ops[i].name) == 0) return doc_ops[i].op;
  return -1;
}

/* A document test {opname: operand}; op from doc_op(). */
static qv_status parse_doc_leaf(pctx *c, fnode *n, int op, const char *opname, const json_t *operand) {
  if (!json_is_string(operand)) return perr(c, "%s needs a string, got %s", opname, jtype(operand));
  qv_status rc = set_scalar(c, &n->v, operand);
  if (rc != QV_OK) return rc;
  n->op = (uint8_t)op;
  c->f->uses_doc = 1;
  if (op == F_DOC_RE || op == F_DOC_NOT_RE) return compile_regex(c, n, n->v.u.s, n->v.len);
  return QV_OK;
}

/* ------------------------------------------------------------------ where */

static qv_status parse_obj(pctx *c, fnode *n, const json_t *j);

/* {"$and"|"$or": [ ... ]}: children parsed with the current grammar. */
static qv_status parse_logic(pctx *c, fnode *n, const char *opname, const json_t *arr) {
  size_t count = json_array_size(arr);
  qv_status rc;
  if (!json_is_array(arr) || count == 0) return perr(c, "%s must be a non-empty array", opname);
  if (c->depth >= FILTER_MAX_DEPTH) return perr(c, "nesting deeper than %d levels", FILTER_MAX_DEPTH);
  if ((rc = count_terms(c, count)) != QV_OK) return rc;
  n->op = opname[1] == 'a' ? F_AND : F_OR;
  n->n = (uint32_t)count;
  n->p.kids = arena_alloc(c, count * sizeof(fnode));
  if (!n->p.kids) return QV_NOMEM;
  memset(n->p.kids, 0, count * sizeof(fnode));
  c->depth++;
  for (size_t i = 0; i < count; i++) {
    size_t old = path_push(c, ".%s[%zu]", opname, i);
    rc = parse_obj(c, &n->p.kids[i], json_array_get(arr, i));
    path_pop(c, old);
    if (rc != QV_OK) return rc;
  }
  c->depth--;
  return QV_OK;
}

static const struct {
  const char *name;
  uint8_t op;
} meta_ops[] = {{"$eq", F_EQ},   {"$ne", F_NE},   {"$gt", F_GT},         {"$gte", F_GTE},
                {"$lt", F_LT},   {"$lte", F_LTE}, {"$in", F_IN},         {"$nin", F_NIN},
                {"$contains", F_HAS}, {"$not_contains", F_NOT_HAS}};

static int meta_op(const char *name) {
  for (size_t i = 0; i < sizeof meta_ops / sizeof meta_ops[0]; i++)
    if (strcmp(name, meta_ops[i].name) == 0) return meta_ops[i].op;
  return -1;
}

/* The operand of a metadata operator, checked against what the operator accepts. */
static qv_status parse_meta_operand(pctx *c, fnode *n, int op, const char *opname, const json_t *x) {
  switch (op) {
  case F_GT:
  case F_GTE:
  case F_LT:
  case F_LTE:
    if (!json_is_number(x)) return perr(c, "%s needs a number, got %s", opname, jtype(x));
    return set_scalar(c, &n->v, x);
  case F_IN:
  case F_NIN: return set_list(c, &n->v, opname, x);
  default:
    if (!j_is_scalar(x)) return perr(c, "%s needs a string, number or bool, got %s", opname, jtype(x));
    return set_scalar(c, &n->v, x);
  }
}

/* {"#document": {"$contains"|...: string}} inside where. */
static qv_status parse_doc_key(pctx *c, fnode *n, const json_t *val) {
  static const char allowed[] = "only $contains, $not_contains, $regex and $not_regex are allowed";
  if (!json_is_object(val)) return perr(c, "expected an operator object, got %s; %s", jtype(val), allowed);
  if (json_object_size(val) != 1)
    return perr(c, "expected exactly one operator, got %zu", json_object_size(val));
  void *it = json_object_iter((json_t *)(uintptr_t)val);
  const char *opname = json_object_iter_key(it);
  int op = doc_op(opname);
  if (op < 0) {
    if (meta_op(opname) >= 0) return perr(c, "%s is not allowed on #document; %s", opname, allowed);
    return perr(c, "unknown operator %s", opname);
  }
  return parse_doc_leaf(c, n, op, opname, json_object_iter_value(it));
}

/* {KEY: literal} or {KEY: {OP: operand}}. */
static qv_status parse_meta_key(pctx *c, fnode *n, const char *key, const json_t *val) {
  int op = F_EQ;
  const char *opname = "$eq";
  const json_t *operand = val;
  if (json_is_object(val)) {
    if (json_object_size(val) != 1)
      return perr(c, "expected exactly one operator, got %zu", json_object_size(val));
    void *it = json_object_iter((json_t *)(uintptr_t)val);
    opname = json_object_iter_key(it);
    operand = json_object_iter_value(it);
    op = meta_op(opname);
    if (op < 0) {
      if (doc_op(opname) >= 0) return perr(c, "%s is only allowed on #document", opname);
      return perr(c, "unknown operator %s", opname);
    }
  } else if (!j_is_scalar(val)) {
    return perr(c, "expected a string, number, bool or operator object, got %s", jtype(val));
  }
  qv_status rc = parse_meta_operand(c, n, op, opname, operand);
  if (rc != QV_OK) return rc;
  n->op = (uint8_t)op;
  if (!(n->key = intern_key(c, key))) return QV_NOMEM;
  n->klen = (uint32_t)strlen(key);
  return QV_OK;
}

/* One filter object of either grammar: exactly one key. */
static qv_status parse_obj(pctx *c, fnode *n, const json_t *j) {
  if (!json_is_object(j)) return perr(c, "expected an object, got %s", jtype(j));
  if (json_object_size(j) != 1) return perr(c, "expected exactly one key, got %zu", json_object_size(j));
  qv_status rc = count_terms(c, 1);
  if (rc != QV_OK) return rc;
  void *it = json_object_iter((json_t *)(uintptr_t)j);
  const char *key = json_object_iter_key(it);
  const json_t *val = json_object_iter_value(it);
  if (strcmp(key, "$and") == 0 || strcmp(key, "$or") == 0) return parse_logic(c, n, key, val);
  if (c->doc_mode) {
    int op = doc_op(key);
    if (op < 0) return perr(c, "unknown operator %s", key);
    return parse_doc_leaf(c, n, op, key, val);
  }
  if (key[0] == '$') return perr(c, "unknown operator %s", key);
  size_t old = path_push(c, ".%s", key);
  rc = strcmp(key, "#document") == 0 ? parse_doc_key(c, n, val) : parse_meta_key(c, n, key, val);
  path_pop(c, old);
  return rc;
}

/* ------------------------------------------------------------------ entry */

/* Load one filter text. *out is NULL (and QV_OK) when absent: NULL or JSON null. */
static qv_status load(pctx *c, const char *text, json_t **out) {
  json_error_t je;
  *out = NULL;
  if (!text) return QV_OK;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!j) return perr(c, "invalid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
  if (json_is_null(j)) {
    json_decref(j);
    return QV_OK;
  }
  *out = j;
  return QV_OK;
}

static qv_status parse_root(pctx *c, fnode *n, const json_t *j, const char *name, int doc_mode) {
  path_pop(c, 0);
  path_push(c, "%s", name);
  c->doc_mode = doc_mode;
  c->depth = 0;
  return parse_obj(c, n, j);
}

qv_status qv__filter_parse(const qv_mem *mem, const char *where_json, const char *where_document_json,
                           qv_filter **out, char *err, size_t errlen) {
  qv_status rc;
  json_t *w = NULL, *wd = NULL;
  pctx c;
  fnode *root = NULL;
  *out = NULL;
  if (err && errlen) err[0] = 0;
  memset(&c, 0, sizeof c);
  c.mem = mem;
  c.err = err;
  c.errlen = errlen;
  path_push(&c, "where");
  if ((rc = load(&c, where_json, &w)) != QV_OK) goto cleanup;
  path_pop(&c, 0);
  path_push(&c, "where_document");
  if ((rc = load(&c, where_document_json, &wd)) != QV_OK) goto cleanup;
  if (!w && !wd) goto cleanup;
  c.f = qv__calloc(mem, 1, sizeof *c.f);
  c.interned = json_object();
  if (!c.f || !c.interned || !(root = arena_alloc(&c, sizeof *root))) { rc = QV_NOMEM; goto cleanup; }
  memset(root, 0, sizeof *root);
  c.f->root = root;
  if (w && wd) {
    root->op = F_AND;
    root->n = 2;
    if (!(root->p.kids = arena_alloc(&c, 2 * sizeof *root))) { rc = QV_NOMEM; goto cleanup; }
    memset(root->p.kids, 0, 2 * sizeof *root);
    root = root->p.kids;
  }
  if (w && (rc = parse_root(&c, root, w, "where", 0)) != QV_OK) goto cleanup;
  if (wd && (rc = parse_root(&c, w ? root + 1 : root, wd, "where_document", 1)) != QV_OK) goto cleanup;
  *out = c.f;
  c.f = NULL;
cleanup:
  if (rc == QV_NOMEM && err && errlen) qv__fmt(err, errlen, "out of memory parsing the filter");
  qv__filter_free(mem, c.f);
  json_decref(c.interned);
  json_decref(w);
  json_decref(wd);
  return rc;
}

/* The longest document $contains operand every match must satisfy (reached through $and
 * only), or NULL: what a substring index can narrow the candidates with. */
static const fnode *needle_node(const fnode *n) {
  if (n->op == F_DOC_HAS) return n;
  if (n->op != F_AND) return NULL;
  const fnode *best = NULL;
  for (uint32_t i = 0; i < n->n; i++) {
    const fnode *r = needle_node(&n->p.kids[i]);
    if (r && (!best || r->v.len > best->v.len)) best = r;
  }
  return best;
}

const char *qv__filter_doc_needle(const qv_filter *f) {
  const fnode *n = f && f->root ? needle_node(f->root) : NULL;
  return n ? n->v.u.s : NULL;
}
