/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * qvpy.h -- internal declarations shared by the files of the Python module `quiver`.
 *
 * The module is a thin CPython-API layer over include/quiver.h (and nothing else):
 *   quiver.c        module init, exception classes (derived from the qv_status table)
 *   qvpy_convert.c  Python -> C conversions: embeddings, ids, metadata JSON, filters
 *   qvpy_results.c  qv_results -> Chroma-shaped result dicts
 *   qvpy_db.c       quiver.Database
 *   qvpy_col.c      quiver.Collection (the Chroma-shaped face and the lean face)
 *
 * Lifetime and threads. A Collection holds a strong reference to its Database, so a
 * Database object outlives every Collection made from it. Every call that reaches libquiver
 * runs between qvpy_db_enter() and qvpy_db_leave(); both run with the GIL held and count the
 * calls in flight. The GIL is released around every libquiver call that may be slow.
 * Database.close() marks the database closing (new calls raise MisuseError), waits with the
 * GIL released until no call is in flight, releases every collection handle still held
 * (qv_db_close() would leave them dangling), and only then closes.
 */
#ifndef QVPY_H
#define QVPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "quiver.h"

typedef struct qvpy_col qvpy_col;

typedef struct qvpy_db {
  PyObject_HEAD
  qv_db *db;          /* NULL once closed */
  int is_closing;     /* set by close(); new calls refused */
  long n_in_flight;   /* calls between enter and leave; changed with the GIL held only */
  qvpy_col *cols;     /* live Collection objects (borrowed, unlinked by their dealloc) */
  PyObject *weakrefs;
} qvpy_db;

struct qvpy_col {
  PyObject_HEAD
  qvpy_db *owner;     /* strong reference */
  qv_collection *c;   /* NULL once the database was closed */
  qvpy_col *next;
  qvpy_col **pprev;
  PyObject *weakrefs;
};

extern PyTypeObject qvpy_db_type;
extern PyTypeObject qvpy_col_type;

/* ---------------------------------------------------------------- errors (quiver.c) */

/* The exception class for rc (quiver.Error for unknown codes); borrowed. */
PyObject *qvpy_exc_class(qv_status rc);
/* Raise the class for rc with message msg (qv_status_str(rc) when msg is NULL or ""). NULL. */
PyObject *qvpy_raise(qv_status rc, const char *msg);
/* Raise the class for rc with qv_db_errmsg(db) as the message. Returns NULL. */
PyObject *qvpy_raise_db(const qv_db *db, qv_status rc);
/* Raise with a printf-style message (PyUnicode_FromFormat syntax). Return NULL. */
PyObject *qvpy_raisef(qv_status rc, const char *fmt, ...);
/* quiver.ArgumentTypeError (an InvalidArgumentError and a TypeError). Returns NULL. */
PyObject *qvpy_type_errorf(const char *fmt, ...);

/* json.dumps / json.loads, imported at module init; borrowed. */
extern PyObject *qvpy_json_dumps;
extern PyObject *qvpy_json_loads;

/* ---------------------------------------------------------------- db guard (qvpy_db.c) */

/* Refuse if closed/closing (raises MisuseError, returns -1); else count one call in flight. */
int qvpy_db_enter(qvpy_db *d);
void qvpy_db_leave(qvpy_db *d);
/* Wrap a new qv_collection reference (stolen) in a Collection object; NULL on error. */
PyObject *qvpy_col_wrap(qvpy_db *d, qv_collection *c);

/* ---------------------------------------------------------------- conversions (qvpy_convert.c) */

/* A float32 matrix borrowed from a Python object (zero-copy for float32 buffers) or owned. */
typedef struct qvpy_mat {
  const float *data;
  size_t n, dim;
  Py_buffer view;
  int has_view;
  float *owned;
} qvpy_mat;

enum { QVPY_MAT_2D = 0, QVPY_MAT_1D = 1, QVPY_MAT_ANY = 2 };

/*
 * Parse obj as float32 vectors. shape: QVPY_MAT_2D (n, dim) rows, QVPY_MAT_1D one vector,
 * QVPY_MAT_ANY either (a 1-D input is one row). dim 0 accepts any consistent row length.
 * field names the argument in messages ("embeddings[3]: ..."). Returns 0, or -1 with an
 * exception set. Release with qvpy_mat_release() in both cases.
 */
int qvpy_mat_parse(PyObject *obj, size_t dim, int shape, const char *field, qvpy_mat *m);
void qvpy_mat_release(qvpy_mat *m);

/* Snapshot files (qvpy_static.c): quiver.open_static(path, verify=False) -> StaticIndex. */
extern PyTypeObject qvpy_static_type;
PyObject *qvpy_open_static(PyObject *mod, PyObject *args, PyObject *kw);

/* Packed bits for hamming collections (qvpy_bits.c): n rows of nbytes. */
typedef struct qvpy_bits {
  const uint8_t *data;
  size_t n, nbytes;
  Py_buffer view;
  int has_view;
  uint8_t *owned;
} qvpy_bits;

/* Parse obj (uint8 packed, or bool unpacked) for a collection of `bits` bits; shape as for
   qvpy_mat_parse. Returns 0, or -1 with an exception set; release in both cases. */
int qvpy_bits_parse(PyObject *obj, size_t bits, int shape, const char *field, qvpy_bits *m);
void qvpy_bits_release(qvpy_bits *m);

/* A growable string buffer. */
typedef struct qvpy_sb {
  char *buf;
  size_t len, cap;
} qvpy_sb;
int qvpy_sb_put(qvpy_sb *sb, const char *s, size_t n);
void qvpy_sb_free(qvpy_sb *sb);

