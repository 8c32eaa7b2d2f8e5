/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * meta.c -- record metadata: JSON text <-> qv_meta, patch merging, key lookup.
 *
 * A qv_meta is exactly one allocation from the caller's qv_mem, laid out as
 *
 *   [qv_meta header][vals: n qv_mval][elems: all array elements][keys: n char *][string bytes]
 *
 * every part 8-byte aligned, every pointer pointing inside the block, so a qv_meta is freed
 * with one qv__free and never shares memory with anything else. Keys are sorted with strcmp
 * (bytewise) so qv__meta_get is a binary search; vals[i] belongs to keys[i].
 *
 * Values: string, integer, float, bool, or a non-empty array of one of those. Jansson keeps
 * integers and reals apart and so do we; an array mixing integers and floats is accepted
 * and stored as a float array (as Chroma does). Strings never contain NUL (Jansson rejects
 * \u0000 unless asked not to), so C string functions are safe on them.
 *
 * Serialisation is our own: compact, keys sorted, floats printed with the fewest digits that
 * read back to the same double and always with a '.' or exponent, so 1.0 stays a float.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

#define META_MAX_KEY 256         /* bytes per key */
#define META_MAX_STR (64 * 1024) /* bytes per string value or element */
#define META_MAX_KEYS 1024
#define META_MAX_ELEMS 4096      /* elements per array */

#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

/* ------------------------------------------------------------------ block layout */

/* Cursors into a qv_meta block being filled. */
typedef struct builder {
  qv_meta *m;
  qv_mval *elem; /* next free array element */
  char *str;     /* next free string byte */
} builder;

/* Allocate a block for n keys, n_elem array elements and n_str string bytes (NULs included). */
static qv_meta *block_alloc(const qv_mem *mem, size_t n, size_t n_elem, size_t n_str, builder *b) {
  size_t off_vals = ALIGN8(sizeof(qv_meta));
  size_t off_elems = off_vals + n * sizeof(qv_mval);
  size_t off_keys = off_elems + n_elem * sizeof(qv_mval);
  size_t off_str = ALIGN8(off_keys + n * sizeof(char *));
  size_t total = off_str + n_str;
  char *base = qv__malloc(mem, total);
  if (!base) return NULL;
  qv_meta *m = (qv_meta *)(void *)base;
  m->n = (uint32_t)n;
  m->bytes = total;
  m->vals = (qv_mval *)(void *)(base + off_vals);
  m->keys = (const char **)(void *)(base + off_keys);
  b->m = m;
  b->elem = (qv_mval *)(void *)(base + off_elems);
  b->str = base + off_str;
  return m;
}

static const char *put_str(builder *b, const char *s, size_t len) {
  char *d = b->str;
  memcpy(d, s, len);
  d[len] = 0;
  b->str += len + 1;
  return d;
}

/* ------------------------------------------------------------------ parsing */

static const char *type_name(int t) {
  switch (t) {
  case QV_MT_NULL: return "null";
  case QV_MT_BOOL: return "a bool";
  case QV_MT_INT: return "an integer";
  case QV_MT_FLOAT: return "a float";
  case QV_MT_STR: return "a string";
  case QV_MT_ARRAY: return "an array";
  default: return "an object";
  }
}

/* qv_mtype of a JSON value, or -1 for an object. */
static int json_mtype(const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_STRING: return QV_MT_STR;
  case JSON_INTEGER: return QV_MT_INT;
  case JSON_REAL: return QV_MT_FLOAT;
  case JSON_TRUE:
  case JSON_FALSE: return QV_MT_BOOL;
  case JSON_NULL: return QV_MT_NULL;
  case JSON_ARRAY: return QV_MT_ARRAY;
  default: return -1;
  }
}

#define KEYFMT "key \"%.64s%s\": "
#define KEYARG(k) (k), (strlen(k) > 64 ? "..." : "")

