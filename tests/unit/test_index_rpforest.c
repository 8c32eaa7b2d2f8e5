/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_index_rpforest.c -- the random-projection forest through its vtable: recall against
 * brute force (l2, cosine, ip, l1, hamming) for bulk builds and for live inserts that split
 * leaves, removes that take records out of the trees, the predicate, checkpoints (round trip
 * gives the same answers; damaged files are refused), and a serialized payload searched in
 * place (open_mapped) giving the same answers as the live index.
 */
#include <criterion/criterion.h>
#include <math.h>
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

/* The 8-bit codes (codes "sq8", the default for l2, ip and cosine) only choose which leaf
   candidates are re-ranked on the floats: with a re-rank that covers every candidate, or with
   rerank 0 (no codes at query time), the answers are the float scan's, hit for hit; with the
   default re-rank the recall stays near it. Trees do not depend on the codes. */
Test(rpforest, codes_rerank) {
  size_t n = 3000, nq = 40, k = 10;
  uint32_t dim = 20;
  qv_metric ms[3] = {QV_METRIC_L2, QV_METRIC_COSINE, QV_METRIC_IP};
  for (int mi = 0; mi < 3; mi++) {
    qv_metric m = ms[mi];
    float *v = make_vecs(n, dim, m), *q = make_vecs(nq, dim, m);
    qv_index *a = make(m, dim, "{\"n_trees\": 10, \"search_k\": 800, \"codes\": \"none\"}");
    qv_index *b = make(m, dim, "{\"n_trees\": 10, \"search_k\": 800, \"rerank\": 1000}");
    add_range(a, v, dim, 0, n, n);
    add_range(b, v, dim, 0, 1000, 1000); /* then smaller batches: the codes' range widens */
    add_range(b, v, dim, 1000, n, 250);
    qv_index *a2 = make(m, dim, "{\"n_trees\": 10, \"search_k\": 800, \"codes\": \"none\"}");
    add_range(a2, v, dim, 0, 1000, 1000);
    add_range(a2, v, dim, 1000, n, 250);
    same_answers(a2, b, q, nq, dim);
    qv_index_stats sa, sb;
    memset(&sa, 0, sizeof sa);
    memset(&sb, 0, sizeof sb);
    VT->stats(a2, &sa);
    VT->stats(b, &sb);
    cr_assert_gt(sb.mem_vectors, sa.mem_vectors, "the codes are counted");
    cr_assert_eq(sb.mem_codes, sb.mem_vectors - sa.mem_vectors);
    cr_assert_eq(sa.mem_codes, 0);
    cr_assert_eq(VT->set_param(b, "rerank", 0), QV_OK);
    same_answers(a2, b, q, nq, dim);
    cr_assert_eq(VT->set_param(b, "rerank", 4), QV_OK);
    double ra = recall(a2, v, NULL, n, dim, m, q, nq, k, 0), rb = recall(b, v, NULL, n, dim, m, q, nq, k, 0);
    cr_assert_geq(rb, ra - 0.03, "%s: recall with codes %.3f, floats %.3f", qv_metric_name(m), rb, ra);
    /* a query's own parameters: rerank 0 and a search_k, as set_param would give */
    cr_assert_eq(VT->set_param(a2, "search_k", 300), QV_OK);
    for (size_t i = 0; i < nq; i++) {
      qv_hit ha[10], hb[10];
      size_t na = 0, nb = 0;
      qv_search_req ra_req = {q + i * dim, 10, 0, NULL, NULL, NULL};
      qv_search_req rb_req = {q + i * dim, 10, 0, NULL, NULL, "{\"rerank\": 0, \"search_k\": 300}"};
      cr_assert_eq(VT->search(a2, &ra_req, ha, &na), QV_OK);
      cr_assert_eq(VT->search(b, &rb_req, hb, &nb), QV_OK);
      cr_assert_eq(na, nb);
      for (size_t j = 0; j < na; j++) cr_assert_eq(ha[j].slot, hb[j].slot, "query %zu rank %zu", i, j);
    }
    qv_search_req bad = {q, 10, 0, NULL, NULL, "{\"rerank\": -1}"};
    qv_hit hh[10];
    size_t nh = 0;
    cr_assert_eq(VT->search(b, &bad, hh, &nh), QV_INVALID);
    VT->destroy(a);
    VT->destroy(a2);
    VT->destroy(b);
    free(v);
    free(q);
  }
  /* l1 and hamming have no codes (the setting is accepted and has no effect) */
  qv_index *l1 = make(QV_METRIC_L1, 8, "{\"codes\": \"sq8\"}");
  VT->destroy(l1);
  qv_index_params p = {.mem = qv__mem_default(), .metric = QV_METRIC_L2, .dim = 4, .params_json = "{\"codes\": \"sq4\"}"};
  qv_index *ix = NULL;
  cr_assert_eq(VT->create(&p, &ix), QV_INVALID);
}

