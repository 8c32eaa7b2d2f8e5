/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_filter.c -- unit tests of src/filter.c against chroma-v2.md section 9: every operator
 * positive and negative, missing keys, int/float/bool/string typing, arrays, $and/$or,
 * "#document" and where_document, regexes, and malformed filters (QV_INVALID plus a message
 * that names the path). Also a rough ns/match measurement printed to stderr.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

static char err[512];

static const char *REC = "{\"label\":3,\"price\":9.5,\"name\":\"apple\",\"ok\":true,\"off\":false,"
                         "\"tags\":[\"red\",\"fruit\"],\"nums\":[1,2,3],\"fl\":[1.5,2.0],\"flags\":[true],"
                         "\"big\":9007199254740993,\"zero\":0,\"fzero\":-0.0,\"empty\":\"\",\"uni\":\"\xc3\xa9t\xc3\xa9\"}";
static const char *DOC = "The quick brown Fox jumps over the lazy dog 42 times";

static qv_meta *meta(const char *json) {
  qv_meta *m = NULL;
  qv_status rc = qv__meta_parse(qv__mem_default(), json, 0, &m, err, sizeof err);
  cr_assert_eq(rc, QV_OK, "meta %s: %s", json, err);
  return m;
}

/* Match (where, where_document) against metadata text (or NULL) and a document (or NULL). */
static int match(const char *where, const char *wdoc, const char *meta_json, const char *doc) {
  qv_filter *f = NULL;
  qv_status rc = qv__filter_parse(qv__mem_default(), where, wdoc, &f, err, sizeof err);
  cr_assert_eq(rc, QV_OK, "parse %s / %s: %s", where ? where : "-", wdoc ? wdoc : "-", err);
  qv_meta *m = meta_json ? meta(meta_json) : NULL;
  int r = qv__filter_match(f, m, doc);
  qv__meta_free(qv__mem_default(), m);
  qv__filter_free(qv__mem_default(), f);
  return r;
}

static int W(const char *where) { return match(where, NULL, REC, DOC); }
static int D(const char *wdoc) { return match(NULL, wdoc, REC, DOC); }

#define YES(w) cr_assert(W(w) == 1, "expected match: %s", w)
#define NO(w) cr_assert(W(w) == 0, "expected no match: %s", w)
#define DYES(w) cr_assert(D(w) == 1, "expected document match: %s", w)
#define DNO(w) cr_assert(D(w) == 0, "expected no document match: %s", w)

static void bad(const char *where, const char *wdoc, const char *want) {
  qv_filter *f = (qv_filter *)1;
  qv_status rc = qv__filter_parse(qv__mem_default(), where, wdoc, &f, err, sizeof err);
  cr_assert_eq(rc, QV_INVALID, "should fail: %s / %s", where ? where : "-", wdoc ? wdoc : "-");
  cr_assert_null(f);
  cr_assert(strstr(err, want) != NULL, "message for %s / %s: got \"%s\", want \"%s\"", where ? where : "-",
            wdoc ? wdoc : "-", err, want);
}
#define BADW(w, want) bad(w, NULL, want)
#define BADD(d, want) bad(NULL, d, want)

/* ------------------------------------------------------------------ absent filters */

Test(filter, absent) {
  qv_filter *f = (qv_filter *)1;
  cr_assert_eq(qv__filter_parse(qv__mem_default(), NULL, NULL, &f, err, sizeof err), QV_OK);
  cr_assert_null(f);
  f = (qv_filter *)1;
  cr_assert_eq(qv__filter_parse(qv__mem_default(), "null", " null ", &f, err, sizeof err), QV_OK);
  cr_assert_null(f);
  cr_assert_eq(qv__filter_match(NULL, NULL, NULL), 1);
  cr_assert_eq(qv__filter_uses_document(NULL), 0);
  qv__filter_free(qv__mem_default(), NULL);
  cr_assert_eq(match("null", NULL, REC, NULL), 1);
  cr_assert_eq(match("{\"label\":3}", "null", REC, NULL), 1);
}

/* ------------------------------------------------------------------ $eq / $ne */

