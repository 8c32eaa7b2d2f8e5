/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cl_int.h -- the cluster mode's internals (server/cluster/, docs/CLUSTER.md).
 *
 *   cl_core.c     connection to NATS, the catalog bucket, membership (heartbeats), the
 *                 cached views (nodes, collections, applied sequences), placement, start/stop
 *   cl_replica.c  shard replicas: a local quiver collection fed from the stream leader's copy
 *                 of the shard's stream, each batch applied with its stream sequence (and
 *                 identity hash) as a position (exactly once); checks against the leader and
 *                 rebuilds; the RPC that runs a read on a local replica
 *   cl_ident.c    batch identities, positions that carry them
 *   cl_write.c    the write coordinator: validate, route by id hash, publish, wait for acks
 *   cl_read.c     the read coordinator: scatter to one replica per shard, merge
 *   cl_catalog.c  tenants, databases and collections kept in the bucket; the route switch
 *   cl_status.c   the status document (GET /api/v2/cluster, `quiver cluster status`)
 *   cl_snap.c     snapshots of shard replicas in JetStream's object store (ADR-20 layout):
 *                 taking them, trimming the shard streams, restoring replicas from them
 *   ../pinecone/pc_cluster.c  the Pinecone face over the cluster ("pc_*" batches and reads)
 *
 * Locking: one mutex (cl->mu) guards every table in the cluster struct; cl->cv is broadcast
 * when an applied sequence moves. No lock is held across a NATS call or a quiver call.
 */
#ifndef QV_CL_INT_H
#define QV_CL_INT_H

#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdint.h>

#include "cluster.h"
#include "srv.h"

#define CL_BUCKET "quiver"
#define CL_MAX_SHARDS 64
#define CL_MAX_REPLICAS 7
#define CL_LIVE_MS 5000      /* a node whose heartbeat is older is not used for reads */
#define CL_START_SUBSCRIBE_MS 120000 /* start-up: how long subscribing may keep failing */
#define CL_VERIFY_MS 500     /* a replica checks its position against the stream leader's copy this often */
#define CL_DIVERGED_MS 3000  /* a replica whose history differs from the leader's this long is rebuilt */
#define CL_HOLE_MS 2000      /* a sequence the leader has no message for, while later ones exist, is skipped */
#define CL_HIST 4096         /* per replica: identities of the last batches applied (cross-checks) */
#define CL_RESULTS 64        /* per replica: results (errors, deleted counts) of recent batches */

/* A member (node.<id> in the bucket). */
typedef struct cl_node {
  char id[40];
  char url[160];
  int64_t ts_ms;       /* its last heartbeat, its own clock (wall, ms) */
  int64_t seen_ms;     /* our clock when we saw that heartbeat change */
} cl_node;

/* A collection of the catalog (coll.<uuid>). */
typedef struct cl_coll {
  char uuid[37];
  char *tenant, *database, *name;
  json_t *obj;         /* the Chroma Collection object (id, name, metadata, configuration_json...) */
  json_t *create;      /* the body each replica's local collection is created with */
  int shards, replicas;
  uint32_t dim;        /* 0 until the first write fixes it */
  uint64_t rev;        /* the bucket revision of coll.<uuid> */
} cl_coll;

/* Result of one applied batch, as a replica reported it. */
typedef struct cl_result {
  uint64_t seq;
  long long n;         /* records deleted (delete batches), else -1 */
  int status;          /* 0 applied; else the HTTP status of a batch every replica refuses */
  char msg[200];
  char id[64];         /* identity of the message applied at seq (its publish's message id;
                          "" for a hole in the leader's copy): acks count only this message */
} cl_result;

/* What one node reported about one replica: applied sequence and recent results. */
typedef struct cl_applied {
  char uuid[37];
  int shard;
  char node[40];
  uint64_t seq;
  int64_t ms;          /* our clock at the last report */
  int64_t epoch;       /* the replica's epoch (made, restarted or rebuilt): a newer one replaces seq */
  cl_result res[CL_RESULTS];
} cl_applied;

