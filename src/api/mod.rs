//! The HTTP API: routes, parameter parsing, negotiation, the OpenAPI contract and errors.
//!
//! Every handler reads one snapshot of the data ([`State::snapshot`]) and keeps it for the
//! whole request, so a reload in the middle of a request never mixes two versions.

pub mod encode;
mod handlers;
mod items;
pub mod negotiate;
pub mod openapi;
pub mod params;
pub mod problem;
mod web;

use crate::geocode::Gazetteer;
use crate::layer::Catalog;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web as aweb, App, HttpResponse};
use arc_swap::ArcSwap;
use bytes::Bytes;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use problem::ApiError;

/// Everything loaded from the data directory: what one reload replaces.
#[derive(Debug)]
pub struct Snapshot {
    pub catalog: Catalog,
    pub gazetteer: Gazetteer,
    /// The simplified boundaries for the map, by name (`departments`, ...).
    pub simplified: HashMap<String, Bytes>,
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

impl Snapshot {
    /// Loads and validates every file; nothing is swapped in unless all of it loads.
    pub fn load(dir: &Path) -> Result<Snapshot, SnapshotError> {
        let (catalog, gazetteer) = rayon::join(|| Catalog::load(dir), || Gazetteer::load(dir));
        let mut simplified = HashMap::new();
        for name in ["departments", "communes", "sections"] {
            let bytes = std::fs::read(dir.join("admin/simplified").join(format!("{name}.geojson")))
                .map_err(|e| SnapshotError::Simplified(name.into(), e.kind().to_string()))?;
            simplified.insert(name.to_string(), Bytes::from(bytes));
        }
        Ok(Snapshot {
            catalog: catalog?,
            gazetteer: gazetteer?,
            simplified,
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
        }
    }

    /// The data as it is now; hold it for the whole request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Loads a fresh copy of the data directory and swaps it in, or keeps the old one and
    /// records why.
    pub fn reload(&self) -> Result<(), String> {
        let result = Snapshot::load(&self.data_dir);
        let mut status = self.reload.lock().unwrap_or_else(|e| e.into_inner());
        status.last_reload = Some(crate::temporal::now_rfc3339());
        match result {
            Ok(snapshot) => {
                let changed = snapshot.catalog.version != self.snapshot().catalog.version;
                self.metrics.set_features(&snapshot);
                self.current.store(Arc::new(snapshot));
                status.reloads += 1;
                status.last_error = None;
                self.metrics.reloads.inc();
                tracing::info!(changed, "data reloaded");
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                status.failures += 1;
                status.last_error = Some(msg.clone());
                self.metrics.reload_failures.inc();
                tracing::error!(error = %msg, "reload refused; the previous data keeps serving");
                Err(msg)
            }
        }
    }
}

/// Registers every route.
pub fn routes(cfg: &mut aweb::ServiceConfig) {
    handlers::routes(cfg);
    items::routes(cfg);
    web::routes(cfg);
}

/// Headers for every answer: CORS for reading, and no sniffing.
pub fn add_common_headers<B>(res: &mut ServiceResponse<B>) {
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Link, OGC-NumberMatched, ETag, Content-Disposition"),
    );
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
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
        .app_data(aweb::PathConfig::default().error_handler(|err, _| {
            ApiError::NotFound(format!("no such resource: {err}")).into()
        }))
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
