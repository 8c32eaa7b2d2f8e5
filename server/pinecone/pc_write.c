/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * pc_write.c -- upsert, update, delete on the Pinecone data plane.
 *
 * Pinecone's upsert replaces a record whole, while quiver's merges metadata per key: the
 * upsert reads the stored metadata of the ids it overwrites and sets every old key it does
 * not write again to null (quiver's "remove this key"). update merges (setMetadata) and
 * keeps PC_KEYS, the list of the record's metadata keys, in step. These read-then-write
 * pairs run under one mutex for the whole Pinecone face (with deletes and namespace drops,
 * so a namespace cannot vanish between its opening and the write), so two Pinecone writes
 * to one id cannot interleave (quiver serialises writes anyway: it costs no parallelism).
 *
 * Every request is validated before anything is written; errors name the field and the
 * vector's position: "vectors[3].values: Vector dimension 2 does not match the dimension of
 * the index 3".
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pc.h"

static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

void pc_lock(void) { pthread_mutex_lock(&write_lock); }
void pc_unlock(void) { pthread_mutex_unlock(&write_lock); }

static const char sparse_msg[] = "Index configuration does not support sparse values - only "
                                 "indexes that are configured to use the dotproduct metric "
                                 "support sparse values";

/* Dense values into out[0..dim); 0, or -1 after replying. */
static int parse_values(json_t *v, const pc_index *ix, float *out, const char *field,
                        srv_resp *rs) {
  size_t n = json_array_size(v);
  if (!json_is_array(v)) {
    pc_err(rs, 400, "%s: expected an array of numbers", field);
    return -1;
  }
  if (n != ix->dim) {
    pc_err(rs, 400, "%s: Vector dimension %zu does not match the dimension of the index %u",
           field, n, ix->dim);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(v, i);
    double d = json_number_value(e);
    if (!json_is_number(e) || !isfinite(d) || fabs(d) > 3.4e38) {
      pc_err(rs, 400, "%s[%zu]: expected a finite number", field, i);
      return -1;
    }
    out[i] = (float)d;
  }
  return 0;
}

/* The namespace field of a body: 0 ok (*ns borrowed, NULL when absent), -1 after 400. */
static int body_ns(json_t *body, const char **ns, srv_resp *rs) {
  json_t *v = json_object_get(body, "namespace");
  *ns = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v)) {
    pc_err(rs, 400, "namespace: expected a string");
    return -1;
  }
  *ns = json_string_value(v);
  return pc_ns_check(*ns, rs);
}

/* Stored metadata objects of ids in c, keyed by id (new object; ids absent are missing). */
static json_t *stored_meta(qv_collection *c, const char *const *ids, size_t n, qv_status *rc) {
  qv_get_opts o;
  qv_results *r = NULL;
  json_t *out = json_object();
  qv_get_opts_init(&o);
  o.ids = ids;
  o.n_ids = n;
  o.include = QV_INCLUDE_METADATAS;
  *rc = out ? qv_collection_get_records(c, &o, &r) : QV_NOMEM;
  if (*rc != QV_OK) {
    json_decref(out);
    return NULL;
  }
  for (size_t i = 0; i < qv_results_count(r, 0); i++) {
    const char *m = qv_results_metadata(r, 0, i);
    json_t *j = m ? json_loads(m, 0, NULL) : json_object();
    if (!j || json_object_set_new(out, qv_results_id(r, 0, i), j)) {
      *rc = QV_NOMEM;
      break;
    }
  }
  qv_results_free(r);
  return out;
}

static int cmp_str_idx(const void *a, const void *b, void *ids_) {
  const char *const *ids = ids_;
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  int c = strcmp(ids[x], ids[y]);
  return c ? c : (x > y) - (x < y);
}

/* ------------------------------------------------------------------ upsert */

typedef pc_up_rec up_rec;

