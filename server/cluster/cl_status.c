/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cl_status.c -- the cluster's status document and `quiver cluster ...`.
 *
 * The document is built from the bucket and the streams only (no node is asked), so the CLI
 * and GET /api/v2/cluster show the same thing:
 *   {"nodes": [{"id", "url", "heartbeat_age_ms", "live"}],
 *    "collections": [{"id", "name", "tenant", "database", "shards", "replicas", "dimension",
 *                     "shard": [{"shard", "stream", "first_seq", "last_seq", "messages", "bytes",
 *                                "snapshot": null | {"seq", "id", "size", "chunks", "digest"},
 *                                "replicas": [{"node", "applied", "lag", "live"}]}]}]}
 * lag = the stream's last sequence - what the replica last reported applied (heartbeats
 * every second, so a second or so of lag is normal under writes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_int.h"
#include "server.h"

static json_t *get_json(kvStore *kv, const char *key) {
  kvEntry *e = NULL;
  json_t *j = NULL;
  if (kvStore_Get(&e, kv, key) == NATS_OK) j = json_loadb(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), 0, NULL);
  kvEntry_Destroy(e);
  return j;
}

json_t *cl_status_doc(natsConnection *nc, jsCtx *js, kvStore *kv, char *err, size_t errlen) {
  kvKeysList list;
  json_t *doc = json_object(), *nodes = json_array(), *colls = json_array(), *nodevals = json_array();
  int64_t now = cl_now_ms();
  (void)nc;
  memset(&list, 0, sizeof list);
  natsStatus st = kvStore_Keys(&list, kv, NULL);
  if (st != NATS_OK && st != NATS_NOT_FOUND) {
    snprintf(err, errlen, "listing the bucket: %s", natsStatus_GetText(st));
    json_decref(doc), json_decref(nodes), json_decref(colls), json_decref(nodevals);
    return NULL;
  }
  for (int i = 0; i < list.Count; i++) {
    if (strncmp(list.Keys[i], "node.", 5)) continue;
    json_t *v = get_json(kv, list.Keys[i]);
    if (!v) continue;
    int64_t age = now - (int64_t)json_integer_value(json_object_get(v, "ts"));
    int live = age < CL_LIVE_MS && !json_is_true(json_object_get(v, "stopped"));
    json_array_append_new(nodes, json_pack("{s:O, s:O, s:I, s:b, s:b}", "id", json_object_get(v, "id"), "url",
                                           json_object_get(v, "url"), "heartbeat_age_ms", (json_int_t)age, "live", live,
                                           "stopped", json_is_true(json_object_get(v, "stopped"))));
    json_object_set_new(v, "_live", json_boolean(live));
    json_array_append_new(nodevals, v);
  }
  for (int i = 0; i < list.Count; i++) {
    if (strncmp(list.Keys[i], "coll.", 5)) continue;
    json_t *v = get_json(kv, list.Keys[i]), *obj = json_object_get(v, "obj"), *shards = json_array();
    const char *uuid = json_string_value(json_object_get(v, "id"));
    int ns = (int)json_integer_value(json_object_get(v, "shards"));
    if (!uuid) {
      json_decref(v);
      json_decref(shards);
      continue;
    }
    for (int k = 0; k < ns; k++) {
      char name[64], rk[64];
      jsStreamInfo *si = NULL;
      uint64_t last = 0, msgs = 0, bytes = 0, first = 0;
      cl_stream_name(uuid, k, name);
      if (js_GetStreamInfo(&si, js, name, NULL, NULL) == NATS_OK && si) {
        last = si->State.LastSeq;
        first = si->State.FirstSeq;
        msgs = si->State.Msgs;
        bytes = si->State.Bytes;
      }
      jsStreamInfo_Destroy(si);
      json_t *reps = json_array();
      snprintf(rk, sizeof rk, "%s/%d", uuid, k);
      for (size_t n = 0; n < json_array_size(nodevals); n++) {
        json_t *nv = json_array_get(nodevals, n), *a = json_object_get(json_object_get(nv, "replicas"), rk);
        if (!a) continue;
        uint64_t ap = (uint64_t)json_integer_value(a);
        json_array_append_new(reps, json_pack("{s:O, s:I, s:I, s:O}", "node", json_object_get(nv, "id"), "applied",
                                              (json_int_t)ap, "lag", (json_int_t)(last > ap ? last - ap : 0), "live",
                                              json_object_get(nv, "_live")));
      }
      json_t *sh = json_pack("{s:i, s:s, s:I, s:I, s:I, s:o}", "shard", k, "stream", name, "last_seq", (json_int_t)last,
                             "messages", (json_int_t)msgs, "bytes", (json_int_t)bytes, "replicas", reps);
      json_object_set_new(sh, "first_seq", json_integer((json_int_t)first));
      json_object_set_new(sh, "snapshot", cl_snap_status(js, uuid, k)); /* cl_snap.c */
      json_array_append_new(shards, sh);
    }
    json_array_append_new(colls, json_pack("{s:s, s:O, s:O, s:O, s:i, s:O, s:O, s:o}", "id", uuid, "name",
                                           json_object_get(obj, "name"), "tenant", json_object_get(v, "tenant"),
                                           "database", json_object_get(v, "database"), "shards", ns, "replicas",
                                           json_object_get(v, "replicas"), "dimension", json_object_get(v, "dim"),
                                           "shard", shards));
    json_decref(v);
  }
  kvKeysList_Destroy(&list);
  json_decref(nodevals);
  json_object_set_new(doc, "nodes", nodes);
  json_object_set_new(doc, "collections", colls);
  return doc;
}

