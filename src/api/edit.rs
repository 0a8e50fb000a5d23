//! OGC API - Features Part 4 on editable collections: `POST /items`, and `PUT`, `PATCH`
//! and `DELETE` on `/items/{featureId}`; the feature's history and its restore. Parse →
//! write → answer: the feature is prepared by [`crate::edit`], stored by
//! [`crate::database::write`], and answered once this server serves it.

use super::auth::{require, unavailable};
use super::encode::GEOJSON;
use super::http::{base_url, layer};
use super::problem::ApiError;
use super::state::State;
use crate::catalog::tables::Tables;
use crate::catalog::Snapshot;
use crate::database::tokens::Role;
use crate::database::write::{self, Action, Write, WriteError, Written};
use crate::database::{changes, Database};
use crate::layer::Layer;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The largest body a write takes: an armed-group area's polygon fits many times over.
pub const MAX_BODY: usize = 4 << 20;

/// How long a write waits for this server to serve it before answering anyway (it is
/// committed either way).
const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A PATCH without `If-Match` that meets a concurrent write is tried again this many times.
const PATCH_TRIES: usize = 5;

const FEATURE_TYPES: &str = "application/geo+json or application/json";
const PATCH_TYPE: &str = "application/merge-patch+json";

/// The ETag of a stored feature's revision, the same on every server of one database.
pub fn etag(revision: i64) -> String {
    format!("\"r{revision}\"")
}

/// Where edits go: the database, and the collection's layer and table.
struct Target {
    db: Database,
    tables: Arc<Tables>,
    snapshot: Arc<Snapshot>,
    layer: Arc<Layer>,
    table: String,
}

fn target(state: &State, collection: &str) -> Result<Target, ApiError> {
    let snapshot = state.snapshot();
    let layer = Arc::clone(layer(&snapshot, collection)?);
    let Some(tables) = state.catalog.tables.clone() else {
        return Err(ApiError::NotEditable(
            "this server serves files, read-only: edits need a database (start Kat with \
             --database; see README, \"Many servers, one database\")"
                .into(),
        ));
    };
    let table = match (&layer.spec.table, layer.spec.editable) {
        (Some(t), true) => t.clone(),
        _ => {
            return Err(ApiError::NotEditable(format!(
                "collection '{collection}' is read-only: kat.toml does not mark it editable"
            )))
        }
    };
    Ok(Target {
        db: tables.db.clone(),
        tables,
        snapshot,
        layer,
        table,
    })
}

impl Target {
    /// Carries out one write by `actor`, as the API answers its refusals.
    async fn store(
        &self,
        collection: &str,
        id: &str,
        action: Action,
        feature: Option<&str>,
        expected: Option<i64>,
        actor: &str,
    ) -> Result<Written, ApiError> {
        let w = Write {
            table: &self.table,
            id,
            action,
            feature,
            expected,
            actor,
        };
        let written = write::write(&self.db, &w)
            .await
            .map_err(|e| write_error(e, collection))?;
        tracing::info!(collection, id, actor, action = action.as_str(), "written");
        Ok(written)
    }

    /// Writes `stored` (a feature [`crate::edit::prepare`]d as feature `id`) from revision
    /// `expected` if given, and answers with it as stored: 201 for a create, 200 otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn put(
        &self,
        req: &HttpRequest,
        collection: &str,
        id: &str,
        action: Action,
        stored: String,
        expected: Option<i64>,
        actor: &str,
    ) -> Result<HttpResponse, ApiError> {
        let written = self
            .store(collection, id, action, Some(&stored), expected, actor)
            .await?;
        let status = if action == Action::Create {
            actix_web::http::StatusCode::CREATED
        } else {
            actix_web::http::StatusCode::OK
        };
        Ok(answer(self, req, status, collection, id, stored, written).await)
    }

    /// The feature `body` as it would be stored as feature `id`, or the 400 naming its fault.
    fn prepare(&self, body: Value, id: &str) -> Result<String, ApiError> {
        crate::edit::prepare(&self.layer, &self.snapshot.gazetteer, body, id)
            .map(|(stored, _)| stored)
            .map_err(invalid)
    }

    /// The revision `If-Match` asks a write to start from, checked against the feature's
    /// current one (412 if it moved on); `None` without `If-Match`.
    async fn expected(
        &self,
        precondition: Option<&IfMatch>,
        collection: &str,
        id: &str,
    ) -> Result<Option<i64>, ApiError> {
        let Some(p) = precondition else {
            return Ok(None);
        };
        let (current, _) = write::current(&self.db, &self.table, id)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or_else(|| write_error(WriteError::NotFound(id.to_string()), collection))?;
        p.expected(current).map(Some)
    }
}

