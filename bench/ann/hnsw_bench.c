/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * hnsw_bench.c -- standalone recall/QPS driver for the HNSW index, without Python in the way
 * (for perf / callgrind). Reads DATASET/{base,query}.fvecs and gt.ivecs (TEXMEX), builds the
 * index through its vtable, then sweeps ef with single-threaded queries, k = 10.
 *
 *   hnsw_bench DATASET [-M 16] [-efc 200] [-t threads] [-n nbase] [-q nquery]
 *              [-ef 10,20,40,80] [-metric l2|ip|cosine] [-gt gt.ivecs] [-runs 3]
 *              [-churn] [-save FILE] [-cache FILE (load it, or build and save it)] [-filter]
 *              [-params '"quantizer":"sq4","rerank":3' (more of the kind's JSON parameters)]
 * -filter: queries restricted to the query's label (base_labels.txt / query_labels.txt, 10%
 * selective on Fashion-MNIST), scored against gt_samelabel.ivecs, after the normal sweep.
 * With -n smaller than the base (or -metric other than the data's), the ground truth is
 * computed by brute force. -churn deletes 10% of the records, gives 30% others the vectors
 * of different records, and compares recall with a fresh build of the final contents.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "dist.h"
#include "index.h"

/* CPU time of this thread: on a shared machine it is steadier than wall time. */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static double g_cpu_qps;

static int32_t *read_labels(const char *path, size_t n) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  int32_t *l = malloc(n * sizeof *l);
  for (size_t i = 0; i < n; i++)
    if (fscanf(f, "%d", &l[i]) != 1) { free(l); fclose(f); return NULL; }
  fclose(f);
  return l;
}

typedef struct label_ctx {
  const int32_t *labels;
  int32_t want;
} label_ctx;

static int label_pred(void *ctx, uint32_t slot) {
  const label_ctx *c = ctx;
  return c->labels[slot] == c->want;
}

static double filtered_recall(const qv_index_vt *vt, qv_index *ix, const float *q, size_t nq, uint32_t dim,
                              const int32_t *gt, size_t gtk, size_t k, uint32_t ef, const int32_t *bl,
                              const int32_t *ql, double *qps, size_t *short_results) {
  qv_hit out[64];
  size_t hits = 0, shorts = 0;
  double c0 = cpu_now();
  for (size_t i = 0; i < nq; i++) {
    label_ctx lc = {bl, ql[i]};
    qv_search_req req = {q + i * dim, k, ef, label_pred, &lc, NULL};
    size_t n = 0;
    vt->search(ix, &req, out, &n);
    shorts += n < k;
    for (size_t a = 0; a < n; a++)
      for (size_t b = 0; b < k; b++)
        if ((int32_t)out[a].slot == gt[i * gtk + b]) { hits++; break; }
  }
  *qps = (double)nq / (cpu_now() - c0);
  *short_results = shorts;
  return (double)hits / (double)(nq * k);
}

static float *read_fvecs(const char *path, size_t *n, uint32_t *dim) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  int32_t d;
  if (fread(&d, 4, 1, f) != 1 || d <= 0) { fclose(f); return NULL; }
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  size_t rows = (size_t)sz / (4 + (size_t)d * 4);
  float *x = malloc(rows * (size_t)d * sizeof *x);
  for (size_t i = 0; i < rows; i++) {
    if (fread(&d, 4, 1, f) != 1 || fread(x + i * (size_t)d, 4, (size_t)d, f) != (size_t)d) {
      fclose(f); free(x); return NULL;
    }
  }
  fclose(f);
  *n = rows;
  *dim = (uint32_t)d;
  return x;
}

static int32_t *read_ivecs(const char *path, size_t *n, uint32_t *dim) {
  return (int32_t *)(void *)read_fvecs(path, n, dim);
}

static void brute_gt(qv_metric m, const float *base, size_t nb, const float *q, size_t nq, uint32_t dim,
                     size_t k, int32_t *gt, const uint8_t *alive) {
  const qv_kernels *K = qv__kernels();
  qv_hit *buf = malloc(k * sizeof *buf);
  for (size_t i = 0; i < nq; i++) {
    qv_topk t;
    qv__topk_init(&t, buf, k);
    for (size_t j = 0; j < nb; j++)
      if (!alive || alive[j]) qv__topk_push(&t, qv__metric_dist(K, m, q + i * dim, base + j * dim, dim), (uint32_t)j);
    size_t c = qv__topk_finish(&t);
    for (size_t j = 0; j < k; j++) gt[i * k + j] = j < c ? (int32_t)buf[j].slot : -1;
  }
  free(buf);
}

