/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cl_replica.c -- shard replicas held by this node, and reads run on them.
 *
 * A replica of shard k of collection U is the local quiver collection "{t}/{d}/U-s{k}" (made
 * through this node's own Chroma create route, so the collection's configuration is read the
 * same way as on a single node) plus a thread that reads the shard's stream with an ordered
 * JetStream consumer starting after the replica's position "cluster/U/k" and applies every
 * message in order. Each batch goes to quiver with that position (qv_batch.position_key,
 * qv_delete_opts.position_key): the records and the stream sequence commit in one SQLite
 * transaction, so a restart resumes exactly after the last batch applied, never twice.
 *
 * A batch that quiver refuses (bad input that slipped past the coordinator's checks) is
 * refused the same way on every replica: its position is stored alone and the refusal is
 * reported with the sequence, so the writer gets the error. Failures that are not about the
 * input (I/O, memory) are retried; the replica does not move on until the batch is in.
 *
 * After each batch the replica publishes {"node","seq","res"} on qv.applied.U.k.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_int.h"
#include "rec.h"

cl_replica *cl_replica_find_locked(cluster *cl, const char *uuid, int k) {
  for (size_t i = 0; i < cl->n_reps; i++)
    if (cl->reps[i]->shard == k && !strcmp(cl->reps[i]->uuid, uuid)) return cl->reps[i];
  return NULL;
}

static void nap_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* The "message" of an error reply in rs (or its status name). */
static void resp_message(const srv_resp *rs, char *out, size_t len) {
  json_t *j = rs->body ? json_loadb(rs->body, rs->len, 0, NULL) : NULL;
  const char *m = json_string_value(json_object_get(j, "message"));
  snprintf(out, len, "%s", m ? m : "refused");
  json_decref(j);
}

static void publish_applied(cluster *cl, cl_replica *r, const cl_result *res) {
  json_t *j = json_pack("{s:s, s:I, s:[I, I, i, s]}", "node", cl->node_id, "seq", (json_int_t)res->seq, "res",
                        (json_int_t)res->seq, (json_int_t)res->n, res->status, res->msg);
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  char subj[96];
  snprintf(subj, sizeof subj, "qv.applied.%s.%d", r->uuid, r->shard);
  if (text) natsConnection_PublishString(cl->nc, subj, text);
  free(text);
  json_decref(j);
}

/* Apply one batch. 0 done (res filled: applied or refused for good), -1 retry later. */
static int apply_batch(cluster *cl, cl_replica *r, const char *data, int len, uint64_t seq, cl_result *res) {
  qsrv *s = cl->s;
  qv_collection *c = NULL;
  json_t *j = json_loadb(data, (size_t)len, 0, NULL), *body = json_object_get(j, "b");
  const char *op = json_string_value(json_object_get(j, "op"));
  srv_resp rs;
  qv_status rc = QV_OK;
  int refused = 0;
  memset(&rs, 0, sizeof rs);
  memset(res, 0, sizeof *res);
  res->seq = seq;
  res->n = -1;
  if (!op || !json_is_object(body)) {
    refused = 400;
    snprintf(res->msg, sizeof res->msg, "stream message %llu is not a quiver batch", (unsigned long long)seq);
    goto done;
  }
  if ((rc = qv_collection_get_by_uuid(s->db, r->local_uuid, &c)) != QV_OK) {
    json_decref(j);
    return -1;
  }
  if (!strcmp(op, "delete")) {
    json_t *ids = json_object_get(body, "ids");
    const char **idv = NULL;
    size_t n_ids = 0, n_del = 0;
    char *where = NULL, *wdoc = NULL;
    if ((ids && !json_is_null(ids) && rec_parse_ids(ids, &idv, &n_ids, 0, &rs)) ||
        rec_filter_text(body, "where", &where, &rs) < 0 || rec_filter_text(body, "where_document", &wdoc, &rs) < 0) {
      refused = rs.status;
      resp_message(&rs, res->msg, sizeof res->msg);
    } else {
      qv_delete_opts d;
      qv_delete_opts_init(&d);
      d.ids = idv;
      d.n_ids = n_ids;
      d.where_json = where;
      d.where_document_json = wdoc;
      d.position_key = r->key;
      d.position = seq;
      rc = qv_collection_delete_ex(c, &d, &n_del);
      res->n = (long long)n_del;
    }
    free(idv);
    free(where);
    free(wdoc);
  } else {
    int kind = !strcmp(op, "add") ? BATCH_ADD : !strcmp(op, "upsert") ? BATCH_UPSERT : BATCH_UPDATE;
    rec_batch rb;
    uint8_t *bits = NULL;
    if (rec_batch_parse(&rb, body, kind, &rs)) {
      refused = rs.status;
      resp_message(&rs, res->msg, sizeof res->msg);
    } else {
      qv_batch qb;
      memset(&qb, 0, sizeof qb);
      qb.struct_size = sizeof qb;
      qb.n = rb.n;
      qb.ids = rb.ids;
      qb.embeddings = rb.emb;
      qb.dim = (uint32_t)rb.dim;
      qb.metadatas = (const char *const *)rb.metas;
      qb.documents = rb.docs;
      qb.position_key = r->key;
      qb.position = seq;
      if (rb.emb && qv_collection_metric(c) == QV_METRIC_HAMMING) {
        if (!(bits = rec_packed_bits(rb.emb, rb.n, rb.dim, "embeddings", &rs))) {
          refused = rs.status;
          resp_message(&rs, res->msg, sizeof res->msg);
        }
        qb.bits = bits;
        qb.embeddings = NULL;
        qb.dim = 0;
      }
      for (size_t i = 0; !refused && rb.emb && rb.has_emb && i < rb.n; i++)
        if (!rb.has_emb[i]) {
          refused = 400;
          snprintf(res->msg, sizeof res->msg, "embeddings[%zu]: null (a cluster update gives every row an embedding or none)", i);
        }
      if (!refused) {
        if (kind == BATCH_ADD) rc = qv_collection_add(c, &qb, QV_CONFLICT_IGNORE);
        else if (kind == BATCH_UPSERT) rc = qv_collection_upsert(c, &qb);
        else rc = qv_collection_update(c, &qb, 1);
      }
      free(bits);
    }
    rec_batch_free(&rb);
  }
  if (!refused && rc != QV_OK) {
    if (rc == QV_IO || rc == QV_NOMEM || rc == QV_ERROR || rc == QV_BUSY) {
      srv_log(s, SRV_LOG_WARN, "cluster: replica %s/%d: batch %llu failed (%s), retrying", r->uuid, r->shard,
              (unsigned long long)seq, qv_db_errmsg(s->db));
      qv_collection_release(c);
      free(rs.body);
      json_decref(j);
      return -1;
    }
    refused = qv_status_http(rc);
    snprintf(res->msg, sizeof res->msg, "%s", qv_db_errmsg(s->db));
  }
done:
  if (refused) {
    res->status = refused;
    if (qv_db_position_set(s->db, r->key, seq) != QV_OK) {
      qv_collection_release(c);
      free(rs.body);
      json_decref(j);
      return -1;
    }
    srv_log(s, SRV_LOG_WARN, "cluster: replica %s/%d: batch %llu refused: %s", r->uuid, r->shard, (unsigned long long)seq,
            res->msg);
  }
  qv_collection_release(c);
  free(rs.body);
  json_decref(j);
  return 0;
}

static natsSubscription *subscribe(cluster *cl, cl_replica *r, uint64_t after) {
  char stream[64], subj[96];
  jsSubOptions so;
  jsErrCode jerr = 0;
  natsSubscription *sub = NULL;
  cl_stream_name(r->uuid, r->shard, stream);
  cl_subject(r->uuid, r->shard, subj);
  jsSubOptions_Init(&so);
  so.Stream = stream;
  so.Ordered = true;
  /* an ordered consumer lives on one NATS server: with 1 s idle heartbeats the client notices
     a dead server in a few seconds (not 5 s x misses) and makes a new consumer elsewhere */
  so.Config.Heartbeat = (int64_t)1000 * 1000 * 1000;
  if (after) {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = after + 1;
  } else {
    so.Config.DeliverPolicy = js_DeliverAll;
  }
  if (js_SubscribeSync(&sub, cl->js, subj, NULL, &so, &jerr) != NATS_OK) return NULL;
  return sub;
}

static void *apply_main(void *arg) {
  cl_replica *r = arg;
  cluster *cl = r->cl;
  natsSubscription *sub = NULL;
  int fresh = 0; /* no message taken from this subscription yet */
  while (!r->stop) {
    natsMsg *m = NULL;
    jsMsgMetaData *meta = NULL;
    natsStatus st;
    if (!sub) {
      if (!(sub = subscribe(cl, r, r->applied))) {
        nap_ms(500);
        continue;
      }
      fresh = 1;
    }
    st = natsSubscription_NextMsg(&m, sub, 500);
    if (st == NATS_TIMEOUT) continue;
    if (st != NATS_OK) {
      natsSubscription_Destroy(sub);
      sub = NULL;
      nap_ms(200);
      continue;
    }
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
      uint64_t seq = meta->Sequence.Stream;
      /* Stream sequences are contiguous (streams are never trimmed or purged, and a
       * de-duplicated publish takes no sequence), so a message past applied + 1 means the
       * consumer skipped some; applying it would report the skipped batches as applied, and
       * acknowledge writes this replica never holds. Start again after the last batch
       * applied. This holds for the first message of a new subscription too. */
      if (seq > r->applied + 1) {
        srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: stream message %llu after %llu (%s subscription): "
                "skipped messages, resubscribing", r->uuid, r->shard, (unsigned long long)seq,
                (unsigned long long)r->applied, fresh ? "new" : "running");
        jsMsgMetaData_Destroy(meta);
        natsMsg_Destroy(m);
        natsSubscription_Destroy(sub);
        sub = NULL;
        nap_ms(200);
        continue;
      }
      fresh = 0;
      if (seq > r->applied) {
        cl_result res;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (!r->stop && apply_batch(cl, r, natsMsg_GetData(m), natsMsg_GetDataLength(m), seq, &res)) nap_ms(1000);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (!r->stop) {
          pthread_mutex_lock(&cl->mu);
          r->applied = seq;
          r->n_batches++;
          r->n_errors += res.status != 0;
          r->apply_us += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
          pthread_mutex_unlock(&cl->mu);
          cl_note_applied(cl, r->uuid, r->shard, cl->node_id, seq, &res);
          publish_applied(cl, r, &res);
        }
      }
      jsMsgMetaData_Destroy(meta);
    }
    natsMsg_Destroy(m);
  }
  if (sub) {
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
  }
  return NULL;
}

