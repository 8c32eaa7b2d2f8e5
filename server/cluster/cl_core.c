/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cl_core.c -- joining the cluster: the NATS connection, the catalog bucket, membership,
 * the cached views of nodes / collections / applied sequences, placement, start and stop.
 *
 * The bucket `quiver` (JetStream key-value, 3 replicas when JetStream has 3 servers) holds
 *   node.<id>          {"id","url","ts","replicas":{"<uuid>/<k>": applied}}  every second
 *   coll.<uuid>        the collection: Chroma object, create body, shards, replicas, dim
 *   cname.<hex t>.<hex d>.<hex name>   <uuid>  (names are unique per tenant and database)
 *   tenant.<hex t>, db.<hex t>.<hex d>
 * A watcher keeps nodes and collections cached here. Replicas report what they applied on
 * qv.applied.<uuid>.<k> (core NATS, every batch and again every second); every node keeps the
 * highest sequence each node reported, which is what write acknowledgements and reads use.
 *
 * Placement of shard k of a collection: the `replicas` members (registered nodes, live or
 * not) with the highest hash(node, uuid, k) -- rendezvous hashing, so adding or removing a
 * member moves only the replicas it gains or loses. A node holding a replica it is no longer
 * placed on keeps applying it until a majority of the placed replicas have caught up with it,
 * then drops it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cl_int.h"

int64_t cl_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

uint64_t cl_hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  h ^= h >> 33; /* fmix: FNV's low bits are weak for short keys */
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

int cl_shard_of(const char *id, int shards) { return (int)(cl_hash(id, strlen(id)) % (uint64_t)shards); }

char *cl_hex(const char *s) {
  size_t n = strlen(s);
  char *o = malloc(2 * n + 1);
  static const char d[] = "0123456789abcdef";
  if (!o) return NULL;
  for (size_t i = 0; i < n; i++) {
    o[2 * i] = d[(unsigned char)s[i] >> 4];
    o[2 * i + 1] = d[(unsigned char)s[i] & 15];
  }
  o[2 * n] = 0;
  return o;
}

void cl_stream_name(const char *uuid, int k, char out[64]) {
  char u[40];
  size_t j = 0;
  for (const char *p = uuid; *p && j < 36; p++)
    if (*p != '-') u[j++] = *p;
  u[j] = 0;
  snprintf(out, 64, "QV_%s_%d", u, k);
}

void cl_subject(const char *uuid, int k, char out[96]) { snprintf(out, 96, "qv.w.%s.%d", uuid, k); }

void cl_local(qsrv *s, int method, const char *const *seg, int n_seg, const char *body, srv_resp *rs) {
  srv_req rq;
  size_t n = body ? strlen(body) : 0;
  char *copy = calloc(n + SRV_FAST_NUM_READ + 1, 1); /* the query fast path reads ahead */
  memset(&rq, 0, sizeof rq);
  if (!copy) {
    srv_error(rs, 500, "out of memory");
    return;
  }
  if (n) memcpy(copy, body, n);
  rq.s = s;
  rq.method = method;
  /* the handlers never write through seg (http.c owns them as char *) */
  for (int i = 0; i < n_seg && i < SRV_MAX_SEG; i++) memcpy(&rq.seg[i], &seg[i], sizeof rq.seg[i]);
  rq.n_seg = n_seg;
  rq.body = copy;
  rq.body_len = n;
  rq.internal = 1;
  srv_dispatch(&rq, rs);
  free(copy);
}

/* ------------------------------------------------------------------ collections */

void cl_coll_free(cl_coll *c) {
  if (!c) return;
  free(c->tenant);
  free(c->database);
  free(c->name);
  json_decref(c->obj);
  json_decref(c->create);
  free(c);
}

cl_coll *cl_coll_parse(const char *text, size_t len, uint64_t rev) {
  json_t *j = json_loadb(text, len, 0, NULL);
  cl_coll *c = calloc(1, sizeof *c);
  const char *u = json_string_value(json_object_get(j, "id"));
  const char *t = json_string_value(json_object_get(j, "tenant"));
  const char *d = json_string_value(json_object_get(j, "database"));
  json_t *obj = json_object_get(j, "obj");
  if (!c || !u || strlen(u) != 36 || !t || !d || !json_is_object(obj)) {
    json_decref(j);
    free(c);
    return NULL;
  }
  memcpy(c->uuid, u, 37);
  c->tenant = strdup(t);
  c->database = strdup(d);
  c->name = strdup(json_string_value(json_object_get(obj, "name")) ? json_string_value(json_object_get(obj, "name")) : "");
  c->obj = json_incref(obj);
  c->create = json_incref(json_object_get(j, "create"));
  c->shards = (int)json_integer_value(json_object_get(j, "shards"));
  c->replicas = (int)json_integer_value(json_object_get(j, "replicas"));
  c->dim = (uint32_t)json_integer_value(json_object_get(j, "dim"));
  c->rev = rev;
  json_decref(j);
  if (!c->tenant || !c->database || !c->name || c->shards < 1 || c->shards > CL_MAX_SHARDS || c->replicas < 1) {
    cl_coll_free(c);
    return NULL;
  }
  return c;
}

