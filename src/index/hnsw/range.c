/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * index/hnsw/range.c -- range search on the graph: an expanding k-NN search.
 *
 * A graph cannot enumerate "everything within r" directly, so the k nearest are searched with
 * k = 64, 128, 256, ... (ef = max(2k, the request's ef)) until the k-th hit lies beyond the
 * radius, the graph has fewer than k live nodes, or req->k in-radius hits (the caller's limit)
 * were found. The answer is the in-radius prefix of the last approximate k-NN answer, so its
 * recall is the graph's k-NN recall at that ef: a larger ef_search or M raises it. Only the
 * public search() is used, so the graph's internals stay in hnsw.c.
 */
#include <stdlib.h>

#include "index.h"

#define RANGE_K0 64

qv_status qv__hnsw_range_search(const qv_index *ix, const qv_search_req *req, float radius, const qv_mem *mem,
                                qv_hit **out, size_t *n_out) {
  qv_index_stats st = {0};
  *out = NULL;
  *n_out = 0;
  qv__index_hnsw.stats(ix, &st);
  if (st.count == 0) return QV_OK;
  size_t limit = req->k, k = RANGE_K0;
  if (limit && k < limit + 1) k = limit + 1;
  for (;;) {
    if (k > st.count) k = (size_t)st.count;
    qv_hit *buf = qv__realloc(mem, *out, k * sizeof *buf);
    if (!buf) {
      qv__free(mem, *out);
      *out = NULL;
      return QV_NOMEM;
    }
    *out = buf;
    qv_search_req r = *req;
    size_t n = 0;
    r.k = k;
    r.ef = (uint32_t)(2 * k > req->ef ? (2 * k < 100000 ? 2 * k : 100000) : req->ef);
    if (r.ef < k) r.ef = (uint32_t)k;
    qv_status rc = qv__index_hnsw.search(ix, &r, buf, &n);
    if (rc) {
      qv__free(mem, buf);
      *out = NULL;
      return rc;
    }
    size_t in = 0;
    while (in < n && buf[in].dist <= radius) in++;
    /* done: something beyond the radius, the graph exhausted, or the limit reached */
    if (in < n || n < k || k >= st.count || (limit && in >= limit)) {
      *n_out = limit && in > limit ? limit : in;
      return QV_OK;
    }
    k *= 2;
  }
}
