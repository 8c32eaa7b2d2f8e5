/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * query_fast.c -- the common query body, decoded straight from the request text.
 *
 * A k-NN query is the hot route, and Jansson spends most of its time on it building a
 * json_real (malloc + strtod) for each of the query's floats. This parser accepts exactly
 *   {"query_embeddings": [[number, ..], ..], "n_results": uint, "include": [name, ..]}
 * (any order, any JSON whitespace, n_results and include optional) and reads the numbers
 * into the float buffer directly. Anything else -- another key, a duplicate key, a string
 * escape, base64 rows, empty or ragged rows, a number it cannot convert exactly, trailing
 * text -- returns 0 and the request takes the general Jansson path (rec_read.c), so every
 * error message and status stays the one that path gives.
 *
 * Numbers: the result must equal (float)strtod(token), what Jansson then the cast give.
 * Up to 19 significant digits are read into a uint64 m and scaled by an exact power of ten
 * in double (relative error < 2^-51); when y(1 - 2^-48) and y(1 + 2^-48) round to the same
 * float, so does the correctly rounded double between them. Otherwise (or out of range)
 * the token goes to strtod.
 *
 * The body is NUL-terminated (http.c), which the number scanner relies on.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"

typedef struct fp {
  const char *p, *end;
} fp;

static void ws(fp *x) {
  while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r'))
    x->p++;
}

/* Consume c after whitespace; 1 if it was there. */
static int eat(fp *x, char c) {
  ws(x);
  if (x->p < x->end && *x->p == c) {
    x->p++;
    return 1;
  }
  return 0;
}