/* A shard replica held by this node. */
typedef struct cl_replica {
  struct cluster *cl;
  char uuid[37];
  int shard;
  char key[64];        /* position key: cluster/<uuid>/<shard> */
  char local_uuid[37]; /* the local quiver collection */
  char tenant[300], database[300];
  pthread_t th;
  int running, stop, placed;
  uint64_t applied;    /* under cl->mu */
  uint32_t last_idh;   /* identity hash of the batch at `applied` (CL_IDH_*), applier thread only */
  int64_t epoch;       /* wall ms when the applier (re)started or the replica was rebuilt */
  uint64_t n_rebuilds, n_holes; /* metrics, under cl->mu */
  /* under cl->mu: the identity hash applied at each of the last CL_HIST sequences, and the
     lowest sequence where another replica reported a different batch (0: none) */
  uint64_t hist_seq[CL_HIST];
  uint32_t hist[CL_HIST];
  uint64_t suspect;
  uint64_t n_batches, n_errors, apply_us; /* metrics, under cl->mu */
  uint64_t n_reads;
  /* snapshots (cl_snap.c) */
  char last_id[64];     /* applier: identity of the batch at `applied` when known */
  int snap_try;         /* applier: see whether to start from a snapshot (started, rebuilt) */
  int snap_known;       /* applier: snap_seq was read from the object store once */
  uint64_t snap_bytes;  /* applier: batch bytes applied since the last snapshot */
  char snap_refused[40];/* applier: object (nuid) of a snapshot refused: not tried again */
  int64_t snap_next_ms, snap_log_ms; /* applier: next snapshot check, last "cannot catch up" log */
  uint64_t snap_seq, first_seq; /* under mu: the shard's latest snapshot known here, stream's first seq */
  uint32_t snap_idh;    /* under mu: identity hash of the batch at snap_seq */
  uint64_t n_snaps, n_restores, n_snap_refused; /* metrics, under mu */
} cl_replica;

typedef struct cluster {
  qsrv *s;
  cl_opts o;
  natsConnection *nc;
  jsCtx *js;
  kvStore *kv;
  char node_id[40];
  char url[160];
  int stream_replicas;   /* 3, or 1 when JetStream has fewer servers */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop;
  int kick;              /* under mu: the catalog changed, reconcile now (cl_core.c) */
  int defaults_ok;       /* atomic: the default tenant and database exist in the bucket */
  qv_db *vdb;            /* in-memory: a collection that parses filters for validation */
  qv_collection *vcol;
  cl_node *nodes;
  size_t n_nodes, cap_nodes;
  cl_coll **colls;
  size_t n_colls, cap_colls;
  cl_applied **applied;
  size_t n_applied, cap_applied;
  cl_replica **reps;
  size_t n_reps, cap_reps;
  struct cl_acked { char uuid[37]; int shard; uint64_t seq; } *acked; /* this node's acks (RYW) */
  size_t n_acked, cap_acked;
  pthread_t hb_th, watch_th;
  int hb_running, watch_running;
  kvWatcher *watcher;
  natsSubscription *rpc_subs[4], *applied_sub;
  /* metrics (atomic) */
  uint64_t m_writes, m_write_records, m_write_timeouts, m_reads, m_read_retries, m_rpc_served;
  int snap_stream_ok;    /* atomic: the object store's stream exists (cl_snap.c) */
} cluster;

/* ------------------------------------------------------------------ cl_ident.c */

/* A replica's position value packs the applied stream sequence (low 40 bits) and a 24-bit
 * hash of the identity of the batch applied there (high bits), so both commit in the batch's
 * own SQLite transaction. Hash 0 = unknown (positions written before identities existed). */
#define CL_POS_SEQ_BITS 40
#define CL_POS_SEQ_MASK ((UINT64_C(1) << CL_POS_SEQ_BITS) - 1)
#define CL_IDH_UNKNOWN 0u
#define CL_IDH_HOLE 0xffffffu /* the leader's copy has no message at that sequence */
uint64_t cl_pos_pack(uint64_t seq, uint32_t idh);
uint64_t cl_pos_seq(uint64_t pos);
uint32_t cl_pos_idh(uint64_t pos);
/* 24-bit identity hash of a message id, never CL_IDH_UNKNOWN nor CL_IDH_HOLE. */
uint32_t cl_idh(const char *id);
/* The identity of a stream message: the "id" member of its JSON body, else its Nats-Msg-Id
 * header, else "" (written into out, NUL-terminated). */
