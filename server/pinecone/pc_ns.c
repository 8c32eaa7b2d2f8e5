/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * pc_ns.c -- Pinecone indexes and namespaces on quiver collections, and the bookkeeping kept
 * in record metadata (pc.h has the mapping).
 *
 * An index {name} is the library's database {name} of tenant PC_TENANT; its settings are that
 * database's metadata {"kind":"pinecone_index","name","dimension","metric","protect",
 * "created"}. Creating one is qv_database_create, so two racing creates give one 201 and one
 * 409 with no lock of our own; deleting it is qv_database_delete, which drops its namespaces
 * (the database's collections) in the same transaction.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pc.h"

const char *pc_metric_name(pc_metric m) {
  switch (m) {
  case PC_EUCLIDEAN: return "euclidean";
  case PC_DOTPRODUCT: return "dotproduct";
  default: return "cosine";
  }
}

static int metric_parse(const char *s, pc_metric *out) {
  if (!s) return -1;
  if (!strcmp(s, "cosine")) *out = PC_COSINE;
  else if (!strcmp(s, "euclidean")) *out = PC_EUCLIDEAN;
  else if (!strcmp(s, "dotproduct")) *out = PC_DOTPRODUCT;
  else return -1;
  return 0;
}

int pc_valid_index_name(const char *name) {
  size_t n = strlen(name);
  if (n < 1 || n > 45) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (c != '-' || i == 0 || i == n - 1)) return 0;
  }
  return 1;
}

/* Fill ix from a database metadata text; -1 if it is not a well-formed index record. */
static int index_from_meta(const char *text, pc_index *ix) {
  json_t *m = text ? json_loads(text, 0, NULL) : NULL;
  const char *name = json_string_value(json_object_get(m, "name"));
  const char *created = json_string_value(json_object_get(m, "created"));
  json_int_t dim = json_integer_value(json_object_get(m, "dimension"));
  int rc = -1;
  memset(ix, 0, sizeof *ix);
  if (name && strlen(name) < sizeof ix->name && dim > 0 && dim <= PC_MAX_DIM &&
      metric_parse(json_string_value(json_object_get(m, "metric")), &ix->metric) == 0) {
    snprintf(ix->name, sizeof ix->name, "%s", name);
    snprintf(ix->created, sizeof ix->created, "%s", created ? created : "");
    ix->dim = (uint32_t)dim;
    ix->protect = json_is_true(json_object_get(m, "protect"));
    rc = 0;
  }
  json_decref(m);
  return rc;
}

/*
 * A cache of index records, so the data plane's per-request index lookup is a scan of a few
 * names instead of a catalog read and a JSON parse. Index records change only through this
 * file (create, delete; there is no configure) and through the Chroma face's database drop
 * and reset, which call pc_cache_forget(); that keeps the cache exact: a drop bumps the
 * generation, and a record read from the catalog is cached only if no drop happened since the
 * read began, so a deleted index is never cached back. Negative answers are not cached.
 */
#define CACHE_N 64
static pthread_rwlock_t cache_lock = PTHREAD_RWLOCK_INITIALIZER;
static pc_index cache[CACHE_N];
static size_t cache_n;
static uint64_t cache_gen;
static const qsrv *cache_owner;

static int cache_find(const qsrv *s, const char *name, pc_index *out, uint64_t *gen) {
  int hit = 0;
  pthread_rwlock_rdlock(&cache_lock);
  *gen = cache_gen;
  for (size_t i = 0; cache_owner == s && i < cache_n && !hit; i++)
    if (!strcmp(cache[i].name, name)) {
      *out = cache[i];
      hit = 1;
    }
  pthread_rwlock_unlock(&cache_lock);
  return hit;
}

static void cache_put(const qsrv *s, const pc_index *ix, uint64_t gen) {
  pthread_rwlock_wrlock(&cache_lock);
  if (cache_owner != s) {
    cache_owner = s;
    cache_n = 0;
  }
  if (gen == cache_gen && cache_n < CACHE_N) {
    size_t i = 0;
    while (i < cache_n && strcmp(cache[i].name, ix->name)) i++;
    if (i == cache_n) cache[cache_n++] = *ix;
  }
  pthread_rwlock_unlock(&cache_lock);
}

