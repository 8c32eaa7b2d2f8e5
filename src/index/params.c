/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * params.c -- validation and canonical text of an index kind's parameters (params.h).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "params.h"

size_t qv__params_count(const qv_param_spec *spec) {
  size_t n = 0;
  while (spec && spec[n].name) n++;
  return n;
}

int qv__params_find(const qv_param_spec *spec, const char *name) {
  for (size_t i = 0; spec && spec[i].name; i++)
    if (strcmp(spec[i].name, name) == 0 || (spec[i].alias && strcmp(spec[i].alias, name) == 0)) return (int)i;
  return -1;
}

static void known_list(const qv_param_spec *spec, char *buf, size_t len) {
  size_t off = 0;
  buf[0] = 0;
  for (size_t i = 0; spec && spec[i].name && off < len; i++) {
    int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", spec[i].name);
    if (w < 0) break;
    off += (size_t)w;
  }
  if (!spec || !spec[0].name) qv__fmt(buf, len, "none");
}

static void choices_list(const qv_param_spec *p, char *buf, size_t len) {
  size_t off = 0;
  buf[0] = 0;
  for (size_t i = 0; p->choices[i] && off < len; i++) {
    int w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", p->choices[i]);
    if (w < 0) break;
    off += (size_t)w;
  }
}

/* One value: check its type and range, write it to *out. */
static qv_status one_value(const qv_param_spec *p, const json_t *v, double *out, char *err, size_t errlen) {
  char buf[256];
  switch (p->type) {
  case QV_PT_BOOL:
    if (json_is_boolean(v)) { *out = json_is_true(v) ? 1 : 0; return QV_OK; }
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
      *out = (double)json_integer_value(v);
      return QV_OK;
    }
    qv__fmt(err, errlen, "%s: expected true or false", p->name);
    return QV_INVALID;
  case QV_PT_ENUM:
    if (json_is_string(v)) {
      for (size_t i = 0; p->choices[i]; i++)
        if (strcmp(json_string_value(v), p->choices[i]) == 0) { *out = (double)i; return QV_OK; }
    }
    choices_list(p, buf, sizeof buf);
    qv__fmt(err, errlen, "%s: expected one of %s", p->name, buf);
    return QV_INVALID;
  case QV_PT_UINT:
  case QV_PT_NUM: {
    if (!json_is_number(v)) {
      qv__fmt(err, errlen, "%s: expected a number", p->name);
      return QV_INVALID;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || (p->type == QV_PT_UINT && d != floor(d))) {
      qv__fmt(err, errlen, "%s: expected %s", p->name, p->type == QV_PT_UINT ? "an integer" : "a finite number");
      return QV_INVALID;
    }
    if (d < p->min || d > p->max) {
      qv__fmt(err, errlen, "%s: %g is outside %g..%g", p->name, d, p->min, p->max);
      return QV_INVALID;
    }
    *out = d;
    return QV_OK;
  }
  }
  qv__fmt(err, errlen, "%s: bad parameter type", p->name);
  return QV_INVALID;
}

qv_status qv__params_resolve(const qv_param_spec *spec, const char *kind, const char *json, const double *base,
                             int only_runtime, double *vals, char *err, size_t errlen) {
  size_t n = qv__params_count(spec);
  if (n > QV_MAX_PARAMS) {
    qv__fmt(err, errlen, "index kind %s declares too many parameters", kind);
    return QV_INVALID;
  }
  for (size_t i = 0; i < n; i++) vals[i] = base ? base[i] : spec[i].def;
  if (!json || !*json) return QV_OK;
  json_error_t je;
  json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &je);
  if (!o) {
    qv__fmt(err, errlen, "params: not valid JSON: %s", je.text);
    return QV_INVALID;
  }
  qv_status rc = QV_OK;
  if (!json_is_object(o)) {
    qv__fmt(err, errlen, "params: expected a JSON object");
    rc = QV_INVALID;
  }
  const char *key;
  json_t *v;
  unsigned char seen[QV_MAX_PARAMS] = {0};
  if (rc == QV_OK) json_object_foreach(o, key, v) {
    int i = qv__params_find(spec, key);
    if (i < 0) {
      char buf[256];
      known_list(spec, buf, sizeof buf);
      qv__fmt(err, errlen, "%s: unknown parameter for index kind %s (known: %s)", key, kind, buf);
      rc = QV_INVALID;
      break;
    }
    if (seen[i]) {
      qv__fmt(err, errlen, "%s: given twice (once as %s)", spec[i].name, key);
      rc = QV_INVALID;
      break;
    }
    seen[i] = 1;
    double d;
    if ((rc = one_value(&spec[i], v, &d, err, errlen))) break;
    if (only_runtime && !spec[i].runtime && (!base || d != base[i])) {
      qv__fmt(err, errlen, "%s: fixed when the collection was created (only query-time parameters can change)",
              spec[i].name);
      rc = QV_INVALID;
      break;
    }
    vals[i] = d;
  }
  json_decref(o);
  return rc;
}

char *qv__params_format(const qv_mem *mem, const qv_param_spec *spec, const double *vals) {
  json_t *o = json_object();
  if (!o) return NULL;
  int ok = 1;
  for (size_t i = 0; ok && spec && spec[i].name; i++) {
    json_t *v = NULL;
    switch (spec[i].type) {
    case QV_PT_BOOL: v = json_boolean(vals[i] != 0); break;
    case QV_PT_ENUM: v = json_string(spec[i].choices[(size_t)vals[i]]); break;
    case QV_PT_UINT: v = json_integer((json_int_t)vals[i]); break;
    case QV_PT_NUM: v = json_real(vals[i]); break;
    }
    ok = v && json_object_set_new(o, spec[i].name, v) == 0;
  }
  char *s = ok ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(o);
  if (!s) return NULL;
  char *out = qv__strdup(mem, s);
  free(s);
  return out;
}

qv_status qv__params_canon(const qv_mem *mem, const qv_param_spec *spec, const char *kind, const char *json,
                           char **canon, char *err, size_t errlen) {
  double vals[QV_MAX_PARAMS];
  *canon = NULL;
  qv_status rc = qv__params_resolve(spec, kind, json, NULL, 0, vals, err, errlen);
  if (rc) return rc;
  if (!(*canon = qv__params_format(mem, spec, vals))) return QV_NOMEM;
  return QV_OK;
}
