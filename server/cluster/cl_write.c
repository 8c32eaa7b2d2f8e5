/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cl_write.c -- the write coordinator: any node takes add / upsert / update / delete.
 *
 * 1. The body is validated whole before anything is published, with the single-node
 *    parser (rec_batch_parse: ids, embeddings, metadatas, documents, uris; messages name the
 *    field and batch position), plus the checks quiver would make on the replicas: the
 *    collection's dimension (fixed cluster-wide by the first write, compare-and-set in the
 *    bucket), id length, finite numbers, filters (parsed by an in-memory quiver collection).
 * 2. Rows are routed by cl_shard_of(id) and each shard gets one message, {"op", "b": the
 *    Chroma body restricted to its rows}, published to the shard's stream with a message id
 *    (JetStream drops a duplicate of a retried publish). A delete by filter without ids goes
 *    to every shard.
 * 3. Acknowledgement. Default ("applied"): wait until a majority of the shard's replicas
 *    report having applied the message's sequence (each in a synced SQLite transaction), for
 *    every shard written. "log" (--cluster-ack log, or the request header X-Quiver-Ack: log):
 *    reply once JetStream acknowledged the publish (a quorum of NATS servers hold it, fsynced
 *    lazily). A batch spanning shards is all-or-nothing per shard, not across shards.
 * The reply carries X-Quiver-Token: "k:seq,..." (the sequences written); the node remembers
 * them so that its later reads see the write (read-your-writes), and a client moving to
 * another node can send the token back.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_int.h"
#include "rec.h"

static const char *const k_cols[] = {"ids", "embeddings", "metadatas", "documents", "uris"};

/* Fix the collection's dimension cluster-wide on its first write; 0 ok, -1 replied. */
static int check_dim(cluster *cl, cl_coll **cp, size_t dim, srv_resp *rs) {
  for (int attempt = 0; attempt < 5; attempt++) {
    cl_coll *c = *cp;
    if (c->dim) {
      if (c->dim == dim) return 0;
      srv_error(rs, 400, "Collection expecting embedding with dimension of %u, got %zu", c->dim, dim);
      return -1;
    }
    c->dim = (uint32_t)dim;
    json_object_set_new(c->obj, "dimension", json_integer((json_int_t)dim));
    if (cl_coll_put(cl, c, c->rev, NULL) == 0) return 0;
    /* someone else fixed it first (or the collection went): read it again */
    cl_coll_forget(cl, c->uuid);
    char uuid[37];
    memcpy(uuid, c->uuid, 37);
    cl_coll_free(c);
    if (!(*cp = cl_coll_get(cl, uuid))) {
      srv_error(rs, 404, "Collection [%s] does not exist.", uuid);
      return -1;
    }
  }
  srv_error(rs, 503, "could not record the collection's dimension in the cluster catalog");
  return -1;
}

static int check_filters(cluster *cl, const char *where, const char *wdoc, srv_resp *rs) {
  qv_get_opts g;
  qv_results *r = NULL;
  qv_status rc;
  if (!where && !wdoc) return 0;
  qv_get_opts_init(&g);
  g.where_json = where;
  g.where_document_json = wdoc;
  g.limit = 1;
  pthread_mutex_lock(&cl->mu); /* the validation collection is shared; parsing is cheap */
  rc = qv_collection_get_records(cl->vcol, &g, &r);
  if (rc != QV_OK) srv_error(rs, 400, "%s", qv_db_errmsg(cl->vdb));
  pthread_mutex_unlock(&cl->mu);
  qv_results_free(r);
  return rc == QV_OK ? 0 : -1;
}

/* Wait for a majority of (uuid, k) to apply, at seq, the message whose identity is id (a
 * replica that applied some other message at seq -- a diverged copy of the stream -- does not
 * count). 1 done, 0 timed out. */
static int wait_applied(cluster *cl, const char *uuid, int k, uint64_t seq, const char *id, int need, int wait_ms) {
  struct timespec dl;
  int rc = 0, ok;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += wait_ms / 1000;
  dl.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&cl->mu);
  while (!(ok = cl_count_applied_id_locked(cl, uuid, k, seq, id) >= need) && rc == 0)
    rc = pthread_cond_timedwait(&cl->cv, &cl->mu, &dl);
  pthread_mutex_unlock(&cl->mu);
  return ok;
}

static int members(cluster *cl) {
  pthread_mutex_lock(&cl->mu);
  int n = (int)cl->n_nodes;
  pthread_mutex_unlock(&cl->mu);
  return n;
}

