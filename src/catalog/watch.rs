//! Reloading when the data directory or the config changes: a fresh snapshot is loaded and
//! validated off the request path, then swapped in whole; a bad file leaves the old data
//! serving.

use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Waits this long after the last change before reloading, so that a file being written in
/// several steps is read once it is complete.
const SETTLE: Duration = Duration::from_millis(300);
/// Reloads at the latest this long after the first change, even if changes keep coming.
const MAX_SETTLE: Duration = Duration::from_secs(5);

/// Watches the data directory (and the config, where it lies elsewhere) and calls `reload`
/// once the files are quiet after a change. Keep the watcher alive.
pub fn watch(
    data_dir: &Path,
    config_path: &Path,
    reload: impl Fn() + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, rx) = mpsc::channel::<()>();
    let config: PathBuf = config_path.to_path_buf();
    let config_name = config.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let relevant = event.paths.iter().any(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("geojson" | "csv" | "toml")
                ) || p.file_name().map(|n| n.to_os_string()) == config_name
            });
            if relevant
                && (event.kind.is_modify() || event.kind.is_create() || event.kind.is_remove())
            {
                let _ = tx.send(());
            }
        }
    })?;
    watcher.watch(data_dir, RecursiveMode::Recursive)?;
    let outside = config_path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .filter(|dir| !same_dir(dir, data_dir) && !dir.starts_with(data_dir));
    if let Some(dir) = outside {
        // Editors replace a file by renaming a new one over it: watch its folder.
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    std::thread::Builder::new()
        .name("kat-reload".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Let the writer finish: swallow events until the directory is quiet, but not
                // for ever, so that a file rewritten without pause still gets reloaded.
                let first = Instant::now();
                while first.elapsed() < MAX_SETTLE && rx.recv_timeout(SETTLE).is_ok() {}
                tracing::info!("data directory changed: reloading");
                reload();
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(watcher)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