static int parse_vectors(json_t *arr, const pc_index *ix, up_rec *recs, float *emb,
                         srv_resp *rs) {
  size_t n = json_array_size(arr);
  char field[64];
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_array_get(arr, i), *vals, *sp, *m;
    const char *id;
    if (!json_is_object(v)) {
      pc_err(rs, 400, "vectors[%zu]: expected an object with id and values", i);
      return -1;
    }
    id = json_string_value(json_object_get(v, "id"));
    if (!id || !*id || strlen(id) > PC_MAX_ID) {
      pc_err(rs, 400, "vectors[%zu].id: expected a string of 1 to %d bytes", i, PC_MAX_ID);
      return -1;
    }
    recs[i].id = id;
    vals = json_object_get(v, "values");
    if (!vals || json_is_null(vals)) {
      pc_err(rs, 400, "vectors[%zu].values: required (this index is dense, dimension %u)", i,
             ix->dim);
      return -1;
    }
    snprintf(field, sizeof field, "vectors[%zu].values", i);
    if (parse_values(vals, ix, emb + i * ix->dim, field, rs)) return -1;
    sp = json_object_get(v, "sparseValues");
    if (sp && !json_is_null(sp)) {
      if (ix->metric != PC_DOTPRODUCT) {
        pc_err(rs, 400, "vectors[%zu].sparseValues: %s", i, sparse_msg);
        return -1;
      }
      snprintf(field, sizeof field, "vectors[%zu].sparseValues", i);
      if (pc_sparse_parse(sp, field, &recs[i].sp, rs)) return -1;
    }
    m = json_object_get(v, "metadata");
    if (m && !json_is_null(m)) {
      snprintf(field, sizeof field, "vectors[%zu].metadata", i);
      if (pc_meta_check(m, field, rs)) return -1;
      recs[i].meta = m;
    }
  }
  return 0;
}

/* Mark all but the last occurrence of each id as skipped (Pinecone: the last one wins). */
static int dedupe(up_rec *recs, size_t n) {
  size_t *ord = malloc(n * sizeof *ord);
  const char **ids = malloc(n * sizeof *ids);
  if (!ord || !ids) {
    free(ord);
    free(ids);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    ord[i] = i;
    ids[i] = recs[i].id;
  }
  qsort_r(ord, n, sizeof *ord, cmp_str_idx, ids);
  for (size_t i = 0; i + 1 < n; i++)
    if (!strcmp(ids[ord[i]], ids[ord[i + 1]])) recs[ord[i]].skip = 1;
  free(ord);
  free(ids);
  return 0;
}

qv_status pc_upsert_records(qv_collection *c, const char *const *ids, const float *rows, uint32_t dim,
                            json_t *const *um, const pc_sparse *const *sps, size_t k, const char *pos_key,
                            uint64_t pos) {
  char **metas = calloc(k ? k : 1, sizeof *metas);
  json_t *old = NULL;
  qv_status rc = metas ? QV_OK : QV_NOMEM;
  qv_batch b;
  if (rc == QV_OK) old = stored_meta(c, ids, k, &rc);
  for (size_t j = 0; rc == QV_OK && j < k; j++) {
    json_t *m = pc_meta_store(um[j], sps[j], json_object_get(old, ids[j]));
    if (!m) rc = QV_NOMEM;
    else if (json_object_size(m) && !(metas[j] = json_dumps(m, JSON_COMPACT))) rc = QV_NOMEM;
    json_decref(m);
  }
  if (rc == QV_OK) {
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    b.n = k;
    b.ids = ids;
    b.embeddings = rows;
    b.metadatas = (const char *const *)metas;
    b.dim = dim;
    b.position_key = pos_key;
    b.position = pos;
    rc = qv_collection_upsert(c, &b);
  }
  json_decref(old);
  for (size_t j = 0; metas && j < k; j++) free(metas[j]);
  free(metas);
  return rc;
}

