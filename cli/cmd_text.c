/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_text.c -- full-text reads:
 *   quiver text NAME "words"                                 BM25 (SQLite FTS5)
 *   quiver hybrid NAME "words" --vector "1,2,3" [--fusion rrf|weighted] [--alpha A]
 * Printed like `quiver query`; the distance column holds the score (higher first).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help_text[] =
    "usage: quiver text NAME WORDS [-k N] [--where JSON] [--include LIST] [--json] [--full]\n"
    "\n"
    "The k records whose documents best match WORDS (any word may match), ranked by BM25\n"
    "(SQLite FTS5, unicode61 tokenizer); the distance column is the score, FTS5's -bm25().\n"
    "\n"
    "options:\n"
    "  -k, --n-results N     results (default 10)\n"
    "  --where JSON          metadata filter\n"
    "  --include LIST        metadatas,documents,distances,embeddings or all\n"
    "  --json                Chroma-shaped JSON\n"
    "  --full                do not truncate long fields\n"
    "  --data DIR            data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

static const char help_hybrid[] =
    "usage: quiver hybrid NAME WORDS --vector LIST [--fusion rrf|weighted] [--alpha A] [-k N] [...]\n"
    "\n"
    "BM25 and vector search fused: rrf (reciprocal rank fusion, the default) or weighted\n"
    "(min-max normalised scores); alpha in [0, 1] weighs the vector side (default 0.5).\n"
    "\n"
    "options:\n"
    "  --vector LIST         the query vector, numbers separated by commas or spaces\n"
    "  --fusion NAME         rrf or weighted\n"
    "  --alpha A             weight of the vector side\n"
    "  -k, --n-results N     results (default 10)\n"
    "  --where JSON          metadata filter\n"
    "  --include LIST        metadatas,documents,distances,embeddings or all\n"
    "  --json                Chroma-shaped JSON\n"
    "  --full                do not truncate long fields\n"
    "  --data DIR            data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

enum { OPT_VECTOR = 256, OPT_FUSION, OPT_ALPHA, OPT_WHERE, OPT_INCLUDE, OPT_JSON, OPT_FULL };

static const struct option longopts[] = {
    {"vector", required_argument, NULL, OPT_VECTOR},
    {"fusion", required_argument, NULL, OPT_FUSION},
    {"alpha", required_argument, NULL, OPT_ALPHA},
    {"n-results", required_argument, NULL, 'k'},
    {"where", required_argument, NULL, OPT_WHERE},
    {"include", required_argument, NULL, OPT_INCLUDE},
    {"json", no_argument, NULL, OPT_JSON},
    {"full", no_argument, NULL, OPT_FULL},
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static int run_any(cli_ctx *ctx, int hybrid, int argc, char **argv) {
  const char *vector = NULL;
  qv_fusion fusion = QV_FUSION_RRF;
  double alpha = 0.5;
  size_t k = 10;
  int json = 0, full = 0, opt, rc = CLI_OK;
  char *end;
  qv_query_opts qo;
  qv_query_opts_init(&qo);
  while ((opt = cli_getopt(ctx, argc, argv, ":k:", longopts)) != -1) {
    int ok = CLI_OK;
    switch (opt) {
    case CLI_OPT_EXIT: return ctx->exit_code;
    case 'k': ok = cli_parse_size(ctx, "-k", optarg, 1, 100000, &k); break;
    case OPT_VECTOR:
    case OPT_FUSION:
    case OPT_ALPHA:
      if (!hybrid) return cli_usage(ctx, "--vector, --fusion and --alpha are for hybrid");
      if (opt == OPT_VECTOR) vector = optarg;
      else if (opt == OPT_FUSION) {
        if (!strcmp(optarg, "rrf")) fusion = QV_FUSION_RRF;
        else if (!strcmp(optarg, "weighted")) fusion = QV_FUSION_WEIGHTED;
        else return cli_usage(ctx, "--fusion: expected rrf or weighted, got '%s'", optarg);
      } else {
        alpha = strtod(optarg, &end);
        if (end == optarg || *end || !(alpha >= 0 && alpha <= 1)) return cli_usage(ctx, "--alpha: '%s' is not in [0, 1]", optarg);
      }
      break;
    case OPT_WHERE:
      qo.where_json = optarg;
      ok = cli_check_json_object(ctx, "--where", optarg);
      break;
    case OPT_INCLUDE: ok = cli_parse_include(ctx, optarg, 1, &qo.include); break;
    case OPT_JSON: json = 1; break;
    case OPT_FULL: full = 1; break;
    default: return CLI_USAGE;
    }
    if (ok != CLI_OK) return ok;
  }
  if (argc - optind != 2) return cli_usage(ctx, argc - optind < 2 ? "expected NAME WORDS" : "too many arguments");
  if (hybrid && !vector) return cli_usage(ctx, "--vector is required");
  const char *name = argv[optind], *words = argv[optind + 1];
  qv_db *db = NULL;
  qv_collection *c = NULL;
  qv_results *r = NULL;
  cli_vecs v = {0};
  char err[256] = "";
  if ((rc = cli_open_db(ctx, 0, &db)) != CLI_OK) goto done;
  if ((rc = cli_open_collection(ctx, db, name, &c)) != CLI_OK) goto done;
  qv_status st;
  if (hybrid) {
    size_t dim = qv_collection_dim(c);
    if (cli_vecs_parse_text(vector, dim, &v, err, sizeof err) != 0 || v.n != 1 || (dim && v.dim != dim)) {
      rc = cli_fail(ctx, "--vector: %s", v.n > 1 ? "give one vector" : err[0] ? err : "wrong dimension");
      goto done;
    }
    st = qv_collection_hybrid_search(c, words, v.data, k, fusion, (float)alpha, &qo, &r);
  } else {
    st = qv_collection_text_search(c, words, k, &qo, &r);
  }
  if (st != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "%s search on '%s' failed", hybrid ? "hybrid" : "text", name);
    goto done;
  }
  if (json) cli_print_results_json(stdout, r, 1);
  else cli_print_query_table(stdout, r, full);
done:
  free(v.data);
  qv_results_free(r);
  qv_collection_release(c);
  qv_db_close(db);
  return rc;
}

static int run_text(cli_ctx *ctx, int argc, char **argv) { return run_any(ctx, 0, argc, argv); }
static int run_hybrid(cli_ctx *ctx, int argc, char **argv) { return run_any(ctx, 1, argc, argv); }

const cli_cmd cli_cmd_text = {"text", run_text, "full-text (BM25) search of the documents", help_text};
const cli_cmd cli_cmd_hybrid = {"hybrid", run_hybrid, "text and vector search fused", help_hybrid};