/* Check a scalar (or array element); adds its string bytes to *n_str. */
static qv_status check_scalar(const char *key, const json_t *j, int t, size_t *n_str, char *err,
                              size_t errlen) {
  if (t == QV_MT_STR) {
    size_t len = json_string_length(j);
    if (len > META_MAX_STR) {
      qv__fmt(err, errlen, KEYFMT "string of %zu bytes is longer than %d", KEYARG(key), len,
              META_MAX_STR);
      return QV_INVALID;
    }
    *n_str += len + 1;
  } else if (t == QV_MT_FLOAT && !isfinite(json_real_value(j))) {
    qv__fmt(err, errlen, KEYFMT "non-finite numbers are not allowed", KEYARG(key));
    return QV_INVALID;
  }
  return QV_OK;
}

/* Element type of a non-empty homogeneous array; ints mixed with floats give QV_MT_FLOAT. */
static qv_status check_array(const char *key, const json_t *arr, size_t *n_elem, size_t *n_str,
                             char *err, size_t errlen) {
  size_t n = json_array_size(arr), i;
  int et = -2;
  if (n == 0) {
    qv__fmt(err, errlen, KEYFMT "empty arrays are not allowed", KEYARG(key));
    return QV_INVALID;
  }
  if (n > META_MAX_ELEMS) {
    qv__fmt(err, errlen, KEYFMT "array of %zu elements is longer than %d", KEYARG(key), n,
            META_MAX_ELEMS);
    return QV_INVALID;
  }
  for (i = 0; i < n; i++) {
    const json_t *e = json_array_get(arr, i);
    int t = json_mtype(e);
    if (t == QV_MT_ARRAY || t < 0 || t == QV_MT_NULL) {
      qv__fmt(err, errlen, KEYFMT "array element %zu is %s; elements must be strings, numbers or bools",
              KEYARG(key), i, type_name(t));
      return QV_INVALID;
    }
    int num = (t == QV_MT_INT || t == QV_MT_FLOAT) && (et == QV_MT_INT || et == QV_MT_FLOAT);
    if (et != -2 && t != et && !num) {
      qv__fmt(err, errlen, KEYFMT "array elements must all have one type (element %zu is %s, earlier ones %s)",
              KEYARG(key), i, type_name(t), type_name(et));
      return QV_INVALID;
    }
    if (et == -2 || num) et = (et == QV_MT_FLOAT || t == QV_MT_FLOAT) ? QV_MT_FLOAT : t;
    qv_status rc = check_scalar(key, e, t, n_str, err, errlen);
    if (rc != QV_OK) return rc;
  }
  *n_elem += n;
  return QV_OK;
}

static qv_status check_key(const char *key, char *err, size_t errlen) {
  size_t len = strlen(key);
  if (len == 0) {
    qv__fmt(err, errlen, "key \"\": keys must not be empty");
    return QV_INVALID;
  }
  if (len > META_MAX_KEY) {
    qv__fmt(err, errlen, KEYFMT "key of %zu bytes is longer than %d", KEYARG(key), len, META_MAX_KEY);
    return QV_INVALID;
  }
  if (key[0] == '#' || key[0] == '$') {
    qv__fmt(err, errlen, KEYFMT "keys must not start with '%c' (reserved)", KEYARG(key), key[0]);
    return QV_INVALID;
  }
  return QV_OK;
}

/* Validate one entry and add up the space its value needs. */
static qv_status check_entry(const char *key, const json_t *v, int allow_null, size_t *n_elem,
                             size_t *n_str, char *err, size_t errlen) {
  qv_status rc = check_key(key, err, errlen);
  if (rc != QV_OK) return rc;
  *n_str += strlen(key) + 1;
  int t = json_mtype(v);
  if (t < 0) {
    qv__fmt(err, errlen, KEYFMT "nested objects are not allowed", KEYARG(key));
    return QV_INVALID;
  }
  if (t == QV_MT_NULL) {
    if (allow_null) return QV_OK;
    qv__fmt(err, errlen, KEYFMT "null is not allowed here", KEYARG(key));
    return QV_INVALID;
  }
  if (t == QV_MT_ARRAY) return check_array(key, v, n_elem, n_str, err, errlen);
  return check_scalar(key, v, t, n_str, err, errlen);
}

