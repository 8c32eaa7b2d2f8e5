/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_cluster.c -- `quiver cluster status|remove-node --cluster nats://...`: the cluster's
 * nodes, collections, shards and replica lag (server/cluster/cl_status.c; docs/CLUSTER.md).
 */
#include <string.h>

#include "cli.h"

#ifdef QV_HAVE_SERVER
#include "../server/http/server.h"
#endif

static const char help[] =
    "usage: quiver cluster status --cluster nats://HOST:PORT[,...] [--json]\n"
    "       quiver cluster remove-node ID --cluster nats://HOST:PORT[,...] [--force]\n"
    "\n"
    "status: the members (live or down), every collection's shards with the stream's last\n"
    "sequence, and each replica's applied sequence and lag. remove-node: forget a stopped\n"
    "member; its replicas move to the others. $QUIVER_CLUSTER may stand for --cluster.\n";

static int run(cli_ctx *ctx, int argc, char **argv) {
#ifdef QV_HAVE_SERVER
  (void)ctx;
  return qv_cluster_main(argc, argv);
#else
  (void)argc;
  (void)argv;
  return cli_fail(ctx, "this quiver was built without the server (and its cluster mode)");
#endif
}

const cli_cmd cli_cmd_cluster = {"cluster", run, "cluster status and membership (nodes started with serve --cluster)",
                                 help};