Test(filter, eq_shorthand_and_explicit) {
  YES("{\"label\":3}");
  YES("{\"label\":{\"$eq\":3}}");
  NO("{\"label\":4}");
  YES("{\"name\":\"apple\"}");
  NO("{\"name\":\"Apple\"}");
  NO("{\"name\":\"appl\"}");
  YES("{\"ok\":true}");
  NO("{\"ok\":false}");
  YES("{\"off\":false}");
  YES("{\"empty\":\"\"}");
  YES("{\"uni\":\"\xc3\xa9t\xc3\xa9\"}");
  YES("{\"uni\":\"\\u00e9t\\u00e9\"}");
  NO("{\"missing\":3}");
  NO("{\"missing\":{\"$eq\":\"x\"}}");
}

Test(filter, ne) {
  NO("{\"label\":{\"$ne\":3}}");
  YES("{\"label\":{\"$ne\":4}}");
  YES("{\"label\":{\"$ne\":\"3\"}}"); /* other type: not equal */
  NO("{\"name\":{\"$ne\":\"apple\"}}");
  YES("{\"name\":{\"$ne\":\"pear\"}}");
  NO("{\"ok\":{\"$ne\":true}}");
  YES("{\"ok\":{\"$ne\":false}}");
  YES("{\"missing\":{\"$ne\":3}}"); /* negatives match records lacking the key */
  YES("{\"tags\":{\"$ne\":\"red\"}}"); /* arrays never equal a scalar */
  cr_assert_eq(match("{\"k\":{\"$ne\":1}}", NULL, NULL, NULL), 1); /* no metadata at all */
  cr_assert_eq(match("{\"k\":{\"$eq\":1}}", NULL, NULL, NULL), 0);
}

Test(filter, int_float_cross_compare) {
  YES("{\"label\":3.0}");
  YES("{\"price\":9.5}");
  NO("{\"price\":9}");
  YES("{\"price\":{\"$gt\":9}}");
  YES("{\"label\":{\"$lt\":3.5}}");
  YES("{\"label\":{\"$gt\":2.5}}");
  NO("{\"label\":{\"$lt\":2.5}}"); /* exact: no Chroma truncation quirk */
  YES("{\"label\":{\"$lte\":3.0}}");
  YES("{\"label\":{\"$gte\":3.0}}");
  NO("{\"label\":{\"$gt\":3.0}}");
  YES("{\"zero\":-0.0}");
  YES("{\"fzero\":0}");
  YES("{\"label\":{\"$in\":[1.0,3.0]}}");
  YES("{\"price\":{\"$in\":[1,9.5]}}");
  /* 2^53 + 1 is not representable as a double: compare exactly */
  YES("{\"big\":9007199254740993}");
  NO("{\"big\":9007199254740992}");
  NO("{\"big\":9007199254740992.0}");
  YES("{\"big\":{\"$gt\":9007199254740992.0}}");
  YES("{\"big\":{\"$lt\":1e300}}");
  YES("{\"big\":{\"$gt\":-1e300}}");
  cr_assert_eq(match("{\"k\":{\"$gt\":-9.3e18}}", NULL, "{\"k\":-9223372036854775808}", NULL), 1);
  cr_assert_eq(match("{\"k\":{\"$gte\":9.3e18}}", NULL, "{\"k\":9223372036854775807}", NULL), 0);
  cr_assert_eq(match("{\"k\":{\"$gt\":-2.5}}", NULL, "{\"k\":-2}", NULL), 1);
  cr_assert_eq(match("{\"k\":{\"$lt\":-2.5}}", NULL, "{\"k\":-3}", NULL), 1);
  cr_assert_eq(match("{\"k\":{\"$lt\":-2.5}}", NULL, "{\"k\":-2}", NULL), 0);
  cr_assert_eq(match("{\"k\":2}", NULL, "{\"k\":2.0000000000000004}", NULL), 0);
}

Test(filter, bools_are_not_numbers) {
  NO("{\"ok\":1}");
  NO("{\"off\":0}");
  NO("{\"zero\":false}");
  NO("{\"label\":true}");
  YES("{\"ok\":{\"$ne\":1}}");
  NO("{\"ok\":{\"$in\":[1]}}");
  NO("{\"nums\":{\"$contains\":true}}");
  NO("{\"flags\":{\"$contains\":1}}");
  YES("{\"flags\":{\"$contains\":true}}");
  cr_assert_eq(match("{\"k\":{\"$gt\":0}}", NULL, "{\"k\":true}", NULL), 0);
}

