/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_query.c -- `quiver query NAME`: k nearest records to one or more query vectors.
 *
 * The vectors come from --vector "1,2,3", from --vector-file (text, .fvecs or .npy), or from
 * stdin (text). A text source may hold several vectors (the numbers are cut into rows of
 * the collection's dimension); a binary file gives its first row unless --row/--rows say
 * otherwise. Several vectors run as one batch query. Output is a table, or with --json the
 * Chroma query shape (one inner list per query vector).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char help[] =
    "usage: quiver query NAME [--vector \"1,2,3\" | --vector-file FILE | < FILE] [-k 10]\n"
    "                         [--where JSON] [--where-document JSON] [--ef N] [--exact]\n"
    "                         [--include LIST] [--json] [--full]\n"
    "\n"
    "Find the k records nearest to each query vector of collection NAME.\n"
    "\n"
    "query vectors:\n"
    "  --vector LIST         numbers separated by commas or spaces\n"
    "  --vector-file FILE    a text file of numbers (several rows = several queries),\n"
    "                        or an .fvecs/.npy file (its first row by default)\n"
    "  (neither)             numbers read from stdin\n"
    "  --format FMT          text, fvecs or npy (default: from the file's extension)\n"
    "  --row I               first row of the file to use (default 0)\n"
    "  --rows N              number of rows to use (0 = to the end; default: 1 for\n"
    "                        .fvecs/.npy, all for text)\n"
    "\n"
    "options:\n"
    "  -k, --n-results N     results per query (default 10)\n"
    "  --where JSON          metadata filter, e.g. '{\"genre\": {\"$in\": [\"a\", \"b\"]}}'\n"
    "  --where-document JSON document filter, e.g. '{\"$contains\": \"word\"}'\n"
    "  --ef N                HNSW search beam width for this query\n"
    "  --exact               exact scan even on an approximate index\n"
    "  --mmr LAMBDA          diversify: pick the k by maximal marginal relevance from the\n"
    "                        --fetch-k nearest (LAMBDA in [0, 1]; 1 = plain order); one vector\n"
    "  --fetch-k N           candidates for --mmr (default max(4k, 20))\n"
    "  --include LIST        metadatas,documents,distances,embeddings or all\n"
    "                        (default metadatas,documents,distances)\n"
    "  --json                Chroma-shaped JSON instead of a table\n"
    "  --full                do not truncate long ids, metadata and documents\n"
    "  --data DIR            data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

enum { OPT_VECTOR = 256, OPT_VFILE, OPT_FORMAT, OPT_ROW, OPT_ROWS, OPT_WHERE, OPT_WHERE_DOC,
       OPT_EF, OPT_EXACT, OPT_INCLUDE, OPT_JSON, OPT_FULL, OPT_MMR, OPT_FETCH_K };

static const struct option longopts[] = {
    {"vector", required_argument, NULL, OPT_VECTOR},
    {"vector-file", required_argument, NULL, OPT_VFILE},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"row", required_argument, NULL, OPT_ROW},
    {"rows", required_argument, NULL, OPT_ROWS},
    {"n-results", required_argument, NULL, 'k'},
    {"where", required_argument, NULL, OPT_WHERE},
    {"where-document", required_argument, NULL, OPT_WHERE_DOC},
    {"ef", required_argument, NULL, OPT_EF},
    {"exact", no_argument, NULL, OPT_EXACT},
    {"include", required_argument, NULL, OPT_INCLUDE},
    {"json", no_argument, NULL, OPT_JSON},
    {"full", no_argument, NULL, OPT_FULL},
    {"mmr", required_argument, NULL, OPT_MMR},
    {"fetch-k", required_argument, NULL, OPT_FETCH_K},
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

typedef struct query_args {
  const char *name, *vector, *vfile;
  cli_format fmt;
  size_t row, rows, k, ef;
  int rows_given, json, full;
  double mmr;     /* NAN: no MMR */
  size_t fetch_k;
  qv_query_opts qo;
} query_args;

static int parse_option(cli_ctx *ctx, int opt, query_args *a) {
  switch (opt) {
  case OPT_VECTOR: a->vector = optarg; return CLI_OK;
  case OPT_VFILE: a->vfile = optarg; return CLI_OK;
  case OPT_FORMAT:
    a->fmt = cli_format_parse(optarg);
    if (a->fmt == CLI_FMT_UNKNOWN || a->fmt == CLI_FMT_JSONL)
      return cli_usage(ctx, "unknown vector format '%s' (expected text, fvecs or npy)", optarg);
    return CLI_OK;
  case OPT_ROW: a->rows_given = 1; return cli_parse_size(ctx, "--row", optarg, 0, SIZE_MAX, &a->row);
  case OPT_ROWS:
    a->rows_given = 1;
    return cli_parse_size(ctx, "--rows", optarg, 0, SIZE_MAX, &a->rows);
  case 'k': return cli_parse_size(ctx, "-k", optarg, 1, 1000000, &a->k);
  case OPT_WHERE: a->qo.where_json = optarg; return cli_check_json_object(ctx, "--where", optarg);
  case OPT_WHERE_DOC:
    a->qo.where_document_json = optarg;
    return cli_check_json_object(ctx, "--where-document", optarg);
  case OPT_EF:
    if (cli_parse_size(ctx, "--ef", optarg, 1, UINT32_MAX, &a->ef) != CLI_OK) return CLI_USAGE;
    a->qo.ef_search = (uint32_t)a->ef;
    return CLI_OK;
  case OPT_EXACT: a->qo.exact = 1; return CLI_OK;
  case OPT_INCLUDE: return cli_parse_include(ctx, optarg, 1, &a->qo.include);
  case OPT_JSON: a->json = 1; return CLI_OK;
  case OPT_FULL: a->full = 1; return CLI_OK;
  case OPT_MMR: {
    char *end;
    a->mmr = strtod(optarg, &end);
    if (end == optarg || *end || !(a->mmr >= 0 && a->mmr <= 1)) return cli_usage(ctx, "--mmr: '%s' is not in [0, 1]", optarg);
    return CLI_OK;
  }
  case OPT_FETCH_K: return cli_parse_size(ctx, "--fetch-k", optarg, 1, 100000, &a->fetch_k);
  default: return CLI_USAGE;
  }
}

static int parse_args(cli_ctx *ctx, int argc, char **argv, query_args *a) {
  int opt;
  memset(a, 0, sizeof *a);
  a->k = 10;
  a->rows = 1;
  a->mmr = NAN;
  qv_query_opts_init(&a->qo);
  while ((opt = cli_getopt(ctx, argc, argv, ":k:", longopts)) != -1) {
    if (opt == CLI_OPT_EXIT) return ctx->exit_code == CLI_OK ? CLI_DONE : ctx->exit_code;
    if (parse_option(ctx, opt, a) != CLI_OK) return CLI_USAGE;
  }
  if (argc - optind != 1)
    return cli_usage(ctx, argc == optind ? "missing collection NAME" : "too many arguments");
  a->name = argv[optind];
  if (a->vector && a->vfile) return cli_usage(ctx, "give --vector or --vector-file, not both");
  if (!a->vector && !a->vfile && isatty(STDIN_FILENO))
    return cli_usage(ctx, "no query vector: give --vector, --vector-file, or pipe numbers into stdin");
  if (a->vfile && a->fmt == CLI_FMT_UNKNOWN) {
    a->fmt = cli_format_guess(a->vfile);
    if (a->fmt == CLI_FMT_UNKNOWN || a->fmt == CLI_FMT_JSONL) a->fmt = CLI_FMT_TEXT;
  }
  return CLI_OK;
}

/* Text from --vector or stdin. */
static int read_text_vectors(cli_ctx *ctx, const query_args *a, size_t dim, cli_vecs *v) {
  char err[256];
  char *text = NULL;
  const char *src = a->vector;
  int rc = CLI_OK;

  if (!src) {
    if (!(text = cli_read_all(stdin, NULL))) return cli_fail(ctx, "cannot read stdin");
    if (text[strspn(text, " \t\r\n")] == '\0') {
      free(text);
      return cli_usage(ctx, "no query vector: stdin is empty");
    }
    src = text;
  }
  if (cli_vecs_parse_text(src, dim, v, err, sizeof err) != 0)
    rc = cli_fail(ctx, "query vector from %s: %s", a->vector ? "--vector" : "stdin", err);
  free(text);
  return rc;
}

static int read_vectors(cli_ctx *ctx, const query_args *a, size_t dim, cli_vecs *v) {
  char err[320];
  int rc = a->vfile ? CLI_OK : read_text_vectors(ctx, a, dim, v);
  if (rc != CLI_OK) return rc;
  if (a->vfile) {
    size_t rows = a->rows;
    if (a->fmt == CLI_FMT_TEXT && !a->rows_given) rows = 0; /* text: every row */
    if (cli_vecs_read_file(a->vfile, a->fmt, dim, a->row, rows, v, err, sizeof err) != 0)
      return cli_fail(ctx, "%s: %s", a->vfile, err);
  }
  if (dim && v->dim != dim)
    return cli_fail(ctx, "query vector has %zu values but collection '%s' has dimension %zu",
                    v->dim, a->name, dim);
  for (size_t i = 0; i < v->n; i++) {
    long bad = cli_first_nonfinite(v->data + i * v->dim, v->dim);
    if (bad >= 0)
      return cli_fail(ctx, "query vector %zu: value %ld is %s, which is not allowed", i, bad,
                      isnan(v->data[i * v->dim + (size_t)bad]) ? "NaN" : "infinite");
  }
  return CLI_OK;
}

static int run(cli_ctx *ctx, int argc, char **argv) {
  query_args a;
  qv_db *db = NULL;
  qv_collection *c = NULL;
  qv_results *r = NULL;
  cli_vecs v = {0};
  qv_status st;
  int rc = parse_args(ctx, argc, argv, &a);

  if (rc != CLI_OK) return rc == CLI_DONE ? CLI_OK : rc;
  if ((rc = cli_open_db(ctx, 0, &db)) != CLI_OK) goto cleanup;
  if ((rc = cli_open_collection(ctx, db, a.name, &c)) != CLI_OK) goto cleanup;
  if ((rc = read_vectors(ctx, &a, qv_collection_dim(c), &v)) != CLI_OK) goto cleanup;
  if (!isnan(a.mmr) && v.n != 1) {
    rc = cli_usage(ctx, "--mmr takes one query vector, got %zu", v.n);
    goto cleanup;
  }
  if (!isnan(a.mmr) || a.fetch_k) st = qv_collection_query_mmr(c, v.data, a.k, isnan(a.mmr) ? 0.5f : (float)a.mmr, a.fetch_k, &a.qo, &r);
  else st = qv_collection_query(c, v.data, v.n, a.k, &a.qo, &r);
  if (st != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "query on '%s' failed", a.name);
    goto cleanup;
  }
  if (a.json)
    cli_print_results_json(stdout, r, 1);
  else
    cli_print_query_table(stdout, r, a.full);
cleanup:
  qv_results_free(r);
  free(v.data);
  qv_collection_release(c);
  qv_db_close(db);
  return rc;
}

const cli_cmd cli_cmd_query = {"query", run, "find the nearest records to a vector", help};
