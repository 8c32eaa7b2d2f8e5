/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fuzz_filter.c -- libFuzzer target for src/filter.c, and for the metadata round trip of src/meta.c.
 *
 * The input is used as a `where` filter, as a `where_document` filter, and, split at the
 * first NUL byte, as both at once; every filter that parses is matched against a few fixed
 * records; the input is also parsed as metadata (nulls allowed), written back with
 * qv__meta_to_json and parsed again, and the two texts must agree. Not built by CMake.
 * Build and run from the repository root:
 *
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=undefined -Iinclude -Ibuild/include -Isrc \
 *     src/mem.c src/meta.c src/filter.c tests/fuzz/fuzz_filter.c -ljansson -o /tmp/fuzz_filter
 *   /tmp/fuzz_filter -max_total_time=60 -max_len=4096 -timeout=5 -dict=tests/fuzz/filter.dict \
 *     tests/fuzz/corpus_filter
 *
 * (copy the corpus to a scratch directory first if new inputs should not land in the tree).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const metas[] = {
    "{\"label\":3,\"price\":9.5,\"name\":\"apple\",\"ok\":true,\"tags\":[\"red\",\"fruit\"],\"nums\":[1,2,3]}",
    "{\"a\":1,\"b\":\"x\",\"c\":[1.5,2.0],\"d\":false,\"big\":9223372036854775807,\"neg\":-9223372036854775808}",
    "{}",
};
static const char *const docs[] = {"The quick brown fox jumps over the lazy dog", "", NULL};
static qv_meta *parsed[3];

static void setup(void) {
  char err[256];
  for (size_t i = 0; i < 3; i++)
    if (qv__meta_parse(qv__mem_default(), metas[i], 0, &parsed[i], err, sizeof err) != QV_OK) abort();
}

static void run(const char *where, const char *wdoc) {
  char err[256];
  qv_filter *f = NULL;
  qv_status rc = qv__filter_parse(qv__mem_default(), where, wdoc, &f, err, sizeof err);
  if (rc != QV_OK) {
    if (f || strlen(err) == 0) abort(); /* a failure must say why and return nothing */
    return;
  }
  for (size_t i = 0; i < 3; i++)
    for (size_t j = 0; j < 3; j++) (void)qv__filter_match(f, parsed[i], docs[j]);
  (void)qv__filter_match(f, NULL, NULL);
  (void)qv__filter_uses_document(f);
  qv__filter_free(qv__mem_default(), f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!parsed[0]) setup();
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = 0;
  run(s, NULL);
  run(NULL, s);
  size_t n1 = strlen(s);
  if (n1 < size) run(s, s + n1 + 1); /* "where\0where_document" */
  /* the same bytes as record metadata: parse, serialise, parse again, compare */
  qv_meta *m = NULL, *m2 = NULL;
  char err[256];
  if (qv__meta_parse(qv__mem_default(), s, 1, &m, err, sizeof err) == QV_OK) {
    char *j = qv__meta_to_json(qv__mem_default(), m);
    if (!j || qv__meta_parse(qv__mem_default(), j, 1, &m2, err, sizeof err) != QV_OK) abort();
    char *j2 = qv__meta_to_json(qv__mem_default(), m2);
    if (!j2 || strcmp(j, j2) != 0) abort();
    free(j2);
    free(j);
  }
  qv__meta_free(qv__mem_default(), m2);
  qv__meta_free(qv__mem_default(), m);
  free(s);
  return 0;
}
