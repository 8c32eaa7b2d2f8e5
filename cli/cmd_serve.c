/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * cmd_serve.c -- `quiver serve [...]`: run the HTTP server (Chroma v2 API) on the data
 * directory. The server lives in server/ and is linked in, with QV_HAVE_SERVER defined, only
 * when its sources exist; its options are its own (qv_server_main() parses them). The CLI's
 * data directory (--data before the command, or $QUIVER_DATA, or the default) is passed on
 * as a leading --data, so that a --data after `serve` still wins.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef QV_HAVE_SERVER
#include "../server/http/server.h"
#endif

static const char help[] =
    "usage: quiver serve [--host 127.0.0.1] [--port 8000] [server options]\n"
    "\n"
    "Serve the data directory over HTTP with the Chroma v2 API.\n"
#ifdef QV_HAVE_SERVER
    "`quiver serve --help` lists the server's options.\n"
#else
    "This quiver was built without the server (server/ had no sources).\n"
#endif
    ;

#ifdef QV_HAVE_SERVER
static int run(cli_ctx *ctx, int argc, char **argv) {
  static char prog[] = "serve", data_opt[] = "--data";
  char **args = calloc((size_t)argc + 3, sizeof *args);
  char *dir = strdup(ctx->data_dir);
  int rc;

  if (!args || !dir) {
    free(args);
    free(dir);
    return cli_fail(ctx, "out of memory");
  }
  args[0] = prog;
  args[1] = data_opt;
  args[2] = dir;
  for (int i = 1; i < argc; i++) args[i + 2] = argv[i];
  rc = qv_server_main(argc + 2, args);
  free(dir);
  free(args);
  return rc;
}
#else
/* Without the server even --help fails (exit 2), so scripts can test for the server with it. */
static int run(cli_ctx *ctx, int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) fputs(help, stdout);
  fprintf(stderr, "quiver: %s: the HTTP server is not built into this quiver "
                  "(rebuild with the server/ sources present)\n", ctx->cmd);
  return CLI_USAGE;
}
#endif

const cli_cmd cli_cmd_serve = {"serve", run, "serve the data directory over HTTP (Chroma v2 API)", help};
