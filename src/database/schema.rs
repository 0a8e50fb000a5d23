//! The database's schema: Kat's own tables in schema `kat`, created by numbered migrations
//! that `kat db init` applies in order, and one table per table-backed collection.
//!
//! Each collection's table keeps the feature as the GeoJSON text Kat serves (`feature`, type
//! `json`, which keeps the text as written), and its geometry as PostGIS (`geom`, SRID 4326)
//! for SQL clients and for QGIS reading the database directly.

use super::{table_name, Database, DbError, WRITE_LOCK};

/// The migrations, in order. A migration is never edited once released: a change is a new one.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r#"
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE kat.tokens (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('editor', 'admin')),
    hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE SEQUENCE kat.change_seq;
CREATE SEQUENCE kat.feature_order;
CREATE TABLE kat.history (
    seq bigint PRIMARY KEY,
    collection text NOT NULL,
    feature_id text NOT NULL,
    revision bigint NOT NULL,
    action text NOT NULL
        CHECK (action IN ('import', 'create', 'replace', 'update', 'delete', 'restore')),
    actor text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    before json,
    after json
);
CREATE INDEX history_feature ON kat.history (collection, feature_id, seq DESC);
"#,
    ),
    (
        2,
        // Readers: accounts that may read a server started with --private, and write nothing.
        r#"
ALTER TABLE kat.tokens DROP CONSTRAINT tokens_role_check;
ALTER TABLE kat.tokens ADD CONSTRAINT tokens_role_check
    CHECK (role IN ('reader', 'editor', 'admin'));
"#,
    ),
];

/// The schema version this Kat reads and writes.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// The oldest schema this Kat serves: the migrations after it add only what a server can do
/// without (migration 2, the reader role). Servers can then be upgraded one at a time and
/// `kat db init` run after the last, with no moment when none will start.
pub const OLDEST_SERVED: i32 = 1;

/// The schema's version, 0 for a database never initialised.
pub async fn version(db: &Database) -> Result<i32, DbError> {
    let client = db.client().await?;
    match client
        .query_one("SELECT coalesce(max(version), 0) FROM kat.migrations", &[])
        .await
    {
        Ok(row) => Ok(row.get(0)),
        // No kat.migrations: the database was never initialised.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Creates or upgrades the schema; returns the versions it applied. Safe to run on a database
/// that is already up to date, and from two machines at once.
pub async fn init(db: &Database) -> Result<Vec<i32>, DbError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS kat;
         CREATE TABLE IF NOT EXISTS kat.migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .await?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM kat.migrations", &[])
        .await?
        .get(0);
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO kat.migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
        applied.push(*version);
    }
    tx.commit().await?;
    Ok(applied)
}

/// Refuses a database this Kat cannot serve: one never initialised or older than
/// [`OLDEST_SERVED`] (`kat db init` upgrades it), or one newer than this Kat knows.
pub async fn check(db: &Database) -> Result<(), DbError> {
    let found = version(db).await?;
    if found > latest() {
        return Err(DbError::SchemaNewer {
            found,
            known: latest(),
        });
    }
    if found < OLDEST_SERVED {
        return Err(DbError::Schema {
            found,
            needed: latest(),
        });
    }
    Ok(())
}

/// Creates a collection's table if it does not exist yet.
pub async fn ensure_table(db: &Database, table: &str) -> Result<(), DbError> {
    let name = table_name(table);
    let index = |suffix: &str| format!("\"{}_{suffix}\"", table.replace('"', ""));
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    // Two servers starting together would otherwise race on the catalog's unique names.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {name} (
             id text PRIMARY KEY,
             feature json NOT NULL,
             geom geometry(Geometry, 4326),
             revision bigint NOT NULL,
             ord bigint NOT NULL DEFAULT nextval('kat.feature_order'),
             updated_at timestamptz NOT NULL DEFAULT now(),
             updated_by text NOT NULL
         );
         CREATE INDEX IF NOT EXISTS {geom} ON {name} USING gist (geom);
         CREATE INDEX IF NOT EXISTS {ord} ON {name} (ord);",
        geom = index("geom"),
        ord = index("ord"),
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The SQL for a feature's PostGIS geometry from its GeoJSON text in `column`.
pub(crate) fn geometry_of(column: &str) -> String {
    format!(
        "ST_SetSRID(ST_GeomFromGeoJSON(NULLIF(({column}::json -> 'geometry')::text, 'null')), 4326)"
    )
}
