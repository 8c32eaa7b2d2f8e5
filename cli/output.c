/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * output.c -- printing qv_results for people (tables) and for programs (JSON).
 *
 * JSON follows Chroma's v2 response shapes (../shared/api/chroma-v2.md, 8.5 and 8.6): a query
 * gives one inner list per query vector, a get gives flat lists; fields not included are
 * null; "include" echoes what was asked. The JSON is written by hand rather than through a
 * JSON library so that metadata keeps the exact numbers the library stored (it is already
 * JSON text) and float32 values print in their shortest round-tripping form (0.1, not
 * 0.10000000149011612).
 *
 * Tables truncate long metadata and documents to keep one line per hit (--full disables
 * that); control characters are shown as spaces so that a document cannot break the layout.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define ID_WIDTH_MAX 36
#define META_WIDTH_MAX 40
#define DOC_WIDTH_MAX 50
#define EMB_SHOWN 4

/* ------------------------------------------------------------------ JSON */

static void print_float(FILE *out, float f) {
  char buf[32];
  if (!isfinite(f)) {
    fputs("null", out);
    return;
  }
  for (int p = 6; p <= 9; p++) {
    snprintf(buf, sizeof buf, "%.*g", p, (double)f);
    if (strtof(buf, NULL) == f) break;
  }
  fputs(buf, out);
}

void cli_print_json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", out); break;
    case '\\': fputs("\\\\", out); break;
    case '\n': fputs("\\n", out); break;
    case '\r': fputs("\\r", out); break;
    case '\t': fputs("\\t", out); break;
    default:
      if (*p < 0x20)
        fprintf(out, "\\u%04x", *p);
      else
        fputc(*p, out);
    }
  }
  fputc('"', out);
}

typedef enum field { F_IDS, F_EMBEDDINGS, F_DOCUMENTS, F_METADATAS, F_DISTANCES } field;

static void print_value(FILE *out, const qv_results *r, field f, size_t q, size_t i) {
  const char *s;
  const float *v;
  switch (f) {
  case F_IDS: cli_print_json_string(out, qv_results_id(r, q, i)); break;
  case F_DOCUMENTS:
    s = qv_results_document(r, q, i);
    if (s)
      cli_print_json_string(out, s);
    else
      fputs("null", out);
    break;
  case F_METADATAS:
    s = qv_results_metadata(r, q, i);
    fputs(s && *s ? s : "null", out); /* already a JSON object */
    break;
  case F_DISTANCES: print_float(out, qv_results_distance(r, q, i)); break;
  case F_EMBEDDINGS:
    v = qv_results_embedding(r, q, i);
    if (!v) {
      fputs("null", out);
      break;
    }
    fputc('[', out);
    for (uint32_t d = 0; d < qv_results_dim(r); d++) {
      if (d) fputc(',', out);
      print_float(out, v[d]);
    }
    fputc(']', out);
    break;
  }
}

static void print_row(FILE *out, const qv_results *r, field f, size_t q) {
  fputc('[', out);
  for (size_t i = 0; i < qv_results_count(r, q); i++) {
    if (i) fputc(',', out);
    print_value(out, r, f, q, i);
  }
  fputc(']', out);
}

/* "name": value, where value is null when the field was not included. */
static void print_field(FILE *out, const qv_results *r, int is_query, const char *name, field f,
                        int included) {
  fprintf(out, "\"%s\":", name);
  if (!included) {
    fputs("null", out);
    return;
  }
  if (!is_query) {
    print_row(out, r, f, 0);
    return;
  }
  fputc('[', out);
  for (size_t q = 0; q < qv_results_nq(r); q++) {
    if (q) fputc(',', out);
    print_row(out, r, f, q);
  }
  fputc(']', out);
}

static void print_include(FILE *out, unsigned inc) {
  static const struct {
    unsigned bit;
    const char *name;
  } names[] = {{QV_INCLUDE_METADATAS, "metadatas"},
               {QV_INCLUDE_DOCUMENTS, "documents"},
               {QV_INCLUDE_EMBEDDINGS, "embeddings"},
               {QV_INCLUDE_DISTANCES, "distances"}};
  int first = 1;
  fputs("\"include\":[", out);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!(inc & names[i].bit)) continue;
    fprintf(out, "%s\"%s\"", first ? "" : ",", names[i].name);
    first = 0;
  }
  fputc(']', out);
}

int cli_print_results_json(FILE *out, const qv_results *r, int is_query) {
  unsigned inc = qv_results_include(r);
  if (!is_query) inc &= ~(unsigned)QV_INCLUDE_DISTANCES;
  fputc('{', out);
  print_field(out, r, is_query, "ids", F_IDS, 1);
  fputc(',', out);
  print_field(out, r, is_query, "embeddings", F_EMBEDDINGS, inc & QV_INCLUDE_EMBEDDINGS);
  fputc(',', out);
  print_field(out, r, is_query, "documents", F_DOCUMENTS, inc & QV_INCLUDE_DOCUMENTS);
  fputs(",\"uris\":null,", out);
  print_field(out, r, is_query, "metadatas", F_METADATAS, inc & QV_INCLUDE_METADATAS);
  fputc(',', out);
  if (is_query) {
    print_field(out, r, is_query, "distances", F_DISTANCES, inc & QV_INCLUDE_DISTANCES);
    fputc(',', out);
  }
  print_include(out, inc);
  fputs("}\n", out);
  return ferror(out) ? -1 : 0;
}

/* ------------------------------------------------------------------ tables */

