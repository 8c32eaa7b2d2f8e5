/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/hnsw/io.c -- the checkpoint file: save / load (see hnsw.c for the design, hnsw_int.h for the structures).
 *
 * Every vector is stored once on disk: the records in SQLite hold the floats, so a payload of
 * version 2 with sq8 traversal codes keeps only the graph, the codes and the quantizer, plus
 * the floats of tombstoned nodes (their records are gone, but neighbour selection still reads
 * them until compaction). On load the floats of live nodes are read through the vector source
 * (qv_index_params.vsrc). In float-traversal mode (quantizer none) the floats are part of each
 * adjacency block and stay in the file. Version 1 (0.1.x: floats always in the file) loads too.
 *
 * A lean index (keep_floats false) writes version 3: the version 2 layout with no float rows at
 * all, not even for tombstones (header vstride 0). Loaded into an index that keeps floats (the
 * parameter changed, or no vector source), live rows come from the vector source and a
 * tombstone's row is its decoded code. A lean index loading a version 1 or 2 file ignores its
 * floats.
 */
#include "hnsw_int.h"

/* ------------------------------------------------------------------ save / load */

typedef struct file_hdr {
  uint32_t m, m0, efc, efs;
  uint32_t n;         /* slots stored (n_hw) */
  uint32_t ep;
  int32_t max_level;
  uint32_t sq8;
  uint32_t bsz, code_off, vstride, q8_bytes;
  uint64_t up_words;  /* u32 words in the up section */
  uint64_t n_live;
} file_hdr;

_Static_assert(sizeof(file_hdr) == 64, "file_hdr is one 64-byte section");

typedef struct layout {
  size_t off_state, off_level, off_l0, off_vecs, off_q8, off_up, total;
} layout;

/* Payload v2 appends the floats of the n_dead tombstoned nodes (slot order) after the up
 * section; v1 has the full float section at off_vecs instead. */
static size_t dead_bytes(const file_hdr *h, uint64_t n_dead) {
  return h->sq8 ? (size_t)n_dead * h->vstride : 0;
}

/* Section offsets for h (payload version ver); 0 on overflow. */
static int make_layout(const file_hdr *h, uint32_t ver, layout *L) {
  size_t n = h->n, t = 64;
  if (h->bsz && n > SIZE_MAX / 4 / h->bsz) return 0;
  if (h->vstride && n > SIZE_MAX / 4 / h->vstride) return 0;
  if (h->up_words > SIZE_MAX / 8) return 0;
  L->off_state = t;
  t = align64(t + n);
  L->off_level = t;
  t = align64(t + n);
  L->off_l0 = t;
  t = align64(t + n * h->bsz);
  L->off_vecs = t;
  if (h->sq8 && ver == 1) t = align64(t + n * h->vstride);
  L->off_q8 = t;
  t = align64(t + h->q8_bytes);
  L->off_up = t;
  t += (size_t)h->up_words * 4;
  L->total = t;
  return 1;
}

/* The checkpoint: payload v2 (no live floats) normally; v1 (every node's floats inside, the
 * file needs no vector source) when standalone, for snapshot files. */
