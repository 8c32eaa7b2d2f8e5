/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * qvpy_static.c -- snapshot files from Python: Collection.export(path) writes one, and
 * quiver.open_static(path, verify=False) maps one read-only into a StaticIndex with
 * search(q, k) -> (ids, distances), search_batch, query(...) and get(...) as on a Collection
 * (filters included), info(), verify() and close(). Hamming snapshots take packed bits.
 */
#include "qvpy.h"

typedef struct qvpy_static {
  PyObject_HEAD
  qv_static *s;
  qv_metric metric;
  uint32_t dim, row;
} qvpy_static;

static qv_static *sh(qvpy_static *self) {
  if (!self->s) qvpy_raisef(QV_MISUSE, "the snapshot file is closed");
  return self->s;
}

static PyObject *raise_st(qvpy_static *self, qv_status rc) { return qvpy_raise(rc, qv_static_errmsg(self->s)); }

static void st_dealloc(PyObject *self_) {
  qvpy_static *self = (qvpy_static *)self_;
  qv_static_close(self->s);
  Py_TYPE(self_)->tp_free(self_);
}

/* Run a query on nq rows (floats or packed bits, already parsed). */
static qv_results *st_run(qvpy_static *self, const qvpy_mat *m, const qvpy_bits *bm, size_t k, qv_query_opts *o) {
  qv_results *r = NULL;
  qv_status rc;
  Py_BEGIN_ALLOW_THREADS
  rc = bm ? qv_static_query_bits(self->s, bm->data, bm->n, k, o, &r) : qv_static_query(self->s, m->data, m->n, k, o, &r);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) raise_st(self, rc);
  return r;
}

/* Parse q (shape as given) for this snapshot's kind of vectors; returns the row count or -1. */
static Py_ssize_t parse_q(qvpy_static *self, PyObject *q, int shape, const char *field, qvpy_mat *m, qvpy_bits *bm) {
  memset(m, 0, sizeof *m);
  memset(bm, 0, sizeof *bm);
  if (self->metric == QV_METRIC_HAMMING)
    return qvpy_bits_parse(q, self->dim, shape, field, bm) < 0 ? -1 : (Py_ssize_t)bm->n;
  return qvpy_mat_parse(q, self->dim, shape, field, m) < 0 ? -1 : (Py_ssize_t)m->n;
}

static void release_q(qvpy_mat *m, qvpy_bits *bm) {
  qvpy_mat_release(m);
  qvpy_bits_release(bm);
}

static PyObject *row_lists(const qv_results *r, size_t q) {
  size_t n = qv_results_count(r, q);
  PyObject *ids = PyList_New((Py_ssize_t)n), *d = PyList_New((Py_ssize_t)n);
  if (!ids || !d) goto fail;
  for (size_t i = 0; i < n; i++) {
    PyObject *a = PyUnicode_FromString(qv_results_id(r, q, i)), *b = PyFloat_FromDouble(qv_results_distance(r, q, i));
    if (!a || !b) {
      Py_XDECREF(a);
      Py_XDECREF(b);
      goto fail;
    }
    PyList_SET_ITEM(ids, (Py_ssize_t)i, a);
    PyList_SET_ITEM(d, (Py_ssize_t)i, b);
  }
  PyObject *out = PyTuple_Pack(2, ids, d);
  Py_DECREF(ids);
  Py_DECREF(d);
  return out;
fail:
  Py_XDECREF(ids);
  Py_XDECREF(d);
  return NULL;
}

static PyObject *st_search(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"q", "k", NULL};
  qvpy_static *self = (qvpy_static *)self_;
  PyObject *q, *out = NULL;
  Py_ssize_t k = 10;
  qvpy_mat m;
  qvpy_bits bm;
  if (!sh(self) || !PyArg_ParseTupleAndKeywords(args, kw, "O|n:search", kwlist, &q, &k)) return NULL;
  if (k < 1) return qvpy_raisef(QV_INVALID, "k: must be >= 1, got %zd", k);
  if (parse_q(self, q, QVPY_MAT_1D, "q", &m, &bm) >= 0) {
    qv_query_opts o;
    qv_query_opts_init(&o);
    o.include = QV_INCLUDE_DISTANCES;
    qv_results *r = st_run(self, &m, self->metric == QV_METRIC_HAMMING ? &bm : NULL, (size_t)k, &o);
    if (r) out = row_lists(r, 0);
    qv_results_free(r);
  }
  release_q(&m, &bm);
  return out;
}