/* ------------------------------------------------------------------ quiver cluster */

static void usage(FILE *f) {
  fputs("usage: quiver cluster status --cluster nats://HOST:PORT[,...] [--json]\n"
        "       quiver cluster remove-node ID --cluster nats://HOST:PORT[,...] [--force]\n"
        "  status       nodes (live or not), collections, shards, each replica's applied\n"
        "               stream sequence and its lag behind the stream\n"
        "  remove-node  forget a member (stop it first): its replicas are re-placed on the\n"
        "               others, which catch up from the shard streams; --force removes a\n"
        "               node whose heartbeat is still fresh\n",
        f);
}

static void print_table(json_t *doc) {
  json_t *nodes = json_object_get(doc, "nodes"), *colls = json_object_get(doc, "collections");
  printf("nodes: %zu\n", json_array_size(nodes));
  for (size_t i = 0; i < json_array_size(nodes); i++) {
    json_t *n = json_array_get(nodes, i);
    printf("  %-12s %-28s %-7s heartbeat %lld ms ago\n", json_string_value(json_object_get(n, "id")),
           json_string_value(json_object_get(n, "url")),
           json_is_true(json_object_get(n, "live")) ? "live" : json_is_true(json_object_get(n, "stopped")) ? "stopped" : "DOWN",
           (long long)json_integer_value(json_object_get(n, "heartbeat_age_ms")));
  }
  printf("collections: %zu\n", json_array_size(colls));
  for (size_t i = 0; i < json_array_size(colls); i++) {
    json_t *c = json_array_get(colls, i), *sh = json_object_get(c, "shard");
    printf("  %s/%s/%s (%s): %lld shards x %lld replicas, dimension %lld\n",
           json_string_value(json_object_get(c, "tenant")), json_string_value(json_object_get(c, "database")),
           json_string_value(json_object_get(c, "name")), json_string_value(json_object_get(c, "id")),
           (long long)json_integer_value(json_object_get(c, "shards")),
           (long long)json_integer_value(json_object_get(c, "replicas")),
           (long long)json_integer_value(json_object_get(c, "dimension")));
    for (size_t k = 0; k < json_array_size(sh); k++) {
      json_t *s = json_array_get(sh, k), *reps = json_object_get(s, "replicas");
      printf("    shard %lld: last seq %lld, %lld messages;", (long long)json_integer_value(json_object_get(s, "shard")),
             (long long)json_integer_value(json_object_get(s, "last_seq")),
             (long long)json_integer_value(json_object_get(s, "messages")));
      if (json_integer_value(json_object_get(s, "first_seq")) > 1 || json_is_object(json_object_get(s, "snapshot")))
        printf(" first seq %lld, snapshot at %lld;", (long long)json_integer_value(json_object_get(s, "first_seq")),
               (long long)json_integer_value(json_object_get(json_object_get(s, "snapshot"), "seq")));
      for (size_t r = 0; r < json_array_size(reps); r++) {
        json_t *x = json_array_get(reps, r);
        printf(" %s applied %lld lag %lld%s", json_string_value(json_object_get(x, "node")),
               (long long)json_integer_value(json_object_get(x, "applied")),
               (long long)json_integer_value(json_object_get(x, "lag")),
               json_is_true(json_object_get(x, "live")) ? "" : " (down)");
        if (r + 1 < json_array_size(reps)) putchar(',');
      }
      putchar('\n');
    }
  }
}

