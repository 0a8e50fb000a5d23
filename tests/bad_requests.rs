//! Bad requests: every one gets the expected status and an RFC 9457 problem document naming the
//! parameter at fault, and none gets a 5xx. Bad parameters go to the app in process; bad paths,
//! which only the real server's request parsing sees as sent, go to the real server, which must
//! still answer afterwards.

mod common;

use common::{in_process, Response, Server};

/// One bad request and what Kat must answer.
struct Case {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    status: u16,
    /// The parameter the problem document must name.
    parameter: Option<&'static str>,
}

fn get(path: impl Into<String>, status: u16, parameter: Option<&'static str>) -> Case {
    Case {
        method: "GET",
        path: path.into(),
        headers: Vec::new(),
        status,
        parameter,
    }
}

fn bad(path: impl Into<String>, parameter: &'static str) -> Case {
    get(path, 400, Some(parameter))
}

/// Every collection with its queryables and whether it has a time property.
const COLLECTIONS: &[(&str, &[&str], bool)] = &[
    (
        "incidents",
        &["department", "commune", "event_type", "actor"],
        true,
    ),
    ("gang_areas", &["group", "status", "department"], true),
    ("departments", &["name", "pcode"], false),
    ("communes", &["name", "pcode", "department"], false),
    (
        "sections",
        &["name", "pcode", "commune", "department"],
        false,
    ),
];

const BAD_BBOX: &[&str] = &[
    "bbox=1,2,3",
    "bbox=-73,18,-72",
    "bbox=a,b,c,d",
    "bbox=-73,19,-72,18",
    "bbox=-73,18,-72,91",
    "bbox=-73,-91,-72,18",
    "bbox=-181,18,-72,19",
    "bbox=-73,18,181,19",
    "bbox=NaN,18,-72,19",
    "bbox=-73,18,inf,19",
    "bbox=-73,18,-72,19,5",
    "bbox=",
    "bbox=-73,18,-72,19,",
    "bbox=,,,",
    "bbox=-73,18,0,-72,19,-1",
    "bbox=%ff",
];

const BAD_DATETIME: &[&str] = &[
    "datetime=yesterday",
    "datetime=../..",
    "datetime=2025-01-01/2024-01-01",
    "datetime=",
    "datetime=2024-13-01",
    "datetime=2024-01-01T25:00:00Z",
    "datetime=2024-01-01/2024-02-01/2024-03-01",
    "datetime=/",
];

const BAD_LIMIT: &[&str] = &[
    "limit=0",
    "limit=-1",
    "limit=1.5",
    "limit=abc",
    "limit=",
    "limit=unlimited",
];
const BAD_OFFSET: &[&str] = &["offset=-1", "offset=x", "offset=", "offset=1.5"];
const BAD_NEAR: &[&str] = &[
    "near=-72.3",
    "near=NaN,18.5",
    "near=-72.3,91",
    "near=181,18",
    "near=a,b",
    "near=",
];
const BAD_WITHIN: &[&str] = &[
    "near=-72.3,18.5&within=0",
    "near=-72.3,18.5&within=-5",
    "near=-72.3,18.5&within=abc",
    "near=-72.3,18.5&within=1000001",
    "near=-72.3,18.5&within=inf",
    "within=5000",
];

