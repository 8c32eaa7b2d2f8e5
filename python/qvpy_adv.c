/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * qvpy_adv.c -- quiver.Collection's advanced reads: range_search(_batch), kmeans, combine,
 * interpolate, centroid_search, recommend, and search(..., mmr_lambda=) (MMR). Same pattern
 * as qvpy_col.c: parse (may run Python code), enter the guard, GIL released around the
 * libquiver call, results built with the GIL held. Each returns (ids, distances-or-scores)
 * lists like search(), kmeans a dict.
 */
#include <string.h>

#include "qvpy.h"

#define TNAME(o) (Py_TYPE(o)->tp_name)

static PyObject *raise_rc(qvpy_col *self, qv_status rc) { return qvpy_raise_db(self->owner->db, rc); }

/* ([ids...], [dists...]) of row q as a new tuple. */
static PyObject *row_pair(const qv_results *r, size_t q) {
  size_t n = r ? qv_results_count(r, q) : 0;
  PyObject *ids = PyList_New((Py_ssize_t)n), *d = PyList_New((Py_ssize_t)n), *out = NULL;
  if (!ids || !d) goto done;
  for (size_t i = 0; i < n; i++) {
    PyObject *a = PyUnicode_FromString(qv_results_id(r, q, i));
    PyObject *b = PyFloat_FromDouble(qv_results_distance(r, q, i));
    if (!a || !b) {
      Py_XDECREF(a);
      Py_XDECREF(b);
      goto done;
    }
    PyList_SET_ITEM(ids, (Py_ssize_t)i, a);
    PyList_SET_ITEM(d, (Py_ssize_t)i, b);
  }
  out = PyTuple_Pack(2, ids, d);
done:
  Py_XDECREF(ids);
  Py_XDECREF(d);
  return out;
}

/* Optional int argument (None = dflt). */
static int opt_size(PyObject *o, const char *field, long long lo, long long hi, long long dflt, long long *out) {
  if (!o || o == Py_None) {
    *out = dflt;
    return 0;
  }
  return qvpy_as_size(o, field, lo, hi, out);
}

/* Optional float argument (None = dflt). */
static int opt_float(PyObject *o, const char *field, double dflt, double *out) {
  if (!o || o == Py_None) {
    *out = dflt;
    return 0;
  }
  if (PyBool_Check(o) || !PyNumber_Check(o)) return qvpy_type_errorf("%s: expected a number, got %s", field, TNAME(o)), -1;
  *out = PyFloat_AsDouble(o);
  return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
}

/* Optional bool (None = dflt): -1 auto stays -1. */
static int opt_bool(PyObject *o, const char *field, int dflt, int *out) {
  if (!o || o == Py_None) {
    *out = dflt;
    return 0;
  }
  int v = PyObject_IsTrue(o);
  if (v < 0) return -1;
  (void)field;
  *out = v;
  return 0;
}

/* ---------------------------------------------------------------- terms: id or vector */

typedef struct terms {
  qv_vec_term *t;
  qvpy_mat *mats;
  size_t n;
  PyObject *seq; /* keeps the items (and their UTF-8) alive */
} terms;

static void terms_free(terms *ts) {
  for (size_t i = 0; ts->mats && i < ts->n; i++) qvpy_mat_release(&ts->mats[i]);
  PyMem_Free(ts->mats);
  PyMem_Free(ts->t);
  Py_CLEAR(ts->seq);
  memset(ts, 0, sizeof *ts);
}

/* One id (str) or vector into t (mat holds a vector). */
static int term_parse(PyObject *x, size_t dim, const char *field, size_t i, qv_vec_term *t, qvpy_mat *mat) {
  char name[96];
  snprintf(name, sizeof name, "%s[%zu]", field, i);
  memset(mat, 0, sizeof *mat);
  if (PyUnicode_Check(x)) {
    if (!(t->id = PyUnicode_AsUTF8(x))) return -1;
    return 0;
  }
  if (x == Py_None) return qvpy_type_errorf("%s: expected an id (str) or a vector, got None", name), -1;
  if (qvpy_mat_parse(x, dim, QVPY_MAT_1D, name, mat) < 0) return -1;
  if (dim && mat->dim != dim)
    return qvpy_raisef(QV_INVALID, "%s: %zu values for a %zu-dimensional collection", name, mat->dim, dim), -1;
  t->vector = mat->data;
  return 0;
}

