/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * inproc_query.c -- the in-process baseline for bench/http_bench.py: k-NN queries on one
 * collection from N threads through quiver.h, for a fixed time.
 *
 *   inproc_query DATA_DIR COLLECTION QUERIES_F32 DIM K THREADS SECONDS
 *   inproc_query DATA_DIR COLLECTION QUERIES_F32 DIM K THREADS - [REQ_BYTES RESP_BYTES]
 *
 * With "-" the database stays open and each line of standard input (a number of seconds)
 * runs one measurement, printed as one JSON line: bench/http_bench.py interleaves these with
 * HTTP measurements against a server running on the same data directory (a read-only open
 * takes no lock), so both sides are warm and see the same moments of machine noise.
 *
 * With REQ_BYTES and RESP_BYTES, a line "SECONDS echo" runs the same queries but follows each
 * one with a loopback TCP round trip to a separate echo process: REQ_BYTES out, RESP_BYTES
 * back, one keep-alive connection per thread, TCP_NODELAY. That is the transport of an HTTP
 * request with no HTTP in it (same processes, segments, bytes and context switches), so its
 * throughput is the ceiling any server on this machine could reach, and the HTTP side can be
 * judged against it.
 *
 * QUERIES_F32 is raw little-endian float32, DIM per query. Each thread runs
 * qv_collection_query(nq = 1, k) round-robin over the queries with the default include
 * (metadatas, documents, distances), like the HTTP route. Prints queries/s as JSON.
 * Build: cc -O2 -pthread -Iinclude bench/http/inproc_query.c build/libquiver.a -lsqlite3 ...
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "quiver.h"

typedef struct worker {
  int id;
  long n;
} worker;

static qv_collection *g_c;
static float *g_q;
static size_t g_nq, g_dim, g_k;
static double g_seconds;
static size_t g_req_bytes, g_resp_bytes; /* echo round trip sizes; 0: no echo process */
static int g_echo;                        /* this measurement does the round trips */
static struct sockaddr_in g_echo_addr;

static int xfer(int fd, char *buf, size_t n, int out) {
  while (n) {
    ssize_t r = out ? send(fd, buf, n, MSG_NOSIGNAL) : recv(fd, buf, n, 0);
    if (r <= 0) return -1;
    buf += r, n -= (size_t)r;
  }
  return 0;
}

/* The echo process: one thread per connection, each reads REQ_BYTES and answers RESP_BYTES. */
static void *echo_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char *buf = calloc(1, g_req_bytes > g_resp_bytes ? g_req_bytes : g_resp_bytes);
  while (buf && xfer(fd, buf, g_req_bytes, 0) == 0 && xfer(fd, buf, g_resp_bytes, 1) == 0) {
  }
  free(buf);
  close(fd);
  return NULL;
}

static void echo_serve(int ls) {
  for (;;) {
    int fd = accept(ls, NULL, NULL), one = 1;
    pthread_t t;
    if (fd < 0) _exit(0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd) != 0) _exit(1);
    pthread_detach(t);
  }
}

/* Forks the echo process on a loopback port (before any thread exists); its pid. */
static pid_t echo_start(void) {
  socklen_t len = sizeof g_echo_addr;
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  pid_t pid;
  memset(&g_echo_addr, 0, sizeof g_echo_addr);
  g_echo_addr.sin_family = AF_INET;
  g_echo_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (ls < 0 || bind(ls, (struct sockaddr *)&g_echo_addr, sizeof g_echo_addr) != 0 || listen(ls, 64) != 0 ||
      getsockname(ls, (struct sockaddr *)&g_echo_addr, &len) != 0)
    return perror("echo socket"), -1;
  if ((pid = fork()) == 0) echo_serve(ls);
  close(ls);
  return pid;
}

static int echo_connect(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (fd < 0 || connect(fd, (struct sockaddr *)&g_echo_addr, sizeof g_echo_addr) != 0) {
    perror("echo connect");
    exit(1);
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

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
  int fd = g_echo ? echo_connect() : -1;
  char *buf = g_echo ? calloc(1, g_req_bytes > g_resp_bytes ? g_req_bytes : g_resp_bytes) : NULL;
  qv_query_opts_init(&o);
  while (now() < end) {
    qv_results *r = NULL;
    if (qv_collection_query(g_c, g_q + (i++ % g_nq) * g_dim, 1, g_k, &o, &r) != QV_OK) {
      fprintf(stderr, "query failed\n");
      exit(1);
    }
    qv_results_free(r);
    if (fd >= 0 && (xfer(fd, buf, g_req_bytes, 1) != 0 || xfer(fd, buf, g_resp_bytes, 0) != 0)) {
      fprintf(stderr, "echo round trip failed\n");
      exit(1);
    }
    w->n++;
  }
  if (fd >= 0) close(fd);
  free(buf);
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
  pid_t echo = -1;
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
  if (interactive && argc >= 10) {
    g_req_bytes = (size_t)atol(argv[8]);
    g_resp_bytes = (size_t)atol(argv[9]);
    if (!g_req_bytes || !g_resp_bytes || (echo = echo_start()) < 0) return 2;
  }
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
      g_echo = strstr(line, "echo") != NULL;
      if (g_echo && echo < 0) return fprintf(stderr, "no echo process: give REQ_BYTES RESP_BYTES\n"), 2;
      measure(threads);
    }
  }
  qv_collection_release(g_c);
  qv_db_close(db);
  free(g_q);
  if (echo > 0) kill(echo, SIGTERM), waitpid(echo, NULL, 0);
  return 0;
}
