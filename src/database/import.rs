//! `kat db import`: a data directory's table-backed layers into their tables.
//!
//! Each file is first loaded as Kat serves it (so a file Kat would refuse is refused here), then
//! copied into a staging table and merged: new features are inserted, changed ones updated,
//! and features no longer in the file deleted, each with an `import` version in the history.
//! Importing the same file twice writes nothing the second time.

use super::schema::{ensure_table, geometry_of};
use super::{table_name, Database, DbError, CHANNEL, WRITE_LOCK};
use crate::layer::{load_layer, CollectionSpec, Layer};
use futures_util::SinkExt;
use std::path::Path;
use std::sync::Arc;

/// What an import did to one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub collection: String,
    pub table: String,
    pub features: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} features into kat.{} ({} new, {} changed, {} deleted)",
            self.collection, self.features, self.table, self.created, self.updated, self.deleted
        )
    }
}

/// Reports an import's progress: rows sent so far, of how many.
pub trait Progress {
    fn start(&self, collection: &str, total: u64);
    fn advance(&self, rows: u64);
    fn finish(&self, done: &Imported);
}

/// Imports every collection of the config that has a table.
pub async fn import_dir(
    db: &Database,
    data_dir: &Path,
    config_path: &Path,
    actor: &str,
    progress: &dyn Progress,
) -> Result<Vec<Imported>, DbError> {
    let config = crate::catalog::config::Config::load(config_path).map_err(DbError::Config)?;
    config
        .check_files(data_dir, false)
        .map_err(DbError::Config)?;
    let mut done = Vec::new();
    for spec in config.collections.iter().filter(|s| s.table.is_some()) {
        let dir = data_dir.to_path_buf();
        let s = Arc::clone(spec);
        let layer = tokio::task::spawn_blocking(move || load_layer(&dir, &s))
            .await
            .map_err(|_| DbError::Layer {
                file: spec.file.clone(),
                source: crate::layer::LoadError::Read {
                    file: spec.file.clone(),
                    problem: "the loader stopped".into(),
                },
            })?
            .map_err(|source| DbError::Layer {
                file: spec.file.clone(),
                source,
            })?;
        done.push(import_layer(db, spec, &layer, actor, progress).await?);
    }
    Ok(done)
}

/// COPY's text format: backslash, tab, newline and carriage return escaped.
fn copy_escape(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// Imports one loaded layer into the collection's table.
pub async fn import_layer(
    db: &Database,
    spec: &CollectionSpec,
    layer: &Layer,
    actor: &str,
    progress: &dyn Progress,
) -> Result<Imported, DbError> {
    let Some(table) = spec.table.as_deref() else {
        return Ok(Imported::default());
    };
    ensure_table(db, table).await?;
    let name = table_name(table);
    let total = layer.len() as u64;
    progress.start(&spec.id, total);
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    tx.batch_execute(
        "CREATE TEMP TABLE kat_staging (id text PRIMARY KEY, feature text NOT NULL, ord bigint NOT NULL)
         ON COMMIT DROP",
    )
    .await?;
    {
        let sink = tx
            .copy_in("COPY kat_staging (id, feature, ord) FROM STDIN")
            .await?;
        let mut sink = std::pin::pin!(sink);
        const CHUNK: usize = 1 << 20;
        let mut buf = Vec::with_capacity(CHUNK + 4096);
        let mut feature = Vec::new();
        let mut sent = 0u64;
        for idx in 0..layer.len() as u32 {
            feature.clear();
            layer.write_feature(idx, &mut feature, None);
            copy_escape(layer.feature_id(idx), &mut buf);
            buf.push(b'\t');
            copy_escape(&String::from_utf8_lossy(&feature), &mut buf);
            buf.push(b'\t');
            buf.extend_from_slice(idx.to_string().as_bytes());
            buf.push(b'\n');
            if buf.len() >= CHUNK {
                sink.send(bytes::Bytes::from(std::mem::take(&mut buf)))
                    .await?;
                progress.advance(u64::from(idx) + 1 - sent);
                sent = u64::from(idx) + 1;
            }
        }
        if !buf.is_empty() {
            sink.send(bytes::Bytes::from(buf)).await?;
        }
        progress.advance(total - sent);
        sink.as_mut().finish().await?;
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
        .await?;
    let history = "INSERT INTO kat.history (seq, collection, feature_id, revision, action, actor, before, after)";
    let deleted = tx
        .execute(
            &format!(
                "{history} SELECT nextval('kat.change_seq'), $1, t.id, t.revision + 1, 'import', $2,
                        t.feature, NULL
                 FROM {name} t WHERE NOT EXISTS (SELECT 1 FROM kat_staging s WHERE s.id = t.id)
                 ORDER BY t.ord"
            ),
            &[&table, &actor],
        )
        .await?;
    tx.execute(
        &format!(
            "DELETE FROM {name} t WHERE NOT EXISTS (SELECT 1 FROM kat_staging s WHERE s.id = t.id)"
        ),
        &[],
    )
    .await?;
    let updated = tx
        .execute(
            &format!(
                "{history} SELECT nextval('kat.change_seq'), $1, s.id, t.revision + 1, 'import', $2,
                        t.feature, s.feature::json
                 FROM kat_staging s JOIN {name} t ON t.id = s.id
                 WHERE t.feature::text <> s.feature ORDER BY s.ord"
            ),
            &[&table, &actor],
        )
        .await?;
    tx.execute(
        &format!(
            "UPDATE {name} t SET feature = s.feature::json, geom = {geom}, revision = t.revision + 1,
                    updated_at = now(), updated_by = $1
             FROM kat_staging s WHERE s.id = t.id AND t.feature::text <> s.feature",
            geom = geometry_of("s.feature")
        ),
        &[&actor],
    )
    .await?;
    // A feature that was deleted earlier and comes back goes on from its last revision.
    let created = tx
        .execute(
            &format!(
                "{history} SELECT nextval('kat.change_seq'), $1, s.id,
                        coalesce((SELECT max(h.revision) FROM kat.history h
                                  WHERE h.collection = $1 AND h.feature_id = s.id), 0) + 1,
                        'import', $2, NULL, s.feature::json
                 FROM kat_staging s WHERE NOT EXISTS (SELECT 1 FROM {name} t WHERE t.id = s.id)
                 ORDER BY s.ord"
            ),
            &[&table, &actor],
        )
        .await?;
    tx.execute(
        &format!(
            "INSERT INTO {name} (id, feature, geom, revision, ord, updated_by)
             SELECT s.id, s.feature::json, {geom},
                    (SELECT max(h.revision) FROM kat.history h
                     WHERE h.collection = $1 AND h.feature_id = s.id),
                    nextval('kat.feature_order'), $2
             FROM (SELECT * FROM kat_staging ORDER BY ord) s
             WHERE NOT EXISTS (SELECT 1 FROM {name} t WHERE t.id = s.id)",
            geom = geometry_of("s.feature")
        ),
        &[&table, &actor],
    )
    .await?;
    if deleted + updated + created > 0 {
        tx.execute(
            "SELECT pg_notify($1, (SELECT max(seq) FROM kat.history)::text)",
            &[&CHANNEL],
        )
        .await?;
    }
    tx.commit().await?;
    let done = Imported {
        collection: spec.id.clone(),
        table: table.to_string(),
        features: total,
        created,
        updated,
        deleted,
    };
    progress.finish(&done);
    Ok(done)
}
