/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_create.c -- `quiver create NAME [--dim D] [--metric M] [--index K] ...`: create a
 * collection. With --exist-ok an existing collection of that name is left as it is.
 */
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: quiver create NAME [--dim D] [--metric l2|ip|cosine|l1] [--index flat|hnsw]\n"
    "                          [--M 16] [--ef-construction 200] [--ef-search 64]\n"
    "                          [--metadata JSON] [--exist-ok]\n"
    "\n"
    "Create the collection NAME in the data directory.\n"
    "\n"
    "options:\n" CLI_COLLECTION_HELP
    "  --exist-ok            succeed without changes if NAME already exists\n"
    "  --data DIR            data directory (default: $QUIVER_DATA, else ./quiver-data)\n"
    "\n"
    "example:\n"
    "  quiver create docs --dim 384 --metric cosine --index hnsw --M 32\n";

static const struct option longopts[] = {
    CLI_COLLECTION_LONGOPTS,
    {"exist-ok", no_argument, NULL, 'x'},
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static int run(cli_ctx *ctx, int argc, char **argv) {
  cli_collopts co;
  qv_db *db = NULL;
  qv_collection *c = NULL;
  int exist_ok = 0, created = 1, rc = CLI_OK, opt;
  qv_status st;

  cli_collopts_init(&co);
  while ((opt = cli_getopt(ctx, argc, argv, ":", longopts)) != -1) {
    if (opt == CLI_OPT_EXIT) {
      cli_collopts_free(&co);
      return ctx->exit_code;
    }
    if (opt == 'x') {
      exist_ok = 1;
      continue;
    }
    if (cli_collection_opt(ctx, opt, optarg, &co) != CLI_OK) {
      cli_collopts_free(&co);
      return CLI_USAGE;
    }
  }
  if (argc - optind != 1) {
    cli_collopts_free(&co);
    return cli_usage(ctx, argc == optind ? "missing collection NAME" : "too many arguments");
  }
  const char *name = argv[optind];
  const qv_collection_opts *o = &co.o;
  if ((rc = cli_collopts_finish(ctx, &co)) != CLI_OK) goto cleanup;

  if ((rc = cli_open_db(ctx, 1, &db)) != CLI_OK) goto cleanup;
  if (exist_ok)
    st = qv_collection_get_or_create(db, name, o, &c, &created);
  else
    st = qv_collection_create(db, name, o, &c);
  if (st == QV_EXISTS) {
    rc = cli_fail(ctx, "collection '%s' already exists", name);
    goto cleanup;
  }
  if (st != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "cannot create collection '%s'", name);
    goto cleanup;
  }
  const char *kind = o->index ? o->index : "flat";
  if (created && o->dim)
    printf("created collection '%s' (dim %u, metric %s, index %s)\n", name, (unsigned)o->dim,
           qv_metric_name(o->metric), kind);
  else if (created)
    printf("created collection '%s' (dim set by the first write, metric %s, index %s)\n", name,
           qv_metric_name(o->metric), kind);
  else
    printf("collection '%s' already exists\n", name);
cleanup:
  cli_collopts_free(&co);
  qv_collection_release(c);
  qv_db_close(db);
  return rc;
}

const cli_cmd cli_cmd_create = {"create", run, "create a collection", help};
