/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * params.h -- an index kind's parameters, declared once as a table and carried everywhere else
 * as one JSON object (the catalog column, qv_collection_info.params_json, the faces).
 *
 * A kind lists its parameters in a qv_param_spec array. qv__params_resolve() validates a JSON
 * object against it (unknown keys, wrong types and out-of-range values are errors that name the
 * key) and fills one double per parameter, defaults included; qv__params_format() writes the
 * canonical text: every parameter, in table order. The canonical text is what the catalog
 * stores, so a collection's parameters are self-describing and a kind can add a parameter later
 * (an old row simply lacks it and gets the default).
 *
 * Parameters marked `runtime` may change after creation (query-time knobs such as ef_search);
 * the others are fixed when the collection is made.
 */
#ifndef QV_PARAMS_H
#define QV_PARAMS_H

#include <stddef.h>

#include "qv_int.h"

typedef enum qv_param_type {
  QV_PT_UINT = 0, /* an integer in [min, max] */
  QV_PT_NUM = 1,  /* a finite number in [min, max] */
  QV_PT_ENUM = 2, /* one of choices[]; the value is the choice's position */
  QV_PT_BOOL = 3  /* true/false (0/1 also accepted) */
} qv_param_type;

#define QV_MAX_PARAMS 16

typedef struct qv_param_spec {
  const char *name;             /* NULL ends the table */
  qv_param_type type;
  double def, min, max;         /* for ENUM, def is the default choice's position */
  const char *const *choices;   /* ENUM: NULL-terminated */
  int runtime;                  /* may be changed after creation */
  const char *alias;            /* another accepted name (e.g. Chroma's "max_neighbors"), or NULL */
  const char *help;             /* one line for `quiver info` / docs */
} qv_param_spec;

/* Number of entries of spec (up to the NULL name). */
QV_INTERNAL size_t qv__params_count(const qv_param_spec *spec);
/* Position of parameter name (or its alias) in spec, or -1. */
QV_INTERNAL int qv__params_find(const qv_param_spec *spec, const char *name);

/*
 * Validate json (a JSON object text; NULL or "" means {}) against spec and fill vals[] (one per
 * spec entry, defaults for missing keys). When base is not NULL it is the starting point
 * instead of the defaults (used to change runtime knobs); only_runtime then refuses keys that
 * are not runtime. On error returns QV_INVALID with "KEY: reason" in err.
 */
QV_INTERNAL qv_status qv__params_resolve(const qv_param_spec *spec, const char *kind, const char *json,
                                         const double *base, int only_runtime, double *vals, char *err,
                                         size_t errlen);
/* The canonical JSON text of vals (every parameter, table order); NULL on allocation failure. */
QV_INTERNAL char *qv__params_format(const qv_mem *mem, const qv_param_spec *spec, const double *vals);
/* Validate and canonicalise in one step: *canon allocated with mem. */
QV_INTERNAL qv_status qv__params_canon(const qv_mem *mem, const qv_param_spec *spec, const char *kind,
                                       const char *json, char **canon, char *err, size_t errlen);

#endif /* QV_PARAMS_H */
