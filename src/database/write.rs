//! Writes to a collection's table. Each is one transaction that holds the write lock, checks
//! the feature's revision, changes the row, appends the version to `kat.history` and announces
//! it on [`super::CHANNEL`]: committed together or not at all.

use super::schema::geometry_of;
use super::{table_name, Database, DbError, CHANNEL, WRITE_LOCK};

/// What a write does to one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new feature; refused if the id exists.
    Create,
    /// The whole feature, replaced.
    Replace,
    /// Some properties changed (a merge patch), stored whole.
    Update,
    Delete,
    /// An earlier version brought back, whether or not the feature exists now.
    Restore,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Replace => "replace",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Restore => "restore",
        }
    }
}

/// One write, as the API asks for it.
#[derive(Debug, Clone)]
pub struct Write<'a> {
    pub table: &'a str,
    pub id: &'a str,
    pub action: Action,
    /// The feature's GeoJSON text as it is to be stored; `None` for a delete.
    pub feature: Option<&'a str>,
    /// The revision the writer read (from `If-Match`): the write is refused if the feature has
    /// moved on since.
    pub expected: Option<i64>,
    /// The account's name, recorded in the history.
    pub actor: &'a str,
}

/// A committed write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Its position in the change log.
    pub seq: i64,
    /// The feature's revision after it (a delete's counts too, so that a restore goes on).
    pub revision: i64,
}

/// Why a write was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("no feature '{0}'")]
    NotFound(String),
    #[error("a feature with id '{0}' exists already")]
    Exists(String),
    #[error("the feature is at revision {current}, not {expected}")]
    Stale { current: i64, expected: i64 },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for WriteError {
    fn from(e: tokio_postgres::Error) -> Self {
        WriteError::Db(DbError::Query(e))
    }
}

/// The feature's current revision and text, if it exists.
pub async fn current(
    db: &Database,
    table: &str,
    id: &str,
) -> Result<Option<(i64, String)>, DbError> {
    let client = db.client().await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT revision, feature::text FROM {} WHERE id = $1",
                table_name(table)
            ),
            &[&id],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Carries out one write.
pub async fn write(db: &Database, w: &Write<'_>) -> Result<Written, WriteError> {
    let name = table_name(w.table);
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await?;
    let before = tx
        .query_opt(
            &format!("SELECT revision, feature::text FROM {name} WHERE id = $1 FOR UPDATE"),
            &[&w.id],
        )
        .await?;
    let before: Option<(i64, String)> = before.map(|r| (r.get(0), r.get(1)));
    match (&before, w.action) {
        (Some(_), Action::Create) => return Err(WriteError::Exists(w.id.to_string())),
        (None, Action::Replace | Action::Update | Action::Delete) => {
            return Err(WriteError::NotFound(w.id.to_string()))
        }
        _ => {}
    }
    if let Some(expected) = w.expected {
        let current = before.as_ref().map_or(0, |b| b.0);
        if current != expected {
            return Err(WriteError::Stale { current, expected });
        }
    }
    // A feature that was deleted and is restored goes on from its last revision.
    let last: i64 = match &before {
        Some((r, _)) => *r,
        None => tx
            .query_one(
                "SELECT coalesce(max(revision), 0) FROM kat.history
                 WHERE collection = $1 AND feature_id = $2",
                &[&w.table, &w.id],
            )
            .await?
            .get(0),
    };
    let revision = last + 1;
    match (w.feature, &before) {
        (None, _) => {
            tx.execute(&format!("DELETE FROM {name} WHERE id = $1"), &[&w.id])
                .await?;
        }
        (Some(f), Some(_)) => {
            tx.execute(
                &format!(
                    "UPDATE {name} SET feature = $2::text::json, geom = {geom}, revision = $3,
                     updated_at = now(), updated_by = $4 WHERE id = $1",
                    geom = geometry_of("$2::text")
                ),
                &[&w.id, &f, &revision, &w.actor],
            )
            .await?;
        }
        (Some(f), None) => {
            tx.execute(
                &format!(
                    "INSERT INTO {name} (id, feature, geom, revision, updated_by)
                     VALUES ($1, $2::text::json, {geom}, $3, $4)",
                    geom = geometry_of("$2::text")
                ),
                &[&w.id, &f, &revision, &w.actor],
            )
            .await?;
        }
    }
    let before_text = before.as_ref().map(|b| b.1.as_str());
    let seq: i64 = tx
        .query_one(
            "INSERT INTO kat.history (seq, collection, feature_id, revision, action, actor, before, after)
             VALUES (nextval('kat.change_seq'), $1, $2, $3, $4, $5, $6::text::json, $7::text::json)
             RETURNING seq",
            &[
                &w.table,
                &w.id,
                &revision,
                &w.action.as_str(),
                &w.actor,
                &before_text,
                &w.feature,
            ],
        )
        .await?
        .get(0);
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()])
        .await?;
    tx.commit().await?;
    Ok(Written { seq, revision })
}
