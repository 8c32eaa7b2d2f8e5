/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * server.h -- the one entry point of the HTTP server, called by the CLI's `quiver serve`.
 *
 * The server speaks Chroma's HTTP API v2 (plus a few native extras, docs/SERVER.md) over a
 * quiver data directory, and is built on the public quiver.h only.
 */
#ifndef QV_SERVER_H
#define QV_SERVER_H

/*
 * Run the server until SIGINT/SIGTERM. argv[0] is "serve"; the options follow
 * (--data, --host, --port, --threads, --max-body, --token, --log-level, ...; --help lists them).
 * Returns a process exit code: 0 after a clean shutdown, 1 on a start-up failure (bad option,
 * data directory locked by another server, port in use), 2 on a usage error.
 */
int qv_server_main(int argc, char **argv);

/*
 * `quiver cluster status|remove-node ... --cluster nats://...` (server/cluster/cl_status.c).
 * argv[0] is "cluster". Returns a process exit code (0 ok, 1 failed, 2 usage).
 */
int qv_cluster_main(int argc, char **argv);

#endif /* QV_SERVER_H */
