/* SPDX-License-Identifier: MIT  Copyright (c) 2026 the quiver authors */
/*
 * store/store_config.c -- the one-time migration of a format-3 file to format 4.
 *
 * Format 4 gives the collections table a `config` column: a face's configuration of the
 * collection (quiver.h qv_collection_opts.config_json), a JSON object the library keeps as
 * given and never interprets. Format 3's Chroma face had nowhere else to put the settings
 * quiver has no field for (embedding_function, resize_factor, sync_threshold, a modified
 * ef_search): it kept them as one JSON text in the collection metadata under the reserved key
 * "__quiver_config", and stripped that key from every response. The migration moves each
 * such text into the new column and removes the key from the metadata (a metadata object
 * left empty becomes NULL, as the server stored "no metadata"); a value under the key that
 * is not the text of a JSON object is not the server's and stays where it is.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

#define OLD_KEY "$.__quiver_config"

static const char add_column_sql[] = "BEGIN IMMEDIATE; ALTER TABLE collections ADD COLUMN config TEXT;";

static const char move_sql[] =
    "UPDATE collections SET config = json_extract(metadata, '" OLD_KEY "'),"
    " metadata = CASE WHEN json_remove(metadata, '" OLD_KEY "') = '{}' THEN NULL"
    " ELSE json_remove(metadata, '" OLD_KEY "') END"
    " WHERE json_valid(metadata) AND json_type(metadata, '" OLD_KEY "') = 'text'"
    " AND json_valid(json_extract(metadata, '" OLD_KEY "'))"
    " AND json_type(json_extract(metadata, '" OLD_KEY "')) = 'object'";

static qv_status fail(qv_store *s, sqlite3 *w, const char *what) {
  int code = sqlite3_errcode(w);
  qv__store_set_err(s, what, sqlite3_errmsg(w));
  sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
  if (code == SQLITE_NOMEM) return QV_NOMEM;
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return QV_BUSY;
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return QV_CORRUPT;
  return QV_IO;
}

qv_status qv__store_migrate_3_to_4(qv_store *s, qv_store_migration *m) {
  sqlite3 *w = qv__store_writer(s);
  if (sqlite3_exec(w, add_column_sql, NULL, NULL, NULL) != SQLITE_OK) return fail(s, w, "migrating format 3 to 4");
  if (sqlite3_exec(w, move_sql, NULL, NULL, NULL) != SQLITE_OK)
    return fail(s, w, "migrating format 3 to 4: moving the Chroma configuration");
  int moved = sqlite3_changes(w);
  if (sqlite3_exec(w, "PRAGMA user_version=4; COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    return fail(s, w, "migrating format 3 to 4");
  char text[200];
  snprintf(text, sizeof text,
           "%sthe configuration of %d collection%s moved from the metadata key __quiver_config to the catalog's "
           "config column",
           m->note[0] ? "; " : "", moved, moved == 1 ? "" : "s");
  size_t len = strlen(m->note);
  if (len + strlen(text) < sizeof m->note) memcpy(m->note + len, text, strlen(text) + 1);
  return QV_OK;
}
