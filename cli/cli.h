/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cli.h -- what the files of the `quiver` command share.
 *
 * The CLI is a client of include/quiver.h and nothing else: no private header of src/ is
 * included anywhere under cli/. main.c parses the global options and dispatches to one
 * cmd_<verb>.c per sub-command; util.c holds argument parsing, error reporting, opening the
 * data directory and the progress bar; vecfile.c reads vectors (.fvecs, .npy, text);
 * output.c prints results as a table or as Chroma-shaped JSON.
 *
 * Exit codes, the same for every command:
 *   0  success
 *   1  the request was well formed but failed (unknown collection, wrong dimension, NaN in a
 *      file, malformed JSONL line, filter the library refuses, I/O error...)
 *   2  the command line itself is wrong (unknown option, missing argument, not a number,
 *      an argument that is not JSON)
 * Every error is one line on stderr: "quiver: <command>: <message>".
 */
#ifndef QV_CLI_H
#define QV_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <getopt.h>

#include "quiver.h"

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };
/* Returned by a command's argument parser when it is done (after --help): exit with 0. */
#define CLI_DONE (-1)

#define CLI_DEFAULT_DATA "./quiver-data"

/* State of one invocation, shared by main.c and the command it runs. */
typedef struct cli_ctx {
  const char *cmd;      /* sub-command name, for messages */
  const char *help;     /* the command's --help text */
  const char *data_dir; /* --data, else $QUIVER_DATA, else CLI_DEFAULT_DATA */
  int data_explicit;    /* --data or $QUIVER_DATA was given */
  int exit_code;        /* set by cli_getopt() when it returns CLI_OPT_EXIT */
} cli_ctx;

/* One sub-command: its entry point and its help. */
typedef struct cli_cmd {
  const char *name;
  int (*run)(cli_ctx *ctx, int argc, char **argv);
  const char *summary; /* one line for `quiver --help` */
  const char *help;    /* full text for `quiver <name> --help` */
} cli_cmd;

extern const cli_cmd cli_cmd_create, cli_cmd_list, cli_cmd_info, cli_cmd_import, cli_cmd_query,
    cli_cmd_get, cli_cmd_delete, cli_cmd_drop, cli_cmd_rename, cli_cmd_compact, cli_cmd_serve;
/* advanced reads: cmd_range.c, cmd_kmeans.c, cmd_vecmath.c */
extern const cli_cmd cli_cmd_range, cli_cmd_kmeans, cli_cmd_combine, cli_cmd_interpolate, cli_cmd_centroid,
    cli_cmd_recommend, cli_cmd_text, cli_cmd_hybrid;
extern const cli_cmd cli_cmd_export, cli_cmd_verify;
extern const cli_cmd cli_cmd_cluster; /* cmd_cluster.c */

/* ------------------------------------------------------------------ util.c: errors */

