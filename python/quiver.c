/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * quiver.c -- the Python module `quiver`: module init and the exception classes.
 *
 * Exceptions are derived from libquiver's status table: one class per qv_status, each with
 * class attributes `status` (qv_status_name(), e.g. "QV_INVALID") and `code` (the number),
 * and a docstring from qv_status_str(). quiver.Error is the base and stands for QV_ERROR;
 * each subclass also derives from the builtin a Python programmer would expect to catch
 * (InvalidArgumentError is a ValueError, NotFoundError a LookupError, ...). Errors the module
 * finds itself while converting arguments use the same classes: InvalidArgumentError for bad
 * values, ArgumentTypeError (an InvalidArgumentError that is also a TypeError) for arguments
 * of the wrong Python type. Messages name the field and, for batches, the position.
 */
#include "qvpy.h"

PyObject *qvpy_json_dumps;
PyObject *qvpy_json_loads;

static PyObject *exc_base;        /* quiver.Error */
static PyObject *exc_type_error;  /* quiver.ArgumentTypeError */

/* One row per status code; base NULL = derive from quiver.Error only. */
static struct {
  qv_status rc;
  const char *name;
  PyObject **builtin;
  PyObject *cls;
} exc_tab[] = {
    {QV_NOMEM, "OutOfMemoryError", &PyExc_MemoryError, NULL},
    {QV_INVALID, "InvalidArgumentError", &PyExc_ValueError, NULL},
    {QV_NOTFOUND, "NotFoundError", &PyExc_LookupError, NULL},
    {QV_EXISTS, "AlreadyExistsError", &PyExc_ValueError, NULL},
    {QV_IO, "StorageError", &PyExc_OSError, NULL},
    {QV_CORRUPT, "CorruptError", NULL, NULL},
    {QV_BUSY, "BusyError", &PyExc_OSError, NULL},
    {QV_MISUSE, "MisuseError", &PyExc_RuntimeError, NULL},
    {QV_UNSUPPORTED, "UnsupportedError", &PyExc_NotImplementedError, NULL},
};
#define N_EXC (sizeof exc_tab / sizeof exc_tab[0])

PyObject *qvpy_exc_class(qv_status rc) {
  for (size_t i = 0; i < N_EXC; i++)
    if (exc_tab[i].rc == rc) return exc_tab[i].cls;
  return exc_base;
}

PyObject *qvpy_raise(qv_status rc, const char *msg) {
  PyErr_SetString(qvpy_exc_class(rc), msg && *msg ? msg : qv_status_str(rc));
  return NULL;
}

PyObject *qvpy_raise_db(const qv_db *db, qv_status rc) {
  return qvpy_raise(rc, db ? qv_db_errmsg(db) : NULL);
}

PyObject *qvpy_raisef(qv_status rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
  va_end(ap);
  if (msg) {
    PyErr_SetObject(qvpy_exc_class(rc), msg);
    Py_DECREF(msg);
  }
  return NULL;
}

PyObject *qvpy_type_errorf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
  va_end(ap);
  if (msg) {
    PyErr_SetObject(exc_type_error, msg);
    Py_DECREF(msg);
  }
  return NULL;
}

/* A class with `status`/`code` attributes and a docstring from the status table. */
static PyObject *new_exc(PyObject *mod, const char *name, qv_status rc, PyObject *bases) {
  char qual[96], doc[200];
  PyObject *dict = NULL, *cls = NULL;
  snprintf(qual, sizeof qual, "quiver.%s", name);
  snprintf(doc, sizeof doc, "%s: %s.", qv_status_name(rc), qv_status_str(rc));
  dict = Py_BuildValue("{s:s,s:i}", "status", qv_status_name(rc), "code", (int)rc);
  if (!dict) goto cleanup;
  cls = PyErr_NewExceptionWithDoc(qual, doc, bases, dict);
  if (!cls) goto cleanup;
  if (PyModule_AddObjectRef(mod, name, cls) < 0) Py_CLEAR(cls);
cleanup:
  Py_XDECREF(dict);
  return cls; /* the module holds a reference; this one is kept in a static */
}

