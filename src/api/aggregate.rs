//! `/collections/{id}/aggregate`: the features matching the items filters, counted by
//! queryables (`groupby=department,commune`) and period (`interval=day|week|month|year`),
//! with `sum_NAME` for each numeric queryable; JSON, or CSV with `f=csv`.

use super::http::layer;
use super::http::{etag_matches, resource};
use super::items::items_query;
use super::params::{ParamError, Params};
use super::problem::ApiError;
use super::state::State;
use crate::aggregate::{aggregate, Grouping, Period, Row};
use crate::catalog::config::{CollectionSpec, QueryableType};
use crate::format::csv::text_cell;
use crate::layer::column::Column;
use crate::layer::Layer;
use crate::query;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex, OnceLock, Weak};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/collections/{id}/aggregate", aggregate_handler));
}

/// A layer's queryables as typed columns, with the collection's declaration.
struct Typed {
    spec: Arc<CollectionSpec>,
    columns: Vec<Column>,
    time: Option<Column>,
}

/// The layer's typed columns and its dates as a column, built once per loaded layer (the
/// columns are the loader's own; the dates are coded once per distinct interval).
fn typed(layer: &Arc<Layer>) -> Arc<Typed> {
    type Built = Mutex<Vec<(Weak<Layer>, Arc<Typed>)>>;
    static BUILT: OnceLock<Built> = OnceLock::new();
    let built = BUILT.get_or_init(Mutex::default);
    {
        let mut b = built.lock().unwrap_or_else(|e| e.into_inner());
        b.retain(|(w, _)| w.strong_count() > 0);
        if let Some((_, t)) = b
            .iter()
            .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(layer)))
        {
            return Arc::clone(t);
        }
    }
    let t = Arc::new(read_columns(layer));
    built
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((Arc::downgrade(layer), Arc::clone(&t)));
    t
}

fn read_columns(layer: &Layer) -> Typed {
    use crate::layer::column::{Values, NULL};
    let spec = Arc::clone(&layer.spec);
    let columns = (0..spec.queryables.len())
        .map(|q| layer.column(q).clone())
        .collect();
    let time = spec.time_property.as_ref().map(|_| {
        let mut seen: std::collections::HashMap<(i64, i64), u32> = Default::default();
        let mut intervals = Vec::new();
        let mut text: Vec<Box<str>> = Vec::new();
        let codes = (0..layer.len() as u32)
            .map(|idx| match layer.time(idx) {
                None => NULL,
                Some(t) => *seen.entry((t.start, t.end)).or_insert_with(|| {
                    intervals.push(t);
                    text.push(crate::temporal::format_instant(t.start).into());
                    intervals.len() as u32 - 1
                }),
            })
            .collect();
        Column {
            codes,
            values: Values::Date { intervals, text },
        }
    });
    Typed {
        spec,
        columns,
        time,
    }
}

/// The parameters the aggregate takes: every items filter, `groupby`, `interval` and `f`.
fn allowed(layer: &Layer) -> Vec<&str> {
    let mut a = vec![
        "bbox",
        "near",
        "within",
        "near_feature",
        "groupby",
        "interval",
        "f",
        "filter",
        "filter-lang",
        "filter-crs",
    ];
    if layer.has_time() {
        a.push("datetime");
    }
    a.extend(layer.spec.queryables.iter().map(|q| q.name.as_str()));
    a
}

