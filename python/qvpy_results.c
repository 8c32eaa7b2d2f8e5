/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * qvpy_results.c -- qv_results -> the Chroma-shaped dicts of get() and query().
 *
 * get():   {"ids": [...], "embeddings": E or None, "metadatas": [...] or None,
 *           "documents": [...] or None, "uris": None, "data": None, "include": [...],
 *           "included": [...]}                       (one entry per record)
 * query(): the same keys plus "distances", each a list with one inner list per query.
 * Fields not included are None. E is a numpy float32 array of shape (n, dim) when numpy can
 * be imported (per query row for query(), as Chroma's Python client returns), else a list of
 * lists of floats; setting QUIVER_NO_NUMPY=1 in the environment forces the lists.
 */
#include <stdlib.h>
#include <string.h>

#include "qvpy.h"

static PyObject *np_frombuffer, *np_float32;
static int np_state; /* 0 not tried, 1 numpy available, -1 not available */

static int numpy_ready(void) {
  if (np_state == 0) {
    const char *off = getenv("QUIVER_NO_NUMPY");
    PyObject *np = off && *off && strcmp(off, "0") ? NULL : PyImport_ImportModule("numpy");
    np_state = -1;
    if (np) {
      np_frombuffer = PyObject_GetAttrString(np, "frombuffer");
      np_float32 = PyObject_GetAttrString(np, "float32");
      if (np_frombuffer && np_float32) np_state = 1;
      Py_DECREF(np);
    }
    PyErr_Clear();
  }
  return np_state == 1;
}

/* The n embeddings of row q: a numpy (n, dim) float32 array, or a list of lists of floats. */
static PyObject *embeddings_of(const qv_results *r, size_t q, size_t n) {
  size_t dim = r ? qv_results_dim(r) : 0;
  if (numpy_ready()) {
    PyObject *ba = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(n * dim * sizeof(float)));
    if (!ba) return NULL;
    float *dst = (float *)PyByteArray_AS_STRING(ba);
    for (size_t i = 0; i < n; i++) {
      const float *e = qv_results_embedding(r, q, i);
      if (e) memcpy(dst + i * dim, e, dim * sizeof(float));
      else memset(dst + i * dim, 0, dim * sizeof(float));
    }
    PyObject *flat = PyObject_CallFunctionObjArgs(np_frombuffer, ba, np_float32, NULL);
    Py_DECREF(ba);
    if (!flat) return NULL;
    PyObject *arr = PyObject_CallMethod(flat, "reshape", "nn", (Py_ssize_t)n, (Py_ssize_t)dim);
    Py_DECREF(flat);
    return arr;
  }
  PyObject *out = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; out && i < n; i++) {
    const float *e = qv_results_embedding(r, q, i);
    PyObject *row = e ? PyList_New((Py_ssize_t)dim) : Py_NewRef(Py_None);
    for (size_t j = 0; e && row && j < dim; j++) {
      PyObject *f = PyFloat_FromDouble(e[j]);
      if (!f) Py_CLEAR(row);
      else PyList_SET_ITEM(row, (Py_ssize_t)j, f);
    }
    if (!row) Py_CLEAR(out);
    else PyList_SET_ITEM(out, (Py_ssize_t)i, row);
  }
  return out;
}

/* One column of row q; kind: 'i' ids, 'd' distances, 'm' metadatas, 'o' documents. */
static PyObject *column_of(const qv_results *r, size_t q, size_t n, int kind) {
  PyObject *out = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; out && i < n; i++) {
    PyObject *v;
    const char *s;
    switch (kind) {
    case 'i': v = PyUnicode_FromString(qv_results_id(r, q, i)); break;
    case 'd': v = PyFloat_FromDouble(qv_results_distance(r, q, i)); break;
    case 'm': v = qvpy_json_to_py(qv_results_metadata(r, q, i)); break;
    default:
      s = qv_results_document(r, q, i);
      v = s ? PyUnicode_FromString(s) : Py_NewRef(Py_None);
    }
    if (!v) Py_CLEAR(out);
    else PyList_SET_ITEM(out, (Py_ssize_t)i, v);
  }
  return out;
}

/* dict[key] = value (stolen); value NULL means error. */
static int set_item(PyObject *d, const char *key, PyObject *value) {
  if (!value) return -1;
  int rc = PyDict_SetItemString(d, key, value);
  Py_DECREF(value);
  return rc;
}

/* Add the fields that do not depend on the results; called last to keep "ids" first. */
static PyObject *finish_result_dict(PyObject *d, PyObject *echo) {
  if (d && (PyDict_SetItemString(d, "uris", Py_None) < 0 || PyDict_SetItemString(d, "data", Py_None) < 0 ||
            PyDict_SetItemString(d, "include", echo) < 0 || PyDict_SetItemString(d, "included", echo) < 0))
    Py_CLEAR(d);
  return d;
}

PyObject *qvpy_results_get(const qv_results *r, unsigned include, PyObject *echo) {
  size_t n = r && qv_results_nq(r) ? qv_results_count(r, 0) : 0;
  PyObject *d = PyDict_New();
  if (!d) return NULL;
  if (set_item(d, "ids", column_of(r, 0, n, 'i')) < 0 ||
      set_item(d, "embeddings", (include & QV_INCLUDE_EMBEDDINGS) ? embeddings_of(r, 0, n)
                                                                  : Py_NewRef(Py_None)) < 0 ||
      set_item(d, "metadatas", (include & QV_INCLUDE_METADATAS) ? column_of(r, 0, n, 'm')
                                                                : Py_NewRef(Py_None)) < 0 ||
      set_item(d, "documents", (include & QV_INCLUDE_DOCUMENTS) ? column_of(r, 0, n, 'o')
                                                                : Py_NewRef(Py_None)) < 0)
    Py_CLEAR(d);
  return finish_result_dict(d, echo);
}

/* A list with one entry per query row, each made by column_of / embeddings_of. */
static PyObject *rows_of(const qv_results *r, int kind) {
  size_t nq = qv_results_nq(r);
  PyObject *out = PyList_New((Py_ssize_t)nq);
  for (size_t q = 0; out && q < nq; q++) {
    size_t n = qv_results_count(r, q);
    PyObject *row = kind == 'e' ? embeddings_of(r, q, n) : column_of(r, q, n, kind);
    if (!row) Py_CLEAR(out);
    else PyList_SET_ITEM(out, (Py_ssize_t)q, row);
  }
  return out;
}

PyObject *qvpy_results_query(const qv_results *r, unsigned include, PyObject *echo) {
  PyObject *d = PyDict_New();
  if (!d) return NULL;
  if (set_item(d, "ids", rows_of(r, 'i')) < 0 ||
      set_item(d, "embeddings", (include & QV_INCLUDE_EMBEDDINGS) ? rows_of(r, 'e') : Py_NewRef(Py_None)) < 0 ||
      set_item(d, "metadatas", (include & QV_INCLUDE_METADATAS) ? rows_of(r, 'm') : Py_NewRef(Py_None)) < 0 ||
      set_item(d, "documents", (include & QV_INCLUDE_DOCUMENTS) ? rows_of(r, 'o') : Py_NewRef(Py_None)) < 0 ||
      set_item(d, "distances", (include & QV_INCLUDE_DISTANCES) ? rows_of(r, 'd') : Py_NewRef(Py_None)) < 0)
    Py_CLEAR(d);
  return finish_result_dict(d, echo);
}