static cl_coll *coll_copy(const cl_coll *s) {
  cl_coll *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  *c = *s;
  c->tenant = strdup(s->tenant);
  c->database = strdup(s->database);
  c->name = strdup(s->name);
  c->obj = json_deep_copy(s->obj);
  c->create = s->create ? json_deep_copy(s->create) : NULL;
  if (!c->tenant || !c->database || !c->name || !c->obj) {
    cl_coll_free(c);
    return NULL;
  }
  return c;
}

/* Insert or replace (when newer) the cached collection; takes c. Under cl->mu. */
static void cache_coll_locked(cluster *cl, cl_coll *c) {
  for (size_t i = 0; i < cl->n_colls; i++)
    if (!strcmp(cl->colls[i]->uuid, c->uuid)) {
      if (cl->colls[i]->rev <= c->rev) {
        cl_coll_free(cl->colls[i]);
        cl->colls[i] = c;
      } else {
        cl_coll_free(c);
      }
      return;
    }
  if (cl->n_colls == cl->cap_colls) {
    size_t nc = cl->cap_colls ? cl->cap_colls * 2 : 16;
    cl_coll **p = realloc(cl->colls, nc * sizeof *p);
    if (!p) {
      cl_coll_free(c);
      return;
    }
    cl->colls = p;
    cl->cap_colls = nc;
  }
  cl->colls[cl->n_colls++] = c;
}

void cl_coll_forget(cluster *cl, const char *uuid) {
  pthread_mutex_lock(&cl->mu);
  for (size_t i = 0; i < cl->n_colls; i++)
    if (!strcmp(cl->colls[i]->uuid, uuid)) {
      cl_coll_free(cl->colls[i]);
      cl->colls[i] = cl->colls[--cl->n_colls];
      break;
    }
  pthread_mutex_unlock(&cl->mu);
}

cl_coll *cl_coll_get(cluster *cl, const char *uuid) {
  cl_coll *out = NULL;
  char key[64];
  kvEntry *e = NULL;
  pthread_mutex_lock(&cl->mu);
  for (size_t i = 0; i < cl->n_colls; i++)
    if (!strcmp(cl->colls[i]->uuid, uuid)) {
      out = coll_copy(cl->colls[i]);
      break;
    }
  pthread_mutex_unlock(&cl->mu);
  if (out) return out;
  if (strlen(uuid) != 36) return NULL;
  snprintf(key, sizeof key, "coll.%s", uuid);
  if (kvStore_Get(&e, cl->kv, key) != NATS_OK) return NULL;
  out = cl_coll_parse(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), kvEntry_Revision(e));
  kvEntry_Destroy(e);
  if (out) {
    cl_coll *keep = coll_copy(out);
    pthread_mutex_lock(&cl->mu);
    if (keep) cache_coll_locked(cl, keep);
    pthread_mutex_unlock(&cl->mu);
  }
  return out;
}

int cl_coll_put(cluster *cl, const cl_coll *c, uint64_t rev, uint64_t *new_rev) {
  json_t *j = json_pack("{s:s, s:s, s:s, s:O, s:O?, s:i, s:i, s:I}", "id", c->uuid, "tenant", c->tenant, "database",
                        c->database, "obj", c->obj, "create", c->create, "shards", c->shards, "replicas", c->replicas,
                        "dim", (json_int_t)c->dim);
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  char key[64];
  uint64_t r = 0;
  natsStatus st;
  json_decref(j);
  if (!text) return -1;
  snprintf(key, sizeof key, "coll.%s", c->uuid);
  st = rev ? kvStore_UpdateString(&r, cl->kv, key, text, rev) : kvStore_CreateString(&r, cl->kv, key, text);
  free(text);
  if (st != NATS_OK) return -1;
  if (new_rev) *new_rev = r;
  cl_coll *keep = coll_copy(c);
  if (keep) {
    keep->rev = r;
    pthread_mutex_lock(&cl->mu);
    cache_coll_locked(cl, keep);
    cl->kick = 1;
    pthread_mutex_unlock(&cl->mu);
  }
  return 0;
}

/* ------------------------------------------------------------------ nodes, placement */

static void note_node_locked(cluster *cl, const char *id, const char *url, int64_t ts, int stopped) {
  for (size_t i = 0; i < cl->n_nodes; i++)
    if (!strcmp(cl->nodes[i].id, id)) {
      if (cl->nodes[i].ts_ms != ts) cl->nodes[i].seen_ms = stopped ? 0 : cl_now_ms();
      cl->nodes[i].ts_ms = ts;
      snprintf(cl->nodes[i].url, sizeof cl->nodes[i].url, "%s", url);
      return;
    }
  if (cl->n_nodes == cl->cap_nodes) {
    size_t nc = cl->cap_nodes ? cl->cap_nodes * 2 : 8;
    cl_node *p = realloc(cl->nodes, nc * sizeof *p);
    if (!p) return;
    cl->nodes = p;
    cl->cap_nodes = nc;
  }
  cl_node *n = &cl->nodes[cl->n_nodes++];
  memset(n, 0, sizeof *n);
  snprintf(n->id, sizeof n->id, "%s", id);
  snprintf(n->url, sizeof n->url, "%s", url);
  n->ts_ms = ts;
  n->seen_ms = stopped ? 0 : cl_now_ms();
}

