/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * qvpy_col.c -- quiver.Collection: the Chroma-shaped face (add/upsert/update/delete/get/
 * query/count) and the lean face used by benchmarks (add_vectors/search/search_batch/
 * set_params).
 *
 * Every method parses its arguments first (this may run Python code: __float__, json), then
 * enters the database guard (qvpy_db_enter), releases the GIL around the libquiver call, and
 * builds the Python result with the GIL held before leaving the guard. search() is the hot
 * path of the benchmarks: vectorcall, the query buffer used in place, distances only, two
 * flat lists back.
 */
#include <string.h>

#include "qvpy.h"

#define TNAME(o) (Py_TYPE(o)->tp_name)

static int col_hamming(const qvpy_col *self) {
  return self->c && !self->owner->is_closing && qv_collection_metric(self->c) == QV_METRIC_HAMMING;
}

/* Raise for rc with the owning db's message (read in this thread right after the call). */
static PyObject *raise_rc(qvpy_col *self, qv_status rc) { return qvpy_raise_db(self->owner->db, rc); }

static void col_dealloc(PyObject *self_) {
  qvpy_col *self = (qvpy_col *)self_;
  PyObject_GC_UnTrack(self_);
  if (self->weakrefs) PyObject_ClearWeakRefs(self_);
  if (self->pprev) {
    *self->pprev = self->next;
    if (self->next) self->next->pprev = self->pprev;
  }
  qv_collection_release(self->c); /* NULL after the database was closed */
  Py_XDECREF(self->owner);
  Py_TYPE(self_)->tp_free(self_);
}

static int col_traverse(PyObject *self, visitproc visit, void *arg) {
  Py_VISIT(((qvpy_col *)self)->owner);
  return 0;
}

/* ---------------------------------------------------------------- description */

static int col_info(qvpy_col *self, qv_collection_info *info) {
  qv_collection *c = qvpy_col_handle(self);
  qv_status rc;
  memset(info, 0, sizeof *info);
  info->struct_size = sizeof *info;
  if (!c || qvpy_db_enter(self->owner) < 0) return -1;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_info_get(c, info);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) raise_rc(self, rc);
  qvpy_db_leave(self->owner);
  return rc == QV_OK ? 0 : -1;
}

/* One property from the info: 'n' name, 'u' uuid, 'm' metric, 'i' index, 'M' metadata,
   'C' configuration, 'p' index params. */
static PyObject *info_field(PyObject *self_, void *closure) {
  qv_collection_info info;
  PyObject *out = NULL;
  if (col_info((qvpy_col *)self_, &info) < 0) return NULL;
  switch (*(const char *)closure) {
  case 'n': out = PyUnicode_FromString(info.name); break;
  case 'u': out = PyUnicode_FromString(info.uuid); break;
  case 'm': out = PyUnicode_FromString(qv_metric_name(info.metric)); break;
  case 'i': out = PyUnicode_FromString(info.index); break;
  case 'M': out = qvpy_json_to_py(info.metadata_json); break;
  case 'C': out = qvpy_json_to_py(info.config_json); break;
  default: out = qvpy_json_to_py(info.params_json); /* the kind's parameters, as the kind names them */
  }
  qv_collection_info_free(&info);
  return out;
}

static PyObject *col_get_dim(PyObject *self_, void *closure) {
  qv_collection *c = qvpy_col_handle((qvpy_col *)self_);
  (void)closure;
  return c ? PyLong_FromUnsignedLong(qv_collection_dim(c)) : NULL;
}

static PyObject *col_get_database(PyObject *self_, void *closure) {
  (void)closure;
  return Py_NewRef((PyObject *)((qvpy_col *)self_)->owner);
}

static int count_of(qvpy_col *self, uint64_t *n) {
  qv_collection *c = qvpy_col_handle(self);
  qv_status rc;
  if (!c || qvpy_db_enter(self->owner) < 0) return -1;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_count(c, n);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) raise_rc(self, rc);
  qvpy_db_leave(self->owner);
  return rc == QV_OK ? 0 : -1;
}

static PyObject *col_count(PyObject *self, PyObject *unused) {
  uint64_t n;
  (void)unused;
  return count_of((qvpy_col *)self, &n) < 0 ? NULL : PyLong_FromUnsignedLongLong(n);
}

static Py_ssize_t col_len(PyObject *self) {
  uint64_t n;
  return count_of((qvpy_col *)self, &n) < 0 ? -1 : (Py_ssize_t)n;
}

