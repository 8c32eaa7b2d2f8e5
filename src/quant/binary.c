/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant/binary.c -- binary quantization for quant.h: one sign bit per dimension (bit i of the
 * code set when x_i > 0), dimensions padded to a multiple of 64 with zero bits, Hamming
 * distance h between query and code bits. For embeddings trained for it (and for sign data,
 * where it is exact), reported on the metric's scale as if every coordinate were +-a, with a^2
 * the mean square coordinate of the training sample:
 *   l2:        4 a^2 h            (|x - y|^2 of two +-a vectors differing in h places)
 *   ip/cosine: 1 - a^2 (dim - 2h)
 * Both are increasing in h, so the order of results is the Hamming order. State on disk: a^2.
 * The popcount runs on 64-bit words (the POPCNT instruction on CPUs with AVX2, chosen at run
 * time; a table-free bit count otherwise).
 */
#include <math.h>
#include <string.h>

#include "quant.h"

typedef struct bin_state {
  uint32_t words; /* 64-bit words per code */
  float a2;
} bin_state;

static qv_status bin_train(qv_quant *q, const float *x, size_t n) {
  bin_state *s = q->st;
  double acc = 0;
  for (size_t i = 0; i < n * q->dim; i++) acc += (double)x[i] * x[i];
  s->a2 = (float)(acc / ((double)n * q->dim));
  if (!(s->a2 > 0)) s->a2 = 1.0f / (float)q->dim;
  return QV_OK;
}

static void sign_bits(const qv_quant *q, const float *x, uint8_t *code) {
  memset(code, 0, q->code_bytes);
  for (size_t i = 0; i < q->dim; i++)
    if (x[i] > 0) code[i / 8] |= (uint8_t)(1u << (i % 8));
}

static qv_status bin_encode(const qv_quant *q, const float *x, size_t n, const int32_t *center, uint8_t *codes) {
  (void)center;
  for (size_t r = 0; r < n; r++) sign_bits(q, x + r * q->dim, codes + r * q->code_bytes);
  return QV_OK;
}

static void bin_decode(const qv_quant *q, const uint8_t *code, int32_t center, float *x) {
  (void)center;
  const bin_state *s = q->st;
  float a = sqrtf(s->a2);
  for (size_t i = 0; i < q->dim; i++) x[i] = (code[i / 8] >> (i % 8)) & 1 ? a : -a;
}

/* Prepared query: the query's own sign bits (the code layout). */
static void bin_prepare(const qv_quant *q, const float *query, void *prep) { sign_bits(q, query, prep); }

static inline unsigned pop_soft(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

static unsigned ham_soft(const uint64_t *a, const uint8_t *b, uint32_t words) {
  unsigned h = 0;
  for (uint32_t w = 0; w < words; w++) {
    uint64_t v;
    memcpy(&v, b + 8 * w, 8);
    h += pop_soft(a[w] ^ v);
  }
  return h;
}

__attribute__((target("popcnt"))) static unsigned ham_popcnt(const uint64_t *a, const uint8_t *b, uint32_t words) {
  unsigned h = 0;
  for (uint32_t w = 0; w < words; w++) {
    uint64_t v;
    memcpy(&v, b + 8 * w, 8);
    h += (unsigned)__builtin_popcountll(a[w] ^ v);
  }
  return h;
}

static void bin_scan(const qv_quant *q, const void *prep, const uint8_t *codes, size_t n, float *out) {
  const bin_state *s = q->st;
  const uint64_t *qa = prep;
  int l2 = q->metric == QV_METRIC_L2;
  for (size_t r = 0; r < n; r++) {
    const uint8_t *c = codes + r * q->code_bytes;
    unsigned h = q->simd ? ham_popcnt(qa, c, s->words) : ham_soft(qa, c, s->words);
    out[r] = l2 ? 4.0f * s->a2 * (float)h : 1.0f - s->a2 * ((float)q->dim - 2.0f * (float)h);
  }
}

static void bin_free(qv_quant *q) { qv__free(q->mem, q->st); }
static size_t bin_state_bytes(const qv_quant *q) {
  (void)q;
  return sizeof(float);
}
static void bin_state_write(const qv_quant *q, qv_ckpt_writer *w) {
  const bin_state *s = q->st;
  qv__ckpt_write(w, &s->a2, sizeof s->a2);
}
static qv_status bin_state_read(qv_quant *q, const unsigned char *p, size_t n) {
  bin_state *s = q->st;
  (void)n;
  memcpy(&s->a2, p, sizeof s->a2);
  return isfinite(s->a2) && s->a2 > 0 ? QV_OK : QV_CORRUPT;
}

static const qv_quant_ops bin_ops = {
    .train = bin_train,
    .encode_many = bin_encode,
    .decode = bin_decode,
    .prepare = bin_prepare,
    .scan = bin_scan,
    .free_state = bin_free,
    .state_bytes = bin_state_bytes,
    .state_write = bin_state_write,
    .state_read = bin_state_read,
};

qv_status qv__quant_init_binary(qv_quant *q) {
  bin_state *s = qv__calloc(q->mem, 1, sizeof *s);
  if (!s) return QV_NOMEM;
  q->st = s;
  s->words = (q->dim + 63) / 64;
  s->a2 = 1.0f / (float)q->dim;
  q->ops = &bin_ops;
  q->code_bytes = (size_t)s->words * 8;
  q->prep_bytes = q->code_bytes;
  return QV_OK;
}