static void forget_node_locked(cluster *cl, const char *id) {
  for (size_t i = 0; i < cl->n_nodes; i++)
    if (!strcmp(cl->nodes[i].id, id)) {
      cl->nodes[i] = cl->nodes[--cl->n_nodes];
      return;
    }
}

int cl_live_locked(cluster *cl, const char *node) {
  if (!strcmp(node, cl->node_id)) return 1;
  for (size_t i = 0; i < cl->n_nodes; i++)
    if (!strcmp(cl->nodes[i].id, node)) return cl_now_ms() - cl->nodes[i].seen_ms < CL_LIVE_MS;
  return 0;
}

int cl_placement(cluster *cl, const char *uuid, int k, int replicas, char out[][40]) {
  struct { uint64_t h; char id[40]; } best[CL_MAX_REPLICAS];
  int n = 0;
  char buf[160];
  if (replicas > CL_MAX_REPLICAS) replicas = CL_MAX_REPLICAS;
  pthread_mutex_lock(&cl->mu);
  for (size_t i = 0; i < cl->n_nodes; i++) {
    int len = snprintf(buf, sizeof buf, "%s/%s/%d", cl->nodes[i].id, uuid, k);
    uint64_t h = cl_hash(buf, (size_t)len);
    int pos = n;
    while (pos > 0 && best[pos - 1].h < h) pos--;
    if (pos >= replicas) continue;
    if (n < replicas) n++;
    memmove(&best[pos + 1], &best[pos], (size_t)(n - 1 - pos) * sizeof best[0]);
    best[pos].h = h;
    snprintf(best[pos].id, sizeof best[pos].id, "%s", cl->nodes[i].id);
  }
  pthread_mutex_unlock(&cl->mu);
  for (int i = 0; i < n; i++) memcpy(out[i], best[i].id, 40);
  return n;
}

/* ------------------------------------------------------------------ applied sequences */

static cl_applied *applied_slot_locked(cluster *cl, const char *uuid, int k, const char *node, int create) {
  for (size_t i = 0; i < cl->n_applied; i++) {
    cl_applied *a = cl->applied[i];
    if (a->shard == k && !strcmp(a->uuid, uuid) && !strcmp(a->node, node)) return a;
  }
  if (!create) return NULL;
  if (cl->n_applied == cl->cap_applied) {
    size_t nc = cl->cap_applied ? cl->cap_applied * 2 : 32;
    cl_applied **p = realloc(cl->applied, nc * sizeof *p);
    if (!p) return NULL;
    cl->applied = p;
    cl->cap_applied = nc;
  }
  cl_applied *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  snprintf(a->uuid, sizeof a->uuid, "%s", uuid);
  snprintf(a->node, sizeof a->node, "%s", node);
  a->shard = k;
  cl->applied[cl->n_applied++] = a;
  return a;
}

void cl_note_applied(cluster *cl, const char *uuid, int k, const char *node, uint64_t seq, int64_t epoch,
                     const cl_result *res) {
  pthread_mutex_lock(&cl->mu);
  cl_applied *a = applied_slot_locked(cl, uuid, k, node, 1);
  if (a && epoch >= a->epoch) {
    if (epoch > a->epoch) { /* restarted or rebuilt: what it reported before no longer holds */
      a->epoch = epoch;
      a->seq = seq;
      memset(a->res, 0, sizeof a->res);
    } else if (seq > a->seq) {
      a->seq = seq;
    }
    a->ms = cl_now_ms();
    if (res && res->seq) {
      a->res[res->seq % CL_RESULTS] = *res;
      cl_cross_check_locked(cl, uuid, k, res->seq);
    }
  }
  pthread_cond_broadcast(&cl->cv);
  pthread_mutex_unlock(&cl->mu);
}

void cl_cross_check_locked(cluster *cl, const char *uuid, int k, uint64_t seq) {
  cl_replica *r = cl_replica_find_locked(cl, uuid, k);
  if (!r || !seq || r->hist_seq[seq % CL_HIST] != seq) return;
  uint32_t mine = r->hist[seq % CL_HIST];
  for (size_t i = 0; i < cl->n_applied; i++) {
    cl_applied *a = cl->applied[i];
    const cl_result *o = &a->res[seq % CL_RESULTS];
    if (a->shard != k || strcmp(a->uuid, uuid) || !strcmp(a->node, cl->node_id) || o->seq != seq) continue;
    uint32_t theirs = o->id[0] ? cl_idh(o->id) : CL_IDH_HOLE;
    if (theirs != mine && (!r->suspect || seq < r->suspect)) r->suspect = seq;
  }
}

