/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * collopts.c -- the collection-shape options shared by `quiver create` and
 * `quiver import --create`: --dim, --metric, --index, --M, --ef-construction, --ef-search and
 * --metadata. The CLI checks only the form of each value (a number, a known name, a JSON
 * object); the library judges the values themselves (ranges, combinations) and its message
 * is reported as is.
 */
#include <stdint.h>
#include <string.h>

#include "cli.h"

static int parse_u32(const cli_ctx *ctx, const char *opt, const char *s, uint32_t *out) {
  size_t v = 0;
  int rc = cli_parse_size(ctx, opt, s, 1, UINT32_MAX, &v);
  if (rc == CLI_OK) *out = (uint32_t)v;
  return rc;
}

int cli_collection_opt(const cli_ctx *ctx, int c, const char *arg, qv_collection_opts *o) {
  switch (c) {
  case 'd': return parse_u32(ctx, "--dim", arg, &o->dim);
  case 'M': return parse_u32(ctx, "--M", arg, &o->hnsw_m);
  case 'c': return parse_u32(ctx, "--ef-construction", arg, &o->hnsw_ef_construction);
  case 'e': return parse_u32(ctx, "--ef-search", arg, &o->hnsw_ef_search);
  case 'm':
    if (qv_metric_parse(arg, &o->metric) != QV_OK)
      return cli_usage(ctx, "unknown metric '%s' (expected l2, ip, cosine or l1)", arg);
    return CLI_OK;
  case 'i':
    if (qv_index_parse(arg, &o->index) != QV_OK)
      return cli_usage(ctx, "unknown index kind '%s' (expected flat or hnsw)", arg);
    return CLI_OK;
  case 'j':
    if (cli_check_json_object(ctx, "--metadata", arg) != CLI_OK) return CLI_USAGE;
    o->metadata_json = arg;
    return CLI_OK;
  default: return -1;
  }
}