/* Tenant and database of the local catalog (ignored when they exist). */
static int ensure_local_db(qsrv *s, const char *t, const char *d) {
  qv_status rc = srv_tenant_create(s, t);
  if (rc != QV_OK && rc != QV_EXISTS) return -1;
  rc = srv_database_create(s, t, d);
  return rc == QV_OK || rc == QV_EXISTS ? 0 : -1;
}

int cl_replica_ensure(cluster *cl, const cl_coll *c, int k) {
  qsrv *s = cl->s;
  char name[64];
  srv_resp rs;
  json_t *body, *resp;
  char *text;
  const char *seg[7] = {"api", "v2", "tenants", c->tenant, "databases", c->database, "collections"};
  cl_replica *r;
  pthread_mutex_lock(&cl->mu);
  r = cl_replica_find_locked(cl, c->uuid, k);
  if (r) r->placed = 1;
  pthread_mutex_unlock(&cl->mu);
  if (r) return 0;
  if (strlen(c->tenant) >= sizeof r->tenant || strlen(c->database) >= sizeof r->database) return -1;
  if (ensure_local_db(s, c->tenant, c->database)) return -1;
  snprintf(name, sizeof name, "%s-s%d", c->uuid, k);
  body = c->create ? json_deep_copy(c->create) : json_object();
  json_object_set_new(body, "name", json_string(name));
  json_object_set_new(body, "get_or_create", json_true());
  text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  memset(&rs, 0, sizeof rs);
  cl_local(s, M_POST, seg, 7, text, &rs);
  free(text);
  resp = rs.status == 200 && rs.body ? json_loadb(rs.body, rs.len, 0, NULL) : NULL;
  free(rs.body);
  const char *lu = json_string_value(json_object_get(resp, "id"));
  if (!lu || strlen(lu) != 36 || !(r = calloc(1, sizeof *r))) {
    srv_log(s, SRV_LOG_WARN, "cluster: local collection for %s/%d not created (status %d)", c->uuid, k, rs.status);
    json_decref(resp);
    return -1;
  }
  memcpy(r->local_uuid, lu, 37);
  json_decref(resp);
  r->cl = cl;
  memcpy(r->uuid, c->uuid, 37);
  r->shard = k;
  r->placed = 1;
  snprintf(r->key, sizeof r->key, "cluster/%s/%d", c->uuid, k);
  snprintf(r->tenant, sizeof r->tenant, "%s", c->tenant);
  snprintf(r->database, sizeof r->database, "%s", c->database);
  if (qv_db_position_get(s->db, r->key, &r->applied) != QV_OK) r->applied = 0;
  pthread_mutex_lock(&cl->mu);
  if (cl->n_reps == cl->cap_reps) {
    size_t nc = cl->cap_reps ? cl->cap_reps * 2 : 16;
    cl_replica **p = realloc(cl->reps, nc * sizeof *p);
    if (p) cl->reps = p, cl->cap_reps = nc;
  }
  if (cl->n_reps == cl->cap_reps) {
    pthread_mutex_unlock(&cl->mu);
    free(r);
    return -1;
  }
  cl->reps[cl->n_reps++] = r;
  pthread_cond_broadcast(&cl->cv); /* reads waiting for this replica to exist */
  pthread_mutex_unlock(&cl->mu);
  cl_note_applied(cl, r->uuid, k, cl->node_id, r->applied, NULL);
  if (pthread_create(&r->th, NULL, apply_main, r) == 0) r->running = 1;
  srv_log(s, SRV_LOG_WARN, "cluster: replica %s/%d held here, resuming after stream sequence %llu", r->uuid, k,
          (unsigned long long)r->applied);
  return r->running ? 0 : -1;
}

