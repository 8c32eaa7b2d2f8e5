/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_get.c -- `quiver get NAME`: records by id and/or filter, in insertion order, with
 * limit and offset. Output is a table, or with --json the Chroma get shape (flat lists).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: quiver get NAME [--ids a,b,...] [--where JSON] [--where-document JSON]\n"
    "                       [--limit N] [--offset N] [--include LIST] [--json] [--full]\n"
    "\n"
    "Show records of collection NAME: all of them, those with the given ids, or those\n"
    "matching the filters (ids and filters together: both must hold). Insertion order.\n"
    "\n"
    "options:\n"
    "  --ids LIST            comma-separated ids (may be repeated)\n"
    "  --where JSON          metadata filter, e.g. '{\"year\": {\"$gte\": 2020}}'\n"
    "  --where-document JSON document filter, e.g. '{\"$contains\": \"word\"}'\n"
    "  --limit N             at most N records\n"
    "  --offset N            skip the first N records\n"
    "  --include LIST        metadatas,documents,embeddings or all\n"
    "                        (default metadatas,documents)\n"
    "  --json                Chroma-shaped JSON instead of a table\n"
    "  --full                do not truncate long ids, metadata and documents\n"
    "  --data DIR            data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

enum { OPT_IDS = 256, OPT_WHERE, OPT_WHERE_DOC, OPT_LIMIT, OPT_OFFSET, OPT_INCLUDE, OPT_JSON,
       OPT_FULL };

static const struct option longopts[] = {
    {"ids", required_argument, NULL, OPT_IDS},
    {"where", required_argument, NULL, OPT_WHERE},
    {"where-document", required_argument, NULL, OPT_WHERE_DOC},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"include", required_argument, NULL, OPT_INCLUDE},
    {"json", no_argument, NULL, OPT_JSON},
    {"full", no_argument, NULL, OPT_FULL},
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

typedef struct get_args {
  const char *name;
  char **ids;
  size_t n_ids;
  int json, full;
  qv_get_opts go;
} get_args;

static int parse_option(cli_ctx *ctx, int opt, get_args *a) {
  switch (opt) {
  case OPT_IDS:
    if (cli_split_list(optarg, &a->ids, &a->n_ids) != 0) return cli_fail(ctx, "out of memory");
    return CLI_OK;
  case OPT_WHERE: a->go.where_json = optarg; return cli_check_json_object(ctx, "--where", optarg);
  case OPT_WHERE_DOC:
    a->go.where_document_json = optarg;
    return cli_check_json_object(ctx, "--where-document", optarg);
  case OPT_LIMIT: return cli_parse_size(ctx, "--limit", optarg, 1, SIZE_MAX, &a->go.limit);
  case OPT_OFFSET: return cli_parse_size(ctx, "--offset", optarg, 0, SIZE_MAX, &a->go.offset);
  case OPT_INCLUDE: return cli_parse_include(ctx, optarg, 0, &a->go.include);
  case OPT_JSON: a->json = 1; return CLI_OK;
  case OPT_FULL: a->full = 1; return CLI_OK;
  default: return CLI_USAGE;
  }
}

static int parse_args(cli_ctx *ctx, int argc, char **argv, get_args *a) {
  int opt, rc;
  memset(a, 0, sizeof *a);
  qv_get_opts_init(&a->go);
  while ((opt = cli_getopt(ctx, argc, argv, ":", longopts)) != -1) {
    if (opt == CLI_OPT_EXIT) return ctx->exit_code == CLI_OK ? CLI_DONE : ctx->exit_code;
    if ((rc = parse_option(ctx, opt, a)) != CLI_OK) return rc;
  }
  if (argc - optind != 1)
    return cli_usage(ctx, argc == optind ? "missing collection NAME" : "too many arguments");
  a->name = argv[optind];
  a->go.ids = (const char *const *)a->ids;
  a->go.n_ids = a->n_ids;
  return CLI_OK;
}

static int run(cli_ctx *ctx, int argc, char **argv) {
  get_args a;
  qv_db *db = NULL;
  qv_collection *c = NULL;
  qv_results *r = NULL;
  qv_status st;
  int rc = parse_args(ctx, argc, argv, &a);

  if (rc != CLI_OK) goto cleanup;
  if ((rc = cli_open_db(ctx, 0, &db)) != CLI_OK) goto cleanup;
  if ((rc = cli_open_collection(ctx, db, a.name, &c)) != CLI_OK) goto cleanup;
  if ((st = qv_collection_get_records(c, &a.go, &r)) != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "get from '%s' failed", a.name);
    goto cleanup;
  }
  if (a.json)
    cli_print_results_json(stdout, r, 0);
  else
    cli_print_get_table(stdout, r, a.full);
cleanup:
  qv_results_free(r);
  qv_collection_release(c);
  qv_db_close(db);
  cli_strings_free(a.ids);
  return rc == CLI_DONE ? CLI_OK : rc;
}

const cli_cmd cli_cmd_get = {"get", run, "show records by id or filter", help};
