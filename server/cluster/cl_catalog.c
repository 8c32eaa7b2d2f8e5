/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cl_catalog.c -- the Chroma catalog in cluster mode, and the cluster's route switch.
 *
 * Tenants, databases and collections live in the bucket (cl_core.c lists the keys), so every
 * node sees the same catalog. A collection is created by
 *   1. validating the request the single-node way: this node creates a scratch local
 *      collection with the body (name, metadata, configuration) through its own Chroma
 *      route, takes the Collection object it answers, and drops the scratch collection;
 *   2. creating one JetStream stream per shard (3 replicas, 1 when JetStream has one server);
 *   3. claiming the name (cname.<hex t>.<hex d>.<hex name>, create-only: two nodes creating
 *      the same name race on this key and one wins) and storing coll.<uuid>.
 * Replicas are made by every node's reconcile loop once the watcher sees coll.<uuid>.
 * The number of shards is fixed at creation: metadata "quiver:shards" (1..64) or the
 * server's --shards; replicas per shard: "quiver:replicas" (1..7) or --replicas.
 *
 * Routes answered here: tenants, databases, collections (create, list, count, get, get by
 * id, modify name and metadata, delete), the record routes (cl_write.c, cl_read.c), GET
 * /api/v2/cluster (status), /metrics (local + per shard). Everything else that touches data
 * (stats, compact, the native advanced reads, reset) answers 501 in cluster mode; heartbeat,
 * version, pre-flight, healthcheck and identity stay local.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_int.h"

static int eq(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* Key "<prefix>.<hex a>[.<hex b>[.<hex c>]]" (NULLs end the list), malloc'd. */
static char *key_of(const char *prefix, const char *a, const char *b, const char *c) {
  char *ha = a ? cl_hex(a) : NULL, *hb = b ? cl_hex(b) : NULL, *hc = c ? cl_hex(c) : NULL, *k = NULL;
  if ((!a || ha) && (!b || hb) && (!c || hc))
    if (asprintf(&k, "%s%s%s%s%s%s%s", prefix, a ? "." : "", a ? ha : "", b ? "." : "", b ? hb : "", c ? "." : "",
                 c ? hc : "") < 0)
      k = NULL;
  free(ha), free(hb), free(hc);
  return k;
}

/* The value of key as JSON (new reference) and its revision, or NULL. */
static json_t *kv_json(cluster *cl, const char *key, uint64_t *rev) {
  kvEntry *e = NULL;
  json_t *j = NULL;
  if (kvStore_Get(&e, cl->kv, key) == NATS_OK) {
    j = json_loadb(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), JSON_DECODE_ANY, NULL);
    if (rev) *rev = kvEntry_Revision(e);
  }
  kvEntry_Destroy(e);
  return j;
}

static int kv_create_json(cluster *cl, const char *key, json_t *v) {
  char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  natsStatus st = t ? kvStore_CreateString(NULL, cl->kv, key, t) : NATS_NO_MEMORY;
  free(t);
  return st == NATS_OK ? 0 : -1;
}

static void unavailable(srv_resp *rs) {
  srv_error(rs, 503, "the cluster catalog is not reachable: %s", nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "?");
}

/* ------------------------------------------------------------------ tenants, databases */

static int tenant_exists(cluster *cl, const char *t) {
  char *k = key_of("tenant", t, NULL, NULL);
  json_t *j = k ? kv_json(cl, k, NULL) : NULL;
  int ex = j != NULL;
  json_decref(j);
  free(k);
  return ex;
}

static json_t *db_get(cluster *cl, const char *t, const char *d) {
  char *k = key_of("db", t, d, NULL);
  json_t *j = k ? kv_json(cl, k, NULL) : NULL;
  free(k);
  return j;
}

static int ensure_defaults(cluster *cl) {
  if (__atomic_load_n(&cl->defaults_ok, __ATOMIC_ACQUIRE)) return 0; /* once per process */
  if (!tenant_exists(cl, SRV_DEFAULT_TENANT)) {
    char *k = key_of("tenant", SRV_DEFAULT_TENANT, NULL, NULL);
    json_t *v = json_pack("{s:s}", "name", SRV_DEFAULT_TENANT);
    kv_create_json(cl, k, v);
    json_decref(v);
    free(k);
  }
  json_t *d = db_get(cl, SRV_DEFAULT_TENANT, SRV_DEFAULT_DATABASE);
  if (!d) {
    char u[37], *k = key_of("db", SRV_DEFAULT_TENANT, SRV_DEFAULT_DATABASE, NULL);
    srv_uuid4(u);
    json_t *v = json_pack("{s:s, s:s, s:s}", "id", u, "name", SRV_DEFAULT_DATABASE, "tenant", SRV_DEFAULT_TENANT);
    kv_create_json(cl, k, v);
    json_decref(v);
    free(k);
  }
  json_decref(d);
  if (!tenant_exists(cl, SRV_DEFAULT_TENANT)) return -1;
  __atomic_store_n(&cl->defaults_ok, 1, __ATOMIC_RELEASE);
  return 0;
}

