/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_vecmath.c -- queries by example records instead of a raw vector:
 *   quiver combine NAME --term ID[=WEIGHT]...          weighted sum (the analogy king - man + woman)
 *   quiver interpolate NAME A B -t T                   a point between two records
 *   quiver centroid NAME ID...                         the mean of records
 *   quiver recommend NAME --positive ID... [--negative ID...] [--strategy best_score]
 * Each prints the k nearest records like `quiver query` (for recommend the distance column
 * holds the score, highest first). The input records are left out unless --include-inputs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define COMMON_HELP                                                                         \
  "  -k, --n-results N     results (default 10)\n"                                          \
  "  --where JSON          metadata filter on the results\n"                                \
  "  --include LIST        metadatas,documents,distances,embeddings or all\n"               \
  "  --json                Chroma-shaped JSON\n"                                            \
  "  --full                do not truncate long fields\n"                                   \
  "  --data DIR            data directory (default: $QUIVER_DATA, else ./quiver-data)\n"

static const char help_combine[] =
    "usage: quiver combine NAME --term ID[=WEIGHT] [--term ...] [-k N] [--include-inputs] [...]\n"
    "\n"
    "The records nearest to the weighted sum of the records' vectors (unit vectors for cosine):\n"
    "  quiver combine words --term king --term man=-1 --term woman\n"
    "\n"
    "options:\n"
    "  --term ID[=WEIGHT]    a record and its weight (default 1); repeat\n"
    "  --include-inputs      the term records may appear in the results\n" COMMON_HELP;

static const char help_interp[] =
    "usage: quiver interpolate NAME A B -t T [--spherical | --linear] [-k N] [...]\n"
    "\n"
    "The records nearest to the point at T between records A (T = 0) and B (T = 1):\n"
    "spherical (slerp) by default for cosine collections, else linear.\n"
    "\n"
    "options:\n"
    "  -t T                  position (any finite number)\n"
    "  --spherical, --linear the interpolation\n"
    "  --include-inputs      A and B may appear in the results\n" COMMON_HELP;

static const char help_centroid[] =
    "usage: quiver centroid NAME ID [ID...] [-k N] [--include-inputs] [...]\n"
    "\n"
    "The records nearest to the mean of the given records (unit vectors for cosine).\n"
    "\n"
    "options:\n"
    "  --include-inputs      the given records may appear in the results\n" COMMON_HELP;

static const char help_recommend[] =
    "usage: quiver recommend NAME --positive ID [--positive ...] [--negative ID ...]\n"
    "                             [--strategy average|best_score] [-k N] [...]\n"
    "\n"
    "Records like the positive examples and unlike the negative ones, highest score first\n"
    "(the distance column is the score: similarity is 1 - distance for ip and cosine,\n"
    "-distance for l2 and l1). average searches for avg(pos) + (avg(pos) - avg(neg));\n"
    "best_score ranks by best positive similarity minus best negative similarity.\n"
    "\n"
    "options:\n"
    "  --positive ID         a liked record; repeat\n"
    "  --negative ID         a disliked record; repeat\n"
    "  --strategy NAME       average (default) or best_score\n" COMMON_HELP;

enum { OPT_TERM = 256, OPT_INPUTS, OPT_SPH, OPT_LIN, OPT_POS, OPT_NEG, OPT_STRATEGY, OPT_WHERE, OPT_INCLUDE,
       OPT_JSON, OPT_FULL };

