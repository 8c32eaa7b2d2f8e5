/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * vecfile.c -- reading float32 vectors for `quiver import` and `quiver query`.
 *
 * Formats (all little-endian; the CLI assumes a little-endian host, like x86-64 and arm64):
 *   .fvecs  TEXMEX: per row an int32 d, then d float32. Every row must have the first
 *           row's d.
 *   .npy    NumPy format 1.0, 2.0 or 3.0: "\x93NUMPY", major, minor, a header length (uint16
 *           for 1.x, uint32 after), then a Python dict literal such as
 *           {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }
 *           padded with spaces and '\n'; then the data. Only '<f4' in C order is accepted,
 *           with a 2-D shape (rows, dim) or a 1-D shape (dim,) read as one row.
 *   text    numbers separated by whitespace, commas, ';' or brackets ("1,2,3" or
 *           "[[1,2],[3,4]]"); the dimension cuts them into rows.
 * Readers stream (one row at a time) so that importing a large file needs one batch of
 * memory, and "-" reads stdin. Values are returned as read; callers reject NaN and Inf with
 * cli_first_nonfinite() so that the message can name the row or line.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"

#define MAX_DIM (1u << 20)
#define MAX_NPY_HEADER (1u << 20)

/* ------------------------------------------------------------------ formats */

cli_format cli_format_guess(const char *path) {
  const char *dot = strrchr(path, '.');
  if (!dot || strchr(dot, '/')) return CLI_FMT_UNKNOWN;
  if (strcasecmp(dot, ".fvecs") == 0) return CLI_FMT_FVECS;
  if (strcasecmp(dot, ".npy") == 0) return CLI_FMT_NPY;
  if (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".ndjson") == 0) return CLI_FMT_JSONL;
  if (strcasecmp(dot, ".txt") == 0 || strcasecmp(dot, ".csv") == 0 ||
      strcasecmp(dot, ".tsv") == 0 || strcasecmp(dot, ".json") == 0)
    return CLI_FMT_TEXT;
  return CLI_FMT_UNKNOWN;
}

cli_format cli_format_parse(const char *name) {
  static const cli_format all[] = {CLI_FMT_FVECS, CLI_FMT_NPY, CLI_FMT_JSONL, CLI_FMT_TEXT};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcasecmp(name, cli_format_name(all[i])) == 0) return all[i];
  return CLI_FMT_UNKNOWN;
}

const char *cli_format_name(cli_format f) {
  switch (f) {
  case CLI_FMT_FVECS: return "fvecs";
  case CLI_FMT_NPY: return "npy";
  case CLI_FMT_JSONL: return "jsonl";
  case CLI_FMT_TEXT: return "text";
  default: return "unknown";
  }
}

long cli_first_nonfinite(const float *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return (long)i;
  return -1;
}

/* ------------------------------------------------------------------ .fvecs */

/* Read the int32 dimension that starts a row: 1 read, 0 clean end of file, -1 error. */
static int fvecs_read_dim(cli_vreader *r, int32_t *d) {
  size_t got = fread(d, 1, sizeof *d, r->f);
  if (got == sizeof *d) return 1;
  if (got == 0 && feof(r->f)) return 0;
  snprintf(r->err, sizeof r->err, "row %llu is truncated (file ends inside its header)",
           (unsigned long long)r->row);
  return -1;
}

static int fvecs_open(cli_vreader *r) {
  int32_t d = 0;
  struct stat st;
  int got = fvecs_read_dim(r, &d);

  if (got < 0) return -1;
  if (got == 0) return 0; /* empty file: no rows, dim 0 */
  if (d <= 0 || (uint32_t)d > MAX_DIM) {
    snprintf(r->err, sizeof r->err, "not an .fvecs file: the first row's dimension is %d",
             (int)d);
    return -1;
  }
  r->dim = (size_t)d;
  r->have_dim = 1;
  if (fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode))
    r->n_rows = (uint64_t)st.st_size / (4 + 4 * (uint64_t)r->dim);
  return 0;
}