/* Fill *out from a validated scalar JSON value; as_type converts ints in float arrays. */
static void fill_scalar(builder *b, qv_mval *out, const json_t *j, int as_type) {
  memset(out, 0, sizeof *out);
  out->type = (uint8_t)as_type;
  switch (json_typeof(j)) {
  case JSON_STRING:
    out->len = (uint32_t)json_string_length(j);
    out->u.s = put_str(b, json_string_value(j), out->len);
    break;
  case JSON_INTEGER:
    if (as_type == QV_MT_FLOAT) out->u.f = (double)json_integer_value(j);
    else out->u.i = json_integer_value(j);
    break;
  case JSON_REAL: out->u.f = json_real_value(j); break;
  case JSON_TRUE: out->u.b = 1; break;
  default: break; /* false: b = 0; null: type QV_MT_NULL */
  }
}

static void fill_value(builder *b, qv_mval *out, const json_t *v) {
  int t = json_mtype(v);
  if (t != QV_MT_ARRAY) {
    fill_scalar(b, out, v, t);
    return;
  }
  size_t n = json_array_size(v), i;
  int et = json_mtype(json_array_get(v, 0));
  for (i = 1; i < n; i++)
    if (json_mtype(json_array_get(v, i)) == QV_MT_FLOAT) et = QV_MT_FLOAT;
  qv_mval *arr = b->elem;
  b->elem += n;
  for (i = 0; i < n; i++) fill_scalar(b, &arr[i], json_array_get(v, i), et);
  memset(out, 0, sizeof *out);
  out->type = QV_MT_ARRAY;
  out->elem = (uint8_t)et;
  out->len = (uint32_t)n;
  out->u.arr = arr;
}