static const struct option longopts[] = {
    {"term", required_argument, NULL, OPT_TERM},
    {"include-inputs", no_argument, NULL, OPT_INPUTS},
    {"spherical", no_argument, NULL, OPT_SPH},
    {"linear", no_argument, NULL, OPT_LIN},
    {"positive", required_argument, NULL, OPT_POS},
    {"negative", required_argument, NULL, OPT_NEG},
    {"strategy", required_argument, NULL, OPT_STRATEGY},
    {"n-results", required_argument, NULL, 'k'},
    {"where", required_argument, NULL, OPT_WHERE},
    {"include", required_argument, NULL, OPT_INCLUDE},
    {"json", no_argument, NULL, OPT_JSON},
    {"full", no_argument, NULL, OPT_FULL},
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

enum { OP_COMBINE, OP_INTERP, OP_CENTROID, OP_RECOMMEND };

typedef struct vm_args {
  qv_vec_term *terms, *pos, *neg;
  size_t n_terms, n_pos, n_neg;
  size_t k;
  double t;
  int have_t, spherical, include_inputs, json, full;
  qv_recommend_strategy strategy;
  qv_query_opts qo;
} vm_args;

static int push(qv_vec_term **arr, size_t *n, const char *id, float w) {
  qv_vec_term *g = realloc(*arr, (*n + 1) * sizeof *g);
  if (!g) return -1;
  g[*n] = (qv_vec_term){id, NULL, w};
  *arr = g;
  (*n)++;
  return 0;
}

/* ID[=WEIGHT]: the weight is the text after the last '=' when it is a number. */
static int parse_term(cli_ctx *ctx, char *arg, vm_args *a) {
  char *eq = strrchr(arg, '='), *end;
  float w = 1.0f;
  if (eq && eq != arg) {
    double v = strtod(eq + 1, &end);
    if (end != eq + 1 && !*end) {
      if (!isfinite(v)) return cli_usage(ctx, "--term %s: the weight must be finite", arg);
      w = (float)v;
      *eq = '\0';
    }
  }
  return push(&a->terms, &a->n_terms, arg, w) ? cli_fail(ctx, "out of memory") : CLI_OK;
}

static int parse(cli_ctx *ctx, int op, int argc, char **argv, vm_args *a) {
  int opt;
  size_t v;
  char *end;
  memset(a, 0, sizeof *a);
  a->k = 10;
  a->spherical = -1;
  qv_query_opts_init(&a->qo);
  while ((opt = cli_getopt(ctx, argc, argv, op == OP_INTERP ? ":k:t:" : ":k:", longopts)) != -1) {
    int ok = CLI_OK;
    switch (opt) {
    case CLI_OPT_EXIT: return ctx->exit_code == CLI_OK ? CLI_DONE : ctx->exit_code;
    case 'k':
      if (cli_parse_size(ctx, "-k", optarg, 1, 100000, &v) != CLI_OK) return CLI_USAGE;
      a->k = v;
      break;
    case 't':
      a->t = strtod(optarg, &end);
      if (end == optarg || *end || !isfinite(a->t)) return cli_usage(ctx, "-t: '%s' is not a finite number", optarg);
      a->have_t = 1;
      break;
    case OPT_TERM:
      if (op != OP_COMBINE) return cli_usage(ctx, "--term is for combine");
      ok = parse_term(ctx, optarg, a);
      break;
    case OPT_POS:
    case OPT_NEG:
      if (op != OP_RECOMMEND) return cli_usage(ctx, "--positive/--negative are for recommend");
      if (opt == OPT_POS ? push(&a->pos, &a->n_pos, optarg, 1) : push(&a->neg, &a->n_neg, optarg, 1))
        return cli_fail(ctx, "out of memory");
      break;
    case OPT_STRATEGY:
      if (op != OP_RECOMMEND) return cli_usage(ctx, "--strategy is for recommend");
      if (!strcmp(optarg, "average")) a->strategy = QV_RECOMMEND_AVERAGE;
      else if (!strcmp(optarg, "best_score") || !strcmp(optarg, "best-score")) a->strategy = QV_RECOMMEND_BEST_SCORE;
      else return cli_usage(ctx, "--strategy: expected average or best_score, got '%s'", optarg);
      break;
    case OPT_INPUTS: a->include_inputs = 1; break;
    case OPT_SPH: a->spherical = 1; break;
    case OPT_LIN: a->spherical = 0; break;
    case OPT_WHERE:
      a->qo.where_json = optarg;
      ok = cli_check_json_object(ctx, "--where", optarg);
      break;
    case OPT_INCLUDE: ok = cli_parse_include(ctx, optarg, 1, &a->qo.include); break;
    case OPT_JSON: a->json = 1; break;
    case OPT_FULL: a->full = 1; break;
    default: return CLI_USAGE;
    }
    if (ok != CLI_OK) return ok;
  }
  int npos = argc - optind;
  if (npos < 1) return cli_usage(ctx, "missing collection NAME");
  if (op == OP_COMBINE && (npos != 1 || !a->n_terms))
    return cli_usage(ctx, npos != 1 ? "too many arguments" : "at least one --term is required");
  if (op == OP_INTERP && (npos != 3 || !a->have_t))
    return cli_usage(ctx, npos != 3 ? "expected NAME A B" : "-t is required");
  if (op == OP_CENTROID && npos < 2) return cli_usage(ctx, "at least one ID is required");
  if (op == OP_RECOMMEND && (npos != 1 || !a->n_pos))
    return cli_usage(ctx, npos != 1 ? "too many arguments" : "at least one --positive is required");
  return CLI_OK;
}

static int run_op(cli_ctx *ctx, int op, int argc, char **argv) {
  vm_args a;
  qv_db *db = NULL;
  qv_collection *c = NULL;
  qv_results *r = NULL;
  int rc = parse(ctx, op, argc, argv, &a);
  if (rc != CLI_OK) goto done;
  const char *name = argv[optind];
  if ((rc = cli_open_db(ctx, 0, &db)) != CLI_OK) goto done;
  if ((rc = cli_open_collection(ctx, db, name, &c)) != CLI_OK) goto done;
  int excl = !a.include_inputs;
  qv_status st = QV_OK;
  switch (op) {
  case OP_COMBINE: st = qv_collection_combine(c, a.terms, a.n_terms, a.k, excl, &a.qo, &r); break;
  case OP_INTERP: {
    qv_vec_term ta = {argv[optind + 1], NULL, 1}, tb = {argv[optind + 2], NULL, 1};
    st = qv_collection_interpolate(c, &ta, &tb, (float)a.t, a.spherical, a.k, excl, &a.qo, &r);
    break;
  }
  case OP_CENTROID:
    st = qv_collection_centroid_search(c, (const char *const *)argv + optind + 1, (size_t)(argc - optind - 1), a.k,
                                       excl, &a.qo, &r);
    break;
  default: st = qv_collection_recommend(c, a.pos, a.n_pos, a.neg, a.n_neg, a.k, a.strategy, &a.qo, &r); break;
  }
  if (st != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "%s on '%s' failed", ctx->cmd, name);
    goto done;
  }
  if (a.json) cli_print_results_json(stdout, r, 1);
  else cli_print_query_table(stdout, r, a.full);
done:
  qv_results_free(r);
  qv_collection_release(c);
  qv_db_close(db);
  free(a.terms);
  free(a.pos);
  free(a.neg);
  return rc == CLI_DONE ? CLI_OK : rc;
}

static int run_combine(cli_ctx *ctx, int argc, char **argv) { return run_op(ctx, OP_COMBINE, argc, argv); }
static int run_interp(cli_ctx *ctx, int argc, char **argv) { return run_op(ctx, OP_INTERP, argc, argv); }
static int run_centroid(cli_ctx *ctx, int argc, char **argv) { return run_op(ctx, OP_CENTROID, argc, argv); }
static int run_recommend(cli_ctx *ctx, int argc, char **argv) { return run_op(ctx, OP_RECOMMEND, argc, argv); }

const cli_cmd cli_cmd_combine = {"combine", run_combine, "nearest records to a weighted sum of records",
                                 help_combine};
const cli_cmd cli_cmd_interpolate = {"interpolate", run_interp, "nearest records to a point between two records",
                                     help_interp};
const cli_cmd cli_cmd_centroid = {"centroid", run_centroid, "nearest records to the mean of records", help_centroid};
const cli_cmd cli_cmd_recommend = {"recommend", run_recommend, "records like some examples and unlike others",
                                   help_recommend};
