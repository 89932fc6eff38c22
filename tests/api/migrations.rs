//! The two migration sets (SQLite, PostgreSQL) build the same database, and
//! PostgreSQL refuses `TRUNCATE` on every append-only table.
//!
//! Both need a PostgreSQL server: they run in the PostgreSQL suite
//! (`PASSERELLE_TEST_BACKEND=postgres`, which `.ci/run` runs) and say so in
//! the SQLite one.

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use passerelle::store::{AnyConnection, Db, DbError};
use secrecy::SecretString;

use crate::helpers::{backend, PgDatabase};

/// The tables README names as append-only.
const APPEND_ONLY: &[&str] = &[
    "audit_log",
    "audit_tree",
    "audit_checkpoints",
    "audit_cosignatures",
    "audit_evidence",
];

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

#[derive(QueryableByName)]
struct Trigger {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    event: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// What a migrated database holds: (table, column) and (table, event) of
/// the triggers that guard it.
struct Shape {
    columns: BTreeSet<(String, String)>,
    triggers: BTreeSet<(String, String)>,
}

/// A database with the migrations applied (opening it applies them).
fn migrated(url: &str) -> Db {
    let keys = std::env::temp_dir().join(format!("passerelle-keys-{}", uuid::Uuid::new_v4()));
    Db::open_for_command(&SecretString::from(url.to_owned()), &keys, 5000).unwrap()
}

fn sqlite_shape(path: &std::path::Path) -> Shape {
    let db = migrated(&format!("sqlite://{}", path.display()));
    db.read_blocking(|c| match c {
        AnyConnection::Sqlite(c) => Ok::<_, DbError>(sqlite_shape_of(c)),
        AnyConnection::Postgresql(_) => unreachable!(),
    })
    .unwrap()
}

fn sqlite_shape_of(c: &mut SqliteConnection) -> Shape {
    let columns = diesel::sql_query(
        "SELECT m.name AS table_name, p.name AS column_name
           FROM sqlite_master m, pragma_table_info(m.name) p
          WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
            AND m.name <> '__diesel_schema_migrations'",
    )
    .load::<Column>(c)
    .unwrap();
    // "CREATE TRIGGER x BEFORE UPDATE ON t ...": the event after BEFORE/AFTER.
    let triggers = diesel::sql_query(
        "SELECT tbl_name AS table_name, sql AS event FROM sqlite_master WHERE type = 'trigger'",
    )
    .load::<Trigger>(c)
    .unwrap();
    Shape {
        columns: columns
            .into_iter()
            .map(|c| (c.table_name, c.column_name))
            .collect(),
        triggers: triggers
            .into_iter()
            .flat_map(|t| {
                let sql = t.event.to_uppercase();
                ["INSERT", "UPDATE", "DELETE"]
                    .into_iter()
                    .filter(move |e| {
                        sql.contains(&format!("BEFORE {e}")) || sql.contains(&format!("AFTER {e}"))
                    })
                    .map(move |e| (t.table_name.clone(), e.to_owned()))
            })
            .collect(),
    }
}

fn pg_shape(c: &mut PgConnection) -> Shape {
    let columns = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name
           FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load::<Column>(c)
    .unwrap();
    // Row-level events (TRUNCATE is checked on its own: SQLite has none).
    let triggers = diesel::sql_query(
        "SELECT event_object_table::text AS table_name, event_manipulation::text AS event
           FROM information_schema.triggers WHERE trigger_schema = 'public'",
    )
    .load::<Trigger>(c)
    .unwrap();
    Shape {
        columns: columns
            .into_iter()
            .map(|c| (c.table_name, c.column_name))
            .collect(),
        triggers: triggers
            .into_iter()
            .map(|t| (t.table_name, t.event))
            .collect(),
    }
}

fn postgres_only(test: &str) -> bool {
    if backend() == "postgres" {
        return true;
    }
    eprintln!("{test}: needs PostgreSQL; it runs in the PostgreSQL suite (PASSERELLE_TEST_BACKEND=postgres)");
    false
}

#[test]
fn both_migration_sets_build_the_same_tables_columns_and_triggers() {
    if !postgres_only("migration parity") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_shape(&dir.path().join("parity.db"));
    let pg = PgDatabase::create();
    migrated(&pg.url());
    let postgres = pg_shape(&mut PgConnection::establish(&pg.url()).unwrap());
    let only = |a: &BTreeSet<(String, String)>, b: &BTreeSet<(String, String)>| {
        a.difference(b).cloned().collect::<Vec<_>>()
    };
    assert!(
        sqlite.columns.len() > 50,
        "{} columns",
        sqlite.columns.len()
    );
    assert_eq!(
        (
            only(&sqlite.columns, &postgres.columns),
            only(&postgres.columns, &sqlite.columns)
        ),
        (vec![], vec![]),
        "columns only in SQLite, only in PostgreSQL"
    );
    assert_eq!(
        (
            only(&sqlite.triggers, &postgres.triggers),
            only(&postgres.triggers, &sqlite.triggers)
        ),
        (vec![], vec![]),
        "trigger events only in SQLite, only in PostgreSQL"
    );
    for table in APPEND_ONLY {
        for event in ["UPDATE", "DELETE"] {
            assert!(
                sqlite
                    .triggers
                    .contains(&(table.to_string(), event.to_owned())),
                "{table} does not refuse {event}"
            );
        }
    }
}

#[test]
fn postgresql_refuses_truncate_on_every_append_only_table() {
    if !postgres_only("TRUNCATE refusal") {
        return;
    }
    let pg = PgDatabase::create();
    migrated(&pg.url());
    let mut c = PgConnection::establish(&pg.url()).unwrap();
    // Every table whose rows may be neither changed nor removed, README's
    // list included.
    let guarded: BTreeSet<String> = pg_shape(&mut c)
        .triggers
        .iter()
        .filter(|(_, e)| e == "DELETE")
        .map(|(t, _)| t.clone())
        .collect();
    for table in APPEND_ONLY {
        assert!(guarded.contains(*table), "{table} is not append-only");
    }
    for table in guarded.iter().map(String::as_str).chain(["audit_head"]) {
        let before = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<Count>(&mut c)
            .unwrap()
            .n;
        let refused = diesel::sql_query(format!("TRUNCATE {table} CASCADE")).execute(&mut c);
        let err = refused.expect_err(&format!("TRUNCATE {table} was allowed"));
        assert!(err.to_string().contains("append-only"), "{table}: {err}");
        let after = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<Count>(&mut c)
            .unwrap()
            .n;
        assert_eq!(before, after, "{table}");
    }
}