fn check_type(
    req: &HttpRequest,
    accepted: &[&str],
    expected: &'static str,
) -> Result<(), ApiError> {
    let found = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = found
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if accepted.contains(&essence.as_str()) {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType {
        found: if found.is_empty() {
            "sent without a Content-Type".into()
        } else {
            format!("of type {found}")
        },
        expected,
    })
}

async fn read_json(mut payload: web::Payload) -> Result<Value, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::InvalidFeature {
            field: "body".into(),
            detail: format!("the body could not be read: {e}"),
        })?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::PayloadTooLarge { limit: MAX_BODY });
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::InvalidFeature {
        field: "body".into(),
        detail: format!("the body is not JSON: {e}"),
    })
}

/// The revision that `If-Match` names; `Ok(None)` without one. `*` is any existing revision.
fn if_match(req: &HttpRequest) -> Result<Option<IfMatch>, ApiError> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or("").trim();
    if v == "*" {
        return Ok(Some(IfMatch::Any));
    }
    let revisions: Vec<i64> = v
        .split(',')
        .filter_map(|t| {
            t.trim()
                .trim_matches('"')
                .strip_prefix('r')
                .and_then(|n| n.parse().ok())
        })
        .collect();
    Ok(Some(IfMatch::Revisions(revisions)))
}

enum IfMatch {
    Any,
    Revisions(Vec<i64>),
}

impl IfMatch {
    /// The revision to write against, given the feature's current one.
    fn expected(&self, current: i64) -> Result<i64, ApiError> {
        match self {
            IfMatch::Any => Ok(current),
            IfMatch::Revisions(r) if r.contains(&current) => Ok(current),
            IfMatch::Revisions(_) => Err(stale(current)),
        }
    }
}

fn stale(current: i64) -> ApiError {
    ApiError::PreconditionFailed(format!(
        "the feature has changed since it was read (it is now at ETag {}): fetch it again, \
         reapply the change and send it with the new ETag",
        etag(current)
    ))
}

fn write_error(e: WriteError, collection: &str) -> ApiError {
    match e {
        WriteError::NotFound(id) => {
            ApiError::NotFound(format!("no feature '{id}' in collection '{collection}'"))
        }
        WriteError::Exists(id) => ApiError::Conflict(format!(
            "a feature with id '{id}' exists already in '{collection}': PUT or PATCH it, or \
             send another id"
        )),
        WriteError::Stale { current, .. } => stale(current),
        WriteError::Db(e) => unavailable(&e),
    }
}

fn invalid(e: crate::edit::EditError) -> ApiError {
    ApiError::InvalidFeature {
        detail: e.to_string(),
        field: e.field,
    }
}

fn feature_url(req: &HttpRequest, collection: &str, id: &str) -> String {
    let enc: String = form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("{}/collections/{collection}/items/{enc}", base_url(req))
}

/// The feature as stored, once this server serves it, with its ETag.
async fn answer(
    t: &Target,
    req: &HttpRequest,
    status: actix_web::http::StatusCode,
    collection: &str,
    id: &str,
    stored: String,
    written: Written,
) -> HttpResponse {
    if !t.tables.wait_applied(written.seq, APPLY_TIMEOUT).await {
        tracing::warn!(seq = written.seq, "a committed write is not served yet");
    }
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, GEOJSON))
        .insert_header((header::ETAG, etag(written.revision)))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if status == actix_web::http::StatusCode::CREATED {
        res.insert_header((header::LOCATION, feature_url(req, collection, id)));
    }
    res.body(stored)
}

