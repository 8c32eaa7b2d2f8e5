/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * main.c -- `quiver serve`: options, opening the data directory, the server's life cycle.
 *
 * Start-up: SIGINT/SIGTERM are blocked in every thread (before quiver or libmicrohttpd start
 * any), the data directory is opened (QV_BUSY = another process holds its lock: refused with
 * a clear message), the catalog gets its default tenant and database, then the daemon listens.
 * Shutdown: the main thread sigwait()s; on a signal the listening socket is closed, in-flight
 * requests get up to --drain seconds to finish, the daemon stops (closing idle keep-alive
 * connections), every index is checkpointed and the database closed. Exit code 0.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "server.h"
#include "srv.h"

typedef struct srv_opts {
  const char *data, *host, *token;
  long port, threads, timeout, max_conns, drain, pc_port;
  size_t max_body;
  int log_level, allow_reset;
  qv_sync sync;
  cl_opts cluster;      /* --cluster and its options: server/cluster/, docs/CLUSTER.md */
} srv_opts;

static void usage(FILE *f) {
  fputs("usage: quiver serve [options]\n"
        "  --data DIR          data directory (default ./quiver-data; created if missing)\n"
        "  --host HOST         address to listen on (default 127.0.0.1)\n"
        "  --port PORT         TCP port (default 8000)\n"
        "  --threads N         0 = a thread per connection (default), N = an epoll pool of N\n"
        "  --max-body BYTES    largest request body, K/M/G suffixes allowed (default 64M)\n"
        "  --max-connections N concurrent connections (default 1024)\n"
        "  --timeout SEC       idle connection timeout (default 30)\n"
        "  --drain SEC         how long shutdown waits for in-flight requests (default 30)\n"
        "  --token T           require x-chroma-token: T or Authorization: Bearer T on every\n"
        "                      route but heartbeat (also QUIVER_TOKEN or\n"
        "                      CHROMA_SERVER_AUTHN_CREDENTIALS from the environment)\n"
        "  --sync full|normal  durability of acknowledged writes (default full)\n"
        "  --allow-reset       enable POST /api/v2/reset (deletes everything)\n"
        "  --log-level L       error, warn, info (access log, default) or debug\n"
        "  --pinecone-port P   also serve Pinecone's API (control and data plane) on port P;\n"
        "                      with a token set it is required as the Api-Key header\n"
        "  --cluster URLS      join a cluster over NATS JetStream (nats://HOST:PORT,...);\n"
        "                      docs/CLUSTER.md. Without it the server is a single node\n"
        "  --node-id ID        this node's id in the cluster (default: kept in\n"
        "                      DATA/cluster-node-id, random on first start)\n"
        "  --cluster-ack MODE  applied (default: a majority of the shard's replicas applied\n"
        "                      the write) or log (the JetStream quorum holds it)\n"
        "  --shards N          shards of a new collection (default 3; fixed at creation)\n"
        "  --replicas N        replicas per shard of a new collection (default 3)\n"
        "  --cluster-wait MS   how long a write waits for its acks and a read for its\n"
        "                      replica to catch up (default 10000)\n"
        "  --snapshot-batches N  snapshot a shard replica to JetStream's object store after N\n"
        "                      batches and trim its stream (default 0: never; experimental,\n"
        "                      see docs/CLUSTER.md \"Snapshots\")\n"
        "  --snapshot-bytes B  ... or after B bytes of batches, K/M/G suffixes (default 0:\n"
        "                      never)\n",
        f);
}

static int parse_size(const char *s, size_t *out) {
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || end == s) return -1;
  if (*end == 'K' || *end == 'k') v <<= 10, end++;
  else if (*end == 'M' || *end == 'm') v <<= 20, end++;
  else if (*end == 'G' || *end == 'g') v <<= 30, end++;
  if (*end || v == 0) return -1;
  *out = (size_t)v;
  return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int parse_int(const char *s, long lo, long hi, int *out) {
  long v;
  if (parse_long(s, lo, hi, &v)) return -1;
  *out = (int)v;
  return 0;
}

static int parse_level(const char *s, int *out) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (!strcmp(s, names[i])) {
      *out = i;
      return 0;
    }
  return -1;
}

