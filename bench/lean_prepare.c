/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/* bench/lean_prepare.c -- callgrind of hnsw_sq8_prepare (bench/RESULTS.md, "Lossless codes"). Build:
 * gcc -O2 -std=gnu11 -Isrc/quant -Isrc/util -Isrc/store -Isrc/kernels -Iinclude -Ibuild/include -Isrc/index -Isrc/core
 *   bench/lean_prepare.c build/libquiver.a -lsqlite3 -lm -lpthread -lz -lopenblas -o /tmp/prep; args: bits scalar */
#include <stdlib.h>
#include <stdio.h>
#include "sq8.h"
int main(int argc, char **argv) {
  uint32_t bits = (uint32_t)atoi(argv[1]), dim = 784; int scalar = atoi(argv[2]);
  hnsw_sq8 q;
  if (hnsw_sq8_init(&q, qv__mem_default(), QV_METRIC_L2, dim, bits)) return 1;
  float *v = malloc(1000 * dim * sizeof *v);
  for (size_t i = 0; i < 1000 * dim; i++) v[i] = (float)(rand() % 256);
  hnsw_sq8_maybe_train(&q, v, 1000, 0);
  if (scalar) q.lane4 = NULL;
  void *p = aligned_alloc(64, hnsw_sq8_query_bytes(&q));
  for (int r = 0; r < 1000; r++) hnsw_sq8_prepare(&q, v + (size_t)r * dim, p);
  printf("%d\n", ((short *)((float *)p + 16))[3]);
  return 0;
}
