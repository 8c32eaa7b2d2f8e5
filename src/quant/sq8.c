/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant/sq8.c -- the 8- and 4-bit traversal codes of the HNSW index (see sq8.h for the math);
 * the float-query and VNNI kernels are the shared set of sq_kern.c, the int16 one
 * (sq_dot16.h) and the 4-bit ones are inlined here into the neighbour-list loop.
 * Parameter block on disk: lo[dim], hi[dim] as little-endian float32 (the code width is in
 * the index's header).
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "sq8.h"
#include "sq_dot16.h"
#include "sq_kern.h"

/* Range growth stops once the index holds this many vectors (re-encoding gets expensive). */
#define TRAIN_UNTIL 200000u

#define T256 __attribute__((target("avx2,fma")))

/*
 * 4-bit codes (bits 4). Each full group of 32 dimensions is 16 bytes: byte j holds dimension
 * 32g + j in its low nibble and 32g + 16 + j in its high nibble, so one 16-byte load, a mask
 * and a shift give 32 codes in dimension order. The last r = dim % 32 dimensions take
 * h = ceil(r / 2) bytes: byte j holds tail dimension j (low) and h + j (high, 0 past r). The
 * prepared int16 weights are laid out as the kernel consumes the nibbles: full groups in
 * dimension order, the tail group as lanes 0..h-1 (low nibbles) and 16..16+h-1 (high).
 * Code bytes: 4 (norm) + 16 * (dim / 32) + h. At 100-d: 54 bytes, a 256-byte adjacency
 * block at M=16 shrinks to 192; at 784-d 396 bytes instead of 788.
 */
static size_t sq4_bytes(uint32_t dim) { return 16 * (size_t)(dim / 32) + ((dim % 32) + 1) / 2; }

static int32_t dot4_tail(const int16_t *w, const unsigned char *c, size_t dim) {
  size_t full = dim / 32, r = dim % 32, h = (r + 1) / 2;
  const int16_t *wt = w + 32 * full;
  const unsigned char *ct = c + 16 * full;
  int32_t s = 0;
  for (size_t j = 0; j < h; j++) s += (int32_t)wt[j] * (ct[j] & 15) + (int32_t)wt[16 + j] * (ct[j] >> 4);
  return s;
}

static int32_t dot4_scalar(const int16_t *w, const unsigned char *c, size_t dim) {
  int32_t s = 0;
  for (size_t g = 0; g < dim / 32; g++)
    for (size_t j = 0; j < 16; j++)
      s += (int32_t)w[32 * g + j] * (c[16 * g + j] & 15) + (int32_t)w[32 * g + 16 + j] * (c[16 * g + j] >> 4);
  return s + dot4_tail(w, c, dim);
}

T256 static inline int32_t hsum_epi32_256(__m256i v) {
  __m128i a = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0x4e));
  a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0xb1));
  return _mm_cvtsi128_si32(a);
}

/* Reads exactly the code's bytes (a code may end at the end of the arena). */
T256 static inline int32_t dot4_avx2_in(const int16_t *w, const unsigned char *c, size_t dim) {
  const __m128i m = _mm_set1_epi8(15);
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  size_t g = 0, full = dim / 32;
  for (; g < full; g++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(c + 16 * g));
    __m256i lo = _mm256_cvtepu8_epi16(_mm_and_si128(v, m));
    __m256i hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), m));
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(lo, _mm256_loadu_si256((const __m256i *)(const void *)(w + 32 * g))));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(hi, _mm256_loadu_si256((const __m256i *)(const void *)(w + 32 * g + 16))));
  }
  int32_t s = hsum_epi32_256(_mm256_add_epi32(acc0, acc1));
  return dim % 32 ? s + dot4_tail(w, c, dim) : s;
}

T256 static int32_t dot4_avx2(const int16_t *w, const unsigned char *c, size_t dim) { return dot4_avx2_in(w, c, dim); }

