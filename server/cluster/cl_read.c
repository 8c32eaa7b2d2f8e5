/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cl_read.c -- the read coordinator: get, query and count over every shard.
 *
 * Each shard is read from one replica: this node's own when it holds one, else a live node
 * that reported having applied what the read needs (round robin among them), else the live
 * node furthest ahead (it waits). A remote replica is asked over NATS (request on
 * qv.rpc.<node>, served by cl_rpc_cb); a failed or late replica is replaced by another, up to
 * three tries. Shards are read in parallel, one thread each.
 *
 * Consistency. By default a read waits until the replica it uses has applied, for each
 * shard, the highest sequence this node acknowledged to any writer and the sequences of the
 * X-Quiver-Token header the client sent back (read-your-writes, also across nodes). With
 * X-Quiver-Consistency: eventual the replica answers with what it has; with
 * X-Quiver-Consistency: strong the floor is each shard stream's last sequence, read from
 * JetStream when the read starts (every write acknowledged anywhere before is seen).
 *
 * Merging: count adds up; get concatenates the shards (in the order of the ids asked, when
 * ids are given) and applies offset and limit after (each shard is asked for offset + limit);
 * query asks every shard for n_results with distances and keeps the n_results nearest of
 * each query row across shards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_int.h"

static const char *const k_cols[] = {"ids", "distances", "embeddings", "documents", "metadatas", "uris"};
#define N_COLS (sizeof k_cols / sizeof k_cols[0])

void cl_token_parse(const char *tok, uint64_t *floor, int shards) {
  while (tok && *tok) {
    int k;
    unsigned long long seq;
    int used = 0;
    if (sscanf(tok, "%d:%llu%n", &k, &seq, &used) != 2) return;
    if (k >= 0 && k < shards && seq > floor[k]) floor[k] = seq;
    tok += used;
    while (*tok == ',' || *tok == ' ') tok++;
  }
}

typedef cl_shard_job shard_job;

/* Candidate nodes for a shard, best first. */
static int candidates(cluster *cl, const char *uuid, int k, int replicas, uint64_t floor, char out[][40], int max) {
  char place[CL_MAX_REPLICAS][40];
  int np = cl_placement(cl, uuid, k, replicas, place), n = 0;
  static unsigned rr;
  unsigned start = __atomic_add_fetch(&rr, 1, __ATOMIC_RELAXED);
  pthread_mutex_lock(&cl->mu);
  int local = cl_replica_find_locked(cl, uuid, k) != NULL;
  for (int p = 0; p < np && !local; p++) local = !strcmp(place[p], cl->node_id); /* being made */
  if (local) snprintf(out[n++], 40, "%s", cl->node_id);
  /* every node that reported this shard, caught up first (rotated), then the rest by progress */
  char ids[64][40];
  uint64_t seqs[64];
  int m = 0;
  for (size_t i = 0; i < cl->n_applied && m < 64; i++) {
    cl_applied *a = cl->applied[i];
    if (a->shard != k || strcmp(a->uuid, uuid) || !strcmp(a->node, cl->node_id) || !cl_live_locked(cl, a->node))
      continue;
    memcpy(ids[m], a->node, 40);
    seqs[m++] = a->seq;
  }
  for (int p = 0; p < np && m < 64; p++) { /* placed nodes that have not reported yet */
    int seen = !strcmp(place[p], cl->node_id);
    for (int i = 0; i < m && !seen; i++) seen = !strcmp(ids[i], place[p]);
    if (!seen && cl_live_locked(cl, place[p])) {
      memcpy(ids[m], place[p], 40);
      seqs[m++] = 0;
    }
  }
  pthread_mutex_unlock(&cl->mu);
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < m && n < max; i++) {
      int j = (int)((start + (unsigned)i) % (unsigned)m);
      if ((pass == 0) == (seqs[j] >= floor)) memcpy(out[n++], ids[j], 40);
    }
  return n;
}

