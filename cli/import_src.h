/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * import_src.h -- record sources for `quiver import` (import_src.c): open a .fvecs, .npy or
 * .jsonl file and read it in batches of records shaped for qv_collection_add(). Used only
 * by cmd_import.c.
 */
#ifndef QV_CLI_IMPORT_SRC_H
#define QV_CLI_IMPORT_SRC_H

#include <stdio.h>

#include "cli.h"

/* Up to cap records; the strings are owned by the batch. */
typedef struct import_batch {
  size_t n, cap, dim;
  char **ids, **metas, **docs; /* cap entries each; NULL where absent */
  float *emb;                  /* cap * dim */
  uint64_t *loc;               /* row (binary, 0-based) or line (JSONL, 1-based) of each */
  int has_meta, has_doc;
  int bits;                    /* emb holds packed bits, dim / 8 bytes a row, back to back */
} import_batch;

typedef struct import_src {
  cli_format fmt;
  const char *path;
  size_t dim;            /* expected dimension; 0 = fixed by the first JSONL record */
  const char *id_prefix; /* prefix of generated ids, or NULL */
  uint64_t next_id;      /* number of the next generated id */
  cli_vreader vr;        /* .fvecs / .npy */
  FILE *f;               /* .jsonl */
  char *buf;             /* current JSONL line */
  size_t buf_cap;
  uint64_t line;  /* JSONL lines read */
  uint64_t bytes; /* JSONL bytes read */
  char err[512];  /* what went wrong, starting with the row or line */
} import_src;

/* Open path ("-" = stdin) as fmt; binary formats set s->dim. Zero *s first. -1 on error. */
int import_src_open(import_src *s, const char *path, cli_format fmt);
void import_src_close(import_src *s);
/*
 * Read up to batch_size records into b (cleared first). b->n == 0 means the end. Returns 0,
 * or -1 with s->err set; the batch is then incomplete and must not be written.
 */
int import_src_fill(import_src *s, import_batch *b, size_t batch_size);
/* A qv_batch that borrows b's arrays. */
void import_batch_view(const import_batch *b, qv_batch *out);
void import_batch_clear(import_batch *b);
void import_batch_free(import_batch *b);

#endif /* QV_CLI_IMPORT_SRC_H */
