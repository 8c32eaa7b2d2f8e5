/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * routes_coll.c -- collections (chroma-v2.md §7): create / get-or-create, list, count, get by
 * name, get by id, modify, delete, and the native stats route.
 *
 * A Chroma collection {name} of tenant {t} and database {d} is the quiver collection
 * "{t}/{d}/{name}" (the library's qualified name; in the default database, plainly "{name}");
 * every part is validated before the name is built (tenant: no '/', the others: Chroma's name
 * rules), so a path can never reach another database's collection. GET/DELETE take the name,
 * PUT and record routes the UUID, which must then resolve to a collection of {t}/{d}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll_config.h"
#include "srv.h"

/* "{t}/{d}/{name}" (malloc'd), or NULL when a part is invalid or on OOM. */
static char *full_name(const char *t, const char *d, const char *name) {
  size_t n;
  char *out;
  if (!srv_valid_tenant(t) || !srv_valid_name(d) || (name && !srv_valid_name(name))) return NULL;
  n = strlen(t) + strlen(d) + (name ? strlen(name) : 0) + 3;
  out = malloc(n);
  if (out) snprintf(out, n, "%s/%s/%s", t, d, name ? name : "");
  return out;
}

/* ------------------------------------------------------------------ resolving */

static int coll_fill(srv_coll *sc) {
  sc->info.struct_size = sizeof sc->info;
  if (qv_collection_info_get(sc->c, &sc->info) != QV_OK) return -1;
  sc->short_name = sc->info.local_name;
  return 0;
}

int srv_coll_by_uuid(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id,
                     srv_coll *out) {
  qv_status rc;
  memset(out, 0, sizeof *out);
  if (!srv_valid_uuid(id)) {
    srv_error(rs, 400, "Collection ID is not a valid UUIDv4");
    return -1;
  }
  rc = srv_valid_tenant(t) && srv_valid_name(d) ? qv_collection_get_by_uuid(rq->s->db, id, &out->c) : QV_NOTFOUND;
  if (rc == QV_OK) rc = coll_fill(out) ? QV_ERROR : QV_OK;
  if (rc == QV_OK && (strcmp(out->info.tenant, t) != 0 || strcmp(out->info.database, d) != 0)) rc = QV_NOTFOUND;
  if (rc == QV_OK) return 0;
  srv_coll_done(out);
  if (rc == QV_NOTFOUND || rc == QV_MISUSE) srv_error(rs, 404, "Collection [%s] does not exist.", id);
  else srv_error_qv(rs, rq->s, rc);
  return -1;
}

void srv_coll_done(srv_coll *sc) {
  if (sc->c) qv_collection_info_free(&sc->info);
  qv_collection_release(sc->c);
  memset(sc, 0, sizeof *sc);
}

/* Open "{t}/{d}/{name}"; 0 ok, -1 after replying 404 (or the error). */
static int coll_by_name(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *name,
                        srv_coll *out) {
  char *full = full_name(t, d, name);
  qv_status rc = full ? qv_collection_get(rq->s->db, full, &out->c) : QV_NOTFOUND;
  memset(&out->info, 0, sizeof out->info);
  if (rc == QV_OK) rc = coll_fill(out) ? QV_ERROR : QV_OK;
  free(full);
  if (rc == QV_OK) return 0;
  srv_coll_done(out);
  if (rc == QV_NOTFOUND) srv_error(rs, 404, "Collection [%.512s] does not exist", name);
  else srv_error_qv(rs, rq->s, rc);
  return -1;
}

/* ------------------------------------------------------------------ the Collection object */

/* A parameter of the index kind, or Chroma's default when the kind has no such parameter. */
static unsigned param_or(json_t *params, const char *key, unsigned dflt) {
  json_t *v = json_object_get(params, key);
  return json_is_integer(v) ? (unsigned)json_integer_value(v) : dflt;
}

static void write_hnsw(sbuf *b, const qv_collection_info *in, json_t *extra) {
  json_t *rf = json_object_get(extra, "resize_factor"), *st = json_object_get(extra, "sync_threshold");
  json_int_t efs = json_integer_value(json_object_get(extra, "ef_search"));
  json_t *params = json_loads(in->params_json ? in->params_json : "{}", 0, NULL);
  sbuf_puts(b, "{\"space\":");
  sbuf_json_str(b, qv_metric_name(in->metric));
  sbuf_printf(b, ",\"ef_construction\":%u,\"ef_search\":%u,\"max_neighbors\":%u",
              param_or(params, "ef_construction", 100),
              efs > 0 ? (unsigned)efs : param_or(params, "ef_search", 100), param_or(params, "M", 16));
  json_decref(params);
  sbuf_puts(b, ",\"resize_factor\":");
  if (json_is_number(rf)) sbuf_json_float(b, json_number_value(rf));
  else sbuf_puts(b, "1.2");
  if (json_is_integer(st)) sbuf_printf(b, ",\"sync_threshold\":%lld", (long long)json_integer_value(st));
  else sbuf_puts(b, ",\"sync_threshold\":1000");
  sbuf_putc(b, '}');
}

static void write_json(sbuf *b, json_t *j) {
  char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  if (j && !text) b->oom = 1;
  sbuf_puts(b, text ? text : "null");
  free(text);
}

void srv_coll_write(sbuf *b, const srv_coll *sc, const char *t, const char *d) {
  const char *mt = sc->info.metadata_json;
  json_t *user = mt && *mt ? json_loads(mt, 0, NULL) : NULL, *extra = cfg_load(sc->info.config_json);
  if (user && !json_object_size(user)) { /* {} is shown as no metadata, as Chroma does */
    json_decref(user);
    user = NULL;
  }
  sbuf_puts(b, "{\"id\":");
  sbuf_json_str(b, sc->info.uuid);
  sbuf_puts(b, ",\"name\":");
  sbuf_json_str(b, sc->short_name);
  sbuf_puts(b, ",\"configuration_json\":{\"hnsw\":");
  write_hnsw(b, &sc->info, extra);
  sbuf_puts(b, ",\"spann\":null,\"embedding_function\":");
  write_json(b, json_object_get(extra, "embedding_function"));
  sbuf_puts(b, "},\"schema\":null,\"metadata\":");
  write_json(b, user);
  if (sc->info.dim) sbuf_printf(b, ",\"dimension\":%u", sc->info.dim);
  else sbuf_puts(b, ",\"dimension\":null");
  sbuf_puts(b, ",\"tenant\":");
  sbuf_json_str(b, t);
  sbuf_puts(b, ",\"database\":");
  sbuf_json_str(b, d);
  sbuf_puts(b, ",\"log_position\":0,\"version\":0}");
  json_decref(user);
  json_decref(extra);
}

static void reply_coll(srv_resp *rs, const srv_coll *sc, const char *t, const char *d) {
  sbuf b = {0};
  srv_coll_write(&b, sc, t, d);
  sbuf_reply(&b, rs, 200);
}

/* ------------------------------------------------------------------ create */

/* Collection metadata of a create/modify: object, non-empty. 0 absent, 1 ok, -1 replied. */
static int user_metadata(json_t *body, const char *key, json_t **out, srv_resp *rs) {
  int got = srv_field_obj(body, key, out, rs);
  if (got == 1 && json_object_size(*out) == 0) {
    srv_error(rs, 400, "Validation error: %s: Metadata cannot be empty", key);
    return -1;
  }
  return got;
}

/* 1 if database d of tenant t exists; else replies 400 as the reference does. */
static int need_database(srv_req *rq, srv_resp *rs, const char *t, const char *d) {
  qv_status err = QV_OK;
  int ex = srv_valid_tenant(t) && srv_valid_name(d) ? srv_database_exists(rq->s, t, d, NULL, &err) : 0;
  if (ex < 0) srv_error_qv(rs, rq->s, err);
  else if (!ex) srv_error(rs, 400, "Database [%.512s] does not exist", d);
  return ex == 1;
}

static qv_status create_it(srv_req *rq, const char *full, const coll_cfg *cfg, const char *meta,
                           const char *config, int get_or_create, qv_collection **out) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = 0;
  o.metric = cfg->metric;
  o.index = cfg->index;
  char *params = cfg_params_text(cfg);
  if (!params) return QV_NOMEM;
  o.params_json = params;
  o.metadata_json = meta;
  o.config_json = config && *config ? config : NULL;
  qv_status rc = get_or_create ? qv_collection_get_or_create(rq->s->db, full, &o, out, NULL)
                               : qv_collection_create(rq->s->db, full, &o, out);
  free(params);
  return rc;
}

