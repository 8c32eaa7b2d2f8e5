/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fuzz_index_load.c -- libFuzzer target for index checkpoint loading (src/store/checkpoint.c,
 * the flat and HNSW payload parsers). A checkpoint is read from disk on every open, so a
 * damaged or hostile file must give QV_CORRUPT, never a crash or a read out of bounds.
 *
 * The input becomes a checkpoint file: the first byte picks the index kind, the rest is the
 * payload, wrapped in a valid envelope (so the crc checks pass and the payload parser itself
 * is exercised) unless the second byte says to write the input raw (envelope fuzzing). A load
 * that succeeds is searched once. The file is fuzz_file.h's in-memory one, rewritten for each
 * input; the envelope is built here, checked once against the library's writer. Built by CMake with -DQV_FUZZ=ON (docs/FUZZING.md); run
 * with -max_len=65536 so the HNSW seeds of corpus/fuzz_index_load fit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "fuzz_file.h"
#include "index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DIM 4

/* The vector source a collection would give: every slot's vector is a fixed one here. */
static qv_status fuzz_get(void *ctx, uint32_t slot, float *out) {
  (void)ctx;
  if (slot > 1000000) return QV_NOTFOUND;
  for (int i = 0; i < DIM; i++) out[i] = (float)((slot + (uint32_t)i) % 7);
  return QV_OK;
}
static const qv_vec_source fuzz_src = {NULL, fuzz_get, NULL};

/* The envelope qv__ckpt_commit writes (src/store/checkpoint.h), built in memory: the
 * writer's fsync, rename and directory fsync per input were most of this target's time, and
 * they are not what it tests. setup() checks once that the bytes agree with the writer's. */
static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static unsigned char *envelope(const qv_ckpt_hdr *h, const void *payload, size_t n) {
  unsigned char *b = calloc(1, QV_CKPT_HEADER + n);
  if (!b) return NULL;
  memcpy(b, "QVINDEX", 8);
  put32(b + 8, QV_CKPT_VERSION);
  put32(b + 12, h->kind_tag);
  put32(b + 16, h->payload_version);
  put32(b + 20, h->dim);
  put32(b + 24, h->metric);
  put64(b + 32, h->seq);
  put64(b + 40, n);
  put32(b + 48, (uint32_t)crc32_z(0, payload, n));
  put32(b + 52, (uint32_t)crc32_z(0, b, 52));
  if (n) memcpy(b + QV_CKPT_HEADER, payload, n);
  return b;
}

static qv_ckpt_hdr header(const uint8_t *data) {
  qv_ckpt_hdr h = {0};
  memcpy(&h.kind_tag, (data[0] & 1) ? "HNSW" : "FLAT", 4);
  h.payload_version = (data[0] & 2) ? 2 : 1; /* HNSW v2: live floats from the vector source */
  h.dim = DIM;
  h.metric = QV_METRIC_L2;
  h.seq = 1;
  return h;
}

/* The library's writer and envelope() must give the same bytes, or the target would feed
 * the loaders files that fail their header check. */
static void setup(void) {
  static const uint8_t in[] = {3, 0, 'p', 'a', 'y', 'l', 'o', 'a', 'd', 0, 1, 2};
  char path[96];
  snprintf(path, sizeof path, "%s/qv-fuzz-%d.idx", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
           (int)getpid());
  qv_ckpt_hdr h = header(in);
  qv_ckpt_writer w;
  if (qv__ckpt_begin(&w, qv__mem_default(), path, &h) != QV_OK) abort();
  qv__ckpt_write(&w, in + 2, sizeof in - 2);
  if (qv__ckpt_commit(&w) != QV_OK) abort();
  unsigned char got[QV_CKPT_HEADER + sizeof in];
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(got, 1, sizeof got, f) : 0;
  if (f) fclose(f);
  unlink(path);
  unsigned char *want = envelope(&h, in + 2, sizeof in - 2);
  if (!want || n != QV_CKPT_HEADER + sizeof in - 2 || memcmp(got, want, n) != 0) {
    fprintf(stderr, "fuzz_index_load: envelope() no longer matches qv__ckpt_commit's file\n");
    abort();
  }
  free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    setup();
    ready = 1;
  }
  if (size < 2) return 0;
  const qv_index_vt *vt = (data[0] & 1) ? &qv__index_hnsw : &qv__index_flat;
  int raw = data[1] & 1;
  const qv_mem *mem = qv__mem_default();
  const char *path; /* fuzz_file.h: one in-memory file, rewritten for each input */
  if (raw) {
    path = fuzz_file_put(data + 2, size - 2);
  } else {
    qv_ckpt_hdr h = header(data);
    unsigned char *b = envelope(&h, data + 2, size - 2);
    if (!b) return 0;
    path = fuzz_file_put(b, QV_CKPT_HEADER + size - 2);
    free(b);
  }
  qv_index_params p = {.mem = mem,
                       .metric = QV_METRIC_L2,
                       .dim = DIM,
                       .params_json = (data[0] & 1) ? "{\"M\":8,\"ef_construction\":16,\"ef_search\":16}" : NULL,
                       .n_threads = 1,
                       .vsrc = &fuzz_src};
  qv_index *ix = NULL;
  uint64_t seq = 0;
  if (vt->load(&p, path, &ix, &seq) == QV_OK) {
    float q[DIM] = {0.5f, -1.0f, 2.0f, 0.0f};
    qv_hit out[4];
    size_t n = 0;
    qv_search_req req = {q, 4, 8, NULL, NULL, NULL};
    vt->search(ix, &req, out, &n);
    qv_index_stats st;
    vt->stats(ix, &st);
    vt->destroy(ix);
  }
  return 0;
}
