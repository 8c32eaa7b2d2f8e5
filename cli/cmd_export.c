/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_export.c -- `quiver export NAME FILE` writes a collection as one snapshot file;
 * `quiver verify FILE` opens a snapshot file, checks every checksum and describes it.
 */
#include "cli.h"

static const char help_export[] =
    "usage: quiver export NAME FILE\n"
    "\n"
    "Write collection NAME as one snapshot file FILE: ids, metadata, documents, vectors and\n"
    "the index, checksummed and versioned (docs/FORMAT.md). Programs open it read-only with\n"
    "qv_static_open() / quiver.open_static(FILE); it is memory-mapped, so opening is instant\n"
    "and processes that open the same file share its pages.\n"
    "\n"
    "options:\n"
    "  --data DIR   data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

static const char help_verify[] =
    "usage: quiver verify FILE\n"
    "\n"
    "Open snapshot file FILE, check the checksum of every section, and print what it holds.\n"
    "Exits non-zero with the reason when the file is truncated, damaged or of another version.\n"
    "\n"
    "options:\n"
    "  --help       this help\n";

static const struct option longopts[] = {
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static int run_export(cli_ctx *ctx, int argc, char **argv) {
  qv_db *db = NULL;
  qv_collection *c = NULL;
  int rc = CLI_OK, opt;
  while ((opt = cli_getopt(ctx, argc, argv, ":", longopts)) != -1)
    if (opt == CLI_OPT_EXIT) return ctx->exit_code;
  if (argc - optind != 2)
    return cli_usage(ctx, argc - optind < 2 ? "expected collection NAME and FILE" : "too many arguments");
  const char *name = argv[optind], *file = argv[optind + 1];
  if ((rc = cli_open_db(ctx, 0, &db)) != CLI_OK) goto cleanup;
  qv_status st = qv_collection_get(db, name, &c);
  if (st == QV_NOTFOUND) {
    rc = cli_fail(ctx, "no such collection '%s' in %s", name, ctx->data_dir);
    goto cleanup;
  }
  if (st == QV_OK) st = qv_collection_export(c, file);
  if (st != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "cannot export collection '%s'", name);
    goto cleanup;
  }
  printf("exported '%s' to %s\n", name, file);
cleanup:
  qv_collection_release(c);
  qv_db_close(db);
  return rc;
}

static int run_verify(cli_ctx *ctx, int argc, char **argv) {
  int opt;
  while ((opt = cli_getopt(ctx, argc, argv, ":", longopts)) != -1)
    if (opt == CLI_OPT_EXIT) return ctx->exit_code;
  if (argc - optind != 1) return cli_usage(ctx, argc == optind ? "missing FILE" : "too many arguments");
  char err[600];
  qv_static *s = NULL;
  qv_status st = qv_static_open(argv[optind], QV_STATIC_VERIFY, &s, err, sizeof err);
  if (st != QV_OK) return cli_fail(ctx, "%s (%s)", err, qv_status_name(st));
  qv_collection_info in = {.struct_size = sizeof in};
  st = qv_static_info(s, &in);
  if (st == QV_OK) {
    printf("%s: collection '%s', %llu records, dim %u, metric %s, index %s %s\n", argv[optind], in.name,
           (unsigned long long)in.count, in.dim, qv_metric_name(in.metric), in.index, in.params_json);
    qv_collection_info_free(&in);
  }
  qv_static_close(s);
  return st == QV_OK ? CLI_OK : cli_fail(ctx, "%s", qv_status_str(st));
}

const cli_cmd cli_cmd_export = {"export", run_export, "write a collection as one snapshot file", help_export};
const cli_cmd cli_cmd_verify = {"verify", run_verify, "check a snapshot file and describe it", help_verify};
