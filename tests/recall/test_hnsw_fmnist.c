/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_hnsw_fmnist.c -- HNSW recall on real data: the first 20000 Fashion-MNIST base rows,
 * 500 queries, ground truth by brute force in the test. M = 16, ef_construction = 200,
 * 2 build threads. Asserts recall@10 >= 0.95 at ef = 32 and >= 0.99 at ef = 128, in the
 * default (sq8 traversal + exact re-rank) mode and in float mode. Also a 10%-selective
 * predicate evaluated during the search (slot % 10 == 0) at ef = 64: k results, all
 * qualifying, recall >= 0.95 against the filtered brute force.
 * Skipped with a message when the data has not been materialised (shared/data/prepare).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "dist.h"
#include "fvecs.h"
#include "index.h"

#define NB 20000
#define NQ 500
#define K 10

static float *base, *queries;
static uint32_t dim;
static uint32_t gt[NQ][K];

static void load(void) {
  char p1[4096], p2[4096];
  const char *bp = fmnist_path("base.fvecs", p1, sizeof p1), *qp = fmnist_path("query.fvecs", p2, sizeof p2);
  if (!bp || !qp)
    cr_assert_fail("Fashion-MNIST not materialised under $QV_SOURCE_DIR/.data "
                 "(run /usr/bin/python3 shared/data/prepare $QV_SOURCE_DIR/.data/fashion-mnist-784-euclidean)");
  size_t nb, nq;
  uint32_t d2;
  base = vecs_read(bp, NB, &dim, &nb);
  queries = vecs_read(qp, NQ, &d2, &nq);
  cr_assert(base && queries && nb == NB && nq == NQ && d2 == dim);
  const qv_kernels *kern = qv__kernels();
  qv_hit buf[K];
  for (size_t q = 0; q < NQ; q++) {
    qv_topk t;
    qv__topk_init(&t, buf, K);
    for (uint32_t i = 0; i < NB; i++) qv__topk_push(&t, kern->l2sq(queries + q * dim, base + (size_t)i * dim, dim), i);
    qv__topk_finish(&t);
    for (size_t j = 0; j < K; j++) gt[q][j] = buf[j].slot;
  }
}

static void unload(void) {
  free(base);
  free(queries);
}

static const char *g_quant = "sq8";

static qv_index *build(void) {
  char params[128];
  snprintf(params, sizeof params, "{\"M\":16,\"ef_construction\":200,\"ef_search\":64,\"quantizer\":\"%s\"}",
           g_quant);
  qv_index_params p = {qv__mem_default(), QV_METRIC_L2, dim, params, 2, NULL};
  qv_index *ix = NULL;
  cr_assert_eq(qv__index_hnsw.create(&p, &ix), QV_OK);
  uint32_t *slots = malloc(NB * sizeof *slots);
  for (uint32_t i = 0; i < NB; i++) slots[i] = i;
  double t0 = qv__now();
  cr_assert_eq(qv__index_hnsw.add(ix, slots, base, NB), QV_OK);
  cr_log_info("build %d x %u: %.2f s", NB, dim, qv__now() - t0);
  free(slots);
  return ix;
}

static double recall_at(qv_index *ix, uint32_t ef) {
  size_t hits = 0;
  double t0 = qv__now();
  for (size_t q = 0; q < NQ; q++) {
    qv_hit out[K];
    size_t n = 0;
    qv_search_req req = {queries + q * dim, K, ef, NULL, NULL, NULL};
    cr_assert_eq(qv__index_hnsw.search(ix, &req, out, &n), QV_OK);
    cr_assert_eq(n, K);
    for (size_t a = 0; a < n; a++)
      for (size_t b = 0; b < K; b++)
        if (out[a].slot == gt[q][b]) {
          hits++;
          break;
        }
  }
  double r = (double)hits / (NQ * K);
  cr_log_info("ef=%u recall@10=%.4f (%.0f QPS)", ef, r, NQ / (qv__now() - t0));
  return r;
}

static void run(const char *quantizer) {
  g_quant = quantizer;
  qv_index *ix = build();
  double r32 = recall_at(ix, 32), r128 = recall_at(ix, 128);
  cr_expect(r32 >= 0.95, "recall@10 at ef=32 is %.4f, want >= 0.95", r32);
  cr_expect(r128 >= 0.99, "recall@10 at ef=128 is %.4f, want >= 0.99", r128);
  qv__index_hnsw.destroy(ix);
}

TestSuite(hnsw_fmnist, .init = load, .fini = unload, .timeout = 120);

Test(hnsw_fmnist, recall_sq8) { run("sq8"); }
Test(hnsw_fmnist, recall_float) { run("none"); }
Test(hnsw_fmnist, recall_sq4) { run("sq4"); }
Test(hnsw_fmnist, recall_auto) { run("auto"); } /* 8-bit codes */

static int every_tenth(void *ctx, uint32_t s) {
  (void)ctx;
  return s % 10 == 0;
}

Test(hnsw_fmnist, filtered_10pct) {
  g_quant = "sq8";
  qv_index *ix = build();
  const qv_kernels *kern = qv__kernels();
  size_t hits = 0;
  for (size_t q = 0; q < NQ; q++) {
    qv_hit want[K], out[K];
    qv_topk t;
    qv__topk_init(&t, want, K);
    for (uint32_t i = 0; i < NB; i += 10) qv__topk_push(&t, kern->l2sq(queries + q * dim, base + (size_t)i * dim, dim), i);
    qv__topk_finish(&t);
    size_t n = 0;
    qv_search_req req = {queries + q * dim, K, 64, every_tenth, NULL, NULL};
    cr_assert_eq(qv__index_hnsw.search(ix, &req, out, &n), QV_OK);
    cr_assert_eq(n, K);
    for (size_t a = 0; a < n; a++) {
      cr_assert_eq(out[a].slot % 10, 0u);
      for (size_t b = 0; b < K; b++)
        if (out[a].slot == want[b].slot) {
          hits++;
          break;
        }
    }
  }
  double r = (double)hits / (NQ * K);
  cr_log_info("10%% filter, ef=64: recall@10=%.4f", r);
  cr_expect(r >= 0.95, "filtered recall %.4f", r);
  qv__index_hnsw.destroy(ix);
}
