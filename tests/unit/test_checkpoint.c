/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * test_checkpoint.c -- the checkpoint envelope: round trip, and every way a file can be bad
 * (missing, truncated, bad magic, unknown version, header or payload crc mismatch, params
 * mismatch) is refused with the right status. Files live in a fresh mkdtemp directory.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"

static char g_dir[64];
static char g_path[128];

static void setup(void) {
  strcpy(g_dir, "/tmp/qv_ckpt_XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
  snprintf(g_path, sizeof g_path, "%s/index.qvi", g_dir);
}

static void teardown(void) {
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", g_path);
  unlink(tmp);
  unlink(g_path);
  rmdir(g_dir);
}

static const qv_ckpt_hdr k_hdr = {.kind_tag = 0x54414c46u, .payload_version = 3, .dim = 7, .metric = 1, .seq = 42};

/* Write a checkpoint whose payload is n bytes of a known pattern, in two chunks. */
static void write_file(size_t n) {
  qv_ckpt_writer w;
  unsigned char *p = malloc(n ? n : 1);
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 31 + 7);
  cr_assert_eq(qv__ckpt_begin(&w, qv__mem_default(), g_path, &k_hdr), QV_OK);
  qv__ckpt_write(&w, p, n / 3);
  qv__ckpt_write(&w, p + n / 3, n - n / 3);
  cr_assert_eq(qv__ckpt_commit(&w), QV_OK);
  free(p);
}

static qv_status read_file(qv_ckpt_hdr *got, void **payload) {
  return qv__ckpt_read(qv__mem_default(), g_path, &k_hdr, got, payload);
}

static void patch(long off, const void *bytes, size_t n) {
  FILE *f = fopen(g_path, "r+b");
  cr_assert_not_null(f);
  fseek(f, off, SEEK_SET);
  fwrite(bytes, 1, n, f);
  fclose(f);
}

static void flip(long off) {
  unsigned char c;
  FILE *f = fopen(g_path, "r+b");
  cr_assert_not_null(f);
  fseek(f, off, SEEK_SET);
  cr_assert_eq(fread(&c, 1, 1, f), 1);
  c ^= 0x40;
  fseek(f, off, SEEK_SET);
  fwrite(&c, 1, 1, f);
  fclose(f);
}

static void expect_status(qv_status want) {
  qv_ckpt_hdr got;
  void *payload = (void *)1;
  cr_assert_eq(read_file(&got, &payload), want);
  cr_assert_null(payload);
}

TestSuite(checkpoint, .init = setup, .fini = teardown);

Test(checkpoint, round_trip) {
  write_file(1000);
  qv_ckpt_hdr got;
  void *payload = NULL;
  cr_assert_eq(read_file(&got, &payload), QV_OK);
  cr_assert_eq(got.kind_tag, k_hdr.kind_tag);
  cr_assert_eq(got.payload_version, 3);
  cr_assert_eq(got.dim, 7);
  cr_assert_eq(got.metric, 1);
  cr_assert_eq(got.seq, 42);
  cr_assert_eq(got.payload_len, 1000);
  cr_assert_eq((uintptr_t)payload % 64, 0);
  const unsigned char *p = payload;
  for (size_t i = 0; i < 1000; i++) cr_assert_eq(p[i], (unsigned char)(i * 31 + 7));
  qv__free_aligned(qv__mem_default(), payload);
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", g_path);
  cr_assert_neq(access(tmp, F_OK), 0, "tmp file left behind");
  struct stat st;
  cr_assert_eq(stat(g_path, &st), 0);
  cr_assert_eq(st.st_size, 64 + 1000);
}

Test(checkpoint, empty_payload) {
  write_file(0);
  qv_ckpt_hdr got;
  void *payload = NULL;
  cr_assert_eq(read_file(&got, &payload), QV_OK);
  cr_assert_eq(got.payload_len, 0);
  qv__free_aligned(qv__mem_default(), payload);
}

Test(checkpoint, overwrite_replaces) {
  write_file(10);
  write_file(20);
  qv_ckpt_hdr got;
  void *payload = NULL;
  cr_assert_eq(read_file(&got, &payload), QV_OK);
  cr_assert_eq(got.payload_len, 20);
  qv__free_aligned(qv__mem_default(), payload);
}

Test(checkpoint, abort_leaves_old_file) {
  write_file(10);
  qv_ckpt_writer w;
  cr_assert_eq(qv__ckpt_begin(&w, qv__mem_default(), g_path, &k_hdr), QV_OK);
  qv__ckpt_write(&w, "xyz", 3);
  qv__ckpt_abort(&w);
  qv_ckpt_hdr got;
  void *payload = NULL;
  cr_assert_eq(read_file(&got, &payload), QV_OK);
  cr_assert_eq(got.payload_len, 10);
  qv__free_aligned(qv__mem_default(), payload);
}

Test(checkpoint, missing) { expect_status(QV_NOTFOUND); }

Test(checkpoint, begin_in_missing_dir) {
  qv_ckpt_writer w;
  cr_assert_eq(qv__ckpt_begin(&w, qv__mem_default(), "/nonexistent/dir/x.qvi", &k_hdr), QV_IO);
}

Test(checkpoint, truncated_payload) {
  write_file(1000);
  cr_assert_eq(truncate(g_path, 64 + 999), 0);
  expect_status(QV_CORRUPT);
}

Test(checkpoint, truncated_header) {
  write_file(1000);
  cr_assert_eq(truncate(g_path, 30), 0);
  expect_status(QV_CORRUPT);
}

Test(checkpoint, empty_file) {
  write_file(10);
  cr_assert_eq(truncate(g_path, 0), 0);
  expect_status(QV_CORRUPT);
}

Test(checkpoint, trailing_garbage) {
  write_file(100);
  FILE *f = fopen(g_path, "ab");
  fputc('x', f);
  fclose(f);
  expect_status(QV_CORRUPT);
}

Test(checkpoint, bad_magic) {
  write_file(100);
  patch(0, "QVINDEY", 7);
  expect_status(QV_CORRUPT);
}

/* A well-formed header (valid crc) of a future envelope version is refused. */
Test(checkpoint, unknown_version) {
  write_file(100);
  unsigned char b[64];
  FILE *f = fopen(g_path, "rb");
  cr_assert_eq(fread(b, 1, 64, f), 64);
  fclose(f);
  b[8] = 2;
  uint32_t crc = (uint32_t)crc32(0, b, 52);
  for (int i = 0; i < 4; i++) b[52 + i] = (unsigned char)(crc >> (8 * i));
  patch(0, b, 64);
  expect_status(QV_CORRUPT);
}

Test(checkpoint, header_crc_mismatch) {
  write_file(100);
  flip(33); /* seq */
  expect_status(QV_CORRUPT);
}

Test(checkpoint, payload_crc_mismatch) {
  write_file(100);
  flip(64 + 50);
  expect_status(QV_CORRUPT);
}

Test(checkpoint, params_mismatch) {
  write_file(100);
  qv_ckpt_hdr want = k_hdr, got;
  void *payload = NULL;
  want.dim = 8;
  cr_assert_eq(qv__ckpt_read(qv__mem_default(), g_path, &want, &got, &payload), QV_CORRUPT);
  want = k_hdr;
  want.metric = 0;
  cr_assert_eq(qv__ckpt_read(qv__mem_default(), g_path, &want, &got, &payload), QV_CORRUPT);
  want = k_hdr;
  want.kind_tag = 0x57534e48u;
  cr_assert_eq(qv__ckpt_read(qv__mem_default(), g_path, &want, &got, &payload), QV_CORRUPT);
  cr_assert_null(payload);
}