fn path_id(req: &HttpRequest) -> String {
    req.match_info()
        .get("id")
        .map(str::to_string)
        .or_else(|| req.path().split('/').nth(2).map(str::to_string))
        .unwrap_or_default()
}

/// `POST /collections/{id}/items`: a new feature; its id is the body's, or a new one.
pub(super) async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let collection = path_id(&req);
    let t = target(&state, &collection)?;
    let account = require(&req, &state, Role::Editor).await?;
    check_type(
        &req,
        &["application/geo+json", "application/json"],
        FEATURE_TYPES,
    )?;
    let body = read_json(payload).await?;
    let id = match body.get("id") {
        None | Some(Value::Null) => crate::edit::new_id(&collection).map_err(|e| {
            tracing::error!(error = %e, "no random id");
            ApiError::Internal("no id could be made; the failure has been logged".into())
        })?,
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(ApiError::InvalidFeature {
                field: "id".into(),
                detail: format!("id: must be a string or a number, found {other}"),
            })
        }
    };
    check_id(&id)?;
    if t.layer.position(&id).is_some() {
        return Err(write_error(WriteError::Exists(id), &collection));
    }
    let stored = t.prepare(body, &id)?;
    t.put(
        &req,
        &collection,
        &id,
        Action::Create,
        stored,
        None,
        &account.name,
    )
    .await
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
        return Err(ApiError::InvalidFeature {
            field: "id".into(),
            detail: "id: must be 1 to 200 characters, none of them control characters".into(),
        });
    }
    Ok(())
}

/// `PUT /collections/{id}/items/{fid}`: the whole feature replaced.
pub(super) async fn replace(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (collection, id) = path.into_inner();
    let t = target(&state, &collection)?;
    let account = require(&req, &state, Role::Editor).await?;
    check_type(
        &req,
        &["application/geo+json", "application/json"],
        FEATURE_TYPES,
    )?;
    let precondition = if_match(&req)?;
    let body = read_json(payload).await?;
    let stored = t.prepare(body, &id)?;
    let expected = t.expected(precondition.as_ref(), &collection, &id).await?;
    t.put(
        &req,
        &collection,
        &id,
        Action::Replace,
        stored,
        expected,
        &account.name,
    )
    .await
}

/// `PATCH /collections/{id}/items/{fid}` with a JSON merge patch (RFC 7396).
pub(super) async fn update(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (collection, id) = path.into_inner();
    let t = target(&state, &collection)?;
    let account = require(&req, &state, Role::Editor).await?;
    check_type(&req, &[PATCH_TYPE], PATCH_TYPE)?;
    let precondition = if_match(&req)?;
    let patch = read_json(payload).await?;
    if !patch.is_object() {
        return Err(ApiError::InvalidFeature {
            field: "body".into(),
            detail: "body: a merge patch is a JSON object of the members to change".into(),
        });
    }
    for _ in 0..PATCH_TRIES {
        let (revision, text) = write::current(&t.db, &t.table, &id)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or_else(|| write_error(WriteError::NotFound(id.clone()), &collection))?;
        let expected = match &precondition {
            Some(p) => p.expected(revision)?,
            None => revision,
        };
        let mut feature: Value = serde_json::from_str(&text).map_err(|e| {
            tracing::error!(error = %e, collection, id, "a stored feature is not JSON");
            ApiError::Internal(
                "the stored feature could not be read; the failure has been logged".into(),
            )
        })?;
        crate::edit::merge_patch(&mut feature, &patch);
        let stored = t.prepare(feature, &id)?;
        match write::write(
            &t.db,
            &Write {
                table: &t.table,
                id: &id,
                action: Action::Update,
                feature: Some(&stored),
                expected: Some(expected),
                actor: &account.name,
            },
        )
        .await
        {
            Ok(written) => {
                tracing::info!(collection, id, actor = account.name, "updated");
                return Ok(answer(
                    &t,
                    &req,
                    actix_web::http::StatusCode::OK,
                    &collection,
                    &id,
                    stored,
                    written,
                )
                .await);
            }
            // Someone wrote in between: without If-Match, patch what is there now.
            Err(WriteError::Stale { .. }) if precondition.is_none() => continue,
            Err(e) => return Err(write_error(e, &collection)),
        }
    }
    Err(ApiError::Conflict(
        "the feature kept changing while this patch was applied; send it again".into(),
    ))
}