/* Print "quiver: <cmd>: <message>" plus a hint to use --help; return CLI_USAGE. */
int cli_usage(const cli_ctx *ctx, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Print "quiver: <cmd>: <message>"; return CLI_FAIL. */
int cli_fail(const cli_ctx *ctx, const char *fmt, ...) CLI_PRINTF(2, 3);
/*
 * Report a failed library call: "quiver: <cmd>: <context>: <qv_db_errmsg(db)>", falling back
 * on qv_status_str(rc) when the handle has no message. db may be NULL. Returns CLI_FAIL.
 */
int cli_fail_qv(const cli_ctx *ctx, const qv_db *db, qv_status rc, const char *fmt, ...)
    CLI_PRINTF(4, 5);

/* ------------------------------------------------------------------ util.c: options */

/* Options every command accepts; append them to a command's long-option table. */
#define CLI_COMMON_LONGOPTS {"data", required_argument, NULL, 'D'}, {"help", no_argument, NULL, 'h'}
#define CLI_OPT_EXIT (-2)

/*
 * getopt_long() for a sub-command, with the common options handled here: --data sets
 * ctx->data_dir, --help prints ctx->help, an unknown option or a missing argument is a usage
 * error. Returns the next command-specific option, -1 at the end, or CLI_OPT_EXIT with
 * ctx->exit_code set (0 after --help, 2 after an error). shortopts must start with ':'.
 */
int cli_getopt(cli_ctx *ctx, int argc, char **argv, const char *shortopts,
               const struct option *longopts);
/* Start option parsing of a new argv (resets getopt's state). */
void cli_getopt_reset(void);

/* Parse a non-negative integer option within [min, max]; usage error otherwise. */
int cli_parse_size(const cli_ctx *ctx, const char *opt, const char *s, size_t min, size_t max,
                   size_t *out);
/* Check that the value of option opt is JSON of the given type ("object"); usage error otherwise. */
int cli_check_json_object(const cli_ctx *ctx, const char *opt, const char *s);
/*
 * Split a comma-separated list and append its non-empty items to *items (a NULL-terminated
 * array the caller owns: cli_strings_free()). Returns 0, or -1 when out of memory.
 */
int cli_split_list(const char *s, char ***items, size_t *n);
void cli_strings_free(char **items);
/*
 * Parse an --include list ("metadatas,documents,distances,embeddings", or "all") into
 * QV_INCLUDE_* bits. allow_distances is 0 for get. Usage error on an unknown name.
 */
int cli_parse_include(const cli_ctx *ctx, const char *s, int allow_distances, unsigned *out);

/* ------------------------------------------------------------------ collopts.c */

/* Long options describing a collection's shape (create, import --create). */
#define CLI_COLLECTION_LONGOPTS                                                                  \
  {"dim", required_argument, NULL, 'd'}, {"metric", required_argument, NULL, 'm'},               \
      {"index", required_argument, NULL, 'i'}, {"M", required_argument, NULL, 'M'},              \
      {"ef-construction", required_argument, NULL, 'c'},                                         \
      {"ef-search", required_argument, NULL, 'e'}, {"metadata", required_argument, NULL, 'j'},  \
      {"param", required_argument, NULL, 'P'}, {"params", required_argument, NULL, 'J'}
/* Help lines for those options. */
#define CLI_COLLECTION_HELP                                                                      \
  "  --dim D               dimension (omitted: fixed by the first records written)\n"            \
  "  --metric NAME         l2 (squared euclidean, default), ip, cosine, l1, hamming\n"                  \
  "  --index KIND          flat (exact, default), hnsw (approximate), or another kind this\n"      \
  "                        build has (`quiver kinds` lists them with their parameters)\n"        \
  "  --param KEY=VALUE     an index parameter (repeatable), e.g. --param quantizer=none\n"       \
  "  --params JSON         index parameters as a JSON object, e.g. '{\"M\": 32}'\n"             \
  "  --M N                 shorthand for --param M=N (HNSW neighbours per node, default 16)\n"  \
  "  --ef-construction N   shorthand for --param ef_construction=N (HNSW, default 200)\n"       \
  "  --ef-search N         shorthand for --param ef_search=N (HNSW, default 64)\n"              \
  "  --metadata JSON       the collection's own metadata, a JSON object\n"

/* A collection's shape as the options give it: the library's opts plus the index parameters
 * gathered as one JSON object (--param, --params and the shorthands). */
typedef struct cli_collopts {
  qv_collection_opts o;
  void *params;       /* json_t object, NULL while no parameter was given */
  char *params_text;  /* its text once finished: o.params_json points here */
} cli_collopts;

void cli_collopts_init(cli_collopts *co);
void cli_collopts_free(cli_collopts *co);
/*
 * Apply collection option c (one of the CLI_COLLECTION_LONGOPTS values) with argument arg to
 * *co. Returns CLI_OK, CLI_USAGE after printing the error, or -1 if c is not such an option.
 */
int cli_collection_opt(const cli_ctx *ctx, int c, const char *arg, cli_collopts *co);
/* After the options: put the gathered parameters into co->o.params_json. */
int cli_collopts_finish(const cli_ctx *ctx, cli_collopts *co);

/* ------------------------------------------------------------------ util.c: database */

/*
 * Open the data directory. for_write 0 opens it read-only, and opens an empty in-memory
 * database instead when the directory does not exist (a read never creates it).
 * Prints the error itself; returns CLI_OK or CLI_FAIL.
 */
int cli_open_db(const cli_ctx *ctx, int for_write, qv_db **out);
/* Open collection name; "no such collection" names it. Returns CLI_OK or CLI_FAIL. */
int cli_open_collection(const cli_ctx *ctx, qv_db *db, const char *name, qv_collection **out);

/* ------------------------------------------------------------------ util.c: misc */

/* Monotonic seconds. */
double cli_now(void);
/* "183.8 MiB" style size into buf. */
const char *cli_fmt_bytes(char *buf, size_t len, uint64_t n);

/* Progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct cli_progress {
  int enabled;
  uint64_t total; /* 0 when unknown */
  double t0, last;
  const char *unit;
} cli_progress;

