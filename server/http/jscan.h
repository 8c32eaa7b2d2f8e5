/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * jscan.h -- the primitives of the fast body readers (server/chroma/query_fast.c,
 * server/pinecone/pc_fast.c): a cursor over a NUL-terminated request body, JSON whitespace,
 * punctuation, plain strings and literal words. Each reader accepts one common request shape
 * and returns "not mine" on anything else, so these never report errors: they answer 0/1 or
 * 0/-1 and the general Jansson path gives the messages.
 */
#ifndef QV_SRV_JSCAN_H
#define QV_SRV_JSCAN_H

#include <stddef.h>
#include <string.h>

typedef struct jscan {
  const char *p, *end;
} jscan;

static inline void jscan_ws(jscan *x) {
  if (x->p < x->end && (unsigned char)*x->p > ' ') return; /* the usual case: no space */
  while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r'))
    x->p++;
}

/* Consume c after whitespace; 1 if it was there. */
static inline int jscan_eat(jscan *x, char c) {
  jscan_ws(x);
  if (x->p < x->end && *x->p == c) {
    x->p++;
    return 1;
  }
  return 0;
}

/* A string without escapes, control or non-ASCII bytes; its bytes in [*s, *s + *n). 0 ok. */
static inline int jscan_plain_str(jscan *x, const char **s, size_t *n) {
  if (!jscan_eat(x, '"')) return -1;
  *s = x->p;
  while (x->p < x->end && *x->p != '"') {
    unsigned char c = (unsigned char)*x->p;
    if (c < 0x20 || c == '\\' || c >= 0x80) return -1;
    x->p++;
  }
  if (x->p == x->end) return -1;
  *n = (size_t)(x->p - *s);
  x->p++;
  return 0;
}

/* The literal w (true, false, null) after whitespace. 0 ok. */
static inline int jscan_word(jscan *x, const char *w) {
  size_t n = strlen(w);
  jscan_ws(x);
  if ((size_t)(x->end - x->p) < n || memcmp(x->p, w, n)) return -1;
  x->p += n;
  return 0;
}

#endif