static void *shard_main(void *arg) {
  shard_job *j = arg;
  cluster *cl = j->cl;
  char cand[8][40];
  int nc = candidates(cl, j->uuid, j->k, j->replicas, j->floor, cand, 8);
  j->status = 503;
  for (int t = 0; t < nc && t < 3; t++) {
    srv_resp rs;
    memset(&rs, 0, sizeof rs);
    if (t) __atomic_add_fetch(&cl->m_read_retries, 1, __ATOMIC_RELAXED);
    if (!strcmp(cand[t], cl->node_id)) {
      cl_replica_read(cl, j->uuid, j->k, j->replicas, j->op, j->body, j->floor, cl->o.wait_ms, &rs);
      free(j->resp);
      j->status = rs.status;
      j->resp = rs.body ? rs.body : strdup("{}");
      j->len = rs.body ? rs.len : 2;
    } else {
      json_t *req = json_pack("{s:s, s:i, s:i, s:s, s:I, s:i, s:s?}", "c", j->uuid, "k", j->k, "r", j->replicas, "op",
                              j->op, "min", (json_int_t)j->floor, "wait", cl->o.wait_ms, "body", j->body);
      char *text = req ? json_dumps(req, JSON_COMPACT) : NULL, subj[96];
      natsMsg *reply = NULL;
      json_decref(req);
      snprintf(subj, sizeof subj, "qv.rpc.%.39s", cand[t]);
      natsStatus st = text ? natsConnection_RequestString(&reply, cl->nc, subj, text, cl->o.wait_ms + 2000) : NATS_NO_MEMORY;
      free(text);
      if (st == NATS_OK && natsMsg_GetDataLength(reply) >= 4) {
        const char *d = natsMsg_GetData(reply);
        size_t len = (size_t)natsMsg_GetDataLength(reply) - 4;
        free(j->resp);
        j->status = atoi(d);
        j->resp = malloc(len + 1);
        if (j->resp) {
          memcpy(j->resp, d + 4, len);
          j->resp[len] = 0;
        }
        j->len = len;
      } else {
        free(j->resp);
        j->status = 503;
        j->len = (size_t)asprintf(&j->resp, "{\"error\":\"Unavailable\",\"message\":\"replica %s of shard %d did not "
                                            "answer: %s\"}", cand[t], j->k, natsStatus_GetText(st));
      }
      natsMsg_Destroy(reply);
    }
    if (j->status != 503) break; /* 503: not held there or behind; try another */
  }
  if (nc == 0) {
    j->len = (size_t)asprintf(&j->resp, "{\"error\":\"Unavailable\",\"message\":\"no live replica of shard %d of "
                                        "collection %s\"}", j->k, j->uuid);
  }
  return NULL;
}

/* ------------------------------------------------------------------ merging */

typedef struct hit {
  double d;
  int s;
  size_t i;
} hit;

static int cmp_hit(const void *a, const void *b) {
  const hit *x = a, *y = b;
  if (x->d != y->d) return x->d < y->d ? -1 : 1;
  if (x->s != y->s) return x->s - y->s;
  return x->i < y->i ? -1 : x->i > y->i;
}

static json_t *merge_query(json_t **parts, int n, size_t k, int want_dist, json_t *include) {
  json_t *out = json_object();
  size_t nq = json_array_size(json_object_get(parts[0], "ids"));
  for (size_t c = 0; c < N_COLS; c++) {
    int any = 0;
    for (int s = 0; s < n; s++) any |= json_is_array(json_object_get(parts[s], k_cols[c]));
    json_object_set_new(out, k_cols[c], any && (c != 1 || want_dist) ? json_array() : json_null());
  }
  for (size_t q = 0; q < nq; q++) {
    size_t total = 0;
    for (int s = 0; s < n; s++) total += json_array_size(json_array_get(json_object_get(parts[s], "ids"), q));
    hit *h = malloc((total ? total : 1) * sizeof *h);
    size_t m = 0;
    for (int s = 0; h && s < n; s++) {
      json_t *dr = json_array_get(json_object_get(parts[s], "distances"), q);
      size_t cnt = json_array_size(json_array_get(json_object_get(parts[s], "ids"), q));
      for (size_t i = 0; i < cnt; i++) h[m++] = (hit){json_number_value(json_array_get(dr, i)), s, i};
    }
    if (h) qsort(h, m, sizeof *h, cmp_hit);
    if (m > k) m = k;
    for (size_t c = 0; c < N_COLS; c++) {
      json_t *col = json_object_get(out, k_cols[c]);
      if (!json_is_array(col)) continue;
      json_t *row = json_array();
      for (size_t i = 0; h && i < m; i++)
        json_array_append(row, json_array_get(json_array_get(json_object_get(parts[h[i].s], k_cols[c]), q), h[i].i));
      json_array_append_new(col, row);
    }
    free(h);
  }
  json_object_set(out, "include", include ? include : json_object_get(parts[0], "include"));
  return out;
}