static void cache_drop(const char *name) {
  pthread_rwlock_wrlock(&cache_lock);
  cache_gen++;
  for (size_t i = 0; i < cache_n; i++)
    if (!name || !strcmp(cache[i].name, name)) {
      cache[i--] = cache[--cache_n];
      if (name) break;
    }
  pthread_rwlock_unlock(&cache_lock);
}

void pc_cache_forget(const char *tenant, const char *database) {
  if (!tenant || !strcmp(tenant, PC_TENANT)) cache_drop(database);
}

int pc_index_get(qsrv *s, const char *name, pc_index *out, qv_status *err) {
  uint64_t gen;
  qv_database_info in = {.struct_size = sizeof in};
  qv_status rc;
  int found;
  if (s->cluster) return pc_cl_index_get(s, name, out, err);
  if (!pc_valid_index_name(name)) return 0;
  if (cache_find(s, name, out, &gen)) return 1;
  rc = qv_database_get(s->db, PC_TENANT, name, &in);
  if (rc == QV_NOTFOUND) return 0;
  if (rc != QV_OK) {
    *err = rc;
    return -1;
  }
  found = index_from_meta(in.metadata_json, out) == 0 && !strcmp(out->name, name);
  qv_database_info_free(&in);
  if (found) cache_put(s, out, gen);
  return found;
}

qv_status pc_index_put(qsrv *s, const pc_index *ix) {
  if (s->cluster) return pc_cl_index_put(s, ix);
  json_t *m = json_pack("{s:s,s:s,s:I,s:s,s:b,s:s}", "kind", "pinecone_index", "name", ix->name,
                        "dimension", (json_int_t)ix->dim, "metric", pc_metric_name(ix->metric),
                        "protect", ix->protect, "created", ix->created);
  char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
  qv_status rc = QV_NOMEM;
  if (text) {
    rc = qv_tenant_create(s->db, PC_TENANT);
    if (rc == QV_OK || rc == QV_EXISTS) rc = qv_database_create(s->db, PC_TENANT, ix->name, text, NULL);
  }
  free(text);
  json_decref(m);
  return rc;
}

qv_status pc_index_drop(qsrv *s, const char *name) {
  qv_status rc;
  if (s->cluster) return pc_cl_index_drop(s, name);
  cache_drop(name); /* before and after: no lookup may cache it back in between */
  rc = qv_database_delete(s->db, PC_TENANT, name, NULL); /* the index and its namespaces, at once */
  cache_drop(name);
  return rc;
}

static int cmp_index(const void *a, const void *b) {
  return strcmp(((const pc_index *)a)->name, ((const pc_index *)b)->name);
}

qv_status pc_index_list(qsrv *s, pc_index **out, size_t *n) {
  char **names = NULL;
  size_t cnt = 0, k = 0;
  qv_status rc;
  if (s->cluster) return pc_cl_index_list(s, out, n);
  rc = qv_database_list(s->db, PC_TENANT, &names, &cnt);
  *out = NULL;
  *n = 0;
  if (rc == QV_NOTFOUND) return QV_OK; /* no index was ever made */
  if (rc != QV_OK) return rc;
  if (cnt && !(*out = calloc(cnt, sizeof **out))) rc = QV_NOMEM;
  for (size_t i = 0; rc == QV_OK && i < cnt; i++) {
    qv_database_info in = {.struct_size = sizeof in};
    qv_status r = qv_database_get(s->db, PC_TENANT, names[i], &in);
    if (r == QV_OK && index_from_meta(in.metadata_json, &(*out)[k]) == 0) k++;
    else if (r != QV_OK && r != QV_NOTFOUND) rc = r;
    qv_database_info_free(&in);
  }
  qv_strings_free(names);
  if (rc != QV_OK) {
    free(*out);
    *out = NULL;
    return rc;
  }
  qsort(*out, k, sizeof **out, cmp_index);
  *n = k;
  return QV_OK;
}

/* ------------------------------------------------------------------ namespaces */

const char *pc_ns_norm(const char *ns) { return !ns || !*ns ? PC_NS_DEFAULT : ns; }

char *pc_coll_name(const char *index, const char *ns) {
  size_t n = strlen(PC_TENANT) + strlen(index) + strlen(ns) + 3;
  char *out = malloc(n);
  if (out) snprintf(out, n, "%s/%s/%s", PC_TENANT, index, ns);
  return out;
}

