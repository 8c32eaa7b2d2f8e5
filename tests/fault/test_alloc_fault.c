/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_alloc_fault.c -- allocation-failure injection through qv_open_opts.alloc.
 *
 * For N = 1, 2, 3, ... the allocator fails the N-th allocation libquiver makes (once), while
 * a fixed sequence of operations runs: open, create, add batches with metadata and documents
 * (one of them fixing a dim-0 cosine collection's dimension), query with a filter, get,
 * update, upsert, delete by filter and by ids, a batch query, close. For every N:
 *   - every call returns QV_OK or QV_NOMEM (never anything else, never a crash);
 *   - a call that returned QV_NOMEM changed nothing (the collection's full snapshot is as
 *     before), and retried it succeeds;
 *   - after every step the state equals that of a run without failures;
 *   - after close, every block the allocator handed out has been freed.
 * The loop ends at the first N for which the whole sequence ran without reaching the failure.
 * Violations are collected (one line per distinct step/kind) and reported together.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <quiver.h>

/* ------------------------------------------------------------------ the failing allocator */

static atomic_long fa_calls, fa_live, fa_fail_at, fa_failed;
static atomic_int fa_armed;

static int fa_should_fail(void) {
  if (!atomic_load(&fa_armed)) return 0;
  long n = atomic_fetch_add(&fa_calls, 1) + 1;
  if (n == atomic_load(&fa_fail_at)) {
    atomic_fetch_add(&fa_failed, 1);
    return 1;
  }
  return 0;
}

static void *fa_malloc(void *ud, size_t n) {
  (void)ud;
  if (fa_should_fail()) return NULL;
  void *p = malloc(n);
  if (p) atomic_fetch_add(&fa_live, 1);
  return p;
}

static void *fa_realloc(void *ud, void *p, size_t n) {
  (void)ud;
  if (fa_should_fail()) return NULL;
  void *q = realloc(p, n);
  if (q && !p) atomic_fetch_add(&fa_live, 1);
  return q;
}

static void fa_free(void *ud, void *p) {
  (void)ud;
  if (p) atomic_fetch_sub(&fa_live, 1);
  free(p);
}

/* ------------------------------------------------------------------ violations */

static char report[16384];
static int n_violations;

static void violation(long n, const char *step, const char *what, const char *detail) {
  char key[256];
  snprintf(key, sizeof key, "[%s] %s", step, what);
  n_violations++;
  if (strstr(report, key)) return; /* one line per distinct step and kind */
  size_t len = strlen(report);
  snprintf(report + len, sizeof report - len, "%s (first at N=%ld): %.200s\n", key, n, detail ? detail : "");
}

/* ------------------------------------------------------------------ snapshots */

static char *snapshot(qv_db *db, const char *name) {
  int armed = atomic_exchange(&fa_armed, 0);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  qv_collection *c = NULL;
  if (qv_collection_get(db, name, &c) != QV_OK) {
    fprintf(f, "no collection %s\n", name);
    fclose(f);
    atomic_store(&fa_armed, armed);
    return buf;
  }
  uint64_t n = 0;
  qv_collection_count(c, &n);
  uint32_t dim = qv_collection_dim(c);
  fprintf(f, "count=%llu dim=%u\n", (unsigned long long)n, dim);
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS;
  qv_results *r = NULL;
  qv_status rc = qv_collection_get_records(c, &g, &r);
  fprintf(f, "get rc=%d\n", (int)rc);
  for (size_t i = 0; rc == QV_OK && i < qv_results_count(r, 0); i++) {
    const char *m = qv_results_metadata(r, 0, i), *d = qv_results_document(r, 0, i);
    fprintf(f, "%s|%s|%s|", qv_results_id(r, 0, i), m ? m : "-", d ? d : "-");
    const float *e = qv_results_embedding(r, 0, i);
    for (uint32_t j = 0; e && j < dim; j++) fprintf(f, "%a,", (double)e[j]);
    fputc('\n', f);
  }
  qv_results_free(r);
  if (dim) {
    float q[4] = {0.5f, -0.25f, 1, 0.125f};
    rc = qv_collection_query(c, q, 1, 100, NULL, &r);
    fprintf(f, "query rc=%d\n", (int)rc);
    for (size_t i = 0; rc == QV_OK && i < qv_results_count(r, 0); i++)
      fprintf(f, "q:%s %a\n", qv_results_id(r, 0, i), (double)qv_results_distance(r, 0, i));
    qv_results_free(r);
  }
  qv_collection_release(c);
  fclose(f);
  atomic_store(&fa_armed, armed);
  return buf;
}

static char *results_text(const qv_results *r) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  for (size_t q = 0; q < qv_results_nq(r); q++)
    for (size_t i = 0; i < qv_results_count(r, q); i++) {
      const char *m = qv_results_metadata(r, q, i), *d = qv_results_document(r, q, i);
      fprintf(f, "%zu:%s %a %s %s", q, qv_results_id(r, q, i), (double)qv_results_distance(r, q, i), m ? m : "-",
              d ? d : "-");
      const float *e = qv_results_embedding(r, q, i);
      for (uint32_t j = 0; e && j < qv_results_dim(r); j++) fprintf(f, " %a", (double)e[j]);
      fputc('\n', f);
    }
  fclose(f);
  return buf;
}