/// `DELETE /collections/{id}/items/{fid}` (admins only): the feature goes, its history stays.
pub(super) async fn delete(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (collection, id) = path.into_inner();
    let t = target(&state, &collection)?;
    let account = require(&req, &state, Role::Admin).await?;
    let precondition = if_match(&req)?;
    let expected = t.expected(precondition.as_ref(), &collection, &id).await?;
    let written = t
        .store(
            &collection,
            &id,
            Action::Delete,
            None,
            expected,
            &account.name,
        )
        .await?;
    t.tables.wait_applied(written.seq, APPLY_TIMEOUT).await;
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// `GET /collections/{id}/items/{fid}/history`: every version, newest first.
pub(super) async fn history(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (collection, id) = path.into_inner();
    let p = super::params::Params::parse(req.query_string(), Some(&["f"]))?;
    super::negotiate::negotiate(&req, &p, false)?;
    let snapshot = state.snapshot();
    let layer = layer(&snapshot, &collection)?;
    let (Some(db), Some(table)) = (state.database(), layer.spec.table.as_deref()) else {
        return Err(ApiError::NotFound(format!(
            "collection '{collection}' keeps no history: history is kept for collections held \
             in a database (start Kat with --database)"
        )));
    };
    let versions = changes::history(db, table, &id)
        .await
        .map_err(|e| unavailable(&e))?;
    if versions.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no feature '{id}' in collection '{collection}', now or before"
        )));
    }
    let body = serde_json::json!({
        "collection": collection,
        "id": id,
        "versions": versions,
        "links": [
            {"href": feature_url(&req, &collection, &id), "rel": "about", "type": GEOJSON,
             "title": "The feature as it is now"},
        ],
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.to_string()))
}

/// `POST /collections/{id}/items/{fid}/history/{revision}/restore` (admins only): the feature
/// as that version left it becomes its newest version, even after a delete.
pub(super) async fn restore(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (collection, id, revision) = path.into_inner();
    let revision: i64 = revision.parse().map_err(|_| ApiError::NotFoundParam {
        param: "revision",
        detail: format!("'{revision}' is not a revision number; see the feature's history"),
    })?;
    let t = target(&state, &collection)?;
    let account = require(&req, &state, Role::Admin).await?;
    let version = changes::version(&t.db, &t.table, &id, revision)
        .await
        .map_err(|e| unavailable(&e))?;
    let text = match version {
        None => {
            return Err(ApiError::NotFoundParam {
                param: "revision",
                detail: format!("feature '{id}' has no revision {revision}; see its history"),
            })
        }
        Some(None) => {
            return Err(ApiError::InvalidFeature {
                field: "revision".into(),
                detail: format!(
                    "revision {revision} is the deletion: restore the revision before it"
                ),
            })
        }
        Some(Some(text)) => text,
    };
    let feature: Value = serde_json::from_str(&text).map_err(|_| {
        ApiError::Internal(
            "the stored version could not be read; the failure has been logged".into(),
        )
    })?;
    // Checked against the collection as it is declared now.
    let stored = t.prepare(feature, &id)?;
    t.put(
        &req,
        &collection,
        &id,
        Action::Restore,
        stored,
        None,
        &account.name,
    )
    .await
}
