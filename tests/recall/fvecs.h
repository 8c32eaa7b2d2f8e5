/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fvecs.h -- test helper: read TEXMEX .fvecs/.ivecs files of the shared Fashion-MNIST set.
 * Header-only (static functions), for the recall tests.
 */
#ifndef QV_TEST_FVECS_H
#define QV_TEST_FVECS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Path of a file in the materialised Fashion-MNIST directory, or NULL when it is absent. */
static inline const char *fmnist_path(const char *file, char *buf, size_t len) {
  const char *src = getenv("QV_SOURCE_DIR");
  snprintf(buf, len, "%s/.data/fashion-mnist-784-euclidean/%s", src ? src : ".", file);
  FILE *f = fopen(buf, "rb");
  if (!f) return NULL;
  fclose(f);
  return buf;
}

/* Read up to max_rows rows (4-byte elements); returns the data (caller frees), sets *dim, *rows. */
static inline void *vecs_read(const char *path, size_t max_rows, uint32_t *dim, size_t *rows) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  int32_t d = 0;
  if (fread(&d, 4, 1, f) != 1 || d <= 0) { fclose(f); return NULL; }
  fseek(f, 0, SEEK_END);
  size_t n = (size_t)ftell(f) / (4 * ((size_t)d + 1));
  if (n > max_rows) n = max_rows;
  fseek(f, 0, SEEK_SET);
  uint32_t *out = malloc(n * (size_t)d * 4);
  for (size_t i = 0; out && i < n; i++) {
    int32_t dd;
    if (fread(&dd, 4, 1, f) != 1 || dd != d || fread(out + i * (size_t)d, 4, (size_t)d, f) != (size_t)d) {
      free(out);
      out = NULL;
    }
  }
  fclose(f);
  *dim = (uint32_t)d;
  *rows = n;
  return out;
}

#endif
