/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * pc_cluster.c -- the Pinecone face in cluster mode (`quiver serve --cluster ... --pinecone-port
 * P`, docs/CLUSTER.md "Pinecone face").
 *
 * Requests are parsed and validated by the single-node code (pc_write.c, pc_read.c: the same
 * messages, naming field and position); where the single node would touch its own collection
 * it hands over to this file, which works on the cluster instead:
 *
 *   - An index is the database {name} of tenant "pinecone" in the cluster catalog (the
 *     bucket key db.<hex "pinecone">.<hex name>, created with create-only semantics so two
 *     racing creates give one 201 and one 409); its settings are kept in that value under
 *     "pinecone" ({"kind","name","dimension","metric","protect","created"}, as the single node
 *     keeps them in the database's metadata).
 *   - A namespace is a cluster collection of that database whose name is the namespace
 *     ("__default__" for the default one): shards, streams, replicas as for a Chroma
 *     collection (cname./coll. keys, cl_add_streams), made on the first upsert with the
 *     index's dimension and metric. Each replica is the local quiver collection
 *     "pinecone/{index}/{uuid}-s{k}" created like the single node creates a namespace
 *     (cl_pc_make_local: HNSW, cosine / l2 / ip), so record metadata carries the same reserved
 *     keys (pc.h).
 *   - Writes go through the cluster's write path (cl_publish: routed by cl_shard_of(id), one
 *     stream message per shard, the same acknowledgement modes and X-Quiver-Token). Pinecone's
 *     upsert replaces a record whole and update merges metadata while keeping the list of
 *     keys in step: both need the stored record, so they travel as "pc_upsert" / "pc_update"
 *     batches that each replica applies in stream order against its own copy
 *     (cl_pc_apply -> pc_upsert_records / pc_update_records, with the stream position in
 *     the same transaction): no read-then-write race between coordinators. Deletes by ids or
 *     filter are the cluster's ordinary "delete" batches; deleteAll drops the namespace.
 *   - Reads are scattered to one replica per shard (cl_scatter: read-your-writes with the
 *     token, X-Quiver-Consistency) as "pc_*" reads that each replica answers with the single
 *     node's own printing (pc_put_record), merged here: query keeps the topK best across
 *     shards, fetch keeps the order of the ids asked, list sorts and pages the ids of every
 *     shard, describe_index_stats adds up per namespace.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_int.h"
#include "pc.h"

/* ------------------------------------------------------------------ helpers */

static char *key_of(const char *prefix, const char *a, const char *b) {
  char *ha = a ? cl_hex(a) : NULL, *hb = b ? cl_hex(b) : NULL, *k = NULL;
  if ((!a || ha) && (!b || hb) &&
      asprintf(&k, "%s%s%s%s%s", prefix, a ? "." : "", a ? ha : "", b ? "." : "", b ? hb : "") < 0)
    k = NULL;
  free(ha);
  free(hb);
  return k;
}

/* The value of key as JSON (new reference), NULL when absent; *st the NATS status. Read from
 * the bucket stream's leader (a JetStream message get), not with kvStore_Get, which may be
 * answered by a follower that has not stored a key made a moment ago on another node: an
 * index or namespace made through one node is seen at once through the others. */
static json_t *kv_json(cluster *cl, const char *key, natsStatus *st) {
  natsMsg *m = NULL;
  jsErrCode jerr = 0;
  json_t *j = NULL;
  char *subj = NULL;
  natsStatus s = NATS_NO_MEMORY;
  if (asprintf(&subj, "$KV.%s.%s", CL_BUCKET, key) >= 0) {
    s = js_GetLastMsg(&m, cl->js, "KV_" CL_BUCKET, subj, NULL, &jerr);
    free(subj);
  }
  if (s == NATS_OK) {
    const char *op = NULL;
    if (natsMsgHeader_Get(m, "KV-Operation", &op) == NATS_OK && op) s = NATS_NOT_FOUND; /* deleted or purged */
    else j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), JSON_DECODE_ANY, NULL);
  } else if (jerr == JSNoMessageFoundErr) {
    s = NATS_NOT_FOUND;
  }
  natsMsg_Destroy(m);
  if (st) *st = s;
  return j;
}

/* Every key starting with prefix (NULL-terminated, malloc'd strings), NULL on error. */
static char **keys_with(cluster *cl, const char *prefix, size_t *n_out) {
  kvKeysList list;
  char **out;
  size_t n = 0, pl = strlen(prefix);
  memset(&list, 0, sizeof list);
  *n_out = 0;
  natsStatus st = kvStore_Keys(&list, cl->kv, NULL);
  if (st != NATS_OK && st != NATS_NOT_FOUND) return NULL;
  out = calloc((size_t)list.Count + 1, sizeof *out);
  for (int i = 0; out && i < list.Count; i++)
    if (!strncmp(list.Keys[i], prefix, pl) && (out[n] = strdup(list.Keys[i]))) n++;
  kvKeysList_Destroy(&list);
  *n_out = n;
  return out;
}

static void strs_free(char **v) {
  for (size_t i = 0; v && v[i]; i++) free(v[i]);
  free(v);
}

static const char b64c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of n little-endian float32 (exact, and 4x shorter than JSON numbers). */
static char *floats_b64(const float *v, size_t n) {
  size_t nb = n * 4, o = 0;
  unsigned char *raw = malloc(nb ? nb : 1);
  char *out = malloc((nb + 2) / 3 * 4 + 1);
  if (!raw || !out) {
    free(raw);
    free(out);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    for (int k = 0; k < 4; k++) raw[4 * i + (size_t)k] = (unsigned char)(u >> (8 * k));
  }
  for (size_t i = 0; i < nb; i += 3) {
    uint32_t w = (uint32_t)raw[i] << 16 | (i + 1 < nb ? (uint32_t)raw[i + 1] << 8 : 0) | (i + 2 < nb ? raw[i + 2] : 0);
    out[o++] = b64c[w >> 18 & 63];
    out[o++] = b64c[w >> 12 & 63];
    out[o++] = i + 1 < nb ? b64c[w >> 6 & 63] : '=';
    out[o++] = i + 2 < nb ? b64c[w & 63] : '=';
  }
  out[o] = '\0';
  free(raw);
  return out;
}

static int b64v(char c) {
  const char *p = c ? strchr(b64c, c) : NULL;
  return p ? (int)(p - b64c) : -1;
}