int cl_count_applied_locked(cluster *cl, const char *uuid, int k, uint64_t seq) {
  int n = 0;
  for (size_t i = 0; i < cl->n_applied; i++) {
    cl_applied *a = cl->applied[i];
    n += a->shard == k && a->seq >= seq && !strcmp(a->uuid, uuid);
  }
  return n;
}

int cl_count_applied_id_locked(cluster *cl, const char *uuid, int k, uint64_t seq, const char *id) {
  int n = 0;
  for (size_t i = 0; i < cl->n_applied; i++) {
    cl_applied *a = cl->applied[i];
    const cl_result *r = &a->res[seq % CL_RESULTS];
    n += a->shard == k && !strcmp(a->uuid, uuid) && a->seq >= seq && r->seq == seq && !strcmp(r->id, id);
  }
  return n;
}

const cl_result *cl_result_locked(cluster *cl, const char *uuid, int k, uint64_t seq, const char *id) {
  for (size_t i = 0; i < cl->n_applied; i++) {
    cl_applied *a = cl->applied[i];
    const cl_result *r = &a->res[seq % CL_RESULTS];
    if (a->shard == k && !strcmp(a->uuid, uuid) && r->seq == seq && (!id || !strcmp(r->id, id))) return r;
  }
  return NULL;
}

uint64_t cl_applied_of_locked(cluster *cl, const char *uuid, int k, const char *node) {
  cl_applied *a = applied_slot_locked(cl, uuid, k, node, 0);
  return a ? a->seq : 0;
}

uint64_t cl_acked_get(cluster *cl, const char *uuid, int k) {
  uint64_t v = 0;
  pthread_mutex_lock(&cl->mu);
  for (size_t i = 0; i < cl->n_acked; i++)
    if (cl->acked[i].shard == k && !strcmp(cl->acked[i].uuid, uuid)) v = cl->acked[i].seq;
  pthread_mutex_unlock(&cl->mu);
  return v;
}

void cl_acked_raise(cluster *cl, const char *uuid, int k, uint64_t seq) {
  pthread_mutex_lock(&cl->mu);
  for (size_t i = 0; i < cl->n_acked; i++)
    if (cl->acked[i].shard == k && !strcmp(cl->acked[i].uuid, uuid)) {
      if (cl->acked[i].seq < seq) cl->acked[i].seq = seq;
      pthread_mutex_unlock(&cl->mu);
      return;
    }
  if (cl->n_acked == cl->cap_acked) {
    size_t nc = cl->cap_acked ? cl->cap_acked * 2 : 32;
    struct cl_acked *p = realloc(cl->acked, nc * sizeof *p);
    if (p) cl->acked = p, cl->cap_acked = nc;
  }
  if (cl->n_acked < cl->cap_acked) {
    struct cl_acked *a = &cl->acked[cl->n_acked++];
    snprintf(a->uuid, sizeof a->uuid, "%s", uuid);
    a->shard = k;
    a->seq = seq;
  }
  pthread_mutex_unlock(&cl->mu);
}

/* qv.applied.<uuid>.<k>: {"node": id, "seq": n, "ep": epoch[, "res": [seq, n, status, msg, identity]]} */
static void applied_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
  cluster *cl = closure;
  const char *subj = natsMsg_GetSubject(msg);
  char uuid[37];
  int k;
  json_t *j = NULL;
  (void)nc;
  (void)sub;
  if (strlen(subj) > 11 + 36 && sscanf(subj + 11, "%36[0-9a-f-].%d", uuid, &k) == 2 &&
      (j = json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), 0, NULL))) {
    const char *node = json_string_value(json_object_get(j, "node"));
    json_t *res = json_object_get(j, "res");
    cl_result r;
    memset(&r, 0, sizeof r);
    if (json_is_array(res)) {
      r.seq = (uint64_t)json_integer_value(json_array_get(res, 0));
      r.n = json_integer_value(json_array_get(res, 1));
      r.status = (int)json_integer_value(json_array_get(res, 2));
      snprintf(r.msg, sizeof r.msg, "%s", json_string_value(json_array_get(res, 3)) ? json_string_value(json_array_get(res, 3)) : "");
      snprintf(r.id, sizeof r.id, "%s", json_string_value(json_array_get(res, 4)) ? json_string_value(json_array_get(res, 4)) : "");
    }
    if (node && strcmp(node, cl->node_id)) /* our own replicas note theirs directly */
      cl_note_applied(cl, uuid, k, node, (uint64_t)json_integer_value(json_object_get(j, "seq")),
                      (int64_t)json_integer_value(json_object_get(j, "ep")), r.seq ? &r : NULL);
  }
  json_decref(j);
  natsMsg_Destroy(msg);
}

