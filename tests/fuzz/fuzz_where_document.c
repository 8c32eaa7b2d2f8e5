/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fuzz_where_document.c -- libFuzzer target for the where_document half of src/filter.c:
 * $contains / $not_contains / $regex / $not_regex and their $and / $or combinations. The
 * input is the where_document JSON; a filter that parses is matched against a few documents
 * (empty, ASCII, multi-byte UTF-8, and absent). A failed parse must say why and return nothing.
 * Built by CMake with -DQV_FUZZ=ON (docs/FUZZING.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const docs[] = {
    "The quick brown fox jumps over the lazy dog", "", "caf\xc3\xa9 na\xc3\xafve \xe4\xb8\xad\xe6\x96\x87 1234",
    "line one\nline two\ttabbed", NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = 0;
  char err[256] = "";
  qv_filter *f = NULL;
  qv_status rc = qv__filter_parse(qv__mem_default(), NULL, s, &f, err, sizeof err);
  if (rc != QV_OK) {
    if (f || !err[0]) abort(); /* a failure must say why and return nothing */
  } else {
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) (void)qv__filter_match(f, NULL, docs[i]);
    (void)qv__filter_uses_document(f);
    qv__filter_free(qv__mem_default(), f);
  }
  free(s);
  return 0;
}
