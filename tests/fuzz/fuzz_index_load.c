/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fuzz_index_load.c -- libFuzzer target for index checkpoint loading (src/checkpoint.c,
 * the flat and HNSW payload parsers). A checkpoint is read from disk on every open, so a
 * damaged or hostile file must give QV_CORRUPT, never a crash or a read out of bounds.
 *
 * The input becomes a checkpoint file: the first byte picks the index kind, the rest is the
 * payload, wrapped in a valid envelope (so the crc checks pass and the payload parser itself
 * is exercised) unless the second byte says to write the input raw (envelope fuzzing). A load
 * that succeeds is searched once. Built by CMake with -DQV_FUZZ=ON (docs/FUZZING.md); run
 * with -max_len=65536 so the HNSW seeds of corpus/fuzz_index_load fit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  const qv_index_vt *vt = (data[0] & 1) ? &qv__index_hnsw : &qv__index_flat;
  int raw = data[1] & 1;
  char path[64];
  /* tmpfs when there is one: the checkpoint writer fsyncs, which on a disk caps the rate at
   * about a hundred inputs a second */
  snprintf(path, sizeof path, "%s/qv-fuzz-%d.idx", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
           (int)getpid());
  const qv_mem *mem = qv__mem_default();
  if (raw) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data + 2, 1, size - 2, f);
    fclose(f);
  } else {
    qv_ckpt_hdr h = {0};
    memcpy(&h.kind_tag, (data[0] & 1) ? "HNSW" : "FLAT", 4);
    h.payload_version = (data[0] & 2) ? 2 : 1; /* HNSW v2: live floats from the vector source */
    h.dim = DIM;
    h.metric = QV_METRIC_L2;
    h.seq = 1;
    qv_ckpt_writer w;
    if (qv__ckpt_begin(&w, mem, path, &h) != QV_OK) return 0;
    qv__ckpt_write(&w, data + 2, size - 2);
    if (qv__ckpt_commit(&w) != QV_OK) return 0;
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
  unlink(path);
  return 0;
}
