/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * bench_dist.c -- micro-benchmarks of the distance kernels and of the flat index.
 *
 *   1. ns per distance, per ISA, for l2sq/dot/l1 at dims 128, 784, 1536 (single-pair kernel
 *      and *_many kernel, 256 KiB of rows so they stay in L2).
 *   2. A flat scan over 60000 x 784 floats (188 MB, Fashion-MNIST's size): passes/s and GB/s
 *      of l2sq_many per ISA, one core.
 *   3. With the real data (QV_DATA_DIR, default ./.data/fashion-mnist-784-euclidean): the flat
 *      index's single search and batch search (10000 queries, k=10, QV_BENCH_THREADS threads,
 *      default 2): QPS and recall@10 against the brute-force ground truth gt.ivecs.
 * Never gates CI. Usage: bench_dist [--quick]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dist.h"
#include "index.h"

static const char *k_isas[] = {"scalar", "avx2", "avx512"};

static float *rand_floats(size_t n) {
  float *p = qv__malloc_aligned(qv__mem_default(), n * sizeof *p);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
#ifdef MADV_HUGEPAGE
  /* as index/flat/flat.c does for its vector block: 2 MiB pages for big scans */
  uintptr_t lo = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, hi = ((uintptr_t)(p + n)) & ~(uintptr_t)4095;
  if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#endif
  uint64_t s = 88172645463325252ull;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = (float)(s % 256);
  }
  return p;
}

static volatile float g_sink;

/* ns per distance of one kernel over n rows of dim, repeated for about budget seconds. */
static double time_single(qv_dist_fn f, const float *q, const float *base, size_t n, size_t dim, double budget) {
  size_t calls = 0;
  float acc = 0;
  double t0 = qv__now(), t;
  do {
    for (size_t i = 0; i < n; i++) acc += f(q, base + i * dim, dim);
    calls += n;
    t = qv__now() - t0;
  } while (t < budget);
  g_sink = acc;
  return t * 1e9 / (double)calls;
}

static double time_many(qv_dist_many_fn f, const float *q, const float *base, size_t n, size_t dim,
                        float *out, double budget) {
  size_t calls = 0;
  double t0 = qv__now(), t;
  do {
    f(q, base, n, dim, out);
    calls += n;
    t = qv__now() - t0;
  } while (t < budget);
  g_sink = out[0];
  return t * 1e9 / (double)calls;
}

static void bench_kernels(double budget) {
  static const size_t dims[] = {128, 784, 1536};
  printf("ns per distance (L2-resident, 256 KiB of rows)\n");
  printf("%-7s %5s %8s %8s %8s %10s %9s %9s\n", "isa", "dim", "l2sq", "dot", "l1", "l2sq_many", "dot_many", "l1_many");
  for (size_t d = 0; d < 3; d++) {
    size_t dim = dims[d], n = (256u << 10) / (dim * sizeof(float));
    float *base = rand_floats(n * dim), *q = rand_floats(dim), *out = malloc(n * sizeof *out);
    for (size_t i = 0; i < 3; i++) {
      const qv_kernels *k = qv__kernels_isa(k_isas[i]);
      if (!k) continue;
      printf("%-7s %5zu %8.2f %8.2f %8.2f %10.2f %9.2f %9.2f\n", k->isa, dim,
             time_single(k->l2sq, q, base, n, dim, budget), time_single(k->dot, q, base, n, dim, budget),
             time_single(k->l1, q, base, n, dim, budget), time_many(k->l2sq_many, q, base, n, dim, out, budget),
             time_many(k->dot_many, q, base, n, dim, out, budget),
             time_many(k->l1_many, q, base, n, dim, out, budget));
    }
    free(out);
    qv__free_aligned(qv__mem_default(), base);
    qv__free_aligned(qv__mem_default(), q);
  }
}

static void bench_scan(int passes) {
  size_t n = 60000, dim = 784;
  double bytes = (double)n * dim * sizeof(float);
  float *base = rand_floats(n * dim), *q = rand_floats(dim), *out = malloc(n * sizeof *out);
  printf("\nflat scan, 60000 x 784 floats (%.0f MB, THP advised), one core, l2sq_many\n", bytes / 1e6);
  printf("%-7s %10s %8s\n", "isa", "passes/s", "GB/s");
  for (size_t i = 0; i < 3; i++) {
    const qv_kernels *k = qv__kernels_isa(k_isas[i]);
    if (!k) continue;
    k->l2sq_many(q, base, n, dim, out); /* warm up (page faults) */
    double t0 = qv__now();
    for (int p = 0; p < passes; p++) k->l2sq_many(q, base, n, dim, out);
    double t = qv__now() - t0;
    printf("%-7s %10.1f %8.2f\n", k->isa, passes / t, bytes * passes / t / 1e9);
  }
  free(out);
  qv__free_aligned(qv__mem_default(), base);
  qv__free_aligned(qv__mem_default(), q);
}