/* A list of ids/vectors, or with weighted=1 of (id_or_vector, weight) pairs. */
static int terms_parse(PyObject *obj, size_t dim, const char *field, int weighted, terms *ts) {
  memset(ts, 0, sizeof *ts);
  if (PyUnicode_Check(obj) || PyDict_Check(obj) || !PySequence_Check(obj))
    return qvpy_type_errorf("%s: expected a list, got %s", field, TNAME(obj)), -1;
  if (!(ts->seq = PySequence_Fast(obj, "not a sequence"))) return -1;
  size_t n = (size_t)PySequence_Fast_GET_SIZE(ts->seq);
  PyObject **items = PySequence_Fast_ITEMS(ts->seq);
  ts->t = PyMem_Calloc(n ? n : 1, sizeof *ts->t);
  ts->mats = PyMem_Calloc(n ? n : 1, sizeof *ts->mats);
  if (!ts->t || !ts->mats) return PyErr_NoMemory(), -1;
  for (size_t i = 0; i < n; i++) {
    PyObject *x = items[i];
    ts->t[i].weight = 1.0f;
    if (weighted) {
      if (!PyTuple_Check(x) && !PyList_Check(x))
        return qvpy_type_errorf("%s[%zu]: expected an (id_or_vector, weight) pair, got %s", field, i, TNAME(x)), -1;
      if (PySequence_Size(x) != 2)
        return qvpy_raisef(QV_INVALID, "%s[%zu]: expected an (id_or_vector, weight) pair", field, i), -1;
      PyObject *w = PySequence_Fast_GET_ITEM(x, 1);
      double wv;
      char wname[96];
      snprintf(wname, sizeof wname, "%s[%zu] weight", field, i);
      if (opt_float(w == Py_None ? NULL : w, wname, 1.0, &wv) < 0) return -1;
      ts->t[i].weight = (float)wv;
      x = PySequence_Fast_GET_ITEM(x, 0);
    }
    ts->n = i + 1;
    if (term_parse(x, dim, field, i, &ts->t[i], &ts->mats[i]) < 0) return -1;
  }
  ts->n = n;
  return 0;
}

/* ---------------------------------------------------------------- range search */

static PyObject *range_common(qvpy_col *self, PyObject *args, PyObject *kw, int batch) {
  static char *kwlist[] = {"q", "radius", "limit", "where", "where_document", "exact", NULL};
  PyObject *q, *lim = Py_None, *where = Py_None, *wdoc = Py_None, *wh = NULL, *wdh = NULL, *out = NULL;
  double radius;
  int exact = 0;
  long long limit;
  qvpy_mat m = {0};
  qv_query_opts o;
  qv_results *r = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c) return NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, batch ? "Od|OOO$p:range_search_batch" : "Od|OOO$p:range_search", kwlist,
                                   &q, &radius, &lim, &where, &wdoc, &exact))
    return NULL;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  o.exact = exact;
  if (opt_size(lim, "limit", 1, 100000, 0, &limit) < 0) goto cleanup;
  if (qvpy_filter_arg(where, "where", &wh, &o.where_json) < 0) goto cleanup;
  if (qvpy_filter_arg(wdoc, "where_document", &wdh, &o.where_document_json) < 0) goto cleanup;
  if (qvpy_mat_parse(q, qvpy_col_dim(self), batch ? QVPY_MAT_2D : QVPY_MAT_1D, batch ? "Q" : "q", &m) < 0) goto cleanup;
  if (m.n == 0) {
    out = PyList_New(0);
    goto cleanup;
  }
  if (qvpy_db_enter(self->owner) < 0) goto cleanup;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_range_search(c, m.data, m.n, (float)radius, (size_t)limit, &o, &r);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) raise_rc(self, rc);
  else if (!batch) out = row_pair(r, 0);
  else if ((out = PyList_New((Py_ssize_t)m.n)))
    for (size_t i = 0; i < m.n; i++) {
      PyObject *p = row_pair(r, i);
      if (!p) {
        Py_CLEAR(out);
        break;
      }
      PyList_SET_ITEM(out, (Py_ssize_t)i, p);
    }
  qvpy_db_leave(self->owner);
cleanup:
  qv_results_free(r);
  qvpy_mat_release(&m);
  Py_XDECREF(wh);
  Py_XDECREF(wdh);
  return out;
}

PyObject *qvpy_col_range_search(PyObject *self, PyObject *args, PyObject *kw) {
  return range_common((qvpy_col *)self, args, kw, 0);
}