static const char *body_name(srv_req *rq, srv_resp *rs, json_t **j) {
  const char *name = NULL;
  int got;
  if (!(*j = srv_parse_body(rq, rs, 0))) return NULL;
  got = srv_field_str(*j, "name", &name, rs);
  if (got == 0) srv_error(rs, 422, "Failed to deserialize the JSON body: missing field `name`");
  return got == 1 ? name : NULL;
}

static void tenant_create(cluster *cl, srv_req *rq, srv_resp *rs) {
  json_t *j = NULL;
  const char *t = body_name(rq, rs, &j);
  if (t && !srv_valid_tenant(t)) {
    srv_error(rs, 400, "Invalid tenant name [%.256s]: 3 to 256 characters, no '/'", t);
  } else if (t) {
    char *k = key_of("tenant", t, NULL, NULL);
    json_t *v = json_pack("{s:s}", "name", t);
    if (k && kv_create_json(cl, k, v) == 0) srv_reply_text(rs, 200, "{}");
    else if (tenant_exists(cl, t)) srv_error(rs, 409, "Tenant [%.256s] already exists", t);
    else unavailable(rs);
    json_decref(v);
    free(k);
  }
  json_decref(j);
}

static int need_tenant(cluster *cl, srv_resp *rs, const char *t) {
  if (srv_valid_tenant(t) && tenant_exists(cl, t)) return 1;
  srv_error(rs, 404, "Tenant [%.256s] not found", t);
  return 0;
}

static void db_create(cluster *cl, srv_req *rq, srv_resp *rs, const char *t) {
  json_t *j = NULL;
  const char *d = body_name(rq, rs, &j);
  if (d && !srv_valid_name(d)) {
    srv_error(rs, 400, "Invalid database name [%.512s]: 3 to 512 characters of [a-zA-Z0-9._-], starting and ending "
                       "with a letter or digit", d);
  } else if (d && need_tenant(cl, rs, t)) {
    char u[37], *k = key_of("db", t, d, NULL);
    srv_uuid4(u);
    json_t *v = json_pack("{s:s, s:s, s:s}", "id", u, "name", d, "tenant", t), *old;
    if (k && kv_create_json(cl, k, v) == 0) srv_reply_text(rs, 200, "{}");
    else if ((old = db_get(cl, t, d))) srv_error(rs, 409, "Database [%.512s] already exists", d), json_decref(old);
    else unavailable(rs);
    json_decref(v);
    free(k);
  }
  json_decref(j);
}

/* Every key of the bucket starting with prefix (a NULL-terminated array of strings). */
static char **keys_with(cluster *cl, const char *prefix, size_t *n_out) {
  kvKeysList list;
  char **out = NULL;
  size_t n = 0, pl = strlen(prefix);
  memset(&list, 0, sizeof list);
  *n_out = 0;
  natsStatus st = kvStore_Keys(&list, cl->kv, NULL);
  if (st != NATS_OK && st != NATS_NOT_FOUND) return NULL;
  out = calloc((size_t)list.Count + 1, sizeof *out);
  for (int i = 0; out && i < list.Count; i++)
    if (!strncmp(list.Keys[i], prefix, pl)) out[n++] = strdup(list.Keys[i]);
  kvKeysList_Destroy(&list);
  *n_out = n;
  return out;
}

static void strs_free(char **v) {
  for (size_t i = 0; v && v[i]; i++) free(v[i]);
  free(v);
}

static int cmp_name(const void *a, const void *b) {
  const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
  const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));
  return strcmp(x ? x : "", y ? y : "");
}

