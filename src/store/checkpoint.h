/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * checkpoint.h -- the common envelope of every index checkpoint file.
 *
 * Layout (little-endian), 64-byte header then the index's own payload:
 *   0  u8[8]  magic "QVINDEX\0"
 *   8  u32    envelope format version (QV_CKPT_VERSION); an unknown one is refused
 *  12  u32    index kind tag (the index's own 4-char tag, e.g. "FLAT", "HNSW")
 *  16  u32    index payload version (the index's own)
 *  20  u32    dim
 *  24  u32    metric
 *  28  u32    reserved (0)
 *  32  u64    last sequence number contained
 *  40  u64    payload length in bytes
 *  48  u32    crc32 (zlib) of the payload
 *  52  u32    crc32 of bytes 0..51
 *  56  u8[8]  reserved (0)
 * Files are written to "<path>.tmp", fsync'd, then renamed over <path>, so a crash leaves
 * either the old or the new checkpoint, never a torn one.
 */
#ifndef QV_CHECKPOINT_H
#define QV_CHECKPOINT_H

#include <stdint.h>
#include <stdio.h>

#include "qv_int.h"

#define QV_CKPT_VERSION 1u
#define QV_CKPT_HEADER 64u

typedef struct qv_ckpt_hdr {
  uint32_t kind_tag;
  uint32_t payload_version;
  uint32_t dim;
  uint32_t metric;
  uint64_t seq;
  uint64_t payload_len;
} qv_ckpt_hdr;

/* A writer: payload is streamed with qv__ckpt_write, then committed (crc + fsync + rename). */
typedef struct qv_ckpt_writer {
  FILE *f;
  char *tmp_path;
  char *path;
  const qv_mem *mem;
  uint32_t crc;
  uint64_t len;
  qv_ckpt_hdr hdr;
  int failed;
} qv_ckpt_writer;

QV_INTERNAL qv_status qv__ckpt_begin(qv_ckpt_writer *w, const qv_mem *mem, const char *path,
                                     const qv_ckpt_hdr *hdr);
QV_INTERNAL void qv__ckpt_write(qv_ckpt_writer *w, const void *p, size_t n);
/* Finish: patch header, fsync, rename. On any failure the tmp file is removed. */
QV_INTERNAL qv_status qv__ckpt_commit(qv_ckpt_writer *w);
QV_INTERNAL void qv__ckpt_abort(qv_ckpt_writer *w);

/*
 * Read a whole checkpoint file into memory (payload only, checked against its crc). The
 * returned header is validated against expect's kind_tag, dim and metric. *payload is
 * 64-byte aligned (free with qv__free_aligned).
 * Errors: QV_NOTFOUND (no file), QV_CORRUPT (bad magic/version/crc/mismatch), QV_IO, QV_NOMEM.
 */
QV_INTERNAL qv_status qv__ckpt_read(const qv_mem *mem, const char *path, const qv_ckpt_hdr *expect,
                                    qv_ckpt_hdr *got, void **payload);

/*
 * The same check, the payload read into a buffer get_buf(ctx, payload_len) supplies (NULL:
 * QV_NOMEM). *payload is that buffer, or NULL if none was asked for; the caller owns and
 * frees it whatever the result (flat reads into reserved address space it grows in place).
 */
QV_INTERNAL qv_status qv__ckpt_read_to(const char *path, const qv_ckpt_hdr *expect, qv_ckpt_hdr *got,
                                       void *(*get_buf)(void *ctx, uint64_t len), void *ctx, void **payload);

#endif /* QV_CHECKPOINT_H */