/* ------------------------------------------------------------------ the operation sequence */

#define DIM 4
#define NREC 8

typedef struct ctx {
  qv_db *db;
  const char *path;
  qv_open_opts opts;
  char *reads;   /* text of a read step's results */
} ctx;

static char ids_buf[NREC][8], metas_buf[NREC][64], docs_buf[NREC][32];
static const char *ids[NREC], *metas[NREC], *docs[NREC];
static float emb[NREC * DIM];

static void init_data(void) {
  for (int i = 0; i < NREC; i++) {
    snprintf(ids_buf[i], sizeof ids_buf[i], "id%d", i);
    snprintf(metas_buf[i], sizeof metas_buf[i], "{\"k\":%d,\"t\":\"%s\",\"a\":[%d,%d]}", i, i % 2 ? "odd" : "even", i,
             i + 1);
    snprintf(docs_buf[i], sizeof docs_buf[i], "document number %d", i);
    ids[i] = ids_buf[i];
    metas[i] = metas_buf[i];
    docs[i] = docs_buf[i];
    for (int j = 0; j < DIM; j++) emb[i * DIM + j] = (float)((i * 7 + j * 3) % 11) - 4.5f;
  }
}

typedef qv_status (*step_fn)(ctx *x);

static qv_status with_col(ctx *x, const char *name, qv_collection **c) {
  qv_status rc = qv_collection_get(x->db, name, c);
  return rc;
}

static qv_status st_create_cos(ctx *x) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.metric = QV_METRIC_COSINE; /* dim 0: fixed by the first add */
  o.metadata_json = "{\"purpose\":\"fault\"}";
  qv_collection *c = NULL;
  qv_status rc = qv_collection_create(x->db, "cos", &o, &c);
  qv_collection_release(c);
  return rc;
}

static qv_status st_create_l2(ctx *x) {
  qv_collection_opts o;
  qv_collection_opts_init(&o);
  o.dim = DIM;
  qv_collection *c = NULL;
  qv_status rc = qv_collection_get_or_create(x->db, "l2", &o, &c, NULL);
  qv_collection_release(c);
  return rc;
}

static qv_status st_add_cos(ctx *x) {
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "cos", &c);
  if (rc) return rc;
  qv_batch b = {0, NREC, ids, emb, metas, docs, DIM};
  rc = qv_collection_add(c, &b, QV_CONFLICT_ERROR);
  qv_collection_release(c);
  return rc;
}

static qv_status st_add_l2(ctx *x) {
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "l2", &c);
  if (rc) return rc;
  qv_batch b = {0, NREC, ids, emb, metas, docs, 0};
  rc = qv_collection_add(c, &b, QV_CONFLICT_ERROR);
  qv_collection_release(c);
  return rc;
}

static qv_status st_query_filter(ctx *x) {
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "cos", &c);
  if (rc) return rc;
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS | QV_INCLUDE_DISTANCES;
  o.where_json = "{\"$or\":[{\"t\":\"odd\"},{\"k\":{\"$lt\":3}}]}";
  o.where_document_json = "{\"$contains\":\"number\"}";
  qv_results *r = NULL;
  rc = qv_collection_query(c, emb + DIM, 1, 5, &o, &r);
  if (rc == QV_OK) x->reads = results_text(r);
  qv_results_free(r);
  qv_collection_release(c);
  return rc;
}

