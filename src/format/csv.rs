//! CSV (`text/csv; charset=utf-8`) for spreadsheets: one row per feature.
//!
//! The columns are the feature's `id`, every property met in the answer (the union of their
//! names, in first-seen order), then `longitude` and `latitude` when the answer holds points
//! and `wkt` when it holds other geometries (a point's row leaves `wkt` empty, a polygon's
//! row leaves `longitude` and `latitude` empty). An array's elements are joined by `; `.
//!
//! A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
//! `'`, as OWASP advises against CSV injection: a spreadsheet would otherwise run it as a
//! formula, and the data holds text that anyone can submit to a news page. Numbers, booleans
//! and dates are written as they are, so `-72.3` stays a number.
//!
//! The file starts with a UTF-8 byte-order mark: without it Excel reads the bytes as the
//! machine's legacy code page and mangles accents (Pétion-Ville, Cité Soleil). Rows end with
//! CRLF, as RFC 4180 says; the `csv` crate quotes any field that holds a comma, a quote or a
//! line break.
//!
//! ```
//! use kat::format::csv::Layout;
//! use kat::format::feature::{GeometryType, Scan};
//! let mut scan = Scan::default();
//! scan.properties.insert("event_type".into(), Default::default());
//! scan.geometry_types.insert(GeometryType::Point);
//! let layout = Layout::new(&scan);
//! let mut out = Vec::new();
//! layout.write_header(&mut out).unwrap();
//! assert_eq!(out, "\u{feff}id,event_type,longitude,latitude\r\n".as_bytes());
//! ```

use super::feature::{
    cell_text, column_names, kind_of, Features, GeometryType, Kind, ReadError, Scan,
};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::ops::Range;

/// The media type of a CSV answer.
pub const MEDIA_TYPE: &str = "text/csv; charset=utf-8";
/// The type a link to a CSV answer gives.
pub const LINK_TYPE: &str = "text/csv";

/// The UTF-8 byte-order mark.
const BOM: &[u8] = "\u{feff}".as_bytes();

/// A row could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("a CSV row could not be written")]
    Write(#[source] csv::Error),
}

/// The columns of one answer.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The property each property column holds, in column order.
    properties: Vec<String>,
    /// The header: `id`, the property columns (renamed where they clash), the geometry
    /// columns.
    header: Vec<String>,
    lon_lat: bool,
    wkt: bool,
}

impl Layout {
    /// The columns for the answer that `scan` read.
    pub fn new(scan: &Scan) -> Layout {
        let lon_lat = scan.geometry_types.contains(GeometryType::Point);
        let wkt = scan.geometry_types.has_non_point();
        let properties: Vec<String> = scan.properties.keys().cloned().collect();
        let mut header = vec!["id".to_string()];
        header.extend(column_names(
            properties.iter().map(String::as_str),
            &["id", "longitude", "latitude", "wkt"],
        ));
        if lon_lat {
            header.extend(["longitude".into(), "latitude".into()]);
        }
        if wkt {
            header.push("wkt".into());
        }
        Layout {
            properties,
            header,
            lon_lat,
            wkt,
        }
    }

    /// The column names, in order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Appends the byte-order mark and the header row.
    pub fn write_header(&self, out: &mut Vec<u8>) -> Result<(), CsvError> {
        out.extend_from_slice(BOM);
        let mut w = writer(out);
        w.write_record(&self.header).map_err(CsvError::Write)?;
        w.flush().map_err(|e| CsvError::Write(e.into()))
    }

    /// Appends the rows of the answer's features at positions `range`.
    pub fn write_rows(
        &self,
        features: &mut Features,
        range: Range<usize>,
        out: &mut Vec<u8>,
    ) -> Result<(), CsvError> {
        let mut w = writer(out);
        let field = |w: &mut csv::Writer<&mut Vec<u8>>, text: &str| {
            w.write_field(text).map_err(CsvError::Write)
        };
        let mut number = String::new();
        for i in range {
            let f = features.read(i)?;
            field(&mut w, &f.id.map(value_cell).unwrap_or_default())?;
            let mut at = 0;
            for name in &self.properties {
                let cell = f
                    .properties
                    .as_ref()
                    .and_then(|p| p.get_from(name, &mut at))
                    .map(value_cell);
                field(&mut w, cell.as_deref().unwrap_or(""))?;
            }
            // A point's coordinates are read as two numbers; other shapes go through geo.
            let (point, geometry) = match f.point() {
                Some(p) => (Some(p), None),
                None => match f.geometry()? {
                    Some(geo::Geometry::Point(p)) => (Some(p), None),
                    other => (None, other),
                },
            };
            if self.lon_lat {
                match point {
                    Some(p) => {
                        for v in [p.x(), p.y()] {
                            use std::fmt::Write;
                            number.clear();
                            let _ = write!(number, "{v}");
                            field(&mut w, &number)?;
                        }
                    }
                    None => {
                        field(&mut w, "")?;
                        field(&mut w, "")?;
                    }
                }
            }
            if self.wkt {
                match &geometry {
                    Some(g) => field(&mut w, &wkt_of(g))?,
                    None => field(&mut w, "")?,
                }
            }
            w.write_record(None::<&[u8]>).map_err(CsvError::Write)?;
        }
        w.flush().map_err(|e| CsvError::Write(e.into()))
    }
}

/// Whether a spreadsheet would read a cell beginning with `c` as a formula.
fn starts_formula(text: &str) -> bool {
    matches!(
        text.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// A text cell as a spreadsheet opens it safely: with a leading `'` where it would start a
/// formula. Only for text: a number such as `-3` must stay a number.
///
/// ```
/// use kat::format::csv::text_cell;
/// assert_eq!(text_cell("=HYPERLINK(\"http://x\")".into()), "'=HYPERLINK(\"http://x\")");
/// assert_eq!(text_cell("-5 dead".into()), "'-5 dead");
/// assert_eq!(text_cell("Pétion-Ville".into()), "Pétion-Ville");
/// ```
pub fn text_cell(text: Cow<'_, str>) -> Cow<'_, str> {
    if starts_formula(&text) {
        Cow::Owned(format!("'{text}"))
    } else {
        text
    }
}

/// A property's (or an id's) cell: its text, guarded with [`text_cell`] unless it is a JSON
/// number, boolean or null.
fn value_cell(raw: &RawValue) -> Cow<'_, str> {
    match kind_of(raw) {
        Kind::Null | Kind::Boolean | Kind::Integer | Kind::Real => cell_text(raw),
        _ => text_cell(cell_text(raw)),
    }
}

fn writer(out: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

/// The geometry as WKT, its coordinates as Rust writes an `f64`: the shortest text that
/// reads back to the same number.
fn wkt_of(g: &geo::Geometry<f64>) -> String {
    use wkt::ToWkt;
    g.wkt_string()
}

/// The whole answer: header and every row.
pub fn encode(features: &mut Features) -> Result<Vec<u8>, CsvError> {
    let scan = Scan::run(features)?;
    let layout = Layout::new(&scan);
    let mut out = Vec::with_capacity(1024 + features.len() * 512);
    layout.write_header(&mut out)?;
    layout.write_rows(features, 0..features.len(), &mut out)?;
    Ok(out)
}
