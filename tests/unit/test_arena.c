/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_arena.c -- unit tests of src/core/arena.c: entries read back as written (NUL-terminated,
 * lengths across the varint steps), chunks never move, freed blocks are reused by their size
 * class so churn does not grow the arena, large entries and batches get a chunk that fits,
 * and reserve() makes the following puts allocation-free.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

static char *pattern(size_t n, unsigned seed) {
  char *s = malloc(n + 1);
  for (size_t i = 0; i < n; i++) s[i] = (char)('a' + (i * 7 + seed) % 26);
  s[n] = 0;
  return s;
}

static uint64_t put(qv_arena *a, const char *s, size_t n) {
  cr_assert_eq(qv__arena_reserve(qv__mem_default(), a, qv__arena_block(n)), QV_OK);
  return qv__arena_put(a, s, n);
}

static void check(const qv_arena *a, uint64_t ref, const char *s, size_t n) {
  size_t len = 0;
  const unsigned char *p = qv__arena_get(a, ref, &len);
  cr_assert_eq(len, n);
  cr_assert_eq(memcmp(p, s, n), 0);
  cr_assert_eq(p[n], 0, "NUL-terminated");
}

Test(arena, roundtrip_and_block_sizes) {
  qv_arena a;
  qv__arena_init(&a);
  static const size_t lens[] = {0, 1, 6, 7, 8, 126, 127, 128, 500, 511, 512, 513, 1024, 5000, 16383, 16384, 70000};
  enum { L = sizeof lens / sizeof lens[0] };
  uint64_t refs[L];
  char *strs[L];
  for (size_t i = 0; i < L; i++) {
    strs[i] = pattern(lens[i], (unsigned)i);
    refs[i] = put(&a, strs[i], lens[i]);
    cr_assert_neq(refs[i], 0);
    uint64_t b = qv__arena_block(lens[i]);
    cr_assert_eq(b % 8, 0);
    cr_assert_geq(b, lens[i] + 2, "length prefix and NUL fit");
  }
  /* a 6-byte id takes one 8-byte granule */
  cr_assert_eq(qv__arena_block(6), 8);
  cr_assert_eq(qv__arena_block(7), 16);
  for (size_t i = 0; i < L; i++) check(&a, refs[i], strs[i], lens[i]);
  cr_assert_geq(qv__arena_footprint(&a), a.live);
  for (size_t i = 0; i < L; i++) free(strs[i]);
  qv__arena_free(qv__mem_default(), &a);
}

Test(arena, chunks_never_move) {
  qv_arena a;
  qv__arena_init(&a);
  enum { N = 200000 };
  uint64_t *refs = malloc(N * sizeof *refs);
  const unsigned char *first = NULL;
  char id[32];
  for (int i = 0; i < N; i++) {
    int n = snprintf(id, sizeof id, "%d", i);
    refs[i] = put(&a, id, (size_t)n);
    if (i == 0) first = qv__arena_get(&a, refs[0], NULL);
  }
  cr_assert_eq(qv__arena_get(&a, refs[0], NULL), first, "the first entry did not move");
  cr_assert_gt(a.n_chunks, 2);
  for (int i = 0; i < N; i += 997) {
    int n = snprintf(id, sizeof id, "%d", i);
    check(&a, refs[i], id, (size_t)n);
  }
  /* ~8 bytes an id: the arena is far below a heap block (32 B) per id */
  cr_assert_lt(qv__arena_footprint(&a), (uint64_t)N * 12);
  free(refs);
  qv__arena_free(qv__mem_default(), &a);
}

Test(arena, churn_reuses_blocks) {
  qv_arena a;
  qv__arena_init(&a);
  enum { N = 5000 };
  uint64_t refs[N];
  char buf[600];
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < N; i++) {
      size_t n = (size_t)((i * 37) % 550);
      memset(buf, 'a' + round % 26, n);
      refs[i] = put(&a, buf, n);
    }
    if (round == 0) cr_assert_gt(a.live, 0);
    for (int i = 0; i < N; i++) {
      size_t n = (size_t)((i * 37) % 550);
      memset(buf, 'a' + round % 26, n);
      check(&a, refs[i], buf, n);
      qv__arena_del(&a, refs[i]);
    }
    cr_assert_eq(a.live, 0);
  }
  uint64_t after = qv__arena_footprint(&a);
  /* 20 rounds hold what one round needs: freed blocks came back through their class */
  uint64_t one = 0;
  for (int i = 0; i < N; i++) one += qv__arena_block((size_t)((i * 37) % 550));
  cr_assert_lt(after, one + one / 2 + (1 << 20), "footprint %llu for %llu live at the peak", (unsigned long long)after,
               (unsigned long long)one);
  qv__arena_del(&a, 0); /* ref 0: nothing */
  qv__arena_free(qv__mem_default(), &a);
}

Test(arena, batch_reserve_then_puts) {
  qv_arena a;
  qv__arena_init(&a);
  /* reserve a whole batch at once, bigger than a chunk, then put it without any allocation */
  enum { N = 3000 };
  uint64_t need = 0;
  for (int i = 0; i < N; i++) need += qv__arena_block((size_t)(i % 700));
  cr_assert_eq(qv__arena_reserve(qv__mem_default(), &a, need), QV_OK);
  uint64_t fp = qv__arena_footprint(&a);
  char *s = pattern(700, 3);
  uint64_t refs[N];
  for (int i = 0; i < N; i++) refs[i] = qv__arena_put(&a, s, (size_t)(i % 700));
  cr_assert_eq(qv__arena_footprint(&a), fp, "no chunk was added by put");
  for (int i = 0; i < N; i++) check(&a, refs[i], s, (size_t)(i % 700));
  /* a huge single entry gets a chunk of its own size */
  size_t big = (size_t)3 << 20;
  char *h = pattern(big, 9);
  uint64_t r = put(&a, h, big);
  check(&a, r, h, big);
  free(h);
  free(s);
  qv__arena_free(qv__mem_default(), &a);
}
