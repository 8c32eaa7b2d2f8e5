/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cl_ident.c -- the identity of a shard's write batches (docs/CLUSTER.md, "History and
 * identity").
 *
 * Every batch a coordinator publishes carries its publish's message id ("<request uuid>-<k>",
 * also the Nats-Msg-Id header JetStream de-duplicates on) as "id" in its JSON body. A replica
 * stores, with the applied stream sequence, a 24-bit hash of the identity of the batch it
 * applied there (both in one 64-bit position value, so they commit in the batch's own SQLite
 * transaction), reports the identity with each applied sequence, and compares it with the
 * stream leader's message at that sequence to find out whether its history is the leader's.
 */
#include <stdio.h>
#include <string.h>

#include "cl_int.h"

uint64_t cl_pos_pack(uint64_t seq, uint32_t idh) {
  return (seq & CL_POS_SEQ_MASK) | ((uint64_t)(idh & 0xffffffu) << CL_POS_SEQ_BITS);
}

uint64_t cl_pos_seq(uint64_t pos) { return pos & CL_POS_SEQ_MASK; }

uint32_t cl_pos_idh(uint64_t pos) { return (uint32_t)(pos >> CL_POS_SEQ_BITS) & 0xffffffu; }

uint32_t cl_idh(const char *id) {
  uint64_t h = cl_hash(id, strlen(id));
  uint32_t v = (uint32_t)(h ^ (h >> 24) ^ (h >> 48)) & 0xffffffu;
  if (v == CL_IDH_UNKNOWN || v == CL_IDH_HOLE) v = 1;
  return v;
}

int cl_idh_same(uint32_t a, uint32_t b) { return a == CL_IDH_UNKNOWN || b == CL_IDH_UNKNOWN || a == b; }

void cl_msg_identity(const char *data, int len, const char *hdr_id, char *out, size_t outlen) {
  json_t *j = data && len > 0 ? json_loadb(data, (size_t)len, 0, NULL) : NULL;
  const char *id = json_string_value(json_object_get(j, "id"));
  snprintf(out, outlen, "%s", id ? id : hdr_id ? hdr_id : "");
  json_decref(j);
}
