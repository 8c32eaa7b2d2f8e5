/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * qvpy_convert.c -- conversions between Python objects and libquiver's C shapes.
 *
 * Embeddings: a C-contiguous float32 buffer (numpy array, array.array('f'), memoryview) is
 * used in place, without a copy; a float64 buffer is converted in one pass; anything else
 * is read as a sequence of sequences of numbers (slow path, any Python numbers or numpy
 * scalars). Metadata dicts are written as JSON text by a small encoder here, which also
 * enforces the flat value model (str, int, float, bool, lists of those; None only where it
 * means "remove this key") and names the offending field; results are read back with
 * json.loads (the result dicts themselves are built in qvpy_results.c).
 */
#include <math.h>
#include <string.h>

#include "qvpy.h"

#define TNAME(o) (Py_TYPE(o)->tp_name)

/* ---------------------------------------------------------------- small helpers */

int qvpy_sb_put(qvpy_sb *sb, const char *s, size_t n) {
  if (sb->len + n + 1 > sb->cap) {
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + n + 1) cap *= 2;
    char *p = PyMem_Realloc(sb->buf, cap);
    if (!p) {
      PyErr_NoMemory();
      return -1;
    }
    sb->buf = p;
    sb->cap = cap;
  }
  memcpy(sb->buf + sb->len, s, n);
  sb->len += n;
  sb->buf[sb->len] = '\0';
  return 0;
}

void qvpy_sb_free(qvpy_sb *sb) {
  PyMem_Free(sb->buf);
  sb->buf = NULL;
  sb->len = sb->cap = 0;
}

int qvpy_as_size(PyObject *obj, const char *field, long long lo, long long hi, long long *out) {
  if (PyBool_Check(obj) || !PyIndex_Check(obj)) {
    qvpy_type_errorf("%s: expected an int, got %s", field, TNAME(obj));
    return -1;
  }
  PyObject *idx = PyNumber_Index(obj);
  if (!idx) return -1;
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(idx, &overflow);
  Py_DECREF(idx);
  if (v == -1 && PyErr_Occurred()) return -1;
  if (overflow || v < lo || v > hi) {
    qvpy_raisef(QV_INVALID, "%s: must be between %lld and %lld, got %S", field, lo, hi, obj);
    return -1;
  }
  *out = v;
  return 0;
}

/* UTF-8 of a str without embedded NULs; NULL with an exception naming `what`. */
static const char *utf8_of(PyObject *s, PyObject *what) {
  Py_ssize_t len;
  const char *p = PyUnicode_AsUTF8AndSize(s, &len);
  if (!p) {
    PyErr_Clear();
    qvpy_raisef(QV_INVALID, "%U: not encodable as UTF-8", what);
    return NULL;
  }
  if ((size_t)len != strlen(p)) {
    qvpy_raisef(QV_INVALID, "%U: contains a NUL character", what);
    return NULL;
  }
  return p;
}

/* ---------------------------------------------------------------- embeddings */

void qvpy_mat_release(qvpy_mat *m) {
  if (m->has_view) PyBuffer_Release(&m->view);
  m->has_view = 0;
  PyMem_Free(m->owned);
  m->owned = NULL;
  m->data = NULL;
}

/* 'f', 'd' or 0 for a buffer format string, assuming a little-endian host (x86-64). */
static int fmt_kind(const char *f, Py_ssize_t itemsize) {
  if (!f) return 0;
  if (*f == '@' || *f == '=' || *f == '<') f++;
  if (f[0] == 'f' && !f[1] && itemsize == 4) return 'f';
  if (f[0] == 'd' && !f[1] && itemsize == 8) return 'd';
  return 0;
}