/// Bad parameters, methods and formats: what the handlers answer, the same in process as over
/// the wire.
fn parameter_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let long_value = "x".repeat(201);
    for &(id, queryables, timed) in COLLECTIONS {
        let items = format!("/collections/{id}/items");
        for q in BAD_BBOX {
            cases.push(bad(format!("{items}?{q}"), "bbox"));
        }
        for q in BAD_DATETIME {
            // Collections without dates do not take `datetime` at all: still a 400 naming it.
            cases.push(bad(format!("{items}?{q}"), "datetime"));
            if !timed {
                break;
            }
        }
        for q in BAD_LIMIT {
            cases.push(bad(format!("{items}?{q}"), "limit"));
        }
        for q in BAD_OFFSET {
            cases.push(bad(format!("{items}?{q}"), "offset"));
        }
        for q in BAD_NEAR {
            cases.push(bad(format!("{items}?{q}"), "near"));
        }
        for q in BAD_WITHIN {
            cases.push(bad(format!("{items}?{q}"), "within"));
        }
        cases.push(bad(
            format!("{items}?near_feature=incidents/no-such-feature"),
            "near_feature",
        ));
        cases.push(bad(
            format!("{items}?near_feature=no_such_collection/x"),
            "near_feature",
        ));
        cases.push(bad(
            format!("{items}?near_feature=incidents"),
            "near_feature",
        ));
        let filter = queryables[0];
        cases.push(bad(format!("{items}?{filter}="), filter));
        cases.push(bad(format!("{items}?{filter}=%20%20"), filter));
        cases.push(bad(format!("{items}?{filter}={long_value}"), filter));
        cases.push(bad(format!("{items}?colour=red"), "colour"));
        cases.push(bad(format!("{items}?limit=1&limit=2"), "limit"));
        cases.push(bad(format!("{items}?{filter}=a&{filter}=b"), filter));
        cases.push(get(format!("{items}?f=xml"), 406, Some("f")));
        cases.push(Case {
            headers: vec![("Accept", "application/xml".into())],
            ..get(items.clone(), 406, None)
        });
        cases.push(get(format!("{items}/no-such-feature"), 404, None));
        cases.push(bad(format!("/collections/{id}/download?limit=0"), "limit"));
        cases.push(bad(
            format!("/collections/{id}/download?bbox=1,2,3"),
            "bbox",
        ));
        cases.push(bad(format!("/collections/{id}?foo=1"), "foo"));
        cases.push(get(format!("/collections/{id}?f=xml"), 406, Some("f")));
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            cases.push(Case {
                method,
                ..get(items.clone(), 405, None)
            });
        }
    }

    // Wrong methods on the other resources.
    for (method, path) in [
        ("POST", "/"),
        ("PUT", "/collections"),
        ("DELETE", "/collections/incidents"),
        ("PATCH", "/conformance"),
        ("POST", "/api"),
        ("POST", "/geocode?q=port"),
        ("DELETE", "/health"),
        ("PUT", "/collections/incidents/items/HT-2023-001"),
        ("TRACE", "/"),
        ("POST", "/static/app.js"),
    ] {
        cases.push(Case {
            method,
            ..get(path, 405, None)
        });
    }

    // Formats nobody serves.
    for path in [
        "/",
        "/collections",
        "/conformance",
        "/api",
        "/collections/incidents/items/HT-2023-001",
    ] {
        cases.push(get(format!("{path}?f=xml"), 406, Some("f")));
        cases.push(Case {
            headers: vec![("Accept", "application/xml".into())],
            ..get(path, 406, None)
        });
    }
    cases.push(get("/collections?f=", 406, Some("f")));
    cases.push(get(
        format!("/collections?f={}", "y".repeat(3000)),
        406,
        Some("f"),
    ));

    // Whole query strings that are too long or carry too many parameters, on any path.
    let huge = format!("bbox={}", "1".repeat(9000));
    cases.push(get(
        format!("/collections/incidents/items?{huge}"),
        414,
        None,
    ));
    cases.push(get(format!("/geocode?q={}", "a".repeat(9000)), 414, None));
    cases.push(get(format!("/nope?{huge}"), 414, None));
    let many: Vec<String> = (0..33).map(|i| format!("p{i}=1")).collect();
    cases.push(get(
        format!("/collections/incidents/items?{}", many.join("&")),
        400,
        None,
    ));
    let repeated: Vec<String> = (0..40).map(|i| format!("limit={i}")).collect();
    cases.push(get(
        format!("/collections/incidents/items?{}", repeated.join("&")),
        400,
        None,
    ));
    cases.push(bad("/health?verbose=1", "verbose"));
    cases.push(bad("/conformance?x=1", "x"));

    // The geocoder.
    cases.push(bad("/geocode", "q"));
    cases.push(bad("/geocode?q=", "q"));
    cases.push(bad("/geocode?q=%20", "q"));
    cases.push(bad(format!("/geocode?q={}", "a".repeat(201)), "q"));
    cases.push(bad("/geocode?q=port&limit=0", "limit"));
    cases.push(bad("/geocode?q=port&limit=x", "limit"));
    cases.push(bad("/geocode?q=port&limit=51", "limit"));
    cases.push(bad("/geocode?q=port&q=cap", "q"));
    cases.push(bad("/geocode?q=port&suggest=yes", "suggest"));
    cases.push(bad("/geocode?q=port&suggest=true&suggest=false", "suggest"));
    cases.push(bad("/geocode?q=port&lang=fr", "lang"));
    cases.push(bad("/reverse", "lon"));
    cases.push(bad("/reverse?lat=18.5", "lon"));
    cases.push(bad("/reverse?lon=-72.3", "lat"));
    cases.push(bad("/reverse?lon=NaN&lat=18.5", "lon"));
    cases.push(bad("/reverse?lon=-72.3&lat=nan", "lat"));
    cases.push(bad("/reverse?lon=181&lat=18.5", "lon"));
    cases.push(bad("/reverse?lon=-72.3&lat=-91", "lat"));
    cases.push(bad("/reverse?lon=inf&lat=18.5", "lon"));
    cases.push(bad("/reverse?lon=abc&lat=18.5", "lon"));
    cases.push(bad("/reverse?lon=-72.3&lat=18.5&zoom=3", "zoom"));
    cases.push(get("/reverse?lon=-73.5&lat=19.5", 404, None));
    cases.push(get("/reverse?lon=0&lat=0", 404, None));

    cases
}

