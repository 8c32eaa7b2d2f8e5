/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * coll_config.c -- Chroma collection configuration <-> quiver collection options.
 *
 * Create requests carry `configuration` {hnsw|spann, embedding_function} and possibly the
 * legacy `hnsw:*` metadata keys (chroma-v2.md §7.2). space maps onto the metric;
 * ef_construction, ef_search and max_neighbors onto the index kind's parameters of those
 * meanings, when the kind has them. The native extras `index` (a kind name: "hnsw", the
 * default, "flat", ...) and `params` (a JSON object of the kind's parameters, validated by the
 * library) choose quiver's index. What quiver has no index parameter for -- embedding_function,
 * resize_factor, sync_threshold, an updated ef_search -- is the collection's configuration in
 * the library's catalog (qv_collection_opts.config_json, qv_collection_set_config), one JSON
 * object echoed back in configuration_json; the user's metadata never holds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll_config.h"

void cfg_init(coll_cfg *c) {
  memset(c, 0, sizeof *c);
  c->metric = QV_METRIC_L2;
  c->index = "hnsw";
  c->m = 16;
  c->ef_construction = 100;
  c->ef_search = 100;
  c->extra = json_object();
}

void cfg_free(coll_cfg *c) {
  json_decref(c->extra);
  json_decref(c->params);
  c->extra = NULL;
  c->params = NULL;
}

char *cfg_params_text(const coll_cfg *c) {
  char *desc = NULL;
  json_t *kind_params = NULL, *out = json_object();
  if (!out) return NULL;
  if (qv_index_params_describe(c->index, &desc) == QV_OK) kind_params = json_loads(desc, 0, NULL);
  free(desc);
  static const char *const names[] = {"M", "ef_construction", "ef_search"};
  const uint32_t vals[] = {c->m, c->ef_construction, c->ef_search};
  for (size_t i = 0; i < 3; i++)
    if (json_object_get(kind_params, names[i])) json_object_set_new(out, names[i], json_integer(vals[i]));
  if (c->params) json_object_update(out, c->params);
  char *text = json_dumps(out, JSON_COMPACT);
  json_decref(out);
  json_decref(kind_params);
  return text;
}

/* A positive integer field of obj into *out (0 absent, 1 set, -1 replied). */
static int pos_int(json_t *obj, const char *key, uint32_t *out, srv_resp *rs) {
  long long v = 0;
  int got = srv_field_int(obj, key, &v, rs);
  if (got <= 0) return got;
  if (v < 1 || v > 1000000) {
    srv_error(rs, 400, "configuration: `%s` must be between 1 and 1000000", key);
    return -1;
  }
  *out = (uint32_t)v;
  return 1;
}

static int parse_space(const char *name, qv_metric *m, srv_resp *rs) {
  if (qv_metric_parse(name, m) != QV_OK) {
    srv_error(rs, 422, "Failed to deserialize the JSON body: unknown variant `%.64s` for "
                       "`space`, expected one of `l2`, `cosine`, `ip`",
              name);
    return -1;
  }
  return 0;
}

/* Keep a number field of src in c->extra under the same key (echo only). */
static int keep_number(coll_cfg *c, json_t *src, const char *key, srv_resp *rs) {
  json_t *v = json_object_get(src, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v)) {
    srv_error(rs, 422, "Failed to deserialize the JSON body: `%s`: expected a number", key);
    return -1;
  }
  json_object_set(c->extra, key, v);
  return 0;
}

static int check_keys(json_t *obj, const char *const *allowed, const char *what, srv_resp *rs) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    size_t i = 0;
    (void)v;
    while (allowed[i] && strcmp(allowed[i], key) != 0) i++;
    if (!allowed[i]) {
      srv_error(rs, 422, "Failed to deserialize the JSON body: %s: unknown field `%.64s`", what,
                key);
      return -1;
    }
  }
  return 0;
}

