//! The filter module on four synthetic features with hand-built columns.

use super::*;
use crate::catalog::config::Config;
use crate::layer::column::{Column, Values, ELEMENT_SEPARATOR, NULL};
use crate::temporal::parse_day;
use std::sync::Arc;

const SPEC: &str = r#"
[[collection]]
id = "synthetic"
file = "synthetic.geojson"
time_property = "event_date"
[collection.queryables.department]
type = "string"
[collection.queryables.actor]
type = "string"
match = "contains"
property = "actors"
array = true
[collection.queryables.actors]
type = "string"
array = true
[collection.queryables.fatalities]
type = "integer"
[collection.queryables.event_date]
type = "date"
[collection.queryables.approximate]
type = "boolean"
"#;

struct Layer {
    columns: Vec<Column>,
    ids: Vec<&'static str>,
    points: Vec<Option<[f64; 2]>>,
}

impl Source for Layer {
    fn column(&self, position: usize) -> &Column {
        &self.columns[position]
    }
    fn feature_id(&self, idx: u32) -> &str {
        self.ids[idx as usize]
    }
    fn shape(&self, idx: u32) -> Option<Shape<'_>> {
        self.points[idx as usize].map(Shape::Point)
    }
}

fn text(codes: Vec<u32>, values: &[&str]) -> Column {
    Column {
        codes,
        values: Values::Text {
            text: values.iter().map(|v| Box::from(*v)).collect(),
            folded: values
                .iter()
                .map(|v| crate::text::fold(v).into_boxed_str())
                .collect(),
        },
    }
}

fn spec() -> Arc<CollectionSpec> {
    Config::parse(SPEC, "kat.toml".as_ref())
        .unwrap()
        .collections[0]
        .clone()
}

/// Synthetic features: ids, departments, actors, tolls, dates and points made up for tests.
fn layer() -> Layer {
    let sep = ELEMENT_SEPARATOR.to_string();
    let actors = [
        ["Gran Grif", "Police"].join(&sep),
        "Kraze Baryè".to_string(),
        String::new(),
    ];
    let actors: Vec<&str> = actors.iter().map(String::as_str).collect();
    let days = ["2024-10-03", "2023-05-01", "2025-01-15"];
    Layer {
        columns: vec![
            text(vec![0, 1, 2, NULL], &["Ouest", "Artibonite", "Grand'Anse"]),
            text(vec![0, 1, 2, NULL], &actors),
            text(vec![0, 1, 2, NULL], &actors),
            Column {
                codes: vec![0, 1, NULL, 2],
                values: Values::Integer(vec![10, 2, 0]),
            },
            Column {
                codes: vec![0, 1, 2, NULL],
                values: Values::Date {
                    intervals: days.iter().map(|d| parse_day(d).unwrap()).collect(),
                    text: days.iter().map(|d| Box::from(*d)).collect(),
                },
            },
            Column {
                codes: vec![0, 1, 1, NULL],
                values: Values::Boolean(vec![true, false]),
            },
        ],
        ids: vec!["T-1", "T-2", "T-3", "T-4"],
        points: vec![
            Some([-72.3, 18.5]),
            Some([-72.6, 19.1]),
            None,
            Some([-73.0, 18.2]),
        ],
    }
}

fn ids(filter: &str, lang: Lang) -> Vec<&'static str> {
    let spec = spec();
    let layer = layer();
    let f = Filter::parse(filter, lang, &spec).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let plan = Plan::new(&f.cond, &layer);
    (0..4u32)
        .filter(|i| plan.matches(&layer, *i))
        .map(|i| layer.ids[i as usize])
        .collect()
}

fn text_ids(filter: &str) -> Vec<&'static str> {
    ids(filter, Lang::Text)
}