/* Every cache line of p[0..n) (codes need not start on a line), up to 16 lines. */
static inline void prefetch_code(const unsigned char *p, size_t n) {
  uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, e = (uintptr_t)p + (n > 1024 ? 1024 : n);
  for (; a < e; a += 64) __builtin_prefetch((const void *)a, 0, 3);
}

#define MANY_AHEAD 2 /* codes prefetched ahead of the distance loop */

/* pf: the prepared query; iw: the integer dot product; code: the code (its norm first) */
static inline float int_dist(const hnsw_sq8 *q, const float *pf, int32_t iw, const unsigned char *code) {
  float dot = pf[0] + pf[1] * (float)iw;
  if (q->metric != QV_METRIC_L2) return 1.0f - dot;
  float xn;
  memcpy(&xn, code, 4);
  return pf[2] - 2.0f * dot + xn;
}

#define MANY_BODY(KERNEL, WTYPE)                                                                   \
  const float *pf = prep;                                                                          \
  const WTYPE *w = (const WTYPE *)(const void *)(pf + 16);                                         \
  size_t cb = q->code_bytes;                                                                       \
  for (size_t i = 0; i < n && i < MANY_AHEAD; i++) prefetch_code(base + (size_t)ids[i] * stride, cb); \
  for (size_t i = 0; i < n; i++) {                                                                 \
    if (i + MANY_AHEAD < n) prefetch_code(base + (size_t)ids[i + MANY_AHEAD] * stride, cb);       \
    const unsigned char *code = base + (size_t)ids[i] * stride;                                    \
    out[i] = int_dist(q, pf, KERNEL(w, code + 4, q->dim), code);                                   \
  }

T256 static void many_dot4_avx2(const hnsw_sq8 *q, const void *prep, const unsigned char *base, size_t stride,
                                const uint32_t *ids, size_t n, float *out) {
  MANY_BODY(dot4_avx2_in, int16_t)
}

T256 static void many_dot16_avx2(const hnsw_sq8 *q, const void *prep, const unsigned char *base, size_t stride,
                                 const uint32_t *ids, size_t n, float *out) {
  MANY_BODY(qv__sq_dot16_avx2_in, int16_t)
}

/* Any other kernel: one hnsw_sq8_dist per code. */
static void many_generic(const hnsw_sq8 *q, const void *prep, const unsigned char *base, size_t stride,
                         const uint32_t *ids, size_t n, float *out) {
  size_t cb = q->code_bytes;
  for (size_t i = 0; i < n && i < MANY_AHEAD; i++) prefetch_code(base + (size_t)ids[i] * stride, cb);
  for (size_t i = 0; i < n; i++) {
    if (i + MANY_AHEAD < n) prefetch_code(base + (size_t)ids[i + MANY_AHEAD] * stride, cb);
    out[i] = hnsw_sq8_dist(q, prep, base + (size_t)ids[i] * stride);
  }
}

static uint32_t sq4_lane(uint32_t dim, uint32_t i);

