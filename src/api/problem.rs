//! Errors as HTTP answers: RFC 9457 problem details that name what to change.

use super::params::{ParamError, QueryError};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Everything a request can be refused for.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("{0}")]
    NotFound(String),
    /// A path parameter names nothing that exists (a tile matrix, row or column beyond the
    /// set): 404, naming the parameter.
    #[error("{detail}")]
    NotFoundParam { param: &'static str, detail: String },
    #[error("this resource answers {allow} only")]
    MethodNotAllowed { allow: &'static str },
    #[error("{0}")]
    NotAcceptable(String),
    /// `f=` names a format this resource does not offer.
    #[error("{0}")]
    FormatNotOffered(String),
    #[error("{0}")]
    Unavailable(String),
    /// A write to a server without a database, or to a collection not marked editable.
    #[error("{0}")]
    NotEditable(String),
    /// No token, or one that is not valid (revoked, unknown); `invalid` when one was sent.
    #[error("{detail}")]
    Unauthorized { detail: String, invalid: bool },
    #[error("{0}")]
    Forbidden(String),
    #[error("the body is {found}; this resource takes {expected}")]
    UnsupportedMediaType {
        found: String,
        expected: &'static str,
    },
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A feature that cannot be stored: `field` names what to change.
    #[error("{detail}")]
    InvalidFeature { field: String, detail: String },
    /// A create whose id exists already.
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` names a revision that is no longer the feature's.
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    Internal(String),
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError::Query(QueryError::Invalid(e))
    }
}

impl ApiError {
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Query(QueryError::TooLong(_)) => ("query-too-long", "Query string too long"),
            ApiError::Query(QueryError::Unknown { .. }) => {
                ("unknown-parameter", "Unknown parameter")
            }
            ApiError::Query(QueryError::Repeated(_)) => {
                ("repeated-parameter", "Repeated parameter")
            }
            ApiError::Query(QueryError::TooMany(_)) => {
                ("too-many-parameters", "Too many parameters")
            }
            ApiError::Query(QueryError::Invalid(_)) => {
                ("invalid-parameter", "Invalid parameter value")
            }
            ApiError::NotFound(_) | ApiError::NotFoundParam { .. } => ("not-found", "Not found"),
            ApiError::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            ApiError::NotAcceptable(_) | ApiError::FormatNotOffered(_) => {
                ("not-acceptable", "Not acceptable")
            }
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::NotEditable(_) => ("not-editable", "Method not allowed"),
            ApiError::Unauthorized { .. } => ("unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::UnsupportedMediaType { .. } => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::PayloadTooLarge { .. } => ("payload-too-large", "Payload too large"),
            ApiError::InvalidFeature { .. } => ("invalid-feature", "Invalid feature"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::PreconditionFailed(_) => ("precondition-failed", "Precondition failed"),
            ApiError::Internal(_) => ("internal", "Internal error"),
        }
    }

    /// The problem-details body.
    pub fn body(&self) -> serde_json::Value {
        let (kind, title) = self.kind();
        let mut body = json!({
            "type": format!("urn:kat:problem:{kind}"),
            "title": title,
            "status": self.status_code().as_u16(),
            "detail": self.to_string(),
        });
        if let ApiError::FormatNotOffered(_) = self {
            body["parameter"] = json!("f");
        }
        if let ApiError::InvalidFeature { field, .. } = self {
            body["field"] = json!(field);
        }
        if let ApiError::UnsupportedMediaType { expected, .. } = self {
            body["field"] = json!("Content-Type");
            body["expected"] = json!(expected);
        }
        if let ApiError::NotFoundParam { param, .. } = self {
            body["parameter"] = json!(param);
        }
        if let ApiError::Query(q) = self {
            if let Some(p) = q.param() {
                body["parameter"] = json!(p);
            }
            if let QueryError::Invalid(e) = q {
                body["value"] = json!(e.value);
                body["expected"] = json!(e.expected);
            }
        }
        body
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Query(QueryError::TooLong(_)) => StatusCode::URI_TOO_LONG,
            ApiError::Query(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) | ApiError::NotFoundParam { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) | ApiError::FormatNotOffered(_) => {
                StatusCode::NOT_ACCEPTABLE
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotEditable(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidFeature { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if let ApiError::MethodNotAllowed { allow } = self {
            res.insert_header((header::ALLOW, *allow));
        }
        if let ApiError::NotEditable(_) = self {
            res.insert_header((header::ALLOW, "GET, HEAD, OPTIONS"));
        }
        if let ApiError::Unauthorized { invalid, .. } = self {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                if *invalid {
                    "Bearer realm=\"kat\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"kat\""
                },
            ));
        }
        res.body(self.body().to_string())
    }
}