/* One option with its value v; 0 ok, -1 bad value, -2 unknown option. */
static int set_opt(srv_opts *o, const char *name, const char *v) {
  if (!strcmp(name, "--data")) o->data = v;
  else if (!strcmp(name, "--host")) o->host = v;
  else if (!strcmp(name, "--token")) o->token = v;
  else if (!strcmp(name, "--port")) return parse_long(v, 0, 65535, &o->port);
  else if (!strcmp(name, "--pinecone-port")) return parse_long(v, 1, 65535, &o->pc_port);
  else if (!strcmp(name, "--threads")) return parse_long(v, 0, 1024, &o->threads);
  else if (!strcmp(name, "--timeout")) return parse_long(v, 1, 86400, &o->timeout);
  else if (!strcmp(name, "--drain")) return parse_long(v, 0, 3600, &o->drain);
  else if (!strcmp(name, "--max-connections")) return parse_long(v, 1, 100000, &o->max_conns);
  else if (!strcmp(name, "--max-body")) return parse_size(v, &o->max_body);
  else if (!strcmp(name, "--log-level")) return parse_level(v, &o->log_level);
  else if (!strcmp(name, "--cluster")) o->cluster.urls = v;
  else if (!strcmp(name, "--node-id")) o->cluster.node_id = v;
  else if (!strcmp(name, "--shards")) return parse_int(v, 1, 64, &o->cluster.shards);
  else if (!strcmp(name, "--replicas")) return parse_int(v, 1, 7, &o->cluster.replicas);
  else if (!strcmp(name, "--cluster-wait")) return parse_int(v, 100, 600000, &o->cluster.wait_ms);
  else if (!strcmp(name, "--snapshot-batches")) return parse_int(v, 0, 1000000000, &o->cluster.snap_batches);
  else if (!strcmp(name, "--snapshot-bytes")) {
    size_t b = 0;
    if (strcmp(v, "0") && parse_size(v, &b)) return -1;
    o->cluster.snap_bytes = b;
  }
  else if (!strcmp(name, "--cluster-ack")) {
    if (!strcmp(v, "applied")) o->cluster.ack_log = 0;
    else if (!strcmp(v, "log")) o->cluster.ack_log = 1;
    else return -1;
  } else if (!strcmp(name, "--sync")) {
    if (!strcmp(v, "full")) o->sync = QV_SYNC_FULL;
    else if (!strcmp(v, "normal")) o->sync = QV_SYNC_NORMAL;
    else return -1;
  } else return -2;
  return 0;
}

/* 0 run, 1 help printed, 2 usage error (message printed). */
static int parse_args(srv_opts *o, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *eq = strchr(a, '=');
    char name[64];
    const char *v;
    int rc;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 1;
    if (!strcmp(a, "--allow-reset")) {
      o->allow_reset = 1;
      continue;
    }
    if (strncmp(a, "--", 2) || (eq && (size_t)(eq - a) >= sizeof name)) goto unknown;
    snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
    if (eq) v = eq + 1;
    else if (i + 1 < argc) v = argv[++i];
    else {
      fprintf(stderr, "quiver serve: %s needs a value\n", name);
      return 2;
    }
    rc = set_opt(o, name, v);
    if (rc == -1) {
      fprintf(stderr, "quiver serve: bad value for %s: '%s'\n", name, v);
      return 2;
    }
    if (rc == -2) goto unknown;
    continue;
  unknown:
    fprintf(stderr, "quiver serve: unknown option '%s'\n", a);
    usage(stderr);
    return 2;
  }
  return 0;
}

static void opts_defaults(srv_opts *o) {
  memset(o, 0, sizeof *o);
  o->data = "quiver-data";
  o->host = "127.0.0.1";
  o->port = 8000;
  o->timeout = 30;
  o->drain = 30;
  o->max_conns = 1024;
  o->max_body = 64u << 20;
  o->log_level = SRV_LOG_INFO;
  o->sync = QV_SYNC_FULL;
  o->cluster.shards = 3;
  o->cluster.replicas = 3;
  o->cluster.wait_ms = 10000;
  o->cluster.snap_batches = 0; /* opt-in: see docs/CLUSTER.md "Snapshots" (a fault run lost writes) */
  o->cluster.snap_bytes = 0;
  o->token = getenv("QUIVER_TOKEN");
  if (!o->token || !*o->token) o->token = getenv("CHROMA_SERVER_AUTHN_CREDENTIALS");
}

/* ------------------------------------------------------------------ life cycle */