int hnsw_sq8_init(hnsw_sq8 *q, const qv_mem *mem, qv_metric metric, uint32_t dim, uint32_t bits) {
  memset(q, 0, sizeof *q);
  if (metric != QV_METRIC_L2 && metric != QV_METRIC_IP && metric != QV_METRIC_COSINE) return -1;
  if (bits != 8 && bits != 4) return -1;
  q->metric = metric;
  q->dim = dim;
  q->bits = bits;
  q->dim_pad = (dim + 31) & ~31u;
  q->code_bytes = 4 + (bits == 8 ? (size_t)dim : sq4_bytes(dim));
  q->lo = qv__calloc(mem, (size_t)q->dim_pad * 3, sizeof(float));
  if (!q->lo) return -1;
  if (bits == 4) {
    q->acc = qv__calloc(mem, (size_t)dim * 4, sizeof(double));
    if (!q->acc) {
      qv__free(mem, q->lo);
      q->lo = NULL;
      return -1;
    }
  }
  q->ints = qv__calloc(mem, dim, 1);
  q->top = qv__calloc(mem, dim, sizeof(float));
  if (!q->ints || !q->top) {
    hnsw_sq8_free(q, mem);
    return -1;
  }
  q->hi = q->lo + q->dim_pad;
  q->scale = q->hi + q->dim_pad;
  const char *isa = qv__kernels()->isa;
  int l2 = metric == QV_METRIC_L2;
  const char *e = getenv("QV_HNSW_VNNI"); /* 0: the float-query kernels (fn) only */
  int int8 = !e || !*e || atoi(e) != 0;
  q->w_max = 127.0f;
  q->many = many_generic;
  q->dec_avx2 = strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0;
  if (bits == 4) { /* integer weights always: the scalar kernel gives the AVX2 sums exactly */
    int avx2 = strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0;
    q->dot4 = avx2 ? dot4_avx2 : dot4_scalar;
    if (avx2) q->many = many_dot4_avx2;
    if (avx2 && (q->lane4 = qv__malloc(mem, (size_t)dim * sizeof *q->lane4)) != NULL)
      for (uint32_t i = 0; i < dim; i++) q->lane4[i] = sq4_lane(dim, i);
    q->w_max = 2047.0f;
    if (15.0 * 2047.0 * dim > 2147483647.0) q->w_max = (float)floor(2147483647.0 / (15.0 * dim));
    return 0;
  }
  if (int8 && strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("avx512vnni")) {
    q->dot8 = qv__sq_dot8_vnni;
  } else if (int8 && (strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0)) {
    q->dot16 = qv__sq_dot16_avx2;
    q->many = many_dot16_avx2;
    q->w_max = 2047.0f;
    if (255.0 * 2047.0 * dim > 2147483647.0) q->w_max = (float)floor(2147483647.0 / (255.0 * dim));
  }
  q->fn = l2 ? qv__sq_l2_u8_for(isa) : qv__sq_dot_u8_for(isa);
  return 0;
}

void hnsw_sq8_free(hnsw_sq8 *q, const qv_mem *mem) {
  qv__free(mem, q->lo);
  qv__free(mem, q->acc);
  qv__free(mem, q->ints);
  qv__free(mem, q->top);
  qv__free(mem, q->lane4);
  q->lane4 = NULL;
  q->lo = q->hi = q->scale = NULL;
  q->acc = NULL;
  q->ints = NULL;
  q->top = NULL;
}

static float levels(const hnsw_sq8 *q) { return q->bits == 4 ? 15.0f : 255.0f; }

/* x is an integer that the integer grid can hold exactly (lo + c with c <= 255 stays exact) */
static int grid_int(double x) { return x == floor(x) && fabs(x) < 4194304.0; }

static void set_scales(hnsw_sq8 *q) {
  for (uint32_t i = 0; i < q->dim; i++) q->scale[i] = (q->hi[i] - q->lo[i]) / levels(q);
}

#define SQ4_SIGMAS 2.7 /* near the best clipping of 16 uniform steps for a gaussian (Lloyd-Max) */
#define SQ4_MOVE 0.02  /* re-encode only when an end moved by more than this part of the range */

