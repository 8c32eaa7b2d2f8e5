/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_rename.c -- `quiver rename OLD NEW`: rename a collection.
 */
#include "cli.h"

static const char help[] =
    "usage: quiver rename OLD NEW\n"
    "\n"
    "Rename collection OLD to NEW (which must not exist).\n"
    "\n"
    "options:\n"
    "  --data DIR   data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

static const struct option longopts[] = {
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static int run(cli_ctx *ctx, int argc, char **argv) {
  qv_db *db = NULL;
  int rc = CLI_OK, opt;
  qv_status st;

  while ((opt = cli_getopt(ctx, argc, argv, ":", longopts)) != -1)
    if (opt == CLI_OPT_EXIT) return ctx->exit_code;
  if (argc - optind != 2) return cli_usage(ctx, "expected OLD and NEW names");
  const char *from = argv[optind], *to = argv[optind + 1];

  if ((rc = cli_open_db(ctx, 1, &db)) != CLI_OK) goto cleanup;
  st = qv_collection_rename(db, from, to);
  if (st == QV_NOTFOUND)
    rc = cli_fail(ctx, "no such collection '%s' in %s", from, ctx->data_dir);
  else if (st == QV_EXISTS)
    rc = cli_fail(ctx, "collection '%s' already exists", to);
  else if (st != QV_OK)
    rc = cli_fail_qv(ctx, db, st, "cannot rename '%s' to '%s'", from, to);
  else
    printf("renamed collection '%s' to '%s'\n", from, to);
cleanup:
  qv_db_close(db);
  return rc;
}

const cli_cmd cli_cmd_rename = {"rename", run, "rename a collection", help};
