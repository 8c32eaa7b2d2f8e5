/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/* index/flat/flat_codes.h -- the code section of l2 flat snapshots (flat_codes.c documents it). */
#ifndef QV_FLAT_CODES_H
#define QV_FLAT_CODES_H

#include "qv_int.h"

/* Bytes of the section for n_slots rows of dim floats. */
QV_INTERNAL uint64_t qv__flat_codes_bytes(uint64_t n_slots, uint32_t dim);
/* Write the section (ranges of the live rows, then every row's codes) through put(). */
QV_INTERNAL qv_status qv__flat_codes_write(const float *vecs, const uint64_t *live, size_t n_slots, uint32_t dim,
                                           const qv_mem *mem, void (*put)(void *, const void *, size_t), void *ctx);
/* 1 if the section's ranges are usable (finite, steps >= 0): O(dim), at open. */
QV_INTERNAL int qv__flat_codes_check(const unsigned char *sec, uint32_t dim);
/*
 * The live slots that may be among q's k nearest by l2 (a superset of the exact top k, see
 * flat_codes.c), in *cand (allocated with mem; the caller frees it). QV_UNSUPPORTED when the
 * bound does not prune (the caller scans the floats), QV_NOMEM.
 */
QV_INTERNAL qv_status qv__flat_codes_candidates(const unsigned char *sec, const uint64_t *live, size_t n_slots,
                                                uint32_t dim, const float *q, size_t k, const qv_mem *mem,
                                                uint32_t **cand, size_t *n_cand);

#endif /* QV_FLAT_CODES_H */
