//! The gazetteer: Haiti's administrative units (COD-AB), GeoNames places and Kat's alias
//! table, with name search, reverse lookup and the placement of import rows.
//!
//! Everything is loaded once by [`Gazetteer::load`]; the indexes are built there, so that
//! [`Gazetteer::search`], [`Gazetteer::reverse`] and [`Gazetteer::place_row`] only read.

mod admin;
mod error;
mod fuzzy;
mod matching;
mod normalize;
mod suggest;
mod types;

use std::collections::HashMap;
use std::path::Path;

use admin::clean_name;
pub(crate) use admin::AdminUnits;
pub use admin::UnitRef;
pub use error::GazetteerError;
pub use fuzzy::{damerau_levenshtein, edit_budget};
pub use normalize::{compact, normalize, phonetic};
pub use types::{round6, AdminHit, Candidate, GeocodeStatus, Kind, Placement};

use geo::MultiPolygon;

/// Where a gazetteer name comes from; decides its kind and its rank among homonyms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The COD-AB name of a department, commune or section.
    Unit,
    /// A section's name without its "Ne Section" prefix ("Bocozelle").
    SectionBare,
    /// Another name of a unit (Kreyòl, abbreviation) from the alias table or COD-AB's name_ht.
    Colloquial,
    /// A locality from the alias table.
    Locality,
    /// A GeoNames populated place.
    GeoNames,
}

/// One searchable name.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    key: String,
    compact: String,
    origin: Origin,
    /// The unit the name names, or the unit it lies in.
    unit: UnitRef,
    /// Set for places known to a point (precision 1).
    point: Option<[f64; 2]>,
    source: String,
}

impl Entry {
    /// Among equally good homonyms the lower rank wins: a commune's own name before a
    /// neighbourhood of the same name, and GeoNames last because its points are the least
    /// checked.
    fn rank(&self, units: &AdminUnits) -> u8 {
        match (self.origin, self.unit) {
            (Origin::Unit, UnitRef::Department(_) | UnitRef::Commune(_)) => 0,
            (Origin::Colloquial, _) => 1,
            (Origin::Locality, _) => 2,
            (Origin::Unit, UnitRef::Section(_)) => 3,
            (Origin::SectionBare, _) => 4,
            (Origin::GeoNames, _) => 5 + u8::from(units.commune_of(self.unit).is_none()),
        }
    }

    fn kind(&self) -> Kind {
        match self.origin {
            Origin::Locality | Origin::GeoNames => Kind::Locality,
            _ => match self.unit {
                UnitRef::Section(_) => Kind::Section,
                UnitRef::Commune(_) => Kind::Commune,
                UnitRef::Department(_) => Kind::Department,
            },
        }
    }
}

/// The loaded gazetteer.
///
/// ```no_run
/// use kat::geocode::Gazetteer;
/// let g = Gazetteer::load(std::path::Path::new("data")).unwrap();
/// let best = &g.search("Ponsonde", 1)[0];
/// assert_eq!(best.commune.as_deref(), Some("Saint-Marc"));
/// let hit = g.reverse(-72.3388, 18.5435).unwrap();
/// assert_eq!(hit.commune, "Port-au-Prince");
/// ```
#[derive(Debug)]
pub struct Gazetteer {
    units: AdminUnits,
    entries: Vec<Entry>,
    exact: HashMap<String, Vec<usize>>,
    compact: HashMap<String, Vec<usize>>,
    phonetic: HashMap<String, Vec<usize>>,
    /// The entry holding each unit's own COD-AB name.
    unit_entry: HashMap<UnitRef, usize>,
}

impl Gazetteer {
    /// Loads `data_dir/admin/{departments,communes,sections}.geojson`,
    /// `data_dir/gazetteer/{admin_places,places,aliases}.csv` and builds the indexes.
    pub fn load(data_dir: &Path) -> Result<Gazetteer, GazetteerError> {
        let units = AdminUnits::load(data_dir)?;
        let mut g = Gazetteer {
            units,
            entries: Vec::new(),
            exact: HashMap::new(),
            compact: HashMap::new(),
            phonetic: HashMap::new(),
            unit_entry: HashMap::new(),
        };
        g.add_unit_names();
        g.add_geonames(&data_dir.join("gazetteer").join("places.csv"))?;
        g.add_aliases(&data_dir.join("gazetteer").join("aliases.csv"))?;
        g.build_indexes();
        Ok(g)
    }

    /// The department, commune and section holding the point (a point on a border counts as
    /// inside), or `None` at sea and outside Haiti.
    pub fn reverse(&self, lon: f64, lat: f64) -> Option<AdminHit> {
        let s = self.units.section_at(lon, lat)?;
        let section = &self.units.sections[s];
        let commune = &self.units.communes[section.commune];
        let department = &self.units.departments[section.department];
        Some(AdminHit {
            department: department.name.clone(),
            department_pcode: department.pcode.clone(),
            commune: commune.name.clone(),
            commune_pcode: commune.pcode.clone(),
            section: section.name.clone(),
            section_pcode: section.pcode.clone(),
        })
    }