void cl_replica_stop(cluster *cl, cl_replica *r, int drop) {
  r->stop = 1;
  if (r->running) pthread_join(r->th, NULL);
  pthread_mutex_lock(&cl->mu);
  for (size_t i = 0; i < cl->n_reps; i++)
    if (cl->reps[i] == r) {
      cl->reps[i] = cl->reps[--cl->n_reps];
      break;
    }
  /* our own report goes: the replica no longer counts for acknowledgements */
  for (size_t i = 0; drop && i < cl->n_applied; i++) {
    cl_applied *a = cl->applied[i];
    if (a->shard == r->shard && !strcmp(a->uuid, r->uuid) && !strcmp(a->node, cl->node_id)) {
      free(a);
      cl->applied[i] = cl->applied[--cl->n_applied];
      break;
    }
  }
  pthread_cond_broadcast(&cl->cv);
  pthread_mutex_unlock(&cl->mu);
  if (drop) {
    char full[700];
    /* the position first: a crash in between replays the stream over the old records */
    qv_db_position_set(cl->s->db, r->key, 0);
    snprintf(full, sizeof full, "%s/%s/%s-s%d", r->tenant, r->database, r->uuid, r->shard);
    qv_collection_delete(cl->s->db, full);
  }
  free(r);
}

void cl_replica_read(cluster *cl, const char *uuid, int k, int replicas, const char *op, const char *body,
                     uint64_t min_seq, int wait_ms, srv_resp *rs) {
  struct timespec dl;
  char lu[37], t[300], d[300];
  char place[CL_MAX_REPLICAS][40];
  cl_replica *r;
  int rc = 0, placed = 0, np = cl_placement(cl, uuid, k, replicas, place);
  for (int p = 0; p < np; p++) placed |= !strcmp(place[p], cl->node_id);
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += wait_ms / 1000;
  dl.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&cl->mu);
  /* a replica placed here that the reconcile loop has not made yet is waited for too */
  while (((r = cl_replica_find_locked(cl, uuid, k)) ? r->applied < min_seq : placed) && rc == 0)
    rc = pthread_cond_timedwait(&cl->cv, &cl->mu, &dl);
  if (r && r->applied >= min_seq) {
    memcpy(lu, r->local_uuid, 37);
    snprintf(t, sizeof t, "%s", r->tenant);
    snprintf(d, sizeof d, "%s", r->database);
    r->n_reads++;
  }
  int ok = r && r->applied >= min_seq;
  uint64_t have = r ? r->applied : 0;
  pthread_mutex_unlock(&cl->mu);
  if (!r) {
    srv_error(rs, 503, "node %s holds no replica of shard %d of collection %s", cl->node_id, k, uuid);
    return;
  }
  if (!ok) {
    srv_error(rs, 503, "replica %s of shard %d applied %llu, the read needs %llu (waited %d ms)", cl->node_id, k,
              (unsigned long long)have, (unsigned long long)min_seq, wait_ms);
    return;
  }
  const char *seg[9] = {"api", "v2", "tenants", t, "databases", d, "collections", lu, op};
  cl_local(cl->s, strcmp(op, "count") ? M_POST : M_GET, seg, 9, body, rs);
}

