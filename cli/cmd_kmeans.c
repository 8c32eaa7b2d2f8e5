/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_kmeans.c -- `quiver kmeans NAME -k K`: cluster a collection (qv_collection_kmeans).
 * Prints one line per cluster (size, the record nearest to its centroid) and the inertia,
 * or with --json everything (centroids, ids, labels, distances, inertia, sizes, nearest).
 * --label-key KEY writes each record's cluster number into its metadata.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: quiver kmeans NAME -k K [--niter N] [--nredo N] [--seed S] [--spherical | --euclidean]\n"
    "                          [--init kmeans++|random] [--max-points N] [--where JSON]\n"
    "                          [--where-document JSON] [--label-key KEY] [--json]\n"
    "\n"
    "k-means over the records of collection NAME (or those matching the filters).\n"
    "\n"
    "options:\n"
    "  -k N                  number of clusters\n"
    "  --niter N             iterations (default 20)\n"
    "  --nredo N             runs from different seeds; the lowest inertia is kept (default 1)\n"
    "  --seed S              random seed (default 1234)\n"
    "  --spherical           unit centroids, distance 1 - dot (the default for cosine)\n"
    "  --euclidean           squared euclidean distance (the default otherwise)\n"
    "  --init NAME           kmeans++ (default) or random\n"
    "  --max-points N        train on a random sample of N records (all are assigned)\n"
    "  --where JSON          cluster only the records matching this metadata filter\n"
    "  --where-document JSON ... and this document filter\n"
    "  --label-key KEY       write each record's cluster number into its metadata under KEY\n"
    "  --json                everything as JSON\n"
    "  --data DIR            data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

enum { OPT_NITER = 256, OPT_NREDO, OPT_SEED, OPT_SPH, OPT_EUC, OPT_INIT, OPT_MAXP, OPT_WHERE, OPT_WHERE_DOC,
       OPT_LABEL, OPT_JSON };