static json_t *merge_get(json_t **parts, int n, json_t *ids_asked, size_t offset, long long limit) {
  json_t *out = json_object();
  size_t total = 0;
  for (int s = 0; s < n; s++) total += json_array_size(json_object_get(parts[s], "ids"));
  /* order: shard by shard, or the order of the ids asked */
  size_t *ord_s = malloc((total ? total : 1) * sizeof *ord_s), *ord_i = malloc((total ? total : 1) * sizeof *ord_i);
  size_t m = 0;
  if (ord_s && ord_i && json_is_array(ids_asked)) {
    for (size_t a = 0; a < json_array_size(ids_asked); a++) {
      const char *want = json_string_value(json_array_get(ids_asked, a));
      int found = 0;
      for (int s = 0; s < n && !found && want; s++) {
        json_t *ids = json_object_get(parts[s], "ids");
        for (size_t i = 0; i < json_array_size(ids) && !found; i++)
          if (!strcmp(json_string_value(json_array_get(ids, i)) ? json_string_value(json_array_get(ids, i)) : "", want)) {
            int dup = 0;
            for (size_t x = 0; x < m && !dup; x++) dup = ord_s[x] == (size_t)s && ord_i[x] == i;
            if (!dup) ord_s[m] = (size_t)s, ord_i[m++] = i;
            found = 1;
          }
      }
    }
  } else if (ord_s && ord_i) {
    for (int s = 0; s < n; s++)
      for (size_t i = 0; i < json_array_size(json_object_get(parts[s], "ids")); i++) ord_s[m] = (size_t)s, ord_i[m++] = i;
  }
  size_t lo = offset < m ? offset : m, hi = m;
  if (limit >= 0 && lo + (size_t)limit < hi) hi = lo + (size_t)limit;
  for (size_t c = 0; c < N_COLS; c++) {
    if (c == 1) continue; /* get has no distances */
    int any = 0;
    for (int s = 0; s < n; s++) any |= json_is_array(json_object_get(parts[s], k_cols[c]));
    if (!any) {
      json_object_set_new(out, k_cols[c], json_null());
      continue;
    }
    json_t *col = json_array();
    for (size_t x = lo; x < hi; x++)
      json_array_append(col, json_array_get(json_object_get(parts[ord_s[x]], k_cols[c]), ord_i[x]));
    json_object_set_new(out, k_cols[c], col);
  }
  json_object_set(out, "include", json_object_get(parts[0], "include"));
  free(ord_s);
  free(ord_i);
  return out;
}

/* ------------------------------------------------------------------ the route */

int cl_scatter(srv_req *rq, srv_resp *rs, const cl_coll *c, const char *opname, const char *shard_body,
               shard_job *jobs) {
  cluster *cl = rq->s->cluster;
  const char *cons = srv_req_header(rq, "X-Quiver-Consistency");
  uint64_t floor[CL_MAX_SHARDS] = {0};
  int shards = c->shards;
  if (!cons || strcmp(cons, "eventual")) {
    for (int s = 0; s < shards; s++) floor[s] = cl_acked_get(cl, c->uuid, s);
    /* also what a majority applied, as far as the reports reached us: every write another
       node acknowledged (default mode) before this read started is then seen, give or take
       the reports' transit; the token is the guarantee across nodes */
    int m, r;
    pthread_mutex_lock(&cl->mu);
    m = (int)cl->n_nodes;
    r = c->replicas < m ? c->replicas : m;
    for (int s = 0; s < shards; s++) {
      uint64_t v[16];
      int nv = 0;
      for (size_t a = 0; a < cl->n_applied && nv < 16; a++)
        if (cl->applied[a]->shard == s && !strcmp(cl->applied[a]->uuid, c->uuid)) v[nv++] = cl->applied[a]->seq;
      for (int x = 1; x < nv; x++) /* descending */
        for (int y = x; y > 0 && v[y] > v[y - 1]; y--) {
          uint64_t t = v[y];
          v[y] = v[y - 1];
          v[y - 1] = t;
        }
      int need = (r > 0 ? r : 1) / 2 + 1;
      if (nv >= need && v[need - 1] > floor[s]) floor[s] = v[need - 1];
    }
    pthread_mutex_unlock(&cl->mu);
    cl_token_parse(srv_req_header(rq, "X-Quiver-Token"), floor, shards);
  }
  if (cons && !strcmp(cons, "strong")) {
    /* every write any node acknowledged is in its shard's stream: read up to the streams'
       last sequences now (one JetStream request per shard) */
    for (int s = 0; s < shards; s++) {
      char name[64];
      jsStreamInfo *si = NULL;
      jsErrCode jerr = 0;
      cl_stream_name(c->uuid, s, name);
      if (js_GetStreamInfo(&si, cl->js, name, NULL, &jerr) != NATS_OK || !si) {
        srv_error(rs, 503, "strong read: the position of shard %d's stream is not available (JetStream error %d)", s,
                  (int)jerr);
        return -1;
      }
      if (si->State.LastSeq > floor[s]) floor[s] = si->State.LastSeq;
      jsStreamInfo_Destroy(si);
    }
  }
  __atomic_add_fetch(&cl->m_reads, 1, __ATOMIC_RELAXED);
  /* shards held here run on this thread after the remote ones were sent off (a thread each) */
  int local[CL_MAX_SHARDS] = {0};
  pthread_mutex_lock(&cl->mu);
  for (int s = 0; s < shards; s++) local[s] = cl_replica_find_locked(cl, c->uuid, s) != NULL;
  pthread_mutex_unlock(&cl->mu);
  for (int s = 0; s < shards; s++) {
    jobs[s] = (shard_job){cl, c->uuid, s, c->replicas, opname, shard_body, floor[s], 0, NULL, 0, 0};
    if (!local[s] && pthread_create(&jobs[s].th, NULL, shard_main, &jobs[s]) != 0) local[s] = 1;
  }
  for (int s = 0; s < shards; s++)
    if (local[s]) shard_main(&jobs[s]);
  for (int s = 0; s < shards; s++)
    if (!local[s]) pthread_join(jobs[s].th, NULL);
  for (int s = 0; s < shards; s++)
    if (jobs[s].status != 200 || !jobs[s].resp) {
      rs->status = jobs[s].status ? jobs[s].status : 503;
      rs->body = jobs[s].resp;
      rs->len = jobs[s].len;
      jobs[s].resp = NULL;
      return -1;
    }
  return 0;
}