/* A string without escapes or control bytes; its bytes in [*s, *s + *n). 0 ok. */
static int plain_str(fp *x, const char **s, size_t *n) {
  if (!eat(x, '"')) return -1;
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

static const double pow10_tab[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The general case: strtod of the token, as Jansson does; -1 if not a finite float. */
static int strtod_token(const char *s, const char *e, float *out) {
  char tmp[64];
  double d;
  if ((size_t)(e - s) >= sizeof tmp) return -1;
  memcpy(tmp, s, (size_t)(e - s));
  tmp[e - s] = '\0';
  d = strtod(tmp, NULL);
  if (!isfinite(d) || !isfinite((float)d)) return -1;
  *out = (float)d;
  return 0;
}

/* (float) of m * 10^e10 when provably equal to (float) of the correctly rounded double. */
static int scale_exact(uint64_t m, int e10, int neg, float *out) {
  double y, lo, hi;
  float f;
  if (m == 0) {
    *out = neg ? -0.0f : 0.0f;
    return 0;
  }
  if (e10 < -22 || e10 > 22) return -1;
  y = e10 < 0 ? (double)m / pow10_tab[-e10] : (double)m * pow10_tab[e10];
  if (y < 1e-30 || y > 1e30) return -1; /* far from float's subnormals and overflow */
  f = (float)y;
  lo = y - y * 0x1p-48;
  hi = y + y * 0x1p-48;
  if ((float)lo != f || (float)hi != f) return -1;
  *out = neg ? -f : f;
  return 0;
}

static int dig(char c) { return c >= '0' && c <= '9'; }

/* Digits at *pp into m (at most 19 significant; leading zeros of m skipped). */
static int read_digits(const char **pp, uint64_t *m, int *nd, int *e10, int frac) {
  const char *p = *pp;
  if (!dig(*p)) return -1;
  if (*m == 0)
    for (; *p == '0'; p++) *e10 -= frac;
  for (; dig(*p); p++, (*nd)++) {
    if (*nd == 19) return -1;
    *m = *m * 10 + (uint64_t)(*p - '0');
    *e10 -= frac;
  }
  *pp = p;
  return 0;
}

/*
 * One JSON number (strict grammar) as float; -1 when not a number or not convertible.
 * The body is NUL-terminated, so the digit loops stop at its end without a bounds check.
 */
static int number(fp *x, float *out) {
  const char *p, *start;
  uint64_t m = 0;
  int nd = 0, e10 = 0, neg, ex = 0, eneg = 0, ed = 0;
  ws(x);
  p = start = x->p;
  neg = *p == '-';
  p += neg;
  if (*p == '0' && dig(p[1])) return -1; /* leading zero */
  if (read_digits(&p, &m, &nd, &e10, 0)) return -1;
  if (*p == '.') {
    p++;
    if (read_digits(&p, &m, &nd, &e10, 1)) return -1;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') eneg = *p++ == '-';
    for (; dig(*p); p++, ed++)
      if (ex < 10000) ex = ex * 10 + (*p - '0');
    if (!ed) return -1;
  }
  if (p > x->end) return -1;
  x->p = p;
  if (scale_exact(m, e10 + (eneg ? -ex : ex), neg, out) == 0) return 0;
  return strtod_token(start, p, out);
}

/* Grow *buf to hold at least need floats. 0 ok. */
static int reserve(float **buf, size_t *cap, size_t need) {
  float *p;
  size_t c = *cap ? *cap : 256;
  if (need <= *cap) return 0;
  while (c < need) c *= 2;
  if (!(p = realloc(*buf, c * sizeof *p))) return -1;
  *buf = p;
  *cap = c;
  return 0;
}

/* [[number, ..], ..]: rows of one common, non-zero dimension. 0 ok. */
static int embeddings(fp *x, query_req *qr) {
  size_t cap = 0, n = 0;
  if (!eat(x, '[')) return -1;
  if (eat(x, ']')) return -1; /* no rows: the general path answers */
  do {
    size_t d = 0;
    if (qr->nq >= (size_t)SRV_MAX_BATCH || !eat(x, '[')) return -1;
    do {
      if (reserve(&qr->q, &cap, n + 1) || number(x, &qr->q[n])) return -1;
      n++;
      d++;
    } while (eat(x, ','));
    if (!eat(x, ']') || (qr->nq && d != qr->dim)) return -1;
    qr->dim = d;
    qr->nq++;
  } while (eat(x, ','));
  return eat(x, ']') ? 0 : -1;
}

/* n_results: a plain non-negative integer of at most 9 digits. 0 ok. */
static int n_results(fp *x, query_req *qr) {
  size_t k = 0;
  int nd = 0;
  const char *start;
  ws(x);
  start = x->p;
  for (; x->p < x->end && dig(*x->p); x->p++) {
    if (++nd > 9) return -1;
    k = k * 10 + (size_t)(*x->p - '0');
  }
  if (!nd || (nd > 1 && *start == '0')) return -1;
  if (x->p < x->end && (*x->p == '.' || *x->p == 'e' || *x->p == 'E')) return -1;
  qr->k = k;
  return 0;
}

static const char *const inc_names[] = {"embeddings", "documents", "metadatas", "distances",
                                        "uris", NULL};

/* One include name: its flag set and its text appended to echo. 0 ok. */
static int include_name(const char *s, size_t n, srv_include *inc, sbuf *echo) {
  int i = 0;
  for (; inc_names[i]; i++)
    if (strlen(inc_names[i]) == n && !memcmp(inc_names[i], s, n)) break;
  switch (i) {
  case 0: inc->emb = 1; break;
  case 1: inc->doc = 1; break;
  case 2: inc->meta = 1; break;
  case 3: inc->dist = 1; break;
  case 4: inc->uris = 1; break;
  default: return -1;
  }
  if (echo->len > 1) sbuf_putc(echo, ',');
  sbuf_putc(echo, '"');
  sbuf_puts(echo, inc_names[i]);
  sbuf_putc(echo, '"');
  return 0;
}

/* include: a list of known names, echoed back as compact JSON text. 0 ok. */
static int include(fp *x, srv_include *inc, sbuf *echo) {
  sbuf_putc(echo, '[');
  if (!eat(x, '[')) return -1;
  if (!eat(x, ']')) {
    do {
      const char *s;
      size_t n;
      if (plain_str(x, &s, &n) || include_name(s, n, inc, echo)) return -1;
    } while (eat(x, ','));
    if (!eat(x, ']')) return -1;
  }
  sbuf_putc(echo, ']');
  return echo->oom ? -1 : 0;
}

enum { K_EMB = 1, K_N = 2, K_INC = 4 };

/* One "key": value member; *seen collects keys to refuse duplicates. 0 ok. */
static int member(fp *x, query_req *qr, sbuf *echo, int *seen) {
  const char *s;
  size_t n;
  int key, rc;
  if (plain_str(x, &s, &n) || !eat(x, ':')) return -1;
  if (n == 16 && !memcmp(s, "query_embeddings", 16)) key = K_EMB;
  else if (n == 9 && !memcmp(s, "n_results", 9)) key = K_N;
  else if (n == 7 && !memcmp(s, "include", 7)) key = K_INC;
  else return -1;
  if (*seen & key) return -1;
  *seen |= key;
  if (key == K_EMB) rc = embeddings(x, qr);
  else if (key == K_N) rc = n_results(x, qr);
  else rc = include(x, &qr->inc, echo);
  return rc;
}

/* The whole body; 0 when it is of the accepted shape. */
static int parse_body(const srv_req *rq, query_req *qr, sbuf *echo) {
  fp x = {rq->body, rq->body + rq->body_len};
  int seen = 0;
  qr->k = 10;
  if (!eat(&x, '{')) return -1;
  do {
    if (member(&x, qr, echo, &seen)) return -1;
  } while (eat(&x, ','));
  if (!eat(&x, '}')) return -1;
  ws(&x);
  if (x.p != x.end || !(seen & K_EMB)) return -1;
  if (!(seen & K_INC)) { /* the default of a query */
    qr->inc.doc = qr->inc.meta = qr->inc.dist = 1;
    sbuf_puts(echo, "[\"documents\",\"metadatas\",\"distances\"]");
  }
  return echo->oom ? -1 : 0;
}

int rec_query_fast(srv_req *rq, srv_resp *rs, srv_coll *sc) {
  query_req qr;
  sbuf echo = {0};
  int done = 0;
  memset(&qr, 0, sizeof qr);
  if (parse_body(rq, &qr, &echo)) goto cleanup;
  qr.inc.echo_text = echo.p;
  qr.inc.qv = (qr.inc.emb ? QV_INCLUDE_EMBEDDINGS : 0u) | (qr.inc.doc ? QV_INCLUDE_DOCUMENTS : 0u) |
              (qr.inc.meta || qr.inc.uris ? QV_INCLUDE_METADATAS : 0u) |
              (qr.inc.dist ? QV_INCLUDE_DISTANCES : 0u);
  rec_query_run(rq, rs, sc, &qr);
  done = 1;
cleanup:
  free(qr.q);
  sbuf_free(&echo);
  return done;
}
