/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/* Cluster mode: batch identities, positions that carry them, and acknowledgements that count
 * only replicas which applied the very message a writer published (server/cluster/cl_ident.c,
 * cl_core.c; docs/CLUSTER.md "History and identity"). No NATS needed. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cl_int.h"

static const char *U = "0b6c1f3e-8a43-4c1e-9d7e-1f2a3b4c5d6e";

static void cl_init(cluster *cl) {
  memset(cl, 0, sizeof *cl);
  pthread_mutex_init(&cl->mu, NULL);
  pthread_cond_init(&cl->cv, NULL);
  strcpy(cl->node_id, "me");
}

static void cl_fini(cluster *cl) {
  for (size_t i = 0; i < cl->n_applied; i++) free(cl->applied[i]);
  free(cl->applied);
  pthread_mutex_destroy(&cl->mu);
  pthread_cond_destroy(&cl->cv);
}

static cl_result result(uint64_t seq, const char *id) {
  cl_result r;
  memset(&r, 0, sizeof r);
  r.seq = seq;
  r.n = -1;
  strcpy(r.id, id);
  return r;
}

static int count_id(cluster *cl, uint64_t seq, const char *id) {
  pthread_mutex_lock(&cl->mu);
  int n = cl_count_applied_id_locked(cl, U, 1, seq, id);
  pthread_mutex_unlock(&cl->mu);
  return n;
}

static int count_seq(cluster *cl, uint64_t seq) {
  pthread_mutex_lock(&cl->mu);
  int n = cl_count_applied_locked(cl, U, 1, seq);
  pthread_mutex_unlock(&cl->mu);
  return n;
}

Test(cl_ident, position_packs_sequence_and_identity) {
  uint64_t seqs[] = {0, 1, 1632, (UINT64_C(1) << 40) - 1};
  uint32_t hs[] = {CL_IDH_UNKNOWN, 1, 0x123456, CL_IDH_HOLE};
  for (size_t i = 0; i < 4; i++)
    for (size_t j = 0; j < 4; j++) {
      uint64_t p = cl_pos_pack(seqs[i], hs[j]);
      cr_assert_eq(cl_pos_seq(p), seqs[i]);
      cr_assert_eq(cl_pos_idh(p), hs[j]);
    }
  /* a position written before identities existed reads as (seq, unknown) */
  cr_assert_eq(cl_pos_seq(4677), 4677);
  cr_assert_eq(cl_pos_idh(4677), CL_IDH_UNKNOWN);
  /* the "rebuild pending" mark is not a plain position 0 */
  cr_assert_neq(cl_pos_pack(0, CL_IDH_HOLE), 0);
}

Test(cl_ident, identity_hash_is_never_a_reserved_value_and_tells_ids_apart) {
  char id[64];
  int same = 0;
  uint32_t prev = 0;
  for (int i = 0; i < 20000; i++) {
    snprintf(id, sizeof id, "9f0c2a1e-3b4d-4e5f-8a9b-%012d-%d", i, i % 3);
    uint32_t h = cl_idh(id);
    cr_assert(h != CL_IDH_UNKNOWN && h != CL_IDH_HOLE && h <= 0xffffffu, "hash %u of %s", h, id);
    same += h == prev;
    prev = h;
  }
  cr_assert_lt(same, 3, "consecutive ids collide %d times in 20000", same);
  cr_assert_eq(cl_idh("a-0"), cl_idh("a-0"));
  cr_assert(cl_idh_same(CL_IDH_UNKNOWN, 77) && cl_idh_same(77, 77) && !cl_idh_same(77, 78));
}

Test(cl_ident, message_identity_from_body_then_header) {
  char out[64];
  const char *body = "{\"op\":\"add\",\"b\":{\"ids\":[\"x\"]},\"id\":\"r1-2\"}";
  cl_msg_identity(body, (int)strlen(body), "hdr-9", out, sizeof out);
  cr_assert_str_eq(out, "r1-2");
  const char *old = "{\"op\":\"add\",\"b\":{\"ids\":[\"x\"]}}";
  cl_msg_identity(old, (int)strlen(old), "hdr-9", out, sizeof out);
  cr_assert_str_eq(out, "hdr-9");
  cl_msg_identity(old, (int)strlen(old), NULL, out, sizeof out);
  cr_assert_str_eq(out, "");
  cl_msg_identity("not json", 8, NULL, out, sizeof out);
  cr_assert_str_eq(out, "");
}

/* The run-3 trace of bench/RESULTS.md: three replicas at sequence 1632, one of them served
 * by a diverged copy of the stream that holds another message there. */