static PyObject *col_stats(PyObject *self_, PyObject *unused) {
  qvpy_col *self = (qvpy_col *)self_;
  qv_collection *c = qvpy_col_handle(self);
  qv_index_stats st = {.struct_size = sizeof st};
  qv_status rc;
  (void)unused;
  if (!c || qvpy_db_enter(self->owner) < 0) return NULL;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_stats_get(c, &st);
  Py_END_ALLOW_THREADS
  PyObject *out = rc != QV_OK ? raise_rc(self, rc)
                              : Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:I,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "count",
                                              (unsigned long long)st.count, "n_slots",
                                              (unsigned long long)st.n_slots, "n_tombstones",
                                              (unsigned long long)st.n_tombstones, "mem_vectors",
                                              (unsigned long long)st.mem_vectors, "mem_graph",
                                              (unsigned long long)st.mem_graph, "max_level",
                                              st.max_level, "last_seq", (unsigned long long)st.last_seq,
                                              "checkpoint_seq", (unsigned long long)st.checkpoint_seq,
                                              "mem_codes", (unsigned long long)st.mem_codes, "mem_ids",
                                              (unsigned long long)st.mem_ids, "mem_metadata",
                                              (unsigned long long)st.mem_metadata, "mem_documents",
                                              (unsigned long long)st.mem_documents, "bytes_per_record",
                                              (unsigned long long)st.bytes_per_record);
  qvpy_db_leave(self->owner);
  return out;
}

static PyObject *col_compact(PyObject *self_, PyObject *unused) {
  qvpy_col *self = (qvpy_col *)self_;
  qv_collection *c = qvpy_col_handle(self);
  qv_status rc;
  (void)unused;
  if (!c || qvpy_db_enter(self->owner) < 0) return NULL;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_compact(c);
  Py_END_ALLOW_THREADS
  PyObject *out = rc != QV_OK ? raise_rc(self, rc) : Py_NewRef(Py_None);
  qvpy_db_leave(self->owner);
  return out;
}

static PyObject *col_set_params(PyObject *self_, PyObject *args, PyObject *kw) {
  qvpy_col *self = (qvpy_col *)self_;
  qv_collection *c = qvpy_col_handle(self);
  if (!c) return NULL;
  if (PyTuple_GET_SIZE(args) > 0) return qvpy_type_errorf("set_params() takes keyword arguments only");
  if (!kw || PyDict_Size(kw) == 0) Py_RETURN_NONE;
  /* one JSON object: the index kind validates every key, and applies all or none */
  PyObject *text = PyObject_CallOneArg(qvpy_json_dumps, kw);
  if (!text) return NULL;
  const char *json = PyUnicode_AsUTF8(text);
  if (!json || qvpy_db_enter(self->owner) < 0) {
    Py_DECREF(text);
    return NULL;
  }
  qv_status rc;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_set_params(c, json);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) raise_rc(self, rc);
  qvpy_db_leave(self->owner);
  Py_DECREF(text);
  if (rc != QV_OK) return NULL;
  Py_RETURN_NONE;
}

static PyObject *col_modify(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"name", "metadata", NULL};
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *name = Py_None, *meta = Py_None, *out = NULL;
  const char *new_name = NULL;
  qvpy_sb sb = {0};
  qv_collection_info info = {0};
  qv_status rc = QV_OK;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:modify", kwlist, &name, &meta)) return NULL;
  if (name != Py_None) {
    Py_ssize_t len;
    if (!PyUnicode_Check(name)) return qvpy_type_errorf("name: expected str, got %s", Py_TYPE(name)->tp_name);
    new_name = PyUnicode_AsUTF8AndSize(name, &len);
    if (!new_name) return PyErr_Clear(), qvpy_raisef(QV_INVALID, "name: not encodable as UTF-8");
    if ((size_t)len != strlen(new_name)) return qvpy_raisef(QV_INVALID, "name: contains a NUL character");
  }
  if (meta != Py_None && qvpy_meta_to_json(meta, "metadata", 0, &sb) < 0) goto cleanup;
  if (col_info(self, &info) < 0 || qvpy_db_enter(self->owner) < 0) goto cleanup;
  /* The rename first: it is the part that can fail on the caller's input (name taken). */
  Py_BEGIN_ALLOW_THREADS
  if (new_name) rc = qv_collection_rename(self->owner->db, info.name, new_name);
  if (rc == QV_OK && meta != Py_None) rc = qv_collection_set_metadata(self->c, sb.buf);
  Py_END_ALLOW_THREADS
  out = rc == QV_OK ? Py_NewRef(Py_None) : raise_rc(self, rc);
  qvpy_db_leave(self->owner);