void cl_msg_identity(const char *data, int len, const char *hdr_id, char *out, size_t outlen);
/* Do two identity hashes name the same batch? Unknown matches anything. */
int cl_idh_same(uint32_t a, uint32_t b);

/* ------------------------------------------------------------------ cl_core.c */

int64_t cl_now_ms(void);
/* FNV-1a 64 of s. */
uint64_t cl_hash(const char *s, size_t n);
/* Shard of a record id. */
int cl_shard_of(const char *id, int shards);
/* Lowercase hex of s into a malloc'd string. */
char *cl_hex(const char *s);
/* The cached collection by uuid (a copy the caller frees with cl_coll_free), refreshed from
 * the bucket on a miss; NULL when it does not exist. */
cl_coll *cl_coll_get(cluster *cl, const char *uuid);
void cl_coll_free(cl_coll *c);
/* Parse a coll.<uuid> value. */
cl_coll *cl_coll_parse(const char *json, size_t len, uint64_t rev);
/* Store (create when rev == 0, else compare-and-set) coll.<uuid>; 0 ok, -1 conflict/error. */
int cl_coll_put(cluster *cl, const cl_coll *c, uint64_t rev, uint64_t *new_rev);
/* Drop a collection from the cache (after deleting its key). */
void cl_coll_forget(cluster *cl, const char *uuid);
/* Placement: the nodes (ids copied into out, at most CL_MAX_REPLICAS) that should hold shard
 * k of collection uuid with `replicas` replicas: the top of a rendezvous hash over members. */
int cl_placement(cluster *cl, const char *uuid, int k, int replicas, char out[][40]);
/* Record a report "node applied seq of (uuid, k)" (with an optional result) made in the
 * replica's epoch: a newer epoch replaces the sequence (a rebuilt replica starts again from 0)
 * and forgets the older epoch's results; an older one is ignored. Under no lock. */
void cl_note_applied(cluster *cl, const char *uuid, int k, const char *node, uint64_t seq, int64_t epoch,
                     const cl_result *res);
/* Cross-check (under cl->mu): if this node holds replica (uuid, k) and applied a batch at
 * seq whose identity differs from what another node reported for seq, mark seq suspect (the
 * applier then asks the stream leader which one is right). */
void cl_cross_check_locked(cluster *cl, const char *uuid, int k, uint64_t seq);
/* Number of distinct nodes that applied at least seq of (uuid, k). Under cl->mu. */
int cl_count_applied_locked(cluster *cl, const char *uuid, int k, uint64_t seq);
/* Number of distinct nodes that reported having applied, at seq of (uuid, k), the message
 * whose identity is id (not merely some message with that sequence). Under cl->mu. */
int cl_count_applied_id_locked(cluster *cl, const char *uuid, int k, uint64_t seq, const char *id);
/* The result of batch seq of (uuid, k) if some replica reported one (for the message whose
 * identity is id, unless id is NULL). Under cl->mu. */
const cl_result *cl_result_locked(cluster *cl, const char *uuid, int k, uint64_t seq, const char *id);
/* Applied sequence a node reported for (uuid, k) (0 if none). Under cl->mu. */
uint64_t cl_applied_of_locked(cluster *cl, const char *uuid, int k, const char *node);
/* 1 if node is live (recent heartbeat). Under cl->mu. */
int cl_live_locked(cluster *cl, const char *node);
/* This node's RYW floor for (uuid, k); raise it. */
uint64_t cl_acked_get(cluster *cl, const char *uuid, int k);
void cl_acked_raise(cluster *cl, const char *uuid, int k, uint64_t seq);
/* Stream name and subject of a shard. */
void cl_stream_name(const char *uuid, int k, char out[64]);
void cl_subject(const char *uuid, int k, char out[96]);
/* Run a request against this node's own (non-cluster) handlers. body may be NULL. */
void cl_local(qsrv *s, int method, const char *const *seg, int n_seg, const char *body, srv_resp *rs);

