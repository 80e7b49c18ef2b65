/*
 * jobdb_schema -- the job store's versioned schema migrations.
 *
 * The list is append-only: a released migration is never edited (db_migrate
 * refuses to start when a recorded migration's checksum changed); a change
 * to the schema is a new entry at the end. Each entry's statements run in
 * one transaction. Not here: running them (db_migrate in db.h).
 * Threading: constant data, safe from any thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_JOBDB_SCHEMA_H
#define LOOM_JOBDB_SCHEMA_H

#include <stddef.h>

struct db_migration;

/* Return the migrations in version order (1, 2, ...) and their count in *n.
 * Static storage. */
const struct db_migration *jobdb_schema_migrations(size_t *n);

#endif
