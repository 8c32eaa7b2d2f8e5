/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cl_snap.c -- snapshots of shard replicas in JetStream's object store (docs/CLUSTER.md,
 * "Snapshots").
 *
 * nats.c 3.4 has no object-store API, so the object store's layout (ADR-20) is written and
 * read here through the raw JetStream API, and `nats object ls|info|get quiver` can read it:
 *   stream   OBJ_quiver, subjects $O.quiver.C.> and $O.quiver.M.>, file storage, the shard
 *            streams' replicas, rollup headers allowed, direct get, discard new
 *   chunks   $O.quiver.C.<nuid>, 128 KiB each, in order
 *   meta     $O.quiver.M.<base64url(name)>, published with "Nats-Rollup: sub" (the stream keeps
 *            only the latest per name): {"name","bucket","nuid","size","chunks","mtime",
 *            "digest": "SHA-256=<base64url>", "options", "metadata"}; metadata carries the
 *            position the snapshot holds (quiver-seq, quiver-idh, quiver-id)
 * One object per shard, named "<collection uuid>/<shard>". A newer object of a name replaces
 * the older one: once its meta is stored, the older chunks are purged.
 *
 * Content (a text file, one JSON document per line):
 *   {"format":"quiver-shard-snapshot","version":1,"collection":U,"shard":k,"seq":P,"idh":h,"id":I}
 *   {"ids":[..],"embeddings":[..],"metadatas":[..],"documents":[..],"uris":[..]}   pages of
 *   ...                                        at most SNAP_PAGE records, in insertion order
 *   {"end":true,"records":n}
 * i.e. the replica's local collection at stream position P (the batch applied there, its
 * identity and its hash), read page by page through the node's own get route by the applier
 * thread itself between two batches: nothing else writes that collection, so the copy is the
 * state at exactly P.
 *
 * Who and when: after every --snapshot-batches batches or --snapshot-bytes bytes applied since
 * the shard's last snapshot, the live member of the shard's placement furthest ahead (the
 * first in rendezvous order among equals) takes one; then the shard's stream is purged below
 * min(P, the applied sequence every live placed replica reported), so no live replica loses
 * a batch it still needs; a replica that was down restores from the snapshot instead.
 *
 * Restore: a replica with nothing applied (new, or rebuilt) starts from the latest snapshot
 * when there is one; a replica whose next batch is below the stream's first sequence must.
 * The object is downloaded to DATA/cluster-snap/, its size, chunk count and SHA-256 digest
 * checked, its position compared with the stream leader's message there (when the stream
 * still has it); then the position gets the "restore pending" mark (the same as a rebuild's:
 * a crash from here on makes the next start drop the local collection and restore again),
 * the local collection is made anew, the pages are added, and the position (P, identity
 * hash) is stored last. A snapshot that fails a check is refused with a log line naming the
 * check; the replica then replays the stream when it still has the history, and otherwise
 * reports that it cannot catch up and waits for a newer snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cl_int.h"

#define SNAP_BUCKET "quiver"
#define SNAP_STREAM "OBJ_quiver"
#define SNAP_CHUNK (128 * 1024)
#define SNAP_PAGE 1000
#define SNAP_FORMAT "quiver-shard-snapshot"

/* ------------------------------------------------------------------ SHA-256, base64 */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(cl_sha256 *s, const uint8_t *p) {
  uint32_t w[64], a[8];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  memcpy(a, s->h, sizeof a);
  for (int i = 0; i < 64; i++) {
    uint32_t S1 = ROR(a[4], 6) ^ ROR(a[4], 11) ^ ROR(a[4], 25);
    uint32_t ch = (a[4] & a[5]) ^ (~a[4] & a[6]);
    uint32_t t1 = a[7] + S1 + ch + K256[i] + w[i];
    uint32_t S0 = ROR(a[0], 2) ^ ROR(a[0], 13) ^ ROR(a[0], 22);
    uint32_t mj = (a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]);
    uint32_t t2 = S0 + mj;
    memmove(&a[1], &a[0], 7 * sizeof a[0]);
    a[4] += t1;
    a[0] = t1 + t2;
  }
  for (int i = 0; i < 8; i++) s->h[i] += a[i];
}

void cl_sha256_init(cl_sha256 *s) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, h0, sizeof h0);
  s->len = 0;
  s->n = 0;
}

void cl_sha256_update(cl_sha256 *s, const void *data, size_t n) {
  const uint8_t *p = data;
  s->len += n;
  while (n) {
    size_t take = 64 - s->n < n ? 64 - s->n : n;
    memcpy(s->buf + s->n, p, take);
    s->n += take;
    p += take;
    n -= take;
    if (s->n == 64) {
      sha_block(s, s->buf);
      s->n = 0;
    }
  }
}

void cl_sha256_final(cl_sha256 *s, uint8_t out[32]) {
  uint64_t bits = s->len * 8;
  uint8_t pad = 0x80, zero = 0, lb[8];
  cl_sha256_update(s, &pad, 1);
  while (s->n != 56) cl_sha256_update(s, &zero, 1);
  for (int i = 0; i < 8; i++) lb[i] = (uint8_t)(bits >> (56 - 8 * i));
  cl_sha256_update(s, lb, 8);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t)(s->h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
    out[4 * i + 3] = (uint8_t)s->h[i];
  }
}

size_t cl_b64(const void *in, size_t n, int url, char *out) {
  static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static const char urls[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char *a = url ? urls : std;
  const uint8_t *p = in;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    out[o++] = a[v >> 18 & 63];
    out[o++] = a[v >> 12 & 63];
    out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? a[v & 63] : '=';
  }
  out[o] = 0;
  return o;
}

