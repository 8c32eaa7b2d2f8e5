/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_meta.c -- unit tests of src/meta.c: parsing and validation of record metadata, the
 * one-block layout, sorted lookup, merge with null removal, the JSON round trip, and the
 * packed form collections keep (pack, unpack, lookup in place, JSON from it).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta.h"

static char err[512];

static qv_meta *parse_ok(const char *json, int allow_null) {
  qv_meta *m = NULL;
  qv_status rc = qv__meta_parse(qv__mem_default(), json, allow_null, &m, err, sizeof err);
  cr_assert_eq(rc, QV_OK, "parse %s: %s", json, err);
  cr_assert_not_null(m);
  return m;
}

static void parse_bad(const char *json, int allow_null, const char *want) {
  qv_meta *m = (qv_meta *)1;
  qv_status rc = qv__meta_parse(qv__mem_default(), json, allow_null, &m, err, sizeof err);
  cr_assert_eq(rc, QV_INVALID, "parse %s should fail", json);
  cr_assert_null(m);
  cr_assert(strstr(err, want) != NULL, "message for %s: got \"%s\", want \"%s\"", json, err, want);
}

static char *to_json(const qv_meta *m) {
  char *s = qv__meta_to_json(qv__mem_default(), m);
  cr_assert_not_null(s);
  return s;
}

/* parse -> to_json must give exactly want. */
static void roundtrip(const char *json, const char *want) {
  qv_meta *m = parse_ok(json, 0);
  char *s = to_json(m);
  cr_assert_str_eq(s, want, "round trip of %s", json);
  /* and the output parses back to the same text */
  qv_meta *m2 = parse_ok(s, 0);
  char *s2 = to_json(m2);
  cr_assert_str_eq(s2, s);
  /* the packed form (what a collection keeps) gives the same text, directly and unpacked */
  unsigned char *p = NULL;
  size_t plen = 0;
  cr_assert_eq(qv__meta_pack(qv__mem_default(), m, &p, &plen), QV_OK);
  cr_assert_eq(plen, qv__meta_packed_size(m));
  char *s3 = qv__meta_packed_json(qv__mem_default(), p);
  cr_assert_str_eq(s3, s, "packed form of %s", json);
  qv_meta *m3 = NULL;
  cr_assert_eq(qv__meta_unpack(qv__mem_default(), p, &m3), QV_OK);
  char *s4 = to_json(m3);
  cr_assert_str_eq(s4, s, "unpacked form of %s", json);
  free(s4);
  free(s3);
  free(p);
  qv__meta_free(qv__mem_default(), m3);
  free(s2);
  free(s);
  qv__meta_free(qv__mem_default(), m2);
  qv__meta_free(qv__mem_default(), m);
}

Test(meta, scalars) {
  qv_meta *m = parse_ok("{\"s\":\"hi\",\"i\":-42,\"f\":2.5,\"t\":true,\"b\":false,\"big\":9223372036854775807}", 0);
  cr_assert_eq(m->n, 6);
  const qv_mval *v = qv__meta_get(m, "s");
  cr_assert_eq(v->type, QV_MT_STR);
  cr_assert_eq(v->len, 2);
  cr_assert_str_eq(v->u.s, "hi");
  v = qv__meta_get(m, "i");
  cr_assert_eq(v->type, QV_MT_INT);
  cr_assert_eq(v->u.i, -42);
  v = qv__meta_get(m, "f");
  cr_assert_eq(v->type, QV_MT_FLOAT);
  cr_assert_eq(v->u.f, 2.5);
  cr_assert_eq(qv__meta_get(m, "t")->type, QV_MT_BOOL);
  cr_assert_eq(qv__meta_get(m, "t")->u.b, 1);
  cr_assert_eq(qv__meta_get(m, "b")->u.b, 0);
  cr_assert_eq(qv__meta_get(m, "big")->u.i, INT64_MAX);
  cr_assert_null(qv__meta_get(m, "nope"));
  cr_assert_null(qv__meta_get(NULL, "s"));
  qv__meta_free(qv__mem_default(), m);
}

Test(meta, int_and_float_stay_distinct) {
  qv_meta *m = parse_ok("{\"a\":1,\"b\":1.0,\"c\":1e2}", 0);
  cr_assert_eq(qv__meta_get(m, "a")->type, QV_MT_INT);
  cr_assert_eq(qv__meta_get(m, "b")->type, QV_MT_FLOAT);
  cr_assert_eq(qv__meta_get(m, "c")->type, QV_MT_FLOAT);
  qv__meta_free(qv__mem_default(), m);
}