/* Payload layouts: a forest without codes is written as layout 1 (what every earlier version
   wrote), one with codes as layout 2; both open, a layout-1 checkpoint loaded into a collection
   with codes gets codes made from its rows, and layout 2's own fields are checked. */
Test(rpforest, payload_layouts) {
  size_t n = 2000, nq = 30;
  uint32_t dim = 16;
  float *v = make_vecs(n, dim, QV_METRIC_L2), *q = make_vecs(nq, dim, QV_METRIC_L2);
  qv_index *a = make(QV_METRIC_L2, dim, "{\"n_trees\": 6, \"codes\": \"none\"}");
  qv_index *b = make(QV_METRIC_L2, dim, "{\"n_trees\": 6, \"rerank\": 1000}");
  add_range(a, v, dim, 0, n, n);
  add_range(b, v, dim, 0, n, n);
  same_answers(a, b, q, nq, dim);
  qv_index_params p = {.mem = qv__mem_default(), .metric = QV_METRIC_L2, .dim = dim,
                       .params_json = "{\"n_trees\": 6, \"rerank\": 1000}"};
  membuf ba = {0}, bb = {0};
  uint32_t va = 0, vb = 0;
  cr_assert_eq(VT->serialize(a, put_mem, &ba, &va), QV_OK);
  cr_assert_eq(VT->serialize(b, put_mem, &bb, &vb), QV_OK);
  cr_assert_eq(va, 1);
  cr_assert_eq(vb, 2);
  cr_assert_eq(bb.n - ba.n >= n * (dim + 4), 1, "layout 2 holds the codes");
  void *al = NULL, *bl = NULL;
  cr_assert_eq(posix_memalign(&al, 64, ba.n), 0);
  cr_assert_eq(posix_memalign(&bl, 64, bb.n), 0);
  memcpy(al, ba.p, ba.n);
  memcpy(bl, bb.p, bb.n);
  qv_index *ma = NULL, *mb = NULL;
  cr_assert_eq(VT->open_mapped(&p, 1, al, ba.n, &ma), QV_OK); /* floats only, whatever the params say */
  cr_assert_eq(VT->open_mapped(&p, 2, bl, bb.n, &mb), QV_OK);
  same_answers(a, ma, q, nq, dim);
  same_answers(a, mb, q, nq, dim);
  VT->destroy(ma);
  VT->destroy(mb);
  cr_assert_eq(VT->open_mapped(&p, 2, al, ba.n, &ma), QV_CORRUPT); /* version and head disagree */
  cr_assert_eq(VT->open_mapped(&p, 1, bl, bb.n, &mb), QV_CORRUPT);
  unsigned char *c = bl;
  c[20] = 7; /* the head's codes field */
  cr_assert_eq(VT->open_mapped(&p, 2, bl, bb.n, &mb), QV_CORRUPT);
  c[20] = 8;
  uint64_t off_items, n_items;
  memcpy(&off_items, c + 112, 8);
  memcpy(&n_items, c + 56, 8);
  uint64_t off_q8 = (off_items + n_items * 4 + 63) / 64 * 64;
  float nan = NAN, big = 3e38f, save[2];
  memcpy(save, c + off_q8, 4);
  memcpy(c + off_q8, &nan, 4); /* lo[0] */
  cr_assert_eq(VT->open_mapped(&p, 2, bl, bb.n, &mb), QV_CORRUPT);
  memcpy(c + off_q8, save, 4);
  memcpy(save, c + off_q8, 4);
  memcpy(save + 1, c + off_q8 + (size_t)dim * 4, 4);
  big = -big;
  memcpy(c + off_q8, &big, 4); /* lo[0] = -3e38, hi[0] = 3e38: the step overflows */
  big = -big;
  memcpy(c + off_q8 + (size_t)dim * 4, &big, 4);
  cr_assert_eq(VT->open_mapped(&p, 2, bl, bb.n, &mb), QV_CORRUPT);
  memcpy(c + off_q8, save, 4);
  memcpy(c + off_q8 + (size_t)dim * 4, save + 1, 4);
  cr_assert_eq(VT->open_mapped(&p, 2, bl, bb.n, &mb), QV_OK);
  VT->destroy(mb);
  /* checkpoints: layout 1 into a collection with codes, layout 2 into one without */
  char path[] = "/tmp/qv_rpf_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  close(fd);
  cr_assert_eq(VT->save(a, path, 7), QV_OK);
  qv_index *la = NULL;
  uint64_t seq = 0;
  cr_assert_eq(VT->load(&p, path, &la, &seq), QV_OK);
  qv_index_stats st;
  memset(&st, 0, sizeof st);
  VT->stats(la, &st);
  cr_assert_eq(st.mem_vectors >= n * (dim * 4 + dim + 4), 1, "codes made on load");
  same_answers(a, la, q, nq, dim);
  uint32_t s = 3;
  cr_assert_eq(VT->add(la, &s, v + 5 * dim, 1), QV_OK);
  VT->destroy(la);
  cr_assert_eq(VT->save(b, path, 8), QV_OK);
  qv_index_params pn = p;
  pn.params_json = "{\"n_trees\": 6, \"codes\": \"none\"}";
  cr_assert_eq(VT->load(&pn, path, &la, &seq), QV_OK);
  same_answers(a, la, q, nq, dim);
  VT->destroy(la);
  unlink(path);
  free(al);
  free(bl);
  free(ba.p);
  free(bb.p);
  VT->destroy(a);
  VT->destroy(b);
  free(v);
  free(q);
}