long cl_unb64(const char *in, size_t n, uint8_t *out) {
  uint32_t v = 0;
  int bits = 0;
  long o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)in[i], d;
    if (c >= 'A' && c <= 'Z') d = c - 'A';
    else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
    else if (c >= '0' && c <= '9') d = c - '0' + 52;
    else if (c == '+' || c == '-') d = 62;
    else if (c == '/' || c == '_') d = 63;
    else if (c == '=') break;
    else return -1;
    v = v << 6 | (uint32_t)d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(v >> bits);
    }
  }
  return o;
}

void cl_snap_name(const char *uuid, int k, char name[64]) { snprintf(name, 64, "%s/%d", uuid, k); }

void cl_snap_meta_subject(const char *name, char out[160]) {
  char enc[128];
  cl_b64(name, strlen(name), 1, enc);
  snprintf(out, 160, "$O.%s.M.%s", SNAP_BUCKET, enc);
}

/* ------------------------------------------------------------------ object store I/O */

static void nap_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* The object store's stream, made on first use (the shard streams' replicas). 0 ok. */
static int ensure_stream(cluster *cl) {
  if (__atomic_load_n(&cl->snap_stream_ok, __ATOMIC_ACQUIRE)) return 0;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  if (js_GetStreamInfo(&si, cl->js, SNAP_STREAM, NULL, &jerr) == NATS_OK && si) {
    jsStreamInfo_Destroy(si);
    __atomic_store_n(&cl->snap_stream_ok, 1, __ATOMIC_RELEASE);
    return 0;
  }
  const char *subjs[2] = {"$O." SNAP_BUCKET ".C.>", "$O." SNAP_BUCKET ".M.>"};
  natsStatus st = NATS_ERR;
  for (int replicas = cl->stream_replicas ? cl->stream_replicas : 3; replicas >= 1; replicas -= 2) {
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = SNAP_STREAM;
    sc.Subjects = subjs;
    sc.SubjectsLen = 2;
    sc.Storage = js_FileStorage;
    sc.Replicas = replicas;
    sc.AllowRollup = true;
    sc.AllowDirect = true;
    sc.Discard = js_DiscardNew;
    si = NULL;
    st = js_AddStream(&si, cl->js, &sc, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (st == NATS_OK) break;
    si = NULL;
    if (js_GetStreamInfo(&si, cl->js, SNAP_STREAM, NULL, NULL) == NATS_OK && si) { /* another node made it */
      jsStreamInfo_Destroy(si);
      st = NATS_OK;
      break;
    }
  }
  if (st != NATS_OK) {
    srv_log(cl->s, SRV_LOG_WARN, "cluster: snapshot stream %s not created: %s (JetStream error %d)", SNAP_STREAM,
            nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(st), (int)jerr);
    return -1;
  }
  __atomic_store_n(&cl->snap_stream_ok, 1, __ATOMIC_RELEASE);
  return 0;
}

/* A snapshot's meta (the object info). */
typedef struct snap_meta {
  char nuid[40];
  char digest[80];
  uint64_t size, chunks, seq, first_chunk;
  uint32_t idh;
  char id[64];
  int deleted;
} snap_meta;

static int meta_parse(const char *data, int len, snap_meta *m) {
  json_t *j = json_loadb(data, (size_t)len, 0, NULL), *md = json_object_get(j, "metadata");
  const char *nuid = json_string_value(json_object_get(j, "nuid"));
  const char *dg = json_string_value(json_object_get(j, "digest"));
  const char *seq = json_string_value(json_object_get(md, "quiver-seq"));
  const char *idh = json_string_value(json_object_get(md, "quiver-idh"));
  const char *id = json_string_value(json_object_get(md, "quiver-id"));
  const char *fc = json_string_value(json_object_get(md, "quiver-first-chunk"));
  memset(m, 0, sizeof *m);
  int ok = j && nuid && strlen(nuid) < sizeof m->nuid && dg && strlen(dg) < sizeof m->digest && seq && idh;
  if (ok) {
    snprintf(m->nuid, sizeof m->nuid, "%s", nuid);
    snprintf(m->digest, sizeof m->digest, "%s", dg);
    snprintf(m->id, sizeof m->id, "%s", id ? id : "");
    m->size = (uint64_t)json_integer_value(json_object_get(j, "size"));
    m->chunks = (uint64_t)json_integer_value(json_object_get(j, "chunks"));
    m->seq = strtoull(seq, NULL, 10);
    m->idh = (uint32_t)strtoul(idh, NULL, 10);
    m->first_chunk = fc ? strtoull(fc, NULL, 10) : 1;
    m->deleted = json_is_true(json_object_get(j, "deleted"));
  }
  json_decref(j);
  return ok ? 0 : -1;
}

/* The latest meta of the shard's snapshot: 1 found, 0 none, -1 no answer. */
static int meta_get(jsCtx *js, const char *uuid, int k, snap_meta *m, char **raw) {
  char name[64], subj[160];
  natsMsg *msg = NULL;
  jsErrCode jerr = 0;
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = 2000;
  cl_snap_name(uuid, k, name);
  cl_snap_meta_subject(name, subj);
  if (raw) *raw = NULL;
  natsStatus st = js_GetLastMsg(&msg, js, SNAP_STREAM, subj, &o, &jerr);
  if (st != NATS_OK || !msg) {
    natsMsg_Destroy(msg);
    return jerr == JSNoMessageFoundErr || jerr == JSStreamNotFoundErr ? 0 : -1;
  }
  int rc = meta_parse(natsMsg_GetData(msg), natsMsg_GetDataLength(msg), m) == 0 && !m->deleted ? 1 : 0;
  if (rc && raw) *raw = strndup(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
  natsMsg_Destroy(msg);
  return rc;
}

json_t *cl_snap_status(jsCtx *js, const char *uuid, int k) {
  snap_meta m;
  if (meta_get(js, uuid, k, &m, NULL) != 1) return json_null();
  return json_pack("{s:I, s:s, s:I, s:I, s:s}", "seq", (json_int_t)m.seq, "id", m.id, "size", (json_int_t)m.size,
                   "chunks", (json_int_t)m.chunks, "digest", m.digest);
}

/* The next chunk of nuid at or after stream sequence from (raw message get: the stream leader
 * answers): 1 found (*data malloc'd, *len, *seq), 0 none, -1 no answer. */
static int chunk_get(cluster *cl, const char *nuid, uint64_t from, uint8_t **data, size_t *len, uint64_t *seq) {
  char subj[128], req[200];
  natsMsg *reply = NULL;
  *data = NULL;
  snprintf(subj, sizeof subj, "$JS.API.STREAM.MSG.GET.%s", SNAP_STREAM);
  int n = snprintf(req, sizeof req, "{\"seq\":%llu,\"next_by_subj\":\"$O.%s.C.%s\"}", (unsigned long long)from,
                   SNAP_BUCKET, nuid);
  if (natsConnection_Request(&reply, cl->nc, subj, req, n, 5000) != NATS_OK || !reply) return -1;
  json_t *j = json_loadb(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), 0, NULL);
  natsMsg_Destroy(reply);
  json_t *msg = json_object_get(j, "message"), *err = json_object_get(j, "error");
  int rc = -1;
  if (json_is_object(msg)) {
    const char *d = json_string_value(json_object_get(msg, "data"));
    size_t dl = d ? strlen(d) : 0;
    *seq = (uint64_t)json_integer_value(json_object_get(msg, "seq"));
    *data = malloc(dl / 4 * 3 + 4);
    long got = *data ? cl_unb64(d ? d : "", dl, *data) : -1;
    if (got >= 0) {
      *len = (size_t)got;
      rc = 1;
    } else {
      free(*data);
      *data = NULL;
    }
  } else if (json_is_object(err) && json_integer_value(json_object_get(err, "code")) == 404) {
    rc = 0;
  }
  json_decref(j);
  return rc;
}

static void purge_subject(cluster *cl, const char *subj) {
  jsOptions o;
  jsOptions_Init(&o);
  o.Stream.Purge.Subject = subj;
  js_PurgeStream(cl->js, SNAP_STREAM, &o, NULL);
}

/* The shard stream's first and last sequence (the leader's view); 0 ok, -1 no answer. */
int cl_snap_bounds(cluster *cl, const char *stream, uint64_t *first, uint64_t *last) {
  jsOptions o;
  jsErrCode jerr = 0;
  jsStreamInfo *si = NULL;
  int rc = -1;
  jsOptions_Init(&o);
  o.Wait = 2000;
  if (js_GetStreamInfo(&si, cl->js, stream, &o, &jerr) == NATS_OK && si) {
    *first = si->State.FirstSeq;
    *last = si->State.LastSeq;
    rc = 0;
  }
  jsStreamInfo_Destroy(si);
  return rc;
}

/* ------------------------------------------------------------------ taking a snapshot */

static void snap_dir(cluster *cl, char *out, size_t n) {
  snprintf(out, n, "%s/cluster-snap", cl->s->data_dir);
  mkdir(out, 0755);
}

/* The local collection at its current position into file f (format above); records in *n. */
static int dump(cluster *cl, cl_replica *r, FILE *f, const char *id, uint64_t *n) {
  char lu[37], t[300], d[300];
  pthread_mutex_lock(&cl->mu);
  memcpy(lu, r->local_uuid, 37);
  snprintf(t, sizeof t, "%s", r->tenant);
  snprintf(d, sizeof d, "%s", r->database);
  pthread_mutex_unlock(&cl->mu);
  json_t *h = json_pack("{s:s, s:i, s:s, s:i, s:I, s:I, s:s}", "format", SNAP_FORMAT, "version", 1, "collection", r->uuid,
                        "shard", r->shard, "seq", (json_int_t)r->applied, "idh", (json_int_t)r->last_idh, "id", id);
  if (!h || json_dumpf(h, f, JSON_COMPACT) || fputc('\n', f) == EOF) {
    json_decref(h);
    return -1;
  }
  json_decref(h);
  *n = 0;
  for (size_t off = 0;; off += SNAP_PAGE) {
    char body[200];
    srv_resp rs;
    const char *seg[9] = {"api", "v2", "tenants", t, "databases", d, "collections", lu, "get"};
    snprintf(body, sizeof body, "{\"limit\":%d,\"offset\":%zu,\"include\":[\"embeddings\",\"metadatas\",\"documents\",\"uris\"]}",
             SNAP_PAGE, off);
    memset(&rs, 0, sizeof rs);
    cl_local(cl->s, M_POST, seg, 9, body, &rs);
    json_t *page = rs.status == 200 && rs.body ? json_loadb(rs.body, rs.len, 0, NULL) : NULL;
    size_t got = json_array_size(json_object_get(page, "ids"));
    int ok = page && json_is_array(json_object_get(page, "ids")) && !memchr(rs.body, '\n', rs.len);
    json_decref(page);
    if (!ok) {
      srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: snapshot: reading the local collection failed (status %d)",
              r->uuid, r->shard, rs.status);
      free(rs.body);
      return -1;
    }
    if (got && (fwrite(rs.body, 1, rs.len, f) != rs.len || fputc('\n', f) == EOF)) {
      free(rs.body);
      return -1;
    }
    free(rs.body);
    *n += got;
    if (got < SNAP_PAGE) break;
  }
  return fprintf(f, "{\"end\":true,\"records\":%llu}\n", (unsigned long long)*n) < 0 ? -1 : 0;
}

