/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * query_fast.c -- the common query body, decoded straight from the request text.
 *
 * A k-NN query is the hot route, and Jansson spends most of its time on it building a
 * json_real (malloc + strtod) for each of the query's floats. This parser accepts exactly
 *   {"query_embeddings": [[number, ..], ..], "n_results": uint, "include": [name, ..]}
 * (any order, any JSON whitespace, n_results and include optional; "ids", "where" and
 * "where_document" allowed as null, which is what absent means) and reads the numbers
 * into the float buffer directly. Anything else -- another key, a duplicate key, a string
 * escape, base64 rows, empty or ragged rows, a number it cannot convert exactly, trailing
 * text -- returns 0 and the request takes the general Jansson path (rec_read.c), so every
 * error message and status stays the one that path gives.
 *
 * Numbers: the result must equal (float)strtod(token), what Jansson then the cast give.
 * Up to 19 significant digits are read into a uint64 m and multiplied in double by 10^e
 * (exact for e >= 0, the nearest double to it for e < 0): three roundings at most, so the
 * relative error is < 2^-51. scale_exact() takes the float of that product only where no
 * error that small can change the float's rounding; otherwise (or out of range) the token
 * goes to strtod.
 *
 * The body is NUL-terminated (http.c), which the number scanner relies on.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"
#include "rec.h"

/* 10^e for e in -22..22 at [e + 22]: exact for e >= 0, the nearest double for e < 0 */
static const double pow10_pm22[45] = {
    1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11,
    1e-10, 1e-9,  1e-8,  1e-7,  1e-6,  1e-5,  1e-4,  1e-3,  1e-2,  1e-1,  1e0,   1e1,
    1e2,   1e3,   1e4,   1e5,   1e6,   1e7,   1e8,   1e9,   1e10,  1e11,  1e12,  1e13,
    1e14,  1e15,  1e16,  1e17,  1e18,  1e19,  1e20,  1e21,  1e22};

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

/*
 * (float) of m * 10^e10 when provably equal to (float) of the correctly rounded double of
 * the value, which is m * 10^e10 -- or, where a caller dropped digits after m (m >= 10^15),
 * anywhere in [m, m + 1) * 10^e10. -1 when not sure or out of range.
 * y = m * pow10_pm22[..] is within 2^-51 of m * 10^e10 (4 units of its last place at most),
 * and dropped digits put the value up to (m + 1) / m - 1 < 10^-15 above (under 20 units).
 * (float)y drops 29 bits of y's significand; the answer is sure unless they sit within 256
 * units of the halfway point 2^28, the only place where so small a move changes the
 * rounding (a move across a float or a power of two rounds to the same float).
 */
