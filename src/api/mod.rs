//! The HTTP API: routes, parameter parsing, negotiation, the OpenAPI contract and errors.
//!
//! Every handler reads one snapshot of the data ([`State::snapshot`]) and keeps it for the
//! whole request, so a reload in the middle of a request never mixes two versions.

mod aggregate;
pub mod encode;
mod handlers;
mod items;
pub mod negotiate;
pub mod openapi;
pub mod params;
pub mod problem;
mod tiles;
mod web;

use crate::geocode::Gazetteer;
use crate::layer::{open_layer, Catalog, CollectionSpec, Layer, LoadError, COLLECTIONS};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web as aweb, App, HttpResponse, ResponseError};
use arc_swap::ArcSwap;
use bytes::Bytes;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use problem::ApiError;

/// Everything loaded from the data directory: what one reload replaces.
#[derive(Debug)]
pub struct Snapshot {
    pub catalog: Catalog,
    pub gazetteer: Arc<Gazetteer>,
    /// The simplified boundaries for the map, by name (`departments`, ...).
    pub simplified: HashMap<String, Bytes>,
    /// A digest of the files each part was built from, so that a reload rebuilds only what
    /// changed.
    sources: Sources,
}

/// Why a snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Layer(#[from] crate::layer::LoadError),
    #[error(transparent)]
    Gazetteer(#[from] crate::geocode::GazetteerError),
    #[error("admin/simplified/{0}.geojson: cannot read the file: {1}")]
    Simplified(String, String),
}

/// The gazetteer is built from every file below these folders of the data directory.
const GAZETTEER_DIRS: &[&str] = &["admin", "gazetteer"];

/// Content digests of the data files, by the part of the snapshot built from them. A part
/// whose files changed while it was being read has no digest, so that it is always rebuilt.
#[derive(Debug, Default, Clone, PartialEq)]
struct Sources {
    layers: HashMap<&'static str, u64>,
    gazetteer: Option<u64>,
}

fn digest_bytes(bytes: &[u8], h: &mut impl Hasher) {
    bytes.len().hash(h);
    h.write(bytes);
}

/// The digest of every file below `dirs` (names and contents, in a fixed order).
fn digest_tree(root: &Path, dirs: &[&str]) -> Option<u64> {
    fn walk(dir: &Path, rel: &str, h: &mut impl Hasher) -> Option<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = format!("{rel}/{}", e.file_name().to_string_lossy());
            let kind = e.file_type().ok()?;
            if kind.is_dir() {
                walk(&e.path(), &name, h)?;
            } else {
                name.hash(h);
                digest_bytes(&std::fs::read(e.path()).ok()?, h);
            }
        }
        Some(())
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for d in dirs {
        walk(&root.join(d), d, &mut h)?;
    }
    Some(h.finish())
}

impl Sources {
    /// The digests of the files as they are now; the layers' only when `layers` (a reload
    /// compares them with the loaded layers' to reuse those that did not change).
    fn read(dir: &Path, layers: bool) -> Sources {
        let (layers, gazetteer) = rayon::join(
            || {
                if !layers {
                    return HashMap::new();
                }
                COLLECTIONS
                    .iter()
                    .filter_map(|spec| {
                        Some((spec.file, crate::layer::digest_file(&dir.join(spec.file))?))
                    })
                    .collect()
            },
            || digest_tree(dir, GAZETTEER_DIRS),
        );
        Sources { layers, gazetteer }
    }

    /// The digests of what was loaded: each layer's from the very bytes it was built from
    /// (so it cannot disagree with them), the gazetteer's only if its files did not change
    /// between `self` (read before loading) and `after` (read after).
    fn stable(mut self, layers: &[Arc<Layer>], after: &Sources) -> Sources {
        self.layers = layers.iter().map(|l| (l.spec.file, l.digest)).collect();
        if self.gazetteer != after.gazetteer {
            self.gazetteer = None;
        }
        self
    }

    /// The data version: a digest of the layers' contents.
    fn version(&self) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for spec in COLLECTIONS {
            spec.file.hash(&mut h);
            self.layers.get(spec.file).hash(&mut h);
        }
        format!("{:016x}", h.finish())
    }
}

impl Snapshot {
    /// Loads and validates every file; nothing is swapped in unless all of it loads.
    pub fn load(dir: &Path) -> Result<Snapshot, SnapshotError> {
        Snapshot::load_reusing(dir, None)
    }