/* Write the kept records (under write_lock). */
static void upsert_write(srv_req *rq, srv_resp *rs, const pc_index *ix, const char *ns,
                         up_rec *recs, const float *emb, size_t n, size_t n_sent) {
  size_t k = 0;
  const char **ids = calloc(n, sizeof *ids);
  json_t **um = calloc(n, sizeof *um);
  const pc_sparse **sps = calloc(n, sizeof *sps);
  float *rows = malloc(n * ix->dim * sizeof *rows);
  qv_collection *c = NULL;
  qv_status rc;
  if (!ids || !um || !sps || !rows) {
    pc_err(rs, 500, "out of memory");
    goto done;
  }
  if (rq->s->cluster) {
    pc_cl_upsert(rq, rs, ix, ns, recs, emb, n);
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    if (recs[i].skip) continue;
    ids[k] = recs[i].id;
    um[k] = recs[i].meta;
    sps[k] = &recs[i].sp;
    memcpy(rows + k * ix->dim, emb + i * ix->dim, ix->dim * sizeof *rows);
    k++;
  }
  pthread_mutex_lock(&write_lock);
  rc = pc_ns_open(rq->s, ix, ns, 1, &c);
  if (rc == QV_OK) rc = pc_upsert_records(c, ids, rows, ix->dim, um, sps, k, NULL, 0);
  if (rc == QV_OK) {
    sbuf out = {0};
    sbuf_printf(&out, "{\"upsertedCount\":%zu}", n_sent);
    sbuf_reply(&out, rs, 200);
  } else {
    pc_err_qv(rs, rq->s, rc);
  }
  pthread_mutex_unlock(&write_lock);
done:
  qv_collection_release(c);
  free(um);
  free((void *)sps);
  free(ids);
  free(rows);
}

void pc_upsert(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  json_t *body = pc_body(rq, rs, 0, 0), *arr;
  const char *ns;
  up_rec *recs = NULL;
  float *emb = NULL;
  size_t n;
  if (!body) return;
  arr = json_object_get(body, "vectors");
  n = json_array_size(arr);
  if (body_ns(body, &ns, rs)) goto done;
  if (!json_is_array(arr) || n == 0) {
    pc_err(rs, 400, "vectors: expected a non-empty array of vectors");
    goto done;
  }
  if (n > PC_MAX_UPSERT) {
    pc_err(rs, 400, "vectors: %zu vectors in one request, more than the %d allowed", n,
           PC_MAX_UPSERT);
    goto done;
  }
  recs = calloc(n, sizeof *recs);
  emb = malloc(n * ix->dim * sizeof *emb);
  if (!recs || !emb) {
    pc_err(rs, 500, "out of memory");
    goto done;
  }
  if (parse_vectors(arr, ix, recs, emb, rs)) goto done;
  if (dedupe(recs, n)) {
    pc_err(rs, 500, "out of memory");
    goto done;
  }
  upsert_write(rq, rs, ix, ns, recs, emb, n, n);
done:
  for (size_t i = 0; recs && i < n; i++) pc_sparse_free(&recs[i].sp);
  free(recs);
  free(emb);
  json_decref(body);
}

/* ------------------------------------------------------------------ update */

/* Merge set (may be NULL) into the stored metadata object st; sparse: new_sp if given,
 * else the stored one. New stored object (for quiver's update: per-key merge). */
static json_t *merged_meta(json_t *st, json_t *set, const pc_sparse *new_sp) {
  json_t *user = json_object(), *out = NULL, *v;
  const char *key;
  pc_sparse old_sp = {0};
  if (!user) return NULL;
  json_object_foreach(st, key, v) {
    if (strncmp(key, PC_RESERVED, strlen(PC_RESERVED)) && json_object_set(user, key, v)) goto done;
  }
  if (set && json_object_update(user, set)) goto done;
  if (!new_sp && pc_meta_sparse(st, &old_sp)) goto done;
  out = pc_meta_store(user, new_sp ? new_sp : &old_sp, st);
done:
  pc_sparse_free(&old_sp);
  json_decref(user);
  return out;
}

/* Update the records ids[0..n) (stored metadata in old, keyed by id). */
static qv_status update_records(qv_collection *c, const char *const *ids, size_t n, json_t *old,
                                json_t *set, const pc_sparse *sp, const float *values,
                                uint32_t dim, const char *pos_key, uint64_t pos) {
  char **metas = calloc(n ? n : 1, sizeof *metas);
  qv_status rc = metas ? QV_OK : QV_NOMEM;
  qv_batch b;
  for (size_t i = 0; rc == QV_OK && i < n; i++) {
    json_t *m = merged_meta(json_object_get(old, ids[i]), set, sp);
    if (!m || !(metas[i] = json_dumps(m, JSON_COMPACT))) rc = QV_NOMEM;
    json_decref(m);
  }
  if (rc == QV_OK && n) {
    memset(&b, 0, sizeof b);
    b.struct_size = sizeof b;
    b.n = n;
    b.ids = ids;
    b.embeddings = values;
    b.metadatas = (const char *const *)metas;
    b.dim = values ? dim : 0;
    b.position_key = pos_key;
    b.position = pos;
    rc = qv_collection_update(c, &b, 1);
  }
  for (size_t i = 0; metas && i < n; i++) free(metas[i]);
  free(metas);
  return rc;
}