cleanup:
  qv_collection_info_free(&info);
  qvpy_sb_free(&sb);
  return out;
}

/* ---------------------------------------------------------------- writes */

enum { OP_ADD, OP_UPSERT, OP_UPDATE };

static PyObject *col_write(qvpy_col *self, PyObject *args, PyObject *kw, int op) {
  static char *kw_add[] = {"ids", "embeddings", "metadatas", "documents", "ignore_existing", NULL};
  static char *kw_ups[] = {"ids", "embeddings", "metadatas", "documents", NULL};
  static char *kw_upd[] = {"ids", "embeddings", "metadatas", "documents", "ignore_missing", NULL};
  PyObject *ids, *emb = Py_None, *metas = Py_None, *docs = Py_None;
  int flag = 0;
  qvpy_batch pb;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c) return NULL;
  int ok = op == OP_ADD ? PyArg_ParseTupleAndKeywords(args, kw, "OO|OO$p:add", kw_add, &ids, &emb, &metas,
                                                      &docs, &flag)
           : op == OP_UPSERT ? PyArg_ParseTupleAndKeywords(args, kw, "OO|OO:upsert", kw_ups, &ids, &emb,
                                                           &metas, &docs)
                             : PyArg_ParseTupleAndKeywords(args, kw, "O|OOO$p:update", kw_upd, &ids, &emb,
                                                           &metas, &docs, &flag);
  if (!ok) return NULL;
  if (qvpy_batch_parse(&pb, ids, emb, metas, docs, qvpy_col_dim(self), op != OP_UPDATE, op != OP_ADD) < 0 ||
      qvpy_db_enter(self->owner) < 0) {
    qvpy_batch_release(&pb);
    return NULL;
  }
  Py_BEGIN_ALLOW_THREADS
  if (op == OP_ADD) rc = qv_collection_add(c, &pb.b, flag ? QV_CONFLICT_IGNORE : QV_CONFLICT_ERROR);
  else if (op == OP_UPSERT) rc = qv_collection_upsert(c, &pb.b);
  else rc = qv_collection_update(c, &pb.b, flag);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) raise_rc(self, rc);
  qvpy_db_leave(self->owner);
  qvpy_batch_release(&pb);
  if (rc != QV_OK) return NULL;
  Py_RETURN_NONE;
}

static PyObject *col_add(PyObject *s, PyObject *a, PyObject *k) { return col_write((qvpy_col *)s, a, k, OP_ADD); }
static PyObject *col_upsert(PyObject *s, PyObject *a, PyObject *k) { return col_write((qvpy_col *)s, a, k, OP_UPSERT); }
static PyObject *col_update(PyObject *s, PyObject *a, PyObject *k) { return col_write((qvpy_col *)s, a, k, OP_UPDATE); }

static PyObject *col_delete(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"ids", "where", "where_document", "limit", NULL};
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *ids = Py_None, *where = Py_None, *wdoc = Py_None, *limit = Py_None, *out = NULL;
  PyObject *ids_seq = NULL, *wh = NULL, *wdh = NULL;
  const char **idv = NULL, *w = NULL, *wd = NULL;
  size_t n_ids = 0, n_deleted = 0;
  long long lim = 0;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c) return NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOO:delete", kwlist, &ids, &where, &wdoc, &limit)) return NULL;
  if (ids != Py_None && qvpy_ids_parse(ids, "ids", &ids_seq, &idv, &n_ids) < 0) goto cleanup;
  if (qvpy_filter_arg(where, "where", &wh, &w) < 0) goto cleanup;
  if (qvpy_filter_arg(wdoc, "where_document", &wdh, &wd) < 0) goto cleanup;
  if (limit != Py_None && qvpy_as_size(limit, "limit", 1, PY_SSIZE_T_MAX, &lim) < 0) goto cleanup;
  if (qvpy_db_enter(self->owner) < 0) goto cleanup;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_delete_records(c, n_ids ? idv : NULL, n_ids, w, wd, (size_t)lim, &n_deleted);
  Py_END_ALLOW_THREADS
  out = rc == QV_OK ? PyLong_FromSize_t(n_deleted) : raise_rc(self, rc);
  qvpy_db_leave(self->owner);
cleanup:
  PyMem_Free(idv);
  Py_XDECREF(ids_seq);
  Py_XDECREF(wh);
  Py_XDECREF(wdh);
  return out;
}

