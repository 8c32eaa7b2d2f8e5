/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * util.c -- helpers every `quiver` sub-command uses: error reporting in the one format
 * ("quiver: <command>: <message>"), option parsing around getopt_long(), opening the data
 * directory, and the progress bar.
 *
 * A read command never creates the data directory: when it is missing, cli_open_db() opens
 * an empty in-memory database instead, so `list` prints nothing and `query` reports an
 * unknown collection, as they would on an empty directory.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

/* ------------------------------------------------------------------ errors */

static void vreport(const cli_ctx *ctx, const char *fmt, va_list ap) CLI_PRINTF(2, 0);

static void vreport(const cli_ctx *ctx, const char *fmt, va_list ap) {
  fprintf(stderr, "quiver: %s: ", ctx->cmd ? ctx->cmd : "error");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

int cli_usage(const cli_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(ctx, fmt, ap);
  va_end(ap);
  fprintf(stderr, "Try 'quiver %s --help'.\n", ctx->cmd ? ctx->cmd : "");
  return CLI_USAGE;
}

int cli_fail(const cli_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(ctx, fmt, ap);
  va_end(ap);
  return CLI_FAIL;
}

int cli_fail_qv(const cli_ctx *ctx, const qv_db *db, qv_status rc, const char *fmt, ...) {
  const char *msg = db ? qv_db_errmsg(db) : "";
  va_list ap;

  if (!msg || !*msg) msg = qv_status_str(rc);
  fprintf(stderr, "quiver: %s: ", ctx->cmd ? ctx->cmd : "error");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, ": %s\n", msg);
  return CLI_FAIL;
}

/* ------------------------------------------------------------------ options */

void cli_getopt_reset(void) {
  optind = 0; /* GNU: full re-initialisation */
  opterr = 0; /* we print our own messages */
}

/* Name of the option getopt just stumbled on, for a message. */
static void bad_option_name(char **argv, char *buf, size_t len) {
  const char *a = optind > 0 ? argv[optind - 1] : "";
  if (optopt > 0 && optopt < 128 && strncmp(a, "--", 2) != 0)
    snprintf(buf, len, "-%c", optopt);
  else
    snprintf(buf, len, "%s", a);
  char *eq = strchr(buf, '=');
  if (eq && strncmp(buf, "--", 2) == 0) *eq = '\0';
}

int cli_getopt(cli_ctx *ctx, int argc, char **argv, const char *shortopts,
               const struct option *longopts) {
  char name[128];
  for (;;) {
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);
    switch (c) {
    case 'D':
      ctx->data_dir = optarg;
      ctx->data_explicit = 1;
      continue;
    case 'h':
      fputs(ctx->help, stdout);
      ctx->exit_code = CLI_OK;
      return CLI_OPT_EXIT;
    case ':':
      bad_option_name(argv, name, sizeof name);
      ctx->exit_code = cli_usage(ctx, "option '%s' requires an argument", name);
      return CLI_OPT_EXIT;
    case '?':
      bad_option_name(argv, name, sizeof name);
      ctx->exit_code = cli_usage(ctx, "unknown option '%s'", name);
      return CLI_OPT_EXIT;
    default:
      return c;
    }
  }
}

int cli_parse_size(const cli_ctx *ctx, const char *opt, const char *s, size_t min, size_t max,
                   size_t *out) {
  char *end = NULL;
  unsigned long long v;

  errno = 0;
  if (!s || !*s || *s == '-' || *s == '+') goto bad;
  v = strtoull(s, &end, 10);
  if (errno || *end != '\0') goto bad;
  if (v < min || v > max)
    return cli_usage(ctx, "%s must be between %zu and %zu, not %s", opt, min, max, s);
  *out = (size_t)v;
  return CLI_OK;
bad:
  return cli_usage(ctx, "%s expects a non-negative integer, not '%s'", opt, s ? s : "");
}

int cli_check_json_object(const cli_ctx *ctx, const char *opt, const char *s) {
  json_error_t err;
  json_t *j = json_loads(s, JSON_DECODE_ANY, &err);
  int rc = CLI_OK;

  if (!j)
    return cli_usage(ctx, "%s is not valid JSON: %s (at character %d)", opt, err.text,
                     err.position);
  if (!json_is_object(j)) rc = cli_usage(ctx, "%s must be a JSON object, like '{\"key\": 1}'", opt);
  json_decref(j);
  return rc;
}

void cli_strings_free(char **items) {
  if (!items) return;
  for (char **p = items; *p; p++) free(*p);
  free(items);
}

int cli_split_list(const char *s, char ***items, size_t *n) {
  const char *p = s;
  while (*p) {
    size_t len = strcspn(p, ",");
    if (len > 0) {
      char **grown = realloc(*items, (*n + 2) * sizeof *grown);
      if (!grown) return -1;
      *items = grown;
      grown[*n] = strndup(p, len);
      grown[*n + 1] = NULL;
      if (!grown[*n]) return -1;
      (*n)++;
    }
    p += len;
    if (*p == ',') p++;
  }
  return 0;
}

