//! Collections held in PostgreSQL: each server loads their tables into the same layers,
//! indexes and typed columns as files, then follows the database's change log and applies
//! each committed change to its copy, so that every server on one database serves the same
//! features within about a second.
//!
//! A server keeps each table's features as the GeoJSON texts the database holds, in the order
//! they were first written. A change replaces one text; the layer is then rebuilt from the
//! texts in memory, one by one (never re-read from the database, nor joined into one), and
//! swapped in by
//! [`super::Catalog::refresh_tables`]. Changes arrive by `LISTEN` as they commit; the log is
//! also read every second, so a lost notification delays a change by a second at most.

use super::SnapshotError;
use crate::database::{changes, schema, Database, DbError, CHANNEL};
use crate::layer::{load_layer_from_features, CollectionSpec, Layer};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Read the log at least this often, whether or not a notification came.
const POLL: Duration = Duration::from_secs(1);
/// Wait this long before connecting again after the database went away.
const RETRY: Duration = Duration::from_millis(250);
/// More changes than this behind, and the tables are read again whole.
const BATCH: i64 = 10_000;

/// A table's features as a server holds them: `id → (revision, GeoJSON text)`.
#[derive(Default)]
struct Held {
    features: IndexMap<String, (i64, String)>,
    /// The layer last built from them, for the declaration it was built with.
    built: Option<(String, Arc<Layer>, Arc<[i64]>)>,
    dirty: bool,
}

struct Inner {
    tables: HashMap<String, Held>,
    /// The last change applied to `tables`.
    seq: i64,
}

/// How the following of the database stands, for `/health`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FollowStatus {
    pub connected: bool,
    /// The last change this server serves.
    pub applied_seq: i64,
    pub last_error: Option<String>,
}

/// The table-backed collections of one server, and the following of their changes.
pub struct Tables {
    pub db: Database,
    inner: Mutex<Inner>,
    applied: watch::Sender<i64>,
    wake: Notify,
    status: Mutex<FollowStatus>,
}