static void make_nuid(char out[23]) {
  static const char a[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  unsigned char rnd[22];
  FILE *f = fopen("/dev/urandom", "rb");
  size_t got = f ? fread(rnd, 1, sizeof rnd, f) : 0;
  if (f) fclose(f);
  for (size_t i = got; i < sizeof rnd; i++) rnd[i] = (unsigned char)(rand() ^ (int)cl_now_ms());
  for (int i = 0; i < 22; i++) out[i] = a[rnd[i] % 62];
  out[22] = 0;
}

/* Is this node the shard's snapshot taker: of the live members of its placement, the one that
 * reported the highest applied sequence (the first in placement order among equals)? A new or
 * restoring replica reports 0, so it never holds the others back. */
static int chosen(cluster *cl, cl_replica *r) {
  cl_coll *c = cl_coll_get(cl, r->uuid);
  char place[CL_MAX_REPLICAS][40];
  uint64_t best = 0;
  int me = 0;
  if (!c) return 0;
  int np = cl_placement(cl, r->uuid, r->shard, c->replicas, place);
  cl_coll_free(c);
  pthread_mutex_lock(&cl->mu);
  for (int p = 0; p < np; p++) {
    int self = !strcmp(place[p], cl->node_id);
    if (!self && !cl_live_locked(cl, place[p])) continue;
    uint64_t a = self ? r->applied : cl_applied_of_locked(cl, r->uuid, r->shard, place[p]);
    if (a > best) best = a, me = self;
  }
  pthread_mutex_unlock(&cl->mu);
  return me;
}

/* Purge the shard's stream below min(P, what every live placed replica reported applied). */
static void trim_stream(cluster *cl, cl_replica *r, uint64_t p) {
  char stream[64], place[CL_MAX_REPLICAS][40];
  uint64_t bound = p, first = 0, last = 0;
  cl_coll *c = cl_coll_get(cl, r->uuid);
  if (!c) return;
  int np = cl_placement(cl, r->uuid, r->shard, c->replicas, place);
  cl_coll_free(c);
  pthread_mutex_lock(&cl->mu);
  for (int i = 0; i < np; i++) {
    if (!cl_live_locked(cl, place[i])) continue;
    uint64_t a = strcmp(place[i], cl->node_id) ? cl_applied_of_locked(cl, r->uuid, r->shard, place[i]) : r->applied;
    if (a < bound) bound = a;
  }
  pthread_mutex_unlock(&cl->mu);
  cl_stream_name(r->uuid, r->shard, stream);
  if (bound <= 1 || cl_snap_bounds(cl, stream, &first, &last) || bound <= first) return;
  jsOptions o;
  jsErrCode jerr = 0;
  jsOptions_Init(&o);
  o.Stream.Purge.Sequence = bound; /* up to, not including, bound: the message at P stays */
  if (js_PurgeStream(cl->js, stream, &o, &jerr) == NATS_OK) {
    pthread_mutex_lock(&cl->mu);
    r->first_seq = bound;
    pthread_mutex_unlock(&cl->mu);
    srv_log(cl->s, SRV_LOG_INFO, "cluster: shard %s/%d: stream %s purged below sequence %llu (snapshot at %llu)",
            r->uuid, r->shard, stream, (unsigned long long)bound, (unsigned long long)p);
  } else {
    srv_log(cl->s, SRV_LOG_WARN, "cluster: shard %s/%d: purging stream %s below %llu failed: %s", r->uuid, r->shard,
            stream, (unsigned long long)bound, nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "?");
  }
}

/* Snapshot replica r at its position. 0 done, -1 failed (logged). Applier thread. */
static int take(cluster *cl, cl_replica *r) {
  char dir[4096], path[4200], name[64], subj[160], csubj[128], nuid[23], stream[64];
  uint8_t *buf = NULL, dg[32];
  uint64_t n = 0, size = 0, chunks = 0, first_chunk = 0, p = r->applied;
  snap_meta old;
  cl_sha256 sh;
  int have_old, rc = -1;
  FILE *f = NULL;
  natsMsg *lm = NULL;
  jsErrCode jerr = 0;
  cl_stream_name(r->uuid, r->shard, stream);
  /* only a history that is the leader's is worth keeping */
  if (js_GetMsg(&lm, cl->js, stream, p, NULL, &jerr) == NATS_OK && lm) {
    const char *hid = NULL;
    char id[64];
    if (natsMsgHeader_Get(lm, "Nats-Msg-Id", &hid) != NATS_OK) hid = NULL;
    cl_msg_identity(natsMsg_GetData(lm), natsMsg_GetDataLength(lm), hid, id, sizeof id);
    natsMsg_Destroy(lm);
    if (r->last_idh != CL_IDH_UNKNOWN && cl_idh(id) != r->last_idh) { /* verify() deals with it */
      srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: no snapshot at %llu: the stream leader's batch there is not "
              "the one applied", r->uuid, r->shard, (unsigned long long)p);
      return -1;
    }
    if (!r->last_id[0]) snprintf(r->last_id, sizeof r->last_id, "%s", id);
  } else {
    natsMsg_Destroy(lm);
    srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: no snapshot at %llu now: the stream leader did not give its "
            "batch there (JetStream error %d)", r->uuid, r->shard, (unsigned long long)p, (int)jerr);
    return -1;
  }
  if (ensure_stream(cl)) return -1;
  have_old = meta_get(cl->js, r->uuid, r->shard, &old, NULL);
  if (have_old < 0) {
    srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: no snapshot now: the object store did not answer", r->uuid,
            r->shard);
    return -1;
  }
  snap_dir(cl, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%s-%d.take", dir, r->uuid, r->shard);
  if (!(f = fopen(path, "w+b")) || dump(cl, r, f, r->last_id, &n) || fflush(f) || fseek(f, 0, SEEK_SET)) {
    srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: snapshot file %s: %s", r->uuid, r->shard, path, strerror(errno));
    goto out;
  }
  if (!(buf = malloc(SNAP_CHUNK))) goto out;
  make_nuid(nuid);
  snprintf(csubj, sizeof csubj, "$O.%s.C.%s", SNAP_BUCKET, nuid);
  cl_sha256_init(&sh);
  for (;;) {
    size_t got = fread(buf, 1, SNAP_CHUNK, f);
    if (!got) break;
    jsPubAck *pa = NULL;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 5000;
    natsStatus st = NATS_ERR;
    for (int tries = 0; tries < 5 && st != NATS_OK && !r->stop; tries++) {
      st = js_Publish(&pa, cl->js, csubj, buf, (int)got, &po, &jerr);
      if (st != NATS_OK) nap_ms(200);
    }
    if (st != NATS_OK) {
      srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: snapshot chunk %llu not stored: %s", r->uuid, r->shard,
              (unsigned long long)chunks, nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(st));
      jsPubAck_Destroy(pa);
      purge_subject(cl, csubj);
      goto out;
    }
    if (!chunks) first_chunk = pa->Sequence;
    jsPubAck_Destroy(pa);
    cl_sha256_update(&sh, buf, got);
    size += got;
    chunks++;
  }
  if (ferror(f)) {
    purge_subject(cl, csubj);
    goto out;
  }
  cl_sha256_final(&sh, dg);
  {
    char b64[64], digest[80], mtime[40], seqs[24], idhs[16], fcs[24], recs[24];
    time_t now = time(NULL);
    struct tm tmv;
    cl_b64(dg, 32, 1, b64);
    snprintf(digest, sizeof digest, "SHA-256=%s", b64);
    strftime(mtime, sizeof mtime, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
    snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)p);
    snprintf(idhs, sizeof idhs, "%u", r->last_idh);
    snprintf(fcs, sizeof fcs, "%llu", (unsigned long long)first_chunk);
    snprintf(recs, sizeof recs, "%llu", (unsigned long long)n);
    cl_snap_name(r->uuid, r->shard, name);
    cl_snap_meta_subject(name, subj);
    json_t *meta = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:{s:i}, s:{s:s, s:s, s:s, s:s, s:s}}", "name", name,
                             "bucket", SNAP_BUCKET, "nuid", nuid, "size", (json_int_t)size, "mtime", mtime, "chunks",
                             (json_int_t)chunks, "digest", digest, "options", "max_chunk_size", SNAP_CHUNK, "metadata",
                             "quiver-seq", seqs, "quiver-idh", idhs, "quiver-id", r->last_id, "quiver-first-chunk", fcs,
                             "quiver-records", recs);
    char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    natsMsg *mm = NULL;
    jsPubAck *pa = NULL;
    natsStatus st = text ? natsMsg_Create(&mm, subj, NULL, text, (int)strlen(text)) : NATS_NO_MEMORY;
    if (st == NATS_OK) st = natsMsgHeader_Set(mm, "Nats-Rollup", "sub");
    if (st == NATS_OK) st = js_PublishMsg(&pa, cl->js, mm, NULL, &jerr);
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(mm);
    free(text);
    if (st != NATS_OK) {
      srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: snapshot meta not stored: %s", r->uuid, r->shard,
              nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(st));
      purge_subject(cl, csubj);
      goto out;
    }
  }
  /* the newer object is complete: the older one's chunks go */
  if (have_old == 1 && strcmp(old.nuid, nuid)) {
    char osubj[128];
    snprintf(osubj, sizeof osubj, "$O.%s.C.%s", SNAP_BUCKET, old.nuid);
    purge_subject(cl, osubj);
  }
  pthread_mutex_lock(&cl->mu);
  r->snap_seq = p;
  r->snap_idh = r->last_idh;
  r->n_snaps++;
  pthread_mutex_unlock(&cl->mu);
  r->snap_bytes = 0;
  srv_log(cl->s, SRV_LOG_INFO, "cluster: replica %s/%d: snapshot at sequence %llu stored (%llu records, %llu bytes, %llu chunks)",
          r->uuid, r->shard, (unsigned long long)p, (unsigned long long)n, (unsigned long long)size,
          (unsigned long long)chunks);
  trim_stream(cl, r, p);
  rc = 0;