int pc_ns_check(const char *ns, srv_resp *rs) {
  size_t n = strlen(ns);
  if (n > PC_MAX_NS) {
    pc_err(rs, 400, "Namespace name is too long: %zu bytes (at most %d)", n, PC_MAX_NS);
    return -1;
  }
  for (const char *p = ns; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '/') {
      pc_err(rs, 400, "Namespace name '%.100s' is not allowed: no '/' or control characters",
             ns);
      return -1;
    }
  return 0;
}

qv_status pc_ns_open(qsrv *s, const pc_index *ix, const char *ns, int create, qv_collection **out) {
  char *name = pc_coll_name(ix->name, pc_ns_norm(ns));
  qv_status rc;
  *out = NULL;
  if (!name) return QV_NOMEM;
  rc = qv_collection_get(s->db, name, out);
  if (rc == QV_NOTFOUND && create) {
    qv_collection_opts o;
    int created = 0;
    qv_collection_opts_init(&o);
    o.dim = ix->dim;
    o.metric = ix->metric == PC_EUCLIDEAN ? QV_METRIC_L2
               : ix->metric == PC_DOTPRODUCT ? QV_METRIC_IP
                                             : QV_METRIC_COSINE;
    o.index = "hnsw";
    rc = qv_collection_get_or_create(s->db, name, &o, out, &created);
    if (rc != QV_OK) {
      qv_collection_release(*out);
      *out = NULL;
    }
  }
  free(name);
  return rc;
}

void pc_strings_free(char **v, size_t n) {
  for (size_t i = 0; v && i < n; i++) free(v[i]);
  free(v);
}

qv_status pc_ns_list(qsrv *s, const char *index, char ***out, size_t *n) {
  char **names = NULL;
  size_t cnt = 0;
  qv_status rc = qv_collection_list_in(s->db, PC_TENANT, index, &names, &cnt);
  *out = NULL;
  *n = 0;
  if (rc == QV_NOTFOUND) return QV_OK; /* the index was dropped meanwhile: no namespaces */
  if (rc != QV_OK) return rc;
  *out = names; /* NULL-terminated, malloc'd strings: pc_strings_free frees it as well */
  *n = cnt;
  return QV_OK;
}

/* ------------------------------------------------------------------ sparse vectors */

void pc_sparse_free(pc_sparse *sp) {
  free(sp->idx);
  free(sp->val);
  memset(sp, 0, sizeof *sp);
}

static int alloc_sparse(pc_sparse *sp, size_t n) {
  sp->n = n;
  sp->idx = n ? malloc(n * sizeof *sp->idx) : NULL;
  sp->val = n ? malloc(n * sizeof *sp->val) : NULL;
  if (n && (!sp->idx || !sp->val)) {
    pc_sparse_free(sp);
    return -1;
  }
  return 0;
}

typedef struct pair {
  uint32_t i;
  float v;
} pair;

static int cmp_pair(const void *a, const void *b) {
  uint32_t x = ((const pair *)a)->i, y = ((const pair *)b)->i;
  return (x > y) - (x < y);
}

void pc_sparse_sort(pc_sparse *sp) {
  pair *p;
  if (sp->n < 2 || !(p = malloc(sp->n * sizeof *p))) return; /* OOM: left unsorted, see dot */
  for (size_t i = 0; i < sp->n; i++) p[i] = (pair){sp->idx[i], sp->val[i]};
  qsort(p, sp->n, sizeof *p, cmp_pair);
  for (size_t i = 0; i < sp->n; i++) {
    sp->idx[i] = p[i].i;
    sp->val[i] = p[i].v;
  }
  free(p);
}

double pc_sparse_dot(const pc_sparse *a, const pc_sparse *b) {
  double sum = 0;
  for (size_t j = 0; j < b->n; j++) {
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (a->idx[mid] < b->idx[j]) lo = mid + 1;
      else hi = mid;
    }
    if (lo < a->n && a->idx[lo] == b->idx[j]) sum += (double)a->val[lo] * (double)b->val[j];
  }
  return sum;
}

