/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_delete.c -- `quiver delete NAME --ids ... | --where ... | --where-document ...`:
 * delete records. Ids and filters together delete the listed ids that match the filters.
 * Without any of them nothing would be selected, so that is a usage error (the whole
 * collection goes with `quiver drop`).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: quiver delete NAME [--ids a,b,...] [--where JSON] [--where-document JSON]\n"
    "\n"
    "Delete records of collection NAME: the ids given, or the records matching the filters,\n"
    "or the ids given that match the filters. At least one of them is required; use\n"
    "`quiver drop NAME` to delete the whole collection.\n"
    "\n"
    "options:\n"
    "  --ids LIST            comma-separated ids (may be repeated)\n"
    "  --where JSON          metadata filter\n"
    "  --where-document JSON document filter\n"
    "  -q, --quiet           no summary line\n"
    "  --data DIR            data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

enum { OPT_IDS = 256, OPT_WHERE, OPT_WHERE_DOC };

static const struct option longopts[] = {
    {"ids", required_argument, NULL, OPT_IDS},
    {"where", required_argument, NULL, OPT_WHERE},
    {"where-document", required_argument, NULL, OPT_WHERE_DOC},
    {"quiet", no_argument, NULL, 'q'},
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

typedef struct delete_args {
  const char *name, *where, *where_doc;
  char **ids;
  size_t n_ids;
  int quiet, ids_given;
} delete_args;

static int parse_option(cli_ctx *ctx, int opt, delete_args *a) {
  switch (opt) {
  case OPT_IDS:
    a->ids_given = 1;
    if (cli_split_list(optarg, &a->ids, &a->n_ids) != 0) return cli_fail(ctx, "out of memory");
    return CLI_OK;
  case OPT_WHERE: a->where = optarg; return cli_check_json_object(ctx, "--where", optarg);
  case OPT_WHERE_DOC:
    a->where_doc = optarg;
    return cli_check_json_object(ctx, "--where-document", optarg);
  case 'q': a->quiet = 1; return CLI_OK;
  default: return CLI_USAGE;
  }
}

static int parse_args(cli_ctx *ctx, int argc, char **argv, delete_args *a) {
  int opt, rc;
  memset(a, 0, sizeof *a);
  while ((opt = cli_getopt(ctx, argc, argv, ":q", longopts)) != -1) {
    if (opt == CLI_OPT_EXIT) return ctx->exit_code == CLI_OK ? CLI_DONE : ctx->exit_code;
    if ((rc = parse_option(ctx, opt, a)) != CLI_OK) return rc;
  }
  if (argc - optind != 1)
    return cli_usage(ctx, argc == optind ? "missing collection NAME" : "too many arguments");
  a->name = argv[optind];
  if (!a->ids_given && !a->where && !a->where_doc)
    return cli_usage(ctx, "give --ids, --where or --where-document (to delete a whole "
                          "collection use 'quiver drop %s')", a->name);
  if (a->ids_given && a->n_ids == 0) return cli_usage(ctx, "--ids is empty");
  return CLI_OK;
}

static int run(cli_ctx *ctx, int argc, char **argv) {
  delete_args a;
  qv_db *db = NULL;
  qv_collection *c = NULL;
  size_t n_deleted = 0;
  qv_status st;
  int rc = parse_args(ctx, argc, argv, &a);

  if (rc != CLI_OK) goto cleanup;
  if ((rc = cli_open_db(ctx, 1, &db)) != CLI_OK) goto cleanup;
  if ((rc = cli_open_collection(ctx, db, a.name, &c)) != CLI_OK) goto cleanup;
  st = qv_collection_delete_records(c, (const char *const *)a.ids, a.n_ids, a.where, a.where_doc,
                                    0, &n_deleted);
  if (st != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "delete from '%s' failed", a.name);
    goto cleanup;
  }
  if (!a.quiet) printf("deleted %zu record%s\n", n_deleted, n_deleted == 1 ? "" : "s");
cleanup:
  qv_collection_release(c);
  qv_db_close(db);
  cli_strings_free(a.ids);
  return rc == CLI_DONE ? CLI_OK : rc;
}

const cli_cmd cli_cmd_delete = {"delete", run, "delete records by id or filter", help};
