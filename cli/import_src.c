/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * import_src.c -- the record sources of `quiver import`: a file read in batches of records
 * ready for qv_collection_add().
 *
 * .fvecs and .npy give embeddings only; their ids are generated: prefix + a counter that
 * starts at --ids-from or at the collection's count, so "0", "1", ... match row numbers in a
 * fresh collection. .jsonl gives one JSON object per line with the fields
 *   id (string; generated like the above when absent), embedding (array of numbers,
 *   required), metadata (object or null), document (string or null)
 * and blank lines are skipped. Every record remembers where it came from (a 0-based row
 * for binary files, a 1-based line for JSONL) so that an error, whether found here (NaN,
 * malformed line, wrong dimension) or by the library (duplicate id), names it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "import_src.h"

/* ------------------------------------------------------------------ batch */

void import_batch_clear(import_batch *b) {
  for (size_t i = 0; i < b->n; i++) {
    free(b->ids[i]);
    free(b->metas[i]);
    free(b->docs[i]);
    b->ids[i] = b->metas[i] = b->docs[i] = NULL;
  }
  b->n = 0;
  b->has_meta = b->has_doc = 0;
}

void import_batch_free(import_batch *b) {
  import_batch_clear(b);
  free(b->ids);
  free(b->metas);
  free(b->docs);
  free(b->emb);
  free(b->loc);
  memset(b, 0, sizeof *b);
}

static int batch_reserve(import_batch *b, size_t cap, size_t dim) {
  b->cap = cap;
  b->dim = dim;
  b->ids = calloc(cap, sizeof *b->ids);
  b->metas = calloc(cap, sizeof *b->metas);
  b->docs = calloc(cap, sizeof *b->docs);
  b->loc = calloc(cap, sizeof *b->loc);
  b->emb = dim ? malloc(cap * dim * sizeof *b->emb) : NULL;
  return b->ids && b->metas && b->docs && b->loc && (b->emb || !dim) ? 0 : -1;
}

/* ------------------------------------------------------------------ source */

