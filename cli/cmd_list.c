/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_list.c -- `quiver list [--long] [--json] [--all]`: the collections of the data
 * directory, sorted by name. Plain output is one name per line (easy to loop over in a
 * shell); --long adds dimension, metric, index and count; --json gives an array of objects.
 * Internal collections (names starting with "__quiver_", e.g. the HTTP server's catalog of
 * tenants and databases) are listed only with --all.
 */
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: quiver list [--long] [--json] [--all]\n"
    "\n"
    "List the collections, one name per line.\n"
    "\n"
    "options:\n"
    "  -l, --long   a table with dimension, metric, index and record count\n"
    "  --json       a JSON array of {name, dim, metric, index, count}\n"
    "  -a, --all    include internal collections (\"__quiver_...\", e.g. the server's catalog)\n"
    "  --data DIR   data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

static const struct option longopts[] = {
    {"long", no_argument, NULL, 'l'},
    {"json", no_argument, NULL, 'J'},
    {"all", no_argument, NULL, 'a'},
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

enum { OUT_NAMES, OUT_LONG, OUT_JSON };

static int print_one(const cli_ctx *ctx, qv_db *db, const char *name, int mode, int first) {
  qv_collection *c = NULL;
  qv_collection_info info = {.struct_size = sizeof info};
  qv_status st;

  if (cli_open_collection(ctx, db, name, &c) != CLI_OK) return CLI_FAIL;
  st = qv_collection_info_get(c, &info);
  qv_collection_release(c);
  if (st != QV_OK) return cli_fail_qv(ctx, db, st, "collection '%s'", name);
  if (mode == OUT_JSON) {
    fputs(first ? "" : ",", stdout);
    fputs("{\"name\":", stdout);
    cli_print_json_string(stdout, info.name);
    printf(",\"dim\":%u,\"metric\":\"%s\",\"index\":\"%s\",\"count\":%llu}", (unsigned)info.dim,
           qv_metric_name(info.metric), info.index,
           (unsigned long long)info.count);
  } else {
    printf("%-24s  %6u  %-6s  %-5s  %llu\n", info.name, (unsigned)info.dim,
           qv_metric_name(info.metric), info.index,
           (unsigned long long)info.count);
  }
  qv_collection_info_free(&info);
  return CLI_OK;
}

static int run(cli_ctx *ctx, int argc, char **argv) {
  qv_db *db = NULL;
  char **names = NULL;
  size_t n = 0;
  int mode = OUT_NAMES, rc = CLI_OK, opt, all = 0, shown = 0;
  qv_status st;

  while ((opt = cli_getopt(ctx, argc, argv, ":la", longopts)) != -1) {
    if (opt == CLI_OPT_EXIT) return ctx->exit_code;
    if (opt == 'a') all = 1;
    else mode = opt == 'l' ? OUT_LONG : OUT_JSON;
  }
  if (optind < argc) return cli_usage(ctx, "unexpected argument '%s'", argv[optind]);

  if ((rc = cli_open_db(ctx, 0, &db)) != CLI_OK) goto cleanup;
  if ((st = qv_collection_list(db, &names, &n)) != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "cannot list collections");
    goto cleanup;
  }
  if (mode == OUT_JSON) fputc('[', stdout);
  if (mode == OUT_LONG) printf("%-24s  %6s  %-6s  %-5s  %s\n", "NAME", "DIM", "METRIC", "INDEX", "COUNT");
  for (size_t i = 0; i < n && rc == CLI_OK; i++) {
    if (!all && strncmp(names[i], "__quiver_", 9) == 0) continue;
    if (mode == OUT_NAMES)
      puts(names[i]);
    else
      rc = print_one(ctx, db, names[i], mode, shown == 0);
    shown++;
  }
  if (mode == OUT_JSON) fputs("]\n", stdout);
cleanup:
  qv_strings_free(names);
  qv_db_close(db);
  return rc;
}

const cli_cmd cli_cmd_list = {"list", run, "list the collections", help};