static PyObject *st_search_batch(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"Q", "k", NULL};
  qvpy_static *self = (qvpy_static *)self_;
  PyObject *q, *out = NULL, *ids = NULL, *ds = NULL;
  Py_ssize_t k = 10, n;
  qvpy_mat m;
  qvpy_bits bm;
  qv_results *r = NULL;
  if (!sh(self) || !PyArg_ParseTupleAndKeywords(args, kw, "O|n:search_batch", kwlist, &q, &k)) return NULL;
  if (k < 1) return qvpy_raisef(QV_INVALID, "k: must be >= 1, got %zd", k);
  if ((n = parse_q(self, q, QVPY_MAT_2D, "Q", &m, &bm)) < 0) goto cleanup;
  if (n == 0) {
    out = Py_BuildValue("([][])");
    goto cleanup;
  }
  qv_query_opts o;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  if (!(r = st_run(self, &m, self->metric == QV_METRIC_HAMMING ? &bm : NULL, (size_t)k, &o))) goto cleanup;
  ids = PyList_New(n);
  ds = PyList_New(n);
  if (!ids || !ds) goto cleanup;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *t = row_lists(r, (size_t)i);
    if (!t) goto cleanup;
    PyList_SET_ITEM(ids, i, Py_NewRef(PyTuple_GET_ITEM(t, 0)));
    PyList_SET_ITEM(ds, i, Py_NewRef(PyTuple_GET_ITEM(t, 1)));
    Py_DECREF(t);
  }
  out = PyTuple_Pack(2, ids, ds);
cleanup:
  Py_XDECREF(ids);
  Py_XDECREF(ds);
  qv_results_free(r);
  release_q(&m, &bm);
  return out;
}

static PyObject *st_query(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"query_embeddings", "n_results", "where", "where_document", "include", NULL};
  qvpy_static *self = (qvpy_static *)self_;
  PyObject *qe, *nres = NULL, *where = Py_None, *wdoc = Py_None, *include = Py_None;
  PyObject *wh = NULL, *wdh = NULL, *echo = NULL, *out = NULL;
  long long k = 10;
  qvpy_mat m;
  qvpy_bits bm;
  qv_query_opts o;
  memset(&m, 0, sizeof m);
  memset(&bm, 0, sizeof bm);
  if (!sh(self) || !PyArg_ParseTupleAndKeywords(args, kw, "O|OOOO:query", kwlist, &qe, &nres, &where, &wdoc, &include))
    return NULL;
  qv_query_opts_init(&o);
  if (nres && qvpy_as_size(nres, "n_results", 1, PY_SSIZE_T_MAX, &k) < 0) goto cleanup;
  if (qvpy_filter_arg(where, "where", &wh, &o.where_json) < 0) goto cleanup;
  if (qvpy_filter_arg(wdoc, "where_document", &wdh, &o.where_document_json) < 0) goto cleanup;
  if (qvpy_include_parse(include, QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS | QV_INCLUDE_DISTANCES,
                         QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS | QV_INCLUDE_DISTANCES, &o.include, &echo) < 0)
    goto cleanup;
  Py_ssize_t n = parse_q(self, qe, QVPY_MAT_ANY, "query_embeddings", &m, &bm);
  if (n < 0) goto cleanup;
  if (n == 0) {
    qvpy_raisef(QV_INVALID, "query_embeddings: at least one query embedding is required");
    goto cleanup;
  }
  qv_results *r = st_run(self, &m, self->metric == QV_METRIC_HAMMING ? &bm : NULL, (size_t)k, &o);
  if (r) out = qvpy_results_query(r, o.include, echo);
  qv_results_free(r);
cleanup:
  release_q(&m, &bm);
  Py_XDECREF(wh);
  Py_XDECREF(wdh);
  Py_XDECREF(echo);
  return out;
}

static PyObject *st_get(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"ids", "where", "where_document", "limit", "offset", "include", NULL};
  qvpy_static *self = (qvpy_static *)self_;
  PyObject *ids = Py_None, *where = Py_None, *wdoc = Py_None, *limit = Py_None, *offset = NULL;
  PyObject *include = Py_None, *out = NULL;
  qvpy_getargs g;
  qv_results *r = NULL;
  qv_status rc;
  if (!sh(self) || !PyArg_ParseTupleAndKeywords(args, kw, "|OOOOOO:get", kwlist, &ids, &where, &wdoc, &limit,
                                                &offset, &include))
    return NULL;
  if (qvpy_getargs_parse(&g, ids, where, wdoc, limit, offset, include) < 0) goto cleanup;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_static_get(self->s, &g.o, &r);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) raise_st(self, rc);
  else out = qvpy_results_get(g.want_none ? NULL : r, g.o.include, g.echo);
cleanup:
  qv_results_free(r);
  qvpy_getargs_release(&g);
  return out;
}

static PyObject *st_info(PyObject *self_, PyObject *unused) {
  qvpy_static *self = (qvpy_static *)self_;
  (void)unused;
  if (!sh(self)) return NULL;
  qv_collection_info in = {.struct_size = sizeof in};
  qv_status rc = qv_static_info(self->s, &in);
  if (rc) return raise_st(self, rc);
  PyObject *params = qvpy_json_to_py(in.params_json);
  PyObject *meta = in.metadata_json ? qvpy_json_to_py(in.metadata_json) : Py_NewRef(Py_None);
  PyObject *out = params && meta ? Py_BuildValue("{s:s,s:I,s:s,s:s,s:O,s:O,s:K}", "name", in.name, "dim", in.dim,
                                                 "metric", qv_metric_name(in.metric), "index", in.index, "params",
                                                 params, "metadata", meta, "count", (unsigned long long)in.count)
                                 : NULL;
  Py_XDECREF(params);
  Py_XDECREF(meta);
  qv_collection_info_free(&in);
  return out;
}