static const struct option longopts[] = {
    {"niter", required_argument, NULL, OPT_NITER},
    {"nredo", required_argument, NULL, OPT_NREDO},
    {"seed", required_argument, NULL, OPT_SEED},
    {"spherical", no_argument, NULL, OPT_SPH},
    {"euclidean", no_argument, NULL, OPT_EUC},
    {"init", required_argument, NULL, OPT_INIT},
    {"max-points", required_argument, NULL, OPT_MAXP},
    {"where", required_argument, NULL, OPT_WHERE},
    {"where-document", required_argument, NULL, OPT_WHERE_DOC},
    {"label-key", required_argument, NULL, OPT_LABEL},
    {"json", no_argument, NULL, OPT_JSON},
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static void print_json(const qv_kmeans_result *r) {
  printf("{\"k\": %u, \"dim\": %u, \"inertia\": %.17g, \"centroids\": [", r->k, r->dim, r->inertia);
  for (uint32_t j = 0; j < r->k; j++) {
    printf(j ? ", [" : "[");
    for (uint32_t l = 0; l < r->dim; l++) printf(l ? ", %.9g" : "%.9g", r->centroids[(size_t)j * r->dim + l]);
    printf("]");
  }
  printf("], \"sizes\": [");
  for (uint32_t j = 0; j < r->k; j++) printf(j ? ", %llu" : "%llu", (unsigned long long)r->sizes[j]);
  printf("], \"nearest\": [");
  for (uint32_t j = 0; j < r->k; j++) {
    if (j) printf(", ");
    if (r->nearest[j]) cli_print_json_string(stdout, r->nearest[j]);
    else printf("null");
  }
  printf("], \"ids\": [");
  for (size_t i = 0; i < r->n; i++) {
    if (i) printf(", ");
    cli_print_json_string(stdout, r->ids[i]);
  }
  printf("], \"labels\": [");
  for (size_t i = 0; i < r->n; i++) printf(i ? ", %u" : "%u", r->labels[i]);
  printf("], \"distances\": [");
  for (size_t i = 0; i < r->n; i++) printf(i ? ", %.9g" : "%.9g", r->distances[i]);
  printf("]}\n");
}

static int run(cli_ctx *ctx, int argc, char **argv) {
  qv_kmeans_opts o;
  size_t v;
  int json = 0, opt, rc = CLI_OK, for_write;
  qv_kmeans_opts_init(&o);
  while ((opt = cli_getopt(ctx, argc, argv, ":k:", longopts)) != -1) {
    char *end;
    switch (opt) {
    case CLI_OPT_EXIT: return ctx->exit_code;
    case 'k':
      if (cli_parse_size(ctx, "-k", optarg, 1, UINT32_MAX, &v) != CLI_OK) return CLI_USAGE;
      o.k = (uint32_t)v;
      break;
    case OPT_NITER:
      if (cli_parse_size(ctx, "--niter", optarg, 1, 100000, &v) != CLI_OK) return CLI_USAGE;
      o.niter = (uint32_t)v;
      break;
    case OPT_NREDO:
      if (cli_parse_size(ctx, "--nredo", optarg, 1, 1000, &v) != CLI_OK) return CLI_USAGE;
      o.nredo = (uint32_t)v;
      break;
    case OPT_SEED:
      o.seed = strtoull(optarg, &end, 10);
      if (end == optarg || *end) return cli_usage(ctx, "--seed: '%s' is not a non-negative integer", optarg);
      break;
    case OPT_SPH: o.spherical = 1; break;
    case OPT_EUC: o.spherical = 0; break;
    case OPT_INIT:
      if (!strcmp(optarg, "kmeans++") || !strcmp(optarg, "k-means++")) o.init = 0;
      else if (!strcmp(optarg, "random")) o.init = 1;
      else return cli_usage(ctx, "--init: expected kmeans++ or random, got '%s'", optarg);
      break;
    case OPT_MAXP:
      if (cli_parse_size(ctx, "--max-points", optarg, 1, SIZE_MAX, &o.max_points) != CLI_OK) return CLI_USAGE;
      break;
    case OPT_WHERE:
      o.where_json = optarg;
      if (cli_check_json_object(ctx, "--where", optarg) != CLI_OK) return CLI_USAGE;
      break;
    case OPT_WHERE_DOC:
      o.where_document_json = optarg;
      if (cli_check_json_object(ctx, "--where-document", optarg) != CLI_OK) return CLI_USAGE;
      break;
    case OPT_LABEL: o.label_key = optarg; break;
    case OPT_JSON: json = 1; break;
    default: return CLI_USAGE;
    }
  }
  if (argc - optind != 1) return cli_usage(ctx, argc == optind ? "missing collection NAME" : "too many arguments");
  if (o.k == 0) return cli_usage(ctx, "-k is required");
  const char *name = argv[optind];
  qv_db *db = NULL;
  qv_collection *c = NULL;
  qv_kmeans_result *r = NULL;
  for_write = o.label_key != NULL;
  if ((rc = cli_open_db(ctx, for_write, &db)) != CLI_OK) goto cleanup;
  if ((rc = cli_open_collection(ctx, db, name, &c)) != CLI_OK) goto cleanup;
  qv_status st = qv_collection_kmeans(c, &o, &r);
  if (st != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "kmeans on '%s' failed", name);
    goto cleanup;
  }
  if (json) {
    print_json(r);
  } else {
    printf("%-8s %10s  %s\n", "cluster", "size", "nearest");
    for (uint32_t j = 0; j < r->k; j++)
      printf("%-8u %10llu  %s\n", j, (unsigned long long)r->sizes[j], r->nearest[j] ? r->nearest[j] : "-");
    printf("%zu records, %u clusters, inertia %.6g%s%s\n", r->n, r->k, r->inertia,
           o.label_key ? ", labels written to metadata key " : "", o.label_key ? o.label_key : "");
  }
cleanup:
  qv_kmeans_result_free(r);
  qv_collection_release(c);
  qv_db_close(db);
  return rc;
}

const cli_cmd cli_cmd_kmeans = {"kmeans", run, "cluster a collection with k-means", help};