/* Ids of the records matching where in c (borrowed from *r, which the caller frees). */
static qv_status matching_ids(qv_collection *c, const char *where, qv_results **r,
                              const char ***ids, size_t *n) {
  qv_get_opts o;
  qv_status rc;
  qv_get_opts_init(&o);
  o.where_json = where;
  o.include = 0;
  *ids = NULL;
  *n = 0;
  rc = qv_collection_get_records(c, &o, r);
  if (rc != QV_OK) return rc;
  *n = qv_results_count(*r, 0);
  if (!*n) return QV_OK;
  if (!(*ids = malloc(*n * sizeof **ids))) return QV_NOMEM;
  for (size_t i = 0; i < *n; i++) (*ids)[i] = qv_results_id(*r, 0, i);
  return QV_OK;
}

qv_status pc_update_records(qv_collection *c, const char *id, const char *where, json_t *set, const pc_sparse *sp,
                            const float *values, uint32_t dim, int dry, const char *pos_key, uint64_t pos,
                            size_t *matched, int *wrote) {
  json_t *old = NULL;
  qv_results *r = NULL;
  const char **ids = NULL;
  size_t n = 0;
  qv_status rc = QV_OK;
  *matched = 0;
  *wrote = 0;
  if (id) {
    ids = malloc(sizeof *ids);
    if (!ids) rc = QV_NOMEM;
    else ids[0] = id;
    n = 1;
  } else {
    rc = matching_ids(c, where, &r, &ids, &n);
  }
  if (rc == QV_OK && n) old = stored_meta(c, ids, n, &rc);
  if (rc == QV_OK && id && !json_object_get(old, id)) n = 0; /* no such id: a no-op */
  if (rc == QV_OK && !dry && n) {
    rc = update_records(c, ids, n, old, set, sp, values, dim, pos_key, pos);
    *wrote = rc == QV_OK;
  }
  *matched = n;
  json_decref(old);
  qv_results_free(r);
  free((void *)ids);
  return rc;
}

void pc_update(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  json_t *body = pc_body(rq, rs, 0, 0), *vals, *spj, *set, *idj;
  const char *ns, *id;
  char *where = NULL;
  float *values = NULL;
  pc_sparse sp = {0};
  int have_sp = 0, dry = 0;
  qv_collection *c = NULL;
  size_t n = 0;
  qv_status rc;
  if (!body) return;
  idj = json_object_get(body, "id");
  vals = json_object_get(body, "values");
  spj = json_object_get(body, "sparseValues");
  set = json_object_get(body, "setMetadata");
  id = json_string_value(idj);
  if (body_ns(body, &ns, rs) || pc_filter_field(body, &where, rs)) goto done;
  if (idj && !json_is_null(idj) && (!id || !*id)) {
    pc_err(rs, 400, "id: expected a non-empty string");
    goto done;
  }
  if (id && where) {
    pc_err(rs, 400, "id and filter cannot be given together");
    goto done;
  }
  if (!id && !where) {
    pc_err(rs, 400, "one of id or filter is required");
    goto done;
  }
  if (json_is_true(json_object_get(body, "dryRun"))) dry = 1;
  if (vals && !json_is_null(vals)) {
    if (where) {
      pc_err(rs, 400, "values cannot be set by filter: give an id");
      goto done;
    }
    if (!(values = malloc(ix->dim * sizeof *values))) {
      pc_err(rs, 500, "out of memory");
      goto done;
    }
    if (parse_values(vals, ix, values, "values", rs)) goto done;
  }
  if (spj && !json_is_null(spj)) {
    if (ix->metric != PC_DOTPRODUCT) {
      pc_err(rs, 400, "sparseValues: %s", sparse_msg);
      goto done;
    }
    if (where) {
      pc_err(rs, 400, "sparseValues cannot be set by filter: give an id");
      goto done;
    }
    if (pc_sparse_parse(spj, "sparseValues", &sp, rs)) goto done;
    have_sp = 1;
  }
  if (set && json_is_null(set)) set = NULL;
  if (set && pc_meta_check(set, "setMetadata", rs)) goto done;
  if (rq->s->cluster) {
    pc_cl_update(rq, rs, ix, ns, id, where, set, have_sp ? &sp : NULL, values, dry);
    goto done;
  }
  pthread_mutex_lock(&write_lock);
  rc = pc_ns_open(rq->s, ix, ns, 0, &c);
  if (rc == QV_NOTFOUND) {
    rc = QV_OK; /* nothing to update */
  } else if (rc == QV_OK) {
    int wrote;
    rc = pc_update_records(c, id, where, set, have_sp ? &sp : NULL, values, ix->dim, dry, NULL, 0, &n, &wrote);
  }
  pthread_mutex_unlock(&write_lock);
  if (rc != QV_OK) {
    pc_err_qv(rs, rq->s, rc);
  } else if (where) {
    sbuf out = {0};
    sbuf_printf(&out, "{\"matchedRecords\":%zu}", n);
    sbuf_reply(&out, rs, 200);
  } else {
    srv_reply_text(rs, 200, "{}");
  }
done:
  qv_collection_release(c);
  pc_sparse_free(&sp);
  free(values);
  free(where);
  json_decref(body);
}

