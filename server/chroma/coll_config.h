/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * coll_config.h -- collection configuration parsing, and the configuration the library keeps
 * for the face (coll_config.c). Used by routes_coll.c, coll_modify.c and rec_read.c.
 */
#ifndef QV_COLL_CONFIG_H
#define QV_COLL_CONFIG_H

#include "srv.h"

typedef struct coll_cfg {
  qv_metric metric;
  const char *index;  /* index kind name (borrowed from the body), default "hnsw" */
  uint32_t m, ef_construction, ef_search; /* Chroma's HNSW vocabulary (max_neighbors, ...) */
  json_t *params;     /* native `params`: the kind's parameters as given, or NULL */
  json_t *extra; /* the collection's config_json: embedding_function, resize_factor, ... */
} coll_cfg;

/* Chroma defaults: l2, hnsw, M 16, ef_construction 100, ef_search 100. */
void cfg_init(coll_cfg *c);
void cfg_free(coll_cfg *c);

/*
 * Fill c from a create body (configuration, index) and, without configuration.hnsw/spann,
 * from the legacy hnsw:* keys of meta (may be NULL). 0, or -1 after replying.
 */
int cfg_parse_create(coll_cfg *c, json_t *body, json_t *meta, srv_resp *rs);

/* The configuration text to store (qv_collection_opts.config_json): extra as compact JSON,
 * "" when it is empty (store none). malloc'd; NULL on OOM. */
char *cfg_text(json_t *extra);

/* A stored configuration (qv_collection_info.config_json) as an object (new reference), or
 * NULL when there is none (or it is not an object). */
json_t *cfg_load(const char *config_json);

/*
 * The index parameters to create with, as JSON text (malloc'd; NULL on OOM): Chroma's HNSW
 * settings under the names the index kind uses, for each that the kind has (asked through
 * qv_index_params_describe, so nothing here lists a kind's parameters), then the native
 * `params` object over them.
 */
char *cfg_params_text(const coll_cfg *c);

/* ef_search stored by a modify, or 0 (fast path when the key is absent). */
uint32_t cfg_ef_search(const char *config_json);

#endif /* QV_COLL_CONFIG_H */
