/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * kernels/avx512pop.c -- hamming kernels with AVX-512 VPOPCNTDQ (vpopcntq on 512-bit XORs).
 * Built with -mavx512vpopcntdq (CMakeLists.txt); kernels/dispatch.c installs them in the
 * AVX-512 table only when CPUID reports AVX512_VPOPCNTDQ and the OS saves the ZMM state.
 * 64-byte steps, then one masked (zeroing) load for the last nbytes % 64 bytes: exact for any
 * length, never reads past a row.
 */
#include <immintrin.h>
#include <stddef.h>

#include "dist.h"

uint32_t qv__hamming_vpopcnt(const uint8_t *a, const uint8_t *b, size_t nbytes) {
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= nbytes; i += 64) {
    __m512i x = _mm512_xor_si512(_mm512_loadu_si512((const void *)(a + i)), _mm512_loadu_si512((const void *)(b + i)));
    acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
  }
  if (i < nbytes) {
    __mmask64 m = (__mmask64)(~0ull >> (64 - (nbytes - i)));
    __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i), _mm512_maskz_loadu_epi8(m, b + i));
    acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
  }
  return (uint32_t)_mm512_reduce_add_epi64(acc);
}

void qv__hamming_many_vpopcnt(const uint8_t *q, const uint8_t *base, size_t n, size_t nbytes, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = (float)qv__hamming_vpopcnt(q, base + i * nbytes, nbytes);
}
