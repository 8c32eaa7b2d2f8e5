/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * registry.c -- the registry of index kinds: qv_index_kind -> vtable. Strong references on
 * purpose, so that a static link pulls every index kind into the program.
 */
#include "index.h"

const qv_index_vt *qv__index_vt(qv_index_kind kind) {
  switch (kind) {
    case QV_INDEX_FLAT: return &qv__index_flat;
    case QV_INDEX_HNSW: return &qv__index_hnsw;
    default: return NULL;
  }
}
