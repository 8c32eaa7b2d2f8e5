/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * checkpoint.c -- the envelope of every index checkpoint file (format in checkpoint.h).
 *
 * Writing: the payload is streamed into "<path>.tmp" behind a zeroed 64-byte header while its
 * crc32 is accumulated; commit patches in the real header (with its own crc), fflush+fsync,
 * renames over <path> and fsyncs the directory, so after a crash the file is the old or the
 * new checkpoint, never a mix. Any failure removes the tmp file and leaves <path> alone.
 *
 * Reading: the whole file is validated before any of it is trusted: magic, header crc,
 * envelope version, payload length against the file size (so a damaged length cannot make us
 * allocate gigabytes), payload crc, then kind tag, dim and metric against what the caller
 * expects. Every integer is little-endian on disk, whatever the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"

static const unsigned char k_magic[8] = {'Q', 'V', 'I', 'N', 'D', 'E', 'X', 0};

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint32_t crc_update(uint32_t crc, const void *p, size_t n) {
  return (uint32_t)crc32_z(crc, (const Bytef *)p, (z_size_t)n);
}

/* Serialise hdr plus the payload crc into the 64 on-disk header bytes. */
static void encode_header(unsigned char *b, const qv_ckpt_hdr *h, uint32_t payload_crc) {
  memset(b, 0, QV_CKPT_HEADER);
  memcpy(b, k_magic, 8);
  put_u32(b + 8, QV_CKPT_VERSION);
  put_u32(b + 12, h->kind_tag);
  put_u32(b + 16, h->payload_version);
  put_u32(b + 20, h->dim);
  put_u32(b + 24, h->metric);
  put_u64(b + 32, h->seq);
  put_u64(b + 40, h->payload_len);
  put_u32(b + 48, payload_crc);
  put_u32(b + 52, crc_update(0, b, 52));
}

static void writer_free(qv_ckpt_writer *w) {
  qv__free(w->mem, w->tmp_path);
  qv__free(w->mem, w->path);
  w->tmp_path = w->path = NULL;
}

qv_status qv__ckpt_begin(qv_ckpt_writer *w, const qv_mem *mem, const char *path,
                         const qv_ckpt_hdr *hdr) {
  static const unsigned char zero[QV_CKPT_HEADER];
  qv_status rc = QV_OK;
  memset(w, 0, sizeof *w);
  w->mem = mem;
  w->hdr = *hdr;
  size_t n = strlen(path);
  w->path = qv__strdup(mem, path);
  w->tmp_path = qv__malloc(mem, n + 5);
  if (!w->path || !w->tmp_path) { rc = QV_NOMEM; goto cleanup; }
  memcpy(w->tmp_path, path, n);
  memcpy(w->tmp_path + n, ".tmp", 5);
  w->f = fopen(w->tmp_path, "wb");
  if (!w->f) { rc = QV_IO; goto cleanup; }
  if (fwrite(zero, 1, sizeof zero, w->f) != sizeof zero) { rc = QV_IO; goto cleanup; }
  w->crc = crc_update(0, NULL, 0);
  return QV_OK;
cleanup:
  if (w->f) {
    fclose(w->f);
    w->f = NULL;
    unlink(w->tmp_path);
  }
  writer_free(w);
  return rc;
}

void qv__ckpt_write(qv_ckpt_writer *w, const void *p, size_t n) {
  if (w->failed || n == 0) return;
  if (fwrite(p, 1, n, w->f) != n) {
    w->failed = 1;
    return;
  }
  w->crc = crc_update(w->crc, p, n);
  w->len += n;
}

/* fsync the directory holding path, so that the rename itself is durable. */
static int fsync_dir_of(const qv_mem *mem, const char *path) {
  char *copy = qv__strdup(mem, path);
  if (!copy) return -1;
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
  int rc = -1;
  if (fd >= 0) {
    rc = fsync(fd);
    close(fd);
  }
  qv__free(mem, copy);
  return rc;
}

qv_status qv__ckpt_commit(qv_ckpt_writer *w) {
  unsigned char b[QV_CKPT_HEADER];
  qv_status rc = QV_IO;
  if (!w->f) return QV_MISUSE;
  if (w->failed) goto cleanup;
  w->hdr.payload_len = w->len;
  encode_header(b, &w->hdr, w->crc);
  if (fseek(w->f, 0, SEEK_SET) != 0) goto cleanup;
  if (fwrite(b, 1, sizeof b, w->f) != sizeof b) goto cleanup;
  if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) goto cleanup;
  int close_rc = fclose(w->f);
  w->f = NULL;
  if (close_rc != 0) goto cleanup;
  if (rename(w->tmp_path, w->path) != 0) goto cleanup;
  if (fsync_dir_of(w->mem, w->path) != 0) {
    writer_free(w); /* the new file is in place; only its durability is unknown */
    return QV_IO;
  }
  rc = QV_OK;
  writer_free(w);
  return rc;