    /// Loads the data directory again, reusing the parts of `previous` whose files have not
    /// changed (same content), and validating every part that did.
    fn load_reusing(dir: &Path, previous: Option<&Snapshot>) -> Result<Snapshot, SnapshotError> {
        use rayon::prelude::*;
        let before = Sources::read(dir, previous.is_some());
        let reuse_layer = |spec: &CollectionSpec| -> Option<Arc<Layer>> {
            let prev = previous?;
            let digest = before.layers.get(spec.file)?;
            (prev.sources.layers.get(spec.file) == Some(digest))
                .then(|| prev.catalog.layer(spec.id).cloned())
                .flatten()
        };
        let reuse_gazetteer = previous
            .filter(|p| before.gazetteer.is_some() && p.sources.gazetteer == before.gazetteer)
            .map(|p| Arc::clone(&p.gazetteer));
        let (layers, gazetteer) = rayon::join(
            || -> Result<Vec<Arc<Layer>>, LoadError> {
                COLLECTIONS
                    .par_iter()
                    .map(|spec| match reuse_layer(spec) {
                        Some(layer) => Ok(layer),
                        None => open_layer(dir, spec),
                    })
                    .collect()
            },
            || match reuse_gazetteer {
                Some(g) => Ok(g),
                None => Gazetteer::load(dir).map(Arc::new),
            },
        );
        let mut simplified = HashMap::new();
        for name in ["departments", "communes", "sections"] {
            let bytes = std::fs::read(dir.join("admin/simplified").join(format!("{name}.geojson")))
                .map_err(|e| SnapshotError::Simplified(name.into(), e.kind().to_string()))?;
            simplified.insert(name.to_string(), Bytes::from(bytes));
        }
        let layers = layers?;
        let gazetteer = gazetteer?;
        let sources = before.stable(&layers, &Sources::read(dir, false));
        let version = sources.version();
        Ok(Snapshot {
            catalog: Catalog {
                layers,
                version,
                loaded_at: crate::temporal::now_rfc3339(),
            },
            gazetteer,
            simplified,
            sources,
        })
    }
}

/// The outcome of the last reload, for `/health`.
#[derive(Debug, Default, Clone)]
pub struct ReloadStatus {
    pub last_reload: Option<String>,
    pub last_error: Option<String>,
    pub reloads: u64,
    pub failures: u64,
}

/// Shared by every worker.
pub struct State {
    current: ArcSwap<Snapshot>,
    pub data_dir: PathBuf,
    pub static_dir: PathBuf,
    pub reload: Mutex<ReloadStatus>,
    pub metrics: crate::metrics::Metrics,
    /// Held for a whole reload, so that two reloads (a file change and a SIGHUP) never
    /// overlap and an older load can never be swapped in after a newer one.
    reloading: Mutex<()>,
}

impl State {
    pub fn new(snapshot: Snapshot, data_dir: PathBuf, static_dir: PathBuf) -> State {
        let metrics = crate::metrics::Metrics::new();
        metrics.set_features(&snapshot);
        State {
            current: ArcSwap::from_pointee(snapshot),
            data_dir,
            static_dir,
            reload: Mutex::new(ReloadStatus::default()),
            metrics,
            reloading: Mutex::new(()),
        }
    }

    /// The data as it is now; hold it for the whole request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Loads a fresh copy of the data directory and swaps it in whole, or keeps the old one
    /// and records why. Files that did not change are not read into new layers again.
    pub fn reload(&self) -> Result<(), String> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.snapshot();
        let result = Snapshot::load_reusing(&self.data_dir, Some(&old));
        let mut status = self.reload.lock().unwrap_or_else(|e| e.into_inner());
        status.last_reload = Some(crate::temporal::now_rfc3339());
        match result {
            Ok(snapshot) => {
                let changed = snapshot.catalog.version != old.catalog.version;
                self.metrics.set_features(&snapshot);
                self.current.store(Arc::new(snapshot));
                status.reloads += 1;
                status.last_error = None;
                self.metrics.reloads.inc();
                tracing::info!(changed, "data reloaded");
                Ok(())
            }
            Err(e) => {
                let msg = relative_to(&e.to_string(), &self.data_dir);
                status.failures += 1;
                status.last_error = Some(msg.clone());
                self.metrics.reload_failures.inc();
                tracing::error!(error = %msg, "reload refused; the previous data keeps serving");
                Err(msg)
            }
        }
    }
}

