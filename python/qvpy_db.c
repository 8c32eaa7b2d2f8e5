/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * qvpy_db.c -- quiver.Database: open/close a data directory and manage its collections.
 *
 * See qvpy.h for the lifetime rules: every call into libquiver is bracketed by
 * qvpy_db_enter()/qvpy_db_leave(), and close() waits for calls in flight, then releases the
 * collection handles Python still holds before qv_db_close().
 */
#include <string.h>
#include <time.h>

#include "qvpy.h"

#define TNAME(o) (Py_TYPE(o)->tp_name)

int qvpy_db_enter(qvpy_db *d) {
  if (!d->db || d->is_closing) {
    qvpy_raise(QV_MISUSE, "the database is closed");
    return -1;
  }
  d->n_in_flight++;
  return 0;
}

void qvpy_db_leave(qvpy_db *d) { d->n_in_flight--; }

PyObject *qvpy_col_wrap(qvpy_db *d, qv_collection *c) {
  qvpy_col *o = PyObject_GC_New(qvpy_col, &qvpy_col_type);
  if (!o) {
    qv_collection_release(c);
    return NULL;
  }
  o->owner = (qvpy_db *)Py_NewRef((PyObject *)d);
  o->c = c;
  o->weakrefs = NULL;
  o->next = d->cols;
  if (d->cols) d->cols->pprev = &o->next;
  o->pprev = &d->cols;
  d->cols = o;
  PyObject_GC_Track(o);
  return (PyObject *)o;
}

/* ---------------------------------------------------------------- open / close */

static int parse_sync(PyObject *obj, qv_sync *out) {
  const char *s = obj && obj != Py_None && PyUnicode_Check(obj) ? PyUnicode_AsUTF8(obj) : NULL;
  if (!obj || obj == Py_None) {
    *out = QV_SYNC_FULL;
    return 0;
  }
  if (!s) {
    PyErr_Clear();
    qvpy_type_errorf("sync: expected 'full' or 'normal', got %s", TNAME(obj));
    return -1;
  }
  if (!strcmp(s, "full")) *out = QV_SYNC_FULL;
  else if (!strcmp(s, "normal")) *out = QV_SYNC_NORMAL;
  else return qvpy_raisef(QV_INVALID, "sync: expected 'full' or 'normal', got %R", obj), -1;
  return 0;
}

static int db_init(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"path", "sync", "n_threads", "read_only", NULL};
  qvpy_db *self = (qvpy_db *)self_;
  PyObject *path = Py_None, *sync = Py_None, *path_bytes = NULL;
  int n_threads = 0, read_only = 0;
  char errbuf[512] = "";
  qv_open_opts o;
  qv_db *db = NULL;
  qv_status rc;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO$ip:Database", kwlist, &path, &sync, &n_threads,
                                   &read_only))
    return -1;
  if (self->db || self->is_closing) return qvpy_raise(QV_MISUSE, "Database.__init__ called twice"), -1;
  if (n_threads < 0) return qvpy_raisef(QV_INVALID, "n_threads: must be >= 0, got %d", n_threads), -1;
  qv_open_opts_init(&o);
  if (parse_sync(sync, &o.sync) < 0) return -1;
  o.errbuf = errbuf;
  o.errbuf_len = sizeof errbuf;
  o.n_threads = n_threads;
  o.read_only = read_only;
  if (path != Py_None && !PyUnicode_FSConverter(path, &path_bytes)) return -1;
  const char *p = path_bytes ? PyBytes_AS_STRING(path_bytes) : NULL;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_db_open(p, &o, &db);
  Py_END_ALLOW_THREADS
  Py_XDECREF(path_bytes);
  if (rc != QV_OK) return qvpy_raise(rc, errbuf), -1;
  self->db = db;
  return 0;
}