int pc_sparse_parse(json_t *j, const char *field, pc_sparse *out, srv_resp *rs) {
  json_t *ix = json_object_get(j, "indices"), *vals = json_object_get(j, "values");
  size_t n;
  memset(out, 0, sizeof *out);
  if (!json_is_object(j) || !json_is_array(ix) || !json_is_array(vals)) {
    pc_err(rs, 400, "%s: expected an object {\"indices\": [integers], \"values\": [numbers]}",
           field);
    return -1;
  }
  n = json_array_size(ix);
  if (json_array_size(vals) != n) {
    pc_err(rs, 400, "%s: indices and values have different lengths (%zu and %zu)", field, n,
           json_array_size(vals));
    return -1;
  }
  if (n > PC_MAX_SPARSE) {
    pc_err(rs, 400, "%s: %zu non-zero values, more than the %d allowed", field, n,
           PC_MAX_SPARSE);
    return -1;
  }
  if (alloc_sparse(out, n)) {
    pc_err(rs, 500, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *a = json_array_get(ix, i), *v = json_array_get(vals, i);
    double d;
    if (!json_is_integer(a) || json_integer_value(a) < 0 || json_integer_value(a) > 4294967295LL) {
      pc_err(rs, 400, "%s.indices[%zu]: expected an integer in 0..4294967295", field, i);
      goto fail;
    }
    d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || fabs(d) > 3.4e38) {
      pc_err(rs, 400, "%s.values[%zu]: expected a finite number", field, i);
      goto fail;
    }
    out->idx[i] = (uint32_t)json_integer_value(a);
    out->val[i] = (float)d;
  }
  pc_sparse_sort(out);
  for (size_t i = 1; i < n; i++)
    if (out->idx[i] == out->idx[i - 1]) {
      pc_err(rs, 400, "%s.indices: index %u appears more than once", field, out->idx[i]);
      goto fail;
    }
  return 0;
fail:
  pc_sparse_free(out);
  return -1;
}

/* ------------------------------------------------------------------ metadata */

static int reserved(const char *key) { return strncmp(key, PC_RESERVED, strlen(PC_RESERVED)) == 0; }

int pc_meta_check(json_t *m, const char *where, srv_resp *rs) {
  const char *key;
  json_t *v;
  if (!json_is_object(m)) {
    pc_err(rs, 400, "%s: metadata must be an object", where);
    return -1;
  }
  json_object_foreach(m, key, v) {
    if (!*key) {
      pc_err(rs, 400, "%s: metadata keys must not be empty", where);
      return -1;
    }
    if (reserved(key) || key[0] == '$') {
      pc_err(rs, 400, "%s: metadata key '%.100s' is reserved (keys starting with '%s' or '$')",
             where, key, PC_RESERVED);
      return -1;
    }
    if (json_is_string(v) || json_is_number(v) || json_is_boolean(v)) continue;
    if (json_is_array(v)) {
      size_t i;
      json_t *e;
      json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
          pc_err(rs, 400, "%s: metadata field '%.100s': list element %zu is not a string "
                          "(lists may hold strings only)", where, key, i);
          return -1;
        }
      }
      continue;
    }
    pc_err(rs, 400, "%s: metadata field '%.100s' must be a string, number, boolean or list of "
                    "strings, got %s", where, key, json_is_null(v) ? "null" : "an object");
    return -1;
  }
  return 0;
}

/* base64 (padded) of the little-endian (uint32 index, float32 value) pairs of sp. */
static char *sparse_encode(const pc_sparse *sp) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t nb = sp->n * 8, o = 0;
  unsigned char *raw = malloc(nb ? nb : 1);
  char *out = malloc((nb + 2) / 3 * 4 + 1);
  if (!raw || !out) {
    free(raw);
    free(out);
    return NULL;
  }
  for (size_t i = 0; i < sp->n; i++) {
    uint32_t v;
    memcpy(&v, &sp->val[i], 4);
    for (int k = 0; k < 4; k++) {
      raw[8 * i + (size_t)k] = (unsigned char)(sp->idx[i] >> (8 * k));
      raw[8 * i + 4 + (size_t)k] = (unsigned char)(v >> (8 * k));
    }
  }
  for (size_t i = 0; i < nb; i += 3) {
    uint32_t w = (uint32_t)raw[i] << 16 | (i + 1 < nb ? (uint32_t)raw[i + 1] << 8 : 0) |
                 (i + 2 < nb ? raw[i + 2] : 0);
    out[o++] = tab[w >> 18 & 63];
    out[o++] = tab[w >> 12 & 63];
    out[o++] = i + 1 < nb ? tab[w >> 6 & 63] : '=';
    out[o++] = i + 2 < nb ? tab[w & 63] : '=';
  }
  out[o] = '\0';
  free(raw);
  return out;
}