static int train4(hnsw_sq8 *q, const float *vecs, size_t n) {
  uint32_t d = q->dim;
  double *sum = q->acc, *sq = sum + d, *mn = sq + d, *mx = mn + d;
  for (size_t r = 0; r < n; r++) {
    const float *v = vecs + r * d;
    for (uint32_t i = 0; i < d; i++) {
      double x = v[i];
      if (q->seen == 0 && r == 0) {
        mn[i] = mx[i] = x;
        q->ints[i] = 1;
      }
      if (q->ints[i] && !grid_int(x)) q->ints[i] = 0;
      sum[i] += x;
      sq[i] += x * x;
      if (x < mn[i]) mn[i] = x;
      if (x > mx[i]) mx[i] = x;
    }
  }
  q->seen += n;
  int changed = !q->trained;
  for (uint32_t i = 0; i < d; i++) {
    double mean = sum[i] / (double)q->seen, var = sq[i] / (double)q->seen - mean * mean;
    double sd = var > 0 ? sqrt(var) : 0;
    double lo = mean - SQ4_SIGMAS * sd, hi = mean + SQ4_SIGMAS * sd;
    if (lo < mn[i]) lo = mn[i];
    if (hi > mx[i]) hi = mx[i];
    if (q->ints[i] && mx[i] - mn[i] <= 15) { /* integer grid: every value exact */
      lo = mn[i];
      hi = mn[i] + 15;
    }
    double tol = SQ4_MOVE * (double)(q->hi[i] - q->lo[i]);
    if (fabs(lo - q->lo[i]) > tol || fabs(hi - q->hi[i]) > tol) changed = 1;
  }
  if (!changed) return 0;
  for (uint32_t i = 0; i < d; i++) {
    double mean = sum[i] / (double)q->seen, var = sq[i] / (double)q->seen - mean * mean;
    double sd = var > 0 ? sqrt(var) : 0;
    double lo = mean - SQ4_SIGMAS * sd, hi = mean + SQ4_SIGMAS * sd;
    q->lo[i] = (float)(lo < mn[i] ? mn[i] : lo);
    q->hi[i] = (float)(hi > mx[i] ? mx[i] : hi);
    if (q->ints[i] && mx[i] - mn[i] <= 15) {
      q->lo[i] = (float)mn[i];
      q->hi[i] = (float)mn[i] + 15.0f;
    }
    if (q->hi[i] < q->lo[i]) q->hi[i] = q->lo[i];
  }
  q->trained = 1;
  set_scales(q);
  return 1;
}

int hnsw_sq8_maybe_train(hnsw_sq8 *q, const float *vecs, size_t n, uint64_t n_have) {
  if (!n || (q->trained && n_have >= TRAIN_UNTIL)) return 0;
  if (q->bits == 4) return q->trained && !q->seen ? 0 : train4(q, vecs, n); /* loaded: keep its range */
  int changed = 0;
  uint32_t d = q->dim;
  if (!q->trained) {
    memcpy(q->lo, vecs, d * sizeof(float));
    memcpy(q->hi, vecs, d * sizeof(float));
    memcpy(q->top, vecs, d * sizeof(float));
    memset(q->ints, 1, d);
    q->trained = 1;
    changed = 1;
  }
  /* lo: the minimum; top: the maximum; hi: top, or lo + 255 on the integer grid */
  for (size_t r = 0; r < n; r++) {
    const float *v = vecs + r * d;
    for (uint32_t i = 0; i < d; i++) {
      if (q->ints[i] && !grid_int(v[i])) q->ints[i] = 0;
      if (v[i] < q->lo[i]) {
        q->lo[i] = v[i];
        changed = 1;
      } else if (v[i] > q->top[i]) {
        q->top[i] = v[i];
      }
    }
  }
  for (uint32_t i = 0; i < d; i++) {
    float hi = q->ints[i] && (double)q->top[i] - q->lo[i] <= 255.0 ? q->lo[i] + 255.0f : q->top[i];
    if (hi != q->hi[i]) {
      q->hi[i] = hi;
      changed = 1;
    }
  }
  if (changed) set_scales(q);
  return changed;
}

static unsigned quantize(const hnsw_sq8 *q, const float *v, uint32_t i, float top) {
  if (i >= q->dim) return 0;
  float s = q->scale[i];
  float x = s > 0 ? (v[i] - q->lo[i]) / s : 0.0f;
  x = x < 0 ? 0 : x > top ? top : x;
  return (unsigned)lrintf(x);
}