impl Tables {
    /// Checks the schema, creates the tables that do not exist yet, and reads them all.
    pub async fn open(db: Database, specs: &[Arc<CollectionSpec>]) -> Result<Tables, DbError> {
        schema::check(&db).await?;
        let names: Vec<String> = specs.iter().filter_map(|s| s.table.clone()).collect();
        for t in &names {
            schema::ensure_table(&db, t).await?;
        }
        let (mut client, connection) = db.dedicated().await?;
        let task = tokio::spawn(connection);
        let (seq, rows) = changes::read_tables(&mut client, &names).await?;
        drop(client);
        task.abort();
        let tables = names
            .into_iter()
            .zip(rows)
            .map(|(name, rows)| {
                let features = rows
                    .into_iter()
                    .map(|r| (r.id, (r.revision, r.feature)))
                    .collect();
                (
                    name,
                    Held {
                        features,
                        built: None,
                        dirty: true,
                    },
                )
            })
            .collect();
        Ok(Tables {
            db,
            inner: Mutex::new(Inner { tables, seq }),
            applied: watch::Sender::new(seq),
            wake: Notify::new(),
            status: Mutex::new(FollowStatus {
                connected: true,
                applied_seq: seq,
                last_error: None,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> FollowStatus {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn set_status(&self, f: impl FnOnce(&mut FollowStatus)) {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
    }

    /// Whether any table changed since its layer was last built.
    pub fn dirty(&self) -> bool {
        self.lock().tables.values().any(|h| h.dirty)
    }

    /// The layer of a table-backed collection as its features are now, with each feature's
    /// revision by position; rebuilt only when the table changed or the declaration did.
    pub fn layer(
        &self,
        spec: &Arc<CollectionSpec>,
    ) -> Result<(Arc<Layer>, Arc<[i64]>), SnapshotError> {
        let table = spec.table.as_deref().unwrap_or_default();
        let declaration = super::declaration(spec);
        let mut inner = self.lock();
        let held = inner
            .tables
            .get_mut(table)
            .ok_or_else(|| SnapshotError::TableNotOpen {
                collection: spec.id.clone(),
                table: table.to_string(),
            })?;
        if let Some((d, layer, revisions)) = &held.built {
            if !held.dirty && *d == declaration {
                return Ok((Arc::clone(layer), Arc::clone(revisions)));
            }
        }
        let texts: Vec<&str> = held.features.values().map(|(_, f)| f.as_str()).collect();
        let revisions: Arc<[i64]> = held.features.values().map(|(r, _)| *r).collect();
        let layer = Arc::new(load_layer_from_features(
            &texts,
            spec,
            &format!("table kat.{table}"),
        )?);
        held.built = Some((declaration, Arc::clone(&layer), Arc::clone(&revisions)));
        held.dirty = false;
        Ok((layer, revisions))
    }

    /// Waits until this server serves change `seq` (a write it just committed), at most
    /// `timeout`; whether it does.
    pub async fn wait_applied(&self, seq: i64, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        self.wake.notify_one();
        tokio::time::timeout(timeout, rx.wait_for(|v| *v >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Follows the change log for as long as the server runs: `refresh` swaps the changed
    /// layers in (it runs off the async threads). Reconnects whenever the database goes away.
    pub async fn follow<F>(self: Arc<Self>, refresh: F)
    where
        F: Fn() + Send + Sync + Clone + 'static,
    {
        loop {
            let (mut client, mut connection) = match self.db.dedicated().await {
                Ok(c) => c,
                Err(e) => {
                    self.disconnected(&e);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            let me = Arc::clone(&self);
            let listener = tokio::spawn(async move {
                use tokio_postgres::AsyncMessage;
                while let Some(Ok(message)) =
                    std::future::poll_fn(|cx| connection.poll_message(cx)).await
                {
                    if let AsyncMessage::Notification(_) = message {
                        me.wake.notify_one();
                    }
                }
                // Closed: wake the loop so that it notices and reconnects.
                me.wake.notify_one();
            });
            if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                self.disconnected(&DbError::Query(e));
                listener.abort();
                tokio::time::sleep(RETRY).await;
                continue;
            }
            self.set_status(|s| {
                s.connected = true;
                s.last_error = None;
            });
            tracing::info!("following the database's changes");
            loop {
                match self.catch_up(&mut client).await {
                    Ok(Some(seq)) => {
                        let refresh = refresh.clone();
                        let _ = tokio::task::spawn_blocking(refresh).await;
                        self.applied.send_replace(seq);
                        self.set_status(|s| s.applied_seq = seq);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.disconnected(&e);
                        break;
                    }
                }
                if listener.is_finished() {
                    self.set_status(|s| s.connected = false);
                    break;
                }
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
            listener.abort();
            tokio::time::sleep(RETRY).await;
        }
    }

    fn disconnected(&self, e: &DbError) {
        let was = self.status().connected;
        if was {
            tracing::warn!(error = %e, "lost the database; reads go on from memory, writes answer 503");
        }
        self.set_status(|s| {
            s.connected = false;
            s.last_error = Some(e.to_string());
        });
    }

    /// Applies the changes committed since the last one applied; the last change's number if
    /// any was.
    async fn catch_up(&self, client: &mut tokio_postgres::Client) -> Result<Option<i64>, DbError> {
        let from = self.lock().seq;
        let pending = changes::since(client, from, BATCH + 1).await?;
        let Some(last) = pending.last().map(|c| c.seq) else {
            return Ok(None);
        };
        if pending.len() as i64 > BATCH {
            let names: Vec<String> = self.lock().tables.keys().cloned().collect();
            let (seq, rows) = changes::read_tables(client, &names).await?;
            let mut inner = self.lock();
            for (name, rows) in names.into_iter().zip(rows) {
                let held = inner.tables.entry(name).or_default();
                held.features = rows
                    .into_iter()
                    .map(|r| (r.id, (r.revision, r.feature)))
                    .collect();
                held.dirty = true;
            }
            inner.seq = seq;
            return Ok(Some(seq));
        }
        let mut inner = self.lock();
        for c in pending {
            let Some(held) = inner.tables.get_mut(&c.table) else {
                continue;
            };
            match c.after {
                None => {
                    held.features.shift_remove(&c.feature_id);
                }
                Some(after) => match held.features.get_mut(&c.feature_id) {
                    Some(slot) => *slot = (c.revision, after),
                    None => {
                        held.features.insert(c.feature_id, (c.revision, after));
                    }
                },
            }
            held.dirty = true;
        }
        inner.seq = last;
        Ok(Some(last))
    }
}
