/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * json.c -- request bodies in, error bodies out, and the small validators routes share.
 *
 * Status conventions follow the reference server (chroma-v2.md §2): malformed JSON is 400,
 * JSON of the wrong shape or type is 422, a bad value (empty id, NaN, bad name) is 400.
 * Every error body is {"error": <name>, "message": <text>} where the name is derived from the
 * status the way Chroma does: InvalidArgumentError, NotFoundError, InternalError, or
 * ChromaError for every other status.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "srv.h"

/* ------------------------------------------------------------------ replies */

static const char *error_name(int status) {
  switch (status) {
  case 400: return "InvalidArgumentError";
  case 401: return "AuthError";
  case 404: return "NotFoundError";
  case 500: return "InternalError";
  default: return "ChromaError";
  }
}

void srv_reply_text(srv_resp *rs, int status, const char *text) {
  size_t n = strlen(text);
  char *p = malloc(n + 1);
  free(rs->body);
  rs->body = NULL;
  rs->len = 0;
  rs->status = status;
  if (!p) return; /* http.c sends "{}"-less 500 fallback */
  memcpy(p, text, n + 1);
  rs->body = p;
  rs->len = n;
}

void srv_error(srv_resp *rs, int status, const char *fmt, ...) {
  char msg[1024];
  sbuf b = {0};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sbuf_puts(&b, "{\"error\":");
  sbuf_json_str(&b, error_name(status));
  sbuf_puts(&b, ",\"message\":");
  sbuf_json_str(&b, msg);
  sbuf_putc(&b, '}');
  if (b.oom) {
    sbuf_free(&b);
    srv_reply_text(rs, status, "{\"error\":\"InternalError\",\"message\":\"out of memory\"}");
    return;
  }
  free(rs->body);
  rs->status = status;
  rs->body = b.p;
  rs->len = b.len;
}

void srv_error_qv(srv_resp *rs, qsrv *s, qv_status rc) {
  const char *msg = qv_db_errmsg(s->db);
  int status = qv_status_http(rc);
  if (!msg || !*msg) msg = qv_status_str(rc);
  srv_error(rs, status, "%s", msg);
}

void srv_reply_json(srv_resp *rs, int status, json_t *j) {
  char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  json_decref(j);
  if (!text) {
    srv_error(rs, 500, "out of memory building the response");
    return;
  }
  free(rs->body);
  rs->status = status;
  rs->body = text; /* jansson uses malloc by default */
  rs->len = strlen(text);
}

/* ------------------------------------------------------------------ request bodies */

/* Deepest nesting of [ and { in text, strings skipped; stops counting past limit. */
static int json_depth(const char *p, size_t n, int limit) {
  int depth = 0, max = 0, in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (in_str) {
      if (c == '\\') i++;
      else if (c == '"') in_str = 0;
      continue;
    }
    if (c == '"') in_str = 1;
    else if (c == '[' || c == '{') {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c == ']' || c == '}') depth--;
  }
  return max;
}

json_t *srv_parse_body(const srv_req *rq, srv_resp *rs, int allow_empty) {
  json_error_t err;
  json_t *j;
  size_t i = 0;
  while (i < rq->body_len && strchr(" \t\r\n", rq->body[i])) i++;
  if (i == rq->body_len) {
    if (allow_empty) return json_object();
    srv_error(rs, 400, "Failed to parse the request body as JSON: EOF while parsing a value");
    return NULL;
  }
  if (json_depth(rq->body, rq->body_len, SRV_MAX_DEPTH) > SRV_MAX_DEPTH) {
    srv_error(rs, 400, "Failed to parse the request body as JSON: nesting deeper than %d",
              SRV_MAX_DEPTH);
    return NULL;
  }
  j = json_loadb(rq->body, rq->body_len, JSON_DECODE_ANY, &err);
  if (!j) {
    srv_error(rs, 400, "Failed to parse the request body as JSON: %s at line %d column %d",
              err.text, err.line, err.column);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    srv_error(rs, 422, "Failed to deserialize the JSON body: expected an object");
    return NULL;
  }
  return j;
}

/* Shared prologue of the field readers: 0 absent/null, 1 present. */
static int field(json_t *obj, const char *key, json_t **v) {
  *v = json_object_get(obj, key);
  return *v && !json_is_null(*v);
}

static int wrong_type(srv_resp *rs, const char *key, const char *want) {
  srv_error(rs, 422, "Failed to deserialize the JSON body: `%s`: expected %s", key, want);
  return -1;
}

int srv_field_str(json_t *obj, const char *key, const char **out, srv_resp *rs) {
  json_t *v;
  if (!field(obj, key, &v)) return 0;
  if (!json_is_string(v)) return wrong_type(rs, key, "a string");
  *out = json_string_value(v);
  return 1;
}

int srv_field_bool(json_t *obj, const char *key, int *out, srv_resp *rs) {
  json_t *v;
  if (!field(obj, key, &v)) return 0;
  if (!json_is_boolean(v)) return wrong_type(rs, key, "a boolean");
  *out = json_is_true(v);
  return 1;
}

