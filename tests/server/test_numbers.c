/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_numbers.c -- white-box tests of the server's hand-written number code, against libc:
 *   srv_parse_number (query_fast.c): every JSON number gives (float)strtod bit for bit, every
 *     non-number is refused;
 *   srv_fast_number (query_fast.c, SSE2 builds): what it takes it takes whole and gives
 *     (float)strtod bit for bit; it takes the usual shapes, and leaves the rest to the above;
 *   srv_fmt_float (fltfmt.c): the text reads back to the same float and is the "%.{p}g" text
 *     for the fewest p in 6..9 that does (what the printf fallback in sbuf.c writes).
 * Random cases come from a fixed-seed generator, so a failure names a reproducible token.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static uint32_t bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* The token must parse, to exactly (float)strtod. */
static void want_exact(const char *tok) {
  float got = 12345.0f, want = (float)strtod(tok, NULL);
  int rc = srv_parse_number(tok, strlen(tok), &got);
  cr_assert_eq(rc, 0, "'%s' refused", tok);
  cr_assert_eq(bits(got), bits(want), "'%s': got %.9g (0x%08x), strtod gives %.9g (0x%08x)", tok,
               (double)got, bits(got), (double)want, bits(want));
}

static void want_refused(const char *tok) {
  float got;
  cr_assert_eq(srv_parse_number(tok, strlen(tok), &got), -1, "'%s' accepted", tok);
}

Test(parse_number, fixed_cases) {
  const char *ok[] = {"0", "-0", "0.0", "-0.0", "1", "-1", "7E+2", "7e-2", "2.5e-3",
                      "0.1", "0.30000000000000004", "3.4028234663852886e38", "1.17549435e-38",
                      "1e-40", "1e-45", "1e-46", "9.999999e-1", "12345678", "123456789",
                      "123456789012345678", "12345678901234567890.0", "0.00000000123456789012",
                      "100000000.00000001", "0.1000000000000000055511151231257827",
                      "-0.43787492710378561", "16777217", "16777216.5", "33554433",
                      "1.00000005960464477539", "1.0000000596046447753906250001",
                      "255.0", "0e5", "0.0e-999", "1e-999", NULL};
  const char *bad[] = {"", "-", "+1", "01", "-01", "1.", ".5", "1e", "1e+", "1.e5", "0x10",
                       "inf", "nan", "1e39", "-3.5e38", "1..2", "1-", "1 ", "\"1\"",
                       "99999999999999999999999999999999999999999", "1234567890123456789",
                       "12345678901234567890", "-9223372036854775809", NULL};
  for (int i = 0; ok[i]; i++) want_exact(ok[i]);
  for (int i = 0; bad[i]; i++) want_refused(bad[i]);
}

/* Floats as clients print them: %.9g / %.17g of random floats, Python-like repr of doubles. */
Test(parse_number, random_printed_floats) {
  char tok[64];
  for (int i = 0; i < 200000; i++) {
    uint64_t r = next();
    double v;
    if (i % 3 == 0) { /* any finite float */
      uint32_t u = (uint32_t)r;
      float f;
      memcpy(&f, &u, 4);
      if (!isfinite(f)) continue;
      v = f;
    } else { /* the usual embedding range */
      v = ((double)(r >> 11) * 0x1p-53 - 0.5) * pow(10.0, (double)((int)(r & 7) - 3));
    }
    snprintf(tok, sizeof tok, i % 2 ? "%.17g" : "%.9g", v);
    want_exact(tok);
  }
}

/*
 * A random JSON number in tok: [-], up to max_int - 1 integer digits (none: "0"), a fraction
 * of up to max_frac - 1 digits starting with up to max_zeros - 1 zeros, an exponent when
 * with_exp and a coin says so. Returns the number of integer digits.
 */
static int digit_string(char tok[64], int max_int, int max_frac, int max_zeros, int with_exp) {
  uint64_t r = next();
  int n_int = (int)(r % (uint64_t)max_int), n_frac = (int)((r >> 8) % (uint64_t)max_frac), o = 0;
  int zeros = (int)((r >> 16) % (uint64_t)max_zeros);
  if (r & (1u << 20)) tok[o++] = '-';
  if (n_int == 0) tok[o++] = '0';
  for (int k = 0; k < n_int; k++) {
    uint64_t d = next() % 10;
    tok[o++] = (char)('0' + (k == 0 && d == 0 ? 1 : d));
  }
  if (n_frac) {
    tok[o++] = '.';
    for (int k = 0; k < n_frac; k++) tok[o++] = (char)('0' + (k < zeros ? 0 : (int)(next() % 10)));
  }
  if (with_exp && (r & (1u << 21))) o += snprintf(tok + o, 64 - (size_t)o, "e%d", (int)(next() % 60) - 30);
  tok[o] = '\0';
  return n_int;
}

/* Digit strings with the SWAR reader's edges: 7, 8, 9, 16, 19, 20 digits, zero runs. */
Test(parse_number, random_digit_strings) {
  char tok[64];
  for (int i = 0; i < 200000; i++) {
    int n_int = digit_string(tok, 12, 24, 10, 1);
    if (!strpbrk(tok, ".e") && n_int >= 19) want_refused(tok); /* Jansson's int64 decides */
    else if (isfinite((float)strtod(tok, NULL))) want_exact(tok);
    else want_refused(tok); /* beyond float's range */
  }
}

/*
 * The fast reader over tok followed by sep and padding (it reads SRV_FAST_NUM_READ bytes).
 * 1 when it took tok whole with (float)strtod's value, 0 when it declined; a wrong value or
 * a wrong length fails the test.
 */
