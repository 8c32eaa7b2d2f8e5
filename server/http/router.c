/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * router.c -- match decoded path segments to a handler (chroma-v2.md §4).
 *
 * Paths, with B = api v2 tenants {t} databases {d}:
 *   /metrics                                   GET   (native)
 *   /api/v1/...                                410
 *   /api/v2[/heartbeat|/version|/pre-flight-checks|/healthcheck|/auth/identity]  GET
 *   /api/v2/reset                              POST
 *   /api/v2/tenants                            POST
 *   /api/v2/tenants/{t}                        GET
 *   /api/v2/tenants/{t}/databases              POST, GET
 *   B                                          GET, DELETE
 *   B/collections                              POST, GET
 *   B/collections_count                        GET
 *   B/collections/{name}                       GET, DELETE (by name); PUT (by UUID)
 *   B/collections/by-id/{id}                   GET
 *   B/collections/{id}/{add|upsert|update|delete|get|query}  POST
 *   B/collections/{id}/{count|stats}           GET
 *   B/collections/{id}/compact                 POST (native)
 *   B/collections/{id}/{range_search|kmeans|combine|interpolate|centroid|recommend|mmr|
 *                       text_search|hybrid_search}
 *                                              POST (native, server/native/routes_adv.c)
 * A known path with the wrong method is 405; an unknown path 404, both with a JSON body.
 */
#include <string.h>

#include "cluster.h"
#include "srv.h"

static int eq(const char *a, const char *b) { return strcmp(a, b) == 0; }

static void not_found(srv_resp *rs) {
  rs->route = R_UNKNOWN;
  srv_error(rs, 404, "Not found: no such route");
}

static void bad_method(srv_resp *rs) { srv_error(rs, 405, "Method not allowed on this route"); }

/* /api/v2/<one or two segments> */
static void system_routes(srv_req *rq, srv_resp *rs) {
  const char *a = rq->n_seg > 2 ? rq->seg[2] : "heartbeat";
  int get = rq->method == M_GET;
  static const struct {
    const char *name;
    srv_route route;
    void (*fn)(srv_req *, srv_resp *);
  } tab[] = {
      {"heartbeat", R_HEARTBEAT, route_heartbeat},
      {"version", R_VERSION, route_version},
      {"pre-flight-checks", R_PREFLIGHT, route_preflight},
      {"healthcheck", R_HEALTH, route_healthcheck},
  };
  if (rq->n_seg == 4 && eq(a, "auth") && eq(rq->seg[3], "identity")) {
    rs->route = R_IDENTITY;
    if (get) route_identity(rq, rs);
    else bad_method(rs);
    return;
  }
  if (rq->n_seg == 3 && eq(a, "reset")) {
    rs->route = R_RESET;
    if (rq->method == M_POST) route_reset(rq, rs);
    else bad_method(rs);
    return;
  }
  for (size_t i = 0; rq->n_seg <= 3 && i < sizeof tab / sizeof tab[0]; i++) {
    if (!eq(a, tab[i].name)) continue;
    rs->route = tab[i].route;
    if (get) tab[i].fn(rq, rs);
    else bad_method(rs);
    return;
  }
  not_found(rs);
}

/* B/collections/{id}/{op} */
static void record_routes(srv_req *rq, srv_resp *rs, const char *t, const char *d) {
  const char *id = rq->seg[7], *op = rq->seg[8];
  static const struct {
    const char *name;
    srv_route route;
    int method;
  } tab[] = {
      {"add", R_ADD, M_POST},       {"upsert", R_UPSERT, M_POST}, {"update", R_UPDATE, M_POST},
      {"delete", R_DELETE, M_POST}, {"get", R_GET, M_POST},       {"query", R_QUERY, M_POST},
      {"count", R_COUNT, M_GET},    {"stats", R_COLL_STATS, M_GET},
      {"compact", R_COLL_COMPACT, M_POST},
  };
  if (route_adv(rq, rs, t, d, id, op)) return;
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
    if (!eq(op, tab[i].name)) continue;
    rs->route = tab[i].route;
    if (rq->method != tab[i].method) bad_method(rs);
    else if (tab[i].route == R_COLL_STATS) route_coll_stats(rq, rs, t, d, id);
    else if (tab[i].route == R_COLL_COMPACT) route_coll_compact(rq, rs, t, d, id);
    else route_records(rq, rs, t, d, id, tab[i].route);
    return;
  }
  not_found(rs);
}