static int check_dim(size_t got, size_t *dim, const char *field, Py_ssize_t row) {
  if (got == 0) {
    if (row >= 0) qvpy_raisef(QV_INVALID, "%s[%zd]: empty vector", field, row);
    else qvpy_raisef(QV_INVALID, "%s: empty vector", field);
    return -1;
  }
  if (*dim && got != *dim) {
    if (row >= 0)
      qvpy_raisef(QV_INVALID, "%s[%zd]: expected %zu values (the collection's dimension), got %zu",
                  field, row, *dim, got);
    else
      qvpy_raisef(QV_INVALID, "%s: expected %zu values (the collection's dimension), got %zu", field,
                  *dim, got);
    return -1;
  }
  *dim = got;
  return 0;
}

/* Use m->view if it is float32/float64 of a fitting shape: 0 ok, -1 error, 1 not usable. */
static int mat_from_view(qvpy_mat *m, size_t dim, int shape, const char *field) {
  Py_buffer *v = &m->view;
  int kind = fmt_kind(v->format, v->itemsize);
  size_t n, d;
  if (!kind) return 1;
  if (v->ndim == 1 && shape != QVPY_MAT_2D) {
    n = 1;
    d = (size_t)v->shape[0];
  } else if (v->ndim == 2 && (shape != QVPY_MAT_1D || v->shape[0] == 1)) {
    n = (size_t)v->shape[0];
    d = (size_t)v->shape[1];
  } else {
    qvpy_raisef(QV_INVALID, "%s: expected %s, got an array with %d dimension(s)", field,
                shape == QVPY_MAT_1D ? "a 1-D vector" : "a 2-D array of shape (n, dim)", v->ndim);
    return -1;
  }
  if (n > 0 && check_dim(d, &dim, field, v->ndim == 2 ? 0 : -1) < 0) return -1;
  m->n = n;
  m->dim = d;
  if (kind == 'f') {
    m->data = v->buf;
    return 0;
  }
  m->owned = PyMem_Malloc(n * d * sizeof(float) + 1);
  if (!m->owned) {
    PyErr_NoMemory();
    return -1;
  }
  const double *src = v->buf;
  for (size_t i = 0; i < n * d; i++) m->owned[i] = (float)src[i];
  m->data = m->owned;
  return 0;
}

static int is_scalar_number(PyObject *x) {
  if (PyFloat_Check(x) || PyLong_Check(x)) return 1;
  return !PySequence_Check(x) && PyNumber_Check(x);
}

/* One element: any real number but bool and str. */
static int elem_to_float(PyObject *x, float *out, const char *field, Py_ssize_t i, Py_ssize_t j) {
  double v;
  if (PyFloat_CheckExact(x)) {
    v = PyFloat_AS_DOUBLE(x);
  } else {
    if (PyBool_Check(x) || PyUnicode_Check(x) || PyBytes_Check(x)) goto type_error;
    v = PyFloat_AsDouble(x);
    if (v == -1.0 && PyErr_Occurred()) {
      if (PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        goto type_error;
      }
      if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
        PyErr_Clear();
        v = HUGE_VAL; /* refused as Inf below */
      } else {
        return -1;
      }
    }
  }
  *out = (float)v;
  if (!isfinite(*out)) {
    const char *what = isnan(*out) ? "NaN" : (isfinite(v) ? "out of float32 range" : "Inf");
    if (j >= 0) qvpy_raisef(QV_INVALID, "%s[%zd][%zd]: %s is not allowed", field, i, j, what);
    else qvpy_raisef(QV_INVALID, "%s[%zd]: %s is not allowed", field, i, what);
    return -1;
  }
  return 0;
type_error:
  if (j >= 0) qvpy_type_errorf("%s[%zd][%zd]: expected a number, got %s", field, i, j, TNAME(x));
  else qvpy_type_errorf("%s[%zd]: expected a number, got %s", field, i, TNAME(x));
  return -1;
}