/* Wait (GIL released) until no call is in flight, drop the handles, close. */
static void db_close_now(qvpy_db *self) {
  struct timespec ts = {0, 200000};
  qv_db *db = self->db;
  if (!db || self->is_closing) return;
  self->is_closing = 1;
  while (self->n_in_flight > 0) {
    Py_BEGIN_ALLOW_THREADS
    nanosleep(&ts, NULL);
    Py_END_ALLOW_THREADS
  }
  for (qvpy_col *c = self->cols; c; c = c->next) {
    qv_collection_release(c->c);
    c->c = NULL;
  }
  self->db = NULL;
  Py_BEGIN_ALLOW_THREADS
  qv_db_close(db);
  Py_END_ALLOW_THREADS
}

static PyObject *db_close(PyObject *self, PyObject *unused) {
  (void)unused;
  db_close_now((qvpy_db *)self);
  Py_RETURN_NONE;
}

static PyObject *db_enter_ctx(PyObject *self, PyObject *unused) {
  (void)unused;
  if (!((qvpy_db *)self)->db) return qvpy_raise(QV_MISUSE, "the database is closed");
  return Py_NewRef(self);
}

static PyObject *db_exit_ctx(PyObject *self, PyObject *args) {
  (void)args;
  db_close_now((qvpy_db *)self);
  Py_RETURN_FALSE;
}

static void db_dealloc(PyObject *self_) {
  qvpy_db *self = (qvpy_db *)self_;
  PyObject_GC_UnTrack(self_);
  if (self->weakrefs) PyObject_ClearWeakRefs(self_);
  if (self->db) {
    /* Every Collection holds a reference to us, so none is alive and none is in flight. */
    qv_db *db = self->db;
    self->db = NULL;
    Py_BEGIN_ALLOW_THREADS
    qv_db_close(db);
    Py_END_ALLOW_THREADS
  }
  Py_TYPE(self_)->tp_free(self_);
}

static int db_traverse(PyObject *self, visitproc visit, void *arg) {
  (void)self;
  (void)visit;
  (void)arg;
  return 0;
}

/* ---------------------------------------------------------------- collections */

/* A collection name as UTF-8 (borrowed from the str). */
static const char *name_arg(PyObject *obj, const char *field) {
  if (!PyUnicode_Check(obj)) return qvpy_type_errorf("%s: expected str, got %s", field, TNAME(obj)), NULL;
  Py_ssize_t len;
  const char *s = PyUnicode_AsUTF8AndSize(obj, &len);
  if (!s) {
    PyErr_Clear();
    return qvpy_raisef(QV_INVALID, "%s: not encodable as UTF-8", field), NULL;
  }
  if ((size_t)len != strlen(s)) return qvpy_raisef(QV_INVALID, "%s: contains a NUL character", field), NULL;
  return s;
}

static int parse_metric(PyObject *obj, qv_metric *out) {
  const char *s = PyUnicode_Check(obj) ? PyUnicode_AsUTF8(obj) : NULL;
  if (!s) {
    PyErr_Clear();
    qvpy_type_errorf("metric: expected str, got %s", TNAME(obj));
    return -1;
  }
  if (qv_metric_parse(s, out) != QV_OK) {
    qvpy_raisef(QV_INVALID, "metric: unknown metric %R (expected 'l2', 'ip', 'cosine' or 'l1')", obj);
    return -1;
  }
  return 0;
}

/* Index parameters from **kwargs: handed to the library as one JSON object, which the index
 * kind validates (an unknown name or a bad value raises, naming it). Nothing here knows a
 * kind's parameters. */
static int parse_index_params(PyObject *kw, qvpy_sb *sb) {
  if (!kw || PyDict_Size(kw) == 0) return 0;
  PyObject *text = PyObject_CallOneArg(qvpy_json_dumps, kw);
  if (!text) {
    if (PyErr_ExceptionMatches(PyExc_TypeError)) {
      PyErr_Clear();
      qvpy_type_errorf("index parameters: values must be numbers, strings or booleans");
    }
    return -1;
  }
  Py_ssize_t len;
  const char *s = PyUnicode_AsUTF8AndSize(text, &len);
  int rc = s && qvpy_sb_put(sb, s, (size_t)len) == 0 && qvpy_sb_put(sb, "", 1) == 0 ? 0 : -1;
  if (rc < 0 && !PyErr_Occurred()) PyErr_NoMemory();
  Py_DECREF(text);
  return rc;
}