static int cmp_keyp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static qv_status load_object(const char *json, json_t **out, char *err, size_t errlen) {
  json_error_t je;
  *out = NULL;
  if (!json) {
    qv__fmt(err, errlen, "metadata must be a JSON object");
    return QV_INVALID;
  }
  json_t *root = json_loads(json, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (!root) {
    qv__fmt(err, errlen, "metadata is not valid JSON: %s (line %d, column %d)", je.text, je.line,
            je.column);
    return QV_INVALID;
  }
  if (!json_is_object(root)) {
    qv__fmt(err, errlen, "metadata must be a JSON object, got %s", type_name(json_mtype(root)));
    json_decref(root);
    return QV_INVALID;
  }
  *out = root;
  return QV_OK;
}

qv_status qv__meta_parse(const qv_mem *mem, const char *json, int allow_null, qv_meta **out,
                         char *err, size_t errlen) {
  qv_status rc;
  json_t *root = NULL;
  const char **keys = NULL;
  size_t n, i = 0, n_elem = 0, n_str = 0;
  const char *k;
  json_t *v;
  *out = NULL;
  if (err && errlen) err[0] = 0;
  rc = load_object(json, &root, err, errlen);
  if (rc != QV_OK) return rc;
  n = json_object_size(root);
  if (n > META_MAX_KEYS) {
    qv__fmt(err, errlen, "metadata has %zu keys, at most %d are allowed", n, META_MAX_KEYS);
    rc = QV_INVALID;
    goto cleanup;
  }
  keys = qv__malloc(mem, (n ? n : 1) * sizeof *keys);
  if (!keys) { rc = QV_NOMEM; goto cleanup; }
  json_object_foreach(root, k, v) keys[i++] = k;
  qsort(keys, n, sizeof *keys, cmp_keyp); /* validate in key order: deterministic messages */
  for (i = 0; i < n; i++) {
    rc = check_entry(keys[i], json_object_get(root, keys[i]), allow_null, &n_elem, &n_str, err, errlen);
    if (rc != QV_OK) goto cleanup;
  }
  builder b;
  qv_meta *m = block_alloc(mem, n, n_elem, n_str, &b);
  if (!m) { rc = QV_NOMEM; goto cleanup; }
  for (i = 0; i < n; i++) {
    m->keys[i] = put_str(&b, keys[i], strlen(keys[i]));
    fill_value(&b, &m->vals[i], json_object_get(root, keys[i]));
  }
  assert((char *)b.str == (char *)m + m->bytes);
  *out = m;
cleanup:
  qv__free(mem, keys);
  json_decref(root);
  return rc;
}

/* ------------------------------------------------------------------ merge */

static void value_size(const qv_mval *v, size_t *n_elem, size_t *n_str) {
  if (v->type == QV_MT_STR) *n_str += v->len + 1;
  if (v->type != QV_MT_ARRAY) return;
  *n_elem += v->len;
  for (uint32_t i = 0; i < v->len; i++)
    if (v->u.arr[i].type == QV_MT_STR) *n_str += v->u.arr[i].len + 1;
}

static void copy_scalar(builder *b, qv_mval *dst, const qv_mval *src) {
  *dst = *src;
  if (src->type == QV_MT_STR) dst->u.s = put_str(b, src->u.s, src->len);
}

static void copy_value(builder *b, qv_mval *dst, const qv_mval *src) {
  if (src->type != QV_MT_ARRAY) {
    copy_scalar(b, dst, src);
    return;
  }
  qv_mval *arr = b->elem;
  b->elem += src->len;
  for (uint32_t i = 0; i < src->len; i++) copy_scalar(b, &arr[i], &src->u.arr[i]);
  *dst = *src;
  dst->u.arr = arr;
}

/*
 * Walk base and patch in key order, calling emit for every key of the result (patch wins;
 * patch nulls drop the key). Used twice: once to size the block, once to fill it.
 */
typedef void (*merge_fn)(void *ctx, const char *key, const qv_mval *v);

static void merge_walk(const qv_meta *base, const qv_meta *patch, merge_fn emit, void *ctx) {
  uint32_t i = 0, j = 0, nb = base ? base->n : 0, np = patch ? patch->n : 0;
  while (i < nb || j < np) {
    int c = i >= nb ? 1 : j >= np ? -1 : strcmp(base->keys[i], patch->keys[j]);
    if (c < 0) {
      emit(ctx, base->keys[i], &base->vals[i]);
      i++;
      continue;
    }
    if (patch->vals[j].type != QV_MT_NULL) emit(ctx, patch->keys[j], &patch->vals[j]);
    if (c == 0) i++;
    j++;
  }
}

typedef struct merge_size { size_t n, n_elem, n_str; } merge_size;

static void size_emit(void *ctx, const char *key, const qv_mval *v) {
  merge_size *s = ctx;
  s->n++;
  s->n_str += strlen(key) + 1;
  value_size(v, &s->n_elem, &s->n_str);
}

static void fill_emit(void *ctx, const char *key, const qv_mval *v) {
  builder *b = ctx;
  uint32_t i = b->m->n++;
  b->m->keys[i] = put_str(b, key, strlen(key));
  copy_value(b, &b->m->vals[i], v);
}

qv_status qv__meta_merge(const qv_mem *mem, const qv_meta *base, const qv_meta *patch, qv_meta **out) {
  merge_size s = {0, 0, 0};
  builder b;
  *out = NULL;
  merge_walk(base, patch, size_emit, &s);
  if (s.n > META_MAX_KEYS) return QV_INVALID;
  qv_meta *m = block_alloc(mem, s.n, s.n_elem, s.n_str, &b);
  if (!m) return QV_NOMEM;
  m->n = 0;
  merge_walk(base, patch, fill_emit, &b);
  assert(m->n == s.n);
  *out = m;
  return QV_OK;
}

/* ------------------------------------------------------------------ lookup, free */

const qv_mval *qv__meta_get(const qv_meta *m, const char *key) {
  if (!m) return NULL;
  uint32_t lo = 0, hi = m->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = strcmp(key, m->keys[mid]);
    if (c == 0) return &m->vals[mid];
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}

void qv__meta_free(const qv_mem *mem, qv_meta *m) { qv__free(mem, m); }

/* ------------------------------------------------------------------ to JSON */

/* Writer that only counts while p is NULL, so the text is sized exactly before writing. */
typedef struct writer {
  char *p;
  size_t len;
} writer;

static void w_put(writer *w, const char *s, size_t n) {
  if (w->p) memcpy(w->p + w->len, s, n);
  w->len += n;
}

static void w_str(writer *w, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t i, run = 0;
  w_put(w, "\"", 1);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    w_put(w, s + run, i - run);
    run = i + 1;
    char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
    switch (c) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      break;
    }
    w_put(w, esc, esc[2] ? 6 : 2);
  }
  w_put(w, s + run, n - run);
  w_put(w, "\"", 1);
}

