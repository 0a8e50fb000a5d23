//! Who is asking: the bearer token of a write (and of every read with `--private`), checked
//! against the database's accounts. Tokens are never logged, counted or echoed.

use super::problem::ApiError;
use super::state::State;
use crate::database::tokens::{self, Account, Role};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, ResponseError};

/// The account behind the request's `Authorization: Bearer …`, which must have `role` (an
/// admin may do all an editor may).
pub(super) async fn require(
    req: &HttpRequest,
    state: &State,
    role: Role,
) -> Result<Account, ApiError> {
    let Some(db) = state.database() else {
        return Err(ApiError::NotEditable(
            "accounts need a database: start Kat with --database".into(),
        ));
    };
    let token = bearer(req)?;
    // Asked of the database each time, so that a revoked token stops at once.
    let account = tokens::authenticate(db, &token)
        .await
        .map_err(|e| unavailable(&e))?;
    let account = account.ok_or_else(|| ApiError::Unauthorized {
        detail: "the token is not valid (unknown or revoked); ask an admin for one".into(),
        invalid: true,
    })?;
    if account.role < role {
        return Err(ApiError::Forbidden(format!(
            "this needs the {} role; the token's account \"{}\" is {}",
            role.as_str(),
            account.name,
            account.role.with_article()
        )));
    }
    Ok(account)
}

/// With `--private`, every read but the web map's own files, `/health` and CORS preflights
/// needs a token of any role.
pub(super) async fn private_reads(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let state = req.app_data::<web::Data<State>>().cloned();
    let Some(state) = state.filter(|s| s.private) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let path = req.path();
    let public = req.method() == actix_web::http::Method::OPTIONS
        || path == "/health"
        || path == "/favicon.ico"
        || path.starts_with("/static/")
        || (path == "/" && accepts_html(req.request()));
    if public {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let refused = match (state.database(), bearer(req.request())) {
        (_, Err(e)) => Some(e),
        (None, Ok(_)) => Some(ApiError::Unavailable("accounts need a database".into())),
        (Some(db), Ok(token)) => match state.readers.authenticate(db, &token).await {
            Ok(Some(_)) => None,
            Ok(None) => Some(ApiError::Unauthorized {
                detail: "the token is not valid (unknown or revoked); ask an admin for one".into(),
                invalid: true,
            }),
            Err(e) => Some(unavailable(&e)),
        },
    };
    match refused {
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Some(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}

fn accepts_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let missing = || ApiError::Unauthorized {
        detail: "this needs a token: send Authorization: Bearer TOKEN (see `kat token create`)"
            .into(),
        invalid: false,
    };
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| ApiError::Unauthorized {
            detail: "the Authorization header is not readable text".into(),
            invalid: true,
        })?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized {
            detail: "the Authorization header must read: Bearer TOKEN".into(),
            invalid: true,
        })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized {
            detail: "the Authorization header must read: Bearer TOKEN".into(),
            invalid: true,
        });
    }
    Ok(token.trim().to_string())
}

/// The answer to a database that is away: the write can be tried again shortly.
pub(super) fn unavailable(e: &crate::database::DbError) -> ApiError {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "a write found the database away");
        ApiError::Unavailable(
            "the database is unavailable; reads go on, writes can be retried in a few seconds"
                .into(),
        )
    } else {
        tracing::error!(error = %e, "the database refused a write");
        ApiError::Internal("the database refused the write; the failure has been logged".into())
    }
}

/// `GET /account`: the account behind the request's token, its role and what it may do.
pub(super) async fn account(
    req: HttpRequest,
    state: web::Data<State>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let p = super::params::Params::parse(req.query_string(), Some(&["f"]))?;
    super::negotiate::negotiate(&req, &p, false)?;
    if state.database().is_none() {
        return Err(ApiError::NotFound(
            "this server has no accounts: accounts are kept in a database (start Kat with \
             --database)"
                .into(),
        ));
    }
    let account = require(&req, &state, Role::Reader).await?;
    let body = serde_json::json!({
        "name": account.name,
        "role": account.role.as_str(),
        "may": account.role.may(),
    });
    Ok(actix_web::HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.to_string()))
}