Test(filter, strings_are_not_numbers) {
  NO("{\"label\":\"3\"}");
  NO("{\"name\":{\"$gt\":0}}");
  cr_assert_eq(match("{\"k\":3}", NULL, "{\"k\":\"3\"}", NULL), 0);
  cr_assert_eq(match("{\"k\":\"3\"}", NULL, "{\"k\":\"3\"}", NULL), 1);
}

/* ------------------------------------------------------------------ ordering */

Test(filter, gt_gte_lt_lte) {
  YES("{\"label\":{\"$gt\":2}}");
  NO("{\"label\":{\"$gt\":3}}");
  YES("{\"label\":{\"$gte\":3}}");
  NO("{\"label\":{\"$gte\":4}}");
  YES("{\"label\":{\"$lt\":4}}");
  NO("{\"label\":{\"$lt\":3}}");
  YES("{\"label\":{\"$lte\":3}}");
  NO("{\"label\":{\"$lte\":2}}");
  YES("{\"price\":{\"$gte\":9.5}}");
  NO("{\"price\":{\"$gt\":9.5}}");
  NO("{\"missing\":{\"$gt\":0}}");
  NO("{\"missing\":{\"$lt\":0}}");
  NO("{\"nums\":{\"$gt\":0}}"); /* arrays never compare */
  NO("{\"name\":{\"$lt\":100}}");
}

/* ------------------------------------------------------------------ $in / $nin */

Test(filter, in_nin) {
  YES("{\"label\":{\"$in\":[1,2,3]}}");
  NO("{\"label\":{\"$in\":[1,2]}}");
  YES("{\"name\":{\"$in\":[\"pear\",\"apple\"]}}");
  NO("{\"name\":{\"$in\":[\"pear\"]}}");
  YES("{\"ok\":{\"$in\":[true]}}");
  NO("{\"ok\":{\"$in\":[false]}}");
  NO("{\"missing\":{\"$in\":[1]}}");
  NO("{\"tags\":{\"$in\":[\"red\"]}}"); /* arrays never match scalar operators */
  NO("{\"label\":{\"$nin\":[3,4]}}");
  YES("{\"label\":{\"$nin\":[4,5]}}");
  YES("{\"label\":{\"$nin\":[\"3\"]}}");
  YES("{\"missing\":{\"$nin\":[1]}}");
  YES("{\"tags\":{\"$nin\":[\"red\"]}}");
  NO("{\"name\":{\"$nin\":[\"apple\"]}}");
}

/* ------------------------------------------------------------------ $contains on arrays */

Test(filter, contains_on_array_metadata) {
  YES("{\"tags\":{\"$contains\":\"red\"}}");
  NO("{\"tags\":{\"$contains\":\"re\"}}"); /* element equality, not substring */
  NO("{\"tags\":{\"$contains\":\"blue\"}}");
  YES("{\"nums\":{\"$contains\":2}}");
  YES("{\"nums\":{\"$contains\":2.0}}");
  NO("{\"nums\":{\"$contains\":2.5}}");
  YES("{\"fl\":{\"$contains\":2}}");
  YES("{\"fl\":{\"$contains\":1.5}}");
  NO("{\"name\":{\"$contains\":\"apple\"}}"); /* a scalar never contains anything */
  NO("{\"name\":{\"$contains\":\"app\"}}");
  NO("{\"missing\":{\"$contains\":1}}");
  NO("{\"tags\":{\"$eq\":\"red\"}}");
  NO("{\"tags\":\"red\"}");
  NO("{\"tags\":{\"$not_contains\":\"red\"}}");
  YES("{\"tags\":{\"$not_contains\":\"blue\"}}");
  YES("{\"missing\":{\"$not_contains\":\"red\"}}");
  YES("{\"name\":{\"$not_contains\":\"apple\"}}");
  NO("{\"nums\":{\"$not_contains\":3.0}}");
}

/* ------------------------------------------------------------------ $and / $or */