out:
  free(buf);
  if (f) fclose(f);
  unlink(path);
  return rc;
}

void cl_snap_init(cluster *cl) {
  if (ensure_stream(cl))
    srv_log(cl->s, SRV_LOG_WARN, "cluster: the snapshot store (stream %s) is not there yet; retried when needed",
            SNAP_STREAM);
}

void cl_snap_after_batch(cluster *cl, cl_replica *r, const char *id, size_t bytes) {
  if (id) snprintf(r->last_id, sizeof r->last_id, "%s", id);
  r->snap_bytes += bytes;
  if (!cl->o.snap_batches && !cl->o.snap_bytes) return;
  int64_t now = cl_now_ms();
  if (now < r->snap_next_ms) return;
  pthread_mutex_lock(&cl->mu);
  uint64_t since = r->applied - (r->snap_seq < r->applied ? r->snap_seq : r->applied);
  pthread_mutex_unlock(&cl->mu);
  if (!(cl->o.snap_batches && since >= (uint64_t)cl->o.snap_batches) &&
      !(cl->o.snap_bytes && r->snap_bytes >= cl->o.snap_bytes))
    return;
  if (!r->snap_known || !chosen(cl, r)) {
    /* another replica takes them: learn where the shard's last snapshot is (metrics, and
       the count restarts from there if this one becomes the taker) */
    snap_meta m;
    int got = meta_get(cl->js, r->uuid, r->shard, &m, NULL);
    srv_log(cl->s, SRV_LOG_DEBUG, "cluster: replica %s/%d: %s; the shard's snapshot: %s at %llu", r->uuid, r->shard,
            r->snap_known ? "another replica takes the snapshots" : "where is the last snapshot",
            got < 0 ? "no answer" : got ? "found" : "none", (unsigned long long)(got > 0 ? m.seq : 0));
    if (got == 1) {
      pthread_mutex_lock(&cl->mu);
      if (m.seq > r->snap_seq) r->snap_seq = m.seq, r->snap_idh = m.idh;
      pthread_mutex_unlock(&cl->mu);
    }
    if (got >= 0 && !r->snap_known) { /* after a start: counted from the shard's last snapshot */
      r->snap_known = 1;
      r->snap_next_ms = 0;
      return;
    }
    r->snap_next_ms = now + 5000;
    return;
  }
  if (take(cl, r)) r->snap_next_ms = now + 5000; /* not now: later */
}