static qv_status st_get(ctx *x) {
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "l2", &c);
  if (rc) return rc;
  qv_get_opts g;
  qv_get_opts_init(&g);
  g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS;
  g.where_json = "{\"a\":{\"$contains\":3}}";
  qv_results *r = NULL;
  rc = qv_collection_get_records(c, &g, &r);
  if (rc == QV_OK) {
    char *t = results_text(r);
    qv_results_free(r);
    r = NULL;
    const char *some[3] = {"id5", "nope", "id1"};
    qv_get_opts_init(&g);
    g.ids = some;
    g.n_ids = 3;
    rc = qv_collection_get_records(c, &g, &r);
    if (rc == QV_OK) {
      char *t2 = results_text(r);
      size_t n = strlen(t) + strlen(t2) + 2;
      x->reads = malloc(n);
      snprintf(x->reads, n, "%s|%s", t, t2);
      free(t2);
    }
    free(t);
  }
  qv_results_free(r);
  qv_collection_release(c);
  return rc;
}

static const char *const upd_ids[3] = {"id2", "id4", "id6"};

static qv_status st_update_meta(ctx *x) {
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "cos", &c);
  if (rc) return rc;
  const char *um[3] = {"{\"t\":null,\"new\":true}", NULL, "{\"k\":60}"};
  const char *ud[3] = {NULL, "updated doc", NULL};
  qv_batch b = {0, 3, upd_ids, NULL, um, ud, 0};
  rc = qv_collection_update(c, &b, 0);
  qv_collection_release(c);
  return rc;
}

static qv_status st_update_emb(ctx *x) {
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "cos", &c);
  if (rc) return rc;
  float ue[2 * DIM] = {1, 2, 3, 4, -4, 3, -2, 1};
  qv_batch b = {0, 2, upd_ids, ue, NULL, NULL, 0};
  rc = qv_collection_update(c, &b, 0);
  qv_collection_release(c);
  return rc;
}

static qv_status st_upsert(ctx *x) {
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "l2", &c);
  if (rc) return rc;
  const char *uids[3] = {"id1", "fresh", "id7"};
  const char *um[3] = {"{\"k\":null,\"z\":[\"p\",\"q\"]}", "{\"k\":100}", NULL};
  float ue[3 * DIM] = {9, 9, 9, 9, -1, -1, -1, -1, 0, 1, 0, 1};
  qv_batch b = {0, 3, uids, ue, um, NULL, 0};
  rc = qv_collection_upsert(c, &b);
  qv_collection_release(c);
  return rc;
}

static qv_status st_delete_filter(ctx *x) {
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "cos", &c);
  if (rc) return rc;
  size_t nd = 0;
  rc = qv_collection_delete_records(c, NULL, 0, "{\"t\":\"odd\"}", NULL, 0, &nd);
  qv_collection_release(c);
  return rc;
}

static qv_status st_delete_ids(ctx *x) {
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "l2", &c);
  if (rc) return rc;
  const char *gone[3] = {"id0", "fresh", "ghost"};
  rc = qv_collection_delete_records(c, gone, 3, "{\"k\":{\"$ne\":5}}", NULL, 0, NULL);
  qv_collection_release(c);
  return rc;
}

static qv_status st_readd(ctx *x) { /* reuses freed slots */
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "cos", &c);
  if (rc) return rc;
  qv_batch b = {0, NREC, ids, emb, metas, docs, 0};
  rc = qv_collection_add(c, &b, QV_CONFLICT_IGNORE);
  qv_collection_release(c);
  return rc;
}

static qv_status st_query_batch(ctx *x) {
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "l2", &c);
  if (rc) return rc;
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES | QV_INCLUDE_METADATAS;
  o.n_threads = 1;
  qv_results *r = NULL;
  rc = qv_collection_query(c, emb, 3, 4, &o, &r);
  if (rc == QV_OK) x->reads = results_text(r);
  qv_results_free(r);
  qv_collection_release(c);
  return rc;
}

