/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * pc_fast.c -- the common Pinecone query body, decoded straight from the request text.
 *
 * As for Chroma's query (server/query_fast.c), Jansson would spend most of a k-NN request
 * building a json_real per float. This accepts exactly
 *   {"namespace": "plain", "topK": uint, "vector": [numbers], "includeValues": bool,
 *    "includeMetadata": bool}
 * in any order, any JSON whitespace, each key at most once, topK and vector required, the
 * namespace without escapes; numbers go through the server's shared readers
 * (srv_fast_number / srv_parse_number, the same floats as Jansson then a cast). Anything else
 * -- another key (id, filter, sparseVector, ...), a wrong type, a duplicate, a dimension
 * mismatch, a number it cannot convert exactly -- returns 0 and the request takes the Jansson
 * path in pc_read.c, which gives every error its message.
 *
 * The body is NUL-terminated (http.c), which the scans rely on.
 */
#include <stdlib.h>
#include <string.h>

#include "jscan.h"
#include "pc.h"

static int boolean(jscan *x, int *out) {
  if (!jscan_word(x, "true")) *out = 1;
  else if (!jscan_word(x, "false")) *out = 0;
  else return -1;
  return 0;
}

static int is_num_char(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* [numbers] of exactly dim entries into out. 0 ok. */
static int vector(jscan *x, float *out, size_t dim) {
  size_t n = 0;
  if (!jscan_eat(x, '[')) return -1;
  do {
    const char *s;
    int took = -1;
    jscan_ws(x);
    s = x->p;
    if (n == dim) return -1;
    if (x->end - s >= SRV_FAST_NUM_READ) took = srv_fast_number(s, &out[n]);
    if (took < 0) {
      const char *e = s;
      while (e < x->end && is_num_char(*e)) e++;
      if (e == s || srv_parse_number(s, (size_t)(e - s), &out[n])) return -1;
      took = (int)(e - s);
    }
    x->p = s + took;
    n++;
  } while (jscan_eat(x, ','));
  return jscan_eat(x, ']') && n == dim ? 0 : -1;
}

/* topK: 1..PC_MAX_TOPK, plain digits. 0 ok. */
static int topk(jscan *x, size_t *k) {
  size_t v = 0;
  int nd = 0;
  jscan_ws(x);
  for (; x->p < x->end && *x->p >= '0' && *x->p <= '9'; x->p++) {
    if (++nd > 6) return -1;
    v = v * 10 + (size_t)(*x->p - '0');
  }
  if (!nd || v < 1 || v > PC_MAX_TOPK) return -1;
  if (x->p < x->end && (*x->p == '.' || *x->p == 'e' || *x->p == 'E')) return -1;
  *k = v;
  return 0;
}

enum { K_NS = 1, K_TOPK = 2, K_VEC = 4, K_VAL = 8, K_META = 16 };

static int parse(jscan *x, pc_qreq *q, size_t dim, char **ns) {
  int seen = 0;
  if (!jscan_eat(x, '{')) return -1;
  do {
    const char *s;
    size_t n;
    int key, rc;
    if (jscan_plain_str(x, &s, &n) || !jscan_eat(x, ':')) return -1;
    if (n == 9 && !memcmp(s, "namespace", 9)) key = K_NS;
    else if (n == 4 && !memcmp(s, "topK", 4)) key = K_TOPK;
    else if (n == 6 && !memcmp(s, "vector", 6)) key = K_VEC;
    else if (n == 13 && !memcmp(s, "includeValues", 13)) key = K_VAL;
    else if (n == 15 && !memcmp(s, "includeMetadata", 15)) key = K_META;
    else return -1;
    if (seen & key) return -1;
    seen |= key;
    switch (key) {
    case K_NS:
      rc = jscan_plain_str(x, &s, &n);
      if (!rc && (n > PC_MAX_NS || memchr(s, '/', n) || memchr(s, 0x7f, n) || !(*ns = strndup(s, n)))) rc = -1;
      break;
    case K_TOPK: rc = topk(x, &q->k); break;
    case K_VEC: rc = vector(x, q->vec, dim); break;
    case K_VAL: rc = boolean(x, &q->inc_values); break;
    default: rc = boolean(x, &q->inc_meta); break;
    }
    if (rc) return -1;
  } while (jscan_eat(x, ','));
  if (!jscan_eat(x, '}')) return -1;
  jscan_ws(x);
  return x->p == x->end && (seen & K_TOPK) && (seen & K_VEC) ? 0 : -1;
}

int pc_query_fast(srv_req *rq, srv_resp *rs, const pc_index *ix) {
  jscan x = {rq->body, rq->body + rq->body_len};
  pc_qreq q;
  char *ns = NULL;
  int done = 0;
  memset(&q, 0, sizeof q);
  if (!(q.vec = malloc(ix->dim * sizeof *q.vec))) return 0;
  q.dim = ix->dim;
  if (parse(&x, &q, ix->dim, &ns) == 0) {
    q.ns = ns;
    pc_query_run(rq, rs, ix, &q);
    done = 1;
  }
  free(q.vec);
  free(ns);
  return done;
}
