/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cluster.h -- the cluster mode as the rest of the server sees it (docs/CLUSTER.md).
 *
 * `quiver serve --cluster nats://h:p,...` calls cl_start() after opening the data directory
 * and before listening; from then on srv_dispatch() offers every request to cl_dispatch()
 * first (requests the cluster code makes against this node's own handlers carry
 * srv_req.internal and bypass it). cl_stop() runs after the listener stopped.
 */
#ifndef QV_CLUSTER_H
#define QV_CLUSTER_H

#include "srv.h"

typedef struct cl_opts {
  const char *urls;      /* nats://host:port[,nats://...] */
  const char *node_id;   /* NULL: kept in DATA/cluster-node-id (random on first start) */
  int ack_log;           /* 1: acknowledge writes at the JetStream quorum (--cluster-ack log) */
  int shards;            /* default shards of a new collection (--shards, default 3) */
  int replicas;          /* default replicas per shard (--replicas, default 3) */
  int wait_ms;           /* how long a write waits for its acks, a read for its replica */
  int snap_batches;      /* snapshot a shard after this many batches (--snapshot-batches; 0 never) */
  uint64_t snap_bytes;   /* ... or this many bytes of batches (--snapshot-bytes; 0 never) */
} cl_opts;

/* Join the cluster: 0, or -1 after printing why to stderr. */
int cl_start(qsrv *s, const cl_opts *o);
void cl_stop(qsrv *s);
/* 1 when the request was answered by the cluster code, 0 to use the local handlers. */
int cl_dispatch(srv_req *rq, srv_resp *rs);
/* Per-shard metrics in Prometheus text (appended to /metrics). */
void cl_metrics(qsrv *s, sbuf *b);

#endif /* QV_CLUSTER_H */
