/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fltfmt.c -- "%.{p}g" of a float32 without printf, for the common magnitudes.
 *
 * sbuf_json_float() writes the fewest significant digits p (6..9) whose "%.{p}g" text reads
 * back to the same float; with snprintf + strtof per try that is most of a query response's
 * formatting time. srv_fmt_float() gives the very same text: the p-digit significand N is
 * the exact value rounded half-to-even (what glibc's printf does), computed with integers
 * when f * 10^k is a small enough rational (|k| <= 17); the read-back test computes
 * N * 10^q in double and accepts only when a +-2^-48 bracket around it rounds to f as a
 * whole, so the correctly rounded strtof result must be f too. Whatever it cannot decide
 * exactly returns -1 and the caller takes the printf route.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "srv.h"

static const uint64_t pow5_tab[18] = {1ull, 5ull, 25ull, 125ull, 625ull, 3125ull, 15625ull,
                                      78125ull, 390625ull, 1953125ull, 9765625ull,
                                      48828125ull, 244140625ull, 1220703125ull, 6103515625ull,
                                      30517578125ull, 152587890625ull, 762939453125ull};

static const double pow10_d[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* num / den rounded half-to-even (den < 2^63). */
static uint64_t div_round(uint64_t num, uint64_t den) {
  uint64_t q = num / den, r = num % den;
  if (2 * r > den || (2 * r == den && (q & 1))) q++;
  return q;
}

/* s = m * 2^e * 10^k as num/den with both below 2^63; -1 if it does not fit. */
static int scaled(uint32_t m, int e, int k, uint64_t *num, uint64_t *den) {
  uint64_t a = m, d = 1;
  if (k > 17 || k < -17) return -1;
  if (k >= 0) a *= pow5_tab[k];
  else d = pow5_tab[-k];
  e += k; /* the 2^k of 10^k */
  if (e >= 0) {
    if (e > 62 || a > (UINT64_MAX >> 1) >> e) return -1;
    a <<= e;
  } else {
    if (-e > 62 || d > (UINT64_MAX >> 1) >> -e) return -1;
    d <<= -e;
  }
  *num = a;
  *den = d;
  return 0;
}

/* The p-digit significand of |f| = m 2^e and its decimal exponent, *x_io on entry a guess
 * within one of it (corrected here). 0 ok. */
static int digits_of(uint32_t m, int e, int p, uint64_t *n_out, int *x_io) {
  int x = *x_io;
  for (int tries = 0; tries < 3; tries++) {
    uint64_t num, den, lo = (uint64_t)pow10_d[p - 1], hi = (uint64_t)pow10_d[p], n;
    if (scaled(m, e, p - 1 - x, &num, &den)) return -1;
    if (num / den < lo) { /* log10 overestimated the exponent */
      x--;
      continue;
    }
    if (num / den >= hi) {
      x++;
      continue;
    }
    n = div_round(num, den);
    if (n == hi) { /* rounding carried into a new digit, as %e does */
      n = lo;
      x++;
    }
    *n_out = n;
    *x_io = x;
    return 0;
  }
  return -1;
}

/* Whether the decimal n * 10^q reads back as f (n < 10^9): 1 yes, 0 no, -1 undecided. */
static int reads_back(uint64_t n, int q, float f) {
  double y, lo, hi;
  if (q < -22 || q > 22) return -1;
  y = q < 0 ? (double)n / pow10_d[-q] : (double)n * pow10_d[q];
  lo = y - y * 0x1p-48;
  hi = y + y * 0x1p-48;
  if ((float)lo != (float)hi) return -1;
  return (float)lo == f;
}

/* "%.{p}g" text of the significand n (p digits) with exponent x into out; its length. */
static size_t g_text(char *out, int neg, uint64_t n, int p, int x) {
  char dig[10];
  int nd = p, o = 0;
  for (int i = p - 1; i >= 0; i--, n /= 10) dig[i] = (char)('0' + n % 10);
  while (nd > 1 && dig[nd - 1] == '0') nd--; /* %g drops trailing zeros */
  if (neg) out[o++] = '-';
  if (x < -4 || x >= p) {
    out[o++] = dig[0];
    if (nd > 1) out[o++] = '.';
    for (int i = 1; i < nd; i++) out[o++] = dig[i];
    out[o++] = 'e';
    out[o++] = x < 0 ? '-' : '+';
    if (x < 0) x = -x;
    if (x >= 100) out[o++] = (char)('0' + x / 100);
    out[o++] = (char)('0' + x / 10 % 10);
    out[o++] = (char)('0' + x % 10);
  } else if (x >= 0) {
    for (int i = 0; i <= x; i++) out[o++] = dig[i];
    if (nd > x + 1) out[o++] = '.';
    for (int i = x + 1; i < nd; i++) out[o++] = dig[i];
  } else {
    out[o++] = '0';
    out[o++] = '.';
    for (int i = 0; i < -x - 1; i++) out[o++] = '0';
    for (int i = 0; i < nd; i++) out[o++] = dig[i];
  }
  out[o] = '\0';
  return (size_t)o;
}

int srv_fmt_float(char out[32], float f) {
  int e, x;
  uint32_t m;
  uint64_t n;
  float a = fabsf(f);
  if (!isfinite(f) || a < 1e-30f || a > 1e30f) return -1;
  m = (uint32_t)ldexpf(frexpf(a, &e), 24); /* a = m * 2^(e - 24), m exact */
  e -= 24;
  x = (int)floor(log10((double)a)); /* once: every p shares it, up to a carry */
  for (int p = 6; p <= 9; p++) {
    int ok, xp = x;
    if (digits_of(m, e, p, &n, &xp)) return -1;
    ok = p == 9 ? 1 : reads_back(n, xp - p + 1, a);
    if (ok < 0) return -1;
    if (ok) return (int)g_text(out, f < 0, n, p, xp);
  }
  return -1;
}
