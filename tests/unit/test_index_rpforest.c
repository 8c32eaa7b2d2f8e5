/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_index_rpforest.c -- the random-projection forest through its vtable: recall against
 * brute force (l2, cosine, ip, l1, hamming) for bulk builds and for live inserts that split
 * leaves, removes that take records out of the trees, the predicate, checkpoints (round trip
 * gives the same answers; damaged files are refused), and a serialized payload searched in
 * place (open_mapped) giving the same answers as the live index.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"
#include "index.h"

static uint64_t g_rng = 777;

static uint32_t urand(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(g_rng >> 33);
}

static float frand(void) { return (float)urand() / 2147483648.0f * 2.0f - 1.0f; }

static const qv_index_vt *VT = &qv__index_rpforest;

static qv_index *make(qv_metric m, uint32_t dim, const char *params) {
  qv_index_params p = {.mem = qv__mem_default(), .metric = m, .dim = dim, .n_threads = 2, .params_json = params};
  qv_index *ix = NULL;
  cr_assert_eq(VT->create(&p, &ix), QV_OK);
  return ix;
}

/* Clustered data (16 centres), unit length for cosine; for hamming, dim words of random bits. */
static float *make_vecs(size_t n, uint32_t dim, qv_metric m) {
  float *v = malloc(n * dim * sizeof *v);
  if (m == QV_METRIC_HAMMING) {
    uint32_t *w = (uint32_t *)(void *)v;
    for (size_t i = 0; i < n * dim; i++) w[i] = urand() ^ (urand() << 16);
    return v;
  }
  float cent[16][64];
  for (int c = 0; c < 16; c++)
    for (uint32_t j = 0; j < dim && j < 64; j++) cent[c][j] = frand() * 3;
  for (size_t i = 0; i < n; i++) {
    int c = (int)(urand() % 16);
    for (uint32_t j = 0; j < dim; j++) v[i * dim + j] = cent[c][j % 64] + frand();
    if (m == QV_METRIC_COSINE) qv__normalize(v + i * dim, dim);
  }
  return v;
}

static size_t brute(const float *v, const uint8_t *alive, size_t n, uint32_t dim, qv_metric m, const float *q,
                    size_t k, int even, qv_hit *out) {
  qv_hit *all = malloc(n * sizeof *all);
  size_t na = 0;
  for (size_t s = 0; s < n; s++) {
    if ((alive && !alive[s]) || (even && s % 2)) continue;
    all[na].dist = qv__metric_dist(qv__kernels(), m, q, v + s * dim, dim);
    all[na++].slot = (uint32_t)s;
  }
  qsort(all, na, sizeof *all, qv__hit_cmp);
  size_t r = na < k ? na : k;
  memcpy(out, all, r * sizeof *out);
  free(all);
  return r;
}

static int pred_even(void *ctx, uint32_t slot) {
  (void)ctx;
  return slot % 2 == 0;
}

/* recall@k of ix over nq queries taken from q (distance ties count as hits). */
static double recall(const qv_index *ix, const float *v, const uint8_t *alive, size_t n, uint32_t dim, qv_metric m,
                     const float *qs, size_t nq, size_t k, int even) {
  qv_hit got[64], want[64];
  size_t hits = 0, total = 0;
  for (size_t i = 0; i < nq; i++) {
    const float *q = qs + i * dim;
    size_t nw = brute(v, alive, n, dim, m, q, k, even, want), ng = 0;
    qv_search_req req = {q, k, 0, even ? pred_even : NULL, NULL, NULL};
    cr_assert_eq(VT->search(ix, &req, got, &ng), QV_OK);
    cr_assert_leq(ng, k);
    for (size_t j = 0; j < ng; j++) {
      if (alive) cr_assert(alive[got[j].slot], "removed slot %u returned", got[j].slot);
      if (even) cr_assert(got[j].slot % 2 == 0, "predicate ignored");
      cr_assert_eq(got[j].dist, qv__metric_dist(qv__kernels(), m, q, v + (size_t)got[j].slot * dim, dim));
      if (j) cr_assert_geq(got[j].dist, got[j - 1].dist);
      if (got[j].dist <= want[nw - 1].dist) hits++;
    }
    total += nw;
  }
  return (double)hits / (double)total;
}