/* Copy row i (a buffer or a sequence of numbers) into dst[0..*dim-1]; *dim 0 = learn it. */
static int row_to_floats(PyObject *row, size_t *dim, float **dst, size_t i, size_t n_rows,
                         qvpy_mat *m, const char *field) {
  Py_ssize_t ri = (Py_ssize_t)i;
  if (PyObject_CheckBuffer(row) && !PyBytes_Check(row) && !PyByteArray_Check(row)) {
    Py_buffer v;
    if (PyObject_GetBuffer(row, &v, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) == 0) {
      int kind = fmt_kind(v.format, v.itemsize);
      if (kind && v.ndim == 1) {
        int rc = check_dim((size_t)v.shape[0], dim, field, ri);
        if (rc == 0 && !*dst) {
          m->owned = PyMem_Malloc(n_rows * *dim * sizeof(float) + 1);
          if (!m->owned) rc = -1, PyErr_NoMemory();
          *dst = m->owned;
        }
        if (rc == 0) {
          float *o = *dst + i * *dim;
          if (kind == 'f') memcpy(o, v.buf, *dim * sizeof(float));
          else for (size_t j = 0; j < *dim; j++) o[j] = (float)((const double *)v.buf)[j];
          for (size_t j = 0; j < *dim && rc == 0; j++)
            if (!isfinite(o[j])) {
              qvpy_raisef(QV_INVALID, "%s[%zd][%zu]: %s is not allowed", field, ri, j,
                          isnan(o[j]) ? "NaN" : "Inf");
              rc = -1;
            }
        }
        PyBuffer_Release(&v);
        return rc;
      }
      PyBuffer_Release(&v);
    } else {
      PyErr_Clear();
    }
  }
  if (PyUnicode_Check(row) || PyBytes_Check(row) || PyDict_Check(row) || !PySequence_Check(row)) {
    qvpy_type_errorf("%s[%zd]: expected a sequence of numbers, got %s", field, ri, TNAME(row));
    return -1;
  }
  PyObject *seq = PySequence_Fast(row, "not a sequence");
  if (!seq) return -1;
  int rc = check_dim((size_t)PySequence_Fast_GET_SIZE(seq), dim, field, ri);
  if (rc == 0 && !*dst) {
    m->owned = PyMem_Malloc(n_rows * *dim * sizeof(float) + 1);
    if (!m->owned) rc = -1, PyErr_NoMemory();
    *dst = m->owned;
  }
  PyObject **items = PySequence_Fast_ITEMS(seq);
  for (size_t j = 0; rc == 0 && j < *dim; j++)
    rc = elem_to_float(items[j], *dst + i * *dim + j, field, ri, (Py_ssize_t)j);
  Py_DECREF(seq);
  return rc;
}

/* The slow path: a (nested) Python sequence of numbers. */
static int mat_from_sequence(PyObject *obj, size_t dim, int shape, const char *field, qvpy_mat *m) {
  PyObject *seq = PySequence_Fast(obj, "not a sequence");
  float *dst = NULL;
  int rc = 0;
  if (!seq) {
    PyErr_Clear();
    qvpy_type_errorf("%s: expected a float32 array or a list of numbers, got %s", field, TNAME(obj));
    return -1;
  }
  Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
  PyObject **items = PySequence_Fast_ITEMS(seq);
  int one_row = shape == QVPY_MAT_1D || (shape == QVPY_MAT_ANY && len > 0 && is_scalar_number(items[0]));
  if (one_row) {
    /* Elements first: a list of lists passed for one vector says so, not "wrong length". */
    m->owned = PyMem_Malloc((size_t)len * sizeof(float) + 1);
    if (!m->owned) {
      PyErr_NoMemory();
      goto fail;
    }
    for (Py_ssize_t j = 0; j < len; j++)
      if (elem_to_float(items[j], m->owned + j, field, j, -1) < 0) goto fail;
    if (check_dim((size_t)len, &dim, field, -1) < 0) goto fail;
    m->n = 1;
  } else {
    for (Py_ssize_t i = 0; i < len && rc == 0; i++)
      rc = row_to_floats(items[i], &dim, &dst, (size_t)i, (size_t)len, m, field);
    if (rc < 0) goto fail;
    m->n = (size_t)len;
  }
  m->dim = dim;
  m->data = m->owned;
  Py_DECREF(seq);
  return 0;
fail:
  Py_DECREF(seq);
  return -1;
}