Test(filter, and_or) {
  YES("{\"$and\":[{\"label\":3},{\"name\":\"apple\"}]}");
  NO("{\"$and\":[{\"label\":3},{\"name\":\"pear\"}]}");
  YES("{\"$or\":[{\"label\":4},{\"name\":\"apple\"}]}");
  NO("{\"$or\":[{\"label\":4},{\"name\":\"pear\"}]}");
  YES("{\"$and\":[{\"label\":3}]}"); /* any length >= 1 */
  YES("{\"$or\":[{\"$and\":[{\"label\":{\"$gte\":2}},{\"label\":{\"$lte\":4}}]},{\"missing\":1}]}");
  NO("{\"$and\":[{\"$or\":[{\"a\":1},{\"b\":2}]},{\"label\":3}]}");
  YES("{\"$and\":[{\"$or\":[{\"a\":1},{\"ok\":true}]},{\"$or\":[{\"tags\":{\"$contains\":\"fruit\"}},{\"x\":1}]}]}");
}

Test(filter, deep_nesting_bounded) {
  char buf[4096];
  size_t p = 0;
  for (int i = 0; i < 64; i++) p += (size_t)snprintf(buf + p, sizeof buf - p, "{\"$and\":[");
  p += (size_t)snprintf(buf + p, sizeof buf - p, "{\"label\":3}");
  for (int i = 0; i < 64; i++) p += (size_t)snprintf(buf + p, sizeof buf - p, "]}");
  YES(buf);
  p = 0;
  for (int i = 0; i < 65; i++) p += (size_t)snprintf(buf + p, sizeof buf - p, "{\"$or\":[");
  p += (size_t)snprintf(buf + p, sizeof buf - p, "{\"label\":3}");
  for (int i = 0; i < 65; i++) p += (size_t)snprintf(buf + p, sizeof buf - p, "]}");
  BADW(buf, "nesting deeper than 64");
  /* nesting far beyond Jansson's own limit is an invalid-JSON error, not a crash */
  char *huge = malloc(200000);
  p = 0;
  for (int i = 0; i < 10000; i++) p += (size_t)sprintf(huge + p, "{\"$or\":[");
  huge[p] = 0;
  BADW(huge, "where: ");
  free(huge);
}

Test(filter, term_limit) {
  size_t cap = 2000000, p = 0;
  char *buf = malloc(cap);
  p += (size_t)sprintf(buf, "{\"k\":{\"$in\":[");
  for (int i = 0; i < 100001; i++) p += (size_t)sprintf(buf + p, "%s%d", i ? "," : "", i);
  strcpy(buf + p, "]}}");
  BADW(buf, "more than 100000 terms");
  free(buf);
}

/* ------------------------------------------------------------------ documents */

Test(filter, document_key_in_where) {
  YES("{\"#document\":{\"$contains\":\"quick brown\"}}");
  NO("{\"#document\":{\"$contains\":\"Quick\"}}"); /* case-sensitive */
  YES("{\"#document\":{\"$not_contains\":\"cat\"}}");
  NO("{\"#document\":{\"$not_contains\":\"Fox\"}}");
  YES("{\"#document\":{\"$regex\":\"F[aeiou]x\"}}");
  NO("{\"#document\":{\"$regex\":\"^quick\"}}");
  YES("{\"#document\":{\"$not_regex\":\"^quick\"}}");
  YES("{\"$and\":[{\"label\":3},{\"#document\":{\"$contains\":\"lazy\"}}]}");
  /* records without a document */
  cr_assert_eq(match("{\"#document\":{\"$contains\":\"x\"}}", NULL, REC, NULL), 0);
  cr_assert_eq(match("{\"#document\":{\"$not_contains\":\"x\"}}", NULL, REC, NULL), 1);
  cr_assert_eq(match("{\"#document\":{\"$regex\":\".\"}}", NULL, REC, NULL), 0);
  cr_assert_eq(match("{\"#document\":{\"$not_regex\":\".\"}}", NULL, REC, NULL), 1);
  cr_assert_eq(match("{\"#document\":{\"$contains\":\"\"}}", NULL, REC, ""), 1);
}