static void normalize_all(float *x, size_t n, uint32_t dim) {
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (uint32_t j = 0; j < dim; j++) s += (double)x[i * dim + j] * x[i * dim + j];
    float r = s > 0 ? (float)(1.0 / sqrt(s)) : 0.f;
    for (uint32_t j = 0; j < dim; j++) x[i * dim + j] *= r;
  }
}

static double recall_at(const qv_index_vt *vt, qv_index *ix, const float *q, size_t nq, uint32_t dim,
                        const int32_t *gt, size_t gtk, size_t k, uint32_t ef, double *qps, int runs) {
  qv_hit out[64];
  double best = 1e30, bestc = 1e30, rec = 0;
  for (int r = 0; r < runs; r++) {
    size_t hits = 0;
    double c0 = cpu_now();
    double t0 = qv__now();
    for (size_t i = 0; i < nq; i++) {
      qv_search_req req = {q + i * dim, k, ef, NULL, NULL, NULL};
      size_t n = 0;
      vt->search(ix, &req, out, &n);
      for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < k; b++)
          if ((int32_t)out[a].slot == gt[i * gtk + b]) { hits++; break; }
    }
    double t = qv__now() - t0, c = cpu_now() - c0;
    if (t < best) best = t;
    if (c < bestc) bestc = c;
    rec = (double)hits / (double)(nq * k);
  }
  *qps = (double)nq / best;
  g_cpu_qps = (double)nq / bestc;
  return rec;
}