json_t *pc_meta_store(json_t *um, const pc_sparse *sp, json_t *old) {
  json_t *out = json_object(), *keys = NULL, *v;
  const char *key;
  if (!out) return NULL;
  if (um && json_object_size(um)) {
    if (!(keys = json_array())) goto oom;
    json_object_foreach(um, key, v) {
      if (json_object_set(out, key, v) || json_array_append_new(keys, json_string(key))) goto oom;
    }
    if (json_object_set_new(out, PC_KEYS, keys)) {
      keys = NULL;
      goto oom;
    }
    keys = NULL;
  }
  if (sp && sp->n) {
    char *text = sparse_encode(sp);
    if (!text || json_object_set_new(out, PC_SPARSE, json_string(text))) {
      free(text);
      goto oom;
    }
    free(text);
  }
  if (old) {
    json_object_foreach(old, key, v) {
      if (!json_object_get(out, key) && json_object_set_new(out, key, json_null())) goto oom;
    }
  }
  return out;
oom:
  json_decref(keys);
  json_decref(out);
  return NULL;
}

json_t *pc_meta_user(const char *stored) {
  json_t *m = stored ? json_loads(stored, 0, NULL) : NULL;
  const char *key;
  json_t *v;
  void *tmp;
  if (!json_is_object(m)) {
    json_decref(m);
    return json_object();
  }
  json_object_foreach_safe(m, tmp, key, v) {
    if (reserved(key)) json_object_del(m, key);
  }
  return m;
}

/* 6-bit value of each base64 character, 64 for any other byte. */
static unsigned char b64_tab[256];
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void b64_init(void) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  memset(b64_tab, 64, sizeof b64_tab);
  for (int i = 0; i < 64; i++) b64_tab[(unsigned char)tab[i]] = (unsigned char)i;
}

/* Decode what sparse_encode wrote (a table lookup per character, straight into the pairs:
 * this runs for every record of a hybrid scan). Not such a string: none (0). -1 on OOM. */
static int sparse_decode(const char *b64, size_t len, pc_sparse *out) {
  size_t nb, pad = 0;
  unsigned char *raw;
  memset(out, 0, sizeof *out);
  pthread_once(&b64_once, b64_init);
  if (len == 0 || len % 4) return 0;
  if (b64[len - 1] == '=') pad++;
  if (b64[len - 2] == '=') pad++;
  nb = len / 4 * 3 - pad;
  if (nb % 8) return 0;
  if (!(raw = malloc(nb + 3))) return -1;
  for (size_t i = 0, o = 0; i < len; i += 4) {
    unsigned a = b64_tab[(unsigned char)b64[i]], b = b64_tab[(unsigned char)b64[i + 1]];
    unsigned c = i + 4 == len && pad >= 2 ? 0 : b64_tab[(unsigned char)b64[i + 2]];
    unsigned d = i + 4 == len && pad >= 1 ? 0 : b64_tab[(unsigned char)b64[i + 3]];
    if ((a | b | c | d) & 64) {
      free(raw);
      return 0;
    }
    raw[o++] = (unsigned char)(a << 2 | b >> 4);
    raw[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
    raw[o++] = (unsigned char)((c & 3) << 6 | d);
  }
  if (alloc_sparse(out, nb / 8)) {
    free(raw);
    return -1;
  }
  for (size_t i = 0; i < out->n; i++) {
    const unsigned char *p = raw + 8 * i;
    uint32_t v = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
    out->idx[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    memcpy(&out->val[i], &v, 4);
  }
  free(raw);
  return 0;
}

int pc_meta_sparse(json_t *stored, pc_sparse *out) {
  const char *t = json_string_value(json_object_get(stored, PC_SPARSE));
  memset(out, 0, sizeof *out);
  return t ? sparse_decode(t, strlen(t), out) : 0;
}

int pc_meta_sparse_text(const char *stored, pc_sparse *out) {
  static const char key[] = "\"" PC_SPARSE "\":\"";
  const char *p = stored ? strstr(stored, key) : NULL, *e;
  memset(out, 0, sizeof *out);
  if (!p) return 0;
  p += sizeof key - 1;
  if (!(e = strchr(p, '"'))) return 0;
  return sparse_decode(p, (size_t)(e - p), out);
}