/* ------------------------------------------------------------------ heartbeat + reconcile */

static void heartbeat(cluster *cl) {
  json_t *reps = json_object(), *j;
  char key[64], *text;
  struct { char uuid[37]; int k; uint64_t seq; int64_t ep; } *list = NULL;
  size_t n = 0;
  pthread_mutex_lock(&cl->mu);
  list = calloc(cl->n_reps + 1, sizeof *list);
  for (size_t i = 0; list && i < cl->n_reps; i++) {
    cl_replica *r = cl->reps[i];
    char rk[64];
    snprintf(rk, sizeof rk, "%s/%d", r->uuid, r->shard);
    json_object_set_new(reps, rk, json_integer((json_int_t)r->applied));
    memcpy(list[n].uuid, r->uuid, 37);
    list[n].k = r->shard;
    list[n].ep = r->epoch;
    list[n++].seq = r->applied;
  }
  pthread_mutex_unlock(&cl->mu);
  j = json_pack("{s:s, s:s, s:I, s:o, s:b}", "id", cl->node_id, "url", cl->url, "ts", (json_int_t)cl_now_ms(), "replicas",
                reps, "stopped", cl->stop);
  text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  snprintf(key, sizeof key, "node.%s", cl->node_id);
  if (text && kvStore_PutString(NULL, cl->kv, key, text) != NATS_OK)
    srv_log(cl->s, SRV_LOG_DEBUG, "cluster: heartbeat not stored: %s", nats_GetLastError(NULL));
  free(text);
  json_decref(j);
  for (size_t i = 0; i < n; i++) {
    char subj[96], body[160];
    if (!list[i].ep) continue; /* its applier has not started yet */
    int len = snprintf(body, sizeof body, "{\"node\":\"%s\",\"seq\":%llu,\"ep\":%lld}", cl->node_id,
                       (unsigned long long)list[i].seq, (long long)list[i].ep);
    snprintf(subj, sizeof subj, "qv.applied.%s.%d", list[i].uuid, list[i].k);
    natsConnection_Publish(cl->nc, subj, body, len);
  }
  free(list);
}

/* Collections as (uuid, shards, replicas) copies, then replicas made or retired. */
static void reconcile(cluster *cl) {
  cl_coll **cs = NULL;
  size_t n = 0;
  pthread_mutex_lock(&cl->mu);
  cs = calloc(cl->n_colls + 1, sizeof *cs);
  for (size_t i = 0; cs && i < cl->n_colls; i++)
    if ((cs[n] = coll_copy(cl->colls[i]))) n++;
  pthread_mutex_unlock(&cl->mu);
  if (!cs) return;
  for (size_t i = 0; i < n && !cl->stop; i++) {
    for (int k = 0; k < cs[i]->shards; k++) {
      char place[CL_MAX_REPLICAS][40];
      int np = cl_placement(cl, cs[i]->uuid, k, cs[i]->replicas, place), me = 0;
      for (int p = 0; p < np; p++) me |= !strcmp(place[p], cl->node_id);
      if (me) {
        if (cl_replica_ensure(cl, cs[i], k))
          srv_log(cl->s, SRV_LOG_WARN, "cluster: cannot start replica %s/%d", cs[i]->uuid, k);
        continue;
      }
      /* not placed here: retire a replica we hold once a majority of the placed caught up */
      pthread_mutex_lock(&cl->mu);
      cl_replica *r = cl_replica_find_locked(cl, cs[i]->uuid, k);
      int retire = 0;
      if (r) {
        int caught = 0;
        r->placed = 0;
        for (int p = 0; p < np; p++)
          caught += cl_live_locked(cl, place[p]) && cl_applied_of_locked(cl, r->uuid, k, place[p]) >= r->applied;
        retire = caught >= np / 2 + 1;
      }
      pthread_mutex_unlock(&cl->mu);
      if (retire) {
        srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d moved off this node; dropping it", cs[i]->uuid, k);
        cl_replica_stop(cl, r, 1);
      }
    }
  }
  /* replicas of collections that no longer exist */
  for (;;) {
    cl_replica *gone = NULL;
    pthread_mutex_lock(&cl->mu);
    for (size_t i = 0; i < cl->n_reps && !gone; i++) {
      int found = 0;
      for (size_t c = 0; c < n && !found; c++) found = !strcmp(cs[c]->uuid, cl->reps[i]->uuid);
      if (!found) gone = cl->reps[i];
    }
    pthread_mutex_unlock(&cl->mu);
    if (!gone) break;
    char key[64];
    kvEntry *e = NULL;
    snprintf(key, sizeof key, "coll.%s", gone->uuid);
    if (kvStore_Get(&e, cl->kv, key) == NATS_OK) { /* the cache lags: still there */
      kvEntry_Destroy(e);
      break;
    }
    srv_log(cl->s, SRV_LOG_WARN, "cluster: collection %s deleted; dropping replica %d", gone->uuid, gone->shard);
    cl_replica_stop(cl, gone, 1);
  }
  for (size_t i = 0; i < n; i++) cl_coll_free(cs[i]);
  free(cs);
}