/* configuration.hnsw of a create request. */
static int parse_hnsw(coll_cfg *c, json_t *h, srv_resp *rs) {
  static const char *const keys[] = {"space", "ef_construction", "ef_search", "max_neighbors",
                                     "resize_factor", "sync_threshold", "num_threads",
                                     "batch_size", NULL};
  const char *space = NULL;
  long long dummy;
  if (check_keys(h, keys, "hnsw", rs)) return -1;
  if (srv_field_str(h, "space", &space, rs) < 0) return -1;
  if (space && parse_space(space, &c->metric, rs)) return -1;
  if (pos_int(h, "ef_construction", &c->ef_construction, rs) < 0 ||
      pos_int(h, "ef_search", &c->ef_search, rs) < 0 ||
      pos_int(h, "max_neighbors", &c->m, rs) < 0)
    return -1;
  if (srv_field_int(h, "num_threads", &dummy, rs) < 0 ||
      srv_field_int(h, "batch_size", &dummy, rs) < 0)
    return -1;
  if (keep_number(c, h, "resize_factor", rs) || keep_number(c, h, "sync_threshold", rs)) return -1;
  return 0;
}

/* Legacy hnsw:* keys of the create metadata (used when configuration has no hnsw/spann). */
static int parse_legacy(coll_cfg *c, json_t *meta, srv_resp *rs) {
  const char *key;
  json_t *v;
  json_object_foreach(meta, key, v) {
    if (strncmp(key, "hnsw:", 5) != 0) continue;
    const char *k = key + 5;
    if (!strcmp(k, "space")) {
      if (!json_is_string(v)) goto bad;
      if (parse_space(json_string_value(v), &c->metric, rs)) return -1;
    } else if (!strcmp(k, "construction_ef") || !strcmp(k, "search_ef") || !strcmp(k, "M")) {
      json_int_t x = json_integer_value(v);
      if (!json_is_integer(v) || x < 1 || x > 1000000) goto bad;
      if (k[0] == 'c') c->ef_construction = (uint32_t)x;
      else if (k[0] == 's') c->ef_search = (uint32_t)x;
      else c->m = (uint32_t)x;
    } else if (strcmp(k, "num_threads") && strcmp(k, "resize_factor") &&
               strcmp(k, "sync_threshold") && strcmp(k, "batch_size")) {
      goto bad;
    }
  }
  return 0;
bad:
  srv_error(rs, 400, "Invalid HNSW metadata key or value: `%.64s`", key);
  return -1;
}

int cfg_parse_create(coll_cfg *c, json_t *body, json_t *meta, srv_resp *rs) {
  json_t *conf = NULL, *h = NULL, *sp = NULL, *ef;
  const char *index = NULL;
  json_t *params = NULL;
  if (srv_field_obj(body, "configuration", &conf, rs) < 0) return -1;
  if (srv_field_str(body, "index", &index, rs) < 0) return -1;
  if (srv_field_obj(body, "params", &params, rs) < 0) return -1;
  if (conf) {
    if (srv_field_obj(conf, "hnsw", &h, rs) < 0 || srv_field_obj(conf, "spann", &sp, rs) < 0 ||
        (!index && srv_field_str(conf, "index", &index, rs) < 0) ||
        (!params && srv_field_obj(conf, "params", &params, rs) < 0))
      return -1;
    if (h && sp) {
      srv_error(rs, 400, "Only one of hnsw and spann can be specified in the configuration");
      return -1;
    }
    ef = json_object_get(conf, "embedding_function");
    if (ef && !json_is_null(ef)) json_object_set(c->extra, "embedding_function", ef);
  }
  if (index) c->index = index; /* the library names the kinds it has if this is none of them */
  if (params) c->params = json_incref(params);
  if (h) return parse_hnsw(c, h, rs);
  if (sp) {
    const char *space = NULL;
    if (srv_field_str(sp, "space", &space, rs) < 0) return -1;
    return space ? parse_space(space, &c->metric, rs) : 0;
  }
  return meta ? parse_legacy(c, meta, rs) : 0;
}

/* ------------------------------------------------------------------ stored configuration */

char *cfg_text(json_t *extra) {
  return extra && json_object_size(extra) ? json_dumps(extra, JSON_COMPACT) : strdup("");
}

json_t *cfg_load(const char *config_json) {
  json_t *j = config_json && *config_json ? json_loads(config_json, 0, NULL) : NULL;
  if (j && !json_is_object(j)) {
    json_decref(j);
    j = NULL;
  }
  return j;
}

uint32_t cfg_ef_search(const char *config_json) {
  uint32_t ef = 0;
  if (!config_json || !strstr(config_json, "\"ef_search\"")) return 0;
  json_t *extra = cfg_load(config_json);
  json_int_t v = json_integer_value(json_object_get(extra, "ef_search"));
  if (v > 0 && v <= 1000000) ef = (uint32_t)v;
  json_decref(extra);
  return ef;
}