/* Read a whole .fvecs/.ivecs file of fixed row width; returns rows, *dim_out the width. */
static void *read_vecs(const char *path, size_t *n_out, size_t *dim_out) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  int32_t d;
  if (fread(&d, 4, 1, f) != 1 || d <= 0) {
    fclose(f);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  size_t row = 4 + (size_t)d * 4, n = (size_t)ftell(f) / row;
  fseek(f, 0, SEEK_SET);
  char *buf = malloc(n * (size_t)d * 4), *tmp = malloc(row);
  for (size_t i = 0; i < n; i++) {
    if (fread(tmp, 1, row, f) != row) break;
    memcpy(buf + i * (size_t)d * 4, tmp + 4, (size_t)d * 4);
  }
  free(tmp);
  fclose(f);
  *n_out = n;
  *dim_out = (size_t)d;
  return buf;
}

static double recall(const qv_hit *hits, const size_t *n_hits, size_t k, const int32_t *gt, size_t gt_k, size_t nq) {
  size_t found = 0;
  for (size_t i = 0; i < nq; i++)
    for (size_t a = 0; a < n_hits[i]; a++)
      for (size_t b = 0; b < k; b++)
        if ((int32_t)hits[i * k + a].slot == gt[i * gt_k + b]) {
          found++;
          break;
        }
  return (double)found / (double)(nq * k);
}

static void bench_real(const char *dir, int n_threads, int quick) {
  char p[1024];
  size_t n, dim, nq, qdim, ng, gk;
  snprintf(p, sizeof p, "%s/base.fvecs", dir);
  float *base = read_vecs(p, &n, &dim);
  snprintf(p, sizeof p, "%s/query.fvecs", dir);
  float *qs = read_vecs(p, &nq, &qdim);
  snprintf(p, sizeof p, "%s/gt.ivecs", dir);
  int32_t *gt = read_vecs(p, &ng, &gk);
  if (!base || !qs || !gt || qdim != dim || ng != nq) {
    printf("\n(no real data in %s; set QV_DATA_DIR)\n", dir);
    goto cleanup;
  }
  qv_index_params prm = {.mem = qv__mem_default(), .metric = QV_METRIC_L2, .dim = (uint32_t)dim, .n_threads = n_threads};
  qv_index *ix = NULL;
  if (qv__index_flat.create(&prm, &ix) != QV_OK) goto cleanup;
  uint32_t *slots = malloc(n * sizeof *slots);
  for (size_t i = 0; i < n; i++) slots[i] = (uint32_t)i;
  qv__index_flat.add(ix, slots, base, n);
  free(slots);
  size_t k = 10, n_single = quick ? 50 : 300;
  if (getenv("QV_BENCH_NQ") && (size_t)atoi(getenv("QV_BENCH_NQ")) < nq) nq = (size_t)atoi(getenv("QV_BENCH_NQ"));
  qv_hit *out = malloc(nq * k * sizeof *out);
  size_t *n_out = calloc(nq, sizeof *n_out);
  printf("\nFashion-MNIST %zu x %zu, %zu queries, k=%zu, isa %s\n", n, dim, nq, k, qv__kernels()->isa);
  double t0 = qv__now();
  for (size_t i = 0; i < n_single; i++) {
    qv_search_req req = {.q = qs + i * dim, .k = k};
    qv__index_flat.search(ix, &req, out + i * k, &n_out[i]);
  }
  double t = qv__now() - t0;
  printf("flat search, 1 thread:       %8.1f QPS (%zu queries; = passes/s over %.0f MB)\n", n_single / t,
         n_single, (double)n * dim * 4 / 1e6);
  t0 = qv__now();
  qv__index_flat.search_batch(ix, qs, nq, k, 0, n_threads, out, n_out);
  t = qv__now() - t0;
  printf("flat search_batch, %d thr:    %8.1f QPS (%.2f s)  recall@10 %.4f\n", n_threads, nq / t, t,
         recall(out, n_out, k, gt, gk, nq));
  free(out);
  free(n_out);
  qv__index_flat.destroy(ix);
cleanup:
  free(base);
  free(qs);
  free(gt);
}

int main(int argc, char **argv) {
  int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  const char *dir = getenv("QV_DATA_DIR") ? getenv("QV_DATA_DIR") : ".data/fashion-mnist-784-euclidean";
  int n_threads = getenv("QV_BENCH_THREADS") ? atoi(getenv("QV_BENCH_THREADS")) : 2;
  printf("best kernels: %s\n\n", qv__kernels()->isa);
  bench_kernels(quick ? 0.02 : 0.2);
  bench_scan(quick ? 5 : 40);
  bench_real(dir, n_threads, quick);
  return 0;
}
