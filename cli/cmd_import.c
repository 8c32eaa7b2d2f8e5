/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_import.c -- `quiver import NAME FILE`: load records from .fvecs, .npy or .jsonl.
 *
 * The file is read and written in batches (--batch, default 1000). Each batch is one
 * qv_collection_add() and so all-or-nothing: at the first bad record (found while reading,
 * or refused by the library) the import stops, nothing of that batch is written, and the
 * batches before it stay. The message names the row (binary files, 0-based, like the ids)
 * or the line (JSONL, 1-based). The file's dimension is checked against the collection's
 * before anything is written. A progress bar is drawn on stderr when it is a terminal; a
 * summary line goes to stdout.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "import_src.h"

static const char help[] =
    "usage: quiver import NAME FILE [--format fvecs|npy|jsonl] [--batch 1000]\n"
    "                               [--id-prefix P] [--ids-from N] [--upsert | --skip-existing]\n"
    "                               [--create [--dim D] [--metric M] [--index K] ...]\n"
    "\n"
    "Import records into collection NAME from FILE (\"-\" reads stdin; then give --format).\n"
    "\n"
    "formats (guessed from the extension):\n"
    "  .fvecs   TEXMEX: per row an int32 d and d float32 values\n"
    "  .npy     NumPy float32 ('<f4') array of shape (rows, dim), C order\n"
    "  .jsonl   one JSON object per line: {\"id\": \"a\", \"embedding\": [..],\n"
    "           \"metadata\": {..}, \"document\": \"..\"}; only embedding is required\n"
    "Rows without an id get P + a counter that starts at the collection's record count\n"
    "(so \"0\", \"1\", ... are row numbers in a new collection), or at --ids-from N.\n"
    "\n"
    "Each batch is written all-or-nothing; the import stops at the first bad record,\n"
    "naming its row or line, and keeps the batches written before it.\n"
    "\n"
    "options:\n"
    "  --format FMT          fvecs, npy or jsonl\n"
    "  --batch N             records per batch (default 1000)\n"
    "  --id-prefix P         prefix for generated ids\n"
    "  --ids-from N          first generated id number\n"
    "  --upsert              replace records whose id exists (default: error)\n"
    "  --skip-existing       skip records whose id exists\n"
    "  -q, --quiet           no summary line\n"
    "  --create              create NAME if it does not exist, with these options:\n" CLI_COLLECTION_HELP
    "  --data DIR            data directory (default: $QUIVER_DATA, else ./quiver-data)\n";

enum { OPT_FORMAT = 256, OPT_BATCH, OPT_PREFIX, OPT_FROM, OPT_CREATE, OPT_UPSERT, OPT_SKIP };

static const struct option longopts[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"id-prefix", required_argument, NULL, OPT_PREFIX},
    {"ids-from", required_argument, NULL, OPT_FROM},
    {"create", no_argument, NULL, OPT_CREATE},
    {"upsert", no_argument, NULL, OPT_UPSERT},
    {"skip-existing", no_argument, NULL, OPT_SKIP},
    {"quiet", no_argument, NULL, 'q'},
    CLI_COLLECTION_LONGOPTS,
    CLI_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

typedef struct import_args {
  const char *name, *path;
  cli_format fmt;
  size_t batch;
  const char *id_prefix;
  size_t ids_from;
  int has_ids_from, create, upsert, skip, quiet, shape_given;
  cli_collopts copts;
} import_args;

static int parse_option(cli_ctx *ctx, int opt, import_args *a) {
  switch (opt) {
  case OPT_FORMAT:
    a->fmt = cli_format_parse(optarg);
    if (a->fmt == CLI_FMT_UNKNOWN || a->fmt == CLI_FMT_TEXT)
      return cli_usage(ctx, "unknown format '%s' (expected fvecs, npy or jsonl)", optarg);
    return CLI_OK;
  case OPT_BATCH: return cli_parse_size(ctx, "--batch", optarg, 1, 1000000, &a->batch);
  case OPT_PREFIX: a->id_prefix = optarg; return CLI_OK;
  case OPT_FROM:
    a->has_ids_from = 1;
    return cli_parse_size(ctx, "--ids-from", optarg, 0, SIZE_MAX, &a->ids_from);
  case OPT_CREATE: a->create = 1; return CLI_OK;
  case OPT_UPSERT: a->upsert = 1; return CLI_OK;
  case OPT_SKIP: a->skip = 1; return CLI_OK;
  case 'q': a->quiet = 1; return CLI_OK;
  default:
    a->shape_given = 1;
    return cli_collection_opt(ctx, opt, optarg, &a->copts) == CLI_OK ? CLI_OK : CLI_USAGE;
  }
}