int qvpy_mat_parse(PyObject *obj, size_t dim, int shape, const char *field, qvpy_mat *m) {
  memset(m, 0, sizeof *m);
  if (PyUnicode_Check(obj) || PyBytes_Check(obj) || PyByteArray_Check(obj) || PyDict_Check(obj)) {
    qvpy_type_errorf("%s: expected a float32 array or a list of numbers, got %s", field, TNAME(obj));
    return -1;
  }
  if (PyObject_CheckBuffer(obj)) {
    if (PyObject_GetBuffer(obj, &m->view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) == 0) {
      m->has_view = 1;
      int rc = mat_from_view(m, dim, shape, field);
      if (rc <= 0) return rc;
      PyBuffer_Release(&m->view);
      m->has_view = 0;
    } else {
      PyErr_Clear(); /* not contiguous: take the sequence path */
    }
  }
  return mat_from_sequence(obj, dim, shape, field, m);
}

/* ---------------------------------------------------------------- ids, include */

int qvpy_ids_parse(PyObject *ids, const char *field, PyObject **seq, const char ***out, size_t *n) {
  *seq = NULL;
  *out = NULL;
  *n = 0;
  if (PyUnicode_Check(ids)) *seq = PyTuple_Pack(1, ids); /* one id alone, as Chroma allows */
  else if (PyBytes_Check(ids) || PyDict_Check(ids) || !PySequence_Check(ids))
    return qvpy_type_errorf("%s: expected a list of str, got %s", field, TNAME(ids)), -1;
  else *seq = PySequence_Fast(ids, "not a sequence");
  if (!*seq) return -1;
  Py_ssize_t len = PySequence_Fast_GET_SIZE(*seq);
  PyObject **items = PySequence_Fast_ITEMS(*seq);
  *out = PyMem_Malloc(((size_t)len + 1) * sizeof(char *));
  if (!*out) return PyErr_NoMemory(), -1;
  for (Py_ssize_t i = 0; i < len; i++) {
    if (!PyUnicode_Check(items[i]))
      return qvpy_type_errorf("%s[%zd]: expected str, got %s", field, i, TNAME(items[i])), -1;
    PyObject *what = PyUnicode_FromFormat("%s[%zd]", field, i);
    if (!what) return -1;
    (*out)[i] = utf8_of(items[i], what);
    Py_DECREF(what);
    if (!(*out)[i]) return -1;
  }
  (*out)[len] = NULL;
  *n = (size_t)len;
  return 0;
}

static const struct {
  const char *name;
  unsigned bit;
} include_tab[] = {
    {"metadatas", QV_INCLUDE_METADATAS},
    {"documents", QV_INCLUDE_DOCUMENTS},
    {"distances", QV_INCLUDE_DISTANCES},
    {"embeddings", QV_INCLUDE_EMBEDDINGS},
};
#define N_INCLUDE (sizeof include_tab / sizeof include_tab[0])

int qvpy_include_parse(PyObject *inc, unsigned allowed, unsigned dflt, unsigned *bits,
                       PyObject **echo) {
  *bits = 0;
  *echo = PyList_New(0);
  if (!*echo) return -1;
  if (!inc || inc == Py_None) {
    for (size_t t = 0; t < N_INCLUDE; t++)
      if ((dflt & include_tab[t].bit)) {
        PyObject *s = PyUnicode_FromString(include_tab[t].name);
        if (!s || PyList_Append(*echo, s) < 0) return Py_XDECREF(s), -1;
        Py_DECREF(s);
      }
    *bits = dflt;
    return 0;
  }
  if (PyUnicode_Check(inc) || !PySequence_Check(inc))
    return qvpy_type_errorf("include: expected a list of str, got %s", TNAME(inc)), -1;
  PyObject *seq = PySequence_Fast(inc, "not a sequence");
  if (!seq) return -1;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
    PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
    const char *s = PyUnicode_Check(it) ? PyUnicode_AsUTF8(it) : NULL;
    size_t t = 0;
    if (!s) {
      PyErr_Clear();
      qvpy_type_errorf("include[%zd]: expected str, got %s", i, TNAME(it));
      goto fail;
    }
    while (t < N_INCLUDE && strcmp(s, include_tab[t].name)) t++;
    if (t == N_INCLUDE || !(allowed & include_tab[t].bit)) {
      qvpy_raisef(QV_INVALID, "include[%zd]: %R is not one of %s", i, it,
                  (allowed & QV_INCLUDE_DISTANCES) ? "'embeddings', 'metadatas', 'documents', 'distances'"
                                                   : "'embeddings', 'metadatas', 'documents'");
      goto fail;
    }
    *bits |= include_tab[t].bit;
    if (PyList_Append(*echo, it) < 0) goto fail;
  }
  Py_DECREF(seq);
  return 0;
