/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_hamming.c -- the popcount kernels of every kernel table this CPU can run (scalar,
 * avx2, avx512 with or without VPOPCNTDQ) against a bit-by-bit count, for every length from
 * 1 to 300 bytes and unaligned rows, single and many forms, and qv__metric_dist(hamming).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

static uint32_t naive(const uint8_t *a, const uint8_t *b, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i < n; i++)
    for (int j = 0; j < 8; j++) s += ((a[i] ^ b[i]) >> j) & 1u;
  return s;
}

Test(hamming, every_table_every_length) {
  static const char *isas[] = {"scalar", "avx2", "avx512"};
  uint8_t a[301 + 1], base[4 * 301 + 1];
  uint64_t x = 42;
  for (size_t i = 0; i < sizeof base; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    base[i] = (uint8_t)(x >> 56);
    if (i < sizeof a) a[i] = (uint8_t)(x >> 48);
  }
  int tested = 0;
  for (int t = 0; t < 3; t++) {
    const qv_kernels *k = qv__kernels_isa(isas[t]);
    if (!k) continue; /* this CPU lacks the ISA; scalar always runs */
    tested++;
    for (size_t n = 1; n <= 300; n++) {
      const uint8_t *q = a + 1; /* unaligned */
      cr_assert_eq(k->hamming(q, base + 1, n), naive(q, base + 1, n), "%s n=%zu", isas[t], n);
      float out[4];
      k->hamming_many(q, base + 1, 3, n, out);
      for (size_t r = 0; r < 3; r++)
        cr_assert_eq(out[r], (float)naive(q, base + 1 + r * n, n), "%s many n=%zu row %zu", isas[t], n, r);
    }
  }
  cr_assert_geq(tested, 1);
  /* through the metric layer: dim counts 32-bit words */
  float w1[3], w2[3];
  memcpy(w1, base, 12);
  memcpy(w2, base + 12, 12);
  cr_assert_eq(qv__metric_dist(qv__kernels(), QV_METRIC_HAMMING, w1, w2, 3),
               (float)naive((const uint8_t *)w1, (const uint8_t *)w2, 12));
}