static void add_range(qv_index *ix, const float *v, uint32_t dim, size_t from, size_t to, size_t chunk) {
  uint32_t *slots = malloc((to - from) * sizeof *slots);
  for (size_t i = from; i < to; i++) slots[i - from] = (uint32_t)i;
  for (size_t i = from; i < to; i += chunk) {
    size_t m = to - i < chunk ? to - i : chunk;
    cr_assert_eq(VT->add(ix, slots + (i - from), v + i * dim, m), QV_OK);
  }
  free(slots);
}

static void check_metric(qv_metric m, uint32_t dim, double min_recall) {
  size_t n = 4000, nq = 50, k = 10;
  float *v = make_vecs(n, dim, m), *q = make_vecs(nq, dim, m);
  qv_index *ix = make(m, dim, "{\"n_trees\": 20, \"search_k\": 2000}");
  add_range(ix, v, dim, 0, n, n); /* one bulk build */
  double r = recall(ix, v, NULL, n, dim, m, q, nq, k, 0);
  cr_assert_geq(r, min_recall, "%s bulk recall %.3f", qv_metric_name(m), r);
  double r_even = recall(ix, v, NULL, n, dim, m, q, nq, k, 1);
  cr_assert_geq(r_even, min_recall - 0.1, "%s filtered recall %.3f", qv_metric_name(m), r_even);
  /* more search_k: better recall; a huge one: exact */
  cr_assert_eq(VT->set_param(ix, "search_k", 1e7), QV_OK);
  double r_all = recall(ix, v, NULL, n, dim, m, q, nq, k, 0);
  cr_assert_eq(r_all, 1.0, "%s search_k=all recall %.3f", qv_metric_name(m), r_all);
  VT->destroy(ix);
  /* live inserts in small batches: leaves overflow and split */
  ix = make(m, dim, "{\"n_trees\": 20, \"search_k\": 2000}");
  add_range(ix, v, dim, 0, 500, 500);
  add_range(ix, v, dim, 500, n, 37);
  qv_index_stats st;
  memset(&st, 0, sizeof st);
  VT->stats(ix, &st);
  cr_assert_eq(st.count, n);
  double r2 = recall(ix, v, NULL, n, dim, m, q, nq, k, 0);
  cr_assert_geq(r2, min_recall, "%s incremental recall %.3f", qv_metric_name(m), r2);
  VT->destroy(ix);
  free(v);
  free(q);
}

Test(rpforest, recall_l2) { check_metric(QV_METRIC_L2, 24, 0.85); }
Test(rpforest, recall_cosine) { check_metric(QV_METRIC_COSINE, 24, 0.85); }
Test(rpforest, recall_ip) { check_metric(QV_METRIC_IP, 24, 0.6); }
Test(rpforest, recall_l1) { check_metric(QV_METRIC_L1, 24, 0.8); }
Test(rpforest, recall_hamming) { check_metric(QV_METRIC_HAMMING, 4, 0.5); } /* 128 bits */