PyObject *qvpy_col_range_search_batch(PyObject *self, PyObject *args, PyObject *kw) {
  return range_common((qvpy_col *)self, args, kw, 1);
}

/* ---------------------------------------------------------------- vector arithmetic */

/* The shared tail: enter, call, (ids, distances). */
#define RUN_PAIR(call)                                        \
  do {                                                        \
    if (qvpy_db_enter(self->owner) < 0) goto cleanup;         \
    Py_BEGIN_ALLOW_THREADS rc = (call);                       \
    Py_END_ALLOW_THREADS out = rc == QV_OK ? row_pair(r, 0) : raise_rc(self, rc); \
    qvpy_db_leave(self->owner);                               \
  } while (0)

PyObject *qvpy_col_combine(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"terms", "k", "where", "exclude_inputs", "where_document", NULL};
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *tobj, *kobj = NULL, *where = Py_None, *wdoc = Py_None, *wh = NULL, *wdh = NULL, *out = NULL;
  int excl = 1;
  long long k;
  terms ts = {0};
  qv_query_opts o;
  qv_results *r = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c || !PyArg_ParseTupleAndKeywords(args, kw, "O|OOpO:combine", kwlist, &tobj, &kobj, &where, &excl, &wdoc))
    return NULL;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  if (opt_size(kobj, "k", 1, PY_SSIZE_T_MAX, 10, &k) < 0) goto cleanup;
  if (qvpy_filter_arg(where, "where", &wh, &o.where_json) < 0) goto cleanup;
  if (qvpy_filter_arg(wdoc, "where_document", &wdh, &o.where_document_json) < 0) goto cleanup;
  if (terms_parse(tobj, qvpy_col_dim(self), "terms", 1, &ts) < 0) goto cleanup;
  RUN_PAIR(qv_collection_combine(c, ts.t, ts.n, (size_t)k, excl, &o, &r));
cleanup:
  terms_free(&ts);
  qv_results_free(r);
  Py_XDECREF(wh);
  Py_XDECREF(wdh);
  return out;
}

PyObject *qvpy_col_interpolate(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"a", "b", "t", "k", "spherical", "where", "exclude_inputs", NULL};
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *ao, *bo, *kobj = NULL, *sph = Py_None, *where = Py_None, *wh = NULL, *out = NULL;
  double t;
  int excl = 1, spherical;
  long long k;
  qv_vec_term ta = {0}, tb = {0};
  qvpy_mat ma = {0}, mb = {0};
  qv_query_opts o;
  qv_results *r = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c || !PyArg_ParseTupleAndKeywords(args, kw, "OOd|OOOp:interpolate", kwlist, &ao, &bo, &t, &kobj, &sph, &where,
                                         &excl))
    return NULL;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  if (opt_size(kobj, "k", 1, PY_SSIZE_T_MAX, 10, &k) < 0) goto cleanup;
  if (opt_bool(sph, "spherical", -1, &spherical) < 0) goto cleanup;
  if (qvpy_filter_arg(where, "where", &wh, &o.where_json) < 0) goto cleanup;
  if (term_parse(ao, qvpy_col_dim(self), "a", 0, &ta, &ma) < 0 || term_parse(bo, qvpy_col_dim(self), "b", 0, &tb, &mb) < 0)
    goto cleanup;
  RUN_PAIR(qv_collection_interpolate(c, &ta, &tb, (float)t, spherical, (size_t)k, excl, &o, &r));
cleanup:
  qvpy_mat_release(&ma);
  qvpy_mat_release(&mb);
  qv_results_free(r);
  Py_XDECREF(wh);
  return out;
}

PyObject *qvpy_col_centroid_search(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"ids", "k", "where", "exclude_inputs", NULL};
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *ids, *kobj = NULL, *where = Py_None, *wh = NULL, *seq = NULL, *out = NULL;
  int excl = 1;
  long long k;
  const char **idv = NULL;
  size_t n = 0;
  qv_query_opts o;
  qv_results *r = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c || !PyArg_ParseTupleAndKeywords(args, kw, "O|OOp:centroid_search", kwlist, &ids, &kobj, &where, &excl))
    return NULL;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  if (opt_size(kobj, "k", 1, PY_SSIZE_T_MAX, 10, &k) < 0) goto cleanup;
  if (qvpy_filter_arg(where, "where", &wh, &o.where_json) < 0) goto cleanup;
  if (qvpy_ids_parse(ids, "ids", &seq, &idv, &n) < 0) goto cleanup;
  RUN_PAIR(qv_collection_centroid_search(c, idv, n, (size_t)k, excl, &o, &r));