static void nap_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

static void *hb_main(void *arg) {
  cluster *cl = arg;
  int64_t last_hb = 0;
  while (!cl->stop) {
    if (cl_now_ms() - last_hb >= 1000) {
      heartbeat(cl);
      last_hb = cl_now_ms();
    }
    reconcile(cl);
    /* every second, or as soon as the catalog changes */
    for (int i = 0; i < 20 && !cl->stop; i++) {
      pthread_mutex_lock(&cl->mu);
      int k = cl->kick;
      cl->kick = 0;
      pthread_mutex_unlock(&cl->mu);
      if (k) break;
      nap_ms(50);
    }
  }
  return NULL;
}

/* ------------------------------------------------------------------ watcher */

static void watch_entry(cluster *cl, kvEntry *e) {
  const char *key = kvEntry_Key(e);
  kvOperation op = kvEntry_Operation(e);
  int del = op == kvOp_Delete || op == kvOp_Purge;
  if (!strncmp(key, "node.", 5)) {
    json_t *j = del ? NULL : json_loadb(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), 0, NULL);
    pthread_mutex_lock(&cl->mu);
    if (del) forget_node_locked(cl, key + 5);
    else if (j && json_string_value(json_object_get(j, "id")))
      note_node_locked(cl, json_string_value(json_object_get(j, "id")),
                       json_string_value(json_object_get(j, "url")) ? json_string_value(json_object_get(j, "url")) : "",
                       (int64_t)json_integer_value(json_object_get(j, "ts")),
                       json_is_true(json_object_get(j, "stopped")));
    /* a replica the node no longer lists (dropped, moved) stops counting for acks and
       reads; entries younger than 3 s may belong to a replica made since that heartbeat */
    json_t *reps = json_object_get(j, "replicas");
    for (size_t i = 0; json_is_object(reps) && i < cl->n_applied;) {
      cl_applied *a = cl->applied[i];
      char rk[64];
      snprintf(rk, sizeof rk, "%s/%d", a->uuid, a->shard);
      if (!strcmp(a->node, key + 5) && strcmp(a->node, cl->node_id) && !json_object_get(reps, rk) &&
          cl_now_ms() - a->ms > 3000) {
        free(a);
        cl->applied[i] = cl->applied[--cl->n_applied];
      } else {
        i++;
      }
    }
    pthread_mutex_unlock(&cl->mu);
    json_decref(j);
  } else if (!strncmp(key, "coll.", 5)) {
    if (del) {
      cl_coll_forget(cl, key + 5);
    } else {
      cl_coll *c = cl_coll_parse(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), kvEntry_Revision(e));
      if (c) {
        pthread_mutex_lock(&cl->mu);
        cache_coll_locked(cl, c);
        pthread_mutex_unlock(&cl->mu);
      }
    }
    pthread_mutex_lock(&cl->mu);
    cl->kick = 1;
    pthread_cond_broadcast(&cl->cv);
    pthread_mutex_unlock(&cl->mu);
  }
}

static void *watch_main(void *arg) {
  cluster *cl = arg;
  while (!cl->stop) {
    kvEntry *e = NULL;
    natsStatus st = kvWatcher_Next(&e, cl->watcher, 500);
    if (st == NATS_OK && e) {
      watch_entry(cl, e);
      kvEntry_Destroy(e);
    } else if (st != NATS_OK && st != NATS_TIMEOUT) {
      if (cl->stop) break;
      /* the watcher broke (connection lost long enough): make a new one */
      nap_ms(500);
      kvWatcher *w = NULL;
      if (kvStore_WatchAll(&w, cl->kv, NULL) == NATS_OK) {
        kvWatcher_Destroy(cl->watcher);
        cl->watcher = w;
      }
    }
  }
  return NULL;
}

/* ------------------------------------------------------------------ start, stop */

static int load_node_id(cluster *cl, const char *data_dir) {
  char path[4096];
  FILE *f;
  if (cl->o.node_id) {
    snprintf(cl->node_id, sizeof cl->node_id, "%s", cl->o.node_id);
    return 0;
  }
  snprintf(path, sizeof path, "%s/cluster-node-id", data_dir);
  if ((f = fopen(path, "r"))) {
    int ok = fscanf(f, "%39s", cl->node_id) == 1;
    fclose(f);
    if (ok) return 0;
  }
  char u[37];
  srv_uuid4(u);
  snprintf(cl->node_id, sizeof cl->node_id, "n%.8s", u);
  if (!(f = fopen(path, "w"))) return -1;
  fprintf(f, "%s\n", cl->node_id);
  return fclose(f) ? -1 : 0;
}

static int valid_node_id(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 32) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
      return 0;
  return 1;
}