void route_coll_create(srv_req *rq, srv_resp *rs, const char *t, const char *d) {
  json_t *body = NULL, *meta = NULL;
  const char *name = NULL;
  char *full = NULL, *meta_text = NULL, *cfg_json = NULL;
  int goc = 0;
  coll_cfg cfg;
  srv_coll sc;
  qv_status rc;
  cfg_init(&cfg);
  memset(&sc, 0, sizeof sc);
  if (!(body = srv_parse_body(rq, rs, 0))) goto cleanup;
  if (srv_field_str(body, "name", &name, rs) < 0 || srv_field_bool(body, "get_or_create", &goc, rs) < 0 ||
      user_metadata(body, "metadata", &meta, rs) < 0)
    goto cleanup;
  if (!name) {
    srv_error(rs, 422, "Failed to deserialize the JSON body: missing field `name`");
    goto cleanup;
  }
  if (!srv_valid_name(name)) {
    srv_error(rs, 400, "Validation error: name: Expected a name containing 3-512 characters from "
                       "[a-zA-Z0-9._-], starting and ending with a character in [a-zA-Z0-9]. "
                       "Got: %.512s", name);
    goto cleanup;
  }
  if (cfg_parse_create(&cfg, body, meta, rs) < 0 || !need_database(rq, rs, t, d)) goto cleanup;
  full = full_name(t, d, name);
  meta_text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
  cfg_json = cfg_text(cfg.extra);
  if (!full || (meta && !meta_text) || !cfg_json) {
    srv_error(rs, 500, "out of memory");
    goto cleanup;
  }
  rc = create_it(rq, full, &cfg, meta_text, cfg_json, goc, &sc.c);
  if (rc == QV_EXISTS) srv_error(rs, 409, "Collection [%.512s] already exists", name);
  else if (rc != QV_OK) srv_error_qv(rs, rq->s, rc);
  else if (coll_fill(&sc)) srv_error_qv(rs, rq->s, QV_ERROR);
  else reply_coll(rs, &sc, t, d);
cleanup:
  srv_coll_done(&sc);
  cfg_free(&cfg);
  free(full);
  free(meta_text);
  free(cfg_json);
  json_decref(body);
}