static qv_status st_set_metadata(ctx *x) {
  qv_collection *c = NULL;
  qv_status rc = with_col(x, "cos", &c);
  if (rc) return rc;
  rc = qv_collection_set_metadata(c, "{\"purpose\":\"renamed\"}");
  qv_collection_release(c);
  return rc;
}

static qv_status st_rename_away(ctx *x) { return qv_collection_rename(x->db, "l2", "l2b"); }
static qv_status st_rename_back(ctx *x) { return qv_collection_rename(x->db, "l2b", "l2"); }

static const struct {
  const char *name;
  step_fn fn;
  int writes; /* 1: a failure must leave both collections as they were */
} steps[] = {
    {"create(cos, dim 0)", st_create_cos, 1},
    {"get_or_create(l2)", st_create_l2, 1},
    {"add(cos, fixes dim)", st_add_cos, 1},
    {"add(l2)", st_add_l2, 1},
    {"query+filter", st_query_filter, 0},
    {"get", st_get, 0},
    {"update(metadata, document)", st_update_meta, 1},
    {"update(embedding)", st_update_emb, 1},
    {"upsert", st_upsert, 1},
    {"delete(filter)", st_delete_filter, 1},
    {"delete(ids)", st_delete_ids, 1},
    {"add(ignore, reuse slots)", st_readd, 1},
    {"query batch", st_query_batch, 0},
    {"set_metadata", st_set_metadata, 1},
    {"rename", st_rename_away, 1},
    {"rename back", st_rename_back, 1},
};
#define N_STEPS (sizeof steps / sizeof steps[0])

static char *state(ctx *x) {
  char *a = snapshot(x->db, "cos"), *b = snapshot(x->db, "l2"), cat[256] = "";
  int armed = atomic_exchange(&fa_armed, 0);
  char **names = NULL;
  size_t nn = 0;
  if (qv_collection_list(x->db, &names, &nn) == QV_OK)
    for (size_t i = 0; i < nn; i++) {
      strncat(cat, names[i], sizeof cat - strlen(cat) - 2);
      strcat(cat, ",");
    }
  qv_strings_free(names);
  qv_collection *c = NULL;
  if (qv_collection_get(x->db, "cos", &c) == QV_OK) {
    qv_collection_info in;
    if (qv_collection_info_get(c, &in) == QV_OK && in.metadata_json)
      strncat(cat, in.metadata_json, sizeof cat - strlen(cat) - 1);
    qv_collection_info_free(&in);
  }
  qv_collection_release(c);
  atomic_store(&fa_armed, armed);
  size_t n = strlen(a) + strlen(b) + strlen(cat) + 8;
  char *s = malloc(n);
  snprintf(s, n, "%s\n%s--\n%s", cat, a, b);
  free(a);
  free(b);
  return s;
}

