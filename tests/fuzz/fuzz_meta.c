/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fuzz_meta.c -- libFuzzer target for the record-metadata JSON parser (src/meta.c).
 *
 * The input is parsed as metadata without and with null values (an add and an update patch).
 * Whatever parses is written back (qv__meta_to_json), parsed again and written again: the two
 * texts must be equal, and so must the text of its packed form (what collections keep) and of
 * that unpacked. A patch is merged into a fixed base and into what parsed as a base, and
 * the merge is written and parsed back. A failed parse must say why and return nothing.
 * Built by CMake with -DQV_FUZZ=ON (docs/FUZZING.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static qv_meta *base;

static qv_meta *parse(const char *s, int allow_null) {
  char err[256] = "";
  qv_meta *m = NULL;
  if (qv__meta_parse(qv__mem_default(), s, allow_null, &m, err, sizeof err) != QV_OK) {
    if (m || !err[0]) abort();
    return NULL;
  }
  if (!m) abort();
  return m;
}

/* to_json, parse, to_json: a fixed point. */
static void round_trip(const qv_meta *m, int allow_null) {
  const qv_mem *mem = qv__mem_default();
  char *j = qv__meta_to_json(mem, m);
  if (!j) abort();
  qv_meta *m2 = parse(j, allow_null);
  if (!m2) abort(); /* what we wrote must read back */
  char *j2 = qv__meta_to_json(mem, m2);
  if (!j2 || strcmp(j, j2) != 0) abort();
  if (!allow_null) { /* the packed form a collection keeps: same text, directly and unpacked */
    unsigned char *pk = NULL;
    size_t plen = 0;
    qv_meta *m3 = NULL;
    if (qv__meta_pack(mem, m, &pk, &plen) != QV_OK) abort();
    char *j3 = qv__meta_packed_json(mem, pk);
    if (!j3 || strcmp(j, j3) != 0) abort();
    if (qv__meta_unpack(mem, pk, &m3) != QV_OK) abort();
    char *j4 = qv__meta_to_json(mem, m3);
    if (!j4 || strcmp(j, j4) != 0) abort();
    for (uint32_t i = 0; i < m->n; i++) {
      qv_mval v;
      if (!qv__meta_packed_get(pk, m->keys[i], strlen(m->keys[i]), &v) || v.type != m->vals[i].type) abort();
    }
    qv__free(mem, j4);
    qv__free(mem, j3);
    qv__free(mem, pk);
    qv__meta_free(mem, m3);
  }
  qv__free(mem, j2);
  qv__free(mem, j);
  qv__meta_free(mem, m2);
}

static void merge_check(const qv_meta *b, const qv_meta *patch) {
  const qv_mem *mem = qv__mem_default();
  qv_meta *out = NULL;
  if (qv__meta_merge(mem, b, patch, &out) != QV_OK) return; /* NOMEM only */
  round_trip(out, 0);
  for (uint32_t i = 0; i < patch->n; i++) /* a patched key is as the patch says */
    if (patch->vals[i].type != QV_MT_NULL && !qv__meta_get(out, patch->keys[i])) abort();
  qv__meta_free(mem, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const qv_mem *mem = qv__mem_default();
  if (!base) base = parse("{\"a\":1,\"b\":\"x\",\"c\":[1.5,2.5],\"d\":true,\"tags\":[\"p\",\"q\"]}", 0);
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = 0;
  qv_meta *m = parse(s, 0);
  if (m) round_trip(m, 0);
  qv_meta *p = parse(s, 1);
  if (p) {
    round_trip(p, 1);
    merge_check(base, p);
    merge_check(NULL, p);
    if (m) merge_check(m, p);
  } else if (m) {
    abort(); /* accepted without nulls but refused with them */
  }
  qv__meta_free(mem, p);
  qv__meta_free(mem, m);
  free(s);
  return 0;
}