/// Paths that lead nowhere, sent exactly as written (some are not even valid URIs to an HTTP
/// client library): only the real server's request parsing shows what they reach.
fn path_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // Unknown collections, features and paths.
    for path in [
        "/collections/no_such_collection",
        "/collections/no_such_collection/items",
        "/collections/no_such_collection/items/1",
        "/collections/no_such_collection/download",
        "/collections/incidents/items/HT-9999-999",
        "/collections/%ff/items",
        "/collections/inc%00idents/items",
        "/nope",
        "/collections/incidents/items/HT-2023-001/more",
        "/api/nope",
        "/.env",
        "/simplified/nope.geojson",
        "/simplified/..%2f..%2fCargo.toml",
    ] {
        cases.push(get(path, 404, None));
    }

    // Ways out of static/: none leads anywhere.
    for path in [
        "/static/../Cargo.toml",
        "/static/../data/SOURCES.md",
        "/static/%2e%2e/Cargo.toml",
        "/static/%2E%2E/Cargo.toml",
        "/static/.%2e/Cargo.toml",
        "/static/%2e%2e%2fCargo.toml",
        "/static/..%2fCargo.toml",
        "/static/vendor%2f..%2f..%2fCargo.toml",
        "/static/..%5cCargo.toml",
        "/static/..\\Cargo.toml",
        "/static/%5c..%5cCargo.toml",
        "/static/index.html%00",
        "/static/index.html%00.js",
        "/static/%00",
        "/static/%252e%252e/Cargo.toml",
        "/static/%252e%252e%252fCargo.toml",
        "/static/%25252e%25252e/Cargo.toml",
        "/static/%c0%ae%c0%ae/Cargo.toml",
        "/static/vendor/../../Cargo.toml",
        "/static/..",
        "/static/.",
        "/static/",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/vendor",
        "/static/vendor/",
        "/static/.git/config",
        "/static/.env",
        "/static/.htaccess",
        "/static/vendor/.hidden",
        "/static/%2egit/config",
        "/static/C:%5cWindows%5cwin.ini",
        "/static/index.html/",
        "/static/no-such-file.js",
    ] {
        cases.push(get(path, 404, None));
    }
    cases
}

/// What a file outside static/ would show if it leaked.
const OUTSIDE_MARKERS: &[&str] = &["[package]", "root:x:0:0", "[dependencies]", "# Sources"];