/* B/collections... (n_seg >= 7) */
static void collection_routes(srv_req *rq, srv_resp *rs, const char *t, const char *d) {
  int m = rq->method;
  if (rq->n_seg == 7) {
    rs->route = m == M_POST ? R_COLL_CREATE : R_COLL_LIST;
    if (m == M_POST) route_coll_create(rq, rs, t, d);
    else if (m == M_GET) route_coll_list(rq, rs, t, d);
    else bad_method(rs);
  } else if (rq->n_seg == 8) {
    const char *x = rq->seg[7];
    rs->route = m == M_GET ? R_COLL_GET : m == M_PUT ? R_COLL_MODIFY : R_COLL_DELETE;
    if (m == M_GET) route_coll_get(rq, rs, t, d, x);
    else if (m == M_PUT) route_coll_modify(rq, rs, t, d, x);
    else if (m == M_DELETE) route_coll_delete(rq, rs, t, d, x);
    else bad_method(rs);
  } else if (rq->n_seg == 9 && eq(rq->seg[7], "by-id")) {
    rs->route = R_COLL_GET_ID;
    if (m == M_GET) route_coll_get_id(rq, rs, t, d, rq->seg[8]);
    else bad_method(rs);
  } else if (rq->n_seg == 9) {
    record_routes(rq, rs, t, d);
  } else {
    not_found(rs);
  }
}

/* /api/v2/tenants... */
static void tenant_routes(srv_req *rq, srv_resp *rs) {
  int m = rq->method, n = rq->n_seg;
  const char *t = n > 3 ? rq->seg[3] : NULL, *d = n > 5 ? rq->seg[5] : NULL;
  if (n == 3) {
    rs->route = R_TENANT_CREATE;
    if (m == M_POST) route_tenant_create(rq, rs);
    else bad_method(rs);
  } else if (n == 4) {
    rs->route = R_TENANT_GET;
    if (m == M_GET) route_tenant_get(rq, rs, t);
    else bad_method(rs);
  } else if (!eq(rq->seg[4], "databases")) {
    not_found(rs);
  } else if (n == 5) {
    rs->route = m == M_POST ? R_DB_CREATE : R_DB_LIST;
    if (m == M_POST) route_db_create(rq, rs, t);
    else if (m == M_GET) route_db_list(rq, rs, t);
    else bad_method(rs);
  } else if (n == 6) {
    rs->route = m == M_DELETE ? R_DB_DELETE : R_DB_GET;
    if (m == M_GET) route_db_get(rq, rs, t, d);
    else if (m == M_DELETE) route_db_delete(rq, rs, t, d);
    else bad_method(rs);
  } else if (n == 7 && eq(rq->seg[6], "collections_count")) {
    rs->route = R_COLL_COUNT;
    if (m == M_GET) route_coll_count(rq, rs, t, d);
    else bad_method(rs);
  } else if (eq(rq->seg[6], "collections")) {
    collection_routes(rq, rs, t, d);
  } else {
    not_found(rs);
  }
}

void srv_dispatch(srv_req *rq, srv_resp *rs) {
  char **seg = rq->seg;
  int n = rq->n_seg;
  if (rq->s->cluster && cl_dispatch(rq, rs)) return; /* --cluster: server/cluster/ */
  if (n == 1 && eq(seg[0], "metrics")) {
    rs->route = R_METRICS;
    if (rq->method == M_GET) route_metrics(rq, rs);
    else bad_method(rs);
  } else if (n >= 2 && eq(seg[0], "api") && eq(seg[1], "v1")) {
    rs->route = R_V1;
    srv_reply_text(rs, 410, "{\"error\":\"Unimplemented\",\"message\":"
                            "\"The v1 API is deprecated. Please use /v2 apis\"}");
  } else if (n >= 2 && eq(seg[0], "api") && eq(seg[1], "v2")) {
    if (n >= 3 && eq(seg[2], "tenants")) tenant_routes(rq, rs);
    else if (n <= 4) system_routes(rq, rs);
    else not_found(rs);
  } else {
    not_found(rs);
  }
}