static int scale_exact(uint64_t m, int e10, int neg, float *out) {
  double y;
  uint64_t bits;
  if (m == 0) {
    *out = neg ? -0.0f : 0.0f;
    return 0;
  }
  if (e10 < -22 || e10 > 22) return -1;
  y = (double)m * pow10_pm22[e10 + 22]; /* a product, no division on the hot path */
  if (y < 1e-30 || y > 1e30) return -1; /* far from float's subnormals and overflow */
  memcpy(&bits, &y, 8);
  if ((bits & 0x1FFFFFFFu) - (0x10000000u - 256u) < 512u) return -1;
  *out = neg ? -(float)y : (float)y;
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
static int number(jscan *x, float *out) {
  const char *p, *start;
  digits dg = {0, 0, 0, 0, 0};
  int neg, ex = 0, eneg = 0, ed = 0;
  jscan_ws(x);
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

#if defined(__SSE2__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <emmintrin.h>
#define FAST_NUM_READ SRV_FAST_NUM_READ

/* Bit i set where byte i of p[0..32) is in [lo, hi]. */
static inline uint32_t bytes_in(__m128i a, __m128i b, char lo, char hi) {
  const __m128i l = _mm_set1_epi8((char)(lo - 1)), h = _mm_set1_epi8((char)(hi + 1));
  __m128i ma = _mm_and_si128(_mm_cmpgt_epi8(a, l), _mm_cmplt_epi8(a, h));
  __m128i mb = _mm_and_si128(_mm_cmpgt_epi8(b, l), _mm_cmplt_epi8(b, h));
  return (uint32_t)_mm_movemask_epi8(ma) | ((uint32_t)_mm_movemask_epi8(mb) << 16);
}

/*
 * The usual number -- [-]digits[.digits], shorter than 32 bytes, no exponent -- with no
 * loop per character: three byte masks over 32 bytes give where the digits, the point, the
 * first significant digit and the end are. The significant digits, point removed, are
 * lined up behind '0's and converted by two eight_value(); past 16 of them the rest only
 * widen the value to [m, m + 1) units of the last digit kept, which scale_exact() allows
 * for. Returns the byte after the number, or NULL for
 * anything else (an exponent, a longer token, a grammar error, an integer of more than 16
 * digits, a doubtful rounding): number() then decides. Reads FAST_NUM_READ bytes at p.
 */
static const char *fast_num(const char *p, float *out) {
  __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
  __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
  uint32_t dig = bytes_in(a, b, '0', '9'), nz = bytes_in(a, b, '1', '9');
  uint32_t dot = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a, _mm_set1_epi8('.'))) |
                 ((uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8('.'))) << 16);
  int s = p[0] == '-', end, d, f, nsig, c, e10;
  uint32_t stop = ~(dig | dot) & (~0u << s), in;
  char t[64], u[32];
  uint64_t w0, w1, m;
  if (!stop) return NULL;
  end = __builtin_ctz(stop);
  if (end == s || p[end] == 'e' || p[end] == 'E') return NULL;
  in = ((1u << end) - 1) & (~0u << s);
  if (dot & in) {
    uint32_t dm = dot & in;
    if (dm & (dm - 1)) return NULL;
    d = __builtin_ctz(dm);
    if (d == s || d == end - 1) return NULL;
  } else {
    d = end;
    if (end - s > 16) return NULL; /* a long integer literal: Jansson's int64 rules */
  }
  if (p[s] == '0' && d > s + 1) return NULL; /* leading zero */
  if (!(nz &= in)) return scale_exact(0, 0, s, out) ? NULL : p + end;
  f = __builtin_ctz(nz); /* first significant digit */
  memcpy(t, p + f, 16);
  if (f < d && d < end) { /* digits on both sides of the point: close the gap */
    memcpy(t + (d - f), p + d + 1, 16);
    nsig = end - f - 1;
  } else {
    nsig = end - f;
  }
  c = nsig < 16 ? nsig : 16;
  memset(u, '0', 16);
  memcpy(u + 16 - c, t, 16);
  memcpy(&w0, u, 8);
  memcpy(&w1, u + 8, 8);
  m = (uint64_t)eight_value(w0) * 100000000u + eight_value(w1);
  e10 = d - f - c + (f > d);
  if (scale_exact(m, e10, s, out)) return NULL;
  return p + end;
}
#endif

int srv_parse_number(const char *s, size_t n, float *out) {
  jscan x = {s, s + n};
  if (number(&x, out)) return -1;
  return x.p == x.end ? 0 : -1;
}

/* fast_num() alone, for the tests: bytes read as a number, or -1 when it leaves the number
 * to number() (always, where it is not compiled). s needs SRV_FAST_NUM_READ readable bytes. */