int qv_cluster_main(int argc, char **argv) {
  const char *urls = NULL, *cmd = NULL, *node = NULL;
  int as_json = 0, force = 0, rc = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json")) {
      as_json = 1;
    } else if (!strcmp(argv[i], "--force")) {
      force = 1;
    } else if (!strcmp(argv[i], "--cluster") && i + 1 < argc) {
      urls = argv[++i];
    } else if (!strncmp(argv[i], "--cluster=", 10)) {
      urls = argv[i] + 10;
    } else if (argv[i][0] != '-' && !cmd) {
      cmd = argv[i];
    } else if (argv[i][0] != '-' && cmd && !strcmp(cmd, "remove-node") && !node) {
      node = argv[i];
    } else {
      fprintf(stderr, "quiver cluster: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (!urls) urls = getenv("QUIVER_CLUSTER");
  if (!cmd || !urls || (strcmp(cmd, "status") && strcmp(cmd, "remove-node")) || (!strcmp(cmd, "remove-node") && !node)) {
    fprintf(stderr, "quiver cluster: %s\n", !cmd ? "a sub-command is needed (status, remove-node)"
                                            : !urls ? "--cluster nats://HOST:PORT[,...] is needed (or $QUIVER_CLUSTER)"
                                            : !strcmp(cmd, "remove-node") ? "remove-node needs the node's id"
                                                                          : "unknown sub-command");
    usage(stderr);
    return 2;
  }
  natsOptions *no = NULL;
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  kvStore *kv = NULL;
  const char *servers[16];
  int n = 0;
  char *copy = strdup(urls), *save = NULL;
  for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t && n < 16; t = strtok_r(NULL, ",", &save)) servers[n++] = t;
  natsStatus st = natsOptions_Create(&no);
  if (st == NATS_OK) st = natsOptions_SetServers(no, servers, n);
  if (st == NATS_OK) st = natsOptions_SetTimeout(no, 3000);
  if (st == NATS_OK) st = natsConnection_Connect(&nc, no);
  if (st == NATS_OK) st = natsConnection_JetStream(&js, nc, NULL);
  if (st == NATS_OK) st = js_KeyValue(&kv, js, CL_BUCKET);
  if (st != NATS_OK) {
    fprintf(stderr, "quiver cluster: cannot reach the cluster at %s: %s\n", urls,
            nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(st));
    goto out;
  }
  if (!strcmp(cmd, "status")) {
    char err[300] = "";
    json_t *doc = cl_status_doc(nc, js, kv, err, sizeof err);
    if (!doc) {
      fprintf(stderr, "quiver cluster: %s\n", err);
      goto out;
    }
    if (as_json) {
      char *text = json_dumps(doc, JSON_INDENT(2));
      if (text) puts(text);
      free(text);
    } else {
      print_table(doc);
    }
    json_decref(doc);
    rc = 0;
  } else {
    char key[64];
    snprintf(key, sizeof key, "node.%s", node);
    json_t *v = get_json(kv, key);
    if (!v) {
      fprintf(stderr, "quiver cluster: no member '%s'\n", node);
      goto out;
    }
    int64_t age = cl_now_ms() - (int64_t)json_integer_value(json_object_get(v, "ts"));
    int stopped = json_is_true(json_object_get(v, "stopped"));
    json_decref(v);
    if (age < CL_LIVE_MS && !stopped && !force) {
      fprintf(stderr, "quiver cluster: node %s is live (heartbeat %lld ms ago); stop it first or use --force\n", node,
              (long long)age);
      goto out;
    }
    if (kvStore_Delete(kv, key) != NATS_OK) {
      fprintf(stderr, "quiver cluster: removing %s failed: %s\n", node, nats_GetLastError(NULL));
      goto out;
    }
    printf("removed %s\n", node);
    rc = 0;
  }
out:
  kvStore_Destroy(kv);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  natsOptions_Destroy(no);
  free(copy);
  nats_Close();
  return rc;
}
