//! The HTTP API: routes, parameter parsing, negotiation, the OpenAPI contract and errors.
//!
//! Every handler reads one snapshot of the catalogue ([`State::snapshot`]) and keeps it for
//! the whole request, so a reload in the middle of a request never mixes two versions.

mod aggregate;
mod auth;
mod cql;
mod edit;
pub mod encode;
mod handlers;
mod http;
mod items;
pub mod negotiate;
pub mod openapi;
pub mod params;
pub mod problem;
pub mod queryables;
pub mod select;
mod state;
mod tiles;
mod web;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{web as aweb, App};
use std::sync::Arc;

pub use problem::ApiError;
pub use state::State;

/// Registers every route; `collections` are the ids served at start.
pub fn routes(cfg: &mut aweb::ServiceConfig, collections: &[Arc<str>]) {
    // Routes are tried in order: the items routes, which take nearly all the traffic, first.
    items::routes(cfg, collections);
    tiles::routes(cfg);
    aggregate::routes(cfg);
    handlers::routes(cfg);
    queryables::routes(cfg);
    web::routes(cfg);
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
    let collections: Vec<Arc<str>> = state
        .snapshot()
        .layers
        .iter()
        .map(|l| Arc::from(l.id()))
        .collect();
    App::new()
        .app_data(state)
        .app_data(
            aweb::PathConfig::default().error_handler(|err, _| {
                ApiError::NotFound(format!("no such resource: {err}")).into()
            }),
        )
        .wrap(actix_web::middleware::from_fn(auth::private_reads))
        .wrap(actix_web::middleware::from_fn(http::guard))
        .wrap(actix_web::middleware::Compress::default())
        .wrap(actix_web::middleware::from_fn(http::common_headers))
        .configure(|cfg| routes(cfg, &collections))
        .default_service(aweb::to(http::not_found))
}