/* Publish one shard's message; the stream sequence, or 0 after filling err. */
static uint64_t publish(cluster *cl, const char *uuid, int k, const char *msgid, const char *data, size_t len,
                        char *err, size_t errlen) {
  char subj[96];
  natsStatus st = NATS_OK;
  int64_t deadline = cl_now_ms() + cl->o.wait_ms;
  cl_subject(uuid, k, subj);
  /* retried (same message id: JetStream keeps one copy) through leader elections, which
     take a few seconds after a NATS server dies, until --cluster-wait has passed */
  for (int attempt = 0; attempt == 0 || cl_now_ms() < deadline; attempt++) {
    jsPubOptions po;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    jsPubOptions_Init(&po);
    po.MsgId = msgid;
    po.MaxWait = 4000;
    st = js_Publish(&pa, cl->js, subj, data, (int)len, &po, &jerr);
    if (st == NATS_OK && pa) {
      uint64_t seq = pa->Sequence;
      char note[96];
      char *buf = malloc(len + 24);
      jsPubAck_Destroy(pa);
      /* The stream leader stored it at seq (its acknowledgement says so): tell the shard's
         appliers "<seq>\n<batch>", which is what a message get of seq from the leader
         returns now. They apply it from there when it is their next batch, else fetch. */
      snprintf(note, sizeof note, "qv.stored.%s.%d", uuid, k);
      if (buf) {
        int h = snprintf(buf, 24, "%llu\n", (unsigned long long)seq);
        memcpy(buf + h, data, len);
        natsConnection_Publish(cl->nc, note, buf, h + (int)len);
        free(buf);
      }
      return seq;
    }
    jsPubAck_Destroy(pa);
    struct timespec t = {0, 250 * 1000000L};
    nanosleep(&t, NULL);
  }
  const char *le = nats_GetLastError(NULL);
  snprintf(err, errlen, "%s", le && *le ? le : natsStatus_GetText(st));
  return 0;
}

static json_t *pick_rows(json_t *arr, const size_t *rows, size_t n) {
  json_t *o = json_array();
  for (size_t i = 0; i < n; i++) json_array_append(o, json_array_get(arr, rows[i]));
  return o;
}

static int is_ack_log(cluster *cl, srv_req *rq) {
  const char *h = srv_req_header(rq, "X-Quiver-Ack");
  if (h && !strcmp(h, "log")) return 1;
  if (h && !strcmp(h, "applied")) return 0;
  return cl->o.ack_log;
}