fn check(case: &Case, r: &Response) -> Vec<String> {
    let mut problems = Vec::new();
    if r.status >= 500 {
        problems.push(format!("a {} answer", r.status));
    }
    if r.status != case.status {
        problems.push(format!("status {} (expected {})", r.status, case.status));
    }
    let ct = r.header("content-type").unwrap_or("");
    if !ct.contains("json") {
        problems.push(format!("Content-Type {ct:?} is not JSON"));
    }
    match serde_json::from_slice::<serde_json::Value>(&r.body) {
        Err(e) => problems.push(format!("body is not JSON ({e}): {}", r.text())),
        Ok(body) => {
            for member in ["type", "title", "detail"] {
                if !body[member].is_string() {
                    problems.push(format!("no \"{member}\" string in {body}"));
                }
            }
            if body["status"].as_u64() != Some(u64::from(r.status)) {
                problems.push(format!(
                    "\"status\" is {} (HTTP status {})",
                    body["status"], r.status
                ));
            }
            if let Some(p) = case.parameter {
                if body["parameter"].as_str() != Some(p) {
                    problems.push(format!(
                        "\"parameter\" is {} (expected {p:?})",
                        body["parameter"]
                    ));
                }
            }
        }
    }
    if case.status == 405 && r.header("allow").is_none_or(|a| !a.contains("GET")) {
        problems.push(format!(
            "405 without an Allow header naming GET: {:?}",
            r.header("allow")
        ));
    }
    if case.path.starts_with("/static/") {
        let text = r.text();
        for m in OUTSIDE_MARKERS {
            if text.contains(m) {
                problems.push(format!("the body shows a file outside static/ ({m:?})"));
            }
        }
    }
    problems
}

/// One server for the paths and headers that need the wire: starting one takes a while in a
/// debug build.
#[test]
fn bad_paths_against_the_real_server() {
    let mut server = Server::start();
    every_bad_path_gets_a_problem_document_and_no_5xx(&server);
    head_on_an_error_has_no_body_and_the_same_status(&server);
    answers_carry_the_security_headers(&server);
    assert!(server.is_alive(), "the server died during the bad requests");
    let health = server.get("/health");
    assert_eq!(
        health.status,
        200,
        "/health after the bad requests: {}",
        health.text()
    );
    assert_eq!(health.json()["status"], "ready");
}

fn shown(case: &Case) -> String {
    if case.path.len() > 120 {
        format!("{}… ({} bytes)", &case.path[..120], case.path.len())
    } else {
        case.path.clone()
    }
}

fn every_bad_path_gets_a_problem_document_and_no_5xx(server: &Server) {
    let cases = path_cases();
    assert!(cases.len() >= 45, "only {} bad paths", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let headers: Vec<(&str, &str)> =
            case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match server.request(case.method, &case.path, &headers) {
            Err(e) => failures.push(format!("{} {}: no answer: {e}", case.method, shown(case))),
            Ok(r) => {
                let problems = check(case, &r);
                if !problems.is_empty() {
                    failures.push(format!(
                        "{} {}: {}",
                        case.method,
                        shown(case),
                        problems.join("; ")
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad paths were answered wrongly:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The parameter matrix goes through the app in process: the same routes and middleware, no
/// server to start.
#[actix_web::test]
async fn every_bad_parameter_gets_a_problem_document_and_no_5xx() {
    let cases = parameter_cases();
    assert!(cases.len() >= 300, "only {} bad requests", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let headers: Vec<(&str, &str)> =
            case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = in_process::request(case.method, &case.path, &headers).await;
        let problems = check(case, &r);
        if !problems.is_empty() {
            failures.push(format!(
                "{} {}: {}",
                case.method,
                shown(case),
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad requests were answered wrongly:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn head_on_an_error_has_no_body_and_the_same_status(server: &Server) {
    let r = server
        .request("HEAD", "/collections/incidents/items?limit=0", &[])
        .unwrap();
    assert_eq!(r.status, 400);
    let r = server.request("HEAD", "/nope", &[]).unwrap();
    assert_eq!(r.status, 404);
}

fn answers_carry_the_security_headers(server: &Server) {
    for path in [
        "/",
        "/collections",
        "/collections/incidents/items?limit=1",
        "/nope",
        "/static/app.js",
    ] {
        let r = server.get(path);
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(
            r.header("referrer-policy").is_some(),
            "{path}: no Referrer-Policy"
        );
        assert!(
            r.header("content-security-policy").is_some(),
            "{path}: no Content-Security-Policy"
        );
    }
    let page = server
        .request("GET", "/", &[("Accept", "text/html")])
        .unwrap();
    assert_eq!(page.status, 200);
    let csp = page
        .header("content-security-policy")
        .expect("the map page has a CSP");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("tile.openstreetmap.org"), "{csp}");
}