fail:
  Py_DECREF(seq);
  return -1;
}

/* ---------------------------------------------------------------- metadata -> JSON */

static int put_json_str(qvpy_sb *sb, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t run = 0;
  if (qvpy_sb_put(sb, "\"", 1) < 0) return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if (qvpy_sb_put(sb, s + run, i - run) < 0) return -1;
    char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
    if (c == '"' || c == '\\') {
      esc[1] = (char)c;
      esc[2] = 0;
    }
    if (qvpy_sb_put(sb, esc, strlen(esc)) < 0) return -1;
    run = i + 1;
  }
  if (qvpy_sb_put(sb, s + run, n - run) < 0) return -1;
  return qvpy_sb_put(sb, "\"", 1);
}

/* A scalar metadata value (not None, not a container); what names it in messages. */
static int put_scalar(PyObject *v, PyObject *what, qvpy_sb *sb) {
  char num[64];
  if (PyBool_Check(v)) return qvpy_sb_put(sb, v == Py_True ? "true" : "false", v == Py_True ? 4 : 5);
  if (PyUnicode_Check(v)) {
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(v, &len);
    if (!s) {
      PyErr_Clear();
      qvpy_raisef(QV_INVALID, "%U: not encodable as UTF-8", what);
      return -1;
    }
    return put_json_str(sb, s, (size_t)len);
  }
  if (PyLong_Check(v) || (PyIndex_Check(v) && !PyFloat_Check(v))) {
    PyObject *idx = PyNumber_Index(v);
    int overflow = 0;
    if (!idx) return -1;
    long long x = PyLong_AsLongLongAndOverflow(idx, &overflow);
    Py_DECREF(idx);
    if (x == -1 && PyErr_Occurred()) return -1;
    if (overflow) {
      qvpy_raisef(QV_INVALID, "%U: integer out of the 64-bit range", what);
      return -1;
    }
    snprintf(num, sizeof num, "%lld", x);
    return qvpy_sb_put(sb, num, strlen(num));
  }
  if (PyFloat_Check(v) || (Py_TYPE(v)->tp_as_number && Py_TYPE(v)->tp_as_number->nb_float &&
                           !PySequence_Check(v) && !PyDict_Check(v))) {
    double x = PyFloat_AsDouble(v);
    if (x == -1.0 && PyErr_Occurred()) return -1;
    if (!isfinite(x)) {
      qvpy_raisef(QV_INVALID, "%U: %s is not allowed", what, isnan(x) ? "NaN" : "Inf");
      return -1;
    }
    char *s = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (!s) return -1;
    int rc = qvpy_sb_put(sb, s, strlen(s));
    PyMem_Free(s);
    return rc;
  }
  if (PyDict_Check(v)) {
    qvpy_raisef(QV_INVALID, "%U: nested objects are not allowed (values are str, int, float, bool "
                            "or lists of those)", what);
    return -1;
  }
  if (PyList_Check(v) || PyTuple_Check(v)) {
    qvpy_raisef(QV_INVALID, "%U: nested lists are not allowed", what);
    return -1;
  }
  qvpy_type_errorf("%s: unsupported metadata value of type %s", PyUnicode_AsUTF8(what), TNAME(v));
  return -1;
}

