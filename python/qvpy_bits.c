/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * qvpy_bits.c -- binary vectors for hamming collections: a C-contiguous uint8 buffer of
 * shape (n, bits / 8) (numpy.packbits order, borrowed without a copy), or a bool buffer of
 * shape (n, bits), packed here most significant bit first. A 1-D buffer is one row.
 */
#include "qvpy.h"

static int bits_shape(const Py_buffer *v, size_t row, int shape, const char *field, size_t *n) {
  if (v->ndim == 1 && shape != QVPY_MAT_2D) {
    if ((size_t)v->shape[0] != row)
      return qvpy_raisef(QV_INVALID, "%s: expected %zu values per vector, got %zd", field, row, v->shape[0]), -1;
    *n = 1;
    return 0;
  }
  if (v->ndim == 2 && shape != QVPY_MAT_1D) {
    if ((size_t)v->shape[1] != row)
      return qvpy_raisef(QV_INVALID, "%s[0]: expected %zu values per vector, got %zd", field, row, v->shape[1]), -1;
    *n = (size_t)v->shape[0];
    return 0;
  }
  return qvpy_raisef(QV_INVALID, "%s: expected %s array, got %d dimensions", field,
                     shape == QVPY_MAT_1D ? "a 1-D" : shape == QVPY_MAT_2D ? "a 2-D" : "a 1-D or 2-D", v->ndim),
         -1;
}

int qvpy_bits_parse(PyObject *obj, size_t bits, int shape, const char *field, qvpy_bits *m) {
  memset(m, 0, sizeof *m);
  size_t nb = bits / 8;
  m->nbytes = nb;
  if (!PyObject_CheckBuffer(obj) || PyObject_GetBuffer(obj, &m->view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
    PyErr_Clear();
    return qvpy_type_errorf("%s: a hamming collection takes packed bits: a C-contiguous uint8 array of shape "
                            "(n, %zu) (numpy.packbits) or a bool array of shape (n, %zu)", field, nb, bits),
           -1;
  }
  m->has_view = 1;
  const char *f = m->view.format ? m->view.format : "B";
  if (*f == '<' || *f == '=' || *f == '|' || *f == '@') f++;
  if (m->view.itemsize == 1 && (!strcmp(f, "B") || !strcmp(f, "b"))) {
    if (bits_shape(&m->view, nb, shape, field, &m->n) < 0) return -1;
    m->data = m->view.buf;
    return 0;
  }
  if (m->view.itemsize == 1 && !strcmp(f, "?")) {
    if (bits_shape(&m->view, bits, shape, field, &m->n) < 0) return -1;
    m->owned = PyMem_Calloc(m->n ? m->n * nb : 1, 1);
    if (!m->owned) return PyErr_NoMemory(), -1;
    const unsigned char *src = m->view.buf;
    for (size_t i = 0; i < m->n * bits; i++)
      if (src[i]) m->owned[i / 8] |= (uint8_t)(0x80u >> (i % 8));
    m->data = m->owned;
    return 0;
  }
  return qvpy_type_errorf("%s: expected uint8 (packed bits) or bool values, got format '%s'", field, f), -1;
}

void qvpy_bits_release(qvpy_bits *m) {
  if (m->has_view) PyBuffer_Release(&m->view);
  PyMem_Free(m->owned);
  memset(m, 0, sizeof *m);
}