typedef struct create_args {
  const char *name;
  qv_collection_opts o;
  qvpy_sb meta;
  qvpy_sb params;
} create_args;

/* Shared argument parsing of create_collection / get_or_create_collection. */
static int parse_create(PyObject *args, PyObject *kw, int dim_required, create_args *ca) {
  static char *kwlist[] = {"name", "dim", "metric", "index", "metadata", NULL};
  PyObject *name, *dim = NULL, *metric = NULL, *index = NULL, *meta = Py_None, *rest = NULL;
  PyObject *fixed_kw = NULL;
  int rc = -1;
  long long d = 0;
  memset(ca, 0, sizeof *ca);
  qv_collection_opts_init(&ca->o);
  /* Split the named parameters from the index parameters (**index_params). */
  if (kw) {
    fixed_kw = PyDict_New();
    rest = PyDict_Copy(kw);
    if (!fixed_kw || !rest) goto cleanup;
    for (int i = 1; kwlist[i]; i++) {
      PyObject *val = PyDict_GetItemString(kw, kwlist[i]);
      if (!val) continue;
      if (PyDict_SetItemString(fixed_kw, kwlist[i], val) < 0 || PyDict_DelItemString(rest, kwlist[i]) < 0)
        goto cleanup;
    }
    PyObject *val = PyDict_GetItemString(kw, "name");
    if (val && (PyDict_SetItemString(fixed_kw, "name", val) < 0 || PyDict_DelItemString(rest, "name") < 0))
      goto cleanup;
  }
  if (!PyArg_ParseTupleAndKeywords(args, fixed_kw, dim_required ? "OO|OOO:create_collection"
                                                                 : "O|OOOO:get_or_create_collection",
                                   kwlist, &name, &dim, &metric, &index, &meta))
    goto cleanup;
  if (!(ca->name = name_arg(name, "name"))) goto cleanup;
  if (dim && dim != Py_None && qvpy_as_size(dim, "dim", dim_required ? 1 : 0, UINT32_MAX, &d) < 0)
    goto cleanup;
  ca->o.dim = (uint32_t)d;
  if (metric && metric != Py_None && parse_metric(metric, &ca->o.metric) < 0) goto cleanup;
  if (index && index != Py_None && !(ca->o.index = name_arg(index, "index"))) goto cleanup;
  if (parse_index_params(rest, &ca->params) < 0) goto cleanup;
  if (ca->params.buf) ca->o.params_json = ca->params.buf;
  if (meta != Py_None) {
    if (qvpy_meta_to_json(meta, "metadata", 0, &ca->meta) < 0) goto cleanup;
    ca->o.metadata_json = ca->meta.buf;
  }
  rc = 0;
cleanup:
  Py_XDECREF(fixed_kw);
  Py_XDECREF(rest);
  return rc;
}

static PyObject *db_create_collection(PyObject *self_, PyObject *args, PyObject *kw) {
  qvpy_db *self = (qvpy_db *)self_;
  create_args ca;
  qv_collection *c = NULL;
  qv_status rc;
  PyObject *out = NULL;
  if (parse_create(args, kw, 1, &ca) < 0) goto cleanup;
  if (qvpy_db_enter(self) < 0) goto cleanup;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_create(self->db, ca.name, &ca.o, &c);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) qvpy_raise_db(self->db, rc);
  else out = qvpy_col_wrap(self, c);
  qvpy_db_leave(self);
cleanup:
  qvpy_sb_free(&ca.meta);
  qvpy_sb_free(&ca.params);
  return out;
}