cleanup:
  PyMem_Free(idv);
  Py_XDECREF(seq);
  qv_results_free(r);
  Py_XDECREF(wh);
  return out;
}

/* ---------------------------------------------------------------- recommend */

PyObject *qvpy_col_recommend(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"positive", "negative", "k", "strategy", "where", NULL};
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *pos, *neg = NULL, *kobj = NULL, *where = Py_None, *wh = NULL, *out = NULL;
  const char *strategy = "average";
  long long k;
  terms tp = {0}, tn = {0};
  qv_recommend_strategy st;
  qv_query_opts o;
  qv_results *r = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c || !PyArg_ParseTupleAndKeywords(args, kw, "O|OOsO:recommend", kwlist, &pos, &neg, &kobj, &strategy, &where))
    return NULL;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  if (!strcmp(strategy, "average")) st = QV_RECOMMEND_AVERAGE;
  else if (!strcmp(strategy, "best_score")) st = QV_RECOMMEND_BEST_SCORE;
  else return qvpy_raisef(QV_INVALID, "strategy: expected 'average' or 'best_score', got '%s'", strategy);
  if (opt_size(kobj, "k", 1, PY_SSIZE_T_MAX, 10, &k) < 0) goto cleanup;
  if (qvpy_filter_arg(where, "where", &wh, &o.where_json) < 0) goto cleanup;
  if (terms_parse(pos, qvpy_col_dim(self), "positive", 0, &tp) < 0) goto cleanup;
  if (neg && neg != Py_None && terms_parse(neg, qvpy_col_dim(self), "negative", 0, &tn) < 0) goto cleanup;
  RUN_PAIR(qv_collection_recommend(c, tp.t, tp.n, tn.t, tn.n, (size_t)k, st, &o, &r));
cleanup:
  terms_free(&tp);
  terms_free(&tn);
  qv_results_free(r);
  Py_XDECREF(wh);
  return out;
}

/* ---------------------------------------------------------------- MMR (from search()) */

PyObject *qvpy_col_search_mmr(qvpy_col *self, const float *q, Py_ssize_t k, PyObject *lambda, PyObject *fetch_k) {
  PyObject *out = NULL;
  double lam;
  long long fk;
  qv_query_opts o;
  qv_results *r = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c) return NULL;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  if (opt_float(lambda, "mmr_lambda", 0.5, &lam) < 0) goto cleanup;
  if (opt_size(fetch_k, "fetch_k", 1, 100000, 0, &fk) < 0) goto cleanup;
  RUN_PAIR(qv_collection_query_mmr(c, q, (size_t)k, (float)lam, (size_t)fk, &o, &r));
cleanup:
  qv_results_free(r);
  return out;
}

/* ---------------------------------------------------------------- k-means */

/* k x dim float32: a numpy array when numpy is importable, else a memoryview of that shape. */
static PyObject *centroid_array(const float *C, uint32_t k, uint32_t dim) {
  PyObject *bytes = PyBytes_FromStringAndSize((const char *)C, (Py_ssize_t)k * dim * (Py_ssize_t)sizeof(float));
  if (!bytes) return NULL;
  PyObject *np = PyImport_ImportModule("numpy");
  PyObject *out = NULL;
  if (np) {
    PyObject *flat = PyObject_CallMethod(np, "frombuffer", "Os", bytes, "float32");
    if (flat) out = PyObject_CallMethod(flat, "reshape", "II", k, dim);
    Py_XDECREF(flat);
    Py_DECREF(np);
  } else {
    PyErr_Clear();
    PyObject *mv = PyMemoryView_FromObject(bytes);
    if (mv) out = PyObject_CallMethod(mv, "cast", "s(II)", "f", k, dim);
    Py_XDECREF(mv);
  }
  Py_DECREF(bytes);
  return out;
}