/* Objects stored under every key "<prefix>.<hex t>[.<hex d>]." sorted by name. */
static json_t *list_objs(cluster *cl, const char *prefix_kind, const char *t, const char *d, int field_obj) {
  char *pre = key_of(prefix_kind, t, d, NULL), *p2 = NULL;
  size_t n = 0;
  json_t *arr = json_array();
  if (!pre || asprintf(&p2, "%s.", pre) < 0) p2 = NULL;
  char **keys = p2 ? keys_with(cl, p2, &n) : NULL;
  for (size_t i = 0; keys && i < n; i++) {
    json_t *v = kv_json(cl, keys[i], NULL);
    if (!v) continue;
    if (field_obj) {
      const char *u = json_string_value(v);
      json_t *cv = NULL;
      char key[64];
      if (!u && json_is_object(v)) u = json_string_value(json_object_get(v, "id"));
      if (u) snprintf(key, sizeof key, "coll.%s", u), cv = kv_json(cl, key, NULL);
      if (cv && json_is_object(json_object_get(cv, "obj"))) json_array_append(arr, json_object_get(cv, "obj"));
      json_decref(cv);
    } else {
      json_array_append(arr, v);
    }
    json_decref(v);
  }
  strs_free(keys);
  free(pre);
  free(p2);
  if (json_array_size(arr) > 1) {
    size_t m = json_array_size(arr);
    json_t **items = malloc(m * sizeof *items);
    for (size_t i = 0; items && i < m; i++) items[i] = json_incref(json_array_get(arr, i));
    if (items) {
      qsort(items, m, sizeof *items, cmp_name);
      json_array_clear(arr);
      for (size_t i = 0; i < m; i++) json_array_append_new(arr, items[i]);
      free(items);
    }
  }
  return arr;
}

static void reply_page(srv_req *rq, srv_resp *rs, json_t *all) {
  size_t limit = (size_t)-1, offset = 0;
  if (srv_arg_uint(rq, "limit", &limit, rs) < 0 || srv_arg_uint(rq, "offset", &offset, rs) < 0) {
    json_decref(all);
    return;
  }
  json_t *page = json_array();
  for (size_t i = offset; i < json_array_size(all) && i - offset < limit; i++)
    json_array_append(page, json_array_get(all, i));
  json_decref(all);
  srv_reply_json(rs, 200, page);
}

/* ------------------------------------------------------------------ collections */

int cl_add_streams(cluster *cl, const char *uuid, int shards, char *err, size_t errlen) {
  for (int k = 0; k < shards; k++) {
    char name[64], subj[96];
    const char *subjs[1] = {subj};
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st = NATS_ERR;
    cl_stream_name(uuid, k, name);
    cl_subject(uuid, k, subj);
    for (int replicas = cl->stream_replicas ? cl->stream_replicas : 3; replicas >= 1; replicas -= 2) {
      jsStreamConfig_Init(&sc);
      sc.Name = name;
      sc.Subjects = subjs;
      sc.SubjectsLen = 1;
      sc.Storage = js_FileStorage;
      sc.Replicas = replicas;
      sc.Duplicates = (int64_t)120 * 1000000000; /* 2 minutes of publish de-duplication */
      st = js_AddStream(&si, cl->js, &sc, NULL, &jerr);
      jsStreamInfo_Destroy(si);
      si = NULL;
      if (st == NATS_OK) {
        cl->stream_replicas = replicas;
        break;
      }
    }
    if (st != NATS_OK) {
      snprintf(err, errlen, "stream %s: %s (JetStream error %d)", name,
               nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(st), (int)jerr);
      return -1;
    }
  }
  return 0;
}

void cl_delete_streams(cluster *cl, const char *uuid, int shards) {
  for (int k = 0; k < shards; k++) {
    char name[64];
    cl_stream_name(uuid, k, name);
    js_DeleteStream(cl->js, name, NULL, NULL);
  }
  cl_snap_forget(cl, uuid, shards); /* and their snapshots (cl_snap.c) */
}

/* 1..max from metadata[key], the default when absent; -1 after replying. */
static int meta_int(json_t *meta, const char *key, int def, int max, srv_resp *rs) {
  json_t *v = json_object_get(meta, key);
  if (!v) return def;
  if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
    srv_error(rs, 400, "metadata.%s: an integer from 1 to %d", key, max);
    return -1;
  }
  return (int)json_integer_value(v);
}

/* The uuid the name points at, or "" (uuid[0] == 0). */
static void uuid_of_name(cluster *cl, const char *t, const char *d, const char *name, char uuid[37], uint64_t *rev) {
  char *k = key_of("cname", t, d, name);
  json_t *v = k ? kv_json(cl, k, rev) : NULL;
  const char *u = json_string_value(v);
  uuid[0] = 0;
  if (u && strlen(u) == 36) memcpy(uuid, u, 37);
  json_decref(v);
  free(k);
}