static natsStatus open_bucket(cluster *cl) {
  natsStatus st = js_KeyValue(&cl->kv, cl->js, CL_BUCKET);
  if (st == NATS_OK) return st;
  for (int replicas = 3; replicas >= 1; replicas -= 2) {
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = CL_BUCKET;
    kc.History = 1;
    kc.Replicas = replicas;
    kc.StorageType = js_FileStorage;
    st = js_CreateKeyValue(&cl->kv, cl->js, &kc);
    if (st == NATS_OK) return st;
    if (js_KeyValue(&cl->kv, cl->js, CL_BUCKET) == NATS_OK) return NATS_OK; /* another node made it */
  }
  return st;
}

int cl_start(qsrv *s, const cl_opts *o) {
  cluster *cl = calloc(1, sizeof *cl);
  natsOptions *no = NULL;
  const char *servers[16];
  char *urls = NULL, *save = NULL;
  int n_servers = 0;
  natsStatus st;
  jsOptions jo;
  if (!cl) return -1;
  cl->s = s;
  cl->o = *o;
  if (cl->o.wait_ms <= 0) cl->o.wait_ms = 10000;
  pthread_mutex_init(&cl->mu, NULL);
  pthread_cond_init(&cl->cv, NULL);
  s->cluster = cl;
  if (load_node_id(cl, s->data_dir)) {
    fprintf(stderr, "quiver serve: cannot keep the node id in %s/cluster-node-id: %s\n", s->data_dir, strerror(errno));
    return -1;
  }
  if (!valid_node_id(cl->node_id)) {
    fprintf(stderr, "quiver serve: bad node id '%s' (1..32 of A-Z a-z 0-9 - _)\n", cl->node_id);
    return -1;
  }
  snprintf(cl->url, sizeof cl->url, "http://%s:%d", s->host, s->port);
  urls = strdup(o->urls);
  for (char *t = urls ? strtok_r(urls, ",", &save) : NULL; t && n_servers < 16; t = strtok_r(NULL, ",", &save))
    servers[n_servers++] = t;
  if (!n_servers) {
    fprintf(stderr, "quiver serve: --cluster needs nats://HOST:PORT[,...]\n");
    free(urls);
    return -1;
  }
  st = natsOptions_Create(&no);
  if (st == NATS_OK) st = natsOptions_SetServers(no, servers, n_servers);
  if (st == NATS_OK) st = natsOptions_SetMaxReconnect(no, -1);
  if (st == NATS_OK) st = natsOptions_SetReconnectWait(no, 250);
  if (st == NATS_OK) st = natsOptions_SetTimeout(no, 2000);
  /* the first connection: up to 30 s for a NATS server to come up, then a clear failure
     (once connected, reconnects never give up) */
  if (st == NATS_OK) {
    for (int i = 0; i < 60; i++) {
      st = natsConnection_Connect(&cl->nc, no);
      if (st == NATS_OK || (st != NATS_NO_SERVER && st != NATS_TIMEOUT && st != NATS_IO_ERROR)) break;
      if (i == 0) fprintf(stderr, "quiver serve: waiting for NATS at %s\n", o->urls);
      nap_ms(500);
    }
  }
  natsOptions_Destroy(no);
  free(urls);
  if (st != NATS_OK) {
    fprintf(stderr, "quiver serve: cannot connect to NATS at %s: %s\n", o->urls, natsStatus_GetText(st));
    return -1;
  }
  jsOptions_Init(&jo);
  jo.Wait = 5000;
  st = natsConnection_JetStream(&cl->js, cl->nc, &jo);
  /* JetStream may need a moment to elect its meta leader right after the servers start */
  for (int i = 0; st == NATS_OK && i < CL_START_SUBSCRIBE_MS / 500; i++) {
    st = open_bucket(cl);
    if (st == NATS_OK) break;
    nap_ms(500);
    st = NATS_OK;
    if (i == CL_START_SUBSCRIBE_MS / 500 - 1) st = NATS_TIMEOUT;
  }
  if (st != NATS_OK || !cl->kv) {
    fprintf(stderr, "quiver serve: cannot open the cluster's key-value bucket '%s' (is JetStream enabled?): %s\n",
            CL_BUCKET, nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(st));
    return -1;
  }
  {
    qv_collection_opts co;
    qv_collection_opts_init(&co);
    co.dim = 1;
    if (qv_db_open(NULL, NULL, &cl->vdb) != QV_OK || qv_collection_create(cl->vdb, "v", &co, &cl->vcol) != QV_OK) {
      fprintf(stderr, "quiver serve: out of memory\n");
      return -1;
    }
  }
  /* The bucket's watcher is a JetStream consumer: right after NATS servers restart (a
     majority killed, say) its creation times out until the bucket's stream has a leader
     again. Retried with backoff (0.25 s doubling to 4 s) for up to CL_START_SUBSCRIBE_MS. */
  {
    int64_t until = cl_now_ms() + CL_START_SUBSCRIBE_MS;
    int pause = 250;
    for (int attempt = 0;; attempt++) {
      st = kvStore_WatchAll(&cl->watcher, cl->kv, NULL);
      if (st == NATS_OK) st = natsConnection_Subscribe(&cl->applied_sub, cl->nc, "qv.applied.>", applied_cb, cl);
      for (int i = 0; st == NATS_OK && i < 4; i++) {
        char subj[64];
        snprintf(subj, sizeof subj, "qv.rpc.%s", cl->node_id);
        st = natsConnection_QueueSubscribe(&cl->rpc_subs[i], cl->nc, subj, "rpc", cl_rpc_cb, cl);
      }
      if (st == NATS_OK) break;
      const char *le = nats_GetLastError(NULL);
      char why[200];
      snprintf(why, sizeof why, "%s", le && *le ? le : natsStatus_GetText(st));
      for (int i = 0; i < 4; i++) {
        natsSubscription_Destroy(cl->rpc_subs[i]);
        cl->rpc_subs[i] = NULL;
      }
      natsSubscription_Destroy(cl->applied_sub);
      cl->applied_sub = NULL;
      kvWatcher_Destroy(cl->watcher);
      cl->watcher = NULL;
      if (cl_now_ms() + pause > until) {
        fprintf(stderr, "quiver serve: cannot subscribe on NATS (%d attempts over %d s): %s\n", attempt + 1,
                CL_START_SUBSCRIBE_MS / 1000, why);
        return -1;
      }
      fprintf(stderr, "quiver serve: cannot subscribe on NATS yet (%s); retrying in %d ms\n", why, pause);
      nap_ms(pause);
      if (pause < 4000) pause *= 2;
    }
  }
  /* first the bucket's current contents, so that placement sees every member */
  for (int i = 0; i < 200; i++) {
    kvEntry *e = NULL;
    if (kvWatcher_Next(&e, cl->watcher, 1000) != NATS_OK || !e) break;
    watch_entry(cl, e);
    kvEntry_Destroy(e);
  }
  cl_snap_init(cl); /* the snapshots' object store (cl_snap.c) */
  heartbeat(cl);
  if (pthread_create(&cl->watch_th, NULL, watch_main, cl) == 0) cl->watch_running = 1;
  if (pthread_create(&cl->hb_th, NULL, hb_main, cl) == 0) cl->hb_running = 1;
  if (!cl->watch_running || !cl->hb_running) {
    fprintf(stderr, "quiver serve: cannot start the cluster threads\n");
    return -1;
  }
  fprintf(stderr, "quiver: cluster node %s joined %s (writes acknowledged %s)\n", cl->node_id, o->urls,
          o->ack_log ? "at the JetStream quorum" : "once a majority of replicas applied them");
  return 0;
}