void cl_read(srv_req *rq, srv_resp *rs, cl_coll *c, srv_route op) {
  json_t *body = NULL, *parts[CL_MAX_SHARDS] = {0}, *include = NULL, *out = NULL;
  shard_job jobs[CL_MAX_SHARDS];
  char *shard_body = NULL;
  const char *opname = op == R_GET ? "get" : op == R_QUERY ? "query" : "count";
  size_t offset = 0, k = 10;
  long long limit = -1;
  int want_dist = 1, shards;
  shards = c->shards;
  memset(jobs, 0, sizeof jobs);
  if (op != R_COUNT && shards == 1) {
    /* one shard: its replica's answer is the answer, the body goes as it came */
    shard_body = strdup(rq->body_len ? rq->body : "{}");
    if (!shard_body) {
      srv_error(rs, 500, "out of memory");
      goto out;
    }
  } else if (op != R_COUNT) {
    if (!(body = srv_parse_body(rq, rs, op == R_GET))) goto out;
    if (op == R_GET) {
      long long v;
      int got = srv_field_int(body, "offset", &v, rs);
      if (got < 0) goto out;
      if (got && v < 0) {
        srv_error(rs, 400, "`offset` must be a non-negative integer");
        goto out;
      }
      if (got) offset = (size_t)v;
      if ((got = srv_field_int(body, "limit", &v, rs)) < 0) goto out;
      if (got && v < 0) {
        srv_error(rs, 400, "`limit` must be a non-negative integer");
        goto out;
      }
      if (got) limit = v;
      json_object_del(body, "offset");
      if (got) json_object_set_new(body, "limit", json_integer((json_int_t)(offset + (size_t)limit)));
    } else {
      long long v;
      int got = srv_field_int(body, "n_results", &v, rs);
      if (got < 0) goto out;
      if (got) k = v > 0 ? (size_t)v : 0;
      include = json_object_get(body, "include");
      if (json_is_array(include)) {
        want_dist = 0;
        for (size_t i = 0; i < json_array_size(include); i++)
          want_dist |= json_string_value(json_array_get(include, i)) &&
                       !strcmp(json_string_value(json_array_get(include, i)), "distances");
        include = json_deep_copy(include);
        if (!want_dist) json_array_append_new(json_object_get(body, "include"), json_string("distances"));
      } else {
        include = NULL;
      }
    }
    shard_body = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(9));
  }
  if (cl_scatter(rq, rs, c, opname, shard_body, jobs)) goto out;
  if (shards == 1) {
    rs->status = 200;
    rs->body = jobs[0].resp;
    rs->len = jobs[0].len;
    jobs[0].resp = NULL;
    goto out;
  }
  if (op == R_COUNT) {
    unsigned long long total = 0;
    char buf[32];
    for (int s = 0; s < shards; s++) total += strtoull(jobs[s].resp, NULL, 10);
    snprintf(buf, sizeof buf, "%llu", total);
    srv_reply_text(rs, 200, buf);
    goto out;
  }
  for (int s = 0; s < shards; s++)
    if (!(parts[s] = json_loadb(jobs[s].resp, jobs[s].len, 0, NULL))) {
      srv_error(rs, 502, "shard %d answered with malformed JSON", s);
      goto out;
    }
  out = op == R_QUERY ? merge_query(parts, shards, k, want_dist, include)
                      : merge_get(parts, shards, json_object_get(body, "ids"), offset, limit);
  rs->status = 200;
  rs->body = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(9));
  rs->len = rs->body ? strlen(rs->body) : 0;
  if (!rs->body) srv_error(rs, 500, "out of memory");
out:
  for (int s = 0; s < shards; s++) {
    free(jobs[s].resp);
    json_decref(parts[s]);
  }
  json_decref(out);
  json_decref(include);
  json_decref(body);
  free(shard_body);
  cl_coll_free(c);
}