static void coll_create(cluster *cl, srv_req *rq, srv_resp *rs, const char *t, const char *d) {
  json_t *body = srv_parse_body(rq, rs, 0), *create = NULL, *obj = NULL, *dbo = NULL;
  const char *name = NULL;
  int got, goc = 0, shards, replicas;
  char uuid[37], existing[37], scratch[64], err[300];
  cl_coll c;
  memset(&c, 0, sizeof c);
  if (!body) return;
  if ((got = srv_field_str(body, "name", &name, rs)) <= 0) {
    if (got == 0) srv_error(rs, 422, "Failed to deserialize the JSON body: missing field `name`");
    goto out;
  }
  if (srv_field_bool(body, "get_or_create", &goc, rs) < 0) goto out;
  if (!srv_valid_name(name)) {
    srv_error(rs, 400, "Invalid collection name [%.512s]: 3 to 512 characters of [a-zA-Z0-9._-], starting and "
                       "ending with a letter or digit", name);
    goto out;
  }
  if (!need_tenant(cl, rs, t)) goto out;
  if (!(dbo = db_get(cl, t, d))) {
    srv_error(rs, 404, "Database [%.512s] not found. Are you sure it exists?", d);
    goto out;
  }
  uuid_of_name(cl, t, d, name, existing, NULL);
  cl_coll *ex = existing[0] ? cl_coll_get(cl, existing) : NULL;
  if (ex) {
    if (goc) srv_reply_json(rs, 200, json_incref(ex->obj));
    else srv_error(rs, 409, "Collection [%.512s] already exists", name);
    cl_coll_free(ex);
    goto out;
  }
  json_t *meta = json_object_get(body, "metadata");
  if ((shards = meta_int(meta, "quiver:shards", cl->o.shards, CL_MAX_SHARDS, rs)) < 0) goto out;
  if ((replicas = meta_int(meta, "quiver:replicas", cl->o.replicas, CL_MAX_REPLICAS, rs)) < 0) goto out;
  /* 1. the single-node validation, on a scratch local collection */
  srv_uuid4(uuid);
  snprintf(scratch, sizeof scratch, "%s-v", uuid);
  create = json_deep_copy(body);
  json_object_del(create, "get_or_create");
  json_object_del(create, "name");
  {
    json_t *sb = json_deep_copy(create);
    char *text;
    srv_resp lr;
    const char *seg[8] = {"api", "v2", "tenants", t, "databases", d, "collections", scratch};
    json_object_set_new(sb, "name", json_string(scratch));
    text = json_dumps(sb, JSON_COMPACT);
    json_decref(sb);
    memset(&lr, 0, sizeof lr);
    qv_status trc = srv_tenant_create(rq->s, t), drc = srv_database_create(rq->s, t, d);
    (void)trc, (void)drc; /* QV_EXISTS is the usual answer */
    cl_local(rq->s, M_POST, seg, 7, text, &lr);
    free(text);
    if (lr.status != 200) { /* the single node's own message, as is */
      rs->status = lr.status;
      rs->body = lr.body;
      rs->len = lr.len;
      goto out;
    }
    obj = json_loadb(lr.body, lr.len, 0, NULL);
    free(lr.body);
    memset(&lr, 0, sizeof lr);
    cl_local(rq->s, M_DELETE, seg, 8, NULL, &lr);
    free(lr.body);
    if (!json_is_object(obj)) {
      srv_error(rs, 500, "creating the collection failed");
      goto out;
    }
    json_object_set_new(obj, "id", json_string(uuid));
    json_object_set_new(obj, "name", json_string(name));
  }
  /* 2. streams */
  if (cl_add_streams(cl, uuid, shards, err, sizeof err)) {
    srv_error(rs, 503, "cannot create the collection's shard streams: %s", err);
    goto out;
  }
  /* 3. the name, then the collection */
  char *nk = key_of("cname", t, d, name);
  json_t *nv = json_string(uuid);
  int claimed = nk && kv_create_json(cl, nk, nv) == 0;
  if (!claimed && nk) { /* a name left by a create that died before step 3 completed? */
    uint64_t rev = 0;
    uuid_of_name(cl, t, d, name, existing, &rev);
    cl_coll *other = existing[0] ? cl_coll_get(cl, existing) : NULL;
    if (other) {
      if (goc) srv_reply_json(rs, 200, json_incref(other->obj));
      else srv_error(rs, 409, "Collection [%.512s] already exists", name);
      cl_coll_free(other);
      json_decref(nv);
      free(nk);
      cl_delete_streams(cl, uuid, shards);
      goto out;
    }
    char *text = json_dumps(nv, JSON_COMPACT | JSON_ENCODE_ANY);
    claimed = text && rev && kvStore_UpdateString(NULL, cl->kv, nk, text, rev) == NATS_OK;
    free(text);
  }
  json_decref(nv);
  free(nk);
  if (!claimed) {
    cl_delete_streams(cl, uuid, shards);
    unavailable(rs);
    goto out;
  }
  memcpy(c.uuid, uuid, 37);
  c.tenant = strdup(t);
  c.database = strdup(d);
  c.name = strdup(name);
  c.obj = obj;
  c.create = create;
  c.shards = shards;
  c.replicas = replicas;
  int put_failed = !c.tenant || !c.database || !c.name || cl_coll_put(cl, &c, 0, NULL);
  free(c.tenant), free(c.database), free(c.name);
  if (put_failed) {
    cl_delete_streams(cl, uuid, shards);
    unavailable(rs);
    goto out;
  }
  srv_reply_json(rs, 200, json_incref(obj));
out:
  json_decref(obj);
  json_decref(create);
  json_decref(dbo);
  json_decref(body);
}

