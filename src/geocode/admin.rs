//! The COD-AB administrative units (departments, communes, communal sections): their
//! polygons at full resolution, their inside points, and the R-tree used to answer
//! "which section holds this point".

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use geo::{Coord, InteriorPoint, Intersects, LineString, MultiPolygon, Point, Polygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::RTree;
use serde_json::Value;

use super::error::GazetteerError;

/// A department (admin level 1).
#[derive(Debug, Clone)]
pub struct Department {
    pub name: String,
    /// The Kreyòl name from COD-AB's ADM1_HT field.
    pub name_ht: Option<String>,
    pub pcode: String,
    pub polygon: MultiPolygon<f64>,
    /// A point inside the polygon, used for department-level placements.
    pub point: [f64; 2],
}

/// A commune (admin level 2).
#[derive(Debug, Clone)]
pub struct Commune {
    pub name: String,
    pub pcode: String,
    pub department: usize,
    pub polygon: MultiPolygon<f64>,
    /// The inside point from admin_places.csv.
    pub point: [f64; 2],
}

/// A communal section (admin level 3).
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub pcode: String,
    pub commune: usize,
    pub department: usize,
    pub polygon: MultiPolygon<f64>,
    /// The inside point from admin_places.csv.
    pub point: [f64; 2],
}

/// All three levels with their indexes.
#[derive(Debug)]
pub struct AdminUnits {
    pub departments: Vec<Department>,
    pub communes: Vec<Commune>,
    pub sections: Vec<Section>,
    pub by_pcode: HashMap<String, UnitRef>,
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
}

/// A reference to one administrative unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitRef {
    Department(usize),
    Commune(usize),
    Section(usize),
}

/// One feature of a boundary file, before it is linked to its parents.
struct RawFeature {
    props: serde_json::Map<String, Value>,
    polygon: MultiPolygon<f64>,
}

