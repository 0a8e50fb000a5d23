//! Reloading when the data directory changes: a fresh snapshot is loaded and validated off the
//! request path, then swapped in whole; a bad file leaves the old data serving.

use crate::api::State;
use notify::{RecursiveMode, Watcher};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Waits this long after the last change before reloading, so that a file being written in
/// several steps is read once it is complete.
const SETTLE: Duration = Duration::from_millis(300);
/// Reloads at the latest this long after the first change, even if changes keep coming.
const MAX_SETTLE: Duration = Duration::from_secs(5);

/// Watches the data directory and reloads on every change. Keep the watcher alive.
pub fn watch(state: Arc<State>) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let relevant = event.paths.iter().any(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("geojson" | "csv")
                )
            });
            if relevant
                && (event.kind.is_modify() || event.kind.is_create() || event.kind.is_remove())
            {
                let _ = tx.send(());
            }
        }
    })?;
    watcher.watch(&state.data_dir, RecursiveMode::Recursive)?;
    std::thread::Builder::new()
        .name("kat-reload".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Let the writer finish: swallow events until the directory is quiet, but not
                // for ever, so that a file rewritten without pause still gets reloaded.
                let first = Instant::now();
                while first.elapsed() < MAX_SETTLE && rx.recv_timeout(SETTLE).is_ok() {}
                tracing::info!("data directory changed: reloading");
                let _ = state.reload();
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(watcher)
}