static cl_coll *coll_by_name(cluster *cl, srv_resp *rs, const char *t, const char *d, const char *name) {
  char u[37];
  uuid_of_name(cl, t, d, name, u, NULL);
  cl_coll *c = u[0] ? cl_coll_get(cl, u) : NULL;
  if (c && (strcmp(c->tenant, t) || strcmp(c->database, d))) {
    cl_coll_free(c);
    c = NULL;
  }
  if (!c) srv_error(rs, 404, "Collection [%.512s] does not exist", name);
  return c;
}

static void coll_delete(cluster *cl, srv_resp *rs, const char *t, const char *d, const char *name) {
  cl_coll *c = coll_by_name(cl, rs, t, d, name);
  char key[64], *nk;
  if (!c) return;
  snprintf(key, sizeof key, "coll.%s", c->uuid);
  nk = key_of("cname", t, d, name);
  if (kvStore_Delete(cl->kv, key) != NATS_OK || !nk || kvStore_Delete(cl->kv, nk) != NATS_OK) {
    unavailable(rs);
  } else {
    cl_coll_forget(cl, c->uuid);
    cl_delete_streams(cl, c->uuid, c->shards);
    srv_reply_text(rs, 200, "{}");
  }
  free(nk);
  cl_coll_free(c);
}

static void coll_modify(cluster *cl, srv_req *rq, srv_resp *rs, const char *t, const char *d, const char *id) {
  json_t *body = srv_parse_body(rq, rs, 0), *nm = NULL;
  const char *new_name = NULL;
  cl_coll *c = NULL;
  if (!body) return;
  if (srv_field_str(body, "new_name", &new_name, rs) < 0 || srv_field_obj(body, "new_metadata", &nm, rs) < 0) goto out;
  if (json_object_get(body, "new_configuration") && !json_is_null(json_object_get(body, "new_configuration"))) {
    srv_error(rs, 501, "new_configuration: not supported in cluster mode");
    goto out;
  }
  if (new_name && !srv_valid_name(new_name)) {
    srv_error(rs, 400, "Invalid collection name [%.512s]", new_name);
    goto out;
  }
  if (!(c = cl_coll_get(cl, id)) || strcmp(c->tenant, t) || strcmp(c->database, d)) {
    srv_error(rs, 404, "Collection [%s] does not exist.", id);
    goto out;
  }
  if (new_name && strcmp(new_name, c->name)) {
    char *nk = key_of("cname", t, d, new_name), *ok = key_of("cname", t, d, c->name);
    json_t *nv = json_string(c->uuid);
    int claimed = nk && kv_create_json(cl, nk, nv) == 0;
    json_decref(nv);
    if (!claimed) {
      srv_error(rs, 409, "Collection [%.512s] already exists", new_name);
      free(nk), free(ok);
      goto out;
    }
    if (ok) kvStore_Delete(cl->kv, ok);
    free(nk), free(ok);
    free(c->name);
    c->name = strdup(new_name);
    json_object_set_new(c->obj, "name", json_string(new_name));
  }
  if (nm) json_object_set(c->obj, "metadata", nm);
  if (cl_coll_put(cl, c, c->rev, NULL)) unavailable(rs);
  else srv_reply_text(rs, 200, "{}");
out:
  cl_coll_free(c);
  json_decref(body);
}

static void coll_count(cluster *cl, srv_resp *rs, const char *t, const char *d) {
  json_t *all = list_objs(cl, "cname", t, d, 1);
  char buf[32];
  snprintf(buf, sizeof buf, "%zu", json_array_size(all));
  json_decref(all);
  srv_reply_text(rs, 200, buf);
}

/* ------------------------------------------------------------------ the switch */

static void not_here(srv_resp *rs, const char *what) {
  srv_error(rs, 501, "%s is not available in cluster mode", what);
}

