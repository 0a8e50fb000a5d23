//! Armed-group areas as MultiPolygon features, built from the COD-AB units that their
//! localities name. The shape is only ever the union of whole units: a press statement does
//! not draw a border, so Kat does not either, and each feature says what it was built from.

use geo::orient::{Direction, Orient};
use geo::{unary_union, MapCoords, MultiPolygon, Polygon, RemoveRepeatedPoints, Validation};
use serde::Serialize;

use super::table::Table;
use super::write::{Feature, Geometry};
use super::{ImportError, ImportSummary};
use crate::geocode::{round6, AdminUnits, Gazetteer, GeocodeStatus, UnitRef};

/// The properties of an area feature, in the published order.
#[derive(Debug, Serialize)]
struct AreaProps<'a> {
    group: &'a str,
    leader_as_reported: Option<&'a str>,
    localities: &'a str,
    commune: Option<&'a str>,
    department: Option<&'a str>,
    status: Option<&'a str>,
    as_of: Option<&'a str>,
    source_url: Option<&'a str>,
    summary: Option<&'a str>,
    basis: Option<String>,
    basis_level: Option<&'static str>,
    approximate: bool,
}

/// Rows of gang_areas.csv.
pub(crate) fn rows(
    g: &Gazetteer,
    table: &Table,
    summary: &mut ImportSummary,
) -> Result<Vec<String>, ImportError> {
    table.require(&[
        "group",
        "localities",
        "commune",
        "department",
        "status",
        "as_of",
        "source_url",
    ])?;
    let mut lines = Vec::new();
    for (i, row) in table.rows().enumerate() {
        let id = format!("GA-{:03}", i + 1);
        let localities = row.get("localities");
        let (commune, department) = (row.opt("commune"), row.opt("department"));
        if let Some(v) = row.opt("as_of") {
            let ok = v.len() == 7
                && v.as_bytes()[4] == b'-'
                && v[..4]
                    .bytes()
                    .chain(v[5..].bytes())
                    .all(|b| b.is_ascii_digit());
            if !ok {
                return Err(row.bad("as_of", v, "expected YYYY-MM or an empty cell"));
            }
        }
        let placement = g.place_row(localities, commune, department);
        let (mut units, stated) = g.resolve_units(localities, commune, department);
        if units.is_empty() {
            units.extend(stated);
        }
        let units = outermost(g.units(), units);
        let level = units.iter().map(|u| level_rank(*u)).max();
        summary.count(&id, level.map(|l| l + 2), placement.geocode_status);
        if placement.geocode_status == GeocodeStatus::Conflict {
            summary.warnings.push(format!(
                "{id}: {localities:?} names places outside the stated unit; the area is the stated unit"
            ));
        }
        let geometry = if units.is_empty() {
            None
        } else {
            Some(Geometry::multi_polygon(&area(g.units(), &units).map_err(
                |e| ImportError::Geometry {
                    id: id.clone(),
                    problem: e.to_string(),
                },
            )?))
        };
        let props = AreaProps {
            group: row.get("group"),
            leader_as_reported: row.opt("leader_as_reported"),
            localities,
            commune,
            department,
            status: row.opt("status"),
            as_of: row.opt("as_of"),
            source_url: row.opt("source_url"),
            summary: row.opt("summary"),
            basis: (!units.is_empty()).then(|| basis(g.units(), &units)),
            basis_level: level.map(|l| ["section", "commune", "department"][usize::from(l)]),
            approximate: true,
        };
        lines.push(Feature::new(id, geometry, props).to_line());
    }
    Ok(lines)
}

fn level_rank(u: UnitRef) -> u8 {
    match u {
        UnitRef::Section(_) => 0,
        UnitRef::Commune(_) => 1,
        UnitRef::Department(_) => 2,
    }
}

/// Drops units that lie inside another unit of the set (a section of a commune that is
/// already whole), sorted so that the basis reads the same on every run.
fn outermost(units: &AdminUnits, mut set: Vec<UnitRef>) -> Vec<UnitRef> {
    set.sort();
    set.dedup();
    let keep: Vec<UnitRef> = set
        .iter()
        .copied()
        .filter(|&a| !set.iter().any(|&b| b != a && units.within(a, b)))
        .collect();
    let mut keep = keep;
    keep.sort_by(|a, b| {
        level_rank(*b)
            .cmp(&level_rank(*a))
            .then(units.pcode(*a).cmp(units.pcode(*b)))
    });
    keep
}

/// "commune: Arcahaie", "sections: 1re Section Bas Coursin I; 2e Section Bas Coursin II",
/// or several groups joined by " + ".
fn basis(units: &AdminUnits, set: &[UnitRef]) -> String {
    let mut groups = Vec::new();
    for (rank, one, many) in [
        (2, "department", "departments"),
        (1, "commune", "communes"),
        (0, "section", "sections"),
    ] {
        let names: Vec<&str> = set
            .iter()
            .filter(|u| level_rank(**u) == rank)
            .map(|u| units.name(*u))
            .collect();
        match names.len() {
            0 => {}
            1 => groups.push(format!("{one}: {}", names[0])),
            _ => groups.push(format!("{many}: {}", names.join("; "))),
        }
    }
    groups.join(" + ")
}

/// The union of the units' full-resolution polygons, rounded to 6 decimals and valid.
/// A union of units that stays invalid once rounded.
#[derive(Debug, thiserror::Error)]
#[error("union of {units} unit(s) is not valid after rounding: {problem}")]
struct UnionError {
    units: usize,
    problem: String,
}

fn area(units: &AdminUnits, set: &[UnitRef]) -> Result<MultiPolygon<f64>, UnionError> {
    let polygons: Vec<Polygon<f64>> = set
        .iter()
        .flat_map(|u| {
            units
                .polygon(*u)
                .0
                .iter()
                .map(|p| p.orient(Direction::Default))
        })
        .collect();
    let mut shape = unary_union(&polygons);
    // Rounding can pinch a ring where two vertices meet; a second union repairs that.
    for _ in 0..3 {
        let rounded = round_multi_polygon(&shape);
        if rounded.is_valid() {
            return Ok(rounded);
        }
        let parts: Vec<Polygon<f64>> = rounded
            .0
            .iter()
            .map(|p| p.orient(Direction::Default))
            .collect();
        shape = unary_union(&parts);
    }
    let rounded = round_multi_polygon(&shape);
    rounded
        .validation_errors()
        .first()
        .map_or(Ok(rounded.clone()), |e| {
            Err(UnionError {
                units: set.len(),
                problem: e.to_string(),
            })
        })
}

fn round_multi_polygon(mp: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    let rounded = mp.map_coords(|c| geo::Coord {
        x: round6(c.x),
        y: round6(c.y),
    });
    let cleaned = rounded.remove_repeated_points();
    MultiPolygon::new(
        cleaned
            .0
            .into_iter()
            .filter(|p| p.exterior().0.len() >= 4)
            .map(|p| {
                let (ext, ints) = p.into_inner();
                Polygon::new(ext, ints.into_iter().filter(|r| r.0.len() >= 4).collect())
            })
            .collect(),
    )
}
