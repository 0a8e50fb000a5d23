//! The change log (`kat.history`, in commit order) as servers follow it, a table as a server
//! loads it, and a feature's history as users read it.

use super::{table_name, Database, DbError};

/// One committed change of one feature.
#[derive(Debug, Clone)]
pub struct Change {
    pub seq: i64,
    /// The collection's table.
    pub table: String,
    pub feature_id: String,
    pub revision: i64,
    /// The feature after the change; `None` when it was deleted.
    pub after: Option<String>,
}

/// The changes after `seq`, oldest first, at most `limit`.
pub async fn since(
    client: &tokio_postgres::Client,
    seq: i64,
    limit: i64,
) -> Result<Vec<Change>, DbError> {
    let rows = client
        .query(
            "SELECT seq, collection, feature_id, revision, after::text FROM kat.history
             WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&seq, &limit],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Change {
            seq: r.get(0),
            table: r.get(1),
            feature_id: r.get(2),
            revision: r.get(3),
            after: r.get(4),
        })
        .collect())
}

/// A feature as a table holds it.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub revision: i64,
    pub feature: String,
}

/// Every row of each table, in the order they were first written, and the last change they
/// include: read in one snapshot, so that following the log from there misses nothing.
pub async fn read_tables(
    client: &mut tokio_postgres::Client,
    tables: &[String],
) -> Result<(i64, Vec<Vec<Row>>), DbError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let seq: i64 = tx
        .query_one("SELECT coalesce(max(seq), 0) FROM kat.history", &[])
        .await?
        .get(0);
    let mut all = Vec::with_capacity(tables.len());
    for t in tables {
        let rows = tx
            .query(
                &format!(
                    "SELECT id, revision, feature::text FROM {} ORDER BY ord",
                    table_name(t)
                ),
                &[],
            )
            .await?;
        all.push(
            rows.into_iter()
                .map(|r| Row {
                    id: r.get(0),
                    revision: r.get(1),
                    feature: r.get(2),
                })
                .collect(),
        );
    }
    tx.commit().await?;
    Ok((seq, all))
}

/// One version of a feature, as `/items/{fid}/history` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    pub revision: i64,
    pub action: String,
    /// The name of the account that wrote it.
    pub actor: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub before: Option<Box<serde_json::value::RawValue>>,
    pub after: Option<Box<serde_json::value::RawValue>>,
}

/// The feature's versions, newest first.
pub async fn history(db: &Database, table: &str, id: &str) -> Result<Vec<Version>, DbError> {
    let client = db.client().await?;
    let rows = client
        .query(
            "SELECT revision, action, actor,
                    to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
                    before::text, after::text
             FROM kat.history WHERE collection = $1 AND feature_id = $2 ORDER BY seq DESC",
            &[&table, &id],
        )
        .await?;
    let raw = |s: Option<String>| s.and_then(|s| serde_json::value::RawValue::from_string(s).ok());
    Ok(rows
        .into_iter()
        .map(|r| Version {
            revision: r.get(0),
            action: r.get(1),
            actor: r.get(2),
            at: r.get(3),
            before: raw(r.get(4)),
            after: raw(r.get(5)),
        })
        .collect())
}

/// The feature as version `revision` left it (`None` for a delete or an unknown revision).
pub async fn version(
    db: &Database,
    table: &str,
    id: &str,
    revision: i64,
) -> Result<Option<Option<String>>, DbError> {
    let client = db.client().await?;
    let row = client
        .query_opt(
            "SELECT after::text FROM kat.history
             WHERE collection = $1 AND feature_id = $2 AND revision = $3",
            &[&table, &id, &revision],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}
