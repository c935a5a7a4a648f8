/*
 * Test-only hooks into the SQLite store, so that the unit tests can check
 * the query plans and the migration text without copying any SQL.  Nothing
 * outside tests/ includes this header.
 */
#ifndef TASKQ_STORE_SQLITE_INTERNAL_H
#define TASKQ_STORE_SQLITE_INTERNAL_H

struct store;

/*
 * The names of the internal queries store_sqlite_explain() knows, ending
 * with NULL (e.g. "get", "list_status", "claim").
 */
extern const char *const store_sqlite_query_names[];

/*
 * The EXPLAIN QUERY PLAN of the named internal query as its detail lines
 * joined by '\n' (caller frees), or NULL for an unknown name or an error
 * (see store_errmsg()).
 */
char		*store_sqlite_explain(struct store *, const char *query_name);

/* The SQL that migration number version (1..STORE_SCHEMA_VERSION) runs, or NULL. */
const char	*store_sqlite_migration(int version);

#endif /* TASKQ_STORE_SQLITE_INTERNAL_H */