static PyObject *kmeans_dict(const qv_kmeans_result *r) {
  PyObject *d = PyDict_New(), *ids = PyList_New((Py_ssize_t)r->n), *labels = PyList_New((Py_ssize_t)r->n);
  PyObject *dists = PyList_New((Py_ssize_t)r->n), *sizes = PyList_New(r->k), *near = PyList_New(r->k);
  PyObject *cent = NULL, *inertia = NULL;
  int ok = d && ids && labels && dists && sizes && near;
  for (size_t i = 0; ok && i < r->n; i++) {
    PyObject *a = PyUnicode_FromString(r->ids[i]), *b = PyLong_FromUnsignedLong(r->labels[i]);
    PyObject *x = PyFloat_FromDouble(r->distances[i]);
    ok = a && b && x;
    if (a) PyList_SET_ITEM(ids, (Py_ssize_t)i, a);
    if (b) PyList_SET_ITEM(labels, (Py_ssize_t)i, b);
    if (x) PyList_SET_ITEM(dists, (Py_ssize_t)i, x);
  }
  for (uint32_t j = 0; ok && j < r->k; j++) {
    PyObject *s = PyLong_FromUnsignedLongLong(r->sizes[j]);
    PyObject *nn = r->nearest[j] ? PyUnicode_FromString(r->nearest[j]) : Py_NewRef(Py_None);
    ok = s && nn;
    if (s) PyList_SET_ITEM(sizes, (Py_ssize_t)j, s);
    if (nn) PyList_SET_ITEM(near, (Py_ssize_t)j, nn);
  }
  ok = ok && (cent = centroid_array(r->centroids, r->k, r->dim)) && (inertia = PyFloat_FromDouble(r->inertia));
  ok = ok && !PyDict_SetItemString(d, "centroids", cent) && !PyDict_SetItemString(d, "ids", ids) &&
       !PyDict_SetItemString(d, "labels", labels) && !PyDict_SetItemString(d, "distances", dists) &&
       !PyDict_SetItemString(d, "inertia", inertia) && !PyDict_SetItemString(d, "sizes", sizes) &&
       !PyDict_SetItemString(d, "nearest", near);
  Py_XDECREF(ids);
  Py_XDECREF(labels);
  Py_XDECREF(dists);
  Py_XDECREF(sizes);
  Py_XDECREF(near);
  Py_XDECREF(cent);
  Py_XDECREF(inertia);
  if (!ok) Py_CLEAR(d);
  return d;
}

PyObject *qvpy_col_kmeans(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"k", "niter", "nredo", "seed", "spherical", "where", "max_points", "label_key",
                           "init", "where_document", NULL};
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *kobj, *niter = NULL, *nredo = NULL, *seed = Py_None, *sph = Py_None, *where = Py_None;
  PyObject *maxp = Py_None, *label = Py_None, *wdoc = Py_None, *wh = NULL, *wdh = NULL, *out = NULL;
  const char *init = "k-means++";
  long long v;
  qv_kmeans_opts o;
  qv_kmeans_result *r = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c || !PyArg_ParseTupleAndKeywords(args, kw, "O|OOOOOOOsO:kmeans", kwlist, &kobj, &niter, &nredo, &seed, &sph,
                                         &where, &maxp, &label, &init, &wdoc))
    return NULL;
  qv_kmeans_opts_init(&o);
  if (qvpy_as_size(kobj, "k", 1, UINT32_MAX, &v) < 0) goto cleanup;
  o.k = (uint32_t)v;
  if (opt_size(niter, "niter", 1, 100000, 20, &v) < 0) goto cleanup;
  o.niter = (uint32_t)v;
  if (opt_size(nredo, "nredo", 1, 1000, 1, &v) < 0) goto cleanup;
  o.nredo = (uint32_t)v;
  if (seed == Py_None) {
    /* no seed: a fresh one from the OS, as numpy/faiss do with seed=None */
    PyObject *os = PyImport_ImportModule("os"), *b = os ? PyObject_CallMethod(os, "urandom", "i", 8) : NULL;
    Py_XDECREF(os);
    if (!b) goto cleanup;
    memcpy(&o.seed, PyBytes_AS_STRING(b), 8);
    Py_DECREF(b);
  } else {
    if (PyBool_Check(seed) || !PyIndex_Check(seed)) {
      qvpy_type_errorf("seed: expected an int, got %s", TNAME(seed));
      goto cleanup;
    }
    PyObject *m = PyNumber_Index(seed);
    if (!m) goto cleanup;
    o.seed = PyLong_AsUnsignedLongLongMask(m);
    Py_DECREF(m);
    if (PyErr_Occurred()) goto cleanup;
  }
  if (opt_bool(sph, "spherical", -1, &o.spherical) < 0) goto cleanup;
  if (opt_size(maxp, "max_points", 1, PY_SSIZE_T_MAX, 0, &v) < 0) goto cleanup;
  o.max_points = (size_t)v;
  if (!strcmp(init, "k-means++") || !strcmp(init, "kmeans++")) o.init = 0;
  else if (!strcmp(init, "random")) o.init = 1;
  else {
    qvpy_raisef(QV_INVALID, "init: expected 'k-means++' or 'random', got '%s'", init);
    goto cleanup;
  }
  if (label != Py_None) {
    if (!PyUnicode_Check(label)) {
      qvpy_type_errorf("label_key: expected a str, got %s", TNAME(label));
      goto cleanup;
    }
    if (!(o.label_key = PyUnicode_AsUTF8(label))) goto cleanup;
  }
  if (qvpy_filter_arg(where, "where", &wh, &o.where_json) < 0) goto cleanup;
  if (qvpy_filter_arg(wdoc, "where_document", &wdh, &o.where_document_json) < 0) goto cleanup;
  if (qvpy_db_enter(self->owner) < 0) goto cleanup;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_kmeans(c, &o, &r);
  Py_END_ALLOW_THREADS
  out = rc == QV_OK ? kmeans_dict(r) : raise_rc(self, rc);
  qvpy_db_leave(self->owner);