/* ------------------------------------------------------------------ list, count, get */

/* Local names of the collections of t/d, sorted (qv_strings_free; an unknown or invalid
 * database has none); *n their number. NULL after replying. */
static char **names_in(srv_req *rq, srv_resp *rs, const char *t, const char *d, size_t *n) {
  char **names = NULL;
  qv_status rc = QV_NOTFOUND;
  *n = 0;
  if (srv_valid_tenant(t) && srv_valid_name(d)) rc = qv_collection_list_in(rq->s->db, t, d, &names, n);
  if (rc == QV_NOTFOUND || rc == QV_INVALID) {
    *n = 0;
    names = calloc(1, sizeof *names);
    rc = names ? QV_OK : QV_NOMEM;
  }
  if (rc != QV_OK) {
    srv_error_qv(rs, rq->s, rc);
    return NULL;
  }
  return names;
}

void route_coll_list(srv_req *rq, srv_resp *rs, const char *t, const char *d) {
  size_t limit = (size_t)-1, offset = 0, n = 0, written = 0;
  char **names;
  sbuf b = {0};
  if (srv_arg_uint(rq, "limit", &limit, rs) < 0 || srv_arg_uint(rq, "offset", &offset, rs) < 0)
    return;
  if (!(names = names_in(rq, rs, t, d, &n))) return;
  sbuf_putc(&b, '[');
  for (size_t i = offset; i < n && written < limit; i++) {
    srv_coll sc;
    int dflt = !strcmp(t, SRV_DEFAULT_TENANT) && !strcmp(d, SRV_DEFAULT_DATABASE);
    char *full = dflt ? NULL : full_name(t, d, NULL); /* a default local name is the name itself */
    size_t len = strlen(full ? full : "") + strlen(names[i]) + 1;
    char *qual = dflt || full ? malloc(len) : NULL;
    memset(&sc, 0, sizeof sc);
    if (qual) snprintf(qual, len, "%s%s", full ? full : "", names[i]);
    free(full);
    if (!qual) {
      b.oom = 1;
      break;
    }
    if (qv_collection_get(rq->s->db, qual, &sc.c) == QV_OK && coll_fill(&sc) == 0) { /* else dropped meanwhile */
      if (written++) sbuf_putc(&b, ',');
      srv_coll_write(&b, &sc, t, d);
    }
    free(qual);
    srv_coll_done(&sc);
  }
  sbuf_putc(&b, ']');
  sbuf_reply(&b, rs, 200);
  qv_strings_free(names);
}