static int fvecs_next(cli_vreader *r, float *out) {
  int32_t d = 0;
  if (!r->have_dim) {
    int got = fvecs_read_dim(r, &d);
    if (got <= 0) return got;
    if (d < 0 || (size_t)d != r->dim) {
      snprintf(r->err, sizeof r->err, "row %llu has dimension %d, but the first row has %zu",
               (unsigned long long)r->row, (int)d, r->dim);
      return -1;
    }
  }
  r->have_dim = 0;
  if (r->dim == 0) return 0;
  if (fread(out, sizeof *out, r->dim, r->f) != r->dim) {
    snprintf(r->err, sizeof r->err, "row %llu is truncated", (unsigned long long)r->row);
    return -1;
  }
  r->row++;
  return 1;
}

/* ------------------------------------------------------------------ .npy */

/* Pointer to the value of key in a Python dict literal (after ':' and spaces), or NULL. */
static const char *npy_value(const char *hdr, const char *key) {
  char quoted[32];
  const char *p;
  snprintf(quoted, sizeof quoted, "'%s'", key);
  p = strstr(hdr, quoted);
  if (!p) {
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    p = strstr(hdr, quoted);
  }
  if (!p) return NULL;
  p += strlen(quoted);
  while (isspace((unsigned char)*p)) p++;
  if (*p != ':') return NULL;
  p++;
  while (isspace((unsigned char)*p)) p++;
  return p;
}

static int npy_check_descr(cli_vreader *r, const char *hdr) {
  char descr[32] = "";
  const char *v = npy_value(hdr, "descr");
  if (!v || (*v != '\'' && *v != '"')) {
    snprintf(r->err, sizeof r->err, "bad .npy header: no 'descr'");
    return -1;
  }
  size_t len = strcspn(v + 1, "'\"");
  snprintf(descr, sizeof descr, "%.*s", (int)(len < 31 ? len : 31), v + 1);
  if (strcmp(descr, "<f4") == 0) return 0;
  if (strcmp(descr, "|u1") == 0 || strcmp(descr, "<u1") == 0) { /* packed bits (numpy.packbits) */
    r->u8 = 1;
    return 0;
  }
  if (strcmp(descr, ">f4") == 0)
    snprintf(r->err, sizeof r->err,
             "big-endian float32 ('>f4') is not supported; save arr.astype('<f4')");
  else
    snprintf(r->err, sizeof r->err,
             "dtype '%s' is not supported: only float32 ('<f4') or packed bits (uint8, for hamming); convert with "
             "arr.astype(numpy.float32)",
             descr);
  return -1;
}

static int npy_parse_shape(cli_vreader *r, const char *hdr) {
  unsigned long long dims[8];
  int nd = 0;
  const char *p = npy_value(hdr, "shape");
  if (!p || *p != '(') goto bad;
  for (p++;;) {
    while (isspace((unsigned char)*p) || *p == ',') p++;
    if (*p == ')') break;
    if (!isdigit((unsigned char)*p) || nd == 8) goto bad;
    char *end;
    dims[nd++] = strtoull(p, &end, 10);
    p = end;
    if (*p == 'L') p++; /* Python 2 longs */
  }
  if (nd == 2) {
    r->n_rows = dims[0];
    r->dim = (size_t)dims[1];
  } else if (nd == 1) {
    r->n_rows = 1;
    r->dim = (size_t)dims[0];
  } else {
    snprintf(r->err, sizeof r->err, "expected a 2-D array (rows, dim), got a %d-D one", nd);
    return -1;
  }
  if (r->dim == 0 || r->dim > MAX_DIM) {
    snprintf(r->err, sizeof r->err, "unsupported dimension %zu", r->dim);
    return -1;
  }
  return 0;
bad:
  snprintf(r->err, sizeof r->err, "bad .npy header: cannot read 'shape'");
  return -1;
}

static int npy_parse_header(cli_vreader *r, const char *hdr) {
  const char *fo = npy_value(hdr, "fortran_order");
  if (npy_check_descr(r, hdr) != 0) return -1;
  if (fo && strncmp(fo, "True", 4) == 0) {
    snprintf(r->err, sizeof r->err,
             "Fortran-order arrays are not supported; save numpy.ascontiguousarray(arr)");
    return -1;
  }
  if (npy_parse_shape(r, hdr) != 0) return -1;
  if (r->u8) r->dim *= 8; /* bits */
  return 0;
}

