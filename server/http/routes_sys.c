/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * routes_sys.c -- heartbeat, version, pre-flight checks, healthcheck, identity, reset
 * (chroma-v2.md §5). Only heartbeat is reachable without a token (http.c).
 */
#include <stdio.h>
#include <time.h>

#include "srv.h"

void route_heartbeat(srv_req *rq, srv_resp *rs) {
  struct timespec ts;
  char buf[64];
  (void)rq;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
    srv_error(rs, 500, "clock failure");
    return;
  }
  snprintf(buf, sizeof buf, "{\"nanosecond heartbeat\":%llu}",
           (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
  srv_reply_text(rs, 200, buf);
}

/* As Chroma's server answers its own package version, quiver answers its own (the library's,
 * the same as `quiver --version` and the packages'; tests/install/test_version.py). Chroma's
 * clients only display it. */
void route_version(srv_req *rq, srv_resp *rs) {
  char buf[64];
  (void)rq;
  snprintf(buf, sizeof buf, "\"%s\"", qv_libversion());
  srv_reply_text(rs, 200, buf);
}

void route_preflight(srv_req *rq, srv_resp *rs) {
  char buf[96];
  (void)rq;
  snprintf(buf, sizeof buf, "{\"max_batch_size\":%d,\"supports_base64_encoding\":true}",
           SRV_MAX_BATCH);
  srv_reply_text(rs, 200, buf);
}

/* Ready only if the database can still be read from disk (qv_db_health); 503 names why. */
void route_healthcheck(srv_req *rq, srv_resp *rs) {
  qv_status rc = qv_db_health(rq->s->db);
  if (rc != QV_OK) {
    srv_error(rs, 503, "database not ready: %s", qv_db_errmsg(rq->s->db));
    return;
  }
  /* degraded open: collections that could not be loaded are named (the rest serves) */
  char **skipped = NULL;
  size_t n_skipped = 0;
  if (qv_db_skipped_collections(rq->s->db, &skipped, &n_skipped) != QV_OK || !n_skipped) {
    qv_strings_free(skipped);
    srv_reply_text(rs, 200, "{\"is_executor_ready\":true,\"is_log_client_ready\":true}");
    return;
  }
  sbuf b = {0};
  sbuf_puts(&b, "{\"is_executor_ready\":true,\"is_log_client_ready\":true,\"skipped_collections\":[");
  for (size_t i = 0; i < n_skipped; i++) {
    if (i) sbuf_putc(&b, ',');
    sbuf_json_str(&b, skipped[i]);
  }
  sbuf_puts(&b, "]}");
  qv_strings_free(skipped);
  sbuf_reply(&b, rs, 200);
}

void route_identity(srv_req *rq, srv_resp *rs) {
  (void)rq;
  srv_reply_text(rs, 200, "{\"user_id\":\"\",\"tenant\":\"" SRV_DEFAULT_TENANT
                          "\",\"databases\":[\"" SRV_DEFAULT_DATABASE "\"]}");
}

/* Off unless the server was started with --allow-reset, as on the reference server. */
void route_reset(srv_req *rq, srv_resp *rs) {
  qv_status rc;
  if (!rq->s->allow_reset) {
    srv_error(rs, 403, "Reset is disabled by config (start the server with --allow-reset)");
    return;
  }
  rc = srv_catalog_reset(rq->s);
  if (rc != QV_OK) {
    srv_error_qv(rs, rq->s, rc);
    return;
  }
  srv_reply_text(rs, 200, "true");
}
