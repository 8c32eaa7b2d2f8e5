/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * adv_int.h -- what the advanced reads (core/advanced.c, cluster/kmeans.c) share: a read
 * "session" on a collection (the parsed filter, its cached bitmap, the read lock held, the
 * input records to leave out) and the k-NN search under it.
 */
#ifndef QV_ADV_INT_H
#define QV_ADV_INT_H

#include "col_int.h"

typedef struct qv_adv {
  qv_collection *c;
  qv_filter *f;          /* NULL: no filter */
  qv_fent *fe;           /* cached bitmap entry or NULL */
  const uint64_t *bits;  /* the bitmap (NULL: evaluate f per record) */
  uint64_t n_words, count;
  uint32_t *excl;        /* sorted slots never returned (the inputs), owned */
  size_t n_excl, cap_excl;
} qv_adv;

/* Parse the filters and take c->lock shared. On failure nothing is held. */
QV_INTERNAL qv_status qv__adv_begin(qv_collection *c, const char *where, const char *where_doc, qv_adv *a);
/* Release everything qv__adv_begin took (and the exclusions). */
QV_INTERNAL void qv__adv_end(qv_adv *a);
/* Slot s is live, matches the filter and is not excluded. */
QV_INTERNAL int qv__adv_match(const qv_adv *a, uint32_t s);

/* The k nearest matching slots to the prepared (unit for cosine) q, planner included. */
QV_INTERNAL qv_status qv__adv_knn(const qv_adv *a, const float *q, size_t k, const qv_query_opts *o, qv_hit *out,
                                  size_t *n_out);
/* One-row results of hits (the distance field carries h[i].dist: a distance or a score). */
QV_INTERNAL qv_status qv__adv_results(const qv_adv *a, const qv_hit *h, size_t n, unsigned include, qv_results **out);
/* nq empty rows. */
QV_INTERNAL qv_status qv__adv_empty(const qv_collection *c, size_t nq, const qv_query_opts *o, qv_results **out);
/* The checks every advanced read starts with (out NULL-ed, k range, opts defaults). */
QV_INTERNAL qv_status qv__adv_check(qv_collection *c, size_t k, const qv_query_opts **o, qv_query_opts *defaults,
                                    qv_results **out);
QV_INTERNAL qv_status qv__adv_check_vec(const qv_collection *c, const float *v, const char *field, size_t i);
/* End the session; a failure without a message gets one. Returns rc. */
QV_INTERNAL qv_status qv__adv_finish(qv_adv *a, qv_status rc);

/* docidx.c: the slots whose documents contain f's required $contains operand (a superset of
 * f's matches, from the trigram index; evaluate f on each), or NULL when it cannot tell
 * (no such operand, under 3 characters, in-memory database, no index). Caller frees. */
QV_INTERNAL uint64_t *qv__doc_candidates(const qv_collection *c, const qv_filter *f, uint64_t *n_words,
                                         uint64_t *count);

/* docidx.c: build the trigram index f's $contains would use, if missing (persistent,
 * read-write databases). Call before taking c->lock; failures leave the scan to answer. */
QV_INTERNAL void qv__doc_index_prepare(qv_collection *c, const qv_filter *f);
/* text.c: make sure collection c's BM25 (trigram 0) or trigram (1) table exists (persistent,
 * read-write databases; takes db->write_mu: call holding no collection lock). */
QV_INTERNAL qv_status qv__text_ensure(qv_collection *c, int trigram);

/* text.c: free a collection's in-memory text index (in-memory databases only). */
QV_INTERNAL void qv__text_free(qv_collection *c);

#endif /* QV_ADV_INT_H */