/* Shortest text that reads back as d, always with '.' or an exponent (1.0, not 1). */
static size_t fmt_double(char *buf, size_t cap, double d) {
  int prec;
  for (prec = 15; prec < 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) break;
  }
  if (prec == 17) snprintf(buf, cap, "%.17g", d);
  for (char *c = buf; *c; c++)
    if (*c == ',') *c = '.'; /* a caller's setlocale(LC_NUMERIC) must not leak into JSON */
  if (!strpbrk(buf, ".eE")) strcat(buf, ".0");
  return strlen(buf);
}

static void w_scalar(writer *w, const qv_mval *v) {
  char buf[48];
  size_t n;
  switch (v->type) {
  case QV_MT_BOOL: w_put(w, v->u.b ? "true" : "false", v->u.b ? 4 : 5); break;
  case QV_MT_INT:
    n = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)v->u.i);
    w_put(w, buf, n);
    break;
  case QV_MT_FLOAT:
    n = fmt_double(buf, sizeof buf, v->u.f);
    w_put(w, buf, n);
    break;
  case QV_MT_STR: w_str(w, v->u.s, v->len); break;
  default: w_put(w, "null", 4); break;
  }
}

static void w_meta(writer *w, const qv_meta *m) {
  w_put(w, "{", 1);
  for (uint32_t i = 0; m && i < m->n; i++) {
    const qv_mval *v = &m->vals[i];
    if (i) w_put(w, ",", 1);
    w_str(w, m->keys[i], strlen(m->keys[i]));
    w_put(w, ":", 1);
    if (v->type != QV_MT_ARRAY) {
      w_scalar(w, v);
      continue;
    }
    w_put(w, "[", 1);
    for (uint32_t j = 0; j < v->len; j++) {
      if (j) w_put(w, ",", 1);
      w_scalar(w, &v->u.arr[j]);
    }
    w_put(w, "]", 1);
  }
  w_put(w, "}", 1);
}

char *qv__meta_to_json(const qv_mem *mem, const qv_meta *m) {
  writer w = {NULL, 0};
  w_meta(&w, m);
  char *out = qv__malloc(mem, w.len + 1);
  if (!out) return NULL;
  w.p = out;
  w.len = 0;
  w_meta(&w, m);
  out[w.len] = 0;
  return out;
}

/* ------------------------------------------------------------------ packed form (meta.h) */

