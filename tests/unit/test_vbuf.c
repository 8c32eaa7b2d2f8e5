/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_vbuf.c -- arrays grown in place (util/vbuf.h), and the flat index built on them: rows
 * never move while the reservation lasts (after create and after a checkpoint load), and the
 * move-by-copy path past a (test-capped) reservation keeps every row.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index.h"
#include "vbuf.h"

Test(vbuf, reserve_commit_grow_in_place) {
  qv_vbuf b;
  cr_assert_eq(qv__vbuf_reserve(&b, 4096, (size_t)1 << 30), QV_OK);
  cr_assert_not_null(b.base);
  cr_assert_geq(b.reserved, (size_t)1 << 30);
  cr_assert_eq(b.committed, 0);
  unsigned char *p = b.base;
  cr_assert_eq(qv__vbuf_commit(&b, 10000), QV_OK);
  qv__vbuf_note(&b, 10000);
  cr_assert_geq(b.committed, 10000);
  for (size_t i = 0; i < 10000; i++) cr_assert_eq(p[i], 0, "fresh pages read as zero");
  memset(p, 0xab, 10000);
  cr_assert_eq(qv__vbuf_commit(&b, (size_t)8 << 20), QV_OK);
  qv__vbuf_note(&b, (size_t)8 << 20);
  cr_assert_eq(b.base, (void *)p, "growth never moves the array");
  cr_assert_eq(p[9999], 0xab);
  cr_assert_eq(p[(8 << 20) - 1], 0);
  p[(8 << 20) - 1] = 1;
  cr_assert_eq(qv__vbuf_commit(&b, b.reserved + 1), QV_NOMEM, "past the reservation");
  cr_assert(qv__vbuf_fits(&b, b.reserved));
  cr_assert(!qv__vbuf_fits(&b, b.reserved + 1));
  qv__vbuf_free(&b);
  cr_assert_null(b.base);
  qv__vbuf_free(&b); /* twice is harmless */
}

Test(vbuf, plan) {
  /* at least twice what is needed, at least 64 elements, at most max_elems unless need asks more */
  cr_assert_geq(qv__vbuf_plan(1000, 512, (size_t)1 << 32), 2000 * 512);
  cr_assert_eq(qv__vbuf_plan(0, 4, 10), 64 * 4);
  cr_assert_eq(qv__vbuf_plan(100, 4, 10), 200 * 4);
  cr_assert_eq(qv__vbuf_plan(5, 0, 10), 0);
}

static qv_index *make(uint32_t dim) {
  qv_index_params p = {.mem = qv__mem_default(), .metric = QV_METRIC_L2, .dim = dim, .n_threads = 1};
  qv_index *ix = NULL;
  cr_assert_eq(qv__index_flat.create(&p, &ix), QV_OK);
  return ix;
}

static float val(uint32_t slot, uint32_t j) { return (float)(slot % 1000) + (float)j / 64.0f; }

/* Add slots [from, to) in chunks of `chunk`, row s = val(s, j). */
static void add_range(qv_index *ix, uint32_t dim, uint32_t from, uint32_t to, uint32_t chunk) {
  float *v = malloc((size_t)chunk * dim * sizeof *v);
  uint32_t *slots = malloc(chunk * sizeof *slots);
  for (uint32_t s0 = from; s0 < to; s0 += chunk) {
    uint32_t n = to - s0 < chunk ? to - s0 : chunk;
    for (uint32_t i = 0; i < n; i++) {
      slots[i] = s0 + i;
      for (uint32_t j = 0; j < dim; j++) v[(size_t)i * dim + j] = val(s0 + i, j);
    }
    cr_assert_eq(qv__index_flat.add(ix, slots, v, n), QV_OK);
  }
  free(v);
  free(slots);
}

static void check_rows(const qv_index *ix, uint32_t dim, uint32_t n) {
  for (uint32_t s = 0; s < n; s += 97) {
    const float *r = qv__index_flat.vector(ix, s);
    cr_assert_not_null(r, "slot %u", s);
    for (uint32_t j = 0; j < dim; j++) cr_assert_eq(r[j], val(s, j), "slot %u dim %u", s, j);
  }
  float q[8];
  for (uint32_t j = 0; j < dim; j++) q[j] = val(n - 1, j);
  qv_hit h[1];
  size_t nh = 0;
  qv_search_req req = {.q = q, .k = 1};
  cr_assert_eq(qv__index_flat.search(ix, &req, h, &nh), QV_OK);
  cr_assert_eq(nh, 1);
  cr_assert_float_eq(h[0].dist, 0.0f, 0.0f);
}

Test(vbuf, flat_grows_in_place) {
  const uint32_t dim = 8, n = 300000;
  qv_index *ix = make(dim);
  add_range(ix, dim, 0, 1, 1);
  const float *first = qv__index_flat.vector(ix, 0);
  add_range(ix, dim, 1, n, 5000);
  cr_assert_eq(qv__index_flat.vector(ix, 0), first, "300k rows later slot 0 has not moved");
  check_rows(ix, dim, n);
  qv__index_flat.destroy(ix);
}

Test(vbuf, flat_loaded_grows_in_place) {
  char dir[] = "/tmp/qv_vbuf_XXXXXX", path[64];
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/f.idx", dir);
  const uint32_t dim = 8;
  qv_index *a = make(dim), *b = NULL;
  add_range(a, dim, 0, 20000, 4096);
  cr_assert_eq(qv__index_flat.save(a, path, 5), QV_OK);
  qv__index_flat.destroy(a);
  qv_index_params p = {.mem = qv__mem_default(), .metric = QV_METRIC_L2, .dim = dim, .n_threads = 1};
  uint64_t seq = 0;
  cr_assert_eq(qv__index_flat.load(&p, path, &b, &seq), QV_OK);
  cr_assert_eq(seq, 5);
  const float *first = qv__index_flat.vector(b, 0);
  check_rows(b, dim, 20000);
  add_range(b, dim, 20000, 200000, 7000);
  cr_assert_eq(qv__index_flat.vector(b, 0), first, "the loaded array grew in place");
  check_rows(b, dim, 200000);
  qv__index_flat.destroy(b);
  unlink(path);
  rmdir(dir);
}

Test(vbuf, flat_moves_past_its_reservation) {
  const uint32_t dim = 8, n = 50000;
  qv__vbuf_test_cap = 64 * 1024; /* 2048 rows of 32 bytes: every doubling past it must move */
  qv_index *ix = make(dim);
  add_range(ix, dim, 0, 1, 1);
  const float *first = qv__index_flat.vector(ix, 0);
  add_range(ix, dim, 1, n, 3000);
  cr_assert_neq(qv__index_flat.vector(ix, 0), first, "the capped reservation forced a move");
  check_rows(ix, dim, n);
  qv__vbuf_test_cap = 0;
  qv__index_flat.destroy(ix);
}