fn error(filter: &str, lang: Lang) -> String {
    match Filter::parse(filter, lang, &spec()) {
        Ok(f) => panic!("{filter} was accepted as {f:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn comparisons_in_between_and_null_tests() {
    assert_eq!(text_ids("fatalities >= 2"), ["T-1", "T-2"]);
    assert_eq!(text_ids("2 < fatalities"), ["T-1"]);
    assert_eq!(text_ids("fatalities BETWEEN 0 AND 5"), ["T-2", "T-4"]);
    assert_eq!(
        text_ids("department IN ('Ouest', 'Artibonite')"),
        ["T-1", "T-2"]
    );
    assert_eq!(text_ids("department NOT IN ('Ouest')"), ["T-2", "T-3"]);
    assert_eq!(text_ids("fatalities IS NULL"), ["T-3"]);
    assert_eq!(
        text_ids("department IS NOT NULL AND fatalities = 10"),
        ["T-1"]
    );
    assert_eq!(text_ids("approximate"), ["T-1"]);
    assert_eq!(text_ids("approximate = false"), ["T-2", "T-3"]);
    assert_eq!(
        text_ids("id = 'T-4' OR id LIKE 'T-_' AND fatalities = 2"),
        ["T-2", "T-4"]
    );
}

#[test]
fn a_missing_value_is_unknown_even_under_not() {
    // T-3 has no fatalities: neither the comparison nor its negation holds for it.
    assert_eq!(text_ids("NOT (fatalities > 5)"), ["T-2", "T-4"]);
    assert_eq!(
        text_ids("fatalities > 5 OR department = 'Grand''Anse'"),
        ["T-1", "T-3"]
    );
}

#[test]
fn equality_respects_case_unless_casei_and_accents_unless_accenti() {
    assert!(text_ids("department = 'ouest'").is_empty());
    assert_eq!(text_ids("CASEI(department) = CASEI('OUEST')"), ["T-1"]);
    assert_eq!(text_ids("ACCENTI(department) IS NULL"), ["T-4"]);
    assert_eq!(text_ids("CASEI(department) LIKE CASEI('%anse')"), ["T-3"]);
    assert_eq!(text_ids(r"department = 'Grand\'Anse'"), ["T-3"]);
}

#[test]
fn accenti_forgives_accents_on_both_sides() {
    let spec = spec();
    let layer = layer();
    let f = Filter::parse("A_OVERLAPS(actors, ('Kraze Barye'))", Lang::Text, &spec).unwrap();
    // Arrays compare exactly.
    let plan = Plan::new(&f.cond, &layer);
    assert!(!(0..4).any(|i| plan.matches(&layer, i)));
    let f = Filter::parse(
        "ACCENTI(department) = ACCENTI('Grand''Anse')",
        Lang::Text,
        &spec,
    )
    .unwrap();
    let plan = Plan::new(&f.cond, &layer);
    assert!(plan.matches(&layer, 2));
}

#[test]
fn array_functions() {
    assert_eq!(text_ids("A_CONTAINS(actors, ('Gran Grif'))"), ["T-1"]);
    assert_eq!(
        text_ids("A_CONTAINS(actors, ('Gran Grif', 'Kraze Baryè'))"),
        Vec::<&str>::new()
    );
    assert_eq!(
        text_ids("A_OVERLAPS(actors, ('Police', 'Kraze Baryè'))"),
        ["T-1", "T-2"]
    );
    assert_eq!(
        text_ids("A_CONTAINEDBY(actors, ('Kraze Baryè', 'Police'))"),
        ["T-2", "T-3"]
    );
    assert_eq!(
        text_ids("A_EQUALS(actors, ('Gran Grif', 'Police'))"),
        ["T-1"]
    );
    assert_eq!(
        text_ids("A_CONTAINS(('Police', 'Gran Grif', 'x'), actors)"),
        ["T-1", "T-3"]
    );
}

#[test]
fn spatial_functions_on_points() {
    assert_eq!(
        text_ids("S_INTERSECTS(geometry, BBOX(-72.5, 18.4, -72.0, 18.6))"),
        ["T-1"]
    );
    assert_eq!(
        text_ids("S_WITHIN(geometry, POLYGON((-74 18, -72 18, -72 20, -74 20, -74 18)))"),
        ["T-1", "T-2", "T-4"]
    );
    assert_eq!(
        text_ids("S_DISJOINT(geometry, BBOX(-72.5, 18.4, -72.0, 18.6))"),
        ["T-2", "T-4"]
    );
    assert_eq!(text_ids("S_EQUALS(geometry, POINT(-72.6 19.1))"), ["T-2"]);
    assert_eq!(text_ids("geometry IS NULL"), ["T-3"]);
    let plan_env = {
        let f = Filter::parse(
            "S_INTERSECTS(geometry, BBOX(-72.5, 18.4, -72.0, 18.6)) AND fatalities > 1",
            Lang::Text,
            &spec(),
        )
        .unwrap();
        Plan::new(&f.cond, &layer()).envelope()
    };
    assert_eq!(plan_env, Some([-72.5, 18.4, -72.0, 18.6]));
}

#[test]
fn temporal_functions() {
    assert_eq!(
        text_ids("T_AFTER(event_date, DATE('2024-10-02'))"),
        ["T-1", "T-3"]
    );
    assert_eq!(text_ids("T_AFTER(event_date, DATE('2024-10-03'))"), ["T-3"]);
    assert_eq!(
        text_ids("T_BEFORE(event_date, TIMESTAMP('2024-10-03T12:00:00Z'))"),
        ["T-2"]
    );
    assert_eq!(
        text_ids("T_INTERSECTS(event_date, INTERVAL('2024-01-01', '..'))"),
        ["T-1", "T-3"]
    );
    assert_eq!(
        text_ids("T_EQUALS(event_date, DATE('2023-05-01'))"),
        ["T-2"]
    );
    assert_eq!(text_ids("event_date >= DATE('2024-10-03')"), ["T-1", "T-3"]);
    assert_eq!(text_ids("event_date < '2024-01-01'"), ["T-2"]);
    assert_eq!(
        text_ids(
            "T_DURING(INTERVAL('2024-02-01', '2024-03-01'), INTERVAL('2024-01-01', '2024-12-31'))"
        ),
        ["T-1", "T-2", "T-3", "T-4"]
    );
    let e = error(
        "T_DURING(event_date, INTERVAL('2024-01-01', '2024-12-31'))",
        Lang::Text,
    );
    assert!(
        e.contains("T_DURING") && e.contains("interval on both sides"),
        "{e}"
    );
}

#[test]
fn both_encodings_agree() {
    let pairs = [
        (
            "fatalities > 1 AND department <> 'Ouest'",
            r#"{"op":"and","args":[{"op":">","args":[{"property":"fatalities"},1]},{"op":"<>","args":[{"property":"department"},"Ouest"]}]}"#,
        ),
        (
            "S_INTERSECTS(geometry, POINT(-72.3 18.5))",
            r#"{"op":"s_intersects","args":[{"property":"geometry"},{"type":"Point","coordinates":[-72.3,18.5]}]}"#,
        ),
        (
            "T_AFTER(event_date, DATE('2024-01-01'))",
            r#"{"op":"t_after","args":[{"property":"event_date"},{"date":"2024-01-01"}]}"#,
        ),
        (
            "A_CONTAINS(actors, ('Police'))",
            r#"{"op":"a_contains","args":[{"property":"actors"},["Police"]]}"#,
        ),
        (
            "CASEI(department) IN (CASEI('ouest'), CASEI('nippes'))",
            r#"{"op":"in","args":[{"op":"casei","args":[{"property":"department"}]},[{"op":"casei","args":["ouest"]},{"op":"casei","args":["nippes"]}]]}"#,
        ),
    ];
    for (text, json) in pairs {
        let t = ids(text, Lang::Text);
        assert!(!t.is_empty(), "{text}");
        assert_eq!(t, ids(json, Lang::Json), "{text}");
    }
}

#[test]
fn a_string_that_looks_like_sql_is_text() {
    assert!(text_ids("department = 'x'' OR 1=1 --'").is_empty());
    assert!(text_ids("department = 'Ouest; DROP TABLE incidents'").is_empty());
}

#[test]
fn errors_name_where_and_what_was_expected() {
    let e = error("colour = 'red'", Lang::Text);
    assert!(e.contains("'colour'") && e.contains("fatalities"), "{e}");
    let e = error("fatalities > 'ten'", Lang::Text);
    assert!(
        e.contains("fatalities is an integer") && e.contains("a number"),
        "{e}"
    );
    let e = error("department > 3", Lang::Text);
    assert!(e.contains("quoted string"), "{e}");
    let e = error("UPPER(department) = 'OUEST'", Lang::Text);
    assert!(e.contains("unknown function") && e.contains("UPPER"), "{e}");
    let e = error("actors = 'Police'", Lang::Text);
    assert!(e.contains("A_CONTAINS"), "{e}");
    let e = error("actor = 'Police'", Lang::Text);
    assert!(e.contains("unknown property 'actor'"), "{e}");
    let e = error("fatalities >", Lang::Text);
    assert!(e.contains("character"), "{e}");
    let e = error("S_INTERSECTS(department, POINT(1 2))", Lang::Text);
    assert!(e.contains("not a geometry"), "{e}");
    let e = error(r#"{"op":"=","args":[{"property":"nope"},1]}"#, Lang::Json);
    assert!(e.contains("'nope'"), "{e}");
    let e = error(r#"{"op":"=","args":"#, Lang::Json);
    assert!(e.contains("cql2-json"), "{e}");
    let e = error("fatalities = NULL", Lang::Text);
    assert!(e.contains("IS NULL"), "{e}");
}

#[test]
fn filters_at_the_limits_are_refused_without_overflow() {
    let deep = format!("{}fatalities = 1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(matches!(
        Filter::parse(&deep, Lang::Text, &spec()),
        Err(FilterError::TooDeep { .. })
    ));
    let nots = format!("{}fatalities = 1", "NOT ".repeat(5_000));
    assert!(Filter::parse(&nots, Lang::Text, &spec()).is_err());
    let chain = "1 = ".repeat(3_000) + "1";
    assert!(Filter::parse(&chain, Lang::Text, &spec()).is_err());
    let json = format!(
        "{}true{}",
        "{\"op\":\"not\",\"args\":[".repeat(5_000),
        "]}".repeat(5_000)
    );
    assert!(Filter::parse(&json, Lang::Json, &spec()).is_err());
    let many = vec!["fatalities = 1"; MAX_CONDITIONS + 1].join(" OR ");
    assert!(Filter::parse(&many, Lang::Text, &spec()).is_err());
    // Just inside the limits, a filter parses on a small stack.
    let ok = format!(
        "{}fatalities = 1{}",
        "(".repeat(guard::MAX_DEPTH),
        ")".repeat(guard::MAX_DEPTH)
    );
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || Filter::parse(&ok, Lang::Text, &spec()).is_ok())
        .unwrap();
    assert!(handle.join().unwrap());
    let coords: Vec<String> = (0..MAX_GEOMETRY_POINTS + 1)
        .map(|i| format!("{} 18", -72.0 - i as f64 / 10_000.0))
        .collect();
    let big = format!("S_INTERSECTS(geometry, LINESTRING({}))", coords.join(","));
    assert!(matches!(
        Filter::parse(&big, Lang::Text, &spec()),
        Err(FilterError::GeometryTooLarge)
    ));
}

#[test]
fn cql_text_is_an_alias_of_cql2_text() {
    assert_eq!(Lang::parse("cql-text"), Some(Lang::Text));
    assert_eq!(Lang::parse("cql2-json"), Some(Lang::Json));
    assert_eq!(Lang::parse("ecql"), None);
}
