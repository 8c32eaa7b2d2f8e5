/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * records_out.c -- get/query results as Chroma's column-wise JSON (chroma-v2.md §8.5, §8.6).
 *
 * {"ids": .., "embeddings": .., "documents": .., "uris": .., "metadatas": .., ["distances": ..,]
 *  "include": [..]}: every column is null unless included (ids always are); a query nests
 * each column one level deeper, one inner list per query embedding. Metadata text from quiver
 * is copied verbatim unless it holds reserved "chroma:" keys (the uri), which are removed;
 * a metadata left empty is written as null.
 */
#include <stdlib.h>
#include <string.h>

#include "rec.h"

enum col { C_IDS, C_EMB, C_DOC, C_URI, C_META, C_DIST };

static size_t n_hits(const rec_view *v, size_t q) {
  if (v->perm) return v->n_hits[q];
  return v->r ? qv_results_count(v->r, q) : 0;
}

/* Row and index in v->r of hit i of query q. */
static void locate(const rec_view *v, size_t q, size_t i, size_t *rq, size_t *ri) {
  if (v->perm) {
    *rq = 0;
    *ri = v->perm[q][i];
  } else {
    *rq = q;
    *ri = i;
  }
}

static void write_meta(sbuf *b, const char *m) {
  json_t *j;
  const char *key;
  void *tmp;
  json_t *val;
  char *text;
  if (!m || !strstr(m, "\"chroma:")) {
    sbuf_puts(b, m ? m : "null");
    return;
  }
  j = json_loads(m, 0, NULL);
  json_object_foreach_safe(j, tmp, key, val) {
    if (!strncmp(key, "chroma:", 7)) json_object_del(j, key);
  }
  text = j && json_object_size(j) ? json_dumps(j, JSON_COMPACT) : NULL;
  sbuf_puts(b, text ? text : "null");
  free(text);
  json_decref(j);
}

static void write_uri(sbuf *b, const char *m) {
  json_t *j;
  if (!m || !strstr(m, "\"chroma:uri\"")) {
    sbuf_puts(b, "null");
    return;
  }
  j = json_loads(m, 0, NULL);
  sbuf_json_str(b, json_string_value(json_object_get(j, "chroma:uri")));
  json_decref(j);
}

static void write_emb(sbuf *b, const qv_results *r, size_t rq, size_t ri) {
  const float *e = qv_results_embedding(r, rq, ri);
  uint32_t dim = qv_results_dim(r);
  if (!e) {
    sbuf_puts(b, "null");
    return;
  }
  sbuf_putc(b, '[');
  for (uint32_t k = 0; k < dim; k++) {
    if (k) sbuf_putc(b, ',');
    sbuf_json_float(b, e[k]);
  }
  sbuf_putc(b, ']');
}

static void write_cell(sbuf *b, const rec_view *v, enum col c, size_t q, size_t i) {
  size_t rq, ri;
  locate(v, q, i, &rq, &ri);
  switch (c) {
  case C_IDS: sbuf_json_str(b, qv_results_id(v->r, rq, ri)); break;
  case C_EMB: write_emb(b, v->r, rq, ri); break;
  case C_DOC: sbuf_json_str(b, qv_results_document(v->r, rq, ri)); break;
  case C_URI: write_uri(b, qv_results_metadata(v->r, rq, ri)); break;
  case C_META: write_meta(b, qv_results_metadata(v->r, rq, ri)); break;
  case C_DIST:
    sbuf_json_float(b, v->perm ? (double)v->dist[q][i] : (double)qv_results_distance(v->r, rq, ri));
    break;
  }
}

static void write_row(sbuf *b, const rec_view *v, enum col c, size_t q) {
  size_t n = n_hits(v, q);
  sbuf_putc(b, '[');
  for (size_t i = 0; i < n; i++) {
    if (i) sbuf_putc(b, ',');
    write_cell(b, v, c, q, i);
  }
  sbuf_putc(b, ']');
}

static void write_col(sbuf *b, const rec_view *v, enum col c, int included, int nested) {
  if (!included) {
    sbuf_puts(b, "null");
    return;
  }
  if (!nested) {
    write_row(b, v, c, 0);
    return;
  }
  sbuf_putc(b, '[');
  for (size_t q = 0; q < v->nq; q++) {
    if (q) sbuf_putc(b, ',');
    write_row(b, v, c, q);
  }
  sbuf_putc(b, ']');
}

void rec_write_view(sbuf *b, const rec_view *v, const srv_include *inc, int nested) {
  char *echo = inc->echo ? json_dumps(inc->echo, JSON_COMPACT) : NULL;
  sbuf_puts(b, "{\"ids\":");
  write_col(b, v, C_IDS, 1, nested);
  sbuf_puts(b, ",\"embeddings\":");
  write_col(b, v, C_EMB, inc->emb, nested);
  sbuf_puts(b, ",\"documents\":");
  write_col(b, v, C_DOC, inc->doc, nested);
  sbuf_puts(b, ",\"uris\":");
  write_col(b, v, C_URI, inc->uris, nested);
  sbuf_puts(b, ",\"metadatas\":");
  write_col(b, v, C_META, inc->meta, nested);
  if (nested) {
    sbuf_puts(b, ",\"distances\":");
    write_col(b, v, C_DIST, inc->dist, nested);
  }
  sbuf_puts(b, ",\"include\":");
  sbuf_puts(b, echo ? echo : inc->echo_text ? inc->echo_text : "[]");
  sbuf_putc(b, '}');
  free(echo);
}