Test(meta, keys_sorted_bytewise) {
  qv_meta *m = parse_ok("{\"b\":1,\"a\":2,\"B\":3,\"\xc3\xa9\":4,\"aa\":5}", 0);
  cr_assert_eq(m->n, 5);
  for (uint32_t i = 1; i < m->n; i++) cr_assert(strcmp(m->keys[i - 1], m->keys[i]) < 0);
  cr_assert_str_eq(m->keys[0], "B");
  cr_assert_str_eq(m->keys[4], "\xc3\xa9");
  for (uint32_t i = 0; i < m->n; i++) cr_assert_eq(qv__meta_get(m, m->keys[i]), &m->vals[i]);
  qv__meta_free(qv__mem_default(), m);
}

Test(meta, one_block) {
  qv_meta *m = parse_ok("{\"k\":[\"x\",\"yy\"],\"s\":\"str\",\"n\":[1,2,3]}", 0);
  const char *lo = (const char *)m, *hi = lo + m->bytes;
  for (uint32_t i = 0; i < m->n; i++) {
    cr_assert((const char *)m->keys[i] >= lo && (const char *)m->keys[i] < hi);
    const qv_mval *v = &m->vals[i];
    if (v->type == QV_MT_STR) cr_assert(v->u.s >= lo && v->u.s + v->len < hi);
    if (v->type == QV_MT_ARRAY)
      for (uint32_t j = 0; j < v->len; j++) {
        cr_assert((const char *)&v->u.arr[j] >= lo && (const char *)&v->u.arr[j] < hi);
        if (v->u.arr[j].type == QV_MT_STR) cr_assert(v->u.arr[j].u.s > lo && v->u.arr[j].u.s < hi);
      }
  }
  qv__meta_free(qv__mem_default(), m);
}

Test(meta, arrays) {
  qv_meta *m = parse_ok("{\"s\":[\"a\",\"b\"],\"i\":[1,2],\"f\":[1.5],\"b\":[true,false],\"mix\":[1,2.5]}", 0);
  const qv_mval *v = qv__meta_get(m, "s");
  cr_assert_eq(v->type, QV_MT_ARRAY);
  cr_assert_eq(v->elem, QV_MT_STR);
  cr_assert_eq(v->len, 2);
  cr_assert_str_eq(v->u.arr[1].u.s, "b");
  v = qv__meta_get(m, "i");
  cr_assert_eq(v->elem, QV_MT_INT);
  cr_assert_eq(v->u.arr[1].u.i, 2);
  v = qv__meta_get(m, "mix"); /* ints mixed with floats: a float array */
  cr_assert_eq(v->elem, QV_MT_FLOAT);
  cr_assert_eq(v->u.arr[0].type, QV_MT_FLOAT);
  cr_assert_eq(v->u.arr[0].u.f, 1.0);
  cr_assert_eq(qv__meta_get(m, "b")->elem, QV_MT_BOOL);
  qv__meta_free(qv__mem_default(), m);
}

Test(meta, empty_object) {
  qv_meta *m = parse_ok("{}", 0);
  cr_assert_eq(m->n, 0);
  char *s = to_json(m);
  cr_assert_str_eq(s, "{}");
  free(s);
  qv__meta_free(qv__mem_default(), m);
}

Test(meta, rejects_bad_documents) {
  parse_bad("[1]", 0, "must be a JSON object");
  parse_bad("null", 0, "must be a JSON object");
  parse_bad("\"x\"", 0, "must be a JSON object");
  parse_bad("{", 0, "not valid JSON");
  parse_bad("{\"a\":1}x", 0, "not valid JSON");
  parse_bad("", 0, "not valid JSON");
  parse_bad(NULL, 0, "must be a JSON object");
  parse_bad("{\"a\":1,\"a\":2}", 0, "duplicate");
  parse_bad("{\"a\":NaN}", 0, "not valid JSON");
  parse_bad("{\"a\":1e999}", 0, "not valid JSON");
  parse_bad("{\"a\":\"x\\u0000y\"}", 0, "not valid JSON");
  parse_bad("{\"a\":99999999999999999999}", 0, "not valid JSON");
}