Test(rpforest, removes_and_replaces) {
  size_t n = 3000, dim = 16, nq = 40, k = 10;
  float *v = make_vecs(n, dim, QV_METRIC_L2), *q = make_vecs(nq, dim, QV_METRIC_L2);
  uint8_t *alive = malloc(n);
  memset(alive, 1, n);
  qv_index *ix = make(QV_METRIC_L2, (uint32_t)dim, "{\"n_trees\": 15, \"search_k\": 1500}");
  add_range(ix, v, (uint32_t)dim, 0, n, n);
  for (size_t s = 0; s < n; s += 3) {
    cr_assert_eq(VT->remove(ix, (uint32_t)s), QV_OK);
    alive[s] = 0;
  }
  cr_assert_eq(VT->remove(ix, 0), QV_NOTFOUND);
  cr_assert_null(VT->vector(ix, 0));
  double r = recall(ix, v, alive, n, (uint32_t)dim, QV_METRIC_L2, q, nq, k, 0);
  cr_assert_geq(r, 0.85, "recall after removes %.3f", r);
  /* replace live vectors (slot 1, 4, ...) with fresh ones and reuse removed slots */
  float *v2 = make_vecs(n, dim, QV_METRIC_L2);
  for (size_t s = 0; s < n; s++) {
    if (s % 3 == 1 || s % 3 == 0) {
      uint32_t slot = (uint32_t)s;
      memcpy(v + s * dim, v2 + s * dim, dim * sizeof(float));
      cr_assert_eq(VT->add(ix, &slot, v + s * dim, 1), QV_OK);
      alive[s] = 1;
    }
  }
  qv_index_stats st;
  memset(&st, 0, sizeof st);
  VT->stats(ix, &st);
  cr_assert_eq(st.count, n);
  r = recall(ix, v, alive, n, (uint32_t)dim, QV_METRIC_L2, q, nq, k, 0);
  cr_assert_geq(r, 0.85, "recall after replaces %.3f", r);
  /* every slot is in every tree exactly once: with a huge search_k the answer is exact */
  cr_assert_eq(VT->set_param(ix, "search_k", 1e7), QV_OK);
  cr_assert_eq(recall(ix, v, alive, n, (uint32_t)dim, QV_METRIC_L2, q, nq, k, 0), 1.0);
  cr_assert_eq(VT->set_param(ix, "search_k", -1), QV_INVALID);
  cr_assert_eq(VT->set_param(ix, "n_trees", 3), QV_INVALID);
  VT->destroy(ix);
  free(v);
  free(v2);
  free(q);
  free(alive);
}

typedef struct membuf {
  unsigned char *p;
  size_t n, cap;
} membuf;

