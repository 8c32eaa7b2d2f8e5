/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/* Cluster snapshots: the pieces of JetStream's object-store layout written by
 * server/cluster/cl_snap.c (SHA-256 digests, base64url names), checked against known values.
 * No NATS needed; tests/cluster/test_snapshot.py runs the whole thing on a real cluster. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cl_int.h"

static void hex(const uint8_t *d, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha_of(const void *data, size_t n, char out[65]) {
  cl_sha256 s;
  uint8_t d[32];
  cl_sha256_init(&s);
  cl_sha256_update(&s, data, n);
  cl_sha256_final(&s, d);
  hex(d, 32, out);
}

Test(cl_snap, sha256_known_vectors) {
  char h[65];
  sha_of("", 0, h);
  cr_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  sha_of("abc", 3, h);
  cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: padding spills */
  sha_of(two, strlen(two), h);
  cr_assert_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  /* a million 'a' fed in uneven pieces equals the one-shot digest */
  char *m = malloc(1000000);
  cr_assert(m);
  memset(m, 'a', 1000000);
  cl_sha256 s;
  uint8_t d[32];
  cl_sha256_init(&s);
  for (size_t off = 0, step = 1; off < 1000000; off += step, step = step * 3 % 9973 + 1)
    cl_sha256_update(&s, m + off, off + step > 1000000 ? 1000000 - off : step);
  cl_sha256_final(&s, d);
  hex(d, 32, h);
  cr_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  free(m);
}

Test(cl_snap, base64_both_alphabets_round_trip) {
  char out[64];
  uint8_t back[64];
  cr_assert_eq(cl_b64("f", 1, 0, out), 4);
  cr_assert_str_eq(out, "Zg==");
  cl_b64("foob", 4, 0, out);
  cr_assert_str_eq(out, "Zm9vYg==");
  cl_b64("\xfb\xff\xbf", 3, 0, out);
  cr_assert_str_eq(out, "+/+/");
  cl_b64("\xfb\xff\xbf", 3, 1, out);
  cr_assert_str_eq(out, "-_-_");
  cr_assert_eq(cl_unb64("-_-_", 4, back), 3);
  cr_assert_eq(memcmp(back, "\xfb\xff\xbf", 3), 0);
  cr_assert_eq(cl_unb64("Zm9vYg==", 8, back), 4);
  cr_assert_eq(memcmp(back, "foob", 4), 0);
  cr_assert_eq(cl_unb64("Zm9vYg", 6, back), 4); /* padding optional */
  cr_assert_eq(cl_unb64("Zm9v!g==", 8, back), -1);
}

Test(cl_snap, object_names_and_meta_subjects) {
  char name[64], subj[160];
  cl_snap_name("0b6c1f3e-8a43-4c1e-9d7e-1f2a3b4c5d6e", 3, name);
  cr_assert_str_eq(name, "0b6c1f3e-8a43-4c1e-9d7e-1f2a3b4c5d6e/3");
  cl_snap_meta_subject("a/b?", subj); /* base64url, padded, as object-store clients encode names */
  cr_assert_str_eq(subj, "$O.quiver.M.YS9iPw==");
  cl_snap_meta_subject(name, subj);
  cr_assert(!strchr(subj + 12, '/') && !strchr(subj + 12, '+') && !strchr(subj + 12, '.'));
}
