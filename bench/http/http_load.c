/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * http_load.c -- a tiny keep-alive HTTP load generator for loopback benchmarks.
 *
 *   http_load HOST PORT PATH BODIES_FILE THREADS SECONDS [TOKEN]
 *
 * BODIES_FILE holds one JSON request body per line. Each of THREADS threads opens one
 * keep-alive connection and POSTs the bodies round-robin (thread t starts at line t) for
 * SECONDS, reading each response fully (Content-Length) before sending the next. Prints
 * requests/s, the status histogram and latency percentiles. Written in C so that the client
 * costs the 2-core machine as little CPU as possible; never used by tests.
 * Build: cc -O2 -pthread -o http_load bench/http/http_load.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct worker {
  int id;
  long n_ok, n_err;
  double *lat;
  size_t n_lat, cap_lat;
} worker;

static const char *g_host, *g_path, *g_token;
static int g_port;
static double g_seconds;
static char **g_reqs; /* full requests, pre-built */
static size_t *g_req_len, g_n;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int connect_to(void) {
  struct sockaddr_in a;
  int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)g_port);
  inet_pton(AF_INET, g_host, &a.sin_addr);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    perror("connect");
    exit(1);
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* Read one response; returns the status code or -1. buf is reused. */
static int read_response(int fd, char **buf, size_t *cap) {
  size_t len = 0, need = 0, hdr_end = 0;
  int status = -1;
  for (;;) {
    ssize_t r;
    if (len + 65536 > *cap) {
      *cap = (len + 65536) * 2;
      *buf = realloc(*buf, *cap);
    }
    r = read(fd, *buf + len, *cap - len - 1);
    if (r <= 0) return -1;
    len += (size_t)r;
    (*buf)[len] = '\0';
    if (!hdr_end) {
      char *e = strstr(*buf, "\r\n\r\n"), *cl;
      if (!e) continue;
      hdr_end = (size_t)(e - *buf) + 4;
      status = atoi(*buf + 9);
      cl = strcasestr(*buf, "\r\ncontent-length:");
      need = hdr_end + (cl && cl < e ? strtoul(cl + 17, NULL, 10) : 0);
    }
    if (len >= need) return status;
  }
}

static void *run(void *arg) {
  worker *w = arg;
  int fd = connect_to();
  size_t i = (size_t)w->id, cap = 0;
  char *buf = NULL;
  double end = now() + g_seconds;
  while (now() < end) {
    double t0 = now();
    size_t k = i++ % g_n, off = 0;
    int st;
    while (off < g_req_len[k]) {
      ssize_t s = write(fd, g_reqs[k] + off, g_req_len[k] - off);
      if (s <= 0) break;
      off += (size_t)s;
    }
    st = read_response(fd, &buf, &cap);
    if (st == 200) w->n_ok++;
    else {
      w->n_err++;
      if (st < 0) {
        close(fd);
        fd = connect_to();
      }
    }
    if (w->n_lat == w->cap_lat) {
      w->cap_lat = w->cap_lat ? w->cap_lat * 2 : 4096;
      w->lat = realloc(w->lat, w->cap_lat * sizeof *w->lat);
    }
    w->lat[w->n_lat++] = now() - t0;
  }
  close(fd);
  free(buf);
  return NULL;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void load_bodies(const char *file) {
  FILE *f = fopen(file, "r");
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  if (!f) {
    perror(file);
    exit(1);
  }
  while ((n = getline(&line, &cap, f)) > 0) {
    char head[1024];
    int hl;
    if (line[n - 1] == '\n') line[--n] = '\0';
    if (!n) continue;
    hl = snprintf(head, sizeof head,
                  "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                  "%s%s%sContent-Length: %zd\r\n\r\n",
                  g_path, g_host, g_token ? "x-chroma-token: " : "", g_token ? g_token : "",
                  g_token ? "\r\n" : "", n);
    g_reqs = realloc(g_reqs, (g_n + 1) * sizeof *g_reqs);
    g_req_len = realloc(g_req_len, (g_n + 1) * sizeof *g_req_len);
    g_reqs[g_n] = malloc((size_t)hl + (size_t)n);
    memcpy(g_reqs[g_n], head, (size_t)hl);
    memcpy(g_reqs[g_n] + hl, line, (size_t)n);
    g_req_len[g_n++] = (size_t)hl + (size_t)n;
  }
  free(line);
  fclose(f);
}

int main(int argc, char **argv) {
  int threads;
  pthread_t *tids;
  worker *ws;
  long ok = 0, err = 0;
  size_t n_lat = 0;
  double *lat, t0, dt;
  if (argc < 7) {
    fprintf(stderr, "usage: http_load HOST PORT PATH BODIES_FILE THREADS SECONDS [TOKEN]\n");
    return 2;
  }
  g_host = argv[1];
  g_port = atoi(argv[2]);
  g_path = argv[3];
  threads = atoi(argv[5]);
  g_seconds = atof(argv[6]);
  g_token = argc > 7 ? argv[7] : NULL;
  load_bodies(argv[4]);
  if (!g_n || threads < 1) return 2;
  tids = calloc((size_t)threads, sizeof *tids);
  ws = calloc((size_t)threads, sizeof *ws);
  t0 = now();
  for (int t = 0; t < threads; t++) {
    ws[t].id = t;
    pthread_create(&tids[t], NULL, run, &ws[t]);
  }
  for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  dt = now() - t0;
  for (int t = 0; t < threads; t++) ok += ws[t].n_ok, err += ws[t].n_err, n_lat += ws[t].n_lat;
  lat = malloc((n_lat + 1) * sizeof *lat);
  n_lat = 0;
  for (int t = 0; t < threads; t++) {
    memcpy(lat + n_lat, ws[t].lat, ws[t].n_lat * sizeof *lat);
    n_lat += ws[t].n_lat;
    free(ws[t].lat);
  }
  qsort(lat, n_lat, sizeof *lat, cmp_d);
  printf("{\"requests\": %ld, \"errors\": %ld, \"seconds\": %.3f, \"rps\": %.1f, "
         "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
         ok, err, dt, (double)ok / dt, n_lat ? lat[n_lat / 2] * 1e3 : 0.0,
         n_lat ? lat[(size_t)((double)n_lat * 0.99)] * 1e3 : 0.0, n_lat ? lat[n_lat - 1] * 1e3 : 0.0);
  free(lat);
  free(ws);
  free(tids);
  return err ? 1 : 0;
}