static void put_mem(void *ctx, const void *p, size_t n) {
  membuf *b = ctx;
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void same_answers(const qv_index *a, const qv_index *b, const float *q, size_t nq, uint32_t dim) {
  for (size_t i = 0; i < nq; i++) {
    qv_hit ha[10], hb[10];
    size_t na = 0, nb = 0;
    qv_search_req req = {q + i * dim, 10, 0, NULL, NULL, NULL};
    cr_assert_eq(VT->search(a, &req, ha, &na), QV_OK);
    cr_assert_eq(VT->search(b, &req, hb, &nb), QV_OK);
    cr_assert_eq(na, nb);
    for (size_t j = 0; j < na; j++) {
      cr_assert_eq(ha[j].slot, hb[j].slot, "query %zu rank %zu", i, j);
      cr_assert_eq(ha[j].dist, hb[j].dist);
    }
  }
}

Test(rpforest, checkpoint_and_mapped) {
  size_t n = 2500, nq = 30;
  uint32_t dim = 12;
  float *v = make_vecs(n, dim, QV_METRIC_L2), *q = make_vecs(nq, dim, QV_METRIC_L2);
  const char *params = "{\"n_trees\": 8}";
  qv_index *ix = make(QV_METRIC_L2, dim, params);
  add_range(ix, v, dim, 0, 2000, 2000);
  add_range(ix, v, dim, 2000, n, 50); /* retired leaves exist */
  for (uint32_t s = 0; s < 100; s++) cr_assert_eq(VT->remove(ix, s * 7), QV_OK);
  char path[] = "/tmp/qv_rpf_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  cr_assert_eq(VT->save(ix, path, 42), QV_OK);
  qv_index_params p = {.mem = qv__mem_default(), .metric = QV_METRIC_L2, .dim = dim, .params_json = params};
  qv_index *ix2 = NULL;
  uint64_t seq = 0;
  cr_assert_eq(VT->load(&p, path, &ix2, &seq), QV_OK);
  cr_assert_eq(seq, 42);
  same_answers(ix, ix2, q, nq, dim);
  /* the loaded index is live: adds and removes work */
  uint32_t s = 7;
  cr_assert_eq(VT->add(ix2, &s, v + 7 * dim, 1), QV_OK);
  cr_assert_eq(VT->remove(ix2, 8), QV_OK);
  VT->destroy(ix2);
  /* mismatching parameters or dim are refused */
  qv_index_params p2 = p;
  p2.params_json = "{\"n_trees\": 9}";
  cr_assert_eq(VT->load(&p2, path, &ix2, &seq), QV_CORRUPT);
  p2 = p;
  p2.dim = dim + 1;
  cr_assert_eq(VT->load(&p2, path, &ix2, &seq), QV_CORRUPT);
  /* damaged: every single-byte flip in the first 4 KiB and a truncation are refused */
  FILE *f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *bytes = malloc((size_t)len);
  cr_assert_eq(fread(bytes, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  for (long off = 0; off < len && off < 4096; off += 61) {
    if (off >= 56 && off < 64) continue; /* the envelope's reserved bytes mean nothing */
    bytes[off] ^= 0x5a;
    f = fopen(path, "wb");
    fwrite(bytes, 1, (size_t)len, f);
    fclose(f);
    cr_assert_eq(VT->load(&p, path, &ix2, &seq), QV_CORRUPT, "flip at %ld accepted", off);
    bytes[off] ^= 0x5a;
  }
  f = fopen(path, "wb");
  fwrite(bytes, 1, (size_t)len / 2, f);
  fclose(f);
  cr_assert_eq(VT->load(&p, path, &ix2, &seq), QV_CORRUPT);
  unlink(path);
  free(bytes);
  /* serialize into memory and search the payload in place */
  membuf b = {0};
  uint32_t ver = 0;
  cr_assert_eq(VT->serialize(ix, put_mem, &b, &ver), QV_OK);
  void *al = NULL;
  cr_assert_eq(posix_memalign(&al, 64, b.n), 0);
  memcpy(al, b.p, b.n);
  qv_index *m = NULL;
  cr_assert_eq(VT->open_mapped(&p, ver, al, b.n, &m), QV_OK);
  same_answers(ix, m, q, nq, dim);
  cr_assert_eq(VT->add(m, &s, v, 1), QV_UNSUPPORTED);
  cr_assert_eq(VT->remove(m, 9), QV_UNSUPPORTED);
  VT->destroy(m);
  /* a wrong length or layout version is refused; random damage never crashes a search */
  cr_assert_eq(VT->open_mapped(&p, ver, al, b.n - 64, &m), QV_CORRUPT);
  cr_assert_eq(VT->open_mapped(&p, ver + 1, al, b.n, &m), QV_CORRUPT);
  unsigned char *c = al;
  for (int round = 0; round < 200; round++) {
    size_t off = 128 + urand() % (b.n - 128);
    unsigned char old = c[off];
    c[off] = (unsigned char)urand();
    if (VT->open_mapped(&p, ver, al, b.n, &m) == QV_OK) {
      qv_hit h[10];
      size_t nh;
      qv_search_req req = {q, 10, 0, NULL, NULL, NULL};
      VT->search(m, &req, h, &nh);
      cr_assert_leq(nh, 10);
      VT->destroy(m);
    }
    c[off] = old;
  }
  free(al);
  free(b.p);
  VT->destroy(ix);
  free(v);
  free(q);
}

Test(rpforest, params) {
  qv_index_params p = {.mem = qv__mem_default(), .metric = QV_METRIC_L2, .dim = 4, .params_json = "{\"n_trees\": 0}"};
  qv_index *ix = NULL;
  cr_assert_eq(VT->create(&p, &ix), QV_INVALID);
  p.params_json = "{\"trees\": 3}";
  cr_assert_eq(VT->create(&p, &ix), QV_INVALID);
  p.params_json = NULL;
  cr_assert_eq(VT->create(&p, &ix), QV_OK);
  qv_hit h[4];
  size_t nh = 9;
  float q[4] = {0};
  qv_search_req req = {q, 4, 0, NULL, NULL, NULL};
  cr_assert_eq(VT->search(ix, &req, h, &nh), QV_OK);
  cr_assert_eq(nh, 0);
  VT->destroy(ix);
}