static size_t uv_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static unsigned char *uv_put(unsigned char *p, uint64_t v) {
  do {
    *p++ = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return p;
}

static const unsigned char *uv_get(const unsigned char *p, uint64_t *v) {
  uint64_t x = 0;
  for (unsigned sh = 0;; sh += 7) {
    unsigned char b = *p++;
    x |= (uint64_t)(b & 0x7f) << sh;
    if (!(b & 0x80)) break;
  }
  *v = x;
  return p;
}

static uint64_t zz(int64_t i) { return ((uint64_t)i << 1) ^ (uint64_t)(i >> 63); }
static int64_t unzz(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

static size_t scalar_packed(const qv_mval *v) {
  switch (v->type) {
  case QV_MT_BOOL: return 1;
  case QV_MT_INT: return uv_size(zz(v->u.i));
  case QV_MT_FLOAT: return 8;
  default: return uv_size(v->len) + v->len; /* string */
  }
}

size_t qv__meta_packed_size(const qv_meta *m) {
  uint32_t n = m ? m->n : 0;
  size_t t = uv_size(n);
  for (uint32_t i = 0; i < n; i++) {
    const qv_mval *v = &m->vals[i];
    size_t kl = strlen(m->keys[i]);
    t += uv_size(kl) + kl + 1;
    if (v->type != QV_MT_ARRAY) {
      t += scalar_packed(v);
      continue;
    }
    size_t eb = 0;
    for (uint32_t j = 0; j < v->len; j++) eb += scalar_packed(&v->u.arr[j]);
    t += uv_size(v->len) + uv_size(eb) + eb;
  }
  return t;
}

static unsigned char *scalar_pack(unsigned char *p, const qv_mval *v) {
  switch (v->type) {
  case QV_MT_BOOL: *p++ = v->u.b ? 1 : 0; return p;
  case QV_MT_INT: return uv_put(p, zz(v->u.i));
  case QV_MT_FLOAT: memcpy(p, &v->u.f, 8); return p + 8;
  default:
    p = uv_put(p, v->len);
    memcpy(p, v->u.s, v->len);
    return p + v->len;
  }
}

void qv__meta_pack_into(const qv_meta *m, unsigned char *p) {
  uint32_t n = m ? m->n : 0;
  p = uv_put(p, n);
  for (uint32_t i = 0; i < n; i++) {
    const qv_mval *v = &m->vals[i];
    size_t kl = strlen(m->keys[i]);
    p = uv_put(p, kl);
    memcpy(p, m->keys[i], kl);
    p += kl;
    *p++ = (unsigned char)(v->type | (v->type == QV_MT_ARRAY ? v->elem << 4 : 0));
    if (v->type != QV_MT_ARRAY) {
      p = scalar_pack(p, v);
      continue;
    }
    size_t eb = 0;
    for (uint32_t j = 0; j < v->len; j++) eb += scalar_packed(&v->u.arr[j]);
    p = uv_put(p, v->len);
    p = uv_put(p, eb);
    for (uint32_t j = 0; j < v->len; j++) p = scalar_pack(p, &v->u.arr[j]);
  }
}

qv_status qv__meta_pack(const qv_mem *mem, const qv_meta *m, unsigned char **out, size_t *len) {
  size_t n = qv__meta_packed_size(m);
  *out = qv__malloc(mem, n);
  if (!*out) return QV_NOMEM;
  qv__meta_pack_into(m, *out);
  *len = n;
  return QV_OK;
}

const unsigned char *qv__meta_packed_elem(const unsigned char *p, uint8_t elem, qv_mval *out) {
  uint64_t u;
  out->type = elem;
  out->elem = 0;
  out->packed = 0;
  out->len = 0;
  switch (elem) {
  case QV_MT_BOOL: out->u.b = *p != 0; return p + 1;
  case QV_MT_INT:
    p = uv_get(p, &u);
    out->u.i = unzz(u);
    return p;
  case QV_MT_FLOAT: memcpy(&out->u.f, p, 8); return p + 8;
  default:
    p = uv_get(p, &u);
    out->len = (uint32_t)u;
    out->u.s = (const char *)p;
    return p + u;
  }
}

/* Decode the value after a tag byte into *out (arrays: packed, elements left in place);
 * returns the position after the whole value. */
static const unsigned char *packed_value(const unsigned char *p, unsigned tag, qv_mval *out) {
  uint8_t t = tag & 15, et = (uint8_t)(tag >> 4);
  if (t != QV_MT_ARRAY) return qv__meta_packed_elem(p, t, out);
  uint64_t n, eb;
  p = uv_get(p, &n);
  p = uv_get(p, &eb);
  out->type = QV_MT_ARRAY;
  out->elem = et;
  out->packed = 1;
  out->len = (uint32_t)n;
  out->u.raw = p;
  return p + eb;
}

/* The position after the value that follows a tag byte, decoding nothing it can step over. */
static const unsigned char *skip_value(const unsigned char *p, unsigned tag) {
  uint64_t l;
  switch (tag & 15) {
  case QV_MT_BOOL: return p + 1;
  case QV_MT_INT:
    while (*p & 0x80) p++;
    return p + 1;
  case QV_MT_FLOAT: return p + 8;
  case QV_MT_STR:
    p = uv_get(p, &l);
    return p + l;
  default: /* array: count, then the elements' bytes */
    p = uv_get(p, &l);
    p = uv_get(p, &l);
    return p + l;
  }
}

int qv__meta_packed_get(const unsigned char *p, const char *key, size_t klen, qv_mval *out) {
  if (!p) return 0;
  uint64_t n, kl;
  p = uv_get(p, &n);
  for (uint64_t i = 0; i < n; i++) {
    p = uv_get(p, &kl);
    const unsigned char *k = p;
    p += kl;
    int c;
    if (kl && klen && *k != (unsigned char)key[0]) { /* most keys differ in their first byte */
      c = *k < (unsigned char)key[0] ? -1 : 1;
    } else {
      size_t m = kl < klen ? (size_t)kl : klen;
      c = memcmp(k, key, m);
      if (c == 0) c = kl < klen ? -1 : kl > klen ? 1 : 0;
    }
    if (c > 0) return 0; /* keys are sorted: key is not there */
    unsigned tag = *p++;
    if (c == 0) {
      packed_value(p, tag, out);
      return 1;
    }
    p = skip_value(p, tag);
  }
  return 0;
}

/* Walk packed metadata: fn(ctx, key, klen, value) per entry in order. */
typedef void (*packed_fn)(void *ctx, const char *key, size_t klen, const qv_mval *v);

static void packed_walk(const unsigned char *p, packed_fn fn, void *ctx) {
  uint64_t n, kl;
  p = uv_get(p, &n);
  for (uint64_t i = 0; i < n; i++) {
    p = uv_get(p, &kl);
    const char *k = (const char *)p;
    p += kl;
    unsigned tag = *p++;
    qv_mval v;
    p = packed_value(p, tag, &v);
    fn(ctx, k, (size_t)kl, &v);
  }
}

static void unpack_size(void *ctx, const char *key, size_t klen, const qv_mval *v) {
  merge_size *s = ctx;
  (void)key;
  s->n++;
  s->n_str += klen + 1;
  if (v->type == QV_MT_STR) s->n_str += v->len + 1;
  if (v->type != QV_MT_ARRAY) return;
  s->n_elem += v->len;
  const unsigned char *q = v->u.raw;
  qv_mval e;
  for (uint32_t i = 0; i < v->len; i++) {
    q = qv__meta_packed_elem(q, v->elem, &e);
    if (e.type == QV_MT_STR) s->n_str += e.len + 1;
  }
}

static void unpack_fill(void *ctx, const char *key, size_t klen, const qv_mval *v) {
  builder *b = ctx;
  uint32_t i = b->m->n++;
  b->m->keys[i] = put_str(b, key, klen);
  qv_mval *dst = &b->m->vals[i];
  if (v->type != QV_MT_ARRAY) {
    copy_scalar(b, dst, v);
    return;
  }
  qv_mval *arr = b->elem;
  b->elem += v->len;
  const unsigned char *q = v->u.raw;
  for (uint32_t j = 0; j < v->len; j++) {
    qv_mval e;
    q = qv__meta_packed_elem(q, v->elem, &e);
    copy_scalar(b, &arr[j], &e);
  }
  *dst = *v;
  dst->packed = 0;
  dst->u.arr = arr;
}

qv_status qv__meta_unpack(const qv_mem *mem, const unsigned char *p, qv_meta **out) {
  merge_size s = {0, 0, 0};
  builder b;
  *out = NULL;
  packed_walk(p, unpack_size, &s);
  qv_meta *m = block_alloc(mem, s.n, s.n_elem, s.n_str, &b);
  if (!m) return QV_NOMEM;
  m->n = 0;
  packed_walk(p, unpack_fill, &b);
  assert((char *)b.str == (char *)m + m->bytes);
  *out = m;
  return QV_OK;
}

typedef struct pjson {
  writer *w;
  uint32_t i;
} pjson;

static void pjson_emit(void *ctx, const char *key, size_t klen, const qv_mval *v) {
  pjson *j = ctx;
  writer *w = j->w;
  if (j->i++) w_put(w, ",", 1);
  w_str(w, key, klen);
  w_put(w, ":", 1);
  if (v->type != QV_MT_ARRAY) {
    w_scalar(w, v);
    return;
  }
  w_put(w, "[", 1);
  const unsigned char *q = v->u.raw;
  for (uint32_t k = 0; k < v->len; k++) {
    qv_mval e;
    q = qv__meta_packed_elem(q, v->elem, &e);
    if (k) w_put(w, ",", 1);
    w_scalar(w, &e);
  }
  w_put(w, "]", 1);
}

static void w_packed(writer *w, const unsigned char *p) {
  pjson j = {w, 0};
  w_put(w, "{", 1);
  if (p) packed_walk(p, pjson_emit, &j);
  w_put(w, "}", 1);
}

char *qv__meta_packed_json(const qv_mem *mem, const unsigned char *p) {
  writer w = {NULL, 0};
  w_packed(&w, p);
  char *out = qv__malloc(mem, w.len + 1);
  if (!out) return NULL;
  w.p = out;
  w.len = 0;
  w_packed(&w, p);
  out[w.len] = 0;
  return out;
}