/* ---------------------------------------------------------------- reads */

static PyObject *col_get(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"ids", "where", "where_document", "limit", "offset", "include", NULL};
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *ids = Py_None, *where = Py_None, *wdoc = Py_None, *limit = Py_None, *offset = NULL;
  PyObject *include = Py_None, *out = NULL;
  qvpy_getargs g;
  qv_results *r = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c) return NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOOOO:get", kwlist, &ids, &where, &wdoc, &limit, &offset,
                                   &include))
    return NULL;
  if (qvpy_getargs_parse(&g, ids, where, wdoc, limit, offset, include) < 0) goto cleanup;
  if (qvpy_db_enter(self->owner) < 0) goto cleanup;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_get_records(c, &g.o, &r);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) raise_rc(self, rc);
  else out = qvpy_results_get(g.want_none ? NULL : r, g.o.include, g.echo);
  qvpy_db_leave(self->owner);
cleanup:
  qv_results_free(r);
  qvpy_getargs_release(&g);
  return out;
}

static PyObject *col_query(PyObject *self_, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"query_embeddings", "n_results", "where", "where_document", "include",
                           "ef_search", "exact", NULL};
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *qe, *nres = NULL, *where = Py_None, *wdoc = Py_None, *include = Py_None, *ef = Py_None;
  PyObject *wh = NULL, *wdh = NULL, *echo = NULL, *out = NULL;
  int exact = 0;
  long long k = 10, efv = 0;
  qvpy_mat m = {0};
  qv_query_opts o;
  qv_results *r = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c) return NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOOO$Op:query", kwlist, &qe, &nres, &where, &wdoc, &include,
                                   &ef, &exact))
    return NULL;
  qv_query_opts_init(&o);
  if (nres && qvpy_as_size(nres, "n_results", 1, PY_SSIZE_T_MAX, &k) < 0) goto cleanup;
  if (ef != Py_None && qvpy_as_size(ef, "ef_search", 1, UINT32_MAX, &efv) < 0) goto cleanup;
  if (qvpy_filter_arg(where, "where", &wh, &o.where_json) < 0) goto cleanup;
  if (qvpy_filter_arg(wdoc, "where_document", &wdh, &o.where_document_json) < 0) goto cleanup;
  if (qvpy_include_parse(include,
                         QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS | QV_INCLUDE_DISTANCES,
                         QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS | QV_INCLUDE_DISTANCES,
                         &o.include, &echo) < 0)
    goto cleanup;
  if (qvpy_mat_parse(qe, qvpy_col_dim(self), QVPY_MAT_ANY, "query_embeddings", &m) < 0) goto cleanup;
  if (m.n == 0) {
    qvpy_raisef(QV_INVALID, "query_embeddings: at least one query embedding is required");
    goto cleanup;
  }
  o.ef_search = (uint32_t)efv;
  o.exact = exact;
  if (qvpy_db_enter(self->owner) < 0) goto cleanup;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_query(c, m.data, m.n, (size_t)k, &o, &r);
  Py_END_ALLOW_THREADS
  out = rc == QV_OK ? qvpy_results_query(r, o.include, echo) : raise_rc(self, rc);
  qvpy_db_leave(self->owner);
cleanup:
  qv_results_free(r);
  qvpy_mat_release(&m);
  Py_XDECREF(wh);
  Py_XDECREF(wdh);
  Py_XDECREF(echo);
  return out;
}

/* ---------------------------------------------------------------- the lean face */