Test(filter, where_document) {
  DYES("{\"$contains\":\"Fox\"}");
  DNO("{\"$contains\":\"fox\"}");
  DYES("{\"$contains\":\"42 times\"}");
  DYES("{\"$not_contains\":\"cat\"}");
  DNO("{\"$not_contains\":\"dog\"}");
  DYES("{\"$regex\":\"[0-9]+ times$\"}");
  DNO("{\"$regex\":\"^[0-9]\"}");
  DYES("{\"$not_regex\":\"^[0-9]\"}");
  DNO("{\"$not_regex\":\"(dog|cat)\"}");
  DYES("{\"$and\":[{\"$contains\":\"quick\"},{\"$not_contains\":\"slow\"}]}");
  DNO("{\"$and\":[{\"$contains\":\"quick\"},{\"$contains\":\"slow\"}]}");
  DYES("{\"$or\":[{\"$contains\":\"slow\"},{\"$regex\":\"l[a-z]+y\"}]}");
  /* LIKE metacharacters are literal */
  cr_assert_eq(match(NULL, "{\"$contains\":\"50%_off\"}", NULL, "get 50%_off now"), 1);
  cr_assert_eq(match(NULL, "{\"$contains\":\"50%_off\"}", NULL, "get 50% off now"), 0);
  cr_assert_eq(match(NULL, "{\"$contains\":\"\xc3\xa9\"}", NULL, "caf\xc3\xa9"), 1);
  cr_assert_eq(match(NULL, "{\"$contains\":\"x\"}", NULL, NULL), 0);
  cr_assert_eq(match(NULL, "{\"$not_contains\":\"x\"}", NULL, NULL), 1);
}

Test(filter, where_and_where_document_are_anded) {
  cr_assert_eq(match("{\"label\":3}", "{\"$contains\":\"Fox\"}", REC, DOC), 1);
  cr_assert_eq(match("{\"label\":4}", "{\"$contains\":\"Fox\"}", REC, DOC), 0);
  cr_assert_eq(match("{\"label\":3}", "{\"$contains\":\"cat\"}", REC, DOC), 0);
}

Test(filter, uses_document) {
  qv_filter *f = NULL;
  cr_assert_eq(qv__filter_parse(qv__mem_default(), "{\"label\":3}", NULL, &f, err, sizeof err), QV_OK);
  cr_assert_eq(qv__filter_uses_document(f), 0);
  qv__filter_free(qv__mem_default(), f);
  cr_assert_eq(qv__filter_parse(qv__mem_default(), "{\"$or\":[{\"a\":1},{\"#document\":{\"$contains\":\"x\"}}]}",
                                NULL, &f, err, sizeof err),
               QV_OK);
  cr_assert_eq(qv__filter_uses_document(f), 1);
  qv__filter_free(qv__mem_default(), f);
  cr_assert_eq(qv__filter_parse(qv__mem_default(), NULL, "{\"$regex\":\"x\"}", &f, err, sizeof err), QV_OK);
  cr_assert_eq(qv__filter_uses_document(f), 1);
  qv__filter_free(qv__mem_default(), f);
}

Test(filter, regex_details) {
  cr_assert_eq(match(NULL, "{\"$regex\":\"a.b\"}", NULL, "a\nb"), 1);
  cr_assert_eq(match(NULL, "{\"$regex\":\"^(ab)+$\"}", NULL, "ababab"), 1);
  cr_assert_eq(match(NULL, "{\"$regex\":\"^(ab)+$\"}", NULL, "ababa"), 0);
  cr_assert_eq(match(NULL, "{\"$regex\":\"colou?r\"}", NULL, "the color red"), 1);
  cr_assert_eq(match(NULL, "{\"$regex\":\"\\\\.txt$\"}", NULL, "file.txt"), 1);
  cr_assert_eq(match(NULL, "{\"$regex\":\"\\\\.txt$\"}", NULL, "filetxt"), 0);
  cr_assert_eq(match(NULL, "{\"$regex\":\"\xc3\xa9\"}", NULL, "caf\xc3\xa9"), 1);
  cr_assert_eq(match(NULL, "{\"$regex\":\"\"}", NULL, "anything"), 1);
}

/* ------------------------------------------------------------------ malformed */

