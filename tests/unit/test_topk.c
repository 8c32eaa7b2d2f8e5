/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_topk.c -- the bounded heap every search keeps its k best in (src/topk.h): whatever the
 * order of the offers, it must keep exactly the k smallest (distance, slot) pairs and finish
 * them sorted, ties broken by the smaller slot, like a full sort truncated to k.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "topk.h"

static int by_dist_slot(const void *a, const void *b) { return qv__hit_cmp(a, b); }

/* Offers n pairs (distances from a few values, so ties are common) with k kept; compares. */
static void check(size_t n, size_t k, unsigned seed, int distinct_values) {
  qv_hit *all = malloc(n * sizeof *all), *want = malloc(n * sizeof *want), *got = malloc(k * sizeof *got);
  qv_topk t;
  cr_assert(all && want && got);
  srand(seed);
  for (size_t i = 0; i < n; i++) {
    all[i].dist = (float)(rand() % distinct_values) * 0.5f;
    all[i].slot = (uint32_t)(rand() % 1000000);
  }
  qv__topk_init(&t, got, k);
  for (size_t i = 0; i < n; i++)
    if (all[i].dist <= qv__topk_worst(&t)) qv__topk_push(&t, all[i].dist, all[i].slot);
  size_t m = qv__topk_finish(&t);
  memcpy(want, all, n * sizeof *want);
  qsort(want, n, sizeof *want, by_dist_slot);
  cr_assert_eq(m, n < k ? n : k, "n %zu k %zu: kept %zu", n, k, m);
  for (size_t i = 0; i < m; i++) {
    cr_assert_eq(got[i].dist, want[i].dist, "n %zu k %zu seed %u: hit %zu distance", n, k, seed, i);
    cr_assert_eq(got[i].slot, want[i].slot, "n %zu k %zu seed %u: hit %zu slot", n, k, seed, i);
  }
  free(all);
  free(want);
  free(got);
}

Test(topk, keeps_the_k_smallest_sorted_with_ties_by_slot) {
  static const size_t ns[] = {0, 1, 2, 7, 10, 11, 100, 1000};
  static const size_t ks[] = {1, 2, 3, 9, 10, 11, 100, 2000};
  for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
    for (size_t b = 0; b < sizeof ks / sizeof *ks; b++)
      for (unsigned seed = 1; seed <= 5; seed++) {
        check(ns[a], ks[b], seed, 3);    /* mostly ties */
        check(ns[a], ks[b], seed, 1000); /* mostly distinct */
      }
}

Test(topk, worst_is_infinite_until_full) {
  qv_hit buf[3];
  qv_topk t;
  qv__topk_init(&t, buf, 3);
  cr_assert(isinf(qv__topk_worst(&t)));
  qv__topk_push(&t, 2.0f, 1);
  qv__topk_push(&t, 1.0f, 2);
  cr_assert(isinf(qv__topk_worst(&t)));
  qv__topk_push(&t, 3.0f, 3);
  cr_assert_eq(qv__topk_worst(&t), 3.0f);
  qv__topk_push(&t, 3.0f, 0); /* same distance, smaller slot: replaces slot 3 */
  cr_assert_eq(qv__topk_worst(&t), 3.0f);
  cr_assert_eq(qv__topk_finish(&t), 3);
  cr_assert_eq(buf[0].slot, 2);
  cr_assert_eq(buf[1].slot, 1);
  cr_assert_eq(buf[2].slot, 0);
}