/// A cleaned display name: COD-AB holds a few names with line breaks and repeated text
/// ("1re Section Plaine Céleste\r\n1re  Section Plaine C"); the first line is the name.
pub(crate) fn clean_name(raw: &str) -> String {
    let first = raw
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl AdminUnits {
    /// Loads the three boundary files and the inside points of admin_places.csv.
    pub fn load(data_dir: &Path) -> Result<AdminUnits, GazetteerError> {
        let admin = data_dir.join("admin");
        let dept_path = admin.join("departments.geojson");
        let commune_path = admin.join("communes.geojson");
        let section_path = admin.join("sections.geojson");
        let points_path = data_dir.join("gazetteer").join("admin_places.csv");
        let inside = read_inside_points(&points_path)?;

        let mut by_pcode = HashMap::new();
        let mut departments = Vec::new();
        for (index, f) in read_features(&dept_path)?.into_iter().enumerate() {
            let pcode = prop(&f.props, "pcode", &dept_path, index)?;
            let name = clean_name(&prop(&f.props, "name", &dept_path, index)?);
            let name_ht = f
                .props
                .get("name_ht")
                .and_then(Value::as_str)
                .map(clean_name);
            let point = f
                .polygon
                .interior_point()
                .map(|p| [p.x(), p.y()])
                .ok_or_else(|| GazetteerError::Feature {
                    path: dept_path.clone(),
                    index,
                    pcode: pcode.clone(),
                    problem: "empty polygon: no interior point".into(),
                })?;
            by_pcode.insert(pcode.clone(), UnitRef::Department(departments.len()));
            departments.push(Department {
                name,
                name_ht,
                pcode,
                polygon: f.polygon,
                point,
            });
        }

        let parent = |by_pcode: &HashMap<String, UnitRef>,
                      props: &serde_json::Map<String, Value>,
                      key: &str,
                      path: &Path,
                      index: usize|
         -> Result<UnitRef, GazetteerError> {
            let pcode = prop(props, key, path, index)?;
            by_pcode
                .get(&pcode)
                .copied()
                .ok_or_else(|| GazetteerError::Feature {
                    path: path.to_path_buf(),
                    index,
                    pcode: props
                        .get("pcode")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string(),
                    problem: format!("{key} {pcode} is not a known unit"),
                })
        };

        let mut communes = Vec::new();
        for (index, f) in read_features(&commune_path)?.into_iter().enumerate() {
            let pcode = prop(&f.props, "pcode", &commune_path, index)?;
            let UnitRef::Department(department) = parent(
                &by_pcode,
                &f.props,
                "department_pcode",
                &commune_path,
                index,
            )?
            else {
                return Err(feature_err(
                    &commune_path,
                    index,
                    &pcode,
                    "department_pcode is not a department",
                ));
            };
            let point = *inside.get(&pcode).ok_or_else(|| {
                feature_err(
                    &commune_path,
                    index,
                    &pcode,
                    "no inside point in gazetteer/admin_places.csv",
                )
            })?;
            by_pcode.insert(pcode.clone(), UnitRef::Commune(communes.len()));
            communes.push(Commune {
                name: clean_name(&prop(&f.props, "name", &commune_path, index)?),
                pcode,
                department,
                polygon: f.polygon,
                point,
            });
        }

        let mut sections = Vec::new();
        for (index, f) in read_features(&section_path)?.into_iter().enumerate() {
            let pcode = prop(&f.props, "pcode", &section_path, index)?;
            let UnitRef::Commune(commune) =
                parent(&by_pcode, &f.props, "commune_pcode", &section_path, index)?
            else {
                return Err(feature_err(
                    &section_path,
                    index,
                    &pcode,
                    "commune_pcode is not a commune",
                ));
            };
            let point = *inside.get(&pcode).ok_or_else(|| {
                feature_err(
                    &section_path,
                    index,
                    &pcode,
                    "no inside point in gazetteer/admin_places.csv",
                )
            })?;
            by_pcode.insert(pcode.clone(), UnitRef::Section(sections.len()));
            sections.push(Section {
                name: clean_name(&prop(&f.props, "name", &section_path, index)?),
                pcode,
                commune,
                department: communes[commune].department,
                polygon: f.polygon,
                point,
            });
        }

        let tree = RTree::bulk_load(
            sections
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let r = geo::BoundingRect::bounding_rect(&s.polygon)?;
                    Some(GeomWithData::new(
                        Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                        i,
                    ))
                })
                .collect(),
        );
        Ok(AdminUnits {
            departments,
            communes,
            sections,
            by_pcode,
            tree,
        })
    }

    /// The section whose polygon holds the point (boundary included), found through the
    /// R-tree of envelopes first and an exact point-in-polygon test second.
    pub fn section_at(&self, lon: f64, lat: f64) -> Option<usize> {
        if !lon.is_finite() || !lat.is_finite() {
            return None;
        }
        let p = Point::new(lon, lat);
        let mut hits: Vec<usize> = self
            .tree
            .locate_all_at_point(&[lon, lat])
            .map(|g| g.data)
            .filter(|&i| self.sections[i].polygon.intersects(&p))
            .collect();
        // A point on a shared border lies in both sections; the lower index answers, so the
        // answer does not depend on the tree's internal order.
        hits.sort_unstable();
        hits.first().copied()
    }

    /// The department of a unit.
    pub fn department_of(&self, u: UnitRef) -> usize {
        match u {
            UnitRef::Department(d) => d,
            UnitRef::Commune(c) => self.communes[c].department,
            UnitRef::Section(s) => self.sections[s].department,
        }
    }

    /// The commune of a unit, if it is at commune level or finer.
    pub fn commune_of(&self, u: UnitRef) -> Option<usize> {
        match u {
            UnitRef::Department(_) => None,
            UnitRef::Commune(c) => Some(c),
            UnitRef::Section(s) => Some(self.sections[s].commune),
        }
    }

    /// Whether unit `inner` lies inside unit `outer` (a unit lies inside itself).
    pub fn within(&self, inner: UnitRef, outer: UnitRef) -> bool {
        match outer {
            UnitRef::Department(d) => self.department_of(inner) == d,
            UnitRef::Commune(c) => self.commune_of(inner) == Some(c),
            UnitRef::Section(s) => inner == UnitRef::Section(s),
        }
    }

    /// The smallest unit holding all the given units.
    pub fn cover(&self, units: &[UnitRef]) -> Option<UnitRef> {
        let first = *units.first()?;
        if units.iter().all(|&u| u == first) {
            return Some(first);
        }
        let communes: Vec<Option<usize>> = units.iter().map(|&u| self.commune_of(u)).collect();
        if let Some(c) = communes[0] {
            if communes.iter().all(|&x| x == Some(c)) {
                return Some(UnitRef::Commune(c));
            }
        }
        let d = self.department_of(first);
        if units.iter().all(|&u| self.department_of(u) == d) {
            return Some(UnitRef::Department(d));
        }
        None
    }

    /// The unit's display name.
    pub fn name(&self, u: UnitRef) -> &str {
        match u {
            UnitRef::Department(d) => &self.departments[d].name,
            UnitRef::Commune(c) => &self.communes[c].name,
            UnitRef::Section(s) => &self.sections[s].name,
        }
    }

    /// The unit's P-code.
    pub fn pcode(&self, u: UnitRef) -> &str {
        match u {
            UnitRef::Department(d) => &self.departments[d].pcode,
            UnitRef::Commune(c) => &self.communes[c].pcode,
            UnitRef::Section(s) => &self.sections[s].pcode,
        }
    }

    /// The point that stands for the unit: the inside point of admin_places.csv for
    /// sections and communes, an interior point for departments.
    pub fn point(&self, u: UnitRef) -> [f64; 2] {
        match u {
            UnitRef::Department(d) => self.departments[d].point,
            UnitRef::Commune(c) => self.communes[c].point,
            UnitRef::Section(s) => self.sections[s].point,
        }
    }

    /// The unit's full-resolution polygon.
    pub fn polygon(&self, u: UnitRef) -> &MultiPolygon<f64> {
        match u {
            UnitRef::Department(d) => &self.departments[d].polygon,
            UnitRef::Commune(c) => &self.communes[c].polygon,
            UnitRef::Section(s) => &self.sections[s].polygon,
        }
    }
}