/* ------------------------------------------------------------------ restoring */

/* Fetch the object of m into file f, checking chunks, size and digest. 0 ok, else a reason in
 * why; -2 when NATS did not answer. */
static int download(cluster *cl, const snap_meta *m, FILE *f, char *why, size_t whylen) {
  cl_sha256 sh;
  uint64_t from = m->first_chunk ? m->first_chunk : 1, chunks = 0, size = 0;
  uint8_t dg[32];
  char b64[64], digest[80];
  cl_sha256_init(&sh);
  while (chunks < m->chunks) {
    uint8_t *data = NULL;
    size_t len = 0;
    uint64_t seq = 0;
    int got = chunk_get(cl, m->nuid, from, &data, &len, &seq);
    if (got < 0) {
      snprintf(why, whylen, "no answer reading chunk %llu", (unsigned long long)chunks);
      return -2;
    }
    if (!got) {
      snprintf(why, whylen, "chunk %llu of %llu missing", (unsigned long long)chunks + 1, (unsigned long long)m->chunks);
      return -1;
    }
    cl_sha256_update(&sh, data, len);
    int werr = fwrite(data, 1, len, f) != len;
    free(data);
    if (werr) {
      snprintf(why, whylen, "writing the download: %s", strerror(errno));
      return -1;
    }
    size += len;
    chunks++;
    from = seq + 1;
  }
  { /* nothing more may follow */
    uint8_t *data = NULL;
    size_t len = 0;
    uint64_t seq = 0;
    int got = chunk_get(cl, m->nuid, from, &data, &len, &seq);
    free(data);
    if (got > 0) {
      snprintf(why, whylen, "more chunks than the %llu its meta names", (unsigned long long)m->chunks);
      return -1;
    }
  }
  if (size != m->size) {
    snprintf(why, whylen, "size %llu, its meta says %llu", (unsigned long long)size, (unsigned long long)m->size);
    return -1;
  }
  cl_sha256_final(&sh, dg);
  cl_b64(dg, 32, 1, b64);
  snprintf(digest, sizeof digest, "SHA-256=%s", b64);
  if (strcmp(digest, m->digest)) {
    snprintf(why, whylen, "digest mismatch: content %s, meta %s", digest, m->digest);
    return -1;
  }
  return fflush(f) ? -1 : 0;
}