static int npy_open(cli_vreader *r) {
  unsigned char pre[12];
  uint32_t hlen;
  char *hdr = NULL;
  int rc = -1;

  if (fread(pre, 1, 10, r->f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    snprintf(r->err, sizeof r->err, "not an .npy file (bad magic)");
    return -1;
  }
  if (pre[6] == 1) {
    hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
  } else if (pre[6] == 2 || pre[6] == 3) {
    if (fread(pre + 10, 1, 2, r->f) != 2) goto truncated;
    hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
           (uint32_t)pre[11] << 24;
  } else {
    snprintf(r->err, sizeof r->err, "unsupported .npy format version %d.%d", pre[6], pre[7]);
    return -1;
  }
  if (hlen > MAX_NPY_HEADER) {
    snprintf(r->err, sizeof r->err, "bad .npy header: length %u", (unsigned)hlen);
    return -1;
  }
  hdr = malloc((size_t)hlen + 1);
  if (!hdr) {
    snprintf(r->err, sizeof r->err, "out of memory");
    return -1;
  }
  if (fread(hdr, 1, hlen, r->f) != hlen) goto truncated;
  hdr[hlen] = '\0';
  rc = npy_parse_header(r, hdr);
  free(hdr);
  return rc;
truncated:
  free(hdr);
  snprintf(r->err, sizeof r->err, "truncated .npy header");
  return -1;
}

static int npy_next(cli_vreader *r, float *out) {
  if (r->row >= r->n_rows) return 0;
  size_t size = r->u8 ? 1 : sizeof *out, count = r->u8 ? r->dim / 8 : r->dim;
  if (fread(out, size, count, r->f) != count) {
    snprintf(r->err, sizeof r->err, "truncated: the header says %llu rows, the data ends in row %llu",
             (unsigned long long)r->n_rows, (unsigned long long)r->row);
    return -1;
  }
  r->row++;
  return 1;
}

/* ------------------------------------------------------------------ reader */

int cli_vreader_open(cli_vreader *r, const char *path, cli_format fmt) {
  memset(r, 0, sizeof *r);
  r->fmt = fmt;
  if (fmt != CLI_FMT_FVECS && fmt != CLI_FMT_NPY) {
    snprintf(r->err, sizeof r->err, "not a binary vector format: %s", cli_format_name(fmt));
    return -1;
  }
  if (strcmp(path, "-") == 0) {
    r->f = stdin;
  } else {
    r->f = fopen(path, "rb");
    if (!r->f) {
      snprintf(r->err, sizeof r->err, "cannot open '%s': %s", path, strerror(errno));
      return -1;
    }
    r->owns_f = 1;
  }
  return fmt == CLI_FMT_FVECS ? fvecs_open(r) : npy_open(r);
}

int cli_vreader_next(cli_vreader *r, float *out) {
  if (!r->f) return 0;
  return r->fmt == CLI_FMT_FVECS ? fvecs_next(r, out) : npy_next(r, out);
}

void cli_vreader_close(cli_vreader *r) {
  if (r->f && r->owns_f) fclose(r->f);
  r->f = NULL;
}

/* ------------------------------------------------------------------ whole files */

char *cli_read_all(FILE *f, size_t *len) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - 1 - n, f);
    if (n < cap - 1) break;
    char *grown = realloc(buf, cap * 2);
    if (!grown) {
      free(buf);
      return NULL;
    }
    buf = grown;
    cap *= 2;
  }
  if (!buf) return NULL;
  if (ferror(f)) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

static int is_sep(int ch) {
  return isspace(ch) || ch == ',' || ch == ';' || ch == '[' || ch == ']';
}

