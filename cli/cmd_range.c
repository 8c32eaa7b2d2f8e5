/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_range.c -- `quiver range NAME --radius R`: every record within a distance of one or
 * more query vectors (qv_collection_range_search). Vectors as for `quiver query`: --vector,
 * a text --vector-file (every row), or stdin. Several vectors run as one batch on all cores.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char help[] =
    "usage: quiver range NAME --radius R [--vector \"1,2,3\" | --vector-file FILE | < FILE]\n"
    "                         [--limit N] [--where JSON] [--where-document JSON] [--exact]\n"
    "                         [--include LIST] [--json] [--full]\n"
    "\n"
    "Every record of collection NAME within distance R of each query vector, nearest first\n"
    "(distances as `quiver query` prints them: l2 squared, 1 - cos, 1 - dot, l1). Exact on\n"
    "flat collections; on hnsw an approximate answer (see docs/SERVER.md, range search).\n"
    "\n"
    "options:\n"
    "  --radius R            the distance bound (records with distance <= R)\n"
    "  --limit N             at most N per query, the nearest (default: all)\n"
    "  --vector LIST         numbers separated by commas or spaces\n"
    "  --vector-file FILE    text (every row a query), .fvecs or .npy (all rows)\n"
    "  --where JSON          metadata filter\n"
    "  --where-document JSON document filter\n"
    "  --exact               exact scan even on an approximate index\n"
    "  --include LIST        metadatas,documents,distances,embeddings or all\n"
    "  --json                Chroma-shaped JSON (one inner list per query)\n"
    "  --full                do not truncate long fields\n"
    "  --data DIR            data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

enum { OPT_RADIUS = 256, OPT_LIMIT, OPT_VECTOR, OPT_VFILE, OPT_WHERE, OPT_WHERE_DOC, OPT_EXACT, OPT_INCLUDE,
       OPT_JSON, OPT_FULL };

static const struct option longopts[] = {
    {"radius", required_argument, NULL, OPT_RADIUS},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"vector", required_argument, NULL, OPT_VECTOR},
    {"vector-file", required_argument, NULL, OPT_VFILE},
    {"where", required_argument, NULL, OPT_WHERE},
    {"where-document", required_argument, NULL, OPT_WHERE_DOC},
    {"exact", no_argument, NULL, OPT_EXACT},
    {"include", required_argument, NULL, OPT_INCLUDE},
    {"json", no_argument, NULL, OPT_JSON},
    {"full", no_argument, NULL, OPT_FULL},
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static int run(cli_ctx *ctx, int argc, char **argv) {
  const char *vector = NULL, *vfile = NULL;
  double radius = NAN;
  size_t limit = 0;
  int json = 0, full = 0, opt, rc = CLI_OK;
  qv_query_opts qo;
  qv_query_opts_init(&qo);
  while ((opt = cli_getopt(ctx, argc, argv, ":", longopts)) != -1) {
    char *end;
    switch (opt) {
    case CLI_OPT_EXIT: return ctx->exit_code;
    case OPT_RADIUS:
      radius = strtod(optarg, &end);
      if (end == optarg || *end || !isfinite(radius)) return cli_usage(ctx, "--radius: '%s' is not a finite number", optarg);
      break;
    case OPT_LIMIT:
      if (cli_parse_size(ctx, "--limit", optarg, 1, 100000, &limit) != CLI_OK) return CLI_USAGE;
      break;
    case OPT_VECTOR: vector = optarg; break;
    case OPT_VFILE: vfile = optarg; break;
    case OPT_WHERE:
      qo.where_json = optarg;
      if (cli_check_json_object(ctx, "--where", optarg) != CLI_OK) return CLI_USAGE;
      break;
    case OPT_WHERE_DOC:
      qo.where_document_json = optarg;
      if (cli_check_json_object(ctx, "--where-document", optarg) != CLI_OK) return CLI_USAGE;
      break;
    case OPT_EXACT: qo.exact = 1; break;
    case OPT_INCLUDE:
      if (cli_parse_include(ctx, optarg, 1, &qo.include) != CLI_OK) return CLI_USAGE;
      break;
    case OPT_JSON: json = 1; break;
    case OPT_FULL: full = 1; break;
    default: return CLI_USAGE;
    }
  }
  if (argc - optind != 1) return cli_usage(ctx, argc == optind ? "missing collection NAME" : "too many arguments");
  if (isnan(radius)) return cli_usage(ctx, "--radius is required");
  if (vector && vfile) return cli_usage(ctx, "give --vector or --vector-file, not both");
  if (!vector && !vfile && isatty(STDIN_FILENO))
    return cli_usage(ctx, "no query vector: give --vector, --vector-file, or pipe numbers into stdin");
  const char *name = argv[optind];
  qv_db *db = NULL;
  qv_collection *c = NULL;
  qv_results *r = NULL;
  cli_vecs v = {0};
  char err[320], *text = NULL;
  if ((rc = cli_open_db(ctx, 0, &db)) != CLI_OK) goto cleanup;
  if ((rc = cli_open_collection(ctx, db, name, &c)) != CLI_OK) goto cleanup;
  size_t dim = qv_collection_dim(c);
  if (vfile) {
    cli_format f = cli_format_guess(vfile);
    if (f == CLI_FMT_UNKNOWN || f == CLI_FMT_JSONL) f = CLI_FMT_TEXT;
    if (cli_vecs_read_file(vfile, f, dim, 0, 0, &v, err, sizeof err) != 0) {
      rc = cli_fail(ctx, "%s: %s", vfile, err);
      goto cleanup;
    }
  } else {
    if (!vector && !(text = cli_read_all(stdin, NULL))) {
      rc = cli_fail(ctx, "cannot read stdin");
      goto cleanup;
    }
    if (cli_vecs_parse_text(vector ? vector : text, dim, &v, err, sizeof err) != 0) {
      rc = cli_fail(ctx, "query vector from %s: %s", vector ? "--vector" : "stdin", err);
      goto cleanup;
    }
  }
  if (v.n == 0 || (dim && v.dim != dim)) {
    rc = cli_fail(ctx, "query vector has %zu values but collection '%s' has dimension %zu", v.dim, name, dim);
    goto cleanup;
  }
  qv_status st = qv_collection_range_search(c, v.data, v.n, (float)radius, limit, &qo, &r);
  if (st != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "range search on '%s' failed", name);
    goto cleanup;
  }
  if (json) cli_print_results_json(stdout, r, 1);
  else cli_print_query_table(stdout, r, full);
cleanup:
  free(text);
  free(v.data);
  qv_results_free(r);
  qv_collection_release(c);
  qv_db_close(db);
  return rc;
}

const cli_cmd cli_cmd_range = {"range", run, "every record within a distance of a vector", help};