static int put_value(PyObject *v, PyObject *what, int allow_null, qvpy_sb *sb) {
  if (v == Py_None) {
    if (allow_null) return qvpy_sb_put(sb, "null", 4);
    qvpy_raisef(QV_INVALID, "%U: None is not allowed here (it removes a key in update/upsert only)",
                what);
    return -1;
  }
  if (!PyList_Check(v) && !PyTuple_Check(v)) return put_scalar(v, what, sb);
  Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
  if (n == 0) {
    qvpy_raisef(QV_INVALID, "%U: empty lists are not allowed", what);
    return -1;
  }
  if (qvpy_sb_put(sb, "[", 1) < 0) return -1;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *w = PyUnicode_FromFormat("%U[%zd]", what, i);
    PyObject *it = PySequence_Fast_GET_ITEM(v, i);
    int rc = w ? 0 : -1;
    if (rc == 0 && it == Py_None) {
      qvpy_raisef(QV_INVALID, "%U: None is not allowed in a list", w);
      rc = -1;
    }
    if (rc == 0 && i > 0) rc = qvpy_sb_put(sb, ",", 1);
    if (rc == 0) rc = put_scalar(it, w, sb);
    Py_XDECREF(w);
    if (rc < 0) return -1;
  }
  return qvpy_sb_put(sb, "]", 1);
}

int qvpy_meta_to_json(PyObject *dict, const char *field, int allow_null, qvpy_sb *sb) {
  Py_ssize_t pos = 0, i = 0;
  PyObject *k, *v;
  if (!PyDict_Check(dict)) {
    qvpy_type_errorf("%s: expected a dict, got %s", field, TNAME(dict));
    return -1;
  }
  if (qvpy_sb_put(sb, "{", 1) < 0) return -1;
  while (PyDict_Next(dict, &pos, &k, &v)) {
    Py_ssize_t klen;
    const char *ks;
    if (!PyUnicode_Check(k)) {
      qvpy_type_errorf("%s: keys must be str, got %s", field, TNAME(k));
      return -1;
    }
    PyObject *what = PyUnicode_FromFormat("%s[%R]", field, k);
    if (!what) return -1;
    ks = PyUnicode_AsUTF8AndSize(k, &klen);
    int rc = 0;
    if (!ks) {
      PyErr_Clear();
      qvpy_raisef(QV_INVALID, "%U: key not encodable as UTF-8", what);
      rc = -1;
    }
    if (rc == 0 && i++ > 0) rc = qvpy_sb_put(sb, ",", 1);
    if (rc == 0) rc = put_json_str(sb, ks, (size_t)klen);
    if (rc == 0) rc = qvpy_sb_put(sb, ":", 1);
    if (rc == 0) rc = put_value(v, what, allow_null, sb);
    Py_DECREF(what);
    if (rc < 0) return -1;
  }
  if (qvpy_sb_put(sb, "}", 1) < 0) return -1;
  return qvpy_sb_put(sb, "", 1); /* keep the NUL inside: the next object starts after it */
}

PyObject *qvpy_json_to_py(const char *text) {
  if (!text) Py_RETURN_NONE;
  PyObject *s = PyUnicode_FromString(text);
  if (!s) return NULL;
  PyObject *r = PyObject_CallOneArg(qvpy_json_loads, s);
  Py_DECREF(s);
  return r;
}