    /// The full-resolution polygon of the unit with this P-code (department, commune or
    /// section), for building areas.
    pub fn polygon(&self, pcode: &str) -> Option<&MultiPolygon<f64>> {
        self.units
            .by_pcode
            .get(pcode)
            .map(|&u| self.units.polygon(u))
    }

    fn push(
        &mut self,
        name: &str,
        origin: Origin,
        unit: UnitRef,
        point: Option<[f64; 2]>,
        source: &str,
    ) {
        let key = normalize(name);
        if key.is_empty() {
            return;
        }
        self.entries.push(Entry {
            name: name.to_string(),
            compact: compact(&key),
            key,
            origin,
            unit,
            point,
            source: source.to_string(),
        });
    }

    fn add_unit_names(&mut self) {
        const COD_AB: &str = "COD-AB Haiti (CNIGS / OCHA), CC BY 3.0 IGO";
        for d in 0..self.units.departments.len() {
            let dep = self.units.departments[d].clone();
            let u = UnitRef::Department(d);
            self.unit_entry.insert(u, self.entries.len());
            self.push(&dep.name, Origin::Unit, u, None, COD_AB);
            if let Some(ht) = &dep.name_ht {
                self.push(ht, Origin::Colloquial, u, None, COD_AB);
            }
        }
        for c in 0..self.units.communes.len() {
            let name = self.units.communes[c].name.clone();
            let u = UnitRef::Commune(c);
            self.unit_entry.insert(u, self.entries.len());
            self.push(&name, Origin::Unit, u, None, COD_AB);
            // "Cornillon / Grand Bois": each half is a name in use.
            if name.contains('/') {
                for half in name.split('/') {
                    self.push(half.trim(), Origin::Colloquial, u, None, COD_AB);
                }
            }
        }
        for s in 0..self.units.sections.len() {
            let name = self.units.sections[s].name.clone();
            let u = UnitRef::Section(s);
            self.unit_entry.insert(u, self.entries.len());
            self.push(&name, Origin::Unit, u, None, COD_AB);
            if let Some(bare) = bare_section_name(&name) {
                // "Fonds des Blancs (Casale)": both names are in use, apart and together.
                if let Some((outer, inner)) = bare.split_once('(') {
                    self.push(outer.trim(), Origin::SectionBare, u, None, COD_AB);
                    self.push(
                        inner.trim_end_matches(')').trim(),
                        Origin::SectionBare,
                        u,
                        None,
                        COD_AB,
                    );
                }
                self.push(&bare, Origin::SectionBare, u, None, COD_AB);
            }
        }
    }

    fn add_geonames(&mut self, path: &Path) -> Result<(), GazetteerError> {
        #[derive(serde::Deserialize)]
        struct Row {
            name: String,
            asciiname: String,
            lat: f64,
            lon: f64,
            commune_by_polygon: String,
            geonameid: String,
        }
        for (row, rec) in read_csv::<Row>(path)? {
            let rec = rec?;
            let unit = match self.units.section_at(rec.lon, rec.lat) {
                Some(s) => UnitRef::Section(s),
                // A coastal point that falls just outside the coastline: keep it in the commune
                // that the file names, at commune precision (no point).
                None => {
                    let key = normalize(&rec.commune_by_polygon);
                    let c = (0..self.units.communes.len())
                        .find(|&c| normalize(&self.units.communes[c].name) == key)
                        .ok_or_else(|| GazetteerError::Row {
                            path: path.to_path_buf(),
                            row,
                            name: rec.name.clone(),
                            problem: format!(
                                "point ({}, {}) lies in no section and commune_by_polygon \"{}\" is unknown",
                                rec.lon, rec.lat, rec.commune_by_polygon
                            ),
                        })?;
                    let source = format!("GeoNames {} (geonames.org), CC BY 4.0", rec.geonameid);
                    self.push(
                        &rec.name,
                        Origin::GeoNames,
                        UnitRef::Commune(c),
                        None,
                        &source,
                    );
                    continue;
                }
            };
            let source = format!("GeoNames {} (geonames.org), CC BY 4.0", rec.geonameid);
            let point = Some([rec.lon, rec.lat]);
            self.push(&rec.name, Origin::GeoNames, unit, point, &source);
            if normalize(&rec.asciiname) != normalize(&rec.name) {
                self.push(&rec.asciiname, Origin::GeoNames, unit, point, &source);
            }
        }
        Ok(())
    }