int srv_fast_number(const char *s, float *out) {
#ifdef FAST_NUM_READ
  const char *e = fast_num(s, out);
  return e ? (int)(e - s) : -1;
#else
  (void)s;
  (void)out;
  return -1;
#endif
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

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/*
 * The integral values json.dumps writes for pixels and counts: 1-7 digits (no leading zero),
 * alone or followed by ".0", and then a byte that cannot continue a number. Below 2^24 the
 * float is the value itself, so no rounding question arises. NULL for anything else (fast_num
 * and number() decide). Reads up to the body's terminating NUL at most.
 */
static inline const char *small_int(const char *p, float *out) {
  uint32_t v = 0;
  int n = 0;
  if (p[0] == '0' && dig(p[1])) return NULL;
  for (; dig(p[n]); n++) {
    if (n == 7) return NULL;
    v = v * 10 + (uint32_t)(p[n] - '0');
  }
  if (!n) return NULL;
  p += n;
  if (*p == '.') {
    if (p[1] != '0' || dig(p[2])) return NULL;
    p += 2;
  }
  if (*p == '.' || *p == 'e' || *p == 'E') return NULL;
  *out = (float)v;
  return p;
}

/* The numbers of one row after its '[', through its ']', appended at (*q)[*n]. 0 ok. */
static int row(jscan *x, float **q, size_t *cap, size_t *n, size_t *d) {
  const char *p = x->p; /* the body ends with a NUL: the scans below stop there */
  for (;;) {
    const char *e = NULL;
    float *o;
    if (*n >= *cap && reserve(q, cap, *n + 1)) return -1;
    o = &(*q)[*n];
    while (is_ws(*p)) p++;
    e = small_int(p, o);
#ifdef FAST_NUM_READ
    if (!e && x->end - p >= FAST_NUM_READ) e = fast_num(p, o);
#endif
    if (!e) {
      jscan y = {p, x->end};
      if (number(&y, o)) return -1;
      e = y.p;
    }
    ++*n, ++*d;
    for (p = e; is_ws(*p); p++) {
    }
    if (*p == ']') break;
    if (*p++ != ',') return -1;
  }
  x->p = p + 1;
  return 0;
}

/* [[number, ..], ..]: rows of one common, non-zero dimension into *q (*nq rows). 0 ok. */
static int rows_into(jscan *x, float **q, size_t *nq, size_t *dim) {
  size_t cap = 0, n = 0;
  if (!jscan_eat(x, '[')) return -1;
  if (jscan_eat(x, ']')) return -1; /* no rows: the general path answers */
  do {
    size_t d = 0;
    if (*nq >= (size_t)SRV_MAX_BATCH || !jscan_eat(x, '[') || row(x, q, &cap, &n, &d)) return -1;
    if (*nq && d != *dim) return -1;
    *dim = d;
    ++*nq;
  } while (jscan_eat(x, ','));
  return jscan_eat(x, ']') ? 0 : -1;
}

static int embeddings(jscan *x, query_req *qr) { return rows_into(x, &qr->q, &qr->nq, &qr->dim); }

/* n_results: a plain non-negative integer of at most 9 digits. 0 ok. */
static int n_results(jscan *x, query_req *qr) {
  size_t k = 0;
  int nd = 0;
  const char *start;
  jscan_ws(x);
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
static int include(jscan *x, srv_include *inc, sbuf *echo) {
  sbuf_putc(echo, '[');
  if (!jscan_eat(x, '[')) return -1;
  if (!jscan_eat(x, ']')) {
    do {
      const char *s;
      size_t n;
      if (jscan_plain_str(x, &s, &n) || include_name(s, n, inc, echo)) return -1;
    } while (jscan_eat(x, ','));
    if (!jscan_eat(x, ']')) return -1;
  }
  sbuf_putc(echo, ']');
  return echo->oom ? -1 : 0;
}

enum { K_EMB = 1, K_N = 2, K_INC = 4, K_IDS = 8, K_WHERE = 16, K_WDOC = 32 };

/* The literal null: what clients that send every field put in ids, where, where_document
 * when unused (the same as absent). Any other value there takes the general path. */
static int null_value(jscan *x) {
  return jscan_word(x, "null");
}

/* One "key": value member; *seen collects keys to refuse duplicates. 0 ok. */
static int member(jscan *x, query_req *qr, sbuf *echo, int *seen) {
  const char *s;
  size_t n;
  int key, rc;
  if (jscan_plain_str(x, &s, &n) || !jscan_eat(x, ':')) return -1;
  if (n == 16 && !memcmp(s, "query_embeddings", 16)) key = K_EMB;
  else if (n == 9 && !memcmp(s, "n_results", 9)) key = K_N;
  else if (n == 7 && !memcmp(s, "include", 7)) key = K_INC;
  else if (n == 3 && !memcmp(s, "ids", 3)) key = K_IDS;
  else if (n == 5 && !memcmp(s, "where", 5)) key = K_WHERE;
  else if (n == 14 && !memcmp(s, "where_document", 14)) key = K_WDOC;
  else return -1;
  if (*seen & key) return -1;
  *seen |= key;
  if (key == K_EMB) rc = embeddings(x, qr);
  else if (key == K_N) rc = n_results(x, qr);
  else if (key == K_INC) rc = include(x, &qr->inc, echo);
  else rc = null_value(x);
  return rc;
}

/* The whole body; 0 when it is of the accepted shape. */
static int parse_body(const srv_req *rq, query_req *qr, sbuf *echo) {
  jscan x = {rq->body, rq->body + rq->body_len};
  int seen = 0;
  qr->k = 10;
  if (!jscan_eat(&x, '{')) return -1;
  do {
    if (member(&x, qr, echo, &seen)) return -1;
  } while (jscan_eat(&x, ','));
  if (!jscan_eat(&x, '}')) return -1;
  jscan_ws(&x);
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

/* ------------------------------------------------------------------ add and upsert bodies */

/*
 * The common write body of add and upsert, decoded the same way:
 *   {"ids": [string, ..], "embeddings": [[number, ..], ..], "metadatas": null | [..],
 *    "documents": null | [string | null, ..], "uris": null}
 * (any order; metadatas, documents and uris optional). ids and documents must be plain
 * strings (no escapes, ASCII), embeddings numbers (no base64 rows); the metadatas array, when
 * given, is handed to Jansson alone (it is small next to the floats) and checked and
 * serialised by rec_batch.c as the general path does. Anything else, and every error the
 * general path would report (counts that differ, an empty or too long id, a ragged row...),
 * returns 0 so that path answers with its own message.
 */
typedef struct span {
  const char *s;
  size_t n;
} span;

typedef struct write_req {
  span *ids, *docs;        /* docs: s == NULL for a null document */
  size_t n_ids, n_docs;
  float *emb;
  size_t n_emb, dim;
  const char *meta_s;      /* the metadatas array's text, or NULL */
  size_t meta_n;
} write_req;

/* [plain string, ..] (nulls too when allow_null) into a new span array. 0 ok. */
static int str_list(jscan *x, span **out, size_t *n, int allow_null) {
  size_t cap = 0;
  if (!jscan_eat(x, '[')) return -1;
  if (jscan_eat(x, ']')) return -1; /* empty: the general path answers */
  do {
    span sp = {NULL, 0};
    if (*n >= (size_t)SRV_MAX_BATCH) return -1;
    if (!(allow_null && null_value(x) == 0) && jscan_plain_str(x, &sp.s, &sp.n)) return -1;
    if (*n == cap) {
      size_t c = cap ? 2 * cap : 64;
      span *p = realloc(*out, c * sizeof *p);
      if (!p) return -1;
      *out = p;
      cap = c;
    }
    (*out)[(*n)++] = sp;
  } while (jscan_eat(x, ','));
  return jscan_eat(x, ']') ? 0 : -1;
}

/* Skip one JSON value of an array's elements (objects, strings with escapes, literals),
 * checking only nesting; Jansson checks the rest. 0 ok. */
static int skip_array(jscan *x) {
  int depth = 0, in_str = 0;
  jscan_ws(x);
  if (x->p >= x->end || *x->p != '[') return -1;
  for (; x->p < x->end; x->p++) {
    char c = *x->p;
    if (in_str) {
      if (c == '\\') x->p++;
      else if (c == '"') in_str = 0;
      continue;
    }
    if (c == '"') in_str = 1;
    else if (c == '[' || c == '{') depth++;
    else if (c == ']' || c == '}') {
      if (--depth == 0) {
        x->p++;
        return 0;
      }
    }
  }
  return -1;
}

enum { W_IDS = 1, W_EMB = 2, W_META = 4, W_DOCS = 8, W_URIS = 16 };

static int write_member(jscan *x, write_req *w, int *seen) {
  const char *s;
  size_t n;
  int key;
  if (jscan_plain_str(x, &s, &n) || !jscan_eat(x, ':')) return -1;
  if (n == 3 && !memcmp(s, "ids", 3)) key = W_IDS;
  else if (n == 10 && !memcmp(s, "embeddings", 10)) key = W_EMB;
  else if (n == 9 && !memcmp(s, "metadatas", 9)) key = W_META;
  else if (n == 9 && !memcmp(s, "documents", 9)) key = W_DOCS;
  else if (n == 4 && !memcmp(s, "uris", 4)) key = W_URIS;
  else return -1;
  if (*seen & key) return -1;
  *seen |= key;
  switch (key) {
  case W_IDS: return str_list(x, &w->ids, &w->n_ids, 0);
  case W_EMB: return rows_into(x, &w->emb, &w->n_emb, &w->dim);
  case W_DOCS:
    if (null_value(x) == 0) return 0;
    *seen |= W_DOCS << 8; /* given as a list */
    return str_list(x, &w->docs, &w->n_docs, 1);
  case W_META: {
    if (null_value(x) == 0) return 0;
    jscan_ws(x);
    const char *start = x->p;
    if (skip_array(x)) return -1;
    w->meta_s = start;
    w->meta_n = (size_t)(x->p - start);
    return 0;
  }
  default: return null_value(x);
  }
}

/* The spans as NUL-terminated strings in one block (*arena); pointers into it in *out. */
static int terminate(const span *sp, size_t n, char **arena, const char ***out) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += sp[i].n + 1;
  char *a = malloc(total ? total : 1);
  const char **o = calloc(n ? n : 1, sizeof *o);
  if (!a || !o) {
    free(a);
    free(o);
    return -1;
  }
  char *p = a;
  for (size_t i = 0; i < n; i++) {
    if (!sp[i].s) continue; /* a null document */
    memcpy(p, sp[i].s, sp[i].n);
    p[sp[i].n] = '\0';
    o[i] = p;
    p += sp[i].n + 1;
  }
  *arena = a;
  *out = o;
  return 0;
}

int rec_write_fast(srv_req *rq, srv_resp *rs, srv_coll *sc, int kind) {
  jscan x = {rq->body, rq->body + rq->body_len};
  write_req w;
  rec_batch rb;
  char *id_arena = NULL, *doc_arena = NULL;
  json_t *meta = NULL, *meta_body = NULL;
  int seen = 0, done = 0;
  memset(&w, 0, sizeof w);
  memset(&rb, 0, sizeof rb);
  if (kind != BATCH_ADD && kind != BATCH_UPSERT) return 0;
  if (!jscan_eat(&x, '{')) goto cleanup;
  do {
    if (write_member(&x, &w, &seen)) goto cleanup;
  } while (jscan_eat(&x, ','));
  if (!jscan_eat(&x, '}')) goto cleanup;
  jscan_ws(&x);
  if (x.p != x.end || !(seen & W_IDS) || !(seen & W_EMB) || w.n_emb != w.n_ids) goto cleanup;
  if ((seen & (W_DOCS << 8)) && w.n_docs != w.n_ids) goto cleanup;
  for (size_t i = 0; i < w.n_ids; i++)
    if (w.ids[i].n == 0 || w.ids[i].n > QV_MAX_ID_LEN) goto cleanup;
  if (w.meta_s) {
    if (!(meta = json_loadb(w.meta_s, w.meta_n, 0, NULL)) || json_array_size(meta) != w.n_ids) goto cleanup;
    if (!(meta_body = json_object()) || json_object_set(meta_body, "metadatas", meta)) goto cleanup;
  }
  /* the shape is the accepted one: from here this path answers */
  done = 1;
  rb.n = w.n_ids;
  rb.emb = w.emb;
  rb.dim = w.dim;
  w.emb = NULL;
  if (terminate(w.ids, w.n_ids, &id_arena, &rb.ids) ||
      (w.docs && terminate(w.docs, w.n_docs, &doc_arena, &rb.docs))) {
    srv_error(rs, 500, "out of memory");
    goto cleanup;
  }
  if (meta_body && rec_batch_metas(&rb, meta_body, kind, rs)) goto cleanup;
  if (rec_batch_dedupe(&rb, kind != BATCH_ADD, rs)) goto cleanup;
  rec_write_batch(rq, rs, sc, &rb, kind);
cleanup:
  rec_batch_free(&rb);
  free(id_arena);
  free(doc_arena);
  free(w.ids);
  free(w.docs);
  free(w.emb);
  json_decref(meta);
  json_decref(meta_body);
  return done;
}