/* One run of the sequence with the fail_at-th allocation failing (0 = never). refs: expected states. */
static void run(long n, const char *path, char **ref_state, char **ref_reads, int record) {
  ctx x;
  memset(&x, 0, sizeof x);
  x.path = path;
  qv_open_opts_init(&x.opts);
  x.opts.alloc.malloc_fn = fa_malloc;
  x.opts.alloc.realloc_fn = fa_realloc;
  x.opts.alloc.free_fn = fa_free;
  x.opts.n_threads = 1;
  x.opts.sync = QV_SYNC_NORMAL;
  atomic_store(&fa_calls, 0);
  atomic_store(&fa_failed, 0);
  atomic_store(&fa_fail_at, n);
  atomic_store(&fa_armed, 1);
  qv_status rc;
  for (int attempt = 0; attempt < 2; attempt++) {
    rc = qv_db_open(path, &x.opts, &x.db);
    if (rc == QV_OK) break;
    if (rc != QV_NOMEM) violation(n, "open", "status other than QV_OK/QV_NOMEM", qv_status_name(rc));
    if (x.db) violation(n, "open", "*out not NULL on failure", NULL);
    if (atomic_load(&fa_live) != 0) violation(n, "open", "leak after a failed open", NULL);
  }
  if (rc != QV_OK) {
    atomic_store(&fa_armed, 0);
    return;
  }
  for (size_t s = 0; s < N_STEPS; s++) {
    char *before = steps[s].writes ? state(&x) : NULL;
    rc = steps[s].fn(&x);
    if (rc == QV_NOMEM) {
      if (before) {
        char *after = state(&x);
        if (strcmp(before, after) != 0) violation(n, steps[s].name, "QV_NOMEM but the collection changed", after);
        free(after);
      }
      free(x.reads);
      x.reads = NULL;
      rc = steps[s].fn(&x); /* the failure was one-shot: the retry must succeed */
    }
    free(before);
    if (rc != QV_OK) {
      char d[300];
      snprintf(d, sizeof d, "%s: %s", qv_status_name(rc), qv_db_errmsg(x.db));
      violation(n, steps[s].name, rc == QV_NOMEM ? "retry after QV_NOMEM failed" : "status other than QV_OK/QV_NOMEM", d);
      break;
    }
    char *st = state(&x);
    if (record) {
      ref_state[s] = st;
      ref_reads[s] = x.reads;
    } else {
      if (strcmp(st, ref_state[s]) != 0) violation(n, steps[s].name, "state differs from the run without failures", st);
      if (x.reads && strcmp(x.reads, ref_reads[s]) != 0)
        violation(n, steps[s].name, "results differ from the run without failures", x.reads);
      free(st);
      free(x.reads);
    }
    x.reads = NULL;
  }
  qv_db_close(x.db); /* a checkpoint on disk: may fail quietly, must not leak */
  if (path) {          /* what was acknowledged is what a reopen finds */
    atomic_store(&fa_armed, 0);
    qv_db *db2 = NULL;
    if (qv_db_open(path, &x.opts, &db2) == QV_OK) {
      x.db = db2;
      char *st = state(&x);
      if (!record && strcmp(st, ref_state[N_STEPS - 1]) != 0)
        violation(n, "reopen", "reopened state differs from the run without failures", st);
      free(st);
      qv_db_close(db2);
    } else {
      violation(n, "reopen", "reopen failed", NULL);
    }
  }
  atomic_store(&fa_armed, 0);
  long live = atomic_load(&fa_live);
  if (live != 0) {
    char d[64];
    snprintf(d, sizeof d, "%ld blocks still allocated after close", live);
    violation(n, "close", "leak", d);
    atomic_store(&fa_live, 0);
  }
}

static void fault_loop(int persistent) {
  init_data();
  char dir[64] = "";
  char *ref_state[N_STEPS] = {0}, *ref_reads[N_STEPS] = {0};
  const char *path = NULL;
  char cmd[128];
  if (persistent) {
    /* tmpfs when there is one: fsync is what makes a few hundred opens slow */
    snprintf(dir, sizeof dir, "%s/qv_fault_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    path = dir;
  }
  run(0, path, ref_state, ref_reads, 1);
  cr_assert_eq(n_violations, 0, "the run without failures failed:\n%s", report);
  for (size_t s = 0; s < N_STEPS; s++) cr_assert_not_null(ref_state[s], "reference run reached step %zu", s);
  long total = atomic_load(&fa_calls);
  cr_assert(total > 50, "the allocator sees libquiver's allocations (%ld)", total);
  long n;
  for (n = 1; n < 100000; n++) {
    if (persistent) {
      snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s'", dir, dir);
      cr_assert_eq(system(cmd), 0);
    }
    run(n, path, ref_state, ref_reads, 0);
    if (atomic_load(&fa_failed) == 0) break; /* the sequence completed without reaching the N-th allocation */
  }
  cr_log_info("%s: %ld allocation sites failed in turn, %d violations", persistent ? "on disk" : "in memory", n - 1,
              n_violations);
  for (size_t s = 0; s < N_STEPS; s++) {
    free(ref_state[s]);
    free(ref_reads[s]);
  }
  if (persistent) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
  }
  cr_assert(n > 1, "at least one failure was injected");
  cr_assert_eq(n_violations, 0, "%d violations:\n%s", n_violations, report);
}

Test(alloc_fault, in_memory, .timeout = 120) { fault_loop(0); }
Test(alloc_fault, on_disk, .timeout = 120) { fault_loop(1); }
