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
 * The stream is read from its leader only: each batch is fetched by sequence with a message
 * get ($JS.API.STREAM.MSG.GET, which only the stream leader answers), not through a consumer,
 * which NATS may serve from any server's copy -- and NATS 2.9's copies of one stream can
 * diverge after a partition or a kill (bench/RESULTS.md). The coordinator that published a
 * batch announces "<seq>\n<batch>" on qv.stored.U.k once JetStream acknowledged it (the
 * leader's acknowledgement: it stored that batch at seq, what a message get returns then);
 * the applier applies its next batch from such a notice, and asks the leader when a notice
 * is missing (250 ms idle, or a later one came first) and while catching up. The
 * position stores, with the
 * sequence, a hash of the identity of the batch applied there (cl_ident.c); at most every
 * CL_VERIFY_MS, and after any failed request, the applier checks that the leader's message at
 * its position is that batch. If it stays different for CL_DIVERGED_MS, this replica's history
 * is not the leader's: it is rebuilt from the leader's copy (local collection dropped and
 * made again, the stream replayed from sequence 1) under a new epoch, which tells every node
 * to forget what it reported before.
 *
 * After each batch the replica publishes {"node","seq","ep","res"} on qv.applied.U.k, the
 * result carrying the batch's identity: acknowledgements count only replicas that applied
 * the very message a writer published.
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

/* Report (seq, epoch[, res]) on qv.applied.U.k. */
static void publish_applied(cluster *cl, cl_replica *r, uint64_t seq, int64_t epoch, const cl_result *res) {
  json_t *j = res ? json_pack("{s:s, s:I, s:I, s:[I, I, i, s, s]}", "node", cl->node_id, "seq", (json_int_t)seq, "ep",
                              (json_int_t)epoch, "res", (json_int_t)res->seq, (json_int_t)res->n, res->status, res->msg,
                              res->id)
                  : json_pack("{s:s, s:I, s:I}", "node", cl->node_id, "seq", (json_int_t)seq, "ep", (json_int_t)epoch);
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  char subj[96];
  snprintf(subj, sizeof subj, "qv.applied.%s.%d", r->uuid, r->shard);
  if (text) natsConnection_PublishString(cl->nc, subj, text);
  free(text);
  json_decref(j);
}

/* Apply one batch, stored with position value pos. 0 done (res filled: applied or refused
 * for good), -1 retry later. */
static int apply_batch(cluster *cl, cl_replica *r, const char *data, int len, uint64_t seq, uint64_t pos,
                       cl_result *res) {
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
  if (!strncmp(op, "pc_", 3)) { /* the Pinecone face's batches (pinecone/pc_cluster.c) */
    refused = cl_pc_apply(cl, c, op, body, r->key, pos, res, &rc);
  } else if (!strcmp(op, "delete")) {
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
      d.position = pos;
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
      qb.position = pos;
      qb.has_embedding = rb.emb ? rb.has_emb : NULL; /* an update's null rows keep their embeddings */
      if (rb.emb && qv_collection_metric(c) == QV_METRIC_HAMMING) {
        if (!(bits = rec_packed_bits(rb.emb, rb.n, rb.dim, "embeddings", &rs))) {
          refused = rs.status;
          resp_message(&rs, res->msg, sizeof res->msg);
        }
        qb.bits = bits;
        qb.embeddings = NULL;
        qb.dim = 0;
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
    if (qv_db_position_set(s->db, r->key, pos) != QV_OK) {
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

static int make_local(cluster *cl, const cl_coll *c, int k, char out_uuid[37]);

/* The stream leader's message at seq: 1 found (*m, to destroy), 0 the leader has no message
 * there, -1 no answer (no leader during an election, NATS unreachable). */
static int leader_msg(cluster *cl, const char *stream, uint64_t seq, natsMsg **m) {
  jsOptions o;
  jsErrCode jerr = 0;
  natsStatus st;
  jsOptions_Init(&o);
  o.Wait = 2000;
  *m = NULL;
  st = js_GetMsg(m, cl->js, stream, seq, &o, &jerr);
  if (st == NATS_OK && *m) return 1;
  if (*m) natsMsg_Destroy(*m);
  *m = NULL;
  return jerr == JSNoMessageFoundErr ? 0 : -1;
}

static uint32_t msg_identity(natsMsg *m, char *id, size_t idlen) {
  const char *hid = NULL;
  if (natsMsgHeader_Get(m, "Nats-Msg-Id", &hid) != NATS_OK) hid = NULL;
  cl_msg_identity(natsMsg_GetData(m), natsMsg_GetDataLength(m), hid, id, idlen);
  return cl_idh(id);
}

/* A sequence another replica applied a different batch at: does the leader's copy hold the
 * batch this replica applied there? 1 yes (or nothing to check), 0 no, -1 no answer. */
static int verify_suspect(cluster *cl, cl_replica *r, const char *stream) {
  natsMsg *m = NULL;
  char id[64];
  uint64_t s;
  uint32_t mine = 0;
  pthread_mutex_lock(&cl->mu);
  s = r->suspect;
  if (s && r->hist_seq[s % CL_HIST] == s) mine = r->hist[s % CL_HIST];
  else r->suspect = 0;
  pthread_mutex_unlock(&cl->mu);
  if (!s || !mine) return 1;
  int got = leader_msg(cl, stream, s, &m);
  if (got < 0) return -1;
  int purged = got ? 0 : cl_snap_purged(cl, r, stream, s, mine); /* gone after a snapshot (cl_snap.c) */
  if (purged < 0) return -1;
  uint32_t leader = got ? msg_identity(m, id, sizeof id) : purged == 1 ? mine : CL_IDH_HOLE;
  if (m) natsMsg_Destroy(m);
  if (leader != mine) {
    srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: another replica applied a different batch at sequence %llu, "
            "and the stream leader's is not this replica's", r->uuid, r->shard, (unsigned long long)s);
    return 0;
  }
  pthread_mutex_lock(&cl->mu);
  if (r->suspect == s) r->suspect = 0; /* the other replica is the one that differs */
  pthread_mutex_unlock(&cl->mu);
  return 1;
}

/* Is the leader's message at this replica's position the batch it applied there (and at a
 * suspect sequence, see verify_suspect)? 1 yes, 0 no (the leader's copy holds another
 * message there, or none), -1 no answer. */
static int verify(cluster *cl, cl_replica *r, const char *stream) {
  natsMsg *m = NULL;
  char id[64];
  int vs = verify_suspect(cl, r, stream);
  if (vs <= 0) return vs;
  int got = leader_msg(cl, stream, r->applied, &m);
  if (got < 0) return -1;
  if (got == 0) { /* purged after a snapshot: compared with what the snapshot recorded (cl_snap.c) */
    int purged = cl_snap_purged(cl, r, stream, r->applied, r->last_idh);
    if (purged) return purged < 0 ? -1 : purged == 1;
    return r->last_idh == CL_IDH_HOLE;
  }
  uint32_t h = msg_identity(m, id, sizeof id);
  natsMsg_Destroy(m);
  if (r->last_idh == CL_IDH_UNKNOWN) { /* a position written before identities: adopt */
    r->last_idh = h;
    return 1;
  }
  return r->last_idh == h;
}

static int64_t next_epoch(const cl_replica *r) {
  int64_t e = cl_now_ms();
  return e > r->epoch ? e : r->epoch + 1;
}

/* Record that seq was applied (res: its result) and tell everyone. */
static void note_applied(cluster *cl, cl_replica *r, uint64_t seq, uint32_t idh, const cl_result *res, uint64_t us) {
  int64_t ep;
  pthread_mutex_lock(&cl->mu);
  r->applied = seq;
  r->hist_seq[seq % CL_HIST] = seq;
  r->hist[seq % CL_HIST] = idh;
  r->n_batches++;
  r->n_errors += res->status != 0;
  r->apply_us += us;
  ep = r->epoch;
  pthread_mutex_unlock(&cl->mu);
  r->last_idh = idh;
  cl_note_applied(cl, r->uuid, r->shard, cl->node_id, seq, ep, res);
  publish_applied(cl, r, seq, ep, res);
}

/* This replica's history is not the stream leader's: start it again from the leader's copy.
 * The position first gets the "rebuild pending" mark (sequence 0, hash CL_IDH_HOLE), so a
 * crash anywhere below makes cl_replica_ensure finish the job. 0 done, -1 retry later. */
static int rebuild(cluster *cl, cl_replica *r) {
  qsrv *s = cl->s;
  char full[700], lu[37];
  int64_t ep;
  cl_coll *c = cl_coll_get(cl, r->uuid);
  if (!c) return -1; /* the collection is gone: the reconcile loop drops the replica */
  pthread_mutex_lock(&cl->mu);
  r->applied = 0; /* reads needing anything wait for the replay (or go elsewhere) */
  memset(r->hist_seq, 0, sizeof r->hist_seq);
  r->suspect = 0;
  r->epoch = ep = next_epoch(r);
  r->n_rebuilds++;
  pthread_mutex_unlock(&cl->mu);
  r->last_idh = CL_IDH_UNKNOWN;
  cl_note_applied(cl, r->uuid, r->shard, cl->node_id, 0, ep, NULL);
  publish_applied(cl, r, 0, ep, NULL);
  if (qv_db_position_set(s->db, r->key, cl_pos_pack(0, CL_IDH_HOLE)) != QV_OK) {
    cl_coll_free(c);
    return -1;
  }
  snprintf(full, sizeof full, "%s/%s/%s-s%d", r->tenant, r->database, r->uuid, r->shard);
  qv_status rc = qv_collection_delete(s->db, full);
  if ((rc != QV_OK && rc != QV_NOTFOUND) || make_local(cl, c, r->shard, lu) || qv_db_position_set(s->db, r->key, 0) != QV_OK) {
    cl_coll_free(c);
    return -1;
  }
  cl_coll_free(c);
  pthread_mutex_lock(&cl->mu);
  memcpy(r->local_uuid, lu, 37);
  pthread_mutex_unlock(&cl->mu);
  srv_log(s, SRV_LOG_WARN, "cluster: replica %s/%d rebuilt empty; replaying the stream leader's copy", r->uuid, r->shard);
  r->snap_try = 1; /* from the shard's snapshot when there is one (cl_snap.c) */
  return 0;
}

/* Notices of stored batches ("<seq>\n<batch>", cl_write.c) waiting to be applied, by
 * sequence. Applier thread only. */
#define CL_NOTES 64
typedef struct notes {
  natsMsg *m[CL_NOTES];
  uint64_t seq[CL_NOTES];
} notes;

static void notes_clear(notes *n) {
  for (int i = 0; i < CL_NOTES; i++) natsMsg_Destroy(n->m[i]);
  memset(n, 0, sizeof *n);
}

/* Keep notice w (taken) unless it is for a batch applied already; its sequence. */
static uint64_t notes_add(notes *n, natsMsg *w, uint64_t applied) {
  char buf[24];
  const char *d = natsMsg_GetData(w);
  int len = natsMsg_GetDataLength(w), i = 0;
  while (i < len && i < (int)sizeof buf - 1 && d[i] != '\n') buf[i] = d[i], i++;
  buf[i] = 0;
  uint64_t seq = i < len && d[i] == '\n' ? strtoull(buf, NULL, 10) : 0;
  if (seq <= applied) {
    natsMsg_Destroy(w);
    return seq;
  }
  natsMsg_Destroy(n->m[seq % CL_NOTES]);
  n->m[seq % CL_NOTES] = w;
  n->seq[seq % CL_NOTES] = seq;
  return seq;
}

/* The batch of a kept notice for seq: its data and length, or NULL. */
static const char *notes_get(notes *n, uint64_t seq, int *len) {
  natsMsg *w = n->m[seq % CL_NOTES];
  if (!w || n->seq[seq % CL_NOTES] != seq) return NULL;
  const char *d = natsMsg_GetData(w), *nl = memchr(d, '\n', (size_t)natsMsg_GetDataLength(w));
  if (!nl) return NULL;
  *len = natsMsg_GetDataLength(w) - (int)(nl + 1 - d);
  return nl + 1;
}

static void *apply_main(void *arg) {
  cl_replica *r = arg;
  cluster *cl = r->cl;
  char stream[64], subj[96];
  natsSubscription *wake = NULL;
  int64_t verify_at = 0, diverged_since = 0, hole_since = 0, info_at = 0;
  uint64_t hole_seq = 0;
  int poll = 1; /* ask the leader for the next batch (else wait for its notice) */
  notes nt;
  memset(&nt, 0, sizeof nt);
  cl_stream_name(r->uuid, r->shard, stream);
  snprintf(subj, sizeof subj, "qv.stored.%s.%d", r->uuid, r->shard); /* wake-ups (cl_write.c) */
  r->snap_try = 1;
  while (!r->stop) {
    natsMsg *m = NULL;
    int64_t now = cl_now_ms();
    if (!wake) {
      if (natsConnection_SubscribeSync(&wake, cl->nc, subj) == NATS_OK)
        natsSubscription_SetPendingLimits(wake, 4096, 64 * 1024 * 1024); /* notices: may drop */
      else
        wake = NULL;
    }
    /* 0. a replica with nothing applied starts from the shard's snapshot if any (cl_snap.c) */
    if (r->snap_try) {
      int sr = cl_snap_restore(cl, r, 0);
      if (sr < 0) {
        nap_ms(200);
        continue;
      }
      if (sr > 0) poll = 1, verify_at = 0;
    }
    /* 1. is this replica's history the leader's? */
    if (r->applied && now >= verify_at) {
      int v = verify(cl, r, stream);
      if (v < 0) {
        nap_ms(200);
        continue;
      }
      if (v == 0) {
        if (!diverged_since) {
          diverged_since = now;
          srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: the stream leader's message at sequence %llu is not the "
                  "batch applied there; rebuilding unless that changes within %d ms", r->uuid, r->shard,
                  (unsigned long long)r->applied, CL_DIVERGED_MS);
        }
        if (now - diverged_since >= CL_DIVERGED_MS) {
          notes_clear(&nt);
          poll = 1;
          if (rebuild(cl, r)) nap_ms(1000);
          diverged_since = 0;
          continue;
        }
        verify_at = now + 500;
        nap_ms(500);
        continue;
      }
      if (diverged_since)
        srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d agrees with the stream leader again", r->uuid, r->shard);
      diverged_since = 0;
      verify_at = now + CL_VERIFY_MS;
    }
    /* 2. the next batch, from the leader */
    uint64_t next = r->applied + 1;
    int nlen = 0, got = 0;
    const char *ndata = notes_get(&nt, next, &nlen);
    if (ndata) got = 1;
    else if (poll) got = leader_msg(cl, stream, next, &m);
    else goto wait; /* nothing announced: wait for a notice (or poll after 250 ms) */
    if (got > 0) {
      char id[64];
      cl_result res;
      struct timespec t0, t1;
      const char *data = m ? natsMsg_GetData(m) : ndata;
      int len = m ? natsMsg_GetDataLength(m) : nlen;
      uint32_t idh;
      if (m) {
        idh = msg_identity(m, id, sizeof id);
      } else {
        cl_msg_identity(data, len, NULL, id, sizeof id);
        idh = cl_idh(id);
      }
      clock_gettime(CLOCK_MONOTONIC, &t0);
      while (!r->stop && apply_batch(cl, r, data, len, next, cl_pos_pack(next, idh), &res)) nap_ms(1000);
      clock_gettime(CLOCK_MONOTONIC, &t1);
      int fetched = m != NULL;
      natsMsg_Destroy(m);
      if (!fetched) { /* done with the notice */
        natsMsg_Destroy(nt.m[next % CL_NOTES]);
        nt.m[next % CL_NOTES] = NULL;
      }
      if (r->stop) break;
      snprintf(res.id, sizeof res.id, "%s", id);
      note_applied(cl, r, next, idh, &res,
                   (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
      cl_snap_after_batch(cl, r, id, (size_t)len); /* a snapshot when due (cl_snap.c) */
      hole_seq = 0;
      poll = fetched; /* fetched: catching up, fetch the next one at once */
      continue;
    }
    if (got < 0) { /* no leader (an election) or no NATS: when it answers again, check first */
      verify_at = 0;
      poll = 1;
      nap_ms(200);
      continue;
    }
    poll = 0;
    /* 3. nothing at next: caught up, or a hole in the leader's copy (a sequence with no
       message while later ones exist, for CL_HOLE_MS): every replica skips it alike */
    if (now >= info_at) {
      uint64_t first = 0, last = 0;
      info_at = now + 1000;
      if (cl_snap_bounds(cl, stream, &first, &last)) last = 0;
      cl_snap_after_batch(cl, r, NULL, 0); /* a snapshot still due (cl_snap.c) */
      /* next was purged from the stream after a snapshot: restore from it (cl_snap.c) */
      int cu = last ? cl_snap_catch_up(cl, r, next, first, last) : 0;
      if (cu) {
        poll = 1;
        verify_at = 0;
        if (cu < 0) nap_ms(1000);
        continue;
      }
      if (last > next) {
        if (hole_seq != next) {
          hole_seq = next;
          hole_since = now;
        } else if (now - hole_since >= CL_HOLE_MS) {
          cl_result res;
          memset(&res, 0, sizeof res);
          res.seq = next;
          res.n = -1;
          if (qv_db_position_set(cl->s->db, r->key, cl_pos_pack(next, CL_IDH_HOLE)) != QV_OK) {
            nap_ms(1000);
            continue;
          }
          srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: the stream leader has no message %llu (last %llu); "
                  "skipped", r->uuid, r->shard, (unsigned long long)next, (unsigned long long)last);
          pthread_mutex_lock(&cl->mu);
          r->n_holes++;
          pthread_mutex_unlock(&cl->mu);
          note_applied(cl, r, next, CL_IDH_HOLE, &res, 0);
          hole_seq = 0;
          continue;
        }
      }
    }
  wait:;
    /* 4. wait for a notice, or 250 ms (then ask the leader) */
    natsMsg *w = NULL;
    natsStatus ws = NATS_TIMEOUT;
    if (wake) ws = natsSubscription_NextMsg(&w, wake, 250);
    else nap_ms(250);
    if (ws == NATS_OK) {
      int pending = 0;
      uint64_t top = notes_add(&nt, w, r->applied);
      /* several publishes wake once; notices of batches already applied do not */
      if (natsSubscription_GetPending(wake, &pending, NULL) == NATS_OK)
        for (int i = 0; i < pending && natsSubscription_NextMsg(&w, wake, 1) == NATS_OK; i++) {
          uint64_t q = notes_add(&nt, w, r->applied);
          if (q > top) top = q;
        }
      /* a notice past the next batch while the next one's is missing: ask the leader */
      if (top > r->applied + 1 && !notes_get(&nt, r->applied + 1, &pending)) poll = 1;
    } else if (ws == NATS_TIMEOUT) {
      poll = 1;
    } else {
      natsSubscription_Destroy(wake);
      wake = NULL;
    }
  }
  notes_clear(&nt);
  if (wake) {
    natsSubscription_Unsubscribe(wake);
    natsSubscription_Destroy(wake);
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

/* Make (or find) the local collection of replica (c, k); its uuid into out_uuid. 0 ok. */
static int make_local(cluster *cl, const cl_coll *c, int k, char out_uuid[37]) {
  qsrv *s = cl->s;
  char name[64];
  srv_resp rs;
  json_t *body, *resp;
  char *text;
  const char *seg[7] = {"api", "v2", "tenants", c->tenant, "databases", c->database, "collections"};
  if (!strcmp(c->tenant, CL_PC_TENANT)) return cl_pc_make_local(cl, c, k, out_uuid); /* a Pinecone namespace */
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
  if (!lu || strlen(lu) != 36) {
    srv_log(s, SRV_LOG_WARN, "cluster: local collection for %s/%d not created (status %d)", c->uuid, k, rs.status);
    json_decref(resp);
    return -1;
  }
  memcpy(out_uuid, lu, 37);
  json_decref(resp);
  return 0;
}

int cl_replica_ensure(cluster *cl, const cl_coll *c, int k) {
  qsrv *s = cl->s;
  char key[64], lu[37];
  uint64_t pos = 0;
  cl_replica *r;
  pthread_mutex_lock(&cl->mu);
  r = cl_replica_find_locked(cl, c->uuid, k);
  if (r) r->placed = 1;
  pthread_mutex_unlock(&cl->mu);
  if (r) return 0;
  if (strlen(c->tenant) >= sizeof r->tenant || strlen(c->database) >= sizeof r->database) return -1;
  snprintf(key, sizeof key, "cluster/%s/%d", c->uuid, k);
  if (qv_db_position_get(s->db, key, &pos) != QV_OK) pos = 0;
  if (pos == cl_pos_pack(0, CL_IDH_HOLE)) { /* a rebuild did not finish: finish it */
    char full[700];
    snprintf(full, sizeof full, "%s/%s/%s-s%d", c->tenant, c->database, c->uuid, k);
    qv_status rc = qv_collection_delete(s->db, full);
    if ((rc != QV_OK && rc != QV_NOTFOUND) || qv_db_position_set(s->db, key, 0) != QV_OK) return -1;
    pos = 0;
  }
  if (make_local(cl, c, k, lu) || !(r = calloc(1, sizeof *r))) return -1;
  memcpy(r->local_uuid, lu, 37);
  r->cl = cl;
  memcpy(r->uuid, c->uuid, 37);
  r->shard = k;
  r->placed = 1;
  snprintf(r->key, sizeof r->key, "cluster/%s/%d", c->uuid, k);
  snprintf(r->tenant, sizeof r->tenant, "%s", c->tenant);
  snprintf(r->database, sizeof r->database, "%s", c->database);
  r->applied = cl_pos_seq(pos);
  r->last_idh = cl_pos_idh(pos);
  r->epoch = cl_now_ms();
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
  cl_note_applied(cl, r->uuid, k, cl->node_id, r->applied, r->epoch, NULL);
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
  if (!strncmp(op, "pc_", 3)) { /* the Pinecone face's reads (pinecone/pc_cluster.c) */
    cl_pc_replica_read(cl, lu, op, body, rs);
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
  if (!c || !op || (strcmp(op, "get") && strcmp(op, "query") && strcmp(op, "count") && strncmp(op, "pc_", 3)))
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

/* ------------------------------------------------------------------ for cl_snap.c */

int cl_replica_apply(cluster *cl, cl_replica *r, const char *data, int len, uint64_t seq, uint64_t pos, cl_result *res) {
  return apply_batch(cl, r, data, len, seq, pos, res);
}

int cl_replica_make_local(cluster *cl, const cl_coll *c, int k, char out_uuid[37]) {
  return make_local(cl, c, k, out_uuid);
}

void cl_replica_report(cluster *cl, cl_replica *r, uint64_t seq, int64_t epoch) {
  publish_applied(cl, r, seq, epoch, NULL);
}
