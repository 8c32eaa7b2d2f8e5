/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * fuzz_static.c -- libFuzzer target for the snapshot-file reader (src/core/static.c and the
 * open_mapped() of the flat and rpforest kinds). A snapshot file may come from anywhere, so a
 * damaged or hostile one must give an error, never a crash or a read out of bounds.
 *
 * The input is written to a file (fuzz_file.h: one in-memory file, rewritten for each input)
 * and opened; when it opens, it is searched (with and without
 * a filter), read by id and by filter, and verified. To reach past the checksums, the first
 * input byte chooses a mode: 0 = the input as is; 1 = header and section-table checksums
 * recomputed over the input (so the layout checks and the sections are what gets fuzzed).
 * Seed corpus: files written by qv_collection_export() (tests/api/test_static.c makes some).
 *
 * Built with the other targets by -DQV_FUZZ=ON (tests/fuzz/CMakeLists.txt; a short run in CI,
 * scripts/fuzz-run.sh). By hand, from the repository root, after a normal
 * build (libquiver.a in build/):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *     tests/fuzz/fuzz_static.c build/libquiver.a -lsqlite3 -ljansson -lz -lopenblas -lpthread -lm \
 *     -o /tmp/fuzz_static
 *   /tmp/fuzz_static -max_total_time=60 -max_len=1048576
 * (for sanitizer coverage inside the library, build the library with the same flags).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz_file.h"
#include "quiver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] & 1;
  data++;
  size--;
  unsigned char *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  if (mode == 1 && size >= 128 + 9 * 32) { /* make the header and table checksums valid */
    uint64_t len = size;
    memcpy(buf + 48, &len, 8);
    uint32_t c = (uint32_t)crc32(0, buf + 128, 9 * 32);
    memcpy(buf + 96, &c, 4);
    c = (uint32_t)crc32(0, buf, 124);
    memcpy(buf + 124, &c, 4);
  }
  const char *path = fuzz_file_put(buf, size); /* fuzz_file.h: one in-memory file, rewritten */
  free(buf);
  qv_static *s = NULL;
  char err[256];
  if (qv_static_open(path, 0, &s, err, sizeof err) == QV_OK) {
    qv_collection_info in = {.struct_size = sizeof in};
    if (qv_static_info(s, &in) == QV_OK) {
      size_t row = in.metric == QV_METRIC_HAMMING ? (in.dim + 31) / 32 : in.dim;
      float *q = calloc(row ? row : 1, sizeof *q);
      qv_results *r = NULL;
      qv_query_opts o;
      qv_query_opts_init(&o);
      o.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS | QV_INCLUDE_DISTANCES;
      for (int pass = 0; q && pass < 2; pass++) {
        o.where_json = pass ? "{\"g\": 1}" : NULL;
        qv_status rc = in.metric == QV_METRIC_HAMMING ? qv_static_query_bits(s, (const uint8_t *)q, 1, 5, &o, &r)
                                                      : qv_static_query(s, q, 1, 5, &o, &r);
        if (rc == QV_OK) qv_results_free(r);
        r = NULL;
      }
      free(q);
      const char *ids[] = {"0", "1", "r7"};
      qv_get_opts g;
      qv_get_opts_init(&g);
      g.ids = ids;
      g.n_ids = 3;
      g.include = QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS;
      if (qv_static_get(s, &g, &r) == QV_OK) qv_results_free(r);
      qv_get_opts_init(&g);
      g.where_json = "{\"g\": {\"$gt\": 0}}";
      g.limit = 3;
      if (qv_static_get(s, &g, &r) == QV_OK) qv_results_free(r);
      qv_collection_info_free(&in);
    }
    (void)qv_static_verify(s);
    qv_static_close(s);
  }
  return 0;
}
