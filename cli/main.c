/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * main.c -- entry point of the `quiver` command: global options and dispatch.
 *
 *   quiver [--data DIR] <command> [options] [arguments]
 *
 * Global options come before the command (--data is also accepted after it, by every
 * command). The data directory is --data, else $QUIVER_DATA, else ./quiver-data; it is
 * created by the first command that writes. Each command lives in cli/cmd_<verb>.c and is
 * listed in the table below; cli.h documents the exit codes.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_cmd *const commands[] = {
    &cli_cmd_create, &cli_cmd_list,   &cli_cmd_info, &cli_cmd_import, &cli_cmd_query,
    &cli_cmd_get,    &cli_cmd_delete, &cli_cmd_drop, &cli_cmd_rename, &cli_cmd_compact,
    &cli_cmd_serve,  &cli_cmd_range,  &cli_cmd_kmeans, &cli_cmd_combine, &cli_cmd_interpolate,
    &cli_cmd_centroid, &cli_cmd_recommend, &cli_cmd_text, &cli_cmd_hybrid,
    &cli_cmd_export, &cli_cmd_verify, &cli_cmd_cluster,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *out) {
  fprintf(out,
          "usage: quiver [--data DIR] <command> [options] [arguments]\n"
          "\n"
          "quiver is an embeddable vector database; this tool manages a data directory.\n"
          "\n"
          "commands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(out, "  %-11s  %s\n", commands[i]->name, commands[i]->summary);
  fprintf(out,
          "\n"
          "global options:\n"
          "  --data DIR   data directory (default: $QUIVER_DATA, else %s)\n"
          "  --help       this text; `quiver <command> --help` for a command's options\n"
          "  --version    print the version and exit\n"
          "\n"
          "exit status: 0 success, 1 the command failed, 2 usage error.\n",
          CLI_DEFAULT_DATA);
}

static const cli_cmd *find_command(const char *name) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(commands[i]->name, name) == 0) return commands[i];
  return NULL;
}

/* `quiver help [command]`: the same as `quiver <command> --help`. */
static int run_help(cli_ctx *ctx, int argc, char **argv) {
  static char help_opt[] = "--help";
  if (argc < 2) {
    print_usage(stdout);
    return CLI_OK;
  }
  const cli_cmd *c = find_command(argv[1]);
  if (!c) {
    fprintf(stderr, "quiver: help: unknown command '%s'\n", argv[1]);
    return CLI_USAGE;
  }
  char *args[] = {argv[1], help_opt, NULL};
  ctx->cmd = c->name;
  ctx->help = c->help;
  cli_getopt_reset();
  return c->run(ctx, 2, args);
}

static void print_version(void) {
  printf("quiver %s (libquiver %s)\n", QV_VERSION_STRING, qv_libversion());
}

/*
 * Parse the global options in argv[1..] up to the command name. Returns the index of the
 * command in argv, or -1 after an option that ends the program (exit code in *code).
 */
static int parse_global(int argc, char **argv, cli_ctx *ctx, int *code) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      print_usage(stdout);
      *code = CLI_OK;
      return -1;
    } else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
      print_version();
      *code = CLI_OK;
      return -1;
    } else if (strcmp(a, "--data") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "quiver: option '--data' requires an argument\n");
        *code = CLI_USAGE;
        return -1;
      }
      ctx->data_dir = argv[++i];
      ctx->data_explicit = 1;
    } else if (strncmp(a, "--data=", 7) == 0) {
      ctx->data_dir = a + 7;
      ctx->data_explicit = 1;
    } else {
      fprintf(stderr, "quiver: unknown option '%s'\nTry 'quiver --help'.\n", a);
      *code = CLI_USAGE;
      return -1;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "quiver: no command given\n");
    print_usage(stderr);
    *code = CLI_USAGE;
    return -1;
  }
  return i;
}

int main(int argc, char **argv) {
  cli_ctx ctx = {0};
  int code = CLI_OK;
  const char *env = getenv("QUIVER_DATA");

  ctx.data_dir = CLI_DEFAULT_DATA;
  if (env && *env) {
    ctx.data_dir = env;
    ctx.data_explicit = 1;
  }
  int ci = parse_global(argc, argv, &ctx, &code);
  if (ci < 0) return code;
  if (strcmp(argv[ci], "help") == 0) return run_help(&ctx, argc - ci, argv + ci);
  if (strcmp(argv[ci], "version") == 0) {
    print_version();
    return CLI_OK;
  }
  const cli_cmd *c = find_command(argv[ci]);
  if (!c) {
    fprintf(stderr, "quiver: unknown command '%s'\nTry 'quiver --help'.\n", argv[ci]);
    return CLI_USAGE;
  }
  ctx.cmd = c->name;
  ctx.help = c->help;
  cli_getopt_reset();
  return c->run(&ctx, argc - ci, argv + ci);
}