static int parse_args(cli_ctx *ctx, int argc, char **argv, import_args *a) {
  int opt;
  memset(a, 0, sizeof *a);
  a->batch = 1000;
  cli_collopts_init(&a->copts);
  while ((opt = cli_getopt(ctx, argc, argv, ":q", longopts)) != -1) {
    if (opt == CLI_OPT_EXIT) return ctx->exit_code == CLI_OK ? CLI_DONE : ctx->exit_code;
    if (parse_option(ctx, opt, a) != CLI_OK) return CLI_USAGE;
  }
  if (argc - optind < 2) return cli_usage(ctx, "expected a collection NAME and a FILE");
  if (argc - optind > 2) return cli_usage(ctx, "unexpected argument '%s'", argv[optind + 2]);
  a->name = argv[optind];
  a->path = argv[optind + 1];
  if (a->shape_given && !a->create)
    return cli_usage(ctx, "--dim, --metric, --index, --param(s), --M, --ef-*, --metadata need --create");
  if (a->upsert && a->skip) return cli_usage(ctx, "--upsert and --skip-existing exclude each other");
  if (a->fmt == CLI_FMT_UNKNOWN) {
    a->fmt = cli_format_guess(a->path);
    if (a->fmt == CLI_FMT_UNKNOWN || a->fmt == CLI_FMT_TEXT)
      return cli_usage(ctx, "cannot tell the format of '%s' from its name; give --format "
                            "fvecs, npy or jsonl", a->path);
  }
  return CLI_OK;
}

/* Get the collection, or create it when --create says so, with the file's dimension. */
static int open_target(cli_ctx *ctx, qv_db *db, import_args *a, size_t file_dim,
                       qv_collection **out) {
  qv_status st = qv_collection_get(db, a->name, out);
  if (st == QV_NOTFOUND && a->create) {
    if (a->copts.o.dim == 0) a->copts.o.dim = (uint32_t)file_dim;
    if (cli_collopts_finish(ctx, &a->copts) != CLI_OK) return CLI_FAIL;
    st = qv_collection_create(db, a->name, &a->copts.o, out);
    if (st != QV_OK) return cli_fail_qv(ctx, db, st, "cannot create collection '%s'", a->name);
    return CLI_OK;
  }
  if (st == QV_NOTFOUND)
    return cli_fail(ctx, "no such collection '%s' in %s (add --create to create it)", a->name,
                    ctx->data_dir);
  if (st != QV_OK) return cli_fail_qv(ctx, db, st, "collection '%s'", a->name);
  return CLI_OK;
}

/* Check the file's dimension against the collection's, before anything is written. */
static int check_dim(cli_ctx *ctx, const import_args *a, import_src *src, uint32_t cdim) {
  if (src->fmt == CLI_FMT_JSONL) {
    src->dim = cdim; /* 0: the first line decides */
    return CLI_OK;
  }
  if (cdim && src->dim && src->dim != cdim)
    return cli_fail(ctx, "'%s' has dimension %zu but collection '%s' has dimension %u", a->path,
                    src->dim, a->name, (unsigned)cdim);
  return CLI_OK;
}

/*
 * Index of the record a library message is about: the first "[N]" in it ("ids[3]: ...",
 * "embeddings[3][17]: NaN"), or -1.
 */
static long message_index(const char *msg) {
  for (const char *p = strchr(msg, '['); p; p = strchr(p + 1, '['))
    if (isdigit((unsigned char)p[1])) return strtol(p + 1, NULL, 10);
  return -1;
}