void route_coll_count(srv_req *rq, srv_resp *rs, const char *t, const char *d) {
  char buf[32];
  size_t n = 0;
  char **names = names_in(rq, rs, t, d, &n);
  if (!names) return;
  snprintf(buf, sizeof buf, "%zu", n);
  srv_reply_text(rs, 200, buf);
  qv_strings_free(names);
}

void route_coll_get(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *name) {
  srv_coll sc;
  memset(&sc, 0, sizeof sc);
  if (coll_by_name(rq, rs, t, d, name, &sc) == 0) reply_coll(rs, &sc, t, d);
  srv_coll_done(&sc);
}

void route_coll_get_id(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id) {
  srv_coll sc;
  if (srv_coll_by_uuid(rq, rs, t, d, id, &sc) == 0) reply_coll(rs, &sc, t, d);
  srv_coll_done(&sc);
}

void route_coll_delete(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *name) {
  char *full = full_name(t, d, name);
  qv_status rc = full ? qv_collection_delete(rq->s->db, full) : QV_NOTFOUND;
  free(full);
  if (rc == QV_NOTFOUND) srv_error(rs, 404, "Collection [%.512s] does not exist", name);
  else if (rc != QV_OK) srv_error_qv(rs, rq->s, rc);
  else srv_reply_text(rs, 200, "{}");
}

/* ------------------------------------------------------------------ stats (native) */

/* The stats body of an open collection (compact: after rebuilding its graph). */
static void coll_stats(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id, int compact) {
  srv_coll sc;
  qv_index_stats st = {.struct_size = sizeof st};
  sbuf b = {0};
  qv_status rc;
  if (srv_coll_by_uuid(rq, rs, t, d, id, &sc) != 0) return;
  rc = compact ? qv_collection_compact(sc.c) : QV_OK;
  if (rc == QV_OK) rc = qv_collection_stats_get(sc.c, &st);
  if (rc != QV_OK) {
    srv_error_qv(rs, rq->s, rc);
    srv_coll_done(&sc);
    return;
  }
  sbuf_puts(&b, "{\"id\":");
  sbuf_json_str(&b, sc.info.uuid);
  sbuf_puts(&b, ",\"name\":");
  sbuf_json_str(&b, sc.short_name);
  sbuf_puts(&b, ",\"index\":");
  sbuf_json_str(&b, sc.info.index);
  sbuf_printf(&b, ",\"metric\":\"%s\",\"dimension\":%u,\"params\":%s,", qv_metric_name(sc.info.metric),
              sc.info.dim, sc.info.params_json);
  sbuf_printf(&b, "\"count\":%llu,\"n_slots\":%llu,\"n_tombstones\":%llu,\"mem_vectors\":%llu,"
                  "\"mem_graph\":%llu,\"max_level\":%u,\"last_seq\":%llu,\"checkpoint_seq\":%llu,"
                  "\"mem_codes\":%llu,\"mem_ids\":%llu,\"mem_metadata\":%llu,\"mem_documents\":%llu,"
                  "\"bytes_per_record\":%llu}",
              (unsigned long long)st.count, (unsigned long long)st.n_slots,
              (unsigned long long)st.n_tombstones, (unsigned long long)st.mem_vectors,
              (unsigned long long)st.mem_graph, st.max_level, (unsigned long long)st.last_seq,
              (unsigned long long)st.checkpoint_seq, (unsigned long long)st.mem_codes,
              (unsigned long long)st.mem_ids, (unsigned long long)st.mem_metadata,
              (unsigned long long)st.mem_documents, (unsigned long long)st.bytes_per_record);
  sbuf_reply(&b, rs, 200);
  srv_coll_done(&sc);
}

void route_coll_stats(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id) {
  coll_stats(rq, rs, t, d, id, 0);
}

void route_coll_compact(srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id) {
  coll_stats(rq, rs, t, d, id, 1);
}