/* ------------------------------------------------------------------ delete */

void pc_delete(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  json_t *body = pc_body(rq, rs, 0, 0), *idsj, *all;
  const char *ns;
  char *where = NULL, *name = NULL;
  const char **ids = NULL;
  size_t n = 0, n_del = 0;
  int forms, del_all;
  qv_collection *c = NULL;
  qv_status rc = QV_OK;
  if (!body) return;
  idsj = json_object_get(body, "ids");
  all = json_object_get(body, "deleteAll");
  if (body_ns(body, &ns, rs) || pc_filter_field(body, &where, rs)) goto done;
  if (all && !json_is_null(all) && !json_is_boolean(all)) {
    pc_err(rs, 400, "deleteAll: expected a boolean");
    goto done;
  }
  del_all = json_is_true(all);
  if (idsj && !json_is_null(idsj)) {
    if (!json_is_array(idsj)) {
      pc_err(rs, 400, "ids: expected an array of strings");
      goto done;
    }
    n = json_array_size(idsj);
    if (n > PC_MAX_FETCH) {
      pc_err(rs, 400, "ids: %zu ids in one request, more than the %d allowed", n, PC_MAX_FETCH);
      goto done;
    }
    if (n && !(ids = malloc(n * sizeof *ids))) {
      pc_err(rs, 500, "out of memory");
      goto done;
    }
    for (size_t i = 0; i < n; i++) {
      ids[i] = json_string_value(json_array_get(idsj, i));
      if (!ids[i] || !*ids[i]) {
        pc_err(rs, 400, "ids[%zu]: expected a non-empty string", i);
        goto done;
      }
    }
  }
  forms = (n > 0) + del_all + (where != NULL);
  if (forms != 1) {
    pc_err(rs, 400, forms ? "give only one of ids, deleteAll or filter"
                          : "one of ids (non-empty), deleteAll: true or filter is required");
    goto done;
  }
  if (rq->s->cluster) {
    pc_cl_delete(rq, rs, ix, ns, ids, n, where, del_all);
    goto done;
  }
  pthread_mutex_lock(&write_lock);
  if (del_all) {
    if (!(name = pc_coll_name(ix->name, pc_ns_norm(ns)))) rc = QV_NOMEM;
    else rc = qv_collection_delete(rq->s->db, name);
    if (rc == QV_NOTFOUND) rc = QV_OK;
  } else {
    rc = pc_ns_open(rq->s, ix, ns, 0, &c);
    if (rc == QV_OK) rc = qv_collection_delete_records(c, ids, n, where, NULL, 0, &n_del);
    else if (rc == QV_NOTFOUND) rc = QV_OK;
  }
  pthread_mutex_unlock(&write_lock);
  if (rc != QV_OK) pc_err_qv(rs, rq->s, rc);
  else srv_reply_text(rs, 200, "{}");
done:
  qv_collection_release(c);
  free(name);
  free((void *)ids);
  free(where);
  json_decref(body);
}
