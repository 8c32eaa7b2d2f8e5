/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * registry.c -- the index kinds built into this library, by name. Adding a kind is one folder
 * under src/index/ and one line here. Strong references on purpose, so that a static link
 * pulls every kind into the program.
 */
#include <string.h>

#include "index.h"

static const qv_index_vt *const kinds[] = {
    &qv__index_flat,
    &qv__index_hnsw,
    &qv__index_rpforest,
    &qv__index_ivf,
    NULL,
};

const qv_index_vt *const *qv__index_all(void) { return kinds; }

const qv_index_vt *qv__index_find(const char *name) {
  for (size_t i = 0; name && kinds[i]; i++)
    if (strcmp(kinds[i]->name, name) == 0) return kinds[i];
  return NULL;
}

const char *const *qv_index_kinds(void) {
  static const char *names[sizeof kinds / sizeof kinds[0]];
  for (size_t i = 0; kinds[i]; i++) names[i] = kinds[i]->name; /* same values every call */
  return names;
}

qv_status qv_index_params_describe(const char *kind, char **json_out) {
  if (!json_out) return QV_MISUSE;
  *json_out = NULL;
  const qv_index_vt *vt = qv__index_find(kind);
  if (!vt) return QV_NOTFOUND;
  char err[256];
  char *canon = NULL;
  qv_status rc = qv__params_canon(qv__mem_default(), vt->params, vt->name, NULL, &canon, err, sizeof err);
  if (rc) return rc;
  *json_out = strdup(canon);
  qv__free(qv__mem_default(), canon);
  return *json_out ? QV_OK : QV_NOMEM;
}