static qv_status save_as(const qv_index *ix, const char *path, uint64_t seq, int standalone) {
  if (!ix || !path) return QV_INVALID;
  uint32_t ver = standalone ? 1 : ix->lean ? HNSW_PAYLOAD_LEAN : HNSW_PAYLOAD_VERSION;
  if (ix->n_hidden) return QV_MISUSE; /* a write is between add_hidden() and publish() */
  file_hdr h;
  memset(&h, 0, sizeof h);
  h.m = ix->M;
  h.m0 = ix->M0;
  h.efc = ix->efc;
  h.efs = ix->efs;
  h.n = ix->n_hw;
  h.ep = ix->ep;
  h.max_level = ix->max_level;
  h.sq8 = (uint32_t)ix->sq8 | (ix->exact ? HNSW_HDR_EXACT : 0);
  h.bsz = (uint32_t)ix->bsz;
  h.code_off = (uint32_t)ix->code_off;
  h.vstride = ver == HNSW_PAYLOAD_LEAN ? 0 : (uint32_t)ix->vstride;
  h.q8_bytes = ix->sq8 ? (uint32_t)hnsw_sq8_params_bytes(&ix->q8) : 0;
  for (uint32_t s = 0; s < ix->n_hw; s++) h.up_words += (uint64_t)ix->level[s] * (ix->M + 1);
  h.n_live = ix->n_live;
  layout L;
  if (!make_layout(&h, ver, &L)) return QV_INVALID;
  uint64_t n_dead = 0;
  for (uint32_t s = 0; s < ix->n_hw && ver == HNSW_PAYLOAD_VERSION; s++) n_dead += ix->state[s] == ST_DEAD;

  qv_ckpt_hdr ch = {HNSW_TAG, ver, ix->dim, (uint32_t)ix->p.metric, seq, L.total + dead_bytes(&h, n_dead)};
  qv_ckpt_writer w;
  qv_status rc = qv__ckpt_begin(&w, ix->mem, path, &ch);
  if (rc != QV_OK) return rc;
  static const unsigned char zeros[64];
  size_t pos = 0;
#define PAD_TO(off)                                                                                \
  do {                                                                                             \
    qv__ckpt_write(&w, zeros, (off) - pos);                                                        \
    pos = (off);                                                                                   \
  } while (0)
  qv__ckpt_write(&w, &h, sizeof h);
  pos = 64;
  PAD_TO(L.off_state);
  qv__ckpt_write(&w, ix->state, h.n);
  pos += h.n;
  PAD_TO(L.off_level);
  qv__ckpt_write(&w, ix->level, h.n);
  pos += h.n;
  PAD_TO(L.off_l0);
  qv__ckpt_write(&w, ix->l0, (size_t)h.n * ix->bsz);
  pos += (size_t)h.n * ix->bsz;
  PAD_TO(L.off_vecs); /* v2: no float section (the store has the floats) */
  if (standalone && ix->sq8 && !ix->lean) {
    qv__ckpt_write(&w, ix->vecs, (size_t)h.n * ix->vstride);
    pos += (size_t)h.n * ix->vstride;
  } else if (standalone && ix->sq8) { /* lean: every row from the store (or a tombstone's code) */
    float *row = qv__calloc(ix->mem, 1, ix->vstride);
    if (!row) {
      qv__ckpt_abort(&w);
      return QV_NOMEM;
    }
    for (uint32_t s = 0; s < h.n; s++) {
      memset(row, 0, ix->vstride);
      if (ix->state[s] != ST_EMPTY && (rc = hnsw_row(ix, s, row)) != QV_OK) {
        qv__free(ix->mem, row);
        qv__ckpt_abort(&w);
        return rc;
      }
      qv__ckpt_write(&w, row, ix->vstride);
    }
    qv__free(ix->mem, row);
    pos += (size_t)h.n * ix->vstride;
  }
  PAD_TO(L.off_q8);
  if (ix->sq8) {
    hnsw_sq8_params_write(&ix->q8, &w);
    pos += h.q8_bytes;
  }
  PAD_TO(L.off_up);
#undef PAD_TO
  for (uint32_t s = 0; s < ix->n_hw; s++)
    if (ix->level[s]) qv__ckpt_write(&w, ix->up[s], (size_t)ix->level[s] * (ix->M + 1) * 4);
  if (ix->sq8 && ver == HNSW_PAYLOAD_VERSION)
    for (uint32_t s = 0; s < ix->n_hw; s++)
      if (ix->state[s] == ST_DEAD) qv__ckpt_write(&w, ix->vecs + (size_t)s * ix->vstride, ix->vstride);
  return qv__ckpt_commit(&w);
}

QV_INTERNAL qv_status hnsw_save(const qv_index *ix, const char *path, uint64_t seq) {
  return save_as(ix, path, seq, 0);
}

QV_INTERNAL qv_status hnsw_save_standalone(const qv_index *ix, const char *path, uint64_t seq) {
  return save_as(ix, path, seq, 1);
}

static int valid_list(const qv_index *ix, const uint32_t *l, uint32_t mx, uint32_t self, int lev) {
  if (l[0] > mx) return 0;
  for (uint32_t i = 0; i < l[0]; i++) {
    uint32_t t = l[i + 1];
    if (t >= ix->n_hw || t == self || ix->state[t] == ST_EMPTY || ix->level[t] < lev) return 0;
  }
  return 1;
}