static PyObject *col_add_vectors(PyObject *self_, PyObject *arg) {
  qvpy_col *self = (qvpy_col *)self_;
  qvpy_mat m = {0};
  qvpy_bits bm = {0};
  int ham = col_hamming(self);
  uint64_t start = 0;
  char *idbuf = NULL;
  const char **ids = NULL;
  qv_status rc;
  PyObject *out = NULL;
  qv_collection *c = qvpy_col_handle(self);
  if (!c) return NULL;
  if (ham) {
    if (qvpy_bits_parse(arg, qvpy_col_dim(self), QVPY_MAT_2D, "X", &bm) < 0) goto cleanup;
    m.n = bm.n;
  } else if (qvpy_mat_parse(arg, qvpy_col_dim(self), QVPY_MAT_2D, "X", &m) < 0) {
    goto cleanup;
  }
  if (m.n == 0) {
    out = Py_NewRef(Py_None);
    goto cleanup;
  }
  if (count_of(self, &start) < 0) goto cleanup;
  idbuf = PyMem_Malloc(m.n * 21);
  ids = PyMem_Malloc(m.n * sizeof *ids);
  if (!idbuf || !ids) {
    PyErr_NoMemory();
    goto cleanup;
  }
  for (size_t i = 0; i < m.n; i++) {
    snprintf(idbuf + i * 21, 21, "%llu", (unsigned long long)(start + i));
    ids[i] = idbuf + i * 21;
  }
  qv_batch b = {.n = m.n, .ids = ids, .embeddings = m.data, .dim = (uint32_t)m.dim, .bits = bm.data};
  if (qvpy_db_enter(self->owner) < 0) goto cleanup;
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_add(c, &b, QV_CONFLICT_ERROR);
  Py_END_ALLOW_THREADS
  out = rc == QV_OK ? Py_NewRef(Py_None) : raise_rc(self, rc);
  qvpy_db_leave(self->owner);
cleanup:
  PyMem_Free(ids);
  PyMem_Free(idbuf);
  if (ham) qvpy_bits_release(&bm);
  else qvpy_mat_release(&m);
  return out;
}

/* (q, k) from a vectorcall; k defaults to 10. Returns 0 or -1. */
static int search_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, const char *fn,
                       const char *qname, PyObject **q, Py_ssize_t *k, PyObject **mmr, PyObject **fetch_k) {
  PyObject *kobj = nargs > 1 ? args[1] : NULL;
  *q = nargs > 0 ? args[0] : NULL;
  if (nargs > 2) return qvpy_type_errorf("%s() takes at most 2 positional arguments", fn), -1;
  for (Py_ssize_t i = 0; kwnames && i < PyTuple_GET_SIZE(kwnames); i++) {
    const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, i));
    if (!name) return -1;
    if (!strcmp(name, "k") && !kobj) kobj = args[nargs + i];
    else if (!strcmp(name, qname) && !*q) *q = args[nargs + i];
    else if (mmr && !strcmp(name, "mmr_lambda")) *mmr = args[nargs + i];
    else if (fetch_k && !strcmp(name, "fetch_k")) *fetch_k = args[nargs + i];
    else return qvpy_type_errorf("%s(): unexpected keyword argument '%s'", fn, name), -1;
  }
  if (!*q) return qvpy_type_errorf("%s(): missing the query argument", fn), -1;
  *k = 10;
  if (kobj) {
    if (PyLong_CheckExact(kobj)) {
      *k = PyLong_AsSsize_t(kobj);
      if (*k == -1 && PyErr_Occurred()) return -1;
    } else {
      long long v;
      if (qvpy_as_size(kobj, "k", 1, PY_SSIZE_T_MAX, &v) < 0) return -1;
      *k = (Py_ssize_t)v;
    }
    if (*k < 1) return qvpy_raisef(QV_INVALID, "k: must be >= 1, got %zd", *k), -1;
  }
  return 0;
}

/* Run one query call (GIL released); results r or an exception. */
static qv_results *search_run(qvpy_col *self, qv_collection *c, const qvpy_mat *m, const qvpy_bits *bm,
                              Py_ssize_t k) {
  qv_query_opts o;
  qv_results *r = NULL;
  qv_status rc;
  qv_query_opts_init(&o);
  o.include = QV_INCLUDE_DISTANCES;
  if (qvpy_db_enter(self->owner) < 0) return NULL;
  Py_BEGIN_ALLOW_THREADS
  rc = bm ? qv_collection_query_bits(c, bm->data, bm->n, (size_t)k, &o, &r)
          : qv_collection_query(c, m->data, m->n, (size_t)k, &o, &r);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) raise_rc(self, rc);
  qvpy_db_leave(self->owner);
  return r;
}

/* ([ids...], [dists...]) of row q. */
static int search_row(const qv_results *r, size_t q, PyObject **ids, PyObject **dists) {
  size_t n = qv_results_count(r, q);
  *ids = PyList_New((Py_ssize_t)n);
  *dists = PyList_New((Py_ssize_t)n);
  if (!*ids || !*dists) goto fail;
  for (size_t i = 0; i < n; i++) {
    PyObject *id = PyUnicode_FromString(qv_results_id(r, q, i));
    PyObject *d = PyFloat_FromDouble(qv_results_distance(r, q, i));
    if (!id || !d) {
      Py_XDECREF(id);
      Py_XDECREF(d);
      goto fail;
    }
    PyList_SET_ITEM(*ids, (Py_ssize_t)i, id);
    PyList_SET_ITEM(*dists, (Py_ssize_t)i, d);
  }
  return 0;
fail:
  Py_CLEAR(*ids);
  Py_CLEAR(*dists);
  return -1;
}

