/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fuzz_server_body.c -- libFuzzer target for the HTTP server's request-body readers: the
 * query and add/upsert fast paths (server/chroma/query_fast.c, which hand anything unusual
 * to the general path), the general Jansson reader with its depth limit and typed field readers (server/json.c,
 * rec_read.c, rec_batch.c) and the collection routes' bodies (routes_coll.c, coll_config.c).
 *
 * The request goes through srv_dispatch exactly as libmicrohttpd's callback hands it over
 * (a NUL-terminated body), against an in-memory database with the server catalog and one
 * collection "fzz" of three records. The first byte picks the route (query twice as often:
 * it is the one with two readers), the rest is the body. Invariants: no crash, no 5xx (bad
 * input is the client's error), and every reply is one JSON value. Collections a create
 * made are dropped and "fzz" is rebuilt after every write that succeeded, and after a refused
 * one that changed anything fingerprint() sees, so each input starts from the same state.
 * Built by CMake with -DQV_FUZZ=ON (docs/FUZZING.md).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static qsrv srv;
static char coll_id[64];
static int dirty = 1;

static void dispatch(int method, const char *op, const char *id, const char *body, size_t len, srv_resp *rs) {
  static char s0[] = "api", s1[] = "v2", s2[] = "tenants", s3[] = SRV_DEFAULT_TENANT, s4[] = "databases",
              s5[] = SRV_DEFAULT_DATABASE, s6[] = "collections";
  char s7[64], s8[16];
  srv_req rq;
  memset(&rq, 0, sizeof rq);
  memset(rs, 0, sizeof *rs);
  rq.s = &srv;
  rq.method = method;
  rq.seg[0] = s0, rq.seg[1] = s1, rq.seg[2] = s2, rq.seg[3] = s3, rq.seg[4] = s4, rq.seg[5] = s5, rq.seg[6] = s6;
  rq.n_seg = 7;
  if (id) {
    snprintf(s7, sizeof s7, "%s", id);
    rq.seg[rq.n_seg++] = s7;
  }
  if (op) {
    snprintf(s8, sizeof s8, "%s", op);
    rq.seg[rq.n_seg++] = s8;
  }
  rq.body = body;
  rq.body_len = len;
  srv_dispatch(&rq, rs);
}

static void must(int method, const char *op, const char *id, const char *body) {
  srv_resp rs;
  dispatch(method, op, id, body, strlen(body), &rs);
  if (rs.status != 200 && rs.status != 201) {
    fprintf(stderr, "fuzz_server_body set-up: %d %s\n", rs.status, rs.body ? rs.body : "");
    abort();
  }
  if (!op && !id && method == M_POST) { /* collection create: remember the id */
    json_t *j = json_loads(rs.body, 0, NULL);
    const char *v = json_string_value(json_object_get(j, "id"));
    if (!v) abort();
    snprintf(coll_id, sizeof coll_id, "%s", v);
    json_decref(j);
  }
  free(rs.body);
}

static void reset(void) {
  /* every tenant, database and collection an input made goes; the defaults stay, empty */
  if (srv_catalog_reset(&srv) != QV_OK) abort();
  must(M_POST, NULL, NULL, "{\"name\":\"fzz\",\"metadata\":{\"m\":1}}");
  must(M_POST, "add", coll_id,
       "{\"ids\":[\"a\",\"b\",\"c\"],\"embeddings\":[[1,0,0],[0,1,0],[0,0,1]],"
       "\"metadatas\":[{\"k\":1},{\"k\":2,\"s\":\"x\"},null],\"documents\":[\"hello\",\"world\",null]}");
  dirty = 0;
}

/*
 * What a client or the next input could see of the database: every collection's name, uuid,
 * settings, metadata, index stats (count, slots, tombstones, top level, last sequence), all
 * its records (ids, embeddings, metadata, documents) and the answer to one query over all of
 * them. Compared before and after a write the server refused (4xx): if nothing differs, the
 * state the next input starts from is the one reset() builds, and rebuilding it (a collection
 * dropped, created and filled, most of this target's time) is skipped. A write that succeeded
 * always resets. Returns a malloc'd string.
 */
static char *fingerprint(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) abort();
  char **names = NULL;
  size_t n = 0;
  if (qv_collection_list(srv.db, &names, &n) != QV_OK) abort();
  for (size_t i = 0; i < n; i++) {
    qv_collection *c = NULL;
    if (qv_collection_get(srv.db, names[i], &c) != QV_OK) abort();
    qv_collection_info in = {.struct_size = sizeof in};
    if (qv_collection_info_get(c, &in) != QV_OK) abort();
    qv_index_stats st = {.struct_size = sizeof st};
    if (qv_collection_stats_get(c, &st) != QV_OK) abort();
    fprintf(f, "[%s|%s|%u|%d|%s|%s|%s|%llu|%llu|%llu|%u|%llu]", in.name, in.uuid, in.dim, (int)in.metric, in.index,
            in.params_json, in.metadata_json ? in.metadata_json : "-", (unsigned long long)st.count,
            (unsigned long long)st.n_slots, (unsigned long long)st.n_tombstones, st.max_level,
            (unsigned long long)st.last_seq);
    qv_get_opts g;
    qv_get_opts_init(&g);
    g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS;
    qv_results *r = NULL;
    if (qv_collection_get_records(c, &g, &r) != QV_OK) abort();
    uint32_t dim = qv_results_dim(r);
    for (size_t k = 0; k < qv_results_count(r, 0); k++) {
      const char *m = qv_results_metadata(r, 0, k), *d = qv_results_document(r, 0, k);
      fprintf(f, "{%s|%s|%s|", qv_results_id(r, 0, k), m ? m : "-", d ? d : "-");
      const float *e = qv_results_embedding(r, 0, k);
      for (uint32_t j = 0; e && j < dim; j++) fprintf(f, "%a,", (double)e[j]);
      fputc('}', f);
    }
    qv_results_free(r);
    if (in.dim && in.count && in.dim <= 4096) { /* the index's answer, not only the store's */
      float *q = malloc(in.dim * sizeof *q);
      if (!q) abort();
      for (uint32_t j = 0; j < in.dim; j++) q[j] = 0.25f * (float)(j + 1);
      qv_query_opts o;
      qv_query_opts_init(&o);
      o.include = QV_INCLUDE_DISTANCES;
      if (qv_collection_query(c, q, 1, (size_t)in.count + 1, &o, &r) != QV_OK) abort();
      for (size_t k = 0; k < qv_results_count(r, 0); k++)
        fprintf(f, "<%s|%a>", qv_results_id(r, 0, k), (double)qv_results_distance(r, 0, k));
      qv_results_free(r);
      free(q);
    }
    qv_collection_info_free(&in);
    qv_collection_release(c);
  }
  qv_strings_free(names);
  if (fclose(f) != 0) abort();
  return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!srv.db) {
    if (qv_db_open(NULL, NULL, &srv.db) != QV_OK) abort();
    srv.max_body = 1 << 20;
  }
  if (size < 1) return 0;
  if (dirty) reset();
  static char *clean; /* fingerprint() of the state reset() built */
  if (!clean) clean = fingerprint();
  static const struct {
    int method;
    const char *op;
    int by_id, writes;
  } routes[] = {
      {M_POST, "query", 1, 0},  {M_POST, "query", 1, 0}, {M_POST, "get", 1, 0},    {M_POST, "delete", 1, 1},
      {M_POST, "add", 1, 1},    {M_POST, "upsert", 1, 1}, {M_POST, "update", 1, 1}, {M_POST, NULL, 0, 1},
      {M_PUT, NULL, 1, 1},
  };
  unsigned r = data[0] % (sizeof routes / sizeof routes[0]);
  char *body = malloc(size); /* size - 1 bytes and the NUL http.c adds */
  if (!body) return 0;
  memcpy(body, data + 1, size - 1);
  body[size - 1] = 0;
  srv_resp rs;
  dispatch(routes[r].method, routes[r].op, routes[r].by_id ? coll_id : NULL, body, size - 1, &rs);
  if (rs.status < 200 || rs.status >= 500) {
    fprintf(stderr, "status %d for %s: %s\n", rs.status, routes[r].op ? routes[r].op : "collection",
            rs.body ? rs.body : "");
    abort();
  }
  if (rs.body) { /* one JSON value (NULL body = "{}") */
    json_error_t e;
    json_t *j = json_loadb(rs.body, rs.len, JSON_DECODE_ANY, &e);
    if (!j) {
      fprintf(stderr, "reply is not JSON (%s): %.*s\n", e.text, (int)rs.len, rs.body);
      abort();
    }
    json_decref(j);
  }
  free(rs.body);
  free(body);
  if (routes[r].writes) {
    char *now = rs.status < 300 ? NULL : fingerprint();
    if (!now || strcmp(now, clean) != 0) {
      dirty = 1;
      free(clean);
      clean = NULL;
    }
    free(now);
  }
  return 0;
}
