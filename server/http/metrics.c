/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * metrics.c -- request counters, latency histograms and /metrics (Prometheus text format).
 *
 * Counters are plain uint64_t arrays updated with __atomic builtins (relaxed: each number is
 * exact, a scrape may see them at slightly different instants). Records and collections are
 * counted at scrape time through the public API; memory is the process RSS from /proc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "srv.h"

static const char *const route_names[R_N_ROUTES] = {
    "unknown", "heartbeat", "version", "pre_flight_checks", "healthcheck", "identity", "reset",
    "tenant_create", "tenant_get", "database_create", "database_list", "database_get",
    "database_delete", "collection_create", "collection_list", "collection_count",
    "collection_get", "collection_get_by_id", "collection_modify", "collection_delete",
    "collection_stats", "collection_compact", "add", "upsert", "update", "delete", "get", "query", "count", "metrics",
    "v1", "advanced", "pinecone_control", "pinecone_upsert", "pinecone_query", "pinecone_fetch",
    "pinecone_update", "pinecone_delete", "pinecone_stats", "pinecone_list",
    "pinecone_namespaces"};

static const int status_codes[SRV_N_STATUS - 1] = {200, 201, 400, 401, 403, 404, 405, 409,
                                                    410, 413, 422, 429, 500, 501, 503};

static const double bucket_le[SRV_N_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10};

static int status_index(int status) {
  for (int i = 0; i < SRV_N_STATUS - 1; i++)
    if (status_codes[i] == status) return i;
  return SRV_N_STATUS - 1; /* "other" */
}

void srv_metrics_observe(qsrv *s, srv_route route, int status, double seconds) {
  srv_metrics *m = &s->metrics;
  int b = 0;
  if ((unsigned)route >= R_N_ROUTES) route = R_UNKNOWN;
  while (b < SRV_N_BUCKETS && seconds > bucket_le[b]) b++;
  __atomic_add_fetch(&m->requests[route][status_index(status)], 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&m->buckets[route][b], 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&m->lat_sum_us[route], (uint64_t)(seconds * 1e6), __ATOMIC_RELAXED);
}

void srv_log(const qsrv *s, int level, const char *fmt, ...) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  char msg[1024], ts[32];
  struct timespec now;
  struct tm tm;
  va_list ap;
  if (level > s->log_level) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  fprintf(stderr, "%s.%03ldZ %s %s\n", ts, now.tv_nsec / 1000000, names[level & 3], msg);
}

/* ------------------------------------------------------------------ /metrics */

static uint64_t load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