void cl_stop(qsrv *s) {
  cluster *cl = s->cluster;
  if (!cl) return;
  cl->stop = 1;
  if (cl->hb_running) pthread_join(cl->hb_th, NULL);
  if (cl->watch_running) pthread_join(cl->watch_th, NULL);
  for (int i = 0; i < 4; i++)
    if (cl->rpc_subs[i]) natsSubscription_Unsubscribe(cl->rpc_subs[i]);
  pthread_mutex_lock(&cl->mu); /* every applier told first, so they wind down together */
  for (size_t i = 0; i < cl->n_reps; i++) cl->reps[i]->stop = 1;
  pthread_mutex_unlock(&cl->mu);
  for (;;) {
    cl_replica *r = NULL;
    pthread_mutex_lock(&cl->mu);
    if (cl->n_reps) r = cl->reps[cl->n_reps - 1];
    pthread_mutex_unlock(&cl->mu);
    if (!r) break;
    cl_replica_stop(cl, r, 0);
  }
  if (cl->kv && cl->nc && natsConnection_Status(cl->nc) == NATS_CONN_STATUS_CONNECTED) heartbeat(cl);
  for (int i = 0; i < 4; i++) natsSubscription_Destroy(cl->rpc_subs[i]);
  if (cl->applied_sub) natsSubscription_Unsubscribe(cl->applied_sub);
  natsSubscription_Destroy(cl->applied_sub);
  if (cl->watcher) kvWatcher_Stop(cl->watcher);
  kvWatcher_Destroy(cl->watcher);
  kvStore_Destroy(cl->kv);
  jsCtx_Destroy(cl->js);
  if (cl->nc) natsConnection_Close(cl->nc);
  natsConnection_Destroy(cl->nc);
  for (size_t i = 0; i < cl->n_colls; i++) cl_coll_free(cl->colls[i]);
  for (size_t i = 0; i < cl->n_applied; i++) free(cl->applied[i]);
  free(cl->colls);
  free(cl->applied);
  free(cl->reps);
  free(cl->nodes);
  free(cl->acked);
  qv_collection_release(cl->vcol);
  qv_db_close(cl->vdb);
  pthread_mutex_destroy(&cl->mu);
  pthread_cond_destroy(&cl->cv);
  free(cl);
  s->cluster = NULL;
  nats_Close();
}
