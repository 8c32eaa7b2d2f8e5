/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant/sq_dot16.h -- the AVX2 int16 x u8 dot product (sum w_i c_i; see sq_kern.h) as an
 * inline function: sq_kern.c exports it as qv__sq_dot16_avx2, and HNSW's sq8.c inlines it into
 * its neighbour-list loop so the prefetches overlap the arithmetic. Reads exactly dim code
 * bytes and dim weights.
 */
#ifndef QV_SQ_DOT16_H
#define QV_SQ_DOT16_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

__attribute__((target("avx2,fma"))) static inline int32_t qv__sq_dot16_avx2_in(const int16_t *w,
                                                                               const unsigned char *c,
                                                                               size_t dim) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(c + i)));
    __m256i c1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(c + i + 16)));
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(c0, _mm256_loadu_si256((const __m256i *)(const void *)(w + i))));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(c1, _mm256_loadu_si256((const __m256i *)(const void *)(w + i + 16))));
  }
  if (i + 16 <= dim) {
    __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(c + i)));
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(c0, _mm256_loadu_si256((const __m256i *)(const void *)(w + i))));
    i += 16;
  }
  acc0 = _mm256_add_epi32(acc0, acc1);
  __m128i a = _mm_add_epi32(_mm256_castsi256_si128(acc0), _mm256_extracti128_si256(acc0, 1));
  if (i + 8 <= dim) {
    __m128i c0 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(c + i)));
    a = _mm_add_epi32(a, _mm_madd_epi16(c0, _mm_loadu_si128((const __m128i *)(const void *)(w + i))));
    i += 8;
  }
  if (i + 4 <= dim) {
    int32_t t;
    memcpy(&t, c + i, 4);
    __m128i c0 = _mm_cvtepu8_epi16(_mm_cvtsi32_si128(t));
    a = _mm_add_epi32(a, _mm_madd_epi16(c0, _mm_loadl_epi64((const __m128i *)(const void *)(w + i))));
    i += 4;
  }
  a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0x4e));
  a = _mm_add_epi32(a, _mm_shuffle_epi32(a, 0xb1));
  int32_t r = _mm_cvtsi128_si32(a);
  for (; i < dim; i++) r += (int32_t)w[i] * (int32_t)c[i];
  return r;
}

#endif /* QV_SQ_DOT16_H */
