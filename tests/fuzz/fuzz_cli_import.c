/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fuzz_cli_import.c -- libFuzzer target for the CLI's file readers: `quiver import`'s record
 * sources (cli/import_src.c: .fvecs, .npy, .jsonl) and the vector readers of `quiver query`
 * (cli/vecfile.c: cli_vecs_read_file for .fvecs / .npy / text, cli_vecs_parse_text).
 *
 * The first byte picks the format and the batch size, the second the rows to read and, for
 * JSONL, whether the dimension is fixed in advance (as for an existing collection); the rest
 * is written to a scratch file that the readers open by name, as the CLI does (fuzz_file.h:
 * one in-memory file, rewritten for each input; the readers take the format as an argument,
 * never from the file name). Every batch is
 * read until the end or an error; an error must come with a message. A batch that was read is
 * checked for what import relies on (no more rows than asked, an id string for each).
 * Built by CMake with -DQV_FUZZ=ON (docs/FUZZING.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fuzz_file.h"
#include "import_src.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const cli_format fmts[] = {CLI_FMT_FVECS, CLI_FMT_NPY, CLI_FMT_JSONL, CLI_FMT_TEXT};

static void read_records(const char *path, cli_format fmt, size_t batch, size_t jsonl_dim) {
  import_src s;
  memset(&s, 0, sizeof s);
  if (import_src_open(&s, path, fmt) != 0) {
    if (!s.err[0]) abort();
    import_src_close(&s);
    return;
  }
  if (fmt == CLI_FMT_JSONL) s.dim = jsonl_dim;
  import_batch b;
  memset(&b, 0, sizeof b);
  for (int round = 0; round < 256; round++) {
    if (import_src_fill(&s, &b, batch) != 0) {
      if (!s.err[0]) abort();
      break;
    }
    if (b.n == 0) break;
    if (b.n > batch) abort();
    for (size_t i = 0; i < b.n; i++) /* "" is passed on: the library refuses it by name */
      if (!b.ids[i]) abort();
    qv_batch view;
    import_batch_view(&b, &view);
    if (view.n != b.n) abort();
  }
  import_batch_free(&b);
  import_src_close(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  unsigned pick = data[0] & 3;
  size_t batch = 1 + ((data[0] >> 2) & 7);
  size_t first = data[1] & 7, count = (data[1] >> 3) & 7;
  const char *path = fuzz_file_put(data + 2, size - 2); /* fuzz_file.h: one in-memory file, rewritten */
  char err[512];
  cli_vecs v;
  if (pick == 2) {
    read_records(path, CLI_FMT_JSONL, batch, (data[1] & 0x80) ? 3 : 0);
  } else {
    if (pick < 2) read_records(path, fmts[pick], batch, 0);
    memset(&v, 0, sizeof v);
    err[0] = 0;
    size_t want_dim = pick == 3 ? (data[1] & 0x40 ? 2 : 0) : 0;
    if (cli_vecs_read_file(path, fmts[pick], want_dim, first, count, &v, err, sizeof err) == 0) {
      if (v.n && (!v.data || !v.dim)) abort();
      free(v.data);
    } else if (!err[0]) {
      abort();
    }
  }
  if (pick == 3) { /* the same bytes as --vector text */
    char *t = malloc(size - 1);
    if (t) {
      memcpy(t, data + 2, size - 2);
      t[size - 2] = 0;
      memset(&v, 0, sizeof v);
      err[0] = 0;
      if (cli_vecs_parse_text(t, (data[1] & 0x40) ? 2 : 0, &v, err, sizeof err) == 0) free(v.data);
      else if (!err[0]) abort();
      free(t);
    }
  }
  return 0;
}
