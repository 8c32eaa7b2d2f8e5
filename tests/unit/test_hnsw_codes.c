/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_hnsw_codes.c -- HNSW round 3 (issue 18): 4-bit traversal codes (quant/sq8.c, bits 4),
 * the batched code distances (hnsw_sq8_dist_many), the automatic code width, the linear-pool
 * level-0 search against the two-heap one, and files written with 64-byte adjacency blocks.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dist.h"
#include "index.h"
#include "hnsw_int.h"
#include "sq8.h"

static const qv_index_vt *vt = &qv__index_hnsw;
static uint64_t rs = 0x2545f4914f6cdd1dull;
static float frand(void) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (float)((rs >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* The nibble of dimension i in a 4-bit code (the layout documented in quant/sq8.c). */
static unsigned nibble(const unsigned char *c, uint32_t dim, uint32_t i) {
  uint32_t g = i / 32, j = i % 32;
  if (g < dim / 32) return j < 16 ? c[16 * g + j] & 15 : c[16 * g + j - 16] >> 4;
  uint32_t h = ((dim % 32) + 1) / 2;
  return j < h ? c[16 * g + j] & 15 : c[16 * g + j - h] >> 4;
}

/* 4-bit codes: the distance of the integer kernel is the distance to the decoded vector
 * (within the 12-bit query weights), for every tail length; codes are allocated to their
 * exact size, so a read past one is caught under ASan. */
static void check_sq4(qv_metric m) {
  static const uint32_t dims[] = {1, 2, 3, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 127, 128, 784};
  for (size_t t = 0; t < sizeof dims / sizeof *dims; t++) {
    uint32_t dim = dims[t];
    size_t n = 48;
    float *x = malloc(n * dim * sizeof *x), *q = malloc(dim * sizeof *q);
    for (size_t i = 0; i < n * dim; i++) x[i] = frand();
    for (uint32_t i = 0; i < dim; i++) q[i] = frand();
    hnsw_sq8 a;
    cr_assert_eq(hnsw_sq8_init(&a, qv__mem_default(), m, dim, 4), 0);
    cr_assert_eq(a.code_bytes, 4 + 16 * (dim / 32) + ((dim % 32) + 1) / 2);
    cr_assert_not_null(a.dot4);
    cr_assert_eq(hnsw_sq8_maybe_train(&a, x, n, 0), 1);
    void *pa = qv__malloc_aligned(qv__mem_default(), hnsw_sq8_query_bytes(&a));
    hnsw_sq8_prepare(&a, q, pa);
    unsigned char **codes = malloc(n * sizeof *codes);
    for (size_t r = 0; r < n; r++) {
      codes[r] = malloc(a.code_bytes);
      hnsw_sq8_encode(&a, x + r * dim, codes[r]);
      float dec_dot = 0, dec_l2 = 0, scale = 0;
      for (uint32_t i = 0; i < dim; i++) {
        unsigned c = nibble(codes[r] + 4, dim, i);
        cr_assert_leq(c, 15u);
        float v = a.lo[i] + a.scale[i] * (float)c;
        dec_dot += q[i] * v;
        dec_l2 += (q[i] - v) * (q[i] - v);
        scale += fabsf(q[i]) * (fabsf(v) + 1.0f);
      }
      float want = m == QV_METRIC_L2 ? dec_l2 : 1.0f - dec_dot;
      float got = hnsw_sq8_dist(&a, pa, codes[r]);
      cr_assert(fabsf(got - want) <= 2e-3f * scale + 1e-4f, "metric %d dim %u row %zu: %g vs %g", m, dim, r, got,
                want);
    }
    /* the batched form gives the same values, codes read through a stride and ids */
    size_t stride = (a.code_bytes + 15) & ~(size_t)15;
    unsigned char *arena = malloc(n * stride);
    for (size_t r = 0; r < n; r++) memcpy(arena + r * stride, codes[r], a.code_bytes);
    uint32_t ids[48];
    float out[48];
    for (size_t r = 0; r < n; r++) ids[r] = (uint32_t)((r * 7) % n);
    hnsw_sq8_dist_many(&a, pa, arena, stride, ids, n, out);
    for (size_t r = 0; r < n; r++) cr_assert_eq(out[r], hnsw_sq8_dist(&a, pa, codes[ids[r]]));
    free(arena);
    for (size_t r = 0; r < n; r++) free(codes[r]);
    free(codes);
    qv__free_aligned(qv__mem_default(), pa);
    hnsw_sq8_free(&a, qv__mem_default());
    free(x);
    free(q);
  }
}

Test(hnsw_codes, sq4_l2) { check_sq4(QV_METRIC_L2); }
Test(hnsw_codes, sq4_ip) { check_sq4(QV_METRIC_IP); }

/* 8-bit codes: the batched distances equal the one-by-one ones. */
Test(hnsw_codes, sq8_many_matches_single) {
  uint32_t dim = 100;
  size_t n = 40;
  float *x = malloc(n * dim * sizeof *x), q[100];
  for (size_t i = 0; i < n * dim; i++) x[i] = frand();
  for (uint32_t i = 0; i < dim; i++) q[i] = frand();
  hnsw_sq8 a;
  cr_assert_eq(hnsw_sq8_init(&a, qv__mem_default(), QV_METRIC_L2, dim, 8), 0);
  hnsw_sq8_maybe_train(&a, x, n, 0);
  void *pa = qv__malloc_aligned(qv__mem_default(), hnsw_sq8_query_bytes(&a));
  hnsw_sq8_prepare(&a, q, pa);
  size_t stride = 112;
  unsigned char *arena = malloc(n * stride);
  for (size_t r = 0; r < n; r++) hnsw_sq8_encode(&a, x + r * dim, arena + r * stride);
  uint32_t ids[40];
  float out[40];
  for (size_t r = 0; r < n; r++) ids[r] = (uint32_t)(n - 1 - r);
  hnsw_sq8_dist_many(&a, pa, arena, stride, ids, n, out);
  for (size_t r = 0; r < n; r++) cr_assert_eq(out[r], hnsw_sq8_dist(&a, pa, arena + (size_t)ids[r] * stride));
  free(arena);
  qv__free_aligned(qv__mem_default(), pa);
  hnsw_sq8_free(&a, qv__mem_default());
  free(x);
}

/* ------------------------------------------------------------------ whole-index checks */

#define DIM 40
#define NB 3000

static const float *g_rows;
static qv_status rows_get(void *ctx, uint32_t s, float *out) {
  (void)ctx;
  if (!g_rows || s >= NB) return QV_NOTFOUND;
  memcpy(out, g_rows + (size_t)s * DIM, DIM * sizeof(float));
  return QV_OK;
}
static const qv_vec_source rows_src = {NULL, rows_get, NULL};

static float *data(size_t n) {
  float *x = malloc(n * DIM * sizeof *x);
  for (size_t i = 0; i < n; i++) { /* clustered: 30 centres, small spread */
    uint32_t c = (uint32_t)(i % 30);
    for (uint32_t j = 0; j < DIM; j++) x[i * DIM + j] = (float)((c * 7 + j * 3) % 11) * 0.2f + 0.15f * frand();
  }
  return x;
}

static qv_index *build(const char *json, const float *x, size_t n) {
  qv_index_params p = {qv__mem_default(), QV_METRIC_L2, DIM, json, 2, &rows_src, NULL, 0};
  qv_index *ix = NULL;
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  uint32_t *sl = malloc(n * sizeof *sl);
  for (size_t i = 0; i < n; i++) sl[i] = (uint32_t)i;
  cr_assert_eq(vt->add(ix, sl, x, n), QV_OK);
  free(sl);
  return ix;
}

static double recall(qv_index *ix, const float *x, const float *q, size_t nq, uint32_t ef) {
  const qv_kernels *K = qv__kernels();
  size_t hits = 0;
  for (size_t i = 0; i < nq; i++) {
    qv_hit want[10], got[10];
    qv_topk t;
    qv__topk_init(&t, want, 10);
    for (uint32_t j = 0; j < NB; j++) qv__topk_push(&t, K->l2sq(q + i * DIM, x + (size_t)j * DIM, DIM), j);
    qv__topk_finish(&t);
    size_t n = 0;
    qv_search_req req = {q + i * DIM, 10, ef, NULL, NULL, NULL};
    cr_assert_eq(vt->search(ix, &req, got, &n), QV_OK);
    cr_assert_eq(n, 10u);
    for (size_t a = 0; a < n; a++)
      for (size_t b = 0; b < 10; b++)
        if (got[a].slot == want[b].slot) {
          hits++;
          break;
        }
  }
  return (double)hits / (double)(nq * 10);
}

static int all_pass(void *ctx, uint32_t s) {
  (void)ctx;
  (void)s;
  return 1;
}

/* The linear pool (no filter) and the two heaps (a filter that passes everything) find the
 * same neighbours: same stopping rule, same candidates. */
Test(hnsw_codes, pool_matches_heaps) {
  float *x = data(NB), *q = data(60);
  g_rows = x;
  qv_index *ix = build("{\"M\":8,\"ef_construction\":80,\"quantizer\":\"sq8\",\"keep_floats\":true}", x, NB);
  size_t same = 0, tot = 0;
  for (size_t i = 0; i < 60; i++) {
    qv_hit a[10], b[10];
    size_t na = 0, nb = 0;
    qv_search_req r1 = {q + i * DIM, 10, 50, NULL, NULL, NULL}, r2 = {q + i * DIM, 10, 50, all_pass, NULL, NULL};
    cr_assert_eq(vt->search(ix, &r1, a, &na), QV_OK);
    cr_assert_eq(vt->search(ix, &r2, b, &nb), QV_OK);
    cr_assert_eq(na, nb);
    for (size_t j = 0; j < na; j++) {
      tot++;
      for (size_t k = 0; k < nb; k++)
        if (a[j].slot == b[k].slot) {
          same++;
          break;
        }
    }
  }
  cr_assert_geq((double)same / (double)tot, 0.99, "%zu of %zu agree", same, tot);
  vt->destroy(ix);
  free(x);
  free(q);
}

/* Every code width finds the neighbours; auto picks 8 bits at 40 dimensions. 4-bit codes are
 * coarse at low dimension (recall 0.84 here with the 3k re-rank limit), so sq4 re-ranks all ef. */
Test(hnsw_codes, recall_per_quantizer) {
  float *x = data(NB), *q = data(50);
  g_rows = x;
  static const char *js[] = {"{\"M\":8,\"quantizer\":\"sq4\",\"rerank\":0}", "{\"M\":8,\"quantizer\":\"sq8\",\"keep_floats\":true}",
                             "{\"M\":8,\"quantizer\":\"auto\"}", "{\"M\":8,\"quantizer\":\"none\"}"};
  for (size_t i = 0; i < 4; i++) {
    qv_index *ix = build(js[i], x, NB);
    double r = recall(ix, x, q, 50, 64);
    cr_assert_geq(r, 0.95, "%s: recall %.3f", js[i], r);
    qv_index_stats st;
    vt->stats(ix, &st);
    cr_log_info("%s: recall@10 %.3f, vectors %.1f KB", js[i], r, (double)st.mem_vectors / 1024.0);
    vt->destroy(ix);
  }
  free(x);
  free(q);
}

Test(hnsw_codes, declared_parameters) {
  float *x = data(500);
  g_rows = x;
  qv_index_params p = {qv__mem_default(), QV_METRIC_L2, DIM, "{\"rerank\":-1}", 1, NULL, NULL, 0};
  qv_index *ix = NULL;
  cr_assert_eq(vt->create(&p, &ix), QV_INVALID);
  p.params_json = "{\"build_on_codes\":2}";
  cr_assert_eq(vt->create(&p, &ix), QV_INVALID);
  p.params_json = "{\"quantizer\":\"sq5\"}";
  cr_assert_eq(vt->create(&p, &ix), QV_INVALID);
  p.params_json = "{\"rerank\":0,\"build_on_codes\":false,\"quantizer\":\"sq4\"}";
  cr_assert_eq(vt->create(&p, &ix), QV_OK);
  cr_assert_eq(vt->set_param(ix, "build_on_codes", 1), QV_OK);
  cr_assert_eq(vt->set_param(ix, "build_on_codes", 0.5), QV_INVALID);
  cr_assert_eq(vt->set_param(ix, "rerank", 5), QV_OK);
  vt->destroy(ix);
  free(x);
}

/* the index's file header (io.c), to rewrite a file with the older 64-byte blocks */
typedef struct file_hdr {
  uint32_t m, m0, efc, efs, n, ep;
  int32_t max_level;
  uint32_t sq8, bsz, code_off, vstride, q8_bytes;
  uint64_t up_words, n_live;
} file_hdr;

static size_t a64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Rewrite the payload-v2 index file src as dst with its level-0 blocks at stride new_bsz. */
static void reblock(const char *src, const char *dst, uint32_t new_bsz) {
  qv_ckpt_hdr want = {0x57534e48u, 2, DIM, QV_METRIC_L2, 0, 0}, got;
  void *pl = NULL;
  cr_assert_eq(qv__ckpt_read(qv__mem_default(), src, &want, &got, &pl), QV_OK);
  const unsigned char *p = pl;
  file_hdr h;
  memcpy(&h, p, sizeof h);
  size_t n = h.n, o_l0 = a64(a64(64 + n) + n), o_q8 = a64(o_l0 + n * h.bsz), o_up = a64(o_q8 + h.q8_bytes);
  size_t tail = got.payload_len - o_up; /* up lists, then the dead floats */
  file_hdr h2 = h;
  h2.bsz = new_bsz;
  size_t n_q8 = a64(o_l0 + n * new_bsz), n_up = a64(n_q8 + h.q8_bytes), total = n_up + tail;
  unsigned char *out = calloc(1, total);
  memcpy(out, &h2, sizeof h2);
  memcpy(out + 64, p + 64, o_l0 - 64);
  for (size_t s = 0; s < n; s++) memcpy(out + o_l0 + s * new_bsz, p + o_l0 + s * h.bsz, h.bsz);
  memcpy(out + n_q8, p + o_q8, h.q8_bytes);
  memcpy(out + n_up, p + o_up, tail);
  qv_ckpt_hdr ch = {0x57534e48u, 2, DIM, QV_METRIC_L2, got.seq, total};
  qv_ckpt_writer w;
  cr_assert_eq(qv__ckpt_begin(&w, qv__mem_default(), dst, &ch), QV_OK);
  qv__ckpt_write(&w, out, total);
  cr_assert_eq(qv__ckpt_commit(&w), QV_OK);
  free(out);
  qv__free_aligned(qv__mem_default(), pl);
}

/* Blocks are 16-byte aligned now (M=8, 40-d sq8: 68 + 44 = 112 bytes); files from before
 * have 64-byte blocks (128) and load with that stride; any other stride is corrupt. */
Test(hnsw_codes, loads_files_with_64_byte_blocks) {
  float *x = data(NB), *q = data(40);
  g_rows = x;
  const char *json = "{\"M\":8,\"ef_construction\":80,\"quantizer\":\"sq8\",\"keep_floats\":true}";
  qv_index *ix = build(json, x, NB);
  char a[128], b[128], c[128];
  snprintf(a, sizeof a, "/tmp/qv_test_hnsw_codes_%d_a", (int)getpid());
  snprintf(b, sizeof b, "/tmp/qv_test_hnsw_codes_%d_b", (int)getpid());
  snprintf(c, sizeof c, "/tmp/qv_test_hnsw_codes_%d_c", (int)getpid());
  cr_assert_eq(vt->save(ix, a, 3), QV_OK);
  reblock(a, b, 128);
  reblock(a, c, 144);
  qv_index_params p = {qv__mem_default(), QV_METRIC_L2, DIM, json, 2, &rows_src, NULL, 0};
  qv_index *old = NULL, *bad = NULL, *same = NULL;
  cr_assert_eq(vt->load(&p, a, &same, NULL), QV_OK);
  cr_assert_eq(vt->load(&p, b, &old, NULL), QV_OK);
  cr_assert_eq(vt->load(&p, c, &bad, NULL), QV_CORRUPT);
  cr_assert_null(bad);
  for (size_t i = 0; i < 40; i++) {
    qv_hit g1[10], g2[10], g3[10];
    size_t n1, n2, n3;
    qv_search_req req = {q + i * DIM, 10, 40, NULL, NULL, NULL};
    vt->search(ix, &req, g1, &n1);
    vt->search(old, &req, g2, &n2);
    vt->search(same, &req, g3, &n3);
    cr_assert_eq(n1, n2);
    cr_assert_eq(n1, n3);
    for (size_t j = 0; j < n1; j++) {
      cr_assert_eq(g1[j].slot, g2[j].slot);
      cr_assert_eq(g1[j].slot, g3[j].slot);
    }
  }
  /* it keeps its stride as it grows */
  float *more = data(200);
  uint32_t sl[200];
  for (uint32_t i = 0; i < 200; i++) sl[i] = NB + i;
  cr_assert_eq(vt->add(old, sl, more, 200), QV_OK);
  size_t n = 0;
  qv_hit h[1];
  qv_search_req req = {more + 17 * DIM, 1, 40, NULL, NULL, NULL};
  cr_assert_eq(vt->search(old, &req, h, &n), QV_OK);
  cr_assert_eq(n, 1u);
  cr_assert_eq(h[0].dist, 0.0f);
  vt->destroy(old);
  vt->destroy(same);
  vt->destroy(ix);
  unlink(a);
  unlink(b);
  unlink(c);
  free(x);
  free(q);
  free(more);
}

/* quantizer auto is 8-bit codes at every dimension: 4-bit codes lose recall on anisotropic
 * data (bench/RESULTS.md section 19), so they must stay an explicit choice. */
Test(hnsw_codes, auto_is_sq8_at_every_dim) {
  static const uint32_t dims[] = {4, 64, 100, 128, 256, 784, 1536};
  static const char *js[] = {"{\"quantizer\":\"auto\"}", "{}", "{\"quantizer\":\"sq4\"}", "{\"quantizer\":\"none\"}"};
  static const int want[] = {8, 8, 4, 0};
  for (size_t d = 0; d < sizeof dims / sizeof *dims; d++)
    for (size_t j = 0; j < 4; j++) {
      qv_index_params p = {qv__mem_default(), QV_METRIC_L2, dims[d], js[j], 1, NULL, NULL, 0};
      qv_index *ix = NULL;
      cr_assert_eq(vt->create(&p, &ix), QV_OK, "%s at %u-d", js[j], dims[d]);
      cr_assert_eq(((const struct qv_index *)ix)->sq8, want[j], "%s at %u-d: %d-bit codes", js[j], dims[d],
                   ((const struct qv_index *)ix)->sq8);
      vt->destroy(ix);
    }
}

/* A payload-v2 header with traversal codes and a float-row stride of 0 (fuzz_index_load
 * found one): refused as corrupt, where the dead-floats length check divided by the stride. */
Test(hnsw_codes, zero_float_stride_is_corrupt) {
  const char *json = "{\"M\":8,\"ef_construction\":16,\"quantizer\":\"sq8\"}";
  char path[128];
  snprintf(path, sizeof path, "/tmp/qv_test_hnsw_codes_%d_z", (int)getpid());
  for (size_t extra = 0; extra < 3; extra++) {
    file_hdr h;
    memset(&h, 0, sizeof h);
    h.m = 8, h.m0 = 16, h.efc = 16, h.efs = 64, h.max_level = -1, h.sq8 = 8; /* n, bsz, vstride... 0 */
    unsigned char pl[64 + 2] = {0};
    memcpy(pl, &h, sizeof h);
    qv_ckpt_hdr ch = {0x57534e48u, 2, DIM, QV_METRIC_L2, 1, 0};
    qv_ckpt_writer w;
    cr_assert_eq(qv__ckpt_begin(&w, qv__mem_default(), path, &ch), QV_OK);
    qv__ckpt_write(&w, pl, 64 + extra);
    cr_assert_eq(qv__ckpt_commit(&w), QV_OK);
    qv_index_params p = {qv__mem_default(), QV_METRIC_L2, DIM, json, 1, &rows_src, NULL, 0};
    qv_index *ix = NULL;
    cr_assert_eq(vt->load(&p, path, &ix, NULL), QV_CORRUPT, "%zu bytes after the header", extra);
    cr_assert_null(ix);
  }
  unlink(path);
}