static unsigned include_bit(const char *w, size_t len, int allow_distances) {
  static const struct {
    const char *name;
    unsigned bit;
  } names[] = {
      {"metadatas", QV_INCLUDE_METADATAS},   {"metadata", QV_INCLUDE_METADATAS},
      {"documents", QV_INCLUDE_DOCUMENTS},   {"document", QV_INCLUDE_DOCUMENTS},
      {"embeddings", QV_INCLUDE_EMBEDDINGS}, {"embedding", QV_INCLUDE_EMBEDDINGS},
      {"distances", QV_INCLUDE_DISTANCES},   {"distance", QV_INCLUDE_DISTANCES},
  };
  if (len == 3 && strncmp(w, "all", 3) == 0)
    return QV_INCLUDE_METADATAS | QV_INCLUDE_DOCUMENTS | QV_INCLUDE_EMBEDDINGS |
           (allow_distances ? QV_INCLUDE_DISTANCES : 0);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strlen(names[i].name) != len || strncmp(names[i].name, w, len) != 0) continue;
    if (names[i].bit == QV_INCLUDE_DISTANCES && !allow_distances) return 0;
    return names[i].bit;
  }
  return 0;
}

int cli_parse_include(const cli_ctx *ctx, const char *s, int allow_distances, unsigned *out) {
  unsigned bits = 0;
  for (const char *p = s; *p;) {
    size_t len = strcspn(p, ", ");
    if (len > 0) {
      unsigned b = include_bit(p, len, allow_distances);
      if (!b)
        return cli_usage(ctx, "--include: unknown field '%.*s' (expected %s)", (int)len, p,
                         allow_distances ? "metadatas, documents, embeddings, distances or all"
                                         : "metadatas, documents, embeddings or all");
      bits |= b;
    }
    p += len;
    p += strspn(p, ", ");
  }
  *out = bits;
  return CLI_OK;
}

/* ------------------------------------------------------------------ database */

int cli_open_db(const cli_ctx *ctx, int for_write, qv_db **out) {
  char errbuf[512] = "";
  const char *path = ctx->data_dir;
  qv_open_opts o;
  struct stat st;

  *out = NULL;
  qv_open_opts_init(&o);
  o.errbuf = errbuf;
  o.errbuf_len = sizeof errbuf;
  if (!for_write) {
    if (stat(path, &st) != 0 && errno == ENOENT)
      path = NULL; /* nothing there yet: behave as an empty database */
    else
      o.read_only = 1;
  }
  qv_status rc = qv_db_open(path, &o, out);
  if (rc != QV_OK)
    return cli_fail(ctx, "cannot open data directory '%s': %s", ctx->data_dir,
                    errbuf[0] ? errbuf : qv_status_str(rc));
  return CLI_OK;
}

int cli_open_collection(const cli_ctx *ctx, qv_db *db, const char *name, qv_collection **out) {
  qv_status rc = qv_collection_get(db, name, out);
  if (rc == QV_NOTFOUND)
    return cli_fail(ctx, "no such collection '%s' in %s", name, ctx->data_dir);
  if (rc != QV_OK) return cli_fail_qv(ctx, db, rc, "collection '%s'", name);
  return CLI_OK;
}

/* ------------------------------------------------------------------ misc */

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *cli_fmt_bytes(char *buf, size_t len, uint64_t n) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)n;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024.0;
    u++;
  }
  if (u == 0)
    snprintf(buf, len, "%llu B", (unsigned long long)n);
  else
    snprintf(buf, len, "%.1f %s", v, units[u]);
  return buf;
}

/* ------------------------------------------------------------------ progress bar */

#define BAR_WIDTH 30

void cli_progress_init(cli_progress *p, uint64_t total, const char *unit) {
  memset(p, 0, sizeof *p);
  p->enabled = isatty(STDERR_FILENO);
  p->total = total;
  p->unit = unit;
  p->t0 = cli_now();
}

static void draw_bar(const cli_progress *p, uint64_t done, double rate) {
  char bar[BAR_WIDTH + 1];
  double frac = (double)done / (double)p->total;
  if (frac > 1.0) frac = 1.0;
  int fill = (int)(frac * BAR_WIDTH);
  for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
  bar[BAR_WIDTH] = '\0';
  double eta = rate > 0 ? (double)(p->total - (done < p->total ? done : p->total)) / rate : 0;
  fprintf(stderr, "\r%3d%% [%s] %llu/%llu %s  %.0f/s  ETA %.0fs\033[K", (int)(frac * 100), bar,
          (unsigned long long)done, (unsigned long long)p->total, p->unit, rate, eta);
}

void cli_progress_update(cli_progress *p, uint64_t done) {
  if (!p->enabled) return;
  double now = cli_now();
  if (now - p->last < 0.1 && done < p->total) return;
  p->last = now;
  double rate = now > p->t0 ? (double)done / (now - p->t0) : 0;
  if (p->total)
    draw_bar(p, done, rate);
  else
    fprintf(stderr, "\r%llu %s  %.0f/s\033[K", (unsigned long long)done, p->unit, rate);
  fflush(stderr);
}

void cli_progress_finish(cli_progress *p) {
  if (!p->enabled) return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
  p->enabled = 0; /* finishing twice is harmless */
}