static int write_batch(cli_ctx *ctx, qv_db *db, qv_collection *c, const import_args *a,
                       const import_batch *b, cli_progress *bar) {
  qv_batch qb;
  qv_status st;
  import_batch_view(b, &qb);
  if (a->upsert)
    st = qv_collection_upsert(c, &qb);
  else
    st = qv_collection_add(c, &qb, a->skip ? QV_CONFLICT_IGNORE : QV_CONFLICT_ERROR);
  if (st == QV_OK) return CLI_OK;
  cli_progress_finish(bar);
  const char *unit = a->fmt == CLI_FMT_JSONL ? "line" : "row";
  long i = message_index(qv_db_errmsg(db));
  if (i >= 0 && (size_t)i < b->n)
    return cli_fail_qv(ctx, db, st, "%s %llu", unit, (unsigned long long)b->loc[i]);
  return cli_fail_qv(ctx, db, st, "%ss %llu-%llu", unit, (unsigned long long)b->loc[0],
                     (unsigned long long)b->loc[b->n - 1]);
}

/* Read and write every batch; *n_done counts the records written. */
static int import_all(cli_ctx *ctx, qv_db *db, qv_collection *c, const import_args *a,
                      import_src *src, uint64_t *n_done) {
  import_batch b = {0};
  cli_progress bar;
  int rc = CLI_OK;

  cli_progress_init(&bar, src->fmt == CLI_FMT_JSONL ? 0 : src->vr.n_rows, "records");
  for (;;) {
    if (import_src_fill(src, &b, a->batch) != 0) {
      cli_progress_finish(&bar);
      rc = cli_fail(ctx, "%s", src->err);
      break;
    }
    if (b.n == 0) break;
    if ((rc = write_batch(ctx, db, c, a, &b, &bar)) != CLI_OK) break;
    *n_done += b.n;
    cli_progress_update(&bar, *n_done);
  }
  cli_progress_finish(&bar);
  import_batch_free(&b);
  return rc;
}

static int run(cli_ctx *ctx, int argc, char **argv) {
  import_args a;
  import_src src;
  qv_db *db = NULL;
  qv_collection *c = NULL;
  uint64_t count = 0, n_done = 0;
  double t0 = cli_now();
  int rc = parse_args(ctx, argc, argv, &a);

  memset(&src, 0, sizeof src);
  if (rc != CLI_OK) {
    cli_collopts_free(&a.copts);
    return rc == CLI_DONE ? CLI_OK : rc;
  }
  if (import_src_open(&src, a.path, a.fmt) != 0) {
    rc = cli_fail(ctx, "%s", src.err);
    goto cleanup;
  }
  if ((rc = cli_open_db(ctx, 1, &db)) != CLI_OK) goto cleanup;
  if ((rc = open_target(ctx, db, &a, src.dim, &c)) != CLI_OK) goto cleanup;
  if ((rc = check_dim(ctx, &a, &src, qv_collection_dim(c))) != CLI_OK) goto cleanup;
  qv_status st = qv_collection_count(c, &count);
  if (st != QV_OK) {
    rc = cli_fail_qv(ctx, db, st, "collection '%s'", a.name);
    goto cleanup;
  }
  src.id_prefix = a.id_prefix;
  src.next_id = a.has_ids_from ? a.ids_from : count;
  rc = import_all(ctx, db, c, &a, &src, &n_done);
  if (rc != CLI_OK && n_done > 0)
    fprintf(stderr, "quiver: import: %llu records were imported before the error; the "
                    "failing batch was not\n", (unsigned long long)n_done);
  if (rc == CLI_OK && !a.quiet)
    printf("imported %llu records in %.1f s\n", (unsigned long long)n_done, cli_now() - t0);
cleanup:
  cli_collopts_free(&a.copts);
  import_src_close(&src);
  qv_collection_release(c);
  qv_db_close(db);
  return rc;
}

const cli_cmd cli_cmd_import = {"import", run, "import records from .fvecs, .npy or .jsonl", help};