Test(meta, rejects_bad_values_naming_the_key) {
  parse_bad("{\"ok\":1,\"obj\":{\"x\":1}}", 0, "key \"obj\": nested objects are not allowed");
  parse_bad("{\"arr\":[[1]]}", 0, "key \"arr\": array element 0 is an array");
  parse_bad("{\"arr\":[{}]}", 0, "key \"arr\": array element 0 is an object");
  parse_bad("{\"arr\":[]}", 0, "key \"arr\": empty arrays are not allowed");
  parse_bad("{\"arr\":[1,\"x\"]}", 0, "key \"arr\": array elements must all have one type");
  parse_bad("{\"arr\":[true,1]}", 0, "key \"arr\": array elements must all have one type");
  parse_bad("{\"arr\":[\"a\",null]}", 0, "key \"arr\": array element 1 is null");
  parse_bad("{\"n\":null}", 0, "key \"n\": null is not allowed");
  parse_bad("{\"\":1}", 0, "keys must not be empty");
  parse_bad("{\"#doc\":1}", 0, "key \"#doc\": keys must not start with '#'");
  parse_bad("{\"$x\":1}", 0, "key \"$x\": keys must not start with '$'");
}

Test(meta, limits) {
  char *buf = malloc(300000);
  /* key of 256 bytes is fine, 257 is not */
  strcpy(buf, "{\"");
  memset(buf + 2, 'k', 256);
  strcpy(buf + 258, "\":1}");
  qv_meta *m = parse_ok(buf, 0);
  qv__meta_free(qv__mem_default(), m);
  strcpy(buf, "{\"");
  memset(buf + 2, 'k', 257);
  strcpy(buf + 259, "\":1}");
  parse_bad(buf, 0, "longer than 256");
  /* string value of 64 KiB fine, one more byte not */
  strcpy(buf, "{\"s\":\"");
  memset(buf + 6, 'v', 65536);
  strcpy(buf + 6 + 65536, "\"}");
  m = parse_ok(buf, 0);
  qv__meta_free(qv__mem_default(), m);
  strcpy(buf, "{\"s\":\"");
  memset(buf + 6, 'v', 65537);
  strcpy(buf + 6 + 65537, "\"}");
  parse_bad(buf, 0, "key \"s\": string of 65537 bytes");
  /* 4097 array elements */
  size_t p = (size_t)sprintf(buf, "{\"a\":[");
  for (int i = 0; i < 4097; i++) p += (size_t)sprintf(buf + p, "%s%d", i ? "," : "", i);
  strcpy(buf + p, "]}");
  parse_bad(buf, 0, "key \"a\": array of 4097 elements");
  /* 1025 keys */
  p = (size_t)sprintf(buf, "{");
  for (int i = 0; i < 1025; i++) p += (size_t)sprintf(buf + p, "%s\"k%d\":1", i ? "," : "", i);
  strcpy(buf + p, "}");
  parse_bad(buf, 0, "1025 keys");
  free(buf);
}

Test(meta, roundtrip_text) {
  roundtrip("{\"b\":1,\"a\":\"x\"}", "{\"a\":\"x\",\"b\":1}");
  roundtrip("{\"f\":1.0}", "{\"f\":1.0}");
  roundtrip("{\"f\":-0.0}", "{\"f\":-0.0}");
  roundtrip("{\"f\":0.1}", "{\"f\":0.1}");
  roundtrip("{\"f\":1e100}", "{\"f\":1e+100}");
  roundtrip("{\"f\":123456789.0}", "{\"f\":123456789.0}");
  roundtrip("{\"f\":1e21}", "{\"f\":1e+21}");
  roundtrip("{\"f\":0.30000000000000004}", "{\"f\":0.30000000000000004}");
  roundtrip("{\"i\":-9223372036854775808}", "{\"i\":-9223372036854775808}");
  roundtrip("{\"t\":true,\"u\":false}", "{\"t\":true,\"u\":false}");
  roundtrip("{\"a\":[1,2.5],\"b\":[\"x\",\"y\"],\"c\":[true]}", "{\"a\":[1.0,2.5],\"b\":[\"x\",\"y\"],\"c\":[true]}");
  roundtrip("{\"s\":\"q\\\"b\\\\n\\n\\t\\r\\b\\f\\u0001\\u001f/\"}", "{\"s\":\"q\\\"b\\\\n\\n\\t\\r\\b\\f\\u0001\\u001f/\"}");
}