static PyObject *col_search(PyObject *self_, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *q, *ids, *dists, *out = NULL, *mmr = NULL, *fetch_k = NULL;
  Py_ssize_t k;
  qvpy_mat m;
  qvpy_bits bm;
  qv_collection *c = qvpy_col_handle(self);
  if (!c || search_args(args, PyVectorcall_NARGS(nargsf), kwnames, "search", "q", &q, &k, &mmr, &fetch_k) < 0)
    return NULL;
  int ham = col_hamming(self);
  if ((mmr && mmr != Py_None) || (fetch_k && fetch_k != Py_None)) { /* MMR re-ranking (qvpy_adv.c) */
    if (ham) return qvpy_raisef(QV_UNSUPPORTED, "mmr_lambda: not supported on hamming collections");
    if (qvpy_mat_parse(q, qvpy_col_dim(self), QVPY_MAT_1D, "q", &m) == 0) out = qvpy_col_search_mmr(self, m.data, k, mmr, fetch_k);
    qvpy_mat_release(&m);
    return out;
  }
  if (ham ? qvpy_bits_parse(q, qvpy_col_dim(self), QVPY_MAT_1D, "q", &bm) == 0
          : qvpy_mat_parse(q, qvpy_col_dim(self), QVPY_MAT_1D, "q", &m) == 0) {
    qv_results *r = search_run(self, c, ham ? NULL : &m, ham ? &bm : NULL, k);
    if (r && search_row(r, 0, &ids, &dists) == 0) out = PyTuple_Pack(2, ids, dists), Py_DECREF(ids), Py_DECREF(dists);
    qv_results_free(r);
  }
  if (ham) qvpy_bits_release(&bm);
  else qvpy_mat_release(&m);
  return out;
}

static PyObject *col_search_batch(PyObject *self_, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *q, *ids = NULL, *dists = NULL, *out = NULL;
  Py_ssize_t k;
  qvpy_mat m = {0};
  qvpy_bits bm = {0};
  qv_results *r = NULL;
  qv_collection *c = qvpy_col_handle(self);
  if (!c || search_args(args, PyVectorcall_NARGS(nargsf), kwnames, "search_batch", "Q", &q, &k, NULL, NULL) < 0) return NULL;
  int ham = col_hamming(self);
  if (ham) {
    if (qvpy_bits_parse(q, qvpy_col_dim(self), QVPY_MAT_2D, "Q", &bm) < 0) goto cleanup;
    m.n = bm.n;
  } else if (qvpy_mat_parse(q, qvpy_col_dim(self), QVPY_MAT_2D, "Q", &m) < 0) {
    goto cleanup;
  }
  if (m.n == 0) {
    out = Py_BuildValue("([][])");
    goto cleanup;
  }
  if (!(r = search_run(self, c, ham ? NULL : &m, ham ? &bm : NULL, k))) goto cleanup;
  ids = PyList_New((Py_ssize_t)m.n);
  dists = PyList_New((Py_ssize_t)m.n);
  if (!ids || !dists) goto cleanup;
  for (size_t i = 0; i < m.n; i++) {
    PyObject *a, *b;
    if (search_row(r, i, &a, &b) < 0) goto cleanup;
    PyList_SET_ITEM(ids, (Py_ssize_t)i, a);
    PyList_SET_ITEM(dists, (Py_ssize_t)i, b);
  }
  out = PyTuple_Pack(2, ids, dists);
cleanup:
  Py_XDECREF(ids);
  Py_XDECREF(dists);
  qv_results_free(r);
  if (ham) qvpy_bits_release(&bm);
  else qvpy_mat_release(&m);
  return out;
}

static PyObject *col_export(PyObject *self_, PyObject *arg) {
  qvpy_col *self = (qvpy_col *)self_;
  PyObject *pathobj = NULL;
  qv_status rc;
  qv_collection *c = qvpy_col_handle(self);
  if (!c || !PyUnicode_FSConverter(arg, &pathobj)) return NULL;
  if (qvpy_db_enter(self->owner) < 0) {
    Py_DECREF(pathobj);
    return NULL;
  }
  const char *path = PyBytes_AS_STRING(pathobj);
  Py_BEGIN_ALLOW_THREADS
  rc = qv_collection_export(c, path);
  Py_END_ALLOW_THREADS
  if (rc != QV_OK) raise_rc(self, rc);
  qvpy_db_leave(self->owner);
  Py_DECREF(pathobj);
  if (rc != QV_OK) return NULL;
  Py_RETURN_NONE;
}