int cl_publish(srv_req *rq, const cl_coll *c, json_t **msgs, size_t n, int force_applied, size_t dump_flags,
               long long *count, char **token, char *msg, size_t msglen) {
  cluster *cl = rq->s->cluster;
  uint64_t seqs[CL_MAX_SHARDS] = {0};
  int shards = c->shards;
  *count = -1;
  *token = NULL;
  /* publish, shard by shard */
  char rid[37], err[300] = "";
  int published = 0, failed = -1;
  srv_uuid4(rid);
  char ids[CL_MAX_SHARDS][48], *texts[CL_MAX_SHARDS] = {0};
  int64_t max_payload = natsConnection_GetMaxPayload(cl->nc);
  for (int k = 0; k < shards; k++) {
    if (!msgs[k]) continue;
    snprintf(ids[k], sizeof ids[k], "%s-%d", rid, k);
    /* the batch's identity travels in its body: replicas report it, acks check it */
    json_object_set_new(msgs[k], "id", json_string(ids[k]));
    texts[k] = json_dumps(msgs[k], JSON_COMPACT | dump_flags);
    /* a message NATS would refuse is refused before any shard is written (a retry cannot help) */
    if (texts[k] && max_payload > 0 && (int64_t)strlen(texts[k]) > max_payload) {
      snprintf(msg, msglen, "the part of this batch for shard %d is %zu bytes, more than the NATS servers' max_payload "
               "(%lld bytes): send fewer records per request (or raise max_payload)", k, strlen(texts[k]),
               (long long)max_payload);
      for (int x = 0; x < shards; x++) free(texts[x]);
      return 413;
    }
  }
  for (int k = 0; k < shards; k++) {
    if (!msgs[k]) continue;
    char *text = texts[k];
    texts[k] = NULL;
    seqs[k] = text ? publish(cl, c->uuid, k, ids[k], text, strlen(text), err, sizeof err) : 0;
    free(text);
    if (!seqs[k]) {
      failed = k;
      break;
    }
    published++;
  }
  for (int k = 0; k < shards; k++) free(texts[k]);
  if (failed >= 0) {
    snprintf(msg, msglen, "shard %d of collection %s did not accept the batch: %s; %d other shard(s) did (a batch is "
             "all-or-nothing per shard, not across shards)", failed, c->uuid, err, published);
    return 503;
  }
  __atomic_add_fetch(&cl->m_writes, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&cl->m_write_records, n, __ATOMIC_RELAXED);
  long long deleted = 0;
  int known = 1;
  if (force_applied || !is_ack_log(cl, rq)) {
    int m = members(cl), r = c->replicas < m ? c->replicas : m;
    int need = (r > 0 ? r : 1) / 2 + 1;
    for (int k = 0; k < shards; k++) {
      if (!seqs[k]) continue;
      if (!wait_applied(cl, c->uuid, k, seqs[k], ids[k], need, cl->o.wait_ms)) {
        __atomic_add_fetch(&cl->m_write_timeouts, 1, __ATOMIC_RELAXED);
        snprintf(msg, msglen, "the batch is in the log of shard %d (sequence %llu) but fewer than %d replicas applied "
                 "it within %d ms; it will be applied as they catch up", k, (unsigned long long)seqs[k], need,
                 cl->o.wait_ms);
        return 504;
      }
      pthread_mutex_lock(&cl->mu);
      const cl_result *res = cl_result_locked(cl, c->uuid, k, seqs[k], ids[k]);
      cl_result copy;
      if (res) copy = *res;
      pthread_mutex_unlock(&cl->mu);
      if (res && copy.status) {
        snprintf(msg, msglen, "%s", copy.msg);
        return copy.status;
      }
      if (res && copy.n >= 0) deleted += copy.n;
      else known = 0;
    }
  } else {
    known = 0;
  }
  /* acknowledged: later reads through this node see it; the token lets others */
  sbuf tok = {0};
  if (known) *count = deleted;
  for (int k = 0; k < shards; k++)
    if (seqs[k]) {
      cl_acked_raise(cl, c->uuid, k, seqs[k]);
      sbuf_printf(&tok, "%s%d:%llu", tok.len ? "," : "", k, (unsigned long long)seqs[k]);
    }
  *token = tok.p;
  return 0;
}

