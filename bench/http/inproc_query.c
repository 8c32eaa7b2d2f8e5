/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * inproc_query.c -- the in-process baseline for bench/http_bench.py: k-NN queries on one
 * collection from N threads through quiver.h, for a fixed time.
 *
 *   inproc_query DATA_DIR COLLECTION QUERIES_F32 DIM K THREADS SECONDS
 *   inproc_query DATA_DIR COLLECTION QUERIES_F32 DIM K THREADS -
 *
 * With "-" the database stays open and each line of standard input (a number of seconds)
 * runs one measurement, printed as one JSON line: bench/http_bench.py interleaves these with
 * HTTP measurements against a server running on the same data directory (a read-only open
 * takes no lock), so both sides are warm and see the same moments of machine noise.
 *
 * QUERIES_F32 is raw little-endian float32, DIM per query. Each thread runs
 * qv_collection_query(nq = 1, k) round-robin over the queries with the default include
 * (metadatas, documents, distances), like the HTTP route. Prints queries/s as JSON.
 * Build: cc -O2 -pthread -Iinclude bench/http/inproc_query.c build/libquiver.a -lsqlite3 ...
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quiver.h"

typedef struct worker {
  int id;
  long n;
} worker;

static qv_collection *g_c;
static float *g_q;
static size_t g_nq, g_dim, g_k;
static double g_seconds;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *run(void *arg) {
  worker *w = arg;
  size_t i = (size_t)w->id;
  double end = now() + g_seconds;
  qv_query_opts o;
  qv_query_opts_init(&o);
  while (now() < end) {
    qv_results *r = NULL;
    if (qv_collection_query(g_c, g_q + (i++ % g_nq) * g_dim, 1, g_k, &o, &r) != QV_OK) {
      fprintf(stderr, "query failed\n");
      exit(1);
    }
    qv_results_free(r);
    w->n++;
  }
  return NULL;
}

/* One measurement of g_seconds with threads threads; prints queries/s as JSON. */
static void measure(int threads) {
  pthread_t tids[64];
  worker ws[64];
  long total = 0;
  double t0 = now(), dt;
  for (int t = 0; t < threads; t++) {
    ws[t].id = t;
    ws[t].n = 0;
    pthread_create(&tids[t], NULL, run, &ws[t]);
  }
  for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL), total += ws[t].n;
  dt = now() - t0;
  printf("{\"queries\": %ld, \"seconds\": %.3f, \"qps\": %.1f}\n", total, dt, (double)total / dt);
  fflush(stdout);
}

int main(int argc, char **argv) {
  qv_db *db = NULL;
  qv_open_opts oo;
  FILE *f;
  long sz;
  int threads, interactive;
  if (argc < 8) {
    fprintf(stderr, "usage: inproc_query DATA COLLECTION QUERIES_F32 DIM K THREADS SECONDS\n");
    return 2;
  }
  g_dim = (size_t)atol(argv[4]);
  g_k = (size_t)atol(argv[5]);
  threads = atoi(argv[6]);
  interactive = strcmp(argv[7], "-") == 0;
  g_seconds = interactive ? 0 : atof(argv[7]);
  if (threads < 1 || threads > 64) return 2;
  f = fopen(argv[3], "rb");
  if (!f) return perror(argv[3]), 1;
  fseek(f, 0, SEEK_END);
  sz = ftell(f);
  rewind(f);
  g_q = malloc((size_t)sz);
  if (fread(g_q, 1, (size_t)sz, f) != (size_t)sz) return 1;
  fclose(f);
  g_nq = (size_t)sz / (g_dim * sizeof(float));
  qv_open_opts_init(&oo);
  oo.read_only = 1;
  if (qv_db_open(argv[1], &oo, &db) != QV_OK) return fprintf(stderr, "open failed\n"), 1;
  if (qv_collection_get(db, argv[2], &g_c) != QV_OK) return fprintf(stderr, "no collection\n"), 1;
  if (!interactive) {
    measure(threads);
  } else {
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
      if ((g_seconds = atof(line)) <= 0) break;
      measure(threads);
    }
  }
  qv_collection_release(g_c);
  qv_db_close(db);
  free(g_q);
  return 0;
}