static int fast_takes(const char *tok, const char *sep) {
  char buf[128];
  float got = 12345.0f, want = (float)strtod(tok, NULL);
  int n;
  memset(buf, ' ', sizeof buf);
  snprintf(buf, sizeof buf - SRV_FAST_NUM_READ, "%s%s", tok, sep);
  buf[strlen(buf)] = ' '; /* no NUL right after the separator: the reader must not need it */
  n = srv_fast_number(buf, &got);
  if (n < 0) return 0;
  cr_assert_eq((size_t)n, strlen(tok), "'%s%s': took %d bytes", tok, sep, n);
  cr_assert_eq(bits(got), bits(want), "'%s': got %.9g (0x%08x), strtod gives %.9g (0x%08x)", tok,
               (double)got, bits(got), (double)want, bits(want));
  return 1;
}

Test(fast_number, fixed_cases) {
#if !(defined(__SSE2__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
  cr_skip_test("the fast reader is compiled for little-endian SSE2 only");
#endif
  const char *taken[] = {"0", "-0", "0.0", "-0.0", "1", "-1", "0.1", "0.30000000000000004",
                         "154", "255.0", "12345678", "1234567890123456", "-0.43787492710378561",
                         "16777216.5", "0.00000000123456789012", "100000000.00000001",
                         "3.1415926535897931", "33554433",
                         "0.1000000000000000055511", "-123456.75", "9.999999", NULL};
  const char *declined[] = {"-", "+1", "01", "-01", "1.", ".5", "1.e5", "1e5", "7E+2",
                            "2.5e-3", "1..2", "1.2.3", "--1", "12345678901234567",
                            "0.1000000000000000055511151231257827", "0.0000000000000000000000000001",
                            /* halfway between two floats, or too near it to decide here */
                            "16777217", "1.00000005960464477539", NULL};
  for (int i = 0; taken[i]; i++) {
    cr_assert(fast_takes(taken[i], ","), "'%s' declined", taken[i]);
    cr_assert(fast_takes(taken[i], "]"), "'%s]' declined", taken[i]);
  }
  for (int i = 0; declined[i]; i++) cr_assert(!fast_takes(declined[i], ","), "'%s' taken", declined[i]);
  /* what follows a number is the caller's business: the reader stops before it */
  cr_assert(fast_takes("1.5", "x"));
  cr_assert(fast_takes("2", " , 3"));
}

/* Printed floats: every one it takes is exact, and it takes nearly all without an exponent. */
Test(fast_number, random_printed_floats) {
  char tok[64];
  int plain = 0, taken = 0;
  for (int i = 0; i < 300000; i++) {
    uint64_t r = next();
    double v = ((double)(r >> 11) * 0x1p-53 - 0.5) * pow(10.0, (double)((int)(r & 7) - 3));
    if (i % 5 == 0) { /* any finite float */
      uint32_t u = (uint32_t)r;
      float f;
      memcpy(&f, &u, 4);
      if (!isfinite(f)) continue;
      v = f;
    }
    snprintf(tok, sizeof tok, i % 3 == 0 ? "%.9g" : i % 3 == 1 ? "%.17g" : "%.8f", v);
    int t = fast_takes(tok, i % 2 ? "," : "]");
    /* plain: a fraction, no exponent, in range (integers of 17+ digits are declined) */
    if (strchr(tok, '.') && !strpbrk(tok, "eE") && strlen(tok) < 32 && fabs(v) > 1e-20 && fabs(v) < 1e20)
      plain++, taken += t;
  }
#if defined(__SSE2__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  cr_assert_gt(plain, 100000);
  cr_assert_geq(taken, plain - plain / 1000, "took %d of %d plain numbers", taken, plain);
#endif
}

/* Digit strings around its limits: 16 significant digits, 31 bytes, runs of zeros. */
Test(fast_number, random_digit_strings) {
  char tok[64];
  for (int i = 0; i < 300000; i++) {
    digit_string(tok, 20, 30, 24, 0);
    fast_takes(tok, ",");
  }
}

/* The text of srv_fmt_float is what the printf loop in sbuf_json_float writes. */
static void check_fmt(float f) {
  char got[32], want[40];
  int n = srv_fmt_float(got, f), p;
  if (n < 0) return; /* undecided: the caller takes the printf route */
  cr_assert_eq((size_t)n, strlen(got));
  for (p = 6; p < 9; p++) {
    snprintf(want, sizeof want, "%.*g", p, (double)f);
    if (strtof(want, NULL) == f) break;
  }
  if (p == 9) snprintf(want, sizeof want, "%.9g", (double)f);
  cr_assert_str_eq(got, want, "float 0x%08x", bits(f));
  cr_assert_eq(bits(strtof(got, NULL)), bits(f), "'%s' does not read back", got);
}

Test(fmt_float, random_floats) {
  int decided = 0;
  for (int i = 0; i < 300000; i++) {
    uint64_t r = next();
    float f;
    char tmp[32];
    if (i & 1) {
      uint32_t u = (uint32_t)r;
      memcpy(&f, &u, 4);
      if (!isfinite(f)) continue;
    } else {
      f = (float)(((double)(r >> 11) * 0x1p-53) * 8.0); /* distances: 0..8 */
    }
    check_fmt(f);
    decided += srv_fmt_float(tmp, f) >= 0;
  }
  cr_assert_gt(decided, 150000, "the fast formatter decided only %d of 300000", decided);
}

Test(fmt_float, fixed_cases) {
  const float fs[] = {1.0f, 0.1f, 100.0f, 1e6f, 1e7f, 123456.7f, 0.0001f, 0.00001f, 9.999999f,
                      3.4028235e38f, 1.17549435e-38f, -2.5f, 16777216.0f, 0.3f, 2.0f / 3.0f};
  for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) check_fmt(fs[i]);
}