static qv_index *build(const qv_index_vt *vt, const qv_index_params *p, const float *x, size_t n, double *secs) {
  qv_index *ix;
  if (vt->create(p, &ix) != QV_OK) return NULL;
  uint32_t *slots = malloc(n * sizeof *slots);
  for (size_t i = 0; i < n; i++) slots[i] = (uint32_t)i;
  double t0 = qv__now();
  qv_status rc = vt->add(ix, slots, x, n);
  *secs = qv__now() - t0;
  free(slots);
  if (rc != QV_OK) { vt->destroy(ix); return NULL; }
  return ix;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s DATASET [options]\n", argv[0]); return 2; }
  const char *dir = argv[1], *efs = "10,20,40,80,120,200,400", *metric_s = "l2", *gtname = "gt.ivecs", *save = NULL, *cache = NULL, *extra = NULL;
  uint32_t M = 16, efc = 200;
  int threads = 1, runs = 1, churn = 0, filter = 0;
  size_t nb_lim = 0, nq_lim = 1000, k = 10;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "-M")) M = (uint32_t)atoi(v), i++;
    else if (!strcmp(a, "-efc")) efc = (uint32_t)atoi(v), i++;
    else if (!strcmp(a, "-t")) threads = atoi(v), i++;
    else if (!strcmp(a, "-n")) nb_lim = (size_t)atol(v), i++;
    else if (!strcmp(a, "-q")) nq_lim = (size_t)atol(v), i++;
    else if (!strcmp(a, "-ef")) efs = v, i++;
    else if (!strcmp(a, "-metric")) metric_s = v, i++;
    else if (!strcmp(a, "-gt")) gtname = v, i++;
    else if (!strcmp(a, "-runs")) runs = atoi(v), i++;
    else if (!strcmp(a, "-save")) save = v, i++;
    else if (!strcmp(a, "-cache")) cache = v, i++;
    else if (!strcmp(a, "-churn")) churn = 1;
    else if (!strcmp(a, "-params")) extra = v, i++;
    else if (!strcmp(a, "-filter")) filter = 1;
    else { fprintf(stderr, "unknown option %s\n", a); return 2; }
  }
  qv_metric metric = !strcmp(metric_s, "ip") ? QV_METRIC_IP : !strcmp(metric_s, "cosine") ? QV_METRIC_COSINE : QV_METRIC_L2;
  char path[4096];
  size_t nb, nq, ngt = 0;
  uint32_t dim, qdim, gtk = 0;
  snprintf(path, sizeof path, "%s/base.fvecs", dir);
  float *base = read_fvecs(path, &nb, &dim);
  snprintf(path, sizeof path, "%s/query.fvecs", dir);
  float *qs = read_fvecs(path, &nq, &qdim);
  if (!base || !qs || dim != qdim) { fprintf(stderr, "cannot read %s\n", dir); return 1; }
  int full = !nb_lim || nb_lim >= nb;
  if (!full) nb = nb_lim;
  if (nq_lim && nq_lim < nq) nq = nq_lim;
  if (metric == QV_METRIC_COSINE) { normalize_all(base, nb, dim); normalize_all(qs, nq, dim); }
  int32_t *gt = NULL;
  if (full) {
    snprintf(path, sizeof path, "%s/%s", dir, gtname);
    gt = read_ivecs(path, &ngt, &gtk);
  }
  if (!gt) {
    gtk = (uint32_t)k;
    gt = malloc(nq * k * sizeof *gt);
    brute_gt(metric, base, nb, qs, nq, dim, k, gt, NULL);
  }
  const qv_index_vt *vt = &qv__index_hnsw;
  char pj[1024];
  if (extra && *extra) snprintf(pj, sizeof pj, "{\"M\":%u,\"ef_construction\":%u,%s}", M, efc, extra);
  else snprintf(pj, sizeof pj, "{\"M\":%u,\"ef_construction\":%u}", M, efc);
  qv_index_params p = {qv__mem_default(), metric, dim, pj, threads, NULL, NULL, 0};
  double bt = 0;
  qv_index *ix = NULL;
  double tl = qv__now();
  if (cache && vt->load(&p, cache, &ix, NULL) == QV_OK) printf("loaded %s in %.3f s\n", cache, qv__now() - tl);
  else ix = build(vt, &p, base, nb, &bt);
  /* standalone (payload v1, floats inside): a plain save keeps no live floats and could only be
   * loaded with a vector source, so the cache used to be rebuilt every time */
  if (ix && cache && bt > 0) vt->save_standalone(ix, cache, 0);
  if (!ix) { fprintf(stderr, "build failed\n"); return 1; }
  qv_index_stats st;
  vt->stats(ix, &st);
  printf("n=%zu dim=%u metric=%s M=%u efc=%u threads=%d isa=%s build_s=%.2f mem_vectors=%.1fMB mem_graph=%.1fMB max_level=%u\n",
         nb, dim, metric_s, M, efc, threads, qv__kernels()->isa, bt, (double)st.mem_vectors / 1048576.0,
         (double)st.mem_graph / 1048576.0, st.max_level);
  char *list = strdup(efs);
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    uint32_t ef = (uint32_t)atoi(tok);
    double qps;
    double rec = recall_at(vt, ix, qs, nq, dim, gt, gtk, k, ef < k ? (uint32_t)k : ef, &qps, runs);
    printf("ef=%-4u recall@10=%.4f qps=%.0f cpu_qps=%.0f\n", ef, rec, qps, g_cpu_qps);
    fflush(stdout);
  }
  free(list);
  if (filter && full) {
    size_t ng2;
    uint32_t gk2;
    snprintf(path, sizeof path, "%s/gt_samelabel.ivecs", dir);
    int32_t *sgt = read_ivecs(path, &ng2, &gk2);
    snprintf(path, sizeof path, "%s/base_labels.txt", dir);
    int32_t *bl = read_labels(path, nb);
    snprintf(path, sizeof path, "%s/query_labels.txt", dir);
    int32_t *ql = read_labels(path, nq);
    if (!sgt || !bl || !ql) {
      fprintf(stderr, "no label files / gt_samelabel.ivecs\n");
    } else {
      char *l3 = strdup(efs);
      for (char *tok = strtok(l3, ","); tok; tok = strtok(NULL, ",")) {
        uint32_t ef = (uint32_t)atoi(tok);
        double qps;
        size_t shorts;
        double rec = filtered_recall(vt, ix, qs, nq, dim, sgt, gk2, k, ef < k ? (uint32_t)k : ef, bl, ql, &qps, &shorts);
        printf("filtered(label) ef=%-4u recall@10=%.4f cpu_qps=%.0f short_results=%zu\n", ef, rec, qps, shorts);
      }
      free(l3);
    }
    free(sgt); free(bl); free(ql);
  }
  if (save) {
    double t0 = qv__now();
    qv_status rc = vt->save(ix, save, 42);
    double t1 = qv__now();
    qv_index *ix2 = NULL;
    uint64_t seq = 0;
    qv_status rc2 = vt->load(&p, save, &ix2, &seq);
    double t2 = qv__now();
    printf("save rc=%d %.3fs  load rc=%d %.3fs seq=%llu\n", rc, t1 - t0, rc2, t2 - t1, (unsigned long long)seq);
    if (ix2) {
      double qps = 0;
      double rec = recall_at(vt, ix2, qs, nq, dim, gt, gtk, k, 20, &qps, 1);
      printf("loaded: ef=20 recall=%.4f qps=%.0f\n", rec, qps);
      vt->destroy(ix2);
    }
  }
  if (churn) {
    /* delete 10%, re-point 30% to other vectors of the set, keep the rest */
    float *cur = malloc(nb * dim * sizeof *cur);
    memcpy(cur, base, nb * dim * sizeof *cur);
    uint8_t *alive = malloc(nb);
    memset(alive, 1, nb);
    uint64_t r = 12345;
    double t0 = qv__now();
    size_t nupd = 0;
    uint32_t *us = malloc(nb * sizeof *us);
    float *uv = malloc(nb * dim * sizeof *uv);
    for (size_t i = 0; i < nb; i++) {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      unsigned x = (unsigned)(r >> 33) % 100;
      if (x < 10) { vt->remove(ix, (uint32_t)i); alive[i] = 0; }
      else if (x < 40) {
        size_t src = (size_t)((r >> 13) % nb);
        memcpy(cur + i * dim, base + src * dim, dim * sizeof(float));
        us[nupd] = (uint32_t)i;
        memcpy(uv + nupd * dim, cur + i * dim, dim * sizeof(float));
        nupd++;
      }
    }
    for (size_t i = 0; i < nupd; i += 1000) {
      size_t c = nupd - i < 1000 ? nupd - i : 1000;
      vt->add(ix, us + i, uv + i * dim, c);
    }
    printf("churn: %zu updates + deletes in %.2fs\n", nupd, qv__now() - t0);
    int32_t *gt2 = malloc(nq * k * sizeof *gt2);
    brute_gt(metric, cur, nb, qs, nq, dim, k, gt2, alive);
    /* fresh build of the final contents (same slots) */
    size_t nl = 0;
    uint32_t *ls = malloc(nb * sizeof *ls);
    for (size_t i = 0; i < nb; i++) if (alive[i]) ls[nl++] = (uint32_t)i;
    float *lv = malloc(nl * dim * sizeof *lv);
    for (size_t i = 0; i < nl; i++) memcpy(lv + i * dim, cur + (size_t)ls[i] * dim, dim * sizeof(float));
    qv_index *fresh;
    vt->create(&p, &fresh);
    vt->add(fresh, ls, lv, nl);
    char *l2 = strdup(efs);
    size_t bad = 0;
    for (char *tok = strtok(l2, ","); tok; tok = strtok(NULL, ",")) {
      uint32_t ef = (uint32_t)atoi(tok);
      if (ef < k) ef = (uint32_t)k;
      double q1, q2;
      double a = recall_at(vt, ix, qs, nq, dim, gt2, k, k, ef, &q1, 1);
      double b = recall_at(vt, fresh, qs, nq, dim, gt2, k, k, ef, &q2, 1);
      printf("churn ef=%-4u churned recall=%.4f qps=%.0f | fresh recall=%.4f qps=%.0f\n", ef, a, q1, b, q2);
    }
    /* no deleted / stale vector is returned */
    qv_hit out[10];
    for (size_t i = 0; i < nq; i++) {
      qv_search_req req = {qs + i * dim, k, 40, NULL, NULL, NULL};
      size_t n;
      vt->search(ix, &req, out, &n);
      for (size_t a = 0; a < n; a++) {
        uint32_t s = out[a].slot;
        float d = qv__metric_dist(qv__kernels(), metric, qs + i * dim, cur + (size_t)s * dim, dim);
        if (!alive[s] || fabsf(d - out[a].dist) > 1e-3f * (1 + fabsf(d))) bad++;
      }
    }
    printf("churn: stale or deleted results: %zu\n", bad);
    vt->destroy(fresh);
    free(l2); free(ls); free(lv); free(gt2); free(cur); free(alive); free(us); free(uv);
  }
  vt->destroy(ix);
  free(base); free(qs); free(gt);
  return 0;
}
