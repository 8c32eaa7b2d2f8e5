/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * collopts.c -- the collection-shape options shared by `quiver create` and
 * `quiver import --create`: --dim, --metric, --index, the index kind's parameters
 * (--param KEY=VALUE, --params JSON, and the shorthands --M, --ef-construction, --ef-search)
 * and --metadata. The parameters are gathered into one JSON object and handed to the library
 * as they are: the CLI never enumerates an index kind's settings, the kind validates them and
 * its message (naming the key) is reported as is.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int parse_u32(const cli_ctx *ctx, const char *opt, const char *s, uint32_t *out) {
  size_t v = 0;
  int rc = cli_parse_size(ctx, opt, s, 1, UINT32_MAX, &v);
  if (rc == CLI_OK) *out = (uint32_t)v;
  return rc;
}

void cli_collopts_init(cli_collopts *co) {
  memset(co, 0, sizeof *co);
  qv_collection_opts_init(&co->o);
}

void cli_collopts_free(cli_collopts *co) {
  json_decref((json_t *)co->params);
  free(co->params_text);
  co->params = NULL;
  co->params_text = NULL;
}

static json_t *params_obj(cli_collopts *co) {
  if (!co->params) co->params = json_object();
  return co->params;
}

/* KEY=VALUE: VALUE is JSON when it parses as JSON (numbers, true, "text"), else a string. */
static int set_kv(const cli_ctx *ctx, cli_collopts *co, const char *opt, const char *arg) {
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg) return cli_usage(ctx, "%s expects KEY=VALUE, got '%s'", opt, arg);
  char key[256];
  size_t klen = (size_t)(eq - arg);
  if (klen >= sizeof key) return cli_usage(ctx, "%s: key longer than %zu bytes", opt, sizeof key - 1);
  memcpy(key, arg, klen);
  key[klen] = 0;
  json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
  if (!v) v = json_string(eq + 1);
  json_t *o = params_obj(co);
  if (!v || !o || json_object_set_new(o, key, v) != 0) return cli_fail(ctx, "out of memory");
  return CLI_OK;
}

int cli_collection_opt(const cli_ctx *ctx, int c, const char *arg, cli_collopts *co) {
  qv_collection_opts *o = &co->o;
  char kv[64];
  switch (c) {
  case 'd': return parse_u32(ctx, "--dim", arg, &o->dim);
  case 'M': snprintf(kv, sizeof kv, "M=%.40s", arg); return set_kv(ctx, co, "--M", kv);
  case 'c': snprintf(kv, sizeof kv, "ef_construction=%.40s", arg); return set_kv(ctx, co, "--ef-construction", kv);
  case 'e': snprintf(kv, sizeof kv, "ef_search=%.40s", arg); return set_kv(ctx, co, "--ef-search", kv);
  case 'P': return set_kv(ctx, co, "--param", arg);
  case 'J': {
    if (cli_check_json_object(ctx, "--params", arg) != CLI_OK) return CLI_USAGE;
    json_t *given = json_loads(arg, 0, NULL), *o2 = params_obj(co);
    if (!given || !o2 || json_object_update(o2, given) != 0) {
      json_decref(given);
      return cli_fail(ctx, "out of memory");
    }
    json_decref(given);
    return CLI_OK;
  }
  case 'm':
    if (qv_metric_parse(arg, &o->metric) != QV_OK)
      return cli_usage(ctx, "unknown metric '%s' (expected l2, ip, cosine, l1 or hamming)", arg);
    return CLI_OK;
  case 'i': o->index = arg; return CLI_OK; /* the library names the kinds it has */
  case 'j':
    if (cli_check_json_object(ctx, "--metadata", arg) != CLI_OK) return CLI_USAGE;
    o->metadata_json = arg;
    return CLI_OK;
  default: return -1;
  }
}

int cli_collopts_finish(const cli_ctx *ctx, cli_collopts *co) {
  if (!co->params) return CLI_OK;
  free(co->params_text);
  co->params_text = json_dumps((json_t *)co->params, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!co->params_text) return cli_fail(ctx, "out of memory");
  co->o.params_json = co->params_text;
  return CLI_OK;
}
