//! `/collections/{id}/aggregate`: the features matching the items filters, counted by
//! queryables (`groupby=department,commune`) and period (`interval=day|week|month|year`),
//! with `sum_NAME` for each numeric queryable; JSON, or CSV with `f=csv`.

use super::http::{etag_matches, resource};
use super::items::items_query;
use super::params::{ParamError, Params};
use super::problem::ApiError;
use super::state::State;
use crate::catalog::Snapshot;
use crate::aggregate::{aggregate, Grouping, Period, Row};
use crate::catalog::config::{CollectionSpec, Config, QueryableType};
use crate::layer::column::{Column, Values, ELEMENT_SEPARATOR, NULL};
use crate::layer::Layer;
use crate::query;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
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

/// Typed columns read from the layer's stored features, once per loaded layer, until the
/// loader keeps them itself.
fn typed(layer: &Arc<Layer>, data_dir: &std::path::Path) -> Option<Arc<Typed>> {
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
            return Some(Arc::clone(t));
        }
    }
    let config = Config::load(&Config::locate(data_dir, None)).ok()?;
    let spec = Arc::clone(config.collection(layer.id())?);
    let t = Arc::new(read_columns(layer, spec));
    built
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((Arc::downgrade(layer), Arc::clone(&t)));
    Some(t)
}

/// Dictionary-codes one property per feature.
struct Builder {
    kind: QueryableType,
    codes: Vec<u32>,
    seen: HashMap<String, u32>,
    text: Vec<Box<str>>,
    numbers: Vec<f64>,
    integers: Vec<i64>,
    booleans: Vec<bool>,
    intervals: Vec<crate::temporal::Interval>,
}

impl Builder {
    fn new(kind: QueryableType, n: usize) -> Self {
        Builder {
            kind,
            codes: Vec::with_capacity(n),
            seen: HashMap::new(),
            text: Vec::new(),
            numbers: Vec::new(),
            integers: Vec::new(),
            booleans: Vec::new(),
            intervals: Vec::new(),
        }
    }

    fn push(&mut self, v: Option<&Value>) {
        let repr = match (self.kind, v) {
            (_, None | Some(Value::Null)) => None,
            (QueryableType::String(_), Some(Value::String(s))) => Some(s.clone()),
            (QueryableType::String(_), Some(Value::Array(a))) => Some(
                a.iter()
                    .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(&ELEMENT_SEPARATOR.to_string()),
            ),
            (QueryableType::Integer | QueryableType::Number, Some(Value::Number(n))) => {
                Some(n.to_string())
            }
            (QueryableType::Boolean, Some(Value::Bool(b))) => Some(b.to_string()),
            (QueryableType::Date, Some(Value::String(s)))
                if crate::temporal::parse_feature_date(s).is_some() =>
            {
                Some(s.clone())
            }
            _ => None,
        };
        let Some(repr) = repr else {
            self.codes.push(NULL);
            return;
        };
        if let Some(code) = self.seen.get(&repr) {
            self.codes.push(*code);
            return;
        }
        let code = self.seen.len() as u32;
        match self.kind {
            QueryableType::Integer => self
                .integers
                .push(repr.parse::<f64>().map_or(0, |f| f as i64)),
            QueryableType::Number => self.numbers.push(repr.parse().unwrap_or(0.0)),
            QueryableType::Boolean => self.booleans.push(repr == "true"),
            QueryableType::Date => {
                self.intervals.push(
                    crate::temporal::parse_feature_date(&repr)
                        .unwrap_or(crate::temporal::Interval::ALL),
                );
                self.text.push(repr.clone().into());
            }
            QueryableType::String(_) => self.text.push(repr.clone().into()),
        }
        self.seen.insert(repr, code);
        self.codes.push(code);
    }

    fn finish(self) -> Column {
        let values = match self.kind {
            QueryableType::String(_) => Values::Text {
                folded: self
                    .text
                    .iter()
                    .map(|t| crate::text::fold(t).into_boxed_str())
                    .collect(),
                text: self.text,
            },
            QueryableType::Integer => Values::Integer(self.integers),
            QueryableType::Number => Values::Number(self.numbers),
            QueryableType::Boolean => Values::Boolean(self.booleans),
            QueryableType::Date => Values::Date {
                intervals: self.intervals,
                text: self.text,
            },
        };
        Column {
            codes: self.codes,
            values,
        }
    }
}

fn read_columns(layer: &Layer, spec: Arc<CollectionSpec>) -> Typed {
    #[derive(serde::Deserialize)]
    struct Stored {
        #[serde(default)]
        properties: Option<Map<String, Value>>,
    }
    let n = layer.len();
    let mut builders: Vec<Builder> = spec
        .queryables
        .iter()
        .map(|q| Builder::new(q.kind, n))
        .collect();
    let mut time = spec
        .time_property
        .as_ref()
        .map(|_| Builder::new(QueryableType::Date, n));
    let mut buf = Vec::new();
    for idx in 0..n as u32 {
        buf.clear();
        layer.write_feature(idx, &mut buf, None);
        let props = serde_json::from_slice::<Stored>(&buf)
            .ok()
            .and_then(|s| s.properties)
            .unwrap_or_default();
        for (b, q) in builders.iter_mut().zip(&spec.queryables) {
            b.push(props.get(&q.property));
        }
        if let (Some(b), Some(p)) = (time.as_mut(), spec.time_property.as_ref()) {
            b.push(props.get(p));
        }
    }
    Typed {
        columns: builders.into_iter().map(Builder::finish).collect(),
        time: time.map(Builder::finish),
        spec,
    }
}

fn layer<'a>(snap: &'a Snapshot, id: &str) -> Result<&'a Arc<Layer>, ApiError> {
    snap.catalog
        .layer(id)
        .ok_or_else(|| ApiError::NotFound(format!("no collection '{id}'; see /collections")))
}

/// The parameters the aggregate takes: every items filter, `groupby`, `interval` and `f`.
fn allowed(layer: &Layer) -> Vec<&'static str> {
    let mut a = vec![
        "bbox",
        "near",
        "within",
        "near_feature",
        "groupby",
        "interval",
        "f",
    ];
    if layer.has_time() {
        a.push("datetime");
    }
    a.extend(layer.spec.queryables.iter().map(|q| q.name));
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
    let typed = typed(layer, &state.data_dir).ok_or_else(|| {
        ApiError::Unavailable("the collection's declaration could not be read".into())
    })?;
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
        format!("\"{}-{:016x}\"", snap.catalog.version, h.finish())
    };
    if etag_matches(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let results = query::run(layer, &q);
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
    let (body, content_type) = if csv {
        (
            to_csv(&rows, &by_names, period.is_some(), &sum_names, &integer),
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
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("OGC-NumberMatched", results.matched.to_string()));
    if csv {
        res.insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}-aggregate.csv\"", layer.id()),
        ));
    }
    Ok(res.body(body))
}

fn number(s: f64, integer: bool) -> Value {
    if integer {
        json!(s.round() as i64)
    } else {
        json!(s)
    }
}

fn to_csv(rows: &[Row], by: &[&str], period: bool, sums: &[String], integer: &[bool]) -> Vec<u8> {
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
            .map(|k| k.clone().unwrap_or_default())
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
