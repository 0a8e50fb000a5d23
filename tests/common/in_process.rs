//! The application in this process, without a socket, for tests of what the handlers answer.
//! Requests go through the same routes and middleware as over HTTP, in a fraction of the time
//! it takes to start the binary; behaviour that needs a socket (raw request paths, gzip on the
//! wire, keep-alive, signals, reload, real clients) stays with [`super::Server`].

use std::sync::OnceLock;

use actix_web::{test, web};
use kat::api::State;
use kat::catalog::config::Config;
use kat::catalog::Catalog;

use super::{data_dir, manifest_dir, Response};

/// The state `kat serve` builds on the bundled data, loaded once per test binary.
fn state() -> web::Data<State> {
    static STATE: OnceLock<web::Data<State>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            let config = Config::locate(&data_dir(), None);
            let catalog = Catalog::open(data_dir(), config).expect("the bundled data loads");
            web::Data::new(State::new(catalog, manifest_dir().join("static")))
        })
        .clone()
}

/// Answers one request with the app that `kat::api::app` builds, and reads the whole body.
pub async fn call(req: test::TestRequest) -> Response {
    let app = test::init_service(kat::api::app(state())).await;
    let res = test::call_service(&app, req.to_request()).await;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = test::read_body(res).await.to_vec();
    Response {
        status,
        headers,
        body,
    }
}

/// `GET path` with the given headers.
pub async fn get(path: &str, headers: &[(&str, &str)]) -> Response {
    request("GET", path, headers).await
}

/// A request with any method.
pub async fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut req = test::TestRequest::default().method(method).uri(path);
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    call(req).await
}

/// `GET path` as JSON; the answer must be a 200.
pub async fn json(path: &str) -> serde_json::Value {
    let r = get(path, &[]).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}
