/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_json_str.c -- white-box tests of sbuf_json_str (sbuf.c) and srv_error (json.c): the
 * text written is always valid JSON with valid UTF-8, even when the string holds bytes that
 * are not UTF-8 -- which an error message quoting a client's broken body does (Jansson's
 * "invalid escape near '...'" copies the raw bytes). Found by fuzz_server_body.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

static char *lit(const char *s) {
  sbuf b = {0};
  sbuf_json_str(&b, s);
  cr_assert(!b.oom);
  sbuf_putc(&b, 0);
  return b.p;
}

/* s written as a literal decodes (strictly) to want. */
static void same(const char *s, const char *want) {
  char *t = lit(s);
  json_error_t e;
  json_t *j = json_loads(t, JSON_DECODE_ANY, &e);
  cr_assert_not_null(j, "not JSON: %s (%s)", t, e.text);
  cr_assert_str_eq(json_string_value(j), want, "%s", t);
  json_decref(j);
  free(t);
}

Test(json_str, valid_utf8_is_copied) {
  same("plain", "plain");
  same("caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80");
  same("q\"b\\s\n\t\x01", "q\"b\\s\n\t\x01");
  same("\xef\xbf\xbd", "\xef\xbf\xbd");
  same("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF */
}

#define FFFD "\xef\xbf\xbd"

Test(json_str, broken_utf8_becomes_replacement_characters) {
  same("a\xd1", "a" FFFD);                          /* cut after a lead byte */
  same("\xd1\xa1\x01", "\xd1\xa1\x01");              /* (that one is whole) */
  same("x\xe4\xb8", "x" FFFD FFFD);                  /* three-byte lead, one continuation */
  same("\x80\xbf", FFFD FFFD);                       /* lone continuations */
  same("\xc0\xaf", FFFD FFFD);                       /* overlong '/' */
  same("\xe0\x80\xaf", FFFD FFFD FFFD);              /* overlong, three bytes */
  same("\xed\xa0\x80", FFFD FFFD FFFD);              /* a UTF-16 surrogate */
  same("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);     /* above U+10FFFF */
  same("\xff\xfe ok \xc3\xa9", FFFD FFFD " ok \xc3\xa9");
}

/* The reply of a body Jansson cannot parse, with non-UTF-8 bytes near the error. */
Test(json_str, error_reply_quoting_a_broken_body_is_json) {
  static const char body[] = "{\"query\\\\\\\\\\\xd1\xa1\x01\x00@`";
  srv_req rq;
  srv_resp rs;
  memset(&rq, 0, sizeof rq);
  memset(&rs, 0, sizeof rs);
  rq.body = body;
  rq.body_len = sizeof body - 1;
  cr_assert_null(srv_parse_body(&rq, &rs, 0));
  cr_assert_eq(rs.status, 400);
  json_error_t e;
  json_t *j = json_loadb(rs.body, rs.len, 0, &e);
  cr_assert_not_null(j, "reply is not JSON (%s): %.*s", e.text, (int)rs.len, rs.body);
  cr_assert(strstr(json_string_value(json_object_get(j, "message")), "parse"));
  json_decref(j);
  free(rs.body);
}