/* Position of dimension i in the 4-bit layout: byte offset (from the code bytes), high nibble? */
static void sq4_pos(uint32_t dim, uint32_t i, size_t *byte, int *high) {
  uint32_t g = i / 32, j = i % 32;
  if (g < dim / 32) {
    *byte = 16 * (size_t)g + (j & 15);
    *high = j >= 16;
  } else {
    uint32_t h = ((dim % 32) + 1) / 2;
    *byte = 16 * (size_t)g + (j < h ? j : j - h);
    *high = j >= h;
  }
}

/* Lane of dimension i among the prepared weights (4-bit layout). */
static uint32_t sq4_lane(uint32_t dim, uint32_t i) {
  size_t b;
  int hi;
  sq4_pos(dim, i, &b, &hi);
  return (uint32_t)(32 * (b / 16) + (b % 16) + (hi ? 16 : 0));
}

void hnsw_sq8_encode(const hnsw_sq8 *q, const float *v, unsigned char *code) {
  float xn = 0; /* squared norm of the decoded vector */
  if (q->bits == 4) {
    memset(code + 4, 0, q->code_bytes - 4);
    for (uint32_t i = 0; i < q->dim; i++) {
      unsigned c = quantize(q, v, i, 15.0f);
      size_t b;
      int hi;
      sq4_pos(q->dim, i, &b, &hi);
      code[4 + b] |= (unsigned char)(hi ? c << 4 : c);
      float x = q->lo[i] + q->scale[i] * (float)c;
      xn += x * x;
    }
    memcpy(code, &xn, 4);
    return;
  }
  for (uint32_t i = 0; i < q->dim; i++) {
    unsigned c = quantize(q, v, i, 255.0f);
    code[4 + i] = (unsigned char)c;
    float x = q->lo[i] + q->scale[i] * (float)c;
    xn += x * x;
  }
  memcpy(code, &xn, 4);
}

/* Dimension i of a code's decoded vector: the one expression both decode and exact use. */
static inline float dec1(const hnsw_sq8 *q, float c, uint32_t i) { return q->lo[i] + q->scale[i] * c; }

/*
 * 8-bit decode, 8 dimensions per step: the same products and sums as dec1 (AVX2 without FMA,
 * so nothing is contracted: bit for bit the scalar result, which the exact re-rank relies on).
 */
__attribute__((target("avx2"))) static void decode8_avx2(const hnsw_sq8 *q, const unsigned char *c, float *out) {
  uint32_t i = 0, d = q->dim;
  for (; i + 8 <= d; i += 8) {
    __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(c + i))));
    __m256 x = _mm256_add_ps(_mm256_loadu_ps(q->lo + i), _mm256_mul_ps(_mm256_loadu_ps(q->scale + i), f));
    _mm256_storeu_ps(out + i, x);
  }
  for (; i < d; i++) out[i] = dec1(q, (float)c[i], i);
}

void hnsw_sq8_decode(const hnsw_sq8 *q, const unsigned char *code, float *out) {
  const unsigned char *c = code + 4;
  if (q->bits == 8 && q->dec_avx2) {
    decode8_avx2(q, c, out);
    return;
  }
  if (q->bits == 4) {
    for (uint32_t i = 0; i < q->dim; i++) {
      size_t b;
      int hi;
      sq4_pos(q->dim, i, &b, &hi);
      out[i] = dec1(q, (float)(hi ? c[b] >> 4 : c[b] & 15), i);
    }
    return;
  }
  for (uint32_t i = 0; i < q->dim; i++) out[i] = dec1(q, (float)c[i], i);
}

int hnsw_sq8_exact(const hnsw_sq8 *q, const float *v, const unsigned char *code) {
  const unsigned char *c = code + 4;
  for (uint32_t i = 0; i < q->dim; i++) {
    float x;
    if (q->bits == 4) {
      size_t b;
      int hi;
      sq4_pos(q->dim, i, &b, &hi);
      x = dec1(q, (float)(hi ? c[b] >> 4 : c[b] & 15), i);
    } else {
      x = dec1(q, (float)c[i], i);
    }
    if (memcmp(&x, &v[i], sizeof x) != 0) return 0; /* bit for bit: -0.0 is not 0.0 */
  }
  return 1;
}