async fn aggregate_handler(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let snap = state.snapshot();
    let layer = layer(&snap, &path)?;
    let p = Params::parse(req.query_string(), Some(&allowed(layer)))?;
    let csv = match p.get("f") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(f) => {
            return Err(ApiError::FormatNotOffered(format!(
                "f={} is not offered here; use f=json or f=csv",
                f.chars().take(40).collect::<String>()
            )))
        }
    };
    let typed = typed(layer);
    let spec = &typed.spec;
    let names: Vec<&str> = spec.queryables.iter().map(|q| q.name.as_str()).collect();
    let by: Vec<usize> = match p.get("groupby") {
        None => Vec::new(),
        Some(s) => s
            .split(',')
            .map(|name| {
                spec.queryable(name.trim()).map(|(i, _)| i).ok_or_else(|| {
                    ParamError::new(
                        "groupby",
                        name,
                        format!(
                            "comma-separated queryables of this collection: {}",
                            names.join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let period = match p.get("interval") {
        None => None,
        Some(s) => {
            let period = Period::parse(s).ok_or_else(|| {
                ParamError::new("interval", s, "day, week (ISO 8601), month or year")
            })?;
            let time = typed.time.as_ref().ok_or_else(|| {
                ParamError::new("interval", s, "no interval: this collection has no dates")
            })?;
            Some((period, time))
        }
    };
    let q = items_query(&p, layer, &snap, usize::MAX)?;
    let etag = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        req.path().hash(&mut h);
        req.query_string().hash(&mut h);
        format!("\"{}-{:016x}\"", snap.version, h.finish())
    };
    if etag_matches(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    if let Some(kept) = state.rendered.get(&etag) {
        return Ok(answer(&kept, etag));
    }
    let results = query::every(layer, &q);
    let summed: Vec<usize> = spec
        .queryables
        .iter()
        .enumerate()
        .filter(|(_, q)| q.kind.is_numeric())
        .map(|(i, _)| i)
        .collect();
    let grouping = Grouping {
        by: by.iter().map(|i| &typed.columns[*i]).collect(),
        period,
        sums: summed.iter().map(|i| &typed.columns[*i]).collect(),
    };
    let rows = aggregate(&results.items, &grouping);
    let by_names: Vec<&str> = by.iter().map(|i| names[*i]).collect();
    let sum_names: Vec<String> = summed
        .iter()
        .map(|i| format!("sum_{}", names[*i]))
        .collect();
    let integer: Vec<bool> = summed
        .iter()
        .map(|i| spec.queryables[*i].kind == QueryableType::Integer)
        .collect();
    let by_numeric: Vec<bool> = by
        .iter()
        .map(|i| spec.queryables[*i].kind.is_numeric())
        .collect();
    let (body, content_type) = if csv {
        (
            to_csv(
                &rows,
                &by_names,
                &by_numeric,
                period.is_some(),
                &sum_names,
                &integer,
            ),
            "text/csv; charset=utf-8",
        )
    } else {
        let groups: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut o = Map::new();
                for (name, v) in by_names.iter().zip(&r.keys) {
                    o.insert(name.to_string(), json!(v));
                }
                if period.is_some() {
                    o.insert("period".into(), json!(r.period));
                }
                o.insert("count".into(), json!(r.count));
                for ((name, s), int) in sum_names.iter().zip(&r.sums).zip(&integer) {
                    o.insert(name.clone(), number(*s, *int));
                }
                Value::Object(o)
            })
            .collect();
        let body = json!({"numberMatched": results.matched, "groups": groups});
        (
            serde_json::to_vec(&body).unwrap_or_default(),
            "application/json",
        )
    };
    let kept = crate::tiles::cache::Answer {
        body: bytes::Bytes::from(body),
        content_type,
        matched: Some(results.matched as u64),
        disposition: csv.then(|| format!("attachment; filename=\"{}-aggregate.csv\"", layer.id())),
    };
    let res = answer(&kept, etag.clone());
    state.rendered.put(&etag, kept);
    Ok(res)
}

/// The answer to an aggregate, as rendered now or kept from before.
fn answer(a: &crate::tiles::cache::Answer, etag: String) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, a.content_type))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if let Some(m) = a.matched {
        res.insert_header(("OGC-NumberMatched", m.to_string()));
    }
    if let Some(d) = &a.disposition {
        res.insert_header((header::CONTENT_DISPOSITION, d.clone()));
    }
    res.body(a.body.clone())
}

fn number(s: f64, integer: bool) -> Value {
    if integer {
        json!(s.round() as i64)
    } else {
        json!(s)
    }
}

/// The groups as CSV; a text key that a spreadsheet would run as a formula is guarded as the
/// items' CSV guards it.
fn to_csv(
    rows: &[Row],
    by: &[&str],
    by_numeric: &[bool],
    period: bool,
    sums: &[String],
    integer: &[bool],
) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head: Vec<String> = by.iter().map(|s| s.to_string()).collect();
    if period {
        head.push("period".into());
    }
    head.push("count".into());
    head.extend(sums.iter().cloned());
    let _ = w.write_record(&head);
    for r in rows {
        let mut rec: Vec<String> = r
            .keys
            .iter()
            .zip(by_numeric)
            .map(|(k, numeric)| match k {
                None => String::new(),
                Some(k) if *numeric => k.clone(),
                Some(k) => text_cell(k.into()).into_owned(),
            })
            .collect();
        if period {
            rec.push(r.period.clone().unwrap_or_default());
        }
        rec.push(r.count.to_string());
        for (s, int) in r.sums.iter().zip(integer) {
            rec.push(number(*s, *int).to_string());
        }
        let _ = w.write_record(&rec);
    }
    w.into_inner().unwrap_or_default()
}