static PyObject *col_repr(PyObject *self_) {
  qvpy_col *self = (qvpy_col *)self_;
  qv_collection_info info;
  if (!self->c || !self->owner->db) return PyUnicode_FromString("<quiver.Collection (closed)>");
  if (col_info(self, &info) < 0) return NULL;
  PyObject *out = PyUnicode_FromFormat("<quiver.Collection '%s' dim=%u metric=%s index=%s>", info.name,
                                       (unsigned)info.dim, qv_metric_name(info.metric), info.index);
  qv_collection_info_free(&info);
  return out;
}

#define KWFN(f) (PyCFunction)(void (*)(void))(f)

static PyMethodDef col_methods[] = {
    {"count", col_count, METH_NOARGS, "count()\n--\n\nNumber of records."},
    {"stats", col_stats, METH_NOARGS, "stats()\n--\n\nIndex statistics as a dict."},
    {"compact", col_compact, METH_NOARGS,
     "compact()\n--\n\nRebuild the HNSW graph without the tombstones deletes left (also done "
     "automatically once they reach half the live records)."},
    {"set_params", KWFN(col_set_params), METH_VARARGS | METH_KEYWORDS,
     "set_params(**knobs)\n--\n\nSet query-time knobs such as ef_search (stored with a persistent\n"
     "collection); unknown knobs raise."},
    {"modify", KWFN(col_modify), METH_VARARGS | METH_KEYWORDS,
     "modify(name=None, metadata=None)\n--\n\nRename and/or replace the collection's metadata."},
    {"add", KWFN(col_add), METH_VARARGS | METH_KEYWORDS,
     "add(ids, embeddings, metadatas=None, documents=None, *, ignore_existing=False)\n--\n\n"
     "Add a batch, all or nothing. An existing id fails the batch (AlreadyExistsError) unless "
     "ignore_existing."},
    {"upsert", KWFN(col_upsert), METH_VARARGS | METH_KEYWORDS,
     "upsert(ids, embeddings, metadatas=None, documents=None)\n--\n\nInsert or replace; metadata "
     "merged key by key (None removes a key)."},
    {"update", KWFN(col_update), METH_VARARGS | METH_KEYWORDS,
     "update(ids, embeddings=None, metadatas=None, documents=None, *, ignore_missing=False)\n--\n\n"
     "Update the given fields of existing records."},
    {"delete", KWFN(col_delete), METH_VARARGS | METH_KEYWORDS,
     "delete(ids=None, where=None, where_document=None, limit=None)\n--\n\nDelete records; returns "
     "the number deleted."},
    {"get", KWFN(col_get), METH_VARARGS | METH_KEYWORDS,
     "get(ids=None, where=None, where_document=None, limit=None, offset=0, include=['metadatas', "
     "'documents'])\n--\n\nRecords by ids and/or filter, as a Chroma-shaped dict."},
    {"query", KWFN(col_query), METH_VARARGS | METH_KEYWORDS,
     "query(query_embeddings, n_results=10, where=None, where_document=None, include=['metadatas', "
     "'documents', 'distances'], *, ef_search=None, exact=False)\n--\n\nNearest neighbours, a "
     "Chroma-shaped dict of lists of lists."},
    {"export", col_export, METH_O,
     "export(path)\n--\n\nWrite the collection to path as one snapshot file (quiver.open_static)."},
    {"add_vectors", col_add_vectors, METH_O,
     "add_vectors(X)\n--\n\nAdd the rows of X with ids str(count()), str(count()+1), ..."},
    {"search", KWFN(col_search), METH_FASTCALL | METH_KEYWORDS,
     "search(q, k=10, *, mmr_lambda=None, fetch_k=None)\n--\n\n(ids, distances) of the k nearest records "
     "to q: two lists. With mmr_lambda (or fetch_k), the k are chosen from the fetch_k nearest by "
     "maximal marginal relevance (lambda 0.5 and fetch_k max(4k, 20) by default)."},
    {"search_batch", KWFN(col_search_batch), METH_FASTCALL | METH_KEYWORDS,
     "search_batch(Q, k=10)\n--\n\n(ids, distances), each a list with one list per row of Q."},
    {"range_search", KWFN(qvpy_col_range_search), METH_VARARGS | METH_KEYWORDS,
     "range_search(q, radius, limit=None, where=None, where_document=None, *, exact=False)\n--\n\n"
     "(ids, distances) of every record within radius of q, nearest first (at most limit). Exact on "
     "flat, approximate on hnsw."},
    {"range_search_batch", KWFN(qvpy_col_range_search_batch), METH_VARARGS | METH_KEYWORDS,
     "range_search_batch(Q, radius, limit=None, where=None, where_document=None, *, exact=False)\n--\n\n"
     "A list of (ids, distances), one per row of Q, searched on all cores."},
    {"kmeans", KWFN(qvpy_col_kmeans), METH_VARARGS | METH_KEYWORDS,
     "kmeans(k, niter=20, nredo=1, seed=None, spherical=None, where=None, max_points=None, "
     "label_key=None, init='k-means++', where_document=None)\n--\n\nk-means over the records: a dict of "
     "centroids (k x dim float32), ids, labels, distances, inertia, sizes, nearest (the record closest "
     "to each centroid). label_key writes each record's cluster number into its metadata."},
    {"combine", KWFN(qvpy_col_combine), METH_VARARGS | METH_KEYWORDS,
     "combine(terms, k=10, where=None, exclude_inputs=True)\n--\n\n(ids, distances) of the k nearest "
     "to sum(weight * vector) over terms [(id_or_vector, weight), ...] (unit vectors for cosine)."},
    {"interpolate", KWFN(qvpy_col_interpolate), METH_VARARGS | METH_KEYWORDS,
     "interpolate(a, b, t, k=10, spherical=None, where=None, exclude_inputs=True)\n--\n\n(ids, distances) "
     "of the k nearest to the point at t between a and b (ids or vectors); spherical (slerp) by "
     "default for cosine."},
    {"centroid_search", KWFN(qvpy_col_centroid_search), METH_VARARGS | METH_KEYWORDS,
     "centroid_search(ids, k=10, where=None, exclude_inputs=True)\n--\n\n(ids, distances) of the k "
     "nearest to the mean of the records ids."},
    {"recommend", KWFN(qvpy_col_recommend), METH_VARARGS | METH_KEYWORDS,
     "recommend(positive, negative=(), k=10, strategy='average', where=None)\n--\n\n(ids, scores), "
     "highest first, from positive and negative examples (ids or vectors); strategy 'average' or "
     "'best_score'."},
    {"text_search", KWFN(qvpy_col_text_search), METH_VARARGS | METH_KEYWORDS,
     "text_search(text, k=10, where=None, where_document=None)\n--\n\n(ids, bm25_scores), best first: "
     "full-text search of the documents (SQLite FTS5, BM25; the words of text, any may match)."},
    {"hybrid_search", KWFN(qvpy_col_hybrid_search), METH_VARARGS | METH_KEYWORDS,
     "hybrid_search(text, q, k=10, fusion='rrf', alpha=0.5, where=None, where_document=None)\n--\n\n"
     "(ids, scores), best first: BM25 and vector ranks fused ('rrf' or 'weighted'); alpha weighs "
     "the vector side."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef col_getset[] = {
    {"name", info_field, NULL, "collection name", "n"},
    {"uuid", info_field, NULL, "collection UUID", "u"},
    {"metric", info_field, NULL, "'l2', 'ip', 'cosine', 'l1' or 'hamming'", "m"},
    {"index", info_field, NULL, "index kind: 'flat', 'hnsw', 'ivf' or 'rpforest'", "i"},
    {"metadata", info_field, NULL, "the collection's metadata dict, or None", "M"},
    {"config", info_field, NULL, "the configuration a server face keeps (the Chroma server's embedding_function, ...), a dict, or None", "C"},
    {"index_params", info_field, NULL, "the index kind's parameters, a dict (e.g. M, ef_construction, ef_search for hnsw)", "p"},
    {"dim", col_get_dim, NULL, "dimension (0 until fixed by the first write)", NULL},
    {"database", col_get_database, NULL, "the Database this collection belongs to", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods col_as_sequence = {.sq_length = col_len};

PyTypeObject qvpy_col_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "quiver.Collection",
    .tp_basicsize = sizeof(qvpy_col),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = "A collection of records; get one from Database.create_collection / get_collection.",
    .tp_dealloc = col_dealloc,
    .tp_traverse = col_traverse,
    .tp_repr = col_repr,
    .tp_as_sequence = &col_as_sequence,
    .tp_methods = col_methods,
    .tp_getset = col_getset,
    .tp_weaklistoffset = offsetof(qvpy_col, weakrefs),
};