cleanup:
  qv__ckpt_abort(w);
  return rc;
}

void qv__ckpt_abort(qv_ckpt_writer *w) {
  if (w->f) {
    fclose(w->f);
    w->f = NULL;
  }
  if (w->tmp_path) unlink(w->tmp_path);
  writer_free(w);
}

/* Parse and check the 64 header bytes; *payload_crc receives the stored payload crc. */
static qv_status decode_header(const unsigned char *b, const qv_ckpt_hdr *expect, qv_ckpt_hdr *h,
                               uint32_t *payload_crc) {
  if (memcmp(b, k_magic, 8) != 0) return QV_CORRUPT;
  if (get_u32(b + 52) != crc_update(0, b, 52)) return QV_CORRUPT;
  if (get_u32(b + 8) != QV_CKPT_VERSION) return QV_CORRUPT;
  h->kind_tag = get_u32(b + 12);
  h->payload_version = get_u32(b + 16);
  h->dim = get_u32(b + 20);
  h->metric = get_u32(b + 24);
  h->seq = get_u64(b + 32);
  h->payload_len = get_u64(b + 40);
  *payload_crc = get_u32(b + 48);
  if (expect && (h->kind_tag != expect->kind_tag || h->dim != expect->dim ||
                 h->metric != expect->metric))
    return QV_CORRUPT;
  return QV_OK;
}

/* The payload's buffer for qv__ckpt_read: an aligned heap block. */
static void *heap_payload(void *ctx, uint64_t len) {
  const qv_mem *mem = ctx;
  if (len > SIZE_MAX - 64) return NULL;
  void *buf = qv__malloc_aligned(mem, (size_t)len);
  if (buf) qv__advise_huge(buf, (size_t)len);
  return buf;
}

qv_status qv__ckpt_read(const qv_mem *mem, const char *path, const qv_ckpt_hdr *expect,
                        qv_ckpt_hdr *got, void **payload) {
  *payload = NULL;
  void *buf = NULL;
  qv_status rc = qv__ckpt_read_to(path, expect, got, heap_payload, (void *)(uintptr_t)mem, &buf);
  if (rc == QV_OK) *payload = buf;
  else qv__free_aligned(mem, buf);
  return rc;
}

qv_status qv__ckpt_read_to(const char *path, const qv_ckpt_hdr *expect, qv_ckpt_hdr *got,
                           void *(*get_buf)(void *ctx, uint64_t len), void *ctx, void **payload) {
  unsigned char b[QV_CKPT_HEADER];
  qv_ckpt_hdr h;
  uint32_t want_crc = 0;
  unsigned char *buf = NULL;
  struct stat st;
  qv_status rc = QV_OK;
  *payload = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return errno == ENOENT ? QV_NOTFOUND : QV_IO;
  if (fstat(fileno(f), &st) != 0) { rc = QV_IO; goto cleanup; }
  if (fread(b, 1, sizeof b, f) != sizeof b) { rc = ferror(f) ? QV_IO : QV_CORRUPT; goto cleanup; }
  rc = decode_header(b, expect, &h, &want_crc);
  if (rc != QV_OK) goto cleanup;
  if ((uint64_t)st.st_size < QV_CKPT_HEADER || h.payload_len != (uint64_t)st.st_size - QV_CKPT_HEADER) {
    rc = QV_CORRUPT;
    goto cleanup;
  }
  if (h.payload_len > SIZE_MAX - 64) { rc = QV_NOMEM; goto cleanup; }
  buf = get_buf(ctx, h.payload_len);
  if (!buf) { rc = QV_NOMEM; goto cleanup; }
  *payload = buf; /* the caller's buffer: it frees it, whatever the outcome */
  if (fread(buf, 1, (size_t)h.payload_len, f) != h.payload_len) {
    rc = ferror(f) ? QV_IO : QV_CORRUPT;
    goto cleanup;
  }
  if (crc_update(crc_update(0, NULL, 0), buf, (size_t)h.payload_len) != want_crc) {
    rc = QV_CORRUPT;
    goto cleanup;
  }
  if (got) *got = h;
cleanup:
  fclose(f);
  return rc;
}
