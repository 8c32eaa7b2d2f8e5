/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_info.c -- `quiver info NAME [--json]`: a collection's shape (dimension, metric, index
 * and its parameters, metadata), its record count and its index statistics
 * (qv_collection_stats_get: memory for vectors and graph, tombstones, levels, sequence
 * numbers).
 */
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: quiver info NAME [--json]\n"
    "\n"
    "Describe a collection and its index: dimension, metric, index kind and parameters,\n"
    "record count, metadata, memory used by vectors and graph, tombstones, HNSW levels and\n"
    "sequence numbers (newest write applied to the index, last checkpoint).\n"
    "\n"
    "options:\n"
    "  --json       print a JSON object instead\n"
    "  --data DIR   data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

static const struct option longopts[] = {
    {"json", no_argument, NULL, 'J'},
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static void print_json(const qv_collection_info *in, const qv_index_stats *s) {
  fputs("{\"name\":", stdout);
  cli_print_json_string(stdout, in->name);
  fputs(",\"uuid\":", stdout);
  cli_print_json_string(stdout, in->uuid ? in->uuid : "");
  printf(",\"dim\":%u,\"metric\":\"%s\",\"index\":", (unsigned)in->dim, qv_metric_name(in->metric));
  cli_print_json_string(stdout, in->index);
  printf(",\"params\":%s", in->params_json);
  printf(",\"count\":%llu,\"metadata\":%s", (unsigned long long)in->count,
         in->metadata_json && *in->metadata_json ? in->metadata_json : "null");
  printf(",\"config\":%s", in->config_json && *in->config_json ? in->config_json : "null");
  printf(",\"stats\":{\"count\":%llu,\"slots\":%llu,\"tombstones\":%llu,\"mem_vectors\":%llu,"
         "\"mem_graph\":%llu,\"max_level\":%u,\"last_seq\":%llu,\"checkpoint_seq\":%llu,"
         "\"mem_codes\":%llu,\"mem_ids\":%llu,\"mem_metadata\":%llu,\"mem_documents\":%llu,"
         "\"bytes_per_record\":%llu}}\n",
         (unsigned long long)s->count, (unsigned long long)s->n_slots,
         (unsigned long long)s->n_tombstones, (unsigned long long)s->mem_vectors,
         (unsigned long long)s->mem_graph, (unsigned)s->max_level,
         (unsigned long long)s->last_seq, (unsigned long long)s->checkpoint_seq,
         (unsigned long long)s->mem_codes, (unsigned long long)s->mem_ids,
         (unsigned long long)s->mem_metadata, (unsigned long long)s->mem_documents,
         (unsigned long long)s->bytes_per_record);
}

static void print_text(const qv_collection_info *in, const qv_index_stats *s) {
  char b1[32], b2[32];
  printf("name:             %s\n", in->name);
  printf("uuid:             %s\n", in->uuid ? in->uuid : "");
  if (in->dim)
    printf("dimension:        %u\n", (unsigned)in->dim);
  else
    printf("dimension:        not set (fixed by the first write)\n");
  printf("metric:           %s\n", qv_metric_name(in->metric));
  printf("index:            %s %s\n", in->index, in->params_json);
  printf("records:          %llu\n", (unsigned long long)in->count);
  printf("metadata:         %s\n", in->metadata_json && *in->metadata_json ? in->metadata_json : "none");
  if (in->config_json) printf("config:           %s\n", in->config_json); /* a face's (the Chroma server's) */
  printf("index stats:\n");
  printf("  slots:          %llu (%llu tombstones)\n", (unsigned long long)s->n_slots,
         (unsigned long long)s->n_tombstones);
  printf("  vector memory:  %s\n", cli_fmt_bytes(b1, sizeof b1, s->mem_vectors));
  printf("  graph memory:   %s\n", cli_fmt_bytes(b2, sizeof b2, s->mem_graph));
  if (s->mem_graph) printf("  top level:      %u\n", (unsigned)s->max_level);
  if (s->count) { /* docs/MEMORY.md: what each component counts */
    double n = (double)s->count;
    printf("  bytes per vector: %llu (floats %.1f, codes %.1f, graph %.1f, ids %.1f, metadata %.1f, "
           "documents %.1f)\n",
           (unsigned long long)s->bytes_per_record, (double)(s->mem_vectors - s->mem_codes) / n,
           (double)s->mem_codes / n, (double)s->mem_graph / n, (double)s->mem_ids / n,
           (double)s->mem_metadata / n, (double)s->mem_documents / n);
  }
  printf("  last seq:       %llu\n", (unsigned long long)s->last_seq);
  printf("  checkpoint seq: %llu\n", (unsigned long long)s->checkpoint_seq);
}

static int run(cli_ctx *ctx, int argc, char **argv) {
  qv_db *db = NULL;
  qv_collection *c = NULL;
  qv_collection_info info = {.struct_size = sizeof info};
  qv_index_stats stats = {.struct_size = sizeof stats};
  int json = 0, have_info = 0, rc = CLI_OK, opt;
  qv_status st;

  while ((opt = cli_getopt(ctx, argc, argv, ":", longopts)) != -1) {
    if (opt == CLI_OPT_EXIT) return ctx->exit_code;
    json = 1;
  }
  if (argc - optind != 1)
    return cli_usage(ctx, argc == optind ? "missing collection NAME" : "too many arguments");
  const char *name = argv[optind];

  if ((rc = cli_open_db(ctx, 0, &db)) != CLI_OK) goto cleanup;
  if ((rc = cli_open_collection(ctx, db, name, &c)) != CLI_OK) goto cleanup;
  if ((st = qv_collection_info_get(c, &info)) != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "collection '%s'", name);
    goto cleanup;
  }
  have_info = 1;
  if ((st = qv_collection_stats_get(c, &stats)) != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "index statistics of '%s'", name);
    goto cleanup;
  }
  if (json)
    print_json(&info, &stats);
  else
    print_text(&info, &stats);
cleanup:
  if (have_info) qv_collection_info_free(&info);
  qv_collection_release(c);
  qv_db_close(db);
  return rc;
}

const cli_cmd cli_cmd_info = {"info", run, "describe a collection and its index", help};