fn feature_err(path: &Path, index: usize, pcode: &str, problem: &str) -> GazetteerError {
    GazetteerError::Feature {
        path: path.to_path_buf(),
        index,
        pcode: pcode.to_string(),
        problem: problem.to_string(),
    }
}

fn prop(
    props: &serde_json::Map<String, Value>,
    key: &str,
    path: &Path,
    index: usize,
) -> Result<String, GazetteerError> {
    props
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| GazetteerError::Feature {
            path: path.to_path_buf(),
            index,
            pcode: props
                .get("pcode")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
            problem: format!("missing string property \"{key}\""),
        })
}

fn read_features(path: &Path) -> Result<Vec<RawFeature>, GazetteerError> {
    let text = std::fs::read_to_string(path).map_err(|source| GazetteerError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let not_geojson = |message: String| GazetteerError::NotGeoJson {
        path: path.to_path_buf(),
        message,
    };
    let doc: Value = serde_json::from_str(&text).map_err(|e| not_geojson(e.to_string()))?;
    let features = doc
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| not_geojson("no \"features\" array".into()))?;
    features
        .iter()
        .enumerate()
        .map(|(index, f)| {
            let props = f
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let pcode = props
                .get("pcode")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let polygon = f
                .get("geometry")
                .ok_or(ShapeError::NoGeometry)
                .and_then(parse_areal)
                .map_err(|e| e.to_string())
                .map_err(|problem| GazetteerError::Feature {
                    path: PathBuf::from(path),
                    index,
                    pcode,
                    problem,
                })?;
            Ok(RawFeature { props, polygon })
        })
        .collect()
}

/// Why a boundary's geometry could not be read.
#[derive(Debug, thiserror::Error)]
enum ShapeError {
    #[error("no geometry")]
    NoGeometry,
    #[error("geometry has no coordinates")]
    NoCoordinates,
    #[error("MultiPolygon coordinates are not an array")]
    NotAnArray,
    #[error("geometry type {0:?} where a Polygon or MultiPolygon was expected")]
    NotAreal(Option<String>),
    #[error("polygon is not an array of rings")]
    NotRings,
    #[error("polygon without rings")]
    NoRings,
    #[error("ring is not an array")]
    RingNotArray,
    #[error("non-numeric coordinate")]
    NotNumeric,
    #[error("position without two numbers")]
    ShortPosition,
    #[error("ring with {0} positions (at least 4 needed)")]
    ShortRing(usize),
}

/// A GeoJSON Polygon or MultiPolygon as a geo MultiPolygon.
fn parse_areal(geometry: &Value) -> Result<MultiPolygon<f64>, ShapeError> {
    let coords = geometry
        .get("coordinates")
        .ok_or(ShapeError::NoCoordinates)?;
    match geometry.get("type").and_then(Value::as_str) {
        Some("Polygon") => Ok(MultiPolygon::new(vec![parse_polygon(coords)?])),
        Some("MultiPolygon") => coords
            .as_array()
            .ok_or(ShapeError::NotAnArray)?
            .iter()
            .map(parse_polygon)
            .collect::<Result<Vec<_>, _>>()
            .map(MultiPolygon::new),
        other => Err(ShapeError::NotAreal(other.map(str::to_string))),
    }
}

fn parse_polygon(v: &Value) -> Result<Polygon<f64>, ShapeError> {
    let rings = v.as_array().ok_or(ShapeError::NotRings)?;
    let mut rings = rings.iter().map(parse_ring);
    let exterior = rings.next().ok_or(ShapeError::NoRings)??;
    let interiors = rings.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

fn parse_ring(v: &Value) -> Result<LineString<f64>, ShapeError> {
    let positions = v.as_array().ok_or(ShapeError::RingNotArray)?;
    let coords = positions
        .iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([x, y, ..]) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => Ok(Coord { x, y }),
                _ => Err(ShapeError::NotNumeric),
            },
            _ => Err(ShapeError::ShortPosition),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if coords.len() < 4 {
        return Err(ShapeError::ShortRing(coords.len()));
    }
    Ok(LineString::new(coords))
}

/// The inside points of admin_places.csv, keyed by P-code.
fn read_inside_points(path: &Path) -> Result<HashMap<String, [f64; 2]>, GazetteerError> {
    #[derive(serde::Deserialize)]
    struct Row {
        pcode: String,
        lat: f64,
        lon: f64,
    }
    let mut reader = csv::Reader::from_path(path).map_err(|source| GazetteerError::Csv {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = HashMap::new();
    for row in reader.deserialize::<Row>() {
        let row = row.map_err(|source| GazetteerError::Csv {
            path: path.to_path_buf(),
            source,
        })?;
        out.insert(row.pcode, [row.lon, row.lat]);
    }
    Ok(out)
}
