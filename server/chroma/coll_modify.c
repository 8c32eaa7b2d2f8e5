/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * coll_modify.c -- PUT Base/collections/{id} (chroma-v2.md §7.5): rename, replace the
 * collection metadata wholesale, and merge new_configuration into the stored configuration.
 *
 * Order: everything is validated first, then the rename (the one step that can fail with
 * 409), then the metadata write (which the library validates), then the configuration write
 * (qv_collection_set_config: only an I/O failure can stop it). A new hnsw.ef_search is applied
 * to the live collection with qv_collection_set_param and remembered in the configuration so
 * queries and responses use it after a restart too. max_neighbors, num_threads and batch_size are accepted and ignored
 * (quiver cannot change M of a built graph).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll_config.h"
#include "srv.h"

/* Merge new_configuration into extra (owned). 0, or -1 after replying. */
static int merge_config(json_t *conf, json_t *extra, srv_resp *rs) {
  static const char *const hkeys[] = {"ef_search", "max_neighbors", "num_threads", "resize_factor",
                                      "sync_threshold", "batch_size", NULL};
  json_t *h = NULL, *sp = NULL, *ef = json_object_get(conf, "embedding_function");
  const char *key;
  json_t *v;
  if (srv_field_obj(conf, "hnsw", &h, rs) < 0 || srv_field_obj(conf, "spann", &sp, rs) < 0) return -1;
  if (ef && !json_is_null(ef)) json_object_set(extra, "embedding_function", ef);
  json_object_foreach(h, key, v) {
    size_t i = 0;
    while (hkeys[i] && strcmp(hkeys[i], key)) i++;
    if (!hkeys[i]) {
      srv_error(rs, 422, "Failed to deserialize the JSON body: hnsw: unknown field `%.64s`", key);
      return -1;
    }
    if (json_is_null(v)) continue;
    if (!json_is_number(v)) {
      srv_error(rs, 422, "Failed to deserialize the JSON body: hnsw.%s: expected a number", key);
      return -1;
    }
    if (!strcmp(key, "ef_search") || !strcmp(key, "resize_factor") || !strcmp(key, "sync_threshold"))
      json_object_set(extra, key, v);
  }
  v = json_object_get(sp, "ef_search");
  if (json_is_integer(v)) json_object_set(extra, "ef_search", v);
  v = json_object_get(extra, "ef_search");
  if (v && (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000)) {
    srv_error(rs, 400, "ef_search must be an integer between 1 and 1000000");
    return -1;
  }
  return 0;
}

/* Rename sc to new_name inside t/d; 0, or -1 after replying. */
static int do_rename(srv_req *rq, srv_resp *rs, const srv_coll *sc, const char *new_name) {
  size_t n = strlen(sc->info.tenant) + strlen(sc->info.database) + strlen(new_name) + 3;
  char *to = malloc(n);
  qv_status rc;
  if (!to) {
    srv_error(rs, 500, "out of memory");
    return -1;
  }
  snprintf(to, n, "%s/%s/%s", sc->info.tenant, sc->info.database, new_name); /* the same database */
  rc = qv_collection_rename(rq->s->db, sc->info.name, to);
  free(to);
  if (rc == QV_EXISTS) srv_error(rs, 409, "Collection [%.512s] already exists", new_name);
  else if (rc != QV_OK) srv_error_qv(rs, rq->s, rc);
  return rc == QV_OK ? 0 : -1;
}

/* Replace the collection's metadata (user, NULL for none); 0, or -1 after replying. */
static int store_metadata(srv_req *rq, srv_resp *rs, qv_collection *c, json_t *user) {
  char *text = user && json_object_size(user) ? json_dumps(user, JSON_COMPACT) : NULL;
  qv_status rc;
  if (user && json_object_size(user) && !text) {
    srv_error(rs, 500, "out of memory");
    return -1;
  }
  rc = qv_collection_set_metadata(c, text);
  free(text);
  if (rc != QV_OK) srv_error_qv(rs, rq->s, rc);
  return rc == QV_OK ? 0 : -1;
}

/* Replace the collection's configuration with extra; 0, or -1 after replying. */
static int store_config(srv_req *rq, srv_resp *rs, qv_collection *c, json_t *extra) {
  char *text = cfg_text(extra);
  qv_status rc;
  if (!text) {
    srv_error(rs, 500, "out of memory");
    return -1;
  }
  rc = qv_collection_set_config(c, *text ? text : NULL);
  free(text);
  if (rc != QV_OK) srv_error_qv(rs, rq->s, rc);
  return rc == QV_OK ? 0 : -1;
}

void route_coll_modify(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id) {
  json_t *body = NULL, *new_meta = NULL, *conf = NULL, *extra = NULL, *efv;
  const char *new_name = NULL;
  srv_coll sc;
  memset(&sc, 0, sizeof sc);
  if (!(body = srv_parse_body(rq, rs, 1))) goto cleanup;
  if (srv_field_str(body, "new_name", &new_name, rs) < 0 ||
      srv_field_obj(body, "new_metadata", &new_meta, rs) < 0 ||
      srv_field_obj(body, "new_configuration", &conf, rs) < 0)
    goto cleanup;
  if (new_meta && json_object_size(new_meta) == 0) {
    srv_error(rs, 400, "Validation error: new_metadata: Metadata cannot be empty");
    goto cleanup;
  }
  if (new_name && !srv_valid_name(new_name)) {
    srv_error(rs, 400, "Validation error: new_name: Expected a name containing 3-512 characters "
                       "from [a-zA-Z0-9._-], starting and ending with a character in [a-zA-Z0-9]");
    goto cleanup;
  }
  if (srv_coll_by_uuid(rq, rs, t, d, id, &sc) != 0) goto cleanup;
  if (!(extra = cfg_load(sc.info.config_json)) && !(extra = json_object())) {
    srv_error(rs, 500, "out of memory");
    goto cleanup;
  }
  if (conf && merge_config(conf, extra, rs) < 0) goto cleanup;
  if (new_name && strcmp(new_name, sc.short_name) && do_rename(rq, rs, &sc, new_name) < 0)
    goto cleanup;
  if (sc.info.params_json && strstr(sc.info.params_json, "\"ef_search\"") &&
      (efv = json_object_get(extra, "ef_search")) &&
      qv_collection_set_param(sc.c, "ef_search", (double)json_integer_value(efv)) != QV_OK) {
    srv_error_qv(rs, rq->s, QV_INVALID);
    goto cleanup;
  }
  if (new_meta && store_metadata(rq, rs, sc.c, new_meta) < 0) goto cleanup; /* replaced wholesale */
  if (conf && store_config(rq, rs, sc.c, extra) < 0) goto cleanup;
  srv_reply_text(rs, 200, "{}");
cleanup:
  json_decref(extra);
  json_decref(body);
  srv_coll_done(&sc);
}
