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
 * Up to 19 significant digits are read into a uint64 m and multiplied in double by 10^e
 * (exact for e >= 0, the nearest double to it for e < 0): three roundings at most, so the
 * relative error is < 2^-51; when y(1 - 2^-48) and y(1 + 2^-48) round to the same float, so
 * does the correctly rounded double, which lies between them. Otherwise (or out of range)
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

static inline void ws(fp *x) {
  if (x->p < x->end && (unsigned char)*x->p > ' ') return; /* the usual case: no space */
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

static const double pow10_neg_tab[23] = {1e0,   1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,
                                         1e-8,  1e-9,  1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15,
                                         1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22};

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
  /* m / 10^-e10 as a product with the double nearest 10^e10: relative error < 2^-51, well
   * inside the 2^-48 bracket below, and no division on the hot path */
  y = e10 < 0 ? (double)m * pow10_neg_tab[-e10] : (double)m * pow10_tab[e10];
  if (y < 1e-30 || y > 1e30) return -1; /* far from float's subnormals and overflow */
  f = (float)y;
  lo = y - y * 0x1p-48;
  hi = y + y * 0x1p-48;
  if ((float)lo != f || (float)hi != f) return -1;
  *out = neg ? -f : f;
  return 0;
}

static int dig(char c) { return c >= '0' && c <= '9'; }

/*
 * Nonzero bytes where v (8 bytes, little-endian load) is not an ASCII digit, exact up to
 * and including the first such byte (a carry out of a byte >= 0xFA only disturbs the bytes
 * after it), which is all the callers use.
 */
static uint64_t non_digits(uint64_t v) {
  return ((v & 0xF0F0F0F0F0F0F0F0u) | (((v + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u) >> 4)) ^
         0x3333333333333333u;
}

/* The value of 8 ASCII digits, first digit most significant (SWAR: pairs, quads, whole). */
static uint32_t eight_value(uint64_t v) {
  v -= 0x3030303030303030u;
  v = (v * 10) + (v >> 8); /* each 16-bit lane: 10 * d[2i] + d[2i+1] in its low byte */
  v = (((v & 0x000000FF000000FFu) * (100 + (1000000ull << 32))) +
       (((v >> 16) & 0x000000FF000000FFu) * (1 + (10000ull << 32)))) >> 32;
  return (uint32_t)v;
}

static const uint64_t pow10_u64[9] = {1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u,
                                      10000000u, 100000000u};

/*
 * Digits from p (up to end) into the significand: at most 19 significant digits are kept
 * (leading zeros of m not counted, each one kept in the fraction lowering e10); past that
 * dg->over is set and the rest are only skipped, for strtod to read. Returns the first byte
 * after the digits.
 *
 * The digits are taken 8 bytes at a time: the first non-digit byte of the window ends the
 * run, and the n digits before it are shifted to the top of the word behind '0' bytes, so
 * one eight_value() converts any run of 1-8 digits -- "0", "154" and a 17-digit fraction
 * all cost a few word operations instead of a loop per digit. Near the end of the body, or
 * past 19 digits, a byte loop finishes.
 */
typedef struct digits {
  uint64_t m;
  int nd, e10, over, frac;
} digits;

static inline const char *read_digits(const char *p, const char *end, digits *dg, int frac) {
  uint64_t m = dg->m;
  int nd = dg->nd, e10 = dg->e10;
  if (m == 0)
    for (; p < end && *p == '0'; p++) e10 -= frac;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  while (end - p >= 8) {
    uint64_t v, bad;
    int n;
    memcpy(&v, p, 8);
    bad = non_digits(v);
    n = bad ? __builtin_ctzll(bad) >> 3 : 8;
    if (n == 0) goto done;
    if (nd + n > 19) break; /* the byte loop sets over */
    if (n < 8) v = (v << (8 * (8 - n))) | (0x3030303030303030u >> (8 * n));
    m = m * pow10_u64[n] + eight_value(v);
    nd += n;
    e10 -= n * frac;
    p += n;
    if (n < 8) goto done;
  }
#endif
  for (; p < end && dig(*p); p++) {
    if (nd == 19) {
      dg->over = 1;
      continue;
    }
    nd++;
    m = m * 10 + (uint64_t)(*p - '0');
    e10 -= frac;
  }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
done:
#endif
  dg->m = m;
  dg->nd = nd;
  dg->e10 = e10;
  return p;
}

/*
 * One JSON number (strict grammar) as float; -1 when not a number or not convertible.
 * The body is NUL-terminated, so looking at *p when p == end is safe.
 */
static int number(fp *x, float *out) {
  const char *p, *start;
  digits dg = {0, 0, 0, 0, 0};
  int neg, ex = 0, eneg = 0, ed = 0;
  ws(x);
  p = start = x->p;
  neg = *p == '-';
  p += neg;
  if (!dig(*p) || (*p == '0' && dig(p[1]))) return -1; /* no digit, or a leading zero */
  p = read_digits(p, x->end, &dg, 0);
  if (*p == '.') {
    p++;
    if (!dig(*p)) return -1;
    dg.frac = 1;
    p = read_digits(p, x->end, &dg, 1);
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') eneg = *p++ == '-';
    for (; dig(*p); p++, ed++)
      if (ex < 10000) ex = ex * 10 + (*p - '0');
    if (!ed) return -1;
  }
  if (p > x->end) return -1;
  /* an integer literal is an int64 to Jansson, whose range error the general path reports */
  if (!dg.frac && !ed && (dg.over || dg.nd >= 19)) return -1;
  x->p = p;
  if (!dg.over && scale_exact(dg.m, dg.e10 + (eneg ? -ex : ex), neg, out) == 0) return 0;
  return strtod_token(start, p, out);
}

int srv_parse_number(const char *s, size_t n, float *out) {
  fp x = {s, s + n};
  if (number(&x, out)) return -1;
  return x.p == x.end ? 0 : -1;
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