int srv_field_int(json_t *obj, const char *key, long long *out, srv_resp *rs) {
  json_t *v;
  if (!field(obj, key, &v)) return 0;
  if (!json_is_integer(v)) return wrong_type(rs, key, "an integer");
  *out = json_integer_value(v);
  return 1;
}

int srv_field_obj(json_t *obj, const char *key, json_t **out, srv_resp *rs) {
  json_t *v;
  if (!field(obj, key, &v)) return 0;
  if (!json_is_object(v)) return wrong_type(rs, key, "an object");
  *out = v;
  return 1;
}

int srv_field_arr(json_t *obj, const char *key, json_t **out, srv_resp *rs) {
  json_t *v;
  if (!field(obj, key, &v)) return 0;
  if (!json_is_array(v)) return wrong_type(rs, key, "an array");
  *out = v;
  return 1;
}

/* ------------------------------------------------------------------ base64 embeddings */

static int b64_val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decode padded base64 into bytes (caller sizes out as len/4*3). Returns bytes or -1. */
static long b64_decode(const char *s, size_t len, unsigned char *out) {
  size_t o = 0;
  if (len % 4) return -1;
  for (size_t i = 0; i < len; i += 4) {
    int v[4], pad = 0;
    for (int k = 0; k < 4; k++) {
      unsigned char c = (unsigned char)s[i + k];
      if (c == '=' && i + 4 == len && k >= 2) {
        v[k] = 0;
        pad++;
        continue;
      }
      if (pad) return -1; /* data after padding */
      if ((v[k] = b64_val(c)) < 0) return -1;
    }
    out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    if (pad < 2) out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
    if (pad < 1) out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
  }
  return (long)o;
}

int srv_b64_floats(const char *s, float **out, size_t *dim) {
  size_t len = strlen(s);
  unsigned char *bytes = malloc(len / 4 * 3 + 4);
  long n;
  float *f = NULL;
  *out = NULL;
  *dim = 0;
  if (!bytes) return -1;
  n = b64_decode(s, len, bytes);
  if (n <= 0 || n % 4) goto fail;
  f = malloc((size_t)n);
  if (!f) goto fail;
  for (long i = 0; i < n / 4; i++) { /* little-endian regardless of host */
    uint32_t u = (uint32_t)bytes[4 * i] | (uint32_t)bytes[4 * i + 1] << 8 |
                 (uint32_t)bytes[4 * i + 2] << 16 | (uint32_t)bytes[4 * i + 3] << 24;
    memcpy(&f[i], &u, 4);
  }
  free(bytes);
  *out = f;
  *dim = (size_t)n / 4;
  return 0;
fail:
  free(bytes);
  return -1;
}

/* ------------------------------------------------------------------ validators */

int srv_arg_uint(const srv_req *rq, const char *name, size_t *out, srv_resp *rs) {
  const char *v = srv_req_arg(rq, name);
  char *end;
  unsigned long long x;
  if (!v) return 0;
  if (!*v || *v < '0' || *v > '9') goto bad;
  x = strtoull(v, &end, 10);
  if (*end || x > (unsigned long long)SIZE_MAX / 2) goto bad;
  *out = (size_t)x;
  return 1;
bad:
  srv_error(rs, 400, "Query parameter `%s` must be a non-negative integer", name);
  return -1;
}

int srv_valid_tenant(const char *t) {
  size_t n = strlen(t);
  if (n < 3 || n > 256) return 0;
  for (; *t; t++)
    if ((unsigned char)*t < 0x20 || *t == '/' || *t == 0x7f) return 0;
  return 1;
}

static int is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Chroma's rules: 3..512 of [a-zA-Z0-9._-], alphanumeric ends, no "..", not an IP address. */
int srv_valid_name(const char *name) {
  size_t n = strlen(name);
  unsigned char addr[16];
  if (n < 3 || n > 512) return 0;
  if (!is_alnum(name[0]) || !is_alnum(name[n - 1])) return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_alnum(name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-') return 0;
  if (strstr(name, "..")) return 0;
  if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1) return 0;
  return 1;
}

int srv_valid_uuid(const char *s) {
  static const char hexd[] = "0123456789abcdefABCDEF";
  if (strlen(s) != 36) return 0;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return 0;
    } else if (!s[i] || !strchr(hexd, s[i])) {
      return 0;
    }
  }
  return 1;
}

void srv_uuid4(char out[37]) {
  unsigned char r[16];
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  ssize_t got = fd >= 0 ? read(fd, r, sizeof r) : -1;
  if (fd >= 0) close(fd);
  if (got != (ssize_t)sizeof r) { /* fall back to a weak source rather than fail */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
    for (int i = 0; i < 16; i++) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      r[i] = (unsigned char)(x >> 56);
    }
  }
  r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
  r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
           r[13], r[14], r[15]);
}

/* Runs over the whole of a; the time depends on alen only, never on where a and b differ. */
int srv_ct_equal(const char *a, size_t alen, const char *b, size_t blen) {
  volatile unsigned char diff = (unsigned char)(alen != blen);
  for (size_t i = 0; i < alen; i++) {
    unsigned char cb = blen ? (unsigned char)b[i % blen] : 0;
    diff |= (unsigned char)((unsigned char)a[i] ^ cb);
  }
  return diff == 0;
}
