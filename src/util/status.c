/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * status.c -- the one table that maps each qv_status to its name, message and HTTP status.
 * The server and the Python exception classes derive from it (qv_status_name/_str/_http).
 */
#include "qv_int.h"

#define QV_STATUS_MAP(X)                                                 \
  X(QV_OK, "ok", 200)                                                    \
  X(QV_ERROR, "error", 500)                                              \
  X(QV_NOMEM, "out of memory", 500)                                      \
  X(QV_INVALID, "invalid argument", 400)                                 \
  X(QV_NOTFOUND, "not found", 404)                                       \
  X(QV_EXISTS, "already exists", 409)                                    \
  X(QV_IO, "input/output error", 500)                                    \
  X(QV_CORRUPT, "file is corrupt or of an unknown format version", 500)  \
  X(QV_BUSY, "data directory is locked by another process", 503)         \
  X(QV_MISUSE, "API misuse", 400)                                        \
  X(QV_UNSUPPORTED, "not supported", 501)

static const struct {
  const char *name, *msg;
  int http;
} status_tab[] = {
#define X(code, msg, http) [code] = {#code, msg, http},
    QV_STATUS_MAP(X)
#undef X
};

#define N_STATUS (sizeof status_tab / sizeof status_tab[0])

const char *qv_status_str(qv_status rc) {
  return (unsigned)rc < N_STATUS && status_tab[rc].msg ? status_tab[rc].msg : "unknown status";
}

const char *qv_status_name(qv_status rc) {
  return (unsigned)rc < N_STATUS && status_tab[rc].name ? status_tab[rc].name : "QV_UNKNOWN";
}

int qv_status_http(qv_status rc) {
  return (unsigned)rc < N_STATUS && status_tab[rc].name ? status_tab[rc].http : 500;
}

int qv_libversion_number(void) { return QV_VERSION_NUMBER; }
const char *qv_libversion(void) { return QV_VERSION_STRING; }