/// `msg` with every mention of the data directory's path removed, so that file names read
/// relative to it: `/srv/kat/data/admin/communes.geojson` becomes `admin/communes.geojson`.
/// Messages reach `/health`, which must not show where Kat is installed.
pub fn relative_to(msg: &str, dir: &Path) -> String {
    let mut prefixes: Vec<String> = vec![dir.display().to_string()];
    if let Ok(abs) = std::fs::canonicalize(dir) {
        prefixes.push(abs.display().to_string());
    }
    if let Ok(cwd) = std::env::current_dir() {
        prefixes.push(cwd.join(dir).display().to_string());
    }
    // Longest first, so that a longer form is not left half-stripped by a shorter one.
    prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
    const BOUNDARY: [char; 6] = [' ', '"', '\'', '(', '`', '='];
    let mut out = msg.to_string();
    for prefix in &prefixes {
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            continue;
        }
        let mut result = String::with_capacity(out.len());
        let mut i = 0;
        while let Some(found) = out[i..].find(prefix) {
            let at = i + found;
            let end = at + prefix.len();
            let starts_a_path = at == 0 || out[..at].ends_with(BOUNDARY);
            if starts_a_path && out[end..].starts_with('/') {
                result.push_str(&out[i..at]);
                i = end + 1;
            } else {
                result.push_str(&out[i..end]);
                i = end;
            }
        }
        result.push_str(&out[i..]);
        out = result;
    }
    out
}

/// Registers every route.
pub fn routes(cfg: &mut aweb::ServiceConfig) {
    // Routes are tried in order: the items routes, which take nearly all the traffic, first.
    items::routes(cfg);
    tiles::routes(cfg);
    aggregate::routes(cfg);
    handlers::routes(cfg);
    web::routes(cfg);
}

/// Headers for every answer: CORS for reading, and no sniffing.
pub fn add_common_headers<B>(res: &mut ServiceResponse<B>) {
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Link, OGC-NumberMatched, ETag, Content-Disposition"),
    );
    // The map page sets its own policy; everything else (JSON, scripts, images) needs none.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        );
    }
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
}

/// How long a handler may take to produce its answer's head (503 after).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Refusals that apply to every path, before routing: a query string over
/// [`params::MAX_QUERY_BYTES`] (414) or with more than [`params::MAX_PARAMS`] parameters
/// (400). Also bounds each handler's time, and answers a handler's panic with a problem
/// document instead of a dropped connection.
async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    use futures_util::FutureExt;
    let query = req.query_string();
    let refused = if query.len() > params::MAX_QUERY_BYTES {
        Some(ApiError::Query(params::QueryError::TooLong(query.len())))
    } else {
        let n = params::count_params(query);
        (n > params::MAX_PARAMS).then_some(ApiError::Query(params::QueryError::TooMany(n)))
    };
    if let Some(e) = refused {
        return Ok(req.into_response(e.error_response()).map_into_right_body());
    }
    // The request cannot be kept (routing needs it unshared), so the rare answers below are
    // errors that actix turns into their problem documents.
    let path = req.path().to_string();
    let call = std::panic::AssertUnwindSafe(next.call(req)).catch_unwind();
    match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Ok(Ok(res)) => res.map(ServiceResponse::map_into_left_body),
        Ok(Err(_)) => {
            tracing::error!(path = %clip(&path), "a handler panicked");
            Err(ApiError::Internal(
                "the request could not be answered; the failure has been logged".into(),
            )
            .into())
        }
        Err(_) => {
            tracing::warn!(path = %clip(&path), "request timed out");
            Err(ApiError::Unavailable(format!(
                "the answer took longer than {} s; narrow the query (bbox, limit) and try again",
                REQUEST_TIMEOUT.as_secs()
            ))
            .into())
        }
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// The application with its state, routes and middleware.
pub fn app(
    state: aweb::Data<State>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(
            aweb::PathConfig::default().error_handler(|err, _| {
                ApiError::NotFound(format!("no such resource: {err}")).into()
            }),
        )
        .wrap(actix_web::middleware::from_fn(guard))
        .wrap(actix_web::middleware::Compress::default())
        .wrap(actix_web::middleware::from_fn(handlers::common_headers))
        .configure(routes)
        .default_service(aweb::to(handlers::not_found))
}

/// An `HttpResponse` for a JSON value, with a strong ETag and 304 support.
pub(crate) fn json_response(
    req: &actix_web::HttpRequest,
    body: Vec<u8>,
    content_type: &'static str,
) -> HttpResponse {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    let etag = format!("\"{:016x}\"", h.finish());
    if handlers::etag_matches(req, &etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::relative_to;
    use std::path::Path;

    #[test]
    fn reload_errors_name_files_relative_to_the_data_directory() {
        let dir = Path::new("/srv/kat/data");
        assert_eq!(
            relative_to(
                "cannot read /srv/kat/data/admin/communes.geojson: not found",
                dir
            ),
            "cannot read admin/communes.geojson: not found"
        );
        assert_eq!(
            relative_to("/srv/kat/data/x.csv, row 3", dir),
            "x.csv, row 3"
        );
        let rel = Path::new("data");
        assert_eq!(
            relative_to("data/admin/a.geojson and metadata/b", rel),
            "admin/a.geojson and metadata/b"
        );
    }
}