int import_src_open(import_src *s, const char *path, cli_format fmt) {
  s->fmt = fmt;
  s->path = path;
  if (fmt == CLI_FMT_FVECS || fmt == CLI_FMT_NPY) {
    if (cli_vreader_open(&s->vr, path, fmt) != 0) {
      snprintf(s->err, sizeof s->err, "%s", s->vr.err);
      return -1;
    }
    s->dim = s->vr.dim;
    return 0;
  }
  s->f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!s->f) {
    snprintf(s->err, sizeof s->err, "cannot open '%s': %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

void import_src_close(import_src *s) {
  cli_vreader_close(&s->vr);
  if (s->f && s->f != stdin) fclose(s->f);
  s->f = NULL;
  free(s->buf);
  s->buf = NULL;
}

static char *make_id(import_src *s) {
  char num[32];
  snprintf(num, sizeof num, "%llu", (unsigned long long)s->next_id++);
  size_t lp = s->id_prefix ? strlen(s->id_prefix) : 0, ln = strlen(num);
  char *id = malloc(lp + ln + 1);
  if (!id) return NULL;
  memcpy(id, s->id_prefix ? s->id_prefix : "", lp);
  memcpy(id + lp, num, ln + 1);
  return id;
}

/* Check a row of embedding values; "NaN"/"Inf" message naming the column. */
static int check_finite(import_src *s, const float *v, const char *where) {
  long bad = cli_first_nonfinite(v, s->dim);
  if (bad < 0) return 0;
  snprintf(s->err, sizeof s->err, "%s: embedding[%ld] is %s, which is not allowed", where, bad,
           v[bad] != v[bad] ? "NaN" : "infinite");
  return -1;
}

static int fill_binary(import_src *s, import_batch *b) {
  char where[64];
  if (s->dim == 0) return 0; /* empty file */
  b->bits = s->vr.u8;
  while (b->n < b->cap) {
    float *row = b->bits ? (float *)(void *)((unsigned char *)b->emb + b->n * (b->dim / 8)) : b->emb + b->n * b->dim;
    int got = cli_vreader_next(&s->vr, row);
    if (got < 0) {
      snprintf(s->err, sizeof s->err, "%s", s->vr.err);
      return -1;
    }
    if (got == 0) break;
    b->loc[b->n] = s->vr.row - 1;
    snprintf(where, sizeof where, "row %llu", (unsigned long long)b->loc[b->n]);
    if (!b->bits && check_finite(s, row, where) != 0) return -1;
    if (!(b->ids[b->n] = make_id(s))) goto nomem;
    b->n++;
  }
  return 0;
nomem:
  snprintf(s->err, sizeof s->err, "out of memory");
  return -1;
}

/* ------------------------------------------------------------------ JSONL */

#define LINE_ERR(s, ...)                                                                         \
  do {                                                                                           \
    int n_ = snprintf((s)->err, sizeof (s)->err, "line %llu: ", (unsigned long long)(s)->line);  \
    snprintf((s)->err + n_, sizeof (s)->err - (size_t)n_, __VA_ARGS__);                          \
  } while (0)

static int jsonl_embedding(import_src *s, import_batch *b, json_t *e) {
  size_t n = json_is_array(e) ? json_array_size(e) : 0;
  if (n == 0) {
    LINE_ERR(s, "'embedding' must be a non-empty array of numbers");
    return -1;
  }
  if (s->dim == 0) { /* the first record fixes the dimension */
    s->dim = n;
    b->dim = n;
    if (!(b->emb = malloc(b->cap * n * sizeof *b->emb))) {
      LINE_ERR(s, "out of memory");
      return -1;
    }
  }
  if (n != s->dim) {
    LINE_ERR(s, "embedding has %zu values, expected %zu", n, s->dim);
    return -1;
  }
  float *row = b->emb + b->n * b->dim;
  for (size_t i = 0; i < n; i++) {
    json_t *x = json_array_get(e, i);
    if (!json_is_number(x)) {
      LINE_ERR(s, "embedding[%zu] is not a number", i);
      return -1;
    }
    row[i] = (float)json_number_value(x);
  }
  char where[64];
  snprintf(where, sizeof where, "line %llu", (unsigned long long)s->line);
  return check_finite(s, row, where);
}

static int jsonl_id(import_src *s, import_batch *b, json_t *id) {
  if (!id) {
    b->ids[b->n] = make_id(s);
  } else if (json_is_string(id)) {
    b->ids[b->n] = strdup(json_string_value(id));
  } else {
    LINE_ERR(s, "'id' must be a string");
    return -1;
  }
  if (!b->ids[b->n]) {
    LINE_ERR(s, "out of memory");
    return -1;
  }
  return 0;
}

/* Metadata and document of record i. */
static int jsonl_extras(import_src *s, import_batch *b, size_t i, json_t *meta, json_t *doc) {
  if (meta && !json_is_null(meta)) {
    if (!json_is_object(meta)) {
      LINE_ERR(s, "'metadata' must be a JSON object or null");
      return -1;
    }
    b->metas[i] = json_dumps(meta, JSON_COMPACT);
    b->has_meta = 1;
    if (!b->metas[i]) goto nomem;
  }
  if (doc && !json_is_null(doc)) {
    if (!json_is_string(doc)) {
      LINE_ERR(s, "'document' must be a string or null");
      return -1;
    }
    b->docs[i] = strdup(json_string_value(doc));
    b->has_doc = 1;
    if (!b->docs[i]) goto nomem;
  }
  return 0;
nomem:
  LINE_ERR(s, "out of memory");
  return -1;
}

static int jsonl_check_keys(import_src *s, json_t *o) {
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    (void)v;
    if (strcmp(key, "id") && strcmp(key, "embedding") && strcmp(key, "metadata") &&
        strcmp(key, "document")) {
      LINE_ERR(s, "unknown field '%s' (expected id, embedding, metadata, document)", key);
      return -1;
    }
  }
  return 0;
}

/* Parse one non-blank line into record b->n. */
static int jsonl_record(import_src *s, import_batch *b, const char *text, size_t len) {
  json_error_t je;
  json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  int rc = -1;

  if (!o) {
    LINE_ERR(s, "invalid JSON: %s (column %d)", je.text, je.column);
    return -1;
  }
  if (!json_is_object(o)) {
    LINE_ERR(s, "expected a JSON object");
    goto cleanup;
  }
  if (jsonl_check_keys(s, o) != 0) goto cleanup;
  json_t *e = json_object_get(o, "embedding");
  if (!e) {
    LINE_ERR(s, "'embedding' is missing");
    goto cleanup;
  }
  if (jsonl_embedding(s, b, e) != 0) goto cleanup;
  b->loc[b->n] = s->line;
  if (jsonl_id(s, b, json_object_get(o, "id")) != 0) goto cleanup;
  b->n++; /* from here the record's strings belong to the batch */
  if (jsonl_extras(s, b, b->n - 1, json_object_get(o, "metadata"),
                   json_object_get(o, "document")) != 0)
    goto cleanup;
  rc = 0;
cleanup:
  json_decref(o);
  return rc;
}

static int is_blank(const char *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') return 0;
  return 1;
}

static int fill_jsonl(import_src *s, import_batch *b) {
  while (b->n < b->cap) {
    errno = 0;
    ssize_t len = getline(&s->buf, &s->buf_cap, s->f);
    if (len < 0) {
      if (ferror(s->f)) {
        snprintf(s->err, sizeof s->err, "cannot read '%s': %s", s->path, strerror(errno));
        return -1;
      }
      break;
    }
    s->line++;
    s->bytes += (uint64_t)len;
    if (is_blank(s->buf, (size_t)len)) continue;
    if (jsonl_record(s, b, s->buf, (size_t)len) != 0) return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ batches */

int import_src_fill(import_src *s, import_batch *b, size_t batch_size) {
  import_batch_clear(b);
  if (b->cap == 0 && batch_reserve(b, batch_size, s->dim) != 0) {
    snprintf(s->err, sizeof s->err, "out of memory for a batch of %zu records", batch_size);
    return -1;
  }
  return s->fmt == CLI_FMT_JSONL ? fill_jsonl(s, b) : fill_binary(s, b);
}

void import_batch_view(const import_batch *b, qv_batch *out) {
  memset(out, 0, sizeof *out);
  out->n = b->n;
  out->ids = (const char *const *)b->ids;
  out->embeddings = b->bits ? NULL : b->emb;
  out->bits = b->bits ? (const uint8_t *)b->emb : NULL;
  out->dim = (uint32_t)b->dim;
  out->metadatas = b->has_meta ? (const char *const *)b->metas : NULL;
  out->documents = b->has_doc ? (const char *const *)b->docs : NULL;
}
