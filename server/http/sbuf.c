/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * sbuf.c -- a growable byte buffer for building response bodies, with JSON writers.
 *
 * Responses with many records (get, query) are written straight into an sbuf rather than
 * built as a Jansson tree: record metadata arrives from quiver as JSON text and is copied
 * verbatim. An allocation failure sets a sticky flag; sbuf_reply() then answers 500.
 * Buffers are plain malloc() memory because libmicrohttpd free()s the body it is handed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

static int grow(sbuf *b, size_t need) {
  size_t cap;
  char *p;
  if (b->oom) return -1;
  if (b->len + need + 1 <= b->cap) return 0;
  cap = b->cap ? b->cap : 256;
  while (cap < b->len + need + 1) cap *= 2;
  p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void sbuf_put(sbuf *b, const char *s, size_t n) {
  if (grow(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void sbuf_puts(sbuf *b, const char *s) { sbuf_put(b, s, strlen(s)); }

void sbuf_putc(sbuf *b, char c) { sbuf_put(b, &c, 1); }

void sbuf_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || grow(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Length of the well-formed UTF-8 sequence at s (s[0] >= 0x80), or 0 if it is not one: no
 * overlong forms, no surrogates, nothing above U+10FFFF. Stops at the NUL terminator. */
static int utf8_len(const unsigned char *s) {
  unsigned c = s[0];
  if (c >= 0xC2 && c <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
  }
  return 0;
}

/* A JSON string literal of s; control characters are escaped, UTF-8 copied as it is. Values
 * come through Jansson or quiver, which validate, but bytes that are not well-formed UTF-8 (a message quoting a
 * client's broken body, or one cut inside a character) become U+FFFD, so that the reply is
 * always valid JSON text (found by fuzz_server_body). */
void sbuf_json_str(sbuf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  const char *run;
  if (!s) {
    sbuf_put(b, "null", 4);
    return;
  }
  sbuf_putc(b, '"');
  run = s;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[7];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') continue;
    if (c >= 0x80) {
      int n = utf8_len((const unsigned char *)s);
      if (n) {
        s += n - 1;
        continue;
      }
    }
    sbuf_put(b, run, (size_t)(s - run));
    run = s + 1;
    if (c >= 0x80) {
      sbuf_put(b, "\\ufffd", 6);
      continue;
    }
    esc[0] = '\\';
    switch (c) {
    case '"': esc[1] = '"'; sbuf_put(b, esc, 2); break;
    case '\\': esc[1] = '\\'; sbuf_put(b, esc, 2); break;
    case '\n': esc[1] = 'n'; sbuf_put(b, esc, 2); break;
    case '\r': esc[1] = 'r'; sbuf_put(b, esc, 2); break;
    case '\t': esc[1] = 't'; sbuf_put(b, esc, 2); break;
    default:
      esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
      esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
      sbuf_put(b, esc, 6);
    }
  }
  sbuf_put(b, run, (size_t)(s - run));
  sbuf_putc(b, '"');
}

/* Fewest significant digits (6..9) that read back to the same float32. */
void sbuf_json_float(sbuf *b, double v) {
  char tmp[40];
  float f = (float)v;
  int prec, n;
  if (!isfinite(f)) {
    sbuf_put(b, "null", 4);
    return;
  }
  if ((n = srv_fmt_float(tmp, f)) > 0) {
    sbuf_put(b, tmp, (size_t)n);
    return;
  }
  for (prec = 6; prec < 9; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
    if (strtof(tmp, NULL) == f) break;
  }
  if (prec == 9) snprintf(tmp, sizeof tmp, "%.9g", (double)f);
  sbuf_puts(b, tmp);
}

void sbuf_free(sbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

void sbuf_reply(sbuf *b, srv_resp *rs, int status) {
  if (b->oom || !b->p) {
    sbuf_free(b);
    srv_error(rs, 500, "out of memory building the response");
    return;
  }
  free(rs->body);
  rs->status = status;
  rs->body = b->p;
  rs->len = b->len;
  b->p = NULL;
  b->len = b->cap = 0;
}
