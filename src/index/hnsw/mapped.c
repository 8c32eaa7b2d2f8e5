/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/hnsw/mapped.c -- the HNSW graph inside a snapshot file (core/static.c), searched in place
 * on the read-only mapping: serialize() writes the layout below, open_mapped() attaches an index
 * to it with O(1) checks (nothing copied, nothing parsed per node), so a 1M-node file opens in
 * well under a millisecond and processes that map the same file share its pages.
 *
 * Payload (the snapshot's INDX section, payload version HNSW_MAP_VERSION; little-endian; every
 * section starts at a multiple of 64 bytes from the payload's start, which the snapshot aligns
 * to 64 bytes in the file):
 *
 *   0   char[8] "QVHNSWM1"
 *   8   u32 M, u32 M0 (= 2 M)
 *   16  u32 code bits (0: float traversal, else the quantizer's code width), u32 dim
 *   24  u32 metric, u32 n (slots: nodes are numbered by slot, 0 .. n - 1)
 *   32  u32 entry point, i32 max level (-1: empty graph)
 *   40  u32 bsz (level-0 block size), u32 code offset inside a block
 *   48  u32 vstride (bytes per float row; = bsz in float mode), u32 quantizer parameter bytes
 *   56  u64 live nodes   64 u64 tombstoned nodes   72 u64 up words (u32 words of upper lists)
 *   80  u64 offsets of: state, level, l0, vecs, q8, upidx, up   136 u64 payload length
 *   144..191 zero
 *   state  n bytes (0 empty, 1 live, 2 tombstone)      level  n bytes (the node's top level)
 *   l0     n blocks of bsz bytes, as in memory: u32 count | u32 ids[M0] | traversal code or floats
 *   vecs   with codes: n float rows of vstride bytes (the exact vectors, for the re-rank; a lean
 *          index, keep_floats false, writes its live rows from the vector source and a
 *          tombstone's as its decoded code, so a snapshot never needs the store)
 *   q8     the quantizer's parameters (hnsw_sq8_params_write)
 *   upidx  n u32: the word offset in up of node s's upper lists (meaningful when level[s] > 0)
 *   up     for each node with level >= 1: lists (u32 count | u32 ids[M]) for levels 1..level
 *
 * Trust: the payload is not checked beyond its head at open (the snapshot's checksums are
 * verified by qv_static_verify()). Searches on a mapped index read links through
 * read_links()/links_at() (hnsw_int.h), which in mapped mode clamp a list's count, drop ids
 * outside [0, n) and, on the upper levels, ids of nodes below that level, and bound every upper
 * list by the up section: a damaged graph gives wrong answers, never an access outside the
 * mapping. The entry point's bounds and level are checked here.
 *
 * What this relies on in the in-memory index (hnsw_int.h): l0 is one array of n_hw blocks of
 * bsz bytes (links, then the code at code_off, or the floats in float mode: vbase = l0 +
 * code_off, vstride = bsz); with codes, vecs is one array of n_hw rows of vstride bytes; state
 * and level are byte arrays indexed by slot; up[s] holds level[s] lists of M + 1 words; the
 * quantizer's state is restored by hnsw_sq8_params_read(). search.c reads nothing else.
 */
#include <stdio.h>

#include "hnsw_int.h"

#define MAP_HEAD 192u
static const char map_magic[8] = {'Q', 'V', 'H', 'N', 'S', 'W', 'M', '1'};

enum { O_STATE, O_LEVEL, O_L0, O_VECS, O_Q8, O_UPIDX, O_UP, O_COUNT };

typedef struct map_head {
  char magic[8];
  uint32_t m, m0, bits, dim, metric, n, ep;
  int32_t max_level;
  uint32_t bsz, code_off, vstride, q8_bytes;
  uint64_t n_live, n_dead, up_words;
  uint64_t off[O_COUNT];
  uint64_t total;
  unsigned char zero[MAP_HEAD - 144];
} map_head;

_Static_assert(sizeof(map_head) == MAP_HEAD, "map_head is the payload's first 192 bytes");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "snapshot payloads are little-endian");

/* Section sizes of h; 0 on overflow. */
static int section_sizes(const map_head *h, uint64_t sz[O_COUNT]) {
  uint64_t n = h->n;
  if (h->bsz && n > UINT64_MAX / 4 / h->bsz) return 0;
  if (h->vstride && n > UINT64_MAX / 4 / h->vstride) return 0;
  if (h->up_words > UINT64_MAX / 8) return 0;
  sz[O_STATE] = n;
  sz[O_LEVEL] = n;
  sz[O_L0] = n * h->bsz;
  sz[O_VECS] = h->bits ? n * h->vstride : 0;
  sz[O_Q8] = h->q8_bytes;
  sz[O_UPIDX] = n * 4;
  sz[O_UP] = h->up_words * 4;
  return 1;
}

static uint64_t up64(uint64_t x) { return (x + 63) & ~(uint64_t)63; }

/* The quantizer's parameters as bytes (written through a checkpoint writer on a memory stream,
 * so whatever hnsw_sq8_params_write() writes is what the file holds). */
static qv_status q8_bytes(const qv_index *ix, char **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  if (!ix->sq8) return QV_OK;
  qv_ckpt_writer w;
  memset(&w, 0, sizeof w);
  w.f = open_memstream(buf, len);
  if (!w.f) return QV_NOMEM;
  hnsw_sq8_params_write(&ix->q8, &w);
  if (fclose(w.f) != 0 || w.failed) {
    free(*buf);
    *buf = NULL;
    return QV_NOMEM;
  }
  return QV_OK;
}

QV_INTERNAL qv_status hnsw_serialize(const qv_index *ix, void (*put)(void *ctx, const void *p, size_t n), void *ctx,
                                     uint32_t *payload_version) {
  if (!ix || !put || !payload_version) return QV_INVALID;
  if (ix->n_hidden || ix->mapped) return QV_MISUSE;
  map_head h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, map_magic, sizeof map_magic);
  h.m = ix->M;
  h.m0 = ix->M0;
  h.bits = (uint32_t)ix->sq8;
  h.dim = ix->dim;
  h.metric = (uint32_t)ix->p.metric;
  h.n = ix->n_hw;
  h.ep = ix->ep;
  h.max_level = ix->max_level;
  h.bsz = (uint32_t)ix->bsz;
  h.code_off = (uint32_t)ix->code_off;
  h.vstride = (uint32_t)ix->vstride;
  h.n_live = ix->n_live;
  h.n_dead = ix->n_dead;
  char *q8 = NULL;
  size_t q8_len = 0;
  qv_status rc = q8_bytes(ix, &q8, &q8_len);
  if (rc) return rc;
  h.q8_bytes = (uint32_t)q8_len;
  uint32_t *upidx = h.n ? qv__malloc(ix->mem, (size_t)h.n * 4) : NULL;
  if (h.n && !upidx) {
    free(q8);
    return QV_NOMEM;
  }
  for (uint32_t s = 0; s < h.n; s++) {
    upidx[s] = (uint32_t)h.up_words;
    h.up_words += (uint64_t)ix->level[s] * (ix->M + 1);
    if (h.up_words > UINT32_MAX) { /* offsets are u32: more than 16 GiB of upper lists */
      free(q8);
      qv__free(ix->mem, upidx);
      return QV_UNSUPPORTED;
    }
  }
  uint64_t sz[O_COUNT], t = MAP_HEAD;
  section_sizes(&h, sz);
  for (int i = 0; i < O_COUNT; i++) {
    h.off[i] = t;
    t = up64(t + sz[i]);
  }
  h.total = h.off[O_UP] + sz[O_UP];
  static const unsigned char zeros[64];
  uint64_t pos = 0;
#define PAD_TO(o)                                                                                  \
  do {                                                                                             \
    put(ctx, zeros, (size_t)((o) - pos));                                                          \
    pos = (o);                                                                                     \
  } while (0)
  put(ctx, &h, sizeof h);
  pos = MAP_HEAD;
  PAD_TO(h.off[O_STATE]);
  put(ctx, ix->state, h.n);
  pos += h.n;
  PAD_TO(h.off[O_LEVEL]);
  put(ctx, ix->level, h.n);
  pos += h.n;
  PAD_TO(h.off[O_L0]);
  put(ctx, ix->l0, (size_t)sz[O_L0]);
  pos += sz[O_L0];
  PAD_TO(h.off[O_VECS]);
  if (h.bits && !ix->lean) {
    put(ctx, ix->vecs, (size_t)sz[O_VECS]);
  } else if (h.bits) {
    float *row = qv__calloc(ix->mem, 1, ix->vstride);
    rc = row ? QV_OK : QV_NOMEM;
    for (uint32_t s = 0; s < h.n && rc == QV_OK; s++) {
      memset(row, 0, ix->vstride);
      if (ix->state[s] != ST_EMPTY) rc = hnsw_row(ix, s, row);
      if (rc == QV_OK) put(ctx, row, ix->vstride);
    }
    qv__free(ix->mem, row);
    if (rc) { /* the caller abandons the partial payload */
      free(q8);
      qv__free(ix->mem, upidx);
      return rc;
    }
  }
  pos += sz[O_VECS];
  PAD_TO(h.off[O_Q8]);
  put(ctx, q8, q8_len);
  pos += q8_len;
  PAD_TO(h.off[O_UPIDX]);
  put(ctx, upidx, (size_t)sz[O_UPIDX]);
  pos += sz[O_UPIDX];
  PAD_TO(h.off[O_UP]);
#undef PAD_TO
  for (uint32_t s = 0; s < h.n; s++)
    if (ix->level[s]) put(ctx, ix->up[s], (size_t)ix->level[s] * (ix->M + 1) * 4);
  free(q8);
  qv__free(ix->mem, upidx);
  *payload_version = HNSW_MAP_VERSION;
  return QV_OK;
}

QV_INTERNAL qv_status hnsw_open_mapped(const qv_index_params *p, uint32_t version, const void *payload, uint64_t len,
                                       qv_index **out) {
  if (!out) return QV_INVALID;
  *out = NULL;
  if (!p || !payload) return QV_INVALID;
  if (version != HNSW_MAP_VERSION || ((uintptr_t)payload & 63) || len < MAP_HEAD) return QV_CORRUPT;
  map_head h;
  memcpy(&h, payload, sizeof h);
  if (memcmp(h.magic, map_magic, sizeof map_magic) != 0 || h.m < 2 || h.m > MAX_M / 2 || h.m0 != 2 * h.m ||
      h.n > (1u << 31) || h.max_level < -1 || h.max_level > MAX_LEVEL || h.dim != p->dim ||
      h.metric != (uint32_t)p->metric || h.total != len || h.n_live > h.n || h.n_dead > h.n - h.n_live ||
      (h.bits != 0 && h.bits != 8 && h.bits != 4))
    return QV_CORRUPT;
  uint64_t sz[O_COUNT];
  if (!section_sizes(&h, sz)) return QV_CORRUPT;
  for (int i = 0; i < O_COUNT; i++)
    if (h.off[i] % 64 || h.off[i] < MAP_HEAD || h.off[i] > len || sz[i] > len - h.off[i]) return QV_CORRUPT;
  const unsigned char *b = payload;
  const uint8_t *level = b + h.off[O_LEVEL];
  if (h.n_live + h.n_dead == 0 ? h.max_level != -1 : h.ep >= h.n || (int)level[h.ep] != h.max_level)
    return QV_CORRUPT;
  qv_index *ix = NULL;
  qv_status rc = hnsw_new(p, h.m, (int)h.bits, &ix);
  if (rc) return rc == QV_NOMEM ? rc : QV_CORRUPT;
  ix->mapped = 1; /* from here hnsw_destroy() frees nothing that lies in the payload */
  ix->lean = 0;   /* the payload carries every float row */
  ix->exact = 0;  /* and the re-rank reads them */
  rc = QV_CORRUPT;
  if ((uint32_t)ix->sq8 != h.bits || ix->code_off != h.code_off || h.bsz % 16 || h.vstride % 16) goto fail;
  /* the block and row strides are the file's (writers have padded to 16 and to 64 bytes) */
  if (h.bits) {
    if (h.bsz < ix->code_off + ix->q8.code_bytes || h.vstride < (size_t)ix->dim * sizeof(float) ||
        hnsw_sq8_params_read(&ix->q8, b + h.off[O_Q8], h.q8_bytes) != 0)
      goto fail;
  } else if (h.bsz < ix->code_off + (size_t)ix->dim * sizeof(float) || h.vstride != h.bsz || h.q8_bytes) {
    goto fail;
  }
  ix->bsz = h.bsz;
  ix->vstride = h.vstride;
  /* the arrays are read, never written: add/remove are refused on a mapped index */
  ix->state = (uint8_t *)(uintptr_t)(b + h.off[O_STATE]);
  ix->level = (uint8_t *)(uintptr_t)level;
  ix->l0 = (unsigned char *)(uintptr_t)(b + h.off[O_L0]);
  ix->vecs = h.bits ? (unsigned char *)(uintptr_t)(b + h.off[O_VECS]) : NULL;
  ix->vbase = h.bits ? ix->vecs : ix->l0 + ix->code_off;
  ix->map_upidx = (const uint32_t *)(const void *)(b + h.off[O_UPIDX]);
  ix->map_up = (const uint32_t *)(const void *)(b + h.off[O_UP]);
  ix->map_up_words = h.up_words;
  ix->cap = ix->n_hw = h.n;
  ix->ep = h.ep;
  ix->max_level = h.max_level;
  ix->n_live = h.n_live;
  ix->n_dead = h.n_dead;
  *out = ix;
  return QV_OK;
fail:
  hnsw_destroy(ix);
  return rc;
}