Test(meta, roundtrip_unicode) {
  /* \u escapes decode to UTF-8 and are written back raw */
  roundtrip("{\"\\u00e9t\\u00e9\":\"\\u65e5\\u672c\\ud83d\\ude00\"}",
            "{\"\xc3\xa9t\xc3\xa9\":\"\xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80\"}");
  qv_meta *m = parse_ok("{\"\xc3\xa9t\xc3\xa9\":\"\xe6\x97\xa5\"}", 0);
  const qv_mval *v = qv__meta_get(m, "\xc3\xa9t\xc3\xa9");
  cr_assert_not_null(v);
  cr_assert_eq(v->len, 3);
  qv__meta_free(qv__mem_default(), m);
  parse_bad("{\"a\":\"\xff\"}", 0, "not valid JSON"); /* invalid UTF-8 */
}

Test(meta, floats_roundtrip_exactly) {
  const double vals[] = {0.1, 1.0 / 3, 2.0 / 3, 1e-300, 5e-324, 1.7976931348623157e308, 3.14159, -2.5e-7, 1e15, 1e16,
                         123456789012345678.0};
  char num[64], json[128];
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    snprintf(num, sizeof num, "%.17g", vals[i]);
    if (!strpbrk(num, ".e")) strcat(num, ".0"); /* keep it a float in JSON */
    snprintf(json, sizeof json, "{\"f\":%s}", num);
    qv_meta *m = parse_ok(json, 0);
    char *s = to_json(m);
    qv_meta *m2 = parse_ok(s, 0);
    cr_assert_eq(qv__meta_get(m2, "f")->type, QV_MT_FLOAT, "%s", s);
    cr_assert_eq(qv__meta_get(m2, "f")->u.f, vals[i], "%s", s);
    free(s);
    qv__meta_free(qv__mem_default(), m);
    qv__meta_free(qv__mem_default(), m2);
  }
}

Test(meta, null_allowed_in_patches) {
  qv_meta *m = parse_ok("{\"a\":null,\"b\":1}", 1);
  cr_assert_eq(qv__meta_get(m, "a")->type, QV_MT_NULL);
  char *s = to_json(m);
  cr_assert_str_eq(s, "{\"a\":null,\"b\":1}");
  free(s);
  qv__meta_free(qv__mem_default(), m);
}

Test(meta, merge) {
  qv_meta *base = parse_ok("{\"a\":1,\"b\":\"old\",\"c\":[1,2],\"z\":true}", 0);
  qv_meta *patch = parse_ok("{\"b\":\"new\",\"c\":null,\"d\":[\"x\"],\"nothere\":null,\"0\":0.5}", 1);
  qv_meta *out = NULL;
  cr_assert_eq(qv__meta_merge(qv__mem_default(), base, patch, &out), QV_OK);
  char *s = to_json(out);
  cr_assert_str_eq(s, "{\"0\":0.5,\"a\":1,\"b\":\"new\",\"d\":[\"x\"],\"z\":true}");
  free(s);
  /* the result owns its memory: free the inputs first */
  qv__meta_free(qv__mem_default(), base);
  qv__meta_free(qv__mem_default(), patch);
  cr_assert_str_eq(qv__meta_get(out, "d")->u.arr[0].u.s, "x");
  cr_assert_str_eq(qv__meta_get(out, "b")->u.s, "new");
  qv__meta_free(qv__mem_default(), out);
}

Test(meta, merge_edge_cases) {
  qv_meta *patch = parse_ok("{\"a\":null,\"b\":2}", 1);
  qv_meta *out = NULL;
  cr_assert_eq(qv__meta_merge(qv__mem_default(), NULL, patch, &out), QV_OK);
  char *s = to_json(out);
  cr_assert_str_eq(s, "{\"b\":2}");
  free(s);
  qv_meta *out2 = NULL;
  cr_assert_eq(qv__meta_merge(qv__mem_default(), out, NULL, &out2), QV_OK);
  s = to_json(out2);
  cr_assert_str_eq(s, "{\"b\":2}");
  free(s);
  qv_meta *del = parse_ok("{\"b\":null}", 1), *empty = NULL;
  cr_assert_eq(qv__meta_merge(qv__mem_default(), out2, del, &empty), QV_OK);
  cr_assert_eq(empty->n, 0);
  qv__meta_free(qv__mem_default(), empty);
  qv__meta_free(qv__mem_default(), del);
  qv__meta_free(qv__mem_default(), out2);
  qv__meta_free(qv__mem_default(), out);
  qv__meta_free(qv__mem_default(), patch);
  qv__meta_free(qv__mem_default(), NULL);
}