static PyObject *st_verify(PyObject *self_, PyObject *unused) {
  qvpy_static *self = (qvpy_static *)self_;
  qv_status rc;
  (void)unused;
  if (!sh(self)) return NULL;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_static_verify(self->s);
  Py_END_ALLOW_THREADS
  if (rc) return raise_st(self, rc);
  Py_RETURN_NONE;
}

static PyObject *st_close(PyObject *self_, PyObject *unused) {
  qvpy_static *self = (qvpy_static *)self_;
  (void)unused;
  qv_static_close(self->s);
  self->s = NULL;
  Py_RETURN_NONE;
}

static PyObject *st_enter(PyObject *self, PyObject *unused) {
  (void)unused;
  return Py_NewRef(self);
}

static PyObject *st_exit(PyObject *self, PyObject *args) {
  (void)args;
  return st_close(self, NULL);
}

static PyObject *st_count(PyObject *self_, PyObject *unused) {
  qvpy_static *self = (qvpy_static *)self_;
  (void)unused;
  if (!sh(self)) return NULL;
  qv_collection_info in = {.struct_size = sizeof in};
  if (qv_static_info(self->s, &in)) return PyErr_NoMemory();
  unsigned long long n = in.count;
  qv_collection_info_free(&in);
  return PyLong_FromUnsignedLongLong(n);
}

static PyObject *st_get_dim(PyObject *self_, void *closure) {
  (void)closure;
  return PyLong_FromUnsignedLong(((qvpy_static *)self_)->dim);
}

static PyObject *st_get_metric(PyObject *self_, void *closure) {
  (void)closure;
  return PyUnicode_FromString(qv_metric_name(((qvpy_static *)self_)->metric));
}

static PyMethodDef st_methods[] = {
    {"search", (PyCFunction)(void (*)(void))st_search, METH_VARARGS | METH_KEYWORDS,
     "search(q, k=10) -> (ids, distances): the k nearest records (q: packed bits for hamming)."},
    {"search_batch", (PyCFunction)(void (*)(void))st_search_batch, METH_VARARGS | METH_KEYWORDS,
     "search_batch(Q, k=10) -> (ids per row, distances per row)."},
    {"query", (PyCFunction)(void (*)(void))st_query, METH_VARARGS | METH_KEYWORDS,
     "query(query_embeddings, n_results=10, where=None, where_document=None, include=None): as Collection.query."},
    {"get", (PyCFunction)(void (*)(void))st_get, METH_VARARGS | METH_KEYWORDS,
     "get(ids=None, where=None, where_document=None, limit=None, offset=None, include=None): as Collection.get."},
    {"info", st_info, METH_NOARGS, "info() -> dict: name, dim, metric, index, params, metadata, count."},
    {"count", st_count, METH_NOARGS, "count() -> number of records."},
    {"verify", st_verify, METH_NOARGS, "verify(): check every section's checksum (reads the whole file)."},
    {"close", st_close, METH_NOARGS, "close(): unmap the file."},
    {"__enter__", st_enter, METH_NOARGS, NULL},
    {"__exit__", st_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef st_getset[] = {
    {"dim", st_get_dim, NULL, "dimension (bits for hamming)", NULL},
    {"metric", st_get_metric, NULL, "metric name", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject qvpy_static_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "quiver.StaticIndex",
    .tp_basicsize = sizeof(qvpy_static),
    .tp_dealloc = st_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A snapshot file mapped read-only (quiver.open_static(path)).",
    .tp_methods = st_methods,
    .tp_getset = st_getset,
};

PyObject *qvpy_open_static(PyObject *mod, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"path", "verify", NULL};
  PyObject *pathobj;
  int verify = 0;
  (void)mod;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|p:open_static", kwlist, PyUnicode_FSConverter, &pathobj, &verify))
    return NULL;
  char err[600];
  qv_static *s = NULL;
  qv_status rc;
  const char *path = PyBytes_AS_STRING(pathobj);
  Py_BEGIN_ALLOW_THREADS
  rc = qv_static_open(path, verify ? QV_STATIC_VERIFY : 0u, &s, err, sizeof err);
  Py_END_ALLOW_THREADS
  Py_DECREF(pathobj);
  if (rc) return qvpy_raise(rc, err);
  qvpy_static *self = PyObject_New(qvpy_static, &qvpy_static_type);
  if (!self) {
    qv_static_close(s);
    return NULL;
  }
  self->s = s;
  qv_collection_info in = {.struct_size = sizeof in};
  if (qv_static_info(s, &in)) {
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  self->metric = in.metric;
  self->dim = in.dim;
  qv_collection_info_free(&in);
  return (PyObject *)self;
}
