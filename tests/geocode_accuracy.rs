//! Top-1 accuracy of the gazetteer search on the labelled cases in tests/geocode_cases.csv.
//! Run `cargo test --test geocode_accuracy -- --nocapture` to see the figures.

use std::path::Path;

use kat::geocode::{normalize, Gazetteer};

#[derive(serde::Deserialize)]
struct Case {
    query: String,
    department: String,
    commune: String,
    source: String,
}

#[test]
fn top_1_department_accuracy_is_at_least_95_percent() {
    let g = Gazetteer::load(Path::new("data")).expect("gazetteer loads");
    let mut reader = csv::Reader::from_path("tests/geocode_cases.csv").expect("cases file");
    let cases: Vec<Case> = reader.deserialize().map(|r| r.expect("case row")).collect();
    assert!(cases.len() >= 80, "only {} labelled cases", cases.len());

    let (mut dept_ok, mut commune_ok, mut commune_total) = (0usize, 0usize, 0usize);
    for case in &cases {
        let top = g.search(&case.query, 1);
        let got = top.first();
        let dept_hit = got.is_some_and(|c| normalize(&c.department) == normalize(&case.department));
        dept_ok += usize::from(dept_hit);
        let mut commune_hit = true;
        if !case.commune.is_empty() {
            commune_total += 1;
            commune_hit = got
                .and_then(|c| c.commune.as_deref())
                .is_some_and(|c| normalize(c) == normalize(&case.commune));
            commune_ok += usize::from(commune_hit);
        }
        if !dept_hit || !commune_hit {
            println!(
                "miss: {:?} expected {} / {} ({}) got {}",
                case.query,
                case.department,
                case.commune,
                case.source,
                got.map_or("nothing".to_string(), |c| format!(
                    "{} / {} ({}, precision {}, score {:.2})",
                    c.department,
                    c.commune.as_deref().unwrap_or("-"),
                    c.basis,
                    c.precision,
                    c.score
                ))
            );
        }
    }
    let dept_acc = dept_ok as f64 / cases.len() as f64;
    let commune_acc = commune_ok as f64 / commune_total.max(1) as f64;
    println!(
        "top-1 department accuracy: {dept_ok}/{} = {:.1}%",
        cases.len(),
        100.0 * dept_acc
    );
    println!(
        "top-1 commune accuracy (labelled rows): {commune_ok}/{commune_total} = {:.1}%",
        100.0 * commune_acc
    );
    assert!(
        dept_acc >= 0.95,
        "department accuracy {:.1}% below 95%",
        100.0 * dept_acc
    );
}