/* ------------------------------------------------------------------ cl_replica.c */

/* Make sure this node holds (uuid, k): local collection created, applier running. */
int cl_replica_ensure(cluster *cl, const cl_coll *c, int k);
/* Stop the applier of a replica and, when drop, delete the local collection. */
void cl_replica_stop(cluster *cl, cl_replica *r, int drop);
/* Look up a replica this node holds (under cl->mu). */
cl_replica *cl_replica_find_locked(cluster *cl, const char *uuid, int k);
/* Run a read (op "get", "query", "count"; body the Chroma body) on local replica (uuid, k)
 * once it applied min_seq (waiting up to wait_ms, also for a replica placed here but not
 * made yet; replicas: the collection's, for placement); fills rs. */
void cl_replica_read(cluster *cl, const char *uuid, int k, int replicas, const char *op, const char *body,
                     uint64_t min_seq, int wait_ms, srv_resp *rs);
/* The RPC subscriptions' callback (qv.rpc.<node>). */
void cl_rpc_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);

/* Exported for cl_snap.c: apply one batch ("{op, b}" text) with position value pos (0 done,
 * res filled; -1 retry later); make the local collection of (c, k); report (seq, epoch) on
 * qv.applied.U.k. */
int cl_replica_apply(cluster *cl, cl_replica *r, const char *data, int len, uint64_t seq, uint64_t pos, cl_result *res);
int cl_replica_make_local(cluster *cl, const cl_coll *c, int k, char out_uuid[37]);
void cl_replica_report(cluster *cl, cl_replica *r, uint64_t seq, int64_t epoch);

/* ------------------------------------------------------------------ cl_snap.c */

typedef struct cl_sha256 {
  uint32_t h[8];
  uint64_t len;
  uint8_t buf[64];
  size_t n;
} cl_sha256;
void cl_sha256_init(cl_sha256 *s);
void cl_sha256_update(cl_sha256 *s, const void *data, size_t n);
void cl_sha256_final(cl_sha256 *s, uint8_t out[32]);
/* Base64 of in (padded; url: the URL-safe alphabet) into out (4 * ceil(n / 3) + 1 bytes);
 * its length. */
size_t cl_b64(const void *in, size_t n, int url, char *out);
/* Decode base64 (either alphabet, padding optional) into out; bytes, or -1 if malformed. */
long cl_unb64(const char *in, size_t n, uint8_t *out);
/* Object name of shard k's snapshot ("<uuid>/<k>") and its meta subject
 * ("$O.quiver.M.<base64url(name)>"). */
void cl_snap_name(const char *uuid, int k, char name[64]);
void cl_snap_meta_subject(const char *name, char out[160]);
/* A shard stream's first and last sequence; 0 ok, -1 no answer. */
int cl_snap_bounds(cluster *cl, const char *stream, uint64_t *first, uint64_t *last);
/* Start-up: make the object store's stream (failures are logged; retried when needed). */
void cl_snap_init(cluster *cl);
/* Applier: after a batch (its identity and size; NULL and 0 when idle): takes a snapshot when
 * this replica is the shard's taker and the thresholds (--snapshot-batches, --snapshot-bytes)
 * are reached. */
void cl_snap_after_batch(cluster *cl, cl_replica *r, const char *id, size_t bytes);
/* Applier: restore from the shard's latest snapshot, when need (the stream no longer has
 * the next batch) or when the replica has nothing applied. 1 restored, 0 not (none, not
 * newer, refused: logged), -1 retry later. */
int cl_snap_restore(cluster *cl, cl_replica *r, int need);
/* Applier: the leader has no batch `next`; the stream holds [first, last]. 0 the stream has
 * what comes next, 1 restored from a snapshot, -1 cannot catch up now (logged). */
int cl_snap_catch_up(cluster *cl, cl_replica *r, uint64_t next, uint64_t first, uint64_t last);
/* Applier: the leader has no message at seq, where this replica applied identity hash mine:
 * -1 no answer, 0 not purged (a real absence), 1 purged after a snapshot (nothing to compare
 * with, or the snapshot recorded the same batch there), 3 the snapshot recorded another. */