static int add_exceptions(PyObject *mod) {
  exc_base = new_exc(mod, "Error", QV_ERROR, PyExc_Exception);
  if (!exc_base) return -1;
  for (size_t i = 0; i < N_EXC; i++) {
    PyObject *bases = exc_tab[i].builtin ? PyTuple_Pack(2, exc_base, *exc_tab[i].builtin)
                                         : PyTuple_Pack(1, exc_base);
    if (!bases) return -1;
    exc_tab[i].cls = new_exc(mod, exc_tab[i].name, exc_tab[i].rc, bases);
    Py_DECREF(bases);
    if (!exc_tab[i].cls) return -1;
  }
  PyObject *bases = PyTuple_Pack(2, qvpy_exc_class(QV_INVALID), PyExc_TypeError);
  if (!bases) return -1;
  exc_type_error = new_exc(mod, "ArgumentTypeError", QV_INVALID, bases);
  Py_DECREF(bases);
  return exc_type_error ? 0 : -1;
}

static int import_json(void) {
  PyObject *json = PyImport_ImportModule("json");
  if (!json) return -1;
  qvpy_json_dumps = PyObject_GetAttrString(json, "dumps");
  qvpy_json_loads = PyObject_GetAttrString(json, "loads");
  Py_DECREF(json);
  return qvpy_json_dumps && qvpy_json_loads ? 0 : -1;
}

static PyObject *mod_status_name(PyObject *self, PyObject *arg) {
  (void)self;
  long v = PyLong_AsLong(arg);
  if (v == -1 && PyErr_Occurred()) return NULL;
  return PyUnicode_FromString(qv_status_name((qv_status)v));
}

static PyMethodDef mod_methods[] = {
    {"status_name", mod_status_name, METH_O, "status_name(code) -> 'QV_...' name of a status code."},
    {"open_static", (PyCFunction)(void (*)(void))qvpy_open_static, METH_VARARGS | METH_KEYWORDS,
     "open_static(path, verify=False) -> StaticIndex: map a snapshot file (Collection.export) read-only."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef quiver_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "quiver",
    .m_doc = "quiver: an embeddable, durable vector database (Python binding of libquiver).\n\n"
             "    db = quiver.Database(path)          # or Database() for in-memory\n"
             "    col = db.create_collection('docs', dim=384, metric='cosine')\n"
             "    col.add(ids, embeddings, metadatas, documents)\n"
             "    col.query(query_embeddings, n_results=10, where={'tag': 'x'})\n"
             "    ids, dists = col.search(q, k)       # lean face for benchmarks\n",
    .m_size = -1,
    .m_methods = mod_methods,
};

PyMODINIT_FUNC PyInit_quiver(void);

PyMODINIT_FUNC PyInit_quiver(void) {
  PyObject *mod = NULL;
  if (PyType_Ready(&qvpy_db_type) < 0 || PyType_Ready(&qvpy_col_type) < 0 || PyType_Ready(&qvpy_static_type) < 0)
    return NULL;
  if (import_json() < 0) return NULL;
  mod = PyModule_Create(&quiver_module);
  if (!mod) return NULL;
  if (PyModule_AddStringConstant(mod, "__version__", qv_libversion()) < 0) goto fail;
  if (PyModule_AddIntConstant(mod, "version_number", qv_libversion_number()) < 0) goto fail;
  if (PyModule_AddIntConstant(mod, "MAX_ID_LEN", QV_MAX_ID_LEN) < 0) goto fail;
  if (add_exceptions(mod) < 0) goto fail;
  if (PyModule_AddObjectRef(mod, "Database", (PyObject *)&qvpy_db_type) < 0) goto fail;
  if (PyModule_AddObjectRef(mod, "Collection", (PyObject *)&qvpy_col_type) < 0) goto fail;
  if (PyModule_AddObjectRef(mod, "StaticIndex", (PyObject *)&qvpy_static_type) < 0) goto fail;
  return mod;
fail:
  Py_DECREF(mod);
  return NULL;
}