static void write_requests(sbuf *b, srv_metrics *m) {
  sbuf_puts(b, "# HELP quiver_http_requests_total HTTP requests by route and status.\n"
               "# TYPE quiver_http_requests_total counter\n");
  for (int r = 0; r < R_N_ROUTES; r++)
    for (int st = 0; st < SRV_N_STATUS; st++) {
      uint64_t n = load(&m->requests[r][st]);
      if (!n) continue;
      if (st < SRV_N_STATUS - 1)
        sbuf_printf(b, "quiver_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                    route_names[r], status_codes[st], (unsigned long long)n);
      else
        sbuf_printf(b, "quiver_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                    route_names[r], (unsigned long long)n);
    }
}

static void write_latency(sbuf *b, srv_metrics *m) {
  sbuf_puts(b, "# HELP quiver_http_request_duration_seconds Time from request headers to response.\n"
               "# TYPE quiver_http_request_duration_seconds histogram\n");
  for (int r = 0; r < R_N_ROUTES; r++) {
    uint64_t cum = 0, total = 0;
    for (int k = 0; k <= SRV_N_BUCKETS; k++) total += load(&m->buckets[r][k]);
    if (!total) continue;
    for (int k = 0; k < SRV_N_BUCKETS; k++) {
      cum += load(&m->buckets[r][k]);
      sbuf_printf(b, "quiver_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                  route_names[r], bucket_le[k], (unsigned long long)cum);
    }
    sbuf_printf(b, "quiver_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                route_names[r], (unsigned long long)total);
    sbuf_printf(b, "quiver_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route_names[r],
                (double)load(&m->lat_sum_us[r]) / 1e6);
    sbuf_printf(b, "quiver_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                route_names[r], (unsigned long long)total);
  }
}

/* Label value with \, " and newline escaped. */
static void label(sbuf *b, const char *v) {
  for (; *v; v++) {
    if (*v == '\\' || *v == '"') sbuf_putc(b, '\\');
    if (*v == '\n') {
      sbuf_puts(b, "\\n");
      continue;
    }
    sbuf_putc(b, *v);
  }
}

static void write_records(sbuf *b, qsrv *s) {
  char **names = NULL;
  size_t n = 0, n_coll = 0;
  uint64_t total = 0;
  sbuf tomb = {0}; /* a second family: its samples go after the first's */
  if (qv_collection_list(s->db, &names, &n) != QV_OK) return;
  sbuf_puts(b, "# HELP quiver_collection_records Live records per collection.\n"
               "# TYPE quiver_collection_records gauge\n");
  for (size_t i = 0; i < n; i++) {
    qv_collection *c = NULL;
    qv_collection_info in = {.struct_size = sizeof in};
    char *full = NULL; /* the label: "tenant/database/name", for every collection (CLI-made too) */
    uint64_t cnt = 0;
    if (qv_collection_get(s->db, names[i], &c) != QV_OK) continue;
    if (qv_collection_info_get(c, &in) == QV_OK) {
      size_t len = strlen(in.tenant) + strlen(in.database) + strlen(in.local_name) + 3;
      if ((full = malloc(len))) snprintf(full, len, "%s/%s/%s", in.tenant, in.database, in.local_name);
      qv_collection_info_free(&in);
    }
    if (!full) {
      qv_collection_release(c);
      continue;
    }
    if (qv_collection_count(c, &cnt) == QV_OK) {
      sbuf_puts(b, "quiver_collection_records{collection=\"");
      label(b, full);
      sbuf_printf(b, "\"} %llu\n", (unsigned long long)cnt);
      total += cnt;
      n_coll++;
    }
    qv_index_stats st = {.struct_size = sizeof st};
    if (qv_collection_stats_get(c, &st) == QV_OK) {
      sbuf_puts(&tomb, "quiver_collection_tombstones{collection=\"");
      label(&tomb, full);
      sbuf_printf(&tomb, "\"} %llu\n", (unsigned long long)st.n_tombstones);
    }
    free(full);
    qv_collection_release(c);
  }
  qv_strings_free(names);
  sbuf_puts(b, "# HELP quiver_collection_tombstones Deleted records still in the index graph "
               "(compacted at half the live records).\n# TYPE quiver_collection_tombstones gauge\n");
  if (tomb.len) sbuf_put(b, tomb.p, tomb.len);
  sbuf_free(&tomb);
  sbuf_printf(b, "# HELP quiver_records Live records in all collections.\n# TYPE quiver_records gauge\n"
                 "quiver_records %llu\n", (unsigned long long)total);
  sbuf_printf(b, "# HELP quiver_collections Collections.\n# TYPE quiver_collections gauge\n"
                 "quiver_collections %zu\n", n_coll);
}

static void write_process(sbuf *b, qsrv *s) {
  unsigned long long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%llu %llu", &pages, &rss) != 2) rss = 0;
    fclose(f);
  }
  sbuf_printf(b, "# HELP quiver_process_resident_memory_bytes Resident set size.\n"
                 "# TYPE quiver_process_resident_memory_bytes gauge\n"
                 "quiver_process_resident_memory_bytes %llu\n",
              rss * (unsigned long long)sysconf(_SC_PAGESIZE));
  sbuf_printf(b, "# HELP quiver_http_in_flight_requests Requests being served.\n"
                 "# TYPE quiver_http_in_flight_requests gauge\nquiver_http_in_flight_requests %d\n",
              __atomic_load_n(&s->in_flight, __ATOMIC_RELAXED));
  sbuf_printf(b, "# HELP quiver_build_info Library version.\n# TYPE quiver_build_info gauge\n"
                 "quiver_build_info{version=\"%s\"} 1\n", qv_libversion());
}

/* Prometheus text exposition format 0.0.4 (the one non-JSON response of the server). */
void route_metrics(srv_req *rq, srv_resp *rs) {
  sbuf b = {0};
  write_requests(&b, &rq->s->metrics);
  write_latency(&b, &rq->s->metrics);
  write_records(&b, rq->s);
  write_process(&b, rq->s);
  sbuf_reply(&b, rs, 200);
  if (rs->status == 200) rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