Test(filter, malformed_json_and_shape) {
  BADW("{", "where: invalid JSON");
  BADW("", "where: invalid JSON");
  BADD("{\"$contains\":", "where_document: invalid JSON");
  BADW("{}", "where: expected exactly one key, got 0");
  BADW("{\"a\":1,\"b\":2}", "where: expected exactly one key, got 2");
  BADW("{\"a\":1,\"a\":1}", "duplicate");
  BADW("[]", "where: expected an object, got an array");
  BADW("3", "where: expected an object, got a number");
  BADW("\"x\"", "where: expected an object, got a string");
  BADD("{}", "where_document: expected exactly one key, got 0");
  BADD("[1]", "where_document: expected an object");
}

Test(filter, malformed_logic) {
  BADW("{\"$and\":[]}", "where: $and must be a non-empty array");
  BADW("{\"$or\":{}}", "where: $or must be a non-empty array");
  BADW("{\"$and\":{\"a\":1}}", "where: $and must be a non-empty array");
  BADW("{\"$and\":[{\"a\":1},{}]}", "where.$and[1]: expected exactly one key, got 0");
  BADW("{\"$and\":[{\"a\":1},3]}", "where.$and[1]: expected an object, got a number");
  BADW("{\"$and\":[{\"a\":1},{\"$or\":[{\"price\":{\"$gt\":\"x\"}}]}]}",
       "where.$and[1].$or[0].price: $gt needs a number");
  BADW("{\"$not\":[{\"a\":1}]}", "where: unknown operator $not");
  BADD("{\"$and\":[{\"$contains\":\"a\"},{\"label\":3}]}", "where_document.$and[1]: unknown operator label");
  BADD("{\"$or\":[]}", "where_document: $or must be a non-empty array");
}

Test(filter, malformed_operators) {
  BADW("{\"price\":{\"$gt\":\"x\"}}", "where.price: $gt needs a number");
  BADW("{\"price\":{\"$gte\":true}}", "where.price: $gte needs a number");
  BADW("{\"price\":{\"$lt\":[1]}}", "where.price: $lt needs a number");
  BADW("{\"price\":{\"$lte\":null}}", "where.price: $lte needs a number");
  BADW("{\"k\":{\"$eq\":null}}", "where.k: $eq needs a string, number or bool");
  BADW("{\"k\":{\"$ne\":[1]}}", "where.k: $ne needs a string, number or bool");
  BADW("{\"k\":{\"$eq\":{}}}", "where.k: $eq needs a string, number or bool");
  BADW("{\"k\":null}", "where.k: expected a string, number, bool or operator object");
  BADW("{\"k\":[1,2]}", "where.k: expected a string, number, bool or operator object");
  BADW("{\"k\":{}}", "where.k: expected exactly one operator, got 0");
  BADW("{\"k\":{\"$gte\":1,\"$lte\":5}}", "where.k: expected exactly one operator, got 2");
  BADW("{\"k\":{\"$foo\":1}}", "where.k: unknown operator $foo");
  BADW("{\"k\":{\"eq\":1}}", "where.k: unknown operator eq");
  BADW("{\"k\":{\"$in\":[]}}", "where.k: $in needs a non-empty array");
  BADW("{\"k\":{\"$in\":3}}", "where.k: $in needs a non-empty array");
  BADW("{\"k\":{\"$nin\":[1,\"a\"]}}", "where.k: $nin: all elements must have the same type");
  BADW("{\"k\":{\"$in\":[true,1]}}", "where.k: $in: all elements must have the same type");
  BADW("{\"k\":{\"$in\":[[1]]}}", "where.k: $in: element 0 is an array");
  BADW("{\"k\":{\"$in\":[null]}}", "where.k: $in: element 0 is null");
  BADW("{\"k\":{\"$contains\":[1]}}", "where.k: $contains needs a string, number or bool");
  BADW("{\"k\":{\"$not_contains\":null}}", "where.k: $not_contains needs");
  BADW("{\"k\":{\"$regex\":\"a\"}}", "where.k: $regex is only allowed on #document");
  BADW("{\"k\":{\"$not_regex\":\"a\"}}", "where.k: $not_regex is only allowed on #document");
  /* $in with mixed ints and floats is one JSON type: fine */
  YES("{\"label\":{\"$in\":[1,3.0]}}");
}