/* search_k counts distinct candidates (capped at entry_cap * search_k leaf entries) and a query
   drains at least min_leaves leaves; entry_cap 1 and min_leaves 1 are Annoy's rule. The same
   trees searched with the larger budget see a superset of the candidates, so (on floats) every
   query's k-th distance is no worse. */
Test(rpforest, search_budget) {
  size_t n = 4000, nq = 40;
  uint32_t dim = 16;
  float *v = make_vecs(n, dim, QV_METRIC_L2), *q = make_vecs(nq, dim, QV_METRIC_L2);
  qv_index *ix = make(QV_METRIC_L2, dim, "{\"n_trees\": 20, \"leaf_size\": 40, \"codes\": \"none\"}");
  add_range(ix, v, dim, 0, n, n);
  const char *annoy = "{\"search_k\": 100, \"entry_cap\": 1, \"min_leaves\": 1}";
  const char *ours = "{\"search_k\": 100}";
  size_t better = 0;
  for (size_t i = 0; i < nq; i++) {
    qv_hit ha[10], hb[10];
    size_t na = 0, nb = 0;
    qv_search_req ra = {q + i * dim, 10, 0, NULL, NULL, annoy}, rb = {q + i * dim, 10, 0, NULL, NULL, ours};
    cr_assert_eq(VT->search(ix, &ra, ha, &na), QV_OK);
    cr_assert_eq(VT->search(ix, &rb, hb, &nb), QV_OK);
    cr_assert_eq(na, 10);
    cr_assert_eq(nb, 10);
    cr_assert_leq(hb[9].dist, ha[9].dist, "query %zu", i);
    better += hb[9].dist < ha[9].dist;
  }
  cr_assert_gt(better, 0, "the distinct count never looked further");
  cr_assert_eq(VT->set_param(ix, "entry_cap", 0.5), QV_INVALID);
  cr_assert_eq(VT->set_param(ix, "entry_cap", 1.5), QV_OK);
  cr_assert_eq(VT->set_param(ix, "min_leaves", 0), QV_INVALID);
  cr_assert_eq(VT->set_param(ix, "min_leaves", 3), QV_OK);
  /* a leaf larger than the seen-set was sized for (a damaged mapped payload: every leaf made to
     hold all the items) makes the hash table grow instead of filling up */
  qv_index *one = make(QV_METRIC_L2, dim, "{\"n_trees\": 1, \"leaf_size\": 8, \"codes\": \"none\"}");
  add_range(one, v, dim, 0, n, n);
  membuf b = {0};
  uint32_t ver = 0;
  cr_assert_eq(VT->serialize(one, put_mem, &b, &ver), QV_OK);
  void *al = NULL;
  cr_assert_eq(posix_memalign(&al, 64, b.n), 0);
  memcpy(al, b.p, b.n);
  unsigned char *c = al;
  uint64_t off_leaves, n_leaves, n_items;
  memcpy(&off_leaves, c + 104, 8);
  memcpy(&n_leaves, c + 48, 8);
  memcpy(&n_items, c + 56, 8);
  cr_assert_eq(n_items, n);
  for (uint64_t i = 0; i < n_leaves; i++) {
    uint32_t lf[4] = {0, (uint32_t)n_items, (uint32_t)n_items, 0};
    memcpy(c + off_leaves + i * 16, lf, 16);
  }
  qv_index_params p = {.mem = qv__mem_default(), .metric = QV_METRIC_L2, .dim = dim, .params_json = NULL};
  qv_index *m = NULL;
  cr_assert_eq(VT->open_mapped(&p, ver, al, b.n, &m), QV_OK);
  qv_hit h[10], want[10];
  size_t nh = 0;
  qv_search_req r = {q, 10, 0, NULL, NULL, "{\"search_k\": 5, \"min_leaves\": 1}"};
  cr_assert_eq(VT->search(m, &r, h, &nh), QV_OK);
  cr_assert_eq(nh, 10);
  cr_assert_eq(brute(v, NULL, n, dim, QV_METRIC_L2, q, 10, 0, want), 10);
  for (size_t j = 0; j < 10; j++) cr_assert_eq(h[j].slot, want[j].slot, "the whole leaf was scored");
  VT->destroy(m);
  VT->destroy(one);
  free(al);
  free(b.p);
  VT->destroy(ix);
  free(v);
  free(q);
}