int cl_snap_purged(cluster *cl, cl_replica *r, const char *stream, uint64_t seq, uint32_t mine);
/* Status: the shard's latest snapshot {"seq","id","size","chunks","digest"}, or JSON null. */
json_t *cl_snap_status(jsCtx *js, const char *uuid, int k);
/* The snapshots of a deleted collection's shards go too. */
void cl_snap_forget(cluster *cl, const char *uuid, int shards);

/* ------------------------------------------------------------------ cl_write.c, cl_read.c */

/* The record routes on collection c (taken: freed by the call). */
void cl_write(srv_req *rq, srv_resp *rs, cl_coll *c, srv_route op);
void cl_read(srv_req *rq, srv_resp *rs, cl_coll *c, srv_route op);
/* Read-your-writes token: parse "k:seq,k:seq" into floor[] (max with what is there). */
void cl_token_parse(const char *tok, uint64_t *floor, int shards);

/* One shard's part of a scattered read (cl_read.c). */
typedef struct cl_shard_job {
  cluster *cl;
  const char *uuid;
  int k, replicas;
  const char *op;
  const char *body;
  uint64_t floor;
  int status;
  char *resp;       /* malloc'd JSON */
  size_t len;
  pthread_t th;
} cl_shard_job;

/* Run read op (body: its text) on one replica of every shard of c, each waiting for what the
 * request's consistency needs (headers of rq: X-Quiver-Consistency, X-Quiver-Token). jobs:
 * c->shards zeroed entries. 0: every jobs[s].resp is a 200 answer (malloc'd, the caller frees
 * them); -1: rs holds the first failure (status and body). */
int cl_scatter(srv_req *rq, srv_resp *rs, const cl_coll *c, const char *op, const char *body, cl_shard_job *jobs);
/* Publish msgs[k] (NULL: shard k not written; each gets its "id") to c's shards, dumped with
 * JSON_COMPACT | dump_flags, and wait for the acknowledgement (applied or log, from rq's
 * X-Quiver-Ack or the server; applied whatever they say when force_applied). n: records, for
 * the metrics. 0: acknowledged, *token malloc'd ("k:seq,..."), *count the sum of the replicas'
 * counts (-1 when unknown); else the HTTP status, message in msg. */
int cl_publish(srv_req *rq, const cl_coll *c, json_t **msgs, size_t n, int force_applied, size_t dump_flags,
               long long *count, char **token, char *msg, size_t msglen);

/* ------------------------------------------------------------------ cl_catalog.c */

/* Create / delete the shard streams of collection uuid. */
int cl_add_streams(cluster *cl, const char *uuid, int shards, char *err, size_t errlen);
void cl_delete_streams(cluster *cl, const char *uuid, int shards);

/* ------------------------------------------------------------------ pinecone/pc_cluster.c */

/* The Pinecone face in cluster mode (--pinecone-port with --cluster). Replica side: apply a "pc_*" batch to local collection c with position (pos_key, pos).
 * 0 applied (res->n: records touched), an HTTP status when refused for good (res->msg), or
 * 0 with *rc a quiver error (the caller retries I/O-like ones). */
int cl_pc_apply(cluster *cl, qv_collection *c, const char *op, json_t *b, const char *pos_key, uint64_t pos,
                cl_result *res, qv_status *rc);
/* Replica side: run read op "pc_*" (body its text) on local collection local_uuid. */
void cl_pc_replica_read(cluster *cl, const char *local_uuid, const char *op, const char *body, srv_resp *rs);
/* Replica side: make the local collection of a Pinecone namespace's shard k (tenant
 * "pinecone"); its uuid into out. 0 ok. */
int cl_pc_make_local(cluster *cl, const cl_coll *c, int k, char out_uuid[37]);
#define CL_PC_TENANT "pinecone"

/* ------------------------------------------------------------------ cl_status.c */

/* The status document from the bucket and the streams (nodes, collections, shards, replicas,
 * applied and lag). New reference, or NULL. */
json_t *cl_status_doc(natsConnection *nc, jsCtx *js, kvStore *kv, char *err, size_t errlen);

#endif /* QV_CL_INT_H */