Test(filter, malformed_document_ops) {
  BADW("{\"#document\":\"x\"}", "where.#document: expected an operator object");
  BADW("{\"#document\":{\"$eq\":\"x\"}}", "where.#document: $eq is not allowed on #document");
  BADW("{\"#document\":{\"$contains\":3}}", "where.#document: $contains needs a string");
  BADW("{\"#document\":{\"$regex\":\"(\"}}", "where.#document: invalid regex");
  BADW("{\"#document\":{\"$bogus\":\"x\"}}", "where.#document: unknown operator $bogus");
  BADW("{\"#document\":{}}", "where.#document: expected exactly one operator, got 0");
  BADD("{\"$matches\":\"x\"}", "where_document: unknown operator $matches");
  BADD("{\"$not_matches\":\"x\"}", "where_document: unknown operator $not_matches");
  BADD("{\"$contains\":1}", "where_document: $contains needs a string, got a number");
  BADD("{\"$not_contains\":null}", "where_document: $not_contains needs a string");
  BADD("{\"$regex\":\"[a-\"}", "where_document: invalid regex");
  BADD("{\"$regex\":\"a{2,1}\"}", "where_document: invalid regex");
  BADD("{\"$regex\":\"(a)\\\\1\"}", "backreferences are not supported");
  BADD("{\"$regex\":\"l++++++++++++++++++++++++++++++++(a|)0y\"}", "where_document: invalid regex: repetition");
  BADD("{\"$regex\":\"^T?=?????**********+******aa\"}", "repetition operators must not be stacked");
  BADD("{\"$regex\":\"a{2}{3}\"}", "repetition operators must not be stacked");
  cr_assert_eq(match(NULL, "{\"$regex\":\"b+?c*?d??\"}", NULL, "abbcd"), 1); /* one lazy-style '?' is fine */
  BADD("{\"$regex\":\"((a{100}){100}){100}\"}", "regex is too complex");
  /* optional copies cost glibc quadratic memory: this one took 1.5 GB (fuzz_filter) */
  BADD("{\"$not_regex\":\"a{2,19611}y\"}", "regex is too complex");
  BADD("{\"$regex\":\"(ab|c){0,2000}\"}", "regex is too complex");
  cr_assert_eq(match(NULL, "{\"$regex\":\"^a{2,500}y$\"}", NULL, "aaay"), 1); /* 5000 at most: fine */
  cr_assert_eq(match(NULL, "{\"$regex\":\"^a{3000}$\"}", NULL, "aa"), 0);  /* fixed counts stay linear */
  BADD("{\"$regex\":\"(((((((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+\"}", "regex is too complex");
  cr_assert_eq(match(NULL, "{\"$regex\":\"^(ab){2,3}[{]x{2}$\"}", NULL, "abab{xx"), 1);
  cr_assert_eq(match(NULL, "{\"$regex\":\"[[:digit:]]+ times\"}", NULL, DOC), 1);
  BADD("{\"$and\":[{\"$regex\":\"ok\"},{\"$regex\":\"*bad(\"}]}", "where_document.$and[1]: invalid regex");
  BADD("{\"$contains\":\"x\",\"$regex\":\"y\"}", "where_document: expected exactly one key, got 2");
  /* the where part is reported even if where_document is fine, and vice versa */
  bad("{\"a\":{\"$gt\":\"x\"}}", "{\"$contains\":\"x\"}", "where.a: $gt needs a number");
  bad("{\"a\":1}", "{\"$gt\":1}", "where_document: unknown operator $gt");
}

Test(filter, hash_keys_are_plain_keys) {
  /* keys other than #document are metadata keys, which can never start with '#' */
  NO("{\"#embedding\":1}");
  YES("{\"#embedding\":{\"$ne\":1}}");
  BADW("{\"$label\":3}", "where: unknown operator $label");
}

Test(filter, long_keys_in_messages_are_truncated) {
  char buf[2048] = "{\"";
  memset(buf + 2, 'k', 1000);
  strcpy(buf + 1002, "\":{\"$gt\":\"x\"}}");
  BADW(buf, "...");
  cr_assert(strlen(err) < sizeof err);
}

