//! The answers the gazetteer gives: search candidates, reverse-lookup hits and placements
//! of import rows, each able to render itself as a GeoJSON Feature.

use serde::Serialize;
use serde_json::{json, Value};

/// What a candidate names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A town, village or neighbourhood (from the alias table or GeoNames).
    Locality,
    /// A COD-AB communal section.
    Section,
    /// A COD-AB commune.
    Commune,
    /// A COD-AB department.
    Department,
}

impl Kind {
    /// The lower-case name used in GeoJSON properties.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Locality => "locality",
            Kind::Section => "section",
            Kind::Commune => "commune",
            Kind::Department => "department",
        }
    }
}

/// One answer of [`Gazetteer::search`](super::Gazetteer::search), best first.
///
/// `precision` says how finely the point is known: 1 an exact point, 2 the communal section,
/// 3 the commune, 4 the department. For precision 2–4 the point is only a point inside the
/// unit, never its centre of activity.
///
/// ```
/// use kat::geocode::{Candidate, Kind};
/// let c = Candidate {
///     name: "Pont-Sondé".into(),
///     kind: Kind::Locality,
///     section: Some("5e Section Bocozelle".into()),
///     section_pcode: Some("HT0531-05".into()),
///     commune: Some("Saint-Marc".into()),
///     commune_pcode: Some("HT0531".into()),
///     department: "Artibonite".into(),
///     department_pcode: "HT05".into(),
///     precision: 2,
///     score: 1.0,
///     source: "https://en.wikipedia.org/wiki/Pont-Sond%C3%A9".into(),
///     point: [-72.694578, 19.1878],
///     basis: "Pont-Sondé".into(),
/// };
/// let f = c.to_feature();
/// assert_eq!(f["geometry"]["coordinates"][0], -72.694578);
/// assert_eq!(f["properties"]["kind"], "locality");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// The place's name as the gazetteer spells it (the unit's name for a combined answer).
    pub name: String,
    pub kind: Kind,
    pub section: Option<String>,
    pub section_pcode: Option<String>,
    pub commune: Option<String>,
    pub commune_pcode: Option<String>,
    pub department: String,
    pub department_pcode: String,
    /// 1 point, 2 section, 3 commune, 4 department.
    pub precision: u8,
    /// 0..1; 1 is an exact match of a normalized name.
    pub score: f64,
    /// Where the name comes from (COD-AB, GeoNames id, or the alias row's source URL).
    pub source: String,
    /// [lon, lat].
    pub point: [f64; 2],
    /// The gazetteer names that matched the query, separated by "; ".
    pub basis: String,
}

impl Candidate {
    /// The candidate as a GeoJSON Feature with a Point geometry.
    pub fn to_feature(&self) -> Value {
        json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round6(self.point[0]), round6(self.point[1])]},
            "properties": {
                "name": self.name,
                "kind": self.kind,
                "section": self.section,
                "section_pcode": self.section_pcode,
                "commune": self.commune,
                "commune_pcode": self.commune_pcode,
                "department": self.department,
                "department_pcode": self.department_pcode,
                "precision": self.precision,
                "score": (self.score * 1000.0).round() / 1000.0,
                "source": self.source,
                "basis": self.basis,
            }
        })
    }
}

/// The administrative units holding a point, from [`Gazetteer::reverse`](super::Gazetteer::reverse).
///
/// ```
/// use kat::geocode::AdminHit;
/// let hit = AdminHit {
///     department: "Ouest".into(), department_pcode: "HT01".into(),
///     commune: "Port-au-Prince".into(), commune_pcode: "HT0111".into(),
///     section: "1re Section Turgeau".into(), section_pcode: "HT0111-01".into(),
/// };
/// let f = hit.to_feature(-72.3226, 18.5368);
/// assert_eq!(f["properties"]["commune_pcode"], "HT0111");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminHit {
    pub department: String,
    pub department_pcode: String,
    pub commune: String,
    pub commune_pcode: String,
    pub section: String,
    pub section_pcode: String,
}

impl AdminHit {
    /// The hit as a GeoJSON Feature located at the queried point.
    pub fn to_feature(&self, lon: f64, lat: f64) -> Value {
        json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round6(lon), round6(lat)]},
            "properties": {
                "department": self.department,
                "department_pcode": self.department_pcode,
                "commune": self.commune,
                "commune_pcode": self.commune_pcode,
                "section": self.section,
                "section_pcode": self.section_pcode,
            }
        })
    }
}

/// How an import row was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GeocodeStatus {
    /// The place names agree with the row's commune and department (or refine them).
    Matched,
    /// The names point somewhere else than the row's stated commune; the row is placed at the
    /// stated unit, because the source's own statement outranks a name match.
    Conflict,
    /// Nothing could place the row: no geometry.
    Unresolved,
}

impl GeocodeStatus {
    /// The lower-case name used in GeoJSON properties.
    pub fn as_str(self) -> &'static str {
        match self {
            GeocodeStatus::Matched => "matched",
            GeocodeStatus::Conflict => "conflict",
            GeocodeStatus::Unresolved => "unresolved",
        }
    }
}

/// Where an import row goes, from [`Gazetteer::place_row`](super::Gazetteer::place_row).
///
/// ```
/// use kat::geocode::{GeocodeStatus, Placement};
/// let p = Placement::unresolved();
/// assert_eq!(p.point, None);
/// assert_eq!(p.geocode_status, GeocodeStatus::Unresolved);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// [lon, lat]; `None` when unresolved.
    pub point: Option<[f64; 2]>,
    /// 1 point, 2 section, 3 commune, 4 department; `None` when unresolved.
    pub geo_precision: Option<u8>,
    pub geocode_status: GeocodeStatus,
    /// The name(s) that placed the row, or "commune: X" / "department: X" for a fallback.
    pub geocode_basis: Option<String>,
    pub section: Option<String>,
    pub section_pcode: Option<String>,
    pub commune: Option<String>,
    pub commune_pcode: Option<String>,
    pub department: Option<String>,
    pub department_pcode: Option<String>,
}

impl Placement {
    /// A placement with no geometry.
    pub fn unresolved() -> Placement {
        Placement {
            point: None,
            geo_precision: None,
            geocode_status: GeocodeStatus::Unresolved,
            geocode_basis: None,
            section: None,
            section_pcode: None,
            commune: None,
            commune_pcode: None,
            department: None,
            department_pcode: None,
        }
    }
}

/// Rounds a coordinate to 6 decimals (about 11 cm), the precision Kat publishes.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