int qvpy_filter_arg(PyObject *obj, const char *field, PyObject **holder, const char **out) {
  *holder = NULL;
  *out = NULL;
  if (!obj || obj == Py_None) return 0;
  if (PyDict_Check(obj) && PyDict_GET_SIZE(obj) == 0) return 0;
  if (PyUnicode_Check(obj)) {
    *holder = Py_NewRef(obj);
  } else if (PyDict_Check(obj)) {
    *holder = PyObject_CallOneArg(qvpy_json_dumps, obj);
    if (!*holder) {
      PyObject *et, *ev, *tb;
      PyErr_Fetch(&et, &ev, &tb);
      qvpy_raisef(QV_INVALID, "%s: cannot be encoded as JSON: %S", field, ev ? ev : Py_None);
      Py_XDECREF(et);
      Py_XDECREF(ev);
      Py_XDECREF(tb);
      return -1;
    }
  } else {
    qvpy_type_errorf("%s: expected a dict (or JSON text), got %s", field, TNAME(obj));
    return -1;
  }
  PyObject *what = PyUnicode_FromString(field);
  if (!what) return -1;
  *out = utf8_of(*holder, what);
  Py_DECREF(what);
  return *out ? 0 : -1;
}

/* ---------------------------------------------------------------- batches */

/* A list for a per-record argument: one object alone is wrapped when n == 1. */
static PyObject *column_seq(PyObject *obj, const char *field, size_t n, int single_ok) {
  PyObject *seq;
  if (single_ok && n == 1) seq = PyTuple_Pack(1, obj);
  else if (PyUnicode_Check(obj) || PyDict_Check(obj) || !PySequence_Check(obj))
    return qvpy_type_errorf("%s: expected a list, got %s", field, TNAME(obj));
  else seq = PySequence_Fast(obj, "not a sequence");
  if (seq && (size_t)PySequence_Fast_GET_SIZE(seq) != n) {
    qvpy_raisef(QV_INVALID, "%s: %zd entries for %zu ids", field, PySequence_Fast_GET_SIZE(seq), n);
    Py_CLEAR(seq);
  }
  return seq;
}

static int batch_metadatas(qvpy_batch *pb, PyObject *metadatas, size_t n, int meta_null) {
  size_t *off = NULL;
  int rc = -1;
  PyObject *seq = column_seq(metadatas, "metadatas", n, PyDict_Check(metadatas));
  if (!seq) return -1;
  off = PyMem_Malloc(n * sizeof *off + 1);
  pb->metas = PyMem_Malloc(n * sizeof(char *) + 1);
  if (!off || !pb->metas) {
    PyErr_NoMemory();
    goto cleanup;
  }
  for (size_t i = 0; i < n; i++) {
    PyObject *it = PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)i);
    char field[48];
    off[i] = (size_t)-1;
    if (it == Py_None) continue;
    snprintf(field, sizeof field, "metadatas[%zu]", i);
    off[i] = pb->meta_sb.len;
    if (qvpy_meta_to_json(it, field, meta_null, &pb->meta_sb) < 0) goto cleanup;
  }
  for (size_t i = 0; i < n; i++) pb->metas[i] = off[i] == (size_t)-1 ? NULL : pb->meta_sb.buf + off[i];
  rc = 0;
cleanup:
  PyMem_Free(off);
  Py_DECREF(seq);
  return rc;
}

static int batch_documents(qvpy_batch *pb, PyObject *documents, size_t n) {
  pb->docs_seq = column_seq(documents, "documents", n, PyUnicode_Check(documents));
  if (!pb->docs_seq) return -1;
  pb->docs = PyMem_Malloc(n * sizeof(char *) + 1);
  if (!pb->docs) return PyErr_NoMemory(), -1;
  for (size_t i = 0; i < n; i++) {
    PyObject *it = PySequence_Fast_GET_ITEM(pb->docs_seq, (Py_ssize_t)i);
    pb->docs[i] = NULL;
    if (it == Py_None) continue;
    if (!PyUnicode_Check(it))
      return qvpy_type_errorf("documents[%zu]: expected str or None, got %s", i, TNAME(it)), -1;
    PyObject *what = PyUnicode_FromFormat("documents[%zu]", i);
    if (!what) return -1;
    pb->docs[i] = utf8_of(it, what);
    Py_DECREF(what);
    if (!pb->docs[i]) return -1;
  }
  return 0;
}