static int record_route(cluster *cl, srv_req *rq, srv_resp *rs, const char *t, const char *d) {
  const char *id = rq->seg[7], *op = rq->seg[8];
  static const struct {
    const char *name;
    srv_route route;
    int method;
  } tab[] = {{"add", R_ADD, M_POST},       {"upsert", R_UPSERT, M_POST}, {"update", R_UPDATE, M_POST},
             {"delete", R_DELETE, M_POST}, {"get", R_GET, M_POST},       {"query", R_QUERY, M_POST},
             {"count", R_COUNT, M_GET}};
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
    if (!eq(op, tab[i].name)) continue;
    rs->route = tab[i].route;
    cl_coll *c = cl_coll_get(cl, id);
    int ours = c && !strcmp(c->tenant, t) && !strcmp(c->database, d);
    if (rq->method != tab[i].method) srv_error(rs, 405, "Method not allowed on this route");
    else if (!ours) srv_error(rs, srv_valid_uuid(id) ? 404 : 400, "Collection [%s] does not exist.", id);
    else if (tab[i].route == R_GET || tab[i].route == R_QUERY || tab[i].route == R_COUNT) cl_read(rq, rs, c, tab[i].route), c = NULL;
    else cl_write(rq, rs, c, tab[i].route), c = NULL;
    cl_coll_free(c);
    return 1;
  }
  rs->route = R_ADV;
  not_here(rs, op);
  return 1;
}

int cl_dispatch(srv_req *rq, srv_resp *rs) {
  cluster *cl = rq->s->cluster;
  char **seg = rq->seg;
  int n = rq->n_seg, m = rq->method;
  if (!cl || rq->internal) return 0;
  if (n == 1 && eq(seg[0], "metrics") && m == M_GET) {
    const char *s1[1] = {"metrics"};
    sbuf b = {0};
    rs->route = R_METRICS;
    cl_local(rq->s, M_GET, s1, 1, NULL, rs);
    if (rs->status != 200 || !rs->body) return 1;
    sbuf_put(&b, rs->body, rs->len);
    free(rs->body);
    rs->body = NULL;
    cl_metrics(rq->s, &b);
    sbuf_reply(&b, rs, 200);
    rs->content_type = "text/plain; version=0.0.4";
    return 1;
  }
  if (n < 3 || !eq(seg[0], "api") || !eq(seg[1], "v2")) return 0;
  if (n == 3 && eq(seg[2], "cluster")) {
    char err[300] = "";
    json_t *doc = m == M_GET ? cl_status_doc(cl->nc, cl->js, cl->kv, err, sizeof err) : NULL;
    rs->route = R_ADV;
    if (m != M_GET) srv_error(rs, 405, "Method not allowed on this route");
    else if (!doc) srv_error(rs, 503, "cluster status: %s", err);
    else {
      json_object_set_new(doc, "self", json_string(cl->node_id));
      srv_reply_json(rs, 200, doc);
    }
    return 1;
  }
  if (n == 3 && eq(seg[2], "reset")) {
    rs->route = R_RESET;
    not_here(rs, "reset");
    return 1;
  }
  if (!eq(seg[2], "tenants")) return 0;
  if (ensure_defaults(cl)) {
    unavailable(rs);
    return 1;
  }
  const char *t = n > 3 ? seg[3] : NULL, *d = n > 5 ? seg[5] : NULL;
  if (n == 3) {
    rs->route = R_TENANT_CREATE;
    if (m == M_POST) tenant_create(cl, rq, rs);
    else srv_error(rs, 405, "Method not allowed on this route");
  } else if (n == 4) {
    rs->route = R_TENANT_GET;
    if (m != M_GET) srv_error(rs, 405, "Method not allowed on this route");
    else if (need_tenant(cl, rs, t)) srv_reply_json(rs, 200, json_pack("{s:s,s:n}", "name", t, "resource_name"));
  } else if (!eq(seg[4], "databases")) {
    return 0;
  } else if (n == 5) {
    rs->route = m == M_POST ? R_DB_CREATE : R_DB_LIST;
    if (m == M_POST) db_create(cl, rq, rs, t);
    else if (m == M_GET && need_tenant(cl, rs, t)) reply_page(rq, rs, list_objs(cl, "db", t, NULL, 0));
    else if (m != M_GET) srv_error(rs, 405, "Method not allowed on this route");
  } else if (n == 6) {
    rs->route = m == M_DELETE ? R_DB_DELETE : R_DB_GET;
    json_t *dbo = db_get(cl, t, d);
    if (m == M_GET && dbo) srv_reply_json(rs, 200, json_incref(dbo));
    else if (m == M_GET) srv_error(rs, 404, "Database [%.512s] not found. Are you sure it exists?", d);
    else if (m == M_DELETE) {
      json_t *cs = list_objs(cl, "cname", t, d, 1);
      char *k = key_of("db", t, d, NULL);
      if (!dbo) srv_error(rs, 404, "Database [%.512s] not found", d);
      else if (json_array_size(cs)) srv_error(rs, 409, "Database [%.512s] still has collections; delete them first (cluster mode)", d);
      else if (!k || kvStore_Delete(cl->kv, k) != NATS_OK) unavailable(rs);
      else srv_reply_text(rs, 200, "{}");
      free(k);
      json_decref(cs);
    } else {
      srv_error(rs, 405, "Method not allowed on this route");
    }
    json_decref(dbo);
  } else if (n == 7 && eq(seg[6], "collections_count")) {
    rs->route = R_COLL_COUNT;
    if (m == M_GET) coll_count(cl, rs, t, d);
    else srv_error(rs, 405, "Method not allowed on this route");
  } else if (!eq(seg[6], "collections")) {
    return 0;
  } else if (n == 7) {
    rs->route = m == M_POST ? R_COLL_CREATE : R_COLL_LIST;
    if (m == M_POST) coll_create(cl, rq, rs, t, d);
    else if (m == M_GET) reply_page(rq, rs, list_objs(cl, "cname", t, d, 1));
    else srv_error(rs, 405, "Method not allowed on this route");
  } else if (n == 8) {
    rs->route = m == M_GET ? R_COLL_GET : m == M_PUT ? R_COLL_MODIFY : R_COLL_DELETE;
    if (m == M_GET) {
      cl_coll *c = coll_by_name(cl, rs, t, d, seg[7]);
      if (c) srv_reply_json(rs, 200, json_incref(c->obj));
      cl_coll_free(c);
    } else if (m == M_PUT) {
      coll_modify(cl, rq, rs, t, d, seg[7]);
    } else if (m == M_DELETE) {
      coll_delete(cl, rs, t, d, seg[7]);
    } else {
      srv_error(rs, 405, "Method not allowed on this route");
    }
  } else if (n == 9 && eq(seg[7], "by-id")) {
    rs->route = R_COLL_GET_ID;
    cl_coll *c = m == M_GET ? cl_coll_get(cl, seg[8]) : NULL;
    if (m != M_GET) srv_error(rs, 405, "Method not allowed on this route");
    else if (c && !strcmp(c->tenant, t) && !strcmp(c->database, d)) srv_reply_json(rs, 200, json_incref(c->obj));
    else srv_error(rs, 404, "Collection [%s] does not exist.", seg[8]);
    cl_coll_free(c);
  } else if (n == 9) {
    return record_route(cl, rq, rs, t, d);
  } else {
    return 0;
  }
  return 1;
}

