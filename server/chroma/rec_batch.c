/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * rec_batch.c -- decoding record columns from request bodies (chroma-v2.md §7.6, §8).
 *
 * Shapes (422 when wrong): ids string[]; embeddings number[][] or base64 string[] (null rows
 * only in update); documents and uris (string|null)[]; metadatas (object|null)[].
 * Values (400 when bad): empty id, ids over QV_MAX_ID_LEN, columns of different lengths,
 * empty or non-finite vectors, rows of different dimensions, batches over SRV_MAX_BATCH.
 * A uri is stored in the record metadata under "chroma:uri", as the reference server does,
 * and stripped again on output (records_out.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"

static int inconsistent(srv_resp *rs) {
  srv_error(rs, 400, "Inconsistent number of IDs, embeddings, documents, URIs and metadatas");
  return -1;
}

int rec_parse_ids(json_t *arr, const char ***out, size_t *n, int limit, srv_resp *rs) {
  size_t len = json_array_size(arr);
  const char **ids;
  *out = NULL;
  *n = 0;
  if (limit && len > SRV_MAX_BATCH) {
    srv_error(rs, 400, "Batch size %zu exceeds the maximum batch size %d", len, SRV_MAX_BATCH);
    return -1;
  }
  if (!len) return 0;
  if (!(ids = calloc(len, sizeof *ids))) {
    srv_error(rs, 500, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    json_t *v = json_array_get(arr, i);
    if (!json_is_string(v)) {
      free(ids);
      srv_error(rs, 422, "Failed to deserialize the JSON body: ids[%zu]: expected a string", i);
      return -1;
    }
    ids[i] = json_string_value(v);
    if (!*ids[i] || strlen(ids[i]) > QV_MAX_ID_LEN) {
      free(ids);
      srv_error(rs, 400, "ids[%zu]: IDs must be non-empty strings of at most %d bytes", i,
                QV_MAX_ID_LEN);
      return -1;
    }
  }
  *out = ids;
  *n = len;
  return 0;
}

/* One row: numbers array or base64 string into a new buffer; *d its length. */
static int parse_row(json_t *v, size_t i, float **row, size_t *d, const char *field, srv_resp *rs) {
  *row = NULL;
  if (json_is_string(v)) {
    if (srv_b64_floats(json_string_value(v), row, d) == 0) return 0;
    srv_error(rs, 400, "%s[%zu]: invalid base64 float32 embedding", field, i);
    return -1;
  }
  if (!json_is_array(v)) {
    srv_error(rs, 422, "Failed to deserialize the JSON body: %s[%zu]: expected a list of numbers "
                       "or a base64 string", field, i);
    return -1;
  }
  *d = json_array_size(v);
  if (!(*row = malloc((*d ? *d : 1) * sizeof **row))) {
    srv_error(rs, 500, "out of memory");
    return -1;
  }
  for (size_t k = 0; k < *d; k++) {
    json_t *x = json_array_get(v, k);
    if (!json_is_number(x)) {
      free(*row);
      *row = NULL;
      srv_error(rs, 422, "Failed to deserialize the JSON body: %s[%zu][%zu]: expected a number",
                field, i, k);
      return -1;
    }
    (*row)[k] = (float)json_number_value(x);
  }
  return 0;
}

/* Check one decoded row and copy it into out (allocated at the first row). */
static int place_row(float *row, size_t d, size_t i, size_t n, float **out, size_t *dim,
                     const char *field, srv_resp *rs) {
  if (d == 0) {
    srv_error(rs, 400, "%s[%zu]: embeddings must not be empty", field, i);
    return -1;
  }
  if (!*out) {
    *dim = d;
    if (!(*out = calloc(n * d, sizeof **out))) {
      srv_error(rs, 500, "out of memory");
      return -1;
    }
  } else if (d != *dim) {
    srv_error(rs, 400, "Inconsistent dimensions in provided embeddings");
    return -1;
  }
  for (size_t k = 0; k < d; k++) {
    if (!isfinite(row[k])) {
      srv_error(rs, 400, "%s[%zu][%zu]: NaN and infinite values are not allowed", field, i, k);
      return -1;
    }
  }
  memcpy(*out + i * d, row, d * sizeof *row);
  return 0;
}

int rec_parse_embeddings(json_t *arr, size_t n, int allow_null, float **out, unsigned char **has,
                         size_t *dim, const char *field, srv_resp *rs) {
  *out = NULL;
  *dim = 0;
  if (json_array_size(arr) != n) return inconsistent(rs);
  if (has && !(*has = calloc(n ? n : 1, 1))) {
    srv_error(rs, 500, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_array_get(arr, i);
    float *row = NULL;
    size_t d = 0;
    int bad;
    if (json_is_null(v) && allow_null) continue;
    if (parse_row(v, i, &row, &d, field, rs)) goto fail;
    bad = place_row(row, d, i, n, out, dim, field, rs);
    free(row);
    if (bad) goto fail;
    if (has) (*has)[i] = 1;
  }
  return 0;
fail:
  free(*out);
  *out = NULL;
  if (has) {
    free(*has);
    *has = NULL;
  }
  return -1;
}

/* Strings-or-null column; *out array of borrowed pointers (NULL when absent). */
static int parse_strs(json_t *body, const char *key, size_t n, const char ***out, srv_resp *rs) {
  json_t *arr = NULL;
  int got = srv_field_arr(body, key, &arr, rs);
  *out = NULL;
  if (got <= 0) return got;
  if (json_array_size(arr) != n) return inconsistent(rs);
  if (!(*out = calloc(n ? n : 1, sizeof **out))) {
    srv_error(rs, 500, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_array_get(arr, i);
    if (json_is_null(v)) continue;
    if (!json_is_string(v)) {
      srv_error(rs, 422, "Failed to deserialize the JSON body: %s[%zu]: expected a string or null",
                key, i);
      return -1;
    }
    (*out)[i] = json_string_value(v);
  }
  return 1;
}

/* Check a metadata object's values the way Chroma does before quiver sees it. */
static int check_meta(json_t *m, size_t i, int kind, srv_resp *rs) {
  const char *key;
  json_t *v;
  json_object_foreach(m, key, v) {
    if (json_is_null(v) && kind == BATCH_ADD) {
      srv_error(rs, 422, "Failed to deserialize the JSON body: metadatas[%zu].%.64s: null is not "
                         "a valid metadata value in add", i, key);
      return -1;
    }
    if (json_is_object(v)) {
      srv_error(rs, 400, "metadatas[%zu].%.64s: nested objects (sparse vectors) are not supported",
                i, key);
      return -1;
    }
  }
  return 0;
}

/* Metadata texts with uris merged in as "chroma:uri". */
int rec_batch_metas(rec_batch *b, json_t *body, int kind, srv_resp *rs) {
  json_t *arr = NULL;
  const char **uris = NULL;
  int got = srv_field_arr(body, "metadatas", &arr, rs);
  if (got < 0 || parse_strs(body, "uris", b->n, &uris, rs) < 0) goto fail;
  if (!arr && !uris) return 0;
  if (arr && json_array_size(arr) != b->n) {
    inconsistent(rs);
    goto fail;
  }
  if (!(b->metas = calloc(b->n ? b->n : 1, sizeof *b->metas))) goto oom;
  for (size_t i = 0; i < b->n; i++) {
    json_t *m = arr ? json_array_get(arr, i) : NULL, *copy;
    if (m && !json_is_null(m) && !json_is_object(m)) {
      srv_error(rs, 422, "Failed to deserialize the JSON body: metadatas[%zu]: expected an object "
                         "or null", i);
      goto fail;
    }
    if (m && json_is_object(m) && check_meta(m, i, kind, rs)) goto fail;
    if ((!m || json_is_null(m)) && !(uris && uris[i])) continue;
    copy = m && json_is_object(m) ? json_copy(m) : json_object();
    if (!copy) goto oom;
    if (uris && uris[i]) json_object_set_new(copy, "chroma:uri", json_string(uris[i]));
    b->metas[i] = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    if (!b->metas[i]) goto oom;
  }
  free(uris);
  return 0;
oom:
  srv_error(rs, 500, "out of memory");
fail:
  free(uris);
  return -1;
}

/* ------------------------------------------------------------------ duplicate ids */

/* qsort_r comparator: row indices by id, then by position. */
static int cmp_idx(const void *a, const void *b, void *ids_) {
  const char **ids = ids_;
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  int c = strcmp(ids[x], ids[y]);
  return c ? c : (x > y) - (x < y);
}

/*
 * Chroma accepts an id twice in one batch (quiver does not): keep one row per id, the first
 * for add (the second would be an ignored conflict) and the last for upsert/update (it would
 * overwrite). Rows are compacted in place, order kept.
 */
int rec_batch_dedupe(rec_batch *b, int keep_last, srv_resp *rs) {
  size_t *idx, k = 0;
  unsigned char *drop;
  if (b->n < 2) return 0;
  idx = malloc(b->n * sizeof *idx);
  drop = calloc(b->n, 1);
  if (!idx || !drop) {
    free(idx);
    free(drop);
    srv_error(rs, 500, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < b->n; i++) idx[i] = i;
  qsort_r(idx, b->n, sizeof *idx, cmp_idx, (void *)b->ids);
  for (size_t i = 1; i < b->n; i++)
    if (!strcmp(b->ids[idx[i - 1]], b->ids[idx[i]])) drop[keep_last ? idx[i - 1] : idx[i]] = 1;
  for (size_t i = 0; i < b->n; i++) {
    if (drop[i]) {
      if (b->metas) free(b->metas[i]);
      continue;
    }
    b->ids[k] = b->ids[i];
    if (b->metas) b->metas[k] = b->metas[i];
    if (b->docs) b->docs[k] = b->docs[i];
    if (b->has_emb) b->has_emb[k] = b->has_emb[i];
    if (b->emb && k != i) memcpy(b->emb + k * b->dim, b->emb + i * b->dim, b->dim * sizeof *b->emb);
    k++;
  }
  b->n = k;
  free(idx);
  free(drop);
  return 0;
}

int rec_batch_parse(rec_batch *b, json_t *body, int kind, srv_resp *rs) {
  json_t *ids = NULL, *emb = NULL;
  int got;
  memset(b, 0, sizeof *b);
  got = srv_field_arr(body, "ids", &ids, rs);
  if (got == 0) srv_error(rs, 422, "Failed to deserialize the JSON body: missing field `ids`");
  if (got <= 0 || rec_parse_ids(ids, &b->ids, &b->n, 1, rs)) return -1;
  got = srv_field_arr(body, "embeddings", &emb, rs);
  if (got < 0) return -1;
  if (got == 0 && kind != BATCH_UPDATE) {
    srv_error(rs, 422, "Failed to deserialize the JSON body: missing field `embeddings`");
    return -1;
  }
  if (emb && rec_parse_embeddings(emb, b->n, kind == BATCH_UPDATE, &b->emb, &b->has_emb, &b->dim,
                                  "embeddings", rs))
    return -1;
  if (parse_strs(body, "documents", b->n, &b->docs, rs) < 0) return -1;
  if (rec_batch_metas(b, body, kind, rs)) return -1;
  return rec_batch_dedupe(b, kind != BATCH_ADD, rs);
}

void rec_batch_free(rec_batch *b) {
  for (size_t i = 0; b->metas && i < b->n; i++) free(b->metas[i]);
  free(b->metas);
  free((void *)b->ids);
  free(b->emb);
  free(b->has_emb);
  free((void *)b->docs);
  memset(b, 0, sizeof *b);
}
