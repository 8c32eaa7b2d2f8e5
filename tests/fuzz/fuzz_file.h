/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fuzz_file.h -- the scratch file of the targets whose code under test opens a file by name
 * (fuzz_index_load, fuzz_static, fuzz_cli_import). Creating, fsyncing and unlinking a file on
 * disk for every input cost those targets more than half their time, so the file is an
 * anonymous memory file (memfd_create) made once per process and rewritten in place for each
 * input (ftruncate to 0, then pwrite); the code under test opens it by its /proc/self/fd path
 * with its own file description, exactly as it opens any path. Nothing is left behind when
 * the fuzzer stops or crashes, and each input still stands alone: the file holds that input
 * and nothing else when the code under test opens it.
 */
#ifndef QV_FUZZ_FILE_H
#define QV_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static int fuzz_file_fd = -1;
static char fuzz_file_name[64];

/* The path of the scratch file now holding exactly the n bytes at d. Aborts if the file
 * cannot be made or written (the fuzzer would otherwise test nothing). */
static const char *fuzz_file_put(const void *d, size_t n) {
  if (fuzz_file_fd < 0) {
    fuzz_file_fd = memfd_create("qv-fuzz", MFD_CLOEXEC);
    if (fuzz_file_fd < 0) {
      perror("fuzz_file: memfd_create");
      abort();
    }
    snprintf(fuzz_file_name, sizeof fuzz_file_name, "/proc/self/fd/%d", fuzz_file_fd);
  }
  if (ftruncate(fuzz_file_fd, 0) != 0) abort();
  const unsigned char *p = d;
  for (size_t off = 0; off < n;) {
    ssize_t w = pwrite(fuzz_file_fd, p + off, n - off, (off_t)off);
    if (w <= 0) abort();
    off += (size_t)w;
  }
  return fuzz_file_name;
}

#endif /* QV_FUZZ_FILE_H */