static PyObject *db_get_or_create_collection(PyObject *self_, PyObject *args, PyObject *kw) {
  qvpy_db *self = (qvpy_db *)self_;
  create_args ca;
  qv_collection *c = NULL;
  qv_status rc;
  PyObject *out = NULL;
  int created = 0;
  if (parse_create(args, kw, 0, &ca) < 0) goto cleanup;
  if (qvpy_db_enter(self) < 0) goto cleanup;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_get_or_create(self->db, ca.name, &ca.o, &c, &created);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) qvpy_raise_db(self->db, rc);
  else out = qvpy_col_wrap(self, c);
  qvpy_db_leave(self);
cleanup:
  qvpy_sb_free(&ca.meta);
  qvpy_sb_free(&ca.params);
  return out;
}

static PyObject *db_get_collection(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"name", NULL};
  qvpy_db *self = (qvpy_db *)self_;
  PyObject *name;
  const char *s;
  qv_collection *c = NULL;
  qv_status rc;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O:get_collection", kwlist, &name)) return NULL;
  if (!(s = name_arg(name, "name")) || qvpy_db_enter(self) < 0) return NULL;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_get(self->db, s, &c);
  Py_END_ALLOW_THREADS
  PyObject *out = rc == QV_OK ? qvpy_col_wrap(self, c) : qvpy_raise_db(self->db, rc);
  qvpy_db_leave(self);
  return out;
}

static PyObject *db_list_collections(PyObject *self_, PyObject *unused) {
  qvpy_db *self = (qvpy_db *)self_;
  char **names = NULL;
  size_t n = 0;
  qv_status rc;
  PyObject *out = NULL;
  (void)unused;
  if (qvpy_db_enter(self) < 0) return NULL;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_list(self->db, &names, &n);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) {
    qvpy_raise_db(self->db, rc);
    goto cleanup;
  }
  out = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; out && i < n; i++) {
    PyObject *s = PyUnicode_FromString(names[i]);
    if (!s) Py_CLEAR(out);
    else PyList_SET_ITEM(out, (Py_ssize_t)i, s);
  }
cleanup:
  qv_strings_free(names);
  qvpy_db_leave(self);
  return out;
}

static PyObject *db_delete_collection(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"name", NULL};
  qvpy_db *self = (qvpy_db *)self_;
  PyObject *name;
  const char *s;
  qv_status rc;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O:delete_collection", kwlist, &name)) return NULL;
  if (!(s = name_arg(name, "name")) || qvpy_db_enter(self) < 0) return NULL;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_delete(self->db, s);
  Py_END_ALLOW_THREADS
  PyObject *out = rc == QV_OK ? Py_NewRef(Py_None) : qvpy_raise_db(self->db, rc);
  qvpy_db_leave(self);
  return out;
}

static PyObject *db_rename_collection(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"old", "new", NULL};
  qvpy_db *self = (qvpy_db *)self_;
  PyObject *a, *b;
  const char *sa, *sb;
  qv_status rc;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO:rename_collection", kwlist, &a, &b)) return NULL;
  if (!(sa = name_arg(a, "old")) || !(sb = name_arg(b, "new")) || qvpy_db_enter(self) < 0) return NULL;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_rename(self->db, sa, sb);
  Py_END_ALLOW_THREADS
  PyObject *out = rc == QV_OK ? Py_NewRef(Py_None) : qvpy_raise_db(self->db, rc);
  qvpy_db_leave(self);
  return out;
}

static PyObject *db_checkpoint(PyObject *self_, PyObject *unused) {
  qvpy_db *self = (qvpy_db *)self_;
  qv_status rc;
  (void)unused;
  if (qvpy_db_enter(self) < 0) return NULL;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_db_checkpoint(self->db);
  Py_END_ALLOW_THREADS
  PyObject *out = rc == QV_OK ? Py_NewRef(Py_None) : qvpy_raise_db(self->db, rc);
  qvpy_db_leave(self);
  return out;
}