int qvpy_batch_parse(qvpy_batch *pb, PyObject *ids, PyObject *embeddings, PyObject *metadatas,
                     PyObject *documents, size_t dim, int need_emb, int meta_null) {
  size_t n;
  memset(pb, 0, sizeof *pb);
  if (!ids || ids == Py_None) return qvpy_type_errorf("ids: required"), -1;
  if (qvpy_ids_parse(ids, "ids", &pb->ids_seq, &pb->ids, &n) < 0) return -1;
  if (n == 0) return qvpy_raisef(QV_INVALID, "ids: empty batch (at least one id is required)"), -1;
  if (embeddings && embeddings != Py_None) {
    if (qvpy_mat_parse(embeddings, dim, QVPY_MAT_ANY, "embeddings", &pb->mat) < 0) return -1;
    if (pb->mat.n != n)
      return qvpy_raisef(QV_INVALID, "embeddings: %zu embeddings for %zu ids", pb->mat.n, n), -1;
  } else if (need_emb) {
    return qvpy_raisef(QV_INVALID, "embeddings: required"), -1;
  }
  if (metadatas && metadatas != Py_None && batch_metadatas(pb, metadatas, n, meta_null) < 0) return -1;
  if (documents && documents != Py_None && batch_documents(pb, documents, n) < 0) return -1;
  pb->b.n = n;
  pb->b.ids = pb->ids;
  pb->b.embeddings = pb->mat.data;
  pb->b.dim = (uint32_t)pb->mat.dim; /* fixes the dimension of a collection created with 0 */
  pb->b.metadatas = pb->metas;
  pb->b.documents = pb->docs;
  return 0;
}

void qvpy_batch_release(qvpy_batch *pb) {
  qvpy_mat_release(&pb->mat);
  qvpy_sb_free(&pb->meta_sb);
  PyMem_Free(pb->ids);
  PyMem_Free(pb->metas);
  PyMem_Free(pb->docs);
  Py_XDECREF(pb->ids_seq);
  Py_XDECREF(pb->docs_seq);
  memset(pb, 0, sizeof *pb);
}

int qvpy_getargs_parse(qvpy_getargs *g, PyObject *ids, PyObject *where, PyObject *wdoc, PyObject *limit,
                       PyObject *offset, PyObject *include) {
  long long lim = 0, off = 0;
  memset(g, 0, sizeof *g);
  qv_get_opts_init(&g->o);
  if (ids != Py_None && qvpy_ids_parse(ids, "ids", &g->ids_seq, &g->idv, &g->o.n_ids) < 0) return -1;
  g->o.ids = g->idv;
  if (qvpy_filter_arg(where, "where", &g->wh, &g->o.where_json) < 0) return -1;
  if (qvpy_filter_arg(wdoc, "where_document", &g->wdh, &g->o.where_document_json) < 0) return -1;
  if (limit != Py_None && qvpy_as_size(limit, "limit", 0, PY_SSIZE_T_MAX, &lim) < 0) return -1;
  if (offset && offset != Py_None && qvpy_as_size(offset, "offset", 0, PY_SSIZE_T_MAX, &off) < 0) return -1;
  if (qvpy_include_parse(include, QV_INCLUDE_EMBEDDINGS | QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS,
                         QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS, &g->o.include, &g->echo) < 0)
    return -1;
  g->o.limit = (size_t)lim;
  g->o.offset = (size_t)off;
  g->want_none = (ids != Py_None && g->o.n_ids == 0) || (limit != Py_None && lim == 0);
  if (g->want_none) {
    g->o.ids = NULL;
    g->o.n_ids = 0;
    g->o.limit = 1;
  }
  return 0;
}

void qvpy_getargs_release(qvpy_getargs *g) {
  PyMem_Free(g->idv);
  Py_XDECREF(g->ids_seq);
  Py_XDECREF(g->wh);
  Py_XDECREF(g->wdh);
  Py_XDECREF(g->echo);
  memset(g, 0, sizeof *g);
}