/*
 * Append the JSON text of a metadata dict to sb, NUL-terminated. Values: str, int, float,
 * bool, None (only if allow_null), lists/tuples of str/int/float/bool. field is the prefix
 * for messages, e.g. "metadatas[3]". Returns 0 or -1 with an exception set.
 */
int qvpy_meta_to_json(PyObject *dict, const char *field, int allow_null, qvpy_sb *sb);
/* JSON object text -> dict (json.loads); NULL text -> None. New reference or NULL. */
PyObject *qvpy_json_to_py(const char *text);

/*
 * A filter argument: None or {} -> *out NULL; dict/list -> JSON via json.dumps into *holder;
 * str -> used as is (*holder holds a reference). Returns 0 or -1 with an exception set.
 */
int qvpy_filter_arg(PyObject *obj, const char *field, PyObject **holder, const char **out);

/* A columnar record batch parsed from Python arguments; release with qvpy_batch_release. */
typedef struct qvpy_batch {
  qv_batch b;
  PyObject *ids_seq;     /* PySequence_Fast of ids */
  PyObject *docs_seq;
  const char **ids;
  const char **metas;
  const char **docs;
  qvpy_sb meta_sb;
  qvpy_mat mat;
} qvpy_batch;

/*
 * Parse ids / embeddings / metadatas / documents (each may be None except ids).
 * need_emb: embeddings are required. meta_null: None values inside a metadata dict allowed
 * (update/upsert: key removal). dim: the collection's dimension (0 = not yet fixed).
 */
int qvpy_batch_parse(qvpy_batch *pb, PyObject *ids, PyObject *embeddings, PyObject *metadatas,
                     PyObject *documents, size_t dim, int need_emb, int meta_null);
void qvpy_batch_release(qvpy_batch *pb);

/* Parse an id list for get/delete into a malloc'd array of borrowed UTF-8 pointers. */
int qvpy_ids_parse(PyObject *ids, const char *field, PyObject **seq, const char ***out, size_t *n);

/*
 * Parse an include list against the allowed QV_INCLUDE_* bits. None -> default bits.
 * *echo receives a new list of the names (the dict's "include"). Returns 0 or -1.
 */
int qvpy_include_parse(PyObject *inc, unsigned allowed, unsigned dflt, unsigned *bits,
                       PyObject **echo);

/* Chroma-shaped result dicts (qvpy_results.c). New reference or NULL; r may be NULL for an
   empty result; echo is borrowed. */
PyObject *qvpy_results_get(const qv_results *r, unsigned include, PyObject *echo);
PyObject *qvpy_results_query(const qv_results *r, unsigned include, PyObject *echo);

/* A Python int in [lo, hi] from obj (bool refused); field names it. Returns 0 or -1. */
int qvpy_as_size(PyObject *obj, const char *field, long long lo, long long hi, long long *out);

/*
 * get()'s arguments (ids, where, where_document, limit, offset, include), shared by
 * Collection.get and StaticIndex.get: parsed into g->o with the references that keep its
 * strings alive; g->want_none when ids=[] or limit=0 (nothing to return, but the filters are
 * still checked by the call). Release with qvpy_getargs_release, also after a failed parse.
 */
typedef struct qvpy_getargs {
  qv_get_opts o;
  int want_none;
  PyObject *ids_seq, *wh, *wdh, *echo;
  const char **idv;
} qvpy_getargs;
int qvpy_getargs_parse(qvpy_getargs *g, PyObject *ids, PyObject *where, PyObject *wdoc, PyObject *limit,
                       PyObject *offset, PyObject *include);
void qvpy_getargs_release(qvpy_getargs *g);

/* A Collection's handle if its database is still open, else NULL with MisuseError set. */
static inline qv_collection *qvpy_col_handle(qvpy_col *self) {
  if (!self->c || !self->owner->db || self->owner->is_closing) {
    qvpy_raise(QV_MISUSE, "the collection's database is closed");
    return NULL;
  }
  return self->c;
}

/*
 * The dimension, read through self->c again: argument parsing may run Python code (json,
 * __index__, __float__), during which another thread may close the database and release
 * the handle. 0 (any length) when it did; the following qvpy_db_enter() then refuses.
 */
static inline size_t qvpy_col_dim(const qvpy_col *self) {
  return self->c && !self->owner->is_closing ? qv_collection_dim(self->c) : 0;
}

/* ---------------------------------------------------------------- advanced reads (qvpy_adv.c) */

PyObject *qvpy_col_range_search(PyObject *self, PyObject *args, PyObject *kw);
PyObject *qvpy_col_range_search_batch(PyObject *self, PyObject *args, PyObject *kw);
PyObject *qvpy_col_combine(PyObject *self, PyObject *args, PyObject *kw);
PyObject *qvpy_col_interpolate(PyObject *self, PyObject *args, PyObject *kw);
PyObject *qvpy_col_centroid_search(PyObject *self, PyObject *args, PyObject *kw);
PyObject *qvpy_col_recommend(PyObject *self, PyObject *args, PyObject *kw);
PyObject *qvpy_col_kmeans(PyObject *self, PyObject *args, PyObject *kw);
PyObject *qvpy_col_text_search(PyObject *self, PyObject *args, PyObject *kw);
PyObject *qvpy_col_hybrid_search(PyObject *self, PyObject *args, PyObject *kw);
/* search(q, k, mmr_lambda=, fetch_k=): the MMR form; q has the collection's dim. */
PyObject *qvpy_col_search_mmr(qvpy_col *self, const float *q, Py_ssize_t k, PyObject *lambda, PyObject *fetch_k);

#endif /* QVPY_H */