size_t hnsw_sq8_query_bytes(const hnsw_sq8 *q) { return 64 + (size_t)q->dim_pad * sizeof(float); }

/*
 * prepare_int8 for the int16 weights (dot16) with AVX2: the same weights (q_i scale_i, times
 * ws, rounded to nearest even as lrintf does), the sums k and |q|^2 in 8 lanes (they differ
 * from the scalar loop's by rounding only). A fixed cost of every search: ~20k instructions
 * per 784-d query scalar, a tenth of that here.
 */
T256 static void prepare16_avx2(const hnsw_sq8 *q, const float *query, float *pf) {
  int16_t *w16 = (int16_t *)(pf + 16);
  uint32_t d = q->dim, i = 0;
  if (q->lane4) { /* 4-bit layout: weight i goes to lane lane4[i] (sq4_lane, computed once) */
    for (i = 0; i < q->dim_pad; i++) w16[i] = 0;
    i = 0;
  }
  __m256 vk = _mm256_setzero_ps(), vn = _mm256_setzero_ps(), vm = _mm256_setzero_ps();
  const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (; i + 8 <= d; i += 8) {
    __m256 x = _mm256_loadu_ps(query + i);
    vk = _mm256_fmadd_ps(x, _mm256_loadu_ps(q->lo + i), vk);
    vn = _mm256_fmadd_ps(x, x, vn);
    vm = _mm256_max_ps(vm, _mm256_and_ps(abs, _mm256_mul_ps(x, _mm256_loadu_ps(q->scale + i))));
  }
  float lk[8], ln[8], lm[8];
  _mm256_storeu_ps(lk, vk);
  _mm256_storeu_ps(ln, vn);
  _mm256_storeu_ps(lm, vm);
  float k = 0, qn = 0, mx = 0;
  for (int j = 0; j < 8; j++) {
    k += lk[j];
    qn += ln[j];
    if (lm[j] > mx) mx = lm[j];
  }
  for (; i < d; i++) {
    k += query[i] * q->lo[i];
    qn += query[i] * query[i];
    float w = fabsf(query[i] * q->scale[i]);
    if (w > mx) mx = w;
  }
  float ws = mx > 0 ? q->w_max / mx : 0.0f;
  __m256 vws = _mm256_set1_ps(ws);
  if (q->lane4) {
    int32_t t[8];
    for (i = 0; i + 8 <= d; i += 8) {
      __m256 a = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(query + i), _mm256_loadu_ps(q->scale + i)), vws);
      _mm256_storeu_si256((__m256i *)(void *)t, _mm256_cvtps_epi32(a));
      for (int j = 0; j < 8; j++) w16[q->lane4[i + j]] = (int16_t)t[j];
    }
    for (; i < d; i++) w16[q->lane4[i]] = (int16_t)lrintf(query[i] * q->scale[i] * ws);
    pf[0] = k;
    pf[1] = ws > 0 ? 1.0f / ws : 0.0f;
    pf[2] = qn;
    return;
  }
  for (i = 0; i + 16 <= d; i += 16) {
    __m256 a = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(query + i), _mm256_loadu_ps(q->scale + i)), vws);
    __m256 b = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(query + i + 8), _mm256_loadu_ps(q->scale + i + 8)), vws);
    __m256i p = _mm256_packs_epi32(_mm256_cvtps_epi32(a), _mm256_cvtps_epi32(b)); /* a0-3 b0-3 a4-7 b4-7 */
    _mm256_storeu_si256((__m256i *)(void *)(w16 + i), _mm256_permute4x64_epi64(p, 0xd8));
  }
  for (; i < d; i++) w16[i] = (int16_t)lrintf(query[i] * q->scale[i] * ws);
  for (; i < q->dim_pad; i++) w16[i] = 0;
  pf[0] = k;
  pf[1] = ws > 0 ? 1.0f / ws : 0.0f;
  pf[2] = qn;
}