/* Validate the loaded node arrays (l0 already copied in) and take over the upper links. */
static qv_status load_nodes(qv_index *ix, const file_hdr *h, const layout *L, unsigned char *pl) {
  uint32_t n = h->n;
  memcpy(ix->state, pl + L->off_state, n);
  memcpy(ix->level, pl + L->off_level, n);
  ix->n_hw = n;
  const uint32_t *up = (const uint32_t *)(const void *)(pl + L->off_up);
  uint64_t used = 0, live = 0, dead = 0;
  for (uint32_t s = 0; s < n; s++) {
    uint8_t st = ix->state[s], lv = ix->level[s];
    if (st > ST_DEAD || lv > MAX_LEVEL || (int)lv > h->max_level) return QV_CORRUPT;
    if (st == ST_EMPTY && lv) return QV_CORRUPT;
    live += st == ST_LIVE;
    dead += st == ST_DEAD;
    if (!lv) continue;
    size_t words = (size_t)lv * (ix->M + 1);
    if (used + words > h->up_words) return QV_CORRUPT;
    ix->up[s] = qv__malloc(ix->mem, words * 4);
    if (!ix->up[s]) return QV_NOMEM;
    memcpy(ix->up[s], up + used, words * 4);
    used += words;
  }
  if (used != h->up_words || live != h->n_live) return QV_CORRUPT;
  ix->n_live = live;
  ix->n_dead = dead;
  for (uint32_t s = 0; s < n; s++) {
    if (ix->state[s] == ST_EMPTY) {
      if (links0(ix, s)[0]) return QV_CORRUPT;
      continue;
    }
    for (int lev = 0; lev <= ix->level[s]; lev++)
      if (!valid_list(ix, links_at(ix, s, lev), max_links(ix, lev), s, lev)) return QV_CORRUPT;
  }
  if (live + dead == 0) {
    if (h->max_level != -1) return QV_CORRUPT;
  } else if (h->ep >= n || ix->state[h->ep] == ST_EMPTY || (int)ix->level[h->ep] != h->max_level) {
    return QV_CORRUPT;
  }
  ix->ep = h->ep;
  ix->max_level = h->max_level;
  return QV_OK;
}

/* Payload v2 with codes: live nodes' floats from the vector source, tombstones' from the file
 * (dead), or with dead NULL (v3, written without floats) their decoded codes. */
static qv_status load_floats(qv_index *ix, const qv_index_params *p, const unsigned char *dead, uint64_t n_dead) {
  uint64_t used = 0;
  for (uint32_t s = 0; s < ix->n_hw; s++) {
    float *v = (float *)(void *)(ix->vecs + (size_t)s * ix->vstride);
    if (ix->state[s] == ST_DEAD && !dead) {
      hnsw_sq8_decode(&ix->q8, code_of(ix, s), v);
    } else if (ix->state[s] == ST_DEAD) {
      if (used == n_dead) return QV_CORRUPT;
      memcpy(v, dead + used++ * ix->vstride, ix->vstride);
    } else if (ix->state[s] == ST_LIVE) {
      qv_status rc = p->vsrc->get(p->vsrc->ctx, s, v);
      if (rc == QV_NOTFOUND) memset(v, 0, (size_t)ix->dim * sizeof(float)); /* the record is gone: the
                                                 collection removes the slot while it replays the log */
      else if (rc != QV_OK) return rc;
    }
  }
  return used == n_dead ? QV_OK : QV_CORRUPT;
}