void cl_write(srv_req *rq, srv_resp *rs, cl_coll *c, srv_route op) {
  cluster *cl = rq->s->cluster;
  json_t *body = NULL, *msgs[CL_MAX_SHARDS] = {0};
  size_t *rows = NULL, n_rows[CL_MAX_SHARDS] = {0};
  const char *opname = op == R_ADD ? "add" : op == R_UPSERT ? "upsert" : op == R_UPDATE ? "update" : "delete";
  rec_batch rb;
  int have_rb = 0, shards;
  size_t n = 0;
  memset(&rb, 0, sizeof rb);
  shards = c->shards;
  if (!(body = srv_parse_body(rq, rs, op == R_DELETE))) goto out;
  if (op != R_DELETE) {
    int kind = op == R_ADD ? BATCH_ADD : op == R_UPSERT ? BATCH_UPSERT : BATCH_UPDATE;
    have_rb = 1;
    if (rec_batch_parse(&rb, body, kind, rs)) goto out;
    for (size_t i = 0; i < rb.n; i++)
      if (strlen(rb.ids[i]) > QV_MAX_ID_LEN) {
        srv_error(rs, 400, "ids[%zu]: longer than %d bytes", i, QV_MAX_ID_LEN);
        goto out;
      }
    if (rb.emb) {
      for (size_t i = 0; i < rb.n * rb.dim; i++)
        if (!isfinite(rb.emb[i])) {
          srv_error(rs, 400, "embeddings[%zu][%zu]: not a finite number", i / rb.dim, i % rb.dim);
          goto out;
        }
      if (check_dim(cl, &c, rb.dim, rs)) goto out;
    }
    /* routed from the body's own rows (the parser may have merged duplicate ids) */
    json_t *idarr = json_object_get(body, "ids");
    n = json_array_size(idarr);
    if (n == 0) {
      srv_reply_text(rs, op == R_ADD ? 201 : 200, "{}");
      goto out;
    }
    if (!(rows = malloc(n * sizeof *rows))) {
      srv_error(rs, 500, "out of memory");
      goto out;
    }
    /* rows grouped by shard, batch order kept inside each */
    size_t start[CL_MAX_SHARDS + 1] = {0};
    int *sh = malloc(n * sizeof *sh);
    if (!sh) {
      srv_error(rs, 500, "out of memory");
      goto out;
    }
    for (size_t i = 0; i < n; i++) n_rows[sh[i] = cl_shard_of(json_string_value(json_array_get(idarr, i)), shards)]++;
    for (int k = 0; k < shards; k++) start[k + 1] = start[k] + n_rows[k];
    size_t fill[CL_MAX_SHARDS];
    memcpy(fill, start, sizeof fill);
    for (size_t i = 0; i < n; i++) rows[fill[sh[i]]++] = i;
    free(sh);
    for (int k = 0; k < shards; k++) {
      if (!n_rows[k]) continue;
      json_t *b = json_object();
      for (size_t f = 0; f < sizeof k_cols / sizeof k_cols[0]; f++) {
        json_t *a = json_object_get(body, k_cols[f]);
        if (json_is_array(a)) json_object_set_new(b, k_cols[f], pick_rows(a, rows + start[k], n_rows[k]));
      }
      msgs[k] = json_pack("{s:s, s:o}", "op", opname, "b", b);
    }
  } else {
    rec_sel s;
    json_t *ids = NULL;
    int got = srv_field_arr(body, "ids", &ids, rs);
    memset(&s, 0, sizeof s);
    if (got < 0) goto out;
    if (ids && rec_parse_ids(ids, &s.ids, &s.n_ids, 0, rs)) goto out;
    if (rec_filter_text(body, "where", &s.where, rs) < 0 || rec_filter_text(body, "where_document", &s.wdoc, rs) < 0 ||
        check_filters(cl, s.where, s.wdoc, rs)) {
      free(s.ids), free(s.where), free(s.wdoc);
      goto out;
    }
    int bad = 0;
    if (json_object_get(body, "limit") && !json_is_null(json_object_get(body, "limit"))) {
      srv_error(rs, 400, "limit: a delete in cluster mode cannot take a limit (it would apply per shard)");
      bad = 1;
    } else if (got && s.n_ids == 0 && !s.where && !s.wdoc) {
      srv_error(rs, 400, "ids must not be empty when no where clause is provided");
      bad = 1;
    }
    json_t *w = json_object_get(body, "where"), *wd = json_object_get(body, "where_document");
    if (!bad && s.n_ids) {
      for (size_t i = 0; i < s.n_ids; i++) {
        int k = cl_shard_of(s.ids[i], shards);
        if (!msgs[k]) {
          json_t *b = json_pack("{s:[]}", "ids");
          if (w && !json_is_null(w)) json_object_set(b, "where", w);
          if (wd && !json_is_null(wd)) json_object_set(b, "where_document", wd);
          msgs[k] = json_pack("{s:s, s:o}", "op", "delete", "b", b);
        }
        json_array_append_new(json_object_get(json_object_get(msgs[k], "b"), "ids"), json_string(s.ids[i]));
      }
    } else if (!bad && (s.where || s.wdoc)) {
      for (int k = 0; k < shards; k++) {
        json_t *b = json_object();
        if (w && !json_is_null(w)) json_object_set(b, "where", w);
        if (wd && !json_is_null(wd)) json_object_set(b, "where_document", wd);
        msgs[k] = json_pack("{s:s, s:o}", "op", "delete", "b", b);
      }
    }
    n = s.n_ids;
    free(s.ids), free(s.where), free(s.wdoc);
    if (bad) goto out;
  }
  long long counted = -1;
  char *token = NULL, emsg[1024];
  int st = cl_publish(rq, c, msgs, n, 0, JSON_REAL_PRECISION(9), &counted, &token, emsg, sizeof emsg);
  if (st) {
    srv_error(rs, st, "%s", emsg);
    goto out;
  }
  if (op == R_DELETE) {
    char buf[64];
    long long deleted = counted >= 0 ? counted : (long long)n; /* unknown: as Chroma, the ids asked for */
    snprintf(buf, sizeof buf, "{\"deleted\":%lld}", deleted);
    srv_reply_text(rs, 200, buf);
  } else {
    srv_reply_text(rs, op == R_ADD ? 201 : 200, "{}");
  }
  rs->token = token;
out:
  for (int k = 0; k < CL_MAX_SHARDS; k++) json_decref(msgs[k]);
  if (have_rb) rec_batch_free(&rb);
  free(rows);
  json_decref(body);
  cl_coll_free(c);
}