static void prepare_int8(const hnsw_sq8 *q, const float *query, float *pf) {
  if ((q->dot16 && q->many == many_dot16_avx2) || (q->dot4 && q->many == many_dot4_avx2 && q->lane4)) {
    prepare16_avx2(q, query, pf);
    return;
  }
  int8_t *w8 = (int8_t *)(pf + 16);
  int16_t *w16 = (int16_t *)(pf + 16);
  float k = 0, qn = 0, mx = 0;
  for (uint32_t i = 0; i < q->dim; i++) {
    k += query[i] * q->lo[i];
    qn += query[i] * query[i];
    float w = fabsf(query[i] * q->scale[i]);
    if (w > mx) mx = w;
  }
  float ws = mx > 0 ? q->w_max / mx : 0.0f;
  if (q->dot4) {
    for (uint32_t i = 0; i < q->dim_pad; i++) w16[i] = 0;
    for (uint32_t i = 0; i < q->dim; i++) w16[sq4_lane(q->dim, i)] = (int16_t)lrintf(query[i] * q->scale[i] * ws);
  } else if (q->dot16) {
    for (uint32_t i = 0; i < q->dim; i++) w16[i] = (int16_t)lrintf(query[i] * q->scale[i] * ws);
    for (uint32_t i = q->dim; i < q->dim_pad; i++) w16[i] = 0;
  } else {
    for (uint32_t i = 0; i < q->dim; i++) w8[i] = (int8_t)lrintf(query[i] * q->scale[i] * ws);
    for (uint32_t i = q->dim; i < ((q->dim + 63) & ~63u); i++) w8[i] = 0;
  }
  pf[0] = k;
  pf[1] = ws > 0 ? 1.0f / ws : 0.0f;
  pf[2] = qn;
}

void hnsw_sq8_prepare(const hnsw_sq8 *q, const float *query, void *prep) {
  float *pf = prep, *a = pf + 16;
  if (q->dot8 || q->dot16 || q->dot4) {
    prepare_int8(q, query, pf);
    return;
  }
  for (uint32_t i = q->dim; i < q->dim_pad; i++) a[i] = 0;
  if (q->metric == QV_METRIC_L2) {
    for (uint32_t i = 0; i < q->dim; i++) a[i] = query[i] - q->lo[i];
    pf[0] = 0;
  } else {
    float k = 0;
    for (uint32_t i = 0; i < q->dim; i++) {
      a[i] = query[i] * q->scale[i];
      k += query[i] * q->lo[i];
    }
    pf[0] = k;
  }
}

size_t hnsw_sq8_params_bytes(const hnsw_sq8 *q) { return (size_t)q->dim * 2 * sizeof(float); }

void hnsw_sq8_params_write(const hnsw_sq8 *q, qv_ckpt_writer *w) {
  qv__ckpt_write(w, q->lo, (size_t)q->dim * sizeof(float));
  qv__ckpt_write(w, q->hi, (size_t)q->dim * sizeof(float));
}

int hnsw_sq8_params_read(hnsw_sq8 *q, const void *p, size_t n) {
  if (n != hnsw_sq8_params_bytes(q)) return -1;
  memcpy(q->lo, p, n / 2);
  memcpy(q->hi, (const char *)p + n / 2, n / 2);
  for (uint32_t i = 0; i < q->dim; i++)
    if (!isfinite(q->lo[i]) || !isfinite(q->hi[i]) || q->hi[i] < q->lo[i]) return -1;
  for (uint32_t i = 0; i < q->dim; i++) { /* the training state a load can tell (sq8.h: ints) */
    q->ints[i] = grid_int(q->lo[i]) && q->hi[i] - q->lo[i] == levels(q);
    q->top[i] = q->hi[i];
  }
  set_scales(q);
  q->trained = 1;
  return 0;
}
