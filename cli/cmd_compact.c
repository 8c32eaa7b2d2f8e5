/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_compact.c -- `quiver compact NAME`: rebuild an HNSW graph without its tombstones.
 */
#include "cli.h"

static const char help[] =
    "usage: quiver compact NAME\n"
    "\n"
    "Rebuild the HNSW graph of collection NAME over its live records, dropping the tombstones\n"
    "deletes left (they slow every search until then; quiver also does this by itself once\n"
    "they reach half the live records). Prints the tombstones before and after. The new graph\n"
    "is checkpointed when the database closes. A no-op for flat collections.\n"
    "\n"
    "options:\n"
    "  --data DIR   data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

static const struct option longopts[] = {
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static int run(cli_ctx *ctx, int argc, char **argv) {
  qv_db *db = NULL;
  qv_collection *c = NULL;
  qv_index_stats before = {.struct_size = sizeof before}, after = {.struct_size = sizeof after};
  int rc = CLI_OK, opt;
  qv_status st;

  while ((opt = cli_getopt(ctx, argc, argv, ":", longopts)) != -1)
    if (opt == CLI_OPT_EXIT) return ctx->exit_code;
  if (argc - optind != 1)
    return cli_usage(ctx, argc == optind ? "missing collection NAME" : "too many arguments");
  const char *name = argv[optind];

  if ((rc = cli_open_db(ctx, 1, &db)) != CLI_OK) goto cleanup;
  st = qv_collection_get(db, name, &c);
  if (st == QV_NOTFOUND) {
    rc = cli_fail(ctx, "no such collection '%s' in %s", name, ctx->data_dir);
    goto cleanup;
  }
  if (st == QV_OK) st = qv_collection_stats_get(c, &before);
  if (st == QV_OK) st = qv_collection_compact(c);
  if (st == QV_OK) st = qv_collection_stats_get(c, &after);
  if (st != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "cannot compact collection '%s'", name);
    goto cleanup;
  }
  printf("compacted '%s': %llu live records, tombstones %llu -> %llu\n", name,
         (unsigned long long)after.count, (unsigned long long)before.n_tombstones,
         (unsigned long long)after.n_tombstones);
cleanup:
  qv_collection_release(c);
  qv_db_close(db);
  return rc;
}

const cli_cmd cli_cmd_compact = {"compact", run, "rebuild an HNSW graph without its tombstones", help};