/* Empty the replica: "restore pending" mark, local collection made anew, position 0 only when
 * final (else the mark stays). 0 ok. */
static int empty_replica(cluster *cl, cl_replica *r, int final) {
  char full[700], lu[37];
  cl_coll *c = cl_coll_get(cl, r->uuid);
  if (!c) return -1;
  int rc = -1;
  snprintf(full, sizeof full, "%s/%s/%s-s%d", r->tenant, r->database, r->uuid, r->shard);
  if (qv_db_position_set(cl->s->db, r->key, cl_pos_pack(0, CL_IDH_HOLE)) == QV_OK) {
    qv_status st = qv_collection_delete(cl->s->db, full);
    if ((st == QV_OK || st == QV_NOTFOUND) && cl_replica_make_local(cl, c, r->shard, lu) == 0 &&
        (!final || qv_db_position_set(cl->s->db, r->key, 0) == QV_OK)) {
      pthread_mutex_lock(&cl->mu);
      memcpy(r->local_uuid, lu, 37);
      pthread_mutex_unlock(&cl->mu);
      rc = 0;
    }
  }
  cl_coll_free(c);
  return rc;
}

int cl_snap_restore(cluster *cl, cl_replica *r, int need) {
  snap_meta m;
  char dir[4096], path[4200], why[300] = "", stream[64], name[64];
  int got = meta_get(cl->js, r->uuid, r->shard, &m, NULL);
  if (got < 0) {
    if (!need && ++r->snap_try > 10) r->snap_try = 0; /* optional: replay rather than wait forever */
    return -1;
  }
  if (got == 0 || m.seq <= r->applied) {
    r->snap_try = 0;
    return 0;
  }
  if (!need && r->applied) { /* only a replica with nothing applied starts from a snapshot by choice */
    r->snap_try = 0;
    return 0;
  }
  if (!strcmp(m.nuid, r->snap_refused)) { /* refused once: wait for a newer one */
    r->snap_try = 0;
    return 0;
  }
  cl_snap_name(r->uuid, r->shard, name);
  cl_stream_name(r->uuid, r->shard, stream);
  snap_dir(cl, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%s-%d.restore", dir, r->uuid, r->shard);
  FILE *f = fopen(path, "w+b");
  if (!f) {
    srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: %s: %s", r->uuid, r->shard, path, strerror(errno));
    return -1;
  }
  int d = download(cl, &m, f, why, sizeof why);
  json_t *hdr = NULL;
  char *line = NULL;
  size_t cap = 0;
  ssize_t ll;
  if (d == -2) {
    fclose(f);
    unlink(path);
    return -1;
  }
  if (!d && fseek(f, 0, SEEK_SET) == 0 && (ll = getline(&line, &cap, f)) > 0) {
    hdr = json_loadb(line, (size_t)ll, 0, NULL);
    const char *fmt = json_string_value(json_object_get(hdr, "format"));
    const char *u = json_string_value(json_object_get(hdr, "collection"));
    if (!fmt || strcmp(fmt, SNAP_FORMAT) || json_integer_value(json_object_get(hdr, "version")) != 1 || !u ||
        strcmp(u, r->uuid) || json_integer_value(json_object_get(hdr, "shard")) != r->shard ||
        (uint64_t)json_integer_value(json_object_get(hdr, "seq")) != m.seq ||
        (uint32_t)json_integer_value(json_object_get(hdr, "idh")) != m.idh) {
      snprintf(why, sizeof why, "its content's header does not match its meta (format, collection, shard, position)");
      d = -1;
    }
  } else if (!d) {
    snprintf(why, sizeof why, "empty content");
    d = -1;
  }
  if (!d) { /* the position it holds must be the stream leader's batch, when the stream still has it */
    natsMsg *lm = NULL;
    jsErrCode jerr = 0;
    if (js_GetMsg(&lm, cl->js, stream, m.seq, NULL, &jerr) == NATS_OK && lm) {
      const char *hid = NULL;
      char id[64];
      if (natsMsgHeader_Get(lm, "Nats-Msg-Id", &hid) != NATS_OK) hid = NULL;
      cl_msg_identity(natsMsg_GetData(lm), natsMsg_GetDataLength(lm), hid, id, sizeof id);
      if (m.idh != CL_IDH_UNKNOWN && cl_idh(id) != m.idh) {
        snprintf(why, sizeof why, "the stream leader's batch at sequence %llu is not the one it holds",
                 (unsigned long long)m.seq);
        d = -1;
      }
    } else if (jerr != JSNoMessageFoundErr) {
      natsMsg_Destroy(lm);
      json_decref(hdr);
      free(line);
      fclose(f);
      unlink(path);
      return -1;
    }
    natsMsg_Destroy(lm);
  }
  if (d) { /* a newer snapshot replaced this one while it was read (its chunks purged): take that one */
    snap_meta now;
    if (meta_get(cl->js, r->uuid, r->shard, &now, NULL) == 1 && strcmp(now.nuid, m.nuid)) {
      srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: snapshot %s was replaced while being read (%s); reading "
              "the newer one", r->uuid, r->shard, name, why);
      json_decref(hdr);
      free(line);
      fclose(f);
      unlink(path);
      return -1;
    }
  }
  if (d) {
    srv_log(cl->s, SRV_LOG_ERROR, "cluster: replica %s/%d: snapshot %s (sequence %llu, object %s) refused: %s", r->uuid,
            r->shard, name, (unsigned long long)m.seq, m.nuid, why);
    snprintf(r->snap_refused, sizeof r->snap_refused, "%s", m.nuid);
    pthread_mutex_lock(&cl->mu);
    r->n_snap_refused++;
    pthread_mutex_unlock(&cl->mu);
    json_decref(hdr);
    free(line);
    fclose(f);
    unlink(path);
    r->snap_try = 0;
    return 0;
  }
  /* point of no return: from the mark on, a crash restores again at the next start */
  int64_t ep;
  pthread_mutex_lock(&cl->mu);
  r->applied = 0;
  memset(r->hist_seq, 0, sizeof r->hist_seq);
  r->suspect = 0;
  ep = cl_now_ms();
  r->epoch = ep = ep > r->epoch ? ep : r->epoch + 1;
  pthread_mutex_unlock(&cl->mu);
  r->last_idh = CL_IDH_UNKNOWN;
  cl_note_applied(cl, r->uuid, r->shard, cl->node_id, 0, ep, NULL);
  cl_replica_report(cl, r, 0, ep);
  srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: restoring snapshot %s at sequence %llu (%llu bytes)", r->uuid,
          r->shard, name, (unsigned long long)m.seq, (unsigned long long)m.size);
  int rc = empty_replica(cl, r, 0);
  uint64_t recs = 0, want = (uint64_t)-1;
  sbuf b = {0};
  while (!rc && !r->stop && (ll = getline(&line, &cap, f)) > 0) {
    json_t *pg = json_loadb(line, (size_t)ll, 0, NULL);
    if (json_is_true(json_object_get(pg, "end"))) {
      want = (uint64_t)json_integer_value(json_object_get(pg, "records"));
      json_decref(pg);
      break;
    }
    size_t np = json_array_size(json_object_get(pg, "ids"));
    json_decref(pg);
    if (!np) {
      snprintf(why, sizeof why, "a page is not a record batch");
      rc = -1;
      break;
    }
    cl_result res;
    b.len = 0;
    sbuf_puts(&b, "{\"op\":\"add\",\"b\":");
    sbuf_put(&b, line, (size_t)ll);
    sbuf_putc(&b, '}');
    if (b.oom) {
      rc = -1;
      break;
    }
    int tries = 0;
    while (!r->stop && cl_replica_apply(cl, r, b.p, (int)b.len, m.seq, cl_pos_pack(0, CL_IDH_HOLE), &res) && tries++ < 10)
      nap_ms(500);
    if (r->stop || tries > 10 || res.status) {
      snprintf(why, sizeof why, "adding its records failed: %s", res.status ? res.msg : "storage errors");
      rc = -1;
      break;
    }
    recs += np;
  }
  sbuf_free(&b);
  free(line);
  json_decref(hdr);
  fclose(f);
  unlink(path);
  if (!rc && !r->stop && recs != want) {
    snprintf(why, sizeof why, "%llu records where its trailer says %llu", (unsigned long long)recs,
             (unsigned long long)want);
    rc = -1;
  }
  if (rc || r->stop || qv_db_position_set(cl->s->db, r->key, cl_pos_pack(m.seq, m.idh)) != QV_OK) {
    if (!r->stop) {
      srv_log(cl->s, SRV_LOG_ERROR, "cluster: replica %s/%d: restoring snapshot %s failed: %s", r->uuid, r->shard, name,
              why[0] ? why : "storage error");
      snprintf(r->snap_refused, sizeof r->snap_refused, "%s", m.nuid);
      pthread_mutex_lock(&cl->mu);
      r->n_snap_refused++;
      pthread_mutex_unlock(&cl->mu);
      /* back to an empty replica at 0 (the mark stays if even that fails: a restart finishes it) */
      empty_replica(cl, r, 1);
    }
    return -1;
  }
  r->last_idh = m.idh;
  snprintf(r->last_id, sizeof r->last_id, "%s", m.id);
  pthread_mutex_lock(&cl->mu);
  r->applied = m.seq;
  r->hist_seq[m.seq % CL_HIST] = m.seq;
  r->hist[m.seq % CL_HIST] = m.idh;
  r->snap_seq = m.seq;
  r->snap_idh = m.idh;
  r->n_restores++;
  ep = r->epoch;
  pthread_cond_broadcast(&cl->cv);
  pthread_mutex_unlock(&cl->mu);
  r->snap_bytes = 0;
  r->snap_try = 0;
  cl_note_applied(cl, r->uuid, r->shard, cl->node_id, m.seq, ep, NULL);
  cl_replica_report(cl, r, m.seq, ep);
  srv_log(cl->s, SRV_LOG_WARN, "cluster: replica %s/%d: restored from snapshot at sequence %llu (%llu records); "
          "applying the stream from %llu", r->uuid, r->shard, (unsigned long long)m.seq, (unsigned long long)recs,
          (unsigned long long)m.seq + 1);
  return 1;
}