cleanup:
  qv_kmeans_result_free(r);
  Py_XDECREF(wh);
  Py_XDECREF(wdh);
  return out;
}

/* ---------------------------------------------------------------- text and hybrid */

PyObject *qvpy_col_text_search(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"text", "k", "where", "where_document", NULL};
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *kobj = NULL, *where = Py_None, *wdoc = Py_None, *wh = NULL, *wdh = NULL, *out = NULL;
  const char *text;
  long long k;
  qv_query_opts o;
  qv_results *r = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c || !PyArg_ParseTupleAndKeywords(args, kw, "s|OOO:text_search", kwlist, &text, &kobj, &where, &wdoc))
    return NULL;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  if (opt_size(kobj, "k", 1, PY_SSIZE_T_MAX, 10, &k) < 0) goto cleanup;
  if (qvpy_filter_arg(where, "where", &wh, &o.where_json) < 0) goto cleanup;
  if (qvpy_filter_arg(wdoc, "where_document", &wdh, &o.where_document_json) < 0) goto cleanup;
  RUN_PAIR(qv_collection_text_search(c, text, (size_t)k, &o, &r));
cleanup:
  qv_results_free(r);
  Py_XDECREF(wh);
  Py_XDECREF(wdh);
  return out;
}

PyObject *qvpy_col_hybrid_search(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"text", "q", "k", "fusion", "alpha", "where", "where_document", NULL};
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *qobj, *kobj = NULL, *aobj = NULL, *where = Py_None, *wdoc = Py_None, *wh = NULL, *wdh = NULL, *out = NULL;
  const char *text, *fusion = "rrf";
  long long k;
  double alpha;
  qv_fusion fu;
  qvpy_mat m = {0};
  qv_query_opts o;
  qv_results *r = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c || !PyArg_ParseTupleAndKeywords(args, kw, "sO|OsOOO:hybrid_search", kwlist, &text, &qobj, &kobj, &fusion,
                                         &aobj, &where, &wdoc))
    return NULL;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  if (!strcmp(fusion, "rrf")) fu = QV_FUSION_RRF;
  else if (!strcmp(fusion, "weighted")) fu = QV_FUSION_WEIGHTED;
  else return qvpy_raisef(QV_INVALID, "fusion: expected 'rrf' or 'weighted', got '%s'", fusion);
  if (opt_size(kobj, "k", 1, PY_SSIZE_T_MAX, 10, &k) < 0) goto cleanup;
  if (opt_float(aobj, "alpha", 0.5, &alpha) < 0) goto cleanup;
  if (qvpy_filter_arg(where, "where", &wh, &o.where_json) < 0) goto cleanup;
  if (qvpy_filter_arg(wdoc, "where_document", &wdh, &o.where_document_json) < 0) goto cleanup;
  if (qvpy_mat_parse(qobj, qvpy_col_dim(self), QVPY_MAT_1D, "q", &m) < 0) goto cleanup;
  RUN_PAIR(qv_collection_hybrid_search(c, text, m.data, (size_t)k, fu, (float)alpha, &o, &r));
cleanup:
  qvpy_mat_release(&m);
  qv_results_free(r);
  Py_XDECREF(wh);
  Py_XDECREF(wdh);
  return out;
}