    fn add_aliases(&mut self, path: &Path) -> Result<(), GazetteerError> {
        #[derive(serde::Deserialize)]
        struct Row {
            name: String,
            kind: String,
            lat: Option<f64>,
            lon: Option<f64>,
            precision: u8,
            section_pcode: String,
            commune_pcode: String,
            department_pcode: String,
            source_url: String,
        }
        for (row, rec) in read_csv::<Row>(path)? {
            let rec = rec?;
            let bad = |problem: String| GazetteerError::Row {
                path: path.to_path_buf(),
                row,
                name: rec.name.clone(),
                problem,
            };
            let origin = match rec.kind.as_str() {
                "locality" => Origin::Locality,
                "colloquial" => Origin::Colloquial,
                other => {
                    return Err(bad(format!(
                        "kind \"{other}\" (expected locality or colloquial)"
                    )))
                }
            };
            let lookup = |pcode: &str, what: &str| {
                self.units
                    .by_pcode
                    .get(pcode)
                    .copied()
                    .ok_or_else(|| bad(format!("{what} \"{pcode}\" is not a COD-AB P-code")))
            };
            let (unit, point) = match rec.precision {
                1 => {
                    let (Some(lat), Some(lon)) = (rec.lat, rec.lon) else {
                        return Err(bad("precision 1 needs lat and lon".into()));
                    };
                    let s = self.units.section_at(lon, lat).ok_or_else(|| {
                        bad(format!("point ({lon}, {lat}) lies in no communal section"))
                    })?;
                    let found = UnitRef::Section(s);
                    // The pcodes state where the source puts the place; a point outside them
                    // means one of the two is wrong, and guessing which would hide it.
                    for (pcode, what) in [
                        (&rec.commune_pcode, "commune_pcode"),
                        (&rec.department_pcode, "department_pcode"),
                    ] {
                        if !pcode.is_empty() && !self.units.within(found, lookup(pcode, what)?) {
                            return Err(bad(format!(
                                "point ({lon}, {lat}) lies in {} ({}), outside {what} {pcode}",
                                self.units.name(found),
                                self.units.pcode(found)
                            )));
                        }
                    }
                    (found, Some([lon, lat]))
                }
                2 => (lookup(&rec.section_pcode, "section_pcode")?, None),
                3 => (lookup(&rec.commune_pcode, "commune_pcode")?, None),
                4 => (lookup(&rec.department_pcode, "department_pcode")?, None),
                p => return Err(bad(format!("precision {p} (expected 1 to 4)"))),
            };
            let expected = match rec.precision {
                2 => matches!(unit, UnitRef::Section(_)),
                3 => matches!(unit, UnitRef::Commune(_)),
                4 => matches!(unit, UnitRef::Department(_)),
                _ => true,
            };
            if !expected {
                return Err(bad(format!(
                    "precision {} does not match the level of {}",
                    rec.precision,
                    self.units.pcode(unit)
                )));
            }
            self.push(&rec.name, origin, unit, point, &rec.source_url);
        }
        Ok(())
    }

    fn build_indexes(&mut self) {
        for (i, e) in self.entries.iter().enumerate() {
            self.exact.entry(e.key.clone()).or_default().push(i);
            self.compact.entry(e.compact.clone()).or_default().push(i);
            if e.compact.len() >= 5 {
                self.phonetic.entry(phonetic(&e.key)).or_default().push(i);
            }
        }
    }
}

/// "3e Section Martissant" → "Martissant"; `None` when the name has no such prefix.
fn bare_section_name(name: &str) -> Option<String> {
    let lower = name.to_lowercase();
    let at = lower.find("section ")?;
    let prefix = &name[..at];
    if !prefix.trim().chars().next()?.is_ascii_digit() {
        return None;
    }
    let bare = name[at + "section ".len()..].trim();
    (!bare.is_empty()).then(|| clean_name(bare))
}

type CsvRows<T> = Vec<(u64, Result<T, GazetteerError>)>;

/// Reads a CSV file into typed rows, each with its line number for error messages.
fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<CsvRows<T>, GazetteerError> {
    let mut reader = csv::Reader::from_path(path).map_err(|source| GazetteerError::Csv {
        path: path.to_path_buf(),
        source,
    })?;
    let headers = reader
        .headers()
        .cloned()
        .map_err(|source| GazetteerError::Csv {
            path: path.to_path_buf(),
            source,
        })?;
    let mut out = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|source| GazetteerError::Csv {
            path: path.to_path_buf(),
            source,
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let name = rec.get(0).unwrap_or("").to_string();
        let parsed = rec
            .deserialize::<T>(Some(&headers))
            .map_err(|e| GazetteerError::Row {
                path: path.to_path_buf(),
                row: line,
                name,
                problem: e.to_string(),
            });
        out.push((line, parsed));
    }
    Ok(out)
}

impl Gazetteer {
    /// The administrative units, for the importer's area building.
    pub(crate) fn units(&self) -> &AdminUnits {
        &self.units
    }
}