/* An allocator that fails after a budget of calls: every path must fail cleanly (ASan checks leaks). */
static int budget;
static void *fail_malloc(void *ud, size_t n) { (void)ud; return budget-- > 0 ? malloc(n) : NULL; }
static void *fail_realloc(void *ud, void *p, size_t n) { (void)ud; return budget-- > 0 ? realloc(p, n) : NULL; }
static void fail_free(void *ud, void *p) { (void)ud; free(p); }

Test(meta, nomem) {
  const qv_mem fm = {fail_malloc, fail_realloc, fail_free, NULL};
  for (int b = 0; b < 4; b++) {
    budget = b;
    qv_meta *m = NULL;
    qv_status rc = qv__meta_parse(&fm, "{\"a\":[1,2],\"b\":\"x\"}", 0, &m, err, sizeof err);
    if (rc == QV_OK) {
      budget = 0;
      cr_assert_null(qv__meta_to_json(&fm, m));
      qv_meta *o = NULL;
      cr_assert_eq(qv__meta_merge(&fm, m, NULL, &o), QV_NOMEM);
      cr_assert_null(o);
      qv__meta_free(&fm, m);
    } else {
      cr_assert_eq(rc, QV_NOMEM);
      cr_assert_null(m);
    }
  }
}

/* ------------------------------------------------------------------ packed form */

Test(meta, packed_lookup) {
  qv_meta *m = parse_ok("{\"b\":-7,\"bb\":\"x\\u00e9y\",\"a\":true,\"f\":-0.25,\"big\":-9223372036854775808,"
                        "\"ints\":[1,-300,70000],\"strs\":[\"\",\"long string value\"],\"fl\":[1,2.5],"
                        "\"bools\":[false,true],\"z\":9223372036854775807}",
                        0);
  unsigned char *p = NULL;
  size_t plen = 0;
  cr_assert_eq(qv__meta_pack(qv__mem_default(), m, &p, &plen), QV_OK);
  cr_assert_lt(plen, m->bytes / 2, "packed %zu bytes, parsed block %zu", plen, m->bytes);
  qv_mval v;
  /* every key finds the value qv__meta_get finds */
  for (uint32_t i = 0; i < m->n; i++) {
    const qv_mval *want = qv__meta_get(m, m->keys[i]);
    cr_assert(qv__meta_packed_get(p, m->keys[i], strlen(m->keys[i]), &v), "key %s", m->keys[i]);
    cr_assert_eq(v.type, want->type, "key %s", m->keys[i]);
    cr_assert_eq(v.len, want->len, "key %s", m->keys[i]);
    if (want->type == QV_MT_INT) cr_assert_eq(v.u.i, want->u.i);
    if (want->type == QV_MT_FLOAT) cr_assert_eq(v.u.f, want->u.f);
    if (want->type == QV_MT_BOOL) cr_assert_eq(v.u.b, want->u.b);
    if (want->type == QV_MT_STR) cr_assert_eq(memcmp(v.u.s, want->u.s, v.len), 0);
    if (want->type == QV_MT_ARRAY) {
      cr_assert(v.packed);
      cr_assert_eq(v.elem, want->elem);
      const unsigned char *q = v.u.raw;
      for (uint32_t j = 0; j < v.len; j++) {
        qv_mval e;
        q = qv__meta_packed_elem(q, v.elem, &e);
        const qv_mval *we = &want->u.arr[j];
        cr_assert_eq(e.type, we->type);
        if (we->type == QV_MT_INT) cr_assert_eq(e.u.i, we->u.i);
        if (we->type == QV_MT_FLOAT) cr_assert_eq(e.u.f, we->u.f);
        if (we->type == QV_MT_BOOL) cr_assert_eq(e.u.b, we->u.b);
        if (we->type == QV_MT_STR) cr_assert(e.len == we->len && memcmp(e.u.s, we->u.s, e.len) == 0);
      }
    }
  }
  /* absent keys: before the first, between two, after the last, a prefix, a longer one */
  static const char *const absent[] = {"0", "ab", "c", "zz", "", "b\x01", "in", "intss"};
  for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
    cr_assert_not(qv__meta_packed_get(p, absent[i], strlen(absent[i]), &v), "key %s", absent[i]);
  cr_assert_not(qv__meta_packed_get(NULL, "a", 1, &v));
  free(p);
  /* no keys: one byte */
  cr_assert_eq(qv__meta_packed_size(NULL), 1);
  qv__meta_free(qv__mem_default(), m);
}