Test(cl_ident, acks_count_only_replicas_that_applied_this_message) {
  cluster cl;
  cl_init(&cl);
  cl_result mine = result(1632, "req-a-1"), other = result(1632, "req-b-1");
  cl_note_applied(&cl, U, 1, "q1", 1632, 100, &other); /* the diverged copy's message */
  cl_note_applied(&cl, U, 1, "q2", 1632, 100, &mine);
  cr_assert_eq(count_seq(&cl, 1632), 2, "by sequence, both count");
  cr_assert_eq(count_id(&cl, 1632, "req-a-1"), 1, "by identity, only q2 applied the writer's message");
  cr_assert_eq(count_id(&cl, 1632, "req-b-1"), 1);
  /* a report without result (heartbeat) raises the sequence but proves no identity */
  cl_note_applied(&cl, U, 1, "q3", 1700, 100, NULL);
  cr_assert_eq(count_id(&cl, 1632, "req-a-1"), 1);
  cl_note_applied(&cl, U, 1, "q3", 1700, 100, &mine);
  cr_assert_eq(count_id(&cl, 1632, "req-a-1"), 2, "q3's result for 1632 names the writer's message");
  /* another shard or collection does not count */
  pthread_mutex_lock(&cl.mu);
  cr_assert_eq(cl_count_applied_id_locked(&cl, U, 0, 1632, "req-a-1"), 0);
  const cl_result *r = cl_result_locked(&cl, U, 1, 1632, "req-b-1");
  cr_assert(r && !strcmp(r->id, "req-b-1"));
  cr_assert_null(cl_result_locked(&cl, U, 1, 1632, "req-c-1"));
  pthread_mutex_unlock(&cl.mu);
  cl_fini(&cl);
}

Test(cl_ident, a_newer_epoch_replaces_what_a_replica_reported) {
  cluster cl;
  cl_init(&cl);
  cl_result a = result(50, "w-50");
  cl_note_applied(&cl, U, 1, "q1", 50, 1000, &a);
  cr_assert_eq(count_id(&cl, 50, "w-50"), 1);
  /* rebuilt (new epoch): back to 0, and its old results no longer count */
  cl_note_applied(&cl, U, 1, "q1", 0, 2000, NULL);
  cr_assert_eq(count_seq(&cl, 1), 0);
  cr_assert_eq(count_id(&cl, 50, "w-50"), 0);
  /* a late report of the old epoch is ignored */
  cl_note_applied(&cl, U, 1, "q1", 60, 1000, &a);
  cr_assert_eq(count_seq(&cl, 1), 0);
  cr_assert_eq(count_id(&cl, 50, "w-50"), 0);
  /* within the new epoch, the sequence only grows (reports may arrive out of order) */
  cl_note_applied(&cl, U, 1, "q1", 50, 2000, &a);
  cl_note_applied(&cl, U, 1, "q1", 40, 2000, NULL);
  pthread_mutex_lock(&cl.mu);
  cr_assert_eq(cl_applied_of_locked(&cl, U, 1, "q1"), 50);
  pthread_mutex_unlock(&cl.mu);
  cr_assert_eq(count_id(&cl, 50, "w-50"), 1);
  cl_fini(&cl);
}

/* A replica that applied another batch than the others at some sequence is marked suspect
 * there, whichever report comes first (the applier then asks the stream leader). */
Test(cl_ident, cross_check_marks_a_sequence_where_replicas_applied_different_batches) {
  cluster cl;
  cl_replica *r = calloc(1, sizeof *r);
  cl_replica *reps[1] = {r};
  cl_init(&cl);
  cr_assert_not_null(r);
  memcpy(r->uuid, U, 37);
  r->shard = 1;
  cl.reps = reps;
  cl.n_reps = 1;
  /* this node applied "x-1" at 2411 and "w-2" at 2412 */
  r->hist_seq[2411 % CL_HIST] = 2411;
  r->hist[2411 % CL_HIST] = cl_idh("x-1");
  r->hist_seq[2412 % CL_HIST] = 2412;
  r->hist[2412 % CL_HIST] = cl_idh("w-2");
  cl_result same = result(2412, "w-2"), differs = result(2411, "w-1");
  cl_note_applied(&cl, U, 1, "q2", 2412, 5, &same);
  cr_assert_eq(r->suspect, 0, "the same batch at 2412: nothing to check");
  cl_note_applied(&cl, U, 1, "q2", 2412, 5, &differs);
  cr_assert_eq(r->suspect, 2411, "q2 applied w-1 at 2411, this node x-1");
  /* the other order: the remote report is there first, then this node's own */
  r->suspect = 0;
  r->hist_seq[2500 % CL_HIST] = 2500;
  r->hist[2500 % CL_HIST] = cl_idh("y-0");
  cl_result remote = result(2500, "z-0"), own = result(2500, "y-0");
  cl_note_applied(&cl, U, 1, "q3", 2500, 5, &remote);
  cl_note_applied(&cl, U, 1, "me", 2500, 5, &own);
  cr_assert_eq(r->suspect, 2500);
  /* the lowest suspect sequence is kept; a hole reported elsewhere differs from a batch here */
  cl_result hole = result(2411, "");
  r->suspect = 0;
  cl_note_applied(&cl, U, 1, "q3", 2500, 5, &hole);
  cr_assert_eq(r->suspect, 2411);
  /* another shard's reports are not compared */
  r->suspect = 0;
  cl_note_applied(&cl, U, 2, "q2", 2411, 5, &differs);
  cr_assert_eq(r->suspect, 0);
  cl.reps = NULL;
  cl.n_reps = 0;
  free(r);
  cl_fini(&cl);
}
