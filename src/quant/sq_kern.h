/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quant/sq_kern.h -- the one set of scalar-quantization distance kernels (u8 codes), shared by
 * the HNSW traversal codes (sq8.c) and the quantizer interface's sq8/sq4 (sq.c).
 *
 * Float-query kernels (a code c of dim bytes, one per dimension, value 0..255):
 *   l2_u8(a, s, c, dim)  = sum_i (a_i - s_i c_i)^2      (a = q - lo, s = per-dimension scale)
 *   dot_u8(w, s, c, dim) = sum_i w_i c_i                (w = q * scale; s unused)
 * Integer-query kernels (the query's weights rounded to integers; exact integer sums, so
 * every ISA returns the same value):
 *   dot16(w, c, dim)     = sum_i w_i c_i, w int16; |sum| must fit int32 (callers bound w)
 *   dot8(w, c, dim)      = the same with int8 w (AVX-512 VNNI only; w zero-padded to 64)
 *   dot16x4(w, c, stride, dim, out) = dot16 of the 4 codes c, c + stride, c + 2 stride,
 *                          c + 3 stride (the query weights are loaded once for all four)
 * 4-bit planes (the high or the low nibbles of 8-bit codes, sq.c): per 16 dimensions 8
 * bytes; byte b of group g holds dimension 16 g + b in its low nibble and 16 g + 8 + b in its
 * high nibble. dim16 is dim rounded up to 16 (the plane and w are zero-padded to it):
 *   dot16n(w, p, dim16)  = sum_i w_i nibble_i(p)        (reads dim16 / 2 bytes)
 *   dot16hlx4(w, hi, lo, stride, dim16, out) = 16 dot16n(w, hi) + dot16n(w, lo) for four rows
 *                          (the planes recombined into bytes: the full 8-bit scan of sq.c)
 *   dot8p(wl, wh, p, pbytes) = sum_k wl[k] (p[k] & 15) + wh[k] (p[k] >> 4): int8 weights laid
 *                          out like the plane (the coarse scan of sq.c; pbytes a multiple of 8)
 *   dot8px4(wl, wh, p, stride, pbytes, out) = the same for four planes stride bytes apart
 * Every other kernel reads exactly dim code bytes (except dot8: see sq8.c's callers) and dim
 * weights. The _scalar/_avx2/_avx512 variants are picked by the caller from the ISA of the
 * kernel table (qv__kernels()->isa), so QV_ISA caps them.
 */
#ifndef QV_SQ_KERN_H
#define QV_SQ_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "qv_int.h"

typedef float (*qv_sq_f32_fn)(const float *a, const float *s, const unsigned char *c, size_t dim);
typedef int32_t (*qv_sq_i16_fn)(const int16_t *w, const unsigned char *c, size_t dim);
typedef int32_t (*qv_sq_i16n_fn)(const int16_t *w, const unsigned char *p, size_t dim16);
typedef int32_t (*qv_sq_i8p_fn)(const int8_t *wl, const int8_t *wh, const unsigned char *p, size_t pbytes);
typedef void (*qv_sq_i8px4_fn)(const int8_t *wl, const int8_t *wh, const unsigned char *p, size_t stride, size_t pbytes,
                               int32_t out[4]);
typedef void (*qv_sq_i16hlx4_fn)(const int16_t *w, const unsigned char *hi, const unsigned char *lo, size_t stride,
                                 size_t dim16, int32_t out[4]);
typedef void (*qv_sq_i16x4_fn)(const int16_t *w, const unsigned char *c, size_t stride, size_t dim, int32_t out[4]);

QV_INTERNAL float qv__sq_l2_u8_scalar(const float *a, const float *s, const unsigned char *c, size_t dim);
QV_INTERNAL float qv__sq_dot_u8_scalar(const float *w, const float *s, const unsigned char *c, size_t dim);
QV_INTERNAL float qv__sq_l2_u8_avx2(const float *a, const float *s, const unsigned char *c, size_t dim);
QV_INTERNAL float qv__sq_dot_u8_avx2(const float *w, const float *s, const unsigned char *c, size_t dim);
QV_INTERNAL float qv__sq_l2_u8_avx512(const float *a, const float *s, const unsigned char *c, size_t dim);
QV_INTERNAL float qv__sq_dot_u8_avx512(const float *w, const float *s, const unsigned char *c, size_t dim);
QV_INTERNAL int32_t qv__sq_dot16_scalar(const int16_t *w, const unsigned char *c, size_t dim);
QV_INTERNAL int32_t qv__sq_dot16_avx2(const int16_t *w, const unsigned char *c, size_t dim);
QV_INTERNAL void qv__sq_dot16x4_scalar(const int16_t *w, const unsigned char *c, size_t stride, size_t dim,
                                       int32_t out[4]);
QV_INTERNAL void qv__sq_dot16x4_avx2(const int16_t *w, const unsigned char *c, size_t stride, size_t dim,
                                     int32_t out[4]);
QV_INTERNAL int32_t qv__sq_dot16n_scalar(const int16_t *w, const unsigned char *p, size_t dim16);
QV_INTERNAL int32_t qv__sq_dot16n_avx2(const int16_t *w, const unsigned char *p, size_t dim16);
QV_INTERNAL int32_t qv__sq_dot8p_scalar(const int8_t *wl, const int8_t *wh, const unsigned char *p, size_t pbytes);
QV_INTERNAL int32_t qv__sq_dot8p_avx2(const int8_t *wl, const int8_t *wh, const unsigned char *p, size_t pbytes);
QV_INTERNAL void qv__sq_dot8px4_scalar(const int8_t *wl, const int8_t *wh, const unsigned char *p, size_t stride,
                                       size_t pbytes, int32_t out[4]);
QV_INTERNAL void qv__sq_dot8px4_avx2(const int8_t *wl, const int8_t *wh, const unsigned char *p, size_t stride,
                                     size_t pbytes, int32_t out[4]);
QV_INTERNAL void qv__sq_dot16hlx4_scalar(const int16_t *w, const unsigned char *hi, const unsigned char *lo,
                                          size_t stride, size_t dim16, int32_t out[4]);
QV_INTERNAL void qv__sq_dot16hlx4_avx2(const int16_t *w, const unsigned char *hi, const unsigned char *lo,
                                        size_t stride, size_t dim16, int32_t out[4]);
QV_INTERNAL int32_t qv__sq_dot8_vnni(const int8_t *w, const unsigned char *c, size_t dim);

/* The float-query kernels for an ISA name ("scalar", "avx2", "avx512"). */
QV_INTERNAL qv_sq_f32_fn qv__sq_l2_u8_for(const char *isa);
QV_INTERNAL qv_sq_f32_fn qv__sq_dot_u8_for(const char *isa);
/* The int16 kernels for an ISA name (AVX2 for avx2 and avx512, else scalar). */
QV_INTERNAL qv_sq_i16_fn qv__sq_dot16_for(const char *isa);
QV_INTERNAL qv_sq_i16x4_fn qv__sq_dot16x4_for(const char *isa);
QV_INTERNAL qv_sq_i16n_fn qv__sq_dot16n_for(const char *isa);
QV_INTERNAL qv_sq_i8p_fn qv__sq_dot8p_for(const char *isa);
QV_INTERNAL qv_sq_i16hlx4_fn qv__sq_dot16hlx4_for(const char *isa);
QV_INTERNAL qv_sq_i8px4_fn qv__sq_dot8px4_for(const char *isa);

#endif /* QV_SQ_KERN_H */