void cli_progress_init(cli_progress *p, uint64_t total, const char *unit);
void cli_progress_update(cli_progress *p, uint64_t done);
/* Erase the bar (the caller prints its own summary). */
void cli_progress_finish(cli_progress *p);

/* ------------------------------------------------------------------ vecfile.c */

typedef enum cli_format {
  CLI_FMT_UNKNOWN = 0,
  CLI_FMT_FVECS,
  CLI_FMT_NPY,
  CLI_FMT_JSONL,
  CLI_FMT_TEXT
} cli_format;

/* Format from a file name's extension; CLI_FMT_UNKNOWN if none matches. */
cli_format cli_format_guess(const char *path);
/* Parse "fvecs", "npy", "jsonl", "text"; CLI_FMT_UNKNOWN otherwise. */
cli_format cli_format_parse(const char *name);
const char *cli_format_name(cli_format f);

/*
 * Streaming reader of float32 rows from an .fvecs or .npy file ("-" is stdin).
 * Open reads the header, so dim (and n_rows when the file says) are known afterwards.
 */
typedef struct cli_vreader {
  FILE *f;
  int owns_f;
  cli_format fmt;
  size_t dim;
  uint64_t n_rows;  /* rows in the file, 0 when unknown */
  uint64_t row;     /* rows returned so far */
  int have_dim;     /* fvecs: the first row's dimension was read by open */
  int u8;           /* .npy of uint8: packed bits (hamming); dim counts bits, a row is dim / 8 bytes */
  char err[256];    /* why open or next failed */
} cli_vreader;

/* Returns 0, or -1 with r->err set. r is always safe to close afterwards. */
int cli_vreader_open(cli_vreader *r, const char *path, cli_format fmt);
/* Read the next row into out[0..dim-1]: 1 read, 0 at the end, -1 error (r->err). */
int cli_vreader_next(cli_vreader *r, float *out);
void cli_vreader_close(cli_vreader *r);

/* Index of the first NaN/Inf in v[0..n-1], or -1 if all are finite. */
long cli_first_nonfinite(const float *v, size_t n);

/* A block of float32 rows, caller owns data (free()). */
typedef struct cli_vecs {
  float *data;
  size_t n, dim;
} cli_vecs;

/*
 * Parse numbers separated by commas, whitespace, ';' or brackets. When dim is non-zero the
 * count must be a multiple of it and gives the number of rows; otherwise it is one row.
 * Returns 0, or -1 with err set.
 */
int cli_vecs_parse_text(const char *text, size_t dim, cli_vecs *out, char *err, size_t errlen);
/*
 * Read rows first..first+count-1 (count 0 = to the end) of a vector file (fvecs, npy, or
 * text when fmt is CLI_FMT_TEXT). Returns 0, or -1 with err set.
 */
int cli_vecs_read_file(const char *path, cli_format fmt, size_t dim, size_t first, size_t count,
                       cli_vecs *out, char *err, size_t errlen);
/* Read a whole stream into a NUL-terminated buffer the caller frees; NULL on failure. */
char *cli_read_all(FILE *f, size_t *len);

/* ------------------------------------------------------------------ output.c */

/* Print the results as JSON in Chroma's shape (query: lists of lists; get: flat lists). */
int cli_print_results_json(FILE *out, const qv_results *r, int is_query);
/* Print query results as a table; one block per query row when there are several. */
void cli_print_query_table(FILE *out, const qv_results *r, int full);
/* Print get results as a table. */
void cli_print_get_table(FILE *out, const qv_results *r, int full);
/* Print a jansson-free JSON string literal of s (escaped). */
void cli_print_json_string(FILE *out, const char *s);

#endif /* QV_CLI_H */