int cli_vecs_parse_text(const char *text, size_t dim, cli_vecs *out, char *err, size_t errlen) {
  size_t cap = 64, n = 0;
  float *v = malloc(cap * sizeof *v);
  const char *p = text;

  memset(out, 0, sizeof *out);
  if (!v) goto nomem;
  for (;;) {
    while (*p && is_sep((unsigned char)*p)) p++;
    if (!*p) break;
    char *end;
    errno = 0;
    float x = strtof(p, &end);
    if (end == p || (*end && !is_sep((unsigned char)*end))) {
      snprintf(err, errlen, "not a number: '%.*s'", (int)strcspn(p, " \t\r\n,;[]"), p);
      goto fail;
    }
    if (n == cap) {
      float *grown = realloc(v, 2 * cap * sizeof *v);
      if (!grown) goto nomem;
      v = grown;
      cap *= 2;
    }
    v[n++] = x;
    p = end;
  }
  if (n == 0) {
    snprintf(err, errlen, "no numbers found");
    goto fail;
  }
  if (dim && n % dim != 0) {
    snprintf(err, errlen, "%zu numbers given, which is not a multiple of the dimension %zu", n,
             dim);
    goto fail;
  }
  out->data = v;
  out->dim = dim ? dim : n;
  out->n = n / out->dim;
  return 0;
nomem:
  snprintf(err, errlen, "out of memory");
fail:
  free(v);
  return -1;
}

/* Keep rows [first, first + count) of v (count 0 = to the end). */
static int slice_rows(cli_vecs *v, size_t first, size_t count, char *err, size_t errlen) {
  if (first >= v->n) {
    snprintf(err, errlen, "row %zu requested but the file has %zu row(s)", first, v->n);
    return -1;
  }
  size_t avail = v->n - first;
  if (count == 0 || count > avail) count = avail;
  memmove(v->data, v->data + first * v->dim, count * v->dim * sizeof *v->data);
  v->n = count;
  return 0;
}

static int read_binary_rows(const char *path, cli_format fmt, size_t first, size_t count,
                            cli_vecs *out, char *err, size_t errlen) {
  cli_vreader r;
  float *rows = NULL;
  size_t n = 0, cap = 0;
  int rc = -1, got = 0;

  if (cli_vreader_open(&r, path, fmt) != 0) goto cleanup;
  if (r.dim == 0) {
    snprintf(r.err, sizeof r.err, "'%s' has no rows", path);
    goto cleanup;
  }
  for (uint64_t i = 0; count == 0 || n < count; i++) {
    if (n == cap) {
      size_t ncap = cap ? 2 * cap : 16;
      float *grown = realloc(rows, ncap * r.dim * sizeof *rows);
      if (!grown) {
        snprintf(r.err, sizeof r.err, "out of memory");
        goto cleanup;
      }
      rows = grown;
      cap = ncap;
    }
    got = cli_vreader_next(&r, rows + n * r.dim);
    if (got < 0) goto cleanup;
    if (got == 0) break;
    if (i >= first) n++;
  }
  if (n == 0) {
    snprintf(r.err, sizeof r.err, "row %zu requested but the file has %llu row(s)", first,
             (unsigned long long)r.row);
    goto cleanup;
  }
  out->data = rows;
  out->n = n;
  out->dim = r.dim;
  rows = NULL;
  rc = 0;
cleanup:
  if (rc != 0) snprintf(err, errlen, "%s", r.err);
  free(rows);
  cli_vreader_close(&r);
  return rc;
}

int cli_vecs_read_file(const char *path, cli_format fmt, size_t dim, size_t first, size_t count,
                       cli_vecs *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (fmt == CLI_FMT_FVECS || fmt == CLI_FMT_NPY)
    return read_binary_rows(path, fmt, first, count, out, err, errlen);

  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
    return -1;
  }
  char *text = cli_read_all(f, NULL);
  if (f != stdin) fclose(f);
  if (!text) {
    snprintf(err, errlen, "cannot read '%s'", path);
    return -1;
  }
  int rc = cli_vecs_parse_text(text, dim, out, err, errlen);
  free(text);
  if (rc == 0 && (first > 0 || count > 0)) {
    rc = slice_rows(out, first, count, err, errlen);
    if (rc != 0) {
      free(out->data);
      memset(out, 0, sizeof *out);
    }
  }
  return rc;
}