Test(filter, interned_keys_shared) {
  /* many clauses on the same key: all match correctly (keys are interned once) */
  YES("{\"$and\":[{\"label\":3},{\"label\":{\"$gt\":1}},{\"label\":{\"$lt\":5}},{\"label\":{\"$nin\":[7]}}]}");
}

/* ------------------------------------------------------------------ allocation failure */

static int budget;
static void *fail_malloc(void *ud, size_t n) { (void)ud; return budget-- > 0 ? malloc(n) : NULL; }
static void *fail_realloc(void *ud, void *p, size_t n) { (void)ud; return budget-- > 0 ? realloc(p, n) : NULL; }
static void fail_free(void *ud, void *p) { (void)ud; free(p); }

Test(filter, nomem_cleans_up) {
  const qv_mem fm = {fail_malloc, fail_realloc, fail_free, NULL};
  const char *w = "{\"$and\":[{\"k\":{\"$in\":[\"a\",\"b\"]}},{\"#document\":{\"$regex\":\"x+\"}},{\"k\":1}]}";
  int ok = 0;
  for (int b = 0; b < 20 && !ok; b++) {
    budget = b;
    qv_filter *f = NULL;
    qv_status rc = qv__filter_parse(&fm, w, "{\"$contains\":\"y\"}", &f, err, sizeof err);
    if (rc == QV_OK) {
      ok = 1;
      cr_assert_not_null(f);
      qv__filter_free(&fm, f);
    } else {
      cr_assert_eq(rc, QV_NOMEM, "budget %d: %s", b, err);
      cr_assert_null(f);
    }
  }
  cr_assert(ok);
}

/* ------------------------------------------------------------------ speed */

/* Over packed metadata, as collections keep it (qv__filter_match_packed). */
static double bench(const char *where, unsigned char **ms, size_t n, int *hits) {
  qv_filter *f = NULL;
  cr_assert_eq(qv__filter_parse(qv__mem_default(), where, NULL, &f, err, sizeof err), QV_OK, "%s", err);
  int h = 0;
  double best = 1e9;
  for (int rep = 0; rep < 5; rep++) {
    h = 0;
    double t0 = qv__now();
    for (size_t i = 0; i < n; i++) h += qv__filter_match_packed(f, ms[i], NULL);
    double ns = (qv__now() - t0) * 1e9 / (double)n;
    if (ns < best) best = ns;
  }
  *hits = h;
  qv__filter_free(qv__mem_default(), f);
  return best;
}

Test(filter, speed) {
  enum { N = 60000 };
  unsigned char **ms = malloc(N * sizeof *ms);
  char json[256];
  static const char *colors[] = {"red", "green", "blue", "black"};
  for (size_t i = 0; i < N; i++) {
    snprintf(json, sizeof json,
             "{\"label\":%zu,\"price\":%zu.5,\"color\":\"%s\",\"tags\":[\"t%zu\",\"u%zu\"],\"year\":%zu,\"in_stock\":%s}",
             i % 10, i % 100, colors[i % 4], i % 7, i % 11, 1990 + i % 35, i % 3 ? "true" : "false");
    qv_meta *m = meta(json);
    size_t len;
    cr_assert_eq(qv__meta_pack(qv__mem_default(), m, &ms[i], &len), QV_OK);
    qv__meta_free(qv__mem_default(), m);
  }
  int h1, h2;
  double ns1 = bench("{\"label\":3}", ms, N, &h1);
  double ns2 = bench("{\"$and\":[{\"price\":{\"$gte\":20}},{\"color\":{\"$in\":[\"red\",\"blue\"]}},{\"year\":{\"$lt\":2015}}]}",
                     ms, N, &h2);
  cr_assert_eq(h1, N / 10);
  cr_assert(h2 > 0 && h2 < N);
  fprintf(stderr, "qv__filter_match_packed: {\"label\":3} %.1f ns/match (%d hits); 3-clause $and %.1f ns/match (%d hits)\n",
          ns1, h1, ns2, h2);
  for (size_t i = 0; i < N; i++) free(ms[i]);
  free(ms);
}
