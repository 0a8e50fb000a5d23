//! `kat import`: turns a CSV of incidents (Kat's own format or an ACLED export) or of
//! armed-group areas into a GeoJSON FeatureCollection, placing each row with the gazetteer.
//!
//! The output is deterministic (same input, same bytes) and holds one feature per line, so
//! that a change to one row shows as a one-line diff in review.

mod areas;
mod error;
mod incidents;
mod table;
mod write;

use std::fmt;
use std::path::Path;

use crate::geocode::{Gazetteer, GeocodeStatus};
pub use error::ImportError;
use table::Table;

/// The CSV formats `kat import` reads, told apart by their header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// Kat's incidents.csv.
    Incidents,
    /// An ACLED export.
    Acled,
    /// Kat's gang_areas.csv.
    GangAreas,
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputKind::Incidents => "incidents",
            InputKind::Acled => "ACLED events",
            InputKind::GangAreas => "gang areas",
        })
    }
}

/// What an import did, for the command line to print.
///
/// ```
/// use kat::import::{ImportSummary, InputKind};
/// let mut s = ImportSummary::new(InputKind::Incidents);
/// s.rows = 2;
/// s.by_precision = [0, 1, 1, 0];
/// s.matched = 2;
/// assert!(s.to_string().contains("2 rows"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub kind: InputKind,
    pub rows: usize,
    /// Rows placed at precision 1 (point), 2 (section), 3 (commune), 4 (department); for
    /// areas, the level the area was built from (2 section, 3 commune, 4 department).
    pub by_precision: [usize; 4],
    pub matched: usize,
    pub conflict: usize,
    pub unresolved: usize,
    /// Rows whose point lies outside the department that the row states.
    pub outside_stated_department: usize,
    /// Ids of the unresolved rows, in input order.
    pub unresolved_ids: Vec<String>,
    /// One line per row worth a look (conflicts, points outside their stated unit).
    pub warnings: Vec<String>,
}

impl ImportSummary {
    /// An empty summary for an input of this kind.
    pub fn new(kind: InputKind) -> ImportSummary {
        ImportSummary {
            kind,
            rows: 0,
            by_precision: [0; 4],
            matched: 0,
            conflict: 0,
            unresolved: 0,
            outside_stated_department: 0,
            unresolved_ids: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn count(&mut self, id: &str, precision: Option<u8>, status: GeocodeStatus) {
        self.rows += 1;
        if let Some(p @ 1..=4) = precision {
            self.by_precision[usize::from(p) - 1] += 1;
        }
        match status {
            GeocodeStatus::Matched => self.matched += 1,
            GeocodeStatus::Conflict => self.conflict += 1,
            GeocodeStatus::Unresolved => {
                self.unresolved += 1;
                self.unresolved_ids.push(id.to_string());
            }
        }
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [p1, p2, p3, p4] = self.by_precision;
        writeln!(f, "{} rows ({})", self.rows, self.kind)?;
        writeln!(
            f,
            "placed: point {p1}, section {p2}, commune {p3}, department {p4}"
        )?;
        writeln!(
            f,
            "status: matched {}, conflict {}, unresolved {}",
            self.matched, self.conflict, self.unresolved
        )?;
        if !self.unresolved_ids.is_empty() {
            writeln!(f, "unresolved: {}", self.unresolved_ids.join(", "))?;
        }
        write!(
            f,
            "points outside the stated department: {}",
            self.outside_stated_department
        )?;
        for w in &self.warnings {
            write!(f, "\nwarning: {w}")?;
        }
        Ok(())
    }
}

/// Imports `input` into the GeoJSON file `out`, placing rows with the gazetteer in
/// `data_dir`. With `strict`, any unresolved row is an error and nothing is written.
///
/// ```no_run
/// use std::path::Path;
/// let summary = kat::import::run(
///     Path::new("data/incidents.csv"),
///     Path::new("data/incidents.geojson"),
///     Path::new("data"),
///     false,
/// ).unwrap();
/// println!("{summary}");
/// ```
pub fn run(
    input: &Path,
    out: &Path,
    data_dir: &Path,
    strict: bool,
) -> Result<ImportSummary, ImportError> {
    let gazetteer = Gazetteer::load(data_dir)?;
    let (bytes, summary) = import_with(&gazetteer, input)?;
    if strict && summary.unresolved > 0 {
        return Err(ImportError::Unresolved {
            count: summary.unresolved,
            ids: summary.unresolved_ids.join(", "),
        });
    }
    std::fs::write(out, bytes).map_err(|source| ImportError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    for w in &summary.warnings {
        tracing::warn!("{w}");
    }
    Ok(summary)
}

/// Imports `input` with an already loaded gazetteer and returns the GeoJSON bytes.
pub fn import_with(
    gazetteer: &Gazetteer,
    input: &Path,
) -> Result<(Vec<u8>, ImportSummary), ImportError> {
    let table = Table::read(input)?;
    let kind = detect(&table).ok_or_else(|| ImportError::UnknownFormat {
        path: input.to_path_buf(),
        header: table.header().join(","),
    })?;
    let mut summary = ImportSummary::new(kind);
    let lines = match kind {
        InputKind::Incidents => incidents::project_rows(gazetteer, &table, &mut summary)?,
        InputKind::Acled => incidents::acled_rows(gazetteer, &table, &mut summary)?,
        InputKind::GangAreas => areas::rows(gazetteer, &table, &mut summary)?,
    };
    Ok((write::feature_collection(&lines), summary))
}

/// Which format a header belongs to.
fn detect(table: &Table) -> Option<InputKind> {
    if table.has("event_id_cnty") && table.has("latitude") && table.has("admin1") {
        Some(InputKind::Acled)
    } else if table.has("id") && table.has("location_as_reported") {
        Some(InputKind::Incidents)
    } else if table.has("group") && table.has("localities") {
        Some(InputKind::GangAreas)
    } else {
        None
    }
}