/* Request {"c": uuid, "k": shard, "op": op, "min": seq, "wait": ms, "body": text};
 * reply "<status> <json body>". */
void cl_rpc_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
  cluster *cl = closure;
  json_t *j = json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), 0, NULL);
  const char *c = json_string_value(json_object_get(j, "c")), *op = json_string_value(json_object_get(j, "op"));
  const char *body = json_string_value(json_object_get(j, "body"));
  srv_resp rs;
  (void)sub;
  memset(&rs, 0, sizeof rs);
  if (!c || !op || (strcmp(op, "get") && strcmp(op, "query") && strcmp(op, "count")))
    srv_error(&rs, 400, "bad cluster read request");
  else
    cl_replica_read(cl, c, (int)json_integer_value(json_object_get(j, "k")),
                    (int)json_integer_value(json_object_get(j, "r")), op, body,
                    (uint64_t)json_integer_value(json_object_get(j, "min")),
                    (int)json_integer_value(json_object_get(j, "wait")), &rs);
  __atomic_add_fetch(&cl->m_rpc_served, 1, __ATOMIC_RELAXED);
  const char *reply = natsMsg_GetReply(msg);
  if (reply) {
    size_t n = rs.body ? rs.len : 2;
    char *out = malloc(n + 8);
    if (out) {
      int h = snprintf(out, 8, "%03d ", rs.status);
      memcpy(out + h, rs.body ? rs.body : "{}", n);
      natsConnection_Publish(nc, reply, out, (int)(n + (size_t)h));
      free(out);
    }
  }
  free(rs.body);
  json_decref(j);
  natsMsg_Destroy(msg);
}