static PyObject *db_get_path(PyObject *self_, void *closure) {
  qvpy_db *self = (qvpy_db *)self_;
  (void)closure;
  const char *p = self->db ? qv_db_path(self->db) : NULL;
  if (!p) Py_RETURN_NONE;
  return PyUnicode_DecodeFSDefault(p);
}

static PyObject *db_get_closed(PyObject *self_, void *closure) {
  (void)closure;
  return PyBool_FromLong(((qvpy_db *)self_)->db == NULL);
}

static PyObject *db_repr(PyObject *self_) {
  qvpy_db *self = (qvpy_db *)self_;
  if (!self->db) return PyUnicode_FromString("<quiver.Database (closed)>");
  const char *p = qv_db_path(self->db);
  return p ? PyUnicode_FromFormat("<quiver.Database '%s'>", p)
           : PyUnicode_FromString("<quiver.Database (in-memory)>");
}

static PyMethodDef db_methods[] = {
    {"close", db_close, METH_NOARGS,
     "close()\n--\n\nCheckpoint every index and close. Collections from this database become "
     "unusable. Safe to call twice."},
    {"__enter__", db_enter_ctx, METH_NOARGS, NULL},
    {"__exit__", db_exit_ctx, METH_VARARGS, NULL},
    {"create_collection", (PyCFunction)(void (*)(void))db_create_collection, METH_VARARGS | METH_KEYWORDS,
     "create_collection(name, dim, metric='l2', index='flat', metadata=None, **index_params)\n--\n\n"
     "Create a collection. index_params: M, ef_construction, ef_search (hnsw). Raises "
     "AlreadyExistsError if it exists."},
    {"get_collection", (PyCFunction)(void (*)(void))db_get_collection, METH_VARARGS | METH_KEYWORDS,
     "get_collection(name)\n--\n\nOpen an existing collection; NotFoundError if missing."},
    {"get_or_create_collection", (PyCFunction)(void (*)(void))db_get_or_create_collection,
     METH_VARARGS | METH_KEYWORDS,
     "get_or_create_collection(name, dim=0, metric='l2', index='flat', metadata=None, "
     "**index_params)\n--\n\nOpen name, or create it (dim 0: fixed by the first write)."},
    {"list_collections", db_list_collections, METH_NOARGS,
     "list_collections()\n--\n\nNames of all collections, sorted."},
    {"delete_collection", (PyCFunction)(void (*)(void))db_delete_collection, METH_VARARGS | METH_KEYWORDS,
     "delete_collection(name)\n--\n\nDelete a collection and all its records."},
    {"rename_collection", (PyCFunction)(void (*)(void))db_rename_collection, METH_VARARGS | METH_KEYWORDS,
     "rename_collection(old, new)\n--\n\nRename a collection."},
    {"checkpoint", db_checkpoint, METH_NOARGS,
     "checkpoint()\n--\n\nWrite every index's checkpoint file now."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef db_getset[] = {
    {"path", db_get_path, NULL, "data directory, or None for an in-memory database", NULL},
    {"closed", db_get_closed, NULL, "True once close() was called", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject qvpy_db_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "quiver.Database",
    .tp_basicsize = sizeof(qvpy_db),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Database(path=None, sync='full', *, n_threads=0, read_only=False)\n--\n\n"
              "A quiver database: a data directory (created if missing) or, with path=None, "
              "in memory. sync='normal' survives a process crash but not an OS crash. "
              "Use as a context manager or call close().",
    .tp_new = PyType_GenericNew,
    .tp_init = db_init,
    .tp_dealloc = db_dealloc,
    .tp_traverse = db_traverse,
    .tp_repr = db_repr,
    .tp_methods = db_methods,
    .tp_getset = db_getset,
    .tp_weaklistoffset = offsetof(qvpy_db, weakrefs),
};