int cl_snap_catch_up(cluster *cl, cl_replica *r, uint64_t next, uint64_t first, uint64_t last) {
  if (!first || next >= first || next > last) return 0; /* the stream has what comes next */
  pthread_mutex_lock(&cl->mu);
  r->first_seq = first;
  pthread_mutex_unlock(&cl->mu);
  int rc = cl_snap_restore(cl, r, 1);
  if (rc > 0) return 1;
  if (rc == 0) {
    int64_t now = cl_now_ms();
    if (now - r->snap_log_ms >= 10000) {
      r->snap_log_ms = now;
      srv_log(cl->s, SRV_LOG_ERROR, "cluster: replica %s/%d cannot catch up: it needs stream sequence %llu, the stream "
              "starts at %llu and no usable snapshot reaches past %llu; waiting for a newer snapshot", r->uuid,
              r->shard, (unsigned long long)next, (unsigned long long)first, (unsigned long long)r->applied);
    }
  }
  return -1;
}

int cl_snap_purged(cluster *cl, cl_replica *r, const char *stream, uint64_t seq, uint32_t mine) {
  uint64_t first = 0, last = 0;
  if (cl_snap_bounds(cl, stream, &first, &last)) return -1;
  pthread_mutex_lock(&cl->mu);
  r->first_seq = first;
  uint64_t ss = r->snap_seq;
  uint32_t sh = r->snap_idh;
  pthread_mutex_unlock(&cl->mu);
  if (!first || seq >= first) return 0; /* not purged: a real absence */
  /* purged after a snapshot: the snapshot's recorded identity is what remains to compare with */
  if (ss == seq && sh != CL_IDH_UNKNOWN && mine != CL_IDH_UNKNOWN && sh != mine) return 3;
  return 1;
}

void cl_snap_forget(cluster *cl, const char *uuid, int shards) {
  for (int k = 0; k < shards; k++) {
    snap_meta m;
    char name[64], subj[160];
    if (meta_get(cl->js, uuid, k, &m, NULL) == 1) {
      char csubj[128];
      snprintf(csubj, sizeof csubj, "$O.%s.C.%s", SNAP_BUCKET, m.nuid);
      purge_subject(cl, csubj);
    }
    cl_snap_name(uuid, k, name);
    cl_snap_meta_subject(name, subj);
    purge_subject(cl, subj);
  }
}