/* Decode floats_b64 text: a malloc'd array of *n floats, NULL when malformed. */
static float *b64_floats(const char *s, size_t *n) {
  size_t len = s ? strlen(s) : 0, nb, o = 0;
  unsigned char *raw;
  float *out;
  if (!len || len % 4) return NULL;
  nb = len / 4 * 3 - (s[len - 1] == '=') - (s[len - 2] == '=');
  if (nb % 4 || !(raw = malloc(nb + 3))) return NULL;
  for (size_t i = 0; i < len; i += 4) {
    int a = b64v(s[i]), b = b64v(s[i + 1]);
    int c = s[i + 2] == '=' ? 0 : b64v(s[i + 2]), d = s[i + 3] == '=' ? 0 : b64v(s[i + 3]);
    if (a < 0 || b < 0 || c < 0 || d < 0) {
      free(raw);
      return NULL;
    }
    raw[o++] = (unsigned char)(a << 2 | b >> 4);
    raw[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
    raw[o++] = (unsigned char)((c & 3) << 6 | d);
  }
  *n = nb / 4;
  out = malloc((*n ? *n : 1) * sizeof *out);
  for (size_t i = 0; out && i < *n; i++) {
    const unsigned char *p = raw + 4 * i;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    memcpy(&out[i], &u, 4);
  }
  free(raw);
  return out;
}

static json_t *sparse_json(const pc_sparse *sp) {
  json_t *ix = json_array(), *vals = json_array();
  for (size_t i = 0; i < sp->n; i++) {
    json_array_append_new(ix, json_integer((json_int_t)sp->idx[i]));
    json_array_append_new(vals, json_real((double)sp->val[i]));
  }
  return json_pack("{s:o, s:o}", "indices", ix, "values", vals);
}

/* The sparse vector of a message (null / absent: n == 0). -1 malformed or OOM. */
static int sparse_of(json_t *j, pc_sparse *out) {
  json_t *ix = json_object_get(j, "indices"), *vals = json_object_get(j, "values");
  size_t n = json_array_size(ix);
  memset(out, 0, sizeof *out);
  if (!j || json_is_null(j)) return 0;
  if (!json_is_array(ix) || json_array_size(vals) != n) return -1;
  if (!n) return 0;
  out->idx = malloc(n * sizeof *out->idx);
  out->val = malloc(n * sizeof *out->val);
  if (!out->idx || !out->val) {
    pc_sparse_free(out);
    return -1;
  }
  out->n = n;
  for (size_t i = 0; i < n; i++) {
    out->idx[i] = (uint32_t)json_integer_value(json_array_get(ix, i));
    out->val[i] = (float)json_number_value(json_array_get(vals, i));
  }
  return 0;
}

/* A reply with the request's scatter/publish failure in Pinecone's data-plane shape. */
static void err_from(srv_resp *rs) {
  json_t *j = rs->body ? json_loadb(rs->body, rs->len, 0, NULL) : NULL;
  int status = rs->status ? rs->status : 503;
  if (!json_object_get(j, "code") || !json_object_get(j, "details")) {
    const char *m = json_string_value(json_object_get(j, "message"));
    char *copy = strdup(m ? m : "the cluster could not answer");
    pc_err(rs, status == 422 ? 400 : status, "%s", copy ? copy : "out of memory");
    free(copy);
  }
  json_decref(j);
}

static void reply_empty(srv_resp *rs, const char *head, const char *ns) {
  sbuf b = {0};
  sbuf_puts(&b, head);
  pc_put_tail(&b, ns);
  sbuf_reply(&b, rs, 200);
}

/* A quiver filter that the replicas would refuse is refused here, with their message. */
static int check_where(cluster *cl, const char *where, srv_resp *rs) {
  qv_get_opts g;
  qv_results *r = NULL;
  qv_status rc;
  if (!where) return 0;
  qv_get_opts_init(&g);
  g.where_json = where;
  g.limit = 1;
  pthread_mutex_lock(&cl->mu); /* the validation collection is shared (cl_write.c) */
  rc = qv_collection_get_records(cl->vcol, &g, &r);
  if (rc != QV_OK) {
    int st = qv_status_http(rc);
    pc_err(rs, st == 422 ? 400 : st, "%s", qv_db_errmsg(cl->vdb));
  }
  pthread_mutex_unlock(&cl->mu);
  qv_results_free(r);
  return rc == QV_OK ? 0 : -1;
}

/* ------------------------------------------------------------------ indexes */

static int index_of_json(json_t *v, const char *name, pc_index *ix) {
  json_t *m = json_object_get(v, "pinecone");
  const char *nm = json_string_value(json_object_get(m, "name"));
  const char *metric = json_string_value(json_object_get(m, "metric"));
  const char *created = json_string_value(json_object_get(m, "created"));
  json_int_t dim = json_integer_value(json_object_get(m, "dimension"));
  memset(ix, 0, sizeof *ix);
  if (!nm || (name && strcmp(nm, name)) || strlen(nm) >= sizeof ix->name || dim < 1 || dim > PC_MAX_DIM || !metric)
    return -1;
  if (!strcmp(metric, "cosine")) ix->metric = PC_COSINE;
  else if (!strcmp(metric, "euclidean")) ix->metric = PC_EUCLIDEAN;
  else if (!strcmp(metric, "dotproduct")) ix->metric = PC_DOTPRODUCT;
  else return -1;
  snprintf(ix->name, sizeof ix->name, "%s", nm);
  snprintf(ix->created, sizeof ix->created, "%s", created ? created : "");
  ix->dim = (uint32_t)dim;
  ix->protect = json_is_true(json_object_get(m, "protect"));
  return 0;
}

int pc_cl_index_get(qsrv *s, const char *name, pc_index *out, qv_status *err) {
  cluster *cl = s->cluster;
  natsStatus st;
  char *k;
  json_t *v;
  int found;
  if (!pc_valid_index_name(name)) return 0;
  if (!(k = key_of("db", PC_TENANT, name))) {
    *err = QV_NOMEM;
    return -1;
  }
  v = kv_json(cl, k, &st);
  free(k);
  if (!v && st != NATS_NOT_FOUND) {
    *err = QV_IO;
    return -1;
  }
  found = v && index_of_json(v, name, out) == 0;
  json_decref(v);
  return found;
}

qv_status pc_cl_index_put(qsrv *s, const pc_index *ix) {
  cluster *cl = s->cluster;
  char u[37], *tk = key_of("tenant", PC_TENANT, NULL), *dk = key_of("db", PC_TENANT, ix->name), *text = NULL;
  qv_status rc = QV_NOMEM;
  srv_uuid4(u);
  json_t *t = json_pack("{s:s}", "name", PC_TENANT);
  json_t *v = json_pack("{s:s, s:s, s:s, s:{s:s,s:s,s:I,s:s,s:b,s:s}}", "id", u, "name", ix->name, "tenant", PC_TENANT,
                        "pinecone", "kind", "pinecone_index", "name", ix->name, "dimension", (json_int_t)ix->dim,
                        "metric", pc_metric_name(ix->metric), "protect", ix->protect, "created", ix->created);
  char *tt = t ? json_dumps(t, JSON_COMPACT) : NULL;
  if (tk && dk && tt && v && (text = json_dumps(v, JSON_COMPACT))) {
    natsStatus st = kvStore_CreateString(NULL, cl->kv, tk, tt); /* the tenant, once */
    (void)st;
    st = kvStore_CreateString(NULL, cl->kv, dk, text);
    if (st == NATS_OK) {
      rc = QV_OK;
    } else {
      natsStatus st2;
      json_t *old = kv_json(cl, dk, &st2);
      rc = old ? QV_EXISTS : QV_IO;
      json_decref(old);
    }
  }
  free(tk), free(dk), free(tt), free(text);
  json_decref(t);
  json_decref(v);
  return rc;
}

/* Drop namespace collection c from the catalog (its replicas go with the reconcile loops). */
static int ns_drop(cluster *cl, const cl_coll *c) {
  char key[64], *nk = key_of("cname", c->tenant, c->database);
  char *hn = cl_hex(c->name), *full = NULL;
  int rc = -1;
  if (nk && hn && asprintf(&full, "%s.%s", nk, hn) >= 0) {
    snprintf(key, sizeof key, "coll.%s", c->uuid);
    if (kvStore_Delete(cl->kv, key) == NATS_OK && kvStore_Delete(cl->kv, full) == NATS_OK) {
      cl_coll_forget(cl, c->uuid);
      cl_delete_streams(cl, c->uuid, c->shards);
      rc = 0;
    }
  }
  free(nk), free(hn), free(full);
  return rc;
}

/* Collection uuid from the cache, else from the bucket stream's leader (made a moment ago on
 * another node: this node's view of the bucket may lag, the leader's copy does not). */
static cl_coll *coll_of(cluster *cl, const char *uuid) {
  cl_coll *c = cl_coll_get(cl, uuid);
  char key[64], *text;
  if (c) return c;
  snprintf(key, sizeof key, "coll.%s", uuid);
  json_t *cv = kv_json(cl, key, NULL);
  if (cv && (text = json_dumps(cv, JSON_COMPACT))) {
    c = cl_coll_parse(text, strlen(text), 0);
    free(text);
  }
  json_decref(cv);
  return c;
}

/* The namespaces of index name: their collections (malloc'd array of *n), sorted by name. */
static int cmp_coll(const void *a, const void *b) {
  return strcmp((*(cl_coll *const *)a)->name, (*(cl_coll *const *)b)->name);
}

static cl_coll **ns_all(cluster *cl, const char *index, size_t *n_out, int *err) {
  char *pre = key_of("cname", PC_TENANT, index), *p2 = NULL;
  size_t n = 0, m = 0;
  char **keys = NULL;
  cl_coll **out = NULL;
  *n_out = 0;
  *err = 0;
  if (pre && asprintf(&p2, "%s.", pre) >= 0) keys = keys_with(cl, p2, &n);
  free(pre);
  free(p2);
  if (!keys) {
    *err = 1;
    return NULL;
  }
  out = calloc(n ? n : 1, sizeof *out);
  for (size_t i = 0; out && i < n; i++) {
    json_t *v = kv_json(cl, keys[i], NULL);
    const char *u = json_string_value(v);
    cl_coll *c = u && strlen(u) == 36 ? coll_of(cl, u) : NULL;
    if (c && !strcmp(c->tenant, PC_TENANT) && !strcmp(c->database, index)) out[m++] = c;
    else cl_coll_free(c);
    json_decref(v);
  }
  strs_free(keys);
  if (!out) {
    *err = 1;
    return NULL;
  }
  qsort(out, m, sizeof *out, cmp_coll);
  *n_out = m;
  return out;
}

static void colls_free(cl_coll **v, size_t n) {
  for (size_t i = 0; v && i < n; i++) cl_coll_free(v[i]);
  free(v);
}

qv_status pc_cl_index_drop(qsrv *s, const char *name) {
  cluster *cl = s->cluster;
  char *dk = key_of("db", PC_TENANT, name);
  natsStatus st;
  json_t *v = dk ? kv_json(cl, dk, &st) : NULL;
  qv_status rc = QV_OK;
  size_t n = 0;
  int err = 0;
  if (!dk) return QV_NOMEM;
  if (!v) {
    free(dk);
    return st == NATS_NOT_FOUND ? QV_NOTFOUND : QV_IO;
  }
  json_decref(v);
  /* the index first (no new namespace can be made for it), then its namespaces */
  if (kvStore_Delete(cl->kv, dk) != NATS_OK) rc = QV_IO;
  free(dk);
  cl_coll **cs = rc == QV_OK ? ns_all(cl, name, &n, &err) : NULL;
  for (size_t i = 0; i < n; i++)
    if (ns_drop(cl, cs[i])) rc = QV_IO;
  colls_free(cs, n);
  return err ? QV_IO : rc;
}

static int cmp_index(const void *a, const void *b) {
  return strcmp(((const pc_index *)a)->name, ((const pc_index *)b)->name);
}

qv_status pc_cl_index_list(qsrv *s, pc_index **out, size_t *n_out) {
  cluster *cl = s->cluster;
  char *pre = key_of("db", PC_TENANT, NULL), *p2 = NULL;
  char **keys = NULL;
  size_t n = 0, m = 0;
  *out = NULL;
  *n_out = 0;
  if (pre && asprintf(&p2, "%s.", pre) >= 0) keys = keys_with(cl, p2, &n);
  free(pre);
  free(p2);
  if (!keys) return QV_IO;
  if (n && !(*out = calloc(n, sizeof **out))) {
    strs_free(keys);
    return QV_NOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *v = kv_json(cl, keys[i], NULL);
    if (v && index_of_json(v, NULL, &(*out)[m]) == 0) m++;
    json_decref(v);
  }
  strs_free(keys);
  qsort(*out, m, sizeof **out, cmp_index);
  *n_out = m;
  return QV_OK;
}

/* ------------------------------------------------------------------ namespaces */

/* The collection of namespace ns (normalised) of ix, NULL when it has none. */
static cl_coll *ns_get(cluster *cl, const pc_index *ix, const char *ns) {
  char *pre = key_of("cname", PC_TENANT, ix->name), *hn = cl_hex(ns), *k = NULL;
  json_t *v = NULL;
  cl_coll *c = NULL;
  if (pre && hn && asprintf(&k, "%s.%s", pre, hn) >= 0) v = kv_json(cl, k, NULL);
  const char *u = json_string_value(v);
  if (u && strlen(u) == 36) c = coll_of(cl, u);
  if (c && (strcmp(c->tenant, PC_TENANT) || strcmp(c->database, ix->name) || strcmp(c->name, ns) || c->dim != ix->dim)) {
    cl_coll_free(c);
    c = NULL;
  }
  json_decref(v);
  free(pre), free(hn), free(k);
  return c;
}

/* The namespace's collection, made when absent (the first write): NULL after replying. */
static cl_coll *ns_make(cluster *cl, const pc_index *ix, const char *ns, srv_resp *rs) {
  for (int attempt = 0; attempt < 40; attempt++) {
    cl_coll *c = ns_get(cl, ix, ns), nc;
    if (!c && attempt) { /* another node claimed the name: its value may not have reached this
                            node's view of the bucket yet */
      struct timespec t = {0, 50 * 1000000L};
      nanosleep(&t, NULL);
      if ((c = ns_get(cl, ix, ns))) return c;
      continue;
    }
    char uuid[37], err[300], *pre, *hn, *nk = NULL;
    const char *space = ix->metric == PC_EUCLIDEAN ? "l2" : ix->metric == PC_DOTPRODUCT ? "ip" : "cosine";
    if (c) return c;
    srv_uuid4(uuid);
    memset(&nc, 0, sizeof nc);
    nc.shards = cl->o.shards;
    nc.replicas = cl->o.replicas;
    if (cl_add_streams(cl, uuid, nc.shards, err, sizeof err)) {
      pc_err(rs, 503, "cannot create the namespace's shard streams: %s", err);
      return NULL;
    }
    pre = key_of("cname", PC_TENANT, ix->name);
    hn = cl_hex(ns);
    json_t *nv = json_string(uuid);
    char *nvt = nv ? json_dumps(nv, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int claimed = pre && hn && nvt && asprintf(&nk, "%s.%s", pre, hn) >= 0 &&
                  kvStore_CreateString(NULL, cl->kv, nk, nvt) == NATS_OK;
    free(pre), free(hn), free(nvt);
    json_decref(nv);
    if (!claimed) { /* another node made it first: use theirs */
      free(nk);
      cl_delete_streams(cl, uuid, nc.shards);
      continue;
    }
    memcpy(nc.uuid, uuid, 37);
    nc.tenant = strdup(PC_TENANT);
    nc.database = strdup(ix->name);
    nc.name = strdup(ns);
    nc.dim = ix->dim;
    nc.obj = json_pack("{s:s, s:s, s:n, s:{s:{s:s}}, s:s, s:s, s:I}", "id", uuid, "name", ns, "metadata",
                       "configuration_json", "hnsw", "space", space, "tenant", PC_TENANT, "database", ix->name,
                       "dimension", (json_int_t)ix->dim);
    nc.create = json_pack("{s:{s:s, s:I}}", "pinecone", "metric", pc_metric_name(ix->metric), "dimension",
                          (json_int_t)ix->dim);
    int bad = !nc.tenant || !nc.database || !nc.name || !nc.obj || !nc.create || cl_coll_put(cl, &nc, 0, NULL);
    if (bad) {
      json_decref(nc.obj);
      json_decref(nc.create);
      free(nc.tenant), free(nc.database), free(nc.name);
      kvStore_Delete(cl->kv, nk);
      cl_delete_streams(cl, uuid, nc.shards);
      free(nk);
      pc_err(rs, 503, "the cluster catalog is not reachable");
      return NULL;
    }
    free(nk);
    /* ours (not read back: a read of the bucket may not see the new keys yet) */
    if (!(c = malloc(sizeof *c))) {
      json_decref(nc.obj);
      json_decref(nc.create);
      free(nc.tenant), free(nc.database), free(nc.name);
      pc_err(rs, 500, "out of memory");
      return NULL;
    }
    *c = nc;
    return c;
  }
  pc_err(rs, 503, "could not create namespace '%.100s' in the cluster catalog", ns);
  return NULL;
}

int cl_pc_make_local(cluster *cl, const cl_coll *c, int k, char out_uuid[37]) {
  qsrv *s = cl->s;
  json_t *p = json_object_get(c->create, "pinecone");
  const char *metric = json_string_value(json_object_get(p, "metric"));
  qv_collection_opts o;
  qv_collection *col = NULL;
  qv_collection_info in = {.struct_size = sizeof in};
  char *full = NULL;
  int rc = -1;
  qv_status trc = srv_tenant_create(s, c->tenant), drc = srv_database_create(s, c->tenant, c->database);
  if ((trc != QV_OK && trc != QV_EXISTS) || (drc != QV_OK && drc != QV_EXISTS) || !metric) return -1;
  qv_collection_opts_init(&o);
  o.dim = c->dim ? c->dim : (uint32_t)json_integer_value(json_object_get(p, "dimension"));
  o.metric = !strcmp(metric, "euclidean") ? QV_METRIC_L2 : !strcmp(metric, "dotproduct") ? QV_METRIC_IP : QV_METRIC_COSINE;
  o.index = "hnsw";
  if (asprintf(&full, "%s/%s/%s-s%d", c->tenant, c->database, c->uuid, k) < 0) return -1;
  if (qv_collection_get_or_create(s->db, full, &o, &col, NULL) == QV_OK && qv_collection_info_get(col, &in) == QV_OK &&
      in.uuid && strlen(in.uuid) == 36) {
    memcpy(out_uuid, in.uuid, 37);
    rc = 0;
  }
  if (rc) srv_log(s, SRV_LOG_WARN, "cluster: local collection %s not created: %s", full, qv_db_errmsg(s->db));
  qv_collection_info_free(&in);
  qv_collection_release(col);
  free(full);
  return rc;
}

/* ------------------------------------------------------------------ writes */

static void reply_written(srv_resp *rs, int st, const char *msg, char *token, const char *text) {
  if (st) {
    pc_err(rs, st == 422 ? 400 : st, "%s", msg);
    free(token);
    return;
  }
  srv_reply_text(rs, 200, text);
  rs->token = token;
}

void pc_cl_upsert(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *ns, pc_up_rec *recs, const float *emb,
                  size_t n) {
  cluster *cl = rq->s->cluster;
  json_t *msgs[CL_MAX_SHARDS] = {0};
  cl_coll *c = ns_make(cl, ix, pc_ns_norm(ns), rs);
  size_t k = 0;
  if (!c) return;
  for (size_t i = 0; i < n; i++) {
    if (recs[i].skip) continue;
    int sh = cl_shard_of(recs[i].id, c->shards);
    json_t *b;
    char *e = floats_b64(emb + i * ix->dim, ix->dim);
    if (!msgs[sh]) msgs[sh] = json_pack("{s:s, s:{s:[], s:[], s:[], s:[]}}", "op", "pc_upsert", "b", "ids", "emb",
                                         "metadatas", "sparse");
    b = json_object_get(msgs[sh], "b");
    if (!e || !b) {
      free(e);
      pc_err(rs, 500, "out of memory");
      goto out;
    }
    json_array_append_new(json_object_get(b, "ids"), json_string(recs[i].id));
    json_array_append_new(json_object_get(b, "emb"), json_string(e));
    json_array_append(json_object_get(b, "metadatas"), recs[i].meta ? recs[i].meta : json_null());
    json_array_append_new(json_object_get(b, "sparse"), recs[i].sp.n ? sparse_json(&recs[i].sp) : json_null());
    free(e);
    k++;
  }
  long long cnt;
  char *token = NULL, msg[1024], text[64];
  int st = cl_publish(rq, c, msgs, k, 0, 0, &cnt, &token, msg, sizeof msg);
  snprintf(text, sizeof text, "{\"upsertedCount\":%zu}", n);
  reply_written(rs, st, msg, token, text);
out:
  for (int s = 0; s < CL_MAX_SHARDS; s++) json_decref(msgs[s]);
  cl_coll_free(c);
}

void pc_cl_update(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *ns, const char *id, const char *where,
                  json_t *set, const pc_sparse *sp, const float *values, int dry) {
  cluster *cl = rq->s->cluster;
  json_t *msgs[CL_MAX_SHARDS] = {0}, *b;
  cl_coll *c;
  if (!(c = ns_get(cl, ix, pc_ns_norm(ns)))) { /* nothing to update */
    srv_reply_text(rs, 200, where ? "{\"matchedRecords\":0}" : "{}");
    return;
  }
  if (check_where(cl, where, rs)) {
    cl_coll_free(c);
    return;
  }
  b = json_object();
  if (id) json_object_set_new(b, "id", json_string(id));
  if (where) json_object_set_new(b, "where", json_string(where));
  if (set) json_object_set(b, "set", set);
  if (sp) json_object_set_new(b, "sparse", sparse_json(sp));
  if (values) {
    char *e = floats_b64(values, ix->dim);
    json_object_set_new(b, "emb", e ? json_string(e) : NULL);
    free(e);
  }
  json_object_set_new(b, "dry", json_boolean(dry));
  for (int s = 0; s < c->shards; s++)
    if (!id || s == cl_shard_of(id, c->shards)) msgs[s] = json_pack("{s:s, s:O}", "op", "pc_update", "b", b);
  json_decref(b);
  long long cnt;
  char *token = NULL, msg[1024], text[64];
  /* by filter the answer is the number matched: the replicas' counts, so wait for them */
  int st = cl_publish(rq, c, msgs, id ? 1 : 0, where != NULL, 0, &cnt, &token, msg, sizeof msg);
  if (where) snprintf(text, sizeof text, "{\"matchedRecords\":%lld}", cnt > 0 ? cnt : 0);
  else snprintf(text, sizeof text, "{}");
  reply_written(rs, st, msg, token, text);
  for (int s = 0; s < CL_MAX_SHARDS; s++) json_decref(msgs[s]);
  cl_coll_free(c);
}

void pc_cl_delete(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *ns, const char *const *ids, size_t n,
                  const char *where, int del_all) {
  cluster *cl = rq->s->cluster;
  json_t *msgs[CL_MAX_SHARDS] = {0}, *w = NULL;
  cl_coll *c;
  if (!(c = ns_get(cl, ix, pc_ns_norm(ns)))) {
    srv_reply_text(rs, 200, "{}");
    return;
  }
  if (check_where(cl, where, rs)) {
    cl_coll_free(c);
    return;
  }
  if (del_all) {
    if (ns_drop(cl, c)) pc_err(rs, 503, "the cluster catalog is not reachable");
    else srv_reply_text(rs, 200, "{}");
    cl_coll_free(c);
    return;
  }
  if (where && !(w = json_loads(where, 0, NULL))) {
    pc_err(rs, 500, "out of memory");
    cl_coll_free(c);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    int k = cl_shard_of(ids[i], c->shards);
    if (!msgs[k]) msgs[k] = json_pack("{s:s, s:{s:[]}}", "op", "delete", "b", "ids");
    json_array_append_new(json_object_get(json_object_get(msgs[k], "b"), "ids"), json_string(ids[i]));
  }
  for (int k = 0; w && k < c->shards; k++) msgs[k] = json_pack("{s:s, s:{s:O}}", "op", "delete", "b", "where", w);
  long long cnt;
  char *token = NULL, msg[1024];
  int st = cl_publish(rq, c, msgs, n, 0, 0, &cnt, &token, msg, sizeof msg);
  reply_written(rs, st, msg, token, "{}");
  for (int s = 0; s < CL_MAX_SHARDS; s++) json_decref(msgs[s]);
  json_decref(w);
  cl_coll_free(c);
}

/* ------------------------------------------------------------------ the replica's side */

static int refuse(cl_result *res, const char *msg) {
  snprintf(res->msg, sizeof res->msg, "%s", msg);
  return 400;
}

int cl_pc_apply(cluster *cl, qv_collection *c, const char *op, json_t *b, const char *pos_key, uint64_t pos,
                cl_result *res, qv_status *rc) {
  uint32_t dim = 0;
  qv_collection_info in = {.struct_size = sizeof in};
  if (qv_collection_info_get(c, &in) == QV_OK) dim = in.dim;
  qv_collection_info_free(&in);
  if (!strcmp(op, "pc_upsert")) {
    json_t *ids = json_object_get(b, "ids"), *emb = json_object_get(b, "emb");
    json_t *metas = json_object_get(b, "metadatas"), *sps = json_object_get(b, "sparse");
    size_t n = json_array_size(ids);
    const char **idv = calloc(n ? n : 1, sizeof *idv);
    json_t **um = calloc(n ? n : 1, sizeof *um);
    pc_sparse *spv = calloc(n ? n : 1, sizeof *spv);
    const pc_sparse **spp = calloc(n ? n : 1, sizeof *spp);
    float *rows = malloc((n ? n : 1) * (dim ? dim : 1) * sizeof *rows);
    int bad = 0;
    if (!idv || !um || !spv || !spp || !rows) {
      *rc = QV_NOMEM;
    } else if (!dim || json_array_size(emb) != n || json_array_size(metas) != n || json_array_size(sps) != n) {
      bad = 1;
    } else {
      for (size_t i = 0; i < n && !bad; i++) {
        size_t d = 0;
        float *v = b64_floats(json_string_value(json_array_get(emb, i)), &d);
        json_t *m = json_array_get(metas, i);
        idv[i] = json_string_value(json_array_get(ids, i));
        um[i] = json_is_object(m) ? m : NULL;
        spp[i] = &spv[i];
        if (!idv[i] || !v || d != dim || sparse_of(json_array_get(sps, i), &spv[i])) bad = 1;
        else memcpy(rows + i * dim, v, dim * sizeof *rows);
        free(v);
      }
      if (!bad) *rc = pc_upsert_records(c, idv, rows, dim, um, spp, n, pos_key, pos);
      res->n = (long long)n;
    }
    for (size_t i = 0; spv && i < n; i++) pc_sparse_free(&spv[i]);
    free(idv), free(um), free(spv), free((void *)spp), free(rows);
    return bad ? refuse(res, "malformed pc_upsert batch") : 0;
  }
  if (!strcmp(op, "pc_update")) {
    const char *id = json_string_value(json_object_get(b, "id")), *where = json_string_value(json_object_get(b, "where"));
    json_t *set = json_object_get(b, "set"), *ej = json_object_get(b, "emb");
    pc_sparse sp;
    float *values = NULL;
    size_t d = 0, matched = 0;
    int wrote = 0, have_sp = json_object_get(b, "sparse") != NULL;
    if ((!id && !where) || sparse_of(json_object_get(b, "sparse"), &sp)) return refuse(res, "malformed pc_update batch");
    if (ej && (!(values = b64_floats(json_string_value(ej), &d)) || d != dim)) {
      free(values);
      pc_sparse_free(&sp);
      return refuse(res, "malformed pc_update batch");
    }
    *rc = pc_update_records(c, id, where, json_is_object(set) ? set : NULL, have_sp ? &sp : NULL, values, dim,
                            json_is_true(json_object_get(b, "dry")), pos_key, pos, &matched, &wrote);
    if (*rc == QV_OK && !wrote) *rc = qv_db_position_set(cl->s->db, pos_key, pos); /* nothing written: the position alone */
    res->n = (long long)matched;
    free(values);
    pc_sparse_free(&sp);
    return 0;
  }
  snprintf(res->msg, sizeof res->msg, "unknown batch operation '%.40s'", op);
  return 400;
}

/* The fragment {"id":..,"score":..[,values,sparseValues,metadata]} of a match. */
static int put_match(sbuf *b, const char *id, double score, const float *emb, size_t dim, const char *meta, int vals,
                     int md) {
  sbuf_puts(b, "{\"id\":");
  sbuf_json_str(b, id);
  sbuf_puts(b, ",\"score\":");
  sbuf_json_float(b, score);
  int r = pc_put_record(b, emb, dim, meta, vals, md);
  sbuf_putc(b, '}');
  return r;
}

/* ["score", "id", "fragment"] entries of a query answer. */
static void put_entry(sbuf *o, double score, const char *id, sbuf *frag) {
  if (o->len > 6) sbuf_putc(o, ',');
  if (isfinite(score)) sbuf_printf(o, "[%.17g,", score);
  else sbuf_puts(o, "[0,");
  sbuf_json_str(o, id);
  sbuf_putc(o, ',');
  sbuf_putc(frag, '\0');
  sbuf_json_str(o, frag->oom ? "" : frag->p);
  if (frag->oom) o->oom = 1;
  sbuf_putc(o, ']');
}

static void replica_query(qv_collection *c, json_t *j, sbuf *o, qv_status *rc) {
  pc_qreq q;
  size_t d = 0;
  uint32_t dim = (uint32_t)json_integer_value(json_object_get(j, "dim"));
  int euclid = !strcmp(json_string_value(json_object_get(j, "metric")) ? json_string_value(json_object_get(j, "metric")) : "", "euclidean");
  qv_results *r = NULL;
  memset(&q, 0, sizeof q);
  q.vec = b64_floats(json_string_value(json_object_get(j, "v")), &d);
  q.dim = d;
  q.k = (size_t)json_integer_value(json_object_get(j, "k"));
  q.inc_values = json_is_true(json_object_get(j, "vals"));
  q.inc_meta = json_is_true(json_object_get(j, "meta"));
  if (json_string_value(json_object_get(j, "where")) && !(q.where = strdup(json_string_value(json_object_get(j, "where"))))) {
    *rc = QV_NOMEM;
    return;
  }
  sbuf_puts(o, "{\"m\":[");
  if (!q.vec || d != dim || !q.k || sparse_of(json_object_get(j, "sparse"), &q.sparse)) {
    *rc = QV_INVALID;
    free(q.vec);
    free(q.where);
    return;
  }
  if (q.sparse.n) { /* hybrid: the exact scan, then the records' fields */
    pc_hit *h = NULL;
    size_t n = 0;
    *rc = pc_hybrid_scan(c, &q, &h, &n);
    if (*rc == QV_OK && n && (q.inc_values || q.inc_meta)) {
      const char **ids = malloc(n * sizeof *ids);
      qv_get_opts g;
      qv_get_opts_init(&g);
      for (size_t i = 0; ids && i < n; i++) ids[i] = h[i].id;
      g.ids = ids;
      g.n_ids = n;
      g.include = QV_INCLUDE_METADATAS | (q.inc_values ? QV_INCLUDE_EMBEDDINGS : 0);
      *rc = ids ? qv_collection_get_records(c, &g, &r) : QV_NOMEM;
      free((void *)ids);
    }
    for (size_t i = 0; *rc == QV_OK && i < n; i++) {
      sbuf f = {0};
      size_t x = 0, m = r ? qv_results_count(r, 0) : 0;
      while (x < m && strcmp(qv_results_id(r, 0, x), h[i].id)) x++;
      sbuf_puts(&f, "{\"id\":");
      sbuf_json_str(&f, h[i].id);
      sbuf_puts(&f, ",\"score\":");
      sbuf_json_float(&f, h[i].score);
      if (x < m && pc_put_record(&f, qv_results_embedding(r, 0, x), dim, qv_results_metadata(r, 0, x), q.inc_values,
                                 q.inc_meta))
        f.oom = 1;
      sbuf_putc(&f, '}');
      put_entry(o, h[i].score, h[i].id, &f);
      sbuf_free(&f);
    }
    for (size_t i = 0; i < n; i++) free(h[i].id);
    free(h);
  } else {
    qv_query_opts qo;
    qv_query_opts_init(&qo);
    qo.where_json = q.where;
    qo.include = QV_INCLUDE_DISTANCES | (q.inc_values ? QV_INCLUDE_EMBEDDINGS : 0) |
                 (q.inc_values || q.inc_meta ? QV_INCLUDE_METADATAS : 0);
    *rc = qv_collection_query(c, q.vec, 1, q.k, &qo, &r);
    for (size_t i = 0; *rc == QV_OK && i < qv_results_count(r, 0); i++) {
      sbuf f = {0};
      float dist = qv_results_distance(r, 0, i);
      double score = euclid ? (double)dist : 1.0 - (double)dist;
      if (put_match(&f, qv_results_id(r, 0, i), score, qv_results_embedding(r, 0, i), dim,
                    qv_results_metadata(r, 0, i), q.inc_values, q.inc_meta))
        f.oom = 1;
      put_entry(o, score, qv_results_id(r, 0, i), &f);
      sbuf_free(&f);
    }
  }
  sbuf_puts(o, "]}");
  qv_results_free(r);
  pc_sparse_free(&q.sparse);
  free(q.vec);
  free(q.where);
}

void cl_pc_replica_read(cluster *cl, const char *local_uuid, const char *op, const char *body, srv_resp *rs) {
  qsrv *s = cl->s;
  qv_collection *c = NULL;
  qv_results *r = NULL;
  json_t *j = json_loads(body ? body : "{}", 0, NULL);
  qv_status rc = qv_collection_get_by_uuid(s->db, local_uuid, &c);
  qv_collection_info in = {.struct_size = sizeof in};
  sbuf o = {0};
  uint32_t dim = 0;
  if (rc == QV_OK && qv_collection_info_get(c, &in) == QV_OK) dim = in.dim;
  qv_collection_info_free(&in);
  if (rc == QV_OK && !json_is_object(j)) rc = QV_INVALID;
  if (rc != QV_OK) {
    /* fall through to the error below */
  } else if (!strcmp(op, "pc_query")) {
    replica_query(c, j, &o, &rc);
  } else if (!strcmp(op, "pc_vec") || !strcmp(op, "pc_fetch")) {
    json_t *ids = json_object_get(j, "ids");
    size_t n = json_array_size(ids);
    const char **idv = malloc((n ? n : 1) * sizeof *idv);
    qv_get_opts g;
    qv_get_opts_init(&g);
    for (size_t i = 0; idv && i < n; i++) idv[i] = json_string_value(json_array_get(ids, i));
    g.ids = idv;
    g.n_ids = n;
    g.include = QV_INCLUDE_EMBEDDINGS | (strcmp(op, "pc_vec") ? QV_INCLUDE_METADATAS : 0);
    rc = idv ? qv_collection_get_records(c, &g, &r) : QV_NOMEM;
    free((void *)idv);
    sbuf_puts(&o, "{\"r\":[");
    for (size_t i = 0; rc == QV_OK && i < qv_results_count(r, 0); i++) {
      const char *id = qv_results_id(r, 0, i);
      const float *e = qv_results_embedding(r, 0, i);
      if (i) sbuf_putc(&o, ',');
      sbuf_putc(&o, '[');
      sbuf_json_str(&o, id);
      sbuf_putc(&o, ',');
      if (!strcmp(op, "pc_vec")) {
        char *t = e ? floats_b64(e, dim) : NULL;
        if (e && !t) o.oom = 1;
        sbuf_json_str(&o, t);
        free(t);
      } else {
        sbuf f = {0};
        sbuf_puts(&f, "{\"id\":");
        sbuf_json_str(&f, id);
        if (pc_put_record(&f, e, dim, qv_results_metadata(r, 0, i), 1, 2)) f.oom = 1;
        sbuf_putc(&f, '}');
        sbuf_putc(&f, '\0');
        if (f.oom) o.oom = 1;
        sbuf_json_str(&o, f.oom ? "" : f.p);
        sbuf_free(&f);
      }
      sbuf_putc(&o, ']');
    }
    sbuf_puts(&o, "]}");
  } else if (!strcmp(op, "pc_ids") || !strcmp(op, "pc_count")) {
    const char *where = json_string_value(json_object_get(j, "where"));
    const char *prefix = json_string_value(json_object_get(j, "prefix"));
    const char *after = json_string_value(json_object_get(j, "after"));
    uint64_t cnt = 0;
    if (!strcmp(op, "pc_count") && !where) {
      rc = qv_collection_count(c, &cnt);
      sbuf_printf(&o, "%llu", (unsigned long long)cnt);
    } else {
      qv_get_opts g;
      qv_get_opts_init(&g);
      g.where_json = where;
      g.include = 0;
      rc = qv_collection_get_records(c, &g, &r);
      if (rc == QV_OK && !strcmp(op, "pc_count")) {
        sbuf_printf(&o, "%zu", qv_results_count(r, 0));
      } else {
        size_t plen = prefix ? strlen(prefix) : 0, shown = 0;
        sbuf_putc(&o, '[');
        for (size_t i = 0; rc == QV_OK && i < qv_results_count(r, 0); i++) {
          const char *id = qv_results_id(r, 0, i);
          if ((plen && strncmp(id, prefix, plen)) || (after && strcmp(id, after) <= 0)) continue;
          if (shown++) sbuf_putc(&o, ',');
          sbuf_json_str(&o, id);
        }
        sbuf_putc(&o, ']');
      }
    }
  } else {
    rc = QV_INVALID;
  }
  if (rc == QV_OK) {
    sbuf_reply(&o, rs, 200);
  } else {
    int st = qv_status_http(rc);
    const char *m = qv_db_errmsg(s->db);
    sbuf_free(&o);
    if (rc == QV_INVALID && (!m || !*m)) m = "malformed cluster read request";
    pc_err(rs, st == 422 ? 400 : st, "%s", m && *m ? m : qv_status_str(rc));
  }
  qv_results_free(r);
  qv_collection_release(c);
  json_decref(j);
}

/* ------------------------------------------------------------------ reads */

/* Scatter op with body j (taken) to every shard of c; 0 with parts[] parsed (json when
 * want_json, else the texts in jobs), -1 after replying. */
static int scatter(srv_req *rq, srv_resp *rs, const cl_coll *c, const char *op, json_t *j, cl_shard_job *jobs,
                   json_t **parts) {
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  int rc = 0;
  json_decref(j);
  if (!text) {
    pc_err(rs, 500, "out of memory");
    return -1;
  }
  memset(jobs, 0, (size_t)c->shards * sizeof *jobs);
  if (cl_scatter(rq, rs, c, op, text, jobs)) {
    err_from(rs);
    for (int s = 0; s < c->shards; s++) {
      free(jobs[s].resp);
      jobs[s].resp = NULL;
    }
    rc = -1;
  }
  for (int s = 0; rc == 0 && parts && s < c->shards; s++)
    if (!(parts[s] = json_loadb(jobs[s].resp, jobs[s].len, JSON_DECODE_ANY, NULL))) {
      pc_err(rs, 502, "shard %d answered with malformed JSON", s);
      rc = -1;
    }
  free(text);
  return rc;
}

static void jobs_free(cl_shard_job *jobs, json_t **parts, int n) {
  for (int s = 0; s < n; s++) {
    free(jobs[s].resp);
    if (parts) json_decref(parts[s]);
  }
}

typedef struct match {
  double score;
  const char *id, *frag;
  int s;
  size_t i;
  int order; /* 1 higher is better, -1 lower is better */
  int by_id; /* ties by id (hybrid), else by shard */
} match;

static int cmp_match(const void *a, const void *b) {
  const match *x = a, *y = b;
  if (x->score != y->score) return (x->score > y->score ? -1 : 1) * x->order;
  if (x->by_id) return strcmp(x->id, y->id);
  if (x->s != y->s) return x->s - y->s;
  return x->i < y->i ? -1 : x->i > y->i;
}

void pc_cl_query_run(srv_req *rq, srv_resp *rs, const pc_index *ix, pc_qreq *q) {
  cluster *cl = rq->s->cluster;
  cl_shard_job jobs[CL_MAX_SHARDS];
  json_t *parts[CL_MAX_SHARDS] = {0};
  cl_coll *c;
  float *own = NULL;
  const float *vec = q->vec;
  match *mv = NULL;
  size_t total = 0;
  if (!(c = ns_get(cl, ix, pc_ns_norm(q->ns)))) {
    reply_empty(rs, "{\"matches\":[]", q->ns);
    return;
  }
  memset(jobs, 0, sizeof jobs);
  if (q->id) { /* the stored vector of id */
    json_t *req = json_pack("{s:[s]}", "ids", q->id);
    const char *e = NULL;
    size_t d = 0;
    if (scatter(rq, rs, c, "pc_vec", req, jobs, parts)) goto out;
    for (int s = 0; s < c->shards && !e; s++) e = json_string_value(json_array_get(json_array_get(json_object_get(parts[s], "r"), 0), 1));
    own = e ? b64_floats(e, &d) : NULL;
    jobs_free(jobs, parts, c->shards);
    memset(parts, 0, sizeof parts);
    memset(jobs, 0, sizeof jobs);
    if (!own || d != ix->dim) {
      reply_empty(rs, "{\"matches\":[]", q->ns);
      goto out;
    }
    vec = own;
  }
  if (check_where(cl, q->where, rs)) goto out;
  char *v64 = floats_b64(vec, ix->dim);
  json_t *req = json_pack("{s:s?, s:I, s:s?, s:b, s:b, s:s, s:I}", "v", v64, "k", (json_int_t)q->k, "where", q->where,
                          "vals", q->inc_values, "meta", q->inc_meta, "metric", pc_metric_name(ix->metric), "dim",
                          (json_int_t)ix->dim);
  free(v64);
  if (req && q->sparse.n) json_object_set_new(req, "sparse", sparse_json(&q->sparse));
  if (scatter(rq, rs, c, "pc_query", req, jobs, parts)) goto out;
  for (int s = 0; s < c->shards; s++) total += json_array_size(json_object_get(parts[s], "m"));
  if (!(mv = malloc((total ? total : 1) * sizeof *mv))) {
    pc_err(rs, 500, "out of memory");
    goto out;
  }
  total = 0;
  for (int s = 0; s < c->shards; s++) {
    json_t *m = json_object_get(parts[s], "m");
    for (size_t i = 0; i < json_array_size(m); i++) {
      json_t *e = json_array_get(m, i);
      const char *id = json_string_value(json_array_get(e, 1)), *frag = json_string_value(json_array_get(e, 2));
      if (!id || !frag) continue;
      mv[total++] = (match){json_number_value(json_array_get(e, 0)), id, frag, s, i,
                            ix->metric == PC_EUCLIDEAN && !q->sparse.n ? -1 : 1, q->sparse.n > 0};
    }
  }
  qsort(mv, total, sizeof *mv, cmp_match);
  if (total > q->k) total = q->k;
  sbuf b = {0};
  sbuf_puts(&b, "{\"matches\":[");
  for (size_t i = 0; i < total; i++) {
    if (i) sbuf_putc(&b, ',');
    sbuf_puts(&b, mv[i].frag);
  }
  sbuf_putc(&b, ']');
  pc_put_tail(&b, q->ns);
  sbuf_reply(&b, rs, 200);
out:
  free(mv);
  free(own);
  jobs_free(jobs, parts, c->shards);
  cl_coll_free(c);
}

void pc_cl_fetch(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *ns, char **ids, size_t n) {
  cluster *cl = rq->s->cluster;
  cl_shard_job jobs[CL_MAX_SHARDS];
  json_t *parts[CL_MAX_SHARDS] = {0}, *arr = json_array();
  cl_coll *c = ns_get(cl, ix, pc_ns_norm(ns));
  sbuf b = {0};
  size_t shown = 0;
  if (!c) {
    reply_empty(rs, "{\"vectors\":{}", ns);
    json_decref(arr);
    return;
  }
  for (size_t i = 0; arr && i < n; i++) json_array_append_new(arr, json_string(ids[i]));
  if (scatter(rq, rs, c, "pc_fetch", json_pack("{s:O}", "ids", arr), jobs, parts)) goto out;
  /* fragment of each id found, by id; answered in the order of the ids asked */
  json_t *found = json_object();
  for (int s = 0; s < c->shards; s++) {
    json_t *r = json_object_get(parts[s], "r");
    for (size_t i = 0; i < json_array_size(r); i++) {
      json_t *e = json_array_get(r, i);
      const char *id = json_string_value(json_array_get(e, 0));
      if (id) json_object_set(found, id, json_array_get(e, 1));
    }
  }
  sbuf_puts(&b, "{\"vectors\":{");
  for (size_t i = 0; i < n; i++) {
    const char *f = json_string_value(json_object_get(found, ids[i]));
    if (!f) continue; /* an id asked twice is listed twice, as the single node does */
    if (shown++) sbuf_putc(&b, ',');
    sbuf_json_str(&b, ids[i]);
    sbuf_putc(&b, ':');
    sbuf_puts(&b, f);
  }
  sbuf_putc(&b, '}');
  pc_put_tail(&b, ns);
  sbuf_reply(&b, rs, 200);
  json_decref(found);
out:
  json_decref(arr);
  jobs_free(jobs, parts, c->shards);
  cl_coll_free(c);
}

void pc_cl_list(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *ns, const char *prefix, const char *after,
                size_t limit) {
  cluster *cl = rq->s->cluster;
  cl_shard_job jobs[CL_MAX_SHARDS];
  json_t *parts[CL_MAX_SHARDS] = {0};
  cl_coll *c = ns_get(cl, ix, pc_ns_norm(ns));
  const char **v = NULL;
  size_t total = 0;
  if (!c) {
    reply_empty(rs, "{\"vectors\":[]", ns);
    return;
  }
  if (scatter(rq, rs, c, "pc_ids", json_pack("{s:s?, s:s?}", "prefix", prefix, "after", after), jobs, parts)) goto out;
  for (int s = 0; s < c->shards; s++) total += json_array_size(parts[s]);
  if (!(v = malloc((total ? total : 1) * sizeof *v))) {
    pc_err(rs, 500, "out of memory");
    goto out;
  }
  total = 0;
  for (int s = 0; s < c->shards; s++)
    for (size_t i = 0; i < json_array_size(parts[s]); i++)
      if ((v[total] = json_string_value(json_array_get(parts[s], i)))) total++;
  pc_list_reply(rs, ns, v, total, prefix, after, limit);
out:
  free((void *)v);
  jobs_free(jobs, parts, c->shards);
  cl_coll_free(c);
}

/* Records of namespace collection c matching where (NULL: all); -1 after replying. */
static long long ns_count(srv_req *rq, srv_resp *rs, const cl_coll *c, const char *where) {
  cl_shard_job jobs[CL_MAX_SHARDS];
  long long total = 0;
  if (scatter(rq, rs, c, "pc_count", json_pack("{s:s?}", "where", where), jobs, NULL)) return -1;
  for (int s = 0; s < c->shards; s++) total += strtoll(jobs[s].resp, NULL, 10);
  jobs_free(jobs, NULL, c->shards);
  return total;
}

void pc_cl_stats(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *where) {
  cluster *cl = rq->s->cluster;
  size_t n = 0, shown = 0;
  long long total = 0;
  int err = 0;
  sbuf b = {0};
  cl_coll **cs = ns_all(cl, ix->name, &n, &err);
  if (err) {
    pc_err(rs, 503, "the cluster catalog is not reachable");
    return;
  }
  if (n && check_where(cl, where, rs)) {
    colls_free(cs, n);
    return;
  }
  sbuf_puts(&b, "{\"namespaces\":{");
  for (size_t i = 0; i < n; i++) {
    long long cnt = ns_count(rq, rs, cs[i], where);
    if (cnt < 0) {
      sbuf_free(&b);
      colls_free(cs, n);
      return;
    }
    if (cnt == 0) continue;
    if (shown++) sbuf_putc(&b, ',');
    sbuf_json_str(&b, cs[i]->name);
    sbuf_printf(&b, ":{\"vectorCount\":%lld}", cnt);
    total += cnt;
  }
  colls_free(cs, n);
  sbuf_printf(&b, "},\"dimension\":%u,\"indexFullness\":0,\"totalVectorCount\":%lld,"
                  "\"metric\":\"%s\",\"vectorType\":\"dense\"}",
              ix->dim, total, pc_metric_name(ix->metric));
  sbuf_reply(&b, rs, 200);
}

/* ------------------------------------------------------------------ namespace routes */

static void put_ns(sbuf *b, const char *name, long long n) {
  sbuf_puts(b, "{\"name\":");
  sbuf_json_str(b, name);
  sbuf_printf(b, ",\"record_count\":%lld}", n);
}

static void list_ns(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  cluster *cl = rq->s->cluster;
  int bad = 0, err = 0;
  char *prefix = pc_arg(rq, "prefix", &bad), *tok = pc_arg(rq, "paginationToken", &bad);
  char *lim = pc_arg(rq, "limit", &bad), *after = NULL, *next = NULL;
  const char *last = NULL;
  size_t n = 0, limit = 100, shown = 0, total = 0;
  cl_coll **cs = NULL;
  sbuf b = {0};
  if (bad) {
    pc_err(rs, 400, "bad percent-encoding in the query string");
    goto done;
  }
  if (pc_page_args(rs, lim, tok, &limit, &after)) goto done;
  cs = ns_all(cl, ix->name, &n, &err);
  if (err) {
    pc_err(rs, 503, "the cluster catalog is not reachable");
    goto done;
  }
  sbuf_puts(&b, "{\"namespaces\":[");
  for (size_t i = 0; i < n; i++) {
    const char *name = cs[i]->name;
    if (prefix && strncmp(name, prefix, strlen(prefix))) continue;
    total++;
    if (after && strcmp(name, after) <= 0) continue;
    if (shown == limit) {
      if (!next && !(next = pc_token_of(last))) b.oom = 1;
      continue;
    }
    long long cnt = ns_count(rq, rs, cs[i], NULL);
    if (cnt < 0) {
      sbuf_free(&b);
      goto done;
    }
    if (shown++) sbuf_putc(&b, ',');
    put_ns(&b, name, cnt);
    last = name;
  }
  sbuf_putc(&b, ']');
  if (next) {
    sbuf_puts(&b, ",\"pagination\":{\"next\":");
    sbuf_json_str(&b, next);
    sbuf_putc(&b, '}');
  }
  sbuf_printf(&b, ",\"total_count\":%zu}", total);
  sbuf_reply(&b, rs, 200);
done:
  colls_free(cs, n);
  free(prefix);
  free(tok);
  free(lim);
  free(after);
  free(next);
}

void pc_cl_namespaces(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  cluster *cl = rq->s->cluster;
  const char *ns = rq->n_seg == 4 ? rq->seg[3] : NULL;
  cl_coll *c = NULL;
  sbuf b = {0};
  if (!ns && rq->method == M_GET) {
    list_ns(rq, rs, ix);
    return;
  }
  if (!ns) { /* create */
    json_t *body = pc_body(rq, rs, 0, 0);
    const char *name;
    if (!body) return;
    name = json_string_value(json_object_get(body, "name"));
    if (!name) {
      pc_err(rs, 400, "name: expected a string");
    } else if (pc_ns_check(name, rs) == 0) {
      if ((c = ns_get(cl, ix, pc_ns_norm(name)))) {
        pc_err(rs, 409, "Namespace '%.100s' already exists", pc_ns_norm(name));
      } else if ((c = ns_make(cl, ix, pc_ns_norm(name), rs))) {
        put_ns(&b, pc_ns_norm(name), 0);
        sbuf_reply(&b, rs, 201);
      }
    }
    cl_coll_free(c);
    json_decref(body);
    return;
  }
  if (pc_ns_check(ns, rs)) return;
  if (!(c = ns_get(cl, ix, pc_ns_norm(ns)))) {
    pc_err(rs, 404, "Namespace '%.100s' not found", ns);
    return;
  }
  if (rq->method == M_DELETE) {
    if (ns_drop(cl, c)) pc_err(rs, 503, "the cluster catalog is not reachable");
    else srv_reply_text(rs, 200, "{}");
  } else {
    long long cnt = ns_count(rq, rs, c, NULL);
    if (cnt >= 0) {
      put_ns(&b, pc_ns_norm(ns), cnt);
      sbuf_reply(&b, rs, 200);
    }
  }
  cl_coll_free(c);
}