/* ------------------------------------------------------------------ metrics */

void cl_metrics(qsrv *s, sbuf *b) {
  cluster *cl = s->cluster;
  if (!cl) return;
  sbuf_printf(b, "# HELP quiver_cluster_writes_total Write batches published by this node.\n"
                 "# TYPE quiver_cluster_writes_total counter\nquiver_cluster_writes_total %llu\n",
              (unsigned long long)__atomic_load_n(&cl->m_writes, __ATOMIC_RELAXED));
  sbuf_printf(b, "# TYPE quiver_cluster_write_records_total counter\nquiver_cluster_write_records_total %llu\n",
              (unsigned long long)__atomic_load_n(&cl->m_write_records, __ATOMIC_RELAXED));
  sbuf_printf(b, "# TYPE quiver_cluster_write_ack_timeouts_total counter\nquiver_cluster_write_ack_timeouts_total %llu\n",
              (unsigned long long)__atomic_load_n(&cl->m_write_timeouts, __ATOMIC_RELAXED));
  sbuf_printf(b, "# TYPE quiver_cluster_reads_total counter\nquiver_cluster_reads_total %llu\n",
              (unsigned long long)__atomic_load_n(&cl->m_reads, __ATOMIC_RELAXED));
  sbuf_printf(b, "# TYPE quiver_cluster_read_retries_total counter\nquiver_cluster_read_retries_total %llu\n",
              (unsigned long long)__atomic_load_n(&cl->m_read_retries, __ATOMIC_RELAXED));
  sbuf_printf(b, "# TYPE quiver_cluster_rpc_served_total counter\nquiver_cluster_rpc_served_total %llu\n",
              (unsigned long long)__atomic_load_n(&cl->m_rpc_served, __ATOMIC_RELAXED));
  sbuf_puts(b, "# HELP quiver_shard_applied_seq Stream sequence this node's replica applied.\n"
               "# TYPE quiver_shard_applied_seq gauge\n"
               "# TYPE quiver_shard_batches_applied_total counter\n"
               "# TYPE quiver_shard_batches_refused_total counter\n"
               "# TYPE quiver_shard_apply_seconds_total counter\n"
               "# TYPE quiver_shard_reads_total counter\n"
               "# HELP quiver_shard_rebuilds_total Times this replica found its history differs from the stream leader's and was rebuilt.\n"
               "# TYPE quiver_shard_rebuilds_total counter\n"
               "# HELP quiver_shard_holes_skipped_total Sequences the stream leader had no message for, skipped.\n"
               "# TYPE quiver_shard_holes_skipped_total counter\n"
               "# HELP quiver_shard_majority_seq Highest sequence a majority of the shard's replicas applied, as seen here.\n"
               "# TYPE quiver_shard_majority_seq gauge\n"
               "# HELP quiver_shard_snapshots_total Snapshots of this shard this node stored in the object store.\n"
               "# TYPE quiver_shard_snapshots_total counter\n"
               "# HELP quiver_shard_snapshot_restores_total Times this replica was restored from a snapshot.\n"
               "# TYPE quiver_shard_snapshot_restores_total counter\n"
               "# HELP quiver_shard_snapshot_refused_total Snapshots this replica refused (a check failed) or failed to restore.\n"
               "# TYPE quiver_shard_snapshot_refused_total counter\n"
               "# HELP quiver_shard_snapshot_seq Stream sequence of the shard's latest snapshot known here.\n"
               "# TYPE quiver_shard_snapshot_seq gauge\n"
               "# HELP quiver_shard_stream_first_seq The shard stream's first sequence as last seen here.\n"
               "# TYPE quiver_shard_stream_first_seq gauge\n");
  pthread_mutex_lock(&cl->mu);
  for (size_t i = 0; i < cl->n_reps; i++) {
    cl_replica *r = cl->reps[i];
    char lab[96];
    snprintf(lab, sizeof lab, "collection=\"%s\",shard=\"%d\"", r->uuid, r->shard);
    sbuf_printf(b, "quiver_shard_applied_seq{%s} %llu\n", lab, (unsigned long long)r->applied);
    sbuf_printf(b, "quiver_shard_batches_applied_total{%s} %llu\n", lab, (unsigned long long)r->n_batches);
    sbuf_printf(b, "quiver_shard_batches_refused_total{%s} %llu\n", lab, (unsigned long long)r->n_errors);
    sbuf_printf(b, "quiver_shard_apply_seconds_total{%s} %.6f\n", lab, (double)r->apply_us / 1e6);
    sbuf_printf(b, "quiver_shard_reads_total{%s} %llu\n", lab, (unsigned long long)r->n_reads);
    sbuf_printf(b, "quiver_shard_rebuilds_total{%s} %llu\n", lab, (unsigned long long)r->n_rebuilds);
    sbuf_printf(b, "quiver_shard_holes_skipped_total{%s} %llu\n", lab, (unsigned long long)r->n_holes);
    sbuf_printf(b, "quiver_shard_snapshots_total{%s} %llu\n", lab, (unsigned long long)r->n_snaps);
    sbuf_printf(b, "quiver_shard_snapshot_restores_total{%s} %llu\n", lab, (unsigned long long)r->n_restores);
    sbuf_printf(b, "quiver_shard_snapshot_refused_total{%s} %llu\n", lab, (unsigned long long)r->n_snap_refused);
    sbuf_printf(b, "quiver_shard_snapshot_seq{%s} %llu\n", lab, (unsigned long long)r->snap_seq);
    sbuf_printf(b, "quiver_shard_stream_first_seq{%s} %llu\n", lab, (unsigned long long)r->first_seq);
    uint64_t seqs[16];
    int m = 0;
    for (size_t a = 0; a < cl->n_applied && m < 16; a++)
      if (cl->applied[a]->shard == r->shard && !strcmp(cl->applied[a]->uuid, r->uuid)) seqs[m++] = cl->applied[a]->seq;
    for (int x = 1; x < m; x++) /* descending */
      for (int y = x; y > 0 && seqs[y] > seqs[y - 1]; y--) {
        uint64_t tmp = seqs[y];
        seqs[y] = seqs[y - 1];
        seqs[y - 1] = tmp;
      }
    sbuf_printf(b, "quiver_shard_majority_seq{%s} %llu\n", lab, (unsigned long long)(m ? seqs[m / 2] : 0));
  }
  pthread_mutex_unlock(&cl->mu);
}