/* Number of UTF-8 code points in s (an approximation of its display width). */
static size_t u8_len(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) n++;
  return n;
}

/*
 * Print s in a column of width code points: control characters become spaces, a longer
 * string is cut (on a code point boundary) and ends in "...", and pad fills with spaces.
 * width 0 means no limit.
 */
static void put_cell(FILE *out, const char *s, size_t width, int pad) {
  size_t total = u8_len(s), shown = 0;
  size_t keep = (width && total > width) ? (width > 3 ? width - 3 : width) : total;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    int lead = (*p & 0xC0) != 0x80;
    if (lead && shown == keep) break;
    if (lead) shown++;
    fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
  }
  if (keep < total) {
    fputs("...", out);
    shown += 3;
  }
  for (; pad && shown < width; shown++) fputc(' ', out);
}

static void format_embedding(char *buf, size_t len, const float *v, uint32_t dim) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, len - n, "[");
  for (uint32_t d = 0; d < dim && d < EMB_SHOWN && n < len; d++)
    n += (size_t)snprintf(buf + n, len - n, "%s%.4g", d ? ", " : "", (double)v[d]);
  if (n < len) snprintf(buf + n, len - n, dim > EMB_SHOWN ? ", ... (%u)]" : "]", (unsigned)dim);
}

/* Column widths and which optional columns are shown, for one block of hits. */
typedef struct layout {
  size_t id_w, meta_w;
  int show_meta, show_doc, show_emb, show_dist, show_rank, full;
} layout;

static layout make_layout(const qv_results *r, size_t q, int full, int is_query) {
  layout L = {2, 8, 0, 0, 0, 0, 0, full};
  unsigned inc = qv_results_include(r);
  L.show_meta = (inc & QV_INCLUDE_METADATAS) != 0;
  L.show_doc = (inc & QV_INCLUDE_DOCUMENTS) != 0;
  L.show_emb = (inc & QV_INCLUDE_EMBEDDINGS) != 0;
  L.show_rank = is_query;
  L.show_dist = is_query && (inc & QV_INCLUDE_DISTANCES);
  for (size_t i = 0; i < qv_results_count(r, q); i++) {
    size_t w = u8_len(qv_results_id(r, q, i));
    if (w > L.id_w) L.id_w = w;
    const char *m = qv_results_metadata(r, q, i);
    w = m ? u8_len(m) : 4;
    if (w > L.meta_w) L.meta_w = w;
  }
  if (!full && L.id_w > ID_WIDTH_MAX) L.id_w = ID_WIDTH_MAX;
  if (!full && L.meta_w > META_WIDTH_MAX) L.meta_w = META_WIDTH_MAX;
  return L;
}

/* Is there a column after the distance column? */
static int after_dist(const layout *L) { return L->show_meta || L->show_emb || L->show_doc; }

static void print_header(FILE *out, const layout *L) {
  if (L->show_rank) fputs("RANK  ", out);
  put_cell(out, "ID", L->id_w, L->show_dist || after_dist(L));
  if (L->show_dist) fputs(after_dist(L) ? "  DISTANCE    " : "  DISTANCE", out);
  if (L->show_meta) {
    fputs("  ", out);
    put_cell(out, "METADATA", L->meta_w, L->show_emb || L->show_doc);
  }
  if (L->show_emb) fputs("  EMBEDDING", out);
  if (L->show_doc) fputs("  DOCUMENT", out);
  fputc('\n', out);
}

static void print_hit(FILE *out, const layout *L, const qv_results *r, size_t q, size_t i) {
  char emb[160];
  if (L->show_rank) fprintf(out, "%-4zu  ", i + 1);
  put_cell(out, qv_results_id(r, q, i), L->id_w, L->show_dist || after_dist(L));
  if (L->show_dist)
    fprintf(out, after_dist(L) ? "  %-12.6g" : "  %.6g", (double)qv_results_distance(r, q, i));
  if (L->show_meta) {
    const char *m = qv_results_metadata(r, q, i);
    fputs("  ", out);
    put_cell(out, m ? m : "null", L->meta_w, L->show_emb || L->show_doc);
  }
  if (L->show_emb) {
    const float *v = qv_results_embedding(r, q, i);
    if (v)
      format_embedding(emb, sizeof emb, v, qv_results_dim(r));
    else
      snprintf(emb, sizeof emb, "null");
    fprintf(out, "  %s", emb);
  }
  if (L->show_doc) {
    const char *d = qv_results_document(r, q, i);
    fputs("  ", out);
    put_cell(out, d ? d : "", L->full ? 0 : DOC_WIDTH_MAX, 0);
  }
  fputc('\n', out);
}

static void print_block(FILE *out, const qv_results *r, size_t q, int full, int is_query) {
  layout L = make_layout(r, q, full, is_query);
  if (qv_results_count(r, q) == 0) {
    fputs(is_query ? "(no results)\n" : "(no records)\n", out);
    return;
  }
  print_header(out, &L);
  for (size_t i = 0; i < qv_results_count(r, q); i++) print_hit(out, &L, r, q, i);
}

void cli_print_query_table(FILE *out, const qv_results *r, int full) {
  size_t nq = qv_results_nq(r);
  for (size_t q = 0; q < nq; q++) {
    if (nq > 1) fprintf(out, "%squery %zu of %zu\n", q ? "\n" : "", q + 1, nq);
    print_block(out, r, q, full, 1);
  }
}

void cli_print_get_table(FILE *out, const qv_results *r, int full) {
  print_block(out, r, 0, full, 0);
}