static int open_db(qsrv *s, const srv_opts *o) {
  qv_open_opts oo;
  char err[512] = "";
  qv_status rc;
  qv_open_opts_init(&oo);
  oo.sync = o->sync;
  oo.errbuf = err;
  oo.errbuf_len = sizeof err;
  rc = qv_db_open(o->data, &oo, &s->db);
  if (rc == QV_BUSY) {
    fprintf(stderr, "quiver serve: the data directory '%s' is locked by another process "
                    "(another quiver server or program is using it); refusing to start%s%s\n",
            o->data, *err ? ": " : "", err);
    return -1;
  }
  if (rc != QV_OK) {
    fprintf(stderr, "quiver serve: cannot open data directory '%s': %s%s%s\n", o->data,
            qv_status_str(rc), *err ? ": " : "", err);
    return -1;
  }
  return 0;
}

static void close_db(qsrv *s) {
  qv_status rc;
  if (!s->db) return;
  rc = qv_db_checkpoint(s->db);
  if (rc != QV_OK) srv_log(s, SRV_LOG_WARN, "checkpoint failed: %s", qv_db_errmsg(s->db));
  qv_db_close(s->db);
  s->db = NULL;
}

/* Wait until no request is in flight, or drain seconds have passed. */
static void drain(qsrv *s, long seconds) {
  struct timespec nap = {0, 10 * 1000 * 1000};
  for (long i = 0; i < seconds * 100; i++) {
    if (__atomic_load_n(&s->in_flight, __ATOMIC_SEQ_CST) == 0) return;
    nanosleep(&nap, NULL);
  }
  srv_log(s, SRV_LOG_WARN, "%d request(s) still in flight after %lds; closing them",
          __atomic_load_n(&s->in_flight, __ATOMIC_SEQ_CST), seconds);
}

static void fill_server(qsrv *s, const srv_opts *o) {
  memset(s, 0, sizeof *s);
  s->data_dir = o->data;
  s->host = o->host;
  s->port = (int)o->port;
  s->threads = (int)o->threads;
  s->max_body = o->max_body;
  s->token = o->token && *o->token ? o->token : NULL;
  s->token_len = s->token ? strlen(s->token) : 0;
  s->log_level = o->log_level;
  s->allow_reset = o->allow_reset;
  s->conn_timeout = (unsigned)o->timeout;
  s->max_conns = (unsigned)o->max_conns;
  s->pc_port = (int)o->pc_port;
}

int qv_server_main(int argc, char **argv) {
  srv_opts o;
  qsrv *s;
  sigset_t set;
  void *daemon = NULL, *pc_daemon = NULL;
  int rc, sig = 0;
  opts_defaults(&o);
  rc = parse_args(&o, argc, argv);
  if (rc) return rc == 1 ? 0 : 2;
  if (!(s = calloc(1, sizeof *s))) return 1;
  fill_server(s, &o);
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread started from here inherits it */
  signal(SIGPIPE, SIG_IGN);
  rc = 1;
  if (open_db(s, &o)) goto cleanup;
  if (o.cluster.urls && cl_start(s, &o.cluster)) goto cleanup;
  if (!(daemon = srv_http_start(s))) {
    fprintf(stderr, "quiver serve: cannot listen on %s:%ld (address in use or not available)\n",
            o.host, o.port);
    goto cleanup;
  }
  if (s->pc_port && !(pc_daemon = srv_http_start_pinecone(s))) {
    fprintf(stderr, "quiver serve: cannot listen on %s:%ld for the Pinecone API (address in "
                    "use or not available)\n", o.host, o.pc_port);
    srv_http_stop(daemon);
    goto cleanup;
  }
  fprintf(stderr, "quiver %s: Chroma API v2 on http://%s:%ld (data %s, %s, auth %s)\n",
          qv_libversion(), o.host, o.port, o.data,
          o.threads ? "thread pool" : "thread per connection", s->token ? "on" : "off");
  if (pc_daemon)
    fprintf(stderr, "quiver %s: Pinecone API on http://%s:%ld\n", qv_libversion(), o.host,
            o.pc_port);
  while (sigwait(&set, &sig) != 0) {}
  srv_log(s, SRV_LOG_WARN, "signal %d: shutting down", sig);
  srv_http_quiesce(daemon);
  if (pc_daemon) srv_http_quiesce(pc_daemon);
  drain(s, o.drain);
  srv_http_stop(daemon);
  if (pc_daemon) srv_http_stop(pc_daemon);
  rc = 0;
cleanup:
  cl_stop(s);
  close_db(s);
  if (rc == 0) srv_log(s, SRV_LOG_WARN, "stopped cleanly");
  free(s);
  return rc;
}