QV_INTERNAL qv_status hnsw_load(const qv_index_params *p, const char *path, qv_index **out, uint64_t *seq) {
  if (!out) return QV_INVALID;
  *out = NULL;
  if (!p || !path) return QV_INVALID;
  double pv[QV_MAX_PARAMS];
  if (hnsw_resolve(p, pv) != QV_OK) return QV_INVALID;
  uint32_t want_m = (uint32_t)pv[P_M], want_sq8 = (uint32_t)hnsw_quant_bits(pv[P_QUANT], p->dim);
  qv_ckpt_hdr want = {HNSW_TAG, HNSW_PAYLOAD_VERSION, p->dim, (uint32_t)p->metric, 0, 0}, got;
  void *payload = NULL;
  qv_index *ix = NULL;
  qv_status rc = qv__ckpt_read(p->mem, path, &want, &got, &payload);
  if (rc != QV_OK) return rc;
  unsigned char *pl = payload;
  file_hdr h;
  layout L;
  rc = QV_CORRUPT;
  uint32_t ver = got.payload_version;
  if ((ver != 1 && ver != HNSW_PAYLOAD_VERSION && ver != HNSW_PAYLOAD_LEAN) || got.payload_len < 64) goto fail;
  memcpy(&h, pl, sizeof h);
  int exact = (h.sq8 & HNSW_HDR_EXACT) != 0;
  h.sq8 &= ~HNSW_HDR_EXACT;
  if (h.m < 2 || h.m > MAX_M / 2 || h.m0 != 2 * h.m || h.n > (1u << 31) || (h.sq8 != 0 && h.sq8 != 8 && h.sq8 != 4) ||
      h.max_level < -1 || h.max_level > MAX_LEVEL || h.m != want_m || (h.sq8 != want_sq8 && pv[P_QUANT] != 3))
    goto fail; /* quantizer auto: the code width the file was built with */
  if (!make_layout(&h, ver, &L)) goto fail;
  uint64_t n_dead_file = 0;
  if (ver == 1) {
    if (L.total != got.payload_len) goto fail;
  } else if (ver == HNSW_PAYLOAD_LEAN) { /* codes, and no float rows at all */
    if (!h.sq8 || h.vstride != 0 || L.total != got.payload_len) goto fail;
    if (h.n && !p->vsrc) { /* floats to read, and nowhere to read them from */
      rc = QV_UNSUPPORTED;
      goto fail;
    }
  } else {
    /* the dead floats' length is checked against the state section in load_floats() */
    if (got.payload_len < L.total || (h.sq8 && (!h.vstride || (got.payload_len - L.total) % h.vstride)))
      goto fail; /* a zero stride (fuzz_index_load found it) would divide by zero here */
    if (h.sq8) n_dead_file = (got.payload_len - L.total) / h.vstride;
    else if (got.payload_len != L.total) goto fail;
    if (h.sq8 && h.n && !p->vsrc) { /* floats to read, and nowhere to read them from */
      rc = QV_UNSUPPORTED;
      goto fail;
    }
  }
  rc = hnsw_new(p, h.m, (int)h.sq8, &ix);
  if (rc != QV_OK) goto fail;
  rc = QV_CORRUPT;
  if ((uint32_t)ix->sq8 != h.sq8 || ix->code_off != h.code_off) goto fail;
  /* with codes, blocks are 16-byte aligned now and were 64 in files from before: either is
   * read as it is */
  if (h.sq8 && h.bsz != ix->bsz) {
    if (h.bsz != align64(ix->code_off + ix->q8.code_bytes)) goto fail;
    ix->bsz = h.bsz;
  } else if (ix->bsz != h.bsz) {
    goto fail;
  }
  /* the float rows: 16-byte stride now, 64 in files from before; either is read as it is
   * (v3 has none: a index that keeps floats lays them out its own way) */
  if (ver == HNSW_PAYLOAD_LEAN) {
  } else if (h.sq8 && h.vstride != ix->vstride) {
    if (h.vstride != align64((size_t)ix->dim * sizeof(float))) goto fail;
    ix->vstride = h.vstride;
  } else if (ix->vstride != h.vstride) {
    goto fail;
  }
  if (h.sq8 && hnsw_sq8_params_read(&ix->q8, pl + L.off_q8, h.q8_bytes) != 0) goto fail;
  ix->exact = exact && h.sq8; /* files from before the flag: not known, so not exact */
  /* ef_construction is a runtime parameter: the catalog's value (in p) wins over the file's */
  if (h.n == 0) {
    if (h.max_level != -1) goto fail;
    qv__free_aligned(p->mem, payload);
    payload = NULL;
  } else {
    /* per-node arrays of exactly n slots; the block arrays stay where they were read */
    rc = hnsw_grow(ix, h.n, 1, 0);
    if (rc != QV_OK) goto fail;
    ix->l0 = pl + L.off_l0;
    ix->vecs = h.sq8 && ver == 1 && !ix->lean ? pl + L.off_vecs : NULL;
    if (h.sq8 && ver != 1 && !ix->lean) {
      ix->vecs = hnsw_arena_alloc(ix->mem, (size_t)h.n * ix->vstride, &ix->vecs_raw);
      if (!ix->vecs) {
        rc = QV_NOMEM;
        goto fail;
      }
    }
    ix->vbase = ix->lean ? NULL : ix->sq8 ? ix->vecs : ix->l0 + ix->code_off;
    ix->adopted = payload;
    payload = NULL;
    rc = load_nodes(ix, &h, &L, pl);
    if (rc != QV_OK) goto fail;
    if (h.sq8 && ver != 1 && !ix->lean &&
        (rc = load_floats(ix, p, ver == HNSW_PAYLOAD_LEAN ? NULL : pl + L.total, n_dead_file)) != QV_OK)
      goto fail;
    hnsw_collapse_huge(ix->l0, (size_t)h.n * ix->bsz);
  }
  if (seq) *seq = got.seq;
  *out = ix;
  return QV_OK;
fail:
  hnsw_destroy(ix);
  qv__free_aligned(p->mem, payload);
  return rc;
}
