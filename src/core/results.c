/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * results.c -- qv_results: what get and query hand back. Hits of all query rows sit in flat
 * arrays, row q's hits at [off[q], off[q+1]). ids, metadata JSON and documents are separate
 * allocations owned by the results; embeddings are one float block.
 */
#include <string.h>

#include "col_int.h"

qv_results *qv__results_new(const qv_mem *mem, size_t nq, const size_t *counts, uint32_t dim, unsigned include) {
  qv_results *r = qv__calloc(mem, 1, sizeof *r);
  if (!r) return NULL;
  r->mem = mem;
  r->nq = nq;
  r->dim = dim;
  r->include = include;
  r->off = qv__calloc(mem, nq + 1, sizeof *r->off);
  if (!r->off) goto fail;
  for (size_t q = 0; q < nq; q++) r->off[q + 1] = r->off[q] + counts[q];
  size_t total = r->off[nq];
  r->ids = qv__calloc(mem, total ? total : 1, sizeof *r->ids);
  r->dists = qv__calloc(mem, total ? total : 1, sizeof *r->dists);
  if (!r->ids || !r->dists) goto fail;
  if ((include & QV_INCLUDE_EMBEDDINGS) && dim && !(r->embs = qv__calloc(mem, total ? total * dim : 1, sizeof(float))))
    goto fail;
  if ((include & QV_INCLUDE_METADATAS) && !(r->metas = qv__calloc(mem, total ? total : 1, sizeof *r->metas))) goto fail;
  if ((include & QV_INCLUDE_DOCUMENTS) && !(r->docs = qv__calloc(mem, total ? total : 1, sizeof *r->docs))) goto fail;
  return r;
fail:
  qv_results_free(r);
  return NULL;
}

void qv_results_free(qv_results *r) {
  if (!r) return;
  const qv_mem *mem = r->mem;
  size_t total = r->off ? r->off[r->nq] : 0;
  for (size_t i = 0; i < total; i++) {
    if (r->ids) qv__free(mem, r->ids[i]);
    if (r->metas) qv__free(mem, r->metas[i]);
    if (r->docs) qv__free(mem, r->docs[i]);
  }
  qv__free(mem, r->ids);
  qv__free(mem, r->dists);
  qv__free(mem, r->embs);
  qv__free(mem, r->metas);
  qv__free(mem, r->docs);
  qv__free(mem, r->off);
  qv__free(mem, r);
}

static int in_range(const qv_results *r, size_t q, size_t i) { return r && q < r->nq && i < r->off[q + 1] - r->off[q]; }

size_t qv_results_nq(const qv_results *r) { return r ? r->nq : 0; }
size_t qv_results_count(const qv_results *r, size_t q) { return r && q < r->nq ? r->off[q + 1] - r->off[q] : 0; }
const char *qv_results_id(const qv_results *r, size_t q, size_t i) {
  return in_range(r, q, i) ? r->ids[r->off[q] + i] : NULL;
}
float qv_results_distance(const qv_results *r, size_t q, size_t i) {
  return in_range(r, q, i) ? r->dists[r->off[q] + i] : 0.0f;
}
const float *qv_results_embedding(const qv_results *r, size_t q, size_t i) {
  return in_range(r, q, i) && r->embs ? r->embs + (r->off[q] + i) * r->dim : NULL;
}
const char *qv_results_metadata(const qv_results *r, size_t q, size_t i) {
  return in_range(r, q, i) && r->metas ? r->metas[r->off[q] + i] : NULL;
}
const char *qv_results_document(const qv_results *r, size_t q, size_t i) {
  return in_range(r, q, i) && r->docs ? r->docs[r->off[q] + i] : NULL;
}
uint32_t qv_results_dim(const qv_results *r) { return r ? r->dim : 0; }
unsigned qv_results_include(const qv_results *r) { return r ? r->include : 0; }
