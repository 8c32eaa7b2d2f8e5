/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_drop.c -- `quiver drop NAME`: delete a collection with all its records.
 */
#include "cli.h"

static const char help[] =
    "usage: quiver drop NAME [--if-exists]\n"
    "\n"
    "Delete collection NAME and all its records. This cannot be undone.\n"
    "\n"
    "options:\n"
    "  --if-exists  succeed when NAME does not exist\n"
    "  --data DIR   data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

static const struct option longopts[] = {
    {"if-exists", no_argument, NULL, 'x'},
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static int run(cli_ctx *ctx, int argc, char **argv) {
  qv_db *db = NULL;
  int if_exists = 0, rc = CLI_OK, opt;
  qv_status st;

  while ((opt = cli_getopt(ctx, argc, argv, ":", longopts)) != -1) {
    if (opt == CLI_OPT_EXIT) return ctx->exit_code;
    if_exists = 1;
  }
  if (argc - optind != 1)
    return cli_usage(ctx, argc == optind ? "missing collection NAME" : "too many arguments");
  const char *name = argv[optind];

  if ((rc = cli_open_db(ctx, 1, &db)) != CLI_OK) goto cleanup;
  st = qv_collection_delete(db, name);
  if (st == QV_NOTFOUND && !if_exists)
    rc = cli_fail(ctx, "no such collection '%s' in %s", name, ctx->data_dir);
  else if (st != QV_OK && st != QV_NOTFOUND)
    rc = cli_fail_qv(ctx, db, st, "cannot drop collection '%s'", name);
  else if (st == QV_OK)
    printf("dropped collection '%s'\n", name);
cleanup:
  qv_db_close(db);
  return rc;
}

const cli_cmd cli_cmd_drop = {"drop", run, "delete a collection and its records", help};
